"""The ballpark of one solar system: balls, their commanded motion, and the per-tick kernel.

Storage is by column (struct of arrays) indexed by a ball's ``slot``: positions, velocities,
the commanded kind, direction/point, target slot, range, max speed, speed fraction and the
per-tick decay factors ``e = exp(-dt/tau)`` and ``k = tau (1 - e)`` (tau is fixed per ball, so
the exponential is computed once, not per tick).  Two kernels implement the same law
(physics.py): a numpy one (used when numpy imports; about 40x faster, see docs/space.md for
the figures) and a plain Python one (the fallback, and the cross-check in the tests).

Each tick, for every free ball, the commanded velocity ``u`` is held constant over the tick and
the exact exponential step is applied:

    kind  STOP     u = 0
          DIR      u = direction * maxSpeed * fraction                    (GotoDirection, AlignTo)
          POINT    u = unit(point - p) * maxSpeed * fraction; within reach of the point the ball
                   switches to STOP and an 'arrived' event is raised       (GotoPoint)
          FOLLOW   u = v_target + unit(d) * clamp(g * gap, +-speed), gap = surface distance
                   minus the range                                        (FollowBall)
          ORBIT    physics.orbit_command around the target                 (Orbit)
          ALIGN    warp alignment: full speed toward the warp target; at 75 % of max speed
                   along the line the warp starts                         (WarpTo)
          WARP     closed-form phase model (physics.WarpProfile), no integration

Ranges (follow, orbit, dock, jump) are surface to surface, like the client's overview.
"""

import math

from . import physics
from .ball import (GOTO, FOLLOW, STOP, WARP, ORBIT, RIGID, FREE, GLOBAL,
                   BallState)

try:                                    # optional: the vectorised kernel
    import numpy as _np
except ImportError:                     # pragma: no cover - exercised when numpy is absent
    _np = None

# kinds (internal; the wire mode is derived from them)
K_FREE_SLOT, K_RIGID, K_STOP, K_DIR, K_POINT, K_FOLLOW, K_ORBIT, K_ALIGN, K_WARP = range(9)
_WIRE_MODE = {K_RIGID: RIGID, K_STOP: STOP, K_DIR: GOTO, K_POINT: GOTO, K_FOLLOW: FOLLOW,
              K_ORBIT: ORBIT, K_ALIGN: WARP, K_WARP: WARP}


class Ball:
    """One ball of a ballpark.  Static properties are attributes; position, velocity and the
    commanded motion live in the park's columns (read them with the properties)."""

    __slots__ = ("park", "id", "slot", "radius", "mass", "inertia", "tau", "max_speed",
                 "flags", "corp_id", "alliance_id", "harmonic", "cloak", "type_id", "owner_id",
                 "group_id", "category_id", "name", "bubble", "npc", "observer", "warp",
                 "warp_speed", "warp_target", "target_id", "range", "point", "effect_stamp",
                 "extra")

    def __init__(self, park, id, slot):
        self.park = park
        self.id = id
        self.slot = slot
        self.bubble = None
        self.npc = None
        self.observer = None
        self.warp = None            # (origin, direction, WarpProfile, t0) while in warp
        self.warp_target = None
        self.target_id = None
        self.range = 0.0
        self.point = None
        self.effect_stamp = -1
        self.extra = None

    @property
    def position(self):
        p = self.park.pos[self.slot]
        return (float(p[0]), float(p[1]), float(p[2]))

    @property
    def velocity(self):
        v = self.park.vel[self.slot]
        return (float(v[0]), float(v[1]), float(v[2]))

    @property
    def speed(self):
        return physics.norm(self.velocity)

    @property
    def kind(self):
        return int(self.park.kind[self.slot])

    @property
    def mode(self):
        return _WIRE_MODE[self.kind]

    @property
    def speed_fraction(self):
        return float(self.park.frac[self.slot])

    @property
    def is_static(self):
        return self.kind == K_RIGID

    def state(self):
        """A BallState snapshot for the binary encoding."""
        mode = self.mode
        if mode == RIGID:
            return BallState(self.id, RIGID, self.radius, self.position, self.flags)
        if mode == GOTO:
            if self.kind == K_POINT:
                sector = self.point
            else:   # a direction: the client wants a point far along it
                d = self.park.cmd[self.slot]
                p = self.position
                sector = tuple(p[i] + float(d[i]) * 1.0e16 for i in range(3))
        elif mode == FOLLOW:
            sector = (self.target_id, self.range)
        elif mode == ORBIT:
            sector = (self.target_id & 0xFFFFFFFF, self.range)
        elif mode == WARP:
            sector = tuple(self.warp_target) + (self.effect_stamp, 0, 0,
                                                int(round(self.warp_speed * 10)))
        else:
            sector = ()
        return BallState(self.id, mode, self.radius, self.position, self.flags, self.mass,
                         self.cloak, self.alliance_id, self.corp_id, self.harmonic,
                         self.max_speed, self.velocity, self.inertia, self.speed_fraction,
                         sector=sector)

    def __repr__(self):
        return "<Ball %d %s at %r>" % (self.id, _KIND_NAMES[self.kind], self.position)


_KIND_NAMES = ("free", "rigid", "stop", "dir", "point", "follow", "orbit", "align", "warp")


class Ballpark:
    """Columns of balls plus the kernel.  ``vectorised`` None = numpy if available."""

    def __init__(self, vectorised=None, capacity=64):
        if vectorised is None:
            vectorised = _np is not None
        if vectorised and _np is None:
            raise RuntimeError("numpy is not installed; use vectorised=False")
        self.vectorised = bool(vectorised)
        self.balls = {}
        self._free = []
        self._cap = 0
        self.n = 0                  # high-water mark of used slots
        self._alloc(max(capacity, 8))
        self.time = 0.0             # simulated seconds since the park was made
        self.warping = set()        # balls in K_WARP (closed form, outside the kernel)
        self.aligning = set()       # balls in K_ALIGN (checked after each tick)
        self.seeking = 0            # balls in K_POINT
        self.by_slot = []           # slot -> Ball (None for a free slot)
        self.followers = {}         # ball id -> set of balls following or orbiting it
        self._align = None          # numpy kernel: (slots, unit lines) of the aligning balls
        self._ready = []            # numpy kernel: balls aligned this tick
        self.on_event = None

    # --- storage -----------------------------------------------------------------------
    def _alloc(self, cap):
        old = self._cap
        if self.vectorised:
            np = _np

            def grow(a, shape, dtype, fill=0):
                b = np.full(shape, fill, dtype=dtype)
                if old:
                    b[:old] = a
                return b
            self.pos = grow(getattr(self, "pos", None), (cap, 3), np.float64)
            self.vel = grow(getattr(self, "vel", None), (cap, 3), np.float64)
            self.cmd = grow(getattr(self, "cmd", None), (cap, 3), np.float64)
            self.kind = grow(getattr(self, "kind", None), cap, np.int8)
            self.tgt = grow(getattr(self, "tgt", None), cap, np.int64)
            self.rng = grow(getattr(self, "rng", None), cap, np.float64)
            self.vmax = grow(getattr(self, "vmax", None), cap, np.float64)
            self.frac = grow(getattr(self, "frac", None), cap, np.float64)
            self.ex = grow(getattr(self, "ex", None), cap, np.float64)
            self.kx = grow(getattr(self, "kx", None), cap, np.float64)
            self.taus = grow(getattr(self, "taus", None), cap, np.float64, 1.0)
            self.rad = grow(getattr(self, "rad", None), cap, np.float64)
            self.bc = grow(getattr(self, "bc", None), (cap, 3), np.float64, np.nan)
            # warp: origin, direction, (t0, t_accel, t_cruise, t_decel, s_accel, peak, dist)
            self.w_org = grow(getattr(self, "w_org", None), (cap, 3), np.float64)
            self.w_dir = grow(getattr(self, "w_dir", None), (cap, 3), np.float64)
            self.w_par = grow(getattr(self, "w_par", None), (cap, 7), np.float64)
        else:
            add = cap - old
            if not old:
                self.pos, self.vel, self.cmd = [], [], []
                self.kind, self.tgt, self.rng, self.vmax, self.frac = [], [], [], [], []
                self.ex, self.kx, self.taus, self.rad = [], [], [], []
            if not old:
                self.bc = []
            self.bc += [None] * add
            for _ in range(add):
                self.pos.append([0.0, 0.0, 0.0])
                self.vel.append([0.0, 0.0, 0.0])
                self.cmd.append([0.0, 0.0, 0.0])
            self.kind += [K_FREE_SLOT] * add
            self.tgt += [0] * add
            for col in (self.rng, self.vmax, self.frac, self.ex, self.kx, self.rad):
                col += [0.0] * add
            self.taus += [1.0] * add
        self._cap = cap

    def _set_vec(self, col, slot, v):
        col[slot][0], col[slot][1], col[slot][2] = v

    def add_ball(self, id, position, radius, mass=1.0e6, inertia=1.0, max_speed=0.0,
                 static=False, flags=None, velocity=(0.0, 0.0, 0.0), corp_id=0,
                 alliance_id=-1, harmonic=-1, type_id=0, owner_id=0, group_id=0,
                 category_id=0, name="", warp_speed=3.0):
        id = int(id)
        if id in self.balls:
            raise ValueError("ball %d already exists" % id)
        p = tuple(float(c) for c in position)
        if len(p) != 3 or not all(math.isfinite(c) for c in p):
            raise ValueError("position must be three finite numbers")
        if not radius >= 0.0:
            raise ValueError("radius must be non-negative")
        if self._free:
            slot = self._free.pop()
        else:
            if self.n == self._cap:
                self._alloc(self._cap * 2)
            slot = self.n
            self.n += 1
        b = Ball(self, id, slot)
        if slot == len(self.by_slot):
            self.by_slot.append(b)
        else:
            self.by_slot[slot] = b
        b.radius = float(radius)
        b.corp_id, b.alliance_id, b.harmonic, b.cloak = corp_id, alliance_id, harmonic, 0
        b.type_id, b.owner_id, b.group_id, b.category_id, b.name = (type_id, owner_id, group_id,
                                                                     category_id, name)
        b.warp_speed = float(warp_speed)
        self._set_vec(self.pos, slot, p)
        self._set_vec(self.cmd, slot, (0.0, 0.0, 0.0))
        self.set_bubble_center(b, None)
        self.rad[slot] = b.radius
        if static:
            b.mass, b.inertia, b.tau, b.max_speed = float(mass), float(inertia), 1.0, 0.0
            b.flags = GLOBAL if flags is None else flags
            self._set_vec(self.vel, slot, (0.0, 0.0, 0.0))
            self.kind[slot] = K_RIGID
            self.vmax[slot] = self.frac[slot] = 0.0
        else:
            b.mass, b.inertia = float(mass), float(inertia)
            b.tau = physics.tau(b.mass, b.inertia)
            if not (max_speed >= 0.0 and math.isfinite(max_speed)):
                raise ValueError("max_speed must be a finite non-negative number")
            b.max_speed = float(max_speed)
            b.flags = FREE if flags is None else (flags | FREE)
            self._set_vec(self.vel, slot, tuple(float(c) for c in velocity))
            self.kind[slot] = K_STOP
            self.vmax[slot] = b.max_speed
            self.frac[slot] = 0.0
            e = math.exp(-physics.TICK / b.tau)
            self.ex[slot], self.kx[slot], self.taus[slot] = e, b.tau * (1.0 - e), b.tau
        self.balls[id] = b
        return b

    def remove_ball(self, id):
        b = self.balls.pop(id)
        self._set_kind(b, K_FREE_SLOT)
        self._set_vec(self.vel, b.slot, (0.0, 0.0, 0.0))
        self.warping.discard(b)
        self.aligning.discard(b)
        self._free.append(b.slot)
        self.by_slot[b.slot] = None
        # anyone following/orbiting it stops
        for other in list(self.followers.pop(id, ())):
            self.stop(other)
            self._event("target_lost", other)
        return b

    def get(self, id):
        return self.balls.get(id)

    def _set_kind(self, b, kind):
        old = self.kind[b.slot]
        if old == K_POINT:
            self.seeking -= 1
        if kind == K_POINT:
            self.seeking += 1
        if old == K_ALIGN:
            self.aligning.discard(b)
        if old == K_WARP:
            self.warping.discard(b)
            b.warp = None
        if old == K_FOLLOW or old == K_ORBIT:
            f = self.followers.get(b.target_id)
            if f is not None:
                f.discard(b)
                if not f:
                    del self.followers[b.target_id]
        self.kind[b.slot] = kind

    def _event(self, what, b):
        if self.on_event is not None:
            self.on_event(what, b)

    # --- commands (validated by system.py; these trust their arguments) -----------------
    def stop(self, b):
        self._set_kind(b, K_STOP)
        self.frac[b.slot] = 0.0
        b.target_id = None

    def goto_direction(self, b, direction, fraction=None):
        self._set_kind(b, K_DIR)
        self._set_vec(self.cmd, b.slot, physics.unit(direction))
        self._fraction(b, fraction)
        b.target_id = None

    def goto_point(self, b, point, fraction=None):
        self._set_kind(b, K_POINT)
        b.point = tuple(float(c) for c in point)
        self._set_vec(self.cmd, b.slot, b.point)
        self._fraction(b, fraction)
        b.target_id = None

    def follow(self, b, target, rng, fraction=None):
        self._set_kind(b, K_FOLLOW)
        self.followers.setdefault(target.id, set()).add(b)
        self.tgt[b.slot] = target.slot
        self.rng[b.slot] = b.range = float(rng)
        b.target_id = target.id
        self._fraction(b, fraction)

    def orbit(self, b, target, rng, fraction=None):
        self._set_kind(b, K_ORBIT)
        self.followers.setdefault(target.id, set()).add(b)
        self.tgt[b.slot] = target.slot
        self.rng[b.slot] = b.range = float(rng)
        b.target_id = target.id
        self._fraction(b, fraction)

    def set_speed_fraction(self, b, fraction):
        if self.kind[b.slot] == K_STOP and fraction > 0.0:
            v = b.velocity
            sp = physics.norm(v)
            self._set_kind(b, K_DIR)
            self._set_vec(self.cmd, b.slot, physics.unit(v) if sp > 1e-6 else (1.0, 0.0, 0.0))
        self.frac[b.slot] = float(fraction)

    def _fraction(self, b, fraction):
        if fraction is not None:
            self.frac[b.slot] = float(fraction)
        elif self.frac[b.slot] == 0.0:
            self.frac[b.slot] = 1.0

    def warp_to(self, b, point, warp_speed=None):
        """Align toward ``point`` (already offset by the stop distance), then warp."""
        if warp_speed is not None:
            b.warp_speed = float(warp_speed)
        self._set_kind(b, K_ALIGN)
        b.warp_target = tuple(float(c) for c in point)
        b.effect_stamp = -1
        b.target_id = None
        self._set_vec(self.cmd, b.slot, b.warp_target)
        self.frac[b.slot] = 1.0
        self.aligning.add(b)

    def _start_warp(self, b, t0):
        p = b.position
        delta = physics.sub(b.warp_target, p)
        dist = physics.norm(delta)
        if dist < physics.MIN_WARP_DISTANCE:        # already there (moved while aligning)
            self.stop(b)
            self._event("warp_done", b)
            return
        self.aligning.discard(b)
        # whoever follows or orbits it stays behind (the ball leaves the grid)
        for other in list(self.followers.pop(b.id, ())):
            self.stop(other)
            self._event("target_lost", other)
        self._set_kind(b, K_WARP)
        d = (delta[0] / dist, delta[1] / dist, delta[2] / dist)
        prof = physics.WarpProfile(dist, b.warp_speed)
        b.warp = (p, d, prof, t0)
        if self.vectorised:
            s = b.slot
            self.w_org[s] = p
            self.w_dir[s] = d
            self.w_par[s] = (t0, prof.t_accel, prof.t_cruise, prof.t_decel, prof.s_accel,
                             prof.peak, prof.distance)
        self.warping.add(b)
        self._event("warp_started", b)

    # --- bubbles ---------------------------------------------------------------------------
    def set_bubble_center(self, b, center):
        if self.vectorised:
            self.bc[b.slot] = center if center is not None else _np.nan
        else:
            self.bc[b.slot] = center

    def leavers(self, radius):
        """Moving balls that are farther than ``radius`` from their bubble's centre."""
        r2 = radius * radius
        if self.vectorised:
            np = _np
            n = self.n
            d = self.pos[:n] - self.bc[:n]
            with np.errstate(invalid="ignore"):
                out = np.einsum("ij,ij->i", d, d) > r2      # NaN centre (no bubble): False
            out &= self.kind[:n] >= K_STOP
            return [self.by_slot[s] for s in np.flatnonzero(out).tolist()]
        res = []
        for b in self.balls.values():
            c = self.bc[b.slot]
            if c is None or self.kind[b.slot] < K_STOP:
                continue
            p = self.pos[b.slot]
            ex, ey, ez = p[0] - c[0], p[1] - c[1], p[2] - c[2]
            if ex * ex + ey * ey + ez * ez > r2:
                res.append(b)
        return res

    # --- the tick ------------------------------------------------------------------------
    def tick(self, dt=physics.TICK):
        """Advance every ball by one tick of ``dt`` seconds (dt must be TICK for the cached
        decay factors; other values are accepted by the Python kernel only)."""
        if self.vectorised:
            if dt != physics.TICK:
                raise ValueError("the vectorised kernel runs fixed ticks of %s s" % physics.TICK)
            arrived = self._kernel_np(dt)
        else:
            arrived = self._kernel_py(dt)
        self.time += dt
        for b in arrived:
            self._set_kind(b, K_STOP)
            self.frac[b.slot] = 0.0
            self._event("arrived", b)
        if self.warping:
            if self.vectorised:
                self._warp_np()
            else:
                for b in list(self.warping):
                    self._advance_warp(b)
        if self.vectorised:
            ready, self._ready = self._ready, []
            for b in ready:
                b.effect_stamp = -2
                self._start_warp(b, self.time)
            return
        for b in list(self.aligning):
            v = b.velocity
            p = b.position
            delta = physics.sub(b.warp_target, p)
            dist = physics.norm(delta)
            along = (v[0] * delta[0] + v[1] * delta[1] + v[2] * delta[2]) / dist if dist else 0.0
            if along >= physics.ALIGN_FRACTION * b.max_speed * (1.0 - 1e-12) or b.max_speed == 0.0:
                b.effect_stamp = -2     # the system writes the real stamp on 'warp_started'
                self._start_warp(b, self.time)

    def _advance_warp(self, b):
        origin, d, prof, t0 = b.warp
        t = self.time - t0
        s, sp = prof.at(t)
        if t >= prof.total:
            self._set_vec(self.pos, b.slot, b.warp_target)
            exit_v = min(b.max_speed, physics.WARP_EXIT_SPEED)
            self._set_vec(self.vel, b.slot, (d[0] * exit_v, d[1] * exit_v, d[2] * exit_v))
            self.stop(b)
            self._event("warp_done", b)
            return
        self._set_vec(self.pos, b.slot, (origin[0] + d[0] * s, origin[1] + d[1] * s,
                                         origin[2] + d[2] * s))
        self._set_vec(self.vel, b.slot, (d[0] * sp, d[1] * sp, d[2] * sp))

    def _warp_np(self):
        """physics.WarpProfile.at for every ball in warp at once; landings go through
        _advance_warp (exact target, stop, event)."""
        np = _np
        n = self.n
        idx = np.flatnonzero(self.kind[:n] == K_WARP)
        par = self.w_par[idx]
        t = self.time - par[:, 0]
        ta, tc, td, sa, peak, dist = (par[:, i] for i in range(1, 7))
        ka, kd = physics.WARP_ACCEL_K, physics.WARP_DECEL_K
        landed = t >= ta + tc + td
        in_acc = t < ta
        t2 = t - ta
        in_cru = ~in_acc & (t2 < tc)
        t3 = np.maximum(t2 - tc, 0.0)
        ea = np.exp(ka * np.minimum(t, ta))
        sd = peak * np.exp(-kd * t3)
        s = np.where(in_acc, ea - 1.0, np.where(in_cru, sa + peak * t2, dist - (sd / kd - 1.0)))
        sp = np.where(in_acc, ka * ea, np.where(in_cru, peak, sd))
        fly = ~landed
        fi = idx[fly]
        d = self.w_dir[fi]
        self.pos[fi] = self.w_org[fi] + d * s[fly, None]
        self.vel[fi] = d * sp[fly, None]
        if landed.any():
            for slot in idx[landed].tolist():
                self._advance_warp(self.by_slot[slot])

    def _kernel_py(self, dt):
        arrived = []
        plan = []
        kind, pos, vel, cmd = self.kind, self.pos, self.vel, self.cmd
        exp = math.exp
        for b in self.balls.values():
            s = b.slot
            k = kind[s]
            if k <= K_RIGID or k == K_WARP:
                continue
            p, v = pos[s], vel[s]
            speed = self.vmax[s] * self.frac[s]
            if k == K_STOP:
                u = (0.0, 0.0, 0.0)
            elif k == K_DIR:
                c = cmd[s]
                u = (c[0] * speed, c[1] * speed, c[2] * speed)
            elif k == K_POINT or k == K_ALIGN:
                c = cmd[s]
                dx, dy, dz = c[0] - p[0], c[1] - p[1], c[2] - p[2]
                dist = math.sqrt(dx * dx + dy * dy + dz * dz)
                if k == K_ALIGN:
                    speed = self.vmax[s]
                elif dist <= max(b.radius, physics.norm(v) * dt, 1.0):
                    arrived.append(b)
                    speed = 0.0
                u = (dx / dist * speed, dy / dist * speed, dz / dist * speed) if dist > 0 \
                    else (0.0, 0.0, 0.0)
            elif k == K_FOLLOW:
                t = self.tgt[s]
                tp, tv = pos[t], vel[t]
                dx, dy, dz = tp[0] - p[0], tp[1] - p[1], tp[2] - p[2]
                dist = math.sqrt(dx * dx + dy * dy + dz * dz) or 1.0
                gap = dist - self.rad[s] - self.rad[t] - self.rng[s]
                g = physics.follow_gain(self.taus[s], dt)
                a = max(-speed, min(speed, g * gap))
                u = (tv[0] + dx / dist * a, tv[1] + dy / dist * a, tv[2] + dz / dist * a)
            else:   # K_ORBIT
                t = self.tgt[s]
                radius = self.rng[s] + self.rad[s] + self.rad[t]
                u = physics.orbit_command(tuple(p), tuple(v), tuple(pos[t]), radius, speed,
                                          self.taus[s], dt)
            plan.append((s, u))
        # second pass: every u was computed from the state at the start of the tick
        for s, u in plan:
            p, v = pos[s], vel[s]
            if dt == physics.TICK:
                e, kk = self.ex[s], self.kx[s]
            else:
                e = exp(-dt / self.taus[s])
                kk = self.taus[s] * (1.0 - e)
            for i in 0, 1, 2:
                dv = v[i] - u[i]
                p[i] += u[i] * dt + dv * kk
                v[i] = u[i] + dv * e
        return arrived

    _arange = () if _np is None else _np.arange(0)

    def _grow_arange(self, n):
        self._arange = _np.arange(max(n, 2 * len(self._arange)))
        return self._arange[:n]

    def _kernel_np(self, dt):
        np = _np
        n = self.n
        kind = self.kind[:n]
        pos, vel, cmd = self.pos[:n], self.vel[:n], self.cmd[:n]
        # Whole-column arithmetic (no gather/scatter of the moving balls): statics and free
        # slots have v = 0 and get u = 0, so the step leaves them where they are; balls in
        # warp get u = 0 too and are overwritten by _warp_np right after.
        if n == 0:
            return []
        idx = self._arange[:n] if len(self._arange) >= n else self._grow_arange(n)
        k = kind
        p, v = pos, vel
        speed = self.vmax[:n] * self.frac[:n]
        u = np.zeros((n, 3))
        arrived = []
        m = k == K_DIR
        if m.any():
            u[m] = cmd[idx[m]] * speed[m, None]
        m = (k == K_POINT) | (k == K_ALIGN)
        if m.any():
            d = cmd[idx[m]] - p[m]
            dist = np.sqrt(np.einsum("ij,ij->i", d, d))
            sp = np.where(k[m] == K_ALIGN, self.vmax[idx[m]], speed[m])
            reach = np.maximum(np.maximum(self.rad[idx[m]],
                                          np.sqrt(np.einsum("ij,ij->i", v[m], v[m])) * dt), 1.0)
            arr = (k[m] == K_POINT) & (dist <= reach)
            if arr.any():
                sp = np.where(arr, 0.0, sp)
                sel = idx[m][arr]
                arrived = [self.by_slot[s] for s in sel.tolist()]
            with np.errstate(invalid="ignore", divide="ignore"):
                scale = np.where(dist > 0, sp / dist, 0.0)
            u[m] = d * scale[:, None]
            al = k[m] == K_ALIGN
            if al.any():
                with np.errstate(invalid="ignore", divide="ignore"):
                    self._align = (idx[m][al], d[al] / dist[al, None])
        m = k == K_FOLLOW
        if m.any():
            si = idx[m]
            t = self.tgt[si]
            d = pos[t] - p[m]
            dist = np.sqrt(np.einsum("ij,ij->i", d, d))
            dist = np.where(dist > 0, dist, 1.0)
            gap = dist - self.rad[si] - self.rad[t] - self.rng[si]
            g = np.minimum(1.0 / (2.0 * self.taus[si]), 0.5 / dt)
            a = np.clip(g * gap, -speed[m], speed[m])
            u[m] = vel[t] + d * (a / dist)[:, None]
        m = k == K_ORBIT
        if m.any():
            si = idx[m]
            t = self.tgt[si]
            pm, vm = p[m], v[m]
            r = pm - pos[t]
            d = np.sqrt(np.einsum("ij,ij->i", r, r))
            zero = d == 0
            if zero.any():
                r[zero] = (1.0, 0.0, 0.0)
                d = np.where(zero, 1.0, d)
            rh = r / d[:, None]
            vr = np.einsum("ij,ij->i", vm, rh)
            tv = vm - rh * vr[:, None]
            tn = np.sqrt(np.einsum("ij,ij->i", tv, tv))
            small = tn < 1e-9
            if small.any():
                rs = rh[small]
                alt = np.where((np.abs(rs[:, 2]) < 0.9)[:, None],
                               np.stack([-rs[:, 1], rs[:, 0], np.zeros(len(rs))], axis=1),
                               np.stack([np.zeros(len(rs)), -rs[:, 2], rs[:, 1]], axis=1))
                tv[small] = alt
                tn = np.sqrt(np.einsum("ij,ij->i", tv, tv))
            th = tv / tn[:, None]
            radius = self.rng[si] + self.rad[si] + self.rad[t]
            taus = self.taus[si]
            g = np.minimum(1.0 / (4.0 * taus), 0.5 / dt)
            sm = speed[m]
            want = np.clip(-g * (d - radius), -sm, sm)
            ts = np.sqrt(np.maximum(sm * sm - want * want, 0.0))
            dm = np.maximum(d, 1.0)
            ac = -ts * ts / dm * taus
            ang = 0.5 * ts * dt / dm
            ca, sa = np.cos(ang)[:, None], np.sin(ang)[:, None]
            t2 = th * ca - rh * sa
            r2 = rh * ca + th * sa
            u[m] = t2 * ts[:, None] + r2 * (want + ac)[:, None]
        dv = v - u
        u *= dt
        pos += u
        u *= 1.0 / dt
        pos += dv * self.kx[:n, None]
        dv *= self.ex[:n, None]
        dv += u
        vel[...] = dv
        if self._align is not None:         # aligned for warp: 75 % of max speed on the line
            slots, line = self._align
            self._align = None
            along = np.einsum("ij,ij->i", vel[slots], line)
            ok = along >= physics.ALIGN_FRACTION * self.vmax[slots] * (1.0 - 1e-12)
            ok |= self.vmax[slots] == 0.0
            self._ready = [self.by_slot[s] for s in slots[ok].tolist()]
        return arrived
