"""The kernel side of stackless.loop: one poller and one wake-up fd per loop.

Nothing here knows about tasklets.  ``Poller`` is a thin interest-set over epoll
(``select.epoll``, level-triggered) with a fallback to ``selectors.DefaultSelector``
where epoll does not exist; ``Wakeup`` is an eventfd (or a non-blocking pipe)
that another thread writes to in order to interrupt ``Poller.poll``.

Both are deliberately dumb: the loop keeps the per-fd bookkeeping (who waits for
what) and tells the poller the resulting event mask.  The only cleverness is
that ``set_mask`` is idempotent and tolerant of the two ways an fd's
registration can go stale behind our back (the fd was closed, which removes it
from epoll silently, or it was closed and a new file reused the number): it
falls back from MODIFY to ADD and from ADD to MODIFY instead of raising.
"""
import errno
import os
import select
import selectors

# The longest single wait: a timer far away (``call_later(float("inf"))``, or its cancelled
# entry still at the head of the heap) would overflow the kernel's time_t; waking once a day
# instead costs nothing -- the loop recomputes and waits again.
_MAX_WAIT = 86400.0

READ = 1   # == select.EPOLLIN == selectors.EVENT_READ
WRITE = 4  # == select.EPOLLOUT (selectors.EVENT_WRITE is 2; the fallback maps)

if hasattr(select, "epoll"):
    _ERRMASK = select.EPOLLERR | select.EPOLLHUP

    class Poller:
        """Level-triggered epoll interest set: fd -> mask of READ|WRITE."""

        __slots__ = ("_ep", "_masks")

        def __init__(self):
            self._ep = select.epoll()
            self._masks = {}

        def fileno(self):
            return self._ep.fileno()

        def mask(self, fd):
            return self._masks.get(fd, 0)

        def set_mask(self, fd, mask):
            """Make the kernel's interest for ``fd`` exactly ``mask`` (0 removes it).

            Raises OSError only for a bad fd (EBADF, EPERM for regular files...).
            """
            old = self._masks.get(fd, 0)
            ep = self._ep
            if mask == 0:
                if old:
                    del self._masks[fd]
                    try:
                        ep.unregister(fd)
                    except (OSError, ValueError):
                        pass  # closed already: the kernel dropped it
                return
            if old == mask:
                return
            if old:
                try:
                    ep.modify(fd, mask)
                except FileNotFoundError:  # closed and reused: not registered any more
                    ep.register(fd, mask)
            else:
                try:
                    ep.register(fd, mask)
                except FileExistsError:  # a stale registration we forgot about
                    ep.modify(fd, mask)
            self._masks[fd] = mask

        def forget(self, fd):
            """Drop ``fd`` before it is closed (so epoll cannot report a reused number)."""
            self.set_mask(fd, 0)

        def poll(self, timeout):
            """[(fd, events)] where events has READ and/or WRITE; errors/hangups count as both
            (the waiter's retry of the real operation reports the error)."""
            try:
                events = self._ep.poll(-1 if timeout is None else min(timeout, _MAX_WAIT))
            except InterruptedError:
                return []
            for _fd, ev in events:      # (usually no error bits: the kernel's list as is)
                if ev & _ERRMASK:
                    return [(fd, ev | READ | WRITE if ev & _ERRMASK else ev)
                            for fd, ev in events]
            return events

        def close(self):
            self._masks.clear()
            self._ep.close()

else:  # pragma: no cover - non-Linux fallback

    class Poller:
        __slots__ = ("_sel", "_masks")

        def __init__(self):
            self._sel = selectors.DefaultSelector()
            self._masks = {}

        def fileno(self):
            return self._sel.fileno() if hasattr(self._sel, "fileno") else -1

        def mask(self, fd):
            return self._masks.get(fd, 0)

        @staticmethod
        def _to_sel(mask):
            return (selectors.EVENT_READ if mask & READ else 0) | (
                selectors.EVENT_WRITE if mask & WRITE else 0)

        def set_mask(self, fd, mask):
            old = self._masks.get(fd, 0)
            if old == mask:
                return
            if mask == 0:
                del self._masks[fd]
                try:
                    self._sel.unregister(fd)
                except (KeyError, ValueError, OSError):
                    pass
                return
            if old:
                self._sel.modify(fd, self._to_sel(mask))
            else:
                self._sel.register(fd, self._to_sel(mask))
            self._masks[fd] = mask

        def forget(self, fd):
            self.set_mask(fd, 0)

        def poll(self, timeout):
            out = []
            for key, ev in self._sel.select(None if timeout is None
                                            else min(timeout, _MAX_WAIT)):
                out.append((key.fd, (READ if ev & selectors.EVENT_READ else 0)
                            | (WRITE if ev & selectors.EVENT_WRITE else 0)))
            return out

        def close(self):
            self._masks.clear()
            self._sel.close()


class Wakeup:
    """An fd that any thread may ``notify()``; the loop polls ``fileno()`` for READ and
    calls ``drain()`` when it fires.  eventfd on Linux, a non-blocking pipe elsewhere."""

    __slots__ = ("_rfd", "_wfd", "_closed")

    def __init__(self):
        if hasattr(os, "eventfd"):
            fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._rfd = self._wfd = fd
        else:  # pragma: no cover
            r, w = os.pipe()
            os.set_blocking(r, False)
            os.set_blocking(w, False)
            self._rfd, self._wfd = r, w
        self._closed = False

    def fileno(self):
        return self._rfd

    @property
    def write_fd(self):
        return self._wfd

    def notify(self):
        """Thread-safe and async-signal-safe enough: one write of an 8-byte 1."""
        if self._closed:
            return
        try:
            os.write(self._wfd, b"\x01\0\0\0\0\0\0\0")
        except (BlockingIOError, InterruptedError):
            pass  # the counter/pipe is already non-empty: the loop will wake
        except OSError as e:  # closed concurrently by the loop's thread
            if e.errno != errno.EBADF:
                raise

    def drain(self):
        try:
            while True:
                if not os.read(self._rfd, 4096):
                    return
                if self._rfd == self._wfd:  # eventfd: one read resets the counter
                    return
        except (BlockingIOError, InterruptedError):
            pass

    def close(self):
        if self._closed:
            return
        self._closed = True
        os.close(self._rfd)
        if self._wfd != self._rfd:
            os.close(self._wfd)
