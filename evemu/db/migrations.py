"""Versioned schema migrations, applied in order when the database opens.

Adding one is one line, in any module listed in :data:`MODULES`::

    from evemu.db.migrations import register

    register(101, "world: invTypes", '''
        CREATE TABLE invTypes (typeID INTEGER PRIMARY KEY, typeName TEXT NOT NULL);
        CREATE INDEX invTypes_name ON invTypes(typeName);
    ''')

or, when SQL alone cannot say it, a function that gets the open DB-API connection (inside the
migration's transaction)::

    @migration(102, "world: fill invTypes from the static file")
    def _fill(conn):
        conn.executemany("INSERT INTO invTypes VALUES (?, ?)", rows())

Rules:

- ``version`` is a positive int, unique in the whole server (``register`` raises ValueError on a
  duplicate).  Ranges so that parallel work does not collide: 1-99 core (accounts, sessions),
  100-199 world/static data, 200-299 characters and items, 300+ later areas.
- Migrations run in version order, each in its own transaction; the ones already applied are
  recorded in the ``schema_migrations`` table (``python -m evemu db info`` lists them), so a
  migration with a lower number merged later is still applied.  A database that records a
  version this server does not know is refused (it was written by a newer server).
- Never edit a migration that has shipped: add a new one.
- SQL text is for SQLite.  A migration that a PostgreSQL backend must also run can give one
  text per dialect: ``register(5, "...", {"sqlite": "...", "postgresql": "..."})``.
- The module that registers must be imported before the database opens: add its dotted name to
  :data:`MODULES` (one line) -- :func:`load` imports them all.
"""
import importlib
import sqlite3

__all__ = ["Migration", "register", "migration", "load", "registered", "MODULES",
           "split_sql"]

#: Modules whose import registers migrations (imported by :func:`load`).  Append yours.
MODULES = [
    "evemu.db.schema",
    "evemu.db.world_tables",
]


class Migration:
    __slots__ = ("version", "name", "action")

    def __init__(self, version, name, action):
        self.version = version
        self.name = name
        self.action = action          # SQL text, {dialect: SQL text}, or callable(conn)

    def apply(self, conn, dialect="sqlite"):
        action = self.action
        if isinstance(action, dict):
            if dialect not in action:
                raise NotImplementedError(f"migration {self.version} ({self.name}) has no "
                                          f"{dialect} version")
            action = action[dialect]
        if callable(action):
            action(conn)
        else:
            for stmt in split_sql(action):
                conn.execute(stmt)

    def __repr__(self):
        return f"Migration({self.version}, {self.name!r})"


_registry = {}


def register(version, name, action):
    """Register migration ``version`` (see the module docstring); returns it."""
    if type(version) is not int or version < 1:
        raise ValueError(f"migration version must be a positive int, not {version!r}")
    if not (isinstance(action, (str, dict)) or callable(action)):
        raise TypeError("a migration is SQL text, a {dialect: SQL} dict or a callable(conn)")
    old = _registry.get(version)
    if old is not None:
        if old.name == name and old.action == action:
            return old                 # the same module imported twice
        raise ValueError(f"migration {version} is registered twice: {old.name!r} and {name!r}")
    m = _registry[version] = Migration(version, name, action)
    return m


def migration(version, name):
    """Decorator form of :func:`register` for a function ``fn(conn)``."""
    def deco(fn):
        register(version, name, fn)
        return fn
    return deco


def load():
    """Import every module of :data:`MODULES` (they register their migrations)."""
    for mod in MODULES:
        importlib.import_module(mod)


def registered():
    """All known migrations, in version order (after :func:`load`)."""
    load()
    return [_registry[v] for v in sorted(_registry)]


def split_sql(text):
    """Split a SQL script into complete statements (triggers with inner ``;`` stay whole)."""
    out, buf = [], ""
    for part in text.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                out.append(buf.strip())
            buf = ""
    if buf.strip(" \t\r\n;"):
        out.append(buf.strip().rstrip(";"))
    return out
