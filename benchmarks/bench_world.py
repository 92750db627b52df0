"""The world, part 1, end to end: N clients log in, create and select characters docked in one
station, and chat in that system's local channel (issue 10's combined benchmark).

    python benchmarks/bench_world.py --clients 100 --messages 50       # development
    python benchmarks/bench_world.py --clients 1000 --messages 200     # the issue's figures

The server runs in a subprocess (this script with ``--serve DB``: the standard services, no
debug ones, a SQLite file) so its RSS and CPU are its own; this process holds the clients.

1. every client logs in (its own account; tasklets, 50 at a time);
2. every client creates a character (``CreateCharacterWithDoll``, all of one school, so all
   start in the same station and system);
3. every client selects it (``SelectCharacterID``: session change, MOTD, the server joins it to
   local and corp chat and announces it to the station's guests): ``--window`` selections in
   flight at once, clients read raw frames and skip notifications undecoded.  Selections per
   second is N over the time from the first send to the last reply;
4. ``--messages`` times, one client sends a message in local; the time until each of the N
   members has it (one message in flight; both processes share CLOCK_MONOTONIC).

RSS per docked character: (server RSS after the selections - RSS with N logged-in
connections) / N, and the same from the idle server (connection included).
"""
import argparse
import os
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import stackless
from stackless import loop

from bench_chat import NOTIFICATION_TAG, Raw, fan_out, is_reply, pct, rss_kib
from evemu.client import Client
from evemu.wire.marshal import Instance

KV = Instance("util.KeyVal", {})
SCHOOL = (7, 13, 20)           # Gallente: bloodline, ancestry, school (Federal Navy Academy)


def serve(db_path):
    """``--serve DB``: the server with the standard services on a SQLite file; prints its
    port, runs until killed."""
    import logging
    from evemu.config import Config
    from evemu.db import Database
    from evemu.machonet.server import Server
    from evemu.services import Service, build_services, exposed

    class WorldBenchStats(Service):
        name = "worldBenchStats"

        @exposed
        def FanOut(self, call):
            return [list(x) for x in self.manager.lookup("LSC").fanout_stats]

        @exposed
        def SystemOf(self, call, char_id):
            from evemu.services.notify import connection_of
            return connection_of(self.manager, char_id).session.get("solarsystemid2")

        @exposed
        def LocalMembers(self, call, system):
            ch = self.manager.lookup("LSC").world.channels.get(system)
            return 0 if ch is None else len(ch.members)

    logging.basicConfig(level=logging.WARNING)
    srv = Server(lambda s: build_services(s, (WorldBenchStats,)),
                 Config(port=0, max_connections=10000),
                 db=Database(db_path, sqlite_sync=os.environ.get("EVEMU_SQLITE_SYNC", "full")))
    _host, port = srv.start()
    print(port, flush=True)
    prof_path = os.environ.get("BENCH_WORLD_PROFILE")
    if not prof_path:
        srv.serve_forever()
        return
    import cProfile
    import signal
    prof = cProfile.Profile()

    def dump(*_):
        prof.disable()
        prof.dump_stats(prof_path)
        os._exit(0)

    signal.signal(signal.SIGTERM, dump)
    prof.enable()
    srv.serve_forever()


def start_server(db_path):
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", db_path],
                            stdout=subprocess.PIPE, cwd=tempfile.gettempdir())
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line)


class Reader(Raw):
    """A Raw client that keeps only the frames that are not notifications: the selection
    phase brings ~N^2 notifications, which are skipped by their opening bytes without being
    copied out of the buffer (the client process competes with the server for the CPU)."""

    def read_replies(self):
        try:
            while True:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    raise ConnectionError(f"client {self.index}: server closed")
                self.buf += chunk
                if len(chunk) < (1 << 20):
                    break
        except BlockingIOError:
            pass
        buf, pos, end = self.buf, 0, len(self.buf)
        unpack, tag = struct.unpack_from, NOTIFICATION_TAG
        while end - pos >= 4:
            (n,) = unpack("<I", buf, pos)
            if end - pos - 4 < n:
                break
            if buf[pos + 9:pos + 12] != tag:
                self.frames.append((0.0, bytes(buf[pos + 4:pos + 4 + n])))
            pos += 4 + n
        del buf[:pos]


def in_tasklets(n, fn, concurrency=50):
    """fn(i) for i < n, ``concurrency`` tasklets at a time; returns the results in order."""
    out, errors = [None] * n, []

    def one(i):
        try:
            out[i] = fn(i)
        except Exception as e:
            errors.append(repr(e))

    for start in range(0, n, concurrency):
        tasks = [stackless.tasklet(one)(i) for i in range(start, min(n, start + concurrency))]
        for t in tasks:
            loop.run_until(t)
    if errors:
        raise RuntimeError(f"{len(errors)} failed, first: {errors[0]}")
    return out


def run(n, messages, window, nap=0.0):
    tmp = tempfile.TemporaryDirectory()
    proc, port = start_server(os.path.join(tmp.name, "world.sqlite3"))
    try:
        time.sleep(0.3)
        rss_idle = rss_kib(proc.pid)

        def login(i):
            c = Client.connect(("127.0.0.1", port))
            c.login(f"world{i:05d}", "pw")
            return c

        t = time.perf_counter()
        clients = in_tasklets(n, login)
        login_s = time.perf_counter() - t
        rss_logged_in = rss_kib(proc.pid)

        def create(i):
            bl, anc, school = SCHOOL
            return clients[i].call("charUnboundMgr", "CreateCharacterWithDoll",
                                   f"World Pilot{i}", bl, i % 2, anc, KV, KV, school)

        t = time.perf_counter()
        char_ids = in_tasklets(n, create)
        create_s = time.perf_counter() - t
        rss_created = rss_kib(proc.pid)

        raws = [Reader(c, i) for i, c in enumerate(clients)]
        by_fd = {r.fd: r for r in raws}
        ep = select.epoll()
        for r in raws:
            ep.register(r.fd, select.EPOLLIN)

        # 3. selections, `window` in flight; everything else read and skipped
        todo = list(range(n))
        outstanding = selected = 0
        sel_lat, sent_at = [], {}
        cpu0, my_cpu0 = server_cpu(proc.pid), time.process_time()
        t = time.perf_counter()
        while selected < n:
            while todo and outstanding < window:
                i = todo.pop(0)
                sent_at[i] = time.perf_counter()
                raws[i].send_call("charUnboundMgr", "SelectCharacterID", char_ids[i])
                outstanding += 1
            for fd, _ev in ep.poll(1.0):
                r = by_fd[fd]
                r.read_replies()
                for _ts, payload in r.frames:
                    cid = is_reply(payload)
                    if cid is not None and cid in r.pending:
                        r.pending.discard(cid)
                        outstanding -= 1
                        selected += 1
                        sel_lat.append(time.perf_counter() - sent_at[r.index])
                r.frames.clear()
        select_s = time.perf_counter() - t
        select_cpu = (server_cpu(proc.pid) - cpu0, time.process_time() - my_cpu0)
        quiet = time.monotonic() + 1.0           # let the last announcements drain
        while time.monotonic() < quiet:
            for fd, _ev in ep.poll(0.1):
                by_fd[fd].read_replies()
        for r in raws:
            r.frames.clear()
        rss_docked = rss_kib(proc.pid)

        # 4. chat in local: every selected character is in it already
        stats = Client.connect(("127.0.0.1", port))
        stats.login("worldstats", "pw")
        system = stats.call("worldBenchStats", "SystemOf", char_ids[0])
        in_local = stats.call("worldBenchStats", "LocalMembers", system)
        if in_local != n:
            raise RuntimeError(f"{in_local} of {n} characters in local {system}")
        local = ((b"solarsystemid2", system),)
        per_delivery, per_message, lost = fan_out(raws, by_fd, ep, local, messages, nap)
        ep.close()
        fanout = [t for sent, t in stats.call("worldBenchStats", "FanOut") if sent == n]
        stats.close()
        for c in clients:
            c.close()
        return {"n": n, "messages": messages, "login_s": login_s, "create_s": create_s,
                "select_s": select_s, "select_cpu": select_cpu, "sel_lat": sel_lat, "per_delivery": per_delivery,
                "per_message": per_message, "lost": lost, "server_fanout": fanout,
                "rss_idle": rss_idle, "rss_logged_in": rss_logged_in,
                "rss_created": rss_created, "rss_docked": rss_docked,
                "cpu_s": server_cpu(proc.pid)}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        tmp.cleanup()


def server_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None):
    if argv is None and sys.argv[1:2] == ["--serve"]:
        return serve(sys.argv[2])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--messages", type=int, default=50)
    p.add_argument("--window", type=int, default=20, help="selections in flight at once")
    p.add_argument("--nap-ms", type=float, default=0.0,
                   help="while messages fan out, poll every NAP ms instead of blocking")
    a = p.parse_args(argv)
    r = run(a.clients, a.messages, a.window, a.nap_ms / 1000)
    n = r["n"]
    ms = lambda v: f"{v * 1000:8.1f} ms"       # noqa: E731
    print(f"world: {n} clients log in, create, select (one station) and chat in local; "
          f"{r['messages']} messages (python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.1f}, server CPU {r['cpu_s']:.1f} s)")
    print(f"{'figure':<46}{'value':>14}{'target':>12}")
    sel = n / r["select_s"]
    print(f"{'logins':<46}{n / r['login_s']:>10.0f} /s")
    print(f"{'character creations':<46}{n / r['create_s']:>10.0f} /s")
    print(f"{'character selections':<46}{sel:>10.0f} /s{'>= 200 /s':>12}")
    print(f"{'  CPU during the selections: server / clients':<46}"
          f"{r['select_cpu'][0]:>6.1f} /{r['select_cpu'][1]:>5.1f} s")
    print(f"{'  selection latency p50':<46}{ms(statistics.median(r['sel_lat'])):>14}")
    print(f"{'  selection latency p99':<46}{ms(pct(r['sel_lat'], 99)):>14}")
    chat99 = pct(r["per_message"], 99) if r["per_message"] else float("inf")
    if r["per_message"]:
        print(f"{'chat, all members reached p50':<46}"
              f"{ms(statistics.median(r['per_message'])):>14}")
        print(f"{'chat, all members reached p99':<46}{ms(chat99):>14}{'<= 50 ms':>12}")
        print(f"{'chat, per delivery p50':<46}{ms(statistics.median(r['per_delivery'])):>14}")
    if r["server_fanout"]:
        sf = r["server_fanout"]
        print(f"{'  of which in the server (SendMessage) p99':<46}{ms(pct(sf, 99)):>14}")
    print(f"{'chat deliveries lost (5 s timeout)':<46}{r['lost']:>14}")
    print(f"{'server RSS idle / logged in / docked':<46}"
          f"{r['rss_idle'] / 1024:>5.0f} /{r['rss_logged_in'] / 1024:>4.0f} /"
          f"{r['rss_docked'] / 1024:>4.0f} MiB")
    print(f"{'RSS per docked character (create+select)':<46}"
          f"{(r['rss_docked'] - r['rss_logged_in']) / n:>10.1f} KiB")
    print(f"{'RSS per docked character, with connection':<46}"
          f"{(r['rss_docked'] - r['rss_idle']) / n:>10.1f} KiB")
    print(f"targets: selections {'met' if sel >= 200 else 'NOT met'} ({sel:.0f}/s); chat p99 "
          f"{'met' if chat99 <= 0.05 else 'NOT met'} ({chat99 * 1000:.1f} ms)")
    return 0 if not r["lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
