"""Player clients in space over loopback: N clients undocked into one bubble of one system,
receiving each tick's DoDestinyUpdate from the system tasklet (1 Hz, the real one), each giving
a command about every ``--period`` seconds.  Server and clients in one process, one thread
(clients are tasklets), like the tests.

    python benchmarks/bench_space_clients.py [--clients 200] [--seconds 20] [--period 10]

Prints bytes/s received per client (DoDestinyUpdate frames only), updates/s per client, the
latency from a command being sent to every *other* client in the bubble having received it
(p50/p99/max, ms; a command waits for the next tick boundary by design, so up to one tick
plus delivery), the same measured from that tick boundary, how many arrived within 250 ms of
it, and the system tick's own duration (integrate + marshal and queue one notification per
client).
"""
import argparse
import os
import random
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
from evemu.machonet import constants as C  # noqa: E402
from evemu.machonet.packets import Address, parse_packet  # noqa: E402
from evemu.services.space import SpaceWorld  # noqa: E402
from evemu.wire import marshal  # noqa: E402
from evemu.wire.marshal import Instance  # noqa: E402

KV = Instance("util.KeyVal", {})
STATION = 60014689
SYSTEM = 30004971


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(q * len(xs))) - 1))] if xs else float("nan")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--period", type=float, default=10.0)
    args = p.parse_args()
    n = args.clients
    clients, parks, errors = [], {}, []
    sent = {}                       # (ship, fraction) -> perf_counter at send
    arrivals = {}                   # (ship, fraction) -> [latency, ...] (other clients)
    bytes_in, updates_in = [0] * n, [0] * n
    window = {"on": False, "end": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(os.path.join(tmp, "bench.sqlite3"))
        with running_server(db=db, debug_services=False) as server:
            world = SpaceWorld.of(server)
            clk = world.space.clock

            def setup(i):
                try:
                    c = Client.connect(server.address)
                    c.login(f"space{i:05d}", "pw")
                    cid = c.call("charUnboundMgr", "CreateCharacterWithDoll",
                                 f"Space Pilot{i}", 7, i % 2, 13, KV, KV, 20)
                    c.call("charUnboundMgr", "SelectCharacterID", cid)
                    oid, _ = c.call("ship", "MachoBindObject", (STATION, 15), None)
                    c.call_bound(oid.value.value[0].decode(), "Undock", c.session["shipid"],
                                 False)
                    oid, _ = c.call("beyonce", "MachoBindObject", SYSTEM, None)
                    parks[i] = oid.value.value[0].decode()
                    clients.append((i, c))
                except Exception as e:
                    errors.append(repr(e))

            t_setup = time.perf_counter()
            for t in [stackless.tasklet(setup)(i) for i in range(n)]:
                loop.run_until(t)
            t_setup = time.perf_counter() - t_setup
            if errors:
                raise SystemExit(f"{len(errors)} setup errors, first: {errors[0]}")
            system = world.space.systems[SYSTEM]
            ships = {i: c.session["shipid"] for i, c in clients}
            bubbles = {id(system.park.get(s).bubble) for s in ships.values()}

            def reader(i, c):
                me = ships[i]
                try:
                    while True:
                        payload = c.reader.read_frame()
                        if payload is None:
                            return
                        now = clk()
                        pkt = parse_packet(marshal.loads(payload))
                        if pkt.type != C.NOTIFICATION or \
                                pkt.destination.id not in ("DoDestinyUpdate",
                                                           b"DoDestinyUpdate"):
                            continue
                        if not window["on"]:
                            continue
                        bytes_in[i] += len(payload) + 4
                        updates_in[i] += 1
                        for _stamp, (name, a) in c.notification_args(pkt)[0]:
                            if name == b"SetSpeedFraction" and a[0] != me:
                                key = (a[0], a[1])
                                t0 = sent.get(key)
                                if t0 is not None:
                                    arrivals.setdefault(key, []).append(
                                        (now - t0, now - world.space.next_tick_time(t0)))
                except (OSError, ConnectionError):
                    return

            def commander(i, c):
                rnd = random.Random(i)
                seq = 0
                loop.sleep(rnd.uniform(0.0, args.period))
                while window["on"] and time.perf_counter() < window["end"] - 1.5:
                    seq += 1
                    frac = round(0.5 + ((i * 37 + seq) % 4000) / 10000.0, 4)
                    call_id, pkt = c.call_packet(None, "CmdSetSpeedFraction", frac,
                                                 target=parks[i].encode())
                    pkt.destination = Address.node(None)
                    sent[(ships[i], frac)] = clk()
                    c.send(pkt.to_wire())
                    loop.sleep(args.period)

            readers = [stackless.tasklet(reader)(i, c) for i, c in clients]
            loop.sleep(1.5)                       # the bind's SetStates are read
            system.keep_tick_times = True
            system.tick_times.clear()
            window["on"] = True
            window["end"] = time.perf_counter() + args.seconds
            cmds = [stackless.tasklet(commander)(i, c) for i, c in clients]
            loop.sleep(args.seconds)
            window["on"] = False
            ticks = list(system.tick_times)
            for t in cmds:
                if t.alive:
                    t.kill()
            for _i, c in clients:
                c.close()
            for t in readers:
                if t.alive:
                    t.kill()
        db.close()
    pairs = [x for xs in arrivals.values() for x in xs]
    lat = [a for a, _b in pairs]
    after_tick = [b for _a, b in pairs]
    expected = len(sent) * (n - 1)
    by_next_tick = sum(1 for b in after_tick if b < 0.25)
    per_client_bps = [b / args.seconds for b in bytes_in]
    print(f"python {sys.version.split()[0]}, {n} clients (tasklets) in one system, "
          f"{len(bubbles)} bubble(s), loopback, one process; {args.seconds:.0f} s window, "
          f"a command per client every {args.period:.0f} s; setup {t_setup:.1f} s")
    print(f"| {'measure':<52} | {'p50':>9} | {'p99':>9} | {'max':>9} |")
    print(f"|{'-' * 54}|{'-' * 11}|{'-' * 11}|{'-' * 11}|")
    print(f"| {'DoDestinyUpdate bytes/s per client':<52} | "
          f"{statistics.median(per_client_bps):>9.0f} | {pct(per_client_bps, 0.99):>9.0f} | "
          f"{max(per_client_bps):>9.0f} |")
    ups = [u / args.seconds for u in updates_in]
    print(f"| {'DoDestinyUpdate notifications/s per client':<52} | "
          f"{statistics.median(ups):>9.2f} | {pct(ups, 0.99):>9.2f} | {max(ups):>9.2f} |")
    if lat:
        print(f"| {'command sent -> other client has it (ms)':<52} | "
              f"{statistics.median(lat) * 1e3:>9.1f} | {pct(lat, 0.99) * 1e3:>9.1f} | "
              f"{max(lat) * 1e3:>9.1f} |")
        print(f"| {'next tick boundary -> other client has it (ms)':<52} | "
              f"{statistics.median(after_tick) * 1e3:>9.1f} | "
              f"{pct(after_tick, 0.99) * 1e3:>9.1f} | {max(after_tick) * 1e3:>9.1f} |")
    if ticks:
        print(f"| {'system tick() incl. flush to every client (ms)':<52} | "
              f"{statistics.median(ticks) * 1e3:>9.1f} | {pct(ticks, 0.99) * 1e3:>9.1f} | "
              f"{max(ticks) * 1e3:>9.1f} |")
    print(f"commands sent {len(sent)}; deliveries to other clients {len(lat)} of {expected} "
          f"expected; {by_next_tick} of them less than 250 ms after the first tick boundary "
          f"following the command (i.e. flushed by the next tick)")


if __name__ == "__main__":
    main()
