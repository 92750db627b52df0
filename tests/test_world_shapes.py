"""Wire-shape audit (issues 9/10/11): replies on the login -> station path compared, type by
type, with the evemu_Crucible handler that builds them (named in each test).  Py2 ``str``
(PyString) travels as ``bytes`` here, ``unicode`` (PyWString) as ``str``; PyInt as ``int``,
never ``None``.  docs/review.md keeps the table of calls checked."""
import pytest

from server_helpers import bounded, running_server
from test_world_items import STATION, create_and_select, login


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
