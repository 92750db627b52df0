"""Chat fan-out: N clients in one solar system's local channel, messages delivered to all.

    python benchmarks/bench_chat.py --clients 100 --messages 100      # development
    python benchmarks/bench_chat.py --clients 1000 --messages 200     # the issue's figure

The server runs in a subprocess (this script with ``--serve``: ``python -m evemu
--debug-services`` plus a service that reads the LSC service's own fan-out timings), so its
RSS and latency are its own; this process holds the clients.  Steps:

1. every client logs in (tasklets, 50 at a time) and puts a character in the session with
   ``debugSvc.SetSession`` (charid, corpid, solarsystemid2: all in one system); RSS is read;
2. every client calls ``LSC.JoinChannels([(('solarsystemid2', id),)])`` as the real client does
   after a session change (the server announces each join to the members already there:
   N*(N-1)/2 notifications, and answers each join with the whole member list); RSS is read;
3. ``--messages`` times, one client (a different one each time) sends a message; the time from
   the send to the arrival of the OnLSC frame at each of the N members is recorded (one
   message in flight at a time; CLOCK_MONOTONIC is shared by both processes).

Reported: fan-out latency per delivery and per message (the last of the N deliveries), p50 and
p99, and the time the server spent in SendMessage; joins per second; server RSS per member.
Clients read raw frames on non-blocking sockets in one epoll loop and time a frame when it is
read, before any decoding.
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

from evemu.client import Client
from evemu.machonet import constants as C
from evemu.wire import marshal
from evemu.wire.framing import encode_frame

SYSTEM, CORP = 30000142, 1000044


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def serve():
    """``--serve``: the server, as ``python -m evemu --debug-services`` plus a service that
    hands out the LSC service's own fan-out timings.  Prints its port, runs until killed."""
    import logging
    from evemu.config import Config
    from evemu.db import Database
    from evemu.machonet.server import Server
    from evemu.services import Service, build_services, exposed

    class ChatBenchStats(Service):
        name = "chatBenchStats"

        @exposed
        def FanOut(self, call):
            return [list(x) for x in self.manager.lookup("LSC").fanout_stats]

    logging.basicConfig(level=logging.WARNING)
    srv = Server(lambda s: build_services(s, (ChatBenchStats,)),
                 Config(port=0, debug_services=True, max_connections=10000),
                 db=Database(":memory:"))
    _host, port = srv.start()
    print(port, flush=True)
    srv.serve_forever()


def start_server():
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve"],
                            stdout=subprocess.PIPE, cwd=tempfile.gettempdir())
    line = proc.stdout.readline()
    if not line.strip().isdigit():
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc, int(line)


def server_fanout(port):
    with Client.connect(("127.0.0.1", port)) as c:
        c.login("chatstats", "pw")
        return c.call("chatBenchStats", "FanOut")


class Raw:
    """A logged-in client, read and written without tasklets."""

    def __init__(self, client, index):
        self.client = client
        self.index = index
        self.fd = client.sock.fileno()
        os.set_blocking(self.fd, False)
        self.buf = bytearray(client.reader._buf)     # whatever the reader had read ahead
        self.frames = []                             # (time read, payload) since last take
        self.pending = set()                         # call ids sent, not answered

    def send_call(self, service, method, *args):
        call_id, pkt = self.client.call_packet(service, method, *args)
        data = encode_frame(marshal.dumps(pkt.to_wire(), 8192))
        os.write(self.fd, data)                      # small: fits the socket buffer
        self.pending.add(call_id)
        return call_id

    def read(self):
        now = time.monotonic()
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
        buf = self.buf
        pos = 0
        while len(buf) - pos >= 4:
            (n,) = struct.unpack_from("<I", buf, pos)
            if len(buf) - pos - 4 < n:
                break
            self.frames.append((now, bytes(buf[pos + 4:pos + 4 + n])))
            pos += 4 + n
        del buf[:pos]


def _notification_tag():
    """The bytes that open an uncompressed macho.Notification (instance + class name from
    the string table), to skip those frames undecoded."""
    from evemu.machonet.packets import Address, Packet
    from evemu.wire.marshal import SubStream
    pkt = Packet(C.NOTIFICATION, Address.node(1), Address.broadcast("OnLSC", b"x"), 1,
                 ((0, SubStream((0, (1, ())))),), {b"sn": 1})
    tag = marshal.dumps(pkt.to_wire(), None)[5:8]
    assert tag[:1] == b"\x17"
    return tag


NOTIFICATION_TAG = _notification_tag()


def is_reply(payload):
    """The call id of a CallRsp frame, None for anything else; an ErrorResponse raises.
    (Packet class names go through the string table, so the frame has to be decoded.)"""
    v = marshal.loads(payload)
    if v.name in ("macho.CallRsp", "macho.ErrorResponse"):
        call_id = v.state[2].state[2]                     # destination Client(id, callID)
        if v.name == "macho.ErrorResponse":
            raise RuntimeError(f"call {call_id} failed: {v.state[4]!r:.300}")
        return call_id
    return None


def pump(by_fd, ep, timeout, nap=0.0):
    """Read every ready socket; returns the clients that got data.  With ``nap``, sleep that
    long first and then only look (instead of blocking in epoll): the server's sends then do
    not wake this process once per frame to compete with it for the CPU (real clients are on
    other machines); a reading is late by at most ``nap``."""
    if nap:
        time.sleep(nap)
        timeout = 0
    ready = [by_fd[fd] for fd, _ev in ep.poll(timeout)]
    for r in ready:
        r.read()
    return ready


def login_all(port, n, concurrency=50):
    clients = [None] * n
    errors = []

    def one(i):
        try:
            c = Client.connect(("127.0.0.1", port))
            c.login(f"chat{i:05d}", "pw")
            for name, value in ((b"charid", 90000000 + i), (b"corpid", CORP),
                                (b"solarsystemid2", SYSTEM), (b"solarsystemid", SYSTEM)):
                c.call("debugSvc", "SetSession", name, value)
            clients[i] = c
        except Exception as e:
            errors.append(repr(e))

    for start in range(0, n, concurrency):
        tasks = [stackless.tasklet(one)(i) for i in range(start, min(n, start + concurrency))]
        for t in tasks:
            loop.run_until(t)
    if errors:
        raise RuntimeError(f"{len(errors)} logins failed, first: {errors[0]}")
    return clients


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def fan_out(raws, by_fd, ep, channel, messages, nap=0.0):
    """``messages`` SendMessage calls, one in flight, each by the next client: returns (the
    time to each delivery, the time until the last member got it, per message; deliveries
    lost after 5 s)."""
    n = len(raws)
    per_delivery, per_message, lost = [], [], 0
    for m in range(messages):
        sender = raws[m % n]
        marker = f"chatbench#{m:06d}"
        key = marker.encode()
        t0 = time.monotonic()
        sender.send_call("LSC", "SendMessage", channel, marker)
        got = {}
        deadline = t0 + 5.0
        while len(got) < n and time.monotonic() < deadline:
            for r in pump(by_fd, ep, 0.5, nap):
                if r.frames:
                    for ts, payload in r.frames:
                        if key in payload:
                            if r.index not in got:
                                got[r.index] = ts - t0
                        elif payload[5:8] != NOTIFICATION_TAG:
                            is_reply(payload)        # raises on an error reply
                    r.frames.clear()
        lost += n - len(got)
        per_delivery.extend(got.values())
        if got:
            per_message.append(max(got.values()))
    return per_delivery, per_message, lost


def run(n, messages, window, nap=0.0):
    proc, port = start_server()
    try:
        time.sleep(0.3)
        rss_idle = rss_kib(proc.pid)
        t = time.perf_counter()
        clients = login_all(port, n)
        login_s = time.perf_counter() - t
        rss_logged_in = rss_kib(proc.pid)

        raws = [Raw(c, i) for i, c in enumerate(clients)]
        by_fd = {r.fd: r for r in raws}
        ep = select.epoll()
        for r in raws:
            ep.register(r.fd, select.EPOLLIN)

        # 2. everyone joins local, `window` joins outstanding at a time
        local = ((b"solarsystemid2", SYSTEM),)
        t = time.perf_counter()
        todo = list(raws)
        outstanding = 0
        joined = 0
        while joined < n:
            while todo and outstanding < window:
                todo.pop(0).send_call("LSC", "JoinChannels", [local], C.ROLE_STD)
                outstanding += 1
            for r in pump(by_fd, ep, 1.0):
                if r.frames:
                    for _ts, payload in r.frames:
                        # skip the JoinChannel notifications without decoding them
                        if payload[5:8] == NOTIFICATION_TAG:
                            continue
                        cid = is_reply(payload)
                        if cid is not None and cid in r.pending:
                            r.pending.discard(cid)
                            outstanding -= 1
                            joined += 1
                    r.frames.clear()
        join_s = time.perf_counter() - t
        # let the last JoinChannel notifications drain
        quiet = time.monotonic() + 1.0
        while time.monotonic() < quiet:
            pump(by_fd, ep, 0.1)
        for r in raws:
            r.frames.clear()
        rss_joined = rss_kib(proc.pid)

        # 3. messages, one in flight
        per_delivery, per_message, lost = fan_out(raws, by_fd, ep, local, messages, nap)
        rss_end = rss_kib(proc.pid)
        ep.close()
        fanout = server_fanout(port)
        for c in clients:
            c.close()
        return {
            "n": n, "messages": messages, "login_s": login_s, "join_s": join_s,
            "per_delivery": per_delivery, "per_message": per_message, "lost": lost,
            "rss_idle": rss_idle, "rss_logged_in": rss_logged_in, "rss_joined": rss_joined,
            "rss_end": rss_end, "server_fanout": [t for sent, t in fanout if sent == n],
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv=None):
    if argv is None and sys.argv[1:] == ["--serve"]:
        return serve()
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--messages", type=int, default=100)
    p.add_argument("--join-window", type=int, default=20,
                   help="JoinChannels calls outstanding at once")
    p.add_argument("--nap-ms", type=float, default=0.0,
                   help="while messages fan out, poll every NAP ms instead of blocking in "
                        "epoll (fewer wake-ups competing with the server; timings late by "
                        "at most NAP)")
    a = p.parse_args(argv)
    r = run(a.clients, a.messages, a.join_window, a.nap_ms / 1000)
    n = r["n"]
    ms = lambda v: f"{v * 1000:8.2f} ms"       # noqa: E731
    print(f"chat fan-out: {n} members in one local channel, {r['messages']} messages, "
          f"nap {a.nap_ms} ms (python {sys.version.split()[0]}, load average "
          f"{os.getloadavg()[0]:.1f})")
    print(f"{'figure':<44}{'value':>14}")
    print(f"{'logins + session set-up':<44}{n / r['login_s']:>10.0f} /s")
    print(f"{'JoinChannels (member list, N-1 announcements)':<44}{n / r['join_s']:>10.0f} /s")
    if r["per_message"]:
        print(f"{'fan-out, per delivery p50':<44}{ms(statistics.median(r['per_delivery'])):>14}")
        print(f"{'fan-out, per delivery p99':<44}{ms(pct(r['per_delivery'], 99)):>14}")
        print(f"{'fan-out, all members reached p50':<44}"
              f"{ms(statistics.median(r['per_message'])):>14}")
        print(f"{'fan-out, all members reached p99':<44}{ms(pct(r['per_message'], 99)):>14}")
        print(f"{'fan-out, all members reached max':<44}{ms(max(r['per_message'])):>14}")
    if r["server_fanout"]:
        sf = r["server_fanout"]
        print(f"{'  of which in the server (SendMessage) p50':<44}{ms(statistics.median(sf)):>14}")
        print(f"{'  of which in the server (SendMessage) p99':<44}{ms(pct(sf, 99)):>14}")
    print(f"{'deliveries lost (5 s timeout)':<44}{r['lost']:>14}")
    print(f"{'server RSS idle':<44}{r['rss_idle'] / 1024:>11.1f} MiB")
    print(f"{'server RSS, N logged in':<44}{r['rss_logged_in'] / 1024:>11.1f} MiB")
    print(f"{'server RSS, N in local':<44}{r['rss_joined'] / 1024:>11.1f} MiB")
    print(f"{'RSS per member, chat only (join delta / N)':<44}"
          f"{(r['rss_joined'] - r['rss_logged_in']) / n:>10.1f} KiB")
    print(f"{'RSS per member, connection + chat':<44}"
          f"{(r['rss_joined'] - r['rss_idle']) / n:>10.1f} KiB")
    target = pct(r["per_message"], 99) * 1000 if r["per_message"] else float("inf")
    print(f"target: all {n} members reached within 50 ms p99: "
          f"{'met' if target <= 50 else 'NOT met'} ({target:.1f} ms)")
    return 0 if not r["lost"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
