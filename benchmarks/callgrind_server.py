"""User-space instructions per call of the server, under callgrind (a figure that does not
depend on the machine's load, unlike CPU-seconds on a shared machine).

    python benchmarks/callgrind_server.py [--clients 200] [--calls 50] [--out FILE]

Starts ``python -m evemu serve`` under ``valgrind --tool=callgrind --instr-atstart=no`` (a
no-cost KDF, ``--kdf scrypt:2:1:1``, so that the logins under valgrind take seconds), logs the
clients in with :func:`evemu.client.load.run` (2 client processes, not instrumented), switches
the server's instrumentation on (``callgrind_control -i on``) when the call phase starts (every
client calls ``machoNet.GetTime`` ``--calls`` times back to back) and off after it, and prints
the instructions counted divided by the calls answered.  Keeps the profile (``--out``) for
``callgrind_annotate``.  Needs valgrind.
"""
import argparse
import glob
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from evemu.client.load import free_port, run  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--calls", type=int, default=50, help="calls per client")
    p.add_argument("--out", default=None, help="callgrind output file (default: temporary)")
    a = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="evemu-callgrind-")
    out = a.out or os.path.join(tmp, "callgrind.out")
    port = free_port()
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
           sys.executable, "-m", "evemu", "serve", "--port", str(port), "--db",
           os.path.join(tmp, "cg.sqlite3"), "--log-level", "WARNING", "--kdf", "scrypt:2:1:1"]
    with open(os.path.join(tmp, "server.log"), "w") as log:
        srv = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if srv.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the server did not start under valgrind")
                time.sleep(0.1)

        def progress(msg):
            if msg.startswith("offering"):          # the call phase is about to start
                subprocess.run(["callgrind_control", "-i", "on", str(srv.pid)],
                               capture_output=True, check=True)

        r = run("127.0.0.1", port, a.clients, [None], 3600, procs=2, server_pid=srv.pid,
                prefix="cg", login_concurrency=64, max_calls=a.calls, progress=progress)
        subprocess.run(["callgrind_control", "-i", "off", str(srv.pid)], capture_output=True)
    finally:
        srv.terminate()
        srv.wait()
    calls = r["phases"][0]["calls"]
    total = 0
    for f in glob.glob(out + "*"):
        with open(f) as fh:
            for line in fh:
                if line.startswith(("summary:", "totals:")):
                    total = max(total, int(line.split()[1]))
    print(f"{calls} calls, {total:,} instructions: {total / max(1, calls):,.0f} per call "
          f"(profile: {out})")


if __name__ == "__main__":
    main()
