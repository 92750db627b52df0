"""Database-backed calls per second on each backend, through a real server (a subprocess on
127.0.0.1) and the client protocol.

    python benchmarks/bench_db.py [--n 400] [--clients 50] [--per 40] [--pg URL]
                                  [--backend sqlite|postgresql|both] [--split-cores]
    python benchmarks/bench_db.py --paired [--rounds 10] [--block 200]

Calls (each a real service call that reads or writes the database):

- ``character selection``: ``charUnboundMgr.GetCharacterToSelect`` (the selection screen's
  character sheet: one read, the ship joined);
- ``item move``: a whole stack moved between the ship's cargo and the hangar (``Add`` on the
  bound inventories: on PostgreSQL one statement that locks, reads and moves the item; on
  SQLite one transaction);
- ``ISK transfer``: ``account.GiveCash`` (one transaction: both characters locked, two journal
  rows, two balances).

For each: one client, ``--n`` calls in a row: p50/p99 latency in microseconds; then
``--clients`` clients making ``--per`` calls each at once (its own character each): calls per
second and p50/p99; for both, the evemu server process's CPU time per call (its own
process: with SQLite the database work is in it, with PostgreSQL not).  Without ``--pg`` a throw-away PostgreSQL is started (tests/pg_helpers.py)
with PostgreSQL's durable defaults (``fsync=on``: a commit returns after its WAL is on disk).
SQLite runs with the server's ``sqlite_sync`` setting: ``full`` (the default: an fsync per
commit, the same promise) and, for comparison, ``normal`` (``--sqlite-sync`` picks one or
both).  The last table compares PostgreSQL with SQLite at the same durability.
``--split-cores`` puts that PostgreSQL on the last CPU and everything else (this process with
its clients, the server subprocess, SQLite's database thread) on the others, for both backends.
``--paired`` measures only the 1-client latencies, with every backend's server up at once and
the calls made in alternated blocks (``--rounds`` x ``--block`` per backend), and prints the
PostgreSQL/SQLite ratio over all samples and per round: the sequential runs above see the
machine's drift between backends, these do not.
"""
import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, os.pardir, "tests"))

import stackless                                      # noqa: E402
from stackless import loop                            # noqa: E402

import crash_helpers as H                             # noqa: E402
from evemu.db import Database                          # noqa: E402


def pct(samples):
    s = sorted(samples)
    return s[len(s) // 2] * 1e6, s[min(len(s) - 1, int(len(s) * 0.99))] * 1e6


class Session:
    """A logged-in client with its character selected and its inventories bound."""

    def __init__(self, p, address, payee):
        self.p, self.payee = p, payee
        self.c = c = p.connect(address)
        c.call("charUnboundMgr", "SelectCharacterID", p.char_id)
        broker = H._bind(c, "invbroker", (H.STATION, 15))
        self.hangar = H._bound(c.call_bound(broker, "GetInventory", 10004))
        self.ship_inv = H._bound(c.call_bound(broker, "GetInventoryFromId", p.ship, 0))
        self.in_cargo = True

    def select(self):
        self.c.call("charUnboundMgr", "GetCharacterToSelect", self.p.char_id)

    def move(self):
        if self.in_cargo:
            self.c.call_bound(self.hangar, "Add", self.p.stack, self.p.ship)
        else:
            self.c.call_bound(self.ship_inv, "Add", self.p.stack, H.STATION, flag=H.FLAG_CARGO)
        self.in_cargo = not self.in_cargo

    def transfer(self):
        self.c.call("account", "GiveCash", self.payee, 0.01, "bench")

    def close(self):
        self.c.close()


def timed(fn, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def cpu_seconds(pid):
    """User + system CPU time of process ``pid`` so far (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def in_tasklet(fn):
    box = []
    loop.run_until(stackless.tasklet(lambda: box.append(fn()))())
    return box[0]


def bench_backend(label, target, work, a):
    server = H.Server(target, work)
    rows = []
    try:
        db = Database(target)
        try:
            players = H.setup(server, a.clients + 1, db)
        finally:
            db.close()
        sessions = [Session(p, server.address, players[(i + 1) % len(players)].char_id)
                    for i, p in enumerate(players)]
        for what in ("select", "move", "transfer"):
            s = sessions[0]
            fn = getattr(s, what)
            in_tasklet(lambda: timed(fn, 20))                          # warm up
            cpu0 = cpu_seconds(server.proc.pid)
            p50, p99 = pct(in_tasklet(lambda: timed(fn, a.n)))
            cpu1 = cpu_seconds(server.proc.pid)
            per = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / a.n * 1e6
            rows.append((label, what, "1 client", p50, p99, 1e6 / p50, per))
            samples = []

            def client(s):
                samples.extend(timed(getattr(s, what), a.per))
            t0 = time.perf_counter()
            cpu0 = cpu_seconds(server.proc.pid)
            ts = [stackless.tasklet(client)(s) for s in sessions[1:]]
            for t in ts:
                loop.run_until(t)
            cps = len(samples) / (time.perf_counter() - t0)
            cpu1 = cpu_seconds(server.proc.pid)
            per = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / len(samples) * 1e6
            p50, p99 = pct(samples)
            rows.append((label, what, f"{a.clients} clients", p50, p99, cps, per))
        for s in sessions:
            s.close()
    finally:
        server.stop()
    return rows


NAMES = {"select": "character selection", "move": "item move", "transfer": "ISK transfer"}


def bench_paired(targets, work, a):
    """1-client latency of each call on every backend of ``targets`` ({label: target}), the
    servers all up at once and measured in alternated blocks: ``--rounds`` rounds of
    ``--block`` calls per backend, the order flipped each round, so the machine's drift (the
    load of a shared 2-core VM changes by the second) lands on every backend alike.  Returns
    {(label, call): [block medians]} and {(label, call): all samples}."""
    servers, sessions = {}, {}
    try:
        for label, target in targets.items():
            wdir = tempfile.mkdtemp(prefix="paired-", dir=work)
            if label.startswith("sqlite"):
                os.environ["EVEMU_SQLITE_SYNC"] = label.split()[1]    # read at the server's start
            servers[label] = H.Server(target, wdir)
            db = Database(target)
            try:
                p, payee = H.setup(servers[label], 2, db)
            finally:
                db.close()
            sessions[label] = Session(p, servers[label].address, payee.char_id)
        blocks, samples = {}, {}
        labels = list(targets)
        for what in NAMES:
            for label in labels:                                       # warm up
                in_tasklet(lambda: timed(getattr(sessions[label], what), 20))
            for r in range(a.rounds):
                for label in (labels if r % 2 == 0 else labels[::-1]):
                    out = in_tasklet(lambda: timed(getattr(sessions[label], what), a.block))
                    samples.setdefault((label, what), []).extend(out)
                    blocks.setdefault((label, what), []).append(sorted(out)[len(out) // 2])
        for s in sessions.values():
            s.close()
        return blocks, samples
    finally:
        for server in servers.values():
            server.stop()


def report_paired(blocks, samples, a):
    labels = list(dict.fromkeys(label for label, _ in blocks))
    print(f"1-client latency, servers up together, {a.rounds} alternated rounds of {a.block} "
          f"calls per backend")
    print(f"{'backend':<14} {'call':<20} {'p50 us':>8} {'p99 us':>8}")
    for what in NAMES:
        for label in labels:
            p50, p99 = pct(samples[(label, what)])
            print(f"{label:<14} {NAMES[what]:<20} {p50:>8.0f} {p99:>8.0f}")
    if "postgresql" not in labels:
        return
    for label in labels:
        if label == "postgresql":
            continue
        print(f"\nPostgreSQL / {label}, 1-client p50: all samples; per round (median [range])")
        for what in NAMES:
            pg, sq = blocks[("postgresql", what)], blocks[(label, what)]
            ratios = sorted(x / y for x, y in zip(pg, sq))
            whole = pct(samples[("postgresql", what)])[0] / pct(samples[(label, what)])[0]
            print(f"  {NAMES[what]:<22} {whole:>6.2f}x   {ratios[len(ratios) // 2]:.2f}x "
                  f"[{ratios[0]:.2f}-{ratios[-1]:.2f}]")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--per", type=int, default=40)
    ap.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    ap.add_argument("--pg", help="postgresql:// URL of an empty database")
    ap.add_argument("--pg-socket", action="store_true",
                    help="reach the throw-away PostgreSQL over its unix socket (as a local "
                         "install is reached by default) instead of TCP on 127.0.0.1")
    ap.add_argument("--sqlite-sync", choices=["full", "normal", "both"], default="both",
                    help="the server's sqlite_sync for the SQLite runs (default: both, full "
                         "first)")
    ap.add_argument("--split-cores", action="store_true",
                    help="PostgreSQL (the throw-away cluster) on the last CPU, this process, "
                         "its server and SQLite on the others: the database server on a core "
                         "of its own, as on a machine of its own")
    ap.add_argument("--paired", action="store_true",
                    help="only the 1-client latencies, with every backend's server up at once "
                         "and measured in alternated blocks (see --rounds, --block): the "
                         "ratio between backends, robust to the machine's drift")
    ap.add_argument("--rounds", type=int, default=10, help="--paired: rounds (default 10)")
    ap.add_argument("--block", type=int, default=200,
                    help="--paired: calls per backend per round (default 200)")
    a = ap.parse_args()
    cluster, rows = None, []
    cpus = sorted(os.sched_getaffinity(0))
    if a.split_cores:
        if len(cpus) < 2:
            ap.error("--split-cores needs at least 2 CPUs")
        db_cpus, app_cpus = set(cpus[-1:]), set(cpus[:-1])
        os.sched_setaffinity(0, app_cpus)
    work = tempfile.mkdtemp(prefix="evemu-bench-db-")

    def pg_target():
        nonlocal cluster
        if a.pg:
            return a.pg
        from pg_helpers import PgCluster
        if a.split_cores:                           # its processes inherit the affinity
            os.sched_setaffinity(0, db_cpus)
        cluster = PgCluster(durable=True).start()
        if a.split_cores:
            os.sched_setaffinity(0, app_cpus)
        target = cluster.url(cluster.create_database())
        return target + (f"?host={cluster.root}" if a.pg_socket else "")

    try:
        syncs = ["full", "normal"] if a.sqlite_sync == "both" else [a.sqlite_sync]
        runs = ([("sqlite", s) for s in syncs] if a.backend != "postgresql" else []) \
            + ([("postgresql", None)] if a.backend != "sqlite" else [])
        if a.paired:
            targets = {(f"sqlite {sync}" if backend == "sqlite" else backend):
                       (os.path.join(work, f"{sync}.sqlite3") if backend == "sqlite"
                        else pg_target()) for backend, sync in runs}
            report_paired(*bench_paired(targets, work, a), a)
            return
        for backend, sync in runs:
            if backend == "sqlite":
                target = os.path.join(work, f"{sync}.sqlite3")
                os.environ["EVEMU_SQLITE_SYNC"] = sync         # the server subprocess's
            else:
                target = pg_target()
            label = f"sqlite {sync}" if backend == "sqlite" else backend
            rows += bench_backend(label, target,
                                  tempfile.mkdtemp(prefix=label.replace(" ", "-"), dir=work), a)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cluster is not None:
            cluster.remove()
    print(f"{'backend':<14} {'call':<20} {'load':<11} {'p50 us':>8} {'p99 us':>8} "
          f"{'calls/s':>8} {'server CPU us/call':>19}")
    for label, what, load, p50, p99, cps, per in rows:
        per = "-" if per is None else f"{per:.0f}"
        print(f"{label:<14} {NAMES[what]:<20} {load:<11} {p50:>8.0f} {p99:>8.0f} {cps:>8.0f} "
              f"{per:>19}")
    by = {(label, what, load.split()[1]): (p50, cps) for label, what, load, p50, p99, cps, _
          in rows}
    for sync in ("full", "normal"):
        if not any(k[0] == f"sqlite {sync}" for k in by) or not any(k[0] == "postgresql"
                                                                    for k in by):
            continue
        print(f"\nPostgreSQL (fsync on) / SQLite ({sync})   1-client p50 latency"
              f"   {a.clients}-client calls/s")
        for what in NAMES:
            pg1, sq1 = by[("postgresql", what, "client")], by[(f"sqlite {sync}", what, "client")]
            pgn, sqn = by[("postgresql", what, "clients")], by[(f"sqlite {sync}", what, "clients")]
            print(f"  {NAMES[what]:<36} {pg1[0] / sq1[0]:>10.2f}x {pgn[1] / sqn[1]:>22.2f}x")


if __name__ == "__main__":
    main()
