"""Personal bookmarks and their folders (portable SQL on a DB-API connection), as EVEmu's
BookmarkDB keeps them in ``bookmarks`` / ``bookmarkFolders`` (our tables have the same names
and columns; migration 500).

A bookmark is either a point in a solar system (``typeID`` 5, ``itemID`` = ``locationID`` =
the system, ``x, y, z`` the point) or an item (a station: ``typeID`` its type, ``itemID`` the
station, ``locationID`` its system; a region, constellation or system of the map: ``typeID``
3 / 4 / 5 and ``itemID`` = ``locationID`` = that id).  Every change checks the owner inside
its transaction: a bookmark or folder of someone else raises :class:`NotOwner` and nothing
changes.  (EVEmu's DeleteBookmarks hands the row to owner 1 to keep copies alive; there are
no copies here, so the row is deleted.)
"""
from .characters import next_id
from .importer import _placeholder, for_update, _tx

__all__ = ["SCHEMA", "BOOKMARK_COLUMNS", "FOLDER_COLUMNS", "NotOwner", "TooMany",
           "MAX_BOOKMARKS", "MAX_FOLDERS", "bookmarks_of",
           "folders_of", "bookmark", "add_bookmark", "update_bookmark", "delete_bookmarks",
           "create_folder", "update_folder", "delete_folder", "move_to_folder"]

SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "bookmarks" ('
    ' "bookmarkID" BIGINT PRIMARY KEY, "ownerID" BIGINT NOT NULL, "itemID" BIGINT NOT NULL,'
    ' "typeID" INTEGER NOT NULL, "memo" VARCHAR(100) NOT NULL, "created" BIGINT NOT NULL,'
    ' "x" DOUBLE PRECISION NOT NULL, "y" DOUBLE PRECISION NOT NULL,'
    ' "z" DOUBLE PRECISION NOT NULL, "locationID" BIGINT NOT NULL, "note" TEXT NOT NULL,'
    ' "creatorID" BIGINT NOT NULL, "folderID" BIGINT)',
    'CREATE INDEX IF NOT EXISTS "bookmarks_owner" ON "bookmarks" ("ownerID")',
    'CREATE TABLE IF NOT EXISTS "bookmarkFolders" ('
    ' "folderID" BIGINT PRIMARY KEY, "folderName" VARCHAR(255) NOT NULL,'
    ' "ownerID" BIGINT NOT NULL, "creatorID" BIGINT NOT NULL)',
    'CREATE INDEX IF NOT EXISTS "bookmarkFolders_owner" ON "bookmarkFolders" ("ownerID")',
)

#: GetBookmarks' columns, in EVEmu's order (BookmarkDB::GetBookmarks)
BOOKMARK_COLUMNS = ("bookmarkID", "ownerID", "itemID", "typeID", "memo", "created", "x", "y",
                    "z", "locationID", "note", "creatorID", "folderID")
#: GetFolders' columns (BookmarkDB::GetFolders)
FOLDER_COLUMNS = ("ownerID", "folderID", "folderName", "creatorID")

_BM_COLS = ", ".join(f'"{c}"' for c in BOOKMARK_COLUMNS)
_FOLDER_COLS = ", ".join(f'"{c}"' for c in FOLDER_COLUMNS)


class NotOwner(PermissionError):
    """A bookmark or folder that belongs to someone else (or does not exist)."""


class TooMany(ValueError):
    """The owner already has the most bookmarks (or folders) a character may keep."""


#: what one character may keep: a bound on what a client can make the database hold (EVEmu has
#: none); a soft one on PostgreSQL, where two concurrent additions may both see room for one
MAX_BOOKMARKS = 5000
MAX_FOLDERS = 100


def _room(conn, table, owner_id, limit, what):
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT COUNT(*) FROM "{table}" WHERE "ownerID" = {ph}', (owner_id,))
    if cur.fetchone()[0] >= limit:
        raise TooMany(f"at most {limit} {what} per character")


def _bm(row):
    d = dict(zip(BOOKMARK_COLUMNS, row))
    for k in ("x", "y", "z"):
        d[k] = float(d[k])
    return d


def bookmarks_of(conn, owner_id):
    """The owner's bookmarks (dicts of BOOKMARK_COLUMNS), by id."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT {_BM_COLS} FROM "bookmarks" WHERE "ownerID" = {ph} '
                'ORDER BY "bookmarkID"', (owner_id,))
    return [_bm(r) for r in cur.fetchall()]


def folders_of(conn, owner_id):
    """The owner's folders (dicts of FOLDER_COLUMNS), by id."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT {_FOLDER_COLS} FROM "bookmarkFolders" WHERE "ownerID" = {ph} '
                'ORDER BY "folderID"', (owner_id,))
    return [dict(zip(FOLDER_COLUMNS, r)) for r in cur.fetchall()]


def bookmark(conn, bookmark_id):
    """One bookmark (a dict of BOOKMARK_COLUMNS), or None."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT {_BM_COLS} FROM "bookmarks" WHERE "bookmarkID" = {ph}', (bookmark_id,))
    r = cur.fetchone()
    return None if r is None else _bm(r)


def _own_folder(conn, owner_id, folder_id, lock=False):
    if folder_id is None:
        return
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "ownerID" FROM "bookmarkFolders" WHERE "folderID" = {ph}'
                + (for_update(conn) if lock else ""), (folder_id,))
    r = cur.fetchone()
    if r is None or r[0] != owner_id:
        raise NotOwner(f"folder {folder_id} is not yours")


def _own_bookmarks(conn, owner_id, ids):
    """Lock the rows of ``ids``; NotOwner when one is someone else's.  Returns the ids that
    exist (in id order)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    found = []
    for bid in sorted(set(ids)):
        cur.execute(f'SELECT "ownerID" FROM "bookmarks" WHERE "bookmarkID" = {ph}'
                    + for_update(conn), (bid,))
        r = cur.fetchone()
        if r is None:
            continue
        if r[0] != owner_id:
            raise NotOwner(f"bookmark {bid} is not yours")
        found.append(bid)
    return found


def add_bookmark(conn, owner_id, item_id, type_id, memo, note, point, location_id, created,
                 folder_id=None):
    """A new bookmark of ``owner_id`` (also its creator); returns its id.  ``folder_id``
    must be one of the owner's folders (NotOwner)."""
    def run():
        _own_folder(conn, owner_id, folder_id, lock=True)
        _room(conn, "bookmarks", owner_id, MAX_BOOKMARKS, "bookmarks")
        bid = next_id(conn, "bookmark", 1, 'SELECT MAX("bookmarkID") FROM "bookmarks"')
        ph = _placeholder(conn)
        x, y, z = (float(v) for v in point)
        conn.cursor().execute(
            f'INSERT INTO "bookmarks" ({_BM_COLS}) VALUES ({", ".join([ph] * 13)})',
            (bid, owner_id, item_id, type_id, memo, created, x, y, z, location_id, note,
             owner_id, folder_id))
        return bid
    return _tx(conn, run)


def update_bookmark(conn, owner_id, bookmark_id, memo, note, folder_id=None):
    """New label, note and folder of one of the owner's bookmarks (NotOwner otherwise)."""
    def run():
        if not _own_bookmarks(conn, owner_id, [bookmark_id]):
            raise NotOwner(f"no bookmark {bookmark_id}")
        _own_folder(conn, owner_id, folder_id, lock=True)
        ph = _placeholder(conn)
        conn.cursor().execute(
            f'UPDATE "bookmarks" SET "memo" = {ph}, "note" = {ph}, "folderID" = {ph} '
            f'WHERE "bookmarkID" = {ph}', (memo, note, folder_id, bookmark_id))
    _tx(conn, run)


def delete_bookmarks(conn, owner_id, ids):
    """Delete the owner's bookmarks ``ids`` (ids that do not exist are skipped; one that is
    someone else's refuses the whole call).  Returns the ids deleted."""
    def run():
        found = _own_bookmarks(conn, owner_id, ids)
        ph = _placeholder(conn)
        cur = conn.cursor()
        for bid in found:
            cur.execute(f'DELETE FROM "bookmarks" WHERE "bookmarkID" = {ph}', (bid,))
        return found
    return _tx(conn, run)


def create_folder(conn, owner_id, name):
    """A new folder of ``owner_id``: its row (a dict of FOLDER_COLUMNS)."""
    def run():
        _room(conn, "bookmarkFolders", owner_id, MAX_FOLDERS, "bookmark folders")
        fid = next_id(conn, "bookmarkFolder", 1,
                      'SELECT MAX("folderID") FROM "bookmarkFolders"')
        ph = _placeholder(conn)
        conn.cursor().execute(f'INSERT INTO "bookmarkFolders" ({_FOLDER_COLS}) VALUES '
                              f'({ph}, {ph}, {ph}, {ph})', (owner_id, fid, name, owner_id))
        return {"ownerID": owner_id, "folderID": fid, "folderName": name,
                "creatorID": owner_id}
    return _tx(conn, run)


def update_folder(conn, owner_id, folder_id, name):
    def run():
        _own_folder(conn, owner_id, folder_id, lock=True)
        ph = _placeholder(conn)
        conn.cursor().execute(f'UPDATE "bookmarkFolders" SET "folderName" = {ph} WHERE '
                              f'"folderID" = {ph}', (name, folder_id))
    _tx(conn, run)


def delete_folder(conn, owner_id, folder_id):
    """Delete a folder and the bookmarks in it (the client removes them from its list with
    the ids returned, as EVEmu's DeleteFolder answers them)."""
    def run():
        _own_folder(conn, owner_id, folder_id, lock=True)
        ph = _placeholder(conn)
        cur = conn.cursor()
        cur.execute(f'SELECT "bookmarkID" FROM "bookmarks" WHERE "folderID" = {ph} AND '
                    f'"ownerID" = {ph} ORDER BY "bookmarkID"', (folder_id, owner_id))
        ids = [r[0] for r in cur.fetchall()]
        cur.execute(f'DELETE FROM "bookmarks" WHERE "folderID" = {ph} AND "ownerID" = {ph}',
                    (folder_id, owner_id))
        cur.execute(f'DELETE FROM "bookmarkFolders" WHERE "folderID" = {ph}', (folder_id,))
        return ids
    return _tx(conn, run)


def move_to_folder(conn, owner_id, folder_id, ids):
    """Put the owner's bookmarks ``ids`` in folder ``folder_id`` (None: out of any folder).
    Returns the ids moved."""
    def run():
        _own_folder(conn, owner_id, folder_id, lock=True)
        found = _own_bookmarks(conn, owner_id, ids)
        ph = _placeholder(conn)
        cur = conn.cursor()
        for bid in found:
            cur.execute(f'UPDATE "bookmarks" SET "folderID" = {ph} WHERE "bookmarkID" = {ph}',
                        (folder_id, bid))
        return found
    return _tx(conn, run)
