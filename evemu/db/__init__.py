"""The server's database, off the loop: a call blocks only the calling tasklet.

Where it lives: ``--db PATH`` (or ``EVEMU_DB``, or ``db`` in the TOML file), else
``$XDG_DATA_HOME/evemu/evemu.sqlite3`` (``~/.local/share/evemu/evemu.sqlite3``).  ``":memory:"``
gives a throw-away database (tests).  The file is created 0600 in a 0700 folder.  A
``postgresql://user:password@host:port/dbname`` URL selects PostgreSQL instead
(:mod:`evemu.db.postgres`, docs/db.md); its password is never shown.

Layers:

- :class:`Database` (this module) is what the server and the services hold.  Each method
  blocks **only the calling tasklet** until it is done (the loop serves everyone else
  meanwhile); called from a thread's main tasklet (tools, tests) it drives that thread's loop
  while it waits.  SQLite: the work is shipped to one database thread, which runs the
  statements in order (started on demand, leaves after an idle period).  PostgreSQL: no
  thread; the work runs in the calling tasklet on a connection of a bounded pool
  (:mod:`evemu.db.pgpool`) whose waits park the tasklet on the loop (:mod:`evemu.db.pgloop`).
  Password KDFs run on neither: they run on their own worker threads (:func:`on_kdf_thread`,
  one per core), several at once.
- :class:`evemu.db.backend.Backend` is the interface a database implements (plain blocking
  code, one thread at a time); :class:`evemu.db.sqlite.SQLiteBackend` and
  :class:`evemu.db.postgres.PostgreSQLBackend` hold all the SQL; :func:`open_backend` picks one.
- :mod:`evemu.db.migrations`: versioned schema changes, applied when the database opens
  (``python -m evemu db info`` shows the version).  Adding one is one line; see there.
- :mod:`evemu.db.passwords`: the client's digest and the salted scrypt verifier stored instead.

CCP's static data (types, map, stations...) is not here: it is not redistributable.
"""
import os
import re
import weakref

from stackless import loop, sync
from stackless._io_threads import IdleThreadPool

from .backend import OPERATIONS, Account, AccountExists, Backend, Character
from .migrations import register, migration
from .passwords import (DEFAULT_KDF, check_verifier, make_verifier, needs_upgrade,
                        normalise_name, password_hash)
from .postgres import CONNECT_TIMEOUT, is_postgres_url, redact_url  # noqa: F401
from .sqlite import FIRST_CHARACTER_ID, MigrationError, SQLiteBackend, check_sync, filetime_now

__all__ = ["Database", "Account", "Character", "Backend", "AccountExists", "AccountNameError",
           "MigrationError", "default_path", "open_backend", "display_name",
           "validate_account_name",
           "password_hash", "filetime_now", "register", "migration", "FIRST_CHARACTER_ID",
           "SCHEMA_VERSION"]


def _latest():
    from . import migrations
    return max(m.version for m in migrations.registered())


SCHEMA_VERSION = _latest()

# EVEmu refuses these in account names (SQL-injection paranoia; kept for compatibility).
_BAD_NAME_PARTS = (";", "--", "#", "/*", "/0", "0x", "|", "' ", "+", "@", "!", "$", "%",
                   "^", "&", "*", "(", ")")


class AccountNameError(ValueError):
    """An account name the server refuses; the message is shown to the user."""


def default_path():
    env = os.environ.get("EVEMU_DB")
    if env:
        return env
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local",
                                                           "share")
    return os.path.join(base, "evemu", "evemu.sqlite3")


def validate_account_name(name):
    """EVEmu's rules (ServiceDB::ValidateAccountName), with its messages."""
    if not name:
        raise AccountNameError("Account Name is empty.")
    if len(name) < 3:
        raise AccountNameError("Account Name is too short.")
    if len(name) > 20:
        raise AccountNameError("Account Name is too long.")
    low = name.lower()
    if any(part in low for part in _BAD_NAME_PARTS) or re.search(r"[\x00-\x1f\x7f]", name):
        raise AccountNameError("Account Name contains invalid characters.")


def open_backend(path, busy_timeout=5.0, sqlite_sync="full"):
    """The backend for ``path``: a ``postgresql://`` (or ``postgres://``) URL is PostgreSQL
    (:mod:`evemu.db.postgres`; ``busy_timeout`` is then the connect timeout); a file path or
    ``:memory:`` is SQLite (``sqlite_sync``: :class:`~evemu.db.sqlite.SQLiteBackend`)."""
    path = str(path)
    if is_postgres_url(path):
        from .postgres import PostgreSQLBackend
        return PostgreSQLBackend(path, connect_timeout=max(busy_timeout, CONNECT_TIMEOUT))
    if re.match(r"^[a-z][a-z0-9+.-]*://", path, re.I):
        raise ValueError(f"no database backend for {path.split(':', 1)[0]!r} URLs (SQLite "
                         "files and postgresql:// URLs)")
    return SQLiteBackend(path, busy_timeout, sqlite_sync)


def display_name(path):
    """What may be shown of a database location: a URL's password becomes ``***``."""
    path = str(path)
    return redact_url(path) if "://" in path else path


def _forward(name):
    def op(self, *args, **kwargs):
        return self.call(lambda b: getattr(b, name)(*args, **kwargs))
    op.__name__ = name
    op.__doc__ = getattr(Backend, name).__doc__
    return op


_kdf_pool = []


def on_kdf_thread(fn, *args):
    """Run ``fn(*args)`` (a KDF) on the KDF threads and block only the calling tasklet.

    Their own pool, one thread per core: scrypt is CPU-bound (it releases the GIL), so more
    threads than cores only queue in the kernel instead of here, and each thread keeps its
    scrypt buffer (``128 * r * n`` bytes, 4 MiB at the default cost) in its malloc arena for
    good (glibc does not trim a thread arena's top): the loop's shared pool (cores + 4 = 6
    threads) held 6 x 4 MiB after a burst of logins, this one ``cpu_count`` x 4 MiB."""
    if not _kdf_pool or _kdf_pool[0]._shutdown:      # first use, or shut down (at exit, tests)
        _kdf_pool[:] = [IdleThreadPool(max_workers=max(1, os.cpu_count() or 1), idle=5.0,
                                       name="evemu-kdf")]
    done = sync.Event()
    fut = _kdf_pool[0].submit(fn, *args)
    fut.add_done_callback(lambda f: done.set())
    try:
        done.wait()
    finally:
        if not fut.done():
            fut.cancel()         # killed while queued: do not run it for nobody
    return fut.result()


class Database:
    """The database of one server, its statements on a database thread (see the module doc).

    ``Database(path)`` opens (creating if needed) and migrates; ``migrate=False`` opens without
    applying pending migrations (``db info``)."""

    def __init__(self, path=None, *, busy_timeout=5.0, kdf=DEFAULT_KDF, migrate=True,
                 idle=1.0, pool_size=None, acquire_timeout=None, sqlite_sync="full"):
        target = default_path() if path is None else str(path)
        self.path = display_name(target)        # never the password of a URL
        self.kdf = kdf
        self._thread = None
        self._pool = None
        self.backend = None
        self.closed = False
        try:
            if is_postgres_url(target):
                # no thread: a bounded pool of connections whose waits park the tasklet
                from .pgpool import DEFAULT_ACQUIRE_TIMEOUT, DEFAULT_POOL_SIZE, PostgreSQLPool
                self.backend = self._pool = PostgreSQLPool(
                    target, size=pool_size or DEFAULT_POOL_SIZE,
                    connect_timeout=max(busy_timeout, CONNECT_TIMEOUT),
                    acquire_timeout=acquire_timeout or DEFAULT_ACQUIRE_TIMEOUT)
                weakref.finalize(self, self._pool.close)
            else:
                self._thread = IdleThreadPool(max_workers=1, idle=idle, name="evemu-db")
                # a Database dropped without close() still ends its thread (the connection
                # goes with it)
                weakref.finalize(self, self._thread.shutdown, False)
                self.backend = self._run(open_backend, target, busy_timeout,
                                         check_sync(sqlite_sync))
            if migrate:
                self.migrate()
                self.start_up()
        except BaseException:
            self.close()
            raise

    def __repr__(self):
        return f"<Database {self.path}>"

    # ---------------------------------------------------------------- the thread
    def _run(self, fn, *args):
        if self.closed:
            raise RuntimeError("the database is closed")
        done = sync.Event()
        fut = self._thread.submit(fn, *args)
        fut.add_done_callback(lambda f: done.set())
        done.wait()
        return fut.result()

    def call(self, fn, *args):
        """Run ``fn(backend, *args)``; block only this tasklet.  SQLite: on the database
        thread.  PostgreSQL: in this tasklet, on a backend taken from the pool for the call
        (its waits park the tasklet; a transaction left open is rolled back when it returns)."""
        pool = self._pool
        if pool is None:
            return self._run(fn, self.backend, *args)
        if self.closed:
            raise RuntimeError("the database is closed")
        backend = pool.acquire()
        try:
            return fn(backend, *args)
        finally:
            pool.release(backend)

    def run(self, fn, *args, **kwargs):
        """Run ``fn(conn, *args, **kwargs)`` on the database thread, ``conn`` being the
        backend's DB-API connection; block only this tasklet.  The world layer's portable SQL
        (:mod:`evemu.db.characters`, :mod:`.static`, :mod:`.universe`, :mod:`.importer`) is
        called this way: ``db.run(universe.owners, ids)``.  It is :meth:`call` underneath."""
        return self.call(_on_conn, fn, args, kwargs)

    def start_up(self):
        """The start-up steps after the migrations, on the database thread: (re)load the
        shipped static data whose files changed (:func:`evemu.db.static.install`, keyed by
        the data's fingerprint; tables that came from ``import-data`` are kept)."""
        return self.call(_start_up)

    def close(self):
        """Finish the queued statements, close the backend, end the thread.  Idempotent."""
        if self.closed:
            return
        try:
            if self._pool is not None:
                self._pool.close()
            elif self.backend is not None:
                self._run(self.backend.close)
        finally:
            self.closed = True
            if self._thread is not None:
                self._thread.shutdown(wait=True)

    # ---------------------------------------------------------------- accounts
    def create_account(self, name, role, *, password=None, digest=None, hash=None, type=30):
        """Create an account from a plain password or the client's digest; return it.  The
        stored value is a salted verifier (KDF on a worker thread).  AccountNameError for a
        refused name, AccountExists if taken."""
        validate_account_name(name.strip())
        digest = digest if digest is not None else hash
        if password is not None:
            digest = password_hash(name, password)
        if not digest:
            raise ValueError("a password or the client's digest is needed")
        kdf, salt, verifier = on_kdf_thread(make_verifier, bytes(digest), self.kdf)
        return self.call(lambda b: b.create_account(name, role, kdf, salt, verifier, type))

    def get_or_create_account(self, name, role, digest):
        """The account ``name``; created with ``digest`` if missing (the auto-account path).
        Returns (account, created)."""
        acct = self.get_account(name)
        if acct is not None:
            return acct, False
        try:
            return self.create_account(name, role, digest=digest), True
        except AccountExists:               # created meanwhile by another login
            return self.get_account(name), False

    def verify(self, acct, digest):
        """True if ``digest`` (what the client sent) logs ``acct`` in.  The KDF runs on a
        worker thread; a row stored with another KDF (the migrated ``sha256`` ones, or an
        older cost) is re-derived with the current one on success."""
        if not digest or not acct.verifier:
            return False
        ok = on_kdf_thread(check_verifier, bytes(digest), acct.kdf, acct.salt,
                                 acct.verifier)
        if ok and needs_upgrade(acct.kdf, self.kdf):
            kdf, salt, verifier = on_kdf_thread(make_verifier, bytes(digest), self.kdf)
            self.set_verifier(acct.id, kdf, salt, verifier)
            acct.kdf, acct.salt, acct.verifier = kdf, salt, verifier
        return ok

    def set_password(self, name, password):
        """Set a new password; False if no such account."""
        acct = self.get_account(name)
        if acct is None:
            return False
        kdf, salt, verifier = on_kdf_thread(make_verifier,
                                                  password_hash(acct.name, password), self.kdf)
        self.set_verifier(acct.id, kdf, salt, verifier)
        return True


def _on_conn(backend, fn, args, kwargs):
    return fn(backend.connection(), *args, **kwargs)


def _start_up(backend):
    from . import static
    with backend.exclusive():
        return static.install(backend.connection())


for _name in OPERATIONS:
    setattr(Database, _name, _forward(_name))
del _name
