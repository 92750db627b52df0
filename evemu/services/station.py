"""The station a character is docked in: ``stationSvc``, ``station``, ``corpStationMgr`` and
the ``ship`` moniker's Board / LeaveShip (protocol notes 4.1, step 5).

Shapes (EVEmu StationSvc.cpp + StationDataMgr.cpp, StationService.cpp, Client.cpp,
CorpStationMgr.cpp, ShipService.cpp):

* ``stationSvc.GetStation(stationID)``: a ``util.KeyVal`` of the station's data (stationID,
  ownerID, stationTypeID, stationName, position, dock entry/orientation, serviceMask, ...);
  ``GetStationItemBits()``: ``(hangarGraphicID, ownerID, stationID, serviceMask,
  stationTypeID)``;
* ``station.GetGuests()``: ``[(charID, corpID, allianceID, warFactionID), ...]``, four ints
  (0 for no alliance / faction, as EVEmu);
* the other guests get ``OnCharNowInStation(((charID, corpID, allianceID, factionID),))`` when
  a character docks (selects a character here) and ``OnCharNoLongerInStation`` (same shape)
  when it leaves (logs off); id type ``stationid``;
* ``ship.Board(shipID, oldShipID)``: None in a station, the session's shipid changes;
  ``ship.LeaveShip(shipID)``: the capsule goes to the hangar and is boarded; answers its ID.
"""
import logging

from evemu.db import characters as chars
from evemu.db import inventory as inv
from evemu.wire.marshal import DBTYPE_I4, DBTYPE_UI4, Instance

from . import BindableService, BoundObject, Service, UserError, exposed
from .inventory import (CATEGORY_SHIP, FLAG_HANGAR, SOMEONE_ELSES, _int, need_character,
                        own_item, send_item_changes)
from .notify import notify_chars
from .rowsets import crowset, keyval

log = logging.getLogger("evemu.services.station")

#: serviceMask of a station whose operation has no staOperationServices rows (the services
#: a school's station offers: bounty, market, clone bay, repair, fitting, insurance, ...)
DEFAULT_SERVICE_MASK = 0x3FFFFFF
FLAG_PILOT = 57

#: StationDB::GetOffices' columns (staOffices: int(10) each -> I4)
OFFICE_COLUMNS = (("corporationID", DBTYPE_I4), ("itemID", DBTYPE_I4),
                  ("officeFolderID", DBTYPE_I4))
#: StationDB::GetOwnerIDsOfClonesAtStation's columns (entity.ownerID and
#: chrCharacters.corporationID: int(10) unsigned -> UI4)
CLONE_OWNER_COLUMNS = (("ownerID", DBTYPE_UI4), ("corporationID", DBTYPE_UI4))
#: CorpStationMgr::GetImprovementStaticData's rowset header
IMPROVEMENT_COLUMNS = (("typeID", DBTYPE_I4), ("raceID", DBTYPE_I4),
                       ("requiredAssemblyLineTypeID", DBTYPE_I4),
                       ("requiredImprovementTypeID", DBTYPE_I4))


def service_mask(conn, operation_id):
    try:
        cur = conn.cursor()
        cur.execute('SELECT SUM("serviceID") FROM "staOperationServices" WHERE '
                    f'"operationID" = {operation_id:d}')
        row = cur.fetchone()
    except Exception:                         # table not shipped
        conn.rollback()
        return DEFAULT_SERVICE_MASK
    return int(row[0]) if row and row[0] else DEFAULT_SERVICE_MASK


def docked_station(call):
    sid = call.session.get("stationid")
    if sid is None:
        raise UserError("CustomError", {b"error": b"You are not docked."})
    return sid


class _Visit(BoundObject):
    """A hidden bound object per docked connection: released when the connection closes, so
    the character leaves the station's guest list and the other guests hear of it."""

    def __init__(self, service, connection, station_id, guest):
        super().__init__(service, connection)
        self.station_id = station_id
        self.guest = guest

    def on_release(self):
        self.service.leave(self.station_id, self.guest, self)


class StationGuestsService(Service):
    name = "station"
    access = "station"

    def __init__(self, manager):
        super().__init__(manager)
        self.guests = {}        # stationID -> {charID: (guest tuple, visit)}

    def enter(self, call, row):
        """Called by charUnboundMgr after a character is selected in a station."""
        sid = call.session.get("stationid")
        if sid is None:
            return
        cid = row["characterID"]
        # EVEmu StationService::GetGuests / Client::CharNowInStation: four PyInts, the unset
        # alliance and war faction as 0 (ClientSession::GetCurrentInt), never None
        guest = (cid, row["corporationID"], call.session.get("allianceid") or 0,
                 call.session.get("warfactionid") or 0)
        here = self.guests.setdefault(sid, {})
        others = [c for c in here if c != cid]
        visit = _Visit(self, call.connection, sid, guest)
        self.manager.bind(visit, call.connection)
        here[cid] = (guest, visit)
        notify_chars(self.manager, others, "OnCharNowInStation", "stationid", (guest,))

    def leave(self, station_id, guest, visit):
        here = self.guests.get(station_id, {})
        cur = here.get(guest[0])
        if cur is None or cur[1] is not visit:
            return
        del here[guest[0]]
        if not here:
            self.guests.pop(station_id, None)
        notify_chars(self.manager, list(here), "OnCharNoLongerInStation", "stationid",
                     (guest,))

    @exposed
    def GetGuests(self, call):
        sid = docked_station(call)
        # a guest whose session left the station (undocked by another service) is not listed
        return [g for g, v in self.guests.get(sid, {}).values()
                if not v.connection.closed and v.connection.session is not None and
                v.connection.session.get("stationid") == sid]

    def undocked(self, call):
        """For the service that undocks a character: it leaves its station's guest list
        and the other guests hear of it."""
        cid = call.session.get("charid")
        for sid, here in list(self.guests.items()):
            cur = here.get(cid)
            if cur is not None and cur[1].connection is call.connection:
                self.leave(sid, cur[0], cur[1])

    @exposed
    def GetSolarSystem(self, call, solarSystemID):
        return Instance("util.CachedObject", solarSystemID)


class StationSvc(Service):
    name = "stationSvc"

    @exposed
    def GetStation(self, call, stationID):
        st = self.db.run(inv.station_info, _int(stationID, "stationID"))
        if st is None:
            return None
        return keyval({
            "stationID": st["stationID"], "ownerID": st["corporationID"],
            # PyString in EVEmu (StationDataMgr::LoadStationPyData): Py2 str, so bytes
            "stationTypeID": st["stationTypeID"],
            "stationName": (st["stationName"] or "").encode("utf-8"),
            "operationID": st["operationID"], "x": st["x"], "y": st["y"], "z": st["z"],
            "dockEntryX": st["dockEntryX"] or 0.0, "dockEntryY": st["dockEntryY"] or 0.0,
            "dockEntryZ": st["dockEntryZ"] or 0.0,
            "dockOrientationX": st["dockOrientationX"] or 0.0,
            "dockOrientationY": st["dockOrientationY"] or 0.0,
            "dockOrientationZ": st["dockOrientationZ"] or 0.0,
            "serviceMask": self.db.run(service_mask, st["operationID"] or 0),
            "conquerable": bool(st["conquerable"]), "upgradeLevel": 0,
            "standingOwnerID": st["corporationID"],
            "hangarGraphicID": st["hangarGraphicID"] or 0,
            "officeRentalCost": st["officeRentalCost"], "dockingBayGraphicID": None,
            "dockingCostPerVolume": float(st["dockingCostPerVolume"]),
            "maxShipVolumeDockable": float(st["maxShipVolumeDockable"]),
            "reprocessingEfficiency": float(st["reprocessingEfficiency"]),
            "reprocessingHangarFlag": st["reprocessingHangarFlag"],
            "reprocessingStationsTake": float(st["reprocessingStationsTake"]),
            "solarSystemID": st["solarSystemID"], "constellationID": st["constellationID"],
            "regionID": st["regionID"], "security": float(st["security"]),
            "graphicID": st["graphicID"] or 0, "description": b"", "descriptionID": 0,
            "radius": float(st["radius"] or 0.0), "orbitID": 0})

    @exposed
    def GetStationItemBits(self, call):
        st = self.db.run(inv.station_info, docked_station(call))
        if st is None:
            return None
        return (st["hangarGraphicID"] or 0, st["corporationID"], st["stationID"],
                self.db.run(service_mask, st["operationID"] or 0), st["stationTypeID"])

    @exposed
    def GetSolarSystem(self, call, solarSystemID):
        return Instance("util.CachedObject", solarSystemID)

    @exposed
    def GetAllianceSystems(self, call):
        return []

    @exposed
    def GetSystemsForAlliance(self, call, allianceID):
        return None


class CorpStationMgrBound(BoundObject):
    def __init__(self, service, connection, station_id):
        super().__init__(service, connection)
        self.station_id = station_id

    def _st(self):
        return self.service.db.run(inv.station_info, self.station_id) or {}

    @exposed
    def GetCorporateStationInfo(self, call):
        return []

    @exposed
    def GetNumberOfUnrentedOffices(self, call):
        return int(self._st().get("officeSlots") or 0)

    @exposed
    def GetQuoteForRentingAnOffice(self, call):
        return int(self._st().get("officeRentalCost") or 0)

    @exposed
    def GetStationOffices(self, call):
        # EVEmu CorpStationMgrIMBound::GetStationOffices -> StationDB::GetOffices: a CRowset
        # (there are no player corporations, so no rented offices: no rows)
        return crowset(OFFICE_COLUMNS, [])

    @exposed
    def GetCorporateStationOffice(self, call):
        # EVEmu CorpStationMgrIMBound::GetCorporateStationOffice: the same CRowset
        return crowset(OFFICE_COLUMNS, [])

    @exposed
    def DoesPlayersCorpHaveJunkAtStation(self, call):
        return False

    @exposed
    def DoStandingCheckForStationService(self, call, serviceID):
        return None

    @exposed
    def GetStationServiceAccessRule(self, call, stationID, serviceID):
        # EVEmu CorpStationMgrIMBound::GetStationServiceAccessRule: without a rule (there are
        # none: no outposts) a util.KeyVal of serviceID and five PyFloat(0) limits
        _int(stationID, "stationID")
        return keyval({"serviceID": _int(serviceID, "serviceID"), "minimumStanding": 0.0,
                       "minimumCharSecurity": 0.0, "maximumCharSecurity": 0.0,
                       "minimumCorpSecurity": 0.0, "maximumCorpSecurity": 0.0})

    @exposed
    def GetOwnerIDsOfClonesAtStation(self, call, corpID):
        # EVEmu CorpStationMgrIMBound::GetOwnerIDsOfClonesAtStation: a CRowset (ownerID,
        # corporationID) of the clones in this station; corporationID -1 means every one
        corp = _int(corpID, "corporationID")
        rows = self.service.db.run(chars.clone_owners_at, self.station_id,
                                   None if corp == -1 else corp)
        return crowset(CLONE_OWNER_COLUMNS, rows)

    @exposed
    def GetPotentialHomeStations(self, call):
        st = self._st()
        if not st:
            return []
        return [keyval({"stationID": self.station_id, "typeID": st["stationTypeID"],
                        "serviceMask": self.service.db.run(service_mask,
                                                           st["operationID"] or 0)})]


class CorpStationMgrService(BindableService):
    name = "corpStationMgr"
    access = "station"

    def create_bound(self, call, bind_params):
        need_character(call)
        return CorpStationMgrBound(self, call.connection, docked_station(call))

    @exposed
    def GetStationServiceStates(self, call):
        return {}

    @exposed
    def GetImprovementStaticData(self, call):
        # EVEmu CorpStationMgr::GetImprovementStaticData: {improvementTypes: CRowset}; the
        # outpost improvement types are not in the shipped data, so no rows
        return keyval({"improvementTypes": crowset(IMPROVEMENT_COLUMNS, [])})


class ShipBound(BoundObject):
    @property
    def db(self):
        return self.service.db

    def _board(self, call, ship_id):
        cid = need_character(call)
        changes = self.db.run(inv.board, cid, ship_id, FLAG_PILOT)
        send_item_changes(self.service.manager, changes)
        call.session.set("shipid", ship_id)

    @exposed
    def Board(self, call, newShipID, oldShipID=None):
        cid = need_character(call)
        sid = docked_station(call)
        ship = self.db.run(own_item, call, newShipID)
        if ship["categoryID"] != CATEGORY_SHIP or ship["itemID"] == cid:
            raise UserError("CustomError", {b"error": b"That is not a ship."})
        if ship["typeID"] == chars.TYPE_CAPSULE:
            raise UserError("CustomError", {b"error": b"You already have a pod.  These "
                                                      b"cannot be boarded manually."})
        if ship["locationID"] != sid or ship["flagID"] != FLAG_HANGAR:
            raise UserError("CustomError", {b"error": b"The ship is not in your hangar."})
        if ship["itemID"] == call.session.get("shipid"):
            return None
        self._board(call, ship["itemID"])
        log.info("%s: character %d boarded ship %d", call.connection, cid, ship["itemID"])
        return None

    @exposed
    def LeaveShip(self, call, shipID):
        cid = need_character(call)
        sid = docked_station(call)
        self.db.run(own_item, call, shipID)
        row = self.db.run(chars.character_row, cid)
        pod = row["capsuleID"] if row else None
        if pod is None or self.db.run(inv.item, pod) is None:
            raise UserError("CustomError", {b"error": b"You have no capsule."})
        send_item_changes(self.service.manager,
                          self.db.run(inv.set_location, pod, sid, FLAG_HANGAR))
        self._board(call, pod)
        return pod


    @exposed
    def Undock(self, call, shipID=None, ignoreContraband=False, onlineModules=None, **kw):
        """Leave the station for space (evemu/services/space.py; EVEmu ShipBound::Undock)."""
        from .space import undock
        return undock(self, call, shipID, ignoreContraband)


class ShipService(BindableService):
    name = "ship"
    access = "location"

    def create_bound(self, call, bind_params):
        need_character(call)
        return ShipBound(self, call.connection)


__all__ = ["StationSvc", "StationGuestsService", "CorpStationMgrService", "ShipService",
           "SOMEONE_ELSES"]
