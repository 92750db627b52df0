"""evemu.db on both backends: the migration runner and every Backend operation against SQLite and
a real PostgreSQL (the throw-away cluster of tests/pg_helpers.py), plus what only PostgreSQL has:
URLs and their passwords, reconnection after a server restart, two Databases sharing one
database."""
import sqlite3
import threading

import pytest

from evemu.db import AccountExists, Database, MigrationError, display_name, open_backend
from evemu.db import migrations as M
from evemu.db.passwords import password_hash
from evemu.db.postgres import qmark_to_pyformat, redact_url
from evemu.machonet import constants as C

from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(120):
        yield


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so test migrations do not leak."""
    monkeypatch.setattr(M, "_registry", dict(M._registry))
    return M._registry


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    """Where a fresh, empty database is: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "t.sqlite3")
    return request.getfixturevalue("pg_url")


def dialect_of(target):
    return "postgresql" if target.startswith("postgresql://") else "sqlite"


def has_table(db, name):
    if db.backend.dialect == "sqlite":
        return bool(db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                               (name,)))
    return db.execute("SELECT to_regclass(?)", (name,))[0][0] is not None


def integrity_error(db):
    if db.backend.dialect == "sqlite":
        return sqlite3.IntegrityError
    import psycopg
    return psycopg.IntegrityError


# ------------------------------------------------------------------ migrations, both backends
def test_migrations_apply_and_are_recorded(registry, target):
    M.register(901, "test: a table", "CREATE TABLE t901 (x INTEGER); INSERT INTO t901 VALUES (1);")

    @M.migration(902, "test: python step with ? placeholders")
    def _step(conn):
        conn.execute("INSERT INTO t901 VALUES (?)", (2,))
        conn.executemany("INSERT INTO t901 VALUES (?)", [(3,), (4,)])

    db = Database(target)
    assert db.backend.dialect == dialect_of(target)
    assert db.execute("SELECT x FROM t901 ORDER BY x") == [(1,), (2,), (3,), (4,)]
    info = db.schema_info()
    assert info["version"] == 902 and info["pending"] == [] and info["unknown"] == []
    assert [v for v, _, _ in info["applied"]][:2] == [1, 2]
    assert [v for v, _, _ in info["applied"]][-2:] == [901, 902]
    assert info["backend"].startswith(dialect_of(target)) and info["accounts"] == 0
    assert info["path"] == display_name(target) == db.path
    db.close()
    again = Database(target)                         # nothing applied twice
    assert again.migrate() == [] and again.execute("SELECT COUNT(*) FROM t901") == [(4,)]
    again.close()


def test_a_lower_migration_merged_later_is_still_applied(registry, target):
    M.register(920, "test: later", "CREATE TABLE t920 (x INTEGER)")
    Database(target).close()
    M.register(910, "test: merged late", "CREATE TABLE t910 (x INTEGER)")
    db = Database(target)
    assert has_table(db, "t910") and db.schema_info()["version"] == 920
    db.close()


def test_failed_migration_rolls_back_and_refuses_to_open(registry, target):
    M.register(930, "test: breaks", "CREATE TABLE t930 (x INTEGER); INSERT INTO nowhere VALUES (1)")
    with pytest.raises(MigrationError, match="migration 930 .* failed"):
        Database(target)
    del registry[930]
    db = Database(target)
    assert not has_table(db, "t930")
    assert 930 not in [v for v, _, _ in db.schema_info()["applied"]]
    db.close()


def test_unknown_newer_version_is_refused(registry, target):
    M.register(940, "test: from a newer server", "SELECT 1")
    Database(target).close()
    del registry[940]
    with pytest.raises(MigrationError, match="schema version 940 is newer"):
        Database(target)
    db = Database(target, migrate=False)             # db info still works
    assert db.schema_info()["unknown"] == [940]
    db.close()


def test_per_dialect_texts(registry, target):
    M.register(950, "test: dialects", {"sqlite": "CREATE TABLE t950 (x BLOB)",
                                       "postgresql": "CREATE TABLE t950 (x BYTEA)"})
    db = Database(target)
    db.execute("INSERT INTO t950 VALUES (?)", (b"\x00\xff",))
    assert db.execute("SELECT x FROM t950") == [(b"\x00\xff",)]
    db.close()
    other = "postgresql" if dialect_of(target) == "sqlite" else "sqlite"
    M.register(951, "test: the other dialect only", {other: "SELECT 1"})
    with pytest.raises(MigrationError, match=f"no {dialect_of(target)} version"):
        Database(target)


def test_sqlite_only_sql_fails_on_postgresql_with_a_hint(registry, pg_url):
    M.register(960, "test: sqlite types", "CREATE TABLE t960 (x BLOB)")
    with pytest.raises(MigrationError, match=r"migration 960 .* failed on postgresql: .*blob.*"
                                             r"give it a \{'sqlite'"):
        Database(pg_url)


# ------------------------------------------------------------------ operations, both backends
def test_account_operations(target):
    db = Database(target)
    a = db.create_account("Ops", C.ROLE_STD, password="pw")
    assert (a.name, a.role, a.type, a.banned, a.logon_count) == ("ops", C.ROLE_STD, 30, False, 0)
    assert isinstance(a.salt, bytes) and isinstance(a.verifier, bytes) and len(a.verifier) == 32
    with pytest.raises(AccountExists):
        db.create_account("OPS ", C.ROLE_STD, password="pw")
    assert db.verify(a, password_hash("ops", "pw")) and not db.verify(a, b"x" * 20)
    assert db.set_password("ops", "new") and not db.set_password("nobody", "x")
    assert db.verify(db.get_account("ops"), password_hash("ops", "new"))
    assert db.set_banned("ops", True) and db.get_account("ops").banned
    assert db.set_banned("ops", False) and not db.get_account("ops").banned
    assert not db.set_banned("nobody", True)
    db.record_login(a.id)
    db.record_login(a.id)
    got = db.get_account("OPS")
    assert got.logon_count == 2 and got.last_login > got.created
    c1 = db.create_character(a.id, "Char One", 1373, 1)
    c2 = db.create_character(a.id, "Char Two", 1374, 0, raceID=1, balance=5000.0)
    assert c1 == 90000000 and c2 > c1
    with pytest.raises(integrity_error(db)):
        db.create_character(a.id, "char ONE", 1373, 1)       # names are unique, any case
    with pytest.raises(TypeError, match="unknown character fields"):
        db.create_character(a.id, "Char Three", 1373, 1, shipID=5)
    rows = db.characters_of(a.id)
    assert [(c.characterID, c.characterName, c.gender, c.typeID) for c in rows] == [
        (c1, "Char One", 1, 1373), (c2, "Char Two", 0, 1374)]
    b = db.create_account("second", C.ROLE_STD, password="pw")
    assert b.id > a.id and [x.name for x in db.list_accounts()] == ["ops", "second"]
    assert db.schema_info()["accounts"] == 2
    assert db.delete_account("ops") and db.get_account("ops") is None
    assert db.characters_of(a.id) == [] and not db.delete_account("ops")
    assert [x.name for x in db.list_accounts()] == ["second"]
    db.close()
    db.close()                                        # idempotent


def test_execute_placeholders_and_results(target):
    db = Database(target)
    assert db.execute("SELECT ? + 1, ?", (41, "a?b")) == [(42, "a?b")]
    assert db.execute("SELECT '5%', '?', ?", ("x",)) == [("5%", "?", "x")]
    assert db.execute("SELECT '100%'") == [("100%",)]
    assert db.execute("CREATE TABLE e (x INTEGER)") == []
    assert db.execute("INSERT INTO e VALUES (?)", (7,)) == []
    assert db.execute("SELECT x FROM e") == [(7,)]
    db.close()


def test_backend_transactions_commit_once_or_roll_back(target):
    """``backend.transaction()`` (what a service method's database work runs in, through
    ``Database.call``) is the same on both backends: ``?`` placeholders, all or nothing."""
    db = Database(target)
    db.execute("CREATE TABLE ledger (who TEXT, amount INTEGER)")

    def transfer(b, fail):
        with b.transaction() as c:
            c.execute("INSERT INTO ledger VALUES (?, ?)", ("a", -5))
            c.execute("INSERT INTO ledger VALUES (?, ?)", ("b", 5))
            if fail:
                raise ValueError("refused")
            return c.execute("SELECT COUNT(*) FROM ledger").fetchone()[0]

    assert db.call(transfer, False) == 2
    with pytest.raises(ValueError, match="refused"):
        db.call(transfer, True)
    assert db.execute("SELECT who, amount FROM ledger ORDER BY who") == [("a", -5), ("b", 5)]
    db.close()


def test_driver_errors_come_back_to_the_caller(target):
    db = Database(target)
    if db.backend.dialect == "sqlite":
        err, msg = sqlite3.OperationalError, "no such table"
    else:
        import psycopg
        err, msg = psycopg.errors.UndefinedTable, 'relation "nowhere" does not exist'
    with pytest.raises(err, match=msg):
        db.execute("SELECT * FROM nowhere")
    assert db.execute("SELECT 1") == [(1,)]           # the connection goes on
    db.close()


def test_get_or_create_account_races_within_one_database(target):
    import stackless
    from stackless import loop
    db = Database(target)
    out = []

    def login():
        out.append(db.get_or_create_account("racer", C.ROLE_STD, password_hash("racer", "pw")))

    tasks = [stackless.tasklet(login)() for _ in range(6)]
    for t in tasks:
        loop.run_until(t)
    assert len({acct.id for acct, _ in out}) == 1
    assert sum(created for _, created in out) == 1
    db.close()


# ------------------------------------------------------------------ URLs and passwords
def test_redact_url():
    assert redact_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact_url("postgresql://h/db?sslmode=require&password=s3cret") == \
        "postgresql://h/db?sslmode=require&password=***"
    assert redact_url("postgres://u:p@ss:w@h/db") == "postgres://u:***@h/db"
    assert display_name("/var/lib/evemu/x.sqlite3") == "/var/lib/evemu/x.sqlite3"
    assert display_name(":memory:") == ":memory:"


def test_qmark_to_pyformat():
    q = qmark_to_pyformat
    assert q("SELECT ?, ?") == "SELECT %s, %s"
    assert q("SELECT '?', \"a?\", ? -- what?\n") == "SELECT '?', \"a?\", %s -- what?\n"
    assert q("SELECT 'it''s ?', ? /* ? */") == "SELECT 'it''s ?', %s /* ? */"
    assert q("SELECT 5 % 2, '10%', ?") == "SELECT 5 %% 2, '10%%', %s"
    assert q("SELECT $$ ? $$, $x$?$x$, ?") == "SELECT $$ ? $$, $x$?$x$, %s"


def test_other_url_schemes_are_refused():
    with pytest.raises(ValueError, match="no database backend for 'mysql'"):
        open_backend("mysql://user:pw@host/evemu")


def test_the_password_is_never_shown(pg_cluster, pg_url):
    db = Database(pg_url)
    pw = pg_cluster.password
    assert pw in pg_url
    for shown in (db.path, repr(db), repr(db.backend), db.schema_info()["path"]):
        assert pw not in shown and ":***@127.0.0.1" in shown
    db.close()


def test_wrong_password_and_bad_urls(pg_cluster, pg_url):
    import psycopg
    wrong = pg_url.replace(pg_cluster.password, "not-the-password")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed") as ei:
        Database(wrong)
    assert "not-the-password" not in str(ei.value) and ":***@" in str(ei.value)
    bad = pg_url.replace(str(pg_cluster.port), "notaport")
    with pytest.raises((ValueError, psycopg.Error)) as ei:
        Database(bad)
    assert pg_cluster.password not in str(ei.value)


def test_connect_timeout_to_a_closed_port(pg_cluster):
    import psycopg
    from pg_helpers import _free_port
    url = f"postgresql://evemu:pw@127.0.0.1:{_free_port()}/x"
    with pytest.raises(psycopg.OperationalError, match="Connection refused|connection failed"):
        Database(url)


# ------------------------------------------------------------------ restarts and sharing
def test_reconnects_after_the_server_restarts(pg_cluster, pg_url):
    import stackless
    import psycopg
    from stackless import loop
    db = Database(pg_url)
    a = db.create_account("before", C.ROLE_STD, password="pw")
    got = []

    def slow():
        try:
            got.append(db.execute("SELECT pg_sleep(60)"))
        except Exception as e:                        # noqa: BLE001 -- the test checks it
            got.append(e)

    t = stackless.tasklet(slow)()
    with pg_cluster.admin() as admin:                 # wait until the statement runs
        for _ in range(200):
            loop.sleep(0.02)
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                             "'SELECT pg_sleep%' AND state = 'active'").fetchone()[0]:
                break
        else:
            pytest.fail("the slow statement never started")
    pg_cluster.restart()
    loop.run_until(t)
    assert len(got) == 1 and isinstance(got[0], psycopg.OperationalError), got
    # later calls work, on a new connection; the data committed before is there
    assert db.get_account("before").id == a.id
    b = db.create_account("after", C.ROLE_STD, password="pw")
    assert b.id > a.id
    assert db.backend.reconnects == 1
    # an idle connection closed by a restart is replaced before use: no error at all
    pg_cluster.restart()
    assert [x.name for x in db.list_accounts()] == ["before", "after"]
    assert db.backend.reconnects == 2
    db.close()


def test_calls_fail_while_the_server_is_down_and_work_when_it_is_back(pg_cluster, pg_url):
    import psycopg
    db = Database(pg_url)
    db.create_account("kept", C.ROLE_STD, password="pw")
    pg_cluster.stop()
    try:
        for _ in range(2):                            # an error each time, promptly, no hang
            with pytest.raises(psycopg.OperationalError):
                db.get_account("kept")
    finally:
        pg_cluster.start_again()
    assert db.get_account("kept").name == "kept"
    assert db.create_account("new", C.ROLE_STD, password="pw").name == "new"
    db.close()


def test_two_databases_share_one_postgresql_without_id_clashes(pg_url):
    """Two Database objects (as two server processes would), each on its own thread and
    connection, migrate one fresh database at once and create accounts and characters
    concurrently."""
    errors, made = [], {}

    def process(tag):
        try:
            db = Database(pg_url)
            ids, chars = [], []
            for i in range(15):
                a = db.create_account(f"{tag}{i}", C.ROLE_STD, digest=b"d" * 20)
                ids.append(a.id)
                chars.append(db.create_character(a.id, f"{tag} char {i}", 1373, i % 2))
            made[tag] = (ids, chars)
            db.close()
        except BaseException as e:                    # noqa: BLE001 -- reported below
            errors.append(e)

    threads = [threading.Thread(target=process, args=(tag,)) for tag in ("alpha", "beta")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert not errors, errors
    accounts = made["alpha"][0] + made["beta"][0]
    chars = made["alpha"][1] + made["beta"][1]
    assert len(set(accounts)) == 30 and len(set(chars)) == 30
    db = Database(pg_url)
    assert len(db.list_accounts()) == 30
    assert db.execute("SELECT COUNT(*), MIN(characterID) FROM chrCharacters") == [(30, 90000000)]
    assert [v for v, _, _ in db.schema_info()["applied"]][:2] == [1, 2]
    db.close()
