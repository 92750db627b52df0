"""evemu.db without a network: the migration registry and runner, the verifier functions, the
backend interface, the database thread."""
import hashlib
import os
import sqlite3
import threading

import pytest

from evemu.db import AccountExists, Backend, Database, MigrationError, open_backend
from evemu.db import migrations as M
from evemu.db import passwords as P
from evemu.db.backend import OPERATIONS
from evemu.db.passwords import (DEFAULT_KDF, KdfError, check_verifier, make_verifier,
                                needs_upgrade, parse_kdf, password_hash)
from evemu.machonet import constants as C


@pytest.fixture
def registry(monkeypatch):
    """A private copy of the registry, so test migrations do not leak."""
    monkeypatch.setattr(M, "_registry", dict(M._registry))
    return M._registry


# ------------------------------------------------------------------ registry
def test_register_one_liner_and_decorator(registry, tmp_path):
    M.register(901, "test: a table", "CREATE TABLE t901 (x INTEGER); INSERT INTO t901 VALUES (1);")

    @M.migration(902, "test: python step")
    def _step(conn):
        conn.execute("INSERT INTO t901 VALUES (2)")

    db = Database(tmp_path / "m.sqlite3")
    assert db.execute("SELECT x FROM t901 ORDER BY x") == [(1,), (2,)]
    info = db.schema_info()
    assert info["version"] == 902 and info["pending"] == []
    assert [v for v, _, _ in info["applied"]][-2:] == [901, 902]
    db.close()


def test_duplicate_and_bad_registrations(registry):
    M.register(903, "x", "SELECT 1")
    M.register(903, "x", "SELECT 1")                  # the same module imported twice: fine
    with pytest.raises(ValueError, match="migration 903 is registered twice"):
        M.register(903, "y", "SELECT 2")
    for bad in (0, -1, "4", 1.5):
        with pytest.raises(ValueError, match="positive int"):
            M.register(bad, "z", "SELECT 1")
    with pytest.raises(TypeError):
        M.register(904, "z", 42)


def test_a_lower_migration_merged_later_is_still_applied(registry, tmp_path):
    path = tmp_path / "late.sqlite3"
    M.register(920, "test: later", "CREATE TABLE t920 (x)")
    Database(path).close()
    M.register(910, "test: merged late", "CREATE TABLE t910 (x)")
    db = Database(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE name='t910'") == [("t910",)]
    assert db.schema_info()["version"] == 920
    db.close()


def test_failed_migration_rolls_back_and_refuses_to_open(registry, tmp_path):
    path = tmp_path / "fail.sqlite3"
    M.register(930, "test: breaks", "CREATE TABLE t930 (x); INSERT INTO nowhere VALUES (1)")
    with pytest.raises(MigrationError, match="migration 930 .* failed"):
        Database(path)
    del registry[930]
    db = Database(path)
    assert db.execute("SELECT name FROM sqlite_master WHERE name='t930'") == []
    assert 930 not in [v for v, _, _ in db.schema_info()["applied"]]
    db.close()


def test_unknown_newer_version_is_refused(registry, tmp_path):
    path = tmp_path / "new.sqlite3"
    M.register(940, "test: from a newer server", "SELECT 1")
    Database(path).close()
    del registry[940]
    with pytest.raises(MigrationError, match="schema version 940 is newer"):
        Database(path)
    db = Database(path, migrate=False)               # db info still works
    assert db.schema_info()["unknown"] == [940]
    db.close()


def test_per_dialect_sql(registry, tmp_path):
    M.register(950, "test: dialects", {"sqlite": "CREATE TABLE t950 (x)",
                                       "postgresql": "CREATE TABLE t950 (x BIGINT)"})
    db = Database(tmp_path / "d.sqlite3")
    assert db.execute("SELECT name FROM sqlite_master WHERE name='t950'") == [("t950",)]
    db.close()
    M.register(951, "test: postgres only", {"postgresql": "SELECT 1"})
    with pytest.raises(MigrationError, match="no sqlite version"):
        Database(tmp_path / "d.sqlite3")


def test_split_sql_keeps_triggers_whole():
    script = """CREATE TABLE a (x);
    CREATE TRIGGER tr AFTER INSERT ON a BEGIN UPDATE a SET x = 1; UPDATE a SET x = 2; END;
    INSERT INTO a VALUES ('semi;colon');"""
    parts = M.split_sql(script)
    assert len(parts) == 3 and parts[1].startswith("CREATE TRIGGER") and parts[1].endswith("END;")
    assert "'semi;colon'" in parts[2]


def test_core_migrations_are_registered():
    versions = [m.version for m in M.registered()]
    assert versions[:2] == [1, 2] and versions == sorted(versions)


# ------------------------------------------------------------------ passwords
def test_verifier_roundtrip_and_refusals():
    digest = password_hash("someone", "pw")
    kdf, salt, verifier = make_verifier(digest)
    assert kdf == DEFAULT_KDF and len(salt) == 16 and len(verifier) == 32
    assert check_verifier(digest, kdf, salt, verifier)
    assert not check_verifier(password_hash("someone", "PW"), kdf, salt, verifier)
    assert not check_verifier(verifier, kdf, salt, verifier)      # the stored value
    assert not check_verifier(None, kdf, salt, verifier)
    assert not check_verifier(digest, kdf, salt, None)
    _, salt2, verifier2 = make_verifier(digest)
    assert salt2 != salt and verifier2 != verifier                  # salted per account
    assert check_verifier(digest, "sha256", b"s" * 16, hashlib.sha256(b"s" * 16 + digest).digest())


@pytest.mark.parametrize("bad", ["md5", "scrypt", "scrypt:1000:8:1", "scrypt:a:b:c",
                                 "scrypt:1048576:64:1", "sha256:1",
                                 "scrypt:65536:1:1", "scrypt:131072:1:1"])
def test_unknown_kdf_is_refused(bad):
    with pytest.raises(KdfError):
        parse_kdf(bad)


def test_the_largest_n_of_a_block_size_is_accepted_and_derives():
    # scrypt requires n < 2**(16 r): 32768 is the largest for r = 1, and both implementations
    # derive with it (the refused 65536 and 131072 above would fail at the first login)
    assert parse_kdf("scrypt:32768:1:1") == ("scrypt", 32768, 1, 1)
    digest = password_hash("someone", "pw")
    assert check_verifier(digest, *make_verifier(digest, "scrypt:32768:1:1"))


# RFC 7914 section 12, the first two vectors (passphrase, salt, N, r, p, dkLen=64)
RFC7914 = [
    (b"", b"", 16, 1, 1,
     "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
     "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906"),
    (b"password", b"NaCl", 1024, 8, 16,
     "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
     "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"),
]


@pytest.mark.parametrize("impl", ["sodium", "openssl"])
@pytest.mark.parametrize("vector", RFC7914, ids=["rfc1", "rfc2"])
def test_scrypt_implementations_give_the_rfc_vectors(impl, vector):
    pw, salt, n, r, p, want = vector
    assert P.scrypt(pw, salt, n, r, p, dklen=64, impl=impl).hex() == want


def test_the_server_uses_libsodium_and_both_give_the_same_verifier():
    # PyNaCl is a declared dependency: its scrypt (SSE2) is ~25% cheaper per login than
    # OpenSSL's; the two are one function, so a verifier of either checks with the other
    assert P.scrypt_implementation() == "sodium"
    digest = password_hash("someone", "pw")
    for salt in (b"", b"s", os.urandom(16), os.urandom(64)):
        for n, r, p in ((2, 1, 1), (1024, 8, 2), (4096, 8, 1)):
            assert (P.scrypt(digest, salt, n, r, p, impl="sodium")
                    == P.scrypt(digest, salt, n, r, p, impl="openssl"))
    kdf, salt, verifier = make_verifier(digest)
    assert verifier == P.scrypt(digest, salt, 4096, 8, 1, impl="openssl")


def test_without_pynacl_the_server_falls_back_to_openssl(monkeypatch):
    digest = password_hash("someone", "pw")
    kdf, salt, verifier = make_verifier(digest)                      # by libsodium
    monkeypatch.setattr(P, "_sodium_scrypt", None)
    assert P.scrypt_implementation() == "openssl"
    assert check_verifier(digest, kdf, salt, verifier)               # checked by OpenSSL
    assert not check_verifier(password_hash("someone", "PW"), kdf, salt, verifier)
    kdf2, salt2, verifier2 = make_verifier(digest)
    monkeypatch.undo()
    assert check_verifier(digest, kdf2, salt2, verifier2)            # and back
    monkeypatch.setattr(P, "_sodium_scrypt", None)
    with pytest.raises(KdfError, match="PyNaCl is not installed"):
        P.scrypt(digest, salt, 16, 1, 1, impl="sodium")


def test_scrypt_refuses_an_unknown_implementation():
    with pytest.raises(ValueError, match="unknown scrypt implementation 'argon2'"):
        P.scrypt(b"x", b"s", 16, 1, 1, impl="argon2")


def test_verifiers_derived_on_many_threads_at_once_are_right():
    # the KDF threads run scrypt in parallel (it releases the GIL): no shared state between
    # calls, each result the single-threaded one
    digests = [password_hash(f"user{i}", "pw") for i in range(8)]
    salts = [os.urandom(16) for _ in digests]
    want = [P.scrypt(d, s, 1024, 8, 1, impl="openssl") for d, s in zip(digests, salts)]
    got = [None] * len(digests)

    def work(i):
        for _ in range(3):
            v = P.scrypt(digests[i], salts[i], 1024, 8, 1)
            assert got[i] in (None, v)
            got[i] = v
    ts = [threading.Thread(target=work, args=(i,)) for i in range(len(digests))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert got == want


@pytest.mark.parametrize("mode,pragma", [(None, 2), ("full", 2), ("FULL", 2), ("normal", 1)])
def test_sqlite_commits_wait_for_fsync_by_default(tmp_path, mode, pragma):
    # full: an acknowledged commit survives a power cut (as PostgreSQL's); normal on request
    kw = {} if mode is None else {"sqlite_sync": mode}
    db = Database(str(tmp_path / "s.sqlite3"), **kw)
    try:
        assert db.call(lambda b: b.conn.execute("PRAGMA synchronous").fetchone()[0]) == pragma
        assert db.call(lambda b: b.conn.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
        assert db.call(lambda b: b.sync) == (mode or "full").lower()
    finally:
        db.close()


@pytest.mark.parametrize("bad", ["off", "", "extra", 2, None])
def test_a_bad_sqlite_sync_is_refused_before_anything_is_opened(tmp_path, bad):
    from evemu.db.sqlite import SQLiteBackend
    with pytest.raises(ValueError, match=r"sqlite_sync: expected full or normal, not "):
        Database(str(tmp_path / "s.sqlite3"), sqlite_sync=bad)
    with pytest.raises(ValueError, match=r"sqlite_sync: expected full or normal, not "):
        SQLiteBackend(str(tmp_path / "t.sqlite3"), sync=bad)
    assert not (tmp_path / "s.sqlite3").exists() and not (tmp_path / "t.sqlite3").exists()


def test_needs_upgrade():
    assert needs_upgrade("sha256") and needs_upgrade("scrypt:2048:8:1")
    assert not needs_upgrade(DEFAULT_KDF)


# ------------------------------------------------------------------ backend and thread
def test_database_forwards_every_backend_operation():
    for name in OPERATIONS:
        assert callable(getattr(Backend, name)) and callable(getattr(Database, name))
    with pytest.raises(NotImplementedError):
        Backend().get_account("x")


def test_urls_are_not_sqlite():
    with pytest.raises(ValueError, match="no database backend for 'mysql'"):
        open_backend("mysql://user@host/evemu")


def test_account_operations(tmp_path):
    db = Database(tmp_path / "acc.sqlite3")
    a = db.create_account("Ops", C.ROLE_STD, password="pw")
    with pytest.raises(AccountExists):
        db.create_account("OPS ", C.ROLE_STD, password="pw")
    assert db.verify(a, password_hash("ops", "pw")) and not db.verify(a, b"x" * 20)
    assert db.set_password("ops", "new") and not db.set_password("nobody", "x")
    assert db.verify(db.get_account("ops"), password_hash("ops", "new"))
    assert db.set_banned("ops", True) and db.get_account("ops").banned
    assert not db.set_banned("nobody", True)
    db.create_character(a.id, "Char One", 1373, 1)
    assert [c.characterName for c in db.characters_of(a.id)] == ["Char One"]
    assert db.delete_account("ops") and db.get_account("ops") is None
    assert db.characters_of(a.id) == [] and not db.delete_account("ops")
    assert [x.name for x in db.list_accounts()] == []
    db.close()
    db.close()                                        # idempotent


def test_statements_run_in_order_on_one_thread_while_tasklets_run():
    import stackless
    from stackless import loop
    db = Database(":memory:")
    db.execute("CREATE TABLE log (i INTEGER)")
    ticks = []

    def writer(i):
        db.execute("INSERT INTO log VALUES (?)", (i,))

    def ticker():
        for _ in range(5):
            ticks.append(1)
            loop.sleep(0)

    tasks = [stackless.tasklet(writer)(i) for i in range(20)] + [stackless.tasklet(ticker)()]
    for t in tasks:
        loop.run_until(t)
    assert [r[0] for r in db.execute("SELECT i FROM log ORDER BY rowid")] == list(range(20))
    assert len(ticks) == 5
    idents = {db.call(lambda b: threading.get_ident()) for _ in range(3)}
    assert len(idents) == 1 and threading.get_ident() not in idents
    db.close()


def test_driver_errors_come_back_to_the_caller():
    db = Database(":memory:")
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        db.execute("SELECT * FROM nowhere")
    assert db.execute("SELECT 1") == [(1,)]           # the thread goes on
    db.close()


def test_database_waits_with_a_far_timer_pending():
    """Blocking on the database thread from the main tasklet while the only timer is at
    infinity (regression: epoll's timeout overflowed time_t)."""
    from stackless import loop
    h = loop.call_later(float("inf"), lambda: None)
    try:
        db = Database(":memory:")
        assert db.execute("SELECT 2") == [(2,)]
        db.close()
    finally:
        h.cancel()
