"""The login handshake and the first calls, replayed from the client frames captured against
EVEmu (tests/vectors/server/, a copy of ../shared/vectors/evemu-login/); every reply is compared
structurally with what EVEmu sent (values too, except times, ids, counts and checksums)."""
import binascii

import pytest

from evemu.client import Client, LoginError, ProtocolError
from evemu.db import Database
from evemu.machonet import constants as C
from evemu.machonet.handshake import PLACEBO_REFUSAL
from evemu.wire import marshal
from evemu.wire.framing import encode_frame
from evemu.wire.marshal import Instance, ObjectEx1, SubStream

from marshal_helpers import canon
from server_helpers import (bounded, diff, frame_bytes, frame_value, needs_shared,
                            running_server, SHARED_FRAMES)


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(60):
        yield


def replay(client, prefix):
    client.send_raw(encode_frame(frame_bytes(prefix)))


def assert_like(ours, prefix, volatile=()):
    theirs = frame_value(prefix)
    problems = diff(canon(ours), canon(theirs), set(volatile))
    assert not problems, "\n".join(problems)


# Paths (in the canonical trees) whose values legitimately differ from the capture.
ADDR_CLIENT_ID = "root[2][1][2][2][1][1]"       # destination MachoAddress clientID
USERID = "root[2][1][3]"


def login_replay(client):
    """Frames 01-11 of the capture: the login of account 'tracer'."""
    assert_like(client.recv(), "01", volatile={"root[1][2]"})          # user count
    replay(client, "02")
    replay(client, "03")
    replay(client, "04")
    assert_like(client.recv(), "05")
    replay(client, "06")
    assert_like(client.recv(), "07")
    assert_like(client.recv(), "08", volatile={
        "root[1][3][1][5][1]",    # cluster_usercount (dict entries sorted by key)
    })
    replay(client, "09")
    ack = client.recv()
    init = client.recv()
    return ack, init


def test_replayed_login_and_calls_match_evemu(tmp_path):
    db = Database(tmp_path / "evemu.sqlite3")
    with running_server(db=db) as server:
        c = Client.connect(server.address)
        ack, init = login_replay(c)

        # CryptoHandshakeAck: same keys as EVEmu's; we send no live updates (EVEmu's are
        # compiled client patches from its database).
        assert type(ack) is dict
        assert set(ack) == {b"live_updates", b"session_init", b"client_hash", b"user_clientid",
                            b"sessionID"}
        assert ack[b"live_updates"] == [] and ack[b"client_hash"] is None
        si = ack[b"session_init"]
        assert set(si) == {b"languageID", b"userid", b"maxSessionTime", b"userType", b"role",
                           b"address", b"inDetention"}
        assert si[b"languageID"] == b"EN" and si[b"userType"] == C.USER_TYPE_MAMMON
        acct = db.get_account("tracer")
        assert acct is not None and si[b"userid"] == acct.id
        assert ack[b"user_clientid"] == 1000000 * acct.id + C.DEFAULT_NODE_ID

        # SessionInitialStateNotification: same packet, same attributes.
        assert_like(init, "11", volatile={
            "root[2][1][2][2][1][1]",          # destination clientID
            "root[2][1][3]",                   # userid
            "root[2][1][4][1][0]",             # sessionID
            "root[2][1][4][1][2][1][0][1]",    # address (host:port of this test's socket)
            "root[2][1][4][1][2][1][2][1]",    # role (ours: the account's)
            "root[2][1][4][1][2][1][4][1]",    # userid
        })
        assert init.state[4][0] == ack[b"sessionID"]
        state = init.state[4][2]
        assert state[b"address"].startswith(b"127.0.0.1:")
        assert state[b"role"] == acct.role

        # machoNet.GetTime
        replay(c, "12")
        rsp = c.recv()
        assert_like(rsp, "13", volatile={ADDR_CLIENT_ID, USERID, "root[2][1][4][1][0][1]"})
        t = rsp.state[4][0].value
        assert abs(t - frame_value("13").state[4][0].value) > 0       # a real clock...
        assert 130000000000000000 < t < 150000000000000000             # ...in FILETIME units

        # machoNet.GetInitVals -> (util.CachedObject hint for machoNet.serviceInfo, {})
        replay(c, "14")
        rsp = c.recv()
        assert_like(rsp, "15", volatile={
            ADDR_CLIENT_ID, USERID,
            "root[2][1][4][1][0][1][1][0][2][1][2][1][0]",   # hint timestamp
            "root[2][1][4][1][0][1][1][0][2][1][2][1][1]",   # hint version (crc32)
        })
        hint = rsp.state[4][0].value[0]

        # objectCaching.GetCachableObject for the hint we got: the service map.
        c.client_id = ack[b"user_clientid"]
        info = c.call("objectCaching", "GetCachableObject", 0, hint.state[0], hint.state[2],
                      hint.state[1])
        assert type(info) is Instance and info.name == "objectCaching.CachedObject"
        (stamp, version), _none, node, shared, blob, compressed, oid = info.state
        assert (stamp, version) == hint.state[2] and oid == b"machoNet.serviceInfo"
        assert binascii.crc32(blob) == version & 0xFFFFFFFF and compressed == 0
        services = marshal.loads(blob)
        for name in (b"machoNet", b"objectCaching", b"charUnboundMgr"):
            assert name in services and services[name] is None

        # config.BulkData.categories: built from the static data (tests/test_world_caches.py
        # compares it with EVEmu's frame 17)
        replay(c, "16")
        rsp = c.recv()
        obj = rsp.state[4][0].value
        assert rsp.name == "macho.CallRsp" and obj.name == "objectCaching.CachedObject"
        assert obj.state[6] == b"config.BulkData.categories"

        # charUnboundMgr.GetCharactersToSelect: an empty CRowset, as EVEmu sent.
        replay(c, "18")
        assert_like(c.recv(), "19", volatile={ADDR_CLIENT_ID, USERID})

        # an unknown service: ErrorResponse WRAPPEDEXCEPTION UserError('ServiceNotFound')
        replay(c, "20")
        assert_like(c.recv(), "21", volatile={ADDR_CLIENT_ID, USERID})

        # the same account with a wrong password (frames 22-29): refused, connection closed
        c2 = Client.connect(server.address)
        assert_like(c2.recv(), "22", volatile={"root[1][2]"})
        assert c2.server_version is None
        for prefix in ("23", "24", "25"):
            replay(c2, prefix)
        assert_like(c2.recv(), "26")
        replay(c2, "27")
        assert_like(c2.recv(), "28")
        refusal = c2.recv()
        assert_like(refusal, "29", volatile={
            "root[1][1][2][1][1][1]",            # clock (dict entries sorted by key)
        })
        with pytest.raises(ConnectionError):
            c2.recv()
        c2.close()

        # the first session is unaffected
        assert c.call("machoNet", "GetTime") > 0
        c.close()


@needs_shared
def test_handshake_ack_matches_evemu_shape():
    """The 14 KB ack EVEmu sent (only in ../shared: it carries EVEmu's live-update code)."""
    theirs = marshal.loads((SHARED_FRAMES / "10-s2c-handshake-ack.bin").read_bytes())
    with running_server() as server:
        c = Client.connect(server.address)
        c.login("tracer", "whatever")
        ours = c.ack
        c.close()
    assert set(ours) == set(theirs)
    assert set(ours[b"session_init"]) == set(theirs[b"session_init"])
    for k, v in theirs[b"session_init"].items():
        assert type(ours[b"session_init"][k]) is type(v), k
    assert len(theirs[b"live_updates"]) == 5 and ours[b"live_updates"] == []


def test_password_hash_in_capture_is_the_section_3_1_hash():
    """The refused login of the capture used the password 'wrong password'."""
    from evemu.db.passwords import password_hash
    login = frame_value("27")[1]
    assert password_hash("tracer", "wrong password") == login[b"user_password_hash"]
    assert password_hash("tracer", "wrong password") != frame_value("06")[1][
        b"user_password_hash"]


def test_client_login_and_relogin_with_same_password():
    with running_server() as server:
        with Client.connect(server.address) as c:
            state = c.login("alice", "secret")
            assert state["userid"] == server.db.get_account("alice").id
            assert state["languageID"] == "EN" and state["userType"] == 30
            assert state["role"] == C.ROLE_STD
            assert "clientID" not in state and "sessionID" not in state
        assert settle_offline(server)
        with Client.connect(server.address) as c:
            assert c.login("ALICE ", "secret")["userid"] == state["userid"]
        assert settle_offline(server)
        with Client.connect(server.address) as c:
            with pytest.raises(LoginError) as e:
                c.login("alice", "not secret")
            assert e.value.reason == "The Password you entered is incorrect for this account."


def settle_offline(server):
    from server_helpers import settle
    return settle(lambda: not server.online)


def test_second_login_of_an_online_account_closes_the_first():
    """The new login wins; the old connection gets EVEmu's kick notice (OnRemoteMessage
    CustomNotify) and is closed (tests/test_server_limits.py checks the notice)."""
    with running_server() as server:
        c1 = Client.connect(server.address)
        c1.login("bob", "pw")
        c2 = Client.connect(server.address)
        assert c2.login("bob", "pw")["userid"] == server.db.get_account("bob").id
        with pytest.raises(ConnectionError):
            for _ in range(5):
                c1.recv()
        assert c2.call("machoNet", "GetTime") > 0
        c1.close()
        c2.close()


@pytest.mark.parametrize("name,reason", [
    ("ab", "Account Name is too short."),
    ("a" * 21, "Account Name is too long."),
    ("bob;drop", "Account Name contains invalid characters."),
    ("", "Account Name is empty."),
])
def test_refused_account_names(name, reason):
    with running_server() as server:
        with Client.connect(server.address) as c:
            with pytest.raises(LoginError) as e:
                c.login(name, "pw")
            assert e.value.reason == reason
            with pytest.raises(ConnectionError):
                c.recv()
        assert server.db.get_account(name) is None


def test_no_auto_account():
    with running_server(auto_account=False) as server:
        with Client.connect(server.address) as c:
            with pytest.raises(LoginError) as e:
                c.login("nobody", "pw")
            assert "AutoAccount is disabled" in e.value.reason
        server.db.create_account("somebody", C.ROLE_STD, password="pw")
        with Client.connect(server.address) as c:
            assert c.login("somebody", "pw")["userid"] == server.db.get_account("somebody").id


def test_banned_account():
    with running_server() as server:
        acct = server.db.create_account("badguy", C.ROLE_STD, password="pw")
        assert server.db.set_banned(acct.name, True)
        with Client.connect(server.address) as c:
            with pytest.raises(LoginError) as e:
                c.login("badguy", "pw")
            assert e.value.reason == "Your account is banned."


def test_queue_check_restarts_the_version_exchange():
    with running_server() as server:
        with Client.connect(server.address) as c:
            state = c.login("queuer", "pw", queue_check=True)
            assert state["userid"] > 0
            assert c.server_version[:2] == (C.BIRTHDAY, C.MACHO_VERSION)


def test_non_placebo_crypto_is_refused():
    with running_server() as server:
        with Client.connect(server.address) as c:
            c.recv()
            c.send((C.BIRTHDAY, C.MACHO_VERSION, 0, C.VERSION_NUMBER, C.BUILD_VERSION,
                    C.PROJECT_VERSION.encode()))
            c.send((None, b"VK", b"vipkey"))
            c.send((b"CryptoAPI", {b"crypting_sessionkey": b"xx"}))
            refusal = c.recv()
            assert type(refusal) is ObjectEx1
            assert refusal.header[0].name == "exceptions.GPSTransportClosed"
            assert refusal.header[1] == (PLACEBO_REFUSAL.encode(),)
            with pytest.raises(ConnectionError):
                c.recv()


@pytest.mark.parametrize("bad", [
    b"hello",                                   # a str where the version tuple belongs
    (1, 2, 3),                                  # wrong arity
    [170472, 320, 0, 7.31, 360229, b"x"],       # a list, not a tuple
])
def test_handshake_out_of_order_drops_the_connection(bad):
    with running_server() as server:
        with Client.connect(server.address) as c:
            c.recv()
            c.send(bad)
            with pytest.raises(ConnectionError):
                c.recv()
        with Client.connect(server.address) as ok:       # the server goes on
            assert ok.login("survivor", "pw")["userid"] > 0


def test_handshake_timeout_drops_a_silent_client():
    with running_server(handshake_timeout=0.3) as server:
        with Client.connect(server.address) as c:
            c.recv()
            with pytest.raises(ConnectionError):
                c.recv()                           # nothing sent: dropped after 0.3 s
        assert not server.connections or all(x.closed for x in server.connections)


def test_plain_password_login_path():
    """A client configured with passwordVersion 1 sends the plain password too."""
    with running_server() as server:
        server.db.create_account("plain", C.ROLE_STD, password="open sesame")
        with Client.connect(server.address) as c:
            c.recv()
            c.send((C.BIRTHDAY, C.MACHO_VERSION, 0, C.VERSION_NUMBER, C.BUILD_VERSION,
                    C.PROJECT_VERSION.encode()))
            c.send((None, b"VK", b"vipkey"))
            c.send((b"placebo", {}))
            assert c.recv() == b"OK CC"
            c.send((b"x" * 32, {b"user_name": "plain", b"user_password": "open sesame",
                                b"user_password_hash": None, b"user_languageid": "DE"}))
            assert c.recv() == 2
            shake = c.recv()
            assert type(shake) is tuple and shake[3][b"challenge_responsehash"] == b"55087"
            c.send((b"55087", b"", {}))
            ack = c.recv()
            assert ack[b"session_init"][b"languageID"] == b"DE"


def test_challenge_response_hash_constant():
    """'55087' = crc_hqx(marshal(('\\0' * 64,)), 0) with the 0x13 string encoding (notes 3.1)."""
    stream = marshal.dumps((b"\0" * 64,))
    assert stream[5:8] == b"\x25\x13\x40"            # 1-tuple, 0x13 string of 64 bytes
    assert str(binascii.crc_hqx(stream, 0)) == C.CHALLENGE_RESPONSE_HASH


def test_captured_version_frame_is_what_we_send():
    from evemu.machonet.handshake import version_tuple
    assert canon(version_tuple(0)) == canon(frame_value("01"))
    assert canon(SubStream(1).value) == canon(1)
    with pytest.raises(ProtocolError):
        raise ProtocolError("smoke")


def test_simultaneous_logins_of_one_account_leave_exactly_one_in():
    import stackless
    from stackless import loop
    from server_helpers import settle
    outcomes = []

    with running_server() as server:
        server.db.create_account("twin", C.ROLE_STD, password="pw")
        clients = [Client.connect(server.address) for _ in range(8)]

        def attempt(c):
            try:
                c.login("twin", "pw")
                outcomes.append("in")
            except ConnectionError:         # kicked by a later login of the same account
                outcomes.append("closed")

        tasks = [stackless.tasklet(attempt)(c) for c in clients]
        for t in tasks:
            loop.run_until(t)
        assert len(outcomes) == 8 and "in" in outcomes
        assert settle(lambda: len(server.connections) == 1)
        assert list(server.online) == [server.db.get_account("twin").id]
        (survivor,) = server.connections
        assert server.online[survivor.account.id] is survivor
        for c in clients:
            c.close()
        assert settle(lambda: not server.online and not server.connections)


@needs_shared
def test_cached_object_has_evemu_shape():
    """Our objectCaching.CachedObject (for machoNet.serviceInfo) has the layout of the one
    EVEmu sent for config.BulkData.categories (frame 17, in ../shared only: CCP data)."""
    theirs = marshal.loads((SHARED_FRAMES / "17-s2c-objectCaching.GetCachableObject-rsp.bin")
                           .read_bytes()).state[4][0].value
    with running_server() as server:
        with Client.connect(server.address) as c:
            c.login("cacher", "pw")
            hint = c.call("machoNet", "GetInitVals")[0]
            ours = c.call("objectCaching", "GetCachableObject", 0, hint.state[0],
                          hint.state[2], hint.state[1])
    assert ours.name == theirs.name == "objectCaching.CachedObject"
    assert [type(x) for x in ours.state] == [type(x) for x in theirs.state]
    assert [type(x) for x in ours.state[0]] == [type(x) for x in theirs.state[0]]
    assert ours.state[1:4] == theirs.state[1:4]          # None, node 333444, shared 1
    assert ours.state[5] == theirs.state[5] == 0          # small payloads are not compressed


def test_client_login_with_a_precomputed_hash():
    captured = frame_value("06")[1][b"user_password_hash"]
    with running_server() as server:
        with Client.connect(server.address) as c:
            c.login("tracer", hashed=captured)
        stored = server.db.get_account("tracer")
        assert stored.verifier != captured and stored.check_password(captured)
        from server_helpers import settle
        assert settle(lambda: not server.online)
        with Client.connect(server.address) as c:
            assert c.login("tracer", hashed=captured)["userid"] == 1
