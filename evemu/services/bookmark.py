"""``bookmark``: a character's bookmarks and folders, persisted (:mod:`evemu.db.bookmarks`).

Shapes follow evemu_Crucible ``src/eve-server/system/BookmarkService.cpp`` and
``BookmarkDB.cpp`` (read for facts):

* ``GetBookmarks()`` -> ``(bookmarks, folders)``: two lists of ``util.KeyVal``, a bookmark's
  keys ``bookmarkID, ownerID, itemID, typeID, memo, created, x, y, z, locationID, note,
  creatorID, folderID`` (folderID None outside a folder), a folder's ``ownerID, folderID,
  folderName, creatorID`` (BookmarkDB::GetBookmarks / GetFolders).
* ``BookmarkLocation(itemID, ownerID, memo, comment, folderID=None)`` -> the tuple
  ``(bookmarkID, itemID, typeID, x, y, z, locationID)`` (Rsp_BookmarkLocation; itemID None
  when it is 0, i.e. for typeID 5).  ``itemID`` is the character's own ship in space (a
  point: typeID 5, the ship's position, itemID = locationID = the system), a station of the
  system the character is in (typeID the station's type, its position) or a region,
  constellation or solar system of the map (typeID 3 / 4 / 5, itemID = locationID = it).
* ``DeleteBookmarks(bookmarkIDs)`` (a set: ``ObjectEx1(__builtin__.set, ([ids],))``) -> None.
* ``UpdateBookmark(bookmarkID, ownerID, memo, comment, folderID=None)`` -> None (EVEmu has
  this as ``corpBookmarkMgr.UpdatePlayerBookmark``, CorpBookmarkMgr.cpp).
* ``CreateFolder(name)`` -> ``util.KeyVal(ownerID, folderID, folderName, creatorID)``
  (Rsp_CreateFolder); ``UpdateFolder(folderID, name)`` -> True; ``DeleteFolder(folderID)``
  -> ``[util.KeyVal(bookmarkID)]`` of the bookmarks that went with it;
  ``MoveBookmarksToFolder(folderID, bookmarkIDs)`` -> ``[util.KeyVal(bookmarkID,
  folderID)]`` of the folder's bookmarks (BookmarkDB::GetBookmarksInFolder).

EVEmu checks no owner; here a bookmark or folder of someone else is refused with the
client's ``UserError('CannotModifyBookmarkNotCreator')`` (a message of the Crucible client,
named in EVEmu's BookmarkService.h) and nothing changes; malformed arguments are a
``CustomError``.  Not done: scan-result bookmarks, vouchers (copies), corporation bookmarks.
"""
import logging

from evemu.db import bookmarks as bmdb
from evemu.db import filetime_now
from evemu.db import inventory as inv
from evemu.wire.marshal import ObjectEx, Token

from . import CustomError, Service, UserError, exposed
from .inventory import _int, need_character
from .rowsets import keyval

log = logging.getLogger("evemu.services.bookmark")

TYPE_REGION, TYPE_CONSTELLATION, TYPE_SOLAR_SYSTEM = 3, 4, 5
MAX_MEMO, MAX_NOTE, MAX_FOLDER_NAME = 100, 3900, 100
MAX_IDS = 1000                       # ids in one DeleteBookmarks / MoveBookmarksToFolder
NOT_CREATOR = "CannotModifyBookmarkNotCreator"

__all__ = ["BookmarkService", "bookmark_row", "NOT_CREATOR"]


def _text(v, what, limit):
    """A client-supplied label (Py2 str or unicode) as text of at most ``limit`` characters."""
    if v is None:
        return ""
    if isinstance(v, bytes):
        try:
            v = v.decode("utf-8")
        except UnicodeDecodeError:
            v = v.decode("latin-1")
    if not isinstance(v, str):
        raise CustomError(f"{what} must be text")
    if len(v) > limit:
        raise CustomError(f"{what} is longer than {limit} characters")
    if "\x00" in v:
        raise CustomError(f"{what} must not hold NUL characters")
    return v


def _folder(v):
    """A folder argument: None or 0 (no folder), else a folder id."""
    if v is None or (isinstance(v, int) and not isinstance(v, bool) and v == 0):
        return None
    return _int(v, "folderID")


def _ids(v):
    """Bookmark ids as the client sends them: a Python set (marshalled as
    ``ObjectEx1((Token('__builtin__.set'), ([ids],)))``, which EVEmu reads as
    header[1][0]), or a list/tuple; None is no ids."""
    if v is None:
        return []
    if isinstance(v, ObjectEx):
        h = v.header
        if (isinstance(h, tuple) and len(h) >= 2 and isinstance(h[0], Token)
                and h[0].name in ("__builtin__.set", "__builtin__.frozenset")
                and isinstance(h[1], tuple) and len(h[1]) == 1
                and isinstance(h[1][0], (list, tuple))):
            v = h[1][0]
        else:
            raise CustomError("bookmark ids must be a set or a list")
    if not isinstance(v, (list, tuple)):
        raise CustomError("bookmark ids must be a set or a list")
    if len(v) > MAX_IDS:
        raise CustomError(f"at most {MAX_IDS} bookmarks at once")
    return [_int(x, "bookmarkID") for x in v]


def _wire_text(s):
    return (s or "").encode("utf-8")


def bookmark_row(r):
    """GetBookmarks' util.KeyVal of a bookmark row (BookmarkDB::GetBookmarks)."""
    return keyval({"bookmarkID": r["bookmarkID"], "ownerID": r["ownerID"],
                   "itemID": r["itemID"], "typeID": r["typeID"], "memo": _wire_text(r["memo"]),
                   "created": r["created"], "x": r["x"], "y": r["y"], "z": r["z"],
                   "locationID": r["locationID"], "note": _wire_text(r["note"]),
                   "creatorID": r["creatorID"], "folderID": r["folderID"] or None})


def _folder_row(f):
    return keyval({"ownerID": f["ownerID"], "folderID": f["folderID"],
                   "folderName": _wire_text(f["folderName"]), "creatorID": f["creatorID"]})


def map_group(conn, item_id):
    """The mapDenormalize group of a region (3), constellation (4) or solar system (5), or
    None."""
    from evemu.db.importer import _placeholder
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "groupID" FROM "mapDenormalize" WHERE "itemID" = {ph} AND '
                f'"groupID" IN ({TYPE_REGION}, {TYPE_CONSTELLATION}, {TYPE_SOLAR_SYSTEM})',
                (item_id,))
    r = cur.fetchone()
    return None if r is None else int(r[0])


class BookmarkService(Service):
    """``bookmark`` (EVEmu BookmarkService)."""

    name = "bookmark"
    access = None

    def _write(self, fn, *args):
        try:
            return self.db.run(fn, *args)
        except bmdb.NotOwner:
            raise UserError(NOT_CREATOR) from None
        except bmdb.TooMany as e:
            raise CustomError(f"You cannot keep more: {e}.") from None

    def _owner(self, call, owner_id):
        cid = need_character(call)
        if _int(owner_id, "ownerID") != cid:
            raise UserError(NOT_CREATOR)
        return cid

    @exposed
    def GetBookmarks(self, call):
        cid = need_character(call)
        rows = self.db.run(bmdb.bookmarks_of, cid)
        folders = self.db.run(bmdb.folders_of, cid)
        return ([bookmark_row(r) for r in rows], [_folder_row(f) for f in folders])

    def _where(self, call, item_id):
        """(itemID, typeID, (x, y, z), locationID) of a new bookmark of ``item_id``."""
        session = call.session
        if item_id == session.get("shipid") and session.get("solarsystemid") is not None:
            from .space import SpaceWorld
            world = SpaceWorld.of(call.connection.server)
            pilot = world.pilots.get(call.connection)
            system = world.space.systems.get(pilot.control.system_id) if pilot else None
            ball = system.park.get(pilot.ship_id) if system is not None else None
            if ball is None:
                raise CustomError("Your ship is not in space.")
            return system.id, TYPE_SOLAR_SYSTEM, ball.position, system.id
        st = self.db.run(inv.station_info, item_id)
        if st is not None:
            here = session.get("solarsystemid2") or session.get("solarsystemid")
            if st["solarSystemID"] != here:
                raise CustomError("That station is not in your solar system.")
            return (item_id, st["stationTypeID"],
                    (float(st["x"]), float(st["y"]), float(st["z"])), st["solarSystemID"])
        group = self.db.run(map_group, item_id)
        if group is not None:
            return item_id, group, (0.0, 0.0, 0.0), item_id
        raise CustomError("You cannot bookmark that.")

    @exposed
    def BookmarkLocation(self, call, itemID, ownerID, memo, comment, folderID=None):
        item_id = _int(itemID, "itemID")
        memo = _text(memo, "memo", MAX_MEMO)
        note = _text(comment, "comment", MAX_NOTE)
        folder = _folder(folderID)
        cid = self._owner(call, ownerID)
        item, type_id, point, location = self._where(call, item_id)
        bid = self._write(bmdb.add_bookmark, cid, item, type_id, memo, note, point, location,
                          filetime_now(), folder)
        log.info("%s: character %d bookmarked %d (type %d) in %d as %d", call.connection,
                 cid, item, type_id, location, bid)
        return (bid, None if type_id == TYPE_SOLAR_SYSTEM else item, type_id,
                float(point[0]), float(point[1]), float(point[2]), location)

    @exposed
    def DeleteBookmarks(self, call, bookmarkIDs=None):
        cid = need_character(call)
        ids = _ids(bookmarkIDs)
        if ids:
            self._write(bmdb.delete_bookmarks, cid, ids)
        return None

    @exposed
    def UpdateBookmark(self, call, bookmarkID, ownerID, memo, comment, folderID=None):
        bid = _int(bookmarkID, "bookmarkID")
        memo = _text(memo, "memo", MAX_MEMO)
        note = _text(comment, "comment", MAX_NOTE)
        folder = _folder(folderID)
        cid = self._owner(call, ownerID)
        self._write(bmdb.update_bookmark, cid, bid, memo, note, folder)
        return None

    @exposed
    def CreateFolder(self, call, folderName):
        cid = need_character(call)
        name = _text(folderName, "folder name", MAX_FOLDER_NAME)
        return _folder_row(self._write(bmdb.create_folder, cid, name))

    @exposed
    def UpdateFolder(self, call, folderID, folderName):
        cid = need_character(call)
        fid = _int(folderID, "folderID")
        name = _text(folderName, "folder name", MAX_FOLDER_NAME)
        self._write(bmdb.update_folder, cid, fid, name)
        return True

    @exposed
    def DeleteFolder(self, call, folderID):
        cid = need_character(call)
        ids = self._write(bmdb.delete_folder, cid, _int(folderID, "folderID"))
        return [keyval({"bookmarkID": i}) for i in ids]

    @exposed
    def MoveBookmarksToFolder(self, call, folderID, bookmarkIDs=None):
        cid = need_character(call)
        folder = _folder(folderID)
        ids = _ids(bookmarkIDs)
        self._write(bmdb.move_to_folder, cid, folder, ids)
        rows = self.db.run(bmdb.bookmarks_of, cid)
        return [keyval({"bookmarkID": r["bookmarkID"], "folderID": folder})
                for r in rows if r["folderID"] == folder]
