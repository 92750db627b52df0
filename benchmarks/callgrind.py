"""Instructions per operation of the hot paths, under valgrind's callgrind.

    python benchmarks/callgrind.py                       # ours, carbon, emu, greenlet, asyncio
    python benchmarks/callgrind.py --peers ours --figures spawn --annotate

Timings on a shared 2-core machine are noisy; instruction counts are not. Each
peer+figure runs benchmarks/worker.py under callgrind twice, with N1 and N2
operations; the difference of the two totals divided by the difference of the
operation counts is the cost of one operation, without the start-up and import
costs (which are the same in both runs). --annotate does the same per function
(self cost, callgrind_annotate of both profiles): where one operation's
instructions go, start-up excluded.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "worker.py")
FIGURES = ["roundtrip", "yield", "spawn"]
PEERS = ["ours", "carbon", "emu", "greenlet", "asyncio", "uvloop", "gevent"]
OPS_PER_N = {"yield": 2}  # the worker's yield figure does 2*N switches


def instructions(peer, figure, n, keep=None):
    """Total instructions of one worker run (reps=1, warm-up 1), or a skip reason."""
    out = keep or os.devnull
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
           sys.executable, WORKER, peer, figure, "--n", str(n), "--reps", "1", "--warmup", "1"]
    env = dict(os.environ, PYTHONHASHSEED="0", PYTHONMALLOC="pymalloc")
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
    if '"skip"' in p.stdout:
        return None, p.stdout.split('"skip": ', 1)[1].split('"')[1]
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    if p.returncode != 0 or not m:
        return None, "failed: " + " | ".join(p.stderr.strip().splitlines()[-3:])
    return int(m.group(1)), None


def per_function(path):
    """{function: self instructions} of one callgrind profile."""
    out = subprocess.run(["callgrind_annotate", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True).stdout
    costs = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\([^)]*\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2)
        name = re.sub(r"\s*\[[^\]]*\]\s*$", "", name)          # drop [object file]
        name = re.sub(r"^.*/(?=[^/]*:)", "", name)                # drop directories
        name = re.sub(r"'\d+$", "", name)                         # merge recursion levels
        costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peers", default="ours,carbon,emu,greenlet,asyncio")
    ap.add_argument("--figures", default=",".join(FIGURES))
    ap.add_argument("--n1", type=int, default=2000)
    ap.add_argument("--n2", type=int, default=12000)
    ap.add_argument("--annotate", action="store_true",
                    help="also print the instructions per operation of the top functions")
    ap.add_argument("--top", type=int, default=25, help="functions shown by --annotate")
    args = ap.parse_args(argv)
    if subprocess.run(["which", "valgrind"], capture_output=True).returncode != 0:
        sys.exit("valgrind not installed (apt-get install valgrind)")
    rows = []
    for figure in args.figures.split(","):
        for peer in args.peers.split(","):
            keep1 = keep = None
            if args.annotate:
                keep = os.path.join(tempfile.gettempdir(), f"callgrind.{peer}.{figure}.2.out")
                keep1 = os.path.join(tempfile.gettempdir(), f"callgrind.{peer}.{figure}.1.out")
            a, why = instructions(peer, figure, args.n1, keep1)
            if a is None:
                print(f"  {figure:10} {peer:9} skipped: {why}", flush=True)
                continue
            b, why = instructions(peer, figure, args.n2, keep)
            if b is None:
                print(f"  {figure:10} {peer:9} skipped: {why}", flush=True)
                continue
            # warm-up + one timed repetition: 2 passes of N operations
            per_op = (b - a) / (2 * (args.n2 - args.n1) * OPS_PER_N.get(figure, 1))
            rows.append((figure, peer, per_op))
            print(f"  {figure:10} {peer:9} {per_op:10,.0f} instructions per operation", flush=True)
            if keep:
                ops = 2 * (args.n2 - args.n1) * OPS_PER_N.get(figure, 1)
                c1, c2 = per_function(keep1), per_function(keep)
                diff = sorted(((c2.get(k, 0) - c1.get(k, 0)) / ops, k) for k in set(c1) | set(c2))
                for cost, name in reversed(diff[-args.top:]):
                    if cost >= 1:
                        print(f"      {cost:8,.0f}  {name[:150]}")
    if rows:
        peers = list(dict.fromkeys(peer for _, peer, _ in rows))
        figures = list(dict.fromkeys(figure for figure, _, _ in rows))
        cost = {(f, p): c for f, p, c in rows}
        print("\ninstructions per operation (×peer/ours)\n")
        print("| figure | " + " | ".join(peers) + " |")
        print("|---|" + "---|" * len(peers))
        for f in figures:
            ours = cost.get((f, "ours"))
            cells = []
            for p in peers:
                c = cost.get((f, p))
                if c is None:
                    cells.append("—")
                elif ours and p != "ours":
                    cells.append(f"{c:,.0f} ×{c / ours:.1f}")
                else:
                    cells.append(f"{c:,.0f}")
            print(f"| {f} | " + " | ".join(cells) + " |")

if __name__ == "__main__":
    main()
