"""Bubbles: who sees whom (EVEmu's SystemBubble, ~300 km "grids").

A bubble is a sphere of ``radius`` metres around a fixed centre, made where the first ball
that belongs to no bubble is.  A ball belongs to the first bubble whose centre is within the
radius (found through a hash of the centres on a grid of cells 2 * radius wide, 27 cells
looked at); when it moves out it joins another bubble or makes a new one centred on itself, so
it cannot flap at a border.  An empty bubble is forgotten.  Static balls (stations, gates,
planets: the global flag) are in no bubble: every client of the system sees them.  A ball in
warp is in no bubble either until it lands.

Visibility: a client sees the statics, its own ship and the balls of its ship's bubble.
"""

import math

BUBBLE_RADIUS = 300_000.0


class Bubble:
    __slots__ = ("id", "center", "balls", "observers")

    def __init__(self, id, center):
        self.id = id
        self.center = center
        self.balls = set()
        self.observers = set()      # Observer objects whose ship is in this bubble

    def __repr__(self):
        return "<Bubble %d at %r: %d balls>" % (self.id, self.center, len(self.balls))


class BubbleMap:
    def __init__(self, radius=BUBBLE_RADIUS):
        if not radius > 0:
            raise ValueError("bubble radius must be positive")
        self.radius = float(radius)
        self._cell = 2.0 * self.radius
        self._grid = {}             # cell -> list of bubbles whose centre is in it
        self._next_id = 1
        self.bubbles = {}

    def _key(self, p):
        c = self._cell
        return (math.floor(p[0] / c), math.floor(p[1] / c), math.floor(p[2] / c))

    def find(self, p):
        """The bubble containing point p, or None."""
        kx, ky, kz = self._key(p)
        r2 = self.radius * self.radius
        grid = self._grid
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                for dz in (-1, 0, 1):
                    for b in grid.get((kx + dx, ky + dy, kz + dz), ()):
                        c = b.center
                        ex, ey, ez = p[0] - c[0], p[1] - c[1], p[2] - c[2]
                        if ex * ex + ey * ey + ez * ez <= r2:
                            return b
        return None

    def find_or_create(self, p):
        b = self.find(p)
        if b is None:
            b = Bubble(self._next_id, tuple(p))
            self._next_id += 1
            self.bubbles[b.id] = b
            self._grid.setdefault(self._key(p), []).append(b)
        return b

    def discard_if_empty(self, b):
        if not b.balls and not b.observers and b.id in self.bubbles:
            del self.bubbles[b.id]
            cell = self._grid[self._key(b.center)]
            cell.remove(b)
            if not cell:
                del self._grid[self._key(b.center)]

    def contains(self, b, p):
        c = b.center
        ex, ey, ez = p[0] - c[0], p[1] - c[1], p[2] - c[2]
        return ex * ex + ey * ey + ez * ez <= self.radius * self.radius
