"""Connection limits over loopback: the per-address cap, oldest-first eviction of connections
that have not logged in, the global cap, the per-frame deadline after login, a 4,096-socket
flood during which a real login succeeds, the listen backlog, graceful shutdown, and logs."""
import logging
import resource
import struct

import pytest

import stackless
from stackless import loop
from stackless import socket as ssocket

from evemu.client import Client
from evemu.machonet import constants as C
from evemu.machonet.server import SHUTDOWN_NOTICE
from evemu.wire import marshal

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(120):
        yield


def raw(address, source="127.0.0.1"):
    """A bare socket that has read the server's version frame (so it is surely accepted)."""
    s = ssocket.create_connection(address, timeout=10, source_address=(source, 0))
    return s


def closed_by_server(sock, timeout=5.0):
    """True if the server closes ``sock`` within ``timeout`` (data before EOF is skipped)."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(65536):
                return True
    except ConnectionError:
        return True
    except TimeoutError:
        return False


def still_open(sock):
    return not closed_by_server(sock, timeout=0.2)


# ------------------------------------------------------------------ per address
def test_per_address_cap_refuses_new_unauthenticated_connections():
    with running_server(exempt_loopback=False, max_unauthenticated_per_address=3) as server:
        first = [raw(server.address) for _ in range(3)]
        assert settle(lambda: server.pending_by_host.get("127.0.0.1") == 3)
        extra = raw(server.address)
        assert closed_by_server(extra)                       # refused
        assert all(still_open(s) for s in first)             # the earlier ones stay
        other = raw(server.address, "127.0.0.2")             # another address is not affected
        assert still_open(other)
        # a login frees a slot of its address
        for s in first[1:]:
            s.close()
        assert settle(lambda: server.pending_by_host.get("127.0.0.1") == 1)
        with Client.connect(server.address) as c:
            c.login("roomy", "pw")
            assert server.pending_by_host.get("127.0.0.1") == 1
            again = [raw(server.address) for _ in range(2)]
            assert all(still_open(s) for s in again)
            for s in again:
                s.close()
        for s in first[:1] + [extra, other]:
            s.close()


def test_loopback_is_exempt_from_the_per_address_cap_by_default():
    with running_server(max_unauthenticated_per_address=2) as server:
        socks = [raw(server.address) for _ in range(5)]
        assert settle(lambda: len(server.pending) == 5)
        assert all(still_open(s) for s in socks)
        for s in socks:
            s.close()


# ------------------------------------------------------------------ global
def test_oldest_unauthenticated_connection_makes_room():
    with running_server(max_unauthenticated=3) as server:
        socks = []
        for _ in range(3):
            socks.append(raw(server.address))
            assert settle(lambda: len(server.pending) == len(socks))
        newest = raw(server.address)
        assert closed_by_server(socks[0])                 # the oldest went
        assert all(still_open(s) for s in socks[1:] + [newest])
        assert len(server.pending) == 3
        for s in socks + [newest]:
            s.close()


def test_global_cap_evicts_unauthenticated_before_refusing():
    with running_server(max_connections=3) as server:
        a = Client.connect(server.address)
        a.login("one", "pw")
        b = Client.connect(server.address)
        b.login("two", "pw")
        idle = raw(server.address)
        assert settle(lambda: len(server.connections) == 3)
        c = Client.connect(server.address)               # evicts the idle socket
        assert closed_by_server(idle)
        c.login("three", "pw")
        d = raw(server.address)                          # all logged in: refused
        assert closed_by_server(d)
        assert a.call("machoNet", "GetTime") > 0 and c.call("machoNet", "GetTime") > 0
        for s in (a, b, c):
            s.close()
        idle.close()
        d.close()


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 10000
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_flood_of_4096_idle_sockets_does_not_shut_out_a_login(many_fds):
    """4,096 sockets that never log in (the global cap), from 64 loopback addresses, then a
    real login: it succeeds (the oldest idle socket makes room), and so does a second one."""
    with running_server(max_connections=4096, max_unauthenticated=4096,
                        max_unauthenticated_per_address=64, exempt_loopback=False) as server:
        flood = []
        try:
            for i in range(4096):
                flood.append(ssocket.create_connection(
                    server.address, timeout=10, source_address=(f"127.0.1.{i // 64 + 1}", 0)))
            assert settle(lambda: len(server.connections) == 4096, timeout=30)
            assert len(server.pending) == 4096
            with Client.connect(server.address) as c:
                assert c.login("survivor", "pw")["userid"] > 0
                assert c.call("machoNet", "GetTime") > 0
            with Client.connect(server.address) as c:
                assert c.login("survivor2", "pw")["userid"] > 0
            assert len(server.connections) <= 4096
        finally:
            for s in flood:
                s.close()
        assert settle(lambda: not server.connections, timeout=30)


# ------------------------------------------------------------------ frames
def _logged_in(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def test_started_frame_must_finish_within_the_frame_timeout():
    with running_server(frame_timeout=0.3) as server:
        c = _logged_in(server, "trickler")
        c.send_raw(struct.pack("<I", 100) + b"\x7e")      # a frame of 100 bytes, 1 sent
        conn = next(iter(server.connections))
        assert closed_by_server(c.sock, timeout=5)
        assert "frame not completed within 0.3 s" in conn.close_reason
        c.close()


def test_slow_sender_is_cut_although_each_byte_is_on_time():
    with running_server(frame_timeout=0.5) as server:
        c = _logged_in(server, "dripper")
        conn = next(iter(server.connections))
        c.send_raw(struct.pack("<I", 50))
        for _ in range(20):                               # 1 byte per 0.1 s: 2 s for 20
            if conn.closed:
                break
            try:
                c.send_raw(b"\x00")
            except OSError:
                break
            loop.sleep(0.1)
        assert conn.closed and "frame not completed" in conn.close_reason
        c.close()


def test_silence_between_frames_is_not_a_frame_timeout():
    with running_server(frame_timeout=0.2) as server:
        c = _logged_in(server, "thinker")
        loop.sleep(0.5)
        assert c.call("machoNet", "GetTime") > 0
        # a frame split in two sends, the second well within the deadline, is fine
        _, pkt = c.call_packet("debugSvc", "Echo", 7)
        frame = marshal.dumps(pkt.to_wire())
        c.send_raw(struct.pack("<I", len(frame)) + frame[:3])
        loop.sleep(0.05)
        c.send_raw(frame[3:])
        rsp = c.recv_packet()
        assert rsp.type == C.CALL_RSP
        c.close()


def test_listen_backlog(monkeypatch):
    seen = []
    real = ssocket.create_server

    def spy(address, **kw):
        seen.append(kw.get("backlog"))
        return real(address, **kw)

    monkeypatch.setattr(ssocket, "create_server", spy)
    with running_server():
        pass
    with running_server(backlog=4096):
        pass
    assert seen == [1024, 4096]


# ------------------------------------------------------------------ shutdown
def test_shutdown_tells_clients_and_lets_calls_in_flight_finish():
    with running_server(shutdown_grace=3.0) as server:
        c = _logged_in(server, "patient")
        _, pkt = c.call_packet("debugSvc", "Sleep", 0.3)
        c.send(pkt.to_wire())
        assert settle(lambda: server.in_flight() == 1)
        server.shutdown()
        got = []
        with pytest.raises(ConnectionError):
            for _ in range(10):
                payload = c.reader.read_frame()
                if payload is None:
                    raise ConnectionResetError
                got.append(payload)
        assert any(SHUTDOWN_NOTICE.encode() in p for p in got)
        types = [marshal.loads(p) for p in got]
        assert any(getattr(v, "name", "") == "macho.CallRsp" for v in types), types
        c.close()


def test_shutdown_does_not_wait_beyond_the_grace():
    with running_server(shutdown_grace=0.2) as server:
        c = _logged_in(server, "sleeper")
        _, pkt = c.call_packet("debugSvc", "Sleep", 30)
        c.send(pkt.to_wire())
        assert settle(lambda: server.in_flight() == 1)
        t0 = loop.time()
        server.shutdown()
        assert loop.time() - t0 < 10                     # not the 30 s of the call
        assert not server.connections and server.db is not None
        assert closed_by_server(c.sock)
        c.close()


# ------------------------------------------------------------------ logs
def test_connects_and_disconnects_are_debug_only(caplog):
    caplog.set_level(logging.INFO, logger="evemu")
    with running_server() as server:
        for _ in range(20):
            s = raw(server.address)
            s.close()
        assert settle(lambda: not server.connections)
    noisy = [r for r in caplog.records if r.levelno >= logging.INFO
             and ("connected" in r.getMessage() or "disconnected" in r.getMessage())]
    assert noisy == []


def test_refusal_warnings_are_rate_limited_per_address(caplog):
    caplog.set_level(logging.WARNING, logger="evemu")
    with running_server(exempt_loopback=False, max_unauthenticated_per_address=1,
                        warnings_per_minute=5) as server:
        keep = raw(server.address)
        assert settle(lambda: len(server.pending) == 1)
        for _ in range(30):
            s = raw(server.address)
            assert closed_by_server(s)
            s.close()
        other = raw(server.address, "127.0.0.3")
        keep2 = raw(server.address, "127.0.0.3")
        assert closed_by_server(keep2)
        refusals = [r.getMessage() for r in caplog.records if "refusing" in r.getMessage()]
        assert sum("127.0.0.1" in m for m in refusals) == 5
        assert sum("127.0.0.3" in m for m in refusals) == 1
        for s in (keep, other, keep2):
            s.close()


def test_warning_limiter_reports_what_it_suppressed():
    from evemu.machonet.limits import WarningLimiter
    now = [0.0]
    lim = WarningLimiter(per_minute=2, clock=lambda: now[0])
    assert [lim.allow("a") for _ in range(4)] == [(True, 0), (True, 0), (False, 0), (False, 0)]
    assert lim.allow("b") == (True, 0)
    now[0] = 61
    assert lim.allow("a") == (True, 2)


def _notification(client, method, elements):
    from evemu.machonet.packets import Address, Packet
    from evemu.wire.marshal import SubStream
    inner = (elements, method, (), {})
    pkt = Packet(C.NOTIFICATION, Address.client(client.client_id),
                 Address.node(C.DEFAULT_NODE_ID), None, ((0, SubStream(inner)),))
    client.send(pkt.to_wire())


def test_connection_warnings_are_rate_limited_per_address(caplog):
    # a logged-in client sending 30 unhandled notifications and 30 bad release elements gets
    # at most warnings_per_minute WARNINGs for its address, and keeps its connection
    caplog.set_level(logging.WARNING, logger="evemu")
    with running_server(warnings_per_minute=4) as server:
        with Client.connect(server.address) as c:
            c.login("noisy", "pw")
            for _ in range(30):
                _notification(c, b"NoSuchNotification", [])
            _notification(c, b"ClientHasReleasedTheseObjects", [7] * 30)
            assert c.call("machoNet", "GetTime")             # all of them were read
        msgs = [r.getMessage() for r in caplog.records
                if r.levelno == logging.WARNING and r.name.startswith("evemu")]
    noisy = [m for m in msgs if "unhandled notification" in m or "bad release element" in m]
    assert len(noisy) == 4
    assert all("NoSuchNotification" in m for m in noisy)


def test_connection_warning_reports_the_suppressed_count(caplog):
    from evemu.machonet.limits import WarningLimiter
    caplog.set_level(logging.WARNING, logger="evemu")
    now = [0.0]
    with running_server(warnings_per_minute=2) as server:
        server.warnings = WarningLimiter(per_minute=2, clock=lambda: now[0])
        with Client.connect(server.address) as c:
            c.login("noisy2", "pw")
            for _ in range(5):
                _notification(c, b"Bogus", [])
            assert c.call("machoNet", "GetTime")
            now[0] = 61.0                                      # a new minute
            _notification(c, b"Bogus", [])
            assert c.call("machoNet", "GetTime")
        msgs = [r.getMessage() for r in caplog.records if "unhandled notification" in r.getMessage()]
    assert len(msgs) == 3
    assert "(3 similar warnings for 127.0.0.1 suppressed)" in msgs[-1]


# ------------------------------------------------------------------ memory after closes
def test_heap_is_trimmed_after_a_burst_of_closes(monkeypatch):
    import evemu.machonet.server as srv_mod
    calls = []
    monkeypatch.setattr(srv_mod, "TRIM_AFTER_CLOSES", 5)
    monkeypatch.setattr(srv_mod, "TRIM_DELAY", 0.05)
    monkeypatch.setattr(srv_mod, "release_memory", lambda: calls.append(1) or True)
    with running_server() as server:
        for _ in range(4):
            raw(server.address).close()
        assert settle(lambda: not server.connections)
        loop.sleep(0.2)
        assert calls == [] and server.memory_trims == 0        # 4 closes: below the mark
        socks = [raw(server.address) for _ in range(6)]
        assert settle(lambda: len(server.connections) == 6)
        for s in socks:
            s.close()
        assert settle(lambda: server.memory_trims == 1)
        loop.sleep(0.2)
        assert calls == [1] and server.memory_trims == 1         # one trim per burst


def test_release_memory_runs_malloc_trim():
    from evemu.machonet.server import release_memory
    assert release_memory() in (True, False)       # glibc: malloc_trim(0)'s answer
    assert release_memory() in (True, False)       # (the function is looked up once)


def test_a_closed_connection_leaves_no_cycle_for_the_collector():
    # the fast packet loop must not tie the FrameReader to the socket in a cycle: a server
    # that collects rarely (serve raises the threshold) would keep every closed socket
    import gc
    import weakref
    gc.collect()
    gc.disable()
    try:
        with running_server() as server:
            with Client.connect(server.address) as c:
                c.login("cycles", "pw")
                assert c.call("machoNet", "GetTime")
                conn = next(iter(server.connections))
                reader = weakref.ref(conn.reader)
                del conn
            assert settle(lambda: not server.connections)
            loop.sleep(0.05)
            assert reader() is None
    finally:
        gc.enable()


def test_kdf_runs_on_its_own_pool_of_one_thread_per_core():
    import os
    import threading
    from evemu.db import on_kdf_thread
    import evemu.db as db_mod
    names = []

    def who():
        names.append(threading.current_thread().name)
        return 42

    assert on_kdf_thread(who) == 42
    assert names and names[0].startswith("evemu-kdf")
    assert db_mod._kdf_pool[0]._max == max(1, os.cpu_count() or 1)
    with pytest.raises(ZeroDivisionError):
        on_kdf_thread(lambda: 1 / 0)
    db_mod._kdf_pool[0].shutdown(wait=True)              # (as at exit, or conftest between tests)
    assert on_kdf_thread(who) == 42                     # a new pool is made
