"""PostgreSQL calls on the loop: the bounded pool of evemu.db.pgpool and the tasklet-blocking
connection of evemu.db.pgloop (no database thread)."""
import threading
import time

import pytest

import stackless
from stackless import loop

from evemu.db import Database
from evemu.db.pgpool import PoolTimeout
from evemu.machonet import constants as C

from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(120):
        yield


def run_all(fns):
    """Run each fn in its own tasklet; their results (or exceptions), in order."""
    out = [None] * len(fns)

    def wrap(i, fn):
        try:
            out[i] = fn()
        except Exception as e:                        # noqa: BLE001 -- returned to the test
            out[i] = e
    ts = [stackless.tasklet(wrap)(i, fn) for i, fn in enumerate(fns)]
    for t in ts:
        loop.run_until(t)
    return out


def backends_of(pg_cluster, dbname):
    with pg_cluster.admin() as admin:
        return admin.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND "
                             "application_name = 'evemu'", (dbname,)).fetchone()[0]


def backends_after_close(pg_cluster, dbname, timeout=10.0):
    """backends_of once they are gone, or what is left after `timeout`: a server process leaves
    pg_stat_activity a moment after its client closed the socket (seen at 1 in a CI run)."""
    deadline = time.monotonic() + timeout
    while True:
        n = backends_of(pg_cluster, dbname)
        if n == 0 or time.monotonic() > deadline:
            return n
        time.sleep(0.02)


def test_the_database_runs_no_thread_on_postgresql(pg_url):
    db = Database(pg_url)
    assert db._thread is None and db.backend.dialect == "postgresql"
    names = {t.name for t in threading.enumerate()}
    assert db.execute("SELECT 41 + 1") == [(42,)]
    assert not any(t.name.startswith("evemu-db") for t in threading.enumerate()
                   if t.name not in names)
    db.close()
    with pytest.raises(RuntimeError, match="the database is closed"):
        db.execute("SELECT 1")


def test_a_query_blocks_only_its_tasklet(pg_url):
    db = Database(pg_url)
    ticks = []

    def ticker():
        for _ in range(10):
            loop.sleep(0.02)
            ticks.append(db.execute("SELECT 1")[0][0])

    slow = [None]
    t1 = stackless.tasklet(lambda: slow.__setitem__(0, db.execute("SELECT pg_sleep(1.5), 7")))()
    t2 = stackless.tasklet(ticker)()
    loop.run_until(t2)
    assert ticks == [1] * 10 and slow[0] is None      # all ten while the slow query ran
    loop.run_until(t1)
    assert slow[0] == [("", 7)]
    db.close()


def test_a_thousand_concurrent_calls_use_the_pool_size_and_no_thread(pg_cluster, pg_url):
    db = Database(pg_url, pool_size=4)
    db.create_account("many", C.ROLE_STD, digest=b"d" * 20)
    threads_before = threading.active_count()
    peak = [0]

    def call(i):
        def fn():
            acct = db.get_account("many")

            def inside(conn):
                row = conn.execute("SELECT %s::int * 2", (i,)).fetchone()
                peak[0] = max(peak[0], db.backend.in_use)
                return row[0]
            return acct.name, db.run(inside)
        return fn

    out = run_all([call(i) for i in range(1000)])
    assert out == [("many", 2 * i) for i in range(1000)]
    assert peak[0] == 4 and len(db.backend._all) == 4
    # no thread per query: at most the worker threads that opened the 3 new connections
    # (connect runs on the loop's worker pool; its idle threads leave by themselves)
    assert threading.active_count() <= threads_before + 3
    assert backends_of(pg_cluster, pg_url.rsplit("/", 1)[1]) == 4
    db.close()
    assert backends_after_close(pg_cluster, pg_url.rsplit("/", 1)[1]) == 0


def test_a_full_pool_times_out_with_pool_timeout(pg_url):
    db = Database(pg_url, pool_size=1, acquire_timeout=0.3)
    out = run_all([lambda: db.execute("SELECT pg_sleep(1.2)"),
                   lambda: db.execute("SELECT 1")])
    assert out[0] == [("",)]
    assert isinstance(out[1], PoolTimeout) and "no free connection after 0.3 s" in str(out[1])
    assert db.execute("SELECT 2") == [(2,)]            # the slot came back
    db.close()


def test_a_pool_needs_a_connection():
    with pytest.raises(ValueError, match="at least one connection"):
        from evemu.db.pgpool import PostgreSQLPool
        PostgreSQLPool("postgresql://u@127.0.0.1:1/x", size=0)


def test_a_transaction_left_open_is_rolled_back_not_carried_over(pg_url):
    db = Database(pg_url, pool_size=1)
    db.execute("CREATE TABLE t (x INTEGER)")

    def forgetful(conn):
        conn.execute("BEGIN")
        conn.execute("INSERT INTO t VALUES (1)")     # and neither commit nor rollback
    db.run(forgetful)
    assert db.execute("SELECT count(*) FROM t") == [(0,)]
    # the next call is not inside that transaction: its autocommitted row stays
    db.execute("INSERT INTO t VALUES (2)")
    assert db.execute("SELECT x FROM t") == [(2,)]
    db.close()


def test_a_tasklet_killed_mid_query_leaves_no_broken_connection(pg_cluster, pg_url):
    db = Database(pg_url, pool_size=1)
    db.execute("CREATE TABLE t (x INTEGER)")

    def slow():
        def fn(conn):
            conn.execute("BEGIN")
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("SELECT pg_sleep(30)")
            conn.commit()
        db.run(fn)

    t = stackless.tasklet(slow)()
    for _ in range(300):
        loop.sleep(0.01)
        with pg_cluster.admin() as admin:
            if admin.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE "
                             "'SELECT pg_sleep(30)%' AND state = 'active'").fetchone()[0]:
                break
    t.kill()
    assert not t.alive
    # the connection was dropped (its insert never committed); the pool's slot is free
    assert db.execute("SELECT count(*) FROM t") == [(0,)]
    assert db.backend.reconnects == 1
    db.close()


def test_a_restart_then_new_connections_and_sockets_on_reused_fds(pg_cluster, pg_url):
    """After a server restart every pooled connection is replaced (new sockets, often the old
    fd numbers); nothing of the old fds stays registered with the loop, so sockets opened
    afterwards (which keep their interest) are woken as usual."""
    from stackless import socket as ssock
    db = Database(pg_url, pool_size=3)
    out = run_all([lambda: db.execute("SELECT pg_sleep(0.1), 1") for _ in range(3)])
    assert out == [[("", 1)]] * 3
    pg_cluster.restart()
    out = run_all([lambda: db.execute("SELECT pg_sleep(0.1), 2") for _ in range(3)])
    assert out == [[("", 2)]] * 3 and db.backend.reconnects == 3
    # a new client after the reconnect: a listening socket and a connection through the loop
    srv = ssock.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        conn, _ = srv.accept()
        with conn:
            conn.sendall(conn.recv(100).upper())

    def client():
        with ssock.create_connection(srv.getsockname()) as c:
            c.sendall(b"ping")
            return c.recv(100)
    t = stackless.tasklet(serve)()
    assert run_all([client])[0] == b"PING"
    loop.run_until(t)
    srv.close()
    assert db.execute("SELECT 3") == [(3,)]
    db.close()


def test_calls_from_two_threads_share_one_pool(pg_url):
    db = Database(pg_url, pool_size=2)
    errors, got = [], []

    def worker():
        try:
            got.extend(run_all([lambda: db.execute("SELECT 5")[0][0] for _ in range(50)]))
        except BaseException as e:                    # noqa: BLE001 -- reported below
            errors.append(e)
    ts = [threading.Thread(target=worker) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors and got == [5] * 100
    db.close()
