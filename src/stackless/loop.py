"""stackless.loop: the per-thread event loop that blocking-style tasklet I/O stands on.

Design
------
There is one ``Loop`` per thread, created on demand (``get_loop()``), and it is
*driven by the main tasklet of that thread*.  Every other tasklet that waits for
something -- a timer, fd readiness, a lock, a thread-pool result -- parks on a
private channel (``Waiter``) and is woken by a channel send from whoever ends the
wait.  Because the wait is an ordinary channel receive, ``kill()``/``throw()`` of a
waiting tasklet raise in it as Stackless defines, and the ``finally`` blocks of
this module remove its registration (timer, fd interest, queue slot).

One turn of the loop, always in the main tasklet::

        +--> schedule()      if other tasklets are runnable: each runs until it
        |                    blocks, yields or ends (one round of the run queue)
        |    poll(timeout)   timeout = 0 if anything is runnable or a callback is
        |                    pending, else until the earliest timer, else forever
        |    wake fd waiters, fire due timers, run call_soon callbacks
        +--- until the condition of the caller holds (stopped / tasklet dead /
             the main tasklet's own wait is over)

So the thread sleeps in the kernel only when no tasklet can run, and for no
longer than the next timer.  Another thread ends that sleep by writing to the
loop's eventfd (``call_soon_threadsafe``); call_on_thread results and sync
primitives used across threads come back that way, and the loop thread itself
does the channel send, so no run queue is touched from a foreign thread.

Who drives the loop
-------------------
* The main tasklet calls ``run_forever()`` (until ``stop()``) or
  ``run_until(tasklet)`` (until that tasklet is dead).
* A blocking call made *by the main tasklet itself* (``sleep``, ``wait_readable``,
  a lock, a queue, a socket...) drives the loop inline until that call is done;
  other tasklets run meanwhile.  So a plain script can call ``sleep(1)`` or
  ``sock.recv()`` at top level and it just works.  This nests: a ``call_later``
  callback (which runs in the main tasklet) may block too.
* A blocking call made by any other tasklet parks that tasklet; it is woken the
  next time the main tasklet drives the loop.  ``stackless.run()`` alone does not
  drive it: if every tasklet is parked in the loop, ``run()`` returns, exactly as
  it does when they are all blocked on channels.  The main tasklet must then call
  ``run_until``/``run_forever`` (or block in one of these calls).  A main tasklet
  that blocks on a *raw channel* while the others wait for the loop deadlocks (the
  runtime reports it); use the sync primitives in the main tasklet instead.

Exceptions: an exception that the runtime delivers to the main tasklet (an
uncaught error in a tasklet) or that a callback raises propagates out of
``run_forever``/``run_until`` with the loop left consistent; call it again to go on.
"""
import collections
import itertools
import threading
import time as _time

import stackless as _sl
from stackless._io_poll import READ, WRITE, Poller, Wakeup
from stackless._io_threads import IdleThreadPool as _DefaultPool
from stackless._io_timers import TimerQueue

__all__ = [
    "Loop", "Handle", "get_loop", "run_forever", "run_until", "stop", "sleep", "sleep_until",
    "time",
    "call_later", "call_soon", "call_soon_threadsafe", "wait_readable", "wait_writable",
    "call_on_thread", "set_thread_pool", "shutdown_thread_pool",
]

_monotonic = _time.monotonic
_getcurrent = _sl.getcurrent
_getruncount = _sl.getruncount
_schedule = _sl.schedule
_channel = _sl.channel
_new = object.__new__
_get_ident = threading.get_ident
_set_wakeup_fd = getattr(_sl, "set_wakeup_fd", None)   # not in every core yet

# Waiter states.
_WAITING = 0
_WOKEN = 1
_TIMEDOUT = 2
_CANCELLED = 3   # left by kill()/throw() or by an exception in the waiting tasklet


class Waiter:
    """One parked tasklet.  ``wake()`` may be called from any tasklet of the loop's
    thread (or from another thread, which defers it to the loop's thread).  A wake
    after the wait has ended (timed out, killed) is a no-op, never a blocking send."""

    __slots__ = ("loop", "state", "value", "exc", "channel")

    def __init__(self, loop):
        self.loop = loop
        self.state = _WAITING
        self.value = None
        self.exc = None
        self.channel = None

    def wake(self, value=None):
        """End the wait with ``value``; True if this call ended it."""
        if self.state != _WAITING:
            return False
        loop = self.loop
        if loop._thread_id != _get_ident():
            loop.call_soon_threadsafe(self.wake, value)
            return False  # decided later, in the loop's thread
        self.state = _WOKEN
        self.value = value
        ch = self.channel
        # balance < 0: the tasklet is blocked in receive().  It may not be: a kill()
        # made it runnable with TaskletExit pending, or it is the main tasklet
        # driving the loop inline (no channel).
        if ch is not None and ch.balance < 0:
            ch.send(None)
        return True

    def throw(self, exc):
        """End the wait by raising ``exc`` in the waiting tasklet (when it resumes)."""
        if self.state != _WAITING:
            return False
        self.exc = exc
        return self.wake()

    def _expire(self):
        if self.state == _WAITING:
            self.wake()
            self.state = _TIMEDOUT

    @property
    def waiting(self):
        return self.state == _WAITING

    @property
    def woken(self):
        return self.state == _WOKEN


class Handle:
    """A scheduled callback (``call_later``); ``cancel()`` is idempotent and a no-op
    once the callback has run."""

    __slots__ = ("_entry", "_loop", "_cancelled")

    def __init__(self, loop, entry):
        self._loop = loop
        self._entry = entry
        self._cancelled = False

    @property
    def when(self):
        return self._entry[0]

    def cancel(self):
        if self._entry[2] is not None:
            self._cancelled = True
            self._loop._cancel_timer(self._entry)

    def cancelled(self):
        return self._cancelled

    def __repr__(self):
        st = "cancelled" if self._cancelled else ("pending" if self._entry[2] else "done")
        return f"<stackless.loop.Handle when={self.when:.6f} {st}>"


def _wake_channel(ch):
    # Marks the timer of a sleeping tasklet, whose entry holds the channel itself
    # instead of an args tuple; _poll inlines this.  The tasklet is blocked on ch
    # unless it was killed (then the timer was cancelled) or thrown at (balance 0).
    if ch.balance < 0:
        ch.send(None)


class Loop:
    """The event loop of one thread.  Not thread-safe except ``call_soon_threadsafe``,
    ``stop`` and ``Waiter.wake``; use ``get_loop()`` rather than constructing one."""

    def __init__(self):
        self._thread_id = _get_ident()
        self._poller = Poller()
        self._wakeup = Wakeup()
        self._wakefd = self._wakeup.fileno()
        self._poller.set_mask(self._wakefd, READ)
        # [when, seq, fn, args] entries (see _io_timers); fn None: cancelled or fired.
        self._timers = TimerQueue()
        self._seq = itertools.count()
        self._ready = collections.deque()   # (fn, args); appended from any thread
        self._fds = {}               # fd -> [readers, writers] (lists of Waiter)
        self._stopping = False
        self._forever = 0            # run_forever calls on the stack
        self._depth = 0              # how many drives of this loop are on the stack
        self._main_exc = None        # an exception due in the main tasklet (Timeout)
        self._closed = False
        # Let the runtime wake us when another thread makes one of our tasklets
        # runnable (a raw channel send across threads): docs/io.md, "Requests to the core", item 1.
        self._wakeup_registered = False
        if _set_wakeup_fd is not None:
            _set_wakeup_fd(self._wakeup.write_fd)
            self._wakeup_registered = True
        self.polls = 0               # kernel polls so far (tests use it to see no busy-waiting)

    # ------------------------------------------------------------------ timers
    def call_later(self, delay, fn, *args):
        """Run ``fn(*args)`` in the main tasklet after ``delay`` seconds (loop
        thread only); returns a Handle."""
        return self.call_at(_monotonic() + delay, fn, *args)

    def call_at(self, when, fn, *args):
        entry = [when, next(self._seq), fn, args]
        cur = _getcurrent()
        old = cur.set_atomic(1)       # the timer queue must never be seen half-updated
        try:
            self._timers.push(entry)
        finally:
            cur.set_atomic(old)
        return Handle(self, entry)

    def time(self):
        return _monotonic()

    def _cancel_timer(self, entry):
        cur = _getcurrent()
        old = cur.set_atomic(1)
        try:
            self._timers.cancel(entry)
        finally:
            cur.set_atomic(old)

    def sleep(self, seconds):
        """Block the current tasklet for ``seconds`` (> 0)."""
        cur = _getcurrent()
        if cur.is_main:
            self.park(Waiter(self), seconds)
        else:
            self._sleep_task(cur, _monotonic() + seconds)

    def _sleep_task(self, cur, when):
        """The fast path of sleep() for a tasklet other than main: one channel and
        one timer entry (holding the channel itself), no Waiter, no Handle."""
        old = cur.set_atomic(1)       # see park()
        try:
            ch = _channel()
            ch.preference = 1
            entry = [when, next(self._seq), _wake_channel, ch]
            self._timers.push(entry)
            try:
                ch.receive()
            finally:
                if entry[2] is not None:      # left early (kill/throw): drop the timer
                    self._timers.cancel(entry)
        finally:
            cur.set_atomic(old)

    # --------------------------------------------------------------- callbacks
    def call_soon(self, fn, *args):
        """Run ``fn(*args)`` in the main tasklet at the end of this loop turn."""
        self._ready.append((fn, args))

    def call_soon_threadsafe(self, fn, *args):
        """Like call_soon, from any thread; wakes the loop if it sleeps in the kernel."""
        self._ready.append((fn, args))
        if self._thread_id != _get_ident():
            self._wakeup.notify()

    def stop(self):
        """Make the innermost ``run_forever`` return after this turn (if none runs,
        the next one returns after one turn).  Thread-safe."""
        if self._thread_id != _get_ident():
            self.call_soon_threadsafe(self.stop)
            return
        self._stopping = True

    # ------------------------------------------------------------------- parking
    def park(self, w, timeout=None):
        """Block the current tasklet on Waiter ``w`` until it is woken (True) or
        ``timeout`` seconds pass (False).  Raises what ``w.throw`` was given, or what
        kill()/throw() deliver; ``w`` is never left WAITING.  ``w`` may already have
        been woken (between its registration and this call): then no blocking."""
        cur = _getcurrent()
        main = cur.is_main
        # atomic: a run(timeout) must not pre-empt a tasklet between arming the timer
        # and blocking (the wake-up would find nobody on the channel and be lost).
        # The main tasklet is the watchdog of such runs, never pre-empted.
        old = 0 if main else cur.set_atomic(1)
        entry = None
        try:
            if timeout is not None:
                if timeout <= 0:
                    if w.state == _WAITING:
                        w.state = _TIMEDOUT
                    return w.state == _WOKEN
                entry = [_monotonic() + timeout, next(self._seq), w._expire, ()]
                self._timers.push(entry)
            if main:
                self._drive(w)
            else:
                ch = _channel()
                ch.preference = 1     # the waker keeps running; we are queued
                w.channel = ch
                if w.state == _WAITING:
                    ch.receive()
        finally:
            if entry is not None and entry[2] is not None:
                self._timers.cancel(entry)
            if w.state == _WAITING:
                w.state = _CANCELLED
            w.channel = None
            if not main:
                cur.set_atomic(old)
        if w.exc is not None:
            exc, w.exc = w.exc, None
            raise exc
        return w.state == _WOKEN

    def _drive(self, w):
        self._run(lambda: w.state != _WAITING)

    # ------------------------------------------------------------------- fds
    def wait_fd(self, fd, event, timeout=None, keep=False):
        """Park the current tasklet until ``fd`` is ready for ``event`` (READ or
        WRITE).  True if ready (or errored: retry the operation to see the error),
        False on timeout.  ``keep`` leaves the kernel interest registered after the
        wait (cheaper for sockets that wait again; they call ``forget_fd`` on close)."""
        cur = _getcurrent()
        if keep and timeout is None and not cur.is_main:
            return self._wait_fd_kept(cur, fd, event)
        old = cur.set_atomic(1)       # fd bookkeeping must not be pre-empted half-done
        try:
            return self._wait_fd(fd, event, timeout, keep)
        finally:
            cur.set_atomic(old)

    def _wait_fd_kept(self, cur, fd, event):
        """wait_fd(keep=True, no timeout) by a tasklet other than main: what a socket's
        reader does once per request, so _wait_fd and park folded into one frame (one
        atomic section, no timer, the interest left registered).  Same protocol: the Waiter
        is listed for ``fd``, woken by _dispatch_fd (which empties the list), and a wait
        left by kill()/throw() takes itself off the list."""
        old = cur.set_atomic(1)       # fd bookkeeping must not be pre-empted half-done
        try:
            fds = self._fds
            entry = fds.get(fd)
            if entry is None:
                entry = fds[fd] = [[], []]
            idx = 0 if event == READ else 1
            w = _new(Waiter)          # (Waiter(self), without its __init__ frame)
            w.loop = self
            w.state = _WAITING
            w.value = w.exc = None
            ch = w.channel = _channel()
            ch.preference = 1         # the waker keeps running; we are queued
            entry[idx].append(w)
            poller = self._poller
            mask = poller._masks.get(fd, 0)     # (poller.mask(fd))
            if not mask & event:
                try:
                    poller.set_mask(fd, mask | event)
                except BaseException:
                    entry[idx].remove(w)
                    if not entry[0] and not entry[1]:
                        del fds[fd]
                    raise
            try:
                ch.receive()
            finally:
                w.channel = None
                if w.state != _WOKEN or w.exc is not None:
                    if w.state == _WAITING:
                        w.state = _CANCELLED
                    entry = fds.get(fd)
                    if entry is not None:
                        try:
                            entry[idx].remove(w)
                        except ValueError:
                            pass
            if w.exc is not None:
                exc, w.exc = w.exc, None
                raise exc
            return True
        finally:
            cur.set_atomic(old)

    def _wait_fd(self, fd, event, timeout, keep):
        fds = self._fds
        entry = fds.get(fd)
        if entry is None:
            entry = fds[fd] = [[], []]
        idx = 0 if event == READ else 1
        w = Waiter(self)
        entry[idx].append(w)
        poller = self._poller
        mask = poller.mask(fd)
        if not mask & event:
            try:
                poller.set_mask(fd, mask | event)
            except BaseException:
                entry[idx].remove(w)
                if not entry[0] and not entry[1]:
                    del fds[fd]
                raise
        try:
            return self.park(w, timeout)
        finally:
            if w.state != _WOKEN or w.exc is not None:
                entry = fds.get(fd)
                if entry is not None:
                    try:
                        entry[idx].remove(w)
                    except ValueError:
                        pass
            if not keep:
                self._shrink(fd)

    def _shrink(self, fd):
        entry = self._fds.get(fd)
        if entry is None:
            mask = 0
        else:
            mask = (READ if entry[0] else 0) | (WRITE if entry[1] else 0)
            if not mask:
                del self._fds[fd]
        if self._poller.mask(fd) != mask:
            try:
                self._poller.set_mask(fd, mask)
            except OSError:
                pass

    def drop_kept(self, fd):
        """Drop the kernel interest kept for ``fd`` if nobody waits on it now."""
        entry = self._fds.get(fd)
        if entry is None or (not entry[0] and not entry[1]):
            self._fds.pop(fd, None)
            self._poller.forget(fd)

    def forget_fd(self, fd, exc=None):
        """``fd`` is about to be closed: drop its kernel registration, and end the
        waits on it by raising ``exc`` in the waiters (default: EBADF OSError)."""
        entry = self._fds.get(fd)
        if entry is not None:
            for lst in entry:
                for w in lst:
                    w.throw(exc if exc is not None else
                            OSError(9, "File descriptor was closed while a tasklet waited on it"))
        self._fds.pop(fd, None)
        self._poller.forget(fd)

    def _dispatch_fd(self, fd, ev):
        entry = self._fds.get(fd)
        if entry is None:
            self._poller.set_mask(fd, 0)  # left registered (keep=True), nobody waits now
            return
        readers, writers = entry
        drop = 0
        # Wake first, empty the list after: an exception in between (a signal
        # handler's KeyboardInterrupt) leaves the rest listed, to be woken later.
        if ev & READ:
            if readers:
                for w in readers:
                    w.wake()
                entry[0] = []
            else:
                drop |= READ
        if ev & WRITE:
            if writers:
                for w in writers:
                    w.wake()
                entry[1] = []
            else:
                drop |= WRITE
        if drop:
            mask = self._poller.mask(fd)
            if mask & drop:
                self._poller.set_mask(fd, mask & ~drop)
            if not entry[0] and not entry[1] and not self._poller.mask(fd):
                del self._fds[fd]

    # ------------------------------------------------------------------ driving
    def _check_driver(self, what):
        if self._closed:
            raise RuntimeError("the loop is closed")
        if self._thread_id != _get_ident():
            raise RuntimeError(f"{what}: the loop belongs to another thread")
        if not _getcurrent().is_main:
            raise RuntimeError(f"{what}: the loop runs in the main tasklet of its thread")

    def run_forever(self):
        """Run tasklets, timers and I/O until ``stop()`` is called."""
        self._check_driver("run_forever")
        self._forever += 1
        try:
            self._run(self._stop_requested)
        finally:
            self._forever -= 1
            self._stopping = False

    def _stop_requested(self):
        return self._stopping

    def run_until(self, tasklet):
        """Run tasklets, timers and I/O until ``tasklet`` is dead.  Returns at once if
        it already is.  A tasklet that is alive but neither runnable nor waiting for
        anything keeps this waiting (like Thread.join)."""
        self._check_driver("run_until")
        self._run(lambda: not tasklet.alive)

    def run_once(self, timeout=0):
        """One turn: let runnable tasklets run once, poll for at most ``timeout``
        seconds (None: until something happens), fire what is due."""
        self._check_driver("run_once")
        self._depth += 1
        try:
            if _getruncount() > 1:
                _schedule()
            self._raise_main_exc()
            self._poll(timeout)
            self._raise_main_exc()
        finally:
            self._depth -= 1

    def _raise_main_exc(self):
        exc = self._main_exc
        if exc is not None:
            self._main_exc = None
            raise exc

    def _run(self, done):
        self._depth += 1
        try:
            while True:
                if _getruncount() > 1:
                    _schedule()
                if self._main_exc is not None:
                    self._raise_main_exc()
                if done():
                    return
                if self._ready or _getruncount() > 1 or (self._stopping and self._forever):
                    timeout = 0
                else:
                    when = self._timers.next_when()
                    if when is None:
                        timeout = None
                    else:
                        timeout = when - _monotonic()
                        if timeout < 0:
                            timeout = 0
                self._poll(timeout)
                if self._main_exc is not None:
                    self._raise_main_exc()
                if done():
                    return
        finally:
            self._depth -= 1

    def _poll(self, timeout):
        self.polls += 1
        events = self._poller.poll(timeout)
        if events:
            wakefd = self._wakefd
            fds = self._fds
            for fd, ev in events:
                if fd == wakefd:
                    self._wakeup.drain()
                    continue
                # The usual event, inline: readable, and readers (plain Waiters) wait for
                # it -- a socket's reader, once per request.  Same steps as _dispatch_fd
                # and Waiter.wake (this is the loop's thread): wake them all, then empty
                # the list.  Anything else goes through _dispatch_fd.
                if ev == READ:
                    entry = fds.get(fd)
                    if entry is not None:
                        readers = entry[0]
                        if readers:
                            for w in readers:
                                if type(w) is Waiter:
                                    if w.state == _WAITING:
                                        w.state = _WOKEN
                                        w.value = None
                                        ch = w.channel
                                        if ch is not None and ch.balance < 0:
                                            ch.send(None)
                                else:
                                    w.wake()
                            entry[0] = []
                            continue
                self._dispatch_fd(fd, ev)
        timers = self._timers
        ticks = timers._ticks       # (pop_due only when the earliest millisecond is due:
        if ticks:                   # no call and no list on the turns where nothing is)
            now = _monotonic()
            due = timers.pop_due(now) if ticks[0] <= int(now * 1000.0) else ()
            i = 0
            try:
                for entry in due:
                    i += 1
                    fn = entry[2]
                    if fn is not None:
                        entry[2] = None
                        if fn is _wake_channel:       # a sleeping tasklet (args: the channel)
                            ch = entry[3]
                            if ch.balance < 0:
                                ch.send(None)
                        else:
                            fn(*entry[3])
            finally:
                if i < len(due):       # a callback raised: the rest fire next turn
                    for entry in due[i:]:
                        if entry[2] is not None:
                            entry[1] = next(self._seq)
                            timers.push(entry)
        ready = self._ready
        if ready:
            # Only what is queued now: a callback that queues more runs next turn.
            for _ in range(len(ready)):
                fn, args = ready.popleft()
                fn(*args)

    # ----------------------------------------------------------- main tasklet
    def throw_main(self, exc):
        """Deliver ``exc`` to the main tasklet, which is driving this loop (used by
        sync.Timeout when the tasklet it guards is the main one)."""
        self._main_exc = exc

    # ------------------------------------------------------------------ misc
    def is_running(self):
        return self._depth > 0

    def pending(self):
        """Counts of registrations, for tests and debugging: timers (not
        cancelled), fds with waiters, fd waiters, queued callbacks."""
        nfd_waiters = sum(len(e[0]) + len(e[1]) for e in self._fds.values())
        return {
            "timers": self._timers.live,
            "fds": sum(1 for e in self._fds.values() if e[0] or e[1]),
            "fd_waiters": nfd_waiters,
            "callbacks": len(self._ready),
        }

    def close(self):
        if self._closed:
            return
        self._closed = True
        if self._wakeup_registered and self._thread_id == _get_ident():
            try:
                _set_wakeup_fd(-1)
            except Exception:
                pass
        self._poller.close()
        self._wakeup.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


# ---------------------------------------------------------------- per thread
_local = threading.local()


def get_loop():
    """The calling thread's loop, created on first use."""
    try:
        return _local.loop
    except AttributeError:
        loop = _local.loop = Loop()
        return loop


def run_forever():
    get_loop().run_forever()


def run_until(tasklet):
    get_loop().run_until(tasklet)


def stop():
    get_loop().stop()


def call_later(delay, fn, *args):
    """Run ``fn(*args)`` in the main tasklet after ``delay`` seconds; returns a Handle
    with ``cancel()``."""
    return get_loop().call_later(delay, fn, *args)


def call_soon(fn, *args):
    return get_loop().call_soon(fn, *args)


def call_soon_threadsafe(loop, fn, *args):
    loop.call_soon_threadsafe(fn, *args)


def sleep(seconds):
    """Block the calling tasklet for ``seconds``; ``sleep(0)`` only lets the other
    runnable tasklets (and one poll of I/O) run.  Negative: ValueError, as time.sleep."""
    if seconds > 0:
        cur = _getcurrent()
        if cur.is_main:
            get_loop().sleep(seconds)
        else:
            get_loop()._sleep_task(cur, _monotonic() + seconds)
    elif seconds == 0:
        if _getcurrent().is_main:
            get_loop().run_once(0)
        else:
            _schedule()
    else:
        raise ValueError("sleep length must be non-negative")


def sleep_until(when):
    """Block the calling tasklet until ``time() >= when`` (time.monotonic's clock);
    a deadline in the past yields like sleep(0).  Deadlines, not durations, so
    sleeps with equal deadlines wake in the order they were made."""
    cur = _getcurrent()
    if cur.is_main:
        delay = when - _monotonic()
        if delay <= 0:
            sleep(0)
        else:
            loop = get_loop()
            loop.park(Waiter(loop), delay)
    elif when > _monotonic():
        get_loop()._sleep_task(cur, when)
    else:
        _schedule()


def time():
    """The loop clock: time.monotonic()."""
    return _monotonic()


def _fileno(fd):
    if not isinstance(fd, int):
        try:
            fileno = fd.fileno
        except AttributeError:
            raise TypeError(f"expected an int fd or an object with fileno(), not "
                            f"{type(fd).__name__}") from None
        fd = fileno()
        if not isinstance(fd, int):
            raise TypeError("fileno() returned a non-integer")
    if fd < 0:
        raise ValueError(f"invalid file descriptor: {fd}")
    return fd


def wait_readable(fd, timeout=None):
    """Block the calling tasklet until ``fd`` (an int or an object with fileno()) is
    readable (or has an error/hang-up).  Raises TimeoutError after ``timeout`` s."""
    if not get_loop().wait_fd(_fileno(fd), READ, timeout):
        raise TimeoutError("timed out")


def wait_writable(fd, timeout=None):
    """Like wait_readable, for writability."""
    if not get_loop().wait_fd(_fileno(fd), WRITE, timeout):
        raise TimeoutError("timed out")


# ------------------------------------------------------------- thread pool
_pool = None
_pool_lock = threading.Lock()


def set_thread_pool(executor):
    """Use ``executor`` (a concurrent.futures.Executor) for call_on_thread; None
    goes back to the default pool.  Returns the previous one (None if it was the
    default or none existed); the caller owns it (shut it down when done)."""
    global _pool
    with _pool_lock:
        old, _pool = _pool, executor
    return None if isinstance(old, _DefaultPool) else old


def shutdown_thread_pool(wait=True):
    """Shut the default pool down now (it is recreated on the next call_on_thread).
    Its idle threads leave by themselves after a second; while any thread lives,
    Stackless's deadlock rule treats it as one that might wake a blocked tasklet."""
    global _pool
    with _pool_lock:
        pool = _pool if isinstance(_pool, _DefaultPool) else None
        if pool is not None:
            _pool = None
    if pool is not None:
        pool.shutdown(wait=wait)


def _get_pool():
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = _DefaultPool()
            pool = _pool
    return pool


def call_on_thread(fn, *args):
    """Run ``fn(*args)`` on the thread pool and block only the calling tasklet until
    it returns; its return value is returned and its exception raised here.  If the
    waiting tasklet is killed, the call is cancelled if it has not started (else it
    runs to completion and its result is dropped)."""
    loop = get_loop()
    w = Waiter(loop)
    fut = _get_pool().submit(fn, *args)
    # (A wait that already ended -- the tasklet was killed -- needs no wake-up.)
    fut.add_done_callback(lambda f: w.state == _WAITING and loop.call_soon_threadsafe(w.wake))
    try:
        loop.park(w)
    finally:
        if w.state != _WOKEN:
            fut.cancel()
    return fut.result()
