"""Server-core figures: start-up, logins/s at the default KDF cost, exit after SIGTERM (idle
and under load), the KDF itself.  One server subprocess per figure; clients are tasklets here.

    python benchmarks/bench_server_core.py [--clients 400] [--logins 600]

Prints one table.  Wall-clock figures on a shared machine swing with its load.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

import stackless
from stackless import loop

from evemu.client import Client
from evemu.db.passwords import DEFAULT_KDF, parse_kdf, scrypt, scrypt_implementation


class Server:
    def __init__(self, folder, *args):
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evemu", "--port", "0", "--db",
             os.path.join(folder, "bench.sqlite3"), "--log-level", "INFO", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder,
            env=dict(os.environ))
        for line in self.proc.stdout:
            m = re.search(r"listening on ([\d.]+):(\d+)", line)
            if m:
                self.address = (m.group(1), int(m.group(2)))
                break
        else:
            raise RuntimeError("server did not start")
        self.started = time.perf_counter() - self.t0
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()

    def stop(self):
        t0 = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        return rc, time.perf_counter() - t0


def logins(address, n, prefix, concurrency=64):
    """n logins (accounts created on the first round), concurrency at a time: logins/s."""
    it = iter(range(n))
    errors = []

    def worker():
        for i in it:
            try:
                with Client.connect(address) as c:
                    c.login(f"{prefix}{i:05d}", "pw")
            except Exception as e:
                errors.append(repr(e))

    t0 = time.perf_counter()
    tasks = [stackless.tasklet(worker)() for _ in range(concurrency)]
    for t in tasks:
        loop.run_until(t)
    return n / (time.perf_counter() - t0), errors


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--clients", type=int, default=400)
    p.add_argument("--logins", type=int, default=600)
    a = p.parse_args(argv)
    rows = []
    _, n, r, pp = parse_kdf(DEFAULT_KDF)
    for impl in ("sodium", "openssl") if scrypt_implementation() == "sodium" else ("openssl",):
        took = []
        for _ in range(21):
            t0 = time.perf_counter()
            scrypt(b"x" * 20, b"s" * 16, n, r, pp, impl=impl)
            took.append(time.perf_counter() - t0)
        used = " (the server's)" if impl == scrypt_implementation() else ""
        rows.append((f"KDF {DEFAULT_KDF}, one call, {impl}{used}, median of 21",
                     f"{sorted(took)[10] * 1000:.2f} ms"))

    with tempfile.TemporaryDirectory() as folder:
        srv = Server(folder)
        rows.append(("start-up to the listening line", f"{srv.started * 1000:.0f} ms"))
        rate, err = logins(srv.address, a.logins, "new")
        rows.append((f"logins/s, {a.logins} new accounts (KDF to create)", f"{rate:.0f}"
                     + (f" ({len(err)} errors)" if err else "")))
        rate, err = logins(srv.address, a.logins, "new")
        rows.append((f"logins/s, {a.logins} existing accounts (KDF to verify)", f"{rate:.0f}"
                     + (f" ({len(err)} errors)" if err else "")))
        rc, took = srv.stop()
        rows.append(("exit after SIGTERM, idle (after those logins)", f"{took * 1000:.0f} ms, rc {rc}"))

        srv = Server(folder)
        clients = []
        for i in range(a.clients):
            c = Client.connect(srv.address)
            c.login(f"new{i:05d}", "pw")
            clients.append(c)
        stop = []

        def caller(c):
            try:
                while not stop:
                    c.call("machoNet", "GetTime")
            except Exception:
                pass

        tasks = [stackless.tasklet(caller)(c) for c in clients]
        loop.sleep(1.0)
        t0 = time.perf_counter()
        srv.proc.send_signal(signal.SIGTERM)
        while srv.proc.poll() is None and time.perf_counter() - t0 < 30:
            loop.sleep(0.005)
        took = time.perf_counter() - t0
        stop.append(1)
        for c in clients:
            c.close()
        for t in tasks:
            if t.alive:
                t.kill()
        rows.append((f"exit after SIGTERM, {a.clients} clients calling", f"{took * 1000:.0f} ms, "
                     f"rc {srv.proc.returncode}"))

    w = max(len(r[0]) for r in rows)
    print(f"| {'figure':<{w}} | value |")
    print(f"|{'-' * (w + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{w}} | {value} |")


if __name__ == "__main__":
    main()
