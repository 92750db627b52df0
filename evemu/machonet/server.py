"""The server: a listening socket, an acceptor tasklet, the live connections, login policy.

Runs on the stackless loop of the thread that starts it::

    server = Server(build_services, Config(port=26000))
    server.start()                 # opens (and migrates) the database, registers services,
                                   # listens, logs the one start-up line
    server.serve_forever()         # the main tasklet drives the loop until stop()
    # stop() (thread- and signal-safe) -> serve_forever returns after a graceful shutdown

``start()`` without ``serve_forever()`` is what tests use: the main tasklet then drives the loop
whenever it blocks (e.g. in a client's socket call).

Connection limits (all in :class:`~evemu.config.Config`):

- ``max_connections`` sockets at once; ``max_unauthenticated`` of them not logged in yet.  A new
  socket beyond either closes the **oldest not-logged-in** connection to make room, so a flood
  of idle sockets cannot shut out logins; only when every slot holds a logged-in client is a
  new socket refused.
- ``max_unauthenticated_per_address``: more not-logged-in sockets from one address are refused.
- ``handshake_timeout`` bounds the whole login; after it, ``frame_timeout`` bounds each frame
  once its first bytes have arrived (see :mod:`evemu.machonet.connection`).

Logins (:meth:`Server.authenticate`): the name is checked, the throttle (:mod:`.limits`) may
delay or refuse the attempt, the database thread looks the account up, the KDF runs on a worker
thread; a success marks the account online for this connection *at once* and closes an older
connection of the same account with an ``OnRemoteMessage`` notice (the new login wins).

Shutdown (:meth:`Server.shutdown`): stop accepting, tell every logged-in client, give the calls
in flight ``shutdown_grace`` seconds, close the connections, close the database.
"""
import gc
import logging
import resource

import stackless
from stackless import loop
from stackless import socket as ssocket

from evemu.config import Config, is_loopback
from evemu.db import AccountNameError, Database, validate_account_name
from evemu.db.passwords import normalise_name, password_hash

from .broadcast import Broadcaster
from .connection import Connection
from .errors import LoginFailed
from .limits import LoginThrottle, Throttled, WarningLimiter
from .packets import wire_str

__all__ = ["Server", "KICK_NOTICE", "SHUTDOWN_NOTICE"]

log = logging.getLogger("evemu.server")

KICK_NOTICE = ("Your account has been logged in from another location; this connection is "
               "closed.")
SHUTDOWN_NOTICE = "The server is shutting down."


def _version():
    try:
        from importlib.metadata import version
        return version("evemu_stackless")
    except Exception:
        return "0.1.0"


def raise_fd_limit(wanted):
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted`` (at most the hard limit);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


#: TRIM_DELAY seconds after the TRIM_AFTER_CLOSES-th connection closed (since the last trim),
#: hand the freed heap back to the kernel (see :func:`release_memory`): at most one trim per
#: TRIM_DELAY, and only after many closes.
TRIM_AFTER_CLOSES = 256
TRIM_DELAY = 2.0
_malloc_trim = []


def release_memory():
    """Return free heap pages to the kernel: glibc's ``malloc_trim(0)`` (ctypes; releases the
    GIL).  CPython frees the objects of a closed connection, but glibc keeps the freed top of
    its heaps and the free pages in between mapped: after a burst of 2,000 connections the
    process kept their high-water RSS for good.  False where there is no glibc."""
    if not _malloc_trim:
        fn = None
        try:
            import ctypes
            import ctypes.util
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = libc.malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        except (OSError, AttributeError):
            fn = None
        _malloc_trim.append(fn)
    fn = _malloc_trim[0]
    return bool(fn(0)) if fn is not None else False


def _rss():
    """This process's resident set in KiB (None where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * (resource.getpagesize() // 1024)
    except (OSError, ValueError, IndexError):
        return None


class Server:
    def __init__(self, services, config=None, db=None):
        """``services(server)`` builds the dispatcher (see :mod:`evemu.machonet.calls`);
        ``evemu.services.build_services`` is the standard one."""
        self.config = config or Config()
        self.node_id = self.config.node_id
        self.db = db
        self._own_db = db is None
        self.listener = None
        self.address = None
        self.connections = set()
        self.pending = {}                # not logged in yet, oldest first: Connection -> host
        self.pending_by_host = {}        # host -> count of pending connections
        self.online = {}                 # accountID -> Connection
        self.logins = 0
        self._acceptor = None
        self._stopping = False
        self._services_factory = services
        self.services = None
        self.on_shutdown = []            # callables run at the end of shutdown()
        self.broadcast = Broadcaster(self)   # notifications to characters, corps, everyone
        self.signal_watcher = None
        c = self.config
        self.throttle = LoginThrottle(c.login_free_failures, c.login_base_delay,
                                      c.login_max_delay, c.login_failures_per_minute)
        self.warnings = WarningLimiter(c.warnings_per_minute)
        self._closed_since_trim = 0
        self._trim_timer = None
        self.memory_trims = 0            # times release_memory() ran (tests, figures)
        self._corked = []                # connections holding notifications for this turn
        self.corked_bytes = 0            # what they hold (about: see Connection._held)
        self.cork_flushes = 0            # turns that sent held notifications (tests, figures)

    # ------------------------------------------------------------- corked sends
    def cork(self, conn):
        """``conn`` holds notifications until the end of this loop turn; the first one of a
        turn schedules the flush (a loop callback, after every runnable tasklet ran)."""
        if not self._corked:
            loop.call_soon(self.flush_corked)
        self._corked.append(conn)

    def flush_corked(self):
        """Send each corked connection's frames in one send() (order kept; a closed one's
        are dropped).  Runs at the end of the turn, or earlier when the connections hold more
        than MAX_CORKED_TOTAL bytes together (then from the tasklet that passed it; a flush
        inside a flush takes only the connections corked since).  A connection whose send
        raises something unexpected is logged and closed (in a tasklet of its own); it
        neither stops the loop nor leaves the connections after it holding their frames for
        good."""
        conns, self._corked = self._corked, []
        self.corked_bytes = 0
        if conns:
            self.cork_flushes += 1
        for conn in conns:
            try:
                conn._uncork()
            except Exception:
                log.exception("%s: sending the notifications held for this turn failed", conn)
                conn._cork = None
                stackless.tasklet(conn.close)("internal error while sending held frames")

    @property
    def auto_account(self):
        return self.config.auto_account_enabled

    # ------------------------------------------------------------------ set-up
    def start(self):
        """Open the database, register the services, listen.  Returns (host, port)."""
        c = self.config
        if self.db is None:
            self.db = Database(c.db_path, kdf=c.kdf, sqlite_sync=c.sqlite_sync)
        self.services = self._services_factory(self)
        raise_fd_limit(c.max_connections + 256)
        self.listener = ssocket.create_server((c.host, c.port), backlog=c.backlog)
        self.address = self.listener.getsockname()[:2]
        self._acceptor = stackless.tasklet(self._accept_loop)()
        try:
            schema = self.db.schema_info()["version"]
        except Exception:
            schema = "?"
        how = "" if c.auto_account is not None else " (loopback default)"
        log.info("evemu %s listening on %s:%d, database %s (schema %s), auto-account %s%s, "
                 "node %d, %d services; ready for Crucible clients", _version(),
                 self.address[0], self.address[1], self.db.path, schema,
                 "on" if self.auto_account else "off", how, self.node_id,
                 len(self.services.names()))
        return self.address

    def warn(self, host, msg, *args):
        """A WARNING about a client address, at most ``warnings_per_minute`` per address."""
        self.warnings.warn(log, host, msg, *args)

    def _accept_loop(self):
        while True:
            try:
                sock, peer = self.listener.accept()
            except OSError as e:
                if self._stopping or self.listener is None or self.listener.fileno() < 0:
                    return
                log.warning("accept failed: %r", e)
                loop.sleep(0.1)
                continue
            try:
                self._admit(sock, peer)
            except Exception:
                log.exception("cannot serve %s", peer)
                sock.close()

    def _admit(self, sock, peer):
        """Register a new socket under the connection limits, or refuse it."""
        c = self.config
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        if (self.pending_by_host.get(host, 0) >= c.max_unauthenticated_per_address
                and not (c.exempt_loopback and is_loopback(host))):
            self.warn(host, "refusing %s:%s: %d connections from %s not logged in yet", host,
                      peer[1], self.pending_by_host[host], host)
            sock.close()
            return
        if len(self.connections) >= c.max_connections and not self._evict_oldest_pending():
            self.warn(host, "refusing %s:%s: %d connections already, all logged in", host,
                      peer[1], len(self.connections))
            sock.close()
            return
        while len(self.pending) >= c.max_unauthenticated and self._evict_oldest_pending():
            pass
        conn = Connection(self, sock, peer)
        conn.host = host
        self.connections.add(conn)
        self.pending[conn] = host
        self.pending_by_host[host] = self.pending_by_host.get(host, 0) + 1
        log.debug("%s: connected", conn)
        stackless.tasklet(conn.run)()

    def _evict_oldest_pending(self):
        for conn in self.pending:
            self.warn(conn.host, "%s: closed to make room: too many connections not logged in",
                      conn)
            conn.close("evicted: too many connections not logged in")
            self._forget_pending(conn)
            return True
        return False

    def _forget_pending(self, conn):
        host = self.pending.pop(conn, None)
        if host is not None:
            n = self.pending_by_host[host] - 1
            if n:
                self.pending_by_host[host] = n
            else:
                del self.pending_by_host[host]

    # ------------------------------------------------------------------ accounts
    def user_count(self):
        return len(self.online)

    def authenticate(self, name, password_hash_, password, conn=None):
        """The account for a login, or LoginFailed (logged as a rate-limited WARNING); see
        :meth:`_authenticate`."""
        try:
            return self._authenticate(name, password_hash_, password, conn)
        except LoginFailed as e:
            host = getattr(conn, "host", None)
            self.warn(host, "login as %r from %s refused: %s", name, host, e)
            raise

    def _authenticate(self, name, password_hash_, password, conn):
        """The account for a login, or LoginFailed with the message the user sees (EVEmu's
        texts).  Blocks only the calling tasklet (throttle delay, database thread, KDF worker).
        Creates the account on first login when auto accounts are on.  On success the account
        is marked online for ``conn`` with no tasklet switch after the check, and an older
        connection of the account is closed with a notice."""
        try:
            validate_account_name(name)
        except AccountNameError as e:
            raise LoginFailed(str(e)) from None
        if password_hash_ is None and not password:
            raise LoginFailed("Login Authorization Invalid.")
        host = getattr(conn, "host", None)
        keys = ("account", normalise_name(name)), ("address", host)
        try:
            delay = self.throttle.check(*keys)
        except Throttled as e:
            raise LoginFailed(str(e)) from None
        if delay:
            loop.sleep(delay)
        if password:
            password_hash_ = password_hash(name, password)
            reason = "The plain Password you entered is incorrect for this account."
        else:
            reason = "The Password you entered is incorrect for this account."
        created = False
        try:
            acct = self.db.get_account(name)
            if acct is None:
                if not self.auto_account:
                    self.throttle.failure(*keys)
                    raise LoginFailed("That account doesn't exist and AutoAccount is disabled.")
                acct, created = self.db.get_or_create_account(
                    name, self.config.auto_account_role, password_hash_)
                if created:
                    log.info("created account %d (%s)", acct.id, acct.name)
            if acct.banned:
                raise LoginFailed("Your account is banned.")
            ok = created or self.db.verify(acct, password_hash_)
        except LoginFailed:
            raise
        except Exception as e:
            log.error("database error during login of %r: %s", name, e)
            raise LoginFailed("Failed to create a new account.") from None
        if not ok:
            self.throttle.failure(*keys)
            raise LoginFailed(reason)
        self.throttle.success(*keys)
        if conn is not None:
            if conn.closed:
                raise LoginFailed("connection closed")
            old = self.online.get(acct.id)
            conn.account = acct
            self.online[acct.id] = conn
            if old is not None and old is not conn:
                stackless.tasklet(self._kick)(old, KICK_NOTICE)
        self.logins += 1
        try:
            self.db.record_login(acct.id)
        except Exception as e:
            log.error("cannot record the login of account %d: %s", acct.id, e)
        return acct

    def connection_authenticated(self, conn):
        """``conn`` finished its login: it no longer counts as unauthenticated."""
        self._forget_pending(conn)

    def _kick(self, conn, text):
        """Tell ``conn`` why (OnRemoteMessage CustomNotify, as EVEmu's kick) and close it."""
        log.info("%s: closed: account logged in again elsewhere", conn)
        self._notice(conn, text)
        conn.close("logged in elsewhere")

    def _notice(self, conn, text):
        if conn.closed or conn.session is None:
            return
        try:
            conn.notify("OnRemoteMessage", "charid",
                        (b"CustomNotify", {b"notify": wire_str(text)}))
        except Exception:              # the peer is gone or stuck: closing is enough
            pass

    def connection_closed(self, conn):
        self.connections.discard(conn)
        self._forget_pending(conn)
        if conn.account is not None and self.online.get(conn.account.id) is conn:
            del self.online[conn.account.id]
        self._closed_since_trim += 1
        if (self._closed_since_trim >= TRIM_AFTER_CLOSES and self._trim_timer is None
                and not self._stopping):
            # one trim TRIM_DELAY s after the 256th close: the rest of a burst goes first
            self._trim_timer = loop.call_later(TRIM_DELAY, self._trim)

    def _trim(self):
        """Timer callback (main tasklet): trim the heap on a worker thread."""
        self._trim_timer = None
        self._closed_since_trim = 0
        gc.collect()         # cyclic garbage of the closed connections first (a few ms: the
                             # start-up heap is frozen, see serve)
        arena_trim = getattr(stackless, "_arena_trim", None)
        if arena_trim is not None:
            arena_trim()     # the runtime's cache of 16 KiB tasklet frame blocks (<= 16 MiB)
        stackless.tasklet(self._trim_on_thread)()

    def _trim_on_thread(self):
        try:
            before = _rss()
            loop.call_on_thread(release_memory)
            self.memory_trims += 1
            log.debug("heap trimmed after closes: RSS %s -> %s KiB", before, _rss())
        except Exception as e:            # never worth more than a line in the log
            log.debug("malloc_trim failed: %r", e)

    # ------------------------------------------------------------------ running
    def serve_forever(self):
        """Drive the loop until stop(); then shut down gracefully.  An exception escaping some
        tasklet (a bug) is logged and the server goes on."""
        try:
            while True:
                try:
                    loop.run_forever()
                    return
                except Exception:
                    if self._stopping:
                        return
                    log.exception("uncaught error in a tasklet; the server goes on")
        finally:
            self.shutdown()

    def stop(self):
        """Ask serve_forever to return (safe from signal handlers and other threads)."""
        self._stopping = True
        loop.get_loop().stop()

    def in_flight(self):
        return sum(len(conn.calls) for conn in self.connections)

    def shutdown(self, grace=None):
        """Stop accepting, tell the clients, let calls in flight finish (at most ``grace``
        seconds, default ``shutdown_grace``), close every connection, then the database.
        Idempotent.  Must run in the loop's thread (it drives the loop while it waits)."""
        self._stopping = True
        if self._trim_timer is not None:
            self._trim_timer.cancel()
            self._trim_timer = None
        grace = self.config.shutdown_grace if grace is None else grace
        was_running = self.listener is not None
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        if self._acceptor is not None and self._acceptor.alive:
            self._acceptor.kill()
        self._acceptor = None
        if was_running and self.connections:
            for conn in list(self.pending):
                conn.close("server shutting down")
            for conn in list(self.connections):
                if conn.session is not None and not conn.closed:
                    stackless.tasklet(self._notice)(conn, SHUTDOWN_NOTICE)
            deadline = loop.time() + grace
            loop.sleep(0)
            while self.in_flight() and loop.time() < deadline:
                loop.sleep(0.01)
        for conn in list(self.connections):
            conn.close("server shutting down")
        if self.db is not None and self._own_db:
            try:
                self.db.close()
            except Exception as e:
                log.error("closing the database: %s", e)
            self.db = None
        if self.signal_watcher is not None and self.signal_watcher.alive:
            self.signal_watcher.kill()
        while self.on_shutdown:
            self.on_shutdown.pop()()
        if was_running:
            log.info("server stopped (%d logins served)", self.logins)
            self.listener = None
