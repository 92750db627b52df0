"""A bounded pool of PostgreSQL backends for :class:`evemu.db.Database`, used from tasklets.

Each :class:`~evemu.db.postgres.PostgreSQLBackend` of the pool owns one
:class:`~evemu.db.pgloop.LoopConnection`, so a call blocks only its tasklet; the pool bounds how
many run at once (``size`` connections) and queues the rest: a thousand concurrent calls need
``size`` connections and no thread.

- :meth:`acquire` takes a free backend, opens a new one while fewer than ``size`` exist, else
  waits (a :class:`stackless.sync.Semaphore`, so any tasklet of any thread) up to
  ``acquire_timeout`` seconds and raises :class:`PoolTimeout`.
- :meth:`release` gives it back; a backend left inside a transaction (a caller that began one
  and neither committed nor rolled back) is rolled back first, and one whose connection broke
  (the server restarted, the tasklet was killed mid-query) is kept as it is: its next use
  reconnects (:meth:`PostgreSQLBackend._c`; ``reconnects`` counts it).  A call in flight when the
  server goes away gets psycopg's ``OperationalError`` and is not retried (a commit may or may
  not have happened); nothing half-done is ever committed.
- Free backends are reused last-in first-out, so a quiet server keeps using one connection.
"""
import logging
import threading

from stackless import sync

__all__ = ["PostgreSQLPool", "PoolTimeout", "DEFAULT_POOL_SIZE"]

log = logging.getLogger("evemu.db")

DEFAULT_POOL_SIZE = 8
DEFAULT_ACQUIRE_TIMEOUT = 30.0


class PoolTimeout(TimeoutError):
    """No connection of the pool became free in time."""


class PostgreSQLPool:
    dialect = "postgresql"

    def __init__(self, url, size=DEFAULT_POOL_SIZE, connect_timeout=None,
                 acquire_timeout=DEFAULT_ACQUIRE_TIMEOUT):
        from .postgres import CONNECT_TIMEOUT, PostgreSQLBackend, redact_url
        if int(size) < 1:
            raise ValueError(f"a pool needs at least one connection, not {size!r}")
        self._new = lambda: PostgreSQLBackend(
            url, connect_timeout=CONNECT_TIMEOUT if connect_timeout is None else connect_timeout)
        self.path = redact_url(url)
        self.size = int(size)
        self.acquire_timeout = acquire_timeout
        self._slots = sync.Semaphore(self.size)
        self._lock = threading.Lock()
        self._free = []             # idle backends, most recently used last
        self._all = []
        self._retired_reconnects = 0
        self.closed = False
        # the first connection now: a wrong URL or password fails here, not at the first call
        self.release(self.acquire())

    def __repr__(self):
        return (f"<PostgreSQLPool {self.path} {len(self._all)}/{self.size} connections, "
                f"{len(self._free)} free>")

    @property
    def reconnects(self):
        """Connections replaced after a server restart or a broken connection, all told."""
        return self._retired_reconnects + sum(b.reconnects for b in list(self._all))

    @property
    def in_use(self):
        return len(self._all) - len(self._free)

    def acquire(self, timeout=None):
        if self.closed:
            raise RuntimeError("the database is closed")
        timeout = self.acquire_timeout if timeout is None else timeout
        if not self._slots.acquire(timeout=timeout):
            raise PoolTimeout(f"{self.path}: no free connection after {timeout:g} s "
                              f"({self.size} in use)")
        try:
            with self._lock:
                if self.closed:
                    raise RuntimeError("the database is closed")
                if self._free:
                    return self._free.pop()
            backend = self._new()           # a slot is ours, so the size limit holds
            with self._lock:
                self._all.append(backend)
            return backend
        except BaseException:
            self._slots.release()
            raise

    def release(self, backend):
        try:
            backend.reset()
        except Exception as e:          # noqa: BLE001 -- the connection goes, not the caller
            log.warning("%s: connection dropped after a failed reset: %s", self.path, e)
            backend.close()
        with self._lock:
            if self.closed:
                self._forget(backend)
            else:
                self._free.append(backend)
        self._slots.release()

    def _forget(self, backend):
        try:
            self._all.remove(backend)
        except ValueError:
            pass
        self._retired_reconnects += backend.reconnects
        backend.close()

    def close(self):
        """Close the free connections now; one in use is closed when it comes back."""
        with self._lock:
            self.closed = True
            free, self._free = self._free, []
        for b in free:
            with self._lock:
                self._forget(b)
