"""``python -m evemu.client load``: a load generator on our own runtime (stackless tasklets and
:mod:`evemu.client`), in one or several processes.

    python -m evemu.client load --port 26000 --clients 1000 --rate 1000,5000,10000 \\
        --duration 10 --procs 2 --server-pid PID
    python -m evemu.client load --start-server --clients 200 --rate max --duration 5

What it does:

1. **Login phase.**  ``--clients`` connections log in (accounts ``<prefix>NNNNN``, created by the
   server's auto-account), at most ``--login-concurrency`` handshakes in flight per process.
   logins/s = clients / (last login done - first connect), over this phase only; the login
   latencies (connect to SessionInitialState) are reported too.
2. **Call phases**, one per offered rate of ``--rate`` (a comma list; ``max`` = closed loop:
   every client calls back to back).  Open loop: each client has its own schedule of
   ``rate / clients`` calls per second with a random phase, and a call's latency is measured from
   its *scheduled* time to its reply, so a server that falls behind shows it (no coordinated
   omission).  A client has one call in flight, as the EVE client mostly does.
3. **Server figures**, when the server's pid is known (``--server-pid``, or ``--start-server``
   which starts ``python -m evemu`` on a free port with a fresh database): RSS before and
   after the logins (VmRSS of /proc/PID/status) -> RSS per connection; server CPU-seconds
   (utime + stime of /proc/PID/stat) of each phase -> calls per server CPU-second.

``--procs N`` splits the clients and the rate over N worker processes (``python -m
evemu.client _load-worker``, driven over a pipe), because one process cannot out-run the
server it measures; the phases start at a common time on the machine's monotonic clock.

The call made is ``--call service.method`` (default ``machoNet.GetTime``).  Every figure is
printed as a table; ``run()`` returns them as a dict (benchmarks/bench_server.py uses it).
"""
import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time

__all__ = ["run", "main", "Worker", "percentiles", "ServerProcess", "proc_status",
           "proc_cpu_seconds"]

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_raw_send = socket.socket.send


# ----------------------------------------------------------------------- /proc readings
def proc_status(pid):
    """``{'VmRSS': bytes, 'VmHWM': bytes, ...}`` of a process (Linux), {} if unreadable."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                parts = v.split()
                if len(parts) == 2 and parts[1] == "kB":
                    out[k] = int(parts[0]) * 1024
    except OSError:
        pass
    return out


def proc_cpu_seconds(pid):
    """User + system CPU seconds of a process (Linux), None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def percentiles(samples, ps=(50, 90, 99)):
    """Nearest-rank percentiles of a list of numbers, plus max; None for an empty list."""
    if not samples:
        return {**{f"p{p}": None for p in ps}, "max": None}
    s = sorted(samples)
    out = {}
    for p in ps:
        k = max(0, min(len(s) - 1, int(-(-p * len(s) // 100)) - 1))
        out[f"p{p}"] = s[k]
    out["max"] = s[-1]
    return out


# ----------------------------------------------------------------------- the worker
class Worker:
    """Clients of one process; every method runs the stackless loop until it is done."""

    def __init__(self, host, port, first, count, prefix="load", password="pw",
                 call="machoNet.GetTime", seed=None):
        self.host, self.port = host, port
        self.names = [f"{prefix}{i:05d}" for i in range(first, first + count)]
        self.password = password
        self.service, _, self.method = call.partition(".")
        self.clients = []
        self.rng = random.Random(seed if seed is not None else first)

    # ------------------------------------------------------------------ login phase
    def login(self, concurrency=50, start_at=None):
        import stackless
        from stackless import loop, sync

        from . import Client

        slots = sync.Semaphore(max(1, concurrency))
        lat, errors = [], []
        self.clients = []
        if start_at is not None:
            _sleep_until(start_at)
        t0 = time.monotonic()

        def one(name):
            with slots:
                c = None
                started = time.monotonic()
                try:
                    c = Client.connect((self.host, self.port), timeout=120)
                    c.login(name, self.password)
                    lat.append(time.monotonic() - started)
                    self.clients.append(_FastCaller(c, self.service, self.method))
                except Exception as e:
                    errors.append(repr(e))
                    if c is not None:
                        c.close()

        tasks = [stackless.tasklet(one)(n) for n in self.names]
        for t in tasks:
            if t.alive:
                loop.run_until(t)
        return {"t0": t0, "t1": time.monotonic(), "lat": lat, "errors": len(errors),
                "first_error": errors[0] if errors else None, "logged_in": len(self.clients)}

    # ------------------------------------------------------------------ call phase
    def run(self, rate, duration, start_at=None, max_calls=None):
        """Open loop at ``rate`` calls/s over this worker's clients for ``duration`` s (or
        closed loop when rate is None); returns latencies (s) and counts."""
        import stackless
        from stackless import loop

        clients = [c for c in self.clients if c.alive]
        lat, errors = [], []
        if not clients:
            return {"lat": [], "errors": 0, "calls": 0, "t0": 0, "t1": 0, "first_error": None}
        if start_at is None:
            start_at = time.monotonic() + 0.05
        end = start_at + duration
        per_client = None if not rate else rate / len(clients)

        def closed(c):
            n = 0
            while time.monotonic() < end and c.alive and (max_calls is None or n < max_calls):
                t = time.monotonic()
                try:
                    c.call()
                    lat.append(time.monotonic() - t)
                except Exception as e:
                    errors.append(repr(e))
                n += 1

        def opened(c, phase):
            interval = 1.0 / per_client
            k = 0
            while c.alive:
                due = start_at + phase + k * interval
                if due >= end:
                    return
                k += 1
                if due > time.monotonic():
                    loop.sleep_until(due)
                try:
                    c.call()
                    lat.append(time.monotonic() - due)
                except Exception as e:
                    errors.append(repr(e))

        _sleep_until(start_at)
        t0 = time.monotonic()
        cpu0 = time.process_time()
        if per_client is None:
            tasks = [stackless.tasklet(closed)(c) for c in clients]
        else:
            tasks = [stackless.tasklet(opened)(c, self.rng.random() / per_client)
                     for c in clients]
        for t in tasks:
            if t.alive:
                loop.run_until(t)
        return {"lat": lat, "errors": len(errors), "calls": len(lat), "t0": t0,
                "t1": time.monotonic(), "first_error": errors[0] if errors else None,
                "cpu": time.process_time() - cpu0}

    def close(self):
        for c in self.clients:
            c.close()
        self.clients = []


def _sleep_until(when):
    from stackless import loop
    delay = when - time.monotonic()
    if delay > 0:
        loop.sleep(delay)


class _FastCaller:
    """One logged-in client making one kind of call, without the generic packet classes:
    the CallReq body is marshalled once, each call only builds its source address and the
    reply is matched on its instance name and destination call id.  The server's PingReqs
    are answered; notifications are dropped."""

    def __init__(self, client, service, method):
        from evemu.client import RemoteError
        from evemu.machonet.packets import parse_packet
        from evemu.wire import marshal
        from evemu.wire.framing import encode_frame
        from evemu.wire.marshal import Instance, SubStream, make_instance

        self._Instance, self._dumps, self._loads = make_instance, marshal.dumps, marshal.loads
        self._frame, self._parse, self._RemoteError = encode_frame, parse_packet, RemoteError
        self.client = client
        self.sock = client.sock
        self.reader = client.reader
        self.alive = True
        self.call_id = 1000
        inner = marshal.dumps((1, method.encode(), (), {}), None)
        self._body = ((0, SubStream.from_raw(inner)),)
        self._dest = Instance("macho.MachoAddress", (8, service.encode(), None))
        self._cid = client.client_id
        try:        # stackless sockets are non-blocking underneath: send() never blocks
            self._raw_ok = socket.socket.gettimeout(client.sock) == 0.0
        except (OSError, TypeError):
            self._raw_ok = False

    def call(self):
        Instance = self._Instance
        self.call_id += 1
        cid = self.call_id
        src = Instance("macho.MachoAddress", (2, self._cid, cid, None))
        pkt = Instance("macho.CallReq", (6, src, self._dest, None, self._body, None, None))
        try:
            frame = self._frame(self._dumps(pkt, None))
            try:        # one non-blocking send() usually takes the whole small frame
                sent = _raw_send(self.sock, frame) if self._raw_ok else 0
            except BlockingIOError:
                sent = 0
            if sent < len(frame):
                self.sock.sendall(memoryview(frame)[sent:])
            while True:
                payload = self.reader.read_frame()
                if payload is None:
                    raise ConnectionResetError("server closed the connection")
                v = self._loads(payload)
                name = v.name
                if name == "macho.CallRsp" and v.state[2].state[2] == cid:
                    return
                if name == "macho.ErrorResponse" and v.state[2].state[2] == cid:
                    raise self._RemoteError(self._parse(v))
                if name == "macho.PingReq":
                    self.client.answer_ping(self._parse(v))
        except (OSError, ValueError, EOFError):
            self.close()
            raise

    def close(self):
        self.alive = False
        self.client.close()


# ----------------------------------------------------------------------- worker processes
class _Remote:
    """A worker process driven over its stdin/stdout with JSON lines."""

    def __init__(self, spec):
        env = dict(os.environ)
        self.proc = subprocess.Popen([sys.executable, "-m", "evemu.client", "_load-worker"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     text=True, bufsize=1)
        self.send({"cmd": "init", **spec})
        self.recv()

    def send(self, msg):
        self.proc.stdin.write(json.dumps(msg) + "\n")
        self.proc.stdin.flush()

    def recv(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load worker {self.proc.pid} died (status {self.proc.poll()})")
        return json.loads(line)

    def close(self):
        try:
            self.send({"cmd": "quit"})
            self.proc.wait(timeout=30)
        except Exception:
            self.proc.kill()
            self.proc.wait()


class _Local:
    """The same interface for a worker in this process."""

    def __init__(self, spec):
        self.worker = Worker(**spec)
        self.reply = None

    def send(self, msg):
        self.reply = _serve(self.worker, msg)

    def recv(self):
        return self.reply

    def close(self):
        self.worker.close()


def _serve(worker, msg):
    cmd = msg["cmd"]
    if cmd == "login":
        return worker.login(msg["concurrency"], msg.get("start_at"))
    if cmd == "run":
        return worker.run(msg["rate"], msg["duration"], msg.get("start_at"),
                          msg.get("max_calls"))
    raise ValueError(f"unknown worker command {cmd!r}")


def worker_main():
    """``python -m evemu.client _load-worker``: JSON commands on stdin, results on stdout."""
    worker = None
    out = sys.stdout
    for line in sys.stdin:
        msg = json.loads(line)
        if msg["cmd"] == "quit":
            break
        if msg["cmd"] == "init":
            spec = {k: v for k, v in msg.items() if k != "cmd"}
            worker = Worker(**spec)
            reply = {"ok": True}
        else:
            reply = _serve(worker, msg)
            # latencies as integer microseconds: compact, exact enough
            reply["lat"] = [int(x * 1e6) for x in reply["lat"]]
        out.write(json.dumps(reply) + "\n")
        out.flush()
    if worker is not None:
        worker.close()
    return 0


# ----------------------------------------------------------------------- a server to measure
def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


#: ``python -c`` program standing for ``python -m evemu`` that raises the server's global
#: connection cap to $EVEMU_LOAD_MAX_CONNECTIONS (for runs of more clients than the default
#: cap; the setting has no command-line flag here).
RAISED_CAP_LAUNCHER = r"""
import os, runpy, sys
from evemu.machonet import server as _server
_cap = int(os.environ["EVEMU_LOAD_MAX_CONNECTIONS"])
_init = _server.Server.__init__
def __init__(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    if getattr(self.config, "max_connections", _cap) < _cap:
        self.config.max_connections = _cap
_server.Server.__init__ = __init__
sys.argv = ["evemu"] + sys.argv[1:]
runpy.run_module("evemu", run_name="__main__", alter_sys=True)
"""


class ServerProcess:
    """``python -m evemu`` on a free loopback port with a fresh database in a temporary
    folder; ``startup`` is the time from spawning to the first accepted TCP connection."""

    def __init__(self, extra_args=(), log_level="WARNING", launcher=None, env=None,
                 max_connections=None):
        """``launcher``: the command that stands for ``python -m evemu`` (e.g. a profiling
        wrapper taking the same arguments); ``max_connections``: raise the server's global
        connection cap to this (through :data:`RAISED_CAP_LAUNCHER`)."""
        if max_connections:
            launcher = launcher or [sys.executable, "-c", RAISED_CAP_LAUNCHER]
            env = {**(env or {}), "EVEMU_LOAD_MAX_CONNECTIONS": str(max_connections)}
        self.tmp = tempfile.TemporaryDirectory(prefix="evemu-load-")
        self.host, self.port = "127.0.0.1", free_port()
        db = os.path.join(self.tmp.name, "load.sqlite3")
        cmd = [*(launcher or [sys.executable, "-m", "evemu"]), "--port", str(self.port),
               "--db", db, "--log-level", log_level, *extra_args]
        self.log = open(os.path.join(self.tmp.name, "server.log"), "w+")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=None if env is None else {**os.environ, **env})
        self.pid = self.proc.pid
        deadline = t0 + 30
        while True:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"server exited with {self.proc.returncode}: "
                                   f"{self.log.read()[-2000:]}")
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("server did not start listening within 30 s")
                time.sleep(0.005)
        self.startup = time.monotonic() - t0

    def stop(self, timeout=10):
        """SIGTERM, then wait; returns the seconds it took to exit."""
        t0 = time.monotonic()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        took = time.monotonic() - t0
        self.log.close()
        self.tmp.cleanup()
        return took

    def log_tail(self, n=2000):
        try:
            with open(os.path.join(self.tmp.name, "server.log")) as f:
                return f.read()[-n:]
        except OSError:
            return ""


# ----------------------------------------------------------------------- the driver
def _parse_rates(text):
    rates = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        rates.append(None if part in ("max", "0", "closed") else float(part))
    return rates or [None]


def run(host, port, clients, rates, duration, procs=1, server_pid=None, prefix="load",
        password="pw", call="machoNet.GetTime", login_concurrency=50, max_calls=None,
        progress=None):
    """Log ``clients`` in, then one call phase per rate; returns a dict of figures."""
    procs = max(1, min(procs, clients))
    share = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    first = 0
    workers = []
    say = progress or (lambda *_: None)
    result = {"clients": clients, "procs": procs, "phases": []}
    try:
        for i, n in enumerate(share):
            spec = {"host": host, "port": port, "first": first, "count": n, "prefix": prefix,
                    "password": password, "call": call}
            first += n
            workers.append(_Remote(spec) if procs > 1 else _Local(spec))
        rss0 = proc_status(server_pid) if server_pid else {}
        cpu0 = proc_cpu_seconds(server_pid) if server_pid else None
        say(f"logging in {clients} clients ({procs} process(es))...")
        start_at = time.monotonic() + (0.3 if procs > 1 else 0)
        for w in workers:
            w.send({"cmd": "login", "concurrency": max(1, login_concurrency // procs),
                    "start_at": start_at})
        replies = [w.recv() for w in workers]
        cpu1 = proc_cpu_seconds(server_pid) if server_pid else None
        scale = 1e-6 if procs > 1 else 1.0
        lat = [x * scale for r in replies for x in r["lat"]]
        t0 = min(r["t0"] for r in replies)
        t1 = max(r["t1"] for r in replies)
        logged = sum(r["logged_in"] for r in replies)
        login = {"logged_in": logged, "errors": sum(r["errors"] for r in replies),
                 "first_error": next((r["first_error"] for r in replies if r["first_error"]),
                                     None),
                 "seconds": t1 - t0, "per_second": logged / (t1 - t0) if t1 > t0 else 0.0,
                 **percentiles(lat)}
        if cpu0 is not None and cpu1 is not None:
            login["server_cpu"] = cpu1 - cpu0
        result["login"] = login
        if server_pid:
            time.sleep(0.2)                    # let the server settle its buffers
            rss1 = proc_status(server_pid)
            result["rss_before"] = rss0.get("VmRSS")
            result["rss_after_logins"] = rss1.get("VmRSS")
            result["hwm_after_logins"] = rss1.get("VmHWM")
            if logged and rss0.get("VmRSS") and rss1.get("VmRSS"):
                result["rss_per_connection"] = (rss1["VmRSS"] - rss0["VmRSS"]) / logged
        for rate in rates:
            say(f"offering {'max' if rate is None else int(rate)} calls/s for {duration} s...")
            start_at = time.monotonic() + (0.3 if procs > 1 else 0.05)
            c0 = proc_cpu_seconds(server_pid) if server_pid else None
            for w, n in zip(workers, share):
                w.send({"cmd": "run", "rate": None if rate is None else rate * n / clients,
                        "duration": duration, "start_at": start_at, "max_calls": max_calls})
            replies = [w.recv() for w in workers]
            c1 = proc_cpu_seconds(server_pid) if server_pid else None
            lat = [x * scale for r in replies for x in r["lat"]]
            calls = sum(r["calls"] for r in replies)
            t0 = min((r["t0"] for r in replies if r["t0"]), default=0)
            t1 = max((r["t1"] for r in replies), default=0)
            phase = {"offered": rate, "calls": calls, "seconds": t1 - t0,
                     "per_second": calls / (t1 - t0) if t1 > t0 else 0.0,
                     "errors": sum(r["errors"] for r in replies),
                     "first_error": next((r["first_error"] for r in replies
                                          if r["first_error"]), None),
                     **percentiles(lat)}
            phase["client_cpu"] = sum(r.get("cpu", 0.0) for r in replies)
            if c0 is not None and c1 is not None:
                phase["server_cpu"] = c1 - c0
                phase["calls_per_server_cpu_second"] = calls / (c1 - c0) if c1 > c0 else None
            if server_pid:
                phase["rss_after"] = proc_status(server_pid).get("VmRSS")
            result["phases"].append(phase)
    finally:
        for w in workers:
            w.close()
    return result


def _ms(v):
    return "-" if v is None else f"{v * 1000:.2f}"


def report(r, out=print):
    lg = r["login"]
    out(f"login phase: {lg['logged_in']}/{r['clients']} clients in {lg['seconds']:.2f} s = "
        f"{lg['per_second']:.0f} logins/s; login latency p50 {_ms(lg['p50'])} ms, p99 "
        f"{_ms(lg['p99'])} ms, max {_ms(lg['max'])} ms; {lg['errors']} errors"
        + (f" (first: {lg['first_error']})" if lg["errors"] else "")
        + (f"; server CPU {lg['server_cpu']:.2f} s" if "server_cpu" in lg else ""))
    if r.get("rss_per_connection") is not None:
        out(f"server RSS: {r['rss_before'] / 2**20:.1f} MiB before, "
            f"{r['rss_after_logins'] / 2**20:.1f} MiB with {lg['logged_in']} clients "
            f"(high-water {r['hwm_after_logins'] / 2**20:.1f} MiB): "
            f"{r['rss_per_connection'] / 1024:.1f} KiB per connection")
    out(f"{'offered/s':>10} {'calls/s':>9} {'calls':>8} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'errors':>6} {'srv CPU s':>9} {'calls/srv-CPU-s':>15} "
        f"{'client CPU s':>12}")
    for ph in r["phases"]:
        cps = ph.get("calls_per_server_cpu_second")
        out(f"{'max' if ph['offered'] is None else int(ph['offered']):>10} "
            f"{ph['per_second']:>9.0f} {ph['calls']:>8} {_ms(ph['p50']):>8} {_ms(ph['p90']):>8} "
            f"{_ms(ph['p99']):>8} {_ms(ph['max']):>8} {ph['errors']:>6} "
            f"{ph.get('server_cpu', float('nan')):>9.2f} "
            f"{('-' if cps is None else f'{cps:.0f}'):>15} {ph.get('client_cpu', 0.0):>12.2f}"
            + (f"  first error: {ph['first_error']}" if ph["errors"] else ""))


def build_parser(prog="python -m evemu.client load"):
    p = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=26000)
    p.add_argument("--clients", type=int, default=100, help="connections (default 100)")
    p.add_argument("--rate", default="max",
                   help="offered calls/s over all clients; a comma list sweeps them "
                        "(e.g. 1000,5000,10000); 'max' = closed loop (default)")
    p.add_argument("--duration", type=float, default=5.0, help="seconds per rate (default 5)")
    p.add_argument("--calls", type=int, default=None,
                   help="closed loop: stop each client after this many calls")
    p.add_argument("--procs", type=int, default=1, help="client processes (default 1)")
    p.add_argument("--server-pid", type=int, default=None,
                   help="read the server's RSS and CPU time from /proc/PID")
    p.add_argument("--start-server", action="store_true",
                   help="start python -m evemu on a free port with a fresh database, "
                        "measure it, stop it")
    p.add_argument("--prefix", default="load", help="account name prefix (default load)")
    p.add_argument("--password", default="pw")
    p.add_argument("--call", default="machoNet.GetTime", help="service.method to call")
    p.add_argument("--login-concurrency", type=int, default=50,
                   help="handshakes in flight at once, over all processes (default 50)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON too")
    return p


def main(argv=None, prog="python -m evemu.client load"):
    a = build_parser(prog).parse_args(argv)
    rates = _parse_rates(a.rate)
    duration = a.duration
    if a.calls is not None:
        rates, duration = [None], 3600.0
    server = None
    try:
        if a.start_server:
            server = ServerProcess(max_connections=a.clients + 64 if a.clients > 4000 else None)
            a.host, a.port, a.server_pid = server.host, server.port, server.pid
            print(f"server pid {server.pid} on {server.host}:{server.port}, listening after "
                  f"{server.startup * 1000:.0f} ms")
        r = run(a.host, a.port, a.clients, rates, duration, a.procs, a.server_pid, a.prefix,
                a.password, a.call, a.login_concurrency, a.calls,
                progress=lambda s: print(s, file=sys.stderr))
    finally:
        if server is not None:
            took = server.stop()
            print(f"server stopped in {took * 1000:.0f} ms")
    report(r)
    if a.json:
        print(json.dumps(r))
    bad = r["login"]["errors"] + sum(ph["errors"] for ph in r["phases"])
    return 1 if bad else 0
