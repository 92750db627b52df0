"""Movement against the equations (closed forms), both kernels."""

import math

import pytest

from evemu.world.space import park, physics
from evemu.world.space.park import Ballpark

try:
    import numpy  # noqa: F401
    KERNELS = [False, True]
except ImportError:                     # pragma: no cover
    KERNELS = [False]

FRIGATE = dict(mass=1.2e6, inertia=3.0, max_speed=300.0)      # tau = 3.6 s
BATTLESHIP = dict(mass=1.0e8, inertia=0.12, max_speed=100.0)   # tau = 12 s


def close(a, b, rel=1e-3):
    return abs(a - b) <= rel * max(abs(a), abs(b))


@pytest.fixture(params=KERNELS, ids=lambda v: "numpy" if v else "python")
def bp(request):
    return Ballpark(vectorised=request.param)


def test_tau_and_align_time():
    assert physics.tau(1.2e6, 3.0) == pytest.approx(3.6)
    assert physics.align_time(3.6) == pytest.approx(-math.log(0.25) * 3.6)
    with pytest.raises(ValueError, match="positive"):
        physics.tau(0.0, 1.0)


@pytest.mark.parametrize("ship", [FRIGATE, BATTLESHIP], ids=["frigate", "battleship"])
@pytest.mark.parametrize("n", [1, 3, 10, 40])
def test_accelerate_from_rest_matches_closed_form(bp, ship, n):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, **ship)
    bp.goto_direction(b, (0.0, 0.0, 1.0), 1.0)
    for _ in range(n):
        bp.tick()
    t = physics.tau(ship["mass"], ship["inertia"])
    assert close(b.speed, physics.speed_from_rest(ship["max_speed"], t, n))
    assert close(b.position[2], physics.distance_from_rest(ship["max_speed"], t, n))
    assert abs(b.position[0]) < 1e-9 and abs(b.position[1]) < 1e-9


def test_speed_fraction_scales_commanded_speed(bp):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, **FRIGATE)
    bp.goto_direction(b, (1.0, 0.0, 0.0), 0.5)
    for _ in range(30):
        bp.tick()
    t = physics.tau(FRIGATE["mass"], FRIGATE["inertia"])
    assert close(b.speed, physics.speed_from_rest(150.0, t, 30))
    assert b.speed_fraction == 0.5


def test_align_time_reaches_75_percent(bp):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, **BATTLESHIP)
    bp.goto_direction(b, (1.0, 0.0, 0.0), 1.0)
    t = physics.tau(BATTLESHIP["mass"], BATTLESHIP["inertia"])
    align = physics.align_time(t)            # 16.6 s
    n = math.ceil(align)
    for _ in range(n - 1):
        bp.tick()
    assert b.speed < 0.75 * 100.0
    bp.tick()
    assert b.speed >= 0.75 * 100.0


def test_stop_decays_exponentially(bp):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, velocity=(0.0, 250.0, 0.0), **FRIGATE)
    bp.stop(b)
    t = physics.tau(FRIGATE["mass"], FRIGATE["inertia"])
    for n in range(1, 21):
        bp.tick()
        assert close(b.speed, physics.speed_stopping(250.0, t, n))
    # distance while stopping: integral of v0 e^(-t/tau)
    assert close(b.position[1], 250.0 * t * (1.0 - math.exp(-20.0 / t)))


def test_turn_relaxes_the_vector(bp):
    """A 90 degree turn at full speed: the velocity vector relaxes (speed dips to
    vmax/sqrt(2) when the components cross), it does not rotate at constant speed."""
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, velocity=(300.0, 0.0, 0.0), **FRIGATE)
    bp.goto_direction(b, (0.0, 1.0, 0.0), 1.0)
    t = physics.tau(FRIGATE["mass"], FRIGATE["inertia"])
    for n in range(1, 16):
        bp.tick()
        e = math.exp(-n / t)
        vx, vy, _ = b.velocity
        assert close(vx, 300.0 * e)
        assert close(vy, 300.0 * (1.0 - e))
    # closed-form position: x = 300 tau (1 - e), y = 300 (t - tau (1 - e))
    e = math.exp(-15 / t)
    assert close(b.position[0], 300.0 * t * (1 - e))
    assert close(b.position[1], 300.0 * (15 - t * (1 - e)))


def test_goto_point_arrives_and_stops(bp):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, **FRIGATE)
    events = []
    bp.on_event = lambda what, ball: events.append((what, ball.id))
    bp.goto_point(b, (20_000.0, 0.0, 0.0))
    for _ in range(200):
        bp.tick()
        if events:
            break
    assert events == [("arrived", 1)]
    assert b.kind == park.K_STOP
    assert abs(b.position[0] - 20_000.0) <= 300.0


@pytest.mark.parametrize("ship,rng", [(FRIGATE, 5000.0), (BATTLESHIP, 15_000.0),
                                      (dict(mass=1.0e6, inertia=1.5, max_speed=500.0), 2500.0)],
                         ids=["frigate", "battleship", "interceptor"])
def test_orbit_radius_holds_within_one_percent(bp, ship, rng):
    c = bp.add_ball(1, (1e6, -2e6, 3e5), 5000.0, static=True)
    b = bp.add_ball(2, (1e6 + 30_000.0, -2e6, 3e5), 50.0, **ship)
    bp.orbit(b, c, rng)
    want = rng + 5000.0 + 50.0       # surface to surface
    for _ in range(250):
        bp.tick()
    radii = []
    for _ in range(200):
        bp.tick()
        radii.append(physics.norm(physics.sub(b.position, c.position)))
    assert max(abs(r / want - 1.0) for r in radii) < 0.01
    assert close(b.speed, ship["max_speed"], rel=0.02)


def test_follow_keeps_range(bp):
    lead = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, **BATTLESHIP)
    f = bp.add_ball(2, (50_000.0, 0.0, 0.0), 50.0, **FRIGATE)
    bp.goto_direction(lead, (0.0, 1.0, 0.0), 0.5)
    bp.follow(f, lead, 2000.0)
    for _ in range(300):
        bp.tick()
    gap = physics.norm(physics.sub(f.position, lead.position)) - 100.0
    assert abs(gap - 2000.0) < 0.05 * 2000.0


def test_kernels_agree():
    pytest.importorskip("numpy")
    parks = [Ballpark(vectorised=False), Ballpark(vectorised=True)]
    for p in parks:
        c = p.add_ball(1, (0.0, 0.0, 0.0), 3000.0, static=True)
        a = p.add_ball(2, (9000.0, 100.0, 0.0), 40.0, **FRIGATE)
        b = p.add_ball(3, (0.0, 40_000.0, 5.0), 200.0, **BATTLESHIP)
        d = p.add_ball(4, (-9000.0, 0.0, 0.0), 40.0, **FRIGATE)
        e = p.add_ball(5, (1.0, 2.0, 3.0), 40.0, velocity=(10.0, 20.0, 30.0), **FRIGATE)
        p.orbit(a, c, 4000.0)
        p.follow(b, a, 1000.0)
        p.goto_point(d, (50_000.0, 50_000.0, 0.0))
        p.goto_direction(e, (1.0, -1.0, 2.0), 0.3)
        for _ in range(60):
            p.tick()
    for bid in (2, 3, 4, 5):
        pa, pb = parks[0].get(bid).position, parks[1].get(bid).position
        assert physics.norm(physics.sub(pa, pb)) < 1e-6 * max(1.0, physics.norm(pa))


# --- warp ------------------------------------------------------------------------------------

def test_warp_profile_phases():
    prof = physics.WarpProfile(10 * physics.AU, 3.0)
    v = 3.0 * physics.AU
    assert prof.peak == v
    assert prof.t_accel == pytest.approx(math.log(v / 3.0) / 3.0)
    assert prof.t_decel == pytest.approx(math.log(v / 1.0))
    assert prof.total == pytest.approx(prof.t_accel + prof.t_decel
                                       + (10 * physics.AU - v / 3 + 1 - v + 1) / v)
    # continuity at the phase boundaries, and the end
    for t in (prof.t_accel, prof.t_accel + prof.t_cruise):
        a, b = prof.at(t - 1e-9), prof.at(t + 1e-9)
        assert a[0] == pytest.approx(b[0], rel=1e-6)
        assert a[1] == pytest.approx(b[1], rel=1e-6)
    assert prof.at(prof.total) == (10 * physics.AU, physics.WARP_EXIT_SPEED)


def test_short_warp_never_reaches_warp_speed():
    prof = physics.WarpProfile(1_000_000.0, 3.0)
    assert prof.t_cruise == 0.0 and prof.peak < 3.0 * physics.AU
    assert prof.s_accel + prof.s_decel == pytest.approx(1_000_000.0)


def test_warp_below_minimum_is_refused():
    with pytest.raises(ValueError, match="below the minimum"):
        physics.WarpProfile(100_000.0, 3.0)


@pytest.mark.parametrize("distance", [2_000_000.0, 5.0e9, 3.0 * physics.AU, 1.0e12])
def test_warp_arrives_when_and_where_the_phase_model_says(bp, distance):
    b = bp.add_ball(1, (1.0e6, 2.0e6, -3.0e6), 50.0, **FRIGATE)
    events = []
    bp.on_event = lambda what, ball: events.append((what, bp.time))
    target = (1.0e6 + distance * 0.6, 2.0e6 - distance * 0.8, -3.0e6)
    bp.warp_to(b, target)
    while not events:
        bp.tick()
    what, t_start = events[0]
    assert what == "warp_started"
    # the warp starts at the first tick at which the ship is at 75 % of max speed
    t = physics.tau(FRIGATE["mass"], FRIGATE["inertia"])
    assert t_start == math.ceil(physics.align_time(t))
    start = physics.norm(physics.sub(target, b.position))
    prof = physics.WarpProfile(start, 3.0)
    while len(events) < 2:
        bp.tick()
        assert bp.time < 1e4
    what, t_end = events[1]
    assert what == "warp_done"
    assert t_end - t_start == math.ceil(prof.total)
    # lands on the target: doubles end to end (10^12 m to within a millimetre)
    assert physics.norm(physics.sub(b.position, target)) < 1e-3
    assert b.kind == park.K_STOP


def test_warp_position_follows_phase_model(bp):
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 50.0, max_speed=300.0, mass=1.0e5, inertia=1.0)
    target = (0.0, 0.0, 1.0e12)
    events = []
    bp.on_event = lambda what, ball: events.append(bp.time)
    bp.warp_to(b, target)
    while not events:
        bp.tick()
    z0, t0 = b.position[2], events[0]
    prof = physics.WarpProfile(1.0e12 - z0, 3.0)
    assert 30 < prof.total < 60
    for _ in range(int(prof.total)):
        bp.tick()
        s, v = prof.at(bp.time - t0)
        assert b.position[2] - z0 == pytest.approx(s, rel=1e-9)
        assert b.speed == pytest.approx(v, rel=1e-9)


def test_works_without_numpy(run_python):
    r = run_python("""
        import sys
        sys.modules["numpy"] = None             # import numpy now raises ImportError
        from evemu.world.space import SolarSystem, physics
        from evemu.world.space.park import Ballpark
        assert Ballpark().vectorised is False
        try:
            Ballpark(vectorised=True)
        except RuntimeError as e:
            print("refused:", e)
        s = SolarSystem(1)
        s.add_static(2, (0.0, 0.0, 0.0), 1000.0)
        s.add_ship(3, (20000.0, 0.0, 0.0), 40.0, 1.2e6, 3.0, 300.0)
        s.cmd_orbit(3, 2, 5000.0)
        for _ in range(5):
            s.tick()
        print("ok", s.stamp, s.park.vectorised)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "refused: numpy is not installed; use vectorised=False", "ok 1005 False"]
