"""NPC ships as tasklets and the system tasklet (sleep / wake on stackless.loop)."""

import pytest
import stackless
from stackless import loop

from evemu.world.space import Observer, Space, SolarSystem, physics
from evemu.world.space.npc import Lost, patrol

STATION = 60003760
PLANET = 40009077


def make_system(**kw):
    kw.setdefault("vectorised", False)
    s = SolarSystem(30000142, **kw)
    s.add_static(STATION, (0.0, 0.0, 0.0), 5000.0, dockable=True)
    s.add_static(PLANET, (2.0e10, 1.0e9, 0.0), 6_000_000.0)
    return s


def run_ticks(s, n):
    for _ in range(n):
        s.tick()
        stackless.run()             # let the woken NPCs run until they block again


@pytest.fixture(autouse=True)
def no_leftover_tasklets():
    yield
    assert stackless.getruncount() == 1


def test_patrol_blocks_until_arrival_then_moves_on():
    s = make_system()
    seen = []

    def routine(npc, points):
        for p in points:
            npc.goto(p)
            seen.append((s.stamp, npc.position))

    pts = [(30_000.0, 0.0, 0.0), (30_000.0, 30_000.0, 0.0)]
    npc = s.spawn_npc(1000001, (0.0, 10_000.0, 0.0), routine, (pts,))
    stackless.run()
    assert npc.tasklet.blocked and npc.waiting_for == ("arrived",)
    for _ in range(400):
        run_ticks(s, 1)
        if not npc.tasklet.alive:
            break
    assert len(seen) == 2
    for (_stamp, pos), p in zip(seen, pts):
        assert physics.norm(physics.sub(pos, p)) < 300.0
    # the routine returned: the ship left space and the system has nothing left to fly
    assert s.park.get(1000001) is None and not s.npcs and s.idle


def test_npc_killed_while_blocked_leaves_space():
    s = make_system()
    watcher = Observer(5, lambda args: got.append(args))
    got = []
    s.add_ship(5, (0.0, 0.0, 20_000.0), 40.0, 1e6, 1.0, 100.0, observer=watcher)
    npc = s.spawn_npc(1000002, (0.0, 0.0, 25_000.0), patrol,
                      ([(0.0, 0.0, 90_000.0), (0.0, 0.0, 25_000.0)],))
    stackless.run()
    run_ticks(s, 3)
    assert npc.tasklet.blocked
    npc.kill()
    assert not npc.tasklet.alive
    assert s.park.get(1000002) is None and npc not in s.npcs
    run_ticks(s, 1)
    removed = [a for upd, _w in got for _st, (n, a) in upd if n == b"RemoveBalls"]
    assert removed == [([1000002],)]
    # a tick after the kill delivers nothing to the dead NPC
    run_ticks(s, 2)


def test_npc_killed_while_waiting_on_timer():
    s = make_system()
    npc = s.spawn_npc(1000003, (0.0, 0.0, 25_000.0), "orbit", (STATION, 5000.0, 50))
    stackless.run()
    assert npc.waiting_for == ("tick",)
    run_ticks(s, 10)
    npc.kill()
    run_ticks(s, 60)                    # its timer fires into nothing
    assert s.park.get(1000003) is None


def test_orbit_routine_orbits_then_ends():
    s = make_system()
    npc = s.spawn_npc(1000004, (0.0, 0.0, 25_000.0), "orbit", (STATION, 5000.0, 300))
    stackless.run()
    radii = []
    for i in range(300):
        run_ticks(s, 1)
        if 200 <= i < 299:
            radii.append(physics.norm(npc.position))
    assert max(abs(r / 10_040.0 - 1.0) for r in radii) < 0.01
    run_ticks(s, 2)
    assert not npc.tasklet.alive and s.park.get(1000004) is None


def test_follow_routine_ends_when_target_is_gone():
    s = make_system()
    s.add_ship(7, (0.0, 0.0, 30_000.0), 40.0, 1e6, 1.0, 100.0, observer=Observer(7, list))
    npc = s.spawn_npc(1000005, (0.0, 0.0, 60_000.0), "follow", (7, 2000.0))
    stackless.run()
    run_ticks(s, 200)
    gap = physics.norm(physics.sub(npc.position, s.park.get(7).position)) - 80.0
    assert gap == pytest.approx(2000.0, rel=0.05)
    s.remove_ship(7)
    run_ticks(s, 1)
    assert not npc.tasklet.alive


def test_orbit_routine_raises_lost_when_structure_is_gone():
    s = make_system()
    s.add_ship(8, (0.0, 0.0, 30_000.0), 40.0, 1e6, 1.0, 0.0)
    errors = []

    def routine(npc):
        from evemu.world.space.npc import orbit_structure
        try:
            orbit_structure(npc, 8, 1000.0)
        except Lost as e:
            errors.append(str(e))

    npc = s.spawn_npc(1000006, (0.0, 0.0, 35_000.0), routine)
    stackless.run()
    run_ticks(s, 3)
    s.remove_ship(8)
    run_ticks(s, 1)
    assert errors == ["orbit target 8 is gone"] and not npc.tasklet.alive


@pytest.mark.parametrize("vectorised", [False, True], ids=["python", "numpy"])
def test_warp_between_celestials(vectorised):
    if vectorised:
        pytest.importorskip("numpy")
    s = make_system(vectorised=vectorised)
    landed = []

    def routine(npc):
        for cid in (PLANET, STATION):
            npc.warp_to(cid, 20_000.0)
            c = s.park.get(cid)
            landed.append(physics.norm(physics.sub(npc.position, c.position)) - c.radius - 40.0)

    npc = s.spawn_npc(1000007, (0.0, 0.0, 300_000.0), routine)
    stackless.run()
    for _ in range(300):
        run_ticks(s, 1)
        if not npc.tasklet.alive:
            break
    assert landed == [pytest.approx(20_000.0, abs=1e-2)] * 2


def test_bad_command_from_npc_raises_in_its_tasklet():
    s = make_system()
    errors = []

    def routine(npc):
        try:
            npc.orbit(424242, 1000.0)
        except ValueError as e:
            errors.append(type(e).__name__)

    s.spawn_npc(1000008, (0.0, 0.0, 30_000.0), routine)
    stackless.run()
    assert errors == ["UnknownBall"]


def test_system_tasklet_sleeps_without_ships_and_wakes_for_an_npc():
    space = Space(tick_interval=0.01, vectorised=False)
    s = space.system(30000142)
    s.add_static(STATION, (0.0, 0.0, 0.0), 5000.0)
    s.start()
    try:
        loop.sleep(0.05)
        assert s.sleeping and s.ticks == 0
        npc = s.spawn_npc(1000009, (0.0, 0.0, 25_000.0), "orbit", (STATION, 5000.0))
        loop.sleep(0.2)
        assert not s.sleeping and s.ticks >= 3
        assert s.stamp >= 1000 + s.ticks         # the stamp is the space's clock
        npc.kill()
        loop.sleep(0.05)
        assert s.sleeping
        frozen = s.ticks
        loop.sleep(0.05)
        assert s.ticks == frozen
        # an observer (a player) wakes it too
        s.add_ship(9, (0.0, 0.0, 30_000.0), 40.0, 1e6, 1.0, 100.0, observer=Observer(9, list))
        loop.sleep(0.1)
        assert s.ticks > frozen
    finally:
        s.stop()
    assert s.tasklet is None


def test_timer_fires_even_if_its_stamp_is_skipped():
    s = make_system()
    npc = s.spawn_npc(1000010, (0.0, 0.0, 25_000.0), "orbit", (STATION, 5000.0, 3))
    stackless.run()
    s.tick(s.stamp + 10)            # a late tick: stamps 1001..1009 never happen
    stackless.run()
    assert not npc.tasklet.alive


def test_late_system_tasklet_catches_up_missed_ticks():
    import time
    space = Space(tick_interval=0.02, vectorised=False)
    s = space.system(1)
    s.add_ship(1, (0.0, 0.0, 0.0), 40.0, 1e6, 1.0, 100.0, observer=Observer(1, list))
    s.start()
    try:
        loop.sleep(0.05)
        assert s.ticks >= 1
        time.sleep(0.3)             # the whole thread stalls for 15 ticks
        loop.sleep(0.001)
        # the late tasklet ran MAX_CATCH_UP ticks back to back and skipped the rest; every
        # stamp since 1000 is either a tick or a skip
        assert s.skipped >= 15 - 5 - 2
        assert s.ticks + s.skipped == s.stamp - 1000
    finally:
        s.stop()
