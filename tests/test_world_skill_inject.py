"""Skill books injected into the character's brain (``skillMgr.InjectSkillIntoBrain``) over
loopback: the book becomes a skill at level 0 (one off a stack), in one transaction; refusals
(already known, prerequisites missing, not a skill book, someone else's or out of reach,
hostile arguments) change nothing; the history row (56); and the new skill queued and trained.

Checked against evemu_Crucible: SkillMgrBound::InjectSkillIntoBrain(skillItemIDs, stationID)
(SkillMgrService.cpp: answers None, ``OnSkillInjected`` through QueueDestinyEvent, i.e. an
entry of the OnMultiEvent) -> Character::InjectSkillIntoBrain (Character.cpp: already known,
Skill::SkillPrereqsComplete's requiredSkillN / requiredSkillNLevel attributes, a stack split to
one, singleton, moved to the character with flag skill, level and points 0, the SkillInjected
56 history row); its TODO names the UserError CharacterAlreadyKnowsSkill."""
import time

import pytest

from server_helpers import bounded, running_server
from test_world_items import bind, create_and_select, item_changes, login
from test_world_skills import MINUTE, clock, skill_events
from test_world_skill_history import history

from evemu.client import RemoteError
from evemu.db import characters as chars
from evemu.db import Database, filetime_now
from evemu.db import inventory as inv
from evemu.db import skill_history as H
from evemu.db import skills

STATION = 60014689
GUNNERY = 3300
SHARPSHOOTER = 3311          # rank 2, requires Gunnery 2 (a new character has Gunnery 2)
RAPID_FIRING = 3310          # rank 2, requires Gunnery 2
TRAJECTORY = 3317            # rank 5, requires Gunnery 4
GRID_UPGRADES = 3424         # requires Engineering 2 and Science 1 (both starting skills)
ETHNIC = 3368                # requires Corporation Management 2 and Social 3 (unknown)
LAUNCHER_OP, ROCKETS = 3319, 3320   # Rockets requires Missile Launcher Operation 1
TRITANIUM = 34
INJECTED = 56


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def give(db, owner, type_id, qty=1, location=STATION, flag=4):
    """A stack of ``qty`` items of ``type_id`` owned by ``owner`` (default: in the hangar)."""
    def run(conn):
        iid = inv._new_item(conn, {"typeID": type_id, "ownerID": owner}, location, flag, qty)
        conn.commit()
        return iid
    return db.run(run)


def snapshot(db, cid):
    """Everything an injection may change: the items of the hangar and the character, the
    skills and the history."""
    return (db.run(inv.items_in, STATION, None, cid), db.run(inv.items_in, cid),
            db.run(skills.skills, cid), db.run(H.history, cid, 1000))


def test_a_stack_of_three_books_leaves_two_and_one_skill_at_level_0(server):
    with login(server, "injector") as c:
        cid, _ = create_and_select(c, "Inje Ctor")
        db = server.db
        book = give(db, cid, SHARPSHOOTER, 3)
        sk, _ = bind(c, "skillMgr", None)
        n = len(c.notifications)
        before = filetime_now()
        assert c.call_bound(sk, "InjectSkillIntoBrain", [book], STATION) is None
        assert skill_events(c) == [("OnSkillInjected",)]
        stack = db.run(inv.item, book)
        assert (stack["quantity"], stack["locationID"], stack["flagID"]) == (2, STATION, 4)
        s = db.run(skills.skills, cid)[SHARPSHOOTER]
        assert (s["level"], s["points"], s["flagID"], s["rank"]) == (0, 0, 7, 2.0)
        new = db.run(inv.item, s["itemID"])
        assert s["itemID"] != book
        assert (new["ownerID"], new["locationID"], new["quantity"], new["singleton"]) == (
            cid, cid, 1, 1)
        # OnItemChange for the stack (quantity 3 before) and the new skill (new: 0, 0 before)
        ch = {r["itemID"]: (r, old) for r, old in item_changes(c, n)}
        assert ch[book][1] == {5: 3} and ch[book][0]["quantity"] == 2
        row, old = ch[s["itemID"]]
        assert (row["locationID"], row["flagID"], row["quantity"], row["categoryID"]) == (
            cid, 7, -1, 16)
        assert old == {3: 0, 5: 0}
        # the history: SkillInjected, level 0, 0 points, now
        (log,) = [r for r in db.run(H.history, cid, 1000) if r[1] == INJECTED]
        assert log[2:] == (SHARPSHOOTER, 0) and before <= log[0] <= filetime_now()
        assert history(c, sk)[0] == log
        # the character inventory lists it with the skills; dogma's charInfo has it
        assert s["itemID"] in {it["itemID"] for it in db.run(inv.items_in, cid, 7)}
        info = c.call_bound(bind(c, "dogmaIM", None)[0], "CharGetInfo")
        attrs = info[s["itemID"]].state[b"attributes"]
        assert attrs[chars.ATTR_SKILL_LEVEL] == 0 and attrs[chars.ATTR_SKILL_POINTS] == 0
        # a second book of the stack: already known
        with pytest.raises(RemoteError) as e:
            c.call_bound(sk, "InjectSkillIntoBrain", [book], STATION)
        assert e.value.msg == "CharacterAlreadyKnowsSkill"
        assert e.value.values["skillName"] == (4, SHARPSHOOTER)
        assert db.run(inv.item, book)["quantity"] == 2


def test_a_single_book_moves_whole_and_several_books_inject_together(server):
    with login(server, "multi") as c:
        cid, ship = create_and_select(c, "Mul Ti")
        db = server.db
        one = give(db, cid, GRID_UPGRADES)                       # two prerequisites, both met
        cargo = give(db, cid, LAUNCHER_OP, 1, ship, 5)          # in the ship's cargo
        sk, _ = bind(c, "skillMgr", None)
        n = len(c.notifications)
        assert c.call_bound(sk, "InjectSkillIntoBrain", [one, cargo, one]) is None
        have = db.run(skills.skills, cid)
        assert have[GRID_UPGRADES]["itemID"] == one and have[LAUNCHER_OP]["itemID"] == cargo
        ch = {r["itemID"]: old for r, old in item_changes(c, n)}
        assert ch[one] == {3: STATION, 4: 4, 5: 1} and ch[cargo] == {3: ship, 4: 5, 5: 1}
        assert skill_events(c) == [("OnSkillInjected",)]
        assert sorted(r[2] for r in db.run(H.history, cid, 1000) if r[1] == INJECTED) == [
            LAUNCHER_OP, GRID_UPGRADES]
        # Rockets needs Missile Launcher Operation at 1: injected is level 0, not enough
        rockets = give(db, cid, ROCKETS)
        with pytest.raises(RemoteError) as e:
            c.call_bound(sk, "InjectSkillIntoBrain", [rockets])
        assert e.value.msg == "CustomError" and b"prerequisites" in e.value.values["error"]


def test_refused_books_change_nothing(server):
    with login(server, "refused") as c, login(server, "neighbour") as d:
        cid, _ = create_and_select(c, "Refu Sed")
        other, _ = create_and_select(d, "Neigh Bour")
        db = server.db
        good = give(db, cid, SHARPSHOOTER, 3)
        cases = [
            (give(db, cid, TRAJECTORY), "CustomError", b"prerequisites incomplete"),
            (give(db, cid, ETHNIC), "CustomError", b"prerequisites incomplete"),
            (give(db, cid, GUNNERY, 2), "CharacterAlreadyKnowsSkill", None),
            (give(db, cid, TRITANIUM, 10), "CustomError", b"not a skill book"),
            (give(db, other, SHARPSHOOTER), "CantDoThatWithSomeoneElsesStuff", None),
            (give(db, cid, RAPID_FIRING, 1, 60014680, 4), "CustomError", b"not here"),
            (db.run(skills.skills, cid)[GUNNERY]["itemID"], "CharacterAlreadyKnowsSkill", None),
            (cid, "CantDoThatWithSomeoneElsesStuff", None),
            (10 ** 12, "CantDoThatWithSomeoneElsesStuff", None),
        ]
        sk, _ = bind(c, "skillMgr", None)
        before = snapshot(db, cid)
        for bad, msg, text in cases:
            # the good book first: its injection is undone with the refusal
            with pytest.raises(RemoteError) as e:
                c.call_bound(sk, "InjectSkillIntoBrain", [good, bad], STATION)
            assert e.value.msg == msg, (bad, e.value)
            if text is not None:
                assert text in e.value.values["error"]
            assert snapshot(db, cid) == before
        assert not [p for p in c.notifications
                    if getattr(p.destination, "id", None) in ("OnMultiEvent", b"OnMultiEvent")]
        # the other character's book is still theirs, where it was
        assert db.run(skills.skills, other).get(SHARPSHOOTER) is None


def test_hostile_arguments(server):
    with login(server, "hostile") as c:
        cid, _ = create_and_select(c, "Hos Tile")
        db = server.db
        book = give(db, cid, SHARPSHOOTER)
        sk, _ = bind(c, "skillMgr", None)
        before = snapshot(db, cid)
        for args, why in [((book,), b"must be a list"), ((None,), b"must be a list"),
                          (({book: 1},), b"must be a list"),
                          (([str(book)],), b"must be an integer"),
                          (([True],), b"must be an integer"),
                          (([2 ** 70],), b"must be an integer"),
                          (([book] * 51,), b"at most 50")]:
            with pytest.raises(RemoteError) as e:
                c.call_bound(sk, "InjectSkillIntoBrain", *args)
            assert e.value.msg == "CustomError" and why in e.value.values["error"], args
        assert c.call_bound(sk, "InjectSkillIntoBrain", []) is None          # nothing to do
        assert snapshot(db, cid) == before
        # a book in another character's hands: no skillMgr without a character
    with login(server, "nochar") as c:
        with pytest.raises(RemoteError):
            bind(c, "skillMgr", None)


def test_an_injected_skill_is_queued_and_trained(server):
    with login(server, "student") as c:
        cid, _ = create_and_select(c, "Stu Dent")
        db = server.db
        book = give(db, cid, SHARPSHOOTER, 2)
        sk, _ = bind(c, "skillMgr", None)
        c.call_bound(sk, "InjectSkillIntoBrain", [book], STATION)
        skill_events(c)
        s = db.run(skills.skills, cid)[SHARPSHOOTER]
        assert c.call_bound(sk, "AddToEndOfSkillQueue", SHARPSHOOTER, 1) is None
        assert skill_events(c) == [("OnSkillStartTraining", s["itemID"],
                                    db.run(skills.queue, cid)[0][3])]
        (q,) = db.run(skills.queue, cid)
        # 500 points (rank 2, level 1) from 0 at perception + willpower / 2
        assert q[3] - q[2] == -(-chars.skill_points(2.0, 1) * MINUTE // s["spm"])
        clock(server).skew = q[3] - filetime_now() + 1
        clock(server).changed()
        assert skill_events(c) == [("OnSkillTrained", s["itemID"])]
        done = db.run(skills.skills, cid)[SHARPSHOOTER]
        assert (done["level"], done["points"], done["flagID"]) == (1, 500, 7)
        assert db.run(skills.queue, cid) == []
        total = db.run(chars.character_row, cid)["skillPoints"]
        assert total == sum(x["points"] for x in db.run(skills.skills, cid).values())
        rows = [r for r in db.run(H.history, cid, 1000) if r[2] == SHARPSHOOTER]
        assert [r[1] for r in rows] == [53, 36, INJECTED]
        # level 2 queues after it as for any skill
        c.call_bound(sk, "AddToEndOfSkillQueue", SHARPSHOOTER, 2)
        assert db.run(skills.queue, cid)[0][:2] == (SHARPSHOOTER, 2)


def test_two_servers_injecting_the_same_skill_at_once_make_one_skill(pg_url, monkeypatch):
    """Two servers (two Database objects on one PostgreSQL) inject two books of one skill for
    one character at the same moment: the character's row is locked for the injection, so
    the second sees the first's skill and is refused as already known (without the lock both
    read 'not known' and the character ended with two Sharpshooter skills)."""
    import threading
    from evemu.machonet import constants as C
    with bounded(90):
        dbs = [Database(pg_url), Database(pg_url)]
        try:
            dbs[0].start_up()
            account = dbs[0].create_account("racer", C.ROLE_STD, digest=b"d" * 20)
            cid = dbs[0].run(chars.create_character, account.id, "Rac Er", 7, 1, 13, 20,
                             filetime_now())
            books = [give(dbs[0], cid, SHARPSHOOTER), give(dbs[0], cid, SHARPSHOOTER)]
            inside, first = threading.Event(), []
            real = skills._required

            def slow_required(conn, type_id):
                if not first:                 # the first injection waits inside its tx
                    first.append(1)
                    inside.set()
                    time.sleep(1.0)
                return real(conn, type_id)
            monkeypatch.setattr(skills, "_required", slow_required)
            out = [None, None]

            def inject(i):
                if i == 1:
                    inside.wait(30)
                try:
                    out[i] = dbs[i].run(skills.inject, cid, [books[i]], filetime_now())
                except skills.InjectError as e:
                    out[i] = e
            threads = [threading.Thread(target=inject, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert isinstance(out[0], tuple), out
            assert isinstance(out[1], skills.InjectError) and out[1].reason == "known"
            assert [it["typeID"] for it in dbs[0].run(inv.items_in, cid, 7)].count(
                SHARPSHOOTER) == 1
            assert dbs[0].run(inv.item, books[1])["locationID"] == STATION
        finally:
            for db in dbs:
                db.close()
