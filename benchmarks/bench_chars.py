"""Character creation and selection throughput over loopback (server and clients in one
process, one thread, like the tests; clients are tasklets).

    python benchmarks/bench_chars.py [--clients 200]

Phase 1: every client logs in (own account) and creates one character
(CreateCharacterWithDoll: one transaction with ~30 rows).  Phase 2: every client logs in again
and selects its character (SelectCharacterID: session change + MOTD).  Prints a table of
operations per second (wall clock of the whole phase, logins included) and the p50/p99
latency of the calls after the login.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import stackless
from stackless import loop

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from server_helpers import running_server  # noqa: E402

from evemu.client import Client  # noqa: E402
from evemu.db import Database  # noqa: E402
from evemu.wire.marshal import Instance  # noqa: E402

KV = Instance("util.KeyVal", {})
RACES = [(1, 10, 17), (3, 19, 14), (5, 1, 11), (7, 13, 20)]


def phase(address, n, body):
    lat = []
    errors = []

    def one(i):
        try:
            with Client.connect(address) as c:
                c.login(f"bench{i:05d}", "pw")
                t0 = time.perf_counter()
                body(c, i)
                lat.append(time.perf_counter() - t0)
        except Exception as e:
            errors.append(repr(e))

    start = time.perf_counter()
    tasks = [stackless.tasklet(one)(i) for i in range(n)]
    for t in tasks:
        loop.run_until(t)
    wall = time.perf_counter() - start
    if errors:
        raise SystemExit(f"{len(errors)} errors, first: {errors[0]}")
    lat.sort()
    return n / wall, statistics.median(lat) * 1e3, lat[int(len(lat) * 0.99) - 1] * 1e3


def create(c, i):
    bl, anc, school = RACES[i % 4]
    c.call("charUnboundMgr", "CreateCharacterWithDoll", f"Bench Pilot{i}", bl, i % 2, anc,
           KV, KV, school)


def select(c, i):
    cid = c.call("charUnboundMgr", "GetCharactersToSelect").list[0].characterID
    c.call("charUnboundMgr", "SelectCharacterID", cid)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(os.path.join(tmp, "bench.sqlite3"))
        with running_server(db=db, debug_services=False) as server:
            rows = [("create character", *phase(server.address, args.clients, create)),
                    ("select character", *phase(server.address, args.clients,
                                                        select))]
        db.close()
    print(f"python {sys.version.split()[0]}, {args.clients} clients (tasklets), loopback, "
          f"SQLite file (WAL)")
    print(f"{'operation':<26}{'per s':>9}{'p50 ms':>9}{'p99 ms':>9}")
    for name, rate, p50, p99 in rows:
        print(f"{name:<26}{rate:>9.0f}{p50:>9.1f}{p99:>9.1f}")


if __name__ == "__main__":
    main()
