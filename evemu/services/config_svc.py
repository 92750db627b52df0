"""``config``: names and positions of owners, locations and types (EVEmu ConfigService).

Reply shapes (EVEmu ConfigDB.cpp): GetMultiOwnersEx and GetMultiLocationsEx a tuple set
``([column names], [[values]...])`` (an empty tuple when nothing is found, for owners);
GetMultiInvTypesEx a row list ``([names], [util.Row...])``; GetUnits a ``util.IndexRowset``
keyed by unitID.  Map views: GetMapObjects a ``dbutil.CRowset`` (mapDenormalize's column types),
GetMapConnections, GetMap and GetStationSolarSystemsByOwner ``util.Rowset``s; GetMultiStationEx
a tuple set, GetMultiCorpTickerNamesEx a row list.
"""
import logging

from evemu.db import universe
from evemu.db.static import column_types
from evemu.wire.marshal import DBTYPE_I8, DBTYPE_R4, DBTYPE_R8, DBTYPE_WSTR
from evemu.world.cachables import dbtype_of

from . import Service, UserError, exposed
from .rowsets import crowset, index_rowset, row_list, rowset, tuple_set

log = logging.getLogger("evemu.services.config")


def _id_list(ids):
    if not isinstance(ids, (list, tuple)):
        raise UserError("InvalidArgument", {b"reason": b"expected a list of ids"})
    try:
        return universe._ints(ids)
    except TypeError:
        raise UserError("InvalidArgument", {b"reason": b"ids must be integers"}) from None


class ConfigService(Service):
    name = "config"
    access = "bulk"


    @exposed
    def GetMultiOwnersEx(self, call, ownerIDs):
        cols, rows = self.db.run(universe.owners, _id_list(ownerIDs))
        if not rows:
            return ()
        return tuple_set(cols, rows)

    @exposed
    def GetMultiLocationsEx(self, call, locationIDs):
        cols, rows = self.db.run(universe.locations, _id_list(locationIDs))
        return tuple_set(cols, rows)

    @exposed
    def GetMultiInvTypesEx(self, call, typeIDs):
        cols, rows = self.db.run(universe.inv_types, _id_list(typeIDs))
        return row_list(cols, rows)

    @exposed
    def GetUnits(self, call):
        cols, rows = self.db.run(universe.units)
        return index_rowset(cols, rows, "unitID")

    # -------------------------------------------------------------- map views
    @exposed
    def GetMapObjects(self, call, entityID, wantRegions=0, wantConstellations=0,
                      wantSystems=0, wantStations=0, *unused):
        names, rows = self.db.run(universe.map_objects, _int_arg(entityID), wantRegions,
                                           wantConstellations, wantSystems, wantStations)
        types = self.db.run(column_types, "mapDenormalize")
        source = {"locationID": "solarSystemID"}
        cols = [(n, DBTYPE_I8 if n == "orbitID" else
                 dbtype_of(types.get(source.get(n, n), "double"))) for n in names]
        return crowset(cols, [_fix(r, cols) for r in rows])

    @exposed
    def GetMapConnections(self, call, itemID, reg=0, con=0, sol=0, cel=0, _c=0):
        item = _int_arg(itemID)
        if item == 9 or sol:                 # as EVEmu: the caller's own system
            item, sol = call.session.get("solarsystemid2"), 1
        names, rows = self.db.run(universe.map_connections, item, sol, reg, con)
        return rowset(names, rows)

    @exposed
    def GetMap(self, call, solarSystemID):
        names, rows = self.db.run(universe.solar_system_map, _int_arg(solarSystemID))
        return rowset(names, rows)

    @exposed
    def GetMultiStationEx(self, call, stationIDs):
        return tuple_set(*self.db.run(universe.stations_ex, _id_list(stationIDs)))

    @exposed
    def GetMultiCorpTickerNamesEx(self, call, corporationIDs):
        return row_list(*self.db.run(universe.ticker_names, _id_list(corporationIDs)))

    @exposed
    def GetStationSolarSystemsByOwner(self, call, ownerID):
        return rowset(*self.db.run(universe.station_systems_by_owner, _int_arg(ownerID)))


def _int_arg(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError("InvalidArgument", {b"reason": b"expected an integer"})
    return value


def _fix(row, cols):
    out = []
    for v, (_, t) in zip(row, cols):
        if v is None:
            out.append(None)
        elif t in (DBTYPE_R4, DBTYPE_R8):
            out.append(float(v))
        elif t == DBTYPE_WSTR:
            out.append(str(v))
        else:
            out.append(int(v))
    return tuple(out)
