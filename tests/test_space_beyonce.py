"""ShipControl: the beyonce calls with the client's argument lists."""

import pytest

from evemu.world.space import (BadArgument, NotAllowed, Observer, OutOfRange, Space,
                               UnknownBall, physics)
from evemu.world.space.beyonce import ShipControl
from evemu.world.space.park import K_ALIGN, K_DIR, K_ORBIT, K_POINT, K_STOP

SHIP = dict(radius=40.0, mass=1.2e6, inertia=3.0, max_speed=300.0)


@pytest.fixture
def setup():
    space = Space(vectorised=False)
    a = space.system(30000142)
    a.add_static(60003760, (0.0, 0.0, 0.0), 5000.0, dockable=True)
    a.add_static(50000056, (0.0, 3.0e9, 0.0), 2500.0, destination=(30000144, 50000057))
    b = space.system(30000144)
    b.add_static(50000057, (4.0e10, 0.0, 0.0), 2500.0, destination=(30000142, 50000056))
    got = []
    obs = Observer(1, got.append)
    a.add_ship(1, (0.0, 0.0, 20_000.0), observer=obs, **SHIP)
    marks = {7: (1.0e11, 0.0, 0.0)}
    return space, a, b, ShipControl(space, 30000142, 1, obs, bookmarks=marks.__getitem__)


def test_movement_commands(setup):
    space, a, b, ctl = setup
    ctl.CmdGotoDirection(1.0, 0.0, 0.0)
    assert a.park.get(1).kind == K_DIR
    ctl.CmdSetSpeedFraction(0.5)
    assert a.park.get(1).speed_fraction == 0.5
    ctl.CmdGotoPoint(0.0, 50_000.0, 0.0)
    assert a.park.get(1).kind == K_POINT
    ctl.CmdOrbit(60003760, 5000)
    assert a.park.get(1).kind == K_ORBIT
    ctl.CmdStop()
    assert a.park.get(1).kind == K_STOP
    ctl.CmdAlignTo(60003760)
    assert a.park.get(1).kind == K_DIR
    _stamp, (name, _args) = ctl.UpdateStateRequest()
    assert name == b"SetState"


def test_warp_to_stuff(setup):
    space, a, b, ctl = setup
    ctl.CmdWarpToStuff(b"bookmark", 7, minRange=10_000)
    assert a.park.get(1).kind == K_ALIGN
    # 10 km short of the bookmark, on the line from the ship (which is 20 km off the axis)
    assert a.park.get(1).warp_target == pytest.approx((1.0e11 - 10_000.0, 0.0, 0.002), abs=1e-6)
    ctl.CmdStop()
    ctl.CmdWarpToStuff("item", 50000056)
    assert a.park.get(1).kind == K_ALIGN
    with pytest.raises(UnknownBall, match="no bookmark 8"):
        ctl.CmdWarpToStuff(b"bookmark", 8)
    with pytest.raises(BadArgument, match="cannot warp to 'scan'"):
        ctl.CmdWarpToStuff(b"scan", 1)
    with pytest.raises(BadArgument, match="warp type must be a string"):
        ctl.CmdWarpToStuff(5, 1)


def test_dock(setup):
    space, a, b, ctl = setup
    with pytest.raises(OutOfRange, match="docking range"):
        ctl.CmdDock(60003760, 1)
    with pytest.raises(NotAllowed, match="not yours"):
        ctl.CmdDock(60003760, 2)
    a.park._set_vec(a.park.pos, a.park.get(1).slot, (0.0, 0.0, 6000.0))
    assert ctl.CmdDock(60003760, 1).id == 60003760
    assert a.park.get(1) is None


def test_stargate_jump(setup):
    space, a, b, ctl = setup
    with pytest.raises(OutOfRange, match="jump range"):
        ctl.CmdStargateJump(50000056, 50000057, 1)
    a.park._set_vec(a.park.pos, a.park.get(1).slot, (0.0, 3.0e9 - 3000.0, 0.0))
    with pytest.raises(BadArgument, match="does not lead to"):
        ctl.CmdStargateJump(50000056, 50000099, 1)
    system, ball = ctl.CmdStargateJump(50000056, 50000057, 1)
    assert system is b and ctl.system_id == 30000144 and b.observers[1] is ctl.observer
    ctl.CmdGotoDirection(0.0, 1.0, 0.0)          # now commands the ship in the new system
    assert b.park.get(1).kind == K_DIR
    assert physics.norm(physics.sub(ball.position, (4.0e10, 0.0, 0.0))) == \
        pytest.approx(2540.0 + 5000.0)
