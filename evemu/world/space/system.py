"""Solar systems in space: one tasklet per active system ticking at 1 Hz.

``SolarSystem`` owns a ballpark (park.py), its bubbles (bubble.py), the observers (one per
client whose ship is in space: updates are queued on it and flushed once per tick as one
DoDestinyUpdate), and its NPCs (npc.py).  ``Space`` is the set of systems of one server
process with the destiny clock: the stamp is 1000 when the clock starts and +1 per second, so
a system that wakes up (or a ship that jumps) continues the same count.

A tick (``SolarSystem.tick``) does, in order:
  1. stamp += 1; integrate every ball (park.tick), collecting events (arrived, warp started,
     warp done, target lost);
  2. bubbles: balls that left their bubble join or make another; clients are told
     (RemoveBalls / AddBalls2, a client changing bubble gets its new neighbours as one
     PackagedAction);
  3. NPCs whose wait is over are woken over their channels (they run after the tick);
  4. every observer's queue is flushed as one DoDestinyUpdate.

The system tasklet (``start``) ticks on ``stackless.loop`` and sleeps (blocked on a channel,
costing nothing) while the system has no observer and no NPC; adding either wakes it.

Commands (``cmd_*``) are the Python API for the ``beyonce`` service: each validates its
arguments, raising a ``SpaceError`` subclass with a message for the client's UserError (never
anything else for bad input), applies the command to the ballpark, and queues the matching
destiny update to everyone in the ball's bubble.  They take effect at the next tick.
"""

import heapq
import itertools
import math
import time

import stackless
from stackless import loop

from . import destiny, physics
from .ball import INTERACTIVE
from .bubble import BUBBLE_RADIUS, BubbleMap
from .park import Ballpark, K_WARP

START_STAMP = 1000
DOCK_RANGE = 2500.0         # metres from the station's surface
JUMP_RANGE = 2500.0         # metres from the stargate's surface
MAX_RANGE = 1.0e7           # follow / orbit / warp-at distances above this are refused
MAX_CATCH_UP = 5            # ticks a late system tasklet runs back to back before skipping
MAX_COORD = 1.0e15          # metres; a system is ~1e13 m across (and doubles stay exact)


class SpaceError(ValueError):
    """A command the client got wrong.  ``user_error()`` gives the (msgKey, dict) of the
    UserError the service layer raises to the client."""

    msg_key = "CustomNotify"

    def user_error(self):
        return (self.msg_key, {"notify": str(self)})


class UnknownBall(SpaceError):
    pass


class OutOfRange(SpaceError):
    pass


class BadArgument(SpaceError):
    pass


class NotAllowed(SpaceError):
    pass


def _num(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise BadArgument("%s must be a number, not %s" % (name, type(v).__name__))
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise BadArgument("%s must be finite" % name)
    return f


def _vec(name, x, y, z):
    v = (_num(name + ".x", x), _num(name + ".y", y), _num(name + ".z", z))
    if max(abs(c) for c in v) > MAX_COORD:
        raise OutOfRange("%s is out of range (coordinates beyond %.0e m)" % (name, MAX_COORD))
    return v


class Observer:
    """One client's view of a system: its ship, its queue of destiny actions, and
    ``deliver(args)`` called once per tick with the DoDestinyUpdate arguments."""

    __slots__ = ("ship_id", "deliver", "queue", "events", "wait_for_bubble", "system", "sent")

    def __init__(self, ship_id, deliver):
        self.ship_id = ship_id
        self.deliver = deliver
        self.queue = []
        self.events = []
        self.wait_for_bubble = False
        self.system = None
        self.sent = 0

    def flush(self):
        if not self.queue and not self.events:
            return
        args = destiny.do_destiny_update(self.queue, self.wait_for_bubble, self.events)
        self.queue = []
        self.events = []
        self.wait_for_bubble = False
        self.sent += 1
        self.deliver(args)


class Space:
    """The solar systems of one process and the destiny clock."""

    def __init__(self, tick_interval=physics.TICK, vectorised=None, clock=None):
        self.tick_interval = float(tick_interval)
        self.vectorised = vectorised
        self.clock = clock or loop.time
        self.t0 = self.clock()
        self.systems = {}

    def stamp_now(self):
        return START_STAMP + int((self.clock() - self.t0) / self.tick_interval)

    def next_tick_time(self, after):
        """The first tick boundary strictly after time ``after``."""
        k = math.floor((after - self.t0) / self.tick_interval) + 1
        return self.t0 + k * self.tick_interval

    def system(self, system_id, **kw):
        s = self.systems.get(system_id)
        if s is None:
            s = self.systems[system_id] = SolarSystem(system_id, space=self,
                                                      vectorised=self.vectorised, **kw)
        return s

    def jump(self, system_id, ship_id, gate_id, observer=None):
        """Jump a ship through a stargate: checked like CmdStargateJump, the ship leaves
        this system's ballpark and appears, stopped, 5 km from the destination gate (on the
        side facing the system's centre).  Returns (new system, ball).  The caller does the
        session change; ``observer`` is the pilot's client in the new system."""
        src = self.systems.get(system_id)
        if src is None:
            raise UnknownBall("no solar system %r" % (system_id,))
        dest_sys, dest_gate = src.check_jump(ship_id, gate_id)
        dst = self.systems.get(dest_sys)
        gate = dst.park.get(dest_gate) if dst is not None else None
        if gate is None:
            raise NotAllowed("stargate %d leads nowhere" % gate_id)
        b = src.remove_ship(ship_id)
        gp = gate.position
        n = physics.norm(gp)
        d = (-gp[0] / n, -gp[1] / n, -gp[2] / n) if n else (1.0, 0.0, 0.0)
        off = gate.radius + b.radius + 5000.0
        nb = dst.add_ship(b.id, (gp[0] + d[0] * off, gp[1] + d[1] * off, gp[2] + d[2] * off),
                          b.radius, b.mass, b.inertia, b.max_speed, observer=observer,
                          warp_speed=b.warp_speed, corp_id=b.corp_id,
                          alliance_id=b.alliance_id, type_id=b.type_id, owner_id=b.owner_id,
                          group_id=b.group_id, category_id=b.category_id, name=b.name)
        nb.npc = b.npc
        if dst.stamp < src.stamp:
            dst.stamp = src.stamp
        return dst, nb

    def start(self):
        for s in self.systems.values():
            s.start()

    def stop(self):
        for s in self.systems.values():
            s.stop()


class SolarSystem:
    def __init__(self, system_id, space=None, vectorised=None, bubble_radius=BUBBLE_RADIUS):
        self.id = system_id
        self.space = space
        self.park = Ballpark(vectorised=vectorised)
        self.park.on_event = self._on_event
        self.bubbles = BubbleMap(bubble_radius)
        self.stamp = START_STAMP
        self.statics = {}           # id -> Ball (global: visible to every observer)
        self.observers = {}         # ship id -> Observer
        self.npcs = set()
        self.tasklet = None
        self.sleeping = False
        self.ticks = 0
        self.tick_times = []        # seconds per tick (the benchmark reads them)
        self.keep_tick_times = False
        self._wake = stackless.channel()
        self._wake.preference = 1
        self._stopping = False
        self._wakeups = []          # (npc, message) to send after the tick
        self._timers = []           # heap of (stamp, seq, npc) waiting for that stamp
        self._seq = itertools.count()
        self.skipped = 0            # stamps skipped because the tasklet was too late

    # --- population ----------------------------------------------------------------------
    def add_static(self, id, position, radius, **kw):
        """A celestial, station or stargate: a rigid global ball (``kw`` may carry
        dockable=True / destination=(system_id, gate_id) / undock=(point, direction))."""
        extra = {k: kw.pop(k) for k in ("dockable", "destination", "undock") if k in kw}
        b = self.park.add_ball(id, position, radius, static=True, **kw)
        b.extra = extra or None
        self.statics[b.id] = b
        return b

    def add_ship(self, id, position, radius, mass, inertia, max_speed, observer=None,
                 npc=None, velocity=(0.0, 0.0, 0.0), **kw):
        """Put a ship in space.  With an ``observer`` (a client), the ship is interactive
        and the observer is registered; the others in the bubble get an AddBalls2."""
        flags = INTERACTIVE if observer is not None else 0
        b = self.park.add_ball(id, position, radius, mass=mass, inertia=inertia,
                               max_speed=max_speed, flags=flags, velocity=velocity, **kw)
        b.npc = npc
        if observer is not None:
            observer.system = self
            b.observer = observer
            self.observers[b.id] = observer
        self._enter_bubble(b)
        self.wake()
        return b

    def remove_ship(self, id):
        b = self.park.get(id)
        if b is None or b.is_static:
            raise UnknownBall("no ship %r in this system" % (id,))
        self._leave_bubble(b)
        self.park.remove_ball(b.id)
        if b.observer is not None:
            self.observers.pop(b.id, None)
            b.observer.system = None
        return b

    def spawn_npc(self, ship_id, position, routine, args=(), radius=40.0, mass=1.2e6,
                  inertia=3.0, max_speed=300.0, warp_speed=3.0, start=True, **kw):
        """A ship flown by ``routine(npc, *args)`` in its own tasklet (npc.py)."""
        from .npc import NPC
        if isinstance(routine, str):
            from .npc import ROUTINES
            routine = ROUTINES[routine]
        npc = NPC(self, ship_id, routine, args)
        npc.ball = self.add_ship(ship_id, position, radius, mass, inertia, max_speed,
                                 npc=npc, warp_speed=warp_speed, **kw)
        self.npcs.add(npc)
        if start:
            npc.start()
        self.wake()
        return npc

    def _despawn(self, npc):
        self.npcs.discard(npc)
        b = self.park.get(npc.ship_id)
        if b is not None and b.npc is npc:
            self.remove_ship(npc.ship_id)

    def undock(self, ship_id, station_id, radius, mass, inertia, max_speed, observer, **kw):
        """The ship appears at the station's undock point moving along its undock
        direction; returns the (AddBalls2, SetState) actions at stamps N and N+1 (EVEmu's
        undock_setstate_timing) that the client must get after it binds beyonce."""
        st = self._static(station_id)
        point, direction = (st.extra or {}).get("undock") or (st.position, (1.0, 0.0, 0.0))
        d = physics.unit(direction)
        b = self.add_ship(ship_id, point, radius, mass, inertia, max_speed,
                          observer=observer, **kw)
        observer.queue.clear()          # the SetState below carries the whole bubble
        self.park.goto_direction(b, d, 1.0)
        self.park._set_vec(self.park.vel, b.slot, tuple(c * max_speed * 0.25 for c in d))
        add = destiny.add_balls2(self.stamp, [b])
        return add, self.set_state(ship_id, stamp=self.stamp + 1)

    def set_state(self, ship_id, stamp=None, sol_item=None):
        """A fresh SetState action for ``ship_id``'s client: positions and velocities are
        the simulation's now (UpdateStateRequest)."""
        b = self._ship(ship_id)
        if stamp is None:
            stamp = self.stamp
        elif type(stamp) is not int or not 0 <= stamp <= 0xFFFFFFFF:
            raise BadArgument(f"stamp must be an int from 0 to 2**32-1, not {stamp!r}")
        seen = self.visible_to(b)
        return destiny.set_state(stamp, b.id, seen,
                                 sol_item=sol_item)

    def visible_to(self, b):
        """What ship ``b``'s client sees: statics, its bubble, itself."""
        seen = dict(self.statics)
        if b.bubble is not None:
            for o in b.bubble.balls:
                seen[o.id] = o
        seen[b.id] = b
        return list(seen.values())

    # --- bubbles -------------------------------------------------------------------------
    def _enter_bubble(self, b):
        bub = self.bubbles.find_or_create(b.position)
        b.bubble = bub
        self.park.set_bubble_center(b, bub.center)
        if bub.observers:
            act = destiny.add_balls2(self.stamp, [b])
            for o in bub.observers:
                if o is not b.observer:
                    o.queue.append(act)
        if b.observer is not None:
            others = [o for o in bub.balls if o is not b]
            if others:
                b.observer.queue.append(destiny.packaged_action(
                    self.stamp, [destiny.add_balls2(self.stamp, others)]))
            bub.observers.add(b.observer)
        bub.balls.add(b)

    def _leave_bubble(self, b):
        bub = b.bubble
        if bub is None:
            return
        bub.balls.discard(b)
        if b.observer is not None:
            bub.observers.discard(b.observer)
            gone = [o.id for o in bub.balls]
            if gone:
                b.observer.queue.append(destiny.remove_balls(self.stamp, gone))
        if bub.observers:
            act = destiny.remove_balls(self.stamp, [b.id])
            for o in bub.observers:
                o.queue.append(act)
        b.bubble = None
        self.park.set_bubble_center(b, None)
        self.bubbles.discard_if_empty(bub)

    def _broadcast(self, b, act):
        if b.bubble is not None:
            for o in b.bubble.observers:
                o.queue.append(act)
        elif b.observer is not None:        # in warp: only its pilot
            b.observer.queue.append(act)

    def sees(self, observer_ship_id, ball_id):
        """Whether the client of ship ``observer_ship_id`` sees ball ``ball_id``."""
        b = self._ship(observer_ship_id)
        if ball_id in self.statics or ball_id == b.id:
            return True
        o = self.park.get(ball_id)
        return o is not None and b.bubble is not None and o.bubble is b.bubble

    # --- lookups -------------------------------------------------------------------------
    def _ball(self, id):
        if isinstance(id, bool) or not isinstance(id, int):
            raise BadArgument("ball id must be an integer, not %s" % type(id).__name__)
        b = self.park.get(id)
        if b is None:
            raise UnknownBall("no ball %d in system %s" % (id, self.id))
        return b

    def _ship(self, id):
        b = self._ball(id)
        if b.is_static:
            raise NotAllowed("ball %d is not a ship" % id)
        return b

    def _static(self, id):
        b = self._ball(id)
        if not b.is_static:
            raise NotAllowed("ball %d is not a celestial" % id)
        return b

    def _target(self, ship, target_id):
        t = self._ball(target_id)
        if t is ship:
            raise BadArgument("a ship cannot target itself")
        if not (t.is_static or (ship.bubble is not None and t.bubble is ship.bubble)):
            raise OutOfRange("ball %d is not within range" % target_id)
        return t

    def _range(self, name, v):
        r = _num(name, v)
        if not 0.0 <= r <= MAX_RANGE:
            raise OutOfRange("%s %.0f m is out of range (0 to %.0f m)" % (name, r, MAX_RANGE))
        return r

    def _movable(self, b):
        if b.kind == K_WARP:
            raise NotAllowed("ship %d is in warp" % b.id)

    # --- commands (beyonce) --------------------------------------------------------------
    def cmd_goto_direction(self, ship_id, x, y, z):
        b = self._ship(ship_id)
        d = _vec("direction", x, y, z)
        if d == (0.0, 0.0, 0.0):
            raise BadArgument("direction must not be the zero vector")
        self._movable(b)
        self.park.goto_direction(b, d)
        self._broadcast(b, destiny.goto_direction(self.stamp, b.id, physics.unit(d)))

    def cmd_goto_point(self, ship_id, x, y, z):
        b = self._ship(ship_id)
        p = _vec("point", x, y, z)
        self._movable(b)
        self.park.goto_point(b, p)
        self._broadcast(b, destiny.goto_point(self.stamp, b.id, p))

    def cmd_set_speed_fraction(self, ship_id, fraction):
        b = self._ship(ship_id)
        f = _num("fraction", fraction)
        if not 0.0 <= f <= 1.0:
            raise BadArgument("speed fraction must be between 0 and 1, not %r" % f)
        self._movable(b)
        self.park.set_speed_fraction(b, f)
        self._broadcast(b, destiny.set_speed_fraction(self.stamp, b.id, f))

    def cmd_stop(self, ship_id):
        b = self._ship(ship_id)
        self._movable(b)
        self.park.stop(b)
        self._broadcast(b, destiny.stop(self.stamp, b.id))

    def cmd_orbit(self, ship_id, target_id, rng):
        b = self._ship(ship_id)
        t = self._target(b, target_id)
        r = self._range("orbit range", rng)
        self._movable(b)
        self.park.orbit(b, t, r)
        self._broadcast(b, destiny.orbit(self.stamp, b.id, t.id, r))

    def cmd_follow(self, ship_id, target_id, rng):
        b = self._ship(ship_id)
        t = self._target(b, target_id)
        r = self._range("follow range", rng)
        self._movable(b)
        self.park.follow(b, t, r)
        self._broadcast(b, destiny.follow_ball(self.stamp, b.id, t.id, r))

    def cmd_align_to(self, ship_id, target_id):
        b = self._ship(ship_id)
        t = self._target(b, target_id)
        self._movable(b)
        d = physics.sub(t.position, b.position)
        if physics.norm(d) == 0.0:
            raise OutOfRange("already at ball %d" % target_id)
        self.park.goto_direction(b, d, 1.0)
        self._broadcast(b, destiny.align_to(self.stamp, b.id))

    def cmd_warp_to_point(self, ship_id, x, y, z, distance=0.0):
        b = self._ship(ship_id)
        p = _vec("point", x, y, z)
        dist = self._range("warp distance", distance)
        self._movable(b)
        here = b.position
        delta = physics.sub(p, here)
        total = physics.norm(delta)
        travel = total - dist
        if travel < physics.MIN_WARP_DISTANCE:
            raise OutOfRange("that is too close for your warp drive (%.0f m, the minimum is "
                             "%.0f m)" % (max(travel, 0.0), physics.MIN_WARP_DISTANCE))
        u = (delta[0] / total, delta[1] / total, delta[2] / total)
        target = (p[0] - u[0] * dist, p[1] - u[1] * dist, p[2] - u[2] * dist)
        self.park.warp_to(b, target)
        self._broadcast(b, destiny.warp_to(self.stamp, b.id, p, dist, b.warp_speed))
        return target

    def cmd_warp_to_ball(self, ship_id, target_id, distance=0.0):
        """Warp to a celestial, station or any ball of the system (bookmarks go through
        cmd_warp_to_point), stopping ``distance`` metres from its surface."""
        b = self._ship(ship_id)
        t = self._ball(target_id)
        if t is b:
            raise BadArgument("a ship cannot warp to itself")
        dist = self._range("warp distance", distance)
        p = t.position
        return self.cmd_warp_to_point(ship_id, p[0], p[1], p[2], dist + t.radius + b.radius)

    def check_dock(self, ship_id, station_id):
        """Raise unless the ship may dock at the station now (the caller then does the
        session change and calls remove_ship)."""
        b = self._ship(ship_id)
        st = self._static(station_id)
        if not (st.extra or {}).get("dockable"):
            raise NotAllowed("ball %d does not permit docking" % station_id)
        self._movable(b)
        gap = physics.norm(physics.sub(st.position, b.position)) - st.radius - b.radius
        if gap > DOCK_RANGE:
            raise OutOfRange("station %d is %.0f m away; docking range is %.0f m"
                             % (station_id, gap, DOCK_RANGE))
        return st

    def dock(self, ship_id, station_id):
        """Check the docking range and take the ship out of space (the caller does the
        session change into the station and puts the ship in the hangar)."""
        st = self.check_dock(ship_id, station_id)
        self.remove_ship(ship_id)
        return st

    def check_jump(self, ship_id, gate_id):
        """Raise unless the ship may jump through the gate now; returns (system_id,
        gate_id) of the destination."""
        b = self._ship(ship_id)
        g = self._static(gate_id)
        dest = (g.extra or {}).get("destination")
        if dest is None:
            raise NotAllowed("ball %d is not a stargate" % gate_id)
        self._movable(b)
        gap = physics.norm(physics.sub(g.position, b.position)) - g.radius - b.radius
        if gap > JUMP_RANGE:
            raise OutOfRange("stargate %d is %.0f m away; jump range is %.0f m"
                             % (gate_id, gap, JUMP_RANGE))
        return dest

    # --- the tick ------------------------------------------------------------------------
    def _on_event(self, what, b):
        if what == "warp_started":
            b.effect_stamp = self.stamp
            self._leave_bubble(b)
        elif what == "warp_done":
            if b.bubble is None:
                self._enter_bubble(b)
        npc = b.npc
        if npc is not None and npc.waiting_for is not None and what in npc.waiting_for:
            npc.waiting_for = None
            self._wakeups.append((npc, what))

    def tick(self, stamp=None):
        """One destiny tick (the tasklet calls it once a second; tests call it directly)."""
        t0 = time.perf_counter()
        self.stamp = self.stamp + 1 if stamp is None else stamp
        self.ticks += 1
        self.park.tick()
        for b in self.park.leavers(self.bubbles.radius):
            if b.bubble is not None and self.bubbles.contains(b.bubble, b.position):
                continue
            self._leave_bubble(b)
            self._enter_bubble(b)
        timers = self._timers
        while timers and timers[0][0] <= self.stamp:    # <=: a stamp may have been skipped
            npc = heapq.heappop(timers)[2]
            if npc.waiting_for is not None and "tick" in npc.waiting_for:
                npc.waiting_for = None
                self._wakeups.append((npc, "tick"))
        if self._wakeups:
            wake, self._wakeups = self._wakeups, []
            for npc, what in wake:
                ch = npc.channel
                if ch.balance < 0:          # blocked receiving: send does not block (pref 1)
                    ch.send(what)
        # a snapshot: delivering may close a client, whose ship then leaves (remove_ship)
        for o in list(self.observers.values()):
            if (o.queue or o.events) and o.system is self:
                o.flush()
        if self.keep_tick_times:
            self.tick_times.append(time.perf_counter() - t0)

    def add_timer(self, npc, stamp):
        heapq.heappush(self._timers, (stamp, next(self._seq), npc))

    # --- the tasklet ---------------------------------------------------------------------
    @property
    def idle(self):
        return not self.npcs and not self.observers

    def wake(self):
        if self.sleeping and self._wake.balance < 0:
            # no time passed for the sleeping system: its stamp is the clock's from now on
            # (set here, so that what the waker builds at once, an undock's AddBalls2 or a
            # pilot's session-change stamp, is already at the clock's stamp)
            if self.space is not None:
                self.stamp = max(self.stamp, self.space.stamp_now())
            self._wake.send(None)

    def start(self):
        if self.tasklet is None or not self.tasklet.alive:
            self._stopping = False
            self.tasklet = stackless.tasklet(self._run)()
        return self.tasklet

    def stop(self):
        self._stopping = True
        if self.tasklet is not None and self.tasklet.alive:
            self.tasklet.kill()
        self.tasklet = None

    def _run(self):
        space = self.space
        interval = space.tick_interval if space is not None else physics.TICK
        clock = space.clock if space is not None else loop.time
        while not self._stopping:
            if self.idle:
                self.sleeping = True
                try:
                    self._wake.receive()
                finally:
                    self.sleeping = False
                if space is not None:       # asleep, time did not pass for this system
                    self.stamp = max(self.stamp, space.stamp_now())
                continue
            now = clock()
            due = space.next_tick_time(now) if space is not None else now + interval
            loop.sleep_until(due)
            if self.idle:
                continue
            if space is None:
                self.tick()
                continue
            # one tick per stamp; a tasklet that was late runs the missed ticks back to back
            # (at most MAX_CATCH_UP, beyond that the stamps are skipped: the simulation
            # then runs behind the clock by that much)
            behind = space.stamp_now() - self.stamp
            for _ in range(min(behind, MAX_CATCH_UP)):
                self.tick()
            if behind > MAX_CATCH_UP:
                self.skipped += behind - MAX_CATCH_UP
                self.stamp += behind - MAX_CATCH_UP
