"""EVE's rule of one character of an account in training, over loopback and in the database:
while a character of the account has an active queue (an entry ending in the future), saving
a non-empty queue or starting training for another of its characters is refused with the
client's ``UserAlreadyHasSkillInTraining`` and changes nothing; a paused, emptied or ended
queue frees the account.  Two characters of one account starting at once (two servers on one
PostgreSQL, two threads on one SQLite file) end with exactly one training.

Checked against evemu_Crucible: EVEmu has no such check (Character::InjectSkillIntoBrain
only carries a TODO for a config option); the error name and its keywords are the client's
(skillQueueSvc.CommitTransaction catches ``UserAlreadyHasSkillInTraining`` from
SaveSkillQueue / CharStartTrainingSkillByTypeID; its message box reads
charactersTrainingCount, charName1, charName2)."""
import threading
import time

import pytest

import stackless
from stackless import loop

from server_helpers import bounded, running_server, settle
from test_world_items import KEYVAL, bind, login
from test_world_skills import GUNNERY, MINING, clock, skill_events
from test_world_skill_inject import STATION, give

from evemu.client import RemoteError
from evemu.db import Database, filetime_now
from evemu.db import characters as chars
from evemu.db import inventory as inv
from evemu.db import skill_history as H
from evemu.db import skills
from evemu.machonet import constants as C

ALREADY = "UserAlreadyHasSkillInTraining"
SHARPSHOOTER = 3311


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def two_characters(server, account, names):
    """Two characters of one account (created, none selected): their charIDs."""
    with login(server, account) as c:
        return [c.call("charUnboundMgr", "CreateCharacterWithDoll", n, 7, 1, 13, KEYVAL,
                       KEYVAL, 20) for n in names]


def selected(server, account, cid):
    """A new connection of ``account`` with ``cid`` selected, and its skillMgr bind."""
    c = login(server, account)
    c.call("charUnboundMgr", "SelectCharacterID", cid)
    sk, _ = bind(c, "skillMgr", None)
    return c, sk


def state(db, cid):
    """Everything a refused training call must leave as it was."""
    return (db.run(skills.queue, cid), db.run(skills.skills, cid),
            db.run(H.history, cid, 1000), db.run(chars.character_row, cid)["skillQueueEndTime"])


def refused(c, sk, method, *args):
    with pytest.raises(RemoteError) as e:
        c.call_bound(sk, method, *args)
    return e.value


# ------------------------------------------------------------------ loopback, one server
def test_a_second_character_is_refused_while_the_first_trains(server):
    db = server.db
    a, b = two_characters(server, "twins", ["Twin Alpha", "Twin Beta"])
    c, sk = selected(server, "twins", a)
    c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
    skill_events(c)
    (qa,) = db.run(skills.queue, a)
    c.close()
    c, sk = selected(server, "twins", b)
    with c:
        before = state(db, b)
        mining = before[1][MINING]
        calls = [("SaveSkillQueue", [(GUNNERY, 3), (MINING, 2)]),
                 ("AddToEndOfSkillQueue", GUNNERY, 3),
                 ("CharStartTrainingSkillByTypeID", GUNNERY),
                 ("CharStartTrainingSkill", mining["itemID"], b)]
        n = len(c.notifications)
        for method, *args in calls:
            e = refused(c, sk, method, *args)
            assert e.msg == ALREADY, (method, e)
            assert e.values == {"charactersTrainingCount": 1, "charName1": "Twin Alpha",
                                "charName2": ""}
            assert state(db, b) == before, method              # nothing saved
        assert not [p for p in c.notifications[n:] if p.type == C.NOTIFICATION]
        assert c.call_bound(sk, "GetSkillQueueAndFreePoints") == ([], 0)
        # what does not train is not refused: an empty queue, a stop with nothing training
        assert c.call_bound(sk, "SaveSkillQueue", []) is None
        assert skill_events(c) == [("OnSkillTrainingSaved",)]
        assert c.call_bound(sk, "CharStopTrainingSkill") is None
        assert db.run(skills.queue, a) == [qa]                # the first trains on
        # the first's queue ends (the clock completes it): now the second may train
        clock(server).skew = qa[3] - filetime_now() + 1
        clock(server).changed()
        assert settle(lambda: db.run(skills.queue, a) == [])
        assert c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 3) is None
        (ev,) = skill_events(c)
        assert ev[:2] == ("OnSkillStartTraining", before[1][GUNNERY]["itemID"])
        assert [e[:2] for e in db.run(skills.queue, b)] == [(GUNNERY, 3)]
        # and it may change its own active queue while it trains
        assert c.call_bound(sk, "SaveSkillQueue", [(GUNNERY, 3), (MINING, 2)]) is None
        assert [e[:2] for e in db.run(skills.queue, b)] == [(GUNNERY, 3), (MINING, 2)]
    # the first, in turn, is refused now
    c, sk = selected(server, "twins", a)
    with c:
        before = state(db, a)
        e = refused(c, sk, "SaveSkillQueue", [(GUNNERY, 3)])
        assert (e.msg, e.values["charName1"]) == (ALREADY, "Twin Beta")
        assert state(db, a) == before


def test_an_emptied_or_paused_queue_frees_the_account(server):
    db = server.db
    a, b = two_characters(server, "pair", ["Pair One", "Pair Two"])
    c, sk = selected(server, "pair", a)
    with c:
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
        assert c.call_bound(sk, "SaveSkillQueue", []) is None            # emptied
        assert db.run(skills.queue, a) == []
    c, sk = selected(server, "pair", b)
    with c:
        assert c.call_bound(sk, "SaveSkillQueue", [(GUNNERY, 3)]) is None
        assert db.run(skills.queue, b)[0][3] > 0
        assert c.call_bound(sk, "CharStopTrainingSkill") is None          # paused
        assert db.run(skills.queue, b) == [(GUNNERY, 3, 0, 0)]
    c, sk = selected(server, "pair", a)
    with c:
        assert c.call_bound(sk, "CharStartTrainingSkillByTypeID", MINING) is None
        assert [e[:2] for e in db.run(skills.queue, a)] == [(MINING, 2)]
        # a paused queue of another character (b) may grow without training
    c, sk = selected(server, "pair", b)
    with c:
        assert c.call_bound(sk, "AddToEndOfSkillQueue", MINING, 2) is None
        assert db.run(skills.queue, b) == [(GUNNERY, 3, 0, 0), (MINING, 2, 0, 0)]
        assert refused(c, sk, "CharStartTrainingSkillByTypeID", GUNNERY).msg == ALREADY
        assert db.run(skills.queue, b) == [(GUNNERY, 3, 0, 0), (MINING, 2, 0, 0)]


def test_other_accounts_and_injection_are_not_limited(server):
    """The rule is per account: a character of another account trains at the same time; and
    injecting a skill book is not training (EVEmu checks nothing of the kind there, its TODO
    names a config option; the game let any character inject)."""
    db = server.db
    a, b = two_characters(server, "solo", ["Solo One", "Solo Two"])
    (x,) = two_characters(server, "other", ["Other One"])
    c, sk = selected(server, "solo", a)
    with c:
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
    c, sk = selected(server, "other", x)
    with c:
        assert c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)]) is None
        assert db.run(skills.queue, x)[0][3] > 0
    book = give(db, b, SHARPSHOOTER)
    c, sk = selected(server, "solo", b)
    with c:
        assert c.call_bound(sk, "InjectSkillIntoBrain", [book], STATION) is None
        assert SHARPSHOOTER in db.run(skills.skills, b)
        assert refused(c, sk, "AddToEndOfSkillQueue", SHARPSHOOTER, 1).msg == ALREADY


# ------------------------------------------------------------------ concurrency
@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "train.sqlite3")
    return request.getfixturevalue("pg_url")


def test_two_characters_starting_at_once_one_wins(target, monkeypatch):
    """Two servers (two Databases, one thread each) start training two characters of one
    account at the same moment; the first waits inside its transaction after its check.
    Exactly one trains: on PostgreSQL the account row's lock makes the second wait and then
    see the first's queue (without it both checks read 'nobody trains' and both won); on
    SQLite BEGIN IMMEDIATE serialises the two."""
    with bounded(90):
        dbs = [Database(target), Database(target)]
        try:
            dbs[0].start_up()
            account = dbs[0].create_account("racers", C.ROLE_STD, digest=b"d" * 20)
            cids = [dbs[0].run(chars.create_character, account.id, name, 7, 1, 13, 20,
                               filetime_now()) for name in ("Race One", "Race Two")]
            inside, first = threading.Event(), []
            real = skills._timed

            def slow_timed(sk, pairs, now):
                if not first:                 # the first start waits inside its tx
                    first.append(1)
                    inside.set()
                    time.sleep(1.0)
                return real(sk, pairs, now)
            monkeypatch.setattr(skills, "_timed", slow_timed)
            out = [None, None]

            def train(i):
                if i == 1:
                    inside.wait(30)
                try:
                    out[i] = dbs[i].run(skills.save_queue, cids[i], [(MINING, 2)],
                                        filetime_now())
                except skills.AccountTrainingError as e:
                    out[i] = e
            threads = [threading.Thread(target=train, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert isinstance(out[0], list), out
            assert isinstance(out[1], skills.AccountTrainingError), out
            assert out[1].others == [(cids[0], "Race One")]
            assert dbs[0].run(skills.queue, cids[0])[0][3] > 0
            assert dbs[0].run(skills.queue, cids[1]) == []
            assert dbs[0].run(skills.skills, cids[1])[MINING]["flagID"] == 7
            assert not [r for r in dbs[0].run(H.history, cids[1], 1000) if r[1] == 36]
        finally:
            for db in dbs:
                db.close()


def test_two_servers_two_clients_of_one_account_one_trains(pg_url, monkeypatch):
    """Over loopback: two in-process servers on one PostgreSQL, one client of the same
    account on each (no server kicks the other's connection), each with its own character
    selected, both save a queue at once (each call in its own tasklet; the first waits inside
    its transaction): one trains, the other gets UserAlreadyHasSkillInTraining."""
    with bounded(120), running_server(db=Database(pg_url)) as one, \
            running_server(db=Database(pg_url)) as two:
        a, b = two_characters(one, "duo", ["Duo Left", "Duo Right"])
        ca, ska = selected(one, "duo", a)
        cb, skb = selected(two, "duo", b)
        first = []
        real = skills._timed

        def slow_timed(sk, pairs, now):
            if not first:
                first.append(1)
                loop.sleep(0.5)               # the other server's call runs meanwhile
            return real(sk, pairs, now)
        monkeypatch.setattr(skills, "_timed", slow_timed)
        out = [None, None]

        def save(i, c, sk):
            try:
                out[i] = c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
            except RemoteError as e:
                out[i] = e
        ts = [stackless.tasklet(save)(0, ca, ska), stackless.tasklet(save)(1, cb, skb)]
        for t in ts:
            loop.run_until(t)
        wins = [o for o in out if o is None]
        losses = [o for o in out if isinstance(o, RemoteError)]
        assert len(wins) == 1 and len(losses) == 1, out
        assert losses[0].msg == ALREADY
        queues = [one.db.run(skills.queue, cid) for cid in (a, b)]
        assert sorted(len(q) for q in queues) == [0, 1]
        assert [q for q in queues if q][0][0][3] > 0
        ca.close()
        cb.close()
