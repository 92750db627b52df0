"""Player clients in space over loopback: N clients undocked into one bubble of one system,
receiving each tick's DoDestinyUpdate from the system tasklet (1 Hz, the real one), each giving
a command about every ``--period`` seconds.  Server and clients in one process, one thread
(clients are tasklets), like the tests.

    python benchmarks/bench_space_clients.py [--clients 200] [--seconds 20] [--period 10]
                                             [--server-process]

With ``--server-process`` the server is ``python -m evemu serve`` in its own process (the
clients' decoding no longer shares the server's CPU; the tick-duration row is then absent).

Prints bytes/s received per client (DoDestinyUpdate frames only), updates/s per client, the
latency from a command being sent to every *other* client in the bubble having received it
(p50/p99/max, ms; a command waits for the next tick boundary by design, so up to one tick
plus delivery), the same measured from that tick boundary, how many arrived within 250 ms of
it, and the system tick's own duration (integrate + marshal and queue one notification per
client).
"""
import argparse
import contextlib
import gc
import os
import random
import re
import subprocess
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


@contextlib.contextmanager
def server_process(tmp):
    """``python -m evemu serve`` on a free loopback port with its own database in ``tmp``;
    yields its address."""
    env = dict(os.environ, HOME=tmp, XDG_DATA_HOME=tmp)
    proc = subprocess.Popen([sys.executable, "-m", "evemu", "serve", "--port", "0", "--db",
                             os.path.join(tmp, "server.sqlite3"), "--log-level", "INFO"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=tmp)
    address = None
    try:
        for line in proc.stdout:
            m = re.search(r"listening on ([\d.]+):(\d+)", line)
            if m:
                address = (m.group(1), int(m.group(2)))
            if "ready for Crucible clients" in line:
                break
        if address is None:
            raise SystemExit("the server did not start")
        import threading
        threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
        yield address
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def in_process_server(tmp):
    db = Database(os.path.join(tmp, "bench.sqlite3"))
    try:
        with running_server(db=db, debug_services=False) as server:
            yield server
    finally:
        db.close()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--period", type=float, default=10.0)
    p.add_argument("--per-tick", action="store_true",
                   help="also print, per flush tick, the deliveries and their lateness")
    p.add_argument("--server-process", action="store_true",
                   help="run the server as python -m evemu serve in its own process")
    args = p.parse_args()
    n = args.clients
    clients, parks, errors = [], {}, []
    sent = {}                       # (ship, fraction) -> perf_counter at send
    arrivals = {}                   # (ship, fraction) -> [latency, ...] (other clients)
    bytes_in, updates_in = [0] * n, [0] * n
    window = {"on": False, "end": 0.0}
    with tempfile.TemporaryDirectory() as tmp, \
            (server_process(tmp) if args.server_process else in_process_server(tmp)) as srv:
        if args.server_process:
            address, world = srv, None
        else:
            address, world = srv.address, SpaceWorld.of(srv)
        if True:
            clk = loop.time

            def setup(i):
                try:
                    c = Client.connect(address)
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
            system = world.space.systems[SYSTEM] if world is not None else None
            ships = {i: c.session["shipid"] for i, c in clients}
            bubbles = ({id(system.park.get(s).bubble) for s in ships.values()}
                       if system is not None else {"?"})

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
                        for stamp, (name, a) in c.notification_args(pkt)[0]:
                            if name == b"SetSpeedFraction" and a[0] != me:
                                key = (a[0], a[1])
                                t0 = sent.get(key)
                                if t0 is not None:
                                    arrivals.setdefault(key, []).append(
                                        (now - t0, now, stamp))
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

            # the measuring side keeps ~1 M arrival records: no collector pauses in this
            # process during the window (they stalled a whole tick's reading by 1.5 s)
            gc.collect()
            gc.freeze()
            gc.disable()
            readers = [stackless.tasklet(reader)(i, c) for i, c in clients]
            loop.sleep(1.5)                       # the bind's SetStates are read
            if system is not None:
                system.keep_tick_times = True
                system.tick_times.clear()
            window["on"] = True
            window["end"] = time.perf_counter() + args.seconds
            cmds = [stackless.tasklet(commander)(i, c) for i, c in clients]
            loop.sleep(args.seconds)
            window["on"] = False
            ticks = list(system.tick_times) if system is not None else []
            gc.enable()
            for t in cmds:
                if t.alive:
                    t.kill()
            for _i, c in clients:
                c.close()
            for t in readers:
                if t.alive:
                    t.kill()
    got = [x for xs in arrivals.values() for x in xs]
    lat = [a for a, _now, _st in got]
    # the flush of an action stamped S is the tick S+1, at t0 + (S+1-1000) s of the server's
    # clock: known in process; for a server process t0 is estimated from the fastest delivery
    # (so the figures below are then low by that delivery's own latency, ~1 ms on loopback)
    if world is not None:
        t0 = world.space.t0
    else:
        t0 = min(now - (st + 1 - 1000) for _a, now, st in got) if got else 0.0
    after_tick = [now - (t0 + (st + 1 - 1000)) for _a, now, st in got]
    expected = len(sent) * (n - 1)
    by_next_tick = sum(1 for b in after_tick if b < 0.25)
    per_client_bps = [b / args.seconds for b in bytes_in]
    where = ("server in its own process (python -m evemu serve)" if args.server_process
             else "server and clients in one process")
    print(f"python {sys.version.split()[0]}, {n} clients (tasklets) in one system, "
          f"{len(bubbles)} bubble(s), loopback, {where}; {args.seconds:.0f} s window, "
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
    if args.per_tick:
        by = {}
        for (_a, now, st), late in zip(got, after_tick):
            by.setdefault(st + 1, []).append(late)
        for st in sorted(by):
            xs = by[st]
            print(f"  tick {st}: {len(xs):7d} deliveries, after the boundary min "
                  f"{min(xs) * 1e3:7.1f} ms, p50 {statistics.median(xs) * 1e3:7.1f} ms, "
                  f"max {max(xs) * 1e3:7.1f} ms")
    print(f"commands sent {len(sent)}; deliveries to other clients {len(lat)} of {expected} "
          f"expected; {by_next_tick} of them less than 250 ms after the first tick boundary "
          f"following the command (i.e. flushed by the next tick)")


if __name__ == "__main__":
    main()
