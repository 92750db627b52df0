"""Movement law of the destiny simulation, in closed form (scalar reference code).

EVE's law, not EVEmu's: a ball's velocity vector relaxes toward the commanded velocity
``u = direction * maxSpeed * speedFraction``::

    dv/dt = (u - v) / tau,        tau = inertia * mass / 1e6  seconds

With ``u`` held constant over a tick of ``dt`` seconds the exact solution is::

    v(t0 + dt) = u + (v0 - u) * e^(-dt/tau)
    x(t0 + dt) = x0 + u*dt + (v0 - u) * tau * (1 - e^(-dt/tau))       (the integral of v)

so integrating tick by tick reproduces the continuous solution exactly whenever ``u`` does not
change (straight line acceleration, stop), and a turn is the same relaxation of the vector
(the speed dips while the vector swings round), never a rotation of the heading.  Special
cases used by the tests: from rest ``v(t) = vmax (1 - e^(-t/tau))``, distance
``vmax (t - tau (1 - e^(-t/tau)))``; align time (75 % of max speed) ``-ln(0.25) tau``; stop
``v0 e^(-t/tau)``.

Warp (see docs/space.md, "Warp model"): the Crucible-era model from CCP's "Warp drive active"
dev blog, as EVEmu's DestinyManager also reads it: distance grows as ``e^(k t)`` while
accelerating (``k_a = 3 /s``) and the remaining distance shrinks as ``e^(-k t)`` while
decelerating (``k_d = 1 /s``), with a cruise at the ship's warp speed (AU/s) in between when the
warp is long enough.  All in doubles: a 10^12 m warp lands on its target to the millimetre.
The vectorised kernels in ``park.py`` implement the same formulas; this module is the reference.
"""

import math

AU = 149_597_870_700.0          # metres (EVEmu's ONE_AU_IN_METERS, IAU 2012)
TICK = 1.0                      # destiny tick, seconds
SPACE_FRICTION = 1.0e6          # tau = inertia * mass / SPACE_FRICTION (EVEmu: "from client")
ALIGN_FRACTION = 0.75           # a ship enters warp at 75 % of max speed along the warp line
MIN_WARP_DISTANCE = 150_000.0   # metres; shorter warps are refused ("too close to warp")
WARP_ACCEL_K = 3.0              # 1/s, distance = e^(k_a t) - 1 while accelerating
WARP_DECEL_K = 1.0              # 1/s, remaining = v/k_d - 1 while decelerating
WARP_EXIT_SPEED = WARP_DECEL_K  # m/s at the end of the deceleration (remaining distance 0)


def tau(mass, inertia):
    """The relaxation time of a ball: inertia * mass / 1e6 seconds."""
    t = inertia * mass / SPACE_FRICTION
    if not t > 0.0:
        raise ValueError("mass and inertia must be positive")
    return t


def align_time(t):
    """Seconds from rest to 75 % of max speed: -ln(0.25) * tau."""
    return -math.log(1.0 - ALIGN_FRACTION) * t


def speed_from_rest(vmax, t_, time):
    return vmax * (1.0 - math.exp(-time / t_))


def distance_from_rest(vmax, t_, time):
    return vmax * (time - t_ * (1.0 - math.exp(-time / t_)))


def speed_stopping(v0, t_, time):
    return v0 * math.exp(-time / t_)


def relax(p, v, u, t_, dt=TICK):
    """One exact step of dv/dt = (u - v)/tau with constant u: returns (p', v') as tuples."""
    e = math.exp(-dt / t_)
    k = t_ * (1.0 - e)
    return (tuple(pi + ui * dt + (vi - ui) * k for pi, vi, ui in zip(p, v, u)),
            tuple(ui + (vi - ui) * e for vi, ui in zip(v, u)))


# --- vectors -----------------------------------------------------------------------------

def sub(a, b):
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


def norm(a):
    return math.sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


def unit(a):
    n = norm(a)
    if n == 0.0 or not math.isfinite(n):
        raise ValueError("direction must be a finite non-zero vector")
    return (a[0] / n, a[1] / n, a[2] / n)


# --- orbit -------------------------------------------------------------------------------

def orbit_gain(t_, dt=TICK):
    """Radial feedback gain (1/s): critically damped for the relaxation (1/(4 tau)), and at
    most 0.5/dt so that the per-tick loop stays stable for nimble ships."""
    return min(1.0 / (4.0 * t_), 0.5 / dt)


def follow_gain(t_, dt=TICK):
    """Closing-speed gain of FOLLOW (1/s): damping ratio 0.7 (a few % overshoot), at most
    0.5/dt."""
    return min(1.0 / (2.0 * t_), 0.5 / dt)


def orbit_command(p, v, c, radius, speed, t_, dt=TICK):
    """Commanded velocity for an orbit of ``radius`` around ``c`` at ``speed``.

    Desired velocity ``w`` = tangential part plus a radial correction ``-g (d - R)`` (clamped
    to the speed); ``u = w + tau * a_c`` adds the centripetal feed-forward, so that on the
    circle the relaxation itself supplies the ``s^2/R`` turn; the (tangent, radial) frame is
    turned half a tick's arc ahead because u is held over the tick.  Steady-state radius error
    below 0.3 % from a 1 km orbit at 150 m/s to a battleship's (the tests hold 1 %).  Used by
    the scalar kernel; park.py vectorises it.
    """
    r = sub(p, c)
    d = norm(r)
    if d == 0.0:
        r, d = (1.0, 0.0, 0.0), 1.0
    rh = (r[0] / d, r[1] / d, r[2] / d)
    vr = v[0] * rh[0] + v[1] * rh[1] + v[2] * rh[2]
    tv = (v[0] - vr * rh[0], v[1] - vr * rh[1], v[2] - vr * rh[2])
    tn = norm(tv)
    if tn < 1e-9:
        # no tangential motion yet: pick a perpendicular (about the z axis, else the y axis)
        tv = (-rh[1], rh[0], 0.0) if abs(rh[2]) < 0.9 else (0.0, -rh[2], rh[1])
        tn = norm(tv)
    th = (tv[0] / tn, tv[1] / tn, tv[2] / tn)
    want = -orbit_gain(t_, dt) * (d - radius)
    want = max(-speed, min(speed, want))
    ts = math.sqrt(max(speed * speed - want * want, 0.0))
    dm = max(d, 1.0)
    ac = -ts * ts / dm * t_
    # the frame turned half a tick ahead: u is held for the whole tick, so it points along
    # the mean direction of the tick's arc (without this a frigate drifts 3 % outward)
    a = 0.5 * ts * dt / dm
    ca, sa = math.cos(a), math.sin(a)
    t2 = tuple(th[i] * ca - rh[i] * sa for i in range(3))
    r2 = tuple(rh[i] * ca + th[i] * sa for i in range(3))
    return tuple(ts * t2[i] + (want + ac) * r2[i] for i in range(3))


# --- warp --------------------------------------------------------------------------------

class WarpProfile:
    """The phase model of one warp of ``distance`` metres at ``warp_speed`` AU/s.

    accelerate:  s(t) = e^(k_a t) - 1,          v = k_a e^(k_a t),   until v = V
    cruise:      v = V                                                (if the warp is long)
    decelerate:  remaining(t) = V e^(-k_d t)/k_d - 1,  v = V e^(-k_d t), until v = k_d
    A short warp never reaches the ship's warp speed: its peak V solves
    (V/k_a - 1) + (V/k_d - 1) = distance.
    """

    __slots__ = ("distance", "peak", "t_accel", "t_cruise", "t_decel", "s_accel", "s_decel",
                 "total")

    def __init__(self, distance, warp_speed, k_a=WARP_ACCEL_K, k_d=WARP_DECEL_K):
        distance = float(distance)
        if not (distance >= MIN_WARP_DISTANCE and math.isfinite(distance)):
            raise ValueError("warp distance %r is below the minimum of %.0f m"
                             % (distance, MIN_WARP_DISTANCE))
        if not (warp_speed > 0.0 and math.isfinite(warp_speed)):
            raise ValueError("warp speed must be positive")
        v = warp_speed * AU
        s_a, s_d = v / k_a - 1.0, v / k_d - 1.0
        if s_a + s_d > distance:
            v = (distance + 2.0) / (1.0 / k_a + 1.0 / k_d)
            s_a, s_d = v / k_a - 1.0, v / k_d - 1.0
        self.distance = distance
        self.peak = v
        self.s_accel = s_a
        self.s_decel = s_d
        self.t_accel = math.log(v / k_a) / k_a
        self.t_decel = math.log(v / k_d) / k_d
        self.t_cruise = max(distance - s_a - s_d, 0.0) / v
        self.total = self.t_accel + self.t_cruise + self.t_decel

    def at(self, t, k_a=WARP_ACCEL_K, k_d=WARP_DECEL_K):
        """(distance travelled, speed) t seconds into the warp."""
        if t <= 0.0:
            return 0.0, k_a
        if t < self.t_accel:
            e = math.exp(k_a * t)
            return e - 1.0, k_a * e
        t -= self.t_accel
        if t < self.t_cruise:
            return self.s_accel + self.peak * t, self.peak
        t -= self.t_cruise
        if t < self.t_decel:
            sp = self.peak * math.exp(-k_d * t)
            return self.distance - (sp / k_d - 1.0), sp
        return self.distance, WARP_EXIT_SPEED
