"""The client's ``beyonce`` commands for one ship, with the client's argument lists.

``ShipControl`` is what the bound ``beyonce`` service object needs: one instance per client in
space, methods named and shaped like the calls the client makes (EVEmu's BeyonceBound handlers,
read for the argument lists).  Each returns what the service should answer (None, or for
``UpdateStateRequest`` the SetState action to queue), and raises a ``SpaceError`` for bad
arguments: the service turns ``err.user_error()`` into the client's UserError.  Session changes
(dock, jump) are the caller's: ``CmdDock`` and ``CmdStargateJump`` only move the ship and say
where it went.
"""

from .system import BadArgument, NotAllowed, UnknownBall


def _text(v):
    if isinstance(v, bytes):
        return v.decode("latin-1")
    if isinstance(v, str):
        return v
    raise BadArgument("warp type must be a string, not %s" % type(v).__name__)


class ShipControl:
    def __init__(self, space, system_id, ship_id, observer=None, bookmarks=None):
        """``bookmarks(bookmark_id) -> (x, y, z)`` resolves bookmarks (raise KeyError for an
        unknown one); without it, bookmark warps are refused."""
        self.space = space
        self.system_id = system_id
        self.ship_id = ship_id
        self.observer = observer
        self.bookmarks = bookmarks

    @property
    def system(self):
        s = self.space.systems.get(self.system_id)
        if s is None:
            raise UnknownBall("no solar system %r" % (self.system_id,))
        return s

    def CmdGotoDirection(self, x, y, z):
        self.system.cmd_goto_direction(self.ship_id, x, y, z)

    def CmdGotoPoint(self, x, y, z):
        self.system.cmd_goto_point(self.ship_id, x, y, z)

    def CmdSetSpeedFraction(self, speedFraction):
        self.system.cmd_set_speed_fraction(self.ship_id, speedFraction)

    def CmdStop(self):
        self.system.cmd_stop(self.ship_id)

    def CmdOrbit(self, entityID, rangeValue=0):
        self.system.cmd_orbit(self.ship_id, entityID, rangeValue)

    def CmdFollowBall(self, ballID, distance=0):
        self.system.cmd_follow(self.ship_id, ballID, distance)

    def CmdAlignTo(self, entityID):
        self.system.cmd_align_to(self.ship_id, entityID)

    def CmdWarpToStuff(self, type, id, minRange=0, **kw):
        """type 'item' (a celestial, station or ball of the system) or 'bookmark'."""
        kind = _text(type)
        if kind == "item":
            self.system.cmd_warp_to_ball(self.ship_id, id, minRange)
        elif kind == "bookmark":
            if self.bookmarks is None:
                raise NotAllowed("bookmarks are not available")
            try:
                point = self.bookmarks(id)
            except KeyError:
                raise UnknownBall("no bookmark %r" % (id,)) from None
            self.system.cmd_warp_to_point(self.ship_id, *point, distance=minRange)
        else:
            raise BadArgument("cannot warp to %r" % kind)

    def CmdDock(self, celestialID, shipID=None, paymentRequired=None):
        """Returns the station's ball after taking the ship out of space."""
        if shipID is not None and shipID != self.ship_id:
            raise NotAllowed("ship %r is not yours to dock" % (shipID,))
        return self.system.dock(self.ship_id, celestialID)

    def CmdStargateJump(self, fromStargateID, toStargateID, shipID=None):
        """Returns (new system, ball); self follows the ship to the new system."""
        if shipID is not None and shipID != self.ship_id:
            raise NotAllowed("ship %r is not yours to jump" % (shipID,))
        gate = self.system.park.get(fromStargateID)
        dest = (gate.extra or {}).get("destination") if gate is not None else None
        if dest is not None and dest[1] != toStargateID:
            raise BadArgument("stargate %r does not lead to %r" % (fromStargateID, toStargateID))
        system, ball = self.space.jump(self.system_id, self.ship_id, fromStargateID,
                                       observer=self.observer)
        self.system_id = system.id
        return system, ball

    def UpdateStateRequest(self):
        return self.system.set_state(self.ship_id)
