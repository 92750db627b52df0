"""Skill training: the queue calls of skillMgr over loopback, EVE's training-time formula, the
OnMultiEvent skill events, the training clock (also after a restart), and refused queues."""
import math

import pytest

from server_helpers import bounded, running_server, settle
from test_world_items import bind, create_and_select, login, rows

from evemu.client import RemoteError
from evemu.db import Database, filetime_now
from evemu.db import characters as chars
from evemu.db import charinfo
from evemu.db import skills
from evemu.machonet import constants as C

MINUTE = 60 * 10_000_000
GUNNERY, MINING = 3300, 3386           # starting skills: Gunnery 2, Mining 1


# ------------------------------------------------------------------ the formula
def test_points_per_minute_and_levels():
    assert skills.sp_per_minute(8, 7) == 11.5
    assert skills.sp_per_minute(20, 20) == 30.0
    assert [chars.skill_points(1, lv) for lv in range(6)] == [0, 250, 1415, 8000, 45255,
                                                             256000]
    assert chars.skill_points(3, 5) == 768000
    # 1165 points at 11.5 a minute: 101.30... minutes, rounded up to the FILETIME tick
    assert skills.training_end(250, 1415, 11.5, 0) == math.ceil(1165 * MINUTE / 11.5)
    assert skills.training_end(1415, 1415, 11.5, 77) == 77
    assert skills.trained_points(250, 11.5, 0, 10 * MINUTE, 1415) == 250 + 115
    assert skills.trained_points(250, 11.5, 0, 10 ** 12, 1415) == 1415      # capped
    assert skills.trained_points(250, 11.5, 100, 50, 1415) == 250


# ------------------------------------------------------------------ helpers
@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def skill_events(c):
    """The skill events of the next OnMultiEvent (charid, sequenced)."""
    pkt = c.wait_notification("OnMultiEvent")
    (events,) = c.notification_args(pkt)
    return [tuple(e) for e in events]


def expected_end(db, cid, type_id, level, start):
    s = db.run(skills.skills, cid)[type_id]
    have = s["points"] if level == s["level"] + 1 else chars.skill_points(s["rank"], level - 1)
    return start + math.ceil((chars.skill_points(s["rank"], level) - have) * MINUTE / s["spm"])


def spm_of(db, cid, type_id):
    """primary + secondary / 2 from the character's attributes and the skill's two."""
    attrs = db.run(charinfo.character_attributes, cid)
    t = db.run(charinfo.type_attributes, type_id)
    return attrs[int(t[180])] + attrs[int(t[181])] / 2


def clock(server):
    return server.services.lookup("skillMgr").clock


# ------------------------------------------------------------------ loopback
def test_add_to_end_starts_training_with_eves_end_time(server):
    with login(server, "trainee") as c:
        cid, _ = create_and_select(c, "Train Ee")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        gun = db.run(skills.skills, cid)[GUNNERY]
        assert (gun["level"], gun["flagID"]) == (2, 7)
        assert gun["spm"] == spm_of(db, cid, GUNNERY)
        assert c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 3) is None
        (ev,) = skill_events(c)
        assert ev[:2] == ("OnSkillStartTraining", gun["itemID"])
        (q,) = db.run(skills.queue, cid)
        assert q[:2] == (GUNNERY, 3) and ev[2] == q[3]
        assert q[3] == expected_end(db, cid, GUNNERY, 3, q[2])
        assert c.call_bound(sk, "GetEndOfTraining") == q[3]
        assert c.call_bound(sk, "GetSkillQueueAndFreePoints") == ([(GUNNERY, 3)], 0)
        assert c.call_bound(sk, "GetSkillQueue") == [(GUNNERY, 3)]
        assert db.run(skills.skills, cid)[GUNNERY]["flagID"] == 61
        # the character's inventory still lists the skill in training
        broker, _ = bind(c, "invbroker", (c.session["stationid"], 15))
        chr_inv = c.call_bound(broker, "GetInventory", 10011)
        listed = {r["typeID"]: r for r in rows(c.call_bound(chr_inv.value.value[0].decode(),
                                                               "List"))}
        assert listed[GUNNERY]["flagID"] == 61
        # a second level queues behind it: no event, starts when the first ends
        assert c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 4) is None
        first, second = db.run(skills.queue, cid)
        assert first == q and second[2] == q[3]
        assert second[3] == expected_end(db, cid, GUNNERY, 4, q[3])
        assert db.run(chars.character_row, cid)["skillQueueEndTime"] == second[3]


def test_stop_keeps_points_and_start_resumes(server):
    with login(server, "pauser") as c:
        cid, _ = create_and_select(c, "Paus Er")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        gun = db.run(skills.skills, cid)[GUNNERY]
        c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 3)
        skill_events(c)
        (q,) = db.run(skills.queue, cid)
        clock(server).skew = q[2] - filetime_now() + 10 * MINUTE   # 10 minutes on
        assert c.call_bound(sk, "CharStopTrainingSkill") is None
        assert skill_events(c) == [("OnSkillTrainingStopped", gun["itemID"], True)]
        after = db.run(skills.skills, cid)[GUNNERY]
        assert after["points"] in (gun["points"] + int(10 * gun["spm"]),
                                   gun["points"] + int(10 * gun["spm"]) + 1)
        assert (after["level"], after["flagID"]) == (2, 7)
        assert db.run(skills.queue, cid) == [(GUNNERY, 3, 0, 0)]      # kept, paused
        assert c.call_bound(sk, "GetEndOfTraining") == 0
        n = len(c.notifications)
        assert c.call_bound(sk, "CharStopTrainingSkill") is None        # nothing to stop
        assert not [p for p in c.notifications[n:] if p.type == C.NOTIFICATION]
        # resume: the rest of the points from now
        assert c.call_bound(sk, "CharStartTrainingSkillByTypeID", GUNNERY) is None
        (ev,) = skill_events(c)
        (q2,) = db.run(skills.queue, cid)
        assert ev == ("OnSkillStartTraining", gun["itemID"], q2[3])
        assert q2[3] == expected_end(db, cid, GUNNERY, 3, q2[2])
        assert q2[3] - q2[2] < q[3] - q[2]                       # shorter: points kept
        # CharStartTrainingSkill(itemID, locationID) on another skill puts it first
        mining = db.run(skills.skills, cid)[MINING]
        assert c.call_bound(sk, "CharStartTrainingSkill", mining["itemID"], cid) is None
        evs = skill_events(c)
        assert evs[0][:2] == ("OnSkillTrainingStopped", gun["itemID"])
        assert evs[1][:2] == ("OnSkillStartTraining", mining["itemID"])
        assert [e[:2] for e in db.run(skills.queue, cid)] == [(MINING, 2), (GUNNERY, 3)]


def test_save_skill_queue_and_refusals(server):
    with login(server, "saver") as c:
        cid, ship = create_and_select(c, "Sav Er")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        mining = db.run(skills.skills, cid)[MINING]
        assert c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3), (MINING, 3)]) \
            is None
        evs = skill_events(c)
        assert evs[0][:2] == ("OnSkillStartTraining", mining["itemID"])
        assert evs[-1] == ("OnSkillTrainingSaved",)
        q = db.run(skills.queue, cid)
        assert [e[:2] for e in q] == [(MINING, 2), (GUNNERY, 3), (MINING, 3)]
        assert q[1][2] == q[0][3] and q[2][2] == q[1][3]           # back to back
        # saving the same first entry keeps it training (no stop/start events)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
        assert skill_events(c) == [("OnSkillTrainingSaved",)]
        assert db.run(skills.queue, cid) == [q[0]]
        bad = [([(MINING, 3)], "level 2 must come first"),
               ([(MINING, 2), (MINING, 2)], "level 3 must come first"),
               ([(GUNNERY, 2)], "level 3 must come first"),
               ([(34, 1)], "skill 34 is not injected"),
               ([(MINING, 6)], "out of range"),
               ([(MINING, 2, 0)], "must be (typeID, level)"),
               ([(MINING, "2")], "must be (typeID, level)"),
               ((MINING, 2), "must be (typeID, level)"),
               (None, "must be a list"),
               ([(MINING, 2)] + [(GUNNERY, 3)] * 50, "at most 50")]
        for queue, why in bad:
            with pytest.raises(RemoteError) as e:
                c.call_bound(sk, "SaveSkillQueue", queue)
            assert e.value.msg == "CustomError" and why in str(e.value)
            assert db.run(skills.queue, cid) == [q[0]]               # unchanged
        with pytest.raises(RemoteError) as e:
            c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 5)
        assert "level 3 must come first" in str(e.value)
        with pytest.raises(RemoteError) as e:                     # not a skill of ours
            c.call_bound(sk, "CharStartTrainingSkill", ship, cid)
        assert e.value.msg == "CantDoThatWithSomeoneElsesStuff"
        with pytest.raises(RemoteError) as e:
            c.call_bound(sk, "CharStartTrainingSkillByTypeID", 34)
        assert "not injected" in str(e.value)


def test_clock_completes_training_and_starts_the_next(server):
    with login(server, "graduate") as c:
        cid, _ = create_and_select(c, "Gradu Ate")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        before = db.run(skills.skills, cid)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
        skill_events(c)
        first, second = db.run(skills.queue, cid)
        # time passes beyond the first end: the clock completes Mining 2, starts Gunnery 3,
        # told as one OnSkillSwitched(old, new, ETA) (EVEmu Character::SkillQueueLoop)
        clock(server).skew = first[3] - filetime_now() + 1
        clock(server).changed()
        evs = skill_events(c)
        assert evs == [("OnSkillSwitched", before[MINING]["itemID"],
                        before[GUNNERY]["itemID"], second[3])]
        now = db.run(skills.skills, cid)
        assert (now[MINING]["level"], now[MINING]["points"], now[MINING]["flagID"]) == (
            2, chars.skill_points(now[MINING]["rank"], 2), 7)
        assert now[GUNNERY]["flagID"] == 61
        assert db.run(skills.queue, cid) == [second]
        assert c.call_bound(sk, "GetSkillQueueAndFreePoints") == ([(GUNNERY, 3)], 0)
        total = db.run(chars.character_row, cid)["skillPoints"]
        assert total == sum(s["points"] for s in now.values())
        # everything due at once: both levels of a queue complete in one round
        c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 4)
        last = db.run(skills.queue, cid)[-1]
        clock(server).skew = last[3] - filetime_now() + 1
        clock(server).changed()
        assert skill_events(c) == [("OnSkillSwitched", before[GUNNERY]["itemID"],
                                    before[GUNNERY]["itemID"], last[3]),
                                   ("OnSkillTrained", before[GUNNERY]["itemID"])]
        assert db.run(skills.skills, cid)[GUNNERY]["level"] == 4
        assert db.run(skills.queue, cid) == [] and db.run(skills.next_due) is None


def test_training_completes_after_a_restart(tmp_path):
    path = tmp_path / "skills.sqlite3"
    with bounded(60), running_server(db=Database(path)) as server:
        with login(server, "sleeper") as c:
            cid, _ = create_and_select(c, "Sleep Er")
            sk, _ = bind(c, "skillMgr", None)
            c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
            first, second = server.db.run(skills.queue, cid)
        server.db.close()
    # while the server was down the first entry ended (its times moved into the past)
    db = Database(path)
    shift = first[3] - filetime_now() + MINUTE
    db.run(lambda conn: (conn.execute('UPDATE "chrSkillQueue" SET "startTime" = "startTime" - ?,'
                                      ' "endTime" = "endTime" - ?', (shift, shift)),
                         conn.commit()))
    with bounded(60), running_server(db=db) as server:
        assert settle(lambda: server.db.run(skills.skills, cid)[MINING]["level"] == 2)
        q = server.db.run(skills.queue, cid)
        assert [e[:2] for e in q] == [(GUNNERY, 3)] and q[0][2] == first[3] - shift
        # the restarted clock also waits for the next end
        clock(server).skew = q[0][3] - filetime_now() + 1
        clock(server).changed()
        assert settle(lambda: server.db.run(skills.skills, cid)[GUNNERY]["level"] == 3)
        assert server.db.run(skills.queue, cid) == []
    db.close()


def test_another_connection_cannot_use_my_skill_bind(server):
    with login(server, "owner") as a, login(server, "thief") as b:
        create_and_select(a, "Own Er")
        create_and_select(b, "Thi Ef")
        sk, _ = bind(a, "skillMgr", None)
        with pytest.raises(RemoteError) as e:
            b.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 3)
        assert e.value.msg == "ServiceNotFound"
