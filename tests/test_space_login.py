"""Logging off and on in space, over loopback (EVEmu Client::SelectCharacter / WarpIn /
WarpOut, src/eve-server/Client.cpp): a pilot who disconnects in space leaves the ship where it
is; the next login selects the character into the solar system, the ship appears half an AU
away and, once beyonce is bound (AddBalls2 + SetState as after an undock), warps back to the
point it was left at."""
import logging

import pytest

from stackless import loop

from server_helpers import bounded, running_server, settle
from test_space_server import (CONSTELLATION, SYSTEM, ball_in, set_state_of, system, tick,
                               undocked, updates)
from test_world_items import STATION, bind, login

from evemu.client import RemoteError
from evemu.db import characters as chars
from evemu.db import inspace
from evemu.db import inventory as inv
from evemu.services.space import (SESSION_CHANGE_ACTIVE, SESSION_CHANGE_TICKS, Pilot,
                                  SpaceWorld)
from evemu.world.space import physics
from evemu.world.space.ball import WARP


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        SpaceWorld.of(srv).autostart = False
        yield srv


def logged_off_in_space(server, name, charname, offset=(1.5e6, 0.0, 0.0)):
    """Undock, move ``offset`` from the undock point, disconnect: (cid, ship, point)."""
    c, cid, ship, park, _ = undocked(server, name, charname)
    s = system(server)
    b = s.park.get(ship)
    p = b.position
    point = tuple(a + o for a, o in zip(p, offset))
    s.park._set_vec(s.park.pos, b.slot, point)
    c.close()
    assert settle(lambda: server.db.run(inspace.ship_position, ship) is not None)
    return cid, ship, point


def test_log_off_in_space_keeps_the_ship_there(server):
    cid, ship, point = logged_off_in_space(server, "leaver", "Lea Ver")
    assert system(server).park.get(ship) is None
    row = server.db.run(chars.character_row, cid)
    assert row["stationID"] is None and row["solarSystemID"] == SYSTEM
    assert row["constellationID"] == CONSTELLATION
    it = server.db.run(inv.item, ship)
    assert (it["locationID"], it["flagID"]) == (SYSTEM, 0)
    assert server.db.run(inspace.ship_position, ship) == pytest.approx(point)


def test_log_in_in_space_warps_back_to_where_the_ship_was(server):
    cid, ship, point = logged_off_in_space(server, "comeback", "Come Back")
    c = login(server, "comeback")
    try:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        # the session is in space, as EVEmu's (no station, the system as location)
        assert c.session.get("stationid") is None
        assert c.session["solarsystemid"] == c.session["solarsystemid2"] == SYSTEM
        assert c.session["locationid"] == SYSTEM and c.session["shipid"] == ship
        s = system(server)
        b = s.park.get(ship)
        assert b is not None and b.observer is not None
        # half an AU from the point it was left at (MakeRandomPointOnSphere(0.5 AU))
        gap = physics.norm(physics.sub(b.position, point))
        assert gap == pytest.approx(0.5 * physics.AU, rel=1e-9)
        # nothing before the bind; then AddBalls2 + SetState, and the login warp next tick
        tick(server, c)
        assert updates(c) == []
        park, _ = bind(c, "beyonce", SYSTEM)
        assert c.ping() is not None
        ups = updates(c)
        assert [n for _s, n, _a in ups] == [b"AddBalls2", b"SetState"]
        ego = ball_in(set_state_of(ups), ship)
        assert ego.position == pytest.approx(b.position)
        stamp = s.stamp
        tick(server, c)
        warps = [(st, a) for st, n, a in updates(c) if n == b"WarpTo"]
        assert warps and warps[0][0] == stamp
        assert warps[0][1][0] == ship and warps[0][1][1:4] == pytest.approx(point)
        for _ in range(100):
            if s.park.get(ship).warp is not None:
                break
            tick(server)
        for _ in range(200):
            if s.park.get(ship).warp is None:
                break
            tick(server)
        landed = s.park.get(ship).position
        assert physics.norm(physics.sub(landed, point)) < 1.0
        # and it flies as any undocked ship
        assert c.call_bound(park, "CmdGotoDirection", 0.0, 1.0, 0.0) is None
        tick(server, c, n=10)
        moved = s.park.get(ship).position
        assert moved[1] - point[1] > 100.0
    finally:
        c.close()
    # logging off again records the new point
    assert settle(lambda: server.db.run(inspace.ship_position, ship) == pytest.approx(moved))


def test_login_in_space_without_the_ship_there(server, caplog):
    """The character's row says space but its ship is in a hangar (edited by hand): the
    login goes on, with no ship in the ballpark; beyonce is refused, nothing is logged as an
    ERROR."""
    cid, ship, _point = logged_off_in_space(server, "strayed", "Stray Ed")
    server.db.run(inv.set_location, ship, STATION, 4)
    c = login(server, "strayed")
    try:
        with caplog.at_level(logging.WARNING, logger="evemu"):
            c.call("charUnboundMgr", "SelectCharacterID", cid)
            assert c.session["solarsystemid"] == SYSTEM
            assert system(server).park.get(ship) is None
            with pytest.raises(RemoteError) as e:
                bind(c, "beyonce", SYSTEM)
            assert e.value.msg == "CustomError"
        assert any("is not in" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    finally:
        c.close()


def test_docked_login_takes_back_a_ship_left_in_space(server, monkeypatch):
    """A pilot whose row says docked but whose ship was left in space (the server stopped
    before the log-off was written) finds the ship in the hangar."""
    c, cid, ship, park, _ = undocked(server, "shutdown", "Shut Down")
    pilot = SpaceWorld.of(server).pilots[next(iter(SpaceWorld.of(server).pilots))]
    monkeypatch.setattr(inspace, "log_off_in_space", lambda *a: None)   # never written
    c.close()
    assert settle(lambda: system(server).park.get(ship) is None)
    assert server.db.run(inv.item, ship)["locationID"] == SYSTEM
    assert server.db.run(chars.character_row, cid)["stationID"] == STATION
    c = login(server, "shutdown")
    try:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert c.session["stationid"] == STATION
        it = server.db.run(inv.item, ship)
        assert (it["locationID"], it["flagID"]) == (STATION, 4)
        shipsvc, _ = bind(c, "ship", (STATION, 15))
        c.call_bound(shipsvc, "Undock", ship, False)
        assert c.session["solarsystemid"] == SYSTEM
    finally:
        c.close()


def test_docking_after_a_login_in_space(server):
    """Logged in in space, the pilot warps to the station and docks: the row is docked again
    and the next login starts in the station."""
    cid, ship, _point = logged_off_in_space(server, "redock", "Re Dock")
    c = login(server, "redock")
    try:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        park, _ = bind(c, "beyonce", SYSTEM)
        s = system(server)
        st = s.statics[STATION]
        b = s.park.get(ship)
        with pytest.raises(RemoteError) as e:          # the login's session timer
            c.call_bound(park, "CmdDock", STATION, ship)
        assert e.value.values == {"notify": SESSION_CHANGE_ACTIVE.encode()}
        tick(server, c, n=SESSION_CHANGE_TICKS)
        for _ in range(200):                            # the login warp lands
            if b.warp is None and s.park.get(ship).mode != WARP:
                break
            tick(server)
        s.park._set_vec(s.park.pos, b.slot, tuple(p + o for p, o in zip(
            st.position, (st.radius + 1000.0, 0.0, 0.0))))
        assert c.call_bound(park, "CmdDock", STATION, ship) is None
        assert c.session["stationid"] == STATION
        assert server.db.run(chars.character_row, cid)["stationID"] == STATION
    finally:
        c.close()
    c = login(server, "redock")
    try:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert c.session["stationid"] == STATION and c.session.get("solarsystemid") is None
        assert SpaceWorld.of(server).pilots == {}
    finally:
        c.close()


def test_a_login_right_after_a_log_off_in_space_waits_for_its_write(server, monkeypatch):
    """The log-off is written by a tasklet after the connection closed; a selection of that
    character on a new connection meanwhile must read the row the log-off leaves (before, it
    read the docked row, took the ship back to the hangar, and the late log-off then put
    ship and character in space under a docked session: this test saw that session)."""
    c, cid, ship, park, _ = undocked(server, "quickback", "Quick Back")
    real = Pilot._log_off

    def slow(self, *args):
        loop.sleep(2.0)                 # the write is late: a loaded database
        return real(self, *args)
    monkeypatch.setattr(Pilot, "_log_off", slow)
    c.close()
    world = SpaceWorld.of(server)
    assert settle(lambda: system(server).park.get(ship) is None)
    assert cid in world.logging_off
    c = login(server, "quickback")
    try:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert cid not in world.logging_off
        assert c.session.get("stationid") is None and c.session["solarsystemid"] == SYSTEM
        row = server.db.run(chars.character_row, cid)
        assert row["stationID"] is None and row["solarSystemID"] == SYSTEM
        it = server.db.run(inv.item, ship)
        assert (it["locationID"], it["flagID"]) == (SYSTEM, 0)
        assert system(server).park.get(ship) is not None
    finally:
        c.close()
