"""Bookmarks over loopback: the ``bookmark`` service (persisted, EVEmu's shapes), warping and
flying to a bookmark with ``beyonce``, and every refusal (someone else's bookmark, another
system, malformed arguments).

Reply shapes are checked against evemu_Crucible src/eve-server/system/BookmarkService.cpp
(Handle GetBookmarks / BookmarkLocation / DeleteBookmarks / CreateFolder / UpdateFolder /
DeleteFolder / MoveBookmarksToFolder), BookmarkDB.cpp (GetBookmarks / GetFolders /
GetBookmarksInFolder: the KeyVal keys), packets/Bookmarks.xmlp (Rsp_BookmarkLocation,
Rsp_CreateFolder) and ship/BeyonceService.cpp (BeyonceBound::CmdWarpToStuff 'bookmark',
CmdGotoBookmark)."""
import logging

import pytest

from server_helpers import bounded, running_server
from test_space_server import (DEST_SYSTEM, GATE, SYSTEM, system, tick, undocked, updates)
from test_world_items import STATION, create_and_select, login

from evemu.client import RemoteError
from evemu.db import bookmarks as bmdb
from evemu.services.bookmark import NOT_CREATOR
from evemu.services.space import SpaceWorld
from evemu.wire.marshal import Instance, ObjectEx1, Token
from evemu.world.space import physics

REGION = 10000064                   # Essence (Duripant's region)
OTHER_STATION = 60004420            # a station of another system
STATION_TYPE = 57                   # the academy's type (Gallente Station Hub)
BOOKMARK_KEYS = {b"bookmarkID", b"ownerID", b"itemID", b"typeID", b"memo", b"created", b"x",
                 b"y", b"z", b"locationID", b"note", b"creatorID", b"folderID"}
FOLDER_KEYS = {b"ownerID", b"folderID", b"folderName", b"creatorID"}


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        SpaceWorld.of(srv).autostart = False
        yield srv


def py_set(ids):
    """A Python set as the client marshals it (EVEmu reads header[1][0] as the list)."""
    return ObjectEx1((Token("__builtin__.set"), (list(ids),)))


def kv(v):
    assert isinstance(v, Instance) and v.name == "util.KeyVal", v
    return v.state


def refused(c, key, method, *args, **kw):
    with pytest.raises(RemoteError) as e:
        c.call("bookmark", method, *args, **kw)
    assert e.value.msg == key, (method, args, e.value.msg, e.value.values)
    return e.value


# ------------------------------------------------------------------------- docked
def test_bookmarks_of_a_station_a_system_and_a_region(server):
    c = login(server, "marker")
    try:
        cid, ship = create_and_select(c, "Mark Er")
        assert c.call("bookmark", "GetBookmarks") == ([], [])
        rsp = c.call("bookmark", "BookmarkLocation", STATION, cid, "Academy", "home")
        # Rsp_BookmarkLocation: (bookmarkID, itemID, typeID, x, y, z, locationID)
        assert isinstance(rsp, tuple) and len(rsp) == 7
        b_station, item, type_id, x, y, z, loc = rsp
        assert (item, loc) == (STATION, SYSTEM)
        assert type_id == STATION_TYPE
        assert (x, y, z) == (-373473239040.0, 42729922560.0, -1415498342400.0)
        # a solar system of the map: itemID 0 on the wire is None (none_marker="0")
        b_sys, item, type_id, x, y, z, loc = c.call("bookmark", "BookmarkLocation", DEST_SYSTEM,
                                                    cid, "Renyn", "")
        assert (item, type_id, (x, y, z), loc) == (None, 5, (0.0, 0.0, 0.0), DEST_SYSTEM)
        b_reg, item, type_id, *_p, loc = c.call("bookmark", "BookmarkLocation", REGION, cid,
                                                "Essence", "", folderID=None)
        assert (item, type_id, loc) == (REGION, 3, REGION)
        assert b_station < b_sys < b_reg
        marks, folders = c.call("bookmark", "GetBookmarks")
        assert folders == []
        assert [kv(m)[b"bookmarkID"] for m in marks] == [b_station, b_sys, b_reg]
        for m in marks:
            assert set(kv(m)) == BOOKMARK_KEYS
        m = kv(marks[0])
        assert (m[b"ownerID"], m[b"creatorID"], m[b"itemID"], m[b"typeID"],
                m[b"locationID"], m[b"folderID"]) == (cid, cid, STATION, STATION_TYPE, SYSTEM,
                                                      None)
        assert m[b"memo"] == b"Academy" and m[b"note"] == b"home" and m[b"created"] > 0
        assert kv(marks[1])[b"itemID"] == DEST_SYSTEM      # stored itemID = locationID
        # persisted
        assert len(server.db.run(bmdb.bookmarks_of, cid)) == 3
    finally:
        c.close()


def test_bookmark_refusals(server, caplog):
    a = login(server, "owner_a")
    b = login(server, "owner_b")
    try:
        cid_a, ship_a = create_and_select(a, "Own Era")
        cid_b, _ = create_and_select(b, "Own Erb")
        theirs = b.call("bookmark", "BookmarkLocation", STATION, cid_b, "B's", "")[0]
        mine = a.call("bookmark", "BookmarkLocation", STATION, cid_a, "A's", "")[0]
        with caplog.at_level(logging.WARNING, logger="evemu"):
            # someone else's bookmark, or a bookmark for someone else
            refused(a, NOT_CREATOR, "BookmarkLocation", STATION, cid_b, "for B", "")
            refused(a, NOT_CREATOR, "UpdateBookmark", theirs, cid_a, "stolen", "")
            refused(a, NOT_CREATOR, "UpdateBookmark", theirs, cid_b, "stolen", "")
            refused(a, NOT_CREATOR, "UpdateBookmark", 987654, cid_a, "none", "")
            refused(a, NOT_CREATOR, "DeleteBookmarks", py_set([mine, theirs]))
            refused(a, NOT_CREATOR, "MoveBookmarksToFolder", None, [theirs])
            folder_b = kv(b.call("bookmark", "CreateFolder", "B's folder"))[b"folderID"]
            refused(a, NOT_CREATOR, "UpdateFolder", folder_b, "mine")
            refused(a, NOT_CREATOR, "DeleteFolder", folder_b)
            refused(a, NOT_CREATOR, "MoveBookmarksToFolder", folder_b, [mine])
            refused(a, NOT_CREATOR, "BookmarkLocation", STATION, cid_a, "x", "",
                    folderID=folder_b)
            # what cannot be bookmarked from here
            refused(a, "CustomError", "BookmarkLocation", ship_a, cid_a, "docked", "")
            refused(a, "CustomError", "BookmarkLocation", OTHER_STATION, cid_a, "far", "")
            refused(a, "CustomError", "BookmarkLocation", 123456789, cid_a, "what", "")
            refused(a, "CustomError", "BookmarkLocation", GATE, cid_a, "gate", "")
            # malformed arguments
            for args in ((STATION, cid_a, "x" * 101, ""), (STATION, cid_a, 5, ""),
                         (STATION, cid_a, "m", "n" * 3901), (STATION, cid_a, "m", [1]),
                         ("st", cid_a, "m", ""), (STATION, None, "m", ""),
                         (STATION, cid_a, "m", "", "folder"), (2 ** 70, cid_a, "m", ""),
                         (True, cid_a, "m", ""), (STATION, cid_a, "a\x00b", "")):
                refused(a, "CustomError", "BookmarkLocation", *args)
            for ids in ("1,2", 7, {1: 2}, [1, "2"], list(range(1001)),
                        ObjectEx1((Token("os.system"), (["rm -rf /"],))),
                        ObjectEx1((Token("__builtin__.set"), ("nope",)))):
                refused(a, "CustomError", "DeleteBookmarks", ids)
            refused(a, "CustomError", "CreateFolder", "f" * 101)
            refused(a, "CustomError", "CreateFolder", 3)
            refused(a, "CustomError", "UpdateBookmark", mine, cid_a, "m", "", "f")
            refused(a, "CustomError", "BookmarkLocation")                  # arity
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        # nothing changed
        assert [kv(m)[b"memo"] for m in b.call("bookmark", "GetBookmarks")[0]] == [b"B's"]
        assert [kv(m)[b"bookmarkID"] for m in a.call("bookmark", "GetBookmarks")[0]] == [mine]
        assert len(b.call("bookmark", "GetBookmarks")[1]) == 1
        # deleting nothing, or ids that are gone, is fine (EVEmu answers None)
        assert a.call("bookmark", "DeleteBookmarks", None) is None
        assert a.call("bookmark", "DeleteBookmarks", py_set([555555])) is None
    finally:
        a.close()
        b.close()


def test_update_folders_move_and_delete(server):
    c = login(server, "folders")
    try:
        cid, _ = create_and_select(c, "Fold Er")
        f = c.call("bookmark", "CreateFolder", "Stations")
        # Rsp_CreateFolder: util.KeyVal(ownerID, folderID, folderName, creatorID)
        f = kv(f)
        assert set(f) == FOLDER_KEYS
        assert (f[b"ownerID"], f[b"creatorID"], f[b"folderName"]) == (cid, cid, b"Stations")
        fid = f[b"folderID"]
        b1 = c.call("bookmark", "BookmarkLocation", STATION, cid, "one", "", folderID=fid)[0]
        b2 = c.call("bookmark", "BookmarkLocation", STATION, cid, "two", "", fid)[0]
        b3 = c.call("bookmark", "BookmarkLocation", DEST_SYSTEM, cid, "three", "")[0]
        marks, folders = c.call("bookmark", "GetBookmarks")
        assert [set(kv(x)) for x in folders] == [FOLDER_KEYS]
        assert {kv(m)[b"bookmarkID"]: kv(m)[b"folderID"] for m in marks} == {
            b1: fid, b2: fid, b3: None}
        assert c.call("bookmark", "UpdateFolder", fid, "Docks") is True
        assert c.call("bookmark", "UpdateBookmark", b1, cid, "uno", "first",
                      folderID=None) is None
        got = {kv(m)[b"bookmarkID"]: kv(m) for m in c.call("bookmark", "GetBookmarks")[0]}
        assert (got[b1][b"memo"], got[b1][b"note"], got[b1][b"folderID"]) == (
            b"uno", b"first", None)
        assert kv(c.call("bookmark", "GetBookmarks")[1][0])[b"folderName"] == b"Docks"
        # unicode labels are kept (sent back as UTF-8 byte strings, like EVEmu's PyString)
        c.call("bookmark", "UpdateBookmark", b2, cid, "Pâté", "ß", fid)
        got = {kv(m)[b"bookmarkID"]: kv(m) for m in c.call("bookmark", "GetBookmarks")[0]}
        assert got[b2][b"memo"].decode("utf-8") == "Pâté"
        # MoveBookmarksToFolder answers the folder's bookmarks as util.KeyVal(bookmarkID,
        # folderID) (BookmarkDB::GetBookmarksInFolder)
        rows = c.call("bookmark", "MoveBookmarksToFolder", fid, py_set([b3]))
        assert [kv(r) for r in rows] == [{b"bookmarkID": i, b"folderID": fid}
                                         for i in (b2, b3)]
        rows = c.call("bookmark", "MoveBookmarksToFolder", 0, [b1])
        assert [kv(r) for r in rows] == [{b"bookmarkID": b1, b"folderID": None}]
        # DeleteFolder answers [util.KeyVal(bookmarkID)] of the bookmarks that went with it
        rows = c.call("bookmark", "DeleteFolder", fid)
        assert [kv(r) for r in rows] == [{b"bookmarkID": b2}, {b"bookmarkID": b3}]
        marks, folders = c.call("bookmark", "GetBookmarks")
        assert folders == [] and [kv(m)[b"bookmarkID"] for m in marks] == [b1]
        assert c.call("bookmark", "DeleteBookmarks", py_set([b1])) is None
        assert c.call("bookmark", "GetBookmarks") == ([], [])
    finally:
        c.close()


# ------------------------------------------------------------------------- in space
def test_bookmark_a_spot_in_space_then_warp_and_fly_to_it(server):
    c, cid, ship, park, _ = undocked(server, "spotter", "Spot Ter")
    try:
        s = system(server)
        tick(server, c, n=3)
        here = s.park.get(ship).position
        bid, item, type_id, x, y, z, loc = c.call("bookmark", "BookmarkLocation", ship, cid,
                                                  "spot", "")
        assert (item, type_id, loc) == (None, 5, SYSTEM)
        assert (x, y, z) == here
        row = kv(c.call("bookmark", "GetBookmarks")[0][0])
        assert (row[b"itemID"], row[b"locationID"]) == (SYSTEM, SYSTEM)
        st_bid = c.call("bookmark", "BookmarkLocation", STATION, cid, "dock", "")[0]
        # move the ship 2,000 km away (as if it had flown there), then warp back
        b = s.park.get(ship)
        s.park._set_vec(s.park.pos, b.slot, (here[0] + 2.0e6, here[1], here[2]))
        c.call_bound(park, "CmdStop")
        tick(server, c, n=60)
        updates(c)
        assert c.call_bound(park, "CmdWarpToStuff", "bookmark", bid, minRange=0) is None
        stamp = s.stamp
        tick(server, c)
        warps = [(st, a) for st, n, a in updates(c) if n == b"WarpTo"]
        assert warps and warps[0][0] == stamp
        assert warps[0][1][0] == ship and warps[0][1][1:4] == here and warps[0][1][4] == 0
        for _ in range(200):
            if s.park.get(ship).warp is not None:
                break
            tick(server)
        for _ in range(200):
            if s.park.get(ship).warp is None:
                break
            tick(server)
        landed = s.park.get(ship).position
        assert physics.norm(physics.sub(landed, here)) < 1.0
        # too close to warp to it now: the engine's refusal
        with pytest.raises(RemoteError) as e:
            c.call_bound(park, "CmdWarpToStuff", "bookmark", bid)
        assert e.value.msg == "CustomNotify"
        # a station bookmark warps to the station (as 'item' does), stopping minRange short
        s.park._set_vec(s.park.pos, b.slot, (here[0], here[1] + 2.0e6, here[2]))
        tick(server, c, n=60)
        updates(c)
        assert c.call_bound(park, "CmdWarpToStuff", b"bookmark", st_bid,
                            minRange=10000) is None
        tick(server, c)
        st = s.statics[STATION]
        warps = [a for _s, n, a in updates(c) if n == b"WarpTo"]
        assert warps[0][1:4] == st.position
        assert warps[0][4] == int(10000 + st.radius + s.park.get(ship).radius)
    finally:
        c.close()


def test_goto_bookmark(server):
    c, cid, ship, park, _ = undocked(server, "goer", "Go Er")
    try:
        s = system(server)
        here = s.park.get(ship).position
        bid = c.call("bookmark", "BookmarkLocation", ship, cid, "here", "")[0]
        st_bid = c.call("bookmark", "BookmarkLocation", STATION, cid, "dock", "")[0]
        tick(server, c, n=5)
        updates(c)
        stamp = s.stamp
        assert c.call_bound(park, "CmdGotoBookmark", bid) is None
        tick(server, c)
        assert (stamp, b"GotoPoint", (ship, *here)) in updates(c)
        stamp = s.stamp
        assert c.call_bound(park, "CmdGotoBookmark", st_bid) is None
        tick(server, c)
        assert (stamp, b"GotoPoint", (ship, *s.statics[STATION].position)) in updates(c)
    finally:
        c.close()


def test_warp_refusals_someone_elses_or_another_systems_bookmark(server, caplog):
    a, cid_a, ship_a, park_a, _ = undocked(server, "warper_a", "Warp Era")
    b = login(server, "warper_b")
    try:
        cid_b, _ = create_and_select(b, "Warp Erb")
        theirs = b.call("bookmark", "BookmarkLocation", STATION, cid_b, "B's", "")[0]
        far = a.call("bookmark", "BookmarkLocation", DEST_SYSTEM, cid_a, "Renyn", "")[0]
        reg = a.call("bookmark", "BookmarkLocation", REGION, cid_a, "Essence", "")[0]
        s = system(server)
        before = s.park.get(ship_a).position
        tick(server, a)
        updates(a)
        with caplog.at_level(logging.WARNING, logger="evemu"):
            for method, args in (("CmdWarpToStuff", ("bookmark", theirs)),
                                 ("CmdWarpToStuff", ("bookmark", far)),
                                 ("CmdWarpToStuff", ("bookmark", reg)),
                                 ("CmdWarpToStuff", ("bookmark", 424242)),
                                 ("CmdWarpToStuff", ("bookmark", "x")),
                                 ("CmdWarpToStuff", ("bookmark", 2 ** 80)),
                                 ("CmdWarpToStuff", ("bookmark", None)),
                                 ("CmdGotoBookmark", (theirs,)),
                                 ("CmdGotoBookmark", (far,)),
                                 ("CmdGotoBookmark", (reg,)),
                                 ("CmdGotoBookmark", (True,)),
                                 ("CmdGotoBookmark", ([1],))):
                with pytest.raises(RemoteError) as e:
                    a.call_bound(park_a, method, *args)
                assert e.value.msg == "CustomNotify", (method, args)
            with pytest.raises(RemoteError) as e:
                a.call_bound(park_a, "CmdGotoBookmark")
            assert e.value.msg == "CustomError"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        tick(server, a)
        assert updates(a) == []                       # nothing was commanded
        assert s.park.get(ship_a).warp is None
        assert physics.norm(physics.sub(s.park.get(ship_a).position, before)) < 1000.0
    finally:
        a.close()
        b.close()


def test_the_bookmark_and_folder_limits_are_the_clients_custom_error(server, monkeypatch):
    from evemu.db import bookmarks as bmdb
    monkeypatch.setattr(bmdb, "MAX_BOOKMARKS", 2)
    monkeypatch.setattr(bmdb, "MAX_FOLDERS", 1)
    c = login(server, "hoarder")
    try:
        cid, ship = create_and_select(c, "Hoard Er")
        for n in range(2):
            c.call("bookmark", "BookmarkLocation", STATION, cid, f"b{n}", "")
        e = refused(c, "CustomError", "BookmarkLocation", STATION, cid, "one more", "")
        assert "at most 2 bookmarks" in repr(e.values)
        c.call("bookmark", "CreateFolder", "f")
        refused(c, "CustomError", "CreateFolder", "g")
        bms, folders = c.call("bookmark", "GetBookmarks")
        assert len(bms) == 2 and len(folders) == 1
    finally:
        c.close()
