"""psycopg 3 connections whose waits block only the calling tasklet.

psycopg's blocking API is a thin layer over generators (``psycopg.generators``): each operation
(execute, fetch, commit, a transaction block...) is a generator that does the non-blocking libpq
work and yields ``Wait.R``/``Wait.W``/``Wait.RW`` whenever the socket would block; the
connection's :meth:`~psycopg.Connection.wait` drives it with a selector, blocking the thread.
:class:`LoopConnection` overrides that one method: it parks the *tasklet* in
:func:`stackless.loop.get_loop`'s ``wait_fd`` instead, so every psycopg call made on it --
including the world layer's plain DB-API code and Python migrations -- lets the loop serve the
other tasklets while PostgreSQL works.  No thread is involved in a query.

Rules this module keeps:

- The fd interest is never kept (``keep=False``): psycopg closes its own socket (and a reconnect
  can reuse the number), so nothing stays registered with the loop after a wait.
- A wait that ends with an exception of the *tasklet* (kill, ``throw``, a timeout) leaves the
  connection in the middle of the protocol: it is closed at once, so nobody reuses it half-read
  (the pool then opens a new one).
- Opening a connection (DNS, TCP, TLS, authentication) runs psycopg's own blocking connect on
  the loop's worker pool (:func:`stackless.loop.call_on_thread`): it is rare (a pool opens a few
  connections) and keeps libpq's ``connect_timeout`` and multi-host handling as they are.
- One tasklet at a time per connection (the pool hands it out).  psycopg holds a *thread* lock
  across each operation; a second tasklet of the same thread entering it would block the thread.
"""
import select
import time

import psycopg
from psycopg import errors as _errors
from psycopg import waiting as _waiting

from stackless import loop as _loop
from stackless._io_poll import READ, WRITE

__all__ = ["LoopConnection", "connect"]

_WAIT_R, _WAIT_W, _WAIT_RW = _waiting.WAIT_R, _waiting.WAIT_W, _waiting.WAIT_RW
_READY_R, _READY_W, _READY_RW = _waiting.READY_R, _waiting.READY_W, _waiting.READY_RW
_READY_NONE = _waiting.READY_NONE
_RW_SLICE = 0.01        # s: how long a read-or-write wait waits for writability before a poll
_WaitTimeout = getattr(_errors, "_WaitTimeout", TimeoutError)


def _ready_now(fd, wait):
    """The readiness of ``fd`` now (a zero-timeout poll), as psycopg's Ready value."""
    r, w, x = select.select([fd] if wait & _WAIT_R else [], [fd] if wait & _WAIT_W else [],
                            [fd], 0)
    if x:
        return _READY_RW
    return (_READY_R if r else 0) | (_READY_W if w else 0)


class LoopConnection(psycopg.Connection):
    """A :class:`psycopg.Connection` whose waits park the tasklet on the stackless loop."""

    def wait(self, gen, interval=None, timeout=None):
        fd = self.pgconn.socket
        loop = _loop.get_loop()
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            s = next(gen)
            while True:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                if s == _WAIT_R:
                    ready = _READY_R if loop.wait_fd(fd, READ, left) else _READY_NONE
                elif s == _WAIT_W:
                    ready = _READY_W if loop.wait_fd(fd, WRITE, left) else _READY_NONE
                else:
                    # read OR write (a send that could not finish): the loop waits for one
                    # event per call, so wait for writability a slice at a time and poll both
                    ready = _ready_now(fd, s)
                    if not ready:
                        loop.wait_fd(fd, WRITE, _RW_SLICE if left is None else
                                     min(left, _RW_SLICE))
                        ready = _ready_now(fd, s)
                if deadline is not None and not ready and time.monotonic() >= deadline:
                    self._abandon()
                    raise _WaitTimeout("wait timeout expired")
                s = gen.send(ready)
        except StopIteration as e:
            return e.value
        except psycopg.Error:
            raise                   # the protocol's own errors leave the connection coherent
        except BaseException:
            # the tasklet was killed or thrown into mid-protocol (or the wait timed out): the
            # connection's state is unknown, so nobody may use it again
            self._abandon()
            raise

    def _abandon(self):
        try:
            self.pgconn.finish()
        except Exception:           # noqa: BLE001 -- already closing
            pass


def connect(conninfo, **kwargs):
    """Open a :class:`LoopConnection` (psycopg's blocking connect on a worker thread; the
    calling tasklet waits, the loop goes on).  ``kwargs`` as :func:`psycopg.connect`'s."""
    return _loop.call_on_thread(lambda: LoopConnection.connect(conninfo, **kwargs))
