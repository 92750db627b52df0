"""MachoNet after login: calls and their errors, pings, bound objects and their release,
session changes, many concurrent clients, clients that vanish mid-call, hostile bytes."""
import random
import struct

import pytest

import stackless
from stackless import loop

from evemu.client import Client, RemoteError
from evemu.machonet import constants as C
from evemu.machonet.packets import Address, Packet
from evemu.wire import marshal
from evemu.wire.framing import encode_frame
from evemu.wire.marshal import Instance, SubStream, SubStruct

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


@pytest.fixture
def server():
    with running_server() as srv:
        yield srv


@pytest.fixture
def client(server):
    c = Client.connect(server.address)
    c.login("caller", "pw")
    yield c
    c.close()


def stats(c):
    return {k.decode(): v for k, v in c.call("debugSvc", "Stats").items()}


def assert_server_alive(server, name="checker"):
    with Client.connect(server.address) as c:
        c.login(name, "pw")
        assert c.call("machoNet", "GetTime") > 0


# ------------------------------------------------------------------ calls
def test_call_args_kwargs_and_machoversion(client):
    args, kw = client.call("debugSvc", "Echo", 1, b"two", [3.0], key=u"v", machoVersion=1)
    assert args == (1, b"two", [3.0])
    assert kw == {b"key": "v"}            # machoVersion is a transport hint, not an argument


def test_kwargs_none_is_accepted(client):
    """EVEmu crashes on a CallReq whose kwargs is None; we take it as {}."""
    pkt = Packet(C.CALL_REQ, Address.client(client.client_id, 77), Address.any("debugSvc"), None,
                 ((0, SubStream((1, b"Echo", (5,), None))),))
    client.send(pkt.to_wire())
    assert client.wait_reply(77).body[0].value == ((5,), {})


def test_call_rsp_addresses(client):
    rsp = client.call_full("machoNet", "GetTime")
    assert rsp.type == C.CALL_RSP
    assert rsp.source == Address.any("machoNet")
    assert rsp.destination.kind == C.ADDRESS_CLIENT
    assert rsp.destination.id == client.client_id and rsp.userid == client.userid


def test_unknown_service_is_service_not_found(client):
    with pytest.raises(RemoteError) as e:
        client.call("noSuchService", "Nothing")
    assert e.value.code == C.WRAPPEDEXCEPTION
    assert e.value.exception_class == "ccp_exceptions.UserError"
    assert e.value.msg == "ServiceNotFound" and e.value.values == {}
    assert e.value.packet.body[0] == C.CALL_REQ


def test_unknown_method_is_an_error(client):
    """EVEmu answers None; issue 9 wants an error: WRAPPEDEXCEPTION UserError('CustomError')."""
    with pytest.raises(RemoteError) as e:
        client.call("machoNet", "NoSuchMethod", 1, 2)
    assert e.value.msg == "CustomError"
    assert e.value.values == {"error": "machoNet has no method NoSuchMethod"}


@pytest.mark.parametrize("method", ["NotExposed", "__init__", "_register"])
def test_unexposed_method_is_not_callable(client, method):
    with pytest.raises(RemoteError) as e:
        client.call("debugSvc", method)
    assert e.value.values == {"error": f"debugSvc has no method {method}"}


def test_user_error_is_wrapped(client):
    with pytest.raises(RemoteError) as e:
        client.call("debugSvc", "Raise", b"NotEnoughMoney", {b"amount": 5})
    assert e.value.msg == "NotEnoughMoney" and e.value.values == {"amount": 5}
    header = e.value.exception.header
    assert header[1] == (b"NotEnoughMoney", {b"amount": 5})


def test_internal_error_becomes_custom_error(client):
    with pytest.raises(RemoteError) as e:
        client.call("debugSvc", "Crash")
    assert e.value.msg == "CustomError"
    assert e.value.values == {"error": "Internal server error: RuntimeError"}
    with pytest.raises(RemoteError) as e:
        client.call("debugSvc", "Unmarshallable")
    assert e.value.values["error"] == "Internal server error: TypeError"
    assert client.call("machoNet", "GetTime") > 0           # the connection goes on


def test_bad_arguments_are_a_custom_error(client):
    with pytest.raises(RemoteError) as e:
        client.call("machoNet", "GetTime", 1, 2, 3)
    assert e.value.msg == "CustomError"
    assert "Bad arguments for machoNet.GetTime" in e.value.values["error"]


def test_oob_named_results(client):
    rsp = client.call_full("debugSvc", "WithOOB")
    assert rsp.body[0].value == 1 and rsp.oob == {b"note": b"out of band"}


def test_session_change_arrives_before_the_call_rsp(client):
    assert client.call("debugSvc", "SetSession", b"charid", 90000001) is True
    change = client.notifications[-1]
    assert change.type == C.SESSION_CHANGE_NOTIFICATION
    sid, (flag, changes), nodes = change.body
    assert sid == client.session_id and flag == 0
    assert changes == {b"charid": (None, 90000001)}
    assert nodes == [-1, C.DEFAULT_NODE_ID]
    assert client.session["charid"] == 90000001
    n = len(client.notifications)
    client.call("debugSvc", "SetSession", b"charid", 90000001)     # no change, no packet
    client.call("debugSvc", "SetSession", b"clientID", 5)          # never sent
    assert len(client.notifications) == n


def test_get_characters_to_select_reads_sqlite(server, client):
    acct = server.db.get_account("caller")
    other = server.db.create_account("other", C.ROLE_STD, password="x")
    cid = server.db.create_character(acct.id, "Caller Prime", 1373, 1, raceID=1)
    server.db.create_character(other.id, "Not Mine", 1374, 0)
    rowset = client.call("charUnboundMgr", "GetCharactersToSelect")
    assert rowset.header[0][0].name == "dbutil.CRowset"
    rows = [r.asdict() for r in rowset.list]
    assert rows == [{"characterID": cid, "characterName": "Caller Prime",
                     "deletePrepareDateTime": 0, "gender": 1, "typeID": 1373}]


def test_get_cluster_session_statistics_and_time(client):
    assert client.call("machoNet", "GetClusterSessionStatistics") == ({}, {}, 1.0)
    t1 = client.call("machoNet", "GetTime")
    t2 = client.call("machoNet", "GetTime")
    assert t2 >= t1


def test_cachable_object_unknown_is_none(client):
    # (config.BulkData.types is built from the static data now: tests/test_world_caches.py)
    assert client.call("objectCaching", "GetCachableObject", 0, b"config.BulkData.nope",
                       (0, 0), C.CACHE_NODE_ID) is None
    assert client.call("objectCaching", "GetCachableObject", 0,
                       (b"Method Call", b"server", (b"x", b"y")), (0, 0), 1) is None


# ------------------------------------------------------------------ ping, bound objects
def test_ping(client):
    hops = client.ping()
    assert [h[2] for h in hops] == [b"proxy::handle_message", b"proxy::writing",
                                    b"server::handle_message", b"server::turnaround",
                                    b"proxy::handle_message", b"proxy::writing"]
    assert all(h[0] <= h[1] for h in hops)


def test_bind_call_and_release(server, client):
    rsp = client.call_full("debugBindable", "MachoBindObject", 10, (b"Increment", (5,), {}))
    (oid_struct, nested) = rsp.body[0].value
    assert type(oid_struct) is SubStruct
    bound_id, stamp = oid_struct.value.value
    assert bound_id.startswith(b"N=%d:" % C.DEFAULT_NODE_ID) and nested == 15
    assert rsp.oob == {b"OID+": {bound_id: stamp}}
    assert client.call("debugBindable", "MachoResolveObject", 10, 0) == C.DEFAULT_NODE_ID

    bid = bound_id.decode()
    assert client.call_bound(bid, "Increment") == 16
    assert client.call_bound(bid, "Increment", 4) == 20
    assert server.services.bound_count == 1

    # another client cannot reach it
    with Client.connect(server.address) as thief:
        thief.login("thief", "pw")
        with pytest.raises(RemoteError) as e:
            thief.call_bound(bid, "Increment")
        assert e.value.msg == "ServiceNotFound"
        thief.release(bid)                               # ignored: not the owner's
        thief.ping()
    assert server.services.bound_count == 1

    client.release(bid, "N=1:999", "garbage")
    client.ping()                                        # the release has been processed
    assert server.services.bound_count == 0
    assert client.call("debugBindable", "Released") == [bound_id]
    with pytest.raises(RemoteError):
        client.call_bound(bid, "Increment")


def test_bound_objects_released_on_disconnect(server):
    c = Client.connect(server.address)
    c.login("binder", "pw")
    for i in range(3):
        c.call("debugBindable", "MachoBindObject", i, None)
    assert server.services.bound_count == 3
    c.close()
    assert settle(lambda: server.services.bound_count == 0)


# ------------------------------------------------------------------ concurrency
def test_calls_of_one_client_run_concurrently(client):
    """A slow call does not hold up the next one: each call has its own tasklet."""
    _, slow = client.call_packet("debugSvc", "Sleep", 0.5)
    slow_id = slow.source.call_id
    client.send(slow.to_wire())
    fast_id, fast = client.call_packet("machoNet", "GetTime")
    client.send(fast.to_wire())
    first = client.recv_packet()
    assert first.destination.call_id == fast_id
    assert client.wait_reply(slow_id).body[0].value == 0.5


def test_many_concurrent_clients(server):
    n = 100
    results = {}

    def one(i):
        with Client.connect(server.address) as c:
            state = c.login(f"pilot{i:03d}", f"pw{i}")
            t = c.call("machoNet", "GetTime")
            rows = c.call("charUnboundMgr", "GetCharactersToSelect")
            c.call("debugSvc", "Sleep", 0.05)
            results[i] = (state["userid"], t, len(rows.list))

    tasks = [stackless.tasklet(one)(i) for i in range(n)]
    for t in tasks:
        loop.run_until(t)
    assert len(results) == n
    assert len({r[0] for r in results.values()}) == n          # n distinct accounts
    assert all(r[1] > 0 and r[2] == 0 for r in results.values())
    assert settle(lambda: not server.connections)
    assert server.logins == n


def test_client_disconnecting_mid_call(server):
    c = Client.connect(server.address)
    c.login("quitter", "pw")
    _, pkt = c.call_packet("debugSvc", "Sleep", 5)
    c.send(pkt.to_wire())
    assert settle(lambda: any(conn.calls for conn in server.connections))
    c.close()
    assert settle(lambda: not server.connections)          # connection gone, call killed
    assert not server.online
    assert_server_alive(server)


def test_disconnect_while_server_is_writing(server):
    """The client sends calls and goes away without reading; the server must not care."""
    c = Client.connect(server.address)
    c.login("leaver", "pw")
    for i in range(50):
        _, pkt = c.call_packet("debugSvc", "Echo", b"x" * 10000)
        c.send(pkt.to_wire())
    c.sock.close()
    assert settle(lambda: not server.connections)
    assert_server_alive(server)


# ------------------------------------------------------------------ hostile bytes
def hostile(server, payload, login=True):
    """Send ``payload`` (raw bytes); the server must close this connection and go on."""
    c = Client.connect(server.address)
    if login:
        c.login("target", "pw")
    else:
        c.recv()
    c.send_raw(payload)
    with pytest.raises(ConnectionError):
        while True:
            c.recv()
    c.close()
    assert settle(lambda: not server.connections)
    assert_server_alive(server)


@pytest.mark.parametrize("login", [False, True], ids=["before-login", "after-login"])
@pytest.mark.parametrize("payload", [
    pytest.param(b"GET / HTTP/1.0\r\n\r\n", id="http"),
    pytest.param(struct.pack("<I", 0xFFFFFFFF) + b"x" * 100, id="4GiB-length"),
    pytest.param(struct.pack("<I", (1 << 20) + 1), id="over-1MiB"),
    pytest.param(struct.pack("<I", 0), id="empty-frame"),
    pytest.param(encode_frame(b"\x7e\x00\x00\x00\x00\x99"), id="bad-opcode"),
    pytest.param(encode_frame(b"\x78\x9c" + b"\x00" * 20), id="bad-zlib"),
    pytest.param(encode_frame(b"\x7e\x00\x00\x00\x00" + b"\x14\xff\xff\xff\xff\x7f"),
                 id="huge-tuple"),
])
def test_garbage_drops_only_that_connection(server, payload, login):
    hostile(server, payload, login)


@pytest.mark.parametrize("value", [
    pytest.param(b"just a string", id="not-a-packet"),
    pytest.param(Instance("macho.CallReq", (6,)), id="short-state"),
    pytest.param(Instance("evil.Class", (6, None, None, None, (), None, None)), id="foreign-class"),
    pytest.param(Instance("macho.CallReq", (7, Address.any("x").to_wire(),
                                            Address.any("x").to_wire(), None, (), None, None)),
                 id="wrong-command"),
    pytest.param(Instance("macho.CallReq", (6, Address.client(1, 1).to_wire(),
                                            Address.any("machoNet").to_wire(), None,
                                            ((0, SubStream.from_raw(b"~\0\0\0\0\x99")),), None,
                                            None)), id="bad-call-substream"),
    pytest.param(Instance("macho.CallReq", (6, Address.client(1, 1).to_wire(),
                                            Address.any("machoNet").to_wire(), None,
                                            ((0, SubStream((1, "GetTimé", (), {}))),), None,
                                            None)), id="non-ascii-method"),
    pytest.param(Instance("macho.CallReq", (6, Instance("macho.MachoAddress", (99, 1)),
                                            Address.any("machoNet").to_wire(), None, (), None,
                                            None)), id="bad-address"),
])
def test_malformed_packets_drop_the_connection(server, value):
    hostile(server, encode_frame(marshal.dumps(value)))


def test_truncated_frame_then_close(server):
    c = Client.connect(server.address)
    c.login("truncator", "pw")
    _, pkt = c.call_packet("machoNet", "GetTime")
    frame = encode_frame(marshal.dumps(pkt.to_wire()))
    c.send_raw(frame[:len(frame) // 2])
    c.close()
    assert settle(lambda: not server.connections)
    assert_server_alive(server)


def test_frame_split_into_single_bytes(client):
    _, pkt = client.call_packet("machoNet", "GetTime")
    frame = encode_frame(marshal.dumps(pkt.to_wire()))
    for i in range(len(frame)):
        client.send_raw(frame[i:i + 1])
    assert client.wait_reply(pkt.source.call_id).body[0].value > 0


def test_several_frames_in_one_send_and_a_frame_straddling_two(client):
    # the packet loop cuts every complete frame out of one recv, and keeps the tail of a
    # frame whose rest comes with the next send
    pkts = [client.call_packet("machoNet", "GetTime")[1] for _ in range(4)]
    frames = [encode_frame(marshal.dumps(p.to_wire())) for p in pkts]
    blob = b"".join(frames)
    cut = len(frames[0]) + len(frames[1]) + 3            # 3 bytes into the third frame
    client.send_raw(blob[:cut])
    for p in pkts[:2]:
        assert client.wait_reply(p.source.call_id).body[0].value > 0
    client.send_raw(blob[cut:])
    for p in pkts[2:]:
        assert client.wait_reply(p.source.call_id).body[0].value > 0


def test_random_mutations_never_kill_the_server(server):
    """Seeded mutations of a valid CallReq frame: each either gets an answer or a drop."""
    rnd = random.Random(1234)
    _, pkt = Client(None).call_packet("machoNet", "GetTime")
    payload = bytearray(marshal.dumps(pkt.to_wire()))
    c = Client.connect(server.address)
    c.login("fuzzed", "pw")
    for i in range(60):
        mutated = bytearray(payload)
        for _ in range(rnd.randint(1, 4)):
            mutated[rnd.randrange(5, len(mutated))] = rnd.randrange(256)
        try:
            c.send_raw(encode_frame(bytes(mutated)))
            c.ping()                       # either we get through, or the server dropped us
        except (ConnectionError, OSError):
            c.close()
            c = Client.connect(server.address)
            assert settle(lambda: not server.online)
            c.login("fuzzed", "pw")
    c.close()
    assert settle(lambda: not server.connections)
    assert_server_alive(server)


def test_unsolicited_packet_types_are_ignored(client):
    pkt = Packet(C.CALL_RSP, Address.client(client.client_id, 1), Address.node(1), None,
                 (SubStream(1),))
    client.send(pkt.to_wire())
    pkt = Packet(C.PING_RSP, Address.client(client.client_id, 1), Address.node(1), None, ([],))
    client.send(pkt.to_wire())
    assert client.call("machoNet", "GetTime") > 0


def test_idle_client_gets_pinged_then_dropped():
    with running_server(idle_timeout=0.3) as server:
        c = Client.connect(server.address)
        c.login("sleepy", "pw")
        ping = c.recv_packet()
        assert ping.type == C.PING_REQ and ping.body == ([],)
        with pytest.raises(ConnectionError):
            c.recv()
        c.close()
        assert settle(lambda: not server.connections)


def test_answering_the_ping_keeps_the_connection():
    with running_server(idle_timeout=0.3) as server:
        c = Client.connect(server.address)
        c.login("awake", "pw")
        for _ in range(3):
            ping = c.recv_packet()
            assert ping.type == C.PING_REQ
            c.send(Packet(C.PING_RSP, ping.destination, ping.source, None, ping.body).to_wire())
        assert c.call("machoNet", "GetTime") > 0
        c.close()


def test_server_shutdown_closes_clients():
    with running_server() as server:
        c = Client.connect(server.address)
        c.login("lastone", "pw")
        _, pkt = c.call_packet("debugSvc", "Sleep", 5)
        c.send(pkt.to_wire())
        settle(lambda: any(conn.calls for conn in server.connections))
        server.shutdown()
        with pytest.raises(ConnectionError):
            for _ in range(5):          # the shutdown notice first (test_server_limits.py)
                c.recv()
        c.close()
        assert not server.connections and not server.online


def test_frame_limits_before_and_after_login(server):
    big = b"z" * (100 << 10)
    # before the login a 100 KiB frame is refused (limit 64 KiB)...
    hostile(server, encode_frame(marshal.dumps((big,), None)), login=False)
    # ...after it, a 100 KiB call goes through (limit 1 MiB), compressed or not
    with Client.connect(server.address) as c:
        c.login("bigcaller", "pw")
        args, _ = c.call("debugSvc", "Echo", big)
        assert args == (big,)
        _, pkt = c.call_packet("debugSvc", "Echo", big)
        c.send_raw(encode_frame(marshal.dumps(pkt.to_wire(), None)))
        assert c.wait_reply(pkt.source.call_id).body[0].value[0] == (big,)


def test_zlib_bomb_is_refused(server):
    import zlib
    bomb = zlib.compress(b"\x7e\x00\x00\x00\x00\x13\xff" + struct.pack("<I", 40 << 20)
                         + b"\0" * (40 << 20), 9)
    assert len(bomb) < (1 << 20)
    hostile(server, encode_frame(bomb))


def test_server_notification(client):
    assert client.call("debugSvc", "Notify", "hello") is True
    assert client.call("debugSvc", "Notify", "again") is True
    notes = [p for p in client.notifications if p.type == C.NOTIFICATION]
    assert len(notes) == 2
    n = notes[0]
    assert n.source == Address.node(C.DEFAULT_NODE_ID)
    assert n.destination == Address.broadcast("OnRemoteMessage", "charid")
    (flag, ss), = n.body
    assert flag == 0 and ss.value == (0, (1, (b"CustomNotify", {b"notify": "hello"})))
    assert [p.oob for p in notes] == [{b"sn": 1}, {b"sn": 2}]


def test_unencodable_session_change_or_oob_is_a_call_error():
    from evemu.services import CallResult, Service, exposed

    class Buggy(Service):
        name = "buggy"

        @exposed
        def BadSession(self, call):
            call.session.set("weird", object())
            return 1

        @exposed
        def BadOOB(self, call):
            return CallResult(1, oob={b"x": object()})

    with running_server(extra_services=[Buggy]) as server:
        with Client.connect(server.address) as c:
            c.login("bugged", "pw")
            for method in ("BadSession", "BadOOB"):
                with pytest.raises(RemoteError) as e:
                    c.call("buggy", method)
                assert e.value.values == {"error": "Internal server error: TypeError"}
            assert c.call("machoNet", "GetTime") > 0


def test_serve_forever_survives_an_escaping_tasklet_error():
    with running_server() as server:
        def boom():
            raise RuntimeError("escaped")

        def stopper():
            loop.sleep(0.2)
            server.stop()

        stackless.tasklet(boom)()
        stackless.tasklet(stopper)()
        server.serve_forever()                  # logs the RuntimeError, goes on, then stops
        assert server.listener is None
