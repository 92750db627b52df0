"""Database call latency on both backends, and the two ways to keep PostgreSQL off the loop.

    python benchmarks/bench_db_latency.py [--n 2000] [--tasklets 200] [--pg URL]
                                          [--switchinterval 0.0005]

Without ``--pg`` it starts a throw-away PostgreSQL (tests/pg_helpers.py; Debian's binaries).
Prints one table:

- ``Database.get_account``: a single-row call as the server makes it, from a tasklet, through
  the database thread (what evemu.db does on both backends): p50/p99 in microseconds.
- ``backend direct``: the same call without the thread hop (the driver and server alone).
- ``non-blocking on loop``: PostgreSQL only; the same query sent with libpq's non-blocking API
  (psycopg.pq) from the tasklet, waiting on the socket with ``stackless.loop.wait_readable``.
- ``concurrent``: ``--tasklets`` tasklets making 20 calls each at once; calls per second.  The
  database thread has one connection; the non-blocking variant has a pool of 4 connections,
  and "4 db threads" spreads the calls over 4 Databases (4 threads, 4 connections).
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
        for label, target in (("sqlite (file, WAL)", os.path.join(tmp, "b.sqlite3")),
                              ("postgresql (127.0.0.1)", url)):
            db = Database(target)
            db.create_account("bench", C.ROLE_STD, digest=b"d" * 20)
            in_tasklet(lambda: timed(lambda: db.get_account("bench"), 200))     # warm up
            p = pct(in_tasklet(lambda: timed(lambda: db.get_account("bench"), a.n)))
            rows.append((label, "Database.get_account (db thread)", *p))
            p = pct(timed(lambda: db.backend.get_account("bench"), a.n))
            rows.append((label, "backend direct (no thread hop)", *p))
            cps = concurrent(lambda: db.get_account("bench"), a.tasklets)
            rows.append((label, f"concurrent, {a.tasklets} tasklets, db thread", None, cps))
            if target == url:
                nb = NonBlockingPG(url, 4)
                assert in_tasklet(lambda: nb.query("bench"))[0][1] == b"bench"
                in_tasklet(lambda: timed(lambda: nb.query("bench"), 200))
                p = pct(in_tasklet(lambda: timed(lambda: nb.query("bench"), a.n)))
                rows.append((label, "non-blocking libpq on loop", *p))
                cps = concurrent(lambda: nb.query("bench"), a.tasklets)
                rows.append((label, f"concurrent, {a.tasklets} tasklets, non-blocking x4",
                             None, cps))
                nb.close()
                pool = [db] + [Database(url) for _ in range(3)]
                rr = iter(range(10 ** 9))
                cps = concurrent(lambda: pool[next(rr) % 4].get_account("bench"), a.tasklets)
                rows.append((label, f"concurrent, {a.tasklets} tasklets, 4 db threads",
                             None, cps))
                for extra in pool[1:]:
                    extra.close()
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
            print(f"{label:<24} {what:<44} {p50:>8.0f} {p99:>8.0f} {'':>9}")


if __name__ == "__main__":
    main()
