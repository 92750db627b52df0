"""What the server asks of a database, as an interface a second backend can implement.

:class:`Backend` lists the operations; :class:`evemu.db.sqlite.SQLiteBackend` and
:class:`evemu.db.postgres.PostgreSQLBackend` (``dialect`` ``"postgresql"``, selected by a
``postgresql://`` URL in :func:`evemu.db.open_backend`) implement them.  A new operation goes
into both, and into the tests that run on both (tests/test_db_pg.py).

Contract:

- A backend is used from **one thread at a time** -- the database thread of
  :class:`evemu.db.Database` -- so its methods are plain blocking code; it never sees tasklets.
- Methods take and return plain values and the records below (never cursors or rows), so the
  caller does not depend on the driver.
- Account names are passed as typed; the backend stores and looks them up normalised
  (:func:`evemu.db.passwords.normalise_name`).
- ``execute`` and Python migrations take ``?`` placeholders on every backend.
- IDs come from the database (identity columns, or a locked ``MAX+1`` on SQLite), never from a
  counter in the process: several processes may share one PostgreSQL database.
- ``create_account`` raises :class:`AccountExists` for a duplicate name; anything the driver
  raises otherwise is the driver's error (the server logs it and refuses that one login).
- Schema changes go through :mod:`evemu.db.migrations` (``migrate()`` applies the pending ones).
"""

import contextlib

__all__ = ["Backend", "Account", "Character", "AccountExists", "ACCOUNT_FIELDS"]


class AccountExists(Exception):
    """An account of that (normalised) name already exists."""


ACCOUNT_FIELDS = ("id", "name", "role", "type", "banned", "logon_count", "kdf", "salt",
                  "verifier", "last_login", "created")


class Account:
    """One account row.  ``kdf``/``salt``/``verifier``: see :mod:`evemu.db.passwords`."""
    __slots__ = ACCOUNT_FIELDS

    def __init__(self, *values, **fields):
        for k, v in zip(ACCOUNT_FIELDS, values):
            setattr(self, k, v)
        for k in ACCOUNT_FIELDS[len(values):]:
            setattr(self, k, fields.pop(k, None))
        if fields:
            raise TypeError(f"unknown account fields: {sorted(fields)}")
        self.banned = bool(self.banned)

    def check_password(self, digest=None, plain=None):
        """True if the client's digest (or the plain password) matches the verifier.  Runs the
        KDF inline: for tools and tests; the server uses :meth:`evemu.db.Database.verify`."""
        from .passwords import check_verifier, password_hash
        if plain:
            digest = password_hash(self.name, plain)
        return check_verifier(digest, self.kdf, self.salt, self.verifier)

    def __repr__(self):
        return f"Account({self.id}, {self.name!r}, role={self.role})"


class Character:
    COLUMNS = ("characterID", "characterName", "deletePrepareDateTime", "gender", "typeID")
    __slots__ = COLUMNS

    def __init__(self, row):
        for k, v in zip(self.COLUMNS, row):
            setattr(self, k, v)


class Backend:
    """The operations; every one must be implemented by a backend."""

    #: ``"sqlite"``, ``"postgresql"``: which text of a per-dialect migration to run
    dialect = None
    #: what ``db info`` and the start-up line show (a file path, a URL without password)
    path = None
    #: the open DB-API connection: the world layer's portable SQL runs on it, on the database
    #: thread, through :meth:`evemu.db.Database.run` (qmark or format paramstyle)
    conn = None

    def connection(self):
        """:attr:`conn`, made good first where the backend can lose it (a server restart)."""
        return self.conn

    def exclusive(self):
        """A context manager that keeps other processes' start-up steps out while it is held
        (two servers opening one fresh database must not both load the static data).  SQLite
        needs none: its write transaction already excludes other writers."""
        return contextlib.nullcontext()

    # ---------------------------------------------------------------- schema
    def migrate(self):
        """Apply the pending migrations in order; return the list applied."""
        raise NotImplementedError

    def schema_info(self):
        """{'backend', 'path', 'version', 'applied': [(version, name, when)], 'pending':
        [(version, name)], 'accounts': count, ...}."""
        raise NotImplementedError

    def close(self):
        raise NotImplementedError

    # ---------------------------------------------------------------- accounts
    def get_account(self, name):
        """The Account named ``name`` or None."""
        raise NotImplementedError

    def list_accounts(self):
        """Every Account, by id."""
        raise NotImplementedError

    def create_account(self, name, role, kdf, salt, verifier, type=30):
        """Insert an account with a verifier (never a digest); return it.  AccountExists."""
        raise NotImplementedError

    def set_verifier(self, account_id, kdf, salt, verifier):
        raise NotImplementedError

    def set_banned(self, name, banned):
        """True if the account exists."""
        raise NotImplementedError

    def delete_account(self, name):
        """Delete the account and its characters; True if it existed."""
        raise NotImplementedError

    def record_login(self, account_id):
        raise NotImplementedError

    # ---------------------------------------------------------------- characters
    def characters_of(self, account_id):
        """The character-select rows (Character) of an account, in creation order."""
        raise NotImplementedError

    def create_character(self, account_id, name, type_id, gender, **extra):
        """Insert a character; return its id."""
        raise NotImplementedError

    # ---------------------------------------------------------------- maintenance
    def execute(self, sql, params=()):
        """Run one statement; return all rows (tools, tests)."""
        raise NotImplementedError


#: the names :class:`evemu.db.Database` forwards to the database thread as they are
OPERATIONS = ("migrate", "schema_info", "get_account", "list_accounts", "set_verifier",
              "set_banned", "delete_account", "record_login", "characters_of",
              "create_character", "execute")
