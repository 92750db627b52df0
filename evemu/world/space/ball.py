"""Balls and their binary destiny state (protocol notes section 4.2).

The client's ``destiny.Ballpark`` reads the state buffer of ``SetState`` (packet type 0, full
state) and ``AddBalls2`` (packet type 1, balls), all packed little-endian::

    header   u8 packetType, u32 stamp
    per ball i64 id, u8 mode, f32 radius, f64 x, y, z, u8 flags
             + mass sector  f64 mass, u8 cloak, i64 allianceID, i32 corpID, i32 harmonic
                            (unless the mode is RIGID)
             + data sector  f32 maxSpeed, f64 vx, vy, vz, f32 inertia, f32 speedFraction
                            (if the ball is free, flag 0x01)
             + mode sector  (below; every one starts with u8 formationID, 0xFF = none)
             + miniballs    u16 count, count * (f64 x, y, z, f32 radius)  (flag 0x40)

Mode sectors (layouts from EVEmu's DestinyStructs.h, read for facts): GOTO ``(B, d, d, d)``
target point; FOLLOW ``(B, q id, f range)``; STOP ``(B)``; WARP ``(B, d, d, d target, i
effectStamp, q followRange, q followID, i speed)`` with speed = warp speed in AU/s x 10 and
effectStamp the stamp the warp began (-1 while aligning); ORBIT ``(B, I id, d range)``; TROLL
``(B, I effectStamp)``; FIELD and RIGID ``(B)``.  Missiles, mushrooms and formations are not
produced by this simulation and are rejected by the encoder.

``speedFraction`` holds the commanded fraction (0..1), not a timer.

Encoding uses precompiled ``struct.Struct`` objects (docs/space.md has the figure: about 1 µs
per ship, far below the tick budget, so no C codec).  ``decode_state`` is the inverse, used by
the tests and by anything that wants to read a client's view back.
"""

import struct

# modes
GOTO, FOLLOW, STOP, WARP, ORBIT, MISSILE, MUSHROOM, BOID, TROLL, MINIBALL, FIELD, RIGID, \
    FORMATION = range(13)
MODE_NAMES = ("GOTO", "FOLLOW", "STOP", "WARP", "ORBIT", "MISSILE", "MUSHROOM", "BOID", "TROLL",
              "MINIBALL", "FIELD", "RIGID", "FORMATION")

# flags
FREE, GLOBAL, MASSIVE, INTERACTIVE, MORIBUND, HAS_MINIBALLS = 0x01, 0x02, 0x04, 0x08, 0x10, 0x40

FULL_STATE, BALLS = 0, 1      # header packet types: SetState / AddBalls2
NO_FORMATION = 0xFF

_HEADER = struct.Struct("<BI")
_BALL = struct.Struct("<qBfdddB")
_MASS = struct.Struct("<dBqii")
_DATA = struct.Struct("<fdddff")
_MINICOUNT = struct.Struct("<H")
_MINIBALL = struct.Struct("<dddf")
_SECTORS = {
    GOTO: struct.Struct("<Bddd"),
    FOLLOW: struct.Struct("<Bqf"),
    STOP: struct.Struct("<B"),
    WARP: struct.Struct("<Bdddiqqi"),
    ORBIT: struct.Struct("<BId"),
    TROLL: struct.Struct("<BI"),
    FIELD: struct.Struct("<B"),
    RIGID: struct.Struct("<B"),
}


class BallState:
    """A snapshot of one ball, as written into (or read from) a state buffer.

    ``sector`` is the mode sector as a tuple *without* the leading formationID:
    GOTO ``(x, y, z)``, FOLLOW ``(id, range)``, STOP ``()``, WARP ``(x, y, z, effectStamp,
    followRange, followID, speed)``, ORBIT ``(id, range)``, TROLL ``(effectStamp,)``,
    FIELD/RIGID ``()``.
    """

    __slots__ = ("id", "mode", "radius", "position", "flags", "mass", "cloak", "alliance_id",
                 "corp_id", "harmonic", "max_speed", "velocity", "inertia", "speed_fraction",
                 "formation", "sector", "miniballs")

    def __init__(self, id, mode, radius, position, flags, mass=0.0, cloak=0, alliance_id=-1,
                 corp_id=0, harmonic=-1, max_speed=0.0, velocity=(0.0, 0.0, 0.0), inertia=0.0,
                 speed_fraction=0.0, formation=NO_FORMATION, sector=(), miniballs=()):
        self.id = id
        self.mode = mode
        self.radius = radius
        self.position = tuple(position)
        self.flags = flags
        self.mass = mass
        self.cloak = cloak
        self.alliance_id = alliance_id
        self.corp_id = corp_id
        self.harmonic = harmonic
        self.max_speed = max_speed
        self.velocity = tuple(velocity)
        self.inertia = inertia
        self.speed_fraction = speed_fraction
        self.formation = formation
        self.sector = tuple(sector)
        self.miniballs = tuple(miniballs)

    def as_dict(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def __repr__(self):
        return "BallState(%r)" % (self.as_dict(),)


def encode_ball(b, out):
    """Append ball ``b`` (a BallState) to the bytearray ``out``."""
    sector = _SECTORS.get(b.mode)
    if sector is None:
        raise ValueError("cannot encode ball mode %r" % (b.mode,))
    x, y, z = b.position
    out += _BALL.pack(b.id, b.mode, b.radius, x, y, z, b.flags)
    if b.mode != RIGID:
        out += _MASS.pack(b.mass, b.cloak, b.alliance_id, b.corp_id, b.harmonic)
    if b.flags & FREE:
        vx, vy, vz = b.velocity
        out += _DATA.pack(b.max_speed, vx, vy, vz, b.inertia, b.speed_fraction)
    out += sector.pack(b.formation, *b.sector)
    if b.flags & HAS_MINIBALLS:
        out += _MINICOUNT.pack(len(b.miniballs))
        for mb in b.miniballs:
            out += _MINIBALL.pack(*mb)


def encode_state(balls, stamp, packet_type=FULL_STATE):
    """The state buffer: header then every ball of ``balls`` (BallState objects)."""
    out = bytearray(_HEADER.pack(packet_type, stamp))
    for b in balls:
        encode_ball(b, out)
    return bytes(out)


def decode_state(data):
    """Inverse of encode_state: ``(packet_type, stamp, [BallState, ...])``.

    Raises ValueError for a truncated buffer, an unknown mode or trailing bytes."""
    data = memoryview(bytes(data))
    try:
        packet_type, stamp = _HEADER.unpack_from(data, 0)
        pos = _HEADER.size
        balls = []
        while pos < len(data):
            bid, mode, radius, x, y, z, flags = _BALL.unpack_from(data, pos)
            pos += _BALL.size
            sector = _SECTORS.get(mode)
            if sector is None:
                raise ValueError("unknown ball mode %d at offset %d" % (mode, pos - _BALL.size))
            b = BallState(bid, mode, radius, (x, y, z), flags)
            if mode != RIGID:
                b.mass, b.cloak, b.alliance_id, b.corp_id, b.harmonic = \
                    _MASS.unpack_from(data, pos)
                pos += _MASS.size
            if flags & FREE:
                b.max_speed, vx, vy, vz, b.inertia, b.speed_fraction = \
                    _DATA.unpack_from(data, pos)
                b.velocity = (vx, vy, vz)
                pos += _DATA.size
            fields = sector.unpack_from(data, pos)
            pos += sector.size
            b.formation, b.sector = fields[0], fields[1:]
            if flags & HAS_MINIBALLS:
                (count,) = _MINICOUNT.unpack_from(data, pos)
                pos += _MINICOUNT.size
                mbs = []
                for _ in range(count):
                    mbs.append(_MINIBALL.unpack_from(data, pos))
                    pos += _MINIBALL.size
                b.miniballs = tuple(mbs)
            balls.append(b)
    except struct.error as e:
        raise ValueError("truncated destiny state: %s" % (e,)) from None
    return packet_type, stamp, balls
