"""Space: the 1 Hz destiny simulation of solar systems (protocol notes section 4.2).

physics.py  the movement law and the warp phase model (closed form, scalar reference)
ball.py     ball modes/flags and the binary destiny state (encode / decode)
park.py     the ballpark: columns of balls and the per-tick kernels (numpy or plain Python)
bubble.py   bubbles: who sees whom
destiny.py  builders of destiny updates (AddBalls2, SetState, DoDestinyUpdate, ...)
system.py   SolarSystem (one tasklet per active system), Space (the clock), the commands
npc.py      NPC ships as tasklets and their routines
beyonce.py  ShipControl: the client's beyonce calls (argument lists as the client sends them)

See docs/space.md.
"""

from .physics import AU, MIN_WARP_DISTANCE, WarpProfile
from .system import (BadArgument, NotAllowed, Observer, OutOfRange, SolarSystem, Space,
                     SpaceError, UnknownBall)
from .npc import NPC
from .beyonce import ShipControl

__all__ = ["AU", "MIN_WARP_DISTANCE", "WarpProfile", "BadArgument", "NotAllowed", "Observer",
           "OutOfRange", "SolarSystem", "Space", "SpaceError", "UnknownBall", "NPC", "ShipControl"]
