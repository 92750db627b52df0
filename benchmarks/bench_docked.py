"""Docked characters: the in-station fan-out over loopback and the memory a docked character
costs (server and clients in one process, one thread, like the tests; clients are tasklets).

    python benchmarks/bench_docked.py [--clients 200]

Every client logs in, creates and selects a character (all in one station, so each arrival
notifies every guest already there), then makes the station fan-out: GetStation, GetGuests,
invbroker bind + hangar and ship List, dogmaIM bind + GetAllInfo, charMgr.GetPublicInfo3,
account.GetCashBalance, then stays connected.  Prints fan-outs/s, the p50/p99 latency of one
fan-out, and the RSS growth per docked character (VmRSS before/after, divided by the clients;
it includes the client side of each connection, which lives in the same process).
"""
import argparse
import gc
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
STATION = 60014689                  # Gallente school station (bloodline 7, ancestry 13, 20)


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fan_out(c, ship):
    c.call("stationSvc", "GetStation", STATION)
    c.call("station", "GetGuests")
    oid, _ = c.call("invbroker", "MachoBindObject", (STATION, 15), None)
    broker = oid.value.value[0].decode()
    hangar = c.call_bound(broker, "GetInventory", 10004).value.value[0].decode()
    c.call_bound(hangar, "List")
    ship_inv = c.call_bound(broker, "GetInventoryFromId", ship, 0).value.value[0].decode()
    c.call_bound(ship_inv, "List")
    c.call("dogmaIM", "MachoBindObject", (STATION, 15), (b"GetAllInfo", (True, True), {}))
    c.call("charMgr", "GetPublicInfo3", c.session["charid"])
    c.call("account", "GetCashBalance", 0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=200)
    args = p.parse_args()
    n = args.clients
    lat, errors, clients = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(os.path.join(tmp, "bench.sqlite3"))
        with running_server(db=db, debug_services=False) as server:
            gc.collect()
            before = rss_kib()

            def one(i):
                try:
                    c = Client.connect(server.address)
                    clients.append(c)
                    c.login(f"dock{i:05d}", "pw")
                    cid = c.call("charUnboundMgr", "CreateCharacterWithDoll",
                                 f"Dock Pilot{i}", 7, i % 2, 13, KV, KV, 20)
                    c.call("charUnboundMgr", "SelectCharacterID", cid)
                    t0 = time.perf_counter()
                    fan_out(c, c.session["shipid"])
                    lat.append(time.perf_counter() - t0)
                except Exception as e:
                    errors.append(repr(e))

            start = time.perf_counter()
            tasks = [stackless.tasklet(one)(i) for i in range(n)]
            for t in tasks:
                loop.run_until(t)
            wall = time.perf_counter() - start
            gc.collect()
            after = rss_kib()
            guests = len(server.services.lookup("station").guests.get(STATION, {}))
            for c in clients:
                c.close()
        db.close()
    if errors:
        raise SystemExit(f"{len(errors)} errors, first: {errors[0]}")
    lat.sort()
    print(f"python {sys.version.split()[0]}, {n} clients (tasklets), one station, loopback, "
          f"SQLite file")
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'login+create+select+fan-out, clients/s':<44}{n / wall:>12.0f}")
    print(f"{'fan-out p50 ms':<44}{statistics.median(lat) * 1e3:>12.1f}")
    print(f"{'fan-out p99 ms':<44}{lat[max(0, int(len(lat) * 0.99) - 1)] * 1e3:>12.1f}")
    print(f"{'guests in the station at the end':<44}{guests:>12d}")
    print(f"{'RSS per docked character KiB (incl. client)':<44}{(after - before) / n:>12.1f}")


if __name__ == "__main__":
    main()
