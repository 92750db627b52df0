"""The skill history (chrSkillHistory, migration 310) over loopback: every training event writes
EVEmu's row, ``skillMgr.GetSkillHistory`` answers EVEmu's util.Rowset (header, order, limit),
and the skill events of a completed level that hands over to the next (OnSkillSwitched).

Shapes checked against evemu_Crucible: SkillMgrBound::GetSkillHistory (SkillMgrService.cpp)
-> Character::GetSkillHistory -> CharacterDB::GetSkillHistory (``SELECT logDate, eventTypeID,
skillTypeID, absolutePoints FROM chrSkillHistory WHERE characterID = ? ORDER BY logDate DESC
LIMIT 50``, DBResultToRowset); the rows written by Character::AddToSkillQueue /
CancelSkillInTraining / SkillQueueLoop and CharUnboundMgrService::CreateCharacterWithDoll;
the events of Character::SkillQueueLoop (OnSkillSwitched, Character.xmlp)."""
import pytest

import server_helpers
from server_helpers import bounded, running_server, settle
from test_world_items import bind, create_and_select, login
from test_world_skills import GUNNERY, MINING, MINUTE, clock, skill_events

from evemu.db import Database, filetime_now
from evemu.db import characters as chars
from evemu.db import skill_history as H
from evemu.db import skills
from evemu.db.importer import _placeholder
from evemu.wire.marshal import Instance, Token

HEADER = [b"logDate", b"eventTypeID", b"skillTypeID", b"absolutePoints"]
STARTED, CANCELED, QUEUE_COMPLETED, POINTS_APPLIED = 36, 38, 53, 307


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def history(c, sk):
    """GetSkillHistory's answer, checked to be EVEmu's util.Rowset: [(logDate, eventTypeID,
    skillTypeID, absolutePoints)]."""
    v = c.call_bound(sk, "GetSkillHistory")
    assert isinstance(v, Instance) and v.name == "util.Rowset"
    assert set(v.state) == {b"header", b"RowClass", b"lines"}
    assert v.state[b"header"] == HEADER and v.state[b"RowClass"] == Token("util.Row")
    out = []
    for line in v.state[b"lines"]:
        assert type(line) is list and len(line) == 4 and all(type(x) is int for x in line)
        out.append(tuple(line))
    return out


def test_a_new_character_has_its_starting_skills_in_its_history(server):
    with login(server, "historian") as c:
        before = filetime_now()
        cid, _ = create_and_select(c, "Histo Rian")
        sk, _ = bind(c, "skillMgr", None)
        rows = history(c, sk)
        have = server.db.run(skills.skills, cid)
        # one SkillPointsApplied row per starting skill with points (EVEmu skips 0 points)
        assert sorted(r[2] for r in rows) == sorted(t for t, s in have.items() if s["points"])
        for log_date, event, type_id, points in rows:
            assert event == POINTS_APPLIED and points == have[type_id]["points"]
            assert before <= log_date <= filetime_now()
        # the level is kept in the table, not in the answer
        def levels_of(conn):
            cur = conn.cursor()
            cur.execute('SELECT "skillTypeID", "skillLevel" FROM "chrSkillHistory" WHERE '
                        f'"characterID" = {_placeholder(conn)}', (cid,))
            return {int(t): int(lv) for t, lv in cur.fetchall()}
        levels = server.db.run(levels_of)
        assert levels == {t: s["level"] for t, s in have.items() if s["points"]}


def test_start_stop_and_completion_are_recorded_newest_first(server):
    with login(server, "logbook") as c:
        cid, _ = create_and_select(c, "Log Book")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        created = history(c, sk)
        gun = db.run(skills.skills, cid)[GUNNERY]
        rank = gun["rank"]
        # started: logDate = the entry's start, points = those of the level it trains to
        c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 3)
        skill_events(c)
        (q,) = db.run(skills.queue, cid)
        started = (q[2], STARTED, GUNNERY, chars.skill_points(rank, 3))
        assert history(c, sk) == [started] + created
        # canceled 10 minutes in: logDate = now, points = those trained so far
        clock(server).skew = q[2] - filetime_now() + 10 * MINUTE
        c.call_bound(sk, "CharStopTrainingSkill")
        skill_events(c)
        points = db.run(skills.skills, cid)[GUNNERY]["points"]
        rows = history(c, sk)
        assert rows[1:] == [started] + created
        assert rows[0][1:] == (CANCELED, GUNNERY, points) and points > gun["points"]
        assert q[2] + 10 * MINUTE <= rows[0][0] <= clock(server).now()
        canceled = rows[0]
        # resumed, then Mining 2 put in front and everything completes by the clock
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
        skill_events(c)
        first, second = db.run(skills.queue, cid)
        clock(server).skew = second[3] - filetime_now() + 1
        clock(server).changed()
        skill_events(c)
        assert settle(lambda: db.run(skills.queue, cid) == [])
        rows = history(c, sk)
        mrank = db.run(skills.skills, cid)[MINING]["rank"]
        assert rows[:4] == [
            (second[3], QUEUE_COMPLETED, GUNNERY, chars.skill_points(rank, 3)),
            # the next level starts at the same instant: the later row comes first
            (first[3], STARTED, GUNNERY, chars.skill_points(rank, 3)),
            (first[3], QUEUE_COMPLETED, MINING, chars.skill_points(mrank, 2)),
            (first[2], STARTED, MINING, chars.skill_points(mrank, 2))]
        assert rows[4:] == [canceled, started] + created


def test_history_answers_the_newest_fifty_of_my_own(server):
    with login(server, "busy") as a, login(server, "other") as b:
        cid, _ = create_and_select(a, "Bus Y")
        other, _ = create_and_select(b, "Oth Er")
        db = server.db
        n_created = len(db.run(H.history, cid))

        def fill(conn):
            for i in range(60):
                H.record(conn, cid, STARTED, 2 * 10 ** 17 + i, GUNNERY, 3, 1000 + i)
            conn.commit()
        db.run(fill)
        sk, _ = bind(a, "skillMgr", None)
        rows = history(a, sk)
        assert len(rows) == 50
        assert rows == [(2 * 10 ** 17 + i, STARTED, GUNNERY, 1000 + i) for i in range(59, 9, -1)]
        # the other character sees only its own rows
        skb, _ = bind(b, "skillMgr", None)
        assert {r[2] for r in history(b, skb)} and all(
            r[1] == POINTS_APPLIED for r in history(b, skb))
        assert len(db.run(H.history, cid, 1000)) == 60 + n_created
        # deleting the character deletes its history (EVEmu CharacterDB::DeleteCharacter)
        assert db.run(chars.delete_character, b.session["userid"], other)
        assert db.run(H.history, other) == []


def test_rows_without_points_or_date_are_not_written():
    db = server_helpers.Database(":memory:")          # PostgreSQL too under EVEMU_TEST_BACKEND
    try:
        def run(conn):
            out = [H.record(conn, 1, STARTED, 0, GUNNERY, 1, 250),
                   H.record(conn, 1, CANCELED, 5, GUNNERY, 1, 0),
                   H.record(conn, 1, CANCELED, -5, GUNNERY, 1, 10),
                   H.record(conn, 1, STARTED, 5, GUNNERY, 1, 250)]
            conn.commit()
            return out
        assert db.run(run) == [False, False, False, True]
        assert db.run(H.history, 1) == [(5, STARTED, GUNNERY, 250)]
        assert db.run(H.history, 2) == []
    finally:
        db.close()


def test_a_completed_level_with_a_next_one_is_one_skill_switched(server):
    """EVEmu's SkillQueueLoop: a completed level followed by another is sent as
    OnSkillSwitched(oldSkillID, newSkillID, ETA) and no OnSkillStartTraining; the last level
    of the queue as OnSkillTrained."""
    with login(server, "switcher") as c:
        cid, _ = create_and_select(c, "Swit Cher")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        have = db.run(skills.skills, cid)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3), (GUNNERY, 4)])
        skill_events(c)
        first, second, third = db.run(skills.queue, cid)
        clock(server).skew = first[3] - filetime_now() + 1
        clock(server).changed()
        assert skill_events(c) == [("OnSkillSwitched", have[MINING]["itemID"],
                                    have[GUNNERY]["itemID"], second[3])]
        # two levels due in one round: a switch to itself, then trained
        clock(server).skew = third[3] - filetime_now() + 1
        clock(server).changed()
        assert skill_events(c) == [("OnSkillSwitched", have[GUNNERY]["itemID"],
                                    have[GUNNERY]["itemID"], third[3]),
                                   ("OnSkillTrained", have[GUNNERY]["itemID"])]
        assert db.run(skills.skills, cid)[GUNNERY]["level"] == 4


def test_levels_trained_while_away_are_told_at_the_next_selection(server):
    """EVEmu's login pass of SkillQueueLoop: OnMultipleSkillsTrained([itemIDs]) for the
    levels that completed while the character was not online, OnSkillTrained for one; a
    level the client saw complete live is not told again."""
    with login(server, "absent") as c:
        cid, _ = create_and_select(c, "Absen Tee")
        sk, _ = bind(c, "skillMgr", None)
        have = server.db.run(skills.skills, cid)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
        first, second = server.db.run(skills.queue, cid)
    # away: both levels complete
    assert settle(lambda: server.services.lookup("charUnboundMgr").online.get(cid) is None
                  or server.services.lookup("charUnboundMgr").online[cid].closed)
    clock(server).skew = second[3] - filetime_now() + 1
    clock(server).changed()
    assert settle(lambda: server.db.run(skills.queue, cid) == [])
    with login(server, "absent") as c:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert skill_events(c) == [("OnMultipleSkillsTrained",
                                    [have[MINING]["itemID"], have[GUNNERY]["itemID"]])]
        # online now: the next level completes live (OnSkillTrained) and is not held
        sk, _ = bind(c, "skillMgr", None)
        c.call_bound(sk, "AddToEndOfSkillQueue", MINING, 3)
        skill_events(c)
        (q,) = server.db.run(skills.queue, cid)
        clock(server).skew = q[3] - filetime_now() + 1
        clock(server).changed()
        assert skill_events(c) == [("OnSkillTrained", have[MINING]["itemID"])]
        # one level completed while away: OnSkillTrained at the selection
        c.call_bound(sk, "AddToEndOfSkillQueue", GUNNERY, 4)
        skill_events(c)
        (q,) = server.db.run(skills.queue, cid)
    assert settle(lambda: server.services.lookup("charUnboundMgr").online[cid].closed)
    clock(server).skew = q[3] - filetime_now() + 1
    clock(server).changed()
    assert settle(lambda: server.db.run(skills.queue, cid) == [])
    with login(server, "absent") as c:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert skill_events(c) == [("OnSkillTrained", have[GUNNERY]["itemID"])]
        assert server.db.run(skills.take_trained, cid) == []
    with login(server, "absent") as c:                  # told once
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert not [p for p in c.notifications
                    if getattr(p.destination, "id", None) in ("OnMultiEvent", b"OnMultiEvent")]


def test_levels_completed_during_a_restart_are_told_at_selection(tmp_path):
    path = tmp_path / "away.sqlite3"
    with bounded(60), running_server(db=Database(path)) as server:
        with login(server, "sleeper") as c:
            cid, _ = create_and_select(c, "Sleep Er")
            sk, _ = bind(c, "skillMgr", None)
            have = server.db.run(skills.skills, cid)
            c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
            (q,) = server.db.run(skills.queue, cid)
        server.db.close()
    db = Database(path)
    shift = q[3] - filetime_now() + MINUTE
    db.run(lambda conn: (conn.execute('UPDATE "chrSkillQueue" SET "startTime" = "startTime" - ?,'
                                      ' "endTime" = "endTime" - ?', (shift, shift)),
                         conn.commit()))
    with bounded(60), running_server(db=db) as server:
        assert settle(lambda: server.db.run(skills.skills, cid)[MINING]["level"] == 2)
        with login(server, "sleeper") as c:
            c.call("charUnboundMgr", "SelectCharacterID", cid)
            assert skill_events(c) == [("OnSkillTrained", have[MINING]["itemID"])]
    db.close()


TASK_MASTER, COMPLETE = 35, 37


def test_stopping_after_the_end_completes_the_level(server):
    """EVEmu Character::CancelSkillInTraining: a level whose end has passed (our clock has not
    completed it yet) completes when training stops: level and points set, TrainingComplete
    (37) at the entry's end, OnSkillTrained (not OnSkillTrainingStopped); the rest of the
    queue stays, paused."""
    with login(server, "late") as c:
        cid, _ = create_and_select(c, "La Te")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        have = db.run(skills.skills, cid)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2), (GUNNERY, 3)])
        skill_events(c)
        first, second = db.run(skills.queue, cid)
        clock(server).stop()                          # the round has not come yet
        clock(server).skew = first[3] - filetime_now() + MINUTE
        assert c.call_bound(sk, "CharStopTrainingSkill") is None
        assert skill_events(c) == [("OnSkillTrained", have[MINING]["itemID"])]
        now = db.run(skills.skills, cid)
        points = chars.skill_points(now[MINING]["rank"], 2)
        assert (now[MINING]["level"], now[MINING]["points"], now[MINING]["flagID"]) == (
            2, points, 7)
        assert db.run(skills.queue, cid) == [(GUNNERY, 3, 0, 0)]
        rows = history(c, sk)
        assert rows[0] == (first[3], COMPLETE, MINING, points)
        assert CANCELED not in [r[1] for r in rows]
        assert db.run(chars.character_row, cid)["skillPoints"] == sum(
            s["points"] for s in now.values())


def test_a_queue_holding_the_level_just_completed_is_corrected(server):
    """EVEmu ClearSkillQueue + AddToSkillQueue: the level that completed as training stopped
    (37) is left out of the new queue with a TaskMaster (35) correction row (now, the skill's
    points); the rest trains from now."""
    with login(server, "corrected") as c:
        cid, _ = create_and_select(c, "Correc Ted")
        db = server.db
        sk, _ = bind(c, "skillMgr", None)
        have = db.run(skills.skills, cid)
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 2)])
        skill_events(c)
        (first,) = db.run(skills.queue, cid)
        clock(server).stop()
        clock(server).skew = first[3] - filetime_now() + MINUTE
        c.call_bound(sk, "SaveSkillQueue", [(GUNNERY, 3), (MINING, 2)])
        evs = skill_events(c)
        (q,) = db.run(skills.queue, cid)
        assert q[:2] == (GUNNERY, 3)
        assert evs == [("OnSkillTrained", have[MINING]["itemID"]),
                       ("OnSkillStartTraining", have[GUNNERY]["itemID"], q[3]),
                       ("OnSkillTrainingSaved",)]
        points = chars.skill_points(have[MINING]["rank"], 2)
        by_event = {r[1]: r for r in history(c, sk)}
        assert by_event[COMPLETE] == (first[3], COMPLETE, MINING, points)
        assert by_event[TASK_MASTER][1:] == (TASK_MASTER, MINING, points)
        assert by_event[TASK_MASTER][0] == q[2]                 # now
        # the same through CharStartTrainingSkillByTypeID: Mining 3 due, start Gunnery
        c.call_bound(sk, "SaveSkillQueue", [(MINING, 3)])
        skill_events(c)
        (m3,) = db.run(skills.queue, cid)
        clock(server).skew = m3[3] - filetime_now() + MINUTE
        c.call_bound(sk, "CharStartTrainingSkillByTypeID", GUNNERY)
        assert [e[0] for e in skill_events(c)] == ["OnSkillTrained", "OnSkillStartTraining"]
        assert [e[:2] for e in db.run(skills.queue, cid)] == [(GUNNERY, 3)]
        assert db.run(skills.skills, cid)[MINING]["level"] == 3
        # newest first: Gunnery started and the correction (both now, the start written
        # last), then Mining 3 complete at its end
        assert [r[1:3] for r in history(c, sk)[:3]] == [(STARTED, GUNNERY),
                                                       (TASK_MASTER, MINING),
                                                       (COMPLETE, MINING)]
