"""The world's multi-row changes on both backends: one transaction each (character creation,
item moves, splits, merges, ISK transfers with their journal rows), row locks that keep
concurrent servers from duplicating items or money, and ISK exact to the cent (migration 400)."""
import random
import threading
from decimal import Decimal

import pytest

import stackless
from stackless import loop

from evemu.db import Database, filetime_now
from evemu.db import characters as chars
from evemu.db import charinfo
from evemu.db import inventory as inv
from evemu.db import migrations as M
from evemu.machonet import constants as C

from server_helpers import bounded

GALLENTE = (7, 1, 13, 20)       # bloodline, gender, ancestry, school


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(150):
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "w.sqlite3")
    return request.getfixturevalue("pg_url")


def new_character(db, name):
    acct = db.create_account(name.replace(" ", "")[:20], C.ROLE_STD, digest=b"d" * 20)
    return db.run(chars.create_character, acct.id, name, *GALLENTE, filetime_now())


def count(db, table):
    return db.execute(f'SELECT COUNT(*) FROM "{table}"')[0][0]


def ledger_ok(db):
    """Every character's balance is the sum of its journal rows; returns the total."""
    rows = db.execute('SELECT c.characterID, c.balance, (SELECT SUM(j."amount") FROM '
                      '"jnlCharacters" j WHERE j."characterID" = c.characterID) FROM '
                      'chrCharacters c')
    total = Decimal(0)
    for cid, bal, journal in rows:
        assert charinfo.isk(bal) == charinfo.isk(journal), cid
        assert charinfo.isk(bal) >= 0
        total += charinfo.isk(bal)
    last = db.execute('SELECT "characterID", "balance" FROM "jnlCharacters" j WHERE "refID" = '
                      '(SELECT MAX("refID") FROM "jnlCharacters" k WHERE k."characterID" = '
                      'j."characterID")')
    assert {c: charinfo.isk(b) for c, b in last} == {c: charinfo.isk(b) for c, b, _ in rows}
    return total


def in_tasklets(fns):
    out = [None] * len(fns)

    def wrap(i, fn):
        try:
            out[i] = fn()
        except Exception as e:                        # noqa: BLE001 -- checked by the test
            out[i] = e
    ts = [stackless.tasklet(wrap)(i, fn) for i, fn in enumerate(fns)]
    for t in ts:
        loop.run_until(t)
    return out


# ------------------------------------------------------------------ one transaction each
def test_character_creation_is_all_or_nothing(target, monkeypatch):
    db = Database(target)
    acct = db.create_account("half", C.ROLE_STD, digest=b"d" * 20)

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(chars, "add_journal", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        db.run(chars.create_character, acct.id, "Half Made", *GALLENTE, filetime_now())
    for table in ("chrCharacters", "invItems", "invItemAttributes", "chrCharacterInfo",
                  "jnlCharacters"):
        assert count(db, table) == 0, table
    monkeypatch.undo()
    cid = db.run(chars.create_character, acct.id, "Half Made", *GALLENTE, filetime_now())
    assert cid >= chars.FIRST_CHARACTER_ID and count(db, "jnlCharacters") == 1
    assert ledger_ok(db) == Decimal("5000.00")
    db.close()


def test_a_failed_transfer_changes_nothing(target, monkeypatch):
    db = Database(target)
    a, b = new_character(db, "Payer One"), new_character(db, "Payee One")
    before = db.execute('SELECT COUNT(*) FROM "jnlCharacters"')
    with pytest.raises(charinfo.NotEnoughMoney):
        db.run(charinfo.transfer, a, b, 5000.01, filetime_now())
    with pytest.raises(KeyError):
        db.run(charinfo.transfer, a, 12345, 1.0, filetime_now())
    real = chars.journal_entry
    seen = []

    def fail_second(conn, char_id, *args, **kw):  # the payee's journal row fails
        seen.append(char_id)
        if len(seen) == 2:
            raise RuntimeError("journal full")
        return real(conn, char_id, *args, **kw)
    monkeypatch.setattr(chars, "journal_entry", fail_second)
    if target.startswith("postgresql"):
        # one statement there: its journal insert fails after the balances were updated
        # (a division by zero in the payee's row), and the statement is undone as a whole
        bad = charinfo._PG_TRANSFER.replace(
            "%(now)s::bigint", "(%(now)s / (CASE WHEN u.id = %(payee)s THEN 0 ELSE 1 END))::bigint")
        assert bad != charinfo._PG_TRANSFER
        monkeypatch.setattr(charinfo, "_PG_TRANSFER", bad)
        import psycopg
        with pytest.raises(psycopg.errors.DivisionByZero):
            db.run(charinfo.transfer, a, b, 10.0, filetime_now())
    else:
        with pytest.raises(RuntimeError, match="journal full"):
            db.run(charinfo.transfer, a, b, 10.0, filetime_now())
    monkeypatch.undo()
    assert db.execute('SELECT COUNT(*) FROM "jnlCharacters"') == before
    assert db.run(charinfo.balance, a) == db.run(charinfo.balance, b) == 5000.0
    assert ledger_ok(db) == Decimal("10000.00")
    db.close()


def test_a_failed_split_changes_nothing(target, monkeypatch):
    db = Database(target)
    cid = new_character(db, "Splitter")
    ore = db.execute('SELECT "itemID", "quantity" FROM "invItems" WHERE "ownerID" = ? AND '
                     '"typeID" = 34', (cid,))
    (ore_id, qty), = ore

    def boom(*a, **k):
        raise RuntimeError("no ids left")
    monkeypatch.setattr(inv, "next_id", boom)
    with pytest.raises(RuntimeError, match="no ids left"):
        db.run(inv.split, ore_id, 10)
    monkeypatch.undo()
    assert db.execute('SELECT "quantity" FROM "invItems" WHERE "itemID" = ?', (ore_id,)) == \
        [(qty,)]
    new_id, changes = db.run(inv.split, ore_id, 10)
    assert db.execute('SELECT SUM("quantity") FROM "invItems" WHERE "typeID" = 34') == [(qty,)]
    db.close()


def test_multi_moves_and_merges_are_one_transaction(target):
    """MultiAdd and MultiMerge: every item moves (every merge happens) or none does."""
    db = Database(target)
    cid = new_character(db, "Multi Mover")
    (ore_id, qty), = db.execute('SELECT "itemID", "quantity" FROM "invItems" WHERE '
                                '"ownerID" = ? AND "typeID" = 34', (cid,))
    loc = db.run(inv.item, ore_id)["locationID"]
    a, _ = db.run(inv.split, ore_id, 10)
    b, _ = db.run(inv.split, ore_id, 20)
    # a missing item in the middle: nothing moved
    with pytest.raises(KeyError):
        db.run(inv.move_many, [a, 99999999, b], cid, 5)
    assert {db.run(inv.item, i)["locationID"] for i in (a, b)} == {loc}
    flag = db.run(inv.item, a)["flagID"] + 1
    changes = db.run(inv.move_many, [a, b], loc, flag)
    assert {r["itemID"] for r, _ in changes} == {a, b}
    assert {db.run(inv.item, i)["flagID"] for i in (a, b)} == {flag}
    # the second merge is refused (a stack into itself): the first is rolled back
    with pytest.raises(ValueError):
        db.run(inv.merge_many, [(a, ore_id, 4), (b, b, 1)])
    assert [db.run(inv.item, i)["quantity"] for i in (ore_id, a, b)] == [qty - 30, 10, 20]
    changes = db.run(inv.merge_many, [(a, ore_id, 4), (b, ore_id, None)])
    assert [db.run(inv.item, i)["quantity"] for i in (ore_id, a)] == [qty - 6, 6]
    assert db.run(inv.item, b) is None
    assert db.execute('SELECT SUM("quantity") FROM "invItems" WHERE "typeID" = 34') == [(qty,)]
    assert db.run(inv.move_many, [], loc, 4) == [] and db.run(inv.merge_many, []) == []
    db.close()


# ------------------------------------------------------------------ concurrency
def test_concurrent_transfers_conserve_isk_and_match_the_journal(target):
    db = Database(target)
    ids = [new_character(db, f"Trader {n}") for n in "ABCDE"]
    rng = random.Random(7)
    plan = [(rng.choice(ids), rng.choice(ids), rng.choice([0.01, 0.1, 1.25, 333.33, 4999.99]))
            for _ in range(150)]
    out = in_tasklets([lambda p=p: db.run(charinfo.transfer, p[0], p[1], p[2], filetime_now())
                       for p in plan if p[0] != p[1]])
    assert all(isinstance(o, (tuple, charinfo.NotEnoughMoney)) for o in out), out
    assert sum(isinstance(o, tuple) for o in out) > 50
    assert ledger_ok(db) == Decimal("25000.00")
    db.close()


def two_servers(target, work, rounds):
    """``work(db, i)`` ``rounds`` times on each of two Databases, each on its own thread (as
    two server processes on one database); the errors, if any."""
    errors = []

    def server():
        try:
            db = Database(target)
            for i in range(rounds):
                work(db, i)
            db.close()
        except BaseException as e:                    # noqa: BLE001 -- reported
            errors.append(e)
    ts = [threading.Thread(target=server) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    return errors


def test_two_servers_transfer_in_opposite_directions_without_deadlock(target):
    db = Database(target)
    a, b = new_character(db, "North Side"), new_character(db, "South Side")
    db.close()
    turn = iter(range(10 ** 6))

    def work(db, i):
        payer, payee = (a, b) if next(turn) % 2 else (b, a)
        db.run(charinfo.transfer, payer, payee, 1.11, filetime_now())
    assert two_servers(target, work, 40) == []
    db = Database(target)
    assert ledger_ok(db) == Decimal("10000.00")
    assert count(db, "jnlCharacters") == 2 + 2 * 80
    db.close()


def test_two_servers_splitting_one_stack_neither_duplicate_nor_lose(target):
    db = Database(target)
    cid = new_character(db, "Stack Owner")
    (ore_id, qty), = db.execute('SELECT "itemID", "quantity" FROM "invItems" WHERE '
                                '"ownerID" = ? AND "typeID" = 34', (cid,))
    db.close()

    def work(db, i):
        try:
            db.run(inv.split, ore_id, 1)
        except ValueError:                            # the stack is down to one
            pass
    assert two_servers(target, work, 60) == []
    db = Database(target)
    assert db.execute('SELECT SUM("quantity"), COUNT(*) FROM "invItems" WHERE "typeID" = 34') \
        == [(qty, qty)]                               # 100 stacks of one, all the ore
    ids = [r[0] for r in db.execute('SELECT "itemID" FROM "invItems"')]
    assert len(ids) == len(set(ids))
    db.close()


def test_two_servers_merge_back_without_losing_a_unit(target):
    db = Database(target)
    cid = new_character(db, "Merge Owner")
    (ore_id, qty), = db.execute('SELECT "itemID", "quantity" FROM "invItems" WHERE '
                                '"ownerID" = ? AND "typeID" = 34', (cid,))
    parts = [db.run(inv.split, ore_id, 1)[0] for _ in range(40)]
    db.close()
    todo = iter(parts)
    lock = threading.Lock()

    def work(db, i):
        with lock:
            src = next(todo, None)
        if src is not None:
            db.run(inv.merge, src, ore_id)
    assert two_servers(target, work, 20) == []
    db = Database(target)
    assert db.execute('SELECT SUM("quantity"), COUNT(*) FROM "invItems" WHERE "typeID" = 34') \
        == [(qty, 1)]
    db.close()


# ------------------------------------------------------------------ ISK to the cent
def test_isk_is_exact_to_the_cent(target):
    db = Database(target)
    a, b = new_character(db, "Cent Payer"), new_character(db, "Cent Payee")
    for _ in range(10):
        db.run(charinfo.transfer, a, b, 0.1, filetime_now())
    assert db.run(charinfo.balance, b) == 5001.0 and db.run(charinfo.balance, a) == 4999.0
    db.run(charinfo.transfer, a, b, 0.005, filetime_now())        # rounds half up: a cent
    assert db.run(charinfo.balance, b) == 5001.01
    stored = db.execute("SELECT balance FROM chrCharacters ORDER BY characterID")
    if target.startswith("postgresql"):
        assert stored == [(Decimal("4998.99"),), (Decimal("5001.01"),)]
        types = db.execute("SELECT table_name, column_name, data_type, numeric_scale FROM "
                           "information_schema.columns WHERE column_name IN "
                           "('balance', 'amount') AND table_name IN ('chrcharacters', "
                           "'jnlCharacters') ORDER BY 1, 2")
        assert types == [("chrcharacters", "balance", "numeric", 2),
                         ("jnlCharacters", "amount", "numeric", 2),
                         ("jnlCharacters", "balance", "numeric", 2)]
    else:
        assert stored == [(4998.99,), (5001.01,)]
    assert ledger_ok(db) == Decimal("10000.00")
    row = db.run(chars.character_row, b)
    assert type(row["balance"]) is float and row["balance"] == 5001.01
    db.close()


def test_migration_400_rounds_what_older_servers_wrote(target, monkeypatch):
    monkeypatch.setattr(M, "_registry", {v: m for v, m in M._registry.items() if v < 400})
    db = Database(target)
    acct = db.create_account("oldmoney", C.ROLE_STD, digest=b"d" * 20)
    cid = db.create_character(acct.id, "Old Money", 1373, 1, balance=1234.5678)
    db.execute('INSERT INTO "jnlCharacters" VALUES (1, ?, 1000, 9, NULL, NULL, NULL, NULL, ?, '
               '?, NULL, 0)', (cid, 1234.5678, 1234.5678))
    db.close()
    monkeypatch.undo()
    db = Database(target)
    assert [v for v, _ in db.schema_info()["pending"]] == []
    assert db.run(charinfo.balance, cid) == 1234.57
    assert db.execute('SELECT "amount", "balance" FROM "jnlCharacters"') in (
        [(1234.57, 1234.57)], [(Decimal("1234.57"), Decimal("1234.57"))])
    assert ledger_ok(db) == Decimal("1234.57")
    db.close()


def test_isk_helpers():
    assert charinfo.isk(0.1) + charinfo.isk(0.2) == Decimal("0.30")
    assert charinfo.isk(None) == Decimal("0.00") and charinfo.isk("2.675") == Decimal("2.68")
    assert charinfo.isk(1e12) == Decimal("1000000000000.00")
    assert float(charinfo.isk(9999999999.99)) == 9999999999.99


def test_two_servers_create_characters_and_items_without_an_id_clash(target):
    Database(target).close()                          # migrated and loaded once, first
    made, numbers = [], iter(range(1000))

    def work(db, i):
        made.append(new_character(db, f"Twin No{next(numbers):03d}"))
    assert two_servers(target, work, 12) == []
    db = Database(target)
    assert len(made) == len(set(made)) == 24
    assert count(db, "chrCharacters") == 24
    ids = [r[0] for r in db.execute('SELECT "itemID" FROM "invItems"')]
    assert len(ids) == len(set(ids)) and len(ids) > 24 * 10
    assert ledger_ok(db) == Decimal("5000.00") * 24
    db.close()


def test_a_journal_entry_without_owners_and_one_for_nobody(target):
    # one statement on PostgreSQL (UPDATE ... RETURNING feeding INSERT ... SELECT): untyped None
    # parameters must still reach their columns, and no character row means no journal row
    db = Database(target)
    a = new_character(db, "Journal Keeper")
    before = count(db, "jnlCharacters")

    def entry(conn, char_id):
        from evemu.db.importer import _begin
        _begin(conn)
        try:
            out = chars.journal_entry(conn, char_id, 35, 12.345, filetime_now())
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
        return out

    ref, balance = db.run(entry, a)
    assert balance == Decimal("5012.35") and isinstance(ref, int)
    row = db.execute('SELECT "characterID", "accountKey", "refTypeID", "ownerID1", "ownerID2", '
                     '"argID1", "argName1", "amount", "balance", "reason" FROM "jnlCharacters" '
                     'WHERE "refID" = ?', (ref,))
    assert [tuple(charinfo.isk(v) if i in (7, 8) else v for i, v in enumerate(r)) for r in row] \
        == [(a, 1000, 35, None, None, None, None, Decimal("12.35"), Decimal("5012.35"), None)]
    with pytest.raises(KeyError):
        db.run(entry, 987654321)
    assert count(db, "jnlCharacters") == before + 1
    assert ledger_ok(db) == Decimal("5012.35")
    db.close()


def test_a_transfer_keeps_a_long_reason_cut_to_the_column(target):
    # jnlCharacters.reason is VARCHAR(255): PostgreSQL refused a longer one (the whole transfer
    # failed with StringDataRightTruncation); now it is cut there on both backends, as EVEmu's
    # MySQL does.  GiveCash's own reason can be 255 characters after its "DESC: " prefix.
    db = Database(target)
    a, b = new_character(db, "Long Payer"), new_character(db, "Long Payee")
    db.run(charinfo.transfer, a, b, 1.0, filetime_now(), "DESC: " + "x" * 255)
    reasons = db.execute('SELECT "reason" FROM "jnlCharacters" WHERE "reason" LIKE ?',
                         ("DESC: x%",))
    assert reasons == [("DESC: " + "x" * 249,)] * 2
    with pytest.raises(ValueError, match="two characters"):
        db.run(charinfo.transfer, a, a, 1.0, filetime_now())
    assert ledger_ok(db) == Decimal("10000.00")
    db.close()


def test_a_transfer_capped_at_the_payees_room_and_one_that_cannot_be_paid(target):
    db = Database(target)
    a, b = new_character(db, "Capped Payer"), new_character(db, "Capped Payee")
    db.execute('UPDATE chrCharacters SET balance = ? WHERE characterID = ?',
               (charinfo.BALANCE_CAP - 2.5, b))
    db.execute('UPDATE "jnlCharacters" SET "amount" = ?, "balance" = ? WHERE "characterID" = ?',
               (charinfo.BALANCE_CAP - 2.5, charinfo.BALANCE_CAP - 2.5, b))
    assert db.run(charinfo.transfer, a, b, 10.0, filetime_now()) == (4997.5, charinfo.BALANCE_CAP)
    with pytest.raises(charinfo.NotEnoughMoney) as e:
        db.run(charinfo.transfer, a, b, 4997.51, filetime_now())
    assert (e.value.amount, e.value.balance) == (4997.51, 4997.5)
    with pytest.raises(KeyError) as k:
        db.run(charinfo.transfer, 424242, b, 1.0, filetime_now())
    assert k.value.args == (424242,)
    with pytest.raises(KeyError) as k:
        db.run(charinfo.transfer, a, 434343, 1.0, filetime_now())
    assert k.value.args == (434343,)
    assert db.run(charinfo.balance, a) == 4997.5
    ledger_ok(db)
    db.close()


def test_a_move_checks_the_row_it_applies_to_when_another_writer_moves_it_first(target):
    """What ``check`` saw is what the move applies to: on PostgreSQL a whole move is a
    compare-and-set UPDATE after the check (no transaction), so an item moved by another
    server between the two is read and checked again; on SQLite the check runs on the row
    under the write lock (the other writer waits, then finds the item moved)."""
    db, other = Database(target), Database(target)
    cid = new_character(db, "Raced Mover")
    (ore_id, qty), = db.execute('SELECT "itemID", "quantity" FROM "invItems" WHERE '
                                '"ownerID" = ? AND "typeID" = 34', (cid,))
    start = db.run(inv.item, ore_id)
    seen = []
    worker = []

    def check(conn, it):
        seen.append((it["locationID"], it["flagID"]))
        if len(seen) == 1:          # another server moves it to flag 117 meanwhile
            t = threading.Thread(target=lambda: worker.append(
                other.run(inv.move, ore_id, it["locationID"], 117)))
            t.start()
            t.join(0.5 if target.endswith(".sqlite3") else 30)
            worker.append(t)

    new_id, changes = db.run(inv.move, ore_id, start["locationID"], 118, None, check=check)
    worker[-1].join(30)
    assert new_id == ore_id
    row = db.run(inv.item, ore_id)
    if target.startswith("postgresql"):
        # the other move landed first; ours saw it on the second read and went on from there
        assert seen == [(start["locationID"], start["flagID"]),
                        (start["locationID"], 117)]
        assert row["flagID"] == 118 and changes == [(row, {4: 117})]
    else:
        # SQLite: the other writer waited for our write lock, then moved it after us
        assert seen == [(start["locationID"], start["flagID"])]
        assert row["flagID"] == 117 and changes[0][1] == {4: start["flagID"]}
    assert row["quantity"] == qty
    assert db.execute('SELECT COUNT(*), SUM("quantity") FROM "invItems" WHERE "typeID" = 34') \
        == [(1, qty)]

    def refuse_second(conn, it, n=[]):
        n.append(it)
        if len(n) == 1:
            other.run(inv.move, ore_id, it["locationID"], 119) if target.startswith(
                "postgresql") else None
        else:
            raise PermissionError("not any more")
    if target.startswith("postgresql"):
        with pytest.raises(PermissionError):
            db.run(inv.move, ore_id, start["locationID"], 120, None, check=refuse_second)
        assert db.run(inv.item, ore_id)["flagID"] == 119
    db.close()
    other.close()
