"""The server: a listening socket, an acceptor tasklet, the live connections, the services.

Runs on the stackless loop of the thread that starts it::

    server = Server(build_services, Config(port=26000))
    server.start()                 # opens the database, registers services, binds, listens
    server.serve_forever()         # the main tasklet drives the loop until stop()
    # stop() (thread- and signal-safe) -> serve_forever returns after shutting down:
    # listener closed, every connection closed, database closed.

``start()`` without ``serve_forever()`` is what tests use: the main tasklet then drives the loop
whenever it blocks (e.g. in a client's socket call).
"""
import logging
import sqlite3

import stackless
from stackless import loop
from stackless import socket as ssocket

from evemu.config import Config
from evemu.db import AccountNameError, Database, validate_account_name

from .connection import Connection
from .errors import LoginFailed

__all__ = ["Server"]

log = logging.getLogger("evemu.server")


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
        self.online = {}                 # accountID -> Connection
        self.logins = 0
        self._acceptor = None
        self._stopping = False
        self._services_factory = services
        self.services = None
        self.on_shutdown = []            # callables run at the end of shutdown()
        self.signal_watcher = None

    # ------------------------------------------------------------------ set-up
    def start(self):
        """Open the database, register the services, listen.  Returns (host, port)."""
        if self.db is None:
            self.db = Database(self.config.db_path)
        self.services = self._services_factory(self)
        self.listener = ssocket.create_server((self.config.host, self.config.port), backlog=1024)
        self.address = self.listener.getsockname()[:2]
        self._acceptor = stackless.tasklet(self._accept_loop)()
        log.info("listening on %s:%d (node %d, database %s, %d services)", self.address[0],
                 self.address[1], self.node_id, self.db.path, len(self.services.names()))
        return self.address

    def _accept_loop(self):
        while True:
            try:
                sock, peer = self.listener.accept()
            except OSError as e:
                if self._stopping or self.listener.fileno() < 0:
                    return
                log.warning("accept failed: %r", e)
                loop.sleep(0.1)
                continue
            if len(self.connections) >= self.config.max_connections:
                log.warning("refusing %s: %d connections already", peer, len(self.connections))
                sock.close()
                continue
            try:
                # small frames (notifications, replies) go out at once, not after the peer's
                # delayed ACK (Nagle: +40 ms on chat fan-out, see docs/chat.md)
                sock.setsockopt(ssocket.IPPROTO_TCP, ssocket.TCP_NODELAY, 1)
                conn = Connection(self, sock, peer)
                self.connections.add(conn)
                log.debug("%s: connected", conn)
                stackless.tasklet(conn.run)()
            except Exception:
                log.exception("cannot serve %s", peer)
                sock.close()

    # ------------------------------------------------------------------ accounts
    def user_count(self):
        return len(self.online)

    def authenticate(self, name, password_hash, password, conn=None):
        """The account for a login, or LoginFailed with the message the user sees (EVEmu's
        texts).  Creates the account on first login when auto accounts are on.  On success the
        account is marked online for ``conn`` at once (no tasklet switch between the check
        and the mark), so two simultaneous logins of one account cannot both pass."""
        try:
            validate_account_name(name)
        except AccountNameError as e:
            raise LoginFailed(str(e)) from None
        if password_hash is None and not password:
            raise LoginFailed("Login Authorization Invalid.")
        try:
            acct = self.db.get_account(name)
            if acct is None:
                if not self.config.auto_account:
                    raise LoginFailed("That account doesn't exist and AutoAccount is disabled.")
                if password:
                    from evemu.db import password_hash as _ph
                    password_hash = _ph(name, password)
                acct = self.db.get_or_create_account(name, self.config.auto_account_role,
                                                     password_hash)
                log.info("created account %d (%s)", acct.id, acct.name)
        except sqlite3.Error as e:
            log.error("database error during login of %r: %s", name, e)
            raise LoginFailed("Failed to create a new account.") from None
        if acct.banned:
            raise LoginFailed("Your account is banned.")
        if password:
            ok = acct.check_password(plain=password)
            reason = "The plain Password you entered is incorrect for this account."
        else:
            ok = acct.check_password(password_hash)
            reason = "The Password you entered is incorrect for this account."
        if not ok:
            raise LoginFailed(reason)
        if acct.id in self.online:
            raise LoginFailed("This account is currently online.")
        if conn is not None:
            conn.account = acct
            self.online[acct.id] = conn
        self.logins += 1
        self.db.record_login(acct.id)
        return acct

    def connection_closed(self, conn):
        self.connections.discard(conn)
        if conn.account is not None and self.online.get(conn.account.id) is conn:
            del self.online[conn.account.id]

    # ------------------------------------------------------------------ running
    def serve_forever(self):
        """Drive the loop until stop(); then shut down cleanly.  An exception escaping some
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

    def shutdown(self):
        """Close the listener and every connection, then the database.  Idempotent."""
        self._stopping = True
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        for conn in list(self.connections):
            conn.close("server shutting down")
        if self._acceptor is not None and self._acceptor.alive:
            self._acceptor.kill()
        self._acceptor = None
        if self.db is not None and self._own_db:
            self.db.close()
            self.db = None
        if self.signal_watcher is not None and self.signal_watcher.alive:
            self.signal_watcher.kill()
        while self.on_shutdown:
            self.on_shutdown.pop()()
        if self.listener is not None:
            log.info("server stopped (%d logins served)", self.logins)
            self.listener = None
