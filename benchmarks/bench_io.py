"""I/O figures for stackless.loop/socket beside asyncio (and uvloop, gevent where installed).

One command, one run, one table:

    PYTHONPATH=src:. python benchmarks/bench_io.py            # after build_ext --inplace
    python benchmarks/bench_io.py --quick                      # smaller, for a smoke run

Figures (each case runs in its own process, so no library's setup leaks into another):

* echo: round trips per second through a loopback TCP echo server living in the
  same process as its clients; C concurrent connections each send a 64-byte
  message and read it back R times (TCP_NODELAY everywhere, as asyncio does).
  Connection set-up is excluded: the clock starts when every client is connected.
  Peers: asyncio streams (StreamReader/StreamWriter), the same code on uvloop,
  gevent sockets (no monkey-patching).  Target: stackless >= 1.5x asyncio.
* sleep: 100,000 tasks, all created and parked at a start barrier, each sleep a
  random time in [0, 2) s once the barrier opens (--sleeps N: N times in a row);
  lateness = wake time minus (time of the sleep call + duration).  We report the
  median, 99th percentile and max lateness (over all wakes, the first sleeps,
  which all start at once in a thundering herd, and the later ones), and how many
  wakes came out of deadline order (by more than 50 us, the skew between our clock
  read and the library's own).  Target: stackless median <= 2 ms, in order.

Each echo figure is the median of 3 runs.  The machine is shared: read ratios,
not absolute numbers, and compare wall and CPU time (wall >> CPU means the
process was waiting for a core; "per CPU-second" figures are less sensitive).
"""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

MSG = 64


# --------------------------------------------------------------------- echo
def echo_stackless(conns, rounds):
    import stackless
    from stackless import loop, sync
    from stackless import socket as ss

    srv = ss.create_server(("127.0.0.1", 0), backlog=4096)
    addr = srv.getsockname()
    go = sync.Event()
    ready = []

    def handle(c):
        c.setsockopt(ss.IPPROTO_TCP, ss.TCP_NODELAY, 1)
        recv, sendall = c.recv, c.sendall
        while True:
            d = recv(65536)
            if not d:
                break
            sendall(d)
        c.close()

    def acceptor():
        for _ in range(conns):
            c, _ = srv.accept()
            stackless.tasklet(handle)(c)

    def client():
        c = ss.create_connection(addr)
        c.setsockopt(ss.IPPROTO_TCP, ss.TCP_NODELAY, 1)
        msg = b"x" * MSG
        recv, sendall = c.recv, c.sendall
        ready.append(1)
        go.wait()
        for _ in range(rounds):
            sendall(msg)
            n = 0
            while n < MSG:
                n += len(recv(65536))
        c.close()

    stackless.tasklet(acceptor)()
    ts = [stackless.tasklet(client)() for _ in range(conns)]
    while len(ready) < conns:
        loop.sleep(0.001)
    t0, c0 = time.perf_counter(), time.process_time()
    go.set()
    for t in ts:
        loop.run_until(t)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    srv.close()
    return [conns * rounds / dt, conns * rounds / dc]


def echo_asyncio(conns, rounds, use_uvloop=False):
    import asyncio
    import socket

    async def main():
        async def handle(reader, writer):
            while True:
                d = await reader.read(65536)
                if not d:
                    break
                writer.write(d)
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
        addr = server.sockets[0].getsockname()
        go = asyncio.Event()
        ready = []

        async def client():
            reader, writer = await asyncio.open_connection(*addr)
            writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = b"x" * MSG
            ready.append(1)
            await go.wait()
            for _ in range(rounds):
                writer.write(msg)
                await writer.drain()
                await reader.readexactly(MSG)
            writer.close()

        tasks = [asyncio.ensure_future(client()) for _ in range(conns)]
        while len(ready) < conns:
            await asyncio.sleep(0.001)
        t0, c0 = time.perf_counter(), time.process_time()
        go.set()
        await asyncio.gather(*tasks)
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        server.close()
        return [conns * rounds / dt, conns * rounds / dc]

    if use_uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return asyncio.run(main())


def echo_gevent(conns, rounds):
    import gevent
    import gevent.event
    from gevent import socket as gs

    srv = gs.socket()
    srv.setsockopt(gs.SOL_SOCKET, gs.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(4096)
    addr = srv.getsockname()
    go = gevent.event.Event()
    ready = []

    def handle(c):
        c.setsockopt(gs.IPPROTO_TCP, gs.TCP_NODELAY, 1)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()

    def acceptor():
        for _ in range(conns):
            c, _ = srv.accept()
            gevent.spawn(handle, c)

    def client():
        c = gs.create_connection(addr)
        c.setsockopt(gs.IPPROTO_TCP, gs.TCP_NODELAY, 1)
        msg = b"x" * MSG
        ready.append(1)
        go.wait()
        for _ in range(rounds):
            c.sendall(msg)
            n = 0
            while n < MSG:
                n += len(c.recv(65536))
        c.close()

    gevent.spawn(acceptor)
    gs_ = [gevent.spawn(client) for _ in range(conns)]
    while len(ready) < conns:
        gevent.sleep(0.001)
    t0, c0 = time.perf_counter(), time.process_time()
    go.set()
    gevent.joinall(gs_)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    srv.close()
    return [conns * rounds / dt, conns * rounds / dc]


# -------------------------------------------------------------------- sleep
# Every task is created and parked on a start barrier first, and parks on a
# second one when it is done (creating and ending 100,000 stacks is the
# runtime's cost, measured by the core's benchmarks, not a timer figure).  Then the barrier opens and each task sleeps SLEEPS times (--sleeps,
# default 1) in a row, a random time in [0, span) each, recording its target and
# when it woke.  The first sleep of every task starts in one thundering herd
# (100,000 tasks resumed at once): deadlines that fall inside the herd are late by
# construction.  Later sleeps (--sleeps 3) show a steady state of
# 100,000 x (1 / mean sleep) wakes per second.
SKEW = 50e-6   # a wake counts as out of order if its target precedes the previous one's by more
SLEEPS = 1


def _lateness_stats(records, skew=SKEW):
    """records: (target, woke, k) in wake order -> dict of figures."""
    out = {}
    n = len(records)
    out["out_of_order"] = sum(1 for i in range(1, n) if records[i][0] < records[i - 1][0] - skew)
    for name, sel in (("all", records), ("first", [r for r in records if r[2] == 0]),
                      ("later", [r for r in records if r[2] > 0])):
        late = sorted(w - t for t, w, _k in sel)
        m = len(late)
        if not m:
            out[name] = {"n": 0, "median_ms": float("nan"), "p99_ms": float("nan"),
                         "max_ms": float("nan")}
            continue
        out[name] = {"n": m, "median_ms": 1000 * statistics.median(late),
                     "p99_ms": 1000 * late[int(0.99 * (m - 1))], "max_ms": 1000 * late[-1]}
    return out


def _durations(n, span):
    rnd = random.Random(1)
    return [[rnd.random() * span for _ in range(SLEEPS)] for _ in range(n)]


def sleep_stackless(n, span):
    import stackless
    from stackless import loop, sync

    records = []
    now = time.monotonic
    sleep_until = loop.sleep_until
    go, done = sync.Event(), stackless.channel()

    def f(ds):
        go.wait()
        for k, d in enumerate(ds):
            target = now() + d
            sleep_until(target)     # = sleep(d), with the deadline known exactly
            records.append((target, now(), k))
        done.receive()      # park (a raw channel: the cheapest way to wait here)

    ts = [stackless.tasklet(f)(ds) for ds in _durations(n, span)]
    loop.sleep(0)      # every task runs to the barrier
    t0, c0 = now(), time.process_time()
    go.set()
    while len(records) < n * SLEEPS:
        loop.sleep(0.05)
    out = _lateness_stats(records, skew=0.0)   # exact deadlines: any inversion counts
    out["wall_s"], out["cpu_s"] = now() - t0, time.process_time() - c0
    for _ in ts:
        done.send(None)     # (not kill(): removing the n-th of 100,000 receivers is O(n) in the core)
    for t in ts:
        loop.run_until(t)
    return out


def sleep_asyncio(n, span, use_uvloop=False):
    import asyncio

    records = []

    async def main():
        lp = asyncio.get_running_loop()
        now = lp.time
        go, done = asyncio.Event(), lp.create_future()

        async def f(ds):
            await go.wait()
            for k, d in enumerate(ds):
                target = now() + d
                await asyncio.sleep(d)
                records.append((target, now(), k))
            await done       # park (a shared future: the cheapest way to wait here)

        tasks = [asyncio.ensure_future(f(ds)) for ds in _durations(n, span)]
        await asyncio.sleep(0)
        t0, c0 = now(), time.process_time()
        go.set()
        while len(records) < n * SLEEPS:
            await asyncio.sleep(0.05)
        wall, cpu = now() - t0, time.process_time() - c0
        done.set_result(None)
        await asyncio.gather(*tasks)
        return wall, cpu

    if use_uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    wall, cpu = asyncio.run(main())
    out = _lateness_stats(records)
    out["wall_s"], out["cpu_s"] = wall, cpu
    return out


def sleep_gevent(n, span):
    import gevent
    import gevent.event

    records = []
    now = time.monotonic
    go, done = gevent.event.Event(), gevent.event.Event()

    def f(ds):
        go.wait()
        for k, d in enumerate(ds):
            target = now() + d
            gevent.sleep(d)
            records.append((target, now(), k))
        done.wait()

    gs_ = [gevent.spawn(f, ds) for ds in _durations(n, span)]
    gevent.sleep(0)
    t0, c0 = now(), time.process_time()
    go.set()
    while len(records) < n * SLEEPS:
        gevent.sleep(0.05)
    out = _lateness_stats(records)
    out["wall_s"], out["cpu_s"] = now() - t0, time.process_time() - c0
    done.set()
    gevent.joinall(gs_)
    return out


# --------------------------------------------------------------------- driver
def _have(mod):
    try:
        __import__(mod)
        return True
    except Exception:
        return False


CASES = {
    "echo:stackless": lambda a: echo_stackless(a.conns, a.rounds),
    "echo:asyncio": lambda a: echo_asyncio(a.conns, a.rounds),
    "echo:uvloop": lambda a: echo_asyncio(a.conns, a.rounds, True),
    "echo:gevent": lambda a: echo_gevent(a.conns, a.rounds),
    "sleep:stackless": lambda a: sleep_stackless(a.sleepers, a.span),
    "sleep:asyncio": lambda a: sleep_asyncio(a.sleepers, a.span),
    "sleep:uvloop": lambda a: sleep_asyncio(a.sleepers, a.span, True),
    "sleep:gevent": lambda a: sleep_gevent(a.sleepers, a.span),
}
NEEDS = {"uvloop": "uvloop", "gevent": "gevent", "stackless": "stackless", "asyncio": "asyncio"}


def _child(case, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--case", case,
           "--conns", str(args.conns), "--rounds", str(args.rounds),
           "--sleepers", str(args.sleepers), "--span", str(args.span),
           "--sleeps", str(args.sleeps)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case")
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--sleepers", type=int, default=100_000)
    ap.add_argument("--span", type=float, default=2.0)
    ap.add_argument("--sleeps", type=int, default=1, help="sleeps per task in the sleep figure")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    global SLEEPS
    SLEEPS = args.sleeps
    if args.case:
        print(json.dumps(CASES[args.case](args)))
        return
    if args.quick:
        args.conns, args.rounds, args.sleepers, args.span, args.repeat = 20, 100, 10_000, 0.5, 1

    libs = [lib for lib in ("stackless", "asyncio", "uvloop", "gevent") if _have(NEEDS[lib])]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; libraries: {', '.join(libs)}")
    print()
    print(f"echo: {args.conns} connections x {args.rounds} round trips of {MSG} B, "
          f"loopback, median of {args.repeat}")
    print(f"| {'library':<10} | {'round trips/s':>14} | {'runs':<30} | {'vs asyncio':>10} |"
          f" {'per CPU-second':>14} | {'vs asyncio':>10} |")
    print(f"|{'-' * 12}|{'-' * 16}|{'-' * 32}|{'-' * 12}|{'-' * 16}|{'-' * 12}|")
    echo = {}
    for lib in libs:
        runs = [_child(f"echo:{lib}", args) for _ in range(args.repeat)]
        echo[lib] = (statistics.median(r[0] for r in runs), [r[0] for r in runs],
                     statistics.median(r[1] for r in runs))
    base = echo.get("asyncio", (None,))[0]
    cbase = echo.get("asyncio", (None, None, None))[2]
    for lib, (med, runs, cpu) in echo.items():
        ratio = f"{med / base:.2f}x" if base else "-"
        cratio = f"{cpu / cbase:.2f}x" if cbase else "-"
        rs = ", ".join(f"{r:,.0f}" for r in runs)
        print(f"| {lib:<10} | {med:>14,.0f} | {rs:<30} | {ratio:>10} | {cpu:>14,.0f} | {cratio:>10} |")
    print()
    print(f"sleep: {args.sleepers:,} tasks, each sleeping {SLEEPS} time(s) a uniform random "
          f"[0, {args.span:g}) s after a common start; lateness in ms")
    cols = [("library", 10), ("median", 7), ("p99", 7), ("max", 7)]
    if SLEEPS > 1:
        cols += [("1st: median", 11), ("1st: p99", 8), ("later: median", 13), ("later: p99", 10)]
    cols += [("out of order", 12), ("wall s", 6), ("CPU s", 6)]
    print("| " + " | ".join(f"{c:>{w}}" if i else f"{c:<{w}}" for i, (c, w) in enumerate(cols))
          + " |")
    print("|" + "|".join("-" * (w + 2) for _c, w in cols) + "|")
    sleep_res = {}
    for lib in libs:
        r = sleep_res[lib] = _child(f"sleep:{lib}", args)
        a, f1, la = r["all"], r["first"], r["later"]
        cells = [f"{lib:<10}", f"{a['median_ms']:>7.2f}", f"{a['p99_ms']:>7.1f}",
                 f"{a['max_ms']:>7.1f}"]
        if SLEEPS > 1:
            cells += [f"{f1['median_ms']:>11.2f}", f"{f1['p99_ms']:>8.1f}",
                      f"{la['median_ms']:>13.2f}", f"{la['p99_ms']:>10.1f}"]
        cells += [f"{r['out_of_order']:>12,}", f"{r['wall_s']:>6.2f}", f"{r['cpu_s']:>6.2f}"]
        print("| " + " | ".join(cells) + " |")
    if "stackless" in echo and base:
        print()
        print(f"target echo >= 1.5x asyncio: {echo['stackless'][0] / base:.2f}x "
              f"(per CPU-second: {echo['stackless'][2] / cbase:.2f}x)")
    if "stackless" in sleep_res:
        r = sleep_res["stackless"]
        print(f"target sleep median lateness <= 2 ms: all wakes {r['all']['median_ms']:.2f} ms, "
              f"first (herd) {r['first']['median_ms']:.2f} ms, later {r['later']['median_ms']:.2f} ms;"
              f" out of order: {r['out_of_order']}")


if __name__ == "__main__":
    main()
