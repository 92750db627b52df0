"""Chat across a restart: user channels keep their settings, access list and subscribers
(EVEmu's LSCDB channels/channelChars); private conversations and destroyed channels do not
come back.  And the invitation of a private conversation reaching the invitee's client."""
from server_helpers import bounded, running_server, settle
from test_server_chat import (CHANNEL_INFO_HEADER, CHANNEL_MODS_HEADER, ChatTestService,
                              check_join, check_row, check_rowset, drain, invite, pilot)

import pytest
import stackless
from stackless import loop

from evemu.client import RemoteError
from evemu.machonet import constants as C

from evemu.db import Database
from evemu.db import chat as chat_db
from evemu.world import chat as W

ALICE, BOB, CAROL = 90000001, 90000002, 90000003


def test_user_channels_survive_a_restart(tmp_path):
    path = tmp_path / "chat.sqlite3"
    with bounded(60), running_server(db=Database(path),
                                     extra_services=(ChatTestService,)) as server:
        alice, bob, carol = (pilot(server, "alice", ALICE), pilot(server, "bob", BOB),
                             pilot(server, "carol", CAROL))
        info, _, _ = alice.call("LSC", "CreateChannel", "Mining Ops", create=True)
        kept = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
        alice.call("LSC", "Configure", kept, motd="Ore at 1900", memberless=1)
        check_join(bob.call("LSC", "JoinChannels", [kept], 0)[0], kept)
        check_join(carol.call("LSC", "JoinChannels", [kept], 0)[0], kept)
        assert carol.call("LSC", "ForgetChannel", kept) is None          # unsubscribed
        assert alice.call("LSC", "AccessControl", kept, CAROL, W.MODE_DISALLOWED) == 1
        assert alice.call("LSC", "AccessControl", kept, BOB, W.MODE_OPERATOR) == 1
        info, _, _ = alice.call("LSC", "CreateChannel", "Short Lived", create=True)
        gone = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
        alice.call("LSC", "DestroyChannel", gone)
        info, _, _ = alice.call("LSC", "CreateChannel", "Private Chat", temporary=True)
        private = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
        assert server.db.run(chat_db.load_channels)[0]["members"] == {ALICE, BOB}
        for c in (alice, bob, carol):
            c.close()
        server.db.close()
    with bounded(60), running_server(db=Database(path),
                                     extra_services=(ChatTestService,)) as server:
        lsc = server.services.lookup("LSC")
        assert private not in lsc.world.channels and gone not in lsc.world.channels
        ch = lsc.world.channels[kept]
        assert (ch.display_name, ch.motd, ch.memberless, ch.owner_id) == (
            "Mining Ops", "Ore at 1900", True, ALICE)
        assert ch.subscribers == {ALICE, BOB} and not ch.members
        alice, bob, carol = (pilot(server, "alice", ALICE), pilot(server, "bob", BOB),
                             pilot(server, "carol", CAROL))
        listed = {r["channelID"]: r for r in check_rowset(
            alice.call("LSC", "GetChannels"), CHANNEL_INFO_HEADER)}
        assert listed[kept]["motd"] == "Ore at 1900"
        info, acl, _members = check_join(alice.call("LSC", "JoinChannels", [kept], 0)[0], kept)
        assert info["mode"] == W.MODE_CREATOR
        modes = {r["accessor"]: r["mode"] for r in acl}
        assert modes == {None: W.MODE_CONVERSATIONALIST, CAROL: W.MODE_DISALLOWED,
                         BOB: W.MODE_OPERATOR}
        info, _, members = check_join(bob.call("LSC", "JoinChannels", [kept], 0)[0], kept)
        assert info["mode"] == W.MODE_OPERATOR and {m["charID"] for m in members} == {
            ALICE, BOB}
        assert carol.call("LSC", "JoinChannels", [kept], 0)[0][1] == 0     # still banned
        # the name is still taken, and a new channel gets a new id
        assert alice.call("LSC", "CreateChannel", "mining ops", create=True)[0] == \
            W.ERR_ALREADYEXISTS
        info, _, _ = bob.call("LSC", "CreateChannel", "Second", create=True)
        assert check_row(info, CHANNEL_INFO_HEADER)["channelID"] > kept
        # destroying it removes it from the database too
        alice.call("LSC", "DestroyChannel", kept)
        assert kept not in {d["channelID"] for d in server.db.run(chat_db.load_channels)}
        for c in (alice, bob, carol):
            c.close()
        server.db.close()


def test_leave_with_unsubscribe_drops_the_subscription(tmp_path):
    with bounded(60), running_server(db=Database(tmp_path / "c.sqlite3"),
                                     extra_services=(ChatTestService,)) as server:
        alice, bob = pilot(server, "alice", ALICE), pilot(server, "bob", BOB)
        info, _, _ = alice.call("LSC", "CreateChannel", "Traders", create=True)
        cid = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
        bob.call("LSC", "JoinChannels", [cid], 0)
        bob.call("LSC", "LeaveChannels", [(cid, True)], 0)          # closing the window
        assert server.db.run(chat_db.load_channels)[0]["members"] == {ALICE, BOB}
        bob.call("LSC", "JoinChannels", [cid], 0)
        bob.call("LSC", "LeaveChannel", cid, 1)                      # unsubscribe
        assert server.db.run(chat_db.load_channels)[0]["members"] == {ALICE}
        bob.close()                                                  # a disconnect keeps it
        alice.close()
        assert server.db.run(chat_db.load_channels)[0]["members"] == {ALICE}
        server.db.close()


def test_characters_selected_at_once_all_land_in_local():
    """Concurrent SelectCharacterID calls: the local channel is made once (its name comes
    from the database, a blocking call; a second channel made meanwhile used to replace the
    first and orphan its members: only the last character stayed in local)."""
    import stackless
    from stackless import loop

    from evemu.client import Client
    from evemu.wire.marshal import Instance
    kv = Instance("util.KeyVal", {})
    with bounded(60), running_server(debug_services=False) as server:
        clients, ids = [], []
        for i in range(5):
            c = Client.connect(server.address)
            c.login(f"together{i}", "pw")
            ids.append(c.call("charUnboundMgr", "CreateCharacterWithDoll", f"Together Pilot{i}",
                              7, 1, 13, kv, kv, 20))
            clients.append(c)
        tasks = [stackless.tasklet(c.call)("charUnboundMgr", "SelectCharacterID", cid)
                 for c, cid in zip(clients, ids)]
        for t in tasks:
            loop.run_until(t)
        system = clients[0].session["solarsystemid2"]
        lsc = server.services.lookup("LSC")
        assert set(lsc.world.channels[system].members) == set(ids)
        assert set(lsc.world.channels[clients[0].session["corpid"]].members) == set(ids)
        clients[0].call("LSC", "SendMessage", ((b"solarsystemid2", system),), "all here?")
        for c in clients[1:]:
            c.wait_notification("OnLSC")
        for c in clients:
            c.close()


# ------------------------------------------------------------------ ChatInvite
@pytest.fixture
def chat_server():
    with bounded(60), running_server(extra_services=(ChatTestService,)) as srv:
        yield srv


def private_channel(alice):
    info, _, _ = alice.call("LSC", "CreateChannel", "Private Chat", temporary=True)
    return check_row(info, CHANNEL_INFO_HEADER)["channelID"]


def remote_messages(c):
    """The OnRemoteMessage(key, args) notifications read so far, removed."""
    return [tuple(a) for a in c.take_notifications("OnRemoteMessage")]


def wait_remote_message(c):
    """The next OnRemoteMessage (msgKey, args) of ``c`` (EVEmu Client::SendErrorMsg's shape:
    Notify_OnRemoteMessage, a tuple of the message key and a dict), as str and dict."""
    pkt = c.wait_notification("OnRemoteMessage")
    key, args = c.notification_args(pkt)
    assert isinstance(key, bytes) and isinstance(args, dict)
    return key.decode(), {k.decode(): v for k, v in args.items()}


def acl_of(chat_server, cid):
    return {a: e.mode for a, e in chat_server.services.lookup("LSC").world.channels[cid]
            .acl.items()}


def test_invite_answers_before_the_invitee_and_the_invitee_accepts(chat_server):
    """EVEmu's LSCService::Invite answers 1 at once; the invitee's client is asked after."""
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    # bob's client reads nothing yet: the answer cannot depend on it (the server's wait for
    # an answer is 120 s, the test is bounded to 60)
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    assert acl_of(chat_server, cid)[BOB] == W.MODE_CONVERSATIONALIST
    req = bob.wait_notification(ptype=C.CALL_REQ)          # answered (None) while read
    # the real server's call: LSC.ChatInvite(invitorID, invitorName, invitorGender, channelID)
    # from the node to the client's LSC service
    assert req.destination.service in ("LSC", b"LSC") and req.source.call_id
    assert req.source.id == chat_server.node_id
    assert bob.remote_calls == [("LSC.ChatInvite", (ALICE, "Character 90000001", 0, cid))]
    # accepted: the client joins (as the real one does before it answers) and may speak
    _info, acl, members = check_join(bob.call("LSC", "JoinChannels", [cid], 0)[0], cid)
    assert {r["accessor"]: r["mode"] for r in check_rowset(
        bob.call("LSC", "JoinChannels", [cid], 0)[0][2][1], CHANNEL_MODS_HEADER)}[BOB] == \
        W.MODE_CONVERSATIONALIST
    drain(alice)
    bob.call("LSC", "SendMessage", cid, "thanks")
    assert [n[4] for n in drain(alice)] == [("thanks",)]
    lsc = chat_server.services.lookup("LSC")
    assert settle(lambda: not lsc._invites and not lsc._invite_tasks)
    assert remote_messages(alice) == []                      # nothing to tell the inviter
    alice.close(), bob.close()


@pytest.mark.parametrize("reason", ["ChtRejected", "ChtBlockedNow", b"ChtAlreadyInvited"])
def test_invite_declined_is_told_to_the_inviter_and_undone(chat_server, reason):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: reason
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    bob.wait_notification(ptype=C.CALL_REQ)               # bob's client refuses
    want = reason.decode() if isinstance(reason, bytes) else reason
    assert wait_remote_message(alice) == (want, {"char": BOB})
    # the access entry the invitation gave is gone (the members heard it taken back), and
    # bob cannot join the private channel
    assert BOB not in acl_of(chat_server, cid)
    undo = [n for n in drain(alice) if n[2] == b"AccessControl"]
    assert undo[-1][4][:2] == (BOB, W.MODE_NOTSPECIFIED)
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0
    # he can be invited again
    bob.remote_handlers.pop("LSC.ChatInvite")
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    bob.wait_notification(ptype=C.CALL_REQ)
    check_join(bob.call("LSC", "JoinChannels", [cid], 0)[0], cid)
    alice.close(), bob.close()


def test_a_nonsense_answer_counts_as_rejected(chat_server):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: {"not": "a reason"}
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    bob.wait_notification(ptype=C.CALL_REQ)
    assert wait_remote_message(alice) == ("ChtRejected", {"char": BOB})
    alice.close(), bob.close()


def test_an_invitee_that_never_answers(chat_server):
    lsc = chat_server.services.lookup("LSC")
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    lsc.invite_timeout = 1.0
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    # one invitation at a time for the same invitee and channel
    with pytest.raises(RemoteError) as e:
        alice.call("LSC", "Invite", BOB, cid, "Private Chat", False)
    assert (e.value.msg, e.value.values) == ("ChtAlreadyInvited", {"char": BOB})
    # the inviter goes on meanwhile
    assert alice.call("LSC", "GetRookieHelpChannel") == 1
    # bob's client reads nothing: after the timeout the inviter is told and it is undone
    assert wait_remote_message(alice) == ("ChtCharNotReachable", {"char": BOB})
    assert BOB not in acl_of(chat_server, cid)
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0      # undone
    # its late answer (sent while reading the JoinChannels reply) is dropped; bob stays on
    assert bob.remote_calls and bob.call("LSC", "GetRookieHelpChannel") == 1
    assert not lsc._invites and not lsc._invite_tasks
    alice.close(), bob.close()


def test_an_invitee_that_disconnects_mid_invite(chat_server):
    lsc = chat_server.services.lookup("LSC")
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
    assert lsc._invites == {(cid, BOB): ALICE}             # the server waits for bob
    bob.close()
    assert wait_remote_message(alice) == ("ChtCharNotReachable", {"char": BOB})
    assert BOB not in acl_of(chat_server, cid)
    assert settle(lambda: not lsc._invites and not lsc._invite_tasks)
    alice.close()


def test_an_inviter_that_disconnects_mid_invite_is_cleaned_up_too(chat_server):
    lsc = chat_server.services.lookup("LSC")
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    carol = pilot(chat_server, "carol", CAROL)
    info, _, _ = alice.call("LSC", "CreateChannel", "Ops", create=True)
    cid = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
    alice.call("LSC", "AccessControl", cid, None, W.MODE_DISALLOWED)  # invite-only
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: "ChtRejected"
    assert alice.call("LSC", "Invite", BOB, cid, "Ops", False) == 1
    alice.close()
    bob.wait_notification(ptype=C.CALL_REQ)               # refused after alice left
    assert settle(lambda: not lsc._invites and BOB not in acl_of(chat_server, cid))
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0
    bob.close(), carol.close()


def test_an_invitee_given_rights_meanwhile_keeps_them(chat_server):
    """The undo takes back only the entry the invitation made."""
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    info, _, _ = alice.call("LSC", "CreateChannel", "Ops", create=True)
    cid = check_row(info, CHANNEL_INFO_HEADER)["channelID"]
    alice.call("LSC", "AccessControl", cid, None, W.MODE_DISALLOWED)
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: "ChtRejected"
    assert alice.call("LSC", "Invite", BOB, cid, "Ops", False) == 1
    assert alice.call("LSC", "AccessControl", cid, BOB, W.MODE_OPERATOR) == 1
    bob.wait_notification(ptype=C.CALL_REQ)
    assert wait_remote_message(alice) == ("ChtRejected", {"char": BOB})
    assert acl_of(chat_server, cid)[BOB] == W.MODE_OPERATOR
    alice.close(), bob.close()


def test_one_inviter_cannot_pile_up_invitations(chat_server):
    lsc = chat_server.services.lookup("LSC")
    lsc.max_pending_invites = 3
    alice = pilot(chat_server, "alice", ALICE)
    others = [pilot(chat_server, f"pilot{i}", 90000010 + i) for i in range(4)]
    cid = private_channel(alice)
    for i in range(3):
        assert alice.call("LSC", "Invite", 90000010 + i, cid, "Private Chat", False) == 1
    with pytest.raises(RemoteError) as e:                 # nobody has answered yet
        alice.call("LSC", "Invite", 90000013, cid, "Private Chat", False)
    assert e.value.msg == "CustomError"
    assert 90000013 not in acl_of(chat_server, cid)
    for c in others[:3]:                                  # they answer: room again
        c.wait_notification(ptype=C.CALL_REQ)
    assert settle(lambda: not lsc._invites)
    assert alice.call("LSC", "Invite", 90000013, cid, "Private Chat", False) == 1
    for c in [alice] + others:
        c.close()


def test_shutdown_drops_waiting_invitations():
    with bounded(60), running_server(extra_services=(ChatTestService,)) as server:
        lsc = server.services.lookup("LSC")
        alice, bob = pilot(server, "alice", ALICE), pilot(server, "bob", BOB)
        cid = private_channel(alice)
        assert alice.call("LSC", "Invite", BOB, cid, "Private Chat", False) == 1
        (task,) = lsc._invite_tasks
    assert not task.alive and not lsc._invite_tasks and not lsc._invites
    alice.close(), bob.close()
