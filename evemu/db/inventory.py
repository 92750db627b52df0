"""Items that players own: queries and the moves, splits and merges of ``invItems`` (portable
SQL on a DB-API connection; the tables are created by :mod:`.characters`).

Every change runs in ONE transaction (committed once; rolled back on any error) and locks the
rows it reads before it changes them (``FOR UPDATE`` on PostgreSQL, in item-id order so two
moves never deadlock; SQLite's ``BEGIN IMMEDIATE`` excludes other writers), so two servers
moving or splitting one stack at once can neither duplicate nor lose items.  (One exception,
as safe: a whole item's move on PostgreSQL is a single statement -- one that locks, checks
the caller's ``allow`` and moves, :data:`_MOVE_ALLOWED`, or a compare-and-set UPDATE after the
caller's check, :func:`_move_whole_cas`.)  It returns what changed, as ``(row_after,
{column: old_value})`` pairs, so the services layer can send ``OnItemChange`` to the owner.
An item that stops existing (merged away) is reported at the junkyard location (6) with
quantity 0, as EVEmu does for a deleted item.
"""
from .importer import _placeholder, for_update, _tx
from .characters import FIRST_ITEM_ID, next_id

__all__ = ["ITEM_COLUMNS", "item", "items_in", "move", "split", "merge", "stack_all",
           "set_location", "LOCATION_JUNKYARD"]

LOCATION_JUNKYARD = 6

#: The item row the client reads (EVEmu StaticDataMgr::CreateHeader), in order; the index of
#: a column is the client's ix* constant (ixItemID 0 ... ixCustomInfo 8).
ITEM_COLUMNS = ("itemID", "typeID", "ownerID", "locationID", "flagID", "quantity",
                "groupID", "categoryID", "customInfo")

_SELECT = ('SELECT i."itemID", i."typeID", i."ownerID", i."locationID", i."flagID", '
           'i."quantity", COALESCE(g."groupID", 0), COALESCE(g."categoryID", 0), '
           'i."customInfo", i."singleton", i."itemName" FROM "invItems" i '
           'LEFT JOIN "invTypes" t ON t."typeID" = i."typeID" '
           'LEFT JOIN "invGroups" g ON g."groupID" = t."groupID"')


def _row(r):
    if r is None:
        return None
    d = dict(zip(ITEM_COLUMNS, r[:9]))
    d["singleton"] = int(r[9])
    d["itemName"] = r[10]
    d["customInfo"] = d["customInfo"] or ""
    return d


def item(conn, item_id, lock=False):
    """The item as a dict (ITEM_COLUMNS + singleton, itemName), or None.  ``lock``: its row
    stays locked to the end of the caller's transaction (PostgreSQL; one round trip)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    tail = ' FOR UPDATE OF i' if lock and for_update(conn) else ''
    cur.execute(f'{_SELECT} WHERE i."itemID" = {ph}{tail}', (item_id,))
    return _row(cur.fetchone())


def items_in(conn, location_id, flag=None, owner=None):
    """The items directly in ``location_id`` (optionally of one flag and owner), by itemID."""
    ph = _placeholder(conn)
    where, args = [f'i."locationID" = {ph}'], [location_id]
    if flag is not None:
        where.append(f'i."flagID" = {ph}')
        args.append(flag)
    if owner is not None:
        where.append(f'i."ownerID" = {ph}')
        args.append(owner)
    cur = conn.cursor()
    cur.execute(f'{_SELECT} WHERE {" AND ".join(where)} ORDER BY i."itemID"', args)
    return [_row(r) for r in cur.fetchall()]


def _lock(conn, *item_ids):
    """Lock these items' rows to the end of the transaction (PostgreSQL), in id order."""
    lock = for_update(conn)
    if not lock:
        return
    ph = _placeholder(conn)
    ids = sorted({int(i) for i in item_ids})
    conn.cursor().execute(f'SELECT "itemID" FROM "invItems" WHERE "itemID" IN '
                          f'({", ".join([ph] * len(ids))}) ORDER BY "itemID"{lock}', ids)


def _changed(before, after):
    return {ITEM_COLUMNS.index(k): before[k] for k in ITEM_COLUMNS
            if k in after and before[k] != after[k]}


def _update(conn, item_id, **cols):
    ph = _placeholder(conn)
    sets = ", ".join(f'"{k}" = {ph}' for k in cols)
    conn.cursor().execute(f'UPDATE "invItems" SET {sets} WHERE "itemID" = {ph}',
                          (*cols.values(), item_id))


def _new_item(conn, src, location, flag, qty):
    ph = _placeholder(conn)
    iid = next_id(conn, "item", FIRST_ITEM_ID, 'SELECT MAX("itemID") FROM "invItems"')
    conn.cursor().execute(f'INSERT INTO "invItems" VALUES ({", ".join([ph] * 9)})',
                          (iid, src["typeID"], src["ownerID"], location, flag, qty, 0, None,
                           None))
    return iid


def _gone(conn, it):
    """Delete an item; its 'after' row is at the junkyard with quantity 0."""
    ph = _placeholder(conn)
    conn.cursor().execute(f'DELETE FROM "invItemAttributes" WHERE "itemID" = {ph}',
                          (it["itemID"],))
    conn.cursor().execute(f'DELETE FROM "invItems" WHERE "itemID" = {ph}', (it["itemID"],))
    after = dict(it, locationID=LOCATION_JUNKYARD, quantity=0)
    return after, _changed(it, after)


def set_location(conn, item_id, location, flag):
    """Move one item (the whole of it) in its own transaction; returns the changes."""
    def run():
        before = item(conn, item_id, lock=True)
        if before is None:
            return []
        _update(conn, item_id, locationID=location, flagID=flag)
        after = dict(before, locationID=location, flagID=flag)
        ch = _changed(before, after)
        return [(after, ch)] if ch else []
    return _tx(conn, run)


#: compare-and-set attempts of a whole move on PostgreSQL before it takes the transaction
_CAS_TRIES = 3


def _idle_postgresql(conn):
    """A PostgreSQL connection in autocommit with no transaction open (each statement is its
    own transaction), or None."""
    if not for_update(conn):
        return None
    raw = getattr(conn, "raw", conn)
    info = getattr(raw, "info", None)
    return raw if info is not None and info.transaction_status == 0 else None


def _move_whole_cas(conn, item_id, location, flag, qty, check, first=None):
    """PostgreSQL, a whole item moved: read it (no lock), check it, then ONE ``UPDATE`` that
    applies only if the row still has the owner, place and quantity that were checked (a
    compare-and-set: atomic on its own, no lock held across round trips): 2 round trips
    instead of BEGIN / SELECT FOR UPDATE / UPDATE / COMMIT.  A row changed in between is read
    and checked again.  ``first``: the row as just read (its first read is then saved).
    None: not a whole move, or the row kept changing (the caller takes the transaction)."""
    for _ in range(_CAS_TRIES):
        it, first = (item(conn, item_id) if first is None else first), None
        if it is None:
            raise KeyError(item_id)
        if check is not None:
            check(conn, it)
        if not (qty is None or it["singleton"] or qty >= it["quantity"]):
            return None                                 # a split: the transaction
        cur = conn.cursor()
        cur.execute('UPDATE "invItems" SET "locationID" = %s, "flagID" = %s WHERE '
                    '"itemID" = %s AND "ownerID" = %s AND "locationID" = %s AND "flagID" = %s '
                    'AND "quantity" = %s',
                    (location, flag, item_id, it["ownerID"], it["locationID"], it["flagID"],
                     it["quantity"]))
        if cur.rowcount == 1:
            after = dict(it, locationID=location, flagID=flag)
            ch = _changed(it, after)
            return item_id, ([(after, ch)] if ch else [])
    return None


#: A whole item's move in ONE statement when the row meets a caller's ``allow`` (see
#: :func:`move`): the row locked (``FOR UPDATE``: a concurrent change is waited for and the
#: conditions evaluated on its newest version), moved if it qualifies, and returned as it was
#: before, with whether it moved.  One statement is atomic, and the lock lasts only for it.
_MOVE_ALLOWED = (
    'WITH it ("itemID", "typeID", "ownerID", "locationID", "flagID", "quantity", "groupID", '
    '"categoryID", "customInfo", "singleton", "itemName") AS ('
    + _SELECT + ' WHERE i."itemID" = %(item)s FOR UPDATE OF i), '
    'moved AS (UPDATE "invItems" u SET "locationID" = %(location)s, "flagID" = %(flag)s '
    'FROM it WHERE u."itemID" = it."itemID" AND it."ownerID" = %(owner)s '
    'AND it."locationID" = ANY(%(places)s) AND it."itemID" <> ALL(%(not_items)s) '
    'AND (%(ships)s OR NOT (it."categoryID" = %(ship_category)s AND it."singleton" <> 0)) '
    'AND (%(qty)s::BIGINT IS NULL OR it."singleton" <> 0 OR it."quantity" <= %(qty)s) '
    'RETURNING u."itemID") '
    'SELECT it.*, EXISTS (SELECT 1 FROM moved) FROM it')

#: invCategories.categoryID of ships (``allow``'s ``ships``)
CATEGORY_SHIP = 6


def _move_allowed(conn, item_id, location, flag, qty, allow):
    """PostgreSQL: :data:`_MOVE_ALLOWED`.  Returns ``(row before, moved)``; KeyError if there
    is no such item."""
    cur = conn.cursor()
    cur.execute(_MOVE_ALLOWED, {
        "item": item_id, "location": location, "flag": flag, "qty": qty,
        "owner": allow["owner"],
        "places": [int(p) for p in allow["places"] if p is not None],
        "not_items": [int(i) for i in allow.get("not_items", ()) if i is not None],
        "ships": bool(allow.get("ships", False)), "ship_category": CATEGORY_SHIP})
    r = cur.fetchone()
    if r is None:
        raise KeyError(item_id)
    return _row(r[:11]), bool(r[11])


def move(conn, item_id, location, flag, qty=None, check=None, allow=None):
    """Move ``qty`` of an item (all of it when None or at least its quantity) to ``location``
    / ``flag``.  A part of a stack is split off as a new item in the destination.  Returns
    ``(moved itemID, changes)``.  ``check(conn, item)``, when given, runs on the row the move
    applies to (a caller's permission checks: what it raises changes nothing): inside the
    transaction on the locked row, or, for a whole item on PostgreSQL, before a
    compare-and-set ``UPDATE`` that applies only to that row unchanged (:func:`_move_whole_cas`).

    ``allow`` (PostgreSQL; ignored on SQLite): a condition under which ``check`` certainly
    passes, as values -- the item's ``owner``, one of the ``places`` it may be in, the
    ``not_items`` it may not be, and, unless ``ships`` is true, not an assembled ship.  A whole
    item that meets it moves in ONE statement (:data:`_MOVE_ALLOWED`), ``check`` not called;
    any other goes the ``check`` way (the row that statement read saves the first read).  It
    must never be looser than ``check``: what it lets through is not checked again."""
    if _idle_postgresql(conn) is not None:
        first = None
        if allow is not None:
            first, moved = _move_allowed(conn, item_id, location, flag, qty, allow)
            if moved:
                after = dict(first, locationID=location, flagID=flag)
                ch = _changed(first, after)
                return item_id, ([(after, ch)] if ch else [])
        out = _move_whole_cas(conn, item_id, location, flag, qty, check, first)
        if out is not None:
            return out

    def run():
        it = item(conn, item_id, lock=True)
        if it is None:
            raise KeyError(item_id)
        if check is not None:
            check(conn, it)
        if qty is None or it["singleton"] or qty >= it["quantity"]:
            _update(conn, item_id, locationID=location, flagID=flag)
            after = dict(it, locationID=location, flagID=flag)
            ch = _changed(it, after)
            return item_id, ([(after, ch)] if ch else [])
        if qty < 1:
            raise ValueError("quantity must be at least 1")
        return _split(conn, it, qty, location, flag)
    return _tx(conn, run)


def move_many(conn, item_ids, location, flag, check=None):
    """Move several whole items to ``location`` / ``flag`` in ONE transaction (a client's
    ``MultiAdd``): all of them or none.  Returns the changes.  ``check(conn, item)`` as
    :func:`move`'s, for each item (all are locked first)."""
    def run():
        _lock(conn, *item_ids)
        out = []
        for item_id in item_ids:
            it = item(conn, item_id)
            if it is None:
                raise KeyError(item_id)
            if check is not None:
                check(conn, it)
            _update(conn, item_id, locationID=location, flagID=flag)
            after = dict(it, locationID=location, flagID=flag)
            ch = _changed(it, after)
            if ch:
                out.append((after, ch))
        return out
    return _tx(conn, run) if item_ids else []


def _split(conn, it, qty, location, flag):
    _update(conn, it["itemID"], quantity=it["quantity"] - qty)
    new_id = _new_item(conn, it, location, flag, qty)
    src_after = item(conn, it["itemID"])
    new = item(conn, new_id)
    new_before = dict(new, locationID=0, quantity=0)
    return new_id, [(src_after, _changed(it, src_after)), (new, _changed(new_before, new))]


def split(conn, item_id, qty, location=None, flag=None):
    """Split ``qty`` off a stack as a new item (in place unless told); returns
    ``(new itemID, changes)``."""
    def run():
        it = item(conn, item_id, lock=True)
        if it is None:
            raise KeyError(item_id)
        if it["singleton"] or not 1 <= qty < it["quantity"]:
            raise ValueError(f"cannot split {qty} off a stack of {it['quantity']}")
        return _split(conn, it, qty, it["locationID"] if location is None else location,
                      it["flagID"] if flag is None else flag)
    return _tx(conn, run)


def _merge(conn, src, dst, qty):
    if src["typeID"] != dst["typeID"] or src["singleton"] or dst["singleton"] or \
            src["itemID"] == dst["itemID"]:
        raise ValueError(f"cannot merge item {src['itemID']} into {dst['itemID']}")
    qty = src["quantity"] if qty is None else min(qty, src["quantity"])
    if qty < 1:
        raise ValueError("quantity must be at least 1")
    out = []
    _update(conn, dst["itemID"], quantity=dst["quantity"] + qty)
    if qty == src["quantity"]:
        out.append(_gone(conn, src))
    else:
        _update(conn, src["itemID"], quantity=src["quantity"] - qty)
        after = item(conn, src["itemID"])
        out.append((after, _changed(src, after)))
    after = item(conn, dst["itemID"])
    out.append((after, _changed(dst, after)))
    return out


def merge(conn, src_id, dst_id, qty=None):
    """Merge ``qty`` (all when None) of stack ``src_id`` into stack ``dst_id`` (same type,
    neither singleton); an emptied source is deleted.  Returns the changes."""
    def run():
        _lock(conn, src_id, dst_id)
        src, dst = item(conn, src_id), item(conn, dst_id)
        if src is None or dst is None:
            raise KeyError(src_id if src is None else dst_id)
        return _merge(conn, src, dst, qty)
    return _tx(conn, run)


def merge_many(conn, ops, check=None):
    """Several merges ``(source, destination, qty)`` in ONE transaction (a client's
    ``MultiMerge``): every one of them or none (a refused merge rolls back those before it).
    Returns the changes.  ``check(conn, item)`` as :func:`move`'s, for every source and
    destination (all are locked first)."""
    def run():
        _lock(conn, *(i for src, dst, _ in ops for i in (src, dst)))
        out = []
        for src_id, dst_id, qty in ops:
            src, dst = item(conn, src_id), item(conn, dst_id)
            if src is None or dst is None:
                raise KeyError(src_id if src is None else dst_id)
            if check is not None:
                check(conn, src)
                check(conn, dst)
            out += _merge(conn, src, dst, qty)
        return out
    return _tx(conn, run) if ops else []


def stack_all(conn, location_id, flag=None, owner=None):
    """Merge every non-singleton stack of one type (and flag) in ``location_id`` into its
    oldest stack; returns the changes."""
    def run():
        firsts, out = {}, []
        lock = for_update(conn)
        if lock:
            conn.cursor().execute(f'SELECT "itemID" FROM "invItems" WHERE "locationID" = '
                                  f'{_placeholder(conn)} ORDER BY "itemID"{lock}',
                                  (location_id,))
        for it in items_in(conn, location_id, flag, owner):
            if it["singleton"]:
                continue
            key = (it["typeID"], it["flagID"], it["ownerID"])
            first = firsts.get(key)
            if first is None:
                firsts[key] = it
                continue
            out += _merge(conn, it, first, None)
            firsts[key] = item(conn, first["itemID"])
        return out
    return _tx(conn, run)


def owned_in(conn, owner, location_id, category=None):
    """Items of ``owner`` in ``location_id`` (of one category when given)."""
    return [it for it in items_in(conn, location_id, owner=owner)
            if category is None or it["categoryID"] == category]


def board(conn, char_id, ship_id, pilot_flag=57):
    """Put the character (its item) in ``ship_id`` as pilot and record it as the active ship,
    in one transaction; returns the changes."""
    ph = _placeholder(conn)

    def run():
        _lock(conn, char_id)
        before = item(conn, char_id)
        _update(conn, char_id, locationID=ship_id, flagID=pilot_flag)
        conn.cursor().execute(f'UPDATE "chrCharacterInfo" SET "shipID" = {ph} WHERE '
                              f'"characterID" = {ph}', (ship_id, char_id))
        after = item(conn, char_id)
        return [(after, _changed(before, after))] if before else []
    return _tx(conn, run)


def station_info(conn, station_id):
    """The station's staStations + staStationTypes columns as a dict, or None."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute('SELECT s."stationID", s."security", s."dockingCostPerVolume", '
                's."maxShipVolumeDockable", s."officeSlots", s."officeRentalCost", '
                's."operationID", s."stationTypeID", s."corporationID", s."solarSystemID", '
                's."constellationID", s."regionID", s."stationName", s."x", s."y", s."z", '
                's."reprocessingEfficiency", s."reprocessingStationsTake", '
                's."reprocessingHangarFlag", t."dockEntryX", t."dockEntryY", t."dockEntryZ", '
                't."dockOrientationX", t."dockOrientationY", t."dockOrientationZ", '
                't."conquerable", t."hangarGraphicID", ty."graphicID", ty."radius" '
                'FROM "staStations" s LEFT JOIN "staStationTypes" t ON '
                't."stationTypeID" = s."stationTypeID" LEFT JOIN "invTypes" ty ON '
                f'ty."typeID" = s."stationTypeID" WHERE s."stationID" = {ph}', (station_id,))
    r = cur.fetchone()
    if r is None:
        return None
    names = ("stationID", "security", "dockingCostPerVolume", "maxShipVolumeDockable",
             "officeSlots", "officeRentalCost", "operationID", "stationTypeID",
             "corporationID", "solarSystemID", "constellationID", "regionID", "stationName",
             "x", "y", "z", "reprocessingEfficiency", "reprocessingStationsTake",
             "reprocessingHangarFlag", "dockEntryX", "dockEntryY", "dockEntryZ",
             "dockOrientationX", "dockOrientationY", "dockOrientationZ", "conquerable",
             "hangarGraphicID", "graphicID", "radius")
    return dict(zip(names, r))
