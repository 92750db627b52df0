"""Every figure of the runtime's benchmark, for us and for every peer, in one command.

    python benchmarks/run.py                # full N (1,000,000 tasks for memory): minutes, GBs
    python benchmarks/run.py --quick        # small N, 3 repetitions: a minute or two
    python benchmarks/run.py --peers ours,asyncio --figures roundtrip,spawn
    python benchmarks/run.py --quick --pythons            # once per interpreter found
    python benchmarks/run.py --quick --pythons /venv312/bin/python,/venv313/bin/python

Each peer+figure runs in its own process (benchmarks/worker.py), so no peer
inherits another one's heap. Timings are repeated inside that process (after a
warm-up repetition); the table shows the median, the min–max of the
repetitions, and the ratio peer/ours (how many times more time or memory the
peer needs: above 1, ours is ahead). Peers that are not installed are skipped
with the reason. The raw results go to benchmarks/out/results.json, the table
to benchmarks/out/results.md, and the chart (matplotlib) to
benchmarks/out/results.png, or where --chart says.

CCP's carbon-scheduler is measured when CARBON_SCHEDULER_PATH names a folder
holding its built `scheduler` package (it is not part of this repository).

--pythons runs the whole benchmark again under each interpreter (this one and
every CPython 3.11-3.14 of pyenv, ~/.pyenv/versions/3.1[1-4]*, or the list
given), one after the other, each printing its table; the results of each go
to OUT/<python version>/, and a last table compares ours with raw greenlet on
every interpreter. An interpreter without stackless installed (pip install .
with it) measures the other peers only.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "worker.py")

PEERS = ["ours", "carbon", "emu", "greenlet", "asyncio", "uvloop", "gevent", "threads"]
PEER_LABEL = {
    "ours": "ours (stackless)",
    "carbon": "carbon-scheduler",
    "emu": "py emulation",
    "greenlet": "raw greenlet",
    "asyncio": "asyncio",
    "uvloop": "uvloop",
    "gevent": "gevent",
    "threads": "OS threads",
}
FIGURES = ["roundtrip", "yield", "spawn", "wave", "mem_unstarted", "mem_blocked", "ring"]
TIMING_FIGURES = {"roundtrip", "yield", "spawn", "wave"}

# Rows of the table: (metric, label, unit, scale from the worker's unit, show ratio)
ROWS = [
    ("roundtrip", "channel round trip", "µs", 1.0, True),
    ("yield", "schedule() between two tasks", "µs", 1.0, True),
    ("spawn", "create + run + finish a task", "µs", 1.0, True),
    ("wave", "waves of 1,000 tasks: block, wake, finish (per task)", "µs", 1.0, True),
    ("mem_unstarted", "RSS per unstarted task", "KB", 1 / 1000, True),
    ("mem_blocked", "RSS per task blocked on a channel", "KB", 1 / 1000, True),
    ("ring_hop", "ring: time per hop", "µs", 1.0, True),
    ("ring_drift", "ring: RSS growth, round 1 to last", "MB", 1 / 1024, False),
]

# Peers whose per-operation cost is high get fewer operations (same µs/op).
N_SCALE = {("threads", "roundtrip"): 0.2, ("threads", "spawn"): 0.05,
           ("asyncio", "roundtrip"): 0.5, ("uvloop", "roundtrip"): 0.5,
           ("gevent", "roundtrip"): 0.5, ("gevent", "spawn"): 0.5, ("greenlet", "spawn"): 0.5,
           ("emu", "spawn"): 0.5, ("carbon", "spawn"): 0.5}
N_SCALE.update({(p, "wave"): 0.4 for p in PEERS})  # 1,000 tasks a wave: n/1000 waves

# Rough bytes per task, to refuse a memory figure the machine cannot hold.
MEM_ESTIMATE = {"mem_unstarted": 2_000, "mem_blocked": 10_000, "ring": 12_000}

NOTES = {
    ("greenlet", "roundtrip"): "two bare switches, no channel: the floor",
    ("asyncio", "roundtrip"): "two asyncio.Queue(maxsize=1)",
    ("uvloop", "roundtrip"): "two asyncio.Queue(maxsize=1)",
    ("gevent", "roundtrip"): "two gevent.queue.Channel",
    ("threads", "roundtrip"): "two queue.Queue(maxsize=1)",
    ("asyncio", "yield"): "asyncio.sleep(0)",
    ("uvloop", "yield"): "asyncio.sleep(0)",
    ("gevent", "yield"): "gevent.sleep(0)",
    ("greenlet", "yield"): "greenlet.switch() between two greenlets",
    ("greenlet", "spawn"): "a fresh greenlet(f).switch()",
    ("greenlet", "wave"): "fresh greenlets that switch to main, then are resumed to finish",
    ("asyncio", "wave"): "tasks awaiting asyncio.Queue().get()",
    ("uvloop", "wave"): "tasks awaiting asyncio.Queue().get()",
    ("gevent", "wave"): "greenlets blocked in gevent.queue.Channel.get()",
}


def machine():
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpus": os.cpu_count(), "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%d %H:%M UTC")}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["ram_gb"] = round(int(line.split()[1]) / 2**20, 1)
        info["loadavg"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    versions = {}
    for mod in ("greenlet", "gevent", "uvloop", "matplotlib"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    info["versions"] = versions
    return info


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def run_one(peer, figure, args):
    if figure in ("mem_unstarted", "mem_blocked"):
        n = args.n_mem
    elif figure == "ring":
        n = args.n_ring
    else:
        n = max(100, int(args.n * N_SCALE.get((peer, figure), 1.0)))
    if figure in MEM_ESTIMATE:
        need, avail = n * MEM_ESTIMATE[figure], mem_available()
        if avail is not None and need > 0.8 * avail:
            return {"peer": peer, "figure": figure, "n": n,
                    "skip": f"needs up to {need / 1e9:.1f} GB, {avail / 1e9:.1f} GB available"}
    cmd = [sys.executable, WORKER, peer, figure, "--n", str(n), "--reps", str(args.reps),
           "--warmup", str(args.warmup), "--rounds", str(args.rounds), "--clock", args.clock]
    env = dict(os.environ, PYTHONHASHSEED="0")
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"peer": peer, "figure": figure, "n": n, "error": f"timeout after {args.timeout}s"}
    wall = time.monotonic() - t0
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
        return {"peer": peer, "figure": figure, "n": n,
                "error": f"exit {p.returncode}: " + " | ".join(tail)}
    result = json.loads(lines[-1])
    result["wall_s"] = round(wall, 2)
    return result


def summarize(results):
    """{metric: {peer: (median, lo, hi, n)}} in the table's units."""
    table = {}
    for r in results:
        for metric, values in (r.get("metrics") or {}).items():
            if not isinstance(values, list) or not values:
                continue
            row = next((row for row in ROWS if row[0] == metric), None)
            if row is None:
                continue
            scaled = [v * row[3] for v in values]
            table.setdefault(metric, {})[r["peer"]] = (
                statistics.median(scaled), min(scaled), max(scaled), r["n"])
    return table


def fmt(v):
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(table, metric, peer, ratio, spread=True):
    entry = table.get(metric, {}).get(peer)
    if entry is None:
        return "—"
    med, lo, hi, _ = entry
    s = fmt(med)
    if spread and hi > lo:
        s += f" ({fmt(lo)}–{fmt(hi)})"
    ours = table.get(metric, {}).get("ours")
    if ratio and ours and peer != "ours" and ours[0] > 0:
        s += f" ×{med / ours[0]:.1f}"
    return s


def render_text(table, peers, results):
    header = ["figure"] + [PEER_LABEL[p] for p in peers]
    rows = []
    for metric, label, unit, _, ratio in ROWS:
        if metric not in table:
            continue
        rows.append([f"{label} ({unit})"] + [cell(table, metric, p, ratio) for p in peers])
    return header, rows


def markdown(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def plain(header, rows):
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


TARGETS = [
    # (metric, description, check(table) -> (ok, detail) or None when not measurable)
    ("roundtrip", "channel round trip <= 0.8 µs", lambda t: _abs(t, "roundtrip", 0.8)),
    ("roundtrip", ">= 12x faster than asyncio Queue(1)", lambda t: _ratio(t, "roundtrip", "asyncio", 12)),
    ("roundtrip", ">= 2.5x faster than the Python emulation", lambda t: _ratio(t, "roundtrip", "emu", 2.5)),
    ("roundtrip", "faster than carbon-scheduler", lambda t: _ratio(t, "roundtrip", "carbon", 1.0)),
    ("yield", "schedule() <= 0.35 µs", lambda t: _abs(t, "yield", 0.35)),
    ("yield", ">= 7x asyncio sleep(0)", lambda t: _ratio(t, "yield", "asyncio", 7)),
    ("spawn", "create+run+finish <= 1.5 µs", lambda t: _abs(t, "spawn", 1.5)),
    ("spawn", ">= 2x faster than asyncio.create_task", lambda t: _ratio(t, "spawn", "asyncio", 2)),
    ("spawn", ">= 7x faster than a fresh greenlet", lambda t: _ratio(t, "spawn", "greenlet", 7)),
    ("mem_unstarted", "1M unstarted tasklets <= 150 MB (150 B each)",
     lambda t: _abs(t, "mem_unstarted", 0.150)),
    ("mem_blocked", "1M blocked tasklets <= 5 GB (5 KB each)", lambda t: _abs(t, "mem_blocked", 5.0)),
    ("mem_blocked", "below raw greenlet", lambda t: _ratio(t, "mem_blocked", "greenlet", 1.0)),
    ("mem_blocked", "below gevent", lambda t: _ratio(t, "mem_blocked", "gevent", 1.0)),
    ("ring_drift", "ring memory flat (growth < 1% of RSS)", lambda t: _flat(t)),
    # issue 8: against raw greenlet, on every interpreter
    ("roundtrip", "round trip within 1.1x of raw greenlet's (two bare switches)",
     lambda t: _within(t, "roundtrip", "greenlet", 1.1)),
    ("yield", "schedule() within 1.15x of a bare greenlet.switch()",
     lambda t: _within(t, "yield", "greenlet", 1.15)),
]
_RESULTS = []


def _abs(t, metric, limit):
    e = t.get(metric, {}).get("ours")
    return None if e is None else (e[0] <= limit, f"{fmt(e[0])}")


def _ratio(t, metric, peer, factor):
    o, p = t.get(metric, {}).get("ours"), t.get(metric, {}).get(peer)
    if o is None or p is None or o[0] <= 0:
        return None
    return (p[0] / o[0] >= factor if factor > 1 else p[0] / o[0] > 1, f"×{p[0] / o[0]:.1f}")


def _within(t, metric, peer, limit):
    o, p = t.get(metric, {}).get("ours"), t.get(metric, {}).get(peer)
    if o is None or p is None or p[0] <= 0:
        return None
    return (o[0] / p[0] <= limit, f"ours/{peer} ×{o[0] / p[0]:.2f}")


def _flat(t):
    for r in _RESULTS:
        if r["peer"] == "ours" and r.get("metrics", {}).get("ring_rss"):
            rss = r["metrics"]["ring_rss"]
            growth = rss[-1] - rss[0]
            return (growth < 0.01 * rss[0], f"{growth:+.1f} MB on {rss[0]:.0f} MB "
                    f"(rounds: {' '.join(f'{x:.0f}' for x in rss)})")
    return None


def targets_report(table):
    lines = []
    for _, desc, check in TARGETS:
        res = check(table)
        if res is None:
            lines.append(f"  n/a   {desc}")
        else:
            lines.append(f"  {'PASS' if res[0] else 'MISS'}  {desc}: {res[1]}")
    return "\n".join(lines)


def chart(table, peers, info, path, title_n):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install '.[bench]'): no chart", file=sys.stderr)
        return False
    rows = [row for row in ROWS if row[0] in table and row[0] != "ring_drift"]
    ring = [(p, r["metrics"]["ring_rss"]) for p in peers for r in _RESULTS
            if r["peer"] == p and (r.get("metrics") or {}).get("ring_rss")]
    nplots = len(rows) + (1 if ring else 0)
    fig, axes = plt.subplots(nplots, 1, figsize=(11, 2.0 + 1.7 * nplots))
    if nplots == 1:
        axes = [axes]
    colors = {"ours": "#d62728"}
    lines = {"ours": "#d62728", "carbon": "#1f77b4", "emu": "#ff7f0e", "greenlet": "#8c564b",
             "asyncio": "#2ca02c", "uvloop": "#9467bd", "gevent": "#e377c2", "threads": "#7f7f7f"}
    for ax, (metric, label, unit, _, ratio) in zip(axes, rows):
        present = [p for p in peers if p in table[metric]]
        meds = [table[metric][p][0] for p in present]
        los = [table[metric][p][0] - table[metric][p][1] for p in present]
        his = [table[metric][p][2] - table[metric][p][0] for p in present]
        y = range(len(present))
        ax.barh(list(y), meds, xerr=[los, his], color=[colors.get(p, "#7f7f7f") for p in present],
                capsize=2, height=0.65)
        ax.set_yticks(list(y))
        ax.set_yticklabels([PEER_LABEL[p] for p in present], fontsize=8)
        ax.invert_yaxis()
        positive = [m for m in meds if m > 0]
        if ratio and positive and max(positive) / min(positive) > 20:
            ax.set_xscale("log")
        ax.set_title(f"{label} ({unit}, lower is better)", fontsize=10, loc="left")
        ours = table[metric].get("ours")
        for i, p in enumerate(present):
            text = fmt(meds[i])
            if ratio and ours and p != "ours" and ours[0] > 0:
                text += f"  ×{meds[i] / ours[0]:.1f}"
            ax.text(meds[i] + his[i], i, "  " + text, va="center", fontsize=8)
        ax.margins(x=0.25)
        ax.tick_params(axis="x", labelsize=8)
    if ring:
        ax = axes[-1]
        for p, rss in ring:
            ax.plot(range(1, len(rss) + 1), [x - rss[0] for x in rss], marker="o", markersize=3,
                    label=f"{PEER_LABEL[p]} ({rss[0]:.0f} MB)", color=lines.get(p),
                    linewidth=2.5 if p == "ours" else 1, zorder=3 if p == "ours" else 2)
        ax.set_title("ring: RSS after each round minus RSS after round 1 (MB; flat is good)",
                     fontsize=10, loc="left")
        ax.set_xlabel("round", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, ncol=3)
    fig.suptitle(f"stackless benchmark — {info.get('cpu', '?')}, {info.get('cpus')} CPUs, "
                 f"{info.get('ram_gb')} GB, Python {info['python']}, {info['date']}\n"
                 f"{title_n}\n×N = peer / ours (above 1: ours ahead); bars: median, "
                 f"whiskers: min–max", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    return True


def find_pythons(spec):
    """The interpreters of --pythons: 'auto' is this one plus pyenv's 3.11-3.14."""
    if spec != "auto":
        return [x for x in spec.split(",") if x]
    found = [sys.executable]
    for exe in sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.1[1-4]*/bin/python"))):
        found.append(exe)
    return found


def python_version(exe):
    try:
        p = subprocess.run([exe, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, str(e)
    if p.returncode != 0:
        return None, (p.stderr.strip().splitlines() or ["exit %d" % p.returncode])[-1]
    return p.stdout.strip(), None


def run_pythons(args, argv):
    """Run this script once per interpreter (without --pythons), then compare."""
    child_argv, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a == "--pythons":
            skip = args.pythons_given_value
            continue
        if a.startswith("--pythons="):
            continue
        if a == "--out" or a.startswith("--out="):
            skip = a == "--out"
            continue
        child_argv.append(a)
    summary, seen = [], set()
    for exe in find_pythons(args.pythons):
        real = os.path.realpath(exe)
        version, why = python_version(exe)
        if version is None:
            print(f"\n=== {exe}: skipped ({why})", flush=True)
            continue
        if (real, version) in seen:
            continue
        seen.add((real, version))
        out = os.path.join(args.out, version)
        print(f"\n=== Python {version}: {exe}", flush=True)
        r = subprocess.run([exe, os.path.abspath(__file__)] + child_argv + ["--out", out])
        try:
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)["results"]
        except (OSError, ValueError, KeyError):
            print(f"=== Python {version}: no results (exit {r.returncode})", flush=True)
            continue
        summary.append((version, exe, summarize(results)))
    if not summary:
        return
    print("\n=== ours against raw greenlet, every interpreter (median; ours/greenlet)\n")
    header = ["python"]
    for metric, label, unit, _, _ in ROWS[:4]:
        header.append(f"{label} ({unit})")
    rows = []
    for version, exe, table in summary:
        row = [version]
        for metric, *_ in ROWS[:4]:
            o, g = table.get(metric, {}).get("ours"), table.get(metric, {}).get("greenlet")
            if o is None:
                row.append("—")
            elif g is None or g[0] <= 0:
                row.append(fmt(o[0]))
            else:
                row.append(f"{fmt(o[0])} / {fmt(g[0])} ×{o[0] / g[0]:.2f}")
        rows.append(row)
    keep = [0] + [i for i in range(1, len(header)) if any(r[i] != "—" for r in rows)]
    header = [header[i] for i in keep]
    rows = [[r[i] for i in keep] for r in rows]
    print(plain(header, rows))
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "pythons.md"), "w") as f:
        f.write(markdown(header, rows) + "\n")
    print(f"\ntable: {os.path.join(args.out, 'pythons.md')}")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 2)[2])
    p.add_argument("--quick", action="store_true",
                   help="small N and 3 repetitions (memory 100,000 tasks, ring 10,000)")
    p.add_argument("--peers", default=",".join(PEERS))
    p.add_argument("--figures", default=",".join(FIGURES))
    p.add_argument("--n", type=int, default=None, help="operations per timing repetition (50,000)")
    p.add_argument("--n-mem", type=int, default=None, help="tasks for the memory figures (1,000,000)")
    p.add_argument("--n-ring", type=int, default=None, help="tasks in the ring (100,000)")
    p.add_argument("--rounds", type=int, default=10, help="messages around the ring (10)")
    p.add_argument("--reps", type=int, default=None, help="timed repetitions per process (5)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--passes", type=int, default=None,
                   help="rounds over the peers for the timing figures, pooled (2; quick 1)")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="timing clock: CPU time of the worker process (default; robust on a "
                        "shared machine) or wall time; OS threads always use wall time")
    p.add_argument("--timeout", type=int, default=900, help="seconds per worker process")
    p.add_argument("--out", default=os.path.join(HERE, "out"), help="folder for json/md/png")
    p.add_argument("--chart", default=None, help="PNG path (default OUT/results.png)")
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--pythons", nargs="?", const="auto", default=None,
                   help="run once per interpreter: this one and pyenv's 3.11-3.14 (no value), "
                        "or a comma-separated list of interpreters; then compare")
    args = p.parse_args(argv)
    if args.pythons is not None:
        args.pythons_given_value = any(a == "--pythons" for a in argv) and \
            argv.index("--pythons") + 1 < len(argv) and \
            not argv[argv.index("--pythons") + 1].startswith("-")
        return run_pythons(args, argv)
    quick = args.quick
    args.n = args.n or (20_000 if quick else 50_000)
    args.n_mem = args.n_mem or (100_000 if quick else 1_000_000)
    args.n_ring = args.n_ring or (10_000 if quick else 100_000)
    args.reps = args.reps or (3 if quick else 5)
    args.passes = args.passes or (1 if quick else 2)
    peers = [x for x in args.peers.split(",") if x]
    figures = [x for x in args.figures.split(",") if x]
    for x in peers:
        if x not in PEERS:
            p.error(f"unknown peer {x} (known: {', '.join(PEERS)})")
    for x in figures:
        if x not in FIGURES:
            p.error(f"unknown figure {x} (known: {', '.join(FIGURES)})")

    info = machine()
    print(f"machine: {info.get('cpu')}, {info.get('cpus')} CPUs, {info.get('ram_gb')} GB RAM, "
          f"{info['platform']}, Python {info['python']}, load {' '.join(info.get('loadavg', []))}")
    print(f"N: timing ({args.clock} clock) {args.n} ops x {args.reps} reps (+{args.warmup} warm-up) x {args.passes} "
          f"passes, memory "
          f"{args.n_mem} tasks, ring {args.n_ring} tasks x {args.rounds} rounds\n")
    results = []
    for figure in figures:
        # Timing figures run in several passes, each peer once per pass, so that
        # the load of a shared machine falls on every peer alike; the values of
        # the passes are pooled. Memory figures are deterministic: one pass.
        passes = args.passes if figure in TIMING_FIGURES else 1
        merged = {}
        for k in range(passes):
            for peer in peers:
                r = run_one(peer, figure, args)
                r["loadavg"] = open("/proc/loadavg").read().split()[0]
                if "skip" in r:
                    status = f"skipped: {r['skip']}"
                elif "error" in r:
                    status = f"ERROR: {r['error']}"
                else:
                    status = "ok " + ", ".join(
                        f"{k}={fmt(statistics.median(v))}" for k, v in r["metrics"].items()
                        if isinstance(v, list) and k != "ring_rss") + \
                        f"  ({r['wall_s']} s, load {r['loadavg']})"
                label = f"{figure} [{k + 1}/{passes}]" if passes > 1 else figure
                print(f"  {label:18} {peer:9} {status}", flush=True)
                prev = merged.get(peer)
                if prev is None or "metrics" not in prev:
                    merged[peer] = r
                elif "metrics" in r:
                    for m, v in r["metrics"].items():
                        if isinstance(v, list):
                            prev["metrics"][m] = prev["metrics"][m] + v
                    prev.setdefault("passes", []).append(r.get("wall_s"))
        results.extend(merged.values())
    _RESULTS[:] = results

    table = summarize(results)
    shown = [x for x in peers if any(x in table.get(m, {}) for m, *_ in ROWS)]
    header, rows = render_text(table, shown, results)
    print("\nmedian (min–max) ×peer/ours\n" + plain(header, rows))
    print("\ntargets (ISSUE-3, issue 8):\n" + targets_report(table))
    notes = sorted({f"{PEER_LABEL[p]} {f}: {NOTES[(p, f)]}" for (p, f) in NOTES
                    if p in shown and f in figures})
    errors = [f"{PEER_LABEL[r['peer']]} {r['figure']}: {r.get('skip') or r.get('error')}"
              for r in results if "skip" in r or "error" in r]

    os.makedirs(args.out, exist_ok=True)
    n_desc = (f"timing ({args.clock} clock) {args.n} ops x {args.reps} reps x {args.passes} passes, "
              f"memory {args.n_mem} tasks, "
              f"ring {args.n_ring} tasks x {args.rounds} rounds")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"machine": info, "args": vars(args), "results": results}, f, indent=1)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(f"Machine: {info.get('cpu')}, {info.get('cpus')} CPUs, {info.get('ram_gb')} GB RAM, "
                f"{info['platform']}, Python {info['python']}, {info['date']}.  \n{n_desc}.\n"
                "Cells: median (min–max over repetitions) ×ratio peer/ours.\n\n")
        f.write(markdown(header, rows) + "\n\nTargets:\n\n```\n" + targets_report(table) + "\n```\n")
        if notes:
            f.write("\nNotes:\n" + "".join(f"- {n}\n" for n in notes))
        if errors:
            f.write("\nNot measured:\n" + "".join(f"- {e}\n" for e in errors))
    if not args.no_chart:
        path = args.chart or os.path.join(args.out, "results.png")
        if chart(table, shown, info, path, n_desc):
            print(f"\nchart: {path}")
    print(f"table: {os.path.join(args.out, 'results.md')}")


if __name__ == "__main__":
    main()
