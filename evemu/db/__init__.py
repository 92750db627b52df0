"""The server's own database: embedded SQLite, created on first start with no set-up.

Where it lives: ``--db PATH`` on the command line, else ``$EVEMU_DB``, else
``$XDG_DATA_HOME/evemu/evemu.sqlite3`` (``~/.local/share/evemu/evemu.sqlite3``).  ``":memory:"``
gives a throw-away database (tests).

What it holds (schema version 1): accounts and characters, i.e. the runtime tables the login
path needs (protocol notes section 5: EVEmu's ``account`` and ``chrCharacters``).  CCP's static
data (types, map, stations...) is *not* here: it is not redistributable and will be loaded from a
separate file later.

Accounts are created on first login when auto-accounts are on (EVEmu's ``AutoAccount``): the
stored hash is the one the client sent (see :mod:`evemu.db.passwords`).

Threading: a ``Database`` belongs to the thread that opened it (the server's loop thread).  Each
statement is short and runs inline in the calling tasklet; SQLite's own lock waits are bounded by
``busy_timeout`` (another process, e.g. an admin tool, holding the file).
"""
import os
import re
import sqlite3
import time

from .passwords import hashes_match, normalise_name, password_hash

__all__ = ["Database", "Account", "Character", "default_path", "AccountNameError",
           "SCHEMA_VERSION", "password_hash"]

SCHEMA_VERSION = 1
FIRST_CHARACTER_ID = 90000000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS account (
    accountID      INTEGER PRIMARY KEY AUTOINCREMENT,
    accountName    TEXT    NOT NULL UNIQUE,          -- normalised: stripped, lower case
    hash           BLOB,                             -- 20-byte client password hash
    role           INTEGER NOT NULL,
    type           INTEGER NOT NULL DEFAULT 30,      -- userType (30 = Mammon, a player)
    banned         INTEGER NOT NULL DEFAULT 0,
    logonCount     INTEGER NOT NULL DEFAULT 0,
    lastLogin      INTEGER,                          -- FILETIME
    createDateTime INTEGER NOT NULL                  -- FILETIME
);
CREATE TABLE IF NOT EXISTS chrCharacters (
    characterID           INTEGER PRIMARY KEY,
    accountID             INTEGER NOT NULL REFERENCES account(accountID),
    characterName         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    typeID                INTEGER NOT NULL,          -- character type (from the bloodline)
    gender                INTEGER NOT NULL,          -- 0 female, 1 male
    raceID                INTEGER,
    bloodlineID           INTEGER,
    ancestryID            INTEGER,
    corporationID         INTEGER,
    stationID             INTEGER,
    solarSystemID         INTEGER,
    balance               REAL    NOT NULL DEFAULT 0,
    deletePrepareDateTime INTEGER,                   -- FILETIME or NULL
    createDateTime        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chrCharacters_account ON chrCharacters(accountID);
"""

# EVEmu refuses these in account names (SQL-injection paranoia; kept for compatibility).
_BAD_NAME_PARTS = (";", "--", "#", "/*", "/0", "0x", "|", "' ", "+", "@", "!", "$", "%",
                   "^", "&", "*", "(", ")")


class AccountNameError(ValueError):
    """An account name the server refuses; the message is shown to the user."""


def filetime_now():
    """Now as a Windows FILETIME (100-ns ticks since 1601-01-01 UTC)."""
    return time.time_ns() // 100 + 116444736000000000


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


class Account:
    __slots__ = ("id", "name", "hash", "role", "type", "banned", "logon_count")

    def __init__(self, row):
        (self.id, self.name, self.hash, self.role, self.type, self.banned,
         self.logon_count) = row
        self.banned = bool(self.banned)

    def check_password(self, offered_hash=None, plain=None):
        """True if the client's hash (or plain password) matches the stored hash."""
        if plain:
            offered_hash = password_hash(self.name, plain)
        return hashes_match(self.hash, offered_hash)

    def __repr__(self):
        return f"Account({self.id}, {self.name!r}, role={self.role})"


class Character:
    COLUMNS = ("characterID", "characterName", "deletePrepareDateTime", "gender", "typeID")
    __slots__ = COLUMNS

    def __init__(self, row):
        for k, v in zip(self.COLUMNS, row):
            setattr(self, k, v)


class Database:
    """One SQLite database file (created with its folder and schema if missing)."""

    def __init__(self, path=None, busy_timeout=5.0):
        self.path = default_path() if path is None else str(path)
        if self.path != ":memory:":
            folder = os.path.dirname(os.path.abspath(self.path))
            os.makedirs(folder, exist_ok=True)
        self.conn = sqlite3.connect(self.path, timeout=busy_timeout, isolation_level=None)
        self.conn.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            # WAL + synchronous=NORMAL: a commit does not wait for fsync (the whole loop
            # thread would wait with it, ~5 ms per login here); the database stays consistent,
            # a power cut may lose the last commits (not an application crash).
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = NORMAL")
        self._create_schema()
        from . import world_tables        # static data and character tables (world layer)
        world_tables.install(self.conn)

    def _create_schema(self):
        with self.transaction():
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self.conn.execute(stmt)
            row = self.conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self.conn.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                  (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise RuntimeError(f"{self.path}: schema version {row[0]} is newer than this "
                                   f"server's ({SCHEMA_VERSION})")

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
        self.conn.close()

    # ------------------------------------------------------------------ accounts
    _ACCOUNT_COLS = "accountID, accountName, hash, role, type, banned, logonCount"

    def get_account(self, name):
        row = self.conn.execute(f"SELECT {self._ACCOUNT_COLS} FROM account WHERE accountName=?",
                                (normalise_name(name),)).fetchone()
        return Account(row) if row else None

    def create_account(self, name, role, *, password=None, hash=None, type=30):
        """Create an account from a plain password or the client's hash; returns it.
        Raises AccountNameError for a refused name, sqlite3.IntegrityError if it exists."""
        validate_account_name(name.strip())
        if password is not None:
            hash = password_hash(name, password)
        with self.transaction() as c:
            c.execute("INSERT INTO account (accountName, hash, role, type, createDateTime) "
                      "VALUES (?, ?, ?, ?, ?)",
                      (normalise_name(name), None if hash is None else bytes(hash), int(role),
                       int(type), filetime_now()))
        return self.get_account(name)

    def get_or_create_account(self, name, role, hash):
        """The account ``name``; created with ``hash`` if missing (the auto-account path)."""
        acct = self.get_account(name)
        if acct is None:
            try:
                acct = self.create_account(name, role, hash=hash)
            except sqlite3.IntegrityError:      # created meanwhile by another login
                acct = self.get_account(name)
        return acct

    def record_login(self, account_id):
        with self.transaction() as c:
            c.execute("UPDATE account SET logonCount = logonCount + 1, lastLogin = ? "
                      "WHERE accountID = ?", (filetime_now(), account_id))

    # ---------------------------------------------------------------- characters
    def characters_of(self, account_id):
        """The character-select rows of an account, in creation order."""
        cols = ", ".join(Character.COLUMNS)
        rows = self.conn.execute(f"SELECT {cols} FROM chrCharacters WHERE accountID=? "
                                 "ORDER BY characterID", (account_id,)).fetchall()
        return [Character(r) for r in rows]

    def create_character(self, account_id, name, type_id, gender, **extra):
        """Insert a character (ids from 90 000 000 as player characters in EVE); returns id."""
        allowed = {"raceID", "bloodlineID", "ancestryID", "corporationID", "stationID",
                   "solarSystemID", "balance"}
        bad = set(extra) - allowed
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
