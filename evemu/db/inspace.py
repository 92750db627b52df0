"""Where a ship was left in space when its pilot logged off (portable SQL on a DB-API
connection; table ``shipPositions``, migration 501).

EVEmu keeps every item's ``x, y, z`` in its entity table; ``invItems`` has no position, so the
point a ship was left at lives here, one row per ship.  :func:`log_off_in_space` records the
whole state in one transaction: the ship stays in the solar system (flag 0), the character's
row names the system and no station (``stationID`` NULL: ``charUnboundMgr`` then selects it
into space), and the ship's point is kept for the login warp.
"""
from .importer import _placeholder, _tx

__all__ = ["SCHEMA", "log_off_in_space", "ship_position"]

SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "shipPositions" ('
    ' "itemID" BIGINT PRIMARY KEY, "x" DOUBLE PRECISION NOT NULL,'
    ' "y" DOUBLE PRECISION NOT NULL, "z" DOUBLE PRECISION NOT NULL)',
)

FLAG_IN_SPACE = 0


def log_off_in_space(conn, char_id, ship_id, system_id, constellation_id, region_id, point):
    """The character logs off with its ship at ``point`` in ``system_id``."""
    x, y, z = (float(v) for v in point)

    def run():
        ph = _placeholder(conn)
        cur = conn.cursor()
        cur.execute(f'UPDATE "chrCharacters" SET "stationID" = NULL, "solarSystemID" = {ph} '
                    f'WHERE "characterID" = {ph}', (system_id, char_id))
        cur.execute(f'UPDATE "chrCharacterInfo" SET "constellationID" = {ph}, '
                    f'"regionID" = {ph} WHERE "characterID" = {ph}',
                    (constellation_id, region_id, char_id))
        cur.execute(f'UPDATE "invItems" SET "locationID" = {ph}, "flagID" = {ph} WHERE '
                    f'"itemID" = {ph}', (system_id, FLAG_IN_SPACE, ship_id))
        cur.execute(f'DELETE FROM "shipPositions" WHERE "itemID" = {ph}', (ship_id,))
        cur.execute(f'INSERT INTO "shipPositions" VALUES ({ph}, {ph}, {ph}, {ph})',
                    (ship_id, x, y, z))
    _tx(conn, run)


def ship_position(conn, ship_id):
    """The point ``ship_id`` was left at, or None."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "x", "y", "z" FROM "shipPositions" WHERE "itemID" = {ph}', (ship_id,))
    r = cur.fetchone()
    return None if r is None else tuple(float(v) for v in r)
