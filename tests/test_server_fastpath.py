"""The per-call fast paths of the server (issue 9, fourth pass): a CallReq of the usual shape is
parsed in one step (``packets.parse_call_packet``), a frame that one recv() brought whole is
decoded from the receive scratch, and the call tasklet is started by the reader itself.  None of
them may change what the server accepts, refuses or answers: here the fast parse is checked
against the general one (``parse_packet`` + ``parse_call``) on valid calls and on every field
the general path checks, and the reader's single-recv path at the frame-size limits."""
import struct

import pytest

from evemu.client import Client
from evemu.machonet import packets
from evemu.machonet.packets import (Address, PacketError, parse_call, parse_call_packet,
                                    parse_packet)
from evemu.wire import marshal
from evemu.wire.framing import encode_frame
from evemu.wire.marshal import Instance, SubStream

from server_helpers import bounded, running_server, settle


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(60):
        yield


def addr(*state):
    return Instance("macho.MachoAddress", state)


def call_req(src=None, dst=None, userid=None, body=None, oob=None, ctx=(None,), inner=None,
             name="macho.CallReq", command=6):
    src = addr(2, 1000001, 7, None) if src is None else src
    dst = addr(8, b"machoNet", None) if dst is None else dst
    if body is None:
        inner = (1, b"GetTime", (), {}) if inner is None else inner
        body = ((0, SubStream.from_raw(marshal.dumps(inner, None))),)
    return Instance(name, (command, src, dst, userid, body, oob, *ctx))


def general(value):
    """What the general path makes of ``value``: (packet, request) or 'refused'."""
    try:
        pkt = parse_packet(value)
        return pkt, parse_call(pkt)
    except PacketError:
        return "refused"


def fields(pkt, req):
    def a(x):
        return (x.kind, x.id, x.service, x.call_id, x.narrowcast, x.id_type, x.to_wire())
    return (pkt.type, a(pkt.source), a(pkt.destination), pkt.userid, pkt.body, pkt.oob,
            pkt.context_key, req.target, req.method, req.args, req.kwargs)


# Values the fast path must take (and give exactly what the general path gives).
USUAL = {
    "plain": call_req(),
    "7-tuple with context": call_req(ctx=(b"ctx",)),
    "6-tuple": call_req(ctx=()),
    "no call id": call_req(src=addr(2, 1000001, None, None)),
    "destination call id": call_req(dst=addr(8, b"machoNet", 3)),
    "userid": call_req(userid=5),
    "oob": call_req(oob={b"OID-": {}}),
    "bound target": call_req(inner=(b"N=888444:1", b"List", (1, 2), {})),
    "args": call_req(inner=(1, b"GetTime", (1, b"x", None), None)),
    "flag 1": call_req(body=((1, SubStream.from_raw(marshal.dumps((1, b"M", (), {}),
                                                                  None))),)),
}

# Every field the general path checks, each given a value it refuses or that needs its
# slower conversion: the fast path must leave all of them to it (None), never accept them.
ODD = {
    "packet in a SubStream": SubStream(call_req()),
    "other packet class": call_req(name="macho.Notification", command=12),
    "wrong command": call_req(command=7),
    "float command": Instance("macho.CallReq", (6.0,) + call_req().state[1:]),
    "bool command": Instance("macho.CallReq", (True,) + call_req().state[1:]),
    "5-tuple": Instance("macho.CallReq", call_req().state[:5]),
    "list state": Instance("macho.CallReq", list(call_req().state)),
    "bool userid": call_req(userid=True),
    "str userid": call_req(userid="5"),
    "list oob": call_req(oob=[1]),
    "list body": call_req(body=[(0, SubStream((1, b"GetTime", (), {})))]),
    "two-part body": call_req(body=((0, SubStream((1, b"GetTime", (), {}))), 1)),
    "body not a pair": call_req(body=((0,),)),
    "payload not a SubStream": call_req(body=((0, (1, b"GetTime", (), {})),)),
    "undecodable payload": call_req(body=((0, SubStream.from_raw(b"~\0\0\0\0\x99")),)),
    "3-tuple payload": call_req(inner=(1, b"GetTime", ())),
    "float target": call_req(inner=(1.0, b"GetTime", (), {})),
    "str target": call_req(inner=("N=1:1", b"GetTime", (), {})),
    "non-ascii target": call_req(inner=(b"N=\xff", b"GetTime", (), {})),
    "str method": call_req(inner=(1, "GetTime", (), {})),
    "non-ascii method": call_req(inner=(1, b"GetTim\xe9", (), {})),
    "list args": call_req(inner=(1, b"GetTime", [], {})),
    "keywords": call_req(inner=(1, b"GetTime", (), {b"machoVersion": 1})),
    "empty-tuple keywords": call_req(inner=(1, b"GetTime", (), ())),
    "zero keywords": call_req(inner=(1, b"GetTime", (), 0)),
    "node source": call_req(src=addr(1, 888444, b"svc", 7)),
    "client source with service": call_req(src=addr(2, 1000001, 7, b"svc")),
    "client source without id": call_req(src=addr(2, None, 7, None)),
    "bool client id": call_req(src=addr(2, True, 7, None)),
    "bool call id": call_req(src=addr(2, 1000001, True, None)),
    "float source kind": call_req(src=addr(2.0, 1000001, 7, None)),
    "short source": call_req(src=addr(2, 1000001, 7)),
    "source not an address": call_req(src=Instance("macho.Other", (2, 1, 7, None))),
    "source not an instance": call_req(src=(2, 1000001, 7, None)),
    "node destination": call_req(dst=addr(1, 888444, b"machoNet", None)),
    "float destination kind": call_req(dst=addr(8.0, b"machoNet", None)),
    "bool destination kind": call_req(dst=addr(True, b"machoNet", None)),
    "bool destination call id": call_req(dst=addr(8, b"machoNet", True)),
    "float destination call id": call_req(dst=addr(8, b"machoNet", 1.0)),
    "str destination service": call_req(dst=addr(8, "machoNet", None)),
    "non-ascii destination": call_req(dst=addr(8, b"mach\xf6Net", None)),
    "no destination service": call_req(dst=addr(8, None, None)),
    "list destination state": call_req(dst=Instance("macho.MachoAddress",
                                                    [8, b"machoNet", None])),
    "unhashable destination": call_req(dst=Instance("macho.MachoAddress",
                                                    (8, b"machoNet", [None]))),
    "not a packet": b"just bytes",
}


#: ODD values the general path accepts (with its slower conversions)
NEEDS_GENERAL = {"packet in a SubStream", "other packet class", "str target", "str method",
                 "keywords", "node source", "client source with service",
                 "client source without id", "node destination", "str destination service",
                 "no destination service"}


@pytest.mark.parametrize("name", sorted(USUAL))
def test_the_fast_parse_gives_what_the_general_path_gives(name):
    value = marshal.loads(marshal.dumps(USUAL[name], None))     # as the reader sees it
    want = general(value)
    assert want != "refused"
    got = parse_call_packet(marshal.loads(marshal.dumps(USUAL[name], None)))
    assert got is not None, "the usual shape must take the fast path"
    assert fields(*got) == fields(*want)
    # and a second time (the destination now from the cache)
    got = parse_call_packet(marshal.loads(marshal.dumps(USUAL[name], None)))
    assert fields(*got) == fields(*want)


@pytest.mark.parametrize("name", sorted(ODD))
def test_the_fast_parse_leaves_everything_else_to_the_general_path(name):
    # the usual destination first, so that a cache keyed loosely (8.0 == 8, True == 1)
    # would answer for the odd one
    assert parse_call_packet(marshal.loads(marshal.dumps(call_req(), None))) is not None
    value = ODD[name]
    assert parse_call_packet(value) is None
    assert general(value) == "refused" or name in NEEDS_GENERAL
    assert parse_call_packet(marshal.loads(marshal.dumps(value, None))) is None


def test_the_destination_cache_is_bounded_and_takes_only_plain_any_addresses():
    packets._dest_cache.clear()
    for i in range(3 * packets._DEST_CACHE_MAX):
        got = parse_call_packet(call_req(dst=addr(8, b"svc%d" % i, None)))
        assert got[0].destination.service == f"svc{i}"
    assert len(packets._dest_cache) == packets._DEST_CACHE_MAX
    before = dict(packets._dest_cache)
    got = parse_call_packet(call_req(dst=addr(8, b"svc0", 9)))       # with a call id
    assert got[0].destination.call_id == 9 and packets._dest_cache == before
    a = parse_call_packet(call_req(dst=addr(8, b"svc1", None)))[0].destination
    assert a is before[b"svc1"] and a == Address.any("svc1")


# ------------------------------------------------------------------ the reader, over loopback
def login(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def dropped(server, c):
    with pytest.raises(ConnectionError):
        while True:
            c.recv()
    c.close()
    return settle(lambda: not any(x.account and x.account.name == "limit"
                                  for x in server.connections))


def echo_frame(c, size):
    """A debugSvc.Echo CallReq frame of exactly ``size`` payload bytes."""
    for pad in range(size, 0, -1):
        call_id, pkt = c.call_packet("debugSvc", "Echo", b"x" * pad)
        payload = marshal.dumps(pkt.to_wire(), None)
        if len(payload) == size:
            return call_id, encode_frame(payload)
    raise AssertionError("no padding gives this size")


def test_a_whole_frame_of_max_frame_bytes_in_one_recv_is_served():
    with running_server(max_frame=600) as server:
        c = login(server, "limit")
        call_id, frame = echo_frame(c, 600)
        c.send_raw(frame)                     # one send: one recv on loopback
        args, _ = c.wait_reply(call_id).body[0].value
        assert len(args[0]) > 500
        c.close()


def test_a_whole_frame_one_byte_over_max_frame_in_one_recv_is_refused():
    with running_server(max_frame=600) as server:
        c = login(server, "limit")
        _, frame = echo_frame(c, 601)
        c.send_raw(frame)
        assert dropped(server, c)


@pytest.mark.parametrize("state", [(8.0, b"machoNet", None), (8, b"machoNet", True)],
                         ids=["float-kind", "bool-call-id"])
def test_a_destination_equal_to_a_cached_one_but_not_the_same_is_refused(state):
    """The server has parsed plain calls to machoNet (its destination is cached); a CallReq
    whose destination state compares equal to that one but has a float kind or a bool call
    id is still refused, as before the fast path."""
    with running_server() as server:
        c = login(server, "limit")
        assert c.call("machoNet", "GetTime") > 0
        value = call_req(src=addr(2, c.client_id, 99, None), dst=addr(*state))
        c.send_raw(encode_frame(marshal.dumps(value, None)))
        assert dropped(server, c)


def test_two_frames_in_one_recv_then_one_frame_alone():
    """The buffered path (two frames in one recv) and the single-recv path alternate on one
    connection without losing a byte."""
    with running_server() as server:
        c = login(server, "limit")
        for _ in range(3):
            a, pa = c.call_packet("machoNet", "GetTime")
            b, pb = c.call_packet("machoNet", "GetTime")
            c.send_raw(encode_frame(marshal.dumps(pa.to_wire())) +
                       encode_frame(marshal.dumps(pb.to_wire())))
            assert c.wait_reply(a).body[0].value > 0
            assert c.wait_reply(b).body[0].value > 0
            assert c.call("machoNet", "GetTime") > 0
        head = struct.pack("<I", 0)
        c.send_raw(head)                          # an empty frame alone in one recv
        assert dropped(server, c)
