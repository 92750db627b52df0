"""A small load generator: many scripted clients, each a tasklet, against a running server.

    python -m evemu --port 26100 --db /tmp/load.sqlite3 &
    python -m evemu.client.loadtest --port 26100 --clients 200 --calls 50

Every client logs in (its own account, created on first login), then makes ``--calls``
sequential ``machoNet.GetTime`` calls and logs out.  Prints logins per second and calls per
second (wall clock, client and server on the same machine).
"""
import argparse
import time

import stackless
from stackless import loop

from . import Client


def run(host, port, clients, calls, prefix="load"):
    done = {"logins": 0, "calls": 0, "errors": 0}
    login_times = []

    def one(i):
        try:
            with Client.connect((host, port)) as c:
                t0 = time.perf_counter()
                c.login(f"{prefix}{i:05d}", "pw")
                login_times.append(time.perf_counter() - t0)
                done["logins"] += 1
                for _ in range(calls):
                    c.call("machoNet", "GetTime")
                    done["calls"] += 1
        except Exception as e:               # counted, and the run goes on
            done["errors"] += 1
            done.setdefault("first_error", repr(e))

    start = time.perf_counter()
    tasks = [stackless.tasklet(one)(i) for i in range(clients)]
    for t in tasks:
        loop.run_until(t)
    elapsed = time.perf_counter() - start
    done["seconds"] = elapsed
    done["login_p50_ms"] = sorted(login_times)[len(login_times) // 2] * 1000 if login_times else 0
    return done


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m evemu.client.loadtest")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=26000)
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--prefix", default="load")
    a = p.parse_args(argv)
    r = run(a.host, a.port, a.clients, a.calls, a.prefix)
    s = r["seconds"]
    print(f"{a.clients} clients x {a.calls} calls in {s:.2f} s: {r['logins'] / s:.0f} logins/s, "
          f"{r['calls'] / s:.0f} calls/s, login p50 {r['login_p50_ms']:.1f} ms, "
          f"{r['errors']} errors" + (f" (first: {r['first_error']})" if r["errors"] else ""))
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
