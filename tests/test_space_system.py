"""Solar systems: bubbles, commands and their updates, bad arguments, dock/jump checks."""

import math

import pytest

import evemu.marshal as m
from evemu.world.space import (BadArgument, NotAllowed, Observer, OutOfRange, SolarSystem,
                               SpaceError, UnknownBall, physics)
from evemu.world.space.ball import decode_state
from evemu.world.space.park import K_STOP, K_WARP

SHIP = dict(radius=40.0, mass=1.2e6, inertia=3.0, max_speed=300.0)


class Client:
    """An observer that records what it was sent (decoded from marshal bytes)."""

    def __init__(self, ship_id):
        self.got = []
        self.observer = Observer(ship_id, self.deliver)

    def deliver(self, args):
        self.got.append(m.loads(m.dumps(args)))

    def names(self):
        out = []
        for updates, *_ in self.got:
            for stamp, (name, args) in updates:
                out.append(name)
        return out

    def updates(self, name):
        return [(stamp, args) for updates, *_ in self.got for stamp, (n, args) in updates
                if n == name]

    def added_ids(self):
        ids = []
        for updates, *_ in self.got:
            for stamp, (name, args) in updates:
                acts = [(stamp, (name, args))]
                if name == b"PackagedAction":
                    acts = args.value
                for _s, (n, a) in acts:
                    if n == b"AddBalls2":
                        ids += [b.id for b in decode_state(a[0][0])[2]]
        return ids


try:
    import numpy  # noqa: F401
    KERNELS = [False, True]
except ImportError:                     # pragma: no cover
    KERNELS = [False]


@pytest.fixture(params=KERNELS, ids=lambda v: "numpy" if v else "python")
def system(request):
    s = SolarSystem(30000142, vectorised=request.param)
    s.add_static(60003760, (0.0, 0.0, 0.0), 5000.0, dockable=True,
                 undock=((0.0, 0.0, 6000.0), (0.0, 0.0, 1.0)))
    s.add_static(50000056, (0.0, 3.0e9, 0.0), 2500.0, destination=(30000144, 50000057))
    s.add_static(40009077, (5.0e10, 0.0, 0.0), 6_000_000.0)
    return s


def fly(s, n=1):
    for _ in range(n):
        s.tick()


def test_stamp_starts_at_1000_and_counts_ticks(system):
    assert system.stamp == 1000
    fly(system, 3)
    assert system.stamp == 1003


def test_two_in_a_bubble_see_each_other_a_third_far_away_sees_neither(system):
    a, b, c = Client(1), Client(2), Client(3)
    system.add_ship(1, (100_000.0, 0.0, 0.0), observer=a.observer, **SHIP)
    system.add_ship(2, (110_000.0, 0.0, 0.0), observer=b.observer, **SHIP)
    system.add_ship(3, (1_110_000.0, 0.0, 0.0), observer=c.observer, **SHIP)
    assert system.sees(1, 2) and system.sees(2, 1)
    assert not system.sees(3, 1) and not system.sees(3, 2)
    assert not system.sees(1, 3)
    fly(system)
    assert 1 in b.added_ids() and 2 not in b.added_ids()
    assert a.added_ids() == [2]             # 1 was first: it learns of 2 by AddBalls2
    system.cmd_goto_direction(1, 0.0, 1.0, 0.0)
    fly(system)
    # b sees a's command at the next tick, c does not
    assert b.updates(b"GotoDirection") == [(1001, (1, 0.0, 1.0, 0.0))]
    assert a.updates(b"GotoDirection") == [(1001, (1, 0.0, 1.0, 0.0))]
    assert c.got == []
    # SetState shows what each sees
    _stamp, (_n, (kv,)) = system.set_state(3)
    ids = [bs.id for bs in decode_state(kv.state[b"state"])[2]]
    assert sorted(ids) == sorted([60003760, 50000056, 40009077, 3])


def test_leaving_a_bubble_removes_and_adds(system):
    a, b = Client(1), Client(2)
    system.add_ship(1, (0.0, 0.0, 20_000.0), observer=a.observer, **SHIP)
    system.add_ship(2, (0.0, 0.0, 21_000.0), observer=b.observer, **SHIP)
    fly(system)
    system.park.get(2).max_speed = 300.0
    system.park.goto_direction(system.park.get(2), (1.0, 0.0, 0.0), 1.0)
    system.park.vmax[system.park.get(2).slot] = 5000.0     # a fast mover (test only)
    for _ in range(80):
        fly(system)
        if not system.sees(1, 2):
            break
    assert not system.sees(1, 2)
    assert a.updates(b"RemoveBalls")[-1][1] == ([2],)
    assert b.updates(b"RemoveBalls")[-1][1] == ([1],)


def test_commands_reach_the_bubble_as_destiny_updates(system):
    a, b = Client(1), Client(2)
    system.add_ship(1, (0.0, 0.0, 20_000.0), observer=a.observer, **SHIP)
    system.add_ship(2, (0.0, 0.0, 22_000.0), observer=b.observer, **SHIP)
    fly(system)
    system.cmd_goto_point(1, 1000.0, 2000.0, 3000.0)
    system.cmd_set_speed_fraction(1, 0.5)
    system.cmd_orbit(2, 1, 5000)
    fly(system)
    system.cmd_follow(1, 2, 1000)
    system.cmd_align_to(2, 60003760)
    system.cmd_stop(1)
    fly(system)
    assert b.names().count(b"GotoPoint") == 1
    assert b.updates(b"SetSpeedFraction") == [(1001, (1, 0.5))]
    assert b.updates(b"Orbit") == [(1001, (2, 1, 5000))]
    assert a.updates(b"FollowBall") == [(1002, (1, 2, 1000))]
    assert a.updates(b"AlignTo") == [(1002, (2,))]
    assert a.updates(b"Stop") == [(1002, (1,))]
    # one DoDestinyUpdate per tick per client
    assert len(a.got) == 3 and all(len(g) == 2 and g[1] is False for g in a.got)


def test_update_state_request_matches_the_simulation(system):
    a = Client(1)
    ship = system.add_ship(1, (0.0, 0.0, 20_000.0), observer=a.observer, **SHIP)
    system.cmd_goto_direction(1, 1.0, 0.0, 0.0)
    fly(system, 5)
    stamp, (name, (kv,)) = system.set_state(1)
    assert stamp == 1005 and name == b"SetState"
    (me,) = [bs for bs in decode_state(kv.state[b"state"])[2] if bs.id == 1]
    assert me.position == ship.position and me.velocity == ship.velocity
    t = physics.tau(1.2e6, 3.0)
    assert me.velocity[0] == pytest.approx(physics.speed_from_rest(300.0, t, 5), rel=1e-3)


def test_undock_appears_at_undock_point_moving_out(system):
    a = Client(1)
    add, ss = system.undock(1, 60003760, observer=a.observer, **SHIP)
    assert add[0] == 1000 and ss[0] == 1001        # AddBalls2 at N, SetState at N+1
    assert add[1][0] == b"AddBalls2" and ss[1][0] == b"SetState"
    (ball,) = decode_state(add[1][1][0][0])[2]
    assert ball.position == (0.0, 0.0, 6000.0)
    assert ball.velocity[2] > 0 and ball.sector[2] > 1e12      # heading out along +z
    kv = ss[1][1][0].state
    assert kv[b"ego"] == 1
    fly(system, 3)
    assert system.park.get(1).position[2] > 6000.0


def test_warp_lands_in_a_new_bubble(system):
    a, b = Client(1), Client(2)
    system.add_ship(1, (0.0, 0.0, 20_000.0), observer=a.observer, **SHIP)
    system.add_ship(2, (0.0, 0.0, 21_000.0), observer=b.observer, **SHIP)
    target = system.cmd_warp_to_ball(1, 40009077, 30_000.0)
    fly(system)
    assert b.updates(b"WarpTo") == [(1000, (1, 5.0e10, 0.0, 0.0, 6_030_040, 30))]
    ship = system.park.get(1)
    for _ in range(200):
        fly(system)
        if ship.kind == K_WARP:
            break
    assert ship.kind == K_WARP and not system.sees(2, 1)
    for _ in range(200):
        fly(system)
        if ship.kind != K_WARP:
            break
    assert ship.kind == K_STOP
    assert physics.norm(physics.sub(ship.position, target)) < 1e-3
    gap = physics.norm(physics.sub(ship.position, (5.0e10, 0.0, 0.0))) - 6_000_000.0 - 40.0
    assert gap == pytest.approx(30_000.0, abs=1e-3)
    assert ship.bubble is not None and not system.sees(1, 2)


def test_dock_and_jump_range_checks(system):
    system.add_ship(1, (0.0, 0.0, 7000.0), **SHIP)
    system.add_ship(2, (0.0, 0.0, 9000.0), **SHIP)
    assert system.check_dock(1, 60003760).id == 60003760
    with pytest.raises(OutOfRange, match="docking range is 2500 m"):
        system.check_dock(2, 60003760)
    with pytest.raises(NotAllowed, match="does not permit docking"):
        system.check_dock(1, 40009077)
    with pytest.raises(OutOfRange, match="jump range"):
        system.check_jump(1, 50000056)
    with pytest.raises(NotAllowed, match="not a stargate"):
        system.check_jump(1, 60003760)
    system.add_ship(3, (0.0, 3.0e9 - 4000.0, 0.0), **SHIP)
    assert system.check_jump(3, 50000056) == (30000144, 50000057)


BAD = [
    ("cmd_goto_point", (999, 1.0, 2.0, 3.0), UnknownBall, "no ball 999"),
    ("cmd_goto_point", ("1", 1.0, 2.0, 3.0), BadArgument, "ball id must be an integer"),
    ("cmd_goto_point", (1, float("nan"), 2.0, 3.0), BadArgument, "point.x must be finite"),
    ("cmd_goto_point", (1, None, 2.0, 3.0), BadArgument, "point.x must be a number"),
    ("cmd_goto_direction", (1, 0.0, 0.0, 0.0), BadArgument, "zero vector"),
    ("cmd_goto_direction", (1, True, 0.0, 0.0), BadArgument, "must be a number, not bool"),
    ("cmd_goto_direction", (60003760, 1.0, 0.0, 0.0), NotAllowed, "is not a ship"),
    ("cmd_set_speed_fraction", (1, 1.5), BadArgument, "between 0 and 1"),
    ("cmd_set_speed_fraction", (1, -0.1), BadArgument, "between 0 and 1"),
    ("cmd_set_speed_fraction", (1, float("inf")), BadArgument, "must be finite"),
    ("cmd_stop", (12345,), UnknownBall, "no ball 12345"),
    ("cmd_orbit", (1, 999, 5000), UnknownBall, "no ball 999"),
    ("cmd_orbit", (1, 1, 5000), BadArgument, "cannot target itself"),
    ("cmd_orbit", (1, 60003760, -5), OutOfRange, "orbit range -5 m is out of range"),
    ("cmd_orbit", (1, 60003760, 1e9), OutOfRange, "out of range"),
    ("cmd_orbit", (1, 3, 5000), OutOfRange, "ball 3 is not within range"),
    ("cmd_follow", (1, 3, 500), OutOfRange, "ball 3 is not within range"),
    ("cmd_follow", (1, 2, "far"), BadArgument, "follow range must be a number"),
    ("cmd_align_to", (1, 424242), UnknownBall, "no ball 424242"),
    ("cmd_warp_to_point", (1, 0.0, 0.0, 60_000.0), OutOfRange, "too close for your warp"),
    ("cmd_warp_to_ball", (1, 60003760, 0.0), OutOfRange, "too close for your warp"),
    ("cmd_warp_to_ball", (1, 1, 0.0), BadArgument, "cannot warp to itself"),
    ("cmd_warp_to_ball", (1, 40009077, -1.0), OutOfRange, "warp distance"),
    ("check_dock", (1, 2), NotAllowed, "is not a celestial"),
    ("check_dock", (1, 31337), UnknownBall, "no ball 31337"),
    ("set_state", (1, -1), BadArgument, "stamp must be an int"),
    ("set_state", (1, 2**32), BadArgument, "stamp must be an int"),
    ("set_state", (1, 1.5), BadArgument, "stamp must be an int"),
    ("check_jump", (999, 50000056), UnknownBall, "no ball 999"),
    ("cmd_goto_point", (1, 1e300, 0.0, 0.0), OutOfRange, "point is out of range"),
    ("cmd_warp_to_point", (1, -1e308, 1e308, 0.0), OutOfRange, "point is out of range"),
    ("cmd_goto_direction", (1, 2**1100, 0.0, 0.0), BadArgument, "must be finite"),
    ("cmd_orbit", (1, 2**70, 5000), UnknownBall, "no ball"),
    ("dock", (2, 60003760), OutOfRange, "docking range"),
]


@pytest.mark.parametrize("cmd,args,exc,msg", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_arguments_raise_user_errors(system, cmd, args, exc, msg):
    system.add_ship(1, (0.0, 0.0, 20_000.0), **SHIP)
    system.add_ship(2, (0.0, 0.0, 22_000.0), **SHIP)
    system.add_ship(3, (0.0, 0.0, 2_000_000.0), **SHIP)
    before = system.park.get(1).kind
    with pytest.raises(exc, match=msg) as info:
        getattr(system, cmd)(*args)
    assert isinstance(info.value, SpaceError) and isinstance(info.value, ValueError)
    key, d = info.value.user_error()
    assert key == "CustomNotify" and msg.split()[0] in d["notify"]
    assert system.park.get(1).kind == before       # nothing changed


def test_commands_refused_in_warp(system):
    system.add_ship(1, (0.0, 0.0, 20_000.0), **SHIP)
    system.cmd_warp_to_ball(1, 40009077)
    for _ in range(30):
        fly(system)
    assert system.park.get(1).kind == K_WARP
    with pytest.raises(NotAllowed, match="in warp"):
        system.cmd_stop(1)


def test_target_lost_when_followed_ball_leaves(system):
    system.add_ship(1, (0.0, 0.0, 20_000.0), **SHIP)
    system.add_ship(2, (0.0, 0.0, 22_000.0), **SHIP)
    system.cmd_follow(1, 2, 500)
    fly(system)
    system.remove_ship(2)
    assert system.park.get(1).kind == K_STOP
    with pytest.raises(UnknownBall):
        system.remove_ship(2)


def test_followers_stay_behind_when_the_target_warps(system):
    system.add_ship(1, (0.0, 0.0, 20_000.0), **SHIP)
    system.add_ship(2, (0.0, 0.0, 22_000.0), **SHIP)
    system.cmd_follow(2, 1, 500)
    system.cmd_warp_to_ball(1, 40009077)
    for _ in range(30):
        fly(system)
    assert system.park.get(1).kind == K_WARP
    assert system.park.get(2).kind == K_STOP
    assert system.park.get(2).speed < 300.0


def test_dock_takes_the_ship_out_of_space(system):
    a, b = Client(1), Client(2)
    system.add_ship(1, (0.0, 0.0, 7000.0), observer=a.observer, **SHIP)
    system.add_ship(2, (0.0, 0.0, 9000.0), observer=b.observer, **SHIP)
    assert system.dock(1, 60003760).id == 60003760
    assert system.park.get(1) is None and 1 not in system.observers
    fly(system)
    assert b.updates(b"RemoveBalls") == [(1000, ([1],))]


def test_jump_moves_the_ship_to_the_destination_gate():
    from evemu.world.space import Space
    space = Space(vectorised=False)
    src = space.system(30000142)
    src.add_static(50000056, (0.0, 3.0e9, 0.0), 2500.0, destination=(30000144, 50000057))
    dst = space.system(30000144)
    dst.add_static(50000057, (4.0e10, 0.0, 0.0), 2500.0, destination=(30000142, 50000056))
    src.add_ship(1, (0.0, 3.0e9 - 3000.0, 0.0), **SHIP)
    src.add_ship(2, (0.0, 3.0e9 - 9000.0, 0.0), **SHIP)
    for _ in range(3):
        src.tick()
    with pytest.raises(OutOfRange, match="jump range"):
        space.jump(30000142, 2, 50000056)
    with pytest.raises(UnknownBall, match="no solar system"):
        space.jump(31337, 1, 50000056)
    c = Client(1)
    system, ball = space.jump(30000142, 1, 50000056, observer=c.observer)
    assert system is dst and src.park.get(1) is None and dst.park.get(1) is ball
    gap = physics.norm(physics.sub(ball.position, (4.0e10, 0.0, 0.0))) - 2540.0
    assert gap == pytest.approx(5000.0)
    assert dst.stamp == src.stamp == 1003
    assert dst.observers[1] is c.observer and ball.mass == 1.2e6


try:
    from hypothesis import given, settings, strategies as st
except ImportError:                     # pragma: no cover
    given = None

if given is not None:
    _junk = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                      st.text(max_size=3), st.binary(max_size=3),
                      st.sampled_from([1, 2, 60003760, 40009077, 0.5, 5000.0, -1.0]))
    _cmds = st.sampled_from(["cmd_goto_direction", "cmd_goto_point", "cmd_set_speed_fraction",
                             "cmd_stop", "cmd_orbit", "cmd_follow", "cmd_align_to",
                             "cmd_warp_to_point", "cmd_warp_to_ball", "check_dock",
                             "check_jump", "set_state"])

    @settings(max_examples=300, deadline=None)
    @given(script=st.lists(st.tuples(_cmds, st.lists(_junk, max_size=5)), max_size=8))
    def test_hostile_commands_raise_only_space_errors(script):
        s = SolarSystem(1, vectorised=False)
        s.add_static(60003760, (0.0, 0.0, 0.0), 5000.0, dockable=True)
        s.add_static(40009077, (5.0e10, 0.0, 0.0), 6_000_000.0)
        s.add_ship(1, (0.0, 0.0, 20_000.0), **SHIP)
        s.add_ship(2, (0.0, 0.0, 22_000.0), **SHIP)
        for name, args in script:
            try:
                getattr(s, name)(*args)
            except SpaceError:
                pass
            except TypeError as e:      # wrong number of arguments: the service's job
                assert "positional argument" in str(e)
            s.tick()
        for b in (s.park.get(1), s.park.get(2)):
            assert all(math.isfinite(c) for c in b.position + b.velocity)
