"""Benchmark: one process flying N NPC ships as tasklets across solar systems at 1 Hz.

    python benchmarks/bench_space.py                      # 100,000 NPCs, 20 systems, 20 ticks
    python benchmarks/bench_space.py --npcs 10000 --ticks 5
    python benchmarks/bench_space.py --kernel python      # without numpy

Each NPC is its own tasklet running a blocking-style routine (40 % patrol between points,
30 % orbit a structure, 20 % follow another NPC, 10 % warp between celestials, resting 5 to
40 ticks at each, drawn per NPC so that the warps do not all start in the same tick).
Every system is its own tasklet ticking on stackless.loop at the space's
1 Hz boundaries.  For each tick a monitor tasklet, woken just after the boundary, yields until
it is the only runnable tasklet left: the tick's duration is from the boundary to that moment
(every system ticked, every woken NPC ran its routine until it blocked again), so it includes
the timer lateness.  Also printed: the CPU time of each second (process_time), the systems'
own tick work, spawn time and RSS (VmHWM / VmRSS from /proc/self/status).

Targets (issue 11): p99 tick <= 250 ms with 100,000 NPCs, RSS <= 2 GB.
"""

import argparse
import gc
import math
import os
import random
import sys
import time

import stackless
from stackless import loop

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from evemu.world.space import Space  # noqa: E402
from evemu.world.space.npc import follow_ball, orbit_structure, patrol, warp_between  # noqa


def rss_mb():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) / 1024.0
    return out


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def populate(space, n_systems, n_npcs, rng):
    per = [n_npcs // n_systems + (1 if i < n_npcs % n_systems else 0) for i in range(n_systems)]
    ship_id = 1_000_000_000
    kinds = {"patrol": 0, "orbit": 0, "follow": 0, "warp": 0}
    for si, count in enumerate(per):
        s = space.system(30_000_000 + si)
        station = 60_000_000 + si * 10
        s.add_static(station, (0.0, 0.0, 0.0), 5000.0, dockable=True)
        celestials = []
        for j in range(3):
            cid = 40_000_000 + si * 10 + j
            s.add_static(cid, (rng.uniform(-3e11, 3e11), rng.uniform(-3e11, 3e11),
                               rng.uniform(-1e10, 1e10)), 1_000_000.0)
            celestials.append(cid)
        first_ids = []
        for k in range(count):
            ship_id += 1
            pos = (rng.uniform(-1e5, 1e5), rng.uniform(-1e5, 1e5), rng.uniform(-1e4, 1e4))
            r = rng.random()
            if r < 0.4:
                pts = [(rng.uniform(-1e5, 1e5), rng.uniform(-1e5, 1e5), 0.0) for _ in range(3)]
                routine, args, kind = patrol, (pts,), "patrol"
            elif r < 0.7:
                routine, args, kind = orbit_structure, (station, rng.uniform(2e3, 3e4)), "orbit"
            elif r < 0.9 and first_ids:
                routine, args, kind = follow_ball, (rng.choice(first_ids), 2500.0), "follow"
            else:
                routine, args, kind = (warp_between, (celestials + [station],
                                                      rng.randint(5, 40)), "warp")
            s.spawn_npc(ship_id, pos, routine, args, radius=40.0, mass=rng.uniform(1e6, 1.5e6),
                        inertia=rng.uniform(2.5, 3.5), max_speed=rng.uniform(250.0, 400.0))
            kinds[kind] += 1
            if kind != "warp" and len(first_ids) < 200:
                first_ids.append(ship_id)
        stackless.run()         # let this system's NPCs start and block
    return kinds


def encoding_figures(n=1000):
    """Microseconds per ship to snapshot, encode (struct) and decode the binary state, and to
    build + marshal an AddBalls2 DoDestinyUpdate (best of 5)."""
    from evemu.world.space import destiny
    from evemu.world.space.ball import decode_state, encode_state
    from evemu.world.space.park import Ballpark
    bp = Ballpark()
    st = bp.add_ball(1, (0.0, 0.0, 0.0), 5000.0, static=True)
    bs = [bp.add_ball(100 + i, (i * 10.0, 0.0, 0.0), 40.0, mass=1e6, inertia=3.0,
                      max_speed=300.0) for i in range(n)]
    for i, b in enumerate(bs):
        if i % 2:
            bp.orbit(b, st, 5000.0)
    bp.tick()
    states = [b.state() for b in bs]
    enc = encode_state(states, 1000)
    rows = []
    for name, fn in [("Ball.state() snapshot", lambda: [b.state() for b in bs]),
                     ("encode_state (struct)", lambda: encode_state(states, 1000)),
                     ("decode_state (struct)", lambda: decode_state(enc)),
                     ("AddBalls2 + marshal.dumps", lambda: destiny.encode(
                         destiny.do_destiny_update([destiny.add_balls2(1000, bs)])))]:
        best = 1e9
        for _ in range(5):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        rows.append((name, best / n * 1e6))
    return rows, len(enc) / n


def kernel_figure(vectorised, n=5000, seed=1):
    """Best of 30 Ballpark.tick() for n balls (40 % goto point, 30 % orbit, 20 % follow,
    10 % goto direction), in ms."""
    from evemu.world.space.park import Ballpark
    rng = random.Random(seed)
    bp = Ballpark(vectorised=vectorised)
    st = bp.add_ball(1, (0.0, 0.0, 0.0), 5000.0, static=True)
    bs = []
    for i in range(n):
        b = bp.add_ball(100 + i, (rng.uniform(-1e5, 1e5), rng.uniform(-1e5, 1e5), 0.0), 40.0,
                        mass=1.2e6, inertia=3.0, max_speed=300.0)
        r = rng.random()
        if r < 0.4:
            bp.goto_point(b, (rng.uniform(-1e6, 1e6), rng.uniform(-1e6, 1e6), 0.0))
        elif r < 0.7:
            bp.orbit(b, st, rng.uniform(2e3, 3e4))
        elif r < 0.9 and bs:
            bp.follow(b, rng.choice(bs), 2500.0)
        else:
            bp.goto_direction(b, (1.0, 0.0, 0.0))
        bs.append(b)
    best = 1e9
    for _ in range(30):
        t = time.perf_counter()
        bp.tick()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def clients_figures(n_clients, ticks, rng, vectorised):
    """n_clients players in one bubble, each commanding its ship about every 10 s (a random
    goto/orbit/speed/stop); every DoDestinyUpdate is marshalled as the server would send it.
    Ticks are driven back to back (CPU cost, not real time).  Returns (tick ms list, bytes/s
    per client, updates per client per tick)."""
    from evemu.world.space import Observer
    from evemu.world.space import destiny as dst
    space = Space(vectorised=vectorised)
    s = space.system(30_000_142)
    s.add_static(60_000_004, (0.0, 0.0, 0.0), 5000.0, dockable=True)
    sent = [0, 0]

    def deliver(args):
        sent[0] += len(dst.encode(args))
        sent[1] += len(args[0])

    for i in range(n_clients):
        sid = 140_000_000 + i
        s.add_ship(sid, (rng.uniform(-5e4, 5e4), rng.uniform(-5e4, 5e4), rng.uniform(-5e3, 5e3)),
                   40.0, 1.2e6, 3.0, 300.0, observer=Observer(sid, deliver))
    s.tick()                                    # the AddBalls2 burst of the set-up
    sent[0] = sent[1] = 0
    times = []
    for _ in range(ticks):
        for i in range(n_clients):
            if rng.random() < 0.1:
                sid = 140_000_000 + i
                r = rng.random()
                if r < 0.4:
                    s.cmd_goto_point(sid, rng.uniform(-5e4, 5e4), rng.uniform(-5e4, 5e4), 0.0)
                elif r < 0.7:
                    s.cmd_orbit(sid, 60_000_004, rng.uniform(1e3, 2e4))
                elif r < 0.9:
                    s.cmd_set_speed_fraction(sid, rng.random())
                else:
                    s.cmd_stop(sid)
        t = time.perf_counter()
        s.tick()
        times.append(time.perf_counter() - t)
    return times, sent[0] / ticks / n_clients, sent[1] / ticks / n_clients


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--npcs", type=int, default=100_000)
    ap.add_argument("--systems", type=int, default=20)
    ap.add_argument("--ticks", type=int, default=20)
    ap.add_argument("--kernel", choices=("numpy", "python"), default="numpy")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--clients", type=int, default=0,
                    help="instead: N player observers in one bubble (engine side of the "
                         "1,000-client benchmark)")
    a = ap.parse_args()
    if a.clients:
        times, bps, ups = clients_figures(a.clients, a.ticks, random.Random(a.seed),
                                          a.kernel == "numpy")
        print("space: %d clients in one bubble, each commanding its ship every ~10 s, %d ticks "
              "driven back to back, kernel %s" % (a.clients, a.ticks, a.kernel))
        print("tick incl. marshalling every client's DoDestinyUpdate: p50 %.1f ms, p99 %.1f ms;"
              " per client %.0f bytes/s, %.1f updates/s; a command reaches the bubble at the "
              "next tick's flush" % (pct(times, 50) * 1e3, pct(times, 99) * 1e3, bps, ups))
        return

    rng = random.Random(a.seed)
    space = Space(tick_interval=1.0, vectorised=(a.kernel == "numpy"))
    t0 = time.perf_counter()
    kinds = populate(space, a.systems, a.npcs, rng)
    spawn_s = time.perf_counter() - t0
    gc.collect()
    gc.freeze()                 # the long-lived population: keep it out of young collections
    mem_spawned = rss_mb()
    for s in space.systems.values():
        s.keep_tick_times = True
    space.start()

    durations, cpu = [], []
    done = []

    def monitor():
        c0 = time.process_time()
        for _ in range(a.ticks + 1):
            boundary = space.next_tick_time(loop.time())
            loop.sleep_until(boundary + 1e-4)
            while stackless.getruncount() > 2:     # itself and the main tasklet (the loop)
                stackless.schedule()
            durations.append(loop.time() - boundary)
            c1 = time.process_time()
            cpu.append(c1 - c0)
            c0 = c1
        done.append(True)

    m = stackless.tasklet(monitor)()
    loop.run_until(m)
    space.stop()
    durations, cpu = durations[1:], cpu[1:]          # the first tick warms up
    sys_ticks = [t for s in space.systems.values() for t in s.tick_times]
    per_tick_sys = [sum(ts) for ts in zip(*[s.tick_times for s in space.systems.values()])]
    mem = rss_mb()
    warps = sum(len(s.park.warping) for s in space.systems.values())
    print("space: %d NPC tasklets in %d systems (%s), kernel %s, %d ticks at 1 Hz"
          % (a.npcs, a.systems, ", ".join("%s %d" % kv for kv in kinds.items()), a.kernel,
             len(durations)))
    print("| measure                                  |      p50 |      p99 |      max |")
    print("|------------------------------------------|----------|----------|----------|")
    print("| tick, boundary -> all NPCs blocked (ms)  | %8.1f | %8.1f | %8.1f |"
          % (pct(durations, 50) * 1e3, pct(durations, 99) * 1e3, max(durations) * 1e3))
    print("| CPU per second, process_time (ms)        | %8.1f | %8.1f | %8.1f |"
          % (pct(cpu, 50) * 1e3, pct(cpu, 99) * 1e3, max(cpu) * 1e3))
    print("| all systems' tick() work per tick (ms)   | %8.1f | %8.1f | %8.1f |"
          % (pct(per_tick_sys, 50) * 1e3, pct(per_tick_sys, 99) * 1e3,
             max(per_tick_sys) * 1e3))
    print("| one system's tick() (ms)                 | %8.2f | %8.2f | %8.2f |"
          % (pct(sys_ticks, 50) * 1e3, pct(sys_ticks, 99) * 1e3, max(sys_ticks) * 1e3))
    print("spawn %.1f s (%.1f us per NPC); RSS after spawn %.0f MB, at end %.0f MB, peak %.0f MB;"
          " ships in warp at the end: %d"
          % (spawn_s, spawn_s / a.npcs * 1e6, mem_spawned["VmRSS"], mem["VmRSS"],
             mem["VmHWM"], warps))
    ok_tick = pct(durations, 99) <= 0.250
    ok_mem = mem["VmHWM"] <= 2048
    print("target p99 tick <= 250 ms: %.1f ms %s; RSS <= 2 GB: %.0f MB %s"
          % (pct(durations, 99) * 1e3, "met" if ok_tick else "MISSED", mem["VmHWM"],
             "met" if ok_mem else "MISSED"))
    try:
        import numpy  # noqa: F401
        np_ms = "%.2f ms" % kernel_figure(True)
    except ImportError:
        np_ms = "n/a (no numpy)"
    print("kernel alone, Ballpark.tick() of 5,000 balls, best of 30: numpy %s, python %.2f ms"
          % (np_ms, kernel_figure(False)))
    rows, size = encoding_figures()
    print("binary ball state, %.0f bytes per ship: " % size
          + "; ".join("%s %.2f us/ship" % r for r in rows))
    for s in space.systems.values():
        for npc in list(s.npcs):
            npc.kill()


if __name__ == "__main__":
    main()
