"""LSC chat over loopback: local per solar system, corp, help, private conversations, user
channels, access control, OnLSC fan-out to members only, limits, hostile arguments.

Characters are not created here: a test-only service (``chatTest``) puts charid/corpid/
solarsystemid2 on the session and calls the session-change hook, as character selection and
jumps will.  Reply shapes are checked against evemu_Crucible's LSCPkts.xmlp elements."""
import pytest

from stackless import loop

from evemu.client import Client, RemoteError
from evemu.machonet import constants as C
from evemu.services import Service, exposed
from evemu.services.lsc import (CHANNEL_CHARS_HEADER, CHANNEL_INFO_HEADER, CHANNEL_MODS_HEADER,
                                OWNER_HEADER, parse_channel, session_changed)
from evemu.wire.marshal import Instance, Token
from evemu.world import chat as W

from server_helpers import bounded, running_server

JITA, PERIMETER = 30000142, 30000144
CORP_A, CORP_B = 1000044, 1000045
LOCAL = b"solarsystemid2"


class ChatTestService(Service):
    """Test only: what character selection / a jump does to the session."""
    name = "chatTest"

    @exposed
    def Become(self, call, charid, corpid, system, hook=True):
        s = call.session
        s.set("charid", charid)
        s.set("corpid", corpid)
        s.set("solarsystemid2", system)
        s.set("solarsystemid", system)
        if hook:
            session_changed(call.connection)
        return True

    @exposed
    def Motd(self, call, text):
        return self.manager.lookup("LSC").send_motd(call.connection, text)


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


@pytest.fixture
def server():
    with running_server(extra_services=(ChatTestService,)) as srv:
        yield srv


@pytest.fixture
def lsc(server):
    return server.services.lookup("LSC")


def pilot(server, name, charid, system=JITA, corp=CORP_A):
    c = Client.connect(server.address)
    c.login(name, "pw")
    c.call("chatTest", "Become", charid, corp, system)
    return c


@pytest.fixture
def trio(server):
    """alice and bob in Jita, carol in Perimeter (another corp)."""
    cs = [pilot(server, "alice", 90000001), pilot(server, "bob", 90000002),
          pilot(server, "carol", 90000003, PERIMETER, CORP_B)]
    for c in cs:
        drain(c)
    yield cs
    for c in cs:
        c.close()


def local(system):
    return ((LOCAL, system),)


def drain(c):
    """Every OnLSC that reached ``c`` so far, as (channelID, count, method, who, args)."""
    c.ping()
    out = []
    for pkt in c.notifications:
        if pkt.type == C.NOTIFICATION and pkt.destination.id == "OnLSC":
            inner = pkt.body[0][1].value
            assert inner[0] == 0 and inner[1][0] == 1
            out.append(inner[1][1])
    c.notifications.clear()
    return out


def invite(inviter, invitee, charid, channel_id, title="Private Chat"):
    """``inviter`` invites ``charid`` (the character of ``invitee``): the server calls the
    invitee's client (LSC.ChatInvite), which answers as its ``remote_handlers`` say while it
    reads.  Returns Invite's result; a RemoteError is raised."""
    import stackless
    out = {}

    def call():
        try:
            out["value"] = inviter.call("LSC", "Invite", charid, channel_id, title, False)
        except RemoteError as e:
            out["error"] = e

    task = stackless.tasklet(call)()
    invitee.wait_notification(ptype=C.CALL_REQ)           # answered while read
    loop.run_until(task)
    if "error" in out:
        raise out["error"]
    return out["value"]


def error_of(c, *call, **kw):
    with pytest.raises(RemoteError) as e:
        c.call(*call, **kw)
    assert e.value.exception_class == "ccp_exceptions.UserError"
    return e.value


# ------------------------------------------------------------------ shape checks
INFO_TYPES = (int, int, str, str, str, bool, str, bool, int, bool, bool, (int, type(None)),
              (int, type(None)), int, bool, int)
CHARS_TYPES = (int, int, int, int, int, int, Instance)


def check_row(v, header, types=None):
    assert isinstance(v, Instance) and v.name == "util.Row"
    assert set(v.state) == {b"header", b"line"} and v.state[b"header"] == header
    line = v.state[b"line"]
    assert type(line) is list and len(line) == len(header)
    if types:
        for x, t in zip(line, types):
            assert isinstance(x, t), (x, t)
    return dict(zip((h.decode() for h in header), line))


def check_rowset(v, header, types=None):
    assert isinstance(v, Instance) and v.name == "util.Rowset"
    assert set(v.state) == {b"header", b"RowClass", b"lines"}
    assert v.state[b"header"] == header and v.state[b"RowClass"] == Token("util.Row")
    rows = []
    for line in v.state[b"lines"]:
        assert type(line) is list and len(line) == len(header)
        if types:
            for x, t in zip(line, types):
                assert isinstance(x, t), (x, t)
        rows.append(dict(zip((h.decode() for h in header), line)))
    return rows


def check_join(entry, channel_id):
    """One JoinChannels entry: (channelID, 1, (info Row, acl Rowset, members Rowset))."""
    assert type(entry) is tuple and len(entry) == 3
    assert entry[0] == channel_id and entry[1] == 1
    info, acl, members = entry[2]
    i = check_row(info, CHANNEL_INFO_HEADER, INFO_TYPES)
    a = check_rowset(acl, CHANNEL_MODS_HEADER)
    m = check_rowset(members, CHANNEL_CHARS_HEADER, CHARS_TYPES)
    for row in m:
        assert check_row(row["extra"], OWNER_HEADER)["ownerID"] == row["charID"]
    return i, a, m


def check_onlsc(n, channel_id, method, sender):
    chan, count, meth, who, args = n
    assert chan == channel_id and meth == method and type(count) is int
    alliance, corp, eol, role, corprole, faction = who
    assert type(eol) is list and len(eol) == 3 and eol[0] == sender
    assert isinstance(eol[1], str) and type(eol[2]) is int
    assert type(corp) is int and type(role) is int and type(corprole) is int
    assert type(args) is tuple
    return args


# ------------------------------------------------------------------ local
def test_two_chat_in_local_a_third_elsewhere_hears_nothing(trio):
    alice, bob, carol = trio
    assert alice.call("LSC", "SendMessage", local(JITA), "o7 Jita") is None
    got_a, got_b, got_c = drain(alice), drain(bob), drain(carol)
    assert len(got_a) == 1 and len(got_b) == 1 and got_c == []
    for n in got_a + got_b:
        assert check_onlsc(n, local(JITA), b"SendMessage", 90000001) == ("o7 Jita",)
        assert n[1] == 2                                   # two members in Jita local
    carol.call("LSC", "SendMessage", local(PERIMETER), "anyone?")
    assert drain(alice) == [] and drain(bob) == []
    assert check_onlsc(drain(carol)[0], local(PERIMETER), b"SendMessage", 90000003)


def test_joining_local_is_announced_to_members_only(server, trio):
    alice, bob, carol = trio
    dave = pilot(server, "dave", 90000004)
    try:
        n, corp = drain(alice)                  # local, then corp (same corp as alice)
        assert check_onlsc(n, local(JITA), b"JoinChannel", 90000004) == ()
        assert check_onlsc(corp, ((b"corpid", CORP_A),), b"JoinChannel", 90000004) == ()
        assert n[1] == 3
        assert len(drain(bob)) == 2 and drain(carol) == []
    finally:
        dave.close()


def test_join_channels_reply_shapes(trio):
    alice, bob, carol = trio
    # the client's own list on login (ChannelHash form): local, corp, its mailing lists, help
    ret = alice.call("LSC", "JoinChannels",
                     [local(JITA), ((b"corpid", CORP_A),), 90000001, CORP_A, 1], C.ROLE_STD)
    assert type(ret) is list and len(ret) == 3             # mailing lists are left out
    info, acl, members = check_join(ret[0], local(JITA))
    assert info["channelID"] == JITA and info["displayName"] == "Local"
    assert info["groupMessageID"] == 3 and info["estimatedMemberCount"] == 2
    assert info["mode"] == W.MODE_CONVERSATIONALIST and info["subscribed"] is True
    assert {m["charID"] for m in members} == {90000001, 90000002}
    assert acl == []
    info, acl, members = check_join(ret[1], ((b"corpid", CORP_A),))
    assert info["displayName"] == "Corp" and info["groupMessageID"] == 263235
    info, acl, members = check_join(ret[2], 1)
    assert info["displayName"] == "Rookie Help" and info["ownerID"] == 1
    assert info["memberless"] is True and info["mode"] == W.MODE_CONVERSATIONALIST
    assert acl == [{"accessor": None, "mode": W.MODE_CONVERSATIONALIST, "untilWhen": None,
                    "originalMode": W.MODE_CONVERSATIONALIST, "admin": "", "reason": ""}]
    # joining again is harmless (the server already put us in local): same answer, no dupes
    again = alice.call("LSC", "JoinChannels", [[(b"solarsystemid2", JITA)]], C.ROLE_STD)
    assert check_join(again[0], local(JITA))[0]["estimatedMemberCount"] == 2


def test_get_channels_lists_fixed_channels(trio):
    alice = trio[0]
    rows = check_rowset(alice.call("LSC", "GetChannels"), CHANNEL_INFO_HEADER, INFO_TYPES)
    by_id = {r["channelID"]: r for r in rows}
    assert by_id[1]["displayName"] == "Rookie Help" and by_id[2]["displayName"] == "Help"
    assert all(not r["temporary"] for r in rows)
    assert JITA not in by_id and CORP_A not in by_id        # the client adds those itself
    assert alice.call("LSC", "GetRookieHelpChannel") == 1


def test_session_change_moves_local_membership(server, trio):
    alice, bob, carol = trio
    alice.call("chatTest", "Become", 90000001, CORP_A, PERIMETER)
    assert check_onlsc(drain(bob)[0], local(JITA), b"LeaveChannel", 90000001) == ()
    assert check_onlsc(drain(carol)[0], local(PERIMETER), b"JoinChannel", 90000001) == ()
    drain(alice)
    bob.call("LSC", "SendMessage", local(JITA), "gone?")
    assert drain(alice) == []
    carol.call("LSC", "SendMessage", local(PERIMETER), "welcome")
    assert drain(alice)[0][4] == ("welcome",)
    # the old local is not hers any more
    e = error_of(alice, "LSC", "SendMessage", local(JITA), "hi")
    assert e.msg == "LSCCannotSendMessage"
    ret = alice.call("LSC", "JoinChannels", [local(JITA)], 0)
    assert ret[0][0] == local(JITA) and ret[0][1] == 0
    assert ret[0][2][0] == b"LSCCannotJoin" and b"msg" in ret[0][2][1]


def test_selecting_another_character_swaps_members(trio):
    alice, bob, carol = trio
    alice.call("chatTest", "Become", 90000011, CORP_B, JITA)      # another character
    got = [(n[0], n[2], n[3][2][0]) for n in drain(bob)]
    assert set(got[:2]) == {(local(JITA), b"LeaveChannel", 90000001),
                            (((b"corpid", CORP_A),), b"LeaveChannel", 90000001)}
    assert got[2:] == [(local(JITA), b"JoinChannel", 90000011)]
    assert [n[2] for n in drain(carol)] == [b"JoinChannel"]            # corp B
    bob.call("LSC", "SendMessage", local(JITA), "hi new alt")
    assert drain(alice)[-1][4] == ("hi new alt",)


def test_session_change_without_the_hook_still_stops_old_local(server, trio):
    alice, bob, carol = trio
    alice.call("chatTest", "Become", 90000001, CORP_A, PERIMETER, False)   # nobody told LSC
    drain(alice)
    bob.call("LSC", "SendMessage", local(JITA), "still there?")
    assert drain(alice) == []
    members = check_rowset(bob.call("LSC", "GetMembers", local(JITA)), CHANNEL_CHARS_HEADER)
    assert [m["charID"] for m in members] == [90000002]


def test_disconnect_leaves_channels(server, trio):
    alice, bob, carol = trio
    alice.close()
    got = []
    for _ in range(100):
        got += drain(bob)
        if len(got) >= 2:
            break
        loop.sleep(0.02)
    (n,) = [x for x in got if x[2] == b"LeaveChannel" and x[0] == local(JITA)]
    check_onlsc(n, local(JITA), b"LeaveChannel", 90000001)
    members = check_rowset(bob.call("LSC", "GetMembers", local(JITA)), CHANNEL_CHARS_HEADER,
                           CHARS_TYPES)
    assert [m["charID"] for m in members] == [90000002]
    assert bob.call("LSC", "GetMember", local(JITA), 90000002) is not None


def test_corp_channel_follows_corp(trio):
    alice, bob, carol = trio
    alice.call("LSC", "SendMessage", ((b"corpid", CORP_A),), "corp op")
    assert drain(bob)[0][4] == ("corp op",) and drain(carol) == []
    e = error_of(carol, "LSC", "SendMessage", ((b"corpid", CORP_A),), "spy")
    assert e.msg == "LSCCannotSendMessage"


def test_changing_corporation_moves_corp_chat(trio):
    alice, bob, carol = trio
    alice.call("chatTest", "Become", 90000001, CORP_B, JITA)       # joins carol's corp
    assert [(n[0], n[2]) for n in drain(bob)] == [(((b"corpid", CORP_A),), b"LeaveChannel")]
    assert [(n[0], n[2]) for n in drain(carol)] == [(((b"corpid", CORP_B),), b"JoinChannel")]
    drain(alice)
    carol.call("LSC", "SendMessage", ((b"corpid", CORP_B),), "welcome aboard")
    assert drain(alice)[0][4] == ("welcome aboard",) and drain(bob) == []
    bob.call("LSC", "SendMessage", local(JITA), "local is unchanged")
    assert drain(alice)[0][4] == ("local is unchanged",)


def test_motd_goes_to_the_character_alone(trio):
    alice, bob, carol = trio
    # selected, local not joined by the client yet: the text waits for its JoinChannels
    assert alice.call("chatTest", "Motd", "<br>Welcome to EVEmu") is False
    assert drain(alice) == []
    entry = alice.call("LSC", "JoinChannels", [local(JITA)], C.ROLE_STD)[0]
    check_join(entry, local(JITA))
    (n,) = drain(alice)
    assert n[0] == local(JITA) and n[2] == b"SendMessage"
    assert n[3][2] == [1, "EVE System", 1] and n[4] == ("<br>Welcome to EVEmu",)
    assert drain(bob) == []
    assert alice.call("chatTest", "Motd", "again") is True          # joined: at once
    assert drain(alice)[0][4] == ("again",) and drain(bob) == []


def test_current_local_cannot_be_left(trio):
    """The client asks to leave a channel that chat reaches before it joined it; for the
    local of its own system that is ignored (nobody leaves local)."""
    alice, bob, carol = trio
    alice.call("LSC", "LeaveChannel", local(JITA), 0)
    alice.call("LSC", "LeaveChannels", [(local(JITA), 1)], 0, 0)
    bob.call("LSC", "SendMessage", local(JITA), "still hear me?")
    assert drain(alice)[-1][4] == ("still hear me?",)
    drain(bob)
    alice.call("LSC", "LeaveChannel", ((b"corpid", CORP_A),), 0)      # corp chat: may leave
    assert check_onlsc(drain(bob)[0], ((b"corpid", CORP_A),), b"LeaveChannel", 90000001) == ()


def test_server_sockets_do_not_wait_for_delayed_acks(server, trio):
    """Fan-out sends one small frame per member: with Nagle on, a frame that follows an
    unacknowledged one waits for the peer's delayed ACK (40 ms on Linux)."""
    import socket
    assert len(server.connections) == 3
    for conn in server.connections:
        assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


# ------------------------------------------------------------------ user channels
def test_private_conversation(server, lsc, trio):
    alice, bob, carol = trio
    info, acl, members = alice.call("LSC", "CreateChannel", "Private Chat",
                                    joinExisting=False, temporary=True, noCallThrottling=True)
    i = check_row(info, CHANNEL_INFO_HEADER, INFO_TYPES)
    cid = i["channelID"]
    assert cid >= W.FIRST_USER_CHANNEL_ID and i["temporary"] is True
    assert i["ownerID"] == 90000001 and i["mode"] == W.MODE_CREATOR
    assert [m["charID"] for m in check_rowset(members, CHANNEL_CHARS_HEADER)] == [90000001]
    # someone else's private channel: not listed, not joinable, no say, no admin
    assert cid not in {r["channelID"] for r in check_rowset(
        carol.call("LSC", "GetChannels"), CHANNEL_INFO_HEADER)}
    ret = carol.call("LSC", "JoinChannels", [cid], 0)
    assert ret == [(cid, 0, (b"LSCCannotJoin", {b"msg": "You are not allowed in that "
                                                          "channel"}))]
    assert error_of(carol, "LSC", "SendMessage", cid, "hi").msg == "LSCCannotSendMessage"
    assert error_of(carol, "LSC", "DestroyChannel", cid).msg == "LSCCannotDestroy"
    assert error_of(carol, "LSC", "AccessControl", cid, 90000003,
                    W.MODE_OPERATOR).msg == "LSCCannotAccessControl"
    assert error_of(carol, "LSC", "Invite", 90000002, cid, "x", False).msg == "ChtWrongRole"
    assert carol.call("LSC", "GetMembers", cid) is None
    # invite bob; he joins and they talk; carol hears nothing
    assert error_of(alice, "LSC", "Invite", 90000001, cid, "Private Chat",
                    False).msg == "ChtCannotInviteSelf"
    assert error_of(alice, "LSC", "Invite", 90000099, cid, "Private Chat",
                    False).values == {"char": 90000099}                   # not online
    assert invite(alice, bob, 90000002, cid) == 1          # bob's client accepts
    assert bob.remote_calls[-1] == ("LSC.ChatInvite", (90000001, "Character 90000001", 0, cid))
    info, acl, members = check_join(bob.call("LSC", "JoinChannels", [cid], 0)[0], cid)
    assert info["mode"] == W.MODE_CONVERSATIONALIST
    assert {m["charID"] for m in members} == {90000001, 90000002}
    assert error_of(alice, "LSC", "Invite", 90000002, cid, "Private Chat",
                    False).msg == "ChtAlreadyInChannel"
    drain(alice), drain(bob)
    bob.call("LSC", "SendMessage", cid, "hey alice")
    (n,) = drain(alice)
    assert check_onlsc(n, cid, b"SendMessage", 90000002) == ("hey alice",)
    assert len(drain(bob)) == 1 and drain(carol) == []
    # both leave (the client's LeaveChannels form): the conversation is gone
    alice.call("LSC", "LeaveChannels", [(cid, True)], True, C.ROLE_STD)
    assert check_onlsc(drain(bob)[0], cid, b"LeaveChannel", 90000001) == ()
    bob.call("LSC", "LeaveChannel", cid, 0)
    assert cid not in lsc.world.channels
    assert alice.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0


def test_user_channel_create_join_and_destroy(trio):
    alice, bob, carol = trio
    info, acl, members = alice.call("LSC", "CreateChannel", "Mining Ops", joinExisting=False,
                                    memberless=0, create=True)
    cid = check_row(info, CHANNEL_INFO_HEADER, INFO_TYPES)["channelID"]
    assert check_rowset(acl, CHANNEL_MODS_HEADER)[0]["mode"] == W.MODE_CONVERSATIONALIST
    assert alice.call("LSC", "CreateChannel", "mining ops", joinExisting=False, memberless=0,
                      create=True) == (W.ERR_ALREADYEXISTS, None, None)
    assert bob.call("LSC", "CreateChannel", "No Such", joinExisting=True, memberless=0,
                    create=False) == (W.ERR_NOSUCHCHANNEL, None, None)
    info, acl, members = bob.call("LSC", "CreateChannel", "Mining Ops", joinExisting=True,
                                  memberless=0, create=False)
    assert check_row(info, CHANNEL_INFO_HEADER)["channelID"] == cid
    assert cid in {r["channelID"] for r in check_rowset(carol.call("LSC", "GetChannels"),
                                                        CHANNEL_INFO_HEADER)}
    carol.call("LSC", "JoinChannels", [cid], 0)
    drain(alice), drain(bob)
    assert carol.call("LSC", "ForgetChannel", cid) is None
    assert check_onlsc(drain(bob)[0], cid, b"LeaveChannel", 90000003) == ()
    assert error_of(bob, "LSC", "DestroyChannel", cid).msg == "LSCCannotDestroy"
    assert error_of(alice, "LSC", "DestroyChannel", 1).msg == "LSCCannotDestroy"
    assert alice.call("LSC", "DestroyChannel", cid) is None
    (n,) = drain(bob)
    assert check_onlsc(n, cid, b"DestroyChannel", 90000001) == () and n[1] == 0
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0


def test_access_control_mutes_and_bans(trio):
    alice, bob, carol = trio
    info, _, _ = alice.call("LSC", "CreateChannel", "Fleet Prep", create=True)
    cid = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
    check_join(bob.call("LSC", "JoinChannels", [cid], 0)[0], cid)
    drain(alice), drain(bob)
    assert alice.call("LSC", "AccessControl", cid, 90000002, W.MODE_LISTENER) == 1
    (n,) = drain(bob)
    args = check_onlsc(n, cid, b"AccessControl", 90000001)
    assert args[:2] == (90000002, W.MODE_LISTENER) and len(args) == 6
    e = error_of(bob, "LSC", "SendMessage", cid, "let me speak")
    assert e.msg == "LSCCannotSendMessage"
    assert error_of(bob, "LSC", "AccessControl", cid, None,
                    W.MODE_LISTENER).msg == "LSCCannotAccessControl"
    assert alice.call("LSC", "AccessControl", cid, 90000002, W.MODE_DISALLOWED) == 1
    assert bob.call("LSC", "GetMembers", cid) is None                  # thrown out
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0
    assert error_of(alice, "LSC", "AccessControl", cid, 90000002, 12345).msg == \
        "LSCCannotAccessControl"


# ------------------------------------------------------------------ limits, hostile input
def test_message_length_limit(trio):
    alice, bob, _ = trio
    alice.call("LSC", "SendMessage", local(JITA), "x" * W.MAX_MESSAGE_LENGTH)
    assert drain(bob)[0][4] == ("x" * W.MAX_MESSAGE_LENGTH,)
    for size in (W.MAX_MESSAGE_LENGTH + 1, 200_000):
        e = error_of(alice, "LSC", "SendMessage", local(JITA), "x" * size)
        assert e.msg == "LSCCannotSendMessage" and "too long" in e.values["msg"]
    assert drain(bob) == []


def test_rate_limit_per_character(lsc, trio):
    alice, bob, _ = trio
    now = [1000.0]
    lsc.limiter.clock = lambda: now[0]
    for i in range(int(lsc.limiter.burst)):
        alice.call("LSC", "SendMessage", local(JITA), f"spam {i}")
    e = error_of(alice, "LSC", "SendMessage", local(JITA), "one too many")
    assert e.msg == "LSCCannotSendMessage" and "too fast" in e.values["msg"]
    bob.call("LSC", "SendMessage", local(JITA), "bob is not limited by alice")
    assert len(drain(bob)) == int(lsc.limiter.burst) + 1
    now[0] += 1.0 / lsc.limiter.rate
    alice.call("LSC", "SendMessage", local(JITA), "again")


def test_no_character_is_refused(server):
    with Client.connect(server.address) as c:
        c.login("nobody", "pw")
        assert error_of(c, "LSC", "GetChannels").msg == "LSCCannotJoin"
        assert error_of(c, "LSC", "SendMessage", 1, "hi").msg == "LSCCannotJoin"


HOSTILE = [
    ("SendMessage", (local(JITA), 12345), "LSCCannotSendMessage"),
    ("SendMessage", (local(JITA), None), "LSCCannotSendMessage"),
    ("SendMessage", (None, "hi"), "LSCCannotSendMessage"),
    ("SendMessage", (((b"solarsystemid2", "x"),), "hi"), "LSCCannotSendMessage"),
    ("SendMessage", (((b"nosuchkind", 1),), "hi"), "LSCCannotSendMessage"),
    ("SendMessage", (987654321, "hi"), "LSCCannotSendMessage"),
    ("SendMessage", (2**70, "hi"), "LSCCannotSendMessage"),
    ("SendMessage", (1, "not joined"), "LSCCannotSendMessage"),
    ("SendMessage", (local(PERIMETER), "not my local"), "LSCCannotSendMessage"),
    ("JoinChannels", ("notalist", 0), "LSCCannotJoin"),
    ("JoinChannels", ([[1, 2, 3]], 0), "LSCCannotJoin"),
    ("JoinChannels", ([{b"a": 1}], 0), "LSCCannotJoin"),
    ("JoinChannels", (list(range(1, 1000)), 0), "LSCCannotJoin"),
    ("LeaveChannels", (5, 0, 0), "LSCCannotJoin"),
    ("CreateChannel", ("n" * 500,), "ChatCustomChannelNameTooLong"),
    ("CreateChannel", (5,), "LSCCannotJoin"),
    ("DestroyChannel", ("x",), "LSCCannotDestroy"),
    ("DestroyChannel", (424242,), "LSCCannotDestroy"),
    ("AccessControl", (1, None, W.MODE_LISTENER), "LSCCannotAccessControl"),
    ("AccessControl", ([], None, 1), "LSCCannotAccessControl"),
    ("Invite", ("x", 1), "ChtCharNotReachable"),
    ("Invite", (90000002, 424242), "LSCCannotJoin"),
    ("Configure", (1,), "LSCCannotAccessControl"),
]


def test_hostile_arguments_are_user_errors(server, trio):
    alice, bob, carol = trio
    for method, args, key in HOSTILE:
        e = error_of(alice, "LSC", method, *args)
        assert e.msg == key, (method, args, e.msg)
    # harmless junk is ignored, as EVEmu does
    assert alice.call("LSC", "LeaveChannels", [b"junk", (None, 1), 424242], 0, 0) is None
    assert alice.call("LSC", "GetMembers", 424242) is None
    assert alice.call("LSC", "GetMember", [1, 2], "x") is None
    assert alice.call("LSC", "JoinChannels", [424242], 0)[0][:2] == (424242, 0)
    # nothing broke: local still works for everybody
    bob.call("LSC", "SendMessage", local(JITA), "still up")
    assert drain(alice)[-1][4] == ("still up",)


# ------------------------------------------------------------------ the model alone
def test_parse_channel_forms():
    assert parse_channel(5) == ("normal", 5)
    assert parse_channel(((b"solarsystemid2", 7),)) == ("solarsystemid2", 7)
    assert parse_channel([(b"corpid", 7)]) == ("corpid", 7)
    assert parse_channel((b"corpid", 7)) == ("corpid", 7)
    assert parse_channel((("corpid", 7),)) == ("corpid", 7)
    for bad in (True, None, "5", ((b"corpid", "7"),), ((b"bogus", 7),), (b"corpid",),
                [[[(b"corpid", 7)]]], 2**64):
        with pytest.raises(W.ChatError) as e:
            parse_channel(bad)
        assert e.value.key == "LSCCannotJoin"


def test_rate_limiter_refills():
    t = [0.0]
    lim = W.RateLimiter(rate=2.0, burst=3, clock=lambda: t[0])
    assert [lim.allow(7) for _ in range(4)] == [True, True, True, False]
    assert lim.allow(8)                                      # per character
    t[0] += 0.5
    assert lim.allow(7) and not lim.allow(7)
    t[0] += 100
    assert [lim.allow(7) for _ in range(4)] == [True, True, True, False]


def test_access_modes():
    world = W.ChatWorld()
    owner, friend, stranger = W.Speaker(1, corpid=10), W.Speaker(2, corpid=20), W.Speaker(3)
    private = world.create(owner, "Private Chat", temporary=True)
    assert private.mode_of(owner) == W.MODE_CREATOR
    assert not private.may_join(stranger) and not private.may_join(friend)
    private.acl[2] = W.AclEntry(2, W.MODE_CONVERSATIONALIST)       # invited
    assert private.may_join(friend) and private.may_speak(friend)
    public = world.create(owner, "Open")
    assert public.may_speak(stranger) and not public.may_operate(stranger)
    public.acl[20] = W.AclEntry(20, W.MODE_LISTENER)               # corp 20 muted
    assert public.may_join(friend) and not public.may_speak(friend)
    public.acl[2] = W.AclEntry(2, W.MODE_OPERATOR)                  # own entry wins
    assert public.may_operate(friend)
    assert world.join(private, owner) and not world.join(private, owner)
    assert world.leave(private, owner) and private.id not in world.channels
    assert world.get(1).display_name == "Rookie Help" and world.get(1).static


class FakeConn:
    """Just what LSCService uses of a connection: session, closed, notify."""

    def __init__(self, **session):
        self.session = dict(session)
        self.closed = False
        self.got = []

    def notify(self, event, id_type, args):
        self.got.append((event, id_type, args))


def fake_lsc():
    from types import SimpleNamespace
    from evemu.db import Database
    from evemu.services.lsc import LSCService
    mgr = SimpleNamespace(server=SimpleNamespace(db=Database(":memory:")),
                          bind=lambda obj, conn: None)
    return LSCService(mgr)


def test_many_members_leaving_without_the_hook_at_once():
    """1,500 members whose sessions all moved away are dropped by the next fan-out, one
    LeaveChannel each to whoever is left, without recursing per member."""
    svc = fake_lsc()
    conns = [FakeConn(charid=90000000 + i, corpid=CORP_A, solarsystemid2=JITA)
             for i in range(1501)]
    svc.sync_session(conns[0])
    ch = svc.world.channels[JITA]
    for c in conns[1:]:                     # seated directly: 1,500 announced joins are slow
        sp = W.Speaker(c.session["charid"], c, corpid=CORP_A)
        sp.seen = {"solarsystemid2": JITA, "corpid": CORP_A}
        svc.speakers[c] = svc.by_char[sp.charid] = sp
        svc.world.join(ch, sp)
    assert len(ch.members) == 1501
    for c in conns[1:]:
        c.session["solarsystemid2"] = PERIMETER
        c.got.clear()
    stay = conns[0]
    stay.got.clear()
    assert svc._broadcast(ch, b"SendMessage", svc.speakers[stay], ("anyone?",)) == 1
    assert list(ch.members) == [90000000]
    methods = [args[2] for _e, _t, args in stay.got]
    assert methods.count(b"LeaveChannel") == 1500 and methods[-1] == b"SendMessage"
    assert all(c.got == [] for c in conns[1:])                 # the movers hear nothing
    for c in conns[1:4]:                                       # and land in Perimeter
        svc.sync_session(c)
    assert len(svc.world.channels[PERIMETER].members) == 3


def test_empty_session_channels_are_forgotten():
    svc = fake_lsc()
    c = FakeConn(charid=90000001, corpid=CORP_A, solarsystemid2=JITA)
    svc.sync_session(c)
    assert JITA in svc.world.channels and CORP_A in svc.world.channels
    svc.connection_gone(c)
    assert JITA not in svc.world.channels and CORP_A not in svc.world.channels
    assert svc.speakers == {} and svc.by_char == {}


def test_local_motd_is_the_system_name_when_static_data_is_there():
    svc = fake_lsc()
    db = svc.manager.server.db
    # the database holds the shipped starter universe now: make sure of the two rows used,
    # and that Perimeter has no name (the fallback)
    db.execute("CREATE TABLE IF NOT EXISTS mapSolarSystems (solarSystemID INTEGER PRIMARY KEY, "
               "solarSystemName TEXT)")
    db.execute("INSERT OR REPLACE INTO mapSolarSystems (solarSystemID, solarSystemName) "
               "VALUES (?, 'Jita')", (JITA,))
    db.execute("DELETE FROM mapSolarSystems WHERE solarSystemID = ?", (PERIMETER,))
    db.execute("CREATE TABLE IF NOT EXISTS crpCorporation (corporationID INTEGER PRIMARY KEY, "
               "corporationName TEXT)")
    db.execute("INSERT OR REPLACE INTO crpCorporation (corporationID, corporationName) "
               "VALUES (?, 'Caldari Provisions')", (CORP_A,))
    acct = db.create_account("alice", 0, password="pw")
    assert db.create_character(acct.id, "Alice Alt", 1375, 0) == 90000000
    c = FakeConn(charid=90000000, corpid=CORP_A, solarsystemid2=JITA)
    sp = svc.sync_session(c)
    assert (sp.name, sp.typeid) == ("Alice Alt", 1375)
    ch = svc.world.channels[JITA]
    assert (ch.display_name, ch.motd, ch.comparison_key) == ("Local", "Jita", "jita")
    corp = svc.world.channels[CORP_A]
    assert (corp.display_name, corp.motd) == ("Corp", "Caldari Provisions")
    assert svc.world.session_channel("solarsystemid2", PERIMETER).motd == str(PERIMETER)


def test_shutdown_does_not_announce_everybody_leaving():
    svc = fake_lsc()
    conns = [FakeConn(charid=90000000 + i, corpid=CORP_A, solarsystemid2=JITA)
             for i in range(3)]
    for c in conns:
        svc.sync_session(c)
    for c in conns:
        c.got.clear()
    svc.manager.server._stopping = True
    for c in conns:
        c.closed = True
        svc.connection_gone(c)
    assert all(c.got == [] for c in conns) and svc.world.channels.get(JITA) is None
