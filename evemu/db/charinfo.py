"""Character sheet, wallet and dogma queries (portable SQL on a DB-API connection; tables of
:mod:`.characters` and the static data).

The wallet: ``chrCharacters.balance`` only changes through :func:`.characters.add_journal`,
which writes a ``jnlCharacters`` row with the balance after each change, so the journal
always adds up to the balance.
"""
from .characters import add_journal  # noqa: F401  (the one way to change a balance)
from .importer import _placeholder
from .money import isk

__all__ = ["balance", "journal", "type_attributes", "item_attributes", "ATTR_CHAR"]

#: character attribute IDs (dgmAttributeTypes): charisma, intelligence, memory, perception,
#: willpower
ATTR_CHAR = {"charisma": 164, "intelligence": 165, "memory": 166, "perception": 167,
             "willpower": 168}
#: invTypes columns that are attributes too (mass 4, capacity 38, volume 161, radius 162)
TYPE_COLUMN_ATTRS = (("mass", 4), ("capacity", 38), ("volume", 161), ("radius", 162))


def balance(conn, char_id):
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "balance" FROM "chrCharacters" WHERE "characterID" = {ph}',
                (char_id,))
    row = cur.fetchone()
    return None if row is None else float(row[0])


JOURNAL_COLUMNS = ("transactionID", "transactionDate", "referenceID", "entryTypeID",
                   "ownerID1", "ownerID2", "accountKey", "amount", "balance", "description",
                   "currency", "sortValue")


def journal(conn, char_id, account_key=1000, from_date=0, entry_type=None):
    """The journal rows of a character (EVEmu AccountDB::GetJournal's columns), oldest
    first."""
    ph = _placeholder(conn)
    sql = ('SELECT "refID", "transactionDate", "argID1", "refTypeID", "ownerID1", "ownerID2", '
           '"accountKey", "amount", "balance", "reason" FROM "jnlCharacters" WHERE '
           f'"characterID" = {ph} AND "accountKey" = {ph} AND "transactionDate" > {ph}')
    args = [char_id, account_key, from_date or 0]
    if entry_type:
        sql += f' AND "refTypeID" = {ph}'
        args.append(entry_type)
    cur = conn.cursor()
    cur.execute(sql + ' ORDER BY "refID"', args)
    return [(r[0], r[1], r[2] or 0, r[3], r[4] or 0, r[5] or 0, r[6], float(r[7]),
             float(r[8]), r[9] or "", 0, 1) for r in cur.fetchall()]


def type_attributes(conn, type_id):
    """{attributeID: value} of a type: dgmTypeAttributes plus mass/capacity/volume/radius."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    out = {}
    cur.execute(f'SELECT "mass", "capacity", "volume", "radius" FROM "invTypes" WHERE '
                f'"typeID" = {ph}', (type_id,))
    row = cur.fetchone()
    if row is not None:
        for (_name, attr), v in zip(TYPE_COLUMN_ATTRS, row):
            if v is not None:
                out[attr] = float(v)
    cur.execute(f'SELECT "attributeID", "valueInt", "valueFloat" FROM "dgmTypeAttributes" '
                f'WHERE "typeID" = {ph}', (type_id,))
    for attr, vi, vf in cur.fetchall():
        out[int(attr)] = int(vi) if vi is not None else float(vf or 0.0)
    return out


def item_attributes(conn, item_id):
    """{attributeID: value} stored for one item (skill level, skill points...)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "attributeID", "value" FROM "invItemAttributes" WHERE '
                f'"itemID" = {ph}', (item_id,))
    return {int(a): (int(v) if float(v).is_integer() else float(v))
            for a, v in cur.fetchall()}


def character_attributes(conn, char_id):
    """{attributeID: value} of the five character attributes (chrCharacterInfo)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    names = ("intelligence", "charisma", "perception", "memory", "willpower")
    cur.execute(f'SELECT {", ".join(chr(34) + n + chr(34) for n in names)} FROM '
                f'"chrCharacterInfo" WHERE "characterID" = {ph}', (char_id,))
    row = cur.fetchone()
    return {} if row is None else {ATTR_CHAR[n]: int(v) for n, v in zip(names, row)}


class NotEnoughMoney(ValueError):
    def __init__(self, amount, balance):
        super().__init__(f"{amount} ISK wanted, {balance} ISK in the wallet")
        self.amount, self.balance = amount, balance


REF_PLAYER_DONATION = 10            # journal refTypeID (EVEmu Journal::EntryType::PlayerDonation)
BALANCE_CAP = 1e12                  # EVEmu caps a character's ISK at one trillion


# An ISK transfer on PostgreSQL: ONE statement (so one round trip, and the row locks are held
# for the statement alone, not across the round trips of a transaction).  `locked` takes both
# rows FOR UPDATE in id order (no deadlock with an opposite transfer; a row changed by a
# concurrent transfer is re-read after its lock); `amt` is the amount, capped by the payee's
# room under BALANCE_CAP, and no row at all when the payer cannot pay; `upd` moves it (nothing
# when `amt` is empty) and `jnl` journals both sides from `upd`'s new balances.  The last SELECT
# reports what happened, for KeyError / NotEnoughMoney.  The two refIDs come from nextval in no
# set order.  (chrCharacters is migration 401's auto-updatable view there.)
_PG_TRANSFER = """
WITH locked AS (
    SELECT "characterID" AS id, "balance" AS bal FROM "chrCharacters"
    WHERE "characterID" IN (%(payer)s, %(payee)s) ORDER BY "characterID" FOR UPDATE),
amt AS (
    SELECT LEAST(%(amount)s::numeric, GREATEST(0, %(cap)s::numeric - p.bal)) AS a
    FROM locked f CROSS JOIN locked p
    WHERE f.id = %(payer)s AND p.id = %(payee)s AND f.bal >= %(amount)s::numeric),
upd AS (
    UPDATE "chrCharacters" c SET "balance" = c."balance"
        + CASE WHEN c."characterID" = %(payer)s THEN -amt.a ELSE amt.a END
    FROM amt WHERE c."characterID" IN (%(payer)s, %(payee)s)
    RETURNING c."characterID" AS id, c."balance" AS bal),
jnl AS (
    INSERT INTO "jnlCharacters"
    SELECT nextval(%(seq)s), u.id, 1000, %(ref_type)s::integer, %(payer)s::bigint,
           %(payee)s::bigint, (CASE WHEN u.id = %(payer)s THEN %(payee)s ELSE %(payer)s END)::bigint,
           NULL, CASE WHEN u.id = %(payer)s THEN -amt.a ELSE amt.a END, u.bal,
           %(reason)s::varchar, %(now)s::bigint
    FROM upd u CROSS JOIN amt
    RETURNING 1)
SELECT (SELECT count(*) FROM locked), (SELECT bal FROM locked WHERE id = %(payer)s),
       (SELECT bal FROM upd WHERE id = %(payer)s), (SELECT bal FROM upd WHERE id = %(payee)s),
       (SELECT count(*) FROM jnl), (SELECT min(id) FROM locked)
"""


def transfer(conn, from_id, to_id, amount, now, reason="", ref_type=REF_PLAYER_DONATION):
    """Move ``amount`` ISK (rounded to the cent) from one character to another in ONE
    transaction, journalled on both sides (the payer's row negative); returns ``(payer
    balance, payee balance)`` as floats.  Both rows are locked (in id order, so two opposite
    transfers never deadlock) before the balance is checked.  Raises NotEnoughMoney (nothing
    changes) and KeyError for an unknown character.  PostgreSQL: one statement
    (:data:`_PG_TRANSFER`); SQLite: the steps in Python under its write lock."""
    from .importer import _begin, dialect, for_update
    from .characters import PG_SEQUENCES, REASON_MAX
    if from_id == to_id:
        raise ValueError("a transfer needs two characters")
    amount = isk(amount)
    reason = reason[:REASON_MAX] if reason else reason
    if dialect(conn) != "sqlite" and "journal" in PG_SEQUENCES:
        cur = conn.cursor()
        cur.execute(_PG_TRANSFER, {
            "payer": from_id, "payee": to_id, "amount": amount, "cap": isk(BALANCE_CAP),
            "seq": PG_SEQUENCES["journal"][0], "ref_type": ref_type, "reason": reason,
            "now": now})
        found, had, mine, theirs, journalled, some = cur.fetchone()
        if found < 2:
            raise KeyError(to_id if found == 1 and some == from_id else from_id)
        if mine is None:
            raise NotEnoughMoney(float(amount), float(isk(had)))
        assert journalled == 2, journalled
        return float(isk(mine)), float(isk(theirs))
    ph = _placeholder(conn)
    _begin(conn)
    try:
        cur = conn.cursor()
        cur.execute(f'SELECT "characterID", "balance" FROM "chrCharacters" WHERE "characterID" '
                    f'IN ({ph}, {ph}) ORDER BY "characterID"{for_update(conn)}',
                    (from_id, to_id))
        have = {int(c): isk(b) for c, b in cur.fetchall()}
        if from_id not in have or to_id not in have:
            raise KeyError(to_id if to_id not in have else from_id)
        if have[from_id] < amount:
            raise NotEnoughMoney(float(amount), float(have[from_id]))
        amount = min(amount, max(isk(0), isk(BALANCE_CAP) - have[to_id]))
        from .characters import journal_entry
        _, mine = journal_entry(conn, from_id, ref_type, -amount, now, owner1=from_id,
                                owner2=to_id, arg1=to_id, reason=reason)
        _, theirs = journal_entry(conn, to_id, ref_type, amount, now, owner1=from_id,
                                  owner2=to_id, arg1=from_id, reason=reason)
        out = (float(mine), float(theirs))
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return out
