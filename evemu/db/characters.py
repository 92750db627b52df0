"""Characters and their first items: schema and queries (portable SQL on a DB-API connection).

Tables (besides ``chrCharacters``, which :mod:`evemu.db` owns):

``idSequences``       the next free id of each kind (characters from 90 000 000, items from
                      140 000 000, journal entries from 1), taken inside the caller's
                      transaction (``UPDATE ... SET nextID = nextID + 1``), so no
                      AUTOINCREMENT/SERIAL dialect is needed.
``chrCharacterInfo``  EVEmu's other ``chrCharacters`` columns (career, school, ship, capsule,
                      roles, attributes, skill points...), one row per character.
``invItems``          every item a player owns (EVEmu's ``entity``): ship, capsule, clone,
                      modules, skills... and the character itself (in its ship, flagPilot).
``invItemAttributes`` per-item attribute values (skill level 280, skill points 276).
``jnlCharacters``     the wallet journal: every ISK change, with the balance after it.

The tables are created by migration 200 (:mod:`evemu.db.world_tables`).
:func:`create_character` does the whole of ``CreateCharacterWithDoll`` in ONE transaction.
"""
import math
import re

from . import skill_history
from .importer import _begin, _placeholder, for_update
from .money import isk, to_db

__all__ = ["SCHEMA", "create_character", "validate_name", "NAME_ERRORS", "character_row",
           "CharacterError", "STARTING_BALANCE"]

FIRST_CHARACTER_ID = 90000000
FIRST_ITEM_ID = 140000000
STARTING_BALANCE = 5000.0
REF_INHERITANCE = 9                 # journal refTypeID (EVEmu Journal::EntryType::Inheritance)
CORP_SCC = 1000132                  # the Secure Commerce Commission pays the inheritance

# item flags (invFlags)
FLAG_HANGAR, FLAG_CARGO, FLAG_SKILL, FLAG_HISLOT0, FLAG_HISLOT1 = 4, 5, 7, 27, 28
FLAG_CAPSULE, FLAG_PILOT, FLAG_CLONE = 56, 57, 400
TYPE_CAPSULE, TYPE_CLONE_ALPHA, TYPE_TRITANIUM, TYPE_CIVILIAN_MINER = 670, 164, 34, 3651
ATTR_SKILL_RANK, ATTR_SKILL_POINTS, ATTR_SKILL_LEVEL = 275, 276, 280

SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "idSequences" ('
    ' "name" VARCHAR(32) PRIMARY KEY, "nextID" BIGINT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "chrCharacterInfo" ('
    ' "characterID" BIGINT PRIMARY KEY, "title" VARCHAR(100) NOT NULL,'
    ' "description" VARCHAR(300) NOT NULL, "bounty" DOUBLE PRECISION NOT NULL,'
    ' "aurBalance" DOUBLE PRECISION NOT NULL, "securityRating" DOUBLE PRECISION NOT NULL,'
    ' "petitionMessage" VARCHAR(300) NOT NULL, "logonMinutes" BIGINT NOT NULL,'
    ' "skillPoints" BIGINT NOT NULL, "skillQueueEndTime" BIGINT NOT NULL,'
    ' "startDateTime" BIGINT NOT NULL, "careerID" INTEGER NOT NULL,'
    ' "schoolID" INTEGER NOT NULL, "careerSpecialityID" INTEGER NOT NULL,'
    ' "constellationID" BIGINT, "regionID" BIGINT, "shipID" BIGINT, "capsuleID" BIGINT,'
    ' "baseID" BIGINT, "corpAccountKey" INTEGER NOT NULL, "corpRole" BIGINT NOT NULL,'
    ' "rolesAtAll" BIGINT NOT NULL, "rolesAtHQ" BIGINT NOT NULL,'
    ' "rolesAtBase" BIGINT NOT NULL, "rolesAtOther" BIGINT NOT NULL,'
    ' "paperDollState" INTEGER NOT NULL, "online" INTEGER NOT NULL,'
    ' "intelligence" INTEGER NOT NULL, "charisma" INTEGER NOT NULL,'
    ' "perception" INTEGER NOT NULL, "memory" INTEGER NOT NULL,'
    ' "willpower" INTEGER NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "invItems" ('
    ' "itemID" BIGINT PRIMARY KEY, "typeID" INTEGER NOT NULL, "ownerID" BIGINT NOT NULL,'
    ' "locationID" BIGINT NOT NULL, "flagID" INTEGER NOT NULL,'
    ' "quantity" BIGINT NOT NULL, "singleton" INTEGER NOT NULL,'
    ' "itemName" VARCHAR(100), "customInfo" VARCHAR(255))',
    'CREATE INDEX IF NOT EXISTS "invItems_location" ON "invItems" ("locationID")',
    'CREATE INDEX IF NOT EXISTS "invItems_owner" ON "invItems" ("ownerID")',
    'CREATE TABLE IF NOT EXISTS "invItemAttributes" ('
    ' "itemID" BIGINT NOT NULL, "attributeID" INTEGER NOT NULL,'
    ' "value" DOUBLE PRECISION NOT NULL, PRIMARY KEY ("itemID", "attributeID"))',
    'CREATE TABLE IF NOT EXISTS "jnlCharacters" ('
    ' "refID" BIGINT PRIMARY KEY, "characterID" BIGINT NOT NULL,'
    ' "accountKey" INTEGER NOT NULL, "refTypeID" INTEGER NOT NULL,'
    ' "ownerID1" BIGINT, "ownerID2" BIGINT, "argID1" BIGINT, "argName1" VARCHAR(100),'
    ' "amount" DOUBLE PRECISION NOT NULL, "balance" DOUBLE PRECISION NOT NULL,'
    ' "reason" VARCHAR(255), "transactionDate" BIGINT NOT NULL)',
    'CREATE INDEX IF NOT EXISTS "jnlCharacters_char" ON "jnlCharacters" ("characterID")',
)


class CharacterError(ValueError):
    """A refused creation: ``key`` is the client's UserError message key."""

    def __init__(self, key, detail=""):
        super().__init__(f"{key}: {detail}" if detail else key)
        self.key = key


#: id kinds with a PostgreSQL sequence of their own (migration 402): taken with nextval, which
#: locks nothing, so concurrent item creations and ISK transfers do not queue on one
#: ``idSequences`` row.  (A sequence never rolls back: a failed transaction leaves a gap.)
#: name: (sequence, table, id column, first id)
PG_SEQUENCES = {
    "item": ("evemu_item_id", "invItems", "itemID", FIRST_ITEM_ID),
    "journal": ("evemu_journal_id", "jnlCharacters", "refID", 1),
}


def next_id(conn, name, first, floor_sql=None):
    """Take the next id of sequence ``name``.  PostgreSQL, for the kinds of
    :data:`PG_SEQUENCES`: ``nextval``.  Otherwise the ``idSequences`` row, inside the caller's
    transaction (the row stays locked until it commits, so two servers never take one id)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    if name in PG_SEQUENCES and ph == "%s":
        cur.execute("SELECT nextval(%s)", (PG_SEQUENCES[name][0],))
        return int(cur.fetchone()[0])
    bump = (f'UPDATE "idSequences" SET "nextID" = "nextID" + 1 WHERE "name" = {ph} '
            'RETURNING "nextID"')
    cur.execute(bump, (name,))
    row = cur.fetchone()
    if row is None:
        start = first
        if floor_sql:
            cur.execute(floor_sql)
            top = cur.fetchone()[0]
            if top is not None:
                start = max(first, int(top) + 1)
        # (another server may create it meanwhile: then its row wins and is bumped)
        cur.execute(f'INSERT INTO "idSequences" VALUES ({ph}, {ph}) ON CONFLICT ("name") '
                    'DO NOTHING', (name, start))
        cur.execute(bump, (name,))
        row = cur.fetchone()
    return int(row[0]) - 1


def new_character_id(conn):
    """A new characterID: on PostgreSQL from chrCharacters' identity sequence (the one that
    core's ``create_character`` and ``db copy``'s setval use too, so no two allocators can
    hand out one id); on SQLite from ``idSequences`` (inside the caller's write lock)."""
    from .importer import dialect
    if dialect(conn) == "postgresql":
        cur = conn.cursor()
        cur.execute("SELECT nextval(pg_get_serial_sequence('chrcharacters', 'characterid'))")
        return int(cur.fetchone()[0])
    return next_id(conn, "character", FIRST_CHARACTER_ID,
                   'SELECT MAX("characterID") FROM "chrCharacters"')


def sync_sequences(conn):
    """Every id counter past the largest id in its table (after ``db copy`` wrote the rows):
    PostgreSQL's sequences of :data:`PG_SEQUENCES` and the identity of chrCharacters are set
    with ``setval``; the ``idSequences`` rows (SQLite's counters) are raised to match."""
    from .importer import dialect
    ph = _placeholder(conn)
    cur = conn.cursor()
    kinds = dict(PG_SEQUENCES, character=(None, "chrCharacters", "characterID",
                                          FIRST_CHARACTER_ID))
    for name, (seq, table, column, first) in kinds.items():
        cur.execute(f'SELECT MAX("{column}") FROM "{table}"')
        top = cur.fetchone()[0]
        cur.execute(f'SELECT "nextID" FROM "idSequences" WHERE "name" = {ph}', (name,))
        row = cur.fetchone()
        nxt = max(first, int(top) + 1 if top is not None else first,
                  int(row[0]) if row else first)
        if dialect(conn) == "postgresql" and seq is not None:
            cur.execute("SELECT setval(%s, %s, false)", (seq, nxt))
        elif row is not None:
            cur.execute(f'UPDATE "idSequences" SET "nextID" = {ph} WHERE "name" = {ph}',
                        (nxt, name))


# ------------------------------------------------------------------------------ names
#: ValidateNameEx results (the client's validStates) and the UserError keys of creation.
NAME_OK = 1
NAME_ERRORS = {
    -1: "CharNameTooShort",
    -2: "CharNameInvalidMaxLength",
    -5: "CharNameInvalidSomeChar",
    -6: "CharNameInvalidMaxSpaces",
    -7: "CharNameInvalidMaxSpaces",
    -101: "CharNameInvalidTaken",
    -102: "CharNameInvalidBannedWord",
}
_ALLOWED = re.compile(r"[A-Za-z0-9 '.\-]*\Z")
_BANNED = ("ccp", "admin", "gamemaster", "fuck", "cunt")


def name_code(name):
    """EVE's rules for a new character name, as ValidateNameEx's code (1 = valid), not
    counting whether it is taken.  3..37 characters; letters, digits and ' - . and one space
    (not doubled); the part before the space at most 24 characters, the family name at most
    12; no punctuation or space first or last; no reserved words."""
    if not isinstance(name, str) or len(name) < 3:
        return -1
    if len(name) > 37:
        return -2
    if not _ALLOWED.match(name) or name[0] in " '.-" or name[-1] in " '.-":
        return -5
    if "  " in name:
        return -7
    if name.count(" ") > 1:
        return -6
    if " " in name:
        first, last = name.split(" ")
        if len(first) > 24 or len(last) > 12:
            return -2
    elif len(name) > 24:
        return -2
    low = name.lower()
    if any(w in low for w in _BANNED):
        return -102
    return NAME_OK


def name_taken(conn, name):
    """A character has this name, or an NPC owner does (a corporation, a faction...),
    compared without case."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT 1 FROM "chrCharacters" WHERE LOWER("characterName") = LOWER({ph})',
                (name,))
    if cur.fetchone() is not None:
        return True
    cur.execute(f'SELECT 1 FROM "eveStaticOwners" WHERE LOWER("ownerName") = LOWER({ph})',
                (name,))
    return cur.fetchone() is not None


def validate_name(conn, name):
    code = name_code(name)
    if code == NAME_OK and name_taken(conn, name):
        return -101
    return code


# ------------------------------------------------------------------------------ creation
def _one(cur, sql, args=()):
    cur.execute(sql, args)
    return cur.fetchone()


def skill_points(rank, level):
    """Skill points of a skill of ``rank`` trained to ``level`` (EVE: 250 * rank *
    sqrt(32)**(level - 1), rounded up)."""
    if level <= 0:
        return 0
    return int(math.ceil(250 * rank * math.sqrt(32) ** (level - 1) - 1e-6))


def create_character(conn, account_id, name, bloodline_id, gender, ancestry_id, school_id,
                     now, starting_balance=STARTING_BALANCE):
    """Create a character with its rookie ship, capsule, clone, starting skills and
    starting ISK, all in ONE transaction; returns the new characterID.  Raises
    CharacterError (with the client's message key) for a refused name or choice."""
    code = name_code(name)
    if code != NAME_OK:
        raise CharacterError(NAME_ERRORS[code], name)
    ph = _placeholder(conn)
    cur = conn.cursor()
    bl = _one(cur, 'SELECT "raceID", "shipTypeID", "perception", "willpower", "charisma", '
                   f'"memory", "intelligence" FROM "chrBloodlines" WHERE "bloodlineID" = {ph}',
              (bloodline_id,))
    if bl is None:
        raise CharacterError("CharCreationInvalidBloodline", str(bloodline_id))
    race_id, ship_type = bl[0], bl[1]
    anc = _one(cur, 'SELECT "perception", "willpower", "charisma", "memory", "intelligence" '
                    f'FROM "chrAncestries" WHERE "ancestryID" = {ph} AND "bloodlineID" = {ph}',
               (ancestry_id, bloodline_id))
    if anc is None:
        raise CharacterError("CharCreationInvalidAncestry", str(ancestry_id))
    if gender not in (0, 1):
        raise CharacterError("CharCreationInvalidGender", str(gender))
    sch = _one(cur, f'SELECT "corporationID" FROM "chrSchools" WHERE "schoolID" = {ph} AND '
                    f'"raceID" = {ph}', (school_id, race_id))
    if sch is None:
        raise CharacterError("CharCreationInvalidSchool", str(school_id))
    corp_id = sch[0]
    career = _one(cur, f'SELECT "careerID" FROM "careers" WHERE "schoolID" = {ph}', (school_id,))
    career_id = career[0] if career else 0
    loc = _one(cur, 'SELECT s."stationID", s."solarSystemID", s."constellationID", '
                    's."regionID" FROM "crpCorporation" c JOIN "staStations" s ON '
                    f's."stationID" = c."stationID" WHERE c."corporationID" = {ph}', (corp_id,))
    if loc is None:
        raise CharacterError("CharCreationNoStartingStation", str(corp_id))
    station_id, system_id, constellation_id, region_id = loc
    char_type = _one(cur, f'SELECT "typeID" FROM "bloodlineTypes" WHERE "bloodlineID" = {ph}',
                     (bloodline_id,))
    if char_type is None:
        raise CharacterError("CharCreationInvalidBloodline", f"no type for {bloodline_id}")
    gun = _one(cur, f'SELECT "weaponTypeID", "miningTypeID" FROM "shipTypes" WHERE '
                    f'"shipTypeID" = {ph}', (ship_type,))
    attrs = [b + a for b, a in zip(bl[2:], anc)]     # perception, willpower, charisma,...

    _begin(conn)
    try:
        if name_taken(conn, name):
            raise CharacterError("CharNameInvalidTaken", name)
        char_id = new_character_id(conn)

        def item(type_id, location, flag, qty=1, singleton=1, item_name=None, custom=None,
                 owner=char_id):
            iid = next_id(conn, "item", FIRST_ITEM_ID, 'SELECT MAX("itemID") FROM "invItems"')
            cur.execute(f'INSERT INTO "invItems" VALUES ({", ".join([ph] * 9)})',
                        (iid, type_id, owner, location, flag, qty, singleton, item_name,
                         custom))
            return iid

        cur.execute('INSERT INTO "chrCharacters" ("characterID", "accountID", "characterName", '
                    '"typeID", "gender", "raceID", "bloodlineID", "ancestryID", '
                    '"corporationID", "stationID", "solarSystemID", "balance", '
                    f'"createDateTime") VALUES ({", ".join([ph] * 13)})',
                    (char_id, account_id, name, char_type[0], gender, race_id, bloodline_id,
                     ancestry_id, corp_id, station_id, system_id, 0.0, now))
        ship_id = item(ship_type, station_id, FLAG_HANGAR, item_name=f"{name}'s Ship")
        if gun is not None:
            item(gun[1] or TYPE_CIVILIAN_MINER, ship_id, FLAG_HISLOT0)
            item(gun[0], ship_id, FLAG_HISLOT1)
        item(TYPE_TRITANIUM, ship_id, FLAG_CARGO, qty=100, singleton=0)
        capsule_id = item(TYPE_CAPSULE, system_id, FLAG_CAPSULE, item_name=f"{name}'s Capsule")
        item(TYPE_CLONE_ALPHA, station_id, FLAG_CLONE, custom=f"Active: {name}({char_id})")
        cur.execute(f'INSERT INTO "invItems" VALUES ({", ".join([ph] * 9)})',
                    (char_id, char_type[0], 1, ship_id, FLAG_PILOT, 1, 1, name, None))
        # starting skills: base skills, then the race's (the higher level wins)
        skills = {}
        cur.execute('SELECT "skillTypeID", "level" FROM "sklBaseSkills"')
        for t, lvl in cur.fetchall():
            skills[t] = max(skills.get(t, 0), lvl)
        cur.execute(f'SELECT "skillTypeID", "level" FROM "sklRaceSkills" WHERE "raceID" = {ph}',
                    (race_id,))
        for t, lvl in cur.fetchall():
            skills[t] = max(skills.get(t, 0), lvl)
        total_sp = 0
        for t, lvl in sorted(skills.items()):
            rank = _one(cur, f'SELECT "valueInt", "valueFloat" FROM "dgmTypeAttributes" WHERE '
                             f'"typeID" = {ph} AND "attributeID" = {ph}', (t, ATTR_SKILL_RANK))
            rank = (rank[0] if rank and rank[0] is not None else
                    (rank[1] if rank else 1)) or 1
            sp = skill_points(rank, lvl)
            total_sp += sp
            sid = item(t, char_id, FLAG_SKILL)
            cur.executemany(f'INSERT INTO "invItemAttributes" VALUES ({ph}, {ph}, {ph})',
                            [(sid, ATTR_SKILL_LEVEL, lvl), (sid, ATTR_SKILL_POINTS, sp)])
            # EVEmu's CreateCharacterWithDoll: a SkillPointsApplied history row per skill
            skill_history.record(conn, char_id, skill_history.EVENT_SKILL_POINTS_APPLIED, now,
                                 t, lvl, sp)
        p, w, c, m, i = attrs
        cur.execute(f'INSERT INTO "chrCharacterInfo" VALUES ({", ".join([ph] * 32)})',
                    (char_id, "No Title", "", 0.0, 0.0, 0.0, "", 0, total_sp, 0, now,
                     career_id, school_id, career_id, constellation_id, region_id, ship_id,
                     capsule_id, station_id, 1000, 128, 128, 128, 128, 128, 0, 0,
                     i, c, p, m, w))
        if starting_balance:
            add_journal(conn, char_id, REF_INHERITANCE, starting_balance, now,
                        owner1=CORP_SCC, owner2=char_id,
                        reason=f"DESC: Inheritance Payment to {name}")
    except BaseException as e:
        conn.rollback()
        if isinstance(e, _integrity_error(conn)) and name_taken(conn, name):
            # created meanwhile by another connection (the UNIQUE name constraint caught it)
            raise CharacterError("CharNameInvalidTaken", name) from None
        raise
    conn.commit()
    return char_id


def _integrity_error(conn):
    err = getattr(conn, "IntegrityError", None)         # sqlite3's connections carry it
    if err is None:
        import psycopg
        err = psycopg.IntegrityError
    return err


def add_journal(conn, char_id, ref_type, amount, now, owner1=None, owner2=None, arg1=None,
                reason=None, account_key=1000):
    """Change a character's balance by ``amount`` (rounded to the cent) and journal it, inside
    the caller's transaction (the character's row is locked until it commits).  Returns the
    journal refID."""
    return journal_entry(conn, char_id, ref_type, amount, now, owner1, owner2, arg1, reason,
                         account_key)[0]


#: jnlCharacters.reason is VARCHAR(255): a longer reason is cut there (as EVEmu's MySQL does);
#: PostgreSQL would refuse it and roll the whole change back
REASON_MAX = 255

# (explicit casts: INSERT ... SELECT types its parameters from the select list, not from the
# target columns as INSERT ... VALUES does)
_PG_JOURNAL_ENTRY = (
    'WITH u AS (UPDATE "chrCharacters" SET "balance" = "balance" + %s WHERE "characterID" = %s '
    'RETURNING "balance") '
    'INSERT INTO "jnlCharacters" SELECT nextval(%s), %s::bigint, %s::integer, %s::integer, '
    '%s::bigint, %s::bigint, %s::bigint, NULL, %s::numeric, u."balance", %s::varchar, '
    '%s::bigint FROM u RETURNING "refID", "balance"')


def journal_entry(conn, char_id, ref_type, amount, now, owner1=None, owner2=None, arg1=None,
                  reason=None, account_key=1000):
    """:func:`add_journal`, returning ``(refID, balance after)`` (balance a Decimal).
    PostgreSQL: one round trip, one statement (the ``UPDATE ... RETURNING`` in NUMERIC, exact,
    feeding the journal row with its ``nextval`` id: no row, no journal entry); SQLite: the new
    balance computed in Decimal in Python."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    amount = isk(amount)
    reason = reason[:REASON_MAX] if reason else reason
    if ph == "%s" and "journal" in PG_SEQUENCES:
        cur.execute(_PG_JOURNAL_ENTRY,
                    (amount, char_id, PG_SEQUENCES["journal"][0], char_id, account_key, ref_type,
                     owner1, owner2, arg1, amount, reason, now))
        row = cur.fetchone()
        if row is None:
            raise KeyError(char_id)
        return int(row[0]), isk(row[1])
    row = _one(cur, f'SELECT "balance" FROM "chrCharacters" WHERE "characterID" = {ph}'
                    f'{for_update(conn)}', (char_id,))
    if row is None:
        raise KeyError(char_id)
    balance = isk(row[0]) + amount
    cur.execute(f'UPDATE "chrCharacters" SET "balance" = {ph} WHERE "characterID" = {ph}',
                (to_db(conn, balance), char_id))
    ref = next_id(conn, "journal", 1)
    cur.execute(f'INSERT INTO "jnlCharacters" VALUES ({", ".join([ph] * 12)})',
                (ref, char_id, account_key, ref_type, owner1, owner2, arg1, None,
                 to_db(conn, amount), to_db(conn, balance), reason, now))
    return ref, balance


# ------------------------------------------------------------------------------ queries
CHARACTER_COLUMNS = (
    "characterID", "accountID", "characterName", "typeID", "gender", "raceID", "bloodlineID",
    "ancestryID", "corporationID", "stationID", "solarSystemID", "balance",
    "deletePrepareDateTime", "createDateTime", "title", "bounty", "aurBalance",
    "securityRating", "petitionMessage", "skillPoints", "skillQueueEndTime", "startDateTime",
    "careerID", "schoolID", "constellationID", "regionID", "shipID", "capsuleID", "baseID",
    "corpAccountKey", "corpRole", "rolesAtAll", "rolesAtHQ", "rolesAtBase", "rolesAtOther",
    "paperDollState")


_CHARACTER_SQL = {}         # (placeholder, ship, hq) -> character_row's statement


def character_row(conn, char_id, *, ship=False, hq=False):
    """A dict of the character's columns (chrCharacters + chrCharacterInfo), or None.

    In the same statement (one round trip on PostgreSQL), when asked: ``ship`` adds
    ``shipTypeID`` and ``shipName``, the type and name of its active ship's ``invItems`` row
    (None, None when it has no ship or the row is gone; the name "" when NULL); ``hq`` adds
    ``hqID``, its corporation's headquarters station (None when unknown)."""
    ph = _placeholder(conn)
    key = (ph, bool(ship), bool(hq))
    sql = _CHARACTER_SQL.get(key)
    if sql is None:
        cols = [f'{"c" if i < 14 else "i"}."{n}"' for i, n in enumerate(CHARACTER_COLUMNS)]
        joins = ""
        if ship:
            cols += ['s."itemID"', 's."typeID"', 's."itemName"']
            joins += ' LEFT JOIN "invItems" s ON s."itemID" = i."shipID"'
        if hq:
            cols.append('h."stationID"')
            joins += ' LEFT JOIN "crpCorporation" h ON h."corporationID" = c."corporationID"'
        sql = _CHARACTER_SQL[key] = (
            f'SELECT {", ".join(cols)} FROM "chrCharacters" c JOIN "chrCharacterInfo" i ON '
            f'i."characterID" = c."characterID"{joins} WHERE c."characterID" = {ph}')
    cur = conn.cursor()
    cur.execute(sql, (char_id,))
    row = cur.fetchone()
    if not row:
        return None
    n = len(CHARACTER_COLUMNS)
    out = dict(zip(CHARACTER_COLUMNS, row[:n]))
    out["balance"] = float(out["balance"])      # NUMERIC on PostgreSQL: a float on the wire
    rest = row[n:]
    if ship:
        (found, type_id, name), rest = rest[:3], rest[3:]
        if out["shipID"] and found is not None:
            out["shipTypeID"], out["shipName"] = type_id, name or ""
        else:
            out["shipTypeID"] = out["shipName"] = None
    if hq:
        out["hqID"] = rest[0]
    return out


def delete_character(conn, account_id, char_id):
    """Delete a character of ``account_id`` with all it owns; False if not theirs."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    _begin(conn)
    try:
        cur.execute(f'SELECT 1 FROM "chrCharacters" WHERE "characterID" = {ph} AND '
                    f'"accountID" = {ph}', (char_id, account_id))
        if cur.fetchone() is None:
            conn.rollback()
            return False
        cur.execute(f'DELETE FROM "invItemAttributes" WHERE "itemID" IN (SELECT "itemID" FROM '
                    f'"invItems" WHERE "ownerID" = {ph})', (char_id,))
        cur.execute(f'DELETE FROM "invItems" WHERE "ownerID" = {ph} OR "itemID" = {ph}',
                    (char_id, char_id))
        cur.execute(f'DELETE FROM "jnlCharacters" WHERE "characterID" = {ph}', (char_id,))
        cur.execute(f'DELETE FROM "chrSkillQueue" WHERE "characterID" = {ph}', (char_id,))
        cur.execute(f'DELETE FROM "chrSkillHistory" WHERE "characterID" = {ph}', (char_id,))
        cur.execute(f'DELETE FROM "chrSkillTrainedUnseen" WHERE "characterID" = {ph}',
                    (char_id,))
        cur.execute(f'DELETE FROM "chrCharacterInfo" WHERE "characterID" = {ph}', (char_id,))
        cur.execute(f'DELETE FROM "chrCharacters" WHERE "characterID" = {ph}', (char_id,))
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return True


def set_delete_prepare(conn, account_id, char_id, when):
    """Set (or, with ``when`` None, clear) the deletion time; False if not the account's."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    _begin(conn)
    cur.execute(f'UPDATE "chrCharacters" SET "deletePrepareDateTime" = {ph} WHERE '
                f'"characterID" = {ph} AND "accountID" = {ph}', (when, char_id, account_id))
    n = cur.rowcount
    conn.commit()
    return n == 1


#: invGroups.groupID of clones (EVEmu's ``groupID=23``)
GROUP_CLONE = 23


def clone_owners_at(conn, station_id, corp_id=None):
    """``[(ownerID, corporationID)]`` of the characters whose clone is in the station, of one
    corporation unless ``corp_id`` is None (EVEmu StationDB::GetOwnerIDsOfClonesAtStation)."""
    ph = _placeholder(conn)
    sql = ('SELECT i."ownerID", c."corporationID" FROM "invItems" i '
           'JOIN "invTypes" t ON t."typeID" = i."typeID" '
           'JOIN "chrCharacters" c ON c."characterID" = i."ownerID" '
           f'WHERE t."groupID" = {GROUP_CLONE:d} AND i."locationID" = {ph}')
    args = [station_id]
    if corp_id is not None:
        sql += f' AND c."corporationID" = {ph}'
        args.append(corp_id)
    cur = conn.cursor()
    cur.execute(sql + ' ORDER BY i."ownerID"', args)
    return [(int(o), int(c)) for o, c in cur.fetchall()]
