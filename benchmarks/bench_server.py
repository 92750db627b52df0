"""Server figures beside the targets of issue 9, measured over loopback with our own load
generator (:mod:`evemu.client.load`, stackless tasklets, several processes).

    python benchmarks/bench_server.py                      # the full run (10,000 clients)
    python benchmarks/bench_server.py --quick              # small sizes, a few seconds
    python benchmarks/bench_server.py --hold 2000 --rate-clients 500 --rate 5000 --soak 60

Each section starts a fresh ``python -m evemu`` (free loopback port, new database in a
temporary folder, auto-accounts, the default KDF cost) and stops it with SIGTERM:

1. start-up: spawn -> the port accepts a connection (median of 3 starts), and the time of a
   first login after that;
2. hold: ``--hold`` clients log in and stay connected: logins/s over the login phase, server
   RSS per connection (VmRSS after - before, divided by the clients), and the server's exit
   time with them all connected;
3. rate: ``--rate-clients`` clients, an open-loop phase at ``--rate`` calls/s offered (p50,
   p90, p99, max latency from each call's scheduled time), then a closed-loop phase (every
   client calls back to back) -> calls per server CPU-second (utime + stime of the server
   from /proc; CPU-seconds suffer less than wall-clock rates from a shared machine);
4. soak (``--soak S``, off by default): a mixed run (calls at ``--rate`` with a login/logout
   churn of ``--churn`` clients per round) sampling the server's RSS; the slope of a least
   squares line through the samples, in KiB per minute.

The machine is shared: client processes compete with the server for the two cores, so
wall-clock rates are lower bounds; per-CPU-second figures and memory are the comparable ones.
``--profile`` also samples the server's Python stacks (SIGPROF, 1 ms) during the rate section
and prints the hottest functions.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evemu.client.load import ServerProcess, proc_cpu_seconds, proc_status, run  # noqa: E402

TARGETS = {
    "startup": "< 1 s",
    "hold": "10,000 clients at <= 30 KB RSS each",
    "logins": ">= 200 logins/s (default KDF)",
    "cps": ">= 50,000 calls per server CPU-second",
    "p99": "p99 < 10 ms at 10,000 calls/s offered by 1,000 clients",
    "soak": "flat over a 10-minute mixed run",
    "exit": "< 3 s under load, < 1 s idle",
}

SAMPLER = r'''
import atexit, collections, os, runpy, signal, sys
cum = collections.Counter(); n = [0]
def on_prof(sig, frame):
    n[0] += 1; seen = set(); f = frame
    while f is not None:
        k = f"{f.f_code.co_filename.rsplit('/', 2)[-2:]}:{f.f_code.co_name}"
        if k not in seen:
            seen.add(k); cum[k] += 1
        f = f.f_back
def dump():
    with open(os.environ["EVEMU_SAMPLES"], "w") as out:
        out.write(f"{n[0]} samples\n")
        for k, v in cum.most_common(25):
            out.write(f"{100 * v / max(1, n[0]):5.1f}% {k}\n")
atexit.register(dump)
signal.signal(signal.SIGPROF, on_prof)
signal.setitimer(signal.ITIMER_PROF, 0.001, 0.001)
sys.argv = ["evemu"] + sys.argv[1:]
runpy.run_module("evemu", run_name="__main__")
'''


def kib(n):
    if n is None:
        return "-"
    return f"{n / 2**20:.1f} MiB" if n >= 2**24 else f"{n / 1024:.1f} KiB"


def ms(s):
    return "-" if s is None else f"{s * 1000:.2f} ms"


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def section_startup(rounds=3):
    times, first_login = [], None
    for i in range(rounds):
        srv = ServerProcess()
        try:
            times.append(srv.startup)
            if i == 0:
                t0 = time.monotonic()
                r = run(srv.host, srv.port, 1, [], 0, server_pid=srv.pid, prefix="boot")
                first_login = time.monotonic() - t0 if r["login"]["logged_in"] else None
        finally:
            srv.stop()
    return {"startup": statistics.median(times), "startup_all": times,
            "first_login": first_login}


def section_hold(clients, procs, concurrency):
    srv = ServerProcess(max_connections=clients + 64)     # above the default cap of 4,096
    try:
        r = run(srv.host, srv.port, clients, [], 0, procs=procs, server_pid=srv.pid,
                prefix="hold", login_concurrency=concurrency, progress=say)
    finally:
        srv.stop()
    return r


def section_rate(clients, rate, duration, procs, concurrency, profile=False):
    samples = None
    kw = {}
    if profile:
        import tempfile
        fd, samples = tempfile.mkstemp(prefix="evemu-samples-")
        os.close(fd)
        kw = {"launcher": [sys.executable, "-c", SAMPLER], "env": {"EVEMU_SAMPLES": samples}}
    srv = ServerProcess(**kw)
    try:
        r = run(srv.host, srv.port, clients, [rate, None], duration, procs=procs,
                server_pid=srv.pid, prefix="rate", login_concurrency=concurrency,
                progress=say)
    finally:
        r_exit = srv.stop()
    r["exit_after"] = r_exit
    if samples:
        try:
            r["profile"] = Path(samples).read_text()
        finally:
            os.unlink(samples)
    return r


def section_closed(clients, duration, procs, concurrency):
    srv = ServerProcess()
    try:
        return run(srv.host, srv.port, clients, [None], duration, procs=procs,
                   server_pid=srv.pid, prefix="tput", login_concurrency=concurrency,
                   progress=say)
    finally:
        srv.stop()


def section_soak(seconds, clients, rate, churn, procs):
    srv = ServerProcess()
    points = []
    try:
        t_start = time.monotonic()
        rounds = 0
        while time.monotonic() - t_start < seconds:
            run(srv.host, srv.port, clients, [rate], min(10.0, seconds), procs=procs,
                server_pid=srv.pid, prefix="soak" + "abcdefghij"[rounds % max(1, min(churn, 10))])
            rounds += 1
            points.append((time.monotonic() - t_start, proc_status(srv.pid).get("VmRSS", 0)))
    finally:
        srv.stop()
    slope = _slope(points) if len(points) >= 2 else None
    return {"points": points, "slope_kib_per_min": slope, "rounds": rounds}


def _slope(points):
    """Least-squares slope of (seconds, bytes) points, in KiB per minute."""
    xs, ys = [p[0] / 60 for p in points], [p[1] / 1024 for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true",
                   help="small sizes: --hold 300 --rate-clients 100 --rate 1000 --duration 2")
    p.add_argument("--hold", type=int, default=10_000, help="clients held (default 10,000)")
    p.add_argument("--rate-clients", type=int, default=1_000,
                   help="clients of the rate section (default 1,000)")
    p.add_argument("--rate", type=float, default=10_000,
                   help="offered calls/s of the open-loop phase (default 10,000)")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per phase (default 10)")
    p.add_argument("--procs", type=int, default=2, help="client processes (default 2)")
    p.add_argument("--closed-clients", type=int, default=100,
                   help="clients of the closed-loop throughput section (default 100)")
    p.add_argument("--login-concurrency", type=int, default=64)
    p.add_argument("--soak", type=float, default=0.0,
                   help="seconds of mixed soak run (default 0: skipped)")
    p.add_argument("--profile", action="store_true",
                   help="sample the server's Python stacks during the rate section")
    a = p.parse_args(argv)
    if a.quick:
        a.hold, a.rate_clients, a.rate, a.duration = (min(a.hold, 300), min(a.rate_clients, 100),
                                                      min(a.rate, 1000), min(a.duration, 2.0))
    load = os.getloadavg()[0]
    say(f"load average {load:.1f} on {os.cpu_count()} cores before the run")

    say("start-up...")
    st = section_startup()
    say(f"holding {a.hold} clients...")
    hold = section_hold(a.hold, a.procs, a.login_concurrency)
    say(f"{a.rate_clients} clients at {a.rate:.0f} calls/s, then closed loop...")
    rate = section_rate(a.rate_clients, a.rate, a.duration, a.procs, a.login_concurrency,
                        a.profile)
    say(f"{a.closed_clients} clients, closed loop...")
    tput = section_closed(a.closed_clients, a.duration, a.procs, a.login_concurrency)
    soak = section_soak(a.soak, min(a.rate_clients, 200), min(a.rate, 2000), 4, a.procs) \
        if a.soak > 0 else None

    hl, rl = hold["login"], rate["login"]
    open_ph, closed_ph = rate["phases"]
    tp = tput["phases"][0]
    rows = [
        ("start-up (spawn -> accepting), median of 3", ms(st["startup"]), TARGETS["startup"]),
        ("first login after start-up", ms(st["first_login"]), ""),
        ("clients held at once", f"{hl['logged_in']} of {a.hold}", TARGETS["hold"]),
        ("server RSS per held client", kib(hold.get("rss_per_connection")),
         "<= 30 KB (29.3 KiB)"),
        (f"server RSS with {hl['logged_in']} clients",
         kib(hold.get("rss_after_logins")), ""),
        ("logins/s over the login phase", f"{hl['per_second']:.0f}", TARGETS["logins"]),
        ("login latency p50 / p99", f"{ms(hl['p50'])} / {ms(hl['p99'])}", ""),
        ("server CPU-seconds per login",
         f"{hl['server_cpu'] / max(1, hl['logged_in']) * 1000:.2f} ms"
         if "server_cpu" in hl else "-", ""),
        (f"offered {a.rate:.0f} calls/s by {rl['logged_in']} clients: achieved",
         f"{open_ph['per_second']:.0f} calls/s", ""),
        ("  latency p50 / p90", f"{ms(open_ph['p50'])} / {ms(open_ph['p90'])}", ""),
        ("  latency p99 / max", f"{ms(open_ph['p99'])} / {ms(open_ph['max'])}",
         TARGETS["p99"]),
        ("  errors", str(open_ph["errors"]), "0"),
        ("  server / client CPU-seconds (all client processes)",
         f"{open_ph.get('server_cpu', 0):.2f} / {open_ph.get('client_cpu', 0):.2f}", ""),
        ("  calls per server CPU-second",
         f"{open_ph.get('calls_per_server_cpu_second') or 0:.0f}", ""),
        (f"closed loop, {rl['logged_in']} clients: calls/s (wall clock)",
         f"{closed_ph['per_second']:.0f}", ""),
        ("  calls per server CPU-second",
         f"{closed_ph.get('calls_per_server_cpu_second') or 0:.0f}", TARGETS["cps"]),
        (f"closed loop, {tput['login']['logged_in']} clients: calls/s (wall clock)",
         f"{tp['per_second']:.0f}", ""),
        ("  calls per server CPU-second", f"{tp.get('calls_per_server_cpu_second') or 0:.0f}",
         TARGETS["cps"]),
        ("  latency p50 / p99", f"{ms(tp['p50'])} / {ms(tp['p99'])}", ""),
        ("server exit after SIGTERM (idle, after the rate run)", ms(rate["exit_after"]),
         TARGETS["exit"]),
    ]
    if soak:
        rows.append((f"RSS slope over a {a.soak:.0f} s mixed run ({soak['rounds']} rounds)",
                     "-" if soak["slope_kib_per_min"] is None
                     else f"{soak['slope_kib_per_min']:+.1f} KiB/min", TARGETS["soak"]))
        pts = soak["points"]
        if pts:
            rows.append(("  RSS after the first / last round",
                         f"{kib(pts[0][1])} / {kib(pts[-1][1])}", ""))
            half = pts[len(pts) // 2:]
            if len(half) >= 2:
                rows.append(("  slope over the second half",
                             f"{_slope(half):+.1f} KiB/min", ""))
    else:
        rows.append(("RSS slope over a mixed run", "not run (--soak S)", TARGETS["soak"]))
    w = max(len(r[0]) for r in rows)
    print(f"EVEmu server, {'quick' if a.quick else 'full'} run; client processes: {a.procs}; "
          f"load average before: {load:.1f}; python {sys.version.split()[0]}")
    print(f"{'figure':<{w}}  {'measured':>22}  target")
    for name, value, target in rows:
        print(f"{name:<{w}}  {value:>22}  {target}")
    errs = hl["errors"] + rl["errors"] + open_ph["errors"] + closed_ph["errors"]
    if errs:
        print(f"errors: hold {hl['errors']} ({hl['first_error']}), rate logins {rl['errors']}, "
              f"open {open_ph['errors']} ({open_ph['first_error']}), closed "
              f"{closed_ph['errors']}")
    if rate.get("profile"):
        print("\nserver profile during the rate section (share of samples in each function, "
              "cumulative):")
        print(rate["profile"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
