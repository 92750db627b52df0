"""The in-station fan-out of a freshly selected character, in the order the client makes it
(protocol notes 4.1, step 5), every reply's container checked; no call may fail."""
import pytest

from server_helpers import bounded, running_server
from test_world_items import bind, bound_id, create_and_select, login, rows

from evemu.machonet import constants as C
from evemu.wire.marshal import Instance, ObjectEx2, PackedRow, Token


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def is_crowset(v):
    return isinstance(v, ObjectEx2) and v.header[0] == (Token("dbutil.CRowset"),)


def is_instance(v, name):
    return isinstance(v, Instance) and v.name == name


def test_station_fan_out(server):
    with login(server, "fanner") as c:
        cid, ship = create_and_select(c, "Fan Tastic")
        s = c.session
        station, system = s["stationid"], s["solarsystemid2"]
        owners = c.call("config", "GetMultiOwnersEx", [cid, s["corpid"]])
        assert {r[0] for r in owners[1]} == {cid, s["corpid"]}
        locs = c.call("config", "GetMultiLocationsEx", [station, system])
        assert {r[0] for r in locs[1]} == {station, system}
        assert is_instance(c.call("stationSvc", "GetStation", station), "util.KeyVal")
        assert c.call("station", "GetGuests") == [(cid, s["corpid"], 0, 0)]
        broker, _ = bind(c, "invbroker", (station, 15))
        hangar = bound_id(c.call_bound(broker, "GetInventory", C_HANGAR))
        assert is_crowset(c.call_bound(hangar, "List"))
        ship_inv = bound_id(c.call_bound(broker, "GetInventoryFromId", ship, 0))
        assert is_crowset(c.call_bound(ship_inv, "List"))
        assert isinstance(c.call_bound(ship_inv, "GetItem"), PackedRow)
        dogma, info = bind(c, "dogmaIM", (station, 15), (b"GetAllInfo", (True, True), {}))
        assert is_instance(info, "util.KeyVal") and info.state[b"activeShipID"] == ship
        assert is_crowset(c.call("charMgr", "GetPublicInfo3", cid))
        assert isinstance(c.call("charMgr", "GetPrivateInfo", cid), PackedRow)
        _, queue = bind(c, "skillMgr", None, (b"GetSkillQueueAndFreePoints", (), {}))
        assert queue == ([], 0)
        _, offices = bind(c, "corpStationMgr", station, (b"GetNumberOfUnrentedOffices", (),
                                                         {}))
        assert isinstance(offices, int)
        assert isinstance(c.call("account", "GetCashBalance", 0), float)
        assert c.call("tutorialSvc", "GetCharacterTutorialState") == 0
        assert c.call("notificationMgr", "GetByGroupID", 1) == ()
        assert is_instance(c.call("mailMgr", "SyncMail"), "util.KeyVal")
        assert c.call("calendarProxy", "GetEventList", 1, 2027) == []
        assert c.call("onlineStatus", "GetInitialState").name == "util.Rowset"
        assert c.call("map", "GetStationExtraInfo") is None
        # nothing came back as an error, and the only notifications were the selection's
        kinds = {p.type for p in c.notifications}
        assert kinds <= {C.SESSION_CHANGE_NOTIFICATION, C.NOTIFICATION}
        assert rows(c.call_bound(hangar, "List"))[0]["itemID"] == ship


C_HANGAR = 10004
