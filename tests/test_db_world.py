"""The world layer on core's database: ``Database.run`` (the one way world SQL reaches the
database thread), the world migrations (100, 200) and the start-up load of the shipped data."""
import sqlite3
import threading

import pytest

from evemu.db import Database, characters as chars, static, universe
from evemu.db import migrations as M


@pytest.fixture
def db():
    d = Database(":memory:")
    yield d
    d.close()


def test_run_calls_fn_with_the_connection_on_the_database_thread(db):
    seen = []

    def probe(conn, a, b=None):
        seen.append((threading.get_ident(), conn))
        return a, b

    assert db.run(probe, 1, b=2) == (1, 2)
    assert db.run(probe, "x") == ("x", None)
    (t1, c1), (t2, c2) = seen
    assert t1 == t2 != threading.get_ident()               # never the caller's thread
    assert c1 is c2 is db.call(lambda backend: backend.conn)
    assert isinstance(c1, sqlite3.Connection)


def test_run_gives_back_the_exception_and_the_thread_goes_on(db):
    with pytest.raises(TypeError, match="ids must be integers, not str"):
        db.run(universe.owners, ["not an id"])
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.run(lambda conn: conn.execute("SELECT * FROM nowhere"))
    assert db.run(lambda conn: conn.execute("SELECT 3").fetchone()) == (3,)


def test_run_blocks_only_the_calling_tasklet(db):
    import stackless
    from stackless import loop
    ticks, done = [], []

    def slow(conn):
        import time
        time.sleep(0.3)                                    # a slow statement
        return "slow"

    def waiter():
        done.append(db.run(slow))

    def ticker():
        while not done:
            ticks.append(1)
            loop.sleep(0.01)

    tasks = [stackless.tasklet(waiter)(), stackless.tasklet(ticker)()]
    for t in tasks:
        loop.run_until(t)
    assert done == ["slow"] and len(ticks) > 3           # the other tasklet kept running


def test_world_migrations_are_registered_and_applied(db):
    assert "evemu.db.world_tables" in M.MODULES
    versions = {m.version: m.name for m in M.registered()}
    assert versions[100].startswith("world:") and versions[200].startswith("characters:")
    info = db.schema_info()
    assert {1, 2, 100, 200} <= {v for v, _, _ in info["applied"]} and info["pending"] == []
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"staticTables", "staticColumns", "importedFiles", "staticDataVersion",
            "cacheVersions", "cacheObjects", "idSequences", "chrCharacterInfo", "invItems",
            "invItemAttributes", "jnlCharacters"} <= tables


def test_start_up_loads_the_shipped_data_once_per_version(tmp_path):
    path = tmp_path / "w.sqlite3"
    db = Database(path)
    assert db.execute('SELECT "version" FROM "staticDataVersion" WHERE "name" = ?',
                      (static.SHIPPED,)) == [(static.data_version(),)]
    assert db.execute('SELECT COUNT(*) FROM "chrRaces"')[0][0] == 8
    assert db.start_up() == 0                              # unchanged files: nothing reloaded
    db.close()
    info_only = Database(path, migrate=False)              # db info: no start-up step either
    assert info_only.execute('SELECT COUNT(*) FROM "chrRaces"')[0][0] == 8
    info_only.close()


def test_a_database_from_before_the_world_migrations_is_upgraded(tmp_path):
    """A file whose world tables were made by the old start-up hook (no 100/200 recorded)
    opens: the migrations use IF NOT EXISTS and keep the rows."""
    path = tmp_path / "old.sqlite3"
    db = Database(path)
    db.execute('INSERT INTO "idSequences" VALUES (?, ?)', ("probe", 7))
    db.execute("DELETE FROM schema_migrations WHERE version IN (100, 200)")
    db.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    db.close()
    db = Database(path)
    assert db.execute('SELECT "nextID" FROM "idSequences" WHERE "name" = ?', ("probe",)) == [(7,)]
    assert {100, 200} <= {v for v, _, _ in db.schema_info()["applied"]}
    assert db.run(chars.validate_name, "Fresh Name") == 1
    db.close()
