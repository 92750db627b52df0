"""MachoNet completeness (issue 9): notification sequence numbers, broadcasts to a character,
a corporation, a station, a solar system and everyone, session changes before the reply, OOB
data and ClientHasReleasedTheseObjects, PingReq/PingRsp both ways, unknown methods and
UserError in EVE's wire form.  Shapes follow evemu_Crucible's PyPacket.cpp / Client.cpp /
EntityList.cpp; everything runs over loopback with evemu.client."""
import pytest

import stackless
from stackless import loop

from evemu.client import Client, RemoteError
from evemu.machonet import constants as C
from evemu.machonet.broadcast import INDEXED, Broadcaster
from evemu.machonet.packets import Address, Packet
from evemu.machonet.session import Session
from evemu.services import CallResult, Service, UserError, exposed
from evemu.wire.marshal import ObjectEx1, SubStream, Token

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


class Probe(Service):
    """Test service: broadcasts, session moves, pings of the caller, the call's oob."""
    name = "probe"

    @exposed
    def Move(self, call, **attrs):
        for k, v in attrs.items():
            call.session.set(k, v)
        return True

    @exposed
    def MoveThenFail(self, call, charid):
        call.session.set("charid", charid)
        raise UserError("NotEnoughMoney", {"amount": 5, "balance": 1.5})

    @exposed
    def Broadcast(self, call, kind, target, text):
        b = self.server.broadcast
        args = (b"CustomNotify", {b"notify": text})
        kind = kind.decode()
        if kind == "everyone":
            return b.to_everyone("OnRemoteMessage", args)
        fn = {"character": b.to_character, "corporation": b.to_corporation,
              "station": b.to_station, "solarsystem": b.to_solar_system}[kind]
        return fn(target, "OnRemoteMessage", args)

    @exposed
    def PingMe(self, call, timeout=5.0):
        rtt, times = call.connection.ping(timeout)
        return (rtt >= 0, [t[2] for t in times])

    @exposed
    def OOB(self, call):
        return CallResult(sorted(call.oob), oob={b"echo": call.oob.get(b"x")})


@pytest.fixture
def server():
    with running_server(extra_services=[Probe]) as srv:
        yield srv


def login(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def note_texts(c):
    return [Client.notification_args(p)[1][b"notify"] for p in c.notifications
            if p.type == C.NOTIFICATION]


def drain(c):
    """Read what is already queued for ``c`` (a GetTime round trip flushes it)."""
    c.call("machoNet", "GetTime")


# ------------------------------------------------------------------ unknown method, UserError
def test_unknown_method_answers_an_error(server):
    with login(server, "nomethod") as c:
        for svc, method in (("machoNet", "NoSuchMethod"), ("probe", "NotThere"),
                            ("probe", "__init__"), ("probe", "_changed"),
                            ("machoNet", "GetTime2")):
            with pytest.raises(RemoteError) as e:
                c.call(svc, method, 1, 2)
            assert e.value.code == C.WRAPPEDEXCEPTION
            assert e.value.exception_class == "ccp_exceptions.UserError"
            assert e.value.msg == "CustomError"
            assert e.value.values == {"error": f"{svc} has no method {method}"}
        assert c.call("machoNet", "GetTime") > 0


def test_unknown_method_of_a_bound_object(server):
    with login(server, "nobound") as c:
        rsp = c.call_full("debugBindable", "MachoBindObject", 1, None)
        oid = rsp.body[0].value[0].value.value[0].decode()
        with pytest.raises(RemoteError) as e:
            c.call_bound(oid, "Nope")
        assert e.value.values == {"error": f"{oid} has no method Nope"}
        assert c.call_bound(oid, "Increment", 2) == 3


def test_user_error_wire_form_is_evemus(server):
    """ErrorResponse: source = the CallReq's destination, destination Client(clientID,
    callID), body (CALL_REQ, WRAPPEDEXCEPTION, (SubStream(exc),)); exc = ObjectEx1 with header
    (Token('ccp_exceptions.UserError'), (msg, dict), {'msg': msg, 'dict': dict}), as EVEmu's
    PyExceptions.cpp builds it; msg and dict keys are byte strings."""
    with login(server, "usererr") as c:
        call_id, pkt = c.call_packet("probe", "MoveThenFail", 90000001)
        c.send(pkt.to_wire())
        change = c.recv_packet()                 # the session change comes first...
        assert change.type == C.SESSION_CHANGE_NOTIFICATION
        err = c.recv_packet()                    # ...then the error
        assert err.type == C.ERROR_RESPONSE
        assert err.source == Address.any("probe")
        assert err.destination == Address.client(c.client_id, call_id)
        assert err.userid == c.userid and err.oob is None
        cmd, code, (ss,) = err.body
        assert (cmd, code) == (C.CALL_REQ, C.WRAPPEDEXCEPTION)
        assert type(ss) is SubStream
        exc = ss.value
        assert type(exc) is ObjectEx1 and exc.list == [] and exc.dict == {}
        d = {b"amount": 5, b"balance": 1.5}
        assert exc.header == (Token("ccp_exceptions.UserError"), (b"NotEnoughMoney", d),
                              {b"msg": b"NotEnoughMoney", b"dict": d})


# ------------------------------------------------------------------ session changes
def test_session_change_precedes_the_reply_and_is_sent_once(server):
    with login(server, "mover") as c:
        call_id, pkt = c.call_packet("probe", "Move", charid=1, corpid=2)
        c.send(pkt.to_wire())
        first, second = c.recv_packet(), c.recv_packet()
        assert first.type == C.SESSION_CHANGE_NOTIFICATION
        assert second.type == C.CALL_RSP and second.destination.call_id == call_id
        sid, (zero, changes), nodes = first.body
        assert changes == {b"charid": (None, 1), b"corpid": (None, 2)}
        assert nodes == [-1, C.DEFAULT_NODE_ID] and zero == 0
        # the next call changes nothing: no notification before its reply
        call_id, pkt = c.call_packet("machoNet", "GetTime")
        c.send(pkt.to_wire())
        assert c.recv_packet().type == C.CALL_RSP


def test_session_change_outside_a_call(server):
    with login(server, "pushed") as c:
        conn = server.broadcast.connections("userid", c.userid)[0]
        conn.session.set("stationid", 60014719)
        assert conn.send_session_change() is True
        assert conn.send_session_change() is False          # nothing pending any more
        pkt = c.wait_notification(ptype=C.SESSION_CHANGE_NOTIFICATION)
        assert pkt.body[1][1] == {b"stationid": (None, 60014719)}


# ------------------------------------------------------------------ broadcast and sequence
def test_sequence_numbers_are_per_client(server):
    with login(server, "seqa") as a, login(server, "seqb") as b:
        for i in range(3):
            a.call("debugSvc", "Notify", f"a{i}")
        b.call("debugSvc", "Notify", "b0")
        assert a.call("probe", "Broadcast", b"everyone", 0, "all") == 2
        drain(b)
        sna = [p.oob[b"sn"] for p in a.notifications if p.type == C.NOTIFICATION]
        snb = [p.oob[b"sn"] for p in b.notifications if p.type == C.NOTIFICATION]
        assert sna == [1, 2, 3, 4] and snb == [1, 2]
        assert a.sn_gaps == [] and b.sn_gaps == [] and a.last_sn == 4
        assert note_texts(b) == ["b0", "all"]


def test_broadcast_to_groups(server):
    cs = {n: login(server, n) for n in ("alpha", "bravo", "charlie", "delta")}
    try:
        cs["alpha"].call("probe", "Move", charid=91, corpid=1000, stationid=60001,
                         solarsystemid2=30001)
        cs["bravo"].call("probe", "Move", charid=92, corpid=1000, solarsystemid2=30001)
        cs["charlie"].call("probe", "Move", charid=93, corpid=2000, stationid=60001,
                           solarsystemid2=30002)
        sender = cs["delta"]
        assert sender.call("probe", "Broadcast", b"character", 92, "to92") == 1
        assert sender.call("probe", "Broadcast", b"corporation", 1000, "corp") == 2
        assert sender.call("probe", "Broadcast", b"station", 60001, "station") == 2
        assert sender.call("probe", "Broadcast", b"solarsystem", 30001, "system") == 2
        assert sender.call("probe", "Broadcast", b"character", 99, "nobody") == 0
        assert sender.call("probe", "Broadcast", b"everyone", 0, "all") == 4
        for c in cs.values():
            drain(c)
        assert note_texts(cs["alpha"]) == ["corp", "station", "system", "all"]
        assert note_texts(cs["bravo"]) == ["to92", "corp", "system", "all"]
        assert note_texts(cs["charlie"]) == ["station", "all"]
        assert note_texts(cs["delta"]) == ["all"]
        # the destination is Broadcast(event, [], idType) with EVEmu's idTypes
        kinds = [p.destination.id_type for p in cs["alpha"].notifications
                 if p.type == C.NOTIFICATION]
        assert kinds == ["corpid", "stationid", "solarsystemid2", "clientID"]
        assert all(c.sn_gaps == [] for c in cs.values())
        # moving updates the index: alpha undocks, charlie joins corp 1000
        cs["alpha"].call("probe", "Move", stationid=None)
        cs["charlie"].call("probe", "Move", corpid=1000)
        assert server.broadcast.count("stationid", 60001) == 1
        assert server.broadcast.count("corpid", 1000) == 3
        assert server.broadcast.count("corpid", 2000) == 0
        # a closed client leaves every group
        cs["bravo"].close()
        assert settle(lambda: server.broadcast.count("corpid", 1000) == 2)
        assert server.broadcast.count() == 3
        assert sender.call("probe", "Broadcast", b"character", 92, "gone") == 0
    finally:
        for c in cs.values():
            c.close()


def test_broadcaster_index_unit():
    class FakeConn:
        closed = False

        def __init__(self):
            self.session = Session()
            self.sent = []

        def notify_body(self, event, id_type, body, sequenced, addresses=None):
            self.sent.append((event, id_type, body[0][1].value))

    b = Broadcaster(server=type("FakeServer", (), {"node_id": 7})())
    x, y = FakeConn(), FakeConn()
    x.session.update(charid=1, corpid=5)
    b.attach(x)
    b.attach(y)
    y.session.set("corpid", 5)
    y.session.set("fleetid", [1])                 # unhashable: not indexed, no error
    assert b.count("corpid", 5) == 2 and b.count("charid", 1) == 1
    assert b.to_corporation(5, "OnX", (1,)) == 2
    assert x.sent == [("OnX", "corpid", (0, (1, (1,))))]
    x.session.set("corpid", 6)
    assert b.connections("corpid", 5) == [y] and b.connections("corpid", 6) == [x]
    b.detach(x)
    b.detach(x)                                   # idempotent
    assert b.count("corpid", 6) == 0 and b.count() == 1
    x.session.set("corpid", 5)                    # no longer observed
    assert b.count("corpid", 5) == 1
    with pytest.raises(KeyError):
        b.connections("shoesize", 1)
    assert "charid" in INDEXED and "solarsystemid2" in INDEXED


# ------------------------------------------------------------------ OOB, release
def test_call_oob_reaches_the_service_and_the_reply(server):
    with login(server, "oober") as c:
        rsp = c.call_with_oob({b"x": 42, b"y": None}, "probe", "OOB")
        assert rsp.body[0].value == [b"x", b"y"] and rsp.oob == {b"echo": 42}
        assert c.call_full("probe", "OOB").body[0].value == []


def test_oid_minus_in_a_call_oob_releases_bound_objects(server):
    with login(server, "oidminus") as c:
        rsp = c.call_full("debugBindable", "MachoBindObject", 7, None)
        (oid, stamp), = rsp.oob[b"OID+"].items()
        assert c.bound == {oid.decode(): stamp}
        assert server.services.bound_count == 1
        c.call_with_oob({b"OID-": {oid: 0}}, "machoNet", "GetTime")
        assert server.services.bound_count == 0
        with pytest.raises(RemoteError) as e:
            c.call_bound(oid.decode(), "Increment")
        assert e.value.msg == "ServiceNotFound"


def test_client_has_released_these_objects(server):
    with login(server, "releaser") as c, login(server, "other") as o:
        ids = []
        for start in (1, 2):
            rsp = c.call_full("debugBindable", "MachoBindObject", start, None)
            ids.append(next(iter(rsp.oob[b"OID+"])).decode())
        # another client cannot release them
        o.release(*ids)
        drain(o)
        assert server.services.bound_count == 2
        c.release(ids[0], "N=1:999", "garbage")
        drain(c)
        assert server.services.bound_count == 1 and list(c.bound) == [ids[1]]
        assert c.call_bound(ids[1], "Increment") == 3


# ------------------------------------------------------------------ ping both ways
def test_client_pings_server(server):
    with login(server, "pinger") as c:
        hops = c.ping()
        assert len(hops) == 6 and hops[3][2] == b"server::turnaround"
        # a PingReq's reply goes back to its source call id
        pkt = Packet(C.PING_REQ, Address.client(c.client_id, 4242),
                     Address.node(C.DEFAULT_NODE_ID), None, ([],))
        c.send(pkt.to_wire())
        rsp = c.recv_packet()
        assert rsp.type == C.PING_RSP and rsp.destination.call_id == 4242
        assert rsp.source == Address.node(C.DEFAULT_NODE_ID)


def test_server_pings_client(server):
    with login(server, "pingee") as c:
        ok, hops = c.call("probe", "PingMe")
        assert ok is True and hops == [b"client::handle_message"]
        assert c.pings_answered == 1
        # the PingReq as EVEmu sends it: source Node(nodeID, 'ping', callID), body ([],)
        c.answer_pings = False
        call_id, pkt = c.call_packet("probe", "PingMe", 0.3)
        c.send(pkt.to_wire())
        req = c.recv_packet()
        assert req.type == C.PING_REQ and req.body == ([],) and req.oob == {}
        assert req.source.kind == C.ADDRESS_NODE and req.source.service == "ping"
        assert req.destination == Address.client(c.client_id, 0)
        # not answered in time: the server's ping raises, the call becomes an error
        with pytest.raises(RemoteError) as e:
            c.wait_reply(call_id)
        assert e.value.values == {"error": "Internal server error: TimeoutError"}
        # an answer to a ping nobody waits for is ignored
        c.answer_ping(req)
        assert c.call("machoNet", "GetTime") > 0


def test_server_ping_of_a_closing_connection(server):
    c = login(server, "leaver")
    conn = server.broadcast.connections("userid", c.userid)[0]
    result = []

    def pinger():
        try:
            conn.ping(5.0)
        except Exception as e:
            result.append(type(e).__name__)

    t = stackless.tasklet(pinger)()
    loop.sleep(0.05)
    c.close()
    assert settle(lambda: result)
    assert result == ["ConnectionResetError"]
    assert not t.alive


# ------------------------------------------------------------------ back-pressure
def test_calls_beyond_the_per_connection_cap_wait_for_a_free_slot():
    running, peak = [0], [0]

    class Slow(Service):
        name = "slow"

        @exposed
        def Work(self, call, i):
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            try:
                loop.sleep(0.02)
            finally:
                running[0] -= 1
            return i

    with running_server(extra_services=[Slow], max_calls_per_connection=2) as server:
        with login(server, "pipeliner") as c:
            ids = []
            for i in range(7):
                call_id, pkt = c.call_packet("slow", "Work", i)
                c.send(pkt.to_wire())
                ids.append(call_id)
            got = sorted(c.wait_reply(cid).body[0].value for cid in ids)
            assert got == list(range(7)) and peak[0] == 2
            # a connection closed while its reader waits for a slot goes away cleanly
            for i in range(5):
                c.send(c.call_packet("slow", "Work", i)[1].to_wire())
        assert settle(lambda: not server.connections)


def test_interleaved_partial_frames_of_many_clients_stay_apart(server):
    """All connections of the loop share one receive scratch buffer: frames that arrive in
    pieces, interleaved across clients, must still reach each connection intact."""
    from evemu.wire import marshal
    from evemu.wire.framing import encode_frame
    cs = [login(server, f"piece{i}") for i in range(4)]
    try:
        frames, ids = [], []
        for i, c in enumerate(cs):
            blob = bytes([65 + i]) * (20000 + 997 * i)       # > the 16 KiB scratch
            call_id, pkt = c.call_packet("debugSvc", "Echo", blob)
            frames.append(encode_frame(marshal.dumps(pkt.to_wire(), None)))
            ids.append((call_id, blob))
        pos = [0] * len(cs)
        step = 1500
        while any(p < len(f) for p, f in zip(pos, frames)):
            for i, c in enumerate(cs):
                if pos[i] < len(frames[i]):
                    c.send_raw(frames[i][pos[i]:pos[i] + step])
                    pos[i] += step
            loop.sleep(0.001)
        for c, (call_id, blob) in zip(cs, ids):
            args, _ = c.wait_reply(call_id).body[0].value
            assert args == (blob,)
    finally:
        for c in cs:
            c.close()


def test_keepalive_drops_a_peer_that_only_dribbles_a_frame():
    """Bytes that never complete a frame do not count as activity: the peer is pinged after
    idle_timeout and dropped after a second silent period (no per-read timer involved)."""
    from evemu.wire import marshal
    from evemu.wire.framing import encode_frame
    with running_server(idle_timeout=0.4) as server:
        c = login(server, "dribbler")
        frame = encode_frame(marshal.dumps(c.call_packet("machoNet", "GetTime")[1].to_wire(),
                                           None))
        conn = server.broadcast.connections("userid", c.userid)[0]
        got_ping = False
        for i in range(len(frame) - 1):          # never the last byte
            try:
                c.send_raw(frame[i:i + 1])
            except OSError:
                break
            loop.sleep(0.05)
            if conn.closed:
                break
        assert settle(lambda: conn.closed, timeout=5)
        try:
            got_ping = c.recv_packet().type == C.PING_REQ
        except (ConnectionError, OSError):
            pass
        assert got_ping
        assert conn._keepalive is None                # its timer is cancelled
        c.close()


def test_a_client_that_stops_reading_does_not_hold_up_a_broadcast():
    """Notifications never block the sender: a peer whose socket is full gets them queued
    (its writer tasklet sends them in order) and is dropped by send_timeout; the others get
    every notification, in sequence."""
    big = __import__("os").urandom(200_000)         # incompressible: frames stay 200 KB

    class Shout(Service):
        name = "shout"

        @exposed
        def Shout(self, call, n):
            return sum(self.server.broadcast.to_everyone("OnBig", (i, big)) for i in range(n))

    with running_server(extra_services=[Shout], send_timeout=1.0) as server:
        import socket
        deaf = login(server, "deaf")                 # logs in, then never reads again
        deaf_conn = [c for c in server.connections if c.account.name == "deaf"][0]
        deaf_conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        with login(server, "ear") as ear:
            n = 40                                   # 8 MB: far more than a socket buffer
            assert ear.call("shout", "Shout", n) == 2 * n    # returned: nobody blocked it
            got = []
            while len(got) < n:
                p = ear.wait_notification("OnBig")
                got.append(Client.notification_args(p)[0])
            assert got == list(range(n)) and ear.sn_gaps == []
            assert settle(lambda: deaf_conn.closed, timeout=10)
            assert "send failed" in deaf_conn.close_reason or "queued" in \
                deaf_conn.close_reason
            assert deaf_conn._writer is None and not deaf_conn._outq
        deaf.close()


def test_notifications_queue_cap_drops_the_peer():
    from evemu.machonet import connection as connmod

    class Many(Service):
        name = "many"

        @exposed
        def Flood(self, call, n):
            blob = __import__("os").urandom(50_000)
            total = 0
            for _ in range(n):
                total += self.server.broadcast.to_everyone("OnX", (blob,))
                loop.sleep(0.001)          # let the readers (this test's client) run
            return total

    old = connmod.MAX_QUEUED_FRAMES
    connmod.MAX_QUEUED_FRAMES = 20
    try:
        with running_server(extra_services=[Many], send_timeout=30.0) as server:
            import socket
            deaf = login(server, "deaf2")
            deaf_conn = [x for x in server.connections if x.account.name == "deaf2"][0]
            deaf_conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
            with login(server, "caller2") as c:
                sent = c.call("many", "Flood", 200)
                assert deaf_conn.closed and "queued: peer not reading" in deaf_conn.close_reason
                assert sent < 2 * 200                 # the deaf one stopped counting
                got = 0
                while got < 200:
                    c.wait_notification("OnX")
                    got += 1
                assert c.sn_gaps == []
            deaf.close()
    finally:
        connmod.MAX_QUEUED_FRAMES = old


def test_queued_notifications_still_precede_the_reply():
    """Frames keep their order through the writer queue: notifications a call sends while the
    client's socket is full arrive before that call's CallRsp (EVEmu's single queue)."""
    blob = __import__("os").urandom(3_000_000)

    class Loud(Service):
        name = "loud"

        @exposed
        def Three(self, call):
            for i in range(3):
                call.connection.notify("OnBig", "charid", (i, blob))
            return b"done"

    with running_server(extra_services=[Loud]) as server:
        with login(server, "orderly") as c:
            assert c.call("loud", "Three") == b"done"
            notes = [Client.notification_args(p)[0] for p in c.notifications
                     if p.type == C.NOTIFICATION]
            assert notes == [0, 1, 2] and c.sn_gaps == []
            conn = server.broadcast.connections("userid", c.userid)[0]
            assert conn._writer is None and not conn._outq


def test_flush_waits_for_queued_frames():
    import socket
    blob = __import__("os").urandom(2_000_000)
    with running_server() as server:
        c = login(server, "flusher")
        conn = server.broadcast.connections("userid", c.userid)[0]
        conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        conn.notify("OnBig", "charid", (blob,))
        conn.notify("OnBig", "charid", (blob,))
        assert conn._cork is not None or conn._writer is not None   # held, or queued
        assert conn.flush(0.05) is False              # nobody reads: times out
        result = []
        t = stackless.tasklet(lambda: result.append(conn.flush(10)))()
        for _ in range(2):
            c.wait_notification("OnBig")
        assert settle(lambda: result) and result == [True] and not t.alive
        assert conn.flush() is True                   # nothing queued: at once
        c.close()
        assert settle(lambda: conn.closed)
        assert conn.flush() is False


def test_notifications_of_one_turn_go_out_in_one_send():
    """Notifications to one client during one loop turn are held and sent together at its
    end, in order, with the reply sent after them in the same turn behind them."""
    from evemu.machonet import connection as connmod
    with running_server() as server:
        with login(server, "corked") as c:
            conn = server.broadcast.connections("userid", c.userid)[0]
            sends = []
            real = connmod._raw_send

            def counting(sock, data):                           # the send() syscalls
                if sock is conn.sock:
                    sends.append(bytes(data))
                return real(sock, data)
            connmod._raw_send = counting
            try:
                flushes = server.cork_flushes
                for i in range(5):
                    conn.notify("OnCorked", "charid", (i,))
                assert len(conn._cork) == 5 and sends == []        # held for this turn
                assert conn.send_session_change() is False
                assert c.call("machoNet", "GetTime") > 0            # the loop turns
            finally:
                connmod._raw_send = real
            assert server.cork_flushes > flushes
            got = [args[0] for args in c.take_notifications("OnCorked")]
            assert got == [0, 1, 2, 3, 4] and c.sn_gaps == []
            assert sends[0].count(b"OnCorked") == 5             # one send() for all five
            assert conn._cork is None


def test_held_notifications_keep_their_order_with_frames_sent_after_them():
    with running_server() as server:
        with login(server, "ordered") as c:
            conn = server.broadcast.connections("userid", c.userid)[0]
            conn.notify("OnFirst", "charid", (1,))
            conn.send_value(("not", "a", "packet"))            # joins the held frames
            conn.notify("OnLast", "charid", (2,))
            assert len(conn._cork) == 3
            server.flush_corked()
            assert conn._cork is None
            events = []
            while len(events) < 3:
                payload = c.reader.read_frame()
                events.append(payload)
            assert b"OnFirst" in events[0] and b"OnLast" in events[2]
            assert b"not" in events[1] and b"OnFirst" not in events[1]


def test_a_closed_connection_drops_what_it_held():
    with running_server() as server:
        c = login(server, "dropped")
        conn = server.broadcast.connections("userid", c.userid)[0]
        c.close()
        conn.notify("OnHeld", "charid", (1,))
        conn.close("test")
        assert conn._cork is None
        server.flush_corked()                   # nothing raised into the flush
        with pytest.raises(Exception):
            conn.notify("OnAfter", "charid", (1,))


def test_broadcaster_is_created_on_first_use():
    class Bare:
        pass
    srv = Bare()
    b = Broadcaster.of(srv)
    assert srv.broadcast is b and Broadcaster.of(srv) is b and b.count() == 0
