"""stackless.socket: sockets whose blocking calls block only the calling tasklet.

``stackless.socket.socket`` is a subclass of the standard ``socket.socket``.  The
OS socket underneath is always non-blocking; the timeout you set with
``settimeout``/``setblocking`` (default: ``socket.getdefaulttimeout()``) is kept
here and applied by parking the calling tasklet in ``stackless.loop`` whenever the
OS says EAGAIN:

* ``None`` (blocking): the tasklet waits as long as it takes;
* ``t > 0``: it waits at most ``t`` seconds per call (``sendall``: in total), then
  ``TimeoutError("timed out")`` (``socket.timeout`` is ``TimeoutError``) is raised;
* ``0.0`` (non-blocking): ``BlockingIOError`` is raised at once, as usual.

Everything else -- errors, return values, ``makefile`` (the standard one, which
calls our ``recv_into``/``send``) -- is the standard module's.  Closing a socket
while other tasklets wait on it wakes them with ``OSError(EBADF)``.

The rest of the module mirrors ``socket`` (every constant and function is
re-exported); ``create_connection``, ``create_server``, ``socketpair``, ``fromfd``
return these sockets, and name resolution (``getaddrinfo``, ``gethostbyname``...)
runs on the loop's thread pool unless the host is a numeric address.

Nothing is monkey-patched unless you call ``patch()`` (see its docstring for the
list); ``unpatch()`` undoes it.
"""
import errno as _errno
import os as _os
import socket as _std
from socket import *  # noqa: F401,F403 - constants and helpers, as the socket module has them

import _socket

from stackless import loop as _loop
from stackless._io_poll import READ as _READ, WRITE as _WRITE

__all__ = list(getattr(_std, "__all__", [])) + ["patch", "unpatch", "is_patched", "wrap"]

error = OSError
timeout = TimeoutError
_GLOBAL_DEFAULT_TIMEOUT = _std._GLOBAL_DEFAULT_TIMEOUT
_monotonic = _loop._monotonic
_get_loop = _loop.get_loop

_ss = _socket.socket
_recv = _ss.recv
_recv_into = _ss.recv_into
_recvfrom = _ss.recvfrom
_recvfrom_into = _ss.recvfrom_into
_send = _ss.send
_sendto = _ss.sendto
_accept = _ss._accept
_connect = _ss.connect
_fileno = _ss.fileno
_ss_settimeout = _ss.settimeout
_ss_gettimeout = _ss.gettimeout

_std_getaddrinfo = _std.getaddrinfo
_std_socket = _std.socket
_std_create_server = _std.create_server
_std_socketpair = _std.socketpair
_std_gethostbyname = _std.gethostbyname
_std_gethostbyname_ex = _std.gethostbyname_ex
_std_gethostbyaddr = _std.gethostbyaddr
_std_getnameinfo = _std.getnameinfo
_std_getfqdn = _std.getfqdn


def _timed_out():
    return TimeoutError("timed out")


class socket(_std_socket):
    """A socket that blocks only the calling tasklet (see the module docstring)."""

    __slots__ = ("_sl_timeout", "_sl_loop")

    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        _std_socket.__init__(self, family, type, proto, fileno)
        self._sl_loop = None
        self._sl_timeout = _std.getdefaulttimeout()
        _ss_settimeout(self, 0.0)

    # ---------------------------------------------------------------- timeouts
    def settimeout(self, value):
        _ss_settimeout(self, value)          # validates as the C socket does
        self._sl_timeout = _ss_gettimeout(self)
        _ss_settimeout(self, 0.0)

    def gettimeout(self):
        return self._sl_timeout

    @property
    def timeout(self):
        return self._sl_timeout

    def setblocking(self, flag):
        self._sl_timeout = None if flag else 0.0

    def getblocking(self):
        return self._sl_timeout != 0.0

    # ----------------------------------------------------------------- waiting
    def _wait(self, event, deadline):
        """Park until readable/writable; raise timeout past ``deadline``."""
        if deadline is None:
            remaining = None
        else:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                raise _timed_out()
        fd = _fileno(self)
        if fd < 0:
            raise OSError(_errno.EBADF, "Bad file descriptor")
        loop = self._sl_loop
        if loop is None or loop._thread_id != _loop._get_ident():
            if loop is not None:      # used from another thread now: the old loop
                loop.call_soon_threadsafe(loop.drop_kept, fd)   # drops its kept interest
            loop = self._sl_loop = _get_loop()
        if not loop.wait_fd(fd, event, remaining, keep=True):
            raise _timed_out()

    def _deadline(self):
        t = self._sl_timeout
        if t == 0.0:
            return False
        return None if t is None else _monotonic() + t

    def _blocking(self, op, event, args):
        deadline = self._deadline()
        if deadline is False:
            return op(self, *args)
        while True:
            self._wait(event, deadline)
            try:
                return op(self, *args)
            except BlockingIOError:
                pass

    # ------------------------------------------------------------ operations
    def recv(self, bufsize, flags=0):
        try:
            return _recv(self, bufsize, flags)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_recv, _READ, (bufsize, flags))

    def recv_into(self, buffer, nbytes=0, flags=0):
        try:
            return _recv_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_recv_into, _READ, (buffer, nbytes, flags))

    def recvfrom(self, bufsize, flags=0):
        try:
            return _recvfrom(self, bufsize, flags)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_recvfrom, _READ, (bufsize, flags))

    def recvfrom_into(self, buffer, nbytes=0, flags=0):
        try:
            return _recvfrom_into(self, buffer, nbytes, flags)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_recvfrom_into, _READ, (buffer, nbytes, flags))

    if hasattr(_ss, "recvmsg"):
        def recvmsg(self, *args):
            try:
                return _ss.recvmsg(self, *args)
            except BlockingIOError:
                if self._sl_timeout == 0.0:
                    raise
            return self._blocking(_ss.recvmsg, _READ, args)

        def recvmsg_into(self, *args):
            try:
                return _ss.recvmsg_into(self, *args)
            except BlockingIOError:
                if self._sl_timeout == 0.0:
                    raise
            return self._blocking(_ss.recvmsg_into, _READ, args)

        def sendmsg(self, *args):
            try:
                return _ss.sendmsg(self, *args)
            except BlockingIOError:
                if self._sl_timeout == 0.0:
                    raise
            return self._blocking(_ss.sendmsg, _WRITE, args)

    def send(self, data, flags=0):
        try:
            return _send(self, data, flags)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_send, _WRITE, (data, flags))

    def sendto(self, *args):
        # sendto(data, address) or sendto(data, flags, address)
        try:
            return _sendto(self, *args)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        return self._blocking(_sendto, _WRITE, args)

    def sendall(self, data, flags=0):
        """Send all of ``data``; the timeout bounds the whole call.  On an error
        (a peer that closed: BrokenPipeError/ConnectionResetError) there is no way
        to tell how much was sent, as with the standard socket."""
        with memoryview(data) as view, view.cast("B") as buf:
            n = len(buf)
            try:
                sent = _send(self, buf, flags)
            except BlockingIOError:
                if self._sl_timeout == 0.0:
                    raise
                sent = 0
            if sent >= n:
                return None
            deadline = self._deadline()
            if deadline is False:   # non-blocking: the C sendall semantics
                while sent < n:
                    sent += _send(self, buf[sent:], flags)
                return None
            while sent < n:
                self._wait(_WRITE, deadline)
                try:
                    sent += _send(self, buf[sent:], flags)
                except BlockingIOError:
                    pass
        return None

    def sendfile(self, file, offset=0, count=None):
        """As socket.sendfile, through send() (so only the tasklet blocks)."""
        return self._sendfile_use_send(file, offset, count)

    def accept(self):
        """Wait for a connection; returns (stackless socket, address).  The new
        socket's timeout is socket.getdefaulttimeout(), as with the standard one."""
        try:
            fd, addr = _accept(self)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
            fd, addr = self._blocking(_accept, _READ, ())
        return type(self)(self.family, self.type, self.proto, fileno=fd), addr

    def _resolve(self, address):
        fam = _ss.family.__get__(self)
        if (fam in (_std.AF_INET, _std.AF_INET6) and isinstance(address, tuple)
                and len(address) >= 2 and isinstance(address[0], str)
                and not _is_numeric_host(address[0])):
            info = getaddrinfo(address[0], address[1], fam, _ss.type.__get__(self),
                               _ss.proto.__get__(self))
            if not info:
                raise OSError("getaddrinfo returns an empty list")
            return info[0][4]
        return address

    def _connect_wait(self):
        deadline = self._deadline()
        self._wait(_WRITE, deadline)
        return self.getsockopt(_std.SOL_SOCKET, _std.SO_ERROR)

    def connect(self, address):
        address = self._resolve(address)
        try:
            return _connect(self, address)
        except BlockingIOError:
            if self._sl_timeout == 0.0:
                raise
        except InterruptedError:
            pass
        err = self._connect_wait()
        if err:
            raise OSError(err, _os.strerror(err))

    def connect_ex(self, address):
        address = self._resolve(address)
        try:
            _connect(self, address)
            return 0
        except BlockingIOError as e:
            if self._sl_timeout == 0.0:
                return e.errno
        except InterruptedError:
            pass
        except OSError as e:
            if e.errno is None:
                raise
            return e.errno
        try:
            return self._connect_wait()
        except TimeoutError:
            return _errno.EAGAIN

    # ---------------------------------------------------------------- closing
    def _forget(self):
        loop = self._sl_loop
        fd = _fileno(self)
        if loop is None:
            # Never waited through its own methods, but its fd may still have been waited
            # on with the loop's kept interest (``loop.wait_fd(fd, ..., keep=True)``, as a
            # server's read loop does): drop that too, or the next socket given the same
            # number would be believed registered and never be woken.
            loop = _loop._local.__dict__.get("loop")
            if loop is not None and fd >= 0 and (fd in loop._fds or loop._poller.mask(fd)):
                loop.forget_fd(fd)
            return
        self._sl_loop = None
        if fd < 0:
            return
        if loop._thread_id == _loop._get_ident():
            loop.forget_fd(fd)
        else:
            loop.call_soon_threadsafe(loop.forget_fd, fd)

    def _real_close(self, _ss=_socket.socket):
        self._forget()
        _ss.close(self)

    def __del__(self, _ss_del=_ss.__del__):
        # Dropped without close(): the C finalizer closes the fd, so first drop the
        # loop's lazily kept epoll interest, or a new file reusing the number would
        # be believed registered.
        try:
            self._forget()
        except Exception:
            pass
        _ss_del(self)

    def detach(self):
        self._forget()
        return _std_socket.detach(self)

    def dup(self):
        sock = type(self)(self.family, self.type, self.proto, fileno=_os.dup(self.fileno()))
        sock.settimeout(self.gettimeout())
        return sock


SocketType = socket


def wrap(sock):
    """Turn a standard socket into a stackless one (the old object is detached);
    its timeout is kept."""
    if isinstance(sock, socket):
        return sock
    t = sock.gettimeout()
    new = socket(sock.family, sock.type, sock.proto, fileno=sock.detach())
    new.settimeout(t)
    return new


def socketpair(family=None, type=_std.SOCK_STREAM, proto=0):
    if family is None:
        a, b = _std_socketpair(type=type, proto=proto)
    else:
        a, b = _std_socketpair(family, type, proto)
    return wrap(a), wrap(b)


def fromfd(fd, family, type, proto=0):
    return socket(family, type, proto, _os.dup(fd))


# ------------------------------------------------------------ name lookups
def _is_numeric_host(host):
    if host in ("", "<broadcast>"):
        return True
    h = host.split("%", 1)[0]
    for fam in (_std.AF_INET, _std.AF_INET6):
        try:
            _socket.inet_pton(fam, h)
            return True
        except (OSError, ValueError):
            pass
    return False


def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
    """socket.getaddrinfo, run on the thread pool unless ``host`` is None or numeric."""
    if host is None or (isinstance(host, (str, bytes)) and _is_numeric_host(
            host.decode("ascii", "replace") if isinstance(host, bytes) else host)):
        return _std_getaddrinfo(host, port, family, type, proto, flags)
    return _loop.call_on_thread(_std_getaddrinfo, host, port, family, type, proto, flags)


def gethostbyname(hostname):
    if _is_numeric_host(hostname):
        return _std_gethostbyname(hostname)
    return _loop.call_on_thread(_std_gethostbyname, hostname)


def gethostbyname_ex(hostname):
    return _loop.call_on_thread(_std_gethostbyname_ex, hostname)


def gethostbyaddr(ip_address):
    return _loop.call_on_thread(_std_gethostbyaddr, ip_address)


def getnameinfo(sockaddr, flags):
    return _loop.call_on_thread(_std_getnameinfo, sockaddr, flags)


def getfqdn(name=""):
    return _loop.call_on_thread(_std_getfqdn, name)


# ------------------------------------------------------------ conveniences
def create_connection(address, timeout=_GLOBAL_DEFAULT_TIMEOUT, source_address=None, *,
                      all_errors=False):
    """socket.create_connection, returning a stackless socket; only the calling
    tasklet waits for the name lookup and the connection."""
    host, port = address
    exceptions = []
    for res in getaddrinfo(host, port, 0, _std.SOCK_STREAM):
        af, socktype, proto, _canon, sa = res
        sock = None
        try:
            sock = socket(af, socktype, proto)
            if timeout is not _GLOBAL_DEFAULT_TIMEOUT:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sa)
            exceptions.clear()
            return sock
        except OSError as exc:
            if not all_errors:
                exceptions.clear()
            exceptions.append(exc)
            if sock is not None:
                sock.close()
    if exceptions:
        try:
            if not all_errors:
                raise exceptions[0]
            raise ExceptionGroup("create_connection failed", exceptions)
        finally:
            exceptions.clear()
    raise OSError("getaddrinfo returns an empty list")


def create_server(address, *, family=_std.AF_INET, backlog=None, reuse_port=False,
                  dualstack_ipv6=False):
    """socket.create_server, returning a stackless listening socket."""
    sock = _std_create_server(address, family=family, backlog=backlog,
                              reuse_port=reuse_port, dualstack_ipv6=dualstack_ipv6)
    return wrap(sock)


# ---------------------------------------------------------------- patching
_PATCHED_NAMES = ("socket", "SocketType", "socketpair", "fromfd", "create_connection",
                  "create_server", "getaddrinfo", "gethostbyname", "gethostbyname_ex",
                  "gethostbyaddr", "getnameinfo", "getfqdn")
_saved = {}


def patch():
    """Replace, in the standard ``socket`` module, the names in ``_PATCHED_NAMES``
    (the socket class and the functions that create sockets or resolve names) with
    this module's.  Code that looks them up through the module afterwards gets
    tasklet-blocking sockets; code that imported them earlier (``from socket import
    socket``), ``ssl``, ``select``/``selectors``, ``time.sleep``, files, pipes and
    subprocesses are NOT changed.  Idempotent; returns True if it patched now."""
    if _saved:
        return False
    g = globals()
    for name in _PATCHED_NAMES:
        _saved[name] = getattr(_std, name)
        setattr(_std, name, g[name])
    return True


def unpatch():
    """Undo patch(); returns True if something was restored."""
    if not _saved:
        return False
    for name, obj in _saved.items():
        setattr(_std, name, obj)
    _saved.clear()
    return True


def is_patched():
    return bool(_saved)
