"""``config``: names and positions of owners, locations and types (EVEmu ConfigService).

Reply shapes (EVEmu ConfigDB.cpp): GetMultiOwnersEx and GetMultiLocationsEx a tuple set
``([column names], [[values]...])`` (an empty tuple when nothing is found, for owners);
GetMultiInvTypesEx a row list ``([names], [util.Row...])``; GetUnits a ``util.IndexRowset``
keyed by unitID.
"""
import logging

from evemu.db import universe

from . import Service, UserError, exposed
from .rowsets import index_rowset, row_list, tuple_set

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

    @property
    def conn(self):
        return self.db.conn

    @exposed
    def GetMultiOwnersEx(self, call, ownerIDs):
        cols, rows = universe.owners(self.conn, _id_list(ownerIDs))
        if not rows:
            return ()
        return tuple_set(cols, rows)

    @exposed
    def GetMultiLocationsEx(self, call, locationIDs):
        cols, rows = universe.locations(self.conn, _id_list(locationIDs))
        return tuple_set(cols, rows)

    @exposed
    def GetMultiInvTypesEx(self, call, typeIDs):
        cols, rows = universe.inv_types(self.conn, _id_list(typeIDs))
        return row_list(cols, rows)

    @exposed
    def GetUnits(self, call):
        cols, rows = universe.units(self.conn)
        return index_rowset(cols, rows, "unitID")
