"""The station over loopback: stationSvc, station.GetGuests and the arrival/departure
notifications to the other guests, corpStationMgr, ship.Board / LeaveShip in the hangar."""
import pytest

from server_helpers import bounded, running_server, settle
from test_world_items import STATION, bind, create_and_select, login

from evemu.client import RemoteError
from evemu.db import characters as chars
from evemu.db import inventory as inv
from evemu.machonet import constants as C
from evemu.wire.marshal import Instance


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def events(c, name, since=0):
    out = []
    for p in c.notifications[since:]:
        if p.type == C.NOTIFICATION and p.destination.id in (name, name.encode()):
            assert p.destination.id_type in ("stationid", b"stationid")
            (_flag, ss), = p.body
            out.append(ss.value[1][1])
    return out


def test_get_station_and_item_bits(server):
    with login(server, "visitor") as c:
        create_and_select(c, "Station Guest")
        st = c.call("stationSvc", "GetStation", STATION)
        assert isinstance(st, Instance) and st.name == "util.KeyVal"
        d = st.state
        assert d[b"stationID"] == STATION and d[b"ownerID"] == 1000168
        assert d[b"solarSystemID"] == 30004971 and d[b"regionID"] == 10000064
        assert isinstance(d[b"stationName"], bytes) and d[b"stationName"]
        assert isinstance(d[b"x"], float) and isinstance(d[b"serviceMask"], int)
        assert d[b"dockingBayGraphicID"] is None and d[b"upgradeLevel"] == 0
        for key in (b"dockEntryX", b"dockOrientationZ", b"security", b"radius",
                    b"reprocessingEfficiency", b"maxShipVolumeDockable"):
            assert isinstance(d[key], float), key
        assert c.call("stationSvc", "GetStation", 1) is None
        bits = c.call("stationSvc", "GetStationItemBits")
        assert bits[1:3] == (1000168, STATION) and len(bits) == 5
        assert bits[4] == d[b"stationTypeID"]


def test_guests_arrive_and_leave(server):
    with login(server, "guest1") as a:
        cid_a, _ = create_and_select(a, "First Guest")
        assert a.call("station", "GetGuests") == [(cid_a, 1000168, 0, 0)]
        n = len(a.notifications)
        b = login(server, "guest2")
        try:
            cid_b, _ = create_and_select(b, "Second Guest")
            guests = b.call("station", "GetGuests")
            assert sorted(guests) == sorted([(cid_a, 1000168, 0, 0),
                                             (cid_b, 1000168, 0, 0)])
            assert a.ping() is not None          # let a read what arrived meanwhile
            assert events(a, "OnCharNowInStation", n) == [((cid_b, 1000168, 0, 0),)]
            assert events(b, "OnCharNowInStation") == []      # not to the newcomer itself
            # a third one in another station hears nothing
            with login(server, "faraway") as f:
                cid_f = f.call("charUnboundMgr", "CreateCharacterWithDoll", "Far Away", 1, 1,
                               10, Instance("util.KeyVal", {}), Instance("util.KeyVal", {}),
                               17)
                f.call("charUnboundMgr", "SelectCharacterID", cid_f)
                assert f.call("station", "GetGuests") == [(cid_f, 1000167, 0, 0)]
            assert b.ping() is not None
            assert events(b, "OnCharNoLongerInStation") == []
        finally:
            b.close()
        assert settle(lambda: len(server.services.lookup("station").guests[STATION]) == 1)
        assert a.ping() is not None
        assert events(a, "OnCharNoLongerInStation", n) == [((cid_b, 1000168, 0, 0),)]
        assert a.call("station", "GetGuests") == [(cid_a, 1000168, 0, 0)]


def test_corp_station_mgr_basics(server):
    with login(server, "corpie") as c:
        create_and_select(c, "Corp Station")
        mgr, nested = bind(c, "corpStationMgr", STATION, (b"GetNumberOfUnrentedOffices", (),
                                                          {}))
        assert isinstance(nested, int) and nested > 0
        assert c.call_bound(mgr, "GetCorporateStationInfo") == []
        assert c.call_bound(mgr, "DoesPlayersCorpHaveJunkAtStation") is False
        assert isinstance(c.call_bound(mgr, "GetQuoteForRentingAnOffice"), int)
        homes = c.call_bound(mgr, "GetPotentialHomeStations")
        assert homes[0].state[b"stationID"] == STATION
        assert c.call("corpStationMgr", "GetStationServiceStates") == {}


def test_board_another_ship_and_leave_ship(server):
    db = server.db
    with login(server, "pilot") as c:
        cid, ship = create_and_select(c, "Ship Hopper")
        # a second ship of ours in the hangar (as if bought)
        other = c.call_bound(bind(c, "invbroker", (STATION, 15))[0], "SplitStack", STATION,
                             db.run(inv.items_in, ship, 5)[0]["itemID"], 1)
        db.execute('UPDATE "invItems" SET "typeID" = 601, "singleton" = 1, "quantity" = 1, '
                   '"locationID" = ?, "flagID" = 4 WHERE "itemID" = ?', (STATION, other))
        shipsvc, _ = bind(c, "ship", STATION)
        assert c.call_bound(shipsvc, "Board", other, ship) is None
        assert c.session["shipid"] == other
        assert db.run(inv.item, cid)["locationID"] == other
        assert db.run(chars.character_row, cid)["shipID"] == other
        with pytest.raises(RemoteError) as e:                # the capsule cannot be boarded
            c.call_bound(shipsvc, "Board", db.run(chars.character_row, cid)["capsuleID"], other)
        assert e.value.msg == "CustomError"
        pod = c.call_bound(shipsvc, "LeaveShip", other)
        assert pod == db.run(chars.character_row, cid)["capsuleID"]
        assert c.session["shipid"] == pod
        assert (db.run(inv.item, pod)["locationID"],
                db.run(inv.item, pod)["flagID"]) == (STATION, 4)
        assert c.call_bound(shipsvc, "Board", ship) is None
        assert c.session["shipid"] == ship


def test_boarding_someone_elses_ship_is_refused(server):
    with login(server, "owner") as a:
        _, their_ship = create_and_select(a, "Ship Owner")
        with login(server, "thief") as b:
            cid, ship = create_and_select(b, "Ship Thief")
            shipsvc, _ = bind(b, "ship", STATION)
            for method, args in (("Board", (their_ship, ship)), ("LeaveShip", (their_ship,))):
                with pytest.raises(RemoteError) as e:
                    b.call_bound(shipsvc, method, *args)
                assert e.value.msg == "CantDoThatWithSomeoneElsesStuff"
            assert b.session["shipid"] == ship
            assert server.db.run(inv.item, cid)["locationID"] == ship


def test_undocked_guest_is_not_listed_and_others_hear_of_it(server):
    with login(server, "stayer") as a:
        cid_a, _ = create_and_select(a, "Stay Here")
        with login(server, "leaver") as b:
            cid_b, _ = create_and_select(b, "Leave Soon")
            assert len(a.call("station", "GetGuests")) == 2
            # another service undocks b: its session leaves the station
            conn = next(c for c in server.connections if c.session and
                        c.session.get("charid") == cid_b)
            conn.session.set("stationid", None)
            conn.session.clear_changes()
            assert a.call("station", "GetGuests") == [(cid_a, 1000168, 0, 0)]
            n = len(a.notifications)

            class Call:                     # what an undocking service hands over
                session = conn.session
                connection = conn
            server.services.lookup("station").undocked(Call)
            assert a.ping() is not None
            assert events(a, "OnCharNoLongerInStation", n) == [((cid_b, 1000168, 0, 0),)]
            assert cid_b not in server.services.lookup("station").guests[STATION]
