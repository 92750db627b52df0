"""Wire-shape audit (issues 9/10/11): replies on the login -> station path compared, type by
type, with the evemu_Crucible handler that builds them (named in each test).  Py2 ``str``
(PyString) travels as ``bytes`` here, ``unicode`` (PyWString) as ``str``; PyInt as ``int``,
never ``None``.  docs/review.md keeps the table of calls checked."""
import pytest

from server_helpers import bounded, running_server
from test_world_items import STATION, bind, create_and_select, login

from evemu.wire.marshal import DBTYPE_I4, DBTYPE_UI4, Instance, ObjectEx2, Token


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def test_get_guests_sends_integer_alliance_and_faction(server):
    # StationService.cpp StationService::GetGuests: PyTuple(4) of PyInt(charID),
    # PyInt(GetCorporationID()), PyInt(GetAllianceID()), PyInt(GetWarFactionID()); the session
    # getters (ClientSession::GetCurrentInt -> PyRep::IntegerValue) give 0 for an unset value.
    with login(server, "shapes1") as c:
        cid, _ = create_and_select(c, "Shape Guest")
        guests = c.call("station", "GetGuests")
        assert guests == [(cid, 1000168, 0, 0)]
        assert type(guests) is list and type(guests[0]) is tuple
        assert all(type(v) is int for v in guests[0])


def test_get_station_strings_are_py2_str(server):
    # StationDataMgr.cpp StationDataMgr::LoadStationPyData: util.KeyVal whose stationName and
    # description are PyString (Py2 str -> bytes); description is staOperations.description.
    with login(server, "shapes2") as c:
        create_and_select(c, "Shape Station")
        d = c.call("stationSvc", "GetStation", STATION).state
        assert type(d[b"stationName"]) is bytes
        assert d[b"stationName"] == b"Duripant VII - Moon 6 - Federal Navy Academy"
        assert type(d[b"description"]) is bytes
        for key in (b"stationID", b"ownerID", b"stationTypeID", b"operationID",
                    b"serviceMask", b"upgradeLevel", b"standingOwnerID", b"hangarGraphicID",
                    b"officeRentalCost", b"reprocessingHangarFlag", b"solarSystemID",
                    b"constellationID", b"regionID", b"graphicID", b"descriptionID",
                    b"orbitID"):
            assert type(d[key]) is int, key
        assert type(d[b"conquerable"]) is bool


def crowset_columns(value):
    """The (name, DBTYPE) columns of a dbutil.CRowset, and its rows."""
    assert type(value) is ObjectEx2
    (token,), state = value.header
    assert token == Token("dbutil.CRowset")
    cols = [(n.decode() if isinstance(n, bytes) else n, t)
            for n, t in state[b"header"].columns]
    return cols, list(value.list)


def corp_station_mgr(c):
    mgr, _ = bind(c, "corpStationMgr", STATION)
    return mgr


def test_station_offices_are_a_crowset_of_staoffices(server):
    # CorpStationMgr.cpp CorpStationMgrIMBound::GetStationOffices / GetCorporateStationOffice
    # -> StationItem::GetOffices -> StationDB::GetOffices: DBResultToCRowset of
    # "SELECT corporationID, itemID, officeFolderID FROM staOffices" (int(10): I4 each).
    with login(server, "shapes3") as c:
        create_and_select(c, "Shape Offices")
        mgr = corp_station_mgr(c)
        for method in ("GetStationOffices", "GetCorporateStationOffice"):
            cols, rows = crowset_columns(c.call_bound(mgr, method))
            assert cols == [("corporationID", DBTYPE_I4), ("itemID", DBTYPE_I4),
                            ("officeFolderID", DBTYPE_I4)], method
            assert rows == []            # no player corporation rents an office here


def test_owner_ids_of_clones_at_station(server):
    # CorpStationMgrIMBound::GetOwnerIDsOfClonesAtStation -> StationDB::
    # GetOwnerIDsOfClonesAtStation: DBResultToCRowset of "SELECT ownerID, corporationID FROM
    # entity ... JOIN chrCharacters WHERE groupID=23 AND locationID=station [AND corpID]";
    # entity.ownerID and chrCharacters.corporationID are int(10) unsigned: UI4.
    with login(server, "shapes4") as c:
        cid, _ = create_and_select(c, "Shape Clone")
        mgr = corp_station_mgr(c)
        cols, rows = crowset_columns(c.call_bound(mgr, "GetOwnerIDsOfClonesAtStation", 1000168))
        assert cols == [("ownerID", DBTYPE_UI4), ("corporationID", DBTYPE_UI4)]
        assert [tuple(r) for r in rows] == [(cid, 1000168)]
        assert crowset_columns(c.call_bound(mgr, "GetOwnerIDsOfClonesAtStation",
                                            1000044))[1] == []
        assert [tuple(r) for r in crowset_columns(
            c.call_bound(mgr, "GetOwnerIDsOfClonesAtStation", -1))[1]] == [(cid, 1000168)]


def test_station_service_access_rule_default(server):
    # CorpStationMgrIMBound::GetStationServiceAccessRule: with no rule a util.KeyVal of
    # serviceID (PyInt) and five PyFloat(0) limits -- never None.
    with login(server, "shapes5") as c:
        create_and_select(c, "Shape Rule")
        rule = c.call_bound(corp_station_mgr(c), "GetStationServiceAccessRule", STATION, 4096)
        assert type(rule) is Instance and rule.name == "util.KeyVal"
        assert rule.state == {b"serviceID": 4096, b"minimumStanding": 0.0,
                              b"minimumCharSecurity": 0.0, b"maximumCharSecurity": 0.0,
                              b"minimumCorpSecurity": 0.0, b"maximumCorpSecurity": 0.0}
        assert all(type(v) is float for k, v in rule.state.items() if k != b"serviceID")


def test_improvement_static_data_is_a_keyval_of_a_crowset(server):
    # CorpStationMgr::GetImprovementStaticData: util.KeyVal {improvementTypes: CRowset of
    # typeID, raceID, requiredAssemblyLineTypeID, requiredImprovementTypeID (I4 each)}.
    with login(server, "shapes6") as c:
        create_and_select(c, "Shape Improve")
        kv = c.call("corpStationMgr", "GetImprovementStaticData")
        assert type(kv) is Instance and kv.name == "util.KeyVal"
        cols, rows = crowset_columns(kv.state[b"improvementTypes"])
        assert cols == [("typeID", DBTYPE_I4), ("raceID", DBTYPE_I4),
                        ("requiredAssemblyLineTypeID", DBTYPE_I4),
                        ("requiredImprovementTypeID", DBTYPE_I4)]
        assert rows == []


def test_corp_station_mgr_refuses_bad_arguments(server):
    with login(server, "shapes7") as c:
        create_and_select(c, "Shape Hostile")
        mgr = corp_station_mgr(c)
        from evemu.client import RemoteError
        for bad in ("1000168", None, 1.5, [1], True):
            with pytest.raises(RemoteError):
                c.call_bound(mgr, "GetOwnerIDsOfClonesAtStation", bad)
            with pytest.raises(RemoteError):
                c.call_bound(mgr, "GetStationServiceAccessRule", STATION, bad)


def test_characters_to_select_delete_time_is_zero_not_none(server):
    # CharUnboundMgrService::GetCharactersToSelect -> CharacterDB::GetCharacterList: the
    # column is chrCharacters.deletePrepareDateTime, bigint unsigned DEFAULT 0, which EVEmu
    # only ever sets to a FILETIME or back to 0 (CharacterDB::CancelCharacterDeletePrepare):
    # a UI8 0 on the wire, never None.
    with login(server, "shapes8") as c:
        cid = c.call("charUnboundMgr", "CreateCharacterWithDoll", "Shape Select", 7, 1, 13,
                     Instance("util.KeyVal", {}), Instance("util.KeyVal", {}), 20)
        cols, rows = crowset_columns(c.call("charUnboundMgr", "GetCharactersToSelect"))
        assert ("deletePrepareDateTime", 21) in cols       # DBTYPE_UI8
        assert rows[0].deletePrepareDateTime == 0 and type(rows[0].deletePrepareDateTime) is int
        when = c.call("charUnboundMgr", "PrepareCharacterForDelete", cid)
        assert c.call("charUnboundMgr", "GetCharactersToSelect").list[0] \
            .deletePrepareDateTime == when
        c.call("charUnboundMgr", "CancelCharacterDeletePrepare", cid)
        assert c.call("charUnboundMgr", "GetCharactersToSelect").list[0] \
            .deletePrepareDateTime == 0
