"""A small pure-Python emulation of Stackless on greenlet: the benchmark baseline.

This is the "obvious" way to get Stackless's model on stock CPython, written in
Python on top of greenlet: a run queue (deque), tasklets that switch straight to
the next runnable one, and rendezvous channels with Stackless's default
preference (-1: a receiver woken by a send runs at once, the sender goes to the
back of the run queue). It is single-threaded and has none of Stackless's
extras (no kill/throw, atomic, callbacks, timeouts, preference other than -1);
it exists so that the benchmark can show what the C runtime buys over it.

Scheduling invariant: ``_queue`` holds the runnable tasklets other than the
current one, in order. The main tasklet is never in it during ``run()``: when
the queue runs dry, control goes back to main, and ``run()`` returns.
"""
import traceback
from collections import deque

from greenlet import getcurrent as _getcurrent, greenlet as _greenlet

__all__ = ["tasklet", "channel", "schedule", "run", "getcurrent", "getmain", "getruncount"]


class tasklet:
    __slots__ = ("func", "args", "kwargs", "tempval", "_g", "blocked", "alive", "__weakref__")

    def __init__(self, func=None):
        self.func = func
        self.args = ()
        self.kwargs = {}
        self.tempval = None
        self._g = None
        self.blocked = 0
        self.alive = func is not None

    def bind(self, func):
        self.func = func
        return self

    def __call__(self, *args, **kwargs):
        return self.setup(*args, **kwargs)

    def setup(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs
        self.alive = True
        # The greenlet's parent is the main greenlet: an exception that escapes a
        # tasklet ends up in main (which is where Stackless raises it too).
        self._g = _greenlet(self._boot, _main._g)
        _queue.append(self)
        return self

    def _boot(self, *_ignored):
        global _current
        try:
            self.func(*self.args, **self.kwargs)
        except BaseException:  # a baseline, not a runtime: report and carry on
            traceback.print_exc()
        finally:
            self.alive = False
            self.func = self.args = self.kwargs = None
            nxt = _queue.popleft() if _queue else _main
            _current = nxt
            # Returning from a greenlet switches to its parent, with the return
            # value. A started tasklet is resumed that way directly (one switch,
            # not two); an unstarted one is handed to main to start (see _switch).
            if nxt._g:
                self._g.parent = nxt._g
            else:
                return nxt
        return None

    def run(self):
        """Switch to this tasklet at once; the caller stays runnable."""
        _queue.remove(self)
        _queue.appendleft(_current)
        _switch(self)


class _Main(tasklet):
    __slots__ = ()

    def __init__(self):
        super().__init__(None)
        self._g = _getcurrent()
        self.alive = True


_main = _Main()
_current = _main
_queue = deque()


def getcurrent():
    return _current


def getmain():
    return _main


def getruncount():
    return len(_queue) + 1


def _switch(nxt):
    """Make nxt current and switch to it; return when the caller is resumed.

    A greenlet starts on the C stack where it is first switched to, so a
    tasklet started from inside another one would nest ever deeper: unstarted
    tasklets are started by main (whose depth is fixed), on request. Main is
    resumed with the tasklet to start; everyone else is resumed with None.
    """
    global _current
    cur = _current
    _current = nxt
    if nxt._g or cur is _main:
        r = nxt._g.switch(None)
    else:
        r = _main._g.switch(nxt)
    while r is not None:  # only main gets requests
        r = r._g.switch(None)


def _switch_away():
    """Leave the current tasklet (already queued or blocked) for the next one."""
    if _queue:
        _switch(_queue.popleft())
    elif _current is not _main:
        _switch(_main)
    else:
        raise RuntimeError("Deadlock: the last runnable tasklet cannot be blocked.")


def schedule(retval=None):
    if _queue:
        _queue.append(_current)
        _switch_away()
    return retval


def run():
    """Run the queued tasklets until none is runnable; return in main."""
    if _current is not _main:
        raise RuntimeError("run() from a tasklet is not emulated")
    if _queue:
        _switch(_queue.popleft())


class channel:
    __slots__ = ("balance", "_waiting", "__weakref__")

    def __init__(self):
        self.balance = 0  # > 0: senders waiting, < 0: receivers waiting
        self._waiting = deque()  # (tasklet, value) pairs

    def send(self, value):
        cur = _current
        if self.balance < 0:
            self.balance += 1
            receiver, _ = self._waiting.popleft()
            receiver.tempval = value
            receiver.blocked = 0
            _queue.append(cur)  # preference -1: the receiver runs at once
            _switch(receiver)
            return None
        self.balance += 1
        self._waiting.append((cur, value))
        cur.blocked = 1
        _switch_away()
        return None

    def receive(self):
        cur = _current
        if self.balance > 0:
            self.balance -= 1
            sender, value = self._waiting.popleft()
            sender.blocked = 0
            _queue.append(sender)
            return value
        self.balance -= 1
        self._waiting.append((cur, None))
        cur.blocked = -1
        _switch_away()
        value, cur.tempval = cur.tempval, None
        return value
