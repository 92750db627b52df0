"""What run(timeout) pre-emption costs: per tick, per switch, per timed run().

    python benchmarks/bench_preempt.py               # instruction counts (callgrind)
    python benchmarks/bench_preempt.py --wall        # wall-clock instead (noisy)

Run it with each interpreter to compare (3.11: chained C trace function;
3.12+: a sys.monitoring tool, src/stackless/preempt.c).  Each figure runs a
worker (this file, --worker) twice, with N1 and N2 operations; the difference
of the totals divided by the difference of the counts is one operation,
without start-up.  Figures:

  loop      one iteration of `for i in r: pass` in a tasklet, under run()
  loop_t    the same under run(timeout) (never reached): 3 bytecode
            instructions, i.e. 3 ticks, per iteration
  switch    one schedule() between two tasklets, under run()
  switch_t  the same under run(timeout, totaltimeout=True) (never reached)
  timedrun  one run(timeout) call that finds nothing to run (start + stop
            of the tick counter)
  switch_a  one schedule() under run() after a timed run has ended (the
            tasklets started before it)
  cold      one run(timeout) call that finds nothing to run, followed by
            4,000 iterations of an empty loop (on 3.12+ our events go off
            in between, so each run switches them on and off again)
  burn      the 4,000 iterations alone (cold - burn: one cold timed run)
"""
import argparse
import os
import re
import subprocess
import sys
import time

FIGURES = ["loop", "loop_t", "switch", "switch_t", "timedrun", "switch_a", "cold", "burn"]
FEW = {"timedrun": 10, "cold": 100, "burn": 100}    # N divided by
BIG = 10 ** 15


def worker(figure, n):
    import stackless

    if figure in ("loop", "loop_t"):
        r = range(n)

        def body():
            for i in r:
                pass
        stackless.tasklet(body)()
    elif figure in ("switch", "switch_t", "switch_a"):
        def body():
            for i in range(n):
                stackless.schedule()
        ts = [stackless.tasklet(body)(), stackless.tasklet(body)()]
        if figure == "switch_a":
            stackless.schedule()            # both start and suspend
            for t in ts:
                t.remove()
            stackless.run(BIG)              # a timed run that runs nothing
            for t in ts:
                t.insert()
    elif figure == "timedrun":
        t0 = time.perf_counter()
        for i in range(n):
            stackless.run(BIG)
        return time.perf_counter() - t0
    elif figure in ("cold", "burn"):
        timed = figure == "cold"
        t0 = time.perf_counter()
        for i in range(n):
            if timed:
                stackless.run(BIG)
            for j in range(4000):
                pass
        return time.perf_counter() - t0
    t0 = time.perf_counter()
    if figure in ("loop_t", "switch_t"):
        stackless.run(BIG, totaltimeout=True)
    else:
        stackless.run()
    return time.perf_counter() - t0


def run_once(figure, n, wall):
    cmd = [sys.executable, __file__, "--worker", figure, str(n)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    if wall:
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if p.returncode:
            raise SystemExit(p.stderr)
        return float(p.stdout)
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    if p.returncode or not m:
        raise SystemExit(p.stderr[-2000:])
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--worker", nargs=2, metavar=("FIGURE", "N"))
    ap.add_argument("--wall", action="store_true")
    ap.add_argument("--figures", default=",".join(FIGURES))
    ap.add_argument("--n1", type=int, default=2000)
    ap.add_argument("--n2", type=int, default=12000)
    args = ap.parse_args()
    if args.worker:
        dt = worker(args.worker[0], int(args.worker[1]))
        print(dt if dt is not None else 0.0)
        return
    unit = "ns" if args.wall else "instructions"
    print(f"Python {sys.version.split()[0]}: {unit} per operation")
    res = {}
    for fig in args.figures.split(","):
        n1, n2 = args.n1, args.n2
        if fig in FEW:
            n1, n2 = n1 // FEW[fig], n2 // FEW[fig]
        a, b = run_once(fig, n1, args.wall), run_once(fig, n2, args.wall)
        ops = (n2 - n1) * (2 if fig.startswith("switch") else 1)
        per = (b - a) / ops * (1e9 if args.wall else 1)
        res[fig] = per
        print(f"  {fig:9} {per:12,.1f}", flush=True)
    if "loop" in res and "loop_t" in res:
        print(f"  per tick (loop_t - loop) / 3: {(res['loop_t'] - res['loop']) / 3:,.1f}")
    if "cold" in res and "burn" in res:
        print(f"  per cold timed run (cold - burn): {res['cold'] - res['burn']:,.1f}")
    if "switch" in res and "switch_t" in res:
        print(f"  per switch in a timed run (switch_t - switch): {res['switch_t'] - res['switch']:,.1f}")


if __name__ == "__main__":
    main()
