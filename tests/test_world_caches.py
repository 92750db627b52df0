"""Login caches (objectCaching), bulkMgr and config over loopback: shapes as EVEmu's handlers
build them, built from the shipped starter data; versions stable across restarts."""
import binascii

import pytest

from server_helpers import SHARED_FRAMES, bounded, needs_shared, running_server

from evemu.client import Client, RemoteError
from evemu.db import Database
from evemu.machonet import constants as C
from evemu.wire import marshal
from evemu.wire.marshal import (DBTYPE_BOOL, DBTYPE_I2, DBTYPE_I8, DBTYPE_R4,
                                DBTYPE_R8, DBTYPE_UI1, DBTYPE_WSTR, Instance, ObjectEx2,
                                PackedRow, Token)
from evemu.world import cachables


@pytest.fixture
def client():
    with bounded(120), running_server() as server:
        with Client.connect(server.address) as c:
            c.login("cacher", "pw")
            c.server = server
            yield c


def fetch(c, object_id):
    obj = c.call("objectCaching", "GetCachableObject", 0, object_id, (0, 0), C.CACHE_NODE_ID)
    assert type(obj) is Instance and obj.name == "objectCaching.CachedObject"
    (stamp, version), none, node, shared, blob, compressed, oid = obj.state
    assert none is None and node == C.CACHE_NODE_ID and shared == 1 and oid == object_id
    assert binascii.crc32(blob) == version & 0xFFFFFFFF
    assert compressed == (1 if bytes(blob[:1]) == b"\x78" else 0)
    return marshal.loads(bytes(blob)), (stamp, version)


def columns(value):
    if isinstance(value, ObjectEx2):
        return list(zip(value.header[1][b"header"].names,
                        [t for _, t in value.header[1][b"header"].columns]))
    return list(zip(value[0].descriptor.names, [t for _, t in value[0].descriptor.columns]))


def test_every_login_and_creation_cachable_is_served(client):
    for name in (cachables.LOGIN_CACHABLES + cachables.CHAR_CREATION_CACHABLES +
                 cachables.CHAR_NEW_EXTRA_CACHABLES + cachables.APPEARANCE_CACHABLES):
        value, _ = fetch(client, name.encode())
        if cachables.SPECS[name]["kind"] == "crowset":
            assert type(value) is ObjectEx2 and value.header[0] == (Token("dbutil.CRowset"),)
            assert all(type(r) is PackedRow for r in value.list)
        else:
            assert type(value) is list and value and all(type(r) is PackedRow for r in value)
        want = [c.split("=")[0].split(":")[0] for c in cachables.SPECS[name]["columns"]]
        if isinstance(value, ObjectEx2):
            assert list(value.header[1][b"header"].names) == want, name


def test_login_cachables_match_evemu_list():
    assert len(cachables.LOGIN_CACHABLES) == 55 and len(set(cachables.LOGIN_CACHABLES)) == 55
    assert set(cachables.LOGIN_CACHABLES) <= set(cachables.SPECS)


def test_column_types_follow_the_mysql_types(client):
    types, _ = fetch(client, b"config.BulkData.types")
    cols = dict(columns(types))
    assert cols["typeID"] == DBTYPE_I2 and cols["radius"] == DBTYPE_R4
    assert cols["typeName"] == DBTYPE_WSTR and cols["published"] == DBTYPE_BOOL
    assert cols["raceID"] == DBTYPE_UI1
    rows = {r.typeID: r for r in types.list}
    assert rows[588].typeName == "Reaper" and rows[670].typeName == "Capsule"
    assert {596, 601, 606, 588, 670, 34, 3651} <= set(rows)
    attrs, _ = fetch(client, b"config.BulkData.dgmtypeattribs")
    assert columns(attrs)[2] == ("value", DBTYPE_R8)
    races = fetch(client, b"config.Races")[0]
    assert [c for c in columns(races)][-1] == ("dataID", DBTYPE_I8)   # "0 AS dataID"
    assert {r.raceID: r.raceName for r in races}[1] == "Caldari"
    units = fetch(client, b"config.Units")[0]
    assert columns(units) == [("unitID", DBTYPE_UI1), ("unitName", DBTYPE_WSTR),
                              ("displayName", DBTYPE_WSTR)]
    flags = fetch(client, b"config.Flags")[0]
    assert [n for n, _ in columns(flags)] == ["flagID", "flagName", "flagLabel", "flagGroup",
                                              "description", "orderID"]
    assert {r.flagID: r.flagName for r in flags}[4] == "Hangar"


@needs_shared
def test_categories_have_the_descriptor_evemu_sent():
    theirs = marshal.loads((SHARED_FRAMES / "17-s2c-objectCaching.GetCachableObject-rsp.bin")
                           .read_bytes()).state[4][0].value
    theirs = marshal.loads(bytes(theirs.state[4]))
    from evemu.services.rowsets import crowset
    db = Database(":memory:")
    try:
        ours = crowset(*db.run(cachables.build, "config.BulkData.categories")[1:])
    finally:
        db.close()
    assert ours.header == theirs.header
    assert [r.categoryID for r in ours.list] == [r.categoryID for r in theirs.list]
    assert ([r.categoryName for r in ours.list] == [r.categoryName for r in theirs.list])


def test_hints_are_stable_across_restarts(tmp_path):
    path = tmp_path / "stable.sqlite3"
    got = []
    for _ in range(2):
        with bounded(60), running_server(db=Database(path)) as server:
            with Client.connect(server.address) as c:
                c.login("restarter", "pw")
                info = c.call("charUnboundMgr", "GetCharCreationInfo")
                _, ver = fetch(c, b"config.BulkData.groups")
                got.append((info[b"bloodlines"].state[2], ver,
                            c.call("machoNet", "GetInitVals")[0].state[2]))
            server.db.close()
    assert got[0] == got[1]
    assert all(isinstance(x, int) for pair in got[0] for x in pair)


def test_unknown_and_bad_objects(client):
    assert client.call("objectCaching", "GetCachableObject", 0, b"config.BulkData.nope",
                       (0, 0), C.CACHE_NODE_ID) is None
    assert client.call("objectCaching", "GetCachableObject", 0, 12345, (0, 0), 1) is None


def test_bulkmgr_says_bulk_data_is_current(client):
    ok = client.call("bulkMgr", "UpdateBulk", 107232020, b"hash", 4)
    assert ok == {b"type": 0, b"version": 107232020, b"allowUnsubmitted": False}
    assert client.call("bulkMgr", "UpdateBulk", 1, None, 4)[b"type"] == 5
    assert client.call("bulkMgr", "UpdateBulk", 107232020, None, 3)[b"type"] == 1
    assert client.call("bulkMgr", "GetVersion") == (107232020, 4)


# ------------------------------------------------------------------------------ config
def test_get_multi_owners_ex(client):
    cid = client.server.db.create_character(client.server.db.get_account("cacher").id,
                                            "Owner Probe", 1378, 0)
    cols, rows = client.call("config", "GetMultiOwnersEx",
                             [1000167, cid, 1, 60014659, 500001, 670, 77777777])
    assert cols == [b"ownerID", b"ownerName", b"typeID", b"gender", b"ownerNameID"]
    by_id = {r[0]: r for r in rows}
    assert by_id[1000167][1:3] == ["State War Academy", 2]        # corporation
    assert by_id[cid] == [cid, "Owner Probe", 1378, 0, None]       # character
    assert by_id[1][1:3] == ["EVE System", 0]      # not a type here: eveStaticOwners
    assert by_id[670][1:3] == ["Capsule", 670]                     # a type (id < 33000)
    assert by_id[500001][1] == "Caldari State"                     # eveStaticOwners
    assert 77777777 not in by_id
    assert all(type(r) is list and len(r) == 5 for r in rows)
    assert client.call("config", "GetMultiOwnersEx", [77777777]) == ()
    with pytest.raises(RemoteError) as e:
        client.call("config", "GetMultiOwnersEx", [b"x"])
    assert e.value.msg == "InvalidArgument"


def test_get_multi_locations_ex(client):
    cols, rows = client.call("config", "GetMultiLocationsEx",
                             [30000141, 60014659, 10000002, 20000020, 1])
    assert cols == [b"locationID", b"locationName", b"x", b"y", b"z", b"locationNameID"]
    by_id = {r[0]: r for r in rows}
    assert by_id[30000141][1] == "Kisogo" and by_id[10000002][1] == "The Forge"
    assert by_id[60014659][1].startswith("Kisogo")
    assert all(isinstance(v, float) for v in by_id[30000141][2:5])
    assert 1 not in by_id


def test_get_multi_inv_types_ex_and_units(client):
    cols, rows = client.call("config", "GetMultiInvTypesEx", [588, 670, 99999])
    assert cols[:3] == [b"typeID", b"groupID", b"typeName"] and len(cols) == 15
    assert [r.name for r in rows] == ["util.Row", "util.Row"]
    assert rows[0].state[b"header"] == cols
    assert [r.state[b"line"][2] for r in rows] == ["Reaper", "Capsule"]
    units = client.call("config", "GetUnits")
    assert units.name == "util.IndexRowset"
    assert units.state[b"header"] == [b"unitID", b"unitName", b"displayName"]
    assert units.state[b"idName"] == b"unitID" and units.state[b"RowClass"] == Token("util.Row")
    assert units.state[b"items"][1] == [1, "Length", "Length"] or \
        units.state[b"items"][1][0] == 1


def test_built_objects_are_kept_until_the_data_changes(tmp_path, monkeypatch):
    """A restart serves the stored bytes without building again; an import that changes a
    static table changes the fingerprint, so the object is rebuilt."""
    import os
    import sqlite3

    from evemu.db import importer

    path = tmp_path / "blobs.sqlite3"
    with bounded(60), running_server(db=Database(path)) as server:
        with Client.connect(server.address) as c:
            c.login("blobber", "pw")
            first, ver1 = fetch(c, b"config.Races")
        server.db.close()

    def no_build(conn, name):
        raise AssertionError(f"{name} was built again")
    monkeypatch.setattr(cachables, "build", no_build)
    with bounded(60), running_server(db=Database(path)) as server:
        with Client.connect(server.address) as c:
            c.login("blobber", "pw")
            again, ver2 = fetch(c, b"config.Races")
        server.db.close()
    assert ver2 == ver1 and again == first
    monkeypatch.undo()

    folder = tmp_path / "dump"
    folder.mkdir()
    (folder / "chrRaces.sql").write_text(
        "CREATE TABLE `chrRaces` (`raceID` tinyint(3) unsigned NOT NULL, `raceName` "
        "varchar(100), `description` varchar(1000), `iconID` smallint(6) NOT NULL, "
        "`shortDescription` varchar(500));\n"
        "INSERT INTO `chrRaces` VALUES (1,'Caldari','',1439,''),(99,'Testers','',0,'');\n")
    conn = sqlite3.connect(path)
    importer.import_path(conn, folder, stream=open(os.devnull, "w"))
    conn.close()
    with bounded(60), running_server(db=Database(path)) as server:
        with Client.connect(server.address) as c:
            c.login("blobber", "pw")
            races, ver3 = fetch(c, b"config.Races")
        server.db.close()
    assert ver3 != ver1 and [r.raceName for r in races] == ["Caldari", "Testers"]


def test_paperdoll_and_photo_upload_are_answered(client):
    colors = client.call("paperDollServer", "GetPaperDollData", 90000000)
    assert colors.header[0] == (Token("dbutil.CRowset"),) and colors.list == []
    assert colors.header[1][b"header"].names[:2] == ("colorID", "colorNameA")
    mine = client.call("paperDollServer", "GetMyPaperDollData", 90000000)
    assert mine.name == "util.KeyVal"
    assert set(mine.state) == {b"colors", b"modifiers", b"appearance", b"sculpts"}
    portrait = client.call("paperDollServer", "GetPaperDollPortraitDataFor", 90000000)
    assert len(portrait.header[1][b"header"].names) == 36
    assert client.call("paperDollServer", "UpdateExistingCharacterLimited", 1, None, None,
                       False) is None
    assert client.call("photoUploadSvc", "Upload", b"\x89PNG...") is True


def test_map_views(client):
    objs = client.call("config", "GetMapObjects", 20000020, 0, 0, 1, 0)     # systems of a
    assert objs.header[0] == (Token("dbutil.CRowset"),)                     # constellation
    desc = objs.header[1][b"header"]
    assert desc.names == ("groupID", "typeID", "itemID", "itemName", "locationID", "orbitID",
                          "x", "y", "z")
    assert dict(zip(desc.names, [t for _, t in desc.columns]))["x"] == DBTYPE_R8
    names = {r.itemName for r in objs.list}
    assert "Kisogo" in names and all(r.groupID in (4, 5, 6, 10, 15) for r in objs.list)
    regions = client.call("config", "GetMapObjects", 0, 1, 0, 0, 0)
    assert {r.itemID for r in regions.list} >= {10000002, 10000016, 10000064}
    conns = client.call("config", "GetMapConnections", 20000020, 0, 1, 0, 0, 0)
    assert conns.name == "util.Rowset"
    assert conns.state[b"header"][:4] == [b"ctype", b"fromreg", b"fromcon", b"fromsol"]
    lines = conns.state[b"lines"]
    assert lines and all(line[2] == 20000020 for line in lines)
    assert {line[0] for line in lines} <= {0, 1, 2}
    # gates are paired: the far end of each connection's gate leads back
    back = {(line[3], line[6]): (line[4], line[5]) for line in lines}
    for (a, b), (gate, far) in back.items():
        if (b, a) in back:
            assert back[(b, a)] == (far, gate)
    m = client.call("config", "GetMap", 30000141)
    assert m.name == "util.Rowset" and m.state[b"header"][0] == b"locationID"
    gates = [line for line in m.state[b"lines"] if line[15] is not None]
    assert gates and all(line[0] == 30000141 for line in m.state[b"lines"])
    cols, rows = client.call("config", "GetMultiStationEx", [60014659])
    assert cols[0] == b"stationID" and rows[0][:2] == [60014659, rows[0][1]]
    assert client.call("config", "GetStationSolarSystemsByOwner", 1000167).state[b"lines"] == [
        [60014659, 30000141]]
    tick_cols, ticks = client.call("config", "GetMultiCorpTickerNamesEx", [1000167])
    assert tick_cols[:2] == [b"corporationID", b"tickerName"] and ticks[0].name == "util.Row"
