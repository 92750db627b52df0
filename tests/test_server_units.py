"""Unit tests of the server's pieces without a network: the password hash (with EVEmu's
vector), the SQLite database, packets and addresses, sessions, the service manager."""
import sqlite3

import pytest

from evemu.db import AccountExists, AccountNameError, Database, default_path, filetime_now
from evemu.db.passwords import hashes_match, normalise_name, password_hash
from evemu.machonet import constants as C
from evemu.machonet.errors import CustomError, UserError
from evemu.machonet.packets import (Address, Packet, PacketError, parse_call,
                                    parse_notification, parse_packet, user_error)
from evemu.machonet.session import Session
from evemu.services import BoundObject, CallContext, Service, ServiceManager, exposed
from evemu.wire import marshal
from evemu.wire.marshal import Instance, SubStream

from server_helpers import frame_value


# ------------------------------------------------------------------ password hash
def test_password_hash_vector():
    """EVEmu's unit-test vector (protocol notes 3.1)."""
    h = password_hash(" Hello World ", " Secret Password ")
    assert h.hex() == "1be6df86421dcf2cfa71900f342775b03198dce5"
    assert len(h) == 20


def test_password_hash_normalises_the_name_only():
    assert password_hash("HELLO WORLD", " Secret Password ") == password_hash(
        " Hello World ", " Secret Password ")
    assert password_hash("hello world", "Secret Password") != password_hash(
        "hello world", " Secret Password ")
    assert normalise_name("  MiXed ") == "mixed"


def test_password_hash_non_ascii():
    assert password_hash("jörg", "pässwörd") != password_hash("jorg", "passwORD")
    assert len(password_hash("名前", "秘密")) == 20


def test_hashes_match():
    h = password_hash("a", "b")
    assert hashes_match(h, bytes(h)) and not hashes_match(h, h[:-1] + b"\0")
    assert not hashes_match(None, h) and not hashes_match(h, None) and not hashes_match(b"", b"")


# ------------------------------------------------------------------ database
def test_database_created_on_first_start(tmp_path):
    path = tmp_path / "deep" / "folder" / "evemu.sqlite3"
    db = Database(path)
    assert path.exists()
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"account", "chrCharacters", "meta"} <= tables
    db.create_account("persist", C.ROLE_STD, password="pw")
    db.close()
    db = Database(path)                          # reopening keeps the data, no re-creation
    assert db.get_account("persist").check_password(plain="pw")
    db.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "x.sqlite3"
    db = Database(path)
    db.execute("UPDATE meta SET value='999' WHERE key='schema_version'")
    db.close()
    with pytest.raises(RuntimeError, match="schema version 999 is newer"):
        Database(path)


def test_default_path(monkeypatch, tmp_path):
    monkeypatch.setenv("EVEMU_DB", str(tmp_path / "env.sqlite3"))
    assert default_path() == str(tmp_path / "env.sqlite3")
    monkeypatch.delenv("EVEMU_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_path() == str(tmp_path / "xdg" / "evemu" / "evemu.sqlite3")


def test_accounts():
    db = Database(":memory:")
    a = db.create_account("Pilot ", C.ROLE_STD, password="secret")
    assert a.name == "pilot" and a.role == C.ROLE_STD and a.type == 30 and not a.banned
    assert db.get_account("PILOT").id == a.id
    assert a.check_password(password_hash("pilot", "secret"))
    assert a.check_password(plain="secret") and not a.check_password(plain="Secret")
    with pytest.raises(AccountExists):
        db.create_account("pilot", C.ROLE_STD, password="x")
    b, created = db.get_or_create_account("newbie", C.ROLE_STD, password_hash("newbie", "pw"))
    assert created and b.check_password(plain="pw")
    again, created = db.get_or_create_account("newbie", 0, b"ignored")
    assert again.id == b.id and not created
    db.record_login(b.id)
    assert db.get_account("newbie").logon_count == 1


@pytest.mark.parametrize("name", ["", "ab", "x" * 21, "a;b", "a--b", "a b)", "zero0x1", "tab\tx"])
def test_refused_account_names(name):
    with pytest.raises(AccountNameError):
        Database(":memory:").create_account(name, C.ROLE_STD, password="pw")


def test_characters():
    db = Database(":memory:")
    a = db.create_account("owner", C.ROLE_STD, password="pw")
    c1 = db.create_character(a.id, "First", 1373, 1, raceID=1, balance=5000.0)
    c2 = db.create_character(a.id, "Second", 1374, 0)
    assert (c1, c2) == (90000000, 90000001)
    assert [c.characterName for c in db.characters_of(a.id)] == ["First", "Second"]
    assert db.characters_of(a.id + 1) == []
    with pytest.raises(sqlite3.IntegrityError):
        db.create_character(a.id, "first", 1373, 1)         # names are unique, any case
    with pytest.raises(TypeError, match="unknown character fields"):
        db.create_character(a.id, "Third", 1373, 1, evil="x")
    with pytest.raises(sqlite3.IntegrityError):
        db.create_character(12345, "Orphan", 1373, 1)       # foreign key


def test_filetime_now():
    import time
    t = filetime_now()
    assert abs((t - 116444736000000000) / 1e7 - time.time()) < 5


# ------------------------------------------------------------------ packets
def test_addresses_round_trip():
    for a in (Address.node(888444, "machoNet", 3), Address.client(3888444, 10),
              Address.client(1, None, "svc"), Address.any("machoNet"),
              Address.broadcast("OnRemoteMessage", "charid", [1, 2])):
        back = Address.from_wire(marshal.loads(marshal.dumps(a.to_wire())))
        assert back == a, (a, back)


def test_address_wire_forms_match_capture():
    rsp = frame_value("13")
    assert Address.any("machoNet").to_wire() == rsp.state[1]
    assert Address.client(3888444, 10).to_wire() == rsp.state[2]


@pytest.mark.parametrize("state", [
    (), (99, 1, 2, 3), (1, 2, 3), (8, b"svc", None, None), (2, b"notanint", None, None),
    (1, True, None, None), (4, b"ev", b"notalist", b"charid"), (1, 1, b"\xff", None),
])
def test_bad_addresses(state):
    with pytest.raises(PacketError):
        Address.from_wire(Instance("macho.MachoAddress", state))


def test_parse_captured_call_requests():
    for prefix, service, method, args in (
            ("12", "machoNet", "GetTime", ()),
            ("14", "machoNet", "GetInitVals", ()),
            ("16", "objectCaching", "GetCachableObject",
             (0, b"config.BulkData.categories", (0, 0), 888444)),
            ("18", "charUnboundMgr", "GetCharactersToSelect", ()),
            ("20", "noSuchService", "Nothing", ())):
        pkt = parse_packet(frame_value(prefix))
        assert pkt.type == C.CALL_REQ and pkt.destination.service == service
        assert pkt.source.kind == C.ADDRESS_CLIENT and pkt.source.call_id > 0
        req = parse_call(pkt)
        assert (req.target, req.method, req.args, req.kwargs) == (1, method, args, {})


def test_parse_captured_server_packets():
    for prefix, ptype in (("11", C.SESSION_INITIAL_STATE_NOTIFICATION), ("13", C.CALL_RSP),
                          ("21", C.ERROR_RESPONSE)):
        pkt = parse_packet(frame_value(prefix))
        assert pkt.type == ptype
        assert marshal.loads(marshal.dumps(pkt.to_wire())) == frame_value(prefix)


def test_packet_wrapped_in_substream_is_accepted():
    pkt = parse_packet(SubStream(frame_value("12")))
    assert pkt.type == C.CALL_REQ


@pytest.mark.parametrize("value", [
    None, b"x", Instance("macho.Nope", ()), Instance("macho.CallReq", [6]),
    Instance("macho.CallReq", (6, None, None, None, (), None, None)),
    Instance("macho.CallReq", ("6", None, None, None, (), None, None)),
    Instance("macho.PingReq", (20, Address.node(1).to_wire(), Address.node(1).to_wire(), None,
                               [], None, None)),
    Instance("macho.PingReq", (20, Address.node(1).to_wire(), Address.node(1).to_wire(), None,
                               (), [], None)),
])
def test_bad_packets(value):
    with pytest.raises(PacketError):
        parse_packet(value)


def _call(inner, body=None):
    return Packet(C.CALL_REQ, Address.client(1, 1), Address.any("x"), None,
                  body if body is not None else ((0, SubStream(inner)),))


@pytest.mark.parametrize("inner,body", [
    (None, ()), (None, (1,)), (None, ((0, b"not a substream"),)), ((1, b"M", ()), None),
    ((1.5, b"M", (), {}), None), ((1, 5, (), {}), None), ((1, b"M", [], {}), None),
    ((1, b"M", (), []), None), ((1, b"M", (), {5: 1}), None),
])
def test_bad_call_bodies(inner, body):
    with pytest.raises(PacketError):
        parse_call(_call(inner, body))


def test_call_kwargs_and_bound_target():
    req = parse_call(_call((b"N=888444:5", b"Do", (1,), {b"machoVersion": 1, "x": 2})))
    assert req.target == "N=888444:5" and req.kwargs == {"machoVersion": 1, "x": 2}


def test_parse_notification():
    pkt = Packet(C.NOTIFICATION, Address.client(1), Address.node(1), None,
                 ((0, SubStream(([(b"N=1:2", 5)], b"ClientHasReleasedTheseObjects", (), {}))),))
    assert parse_notification(pkt) == ("ClientHasReleasedTheseObjects", [(b"N=1:2", 5)])


def test_user_error_wire_form_matches_capture():
    exc = frame_value("21").state[4][2][0].value
    assert user_error("ServiceNotFound") == exc
    e = UserError("X", {"a": 1})
    assert e.to_wire().header[2] == {b"msg": b"X", b"dict": {b"a": 1}}
    assert CustomError("boom").to_wire().header[2][b"dict"] == {b"error": "boom"}
    assert str(e) == "X {'a': 1}"


def test_gps_transport_closed_matches_capture():
    from evemu.machonet.packets import gps_transport_closed
    theirs = frame_value("29")
    clock = theirs.header[2][b"clock"]
    ours = gps_transport_closed("The Password you entered is incorrect for this account.", clock)
    assert ours == theirs


# ------------------------------------------------------------------ sessions
def test_session_changes():
    s = Session(session_id=42)
    s.update(userid=1, clientID=1888444, address="127.0.0.1:1")
    assert s.initial_state() == {b"userid": 1, b"address": b"127.0.0.1:1"}
    assert not s.dirty
    s.set("charid", 9)
    s.set("charid", 10)
    s.set("sessionID", 5)                       # never sent
    assert s.pop_changes() == {b"charid": (None, 10)}
    s.set("charid", 11)
    s.set("charid", 10)                         # changed back: nothing to tell
    assert not s.dirty and s.pop_changes() == {}
    s.set("userid", 1)                          # same value: no change
    assert not s.dirty
    s.set("locationid", 60014719)
    pkt = s.change_packet(888444)
    assert pkt.type == C.SESSION_CHANGE_NOTIFICATION
    assert pkt.body == (42, (0, {b"locationid": (None, 60014719)}), [-1, 888444])
    assert pkt.destination == Address.client(1888444) and pkt.userid == 1
    assert s.change_packet(888444) is None


def test_session_initial_state_packet_matches_capture_shape():
    s = Session(session_id=26939471641588136)
    s.update(role=7131450020691447808, userid=2, address="127.0.0.1:60038", languageID="EN",
             userType=30, clientID=3888444)
    ours = marshal.loads(marshal.dumps(s.initial_state_packet(888444).to_wire()))
    assert ours == frame_value("11")


# ------------------------------------------------------------------ service manager
class Echo(Service):
    name = "echo"
    access = "location"

    @exposed
    def Say(self, call, what, loud=False):
        return what.upper() if loud else what

    def Hidden(self, call):
        return "no"


class Conn:
    def __init__(self):
        self.bound_ids = set()


def _ctx(mgr, conn, service, method, args=(), kwargs=None, target=1):
    from evemu.machonet.packets import CallRequest
    pkt = _call((target, method.encode(), args, kwargs or {}))
    pkt.destination = Address.any(service)
    return CallContext(conn, Session(), pkt, CallRequest(target, method, args, kwargs or {}), mgr)


def test_service_manager_dispatch():
    mgr = ServiceManager(server=None, node_id=7)
    mgr.register(Echo)
    with pytest.raises(ValueError, match="registered twice"):
        mgr.register(Echo)
    assert mgr.service_info() == {b"echo": b"location"}
    conn = Conn()
    assert mgr.dispatch(_ctx(mgr, conn, "echo", "Say", (b"hi",))) == b"hi"
    assert mgr.dispatch(_ctx(mgr, conn, "echo", "Say", (b"hi",), {"loud": True,
                                                                  "machoVersion": 1})) == b"HI"
    with pytest.raises(CustomError, match="echo has no method Hidden") as e:
        mgr.dispatch(_ctx(mgr, conn, "echo", "Hidden"))
    assert e.value.values == {"error": "echo has no method Hidden"}
    with pytest.raises(CustomError):
        mgr.dispatch(_ctx(mgr, conn, "echo", "Say"))
    with pytest.raises(UserError) as e:
        mgr.dispatch(_ctx(mgr, conn, "nope", "Say"))
    assert e.value.msg == "ServiceNotFound"


def test_bound_objects_belong_to_their_connection():
    mgr = ServiceManager(server=None, node_id=7)
    svc = mgr.register(Echo)
    a, b = Conn(), Conn()
    released = []

    class Obj(BoundObject):
        @exposed
        def Ping(self, call):
            return b"pong"

        def on_release(self):
            released.append(self.bound_id)

    oid = mgr.bind(Obj(svc, a), a)
    assert oid[0] == b"N=7:1" and oid[1] > 0
    assert mgr.dispatch(_ctx(mgr, a, None, "Ping", target="N=7:1")) == b"pong"
    with pytest.raises(UserError):
        mgr.dispatch(_ctx(mgr, b, None, "Ping", target="N=7:1"))
    assert not mgr.release("N=7:1", b)
    assert mgr.release("N=7:1", a) and released == ["N=7:1"]
    assert not mgr.release("N=7:1", a) and mgr.bound_count == 0
    mgr.bind(Obj(svc, a), a)
    mgr.bind(Obj(svc, a), a)
    mgr.release_all(a)
    assert mgr.bound_count == 0 and a.bound_ids == set() and len(released) == 3
