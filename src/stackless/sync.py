"""stackless.sync: locks, events, conditions, semaphores, queues and Timeout for tasklets.

The interfaces are those of ``threading`` and ``queue`` (same signatures, return
values, exceptions and messages); only the calling *tasklet* blocks.  Every wait
parks the tasklet on a channel through ``stackless.loop`` (see its docstring for
who drives the loop), so ``kill()``/``throw()`` of a waiting tasklet raise in it
and its ``finally`` removes it from the primitive.

Hand-off, and what a cancelled wait gives back
    ``Lock``, ``RLock`` and ``Semaphore`` hand the lock/unit directly to the first
    waiter on release (FIFO, no barging).  A waiter that was handed the lock but is
    killed, or hit by a ``Timeout``, before it resumes passes it on to the next
    waiter (or releases it), so nothing is ever leaked.  ``Queue``,``Event`` and
    ``Condition`` wake waiters that then re-check; a woken waiter that does not
    take what it was woken for passes the wake-up on.

Threads
    The primitives may be shared by tasklets of different threads (and plain
    threads that have a loop).  State changes are guarded by a ``threading.Lock``
    held only for a few bytecodes, never across a wait, and a waiter of another
    thread is woken through its own loop (``call_soon_threadsafe``).

Timeout
    ``with Timeout(seconds): ...`` raises ``TimeoutExpired`` (a ``TimeoutError``)
    in the tasklet when the time is up, wherever it is blocked or yielded;
    ``Timeout(seconds, suppress=True)`` ends the block silently instead.  If the
    block ends first, the timer is cancelled.
"""
import collections
import heapq
import queue as _queue
import threading

import stackless as _sl
from stackless import loop as _loopmod
from stackless.loop import Waiter, get_loop

__all__ = ["Lock", "RLock", "Event", "Condition", "Semaphore", "BoundedSemaphore",
           "Queue", "LifoQueue", "PriorityQueue", "Empty", "Full", "Timeout",
           "TimeoutExpired"]

Empty = _queue.Empty
Full = _queue.Full

_getcurrent = _sl.getcurrent
_monotonic = _loopmod._monotonic
_WOKEN = _loopmod._WOKEN


class _Mutex:
    """The guard of a primitive's state: a threading.Lock (other threads) taken
    while the tasklet is atomic (so a run(timeout) cannot pre-empt it while it
    holds the lock, which would deadlock the next tasklet of its thread that
    comes here).  Held for a few lines, never across a wait."""

    __slots__ = ("_lock", "_held")

    def __init__(self):
        self._lock = threading.Lock()
        self._held = None

    def __enter__(self):
        cur = _getcurrent()
        old = cur.set_atomic(1)
        self._lock.acquire()
        self._held = (cur, old)     # written only by the holder

    def __exit__(self, *exc):
        cur, old = self._held
        self._lock.release()
        cur.set_atomic(old)


class _W(Waiter):
    """A waiter of a sync primitive; ``notified`` is set (under the primitive's
    mutex) by whoever hands it the lock/unit or decides to wake it."""
    __slots__ = ("notified", "tasklet")

    def __init__(self, loop, tasklet=None):
        # (all slots set here rather than through Waiter.__init__: one call less)
        self.loop = loop
        self.state = 0
        self.value = self.exc = self.channel = None
        self.notified = False
        self.tasklet = tasklet


def _discard(seq, w):
    """Remove waiter ``w`` if it is still listed (an interrupt -- a signal
    handler's exception -- between a waker's pop and its mark can leave it out)."""
    try:
        seq.remove(w)
    except ValueError:
        pass


def _await_handoff(prim, w, timeout):
    """Park waiter ``w`` (already queued on ``prim._waiters`` under ``prim._mutex``)
    until a releaser hands it what it waits for (``w.notified``) or the timeout
    passes; return ``w.notified``.  A waiter that leaves early (timeout, kill,
    exception) is taken off the queue, and one that was handed the thing but
    did not resume normally gives it back (``prim._give_back()``), so nothing
    is lost.  (notified is set under the mutex before the wake-up: a notified
    waiter that resumed normally owns what it was handed, no lock needed.)"""
    ok = False
    try:
        w.loop.park(w, timeout)
        ok = True
    finally:
        if not (ok and w.notified):
            with prim._mutex:
                if w.notified:
                    if not ok:
                        prim._give_back()
                else:
                    _discard(prim._waiters, w)
    return w.notified


def _timeout_arg(blocking, timeout):
    """threading.Lock.acquire's argument rules; returns None (forever) or seconds."""
    if not blocking:
        if timeout != -1:
            raise ValueError("can't specify a timeout for a non-blocking call")
        return 0.0
    if timeout == -1:
        return None
    if timeout < 0:
        raise ValueError("timeout value must be positive")
    return timeout


# ---------------------------------------------------------------------- Lock
class Lock:
    """A non-reentrant lock (threading.Lock's interface); any tasklet may release it."""

    __slots__ = ("_locked", "_waiters", "_mutex", "__weakref__")

    def __init__(self):
        self._locked = False
        self._waiters = collections.deque()
        self._mutex = _Mutex()

    def acquire(self, blocking=True, timeout=-1):
        timeout = _timeout_arg(blocking, timeout)
        with self._mutex:
            if not self._locked:
                self._locked = True
                return True
            if timeout == 0.0:
                return False
            w = _W(get_loop())
            self._waiters.append(w)
        return _await_handoff(self, w, timeout)

    def _give_back(self):
        # handed the lock, then killed: pass it on
        self._release_locked()

    __enter__ = acquire

    def __exit__(self, t, v, tb):
        with self._mutex:
            if not self._locked:
                raise RuntimeError("release unlocked lock")
            self._release_locked()

    def _release_locked(self):
        # mutex held, lock held: hand it to the first waiter or unlock
        if self._waiters:
            w = self._waiters.popleft()
            w.notified = True
            w.wake()
        else:
            self._locked = False

    def release(self):
        with self._mutex:
            if not self._locked:
                raise RuntimeError("release unlocked lock")
            self._release_locked()

    def locked(self):
        return self._locked

    def _at_fork_reinit(self):  # pragma: no cover
        self.__init__()

    def __repr__(self):
        return (f"<{type(self).__module__}.{type(self).__qualname__} object "
                f"{'locked' if self._locked else 'unlocked'} waiters={len(self._waiters)}>")


# --------------------------------------------------------------------- RLock
class RLock:
    """A reentrant lock owned by a tasklet (threading.RLock's interface)."""

    __slots__ = ("_owner", "_count", "_waiters", "_mutex", "__weakref__")

    def __init__(self):
        self._owner = None
        self._count = 0
        self._waiters = collections.deque()
        self._mutex = _Mutex()

    def acquire(self, blocking=True, timeout=-1):
        timeout = _timeout_arg(blocking, timeout)
        me = _getcurrent()
        with self._mutex:
            if self._owner is None:
                self._owner = me
                self._count = 1
                return True
            if self._owner is me:
                self._count += 1
                return True
            if timeout == 0.0:
                return False
            w = _W(get_loop(), me)
            self._waiters.append(w)
        return _await_handoff(self, w, timeout)

    def _give_back(self):
        # handed the lock, then killed: pass it on
        self._count = 0
        self._handoff()

    __enter__ = acquire

    def __exit__(self, *exc):
        self.release()

    def _handoff(self):
        # mutex held, count just reached 0
        if self._waiters:
            w = self._waiters.popleft()
            self._owner = w.tasklet
            self._count = 1
            w.notified = True
            w.wake()
        else:
            self._owner = None

    def release(self):
        with self._mutex:
            if self._owner is not _getcurrent() or self._count == 0:
                raise RuntimeError("cannot release un-acquired lock")
            self._count -= 1
            if self._count == 0:
                self._handoff()

    # The Condition protocol (as threading's RLock has it).
    def _is_owned(self):
        return self._owner is _getcurrent()

    def _release_save(self):
        with self._mutex:
            if self._owner is not _getcurrent() or self._count == 0:
                raise RuntimeError("cannot release un-acquired lock")
            state = (self._count, self._owner)
            self._count = 0
            self._handoff()
            return state

    def _acquire_restore(self, state):
        self.acquire()
        self._count, self._owner = state

    def __repr__(self):
        return (f"<{type(self).__module__}.{type(self).__qualname__} owner={self._owner!r} "
                f"count={self._count}>")


# --------------------------------------------------------------------- Event
class Event:
    """threading.Event's interface: set, clear, is_set, wait(timeout) -> flag."""

    __slots__ = ("_flag", "_waiters", "_mutex", "__weakref__")

    def __init__(self):
        self._flag = False
        self._waiters = []
        self._mutex = _Mutex()

    def is_set(self):
        return self._flag

    isSet = is_set

    def set(self):
        with self._mutex:
            self._flag = True
            waiters, self._waiters = self._waiters, []
            for w in waiters:
                w.notified = True
                w.wake()

    def clear(self):
        with self._mutex:
            self._flag = False

    def wait(self, timeout=None):
        with self._mutex:
            if self._flag:
                return True
            if timeout is not None and timeout <= 0:
                return False
            w = _W(get_loop())
            self._waiters.append(w)
        try:
            w.loop.park(w, timeout)
        finally:
            if not w.notified:
                with self._mutex:
                    if not w.notified:
                        _discard(self._waiters, w)
        return w.notified or self._flag


# ----------------------------------------------------------------- Condition
class Condition:
    """threading.Condition's interface; the default lock is an RLock of this module."""

    def __init__(self, lock=None):
        if lock is None:
            lock = RLock()
        self._lock = lock
        self.acquire = lock.acquire
        self.release = lock.release
        for name in ("_release_save", "_acquire_restore", "_is_owned"):
            if hasattr(lock, name):
                setattr(self, name, getattr(lock, name))
        self._waiters = collections.deque()
        self._mutex = _Mutex()

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def __repr__(self):
        return f"<Condition({self._lock!r}, {len(self._waiters)})>"

    def _release_save(self):
        self._lock.release()

    def _acquire_restore(self, x):
        self._lock.acquire()

    def _is_owned(self):
        # As threading does for plain locks: owned if it cannot be acquired now.
        if self._lock.acquire(False):
            self._lock.release()
            return False
        return True

    def wait(self, timeout=None):
        if not self._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        w = _W(get_loop())
        with self._mutex:
            self._waiters.append(w)
        saved = self._release_save()
        ok = False
        try:
            if timeout is None or timeout > 0:
                w.loop.park(w, timeout)
            ok = True
        finally:
            with self._mutex:
                if not w.notified:
                    _discard(self._waiters, w)
                elif not ok:
                    self._notify_locked(1)   # killed after being notified: pass it on
            self._acquire_restore(saved)
        return w.notified

    def wait_for(self, predicate, timeout=None):
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = _monotonic() + waittime
                else:
                    waittime = endtime - _monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def _notify_locked(self, n):
        waiters = self._waiters
        while n > 0 and waiters:
            w = waiters.popleft()
            w.notified = True
            w.wake()
            n -= 1

    def notify(self, n=1):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        with self._mutex:
            self._notify_locked(n)

    def notify_all(self):
        if not self._is_owned():
            raise RuntimeError("cannot notify on un-acquired lock")
        with self._mutex:
            self._notify_locked(len(self._waiters))

    notifyAll = notify_all


# ----------------------------------------------------------------- Semaphore
class Semaphore:
    """threading.Semaphore's interface: acquire(blocking=True, timeout=None), release(n=1)."""

    def __init__(self, value=1):
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        self._value = value
        self._waiters = collections.deque()
        self._mutex = _Mutex()

    def acquire(self, blocking=True, timeout=None):
        if not blocking and timeout is not None:
            raise ValueError("can't specify timeout for non-blocking acquire")
        with self._mutex:
            if self._value > 0:
                self._value -= 1
                return True
            if not blocking or (timeout is not None and timeout <= 0):
                return False
            w = _W(get_loop())
            self._waiters.append(w)
        return _await_handoff(self, w, timeout)

    def _give_back(self):
        # handed a unit, then killed: give it back
        self._release_locked(1)

    __enter__ = acquire

    def __exit__(self, t, v, tb):
        self.release()

    def _release_locked(self, n):
        waiters = self._waiters
        while n and waiters:
            w = waiters.popleft()
            w.notified = True
            w.wake()
            n -= 1
        self._value += n

    def release(self, n=1):
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            self._release_locked(n)

    def __repr__(self):
        return (f"<{type(self).__module__}.{type(self).__qualname__} value={self._value} "
                f"waiters={len(self._waiters)}>")


class BoundedSemaphore(Semaphore):
    """A Semaphore that refuses to be released above its initial value."""

    def __init__(self, value=1):
        Semaphore.__init__(self, value)
        self._initial_value = value

    def release(self, n=1):
        if n < 1:
            raise ValueError("n must be one or more")
        with self._mutex:
            # units held = initial - value - (units handed off are held too)
            if self._value + n > self._initial_value:
                raise ValueError("Semaphore released too many times")
            self._release_locked(n)


# --------------------------------------------------------------------- Queue
class Queue:
    """queue.Queue's interface (maxsize, put/get with block and timeout, the
    *_nowait forms, task_done/join, qsize/empty/full); raises queue.Empty/queue.Full.
    Subclasses override _init/_qsize/_put/_get as with queue.Queue."""

    def __init__(self, maxsize=0):
        self.maxsize = maxsize
        self._init(maxsize)
        self._getters = collections.deque()
        self._putters = collections.deque()
        self._joiners = []
        self.unfinished_tasks = 0
        self._mutex = _Mutex()

    # storage hooks, as queue.Queue
    def _init(self, maxsize):
        self.queue = collections.deque()

    def _qsize(self):
        return len(self.queue)

    def _put(self, item):
        self.queue.append(item)

    def _get(self):
        return self.queue.popleft()

    # waking
    @staticmethod
    def _wake_one(waiters):
        if waiters:
            w = waiters.popleft()
            w.notified = True
            w.wake()

    def _wait(self, waiters, endtime, front):
        """Park on ``waiters`` (mutex NOT held on entry or exit).  Returns False if
        the deadline passed.  On kill, passes a wake-up it received on."""
        with self._mutex:
            w = _W(get_loop())
            if front:
                waiters.appendleft(w)
            else:
                waiters.append(w)
        timeout = None
        if endtime is not None:
            timeout = endtime - _monotonic()
        ok = False
        try:
            if timeout is None or timeout > 0:
                w.loop.park(w, timeout)
            ok = True
        finally:
            if not (ok and w.notified):
                with self._mutex:
                    if not w.notified:
                        try:
                            waiters.remove(w)
                        except ValueError:
                            pass
                    elif not ok:
                        self._wake_one(waiters)
        return w.notified

    @staticmethod
    def _endtime(block, timeout):
        if not block or timeout is None:
            return None
        if timeout < 0:
            raise ValueError("'timeout' must be a non-negative number")
        return _monotonic() + timeout

    def put(self, item, block=True, timeout=None):
        endtime = self._endtime(block, timeout)
        woken = False
        while True:
            with self._mutex:
                if self.maxsize <= 0 or self._qsize() < self.maxsize:
                    self._put(item)
                    self.unfinished_tasks += 1
                    self._wake_one(self._getters)
                    return
                if not block:
                    raise Full
            if endtime is not None and endtime - _monotonic() <= 0:
                raise Full
            # A woken putter that lost the slot to a newcomer waits again at the front.
            woken = self._wait(self._putters, endtime, woken)

    def get(self, block=True, timeout=None):
        endtime = self._endtime(block, timeout)
        woken = False
        while True:
            with self._mutex:
                if self._qsize():
                    item = self._get()
                    self._wake_one(self._putters)
                    return item
                if not block:
                    raise Empty
            if endtime is not None and endtime - _monotonic() <= 0:
                raise Empty
            woken = self._wait(self._getters, endtime, woken)

    def put_nowait(self, item):
        return self.put(item, block=False)

    def get_nowait(self):
        return self.get(block=False)

    def task_done(self):
        with self._mutex:
            unfinished = self.unfinished_tasks - 1
            if unfinished < 0:
                raise ValueError("task_done() called too many times")
            self.unfinished_tasks = unfinished
            if unfinished == 0:
                joiners, self._joiners = self._joiners, []
                for w in joiners:
                    w.notified = True
                    w.wake()

    def join(self):
        while True:
            with self._mutex:
                if not self.unfinished_tasks:
                    return
                w = _W(get_loop())
                self._joiners.append(w)
            try:
                w.loop.park(w, None)
            finally:
                with self._mutex:
                    if not w.notified:
                        _discard(self._joiners, w)

    def qsize(self):
        with self._mutex:
            return self._qsize()

    def empty(self):
        with self._mutex:
            return not self._qsize()

    def full(self):
        with self._mutex:
            return 0 < self.maxsize <= self._qsize()


class LifoQueue(Queue):
    def _init(self, maxsize):
        self.queue = []

    def _qsize(self):
        return len(self.queue)

    def _put(self, item):
        self.queue.append(item)

    def _get(self):
        return self.queue.pop()


class PriorityQueue(Queue):
    def _init(self, maxsize):
        self.queue = []

    def _qsize(self):
        return len(self.queue)

    def _put(self, item):
        heapq.heappush(self.queue, item)

    def _get(self):
        return heapq.heappop(self.queue)


# ------------------------------------------------------------------- Timeout
class TimeoutExpired(TimeoutError):
    """Raised in a tasklet by ``Timeout`` when its time is up; ``.timeout`` is the
    Timeout object that fired (so nested Timeouts can tell theirs apart)."""

    def __init__(self, timeout=None):
        secs = getattr(timeout, "seconds", None)
        TimeoutError.__init__(self, f"timed out after {secs} s" if secs is not None
                              else "timed out")
        self.timeout = timeout


class Timeout:
    """``with Timeout(seconds):`` raise ``TimeoutExpired`` in the current tasklet if
    the block has not ended after ``seconds`` (None: never).  The exception is
    delivered where the tasklet is blocked (any wait of this package, a raw
    channel, ``sleep``) or, if it is runnable, where it resumes.  With
    ``suppress=True`` the expiry ends the block silently.  ``expired`` tells
    afterwards whether it fired.  One Timeout object guards one block at a time."""

    Expired = TimeoutExpired

    def __init__(self, seconds, *, suppress=False):
        self.seconds = seconds
        self.suppress = suppress
        self.expired = False
        self._handle = None
        self._tasklet = None
        self._loop = None

    def __enter__(self):
        if self._handle is not None:
            raise RuntimeError("this Timeout is already active")
        self.expired = False
        if self.seconds is not None:
            self._tasklet = _getcurrent()
            self._loop = get_loop()
            self._handle = self._loop.call_later(self.seconds, self._fire)
        return self

    def _fire(self):
        # Runs in the main tasklet, from the loop's timer dispatch.
        self._handle = None
        t = self._tasklet
        if t is None or not t.alive:
            return
        self.expired = True
        exc = TimeoutExpired(self)
        if t.is_main:
            self._loop.throw_main(exc)
        else:
            t.throw(exc, None, None, True)

    def cancel(self):
        h, self._handle = self._handle, None
        if h is not None:
            h.cancel()
        self._tasklet = None

    def __exit__(self, typ, val, tb):
        self.cancel()
        if (self.suppress and isinstance(val, TimeoutExpired) and val.timeout is self):
            return True
        return False

    def __repr__(self):
        return f"<stackless.sync.Timeout seconds={self.seconds} expired={self.expired}>"
