"""Chat across a restart: user channels keep their settings, access list and subscribers
(EVEmu's LSCDB channels/channelChars); private conversations and destroyed channels do not
come back.  And the invitation of a private conversation reaching the invitee's client."""
from server_helpers import bounded, running_server
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


def test_invite_accepted_by_the_invitees_client(chat_server):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    out = {}
    task = stackless.tasklet(lambda: out.setdefault(
        "value", alice.call("LSC", "Invite", BOB, cid, "Private Chat", False)))()
    req = bob.wait_notification(ptype=C.CALL_REQ)          # answered (None) while read
    loop.run_until(task)
    assert out["value"] == 1
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
    alice.close(), bob.close()


@pytest.mark.parametrize("reason", ["ChtRejected", "ChtBlockedNow", b"ChtAlreadyInvited"])
def test_invite_declined_is_the_invitors_user_error_and_undone(chat_server, reason):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: reason
    with pytest.raises(RemoteError) as e:
        invite(alice, bob, BOB, cid)
    want = reason.decode() if isinstance(reason, bytes) else reason
    assert (e.value.msg, e.value.values) == (want, {"char": BOB})
    # the access entry the invitation gave is gone: bob cannot join the private channel
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0
    alice.close(), bob.close()


def test_a_nonsense_answer_counts_as_rejected(chat_server):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    bob.remote_handlers["LSC.ChatInvite"] = lambda *args: {"not": "a reason"}
    with pytest.raises(RemoteError) as e:
        invite(alice, bob, BOB, cid)
    assert e.value.msg == "ChtRejected"
    alice.close(), bob.close()


def test_an_invitee_that_does_not_answer_is_not_reachable(chat_server):
    lsc = chat_server.services.lookup("LSC")
    lsc.invite_timeout = 1.0
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    with pytest.raises(RemoteError) as e:               # bob's client reads nothing
        alice.call("LSC", "Invite", BOB, cid, "Private Chat", False)
    assert (e.value.msg, e.value.values) == ("ChtCharNotReachable", {"char": BOB})
    assert bob.call("LSC", "JoinChannels", [cid], 0)[0][1] == 0      # undone
    # its late answer (sent while reading the JoinChannels reply) is dropped; bob stays on
    assert bob.remote_calls and bob.call("LSC", "GetRookieHelpChannel") == 1
    alice.close(), bob.close()


def test_an_invitee_that_disconnects_is_not_reachable(chat_server):
    alice, bob = pilot(chat_server, "alice", ALICE), pilot(chat_server, "bob", BOB)
    cid = private_channel(alice)
    out = {}

    def call():
        try:
            alice.call("LSC", "Invite", BOB, cid, "Private Chat", False)
        except RemoteError as e:
            out["error"] = e

    task = stackless.tasklet(call)()
    loop.sleep(0.2)                                      # the server waits for bob's answer
    bob.close()
    loop.run_until(task)
    assert out["error"].msg == "ChtCharNotReachable"
    alice.close()
