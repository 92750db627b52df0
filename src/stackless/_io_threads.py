"""The default thread pool of stackless.loop.call_on_thread.

A concurrent.futures.Executor whose idle workers exit after ``idle`` seconds.
Why not ThreadPoolExecutor: its workers live forever, and Stackless's deadlock
rule (which the core follows) counts every other Python thread that is not
blocked in the scheduler as one that might still wake a blocked main tasklet.
So one call_on_thread would silently turn "Deadlock: ..." errors into hangs for
the rest of the process.  With idle workers leaving, that is true only while a
call runs and for ``idle`` seconds after; ``shutdown()`` ends it at once.

Workers are started on demand up to ``max_workers``; an interpreter exit wakes
the idle ones so they do not delay it.
"""
import collections
import threading
import weakref
from concurrent.futures import Executor, Future

_pools = weakref.WeakSet()


class IdleThreadPool(Executor):
    def __init__(self, max_workers=None, idle=1.0, name="stackless.loop"):
        import os
        if max_workers is None:
            max_workers = min(32, (os.cpu_count() or 1) + 4)
        if max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        self._max = max_workers
        self._idle_timeout = idle
        self._name = name
        self._work = collections.deque()
        self._cv = threading.Condition(threading.Lock())
        self._threads = set()
        self._idle = 0
        self._shutdown = False
        self._counter = 0
        _pools.add(self)

    def submit(self, fn, /, *args, **kwargs):
        fut = Future()
        with self._cv:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._work.append((fut, fn, args, kwargs))
            if self._idle > len(self._work) - 1:
                self._cv.notify()
            elif len(self._threads) < self._max:
                self._counter += 1
                t = threading.Thread(target=self._worker, name=f"{self._name}-{self._counter}")
                self._threads.add(t)
                t.start()
        return fut

    def _worker(self):
        me = threading.current_thread()
        cv = self._cv
        try:
            while True:
                with cv:
                    while not self._work:
                        if self._shutdown:
                            return
                        self._idle += 1
                        try:
                            woke = cv.wait(self._idle_timeout)
                        finally:
                            self._idle -= 1
                        if not woke and not self._work:
                            return
                    fut, fn, args, kwargs = self._work.popleft()
                if not fut.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    fut.set_exception(exc)
                    del exc
                else:
                    fut.set_result(result)
                del fut, fn, args, kwargs
        finally:
            with cv:
                self._threads.discard(me)

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._cv:
            self._shutdown = True
            if cancel_futures:
                while self._work:
                    self._work.popleft()[0].cancel()
            self._cv.notify_all()
            threads = list(self._threads)
        if wait:
            for t in threads:
                if t is not threading.current_thread():
                    t.join()

    def worker_count(self):
        with self._cv:
            return len(self._threads)


def _at_exit():
    for pool in list(_pools):
        pool.shutdown(wait=False)


threading._register_atexit(_at_exit)
