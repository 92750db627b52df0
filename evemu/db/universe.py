"""Queries on the static universe and owners for the ``config`` service (portable SQL).

Each function returns ``(column names, rows)``; the services layer picks the container.
ID ranges are EVE's (EVEmu's IsCorp/IsAlliance/IsCharacterID/IsStationID).
"""
from .importer import _placeholder

__all__ = ["owners", "locations", "inv_types", "units", "is_corporation", "is_alliance",
           "is_character", "is_station"]

OWNER_COLUMNS = ("ownerID", "ownerName", "typeID", "gender", "ownerNameID")
LOCATION_COLUMNS = ("locationID", "locationName", "x", "y", "z", "locationNameID")
INV_TYPE_COLUMNS = ("typeID", "groupID", "typeName", "description", "graphicID", "radius",
                    "mass", "volume", "capacity", "portionSize", "raceID", "basePrice",
                    "published", "marketGroupID", "chanceOfDuplicating")
TYPE_CORPORATION, TYPE_ALLIANCE = 2, 16159


def is_corporation(i):
    return 1000000 <= i < 2000000 or 98000000 <= i < 99000000


def is_alliance(i):
    return 99000000 <= i < 100000000


def is_character(i):
    return 90000000 <= i < 98000000 or 3000000 <= i < 4000000


def is_station(i):
    return 60000000 <= i < 64000000


def _ints(ids):
    out = []
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(f"ids must be integers, not {type(i).__name__}")
        out.append(i)
    return sorted(set(out))


def _select(conn, sql, ids):
    if not ids:
        return []
    ph = _placeholder(conn)
    cur = conn.cursor()
    rows = []
    for k in range(0, len(ids), 500):
        chunk = ids[k:k + 500]
        cur.execute(sql.replace("(?)", "(" + ", ".join([ph] * len(chunk)) + ")"), chunk)
        rows += cur.fetchall()
    return rows


def owners(conn, ids):
    """EVEmu ConfigDB::GetMultiOwnersEx: corporations, alliances, characters, types
    (ids < 33000), the owners of stations, then eveStaticOwners."""
    ids = _ints(ids)
    corp = [i for i in ids if is_corporation(i)]
    ally = [i for i in ids if is_alliance(i)]
    char = [i for i in ids if is_character(i) and not is_corporation(i)]
    npc = [i for i in ids if i < 33000]
    station = [i for i in ids if is_station(i)]
    taken = set(corp) | set(ally) | set(char) | set(npc) | set(station)
    other = [i for i in ids if i not in taken]
    rows = []
    rows += [(r[0], r[1], TYPE_CORPORATION, 0, None) for r in _select(
        conn, 'SELECT "corporationID", "corporationName" FROM "crpCorporation" '
              'WHERE "corporationID" IN (?)', corp)]
    try:
        rows += [(r[0], r[1], TYPE_ALLIANCE, 0, None) for r in _select(
            conn, 'SELECT "allianceID", "allianceName" FROM "alnAlliance" '
                  'WHERE "allianceID" IN (?)', ally)]
    except Exception:           # no alliance table loaded
        pass
    rows += [(r[0], r[1], r[2], r[3], None) for r in _select(
        conn, 'SELECT "characterID", "characterName", "typeID", "gender" FROM '
              '"chrCharacters" WHERE "characterID" IN (?)', char)]
    rows += [(r[0], r[1], r[0], 1, r[2]) for r in _select(
        conn, 'SELECT "typeID", "typeName", "typeNameID" FROM "invTypes" WHERE "typeID" IN (?)',
        npc)]
    rows += [(r[0], r[1], TYPE_CORPORATION, 0, None) for r in _select(
        conn, 'SELECT DISTINCT c."corporationID", c."corporationName" FROM "crpCorporation" c '
              'JOIN "staStations" s ON s."corporationID" = c."corporationID" '
              'WHERE s."stationID" IN (?)', station)]
    # whatever was not found by its range: eveStaticOwners
    found = {r[0] for r in rows}
    other = sorted(set(other) | {i for i in ids if i not in found})
    rows += [(r[0], r[1], r[2], 1, None) for r in _select(
        conn, 'SELECT "ownerID", "ownerName", "typeID" FROM "eveStaticOwners" '
              'WHERE "ownerID" IN (?)', other)]
    return OWNER_COLUMNS, rows


def locations(conn, ids):
    """EVEmu ConfigDB::GetMultiLocationsEx: static items from mapDenormalize, the rest
    (ships, containers) from the items table."""
    ids = _ints(ids)
    static = [i for i in ids if i < 100000000]
    dynamic = [i for i in ids if i >= 100000000]
    rows = [(r[0], r[1], r[2], r[3], r[4], None) for r in _select(
        conn, 'SELECT "itemID", "itemName", "x", "y", "z" FROM "mapDenormalize" '
              'WHERE "itemID" IN (?)', static)]
    rows += [(r[0], r[1], 0.0, 0.0, 0.0, None) for r in _select(
        conn, 'SELECT "itemID", "itemName" FROM "invItems" WHERE "itemID" IN (?)', dynamic)]
    return LOCATION_COLUMNS, rows


def inv_types(conn, ids):
    cols = ", ".join(f'"{c}"' for c in INV_TYPE_COLUMNS)
    rows = _select(conn, f'SELECT {cols} FROM "invTypes" WHERE "typeID" IN (?) '
                         f'ORDER BY "typeID"', _ints(ids))
    return INV_TYPE_COLUMNS, [tuple(r) for r in rows]


def units(conn):
    cur = conn.cursor()
    cur.execute('SELECT "unitID", "unitName", "displayName" FROM "eveUnits" ORDER BY "unitID"')
    return ("unitID", "unitName", "displayName"), cur.fetchall()


# ------------------------------------------------------------------------------ map views
def map_objects(conn, entity_id, want_regions, want_constellations, want_systems,
                want_stations):
    """EVEmu ConfigDB::GetMapObjects: mapDenormalize rows under a region/constellation/system
    (or all regions).  Returns (names, rows)."""
    if want_regions:
        key, entity_id = "typeID", 3
    elif want_constellations:
        key = "regionID"
    elif want_systems:
        key = "constellationID"
    else:
        key = "solarSystemID"
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "groupID", "typeID", "itemID", "itemName", "solarSystemID", '
                f'COALESCE("orbitID", 0), "x", "y", "z" FROM "mapDenormalize" '
                f'WHERE "{key}" = {ph} ORDER BY "itemID"', (entity_id,))
    return (("groupID", "typeID", "itemID", "itemName", "locationID", "orbitID", "x", "y", "z"),
            cur.fetchall())


def map_connections(conn, item_id, by_system, by_region, by_constellation):
    """EVEmu ConfigDB::GetMapConnections: the mapConnections rows from a system, region or
    constellation."""
    key = "fromsol" if by_system else "fromreg" if by_region else "fromcon"
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "ctype", "fromreg", "fromcon", "fromsol", "stargateID", "celestialID", '
                f'"tosol", "tocon", "toreg" FROM "mapConnections" WHERE "{key}" = {ph} '
                f'ORDER BY "ai"', (item_id,))
    return (("ctype", "fromreg", "fromcon", "fromsol", "stargateID", "celestialID", "tosol",
             "tocon", "toreg"), cur.fetchall())


def solar_system_map(conn, system_id):
    """EVEmu ConfigDB::GetMap: the system's bounds and luminosity with each of its celestials
    (and a gate's destination)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute('SELECT s."solarSystemID", s."xMin", s."xMax", s."yMin", s."yMax", s."zMin", '
                's."zMax", s."luminosity", d."x", d."y", d."z", d."itemID", d."itemName", '
                'd."typeID", d."orbitID", j."celestialID" FROM "mapSolarSystems" s '
                'LEFT JOIN "mapDenormalize" d ON d."solarSystemID" = s."solarSystemID" '
                'LEFT JOIN "mapJumps" j ON j."stargateID" = d."itemID" '
                f'WHERE s."solarSystemID" = {ph} ORDER BY d."itemID"', (system_id,))
    return (("locationID", "xMin", "xMax", "yMin", "yMax", "zMin", "zMax", "luminosity", "x",
             "y", "z", "itemID", "itemName", "typeID", "orbitID", "destinations"),
            cur.fetchall())


def stations_ex(conn, ids):
    rows = _select(conn, 'SELECT "stationID", "stationName", "stationTypeID", '
                         '"solarSystemID", "x", "y", "z" FROM "staStations" '
                         'WHERE "stationID" IN (?) ORDER BY "stationID"', _ints(ids))
    return (("stationID", "stationName", "stationTypeID", "solarSystemID", "x", "y", "z"),
            rows)


def ticker_names(conn, ids):
    rows = _select(conn, 'SELECT "corporationID", "tickerName", "shape1", "shape2", "shape3", '
                         '"color1", "color2", "color3" FROM "crpCorporation" '
                         'WHERE "corporationID" IN (?) ORDER BY "corporationID"', _ints(ids))
    return (("corporationID", "tickerName", "shape1", "shape2", "shape3", "color1", "color2",
             "color3"), rows)


def station_systems_by_owner(conn, owner_id):
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "stationID", "solarSystemID" FROM "staStations" WHERE '
                f'"corporationID" = {ph} ORDER BY "stationID"', (owner_id,))
    return ("stationID", "solarSystemID"), cur.fetchall()
