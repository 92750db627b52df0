"""NPC ships as tasklets.

Each NPC is one tasklet running a routine written as plain blocking Python::

    def patrol(npc, points):
        while True:
            for p in points:
                npc.goto(p)             # blocks this tasklet until the ship arrives

The NPC talks to its system over a channel: a blocking call issues a command to the system
(validated like a client's, same ``SpaceError``s) and then waits on the NPC's channel; the
system sends the awaited event ('arrived', 'warp_done', 'tick', 'target_lost') at the end of
the tick in which it happens.  While blocked an NPC costs no CPU.  Killing the tasklet (also
while blocked) runs its ``finally``: the ship leaves space and the system forgets the NPC (and
falls asleep when nothing is left).
"""

import stackless

from . import physics
from .system import SpaceError


class Lost(SpaceError):
    """The ball an NPC followed or orbited is gone."""


class NPC:
    __slots__ = ("system", "ship_id", "channel", "tasklet", "waiting_for", "routine", "args",
                 "ball", "__weakref__")

    def __init__(self, system, ship_id, routine, args=()):
        self.system = system
        self.ship_id = ship_id
        self.channel = stackless.channel()
        self.channel.preference = 1         # the system's send never switches away
        self.tasklet = None
        self.waiting_for = None
        self.routine = routine
        self.args = tuple(args)
        self.ball = None

    # --- lifetime ------------------------------------------------------------------------
    def start(self):
        self.tasklet = stackless.tasklet(self._main)()
        return self.tasklet

    def _main(self):
        try:
            self.routine(self, *self.args)
        finally:
            self.system._despawn(self)

    def kill(self):
        if self.tasklet is not None and self.tasklet.alive:
            self.tasklet.kill()

    # --- blocking primitives -------------------------------------------------------------
    def wait(self, *events):
        """Block until one of ``events`` happens to this ship; returns its name."""
        self.waiting_for = events
        try:
            return self.channel.receive()
        finally:
            self.waiting_for = None

    def sleep_ticks(self, n=1):
        if n < 1:
            raise ValueError("sleep at least one tick")
        self.system.add_timer(self, self.system.stamp + int(n))
        return self.wait("tick")

    # --- routines' vocabulary ------------------------------------------------------------
    @property
    def position(self):
        return self.ball.position

    def goto(self, point):
        """Fly to ``point`` and return when there."""
        self.system.cmd_goto_point(self.ship_id, *point)
        return self.wait("arrived")

    def stop(self):
        self.system.cmd_stop(self.ship_id)

    def orbit(self, target_id, rng):
        self.system.cmd_orbit(self.ship_id, target_id, rng)

    def follow(self, target_id, rng):
        self.system.cmd_follow(self.ship_id, target_id, rng)

    def warp_to(self, target_id, distance=0.0):
        """Align, warp to a ball and return once landed."""
        self.system.cmd_warp_to_ball(self.ship_id, target_id, distance)
        return self.wait("warp_done")


# --- routines ------------------------------------------------------------------------------

def patrol(npc, points, laps=None):
    """Fly between ``points`` in turn, forever or ``laps`` times round."""
    done = 0
    while laps is None or done < laps:
        for p in points:
            npc.goto(p)
        done += 1


def orbit_structure(npc, target_id, rng, ticks=None):
    """Orbit a structure at ``rng`` metres (forever, or for ``ticks`` ticks)."""
    npc.orbit(target_id, rng)
    if ticks is None:
        if npc.wait("target_lost"):
            raise Lost("orbit target %d is gone" % target_id)
    else:
        npc.sleep_ticks(ticks)


def follow_ball(npc, target_id, rng):
    """Follow a ball (a player's ship) at ``rng`` metres until it is gone."""
    npc.follow(target_id, rng)
    npc.wait("target_lost")


def warp_between(npc, celestial_ids, dwell_ticks=5, rounds=None):
    """Warp from celestial to celestial, resting ``dwell_ticks`` at each."""
    n = 0
    while rounds is None or n < rounds:
        for cid in celestial_ids:
            here = npc.position
            there = npc.system.park.get(cid).position
            if physics.norm(physics.sub(there, here)) > physics.MIN_WARP_DISTANCE + 100_000:
                npc.warp_to(cid, 20_000.0)
            npc.sleep_ticks(dwell_ticks)
        n += 1


ROUTINES = {"patrol": patrol, "orbit": orbit_structure, "follow": follow_ball,
            "warp": warp_between}
