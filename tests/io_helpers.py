"""Shared by tests/test_io_*.py.

* ``bounded_and_clean(seconds, cleanup=None)`` makes the autouse fixture of a test module: each
  test gets a SIGALRM time bound (a hang fails the test), and must leave no registration (timer,
  fd interest, waiter, callback) in its thread's loop and the main tasklet alone and current.
* ``no_threads_left_behind`` (module scope): worker threads would make the runtime's deadlock
  detection wait for them (Stackless's rule), so later suites must not inherit any.
"""
import threading
import signal

import pytest

import stackless
from stackless import loop

ZERO = {"timers": 0, "fds": 0, "fd_waiters": 0, "callbacks": 0}


class Bound(Exception):
    pass


def bounded_and_clean(seconds, cleanup=None):
    @pytest.fixture(autouse=True)
    def fixture():
        def on_alarm(signum, frame):
            raise Bound(f"test exceeded its {seconds} s bound")

        old = signal.signal(signal.SIGALRM, on_alarm)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
            if cleanup is not None:
                cleanup()
        assert loop.get_loop().pending() == ZERO
        assert stackless.getcurrent() is stackless.getmain() and stackless.getruncount() == 1
    return fixture


@pytest.fixture(autouse=True, scope="module")
def no_threads_left_behind():
    before = set(threading.enumerate())
    yield
    loop.shutdown_thread_pool(wait=True)
    for t in set(threading.enumerate()) - before:
        t.join(10)
    assert set(threading.enumerate()) <= before


def spawn(fn, *args):
    return stackless.tasklet(fn)(*args)


def settle():
    """Let every runnable tasklet run until it parks (no timers involved)."""
    for _ in range(5):
        loop.sleep(0)


def run_all(*tasklets):
    for t in tasklets:
        loop.run_until(t)
