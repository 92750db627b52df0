"""Database call latency on both backends, and the ways to keep PostgreSQL off the loop.

    python benchmarks/bench_db_latency.py [--n 2000] [--tasklets 200] [--pg URL]
                                          [--switchinterval 0.0005]

Without ``--pg`` it starts a throw-away PostgreSQL (tests/pg_helpers.py; Debian's binaries).
Prints one table:

- ``Database.get_account``: a single-row call as the server makes it, from a tasklet: SQLite
  through the database thread, PostgreSQL on a pooled connection driven by the loop (what
  evemu.db does): p50/p99 in microseconds.
- ``backend direct``: the same call without the thread hop or the pool (driver and server alone;
  on PostgreSQL the loop connection's waits, from the main tasklet).
- ``Database.run, no statement``: ``db.run`` of a function that sends nothing: what is ours
  around every statement (SQLite: the thread hop; PostgreSQL: the pool's checkout, the
  connection's idle probe, the release's reset).
- ``db thread (previous design)``: PostgreSQL only; a blocking psycopg connection on one
  database thread, the tasklet waiting on an Event (what evemu.db did before the pool).
- ``raw libpq on loop``: PostgreSQL only; the same query sent with psycopg.pq's non-blocking
  API by hand, waiting with ``stackless.loop.wait_readable`` (the floor for the loop design).
- ``concurrent``: ``--tasklets`` tasklets making 20 calls each at once; calls per second.
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

import stackless                                      # noqa: E402
from stackless import loop, sync                       # noqa: E402

from evemu.db import Database                          # noqa: E402
from evemu.machonet import constants as C             # noqa: E402


def pct(samples):
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def in_tasklet(fn):
    box = []
    t = stackless.tasklet(lambda: box.append(fn()))()
    loop.run_until(t)
    return box[0]


class NonBlockingPG:
    """The alternative design: libpq's non-blocking API driven from the loop, K connections."""
    SQL = b"SELECT accountID, accountName, role FROM account WHERE accountName = $1"

    def __init__(self, url, k):
        from psycopg import pq
        self.pq = pq
        self.free = sync.Queue()
        self.conns = []
        for _ in range(k):
            c = pq.PGconn.connect(url.encode())
            if c.status != pq.ConnStatus.OK:
                raise RuntimeError(c.error_message.decode())
            c.nonblocking = 1
            self.conns.append(c)
            self.free.put(c)

    def query(self, name):
        c = self.free.get()
        try:
            c.send_query_params(self.SQL, [name.encode()])
            while c.flush() == 1:
                loop.wait_writable(c.socket)
            while True:
                c.consume_input()
                if not c.is_busy():
                    break
                loop.wait_readable(c.socket)
            rows = []
            while (res := c.get_result()) is not None:
                if res.status != self.pq.ExecStatus.TUPLES_OK:
                    raise RuntimeError(res.error_message.decode())
                rows += [tuple(res.get_value(r, f) for f in range(res.nfields))
                         for r in range(res.ntuples)]
            return rows
        finally:
            self.free.put(c)

    def close(self):
        for c in self.conns:
            c.finish()


class ThreadedPG:
    """The previous design: one blocking psycopg connection on one database thread."""

    def __init__(self, url):
        import psycopg
        from stackless._io_threads import IdleThreadPool
        from evemu.db.postgres import PostgreSQLBackend
        self.thread = IdleThreadPool(max_workers=1, idle=1.0, name="bench-db")
        self.backend = self._run(PostgreSQLBackend.__new__, PostgreSQLBackend)
        b = self.backend
        b._psycopg, b._url, b.path, b.reconnects = psycopg, url, url, 0
        b.conn = self._run(lambda: psycopg.connect(url, autocommit=True))

    def _run(self, fn, *args):
        done = sync.Event()
        fut = self.thread.submit(fn, *args)
        fut.add_done_callback(lambda f: done.set())
        done.wait()
        return fut.result()

    def get_account(self, name):
        return self._run(self.backend.get_account, name)

    def close(self):
        self._run(self.backend.conn.close)
        self.thread.shutdown(wait=True)


def _nothing(conn):
    return None


def concurrent(call, tasklets, per=20):
    def worker():
        for _ in range(per):
            call()
    t0 = time.perf_counter()
    ts = [stackless.tasklet(worker)() for _ in range(tasklets)]
    for t in ts:
        loop.run_until(t)
    return tasklets * per / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--tasklets", type=int, default=200)
    ap.add_argument("--pg", help="postgresql:// URL of an empty database (default: a "
                                 "throw-away cluster)")
    ap.add_argument("--switchinterval", type=float, default=None,
                    help="sys.setswitchinterval (the GIL hand-over; default 0.005 s)")
    a = ap.parse_args()
    if a.switchinterval:
        sys.setswitchinterval(a.switchinterval)
    cluster = None
    url = a.pg
    if url is None:
        from pg_helpers import PgCluster
        cluster = PgCluster().start()
        url = cluster.url(cluster.create_database())
    tmp = tempfile.mkdtemp(prefix="evemu-bench-db-")
    rows = []
    try:
        targets = [("sqlite (file, WAL)", os.path.join(tmp, "b.sqlite3")),
                   ("postgresql (127.0.0.1)", url)]
        if cluster is not None:           # the same database through the unix socket
            unix = f"{url.split('@')[0]}@/{url.rsplit('/', 1)[1]}?host={cluster.root}" \
                   f"&port={cluster.port}"
            targets.append(("postgresql (unix sock)", unix))
        for label, target in targets:
            db = Database(target)
            if target != targets[0][1] and db.get_account("bench") is not None:
                db.delete_account("bench")
            db.create_account("bench", C.ROLE_STD, digest=b"d" * 20)
            in_tasklet(lambda: timed(lambda: db.get_account("bench"), 200))     # warm up
            p = pct(in_tasklet(lambda: timed(lambda: db.get_account("bench"), a.n)))
            how = "db thread" if label.startswith("sqlite") else "pool on the loop"
            rows.append((label, f"Database.get_account ({how})", *p))
            if not label.startswith("sqlite"):
                direct = db._pool.acquire()
                p = pct(timed(lambda: direct.get_account("bench"), a.n))
                db._pool.release(direct)
            else:
                p = pct(timed(lambda: db.backend.get_account("bench"), a.n))
            rows.append((label, "backend direct (no thread hop, no pool)", *p))
            # what is ours around a statement: the thread hop (SQLite), or the pool's checkout,
            # the connection's probe and the release's reset (PostgreSQL)
            in_tasklet(lambda: timed(lambda: db.run(_nothing), 200))
            p = pct(in_tasklet(lambda: timed(lambda: db.run(_nothing), a.n)))
            rows.append((label, "Database.run, no statement (our own cost)", *p))
            cps = concurrent(lambda: db.get_account("bench"), a.tasklets)
            rows.append((label, f"concurrent, {a.tasklets} tasklets, {how}", None, cps))
            if target == url:
                old = ThreadedPG(url)
                in_tasklet(lambda: timed(lambda: old.get_account("bench"), 200))
                p = pct(in_tasklet(lambda: timed(lambda: old.get_account("bench"), a.n)))
                rows.append((label, "db thread (previous design)", *p))
                cps = concurrent(lambda: old.get_account("bench"), a.tasklets)
                rows.append((label, f"concurrent, {a.tasklets} tasklets, db thread", None, cps))
                old.close()
                nb = NonBlockingPG(url, 4)
                assert in_tasklet(lambda: nb.query("bench"))[0][1] == b"bench"
                in_tasklet(lambda: timed(lambda: nb.query("bench"), 200))
                p = pct(in_tasklet(lambda: timed(lambda: nb.query("bench"), a.n)))
                rows.append((label, "raw libpq on loop", *p))
                cps = concurrent(lambda: nb.query("bench"), a.tasklets)
                rows.append((label, f"concurrent, {a.tasklets} tasklets, raw libpq x4",
                             None, cps))
                nb.close()
            db.close()
    finally:
        if cluster is not None:
            cluster.remove()
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'backend':<24} {'what':<44} {'p50 us':>8} {'p99 us':>8} {'calls/s':>9}")
    for label, what, p50, p99 in rows:
        if p50 is None:
            print(f"{label:<24} {what:<44} {'':>8} {'':>8} {p99:>9.0f}")
        else:
            d = 1 if p50 < 10 else 0            # a few microseconds: one decimal
            print(f"{label:<24} {what:<44} {p50:>8.{d}f} {p99:>8.{d}f} {'':>9}")


if __name__ == "__main__":
    main()
