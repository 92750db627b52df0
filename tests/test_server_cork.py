"""Corked notifications (commit 1c9c6df): a connection holds the notifications of one loop turn
(Connection._send_corked) and Server.flush_corked sends them, with whatever else that
connection got in the same turn, at the end of the turn.  Here: a peer that stops reading while
notifications are held, packet order and sequence numbers across a corked turn, and connections
that close while they hold frames -- over loopback with evemu.client against a real server.

What the client must see is what evemu_Crucible's single packet queue gives it:
Client::SendNotification (Client.cpp) takes ``sn = m_nextNotifySequence++`` when it builds the
macho.Notification (source Node(nodeID), destination Broadcast(event, [], idType), oob
{'sn': n} only when sequenced) and FastQueuePacket()s it; session changes
(Client::_SendSessionChange) and call replies (Client::_SendCallReturn) join the same queue, so
the wire order is the order produced and the sequence numbers have no gaps."""
import logging
import os
import socket
import struct

import pytest

import stackless
from stackless import loop

from evemu.client import Client
from evemu.machonet import connection as connmod
from evemu.machonet import constants as C
from evemu.services import BindableService, BoundObject, Service, exposed

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


def login(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def conn_of(server, name):
    return [c for c in server.connections if c.account and c.account.name == name][0]


def reset_close(client):
    """Close ``client``'s socket with an RST (SO_LINGER 0): the server's next send fails."""
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()


def held_bytes(conn):
    return sum(len(f) for f in conn._cork or ())


# ------------------------------------------------------------------ a peer that stops reading
class Flood(Service):
    """Floods the connection of account ``deaf`` in ONE loop turn (no call here blocks), with
    an occasional notification to the caller; returns what the deaf one's cork held at most,
    and whether the deaf one was dropped within the turn."""
    name = "flood"

    @exposed
    def Deaf(self, call, n, size, every):
        blob = os.urandom(size)                      # incompressible
        deaf = conn_of(self.server, "deaf")
        b = self.server.broadcast
        peak = reached = 0
        for i in range(n):
            reached += b.send([deaf], "OnFlood", "charid", (i, blob))
            peak = max(peak, held_bytes(deaf))
            if i % every == 0:
                call.connection.notify("OnTick", "charid", (i,))
        return (peak, reached, deaf.closed, deaf.close_reason or "")

    @exposed
    def Bursts(self, call, turns, per_turn, size):
        """``per_turn`` notifications to everyone per loop turn for ``turns`` turns (a short
        sleep between turns lets the readers, i.e. this test's client, run)."""
        blob = os.urandom(size)
        reached = 0
        for t in range(turns):
            for i in range(per_turn):
                reached += self.server.broadcast.to_everyone("OnBurst", (t, i, blob))
            loop.sleep(0.001)
        return reached


class Wide(Service):
    """Broadcasts ``n`` notifications of ``size`` bytes to everyone in ONE turn and returns
    the most the connections held together (and the most one held) meanwhile."""
    name = "wide"

    @exposed
    def Everyone(self, call, n, size):
        blob = os.urandom(size)
        srv = self.server
        peak_total = peak_one = 0
        for i in range(n):
            srv.broadcast.to_everyone("OnWide", (i, blob))
            held = [held_bytes(c) for c in srv.connections]
            peak_total = max(peak_total, sum(held))
            peak_one = max(peak_one, max(held))
        return (peak_total, peak_one)


def test_what_all_connections_hold_in_one_turn_is_bounded_too(monkeypatch):
    """A broadcast of large notifications to many clients in one turn: each connection holds
    less than MAX_CORKED_BYTES, but together they would hold n * size * clients (here 3.4 MB;
    a 100 KB notice to 10,000 clients would be 1 GB).  Past MAX_CORKED_TOTAL every
    connection's frames are sent at once; each client still gets all of them in order."""
    monkeypatch.setattr(connmod, "MAX_CORKED_TOTAL", 1 << 20)
    with running_server(extra_services=[Wide]) as server:
        clients = [login(server, f"wide{i:02d}") for i in range(12)]
        try:
            n, size = 7, 40_000                 # 280 KB per client: under 12 * 256 KiB
            monkeypatch.setattr(connmod, "MAX_CORKED_BYTES", 300_000)
            peak_total, peak_one = clients[0].call("wide", "Everyone", n, size)
            assert peak_one >= 2 * size                   # frames are still batched
            assert peak_total <= (1 << 20) + 41_000, peak_total
            for c in clients:
                got = [a[0] for a in c.take_notifications("OnWide")]
                while len(got) < n:
                    got.append(Client.notification_args(c.wait_notification("OnWide"))[0])
                assert got == list(range(n)) and c.sn_gaps == []
            assert settle(lambda: not server._corked and server.corked_bytes == 0)
        finally:
            for c in clients:
                c.close()


@pytest.fixture
def small_queue(monkeypatch):
    monkeypatch.setattr(connmod, "MAX_QUEUED_FRAMES", 64)


@pytest.mark.parametrize("n, size", [(4000, 1000), (400, 500)],
                         ids=["4MB-over-the-cork-limit", "200KB-under-it"])
def test_a_deaf_client_flooded_in_one_turn_is_dropped_by_the_queue_limit(small_queue, n, size):
    """Notifications to a client that stopped reading, all in one loop turn.  4 MB: what the
    connection holds for the turn stays bounded (pushed to the socket and the writer's queue
    as it passes MAX_CORKED_BYTES, not kept to the end of the turn).  200 KB, under that: the
    frames the socket does not take at the turn's end meet the queue limit one by one, as
    they did before corking.  Either way the peer is dropped by MAX_QUEUED_FRAMES (not 60 s
    later by send_timeout), and the client that reads gets its notifications, in order, and
    its reply."""
    with running_server(extra_services=[Flood], send_timeout=60.0) as server:
        deaf = login(server, "deaf")                       # logs in, then never reads
        deaf.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf_conn = conn_of(server, "deaf")
        deaf_conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        every = n // 20
        with login(server, "ear") as ear:
            peak, reached, closed, reason = ear.call("flood", "Deaf", n, size, every)
            # held at most about MAX_CORKED_BYTES (256 KiB) plus one frame, never the 4 MB
            assert peak < (1 << 20), peak
            assert settle(lambda: deaf_conn.closed, timeout=5)
            assert "queued: peer not reading" in deaf_conn.close_reason, \
                deaf_conn.close_reason
            ticks = [args[0] for args in ear.take_notifications("OnTick")]
            assert ticks == list(range(0, n, every)) and ear.sn_gaps == []
            assert deaf_conn._cork is None and not deaf_conn._outq
            assert deaf_conn._writer is None
            assert ear.call("machoNet", "GetTime") > 0        # the server goes on
            assert server._corked == []
        deaf.close()


def test_a_deaf_client_with_corked_bursts_over_many_turns_is_dropped(small_queue):
    """Bursts of notifications per turn, to a client that stopped reading and one that reads:
    the one that reads gets every notification in order with no sn gap, the deaf one is
    dropped by the queue limit as before corking, and nothing waits for it."""
    with running_server(extra_services=[Flood], send_timeout=60.0) as server:
        deaf = login(server, "deaf")
        deaf.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        deaf_conn = conn_of(server, "deaf")
        deaf_conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        peak = []
        real_uncork = deaf_conn._uncork

        def watching():
            peak.append(held_bytes(deaf_conn) + deaf_conn._queued_bytes)
            return real_uncork()
        deaf_conn._uncork = watching
        with login(server, "reader") as c:
            turns, per_turn = 40, 10
            reached = c.call("flood", "Bursts", turns, per_turn, 5000)
            assert deaf_conn.closed and "queued: peer not reading" in deaf_conn.close_reason
            assert reached < 2 * turns * per_turn           # the deaf one stopped counting
            got = []
            while len(got) < turns * per_turn:
                p = c.wait_notification("OnBurst")
                got.append(tuple(Client.notification_args(p)[:2]))
            assert got == [(t, i) for t in range(turns) for i in range(per_turn)]
            assert c.sn_gaps == []
            # bounded by the queue limit (64 frames of ~5 KB) plus one turn's burst
            assert peak and max(peak) < 64 * 5200 + per_turn * 5200, max(peak)
            assert not deaf_conn._outq and deaf_conn._cork is None
        deaf.close()


# ------------------------------------------------------------------ order and sequence numbers
class Mixed(Service):
    """One turn of a call (nothing here blocks): notifications, an unsequenced one, a session
    change sent explicitly, a broadcast, a change that goes with the reply, then the reply."""
    name = "mixed"

    @exposed
    def Turn(self, call, charid, corpid, size):
        conn = call.connection
        blob = os.urandom(size)
        conn.notify("OnA", "charid", (1, blob))
        conn.notify("OnU", "charid", (2,), sequenced=False)
        call.session.set("charid", charid)
        assert conn.send_session_change() is True            # now: in between
        conn.notify("OnB", "charid", (3,))
        self.server.broadcast.to_character(charid, "OnC", (4,))   # via the new index entry
        call.session.set("corpid", corpid)                    # goes out before the reply
        conn.notify("OnD", "charid", (5,))
        return b"done"


@pytest.mark.parametrize("size", [0, 3_000_000], ids=["small", "fills-the-socket"])
def test_a_corked_turn_keeps_the_order_produced_and_gapless_sequence_numbers(size):
    """The wire order is the order produced in the turn (notifications, the explicit session
    change, the session change of the reply, the CallRsp) and the sequenced notifications
    continue the connection's numbering without gaps, also when the first notification is
    larger than the socket takes (held frames then go through the writer's queue)."""
    with running_server(extra_services=[Mixed]) as server:
        with login(server, "order") as c:
            c.call("debugSvc", "Notify", "before")                  # sn 1
            assert c.last_sn == 1 and c.take_notifications("OnRemoteMessage")
            conn = conn_of(server, "order")
            sends = []
            real = connmod._raw_send

            def counting(sock, data):
                if sock is conn.sock:
                    sends.append(len(data))
                return real(sock, data)
            connmod._raw_send = counting
            try:
                call_id, pkt = c.call_packet("mixed", "Turn", 90000007, 98000001, size)
                c.send(pkt.to_wire())
                got = [c.recv_packet() for _ in range(8)]
            finally:
                connmod._raw_send = real
            kinds = []
            for p in got:
                if p.type == C.NOTIFICATION:
                    kinds.append(p.destination.id.decode()
                                 if isinstance(p.destination.id, bytes) else p.destination.id)
                else:
                    kinds.append(p.type)
            assert kinds == ["OnA", "OnU", C.SESSION_CHANGE_NOTIFICATION, "OnB", "OnC", "OnD",
                             C.SESSION_CHANGE_NOTIFICATION, C.CALL_RSP]
            notes = [p for p in got if p.type == C.NOTIFICATION]
            # Client::SendNotification: sn only when sequenced, taken in the order queued
            assert [(p.oob or {}).get(b"sn") for p in notes] == [2, None, 3, 4, 5]
            for p in notes:                     # macho.Notification's addresses, as EVEmu
                assert p.source.kind == C.ADDRESS_NODE and p.source.id == server.node_id
                assert p.destination.kind == C.ADDRESS_BROADCAST
                assert p.destination.id_type in (b"charid", "charid")
            assert [Client.notification_args(p)[0] for p in notes] == [1, 2, 3, 4, 5]
            assert got[2].body[1][1] == {b"charid": (None, 90000007)}
            assert got[6].body[1][1] == {b"corpid": (None, 98000001)}
            assert got[7].destination.call_id == call_id and got[7].body[0].value == b"done"
            if not size:
                assert len(sends) == 1           # the whole turn in one send()
            for p in got[:-1]:                   # the client's own sn check
                c._other(p)
            assert c.sn_gaps == [] and c.last_sn == 5
            c.call("debugSvc", "Notify", "after")          # the next turn goes on from there
            assert c.last_sn == 6 and c.sn_gaps == []
            assert conn._cork is None and not conn._outq


def test_notifications_of_two_tasklets_in_one_turn_interleave_in_production_order():
    """Two calls served in the same turn, each notifying the same client twice with a
    schedule() in between: the frames arrive interleaved exactly as produced, numbered in that
    order."""
    order = []

    class Two(Service):
        name = "two"

        @exposed
        def Go(self, call, tag):
            target = conn_of(self.server, "target")
            for i in range(2):
                target.notify("OnTwo", "charid", (tag, i))
                order.append((tag, i))
                stackless.schedule()
            return True

    with running_server(extra_services=[Two]) as server:
        with login(server, "target") as t, login(server, "caller") as c:
            conn = conn_of(server, "target")
            ids = []
            for tag in (b"x", b"y"):
                call_id, pkt = c.call_packet("two", "Go", tag)
                c.send(pkt.to_wire())
                ids.append(call_id)
            for call_id in ids:
                c.wait_reply(call_id)
            assert settle(lambda: conn._cork is None)
            t.call("machoNet", "GetTime")
            got = [tuple(a) for a in t.take_notifications("OnTwo")]
            assert got == order and len(got) == 4
            assert t.sn_gaps == [] and t.last_sn == 4


# ------------------------------------------------------------------ closing with held frames
class Gone(BindableService):
    """A bound object whose release (at its connection's close) notifies everyone."""
    name = "gone"

    class Obj(BoundObject):
        def on_release(self):
            self.service.server.broadcast.to_everyone("OnGone", (self.connection.id,))

    def create_bound(self, call, bind_params):
        return self.Obj(self, call.connection)


def no_errors_logged(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_a_peer_reset_while_it_holds_frames_is_dropped_and_the_others_get_theirs(caplog):
    """The peer is gone (RST) when the turn's held frames are sent: its send fails, it is
    closed, nothing is raised into the flush, and the connections after it in the same flush
    get their frames."""
    with running_server() as server:
        a, b, c = (login(server, n) for n in ("resetaa", "resetbb", "resetcc"))
        conns = [conn_of(server, n) for n in ("resetaa", "resetbb", "resetcc")]
        reset_close(a)
        for conn in conns:
            conn.notify("OnHeld", "charid", (conn.id,))
        assert all(conn._cork for conn in conns)
        server.flush_corked()                        # as the loop would: no exception
        assert conns[0].closed and "send failed" in conns[0].close_reason
        assert no_errors_logged(caplog)              # a dead peer is not an internal error
        assert all(conn._cork is None for conn in conns)
        for client, conn in ((b, conns[1]), (c, conns[2])):
            p = client.wait_notification("OnHeld")
            assert Client.notification_args(p) == (conn.id,) and client.sn_gaps == []
            assert client.call("machoNet", "GetTime") > 0
        b.close()
        c.close()


def test_a_connection_closed_in_the_turn_it_holds_frames_sends_them_once():
    """A connection closed by the server in the same turn it holds notifications (the kick's
    pattern: a notice, then close()): one try sends what it held (the client reads the notice,
    then EOF), the flush skips it, later broadcasts skip it, the others are unaffected."""

    class Kick(Service):
        name = "kick"

        @exposed
        def Go(self, call):
            b = self.server.broadcast
            n = b.to_everyone("OnFirst", (1,))
            victim = conn_of(self.server, "victim")
            victim.close("kicked in the turn")
            n += b.to_everyone("OnSecond", (2,))
            return n

    with running_server(extra_services=[Kick]) as server:
        with login(server, "victim") as v, login(server, "other") as o:
            victim = conn_of(server, "victim")
            assert o.call("kick", "Go") == 2 + 1
            assert victim.closed and victim._cork is None
            p = v.wait_notification("OnFirst")           # held, sent once at close
            assert Client.notification_args(p) == (1,)
            with pytest.raises(ConnectionError):
                v.wait_notification("OnSecond")
            got = [a[0] for a in o.take_notifications("OnFirst") +
                   o.take_notifications("OnSecond")]
            assert got == [1, 2] and o.sn_gaps == [] and o.last_sn == 2
            assert settle(lambda: not server._corked)
            assert o.call("machoNet", "GetTime") > 0


def test_a_close_during_the_flush_that_notifies_others_loses_nothing(caplog):
    """The first connection of a flush fails its send (peer reset) and its close releases a
    bound object that notifies everyone: the connections already flushed and those not yet
    flushed all get the turn's notification and then the new one, in order, numbered without
    gaps; nothing is raised into the loop."""
    with running_server(extra_services=[Gone]) as server:
        a = login(server, "flushaa")
        a.call_full("gone", "MachoBindObject", 1, None)
        b, c = login(server, "flushbb"), login(server, "flushcc")
        ca, cb, cc = (conn_of(server, n) for n in ("flushaa", "flushbb", "flushcc"))
        # cb first, then ca (it fails and its close notifies), then cc
        for conn in (cb, ca, cc):
            conn.notify("OnTurn", "charid", (1,))
        assert server._corked == [cb, ca, cc]
        reset_close(a)
        server.flush_corked()
        assert ca.closed and "send failed" in ca.close_reason
        assert no_errors_logged(caplog)
        for client in (b, c):
            p1 = client.wait_notification("OnTurn")
            p2 = client.wait_notification("OnGone")
            assert p1.oob[b"sn"] + 1 == p2.oob[b"sn"]
            assert Client.notification_args(p2) == (ca.id,)
            assert client.sn_gaps == []
            assert client.call("machoNet", "GetTime") > 0
        assert settle(lambda: not server._corked)
        b.close()
        c.close()


def test_a_fault_in_one_connections_flush_does_not_stall_the_others(caplog):
    """Hostile case (an injected fault): sending one connection's held frames raises something
    unexpected.  That connection is closed and logged; the others in the same flush are still
    sent, the loop goes on (nothing escapes into it), and later turns cork and flush as usual."""
    with running_server() as server:
        x, y, z = (login(server, n) for n in ("faultxx", "faultyy", "faultzz"))
        cx, cy, cz = (conn_of(server, n) for n in ("faultxx", "faultyy", "faultzz"))

        def broken(frames):
            raise RuntimeError("injected fault")
        cy._send_frames = broken                 # the held frames' send path
        cy._send_frame = lambda frame: broken([frame])
        for conn in (cx, cy, cz):
            conn.notify("OnFault", "charid", (1,))
        # the flush runs as a loop callback; a call by another client drives the loop
        assert x.call("machoNet", "GetTime") > 0
        assert settle(lambda: cy.closed)
        assert "internal error" in cy.close_reason and not no_errors_logged(caplog)
        assert "injected fault" in caplog.text
        for client, conn in ((x, cx), (z, cz)):
            client.wait_notification("OnFault")
            assert conn._cork is None
            conn.notify("OnLater", "charid", (2,))
            client.wait_notification("OnLater")
            assert client.sn_gaps == [] and client.last_sn == 2
        assert settle(lambda: not server._corked)
        for client in (x, y, z):
            client.close()
