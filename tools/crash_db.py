"""Crash safety, the long run: SIGKILL the server at random moments during ISK transfers, stack
moves and splits from many clients, restart it, check that nothing acknowledged was lost
(tests/crash_helpers.py says what is checked).  Exit status 0 when every round checks out.

    python tools/crash_db.py [--backend sqlite|postgresql|both] [--rounds 20] [--clients 200]
                             [--pg URL] [--seed N]

Without ``--pg`` a throw-away PostgreSQL is started (tests/pg_helpers.py, Debian's binaries).
Prints one line per round and a table at the end.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

import crash_helpers                                   # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min-delay", type=float, default=0.5)
    ap.add_argument("--max-delay", type=float, default=3.0)
    ap.add_argument("--pg", help="postgresql:// URL of an empty database")
    a = ap.parse_args()
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    results, cluster, failed = [], None, False
    try:
        for backend in backends:
            work = tempfile.mkdtemp(prefix="evemu-crash-")
            try:
                if backend == "sqlite":
                    target = os.path.join(work, "crash.sqlite3")
                elif a.pg:
                    target = a.pg
                else:
                    from pg_helpers import PgCluster
                    cluster = cluster or PgCluster().start()
                    target = cluster.url(cluster.create_database())
                t0 = time.monotonic()
                try:
                    rounds = crash_helpers.run(
                        target, work, rounds=a.rounds, clients=a.clients, seed=a.seed,
                        min_delay=a.min_delay, max_delay=a.max_delay,
                        say=lambda s, b=backend: print(f"{b}: round {s['round']}: "
                                                       f"{s['acked_this_round']} acked "
                                                       "transfers, checked", flush=True))
                    results.append((backend, len(rounds), rounds[-1]["transfers"],
                                    rounds[-1]["splits"], "ok", time.monotonic() - t0))
                except AssertionError as e:
                    failed = True
                    print(f"{backend}: FAILED\n{e}", flush=True)
                    results.append((backend, None, None, None, "FAILED", time.monotonic() - t0))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    finally:
        if cluster is not None:
            cluster.remove()
    print(f"\n{'backend':<12} {'rounds':>6} {'clients':>7} {'acked transfers':>15} "
          f"{'acked splits':>12} {'result':>7} {'seconds':>8}")
    for backend, n, tr, sp, res, secs in results:
        print(f"{backend:<12} {n or '-':>6} {a.clients:>7} {tr or '-':>15} {sp or '-':>12} "
              f"{res:>7} {secs:>8.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
