"""Space wired to the server: ``ship.Undock``, the bound ``beyonce`` object, the per-client
``DoDestinyUpdate`` flush, docking, stargate jumps and the NPCs of ``--npcs N``.

The engine is :mod:`evemu.world.space` (it imports nothing from the services); this module
is the glue between it, the database and the client connections (docs/space.md, "Server
wiring").  Shapes and call flow follow evemu_Crucible (read for facts):
``src/eve-server/ship/ShipService.cpp`` (``ShipBound::Handle_Undock``: args ``(shipID,
ignoreContraband)`` plus ``onlineModules=`` keyword, answers ``(bindString, filetime)``) and
``src/eve-server/ship/BeyonceService.cpp`` (``BeyonceBound``: every ``Cmd*`` answers None but
``CmdStargateJump``, which answers the bound object's OID; ``UpdateStateRequest`` sends a fresh
SetState as a destiny update and answers None) and ``src/eve-server/system/SystemManager.cpp``
(``MakeSetState``: ``solItem`` an item row, ``droneState`` a rowset).

* :class:`SpaceWorld` (``server.space_world``) owns the :class:`~evemu.world.space.Space`
  (the destiny clock, one tasklet per active system) and loads a system's statics (its
  stations with their undock point and direction, its stargates with their destination) from
  the database the first time a ship needs it.
* A pilot in space is a hidden bound object of its connection (:class:`Pilot`): the ship's
  :class:`~evemu.world.space.Observer` delivers each tick's updates to that connection as one
  ``DoDestinyUpdate`` notification; releasing it (the connection closes) takes the ship out of
  space and puts it back in the character's station hangar.
* Until the client binds ``beyonce`` for the system it is in, its updates are dropped (the
  ``SetState`` sent at the bind carries the whole state); the bind sends ``AddBalls2`` at stamp
  N and ``SetState`` at N+1, each as its own ``DoDestinyUpdate``.
"""
import logging
import random

import stackless
from stackless import loop, sync

from evemu.db import filetime_now
from evemu.db import bookmarks as bmdb
from evemu.db import inspace
from evemu.db import inventory as inv
from evemu.db.importer import _placeholder, _tx
from evemu.machonet.broadcast import notification_addresses, notification_body
from evemu.wire.marshal import PackedRow
from evemu.world.space import (BadArgument, NotAllowed, Observer, ShipControl, Space,
                               SpaceError, UnknownBall)
from evemu.world.space import destiny, physics

from . import BindableService, BoundObject, CustomError, UserError, exposed
from .inventory import (FLAG_HANGAR, GROUP_SOLAR_SYSTEM, ITEM_DESCRIPTOR, need_character,
                        own_item, send_item_changes)

log = logging.getLogger("evemu.services.space")

CATEGORY_SHIP = 6
GROUP_STATION, CATEGORY_STATION = 15, 3
GROUP_STARGATE, CATEGORY_CELESTIAL = 10, 2
TYPE_SOLAR_SYSTEM = 5
ATTR_MAX_VELOCITY, ATTR_AGILITY, ATTR_WARP_SPEED = 37, 70, 1281
FLAG_IN_SPACE = 0
DEFAULT_STATION_RADIUS = 10000.0
NPC_ID_BASE = 9_000_000_000_000      # NPC ship ball ids (above any item id)
NPC_TYPE = 606                       # a Velator's looks for every NPC
#: the session-change timer: no dock or jump within this many destiny stamps (seconds at the
#: 1 Hz tick) of the last session change (EVEmu Player::Timer::Session, 10,000 ms)
SESSION_CHANGE_TICKS = 10
SESSION_CHANGE_ACTIVE = "Session Change currently active."

__all__ = ["SpaceWorld", "BeyonceService", "Pilot", "undock", "space_user_error"]


def space_user_error(err):
    """The client's UserError for an engine SpaceError (its CustomNotify message)."""
    key, values = err.user_error()
    return UserError(key, {k.encode() if isinstance(k, str) else k:
                           v.encode() if isinstance(v, str) else v for k, v in values.items()})


# ----------------------------------------------------------------------------- database
def system_statics(conn, system_id):
    """(system row, stations, stargates) of a solar system, from the static tables."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute('SELECT "solarSystemID", "solarSystemName", "constellationID", "regionID", '
                f'"security" FROM "mapSolarSystems" WHERE "solarSystemID" = {ph}', (system_id,))
    r = cur.fetchone()
    if r is None:
        return None, [], []
    sysrow = dict(zip(("solarSystemID", "solarSystemName", "constellationID", "regionID",
                       "security"), r))
    cur.execute('SELECT s."stationID", s."stationTypeID", s."corporationID", s."stationName", '
                's."x", s."y", s."z", t."dockEntryX", t."dockEntryY", t."dockEntryZ", '
                't."dockOrientationX", t."dockOrientationY", t."dockOrientationZ", ty."radius" '
                'FROM "staStations" s LEFT JOIN "staStationTypes" t ON '
                't."stationTypeID" = s."stationTypeID" LEFT JOIN "invTypes" ty ON '
                f'ty."typeID" = s."stationTypeID" WHERE s."solarSystemID" = {ph}', (system_id,))
    stations = [dict(zip(("id", "typeID", "ownerID", "name", "x", "y", "z", "ex", "ey", "ez",
                          "ox", "oy", "oz", "radius"), row)) for row in cur.fetchall()]
    cur.execute('SELECT d."itemID", d."typeID", d."x", d."y", d."z", d."radius", d."itemName", '
                'j."celestialID", d2."solarSystemID" FROM "mapDenormalize" d '
                'LEFT JOIN "mapJumps" j ON j."stargateID" = d."itemID" '
                'LEFT JOIN "mapDenormalize" d2 ON d2."itemID" = j."celestialID" '
                f'WHERE d."solarSystemID" = {ph} AND d."groupID" = {GROUP_STARGATE:d}',
                (system_id,))
    gates = [dict(zip(("id", "typeID", "x", "y", "z", "radius", "name", "toGate", "toSystem"),
                      row)) for row in cur.fetchall()]
    return sysrow, stations, gates


def ship_attributes(conn, type_id):
    """(radius, mass, agility, maxVelocity, warpSpeed AU/s) of a ship type."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'SELECT "radius", "mass" FROM "invTypes" WHERE "typeID" = {ph}', (type_id,))
    r = cur.fetchone() or (50.0, 1.0e6)
    cur.execute('SELECT "attributeID", COALESCE("valueFloat", "valueInt") FROM '
                f'"dgmTypeAttributes" WHERE "typeID" = {ph}', (type_id,))
    attrs = dict(cur.fetchall())
    radius = float(r[0] or 50.0)
    mass = float(r[1] or 1.0e6)
    agility = float(attrs.get(ATTR_AGILITY) or 3.0)
    speed = float(attrs.get(ATTR_MAX_VELOCITY) or 100.0)
    warp = float(attrs.get(ATTR_WARP_SPEED) or 3.0)
    return radius, mass, agility, speed, warp


def starting_systems(conn):
    """The solar systems of the stations new characters start in (the school stations)."""
    cur = conn.cursor()
    cur.execute('SELECT DISTINCT "solarSystemID" FROM "staStations" ORDER BY "solarSystemID"')
    return [r[0] for r in cur.fetchall()]


def set_character_station(conn, char_id, station_id, system_id, constellation_id, region_id):
    """Record where the character docked (chrCharacters + chrCharacterInfo)."""
    ph = _placeholder(conn)

    def run():
        cur = conn.cursor()
        cur.execute(f'UPDATE "chrCharacters" SET "stationID" = {ph}, "solarSystemID" = {ph} '
                    f'WHERE "characterID" = {ph}', (station_id, system_id, char_id))
        cur.execute(f'UPDATE "chrCharacterInfo" SET "constellationID" = {ph}, '
                    f'"regionID" = {ph} WHERE "characterID" = {ph}',
                    (constellation_id, region_id, char_id))
    _tx(conn, run)


# ----------------------------------------------------------------------------- the world
class SpaceWorld:
    """The server's space: the destiny clock, the loaded systems, the pilots in space."""

    @classmethod
    def of(cls, server):
        w = getattr(server, "space_world", None)
        if w is None:
            w = server.space_world = cls(server)
        return w

    def __init__(self, server):
        self.server = server
        cfg = server.config
        self.space = Space(tick_interval=float(getattr(cfg, "space_tick", 1.0) or 1.0))
        #: False: systems are not started (tests drive ``system.tick()`` themselves)
        self.autostart = True
        self.info = {}              # system id -> mapSolarSystems row (dict)
        self.pilots = {}            # connection -> Pilot
        self.logging_off = {}       # char id -> sync.Event set once its log-off is written
        self.npcs = []
        self._stopped = False
        self._addresses = notification_addresses(server.node_id, "DoDestinyUpdate", "clientID")
        self._bodies = {}           # this flush's marshalled bodies (see body())
        self._bodies_of = None      # (system id, stamp) they belong to
        server.on_shutdown.append(self.stop)

    def body(self, system, args):
        """The notification body of DoDestinyUpdate ``args``, marshalled once per tick for
        every client that gets the same updates (everyone in a bubble shares the action
        objects: the key is their identities, kept alive by the cache until the next
        flush)."""
        of = (system.id, system.stamp) if system is not None else None
        if of is None or of != self._bodies_of:
            self._bodies.clear()
            self._bodies_of = of
        key = (tuple(map(id, args[0])), args[1],
               tuple(map(id, args[2])) if len(args) > 2 else None)
        hit = self._bodies.get(key)
        if hit is None:
            hit = self._bodies[key] = (args, notification_body(args))
        return hit[1]

    @property
    def db(self):
        return self.server.db

    def system(self, system_id):
        """The loaded SolarSystem ``system_id`` (its statics read on first use); None if the
        database does not know it.  Blocks the calling tasklet on the database the first time."""
        s = self.space.systems.get(system_id)
        if s is not None:
            return s
        sysrow, stations, gates = self.db.run(system_statics, system_id)
        if sysrow is None:
            return None
        s = self.space.systems.get(system_id)      # loaded meanwhile by another tasklet
        if s is not None:
            return s
        s = self.space.system(system_id)
        self.info[system_id] = sysrow
        for st in stations:
            pos = (st["x"], st["y"], st["z"])
            entry = tuple(float(st[k] or 0.0) for k in ("ex", "ey", "ez"))
            direction = tuple(float(st[k] or 0.0) for k in ("ox", "oy", "oz"))
            if not any(direction):
                direction = (1.0, 0.0, 0.0)
            point = tuple(p + e for p, e in zip(pos, entry))
            s.add_static(st["id"], pos, float(st["radius"] or DEFAULT_STATION_RADIUS),
                         dockable=True, undock=(point, direction), type_id=st["typeID"],
                         owner_id=st["ownerID"], corp_id=st["ownerID"], group_id=GROUP_STATION,
                         category_id=CATEGORY_STATION, name=st["name"] or "")
        for g in gates:
            dest = (g["toSystem"], g["toGate"]) if g["toGate"] is not None else None
            kw = {"destination": dest} if dest else {}
            s.add_static(g["id"], (g["x"], g["y"], g["z"]), float(g["radius"] or 15000.0),
                         type_id=g["typeID"], owner_id=1, group_id=GROUP_STARGATE,
                         category_id=CATEGORY_CELESTIAL, name=g["name"] or "", **kw)
        if self.autostart and not self._stopped:
            s.start()
        return s

    def sol_item(self, system_id):
        """SetState's ``solItem``: the solar system as an item row, a PackedRow of the
        client's item descriptor (EVEmu SystemManager::MakeSetState: itemID the system,
        typeID 5, ownerID 1, locationID its constellation, flagID 0, quantity -1, groupID 5,
        categoryID 2, customInfo '')."""
        r = self.info.get(system_id) or {}
        return PackedRow(ITEM_DESCRIPTOR, (system_id, TYPE_SOLAR_SYSTEM, 1,
                                           r.get("constellationID") or 0, 0, -1,
                                           GROUP_SOLAR_SYSTEM, CATEGORY_CELESTIAL, b""))

    # --------------------------------------------------------------------------- NPCs
    def spawn_npcs(self, n, systems=None, seed=1, yield_every=500):
        """Spawn ``n`` NPC ships (each its own tasklet) round-robin over ``systems`` (default:
        the starting systems), flying patrol, orbit and warp routines around the stations and
        gates.  Returns the NPCs."""
        if systems is None:
            systems = self.db.run(starting_systems)
        loaded = [s for s in (self.system(sid) for sid in systems) if s is not None]
        if not loaded or n <= 0:
            return []
        rnd = random.Random(seed)
        out = []
        for i in range(n):
            s = loaded[i % len(loaded)]
            anchors = list(s.statics.values())
            if not anchors:
                continue
            a = anchors[rnd.randrange(len(anchors))]
            off = lambda: rnd.uniform(-30000.0, 30000.0)   # noqa: E731
            ap = a.position
            start = (ap[0] + a.radius + 5000.0 + abs(off()), ap[1] + off(), ap[2] + off())
            kind = i % 3
            if kind == 0:
                pts = [(ap[0] + a.radius + 5000.0 + abs(off()), ap[1] + off(), ap[2] + off())
                       for _ in range(3)]
                routine, args = "patrol", (pts,)
            elif kind == 1:
                routine, args = "orbit", (a.id, a.radius + rnd.uniform(2000.0, 20000.0))
            else:
                far = [b.id for b in anchors]
                if len(far) < 2:
                    routine, args = "orbit", (a.id, a.radius + 5000.0)
                else:
                    routine, args = "warp", (far, 10)
            npc = s.spawn_npc(NPC_ID_BASE + len(self.npcs), start, routine, args,
                              radius=40.0, mass=1.148e6, inertia=4.04, max_speed=296.0,
                              type_id=NPC_TYPE, owner_id=1000168, corp_id=1000168,
                              group_id=25, category_id=CATEGORY_SHIP, name="NPC %d" % i)
            self.npcs.append(npc)
            out.append(npc)
            if yield_every and len(out) % yield_every == 0:
                loop.sleep(0)           # let the server serve meanwhile (100k take seconds)
                if self._stopped:
                    break
        log.info("spawned %d NPC ships in %d systems", len(out), len(loaded))
        return out

    def stop(self):
        """Stop every system tasklet and NPC (server shutdown)."""
        self._stopped = True
        for npc in self.npcs:
            try:
                npc.kill()
            except Exception:
                log.exception("stopping NPC %s", getattr(npc, "ship_id", "?"))
        self.npcs = []
        self.space.stop()


# ----------------------------------------------------------------------------- pilots
class Pilot(BoundObject):
    """A character's ship in space, bound (hidden) to its connection: releasing it (the
    connection closing) takes the ship out of space."""

    def __init__(self, service, connection, world, system_id, ship_id, char_id, home=None):
        super().__init__(service, connection)
        self.world = world
        self.system_id = system_id
        self.ship_id = ship_id
        self.char_id = char_id
        self.home = home                    # the station it undocked from (None: logged in)
        self.login_warp = None              # the point to warp to once beyonce is bound
        self.session_change = None          # destiny stamp of the last session change
        self.ready = False                  # the client has bound beyonce in this system
        self.delivered = 0
        self.observer = Observer(ship_id, self._deliver)
        self.control = ShipControl(world.space, system_id, ship_id, self.observer)
        self.left = False

    def _deliver(self, args):
        """Called by the system tasklet once per tick: never raises."""
        conn = self.connection
        if not self.ready or conn.closed:
            return
        try:
            w = self.world
            conn.notify_body("DoDestinyUpdate", "clientID", w.body(self.observer.system, args),
                             True, w._addresses)
            self.delivered += 1
        except Exception as e:
            log.debug("%s: DoDestinyUpdate not delivered: %r", conn, e)

    def send_now(self, *actions):
        """Deliver ``actions`` at once, each as its own DoDestinyUpdate."""
        for act in actions:
            self.connection.notify("DoDestinyUpdate", "clientID",
                                   destiny.do_destiny_update([act], False))

    def on_release(self):
        """The connection closed (or the client released us): the ship leaves the ballpark
        and, as EVEmu's Client::WarpOut, stays in the system where it was; the character
        logs off in space (its next login starts there, :func:`login_in_space`)."""
        if self.left:
            return
        self.left = True
        self.world.pilots.pop(self.connection, None)
        system_id = self.control.system_id
        s = self.world.space.systems.get(system_id)
        ball = s.park.get(self.ship_id) if s is not None else None
        point = ball.position if ball is not None else None
        if ball is not None:
            s.remove_ship(self.ship_id)
        log.info("%s: ship %d left space (disconnected)", self.connection, self.ship_id)
        db = self.service.db
        if point is not None and not db.closed:
            info = self.world.info.get(system_id) or {}
            # a selection of this character waits for the write (wait_logged_off): it must
            # read the row the log-off leaves, not the one before it
            done = self.world.logging_off[self.char_id] = sync.Event()
            stackless.tasklet(self._log_off)(db, system_id, info.get("constellationID"),
                                             info.get("regionID"), point, done)

    def _log_off(self, db, system_id, constellation_id, region_id, point, done):
        try:
            if db.closed:                   # the server is shutting down
                return
            db.run(inspace.log_off_in_space, self.char_id, self.ship_id, system_id,
                   constellation_id, region_id, point)
        except Exception as e:
            if not db.closed:
                log.warning("logging ship %d off in space failed: %r", self.ship_id, e)
        finally:
            if self.world.logging_off.get(self.char_id) is done:
                del self.world.logging_off[self.char_id]
            done.set()


def undock(shipbound, call, shipID=None, ignoreContraband=False, **kw):
    """``ship.Undock``: the ship leaves the station for space (see the module doc)."""
    cid = need_character(call)
    session = call.session
    sid = session.get("stationid")
    if sid is None:
        raise CustomError("You are not docked.")
    ship_id = session.get("shipid")
    if shipID is not None and shipID != ship_id:
        raise CustomError("That is not your active ship.")
    server = call.connection.server
    world = SpaceWorld.of(server)
    if call.connection in world.pilots:
        raise CustomError("You are already in space.")
    db = shipbound.service.db
    ship = db.run(own_item, call, ship_id)
    if ship["categoryID"] != CATEGORY_SHIP:
        raise CustomError("You have no ship to undock in.")
    st = db.run(inv.station_info, sid)
    system_id = st["solarSystemID"] if st else None
    system = world.system(system_id) if system_id is not None else None
    if system is None or sid not in system.statics:
        raise CustomError("This station has no way out.")
    radius, mass, agility, speed, warp = db.run(ship_attributes, ship["typeID"])
    if call.connection.closed or call.connection in world.pilots:
        # gone (or undocked by a concurrent call) while this one waited on the database:
        # from here to the bind below nothing blocks, so the pilot is released with it
        raise CustomError("Cannot undock now.")
    pilot = Pilot(shipbound.service, call.connection, world, system_id, ship_id, cid, sid)
    try:
        system.undock(ship_id, sid, radius, mass, agility, speed, pilot.observer,
                      warp_speed=warp, type_id=ship["typeID"], owner_id=cid,
                      corp_id=session.get("corpid") or 0, group_id=ship["groupID"],
                      category_id=CATEGORY_SHIP, name=ship.get("itemName") or "")
    except SpaceError as e:
        raise space_user_error(e) from None
    except ValueError as e:          # the ship is already a ball (another connection)
        raise CustomError(f"Cannot undock: {e}") from None
    world.pilots[call.connection] = pilot
    pilot.session_change = system.stamp
    shipbound.service.manager.bind(pilot, call.connection)
    send_item_changes(shipbound.service.manager,
                      db.run(inv.set_location, ship_id, system_id, FLAG_IN_SPACE))
    guests = shipbound.service.manager.lookup("station")
    if guests is not None and hasattr(guests, "undocked"):
        guests.undocked(call)
    session.update(stationid=None, stationid2=None, worldspaceid=None,
                   solarsystemid=system_id, solarsystemid2=system_id, locationid=system_id,
                   shipid=ship_id)
    log.info("%s: character %d undocked ship %d from %d into %d", call.connection, cid,
             ship_id, sid, system_id)
    return (shipbound.bound_id.encode("ascii"), filetime_now())


def login_in_space(service, call, row):
    """A character selected while its ship is in space (its row names a system and no
    station): the ship appears half an AU from the point it was left at, in a random
    direction, and warps back to that point once the client has bound beyonce and had its
    SetState (EVEmu's Client::SelectCharacter + WarpIn: MakeRandomPointOnSphere(0.5 AU), then
    the LoginWarp state's WarpTo).  Returns the Pilot, or None when the ship is not there to
    fly (then the client cannot bind beyonce; logged as a warning)."""
    conn = call.connection
    world = SpaceWorld.of(conn.server)
    cid, system_id, ship_id = row["characterID"], row["solarSystemID"], row["shipID"]
    if conn in world.pilots or ship_id is None or system_id is None:
        return None
    db = service.db
    ship = db.run(inv.item, ship_id)
    system = world.system(system_id)
    if (ship is None or system is None or ship["ownerID"] != cid
            or ship["categoryID"] != CATEGORY_SHIP or ship["locationID"] != system_id):
        log.warning("%s: character %d logs in in space but its ship %s is not in %s",
                    conn, cid, ship_id, system_id)
        return None
    point = db.run(inspace.ship_position, ship_id)
    if point is None:               # never logged off in space: start by a station
        st = next((b for b in system.statics.values() if (b.extra or {}).get("undock")),
                  None)
        point = st.extra["undock"][0] if st is not None else (0.0, 0.0, 0.0)
    radius, mass, agility, speed, warp = db.run(ship_attributes, ship["typeID"])
    if conn.closed or conn in world.pilots or system.park.get(ship_id) is not None:
        return None
    d = (0.0, 0.0, 0.0)
    while physics.norm(d) < 1e-6:   # a random direction (uniform on the sphere)
        d = tuple(random.gauss(0.0, 1.0) for _ in range(3))
    d = physics.unit(d)
    start = tuple(p + c * 0.5 * physics.AU for p, c in zip(point, d))
    pilot = Pilot(service, conn, world, system_id, ship_id, cid)
    pilot.login_warp = point
    try:
        system.add_ship(ship_id, start, radius, mass, agility, speed,
                        observer=pilot.observer, warp_speed=warp, type_id=ship["typeID"],
                        owner_id=cid, corp_id=call.session.get("corpid") or 0,
                        group_id=ship["groupID"], category_id=CATEGORY_SHIP,
                        name=ship.get("itemName") or "")
    except (SpaceError, ValueError) as e:
        log.warning("%s: ship %d cannot enter space: %r", conn, ship_id, e)
        return None
    world.pilots[conn] = pilot
    pilot.session_change = system.stamp
    service.manager.bind(pilot, conn)
    log.info("%s: character %d logged in in space in %d (ship %d)", conn, cid, system_id,
             ship_id)
    return pilot


# ----------------------------------------------------------------------------- beyonce
def _guard(fn):
    """Engine errors become the client's UserError (never a traceback)."""
    def wrapper(self, call, *args, **kwargs):
        if self.pilot.left or self.pilot.connection is not call.connection:
            raise CustomError("You are not in space.")
        if self.pilot.control.system_id != self.system_id:
            raise CustomError("Your ship is no longer in that solar system.")
        try:
            return fn(self, call, *args, **kwargs)
        except SpaceError as e:
            raise space_user_error(e) from None
    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    wrapper.__evemu_exposed__ = True
    return wrapper


class BeyonceBound(BoundObject):
    """The client's remote ballpark for one solar system (EVEmu's BeyonceBound)."""

    def __init__(self, service, connection, world, pilot, system_id):
        super().__init__(service, connection)
        self.world = world
        self.pilot = pilot
        self.system_id = system_id
        self.oid = None                 # (idString, filetime), as the bind answered it

    @property
    def system(self):
        return self.world.space.systems[self.system_id]

    def send_initial_state(self):
        """AddBalls2 (the ego ship) at stamp N, then SetState at N+1 (EVEmu's order)."""
        s = self.system
        ball = s.park.get(self.pilot.ship_id)
        add = destiny.add_balls2(s.stamp, [ball])
        state = s.set_state(ball.id, stamp=s.stamp + 1, sol_item=self.world.sol_item(s.id))
        self.pilot.observer.queue.clear()
        self.pilot.ready = True
        self.pilot.send_now(add, state)
        point, self.pilot.login_warp = self.pilot.login_warp, None
        if point is not None:           # logged in in space: the warp goes out next tick
            try:
                s.cmd_warp_to_point(self.pilot.ship_id, *point)
            except SpaceError as e:
                log.info("%s: no login warp: %s", self.connection, e)

    @_guard
    def CmdGotoDirection(self, call, x, y, z):
        return self.pilot.control.CmdGotoDirection(x, y, z)

    @_guard
    def CmdGotoPoint(self, call, x, y, z):
        return self.pilot.control.CmdGotoPoint(x, y, z)

    @_guard
    def CmdSetSpeedFraction(self, call, speedFraction):
        return self.pilot.control.CmdSetSpeedFraction(speedFraction)

    @_guard
    def CmdStop(self, call):
        return self.pilot.control.CmdStop()

    @_guard
    def CmdOrbit(self, call, entityID, rangeValue=0):
        return self.pilot.control.CmdOrbit(entityID, rangeValue)

    @_guard
    def CmdFollowBall(self, call, ballID, distance=0):
        return self.pilot.control.CmdFollowBall(ballID, distance)

    @_guard
    def CmdAlignTo(self, call, entityID):
        return self.pilot.control.CmdAlignTo(entityID)

    def _bookmark(self, bookmark_id):
        """Where a bookmark of this pilot points, for a warp or a goto in this system:
        ``('point', (x, y, z))`` (a spot: typeID 5) or ``('item', itemID)`` (a station...),
        as EVEmu's BeyonceBound reads BookmarkService::LookupBookmark.  A bookmark that is
        not the pilot's, or one in another system, is refused (an engine SpaceError)."""
        if isinstance(bookmark_id, bool) or not isinstance(bookmark_id, int) or \
                not -2 ** 63 <= bookmark_id < 2 ** 63:
            raise BadArgument("a bookmark id must be an integer")
        row = self.service.db.run(bmdb.bookmark, bookmark_id)
        pilot = self.pilot
        if row is None or row["ownerID"] != pilot.char_id:
            raise UnknownBall("you have no bookmark %d" % bookmark_id)
        if pilot.left or pilot.control.system_id != self.system_id:
            raise NotAllowed("your ship has left this solar system")
        if row["typeID"] == TYPE_SOLAR_SYSTEM:
            if row["locationID"] != self.system_id:
                raise NotAllowed("that bookmark is in another solar system")
            return "point", (row["x"], row["y"], row["z"])
        return "item", row["itemID"]

    @_guard
    def CmdWarpToStuff(self, call, type, id, minRange=0, fleet=None, **kw):
        """'item' (a ball of the system) or 'bookmark' (its point, or the item it marks:
        EVEmu's BeyonceBound::CmdWarpToStuff), stopping ``minRange`` metres short."""
        rng = 0 if minRange is None else minRange
        kind = type.decode("latin-1") if isinstance(type, bytes) else type
        control = self.pilot.control
        if kind == "bookmark":
            what, where = self._bookmark(id)
            if what == "item":
                control.CmdWarpToStuff("item", where, minRange=rng)
            else:
                control.system.cmd_warp_to_point(self.pilot.ship_id, *where, distance=rng)
            return None
        control.CmdWarpToStuff(type, id, minRange=rng)
        return None

    @_guard
    def CmdGotoBookmark(self, call, bookmarkID):
        """Fly (no warp) to a bookmark's point, or to the position of the item it marks
        (EVEmu's BeyonceBound::CmdGotoBookmark: GotoPoint either way)."""
        what, where = self._bookmark(bookmarkID)
        control = self.pilot.control
        if what == "item":
            ball = control.system.park.get(where) if isinstance(where, int) else None
            if ball is None:
                raise UnknownBall("no ball %r in this system" % (where,))
            where = ball.position
        control.CmdGotoPoint(*where)
        return None

    def _no_session_change(self):
        """EVEmu's IsSessionChange() check of CmdDock and CmdStargateJump: refused (its
        CustomNotify text) within SESSION_CHANGE_TICKS stamps of the undock, jump or login."""
        pilot = self.pilot
        if pilot.session_change is not None and \
                self.system.stamp - pilot.session_change < SESSION_CHANGE_TICKS:
            raise UserError("CustomNotify", {b"notify": SESSION_CHANGE_ACTIVE.encode()})

    @_guard
    def CmdDock(self, call, celestialID, shipID=None, paymentRequired=None):
        """Within docking range: the ship leaves space, the session moves into the station,
        the ship lands in its hangar."""
        self._no_session_change()
        pilot = self.pilot
        if shipID is not None and shipID != pilot.ship_id:
            raise CustomError("That is not your ship.")
        st = pilot.control.CmdDock(celestialID, shipID)
        pilot.left = True
        self.world.pilots.pop(call.connection, None)
        self.service.manager.release(pilot.bound_id, call.connection)
        db = self.service.db
        info = self.world.info.get(self.system_id) or {}
        send_item_changes(self.service.manager,
                          db.run(inv.set_location, pilot.ship_id, st.id, FLAG_HANGAR))
        db.run(set_character_station, pilot.char_id, st.id, self.system_id,
               info.get("constellationID"), info.get("regionID"))
        call.session.update(solarsystemid=None, stationid=st.id, stationid2=st.id,
                            worldspaceid=st.id, locationid=st.id,
                            solarsystemid2=self.system_id)
        guests = self.service.manager.lookup("station")
        if guests is not None and hasattr(guests, "enter"):
            guests.enter(call, {"characterID": pilot.char_id,
                                "corporationID": call.session.get("corpid")})
        log.info("%s: ship %d docked at %d", call.connection, pilot.ship_id, st.id)
        return None

    @_guard
    def CmdStargateJump(self, call, fromStargateID, toStargateID, shipID=None):
        """Within range of the gate: the ship leaves this system's ballpark and appears at
        the destination gate; the session moves to the new system (the client then binds
        beyonce there and gets its AddBalls2/SetState)."""
        self._no_session_change()
        pilot = self.pilot
        s = self.system
        gate = s.park.get(fromStargateID) if isinstance(fromStargateID, int) and \
            not isinstance(fromStargateID, bool) else None
        dest = (gate.extra or {}).get("destination") if gate is not None else None
        if dest is not None and self.world.system(dest[0]) is None:
            raise CustomError("That stargate leads nowhere.")
        system, ball = pilot.control.CmdStargateJump(fromStargateID, toStargateID, shipID)
        pilot.ready = False
        pilot.system_id = system.id
        pilot.session_change = system.stamp
        info = self.world.info.get(system.id) or {}
        db = self.service.db
        send_item_changes(self.service.manager,
                          db.run(inv.set_location, pilot.ship_id, system.id, FLAG_IN_SPACE))
        call.session.update(solarsystemid=system.id, solarsystemid2=system.id,
                            locationid=system.id,
                            constellationid=info.get("constellationID"),
                            regionid=info.get("regionID"))
        log.info("%s: ship %d jumped from %d to %d", call.connection, pilot.ship_id,
                 self.system_id, system.id)
        # EVEmu answers this bound object's OID and keeps serving the ship through it (the
        # client binds beyonce for the new system as well and gets its SetState there)
        self.system_id = system.id
        return self.oid

    @_guard
    def UpdateStateRequest(self, call):
        s = self.system
        self.pilot.send_now(s.set_state(self.pilot.ship_id,
                                        sol_item=self.world.sol_item(s.id)))
        return None


class BeyonceService(BindableService):
    """``beyonce``: bound with the solar system id the client is in (EVEmu BeyonceService)."""

    name = "beyonce"
    access = "solarsystem"

    def __init__(self, manager):
        super().__init__(manager)
        self.world = SpaceWorld.of(manager.server)
        n = int(getattr(manager.server.config, "npcs", 0) or 0)
        if n > 0:
            stackless.tasklet(self._spawn)(n)

    def wait_logged_off(self, char_id, timeout=10.0):
        """charUnboundMgr's hook before SelectCharacterID reads the character: a log-off in
        space of that character still being written (its previous connection just closed) is
        waited for, at most ``timeout`` seconds.  True if there was one (read the row again)."""
        done = self.world.logging_off.get(char_id)
        if done is None:
            return False
        if not done.wait(timeout):
            log.warning("character %d: its log-off in space is still being written after "
                        "%.0f s", char_id, timeout)
        return True

    def character_selected(self, call, row):
        """charUnboundMgr's hook after SelectCharacterID: a character whose ship is in space
        enters the ballpark (:func:`login_in_space`)."""
        sid = call.session.get("stationid")
        if sid is None and call.session.get("solarsystemid"):
            login_in_space(self, call, row)
        elif sid is not None and row.get("shipID"):
            # a ship left in space while its pilot's row still says docked (the server
            # stopped before the log-off was written): back to the hangar
            ship = self.db.run(inv.item, row["shipID"])
            if (ship is not None and ship["flagID"] == FLAG_IN_SPACE
                    and ship["locationID"] == row["solarSystemID"]):
                self.db.run(inv.set_location, ship["itemID"], sid, FLAG_HANGAR)

    def _spawn(self, n):
        try:
            self.world.spawn_npcs(n)
        except Exception:
            log.exception("spawning %d NPCs", n)

    def create_bound(self, call, bind_params):
        need_character(call)
        system_id = bind_params
        if isinstance(system_id, (tuple, list)) and system_id:
            system_id = system_id[0]
        if isinstance(system_id, bool) or not isinstance(system_id, int):
            raise CustomError("beyonce is bound with a solar system id")
        if call.session.get("solarsystemid") != system_id:
            raise CustomError("You are not in that solar system.")
        pilot = self.world.pilots.get(call.connection)
        if pilot is None or pilot.left or pilot.control.system_id != system_id:
            raise CustomError("You are not in space.")
        return BeyonceBound(self, call.connection, self.world, pilot, system_id)

    @exposed
    def MachoBindObject(self, call, bind_params, nested_call):
        result = super().MachoBindObject(call, bind_params, nested_call)
        bound_id = result.value[0].value.value[0].decode("ascii")
        obj = self.manager.bound(bound_id, call.connection)
        obj.oid = result.value[0].value.value
        obj.send_initial_state()
        return result

    @exposed
    def GetFormations(self, call):
        """Two formations, as EVEmu's BeyonceService::GetFormations (name, 4 positions)."""
        return ((b"Diamond", ((100.0, 0.0, 0.0), (0.0, 100.0, 0.0), (-100.0, 0.0, 0.0),
                              (0.0, -100.0, 0.0))),
                (b"Arrow", ((100.0, 0.0, -50.0), (50.0, 0.0, 0.0), (-100.0, 0.0, -50.0),
                            (-50.0, 0.0, 0.0))))
