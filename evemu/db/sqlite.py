"""The SQLite backend: one file (or ``:memory:``), WAL journal, private file modes.

All SQL of the server lives here (and in the migrations).  Used from the database thread only
(see :mod:`evemu.db.backend`); the connection is opened with ``check_same_thread=False`` because
that thread may be replaced after an idle period, but it is never used by two threads at once.
"""
import logging
import os
import sqlite3
import stat
import time

from . import migrations
from .migrations import MigrationError, check_not_newer
from .backend import ACCOUNT_FIELDS, Account, AccountExists, Backend, Character
from .passwords import normalise_name

__all__ = ["SQLiteBackend", "MigrationError", "FIRST_CHARACTER_ID"]

log = logging.getLogger("evemu.db")

FIRST_CHARACTER_ID = 90000000


def filetime_now():
    """Now as a Windows FILETIME (100-ns ticks since 1601-01-01 UTC)."""
    return time.time_ns() // 100 + 116444736000000000


def _private_file(path):
    """Create the folder (0700) and the file (0600) if missing; tighten a loose file."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)                 # makedirs' mode is filtered by the umask
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            log.warning("%s was readable by others (mode %o); now 0600", path, mode)
            os.chmod(path, 0o600)
    else:
        os.close(fd)
        os.chmod(path, 0o600)


SYNC_MODES = ("full", "normal")


def check_sync(sync):
    """``sync`` (a :data:`SYNC_MODES` name, any case) in lower case; ValueError otherwise."""
    mode = str(sync).strip().lower()
    if mode not in SYNC_MODES:
        raise ValueError(f"sqlite_sync: expected full or normal, not {sync!r}")
    return mode


class SQLiteBackend(Backend):
    """One SQLite connection (the database thread's).

    ``sync`` is what a commit waits for, in WAL mode:

    - ``"full"`` (the default): the WAL is fsync'ed before COMMIT returns, so a change the
      server has acknowledged survives a crash of the machine or a power cut, as a PostgreSQL
      commit does (``synchronous_commit = on``).  Writers queue on SQLite's one write lock,
      each paying its own fsync (here ~0.26 ms).
    - ``"normal"``: COMMIT returns before the fsync (one per checkpoint).  A crash of the
      *server process* loses nothing, a power cut may lose the last commits; the database stays
      consistent either way.  About three times the write throughput of ``full`` here.
    """
    dialect = "sqlite"

    def __init__(self, path, busy_timeout=5.0, sync="full"):
        self.path = str(path)
        self.sync = check_sync(sync)
        if self.path != ":memory:":
            _private_file(self.path)
        self.conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute(f"PRAGMA synchronous = {self.sync.upper()}")

    class _Tx:
        def __init__(self, conn):
            self.conn = conn

        def __enter__(self):
            self.conn.execute("BEGIN IMMEDIATE")
            return self.conn

        def __exit__(self, et, ev, tb):
            self.conn.execute("COMMIT" if et is None else "ROLLBACK")
            return False

    def transaction(self):
        return self._Tx(self.conn)

    def close(self):
        if self.conn is not None:
            try:
                if self.path != ":memory:":
                    self.conn.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass
            self.conn.close()
            self.conn = None

    def execute(self, sql, params=()):
        return self.conn.execute(sql, params).fetchall()

    # ---------------------------------------------------------------- schema
    def _applied(self):
        c = self.conn
        c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        c.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                  "name TEXT NOT NULL, applied INTEGER NOT NULL)")
        rows = c.execute("SELECT version, name, applied FROM schema_migrations "
                         "ORDER BY version").fetchall()
        if not rows:
            # a database from before migrations existed records only meta.schema_version=1
            old = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if old is not None and int(old[0]) == 1:
                c.execute("INSERT INTO schema_migrations VALUES (1, 'accounts and characters', "
                          "?)", (filetime_now(),))
                rows = [(1, "accounts and characters", None)]
        old = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        return rows, (int(old[0]) if old else 0)

    def migrate(self):
        known = {m.version: m for m in migrations.registered()}
        with self.transaction():
            rows, meta_version = self._applied()
        check_not_newer(self.path, rows, meta_version, known)
        done = {v for v, _, _ in rows}
        applied = []
        for version in sorted(known):
            if version in done:
                continue
            m = known[version]
            try:
                with self.transaction() as c:
                    m.apply(c, self.dialect)
                    c.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                              (version, m.name, filetime_now()))
                    c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
                              (str(max(done | {version})),))
            except Exception as e:
                raise MigrationError(f"{self.path}: migration {version} ({m.name}) failed: "
                                     f"{e}") from e
            done.add(version)
            applied.append(m)
            log.info("%s: applied migration %d (%s)", self.path, version, m.name)
        return applied

    def schema_info(self):
        known = {m.version: m for m in migrations.registered()}
        with self.transaction():
            rows, meta_version = self._applied()
        done = {v for v, _, _ in rows}
        has_accounts = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND "
                                         "name='account'").fetchone()
        return {
            "backend": "sqlite " + sqlite3.sqlite_version,
            "path": self.path,
            "version": max(done, default=0),
            "latest": max(known, default=0),
            "applied": rows,
            "pending": [(v, known[v].name) for v in sorted(known) if v not in done],
            "unknown": sorted(done - set(known)),
            "accounts": (self.conn.execute("SELECT COUNT(*) FROM account").fetchone()[0]
                         if has_accounts else 0),
        }

    # ---------------------------------------------------------------- accounts
    _ACCOUNT_COLS = ("accountID, accountName, role, type, banned, logonCount, kdf, salt, "
                     "verifier, lastLogin, createDateTime")
    assert len(_ACCOUNT_COLS.split(",")) == len(ACCOUNT_FIELDS)

    def get_account(self, name):
        row = self.conn.execute(f"SELECT {self._ACCOUNT_COLS} FROM account WHERE accountName=?",
                                (normalise_name(name),)).fetchone()
        return Account(*row) if row else None

    def list_accounts(self):
        return [Account(*r) for r in self.conn.execute(
            f"SELECT {self._ACCOUNT_COLS} FROM account ORDER BY accountID")]

    def create_account(self, name, role, kdf, salt, verifier, type=30):
        try:
            with self.transaction() as c:
                c.execute("INSERT INTO account (accountName, role, type, kdf, salt, verifier, "
                          "createDateTime) VALUES (?, ?, ?, ?, ?, ?, ?)",
                          (normalise_name(name), int(role), int(type), kdf, bytes(salt),
                           bytes(verifier), filetime_now()))
        except sqlite3.IntegrityError:
            raise AccountExists(f"account {normalise_name(name)!r} already exists") from None
        return self.get_account(name)

    def set_verifier(self, account_id, kdf, salt, verifier):
        with self.transaction() as c:
            c.execute("UPDATE account SET kdf=?, salt=?, verifier=?, hash=NULL "
                      "WHERE accountID=?", (kdf, bytes(salt), bytes(verifier), account_id))

    def set_banned(self, name, banned):
        with self.transaction() as c:
            cur = c.execute("UPDATE account SET banned=? WHERE accountName=?",
                            (1 if banned else 0, normalise_name(name)))
        return cur.rowcount > 0

    def delete_account(self, name):
        with self.transaction() as c:
            row = c.execute("SELECT accountID FROM account WHERE accountName=?",
                            (normalise_name(name),)).fetchone()
            if row is None:
                return False
            c.execute("DELETE FROM chrCharacters WHERE accountID=?", row)
            c.execute("DELETE FROM account WHERE accountID=?", row)
        return True

    def record_login(self, account_id):
        with self.transaction() as c:
            c.execute("UPDATE account SET logonCount = logonCount + 1, lastLogin = ? "
                      "WHERE accountID = ?", (filetime_now(), account_id))

    # ---------------------------------------------------------------- characters
    def characters_of(self, account_id):
        cols = ", ".join(Character.COLUMNS)
        rows = self.conn.execute(f"SELECT {cols} FROM chrCharacters WHERE accountID=? "
                                 "ORDER BY characterID", (account_id,)).fetchall()
        return [Character(r) for r in rows]

    _CHARACTER_EXTRA = frozenset({"raceID", "bloodlineID", "ancestryID", "corporationID",
                                  "stationID", "solarSystemID", "balance"})

    def create_character(self, account_id, name, type_id, gender, **extra):
        bad = set(extra) - self._CHARACTER_EXTRA
        if bad:
            raise TypeError(f"unknown character fields: {sorted(bad)}")
        with self.transaction() as c:
            (last,) = c.execute("SELECT MAX(characterID) FROM chrCharacters").fetchone()
            char_id = max(FIRST_CHARACTER_ID, (last or 0) + 1)
            cols = ["characterID", "accountID", "characterName", "typeID", "gender",
                    "createDateTime"] + list(extra)
            vals = [char_id, account_id, name, type_id, gender, filetime_now()] + list(
                extra.values())
            c.execute(f"INSERT INTO chrCharacters ({', '.join(cols)}) VALUES "
                      f"({', '.join('?' * len(cols))})", vals)
        return char_id
