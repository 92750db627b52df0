"""Accounts over loopback: verifiers at rest, the login throttle, the kick on a second login,
auto-account policy, restart, and the database off the loop (a 2 s statement does not stall
other clients)."""
import hashlib
import sqlite3
import threading
import time

import pytest

import stackless
from stackless import loop

from evemu.client import Client, LoginError
from evemu.config import Config
from evemu.db import Database
from evemu.db.passwords import password_hash
from evemu.machonet import constants as C
from evemu.machonet.packets import parse_packet
from evemu.machonet.server import KICK_NOTICE
from evemu.wire import marshal

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


def connect_from(address, source):
    """A Client whose socket comes from the loopback address ``source`` (127.0.0.0/8)."""
    from stackless import socket as ssocket
    return Client(ssocket.create_connection(address, timeout=30, source_address=(source, 0)))


def _refused(address, name, password=None, hashed=None):
    with Client.connect(address) as c:
        with pytest.raises(LoginError) as e:
            c.login(name, password, hashed=hashed)
        return e.value.reason


# ------------------------------------------------------------------ at rest
def test_stored_value_does_not_log_in(tmp_path):
    with running_server(db=Database(tmp_path / "a.sqlite3")) as server:
        with Client.connect(server.address) as c:
            c.login("victim", "right password")
        assert settle(lambda: not server.online)
        raw = server.db.execute("SELECT hash, kdf, salt, verifier FROM account")
        (digest_col, kdf, salt, verifier), = raw
        assert digest_col is None and kdf == "scrypt:4096:8:1" and len(salt) == 16
        assert verifier != password_hash("victim", "right password")
        # whoever read the file offers what it holds: refused
        for stolen in (verifier, verifier[:20], salt + verifier):
            assert _refused(server.address, "victim", hashed=bytes(stolen)) == \
                "The Password you entered is incorrect for this account."
        with Client.connect(server.address) as c:
            assert c.login("victim", "right password")["userid"] == 1
        server.db.close()


def _v1_database(path, name, digest):
    """A database as the first server wrote it: schema 1, the client's digest in `hash`."""
    conn = sqlite3.connect(path)
    from evemu.db.migrations import registered
    conn.executescript(registered()[0].action["sqlite"])       # {dialect: text} since PostgreSQL
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    conn.execute("INSERT INTO account (accountName, hash, role, createDateTime) VALUES (?,?,?,0)",
                 (name, digest, C.ROLE_STD))
    conn.commit()
    conn.close()


def test_old_rows_are_migrated_then_upgraded_at_first_login(tmp_path):
    path = tmp_path / "v1.sqlite3"
    digest = password_hash("veteran", "old secret")
    _v1_database(path, "veteran", digest)
    db = Database(path)                                   # migration 2 runs here
    (hash_col, kdf, salt, verifier), = db.execute(
        "SELECT hash, kdf, salt, verifier FROM account")
    assert hash_col is None and kdf == "sha256"
    assert verifier == hashlib.sha256(salt + digest).digest() and verifier != digest
    assert db.schema_info()["version"] >= 2
    with running_server(db=db) as server:
        assert _refused(server.address, "veteran", hashed=verifier) == \
            "The Password you entered is incorrect for this account."
        with Client.connect(server.address) as c:
            assert c.login("veteran", "old secret")["userid"] == 1
        acct = server.db.get_account("veteran")
        assert acct.kdf == "scrypt:4096:8:1" and acct.salt != salt   # re-derived at login
        assert settle(lambda: not server.online)
        with Client.connect(server.address) as c:
            assert c.login("veteran", "old secret")["userid"] == 1
    db.close()


def test_kdf_runs_on_a_worker_thread(monkeypatch):
    import evemu.db as dbmod
    threads = []
    real = dbmod.check_verifier

    def spy(*args):
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(dbmod, "check_verifier", spy)
    with running_server() as server:
        server.db.create_account("worker", C.ROLE_STD, password="pw")
        with Client.connect(server.address) as c:
            c.login("worker", "pw")
    assert threads and threading.get_ident() not in threads


def test_restart_keeps_accounts(tmp_path):
    path = tmp_path / "keep.sqlite3"
    with running_server(db=Database(path)) as server:
        with Client.connect(server.address) as c:
            first = c.login("keeper", "pw")["userid"]
        server.db.close()
    with running_server(db=Database(path), auto_account=False) as server:
        with Client.connect(server.address) as c:
            assert c.login("keeper", "pw")["userid"] == first
        assert _refused(server.address, "keeper", "wrong") == \
            "The Password you entered is incorrect for this account."
        server.db.close()


def test_database_file_and_folder_are_private(tmp_path):
    path = tmp_path / "private" / "evemu.sqlite3"
    db = Database(path)
    db.create_account("someone", C.ROLE_STD, password="pw")     # WAL file exists meanwhile
    assert (path.stat().st_mode & 0o777) == 0o600
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    for extra in path.parent.iterdir():
        assert (extra.stat().st_mode & 0o077) == 0, extra
    db.close()
    path.chmod(0o644)                                  # a loose file is tightened on open
    Database(path).close()
    assert (path.stat().st_mode & 0o777) == 0o600


# ------------------------------------------------------------------ policy
def test_auto_account_default_follows_the_listen_address():
    assert Config(host="127.0.0.1").auto_account_enabled
    assert Config(host="::1").auto_account_enabled
    assert not Config(host="0.0.0.0").auto_account_enabled
    assert not Config(host="192.0.2.7").auto_account_enabled
    assert Config(host="0.0.0.0", auto_account=True).auto_account_enabled
    assert not Config(host="127.0.0.1", auto_account=False).auto_account_enabled


def test_created_accounts_get_the_plain_player_role():
    with running_server() as server:
        with Client.connect(server.address) as c:
            assert c.login("newcomer", "pw")["role"] == C.ROLE_STD
        assert server.db.get_account("newcomer").role == C.ROLE_STD
        assert C.ROLE_STD == C.ROLE_LOGIN | C.ROLE_PLAYER | C.ROLE_IGB


# ------------------------------------------------------------------ throttle
def test_failed_logins_are_delayed_after_five_and_success_resets():
    with running_server(login_base_delay=0.4, login_max_delay=5.0,
                        login_failures_per_minute=100) as server:
        server.db.create_account("target", C.ROLE_STD, password="right")
        for _ in range(5):                              # free
            _refused(server.address, "target", "wrong")
        assert server.throttle.check(("account", "target")) == pytest.approx(0.4)
        # the sixth waits; another client is served meanwhile
        done = []

        def guess():
            t0 = time.monotonic()
            done.append((_refused(server.address, "target", "wrong"), time.monotonic() - t0))

        t = stackless.tasklet(guess)()
        loop.sleep(0.05)
        with connect_from(server.address, "127.0.0.2") as other:   # not throttled
            other.login("bystander", "pw")
            assert other.call("machoNet", "GetTime") > 0
            assert not done                              # the guesser is still waiting
        loop.run_until(t)
        reason, took = done[0]
        assert reason == "The Password you entered is incorrect for this account."
        assert took >= 0.4
        assert server.throttle.check(("account", "target")) == pytest.approx(0.8)   # doubles
        with Client.connect(server.address) as c:       # right password: in, and reset
            c.login("target", "right")
        assert server.throttle.check(("account", "target"), ("address", "127.0.0.1")) == 0


def test_failures_per_minute_are_capped():
    with running_server(login_base_delay=0.0, login_failures_per_minute=8) as server:
        server.db.create_account("capped", C.ROLE_STD, password="right")
        for _ in range(8):
            _refused(server.address, "capped", "wrong")
        reason = _refused(server.address, "capped", "right")   # even the right one, now
        assert reason.startswith("Too many failed logins; try again in ")
        # other accounts from other addresses are unaffected; this address is capped too
        assert "Too many failed logins" in _refused(server.address, "elsewhere", "pw")


def test_throttle_bookkeeping_with_a_fake_clock():
    from evemu.machonet.limits import LoginThrottle, Throttled
    now = [1000.0]
    t = LoginThrottle(free=5, base_delay=0.5, max_delay=4.0, per_minute=9, clock=lambda: now[0])
    for i in range(5):
        assert t.check("k") == 0
        t.failure("k")
    assert t.check("k") == 0.5                # 5 failures: the first delay
    t.failure("k")
    assert t.check("k") == 1.0                # 6: doubled
    t.failure("k")
    t.failure("k")
    assert t.check("k") == 4.0                # 8: capped at max_delay
    t.failure("k")                            # the 9th within the minute
    with pytest.raises(Throttled) as e:
        t.check("k")
    assert 59 <= e.value.retry_after <= 60
    now[0] += 61                              # the window moves on; the delay stays
    assert t.check("k") == 4.0
    t.success("k")
    assert t.check("k") == 0 and len(t) == 0


def test_throttle_memory_is_bounded():
    from evemu.machonet.limits import LoginThrottle
    t = LoginThrottle(max_keys=100)
    for i in range(1000):
        t.failure(("address", f"10.0.{i // 256}.{i % 256}"))
    assert len(t) <= 100


# ------------------------------------------------------------------ second login
def test_second_login_kicks_the_first_with_a_notice():
    with running_server() as server:
        old = Client.connect(server.address)
        old.login("roamer", "pw")
        new = Client.connect(server.address)
        new.login("roamer", "pw")
        payload = old.reader.read_frame()
        pkt = parse_packet(marshal.loads(payload))
        assert pkt.type == C.NOTIFICATION
        assert b"OnRemoteMessage" in payload and b"CustomNotify" in payload
        assert KICK_NOTICE.encode() in payload
        with pytest.raises(ConnectionError):
            old.recv()
        assert new.call("machoNet", "GetTime") > 0
        (conn,) = [c for c in server.connections]
        assert server.online[conn.account.id] is conn
        old.close()
        new.close()


# ------------------------------------------------------------------ off the loop
def _slow_sql():
    """A recursive count sized to take about 2 s here (calibrated on 10**6 rows)."""
    conn = sqlite3.connect(":memory:")
    t0 = time.perf_counter()
    conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<?) "
                 "SELECT sum(x) FROM c", (10 ** 6,)).fetchone()
    n = int(10 ** 6 * 2.0 / max(time.perf_counter() - t0, 1e-3))
    conn.close()
    return ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<?) "
            "SELECT sum(x) FROM c", (n,))


def test_slow_statement_does_not_stall_other_clients(tmp_path):
    sql, params = _slow_sql()
    with running_server(db=Database(tmp_path / "slow.sqlite3")) as server:
        pinger = Client.connect(server.address)
        pinger.login("pinger", "pw")
        took = []

        def slow():
            t0 = time.monotonic()
            server.db.execute(sql, params)
            took.append(time.monotonic() - t0)

        t = stackless.tasklet(slow)()
        loop.sleep(0.05)
        rtts = []
        while not took:
            t0 = time.perf_counter()
            pinger.ping()
            rtts.append(time.perf_counter() - t0)
            loop.sleep(0.02)
        loop.run_until(t)
        assert took[0] >= 1.0, took            # the statement really was slow
        assert len(rtts) >= 20
        rtts.sort()
        assert rtts[len(rtts) // 2] < 0.010, rtts        # answered within 10 ms
        assert rtts[-1] < 0.25, rtts                      # never held for the statement
        pinger.close()
        server.db.close()


def test_database_statements_run_on_the_database_thread():
    db = Database(":memory:")
    ident = db.call(lambda backend: threading.get_ident())
    assert ident != threading.get_ident()
    assert db.call(lambda backend: threading.get_ident()) == ident   # one thread, in order
    db.close()
    with pytest.raises(RuntimeError, match="closed"):
        db.get_account("x")
