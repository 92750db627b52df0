"""Skill training: the skill queue of each character and its clock (portable SQL on a DB-API
connection; items and attributes of :mod:`.characters`).

EVE's rules (the client computes the same figures):

* a skill of rank R needs ``250 * R * sqrt(32) ** (L - 1)`` skill points for level L
  (:func:`.characters.skill_points`);
* a character trains ``primary + secondary / 2`` skill points a minute, the two attributes the
  skill names (dgmTypeAttributes 180 and 181; the character's own values in
  ``chrCharacterInfo``);
* only the first entry of the queue trains; the others start when the one before ends;
* only one character of an account trains: a change that would start or keep a queue
  training while another character of the account has an active one raises
  :class:`AccountTrainingError` (checked in the change's transaction after a lock on the
  account's row, :func:`_lock_account`).

``chrSkillQueue`` (migration 300) holds the queue in order with each entry's start and end
(FILETIME).  Training: the first entry has times and its skill item has flag 61
(flagSkillInTraining); the skill's stored points (attribute 276) are those it had when that
entry started.  Paused (``CharStopTrainingSkill``): the points trained so far are stored, the
skill goes back to flag 7 and every entry's times are 0 until training starts again.

Every operation runs in ONE transaction, writes the skill history rows of what happened
(:mod:`.skill_history`: training started, canceled, completed) and returns the events for the
character's client (EVEmu's ``OnMultiEvent`` entries): ``("OnSkillStartTraining", itemID,
endOfTraining)``, ``("OnSkillTrainingStopped", itemID, silent)``, ``("OnSkillTrained",
itemID)`` (a level completed, nothing follows) and ``("OnSkillSwitched", oldItemID,
newItemID, endOfTraining)`` (a level completed and the next entry started at its end).
"""
import math

from .characters import ATTR_SKILL_LEVEL, ATTR_SKILL_POINTS, ATTR_SKILL_RANK, skill_points
from .importer import _placeholder, for_update, _tx
from . import inventory as inv
from .skill_history import (EVENT_QUEUE_TRAINING_COMPLETED, EVENT_SKILL_INJECTED,
                            EVENT_TASK_MASTER, EVENT_TRAINING_CANCELED,
                            EVENT_TRAINING_COMPLETE, EVENT_TRAINING_STARTED, record)

__all__ = ["SCHEMA", "MINUTE", "MAX_LEVEL", "MAX_QUEUE", "SkillQueueError",
           "AccountTrainingError", "training_elsewhere",
           "sp_per_minute", "training_end", "queue", "save_queue", "add_to_end", "stop",
           "start", "complete_due", "next_due", "skills", "hold_trained", "take_trained",
           "InjectError", "inject", "MAX_INJECT", "REQUIRED_SKILLS"]

SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "chrSkillQueue" ('
    ' "characterID" BIGINT NOT NULL, "orderIndex" INTEGER NOT NULL,'
    ' "typeID" INTEGER NOT NULL, "level" INTEGER NOT NULL,'
    ' "startTime" BIGINT NOT NULL, "endTime" BIGINT NOT NULL,'
    ' PRIMARY KEY ("characterID", "orderIndex"))',
)

MINUTE = 60 * 10_000_000                  # FILETIME ticks
MAX_LEVEL = 5
MAX_QUEUE = 50                            # entries (the Crucible client shows up to 50)
FLAG_SKILL, FLAG_SKILL_IN_TRAINING = 7, 61
ATTR_PRIMARY, ATTR_SECONDARY = 180, 181
CHAR_ATTRS = {164: "charisma", 165: "intelligence", 166: "memory", 167: "perception",
              168: "willpower"}


class SkillQueueError(ValueError):
    """A queue the character cannot train: the message says why (sent as the client's
    CustomError)."""


class AccountTrainingError(Exception):
    """Training refused: another character of the same account has an active queue (EVE lets
    one character of an account train at a time).  ``others``: [(characterID, name)] of the
    characters training (the client's ``UserAlreadyHasSkillInTraining``)."""

    def __init__(self, others):
        super().__init__("another character of this account is training: " +
                         ", ".join(str(c) for c, _n in others))
        self.others = list(others)


def sp_per_minute(primary, secondary):
    """Skill points a minute from the two attribute values."""
    return primary + secondary / 2.0


def training_end(current_sp, target_sp, spm, start):
    """The FILETIME when ``target_sp`` is reached from ``current_sp`` at ``spm`` a minute,
    starting at ``start`` (rounded up to the tick)."""
    if current_sp >= target_sp:
        return start
    return start + math.ceil((target_sp - current_sp) * MINUTE / spm)


def trained_points(stored_sp, spm, start, now, cap):
    """Points of a skill training since ``start`` that had ``stored_sp`` then."""
    if now <= start:
        return stored_sp
    return min(cap, stored_sp + int((now - start) * spm // MINUTE))


# ------------------------------------------------------------------ reading
def _cur(conn):
    return conn.cursor(), _placeholder(conn)


def skills(conn, char_id):
    """{typeID: skill dict} of the character's injected skills: itemID, flagID, level,
    points, rank, spm (points a minute for this character)."""
    cur, ph = _cur(conn)
    cur.execute(f'SELECT "intelligence", "charisma", "perception", "memory", "willpower" FROM '
                f'"chrCharacterInfo" WHERE "characterID" = {ph}', (char_id,))
    row = cur.fetchone()
    if row is None:
        return {}
    attrs = dict(zip((165, 164, 167, 166, 168), (int(v) for v in row)))
    cur.execute(f'SELECT "itemID", "typeID", "flagID" FROM "invItems" WHERE "locationID" = {ph}'
                f' AND "ownerID" = {ph} AND "flagID" IN ({FLAG_SKILL}, {FLAG_SKILL_IN_TRAINING})',
                (char_id, char_id))
    out = {}
    for item_id, type_id, flag in cur.fetchall():
        out[int(type_id)] = {"itemID": int(item_id), "typeID": int(type_id),
                             "flagID": int(flag), "level": 0, "points": 0}
    if not out:
        return out
    marks = ", ".join([ph] * len(out))
    ids = {s["itemID"]: s for s in out.values()}
    cur.execute(f'SELECT "itemID", "attributeID", "value" FROM "invItemAttributes" WHERE '
                f'"itemID" IN ({marks}) AND "attributeID" IN ({ATTR_SKILL_LEVEL}, '
                f'{ATTR_SKILL_POINTS})', list(ids))
    for item_id, attr, value in cur.fetchall():
        ids[int(item_id)]["level" if attr == ATTR_SKILL_LEVEL else "points"] = int(value)
    cur.execute(f'SELECT "typeID", "attributeID", "valueInt", "valueFloat" FROM '
                f'"dgmTypeAttributes" WHERE "typeID" IN ({marks}) AND "attributeID" IN '
                f'({ATTR_SKILL_RANK}, {ATTR_PRIMARY}, {ATTR_SECONDARY})', list(out))
    static = {}
    for type_id, attr, vi, vf in cur.fetchall():
        static.setdefault(int(type_id), {})[int(attr)] = vi if vi is not None else vf
    for type_id, s in out.items():
        st = static.get(type_id, {})
        s["rank"] = float(st.get(ATTR_SKILL_RANK) or 1)
        primary = attrs.get(int(st.get(ATTR_PRIMARY) or 0), 0)
        secondary = attrs.get(int(st.get(ATTR_SECONDARY) or 0), 0)
        s["spm"] = sp_per_minute(primary, secondary) or 1.0
    return out


def queue(conn, char_id):
    """The queue in order: [(typeID, level, startTime, endTime)]."""
    cur, ph = _cur(conn)
    cur.execute(f'SELECT "typeID", "level", "startTime", "endTime" FROM "chrSkillQueue" WHERE '
                f'"characterID" = {ph} ORDER BY "orderIndex"', (char_id,))
    return [tuple(int(v) for v in r) for r in cur.fetchall()]


def next_due(conn):
    """The earliest end time of any character's training entry, or None."""
    cur, _ph = _cur(conn)
    cur.execute('SELECT MIN("endTime") FROM "chrSkillQueue" WHERE "endTime" > 0')
    row = cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def training_elsewhere(conn, char_id, now):
    """[(characterID, characterName)] of the other characters of ``char_id``'s account whose
    queue is active at ``now`` (an entry that ends after it: training, not paused, not all
    ended), in id order."""
    cur, ph = _cur(conn)
    cur.execute(f'SELECT c."characterID", c."characterName" FROM "chrCharacters" c WHERE '
                f'c."accountID" = (SELECT "accountID" FROM "chrCharacters" WHERE '
                f'"characterID" = {ph}) AND c."characterID" <> {ph} AND EXISTS (SELECT 1 FROM '
                f'"chrSkillQueue" q WHERE q."characterID" = c."characterID" AND '
                f'q."endTime" > {ph}) ORDER BY c."characterID"', (char_id, char_id, now))
    return [(int(c), n) for c, n in cur.fetchall()]


# ------------------------------------------------------------------ writing
def _lock_account(conn, char_id):
    """Lock the row of ``char_id``'s account to the end of the transaction (PostgreSQL; on
    SQLite ``BEGIN IMMEDIATE`` already excludes every other writer): two characters of one
    account starting to train at once, on two servers, take turns, so the second sees the
    first's queue in :func:`training_elsewhere` (read committed: each statement reads what
    was committed before it started, and the lock is taken before the check reads)."""
    lock = for_update(conn)
    if lock:
        cur, ph = _cur(conn)
        cur.execute(f'SELECT accountID FROM account WHERE accountID = (SELECT "accountID" '
                    f'FROM "chrCharacters" WHERE "characterID" = {ph}){lock}', (char_id,))


def _need_no_other_training(conn, char_id, now):
    """EVE's rule, one character of an account in training: raise
    :class:`AccountTrainingError` when another character of the account trains."""
    others = training_elsewhere(conn, char_id, now)
    if others:
        raise AccountTrainingError(others)


def _set_attr(conn, item_id, attr, value):
    cur, ph = _cur(conn)
    cur.execute(f'DELETE FROM "invItemAttributes" WHERE "itemID" = {ph} AND "attributeID" = '
                f'{ph}', (item_id, attr))
    cur.execute(f'INSERT INTO "invItemAttributes" ("itemID", "attributeID", "value") VALUES '
                f'({ph}, {ph}, {ph})', (item_id, attr, value))


def _set_flag(conn, item_id, flag):
    cur, ph = _cur(conn)
    cur.execute(f'UPDATE "invItems" SET "flagID" = {ph} WHERE "itemID" = {ph}', (flag, item_id))


def _write_queue(conn, char_id, entries):
    cur, ph = _cur(conn)
    cur.execute(f'DELETE FROM "chrSkillQueue" WHERE "characterID" = {ph}', (char_id,))
    for i, (type_id, level, start, end) in enumerate(entries):
        cur.execute(f'INSERT INTO "chrSkillQueue" VALUES ({ph}, {ph}, {ph}, {ph}, {ph}, {ph})',
                    (char_id, i, type_id, level, start, end))
    last = entries[-1][3] if entries else 0
    cur.execute(f'UPDATE "chrCharacterInfo" SET "skillQueueEndTime" = {ph} WHERE '
                f'"characterID" = {ph}', (last, char_id))


def _validate(sk, entries):
    """The (typeID, level) pairs of a queue the client sent, checked: injected skills, each
    level the one after the skill's current level or the entry before it of that skill."""
    if not isinstance(entries, (list, tuple)):
        raise SkillQueueError("the skill queue must be a list of (typeID, level)")
    if len(entries) > MAX_QUEUE:
        raise SkillQueueError(f"the skill queue holds at most {MAX_QUEUE} entries")
    out, upto = [], {}
    for e in entries:
        if not (isinstance(e, (tuple, list)) and len(e) == 2 and
                all(type(v) is int for v in e)):
            raise SkillQueueError("a skill queue entry must be (typeID, level)")
        type_id, level = e
        s = sk.get(type_id)
        if s is None:
            raise SkillQueueError(f"skill {type_id} is not injected")
        if not 1 <= level <= MAX_LEVEL:
            raise SkillQueueError(f"level {level} of skill {type_id} is out of range")
        expected = upto.get(type_id, s["level"]) + 1
        if level != expected:
            raise SkillQueueError(f"skill {type_id}: level {level} queued, "
                                  f"level {expected} must come first")
        upto[type_id] = level
        out.append((type_id, level))
    return out


def _current_points(s, entry, now):
    """Points of the skill of a training queue's first entry at ``now``."""
    _type, level, start, _end = entry
    return trained_points(s["points"], s["spm"], start, now, skill_points(s["rank"], level))


def _stop_front(conn, char_id, sk, q, now, events, silent=True):
    """Stop training the first entry (its points so far stored, flag 7, a TrainingCanceled
    history row); times cleared.  An entry that already reached its end (the clock has not
    completed it yet) completes instead, as EVEmu's ``Character::CancelSkillInTraining``: the
    level and its points set, a TrainingComplete (37) row at the entry's end and
    ``OnSkillTrained``; returns its (typeID, level) then, else None."""
    if not q or q[0][3] == 0:
        return None
    type_id, level, _start, end = q[0]
    s = sk[type_id]
    points = _current_points(s, q[0], now)
    target = skill_points(s["rank"], level)
    if end <= now or points >= target:
        record(conn, char_id, EVENT_TRAINING_COMPLETE, end, type_id, level, target)
        _set_attr(conn, s["itemID"], ATTR_SKILL_LEVEL, level)
        _set_attr(conn, s["itemID"], ATTR_SKILL_POINTS, target)
        _set_flag(conn, s["itemID"], FLAG_SKILL)
        s.update(level=level, points=target, flagID=FLAG_SKILL)
        _sum_points(conn, char_id)
        events.append(("OnSkillTrained", s["itemID"]))
        return (type_id, level)
    record(conn, char_id, EVENT_TRAINING_CANCELED, now, type_id, level, points)
    _set_attr(conn, s["itemID"], ATTR_SKILL_POINTS, points)
    _set_flag(conn, s["itemID"], FLAG_SKILL)
    s["points"], s["flagID"] = points, FLAG_SKILL
    events.append(("OnSkillTrainingStopped", s["itemID"], silent))
    return None


def _sum_points(conn, char_id):
    """``chrCharacterInfo.skillPoints``: the sum of the character's skills' points."""
    cur, ph = _cur(conn)
    cur.execute(f'UPDATE "chrCharacterInfo" SET "skillPoints" = (SELECT '
                f'COALESCE(SUM(a."value"), 0) FROM "invItemAttributes" a JOIN '
                f'"invItems" i ON i."itemID" = a."itemID" WHERE i."locationID" = {ph} '
                f'AND i."flagID" IN ({FLAG_SKILL}, {FLAG_SKILL_IN_TRAINING}) AND '
                f'a."attributeID" = {ATTR_SKILL_POINTS}) WHERE "characterID" = {ph}',
                (char_id, char_id))


def _timed(sk, pairs, now):
    """(typeID, level, start, end) entries for pairs trained one after the other from now."""
    out, t = [], now
    for type_id, level in pairs:
        s = sk[type_id]
        rank = s["rank"]
        have = s["points"] if level == s["level"] + 1 else skill_points(rank, level - 1)
        end = training_end(have, skill_points(rank, level), s["spm"], t)
        out.append((type_id, level, t, end))
        t = end
    return out


def _start_front(conn, char_id, sk, entries, events, announce=True):
    """The first entry starts training: flag 61, a TrainingStarted history row (at its start,
    with the points of the level it trains to, as EVEmu) and, if ``announce``, the
    OnSkillStartTraining event."""
    if not entries:
        return
    type_id, level, start_time, _end = entries[0]
    s = sk[type_id]
    record(conn, char_id, EVENT_TRAINING_STARTED, start_time, type_id, level,
           skill_points(s["rank"], level))
    _set_flag(conn, s["itemID"], FLAG_SKILL_IN_TRAINING)
    s["flagID"] = FLAG_SKILL_IN_TRAINING
    if announce:
        events.append(("OnSkillStartTraining", s["itemID"], entries[0][3]))


def _replace(conn, char_id, pairs, now, train):
    """The queue becomes ``pairs``: the old first entry stops (unless it goes on training
    unchanged), and the new one starts when ``train``; returns the events.  A queue that
    trains is refused (:class:`AccountTrainingError`, the transaction rolled back) while
    another character of the account trains (the caller has taken :func:`_lock_account`
    before reading anything)."""
    sk = skills(conn, char_id)
    pairs = _validate(sk, pairs)
    q = queue(conn, char_id)
    events = []
    training = bool(q) and q[0][3] > 0
    if training and train and pairs and pairs[0] == q[0][:2]:
        # the skill in training goes on: keep its start, time the rest after it
        _need_no_other_training(conn, char_id, now)
        first = q[0]
        rest = _timed(sk, pairs[1:], first[3])
        _write_queue(conn, char_id, [first] + rest)
        return events
    done = _stop_front(conn, char_id, sk, q, now, events)
    if done in pairs:
        # the level the client still queues completed just now: EVEmu's AddToSkillQueue
        # writes a TaskMaster (35) correction (now, the skill's points) and leaves it out
        pairs.remove(done)
        record(conn, char_id, EVENT_TASK_MASTER, now, done[0], done[1], sk[done[0]]["points"])
    if train:
        if pairs:
            _need_no_other_training(conn, char_id, now)
        entries = _timed(sk, pairs, now)
        _start_front(conn, char_id, sk, entries, events)
    else:
        entries = [(t, lv, 0, 0) for t, lv in pairs]
    _write_queue(conn, char_id, entries)
    return events


def save_queue(conn, char_id, pairs, now):
    """``SaveSkillQueue``: the queue becomes ``pairs`` and trains (EVEmu clears it and adds
    each entry, so the first one starts)."""
    def run():
        _lock_account(conn, char_id)
        return _replace(conn, char_id, pairs, now, True)
    return _tx(conn, run)


def add_to_end(conn, char_id, type_id, level, now):
    """``AddToEndOfSkillQueue``: append one level; an empty queue starts training it."""
    def run():
        _lock_account(conn, char_id)
        q = queue(conn, char_id)
        pairs = [e[:2] for e in q] + [(type_id, level)]
        training = not q or q[0][3] > 0
        return _replace(conn, char_id, pairs, now, training)
    return _tx(conn, run)


def stop(conn, char_id, now):
    """``CharStopTrainingSkill``: pause the queue (the points so far are kept)."""
    def run():
        q = queue(conn, char_id)
        if not q or q[0][3] == 0:
            return []
        sk = skills(conn, char_id)
        events = []
        if _stop_front(conn, char_id, sk, q, now, events):
            q = q[1:]                                    # it completed
        _write_queue(conn, char_id, [(t, lv, 0, 0) for t, lv, _s, _e in q])
        return events
    return _tx(conn, run)


def start(conn, char_id, type_id, now):
    """``CharStartTrainingSkillByTypeID`` / ``CharStartTrainingSkill``: train ``type_id``
    now: first in the (paused) queue, or its next level alone when it is not queued."""
    def run():
        _lock_account(conn, char_id)
        sk = skills(conn, char_id)
        s = sk.get(type_id)
        if s is None:
            raise SkillQueueError(f"skill {type_id} is not injected")
        q = queue(conn, char_id)
        pairs = [e[:2] for e in q]
        if q and q[0][3] > 0 and q[0][0] == type_id:
            return []                                    # already training
        if not pairs or pairs[0][0] != type_id:
            if s["level"] >= MAX_LEVEL:
                raise SkillQueueError(f"skill {type_id} is fully trained")
            mine = [p for p in pairs if p[0] == type_id]
            others = [p for p in pairs if p[0] != type_id]
            pairs = (mine or [(type_id, s["level"] + 1)]) + others
        return _replace(conn, char_id, pairs, now, True)
    return _tx(conn, run)


def complete_due(conn, now):
    """Complete every training entry that ended by ``now``, for all characters; the next
    entry of each queue starts at the end of the one before.  Returns {charID: events}."""
    def run():
        cur, ph = _cur(conn)
        cur.execute(f'SELECT DISTINCT "characterID" FROM "chrSkillQueue" WHERE "endTime" > 0 '
                    f'AND "endTime" <= {ph}', (now,))
        out = {}
        for (char_id,) in cur.fetchall():
            char_id = int(char_id)
            sk = skills(conn, char_id)
            q = queue(conn, char_id)
            events = []
            while q and 0 < q[0][3] <= now:
                type_id, level, _start, end = q.pop(0)
                s = sk.get(type_id)
                if s is None:                            # the skill went away: drop it
                    continue
                points = skill_points(s["rank"], level)
                _set_attr(conn, s["itemID"], ATTR_SKILL_LEVEL, level)
                _set_attr(conn, s["itemID"], ATTR_SKILL_POINTS, points)
                _set_flag(conn, s["itemID"], FLAG_SKILL)
                s.update(level=level, points=points, flagID=FLAG_SKILL)
                record(conn, char_id, EVENT_QUEUE_TRAINING_COMPLETED, end, type_id, level,
                       points)
                q = _timed(sk, [e[:2] for e in q if e[0] in sk], end)
                if q:
                    # EVEmu's SkillQueueLoop: the next level starts at this one's end, told
                    # as one OnSkillSwitched(oldSkillID, newSkillID, ETA) (the client
                    # scatters it as OnSkillTrained + OnSkillStartTraining)
                    _start_front(conn, char_id, sk, q, events, announce=False)
                    events.append(("OnSkillSwitched", s["itemID"], sk[q[0][0]]["itemID"],
                                   q[0][3]))
                else:
                    events.append(("OnSkillTrained", s["itemID"]))
            _write_queue(conn, char_id, q)
            _sum_points(conn, char_id)
            out[char_id] = events
        return out
    return _tx(conn, run)


# ------------------------------------------------------------------ injection
CATEGORY_SKILL = 16
MAX_INJECT = 50                           # books in one InjectSkillIntoBrain call
#: (requiredSkillN, requiredSkillNLevel) attribute pairs of dgmTypeAttributes, N = 1..6
REQUIRED_SKILLS = ((182, 277), (183, 278), (184, 279), (1285, 1286), (1289, 1287),
                   (1290, 1288))


class InjectError(ValueError):
    """A skill book the character cannot inject: ``reason`` is one of ``"not_owned"`` (no
    such item, or someone else's), ``"not_skill"``, ``"known"`` (the character has the skill)
    or ``"prerequisites"`` (``missing``: [(typeID, level)] not trained)."""

    def __init__(self, reason, item_id, type_id=None, missing=()):
        super().__init__(f"item {item_id}: {reason}")
        self.reason, self.item_id, self.type_id, self.missing = (reason, item_id, type_id,
                                                                 list(missing))


def _required(conn, type_id):
    """[(skill typeID, level)] a skill type requires (its requiredSkillN attributes)."""
    cur, ph = _cur(conn)
    ids = [a for pair in REQUIRED_SKILLS for a in pair]
    cur.execute(f'SELECT "attributeID", "valueInt", "valueFloat" FROM "dgmTypeAttributes" '
                f'WHERE "typeID" = {ph} AND "attributeID" IN ({", ".join(map(str, ids))})',
                (type_id,))
    a = {int(k): (vi if vi is not None else vf) for k, vi, vf in cur.fetchall()}
    return [(int(a[s]), int(a.get(lv) or 0)) for s, lv in REQUIRED_SKILLS if a.get(s)]


def inject(conn, char_id, item_ids, now, check=None):
    """``InjectSkillIntoBrain``: each skill book of ``item_ids`` becomes a skill of the
    character (location the character, flag 7, singleton, level 0, 0 points), one book taken
    off a stack of several; all books or none, in ONE transaction.  EVEmu's checks
    (Character::InjectSkillIntoBrain, Skill::SkillPrereqsComplete): the character owns the
    book, it is a skill (category 16), the character does not know that skill, and each
    required skill is known at the required level (a book injected earlier in the same call
    counts, at level 0).  ``check(conn, item)`` may refuse a book too (where it is; raised
    as is).  A SkillInjected (56) history row per book.  Returns ``(item changes, [new skill
    itemIDs])``; raises :class:`InjectError`."""
    def run():
        # the character's own row too: two injections for one character (two servers) take
        # turns, so the second reads the first's skill (PostgreSQL; SQLite's BEGIN
        # IMMEDIATE already serialises them)
        inv._lock(conn, char_id, *item_ids)
        sk = skills(conn, char_id)
        changes, injected = [], []
        for item_id in item_ids:
            it = inv.item(conn, item_id)
            if it is None or it["ownerID"] != char_id or it["itemID"] == char_id:
                raise InjectError("not_owned", item_id)
            if it["categoryID"] != CATEGORY_SKILL:
                raise InjectError("not_skill", item_id, it["typeID"])
            type_id = it["typeID"]
            if type_id in sk:
                raise InjectError("known", item_id, type_id)
            if check is not None:
                check(conn, it)
            missing = [(t, lv) for t, lv in _required(conn, type_id)
                       if t not in sk or sk[t]["level"] < lv]
            if missing:
                raise InjectError("prerequisites", item_id, type_id, missing)
            if it["quantity"] > 1 and not it["singleton"]:
                inv._update(conn, item_id, quantity=it["quantity"] - 1)
                after = inv.item(conn, item_id)
                changes.append((after, inv._changed(it, after)))
                new_id = inv._new_item(conn, it, char_id, FLAG_SKILL, 1)
                inv._update(conn, new_id, singleton=1)
                new = inv.item(conn, new_id)
                changes.append((new, inv._changed(dict(new, locationID=0, quantity=0), new)))
            else:
                new_id = item_id
                inv._update(conn, item_id, locationID=char_id, flagID=FLAG_SKILL, quantity=1,
                            singleton=1)
                new = inv.item(conn, item_id)
                ch = inv._changed(it, new)
                if not it["singleton"]:          # the client's row: quantity 1 -> -1
                    ch[inv.ITEM_COLUMNS.index("quantity")] = it["quantity"]
                changes.append((new, ch))
            _set_attr(conn, new_id, ATTR_SKILL_LEVEL, 0)
            _set_attr(conn, new_id, ATTR_SKILL_POINTS, 0)
            record(conn, char_id, EVENT_SKILL_INJECTED, now, type_id, 0, 0, keep_empty=True)
            sk[type_id] = {"itemID": new_id, "typeID": type_id, "flagID": FLAG_SKILL,
                           "level": 0, "points": 0}
            injected.append(new_id)
        return changes, injected
    return _tx(conn, run)


# ------------------------------------------------------------------ trained while away
#: levels completed while the character was not online, told at its next selection (EVEmu
#: completes them in ``SkillQueueLoop(false)`` at login and sends OnMultipleSkillsTrained)
UNSEEN_SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "chrSkillTrainedUnseen" ('
    ' "characterID" BIGINT NOT NULL, "itemID" BIGINT NOT NULL, "logDate" BIGINT NOT NULL,'
    ' PRIMARY KEY ("characterID", "itemID"))',
)


def hold_trained(conn, char_id, item_ids, now):
    """Keep the skills (itemIDs, in the order they completed) whose training completed while
    ``char_id`` was away (a skill already held moves to the end)."""
    def run():
        cur, ph = _cur(conn)
        for i, item_id in enumerate(dict.fromkeys(reversed(item_ids))):
            cur.execute(f'DELETE FROM "chrSkillTrainedUnseen" WHERE "characterID" = {ph} AND '
                        f'"itemID" = {ph}', (char_id, item_id))
            cur.execute(f'INSERT INTO "chrSkillTrainedUnseen" VALUES ({ph}, {ph}, {ph})',
                        (char_id, item_id, now - i))       # one tick apart: order kept
    return _tx(conn, run)


def take_trained(conn, char_id):
    """The held itemIDs of ``char_id`` (oldest first), removed (a read only, no transaction,
    when there are none: the common case of every character selection)."""
    cur, ph = _cur(conn)
    select = (f'SELECT "itemID" FROM "chrSkillTrainedUnseen" WHERE "characterID" = {ph} '
              f'ORDER BY "logDate", "itemID"')
    cur.execute(select, (char_id,))
    if not cur.fetchall():
        return []

    def run():
        cur.execute(select + for_update(conn), (char_id,))
        ids = [int(r[0]) for r in cur.fetchall()]
        cur.execute(f'DELETE FROM "chrSkillTrainedUnseen" WHERE "characterID" = {ph}',
                    (char_id,))
        return ids
    return _tx(conn, run)


def current_points(conn, char_id, now):
    """{typeID: points at ``now``} of the character's skills (the one training counted)."""
    sk = skills(conn, char_id)
    q = queue(conn, char_id)
    out = {t: s["points"] for t, s in sk.items()}
    if q and q[0][3] > 0 and q[0][0] in sk:
        out[q[0][0]] = _current_points(sk[q[0][0]], q[0], now)
    return out
