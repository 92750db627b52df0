"""Latency of a skill queue change (``skills.save_queue``, what SaveSkillQueue runs) on both
backends, to price the account rule's lock and check (docs/world.md, skill training).

    python benchmarks/bench_skill_queue.py [--n 400] [--others 4] [--pg URL]

One account with ``--others`` + 1 characters (the others idle); the first saves
``[(Mining, 2), (Gunnery, 3)]`` and ``[(Gunnery, 3), (Mining, 2)]`` in turn, so every call
stops one skill and starts another (history rows, flags, the queue rewritten).  Prints p50 and
p99 in microseconds per backend.  Without ``--pg`` it starts a throw-away PostgreSQL
(tests/pg_helpers.py).  To compare with older code, run it with ``PYTHONPATH`` set to the
other checkout (only APIs that predate the rule are used).
"""
import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

from evemu.db import Database, filetime_now           # noqa: E402
from evemu.db import characters as chars               # noqa: E402
from evemu.db import skills                             # noqa: E402
from evemu.machonet import constants as C              # noqa: E402

GUNNERY, MINING = 3300, 3386
QUEUES = ([(MINING, 2), (GUNNERY, 3)], [(GUNNERY, 3), (MINING, 2)])


def pct(samples):
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


def measure(target, n, others):
    db = Database(target)
    try:
        db.start_up()
        acct = db.create_account("bench", C.ROLE_STD, digest=b"d" * 20)
        cids = [db.run(chars.create_character, acct.id, f"Bench Pilot{i}", 7, 1, 13, 20,
                       filetime_now()) for i in range(others + 1)]
        out = []
        for i in range(n + 20):
            t = time.perf_counter()
            db.run(skills.save_queue, cids[0], QUEUES[i % 2], filetime_now())
            if i >= 20:                                  # warm-up left out
                out.append(time.perf_counter() - t)
        return pct(out)
    finally:
        db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--others", type=int, default=4)
    ap.add_argument("--pg", help="postgresql:// URL of an empty database (default: a "
                                 "throw-away cluster)")
    args = ap.parse_args()
    cluster = None
    url = args.pg
    if url is None:
        from pg_helpers import PgCluster
        cluster = PgCluster().start()
        url = cluster.url(cluster.create_database())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [("sqlite (file)", measure(os.path.join(tmp, "q.sqlite3"), args.n,
                                              args.others)),
                    ("postgresql", measure(url, args.n, args.others))]
    finally:
        if cluster is not None:
            cluster.remove()
    print(f"save_queue, {args.n} calls, {args.others} idle characters beside "
          f"(evemu from {os.path.dirname(os.path.dirname(skills.__file__))})")
    for name, (p50, p99) in rows:
        print(f"  {name:14s} p50 {p50:8.0f} us   p99 {p99:8.0f} us")


if __name__ == "__main__":
    main()
