"""The static data tables: the starter universe shipped in ``evemu/world/data/*.json``.

Each JSON file is one table of CCP's static data export, with CCP's table and column names::

    {"table": "invTypes", "columns": [["typeID", "smallint(5)"], ...],
     "primaryKey": ["typeID"], "rows": [[588, 25, "Reaper", ...], ...]}

The column types are the MySQL types of evemu_Crucible's dumps: the DBTYPE of each packed-row
column the client gets follows from them, as EVEmu derives it from its MariaDB result (see
:func:`evemu.world.cachables.dbtype_of`).  ``python -m evemu import-data`` replaces a shipped
table with the full one (and records its types the same way); the shipped copy is then left
alone.

:func:`install` runs at start-up, on the database thread (:meth:`evemu.db.Database.start_up`,
after the migrations, which create the registry tables: :mod:`evemu.db.world_tables`): it
(re)loads the shipped tables whose content changed, in one transaction.  SQL is
portable (DB-API, double-quoted identifiers).
"""
import hashlib
import json
import os


from . import importer
from .importer import _column_type, _placeholder, _q, map_type, record_columns

__all__ = ["install", "DATA_DIR", "shipped_tables", "column_types", "cache_timestamp",
           "data_fingerprint", "stored_blob", "store_blob",
           "data_version"]

DATA_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "world", "data")
SHIPPED = "shipped"

def column_types(conn, table):
    """``{column: mysqlType}`` of a static table ({} if unknown)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "columnName", "mysqlType" FROM "staticColumns" WHERE "tableName" = '
                f'{ph}', (table,))
    return dict(cur.fetchall())


def shipped_tables():
    """The shipped table documents, by table name (read from DATA_DIR)."""
    out = {}
    for name in sorted(os.listdir(DATA_DIR)):
        if name.endswith(".json"):
            with open(os.path.join(DATA_DIR, name), encoding="utf-8") as f:
                doc = json.load(f)
            out[doc["table"]] = doc
    return out


def data_version():
    """A digest of the shipped data files (changes when any file changes)."""
    h = hashlib.sha256()
    for name in sorted(os.listdir(DATA_DIR)):
        if name.endswith(".json"):
            h.update(name.encode())
            with open(os.path.join(DATA_DIR, name), "rb") as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def _load_table(conn, doc):
    ph = _placeholder(conn)
    cur = conn.cursor()
    name = doc["table"]
    cols = doc["columns"]
    cur.execute(f"DROP TABLE IF EXISTS {_q(name)}")
    defs = [f"{_q(c)} {_column_type(conn, map_type(t)[0])}" for c, t in cols]
    if doc.get("primaryKey"):
        defs.append(f"PRIMARY KEY ({', '.join(_q(c) for c in doc['primaryKey'])})")
    cur.execute(f"CREATE TABLE {_q(name)} ({', '.join(defs)})")
    if doc["rows"]:
        cur.executemany(f"INSERT INTO {_q(name)} VALUES ({', '.join([ph] * len(cols))})",
                        [tuple(r) for r in doc["rows"]])
    record_columns(conn, name, [c for c, _ in cols], [t for _, t in cols])
    cur.execute(f'DELETE FROM "staticTables" WHERE "tableName" = {ph}', (name,))
    cur.execute(f'INSERT INTO "staticTables" VALUES ({ph}, {ph})', (name, SHIPPED))


def install(conn):
    """Create the registry tables and load the shipped tables that are missing or changed;
    tables that came from an import are kept.  Returns the number of tables (re)loaded."""
    ph = _placeholder(conn)
    importer._begin(conn)
    try:
        importer.ensure_registry(conn)
        cur = conn.cursor()
        cur.execute('CREATE TABLE IF NOT EXISTS "staticDataVersion" ('
                    ' "name" VARCHAR(64) PRIMARY KEY, "version" VARCHAR(64) NOT NULL)')
        version = data_version()
        cur.execute(f'SELECT "version" FROM "staticDataVersion" WHERE "name" = {ph}',
                    (SHIPPED,))
        row = cur.fetchone()
        loaded = 0
        if row is None or row[0] != version:
            cur.execute('SELECT "tableName", "source" FROM "staticTables"')
            sources = {t.lower(): s for t, s in cur.fetchall()}
            existing = importer._existing_tables(conn)
            for name, doc in shipped_tables().items():
                src = sources.get(name.lower())
                if src is not None and src != SHIPPED:
                    continue                 # imported: the full table wins
                if src is None and name.lower() in existing:
                    continue                 # somebody else's table: not ours to replace
                _load_table(conn, doc)
                loaded += 1
            cur.execute(f'DELETE FROM "staticDataVersion" WHERE "name" = {ph}', (SHIPPED,))
            cur.execute(f'INSERT INTO "staticDataVersion" VALUES ({ph}, {ph})',
                        (SHIPPED, version))
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return loaded


def cache_timestamp(conn, object_key, crc, now):
    """The timestamp of a cached object's version: the one recorded for the same CRC, else
    ``now`` (recorded), so that hints stay the same across restarts while the data does."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute('CREATE TABLE IF NOT EXISTS "cacheVersions" ("objectKey" VARCHAR(255) '
                'PRIMARY KEY, "crc" BIGINT NOT NULL, "timestamp" BIGINT NOT NULL)')
    cur.execute(f'SELECT "crc", "timestamp" FROM "cacheVersions" WHERE "objectKey" = {ph}',
                (object_key,))
    row = cur.fetchone()
    if row is not None and int(row[0]) == crc:
        return int(row[1])
    importer._begin(conn)
    cur.execute(f'DELETE FROM "cacheVersions" WHERE "objectKey" = {ph}', (object_key,))
    cur.execute(f'INSERT INTO "cacheVersions" VALUES ({ph}, {ph}, {ph})', (object_key, crc, now))
    conn.commit()
    return now


def data_fingerprint(conn):
    """A digest of where every static table came from (the shipped data's version, each
    imported file's SHA-256): it changes whenever the static data can have changed."""
    cur = conn.cursor()
    h = hashlib.sha256()
    for sql in ('SELECT "tableName", "source" FROM "staticTables" ORDER BY "tableName"',
                'SELECT "fileName", "sha256" FROM "importedFiles" ORDER BY "fileName"',
                'SELECT "name", "version" FROM "staticDataVersion" ORDER BY "name"'):
        cur.execute(sql)
        for row in cur.fetchall():
            h.update(repr(tuple(row)).encode())
    return h.hexdigest()[:32]


def _blob_table(conn):
    conn.cursor().execute(
        'CREATE TABLE IF NOT EXISTS "cacheObjects" ("objectKey" VARCHAR(255) PRIMARY KEY, '
        f'"fingerprint" VARCHAR(64) NOT NULL, "blob" {_column_type(conn, "BLOB")} NOT NULL)')


def stored_blob(conn, object_key, fingerprint):
    """The marshalled cached object stored for this data fingerprint, or None."""
    ph = _placeholder(conn)
    _blob_table(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "blob" FROM "cacheObjects" WHERE "objectKey" = {ph} AND '
                f'"fingerprint" = {ph}', (object_key, fingerprint))
    row = cur.fetchone()
    return None if row is None else bytes(row[0])


def store_blob(conn, object_key, fingerprint, blob):
    ph = _placeholder(conn)
    _blob_table(conn)
    importer._begin(conn)
    cur = conn.cursor()
    cur.execute(f'DELETE FROM "cacheObjects" WHERE "objectKey" = {ph}', (object_key,))
    cur.execute(f'INSERT INTO "cacheObjects" VALUES ({ph}, {ph}, {ph})',
                (object_key, fingerprint, bytes(blob)))
    conn.commit()
