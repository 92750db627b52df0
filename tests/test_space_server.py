"""Space over loopback: ship.Undock, the bound beyonce object, DoDestinyUpdate per client,
bubbles between clients, warp, dock, stargate jump, hostile arguments, --npcs.

Most tests drive the destiny ticks themselves (``SpaceWorld.autostart = False`` and
``system.tick()`` from the test), so the positions can be checked against the closed forms of
physics.py tick by tick; ``test_system_tasklet_flushes_by_itself`` runs the real tasklet."""
import logging

import pytest

from server_helpers import bounded, running_server, settle
from test_world_items import STATION, bind, create_and_select, login

from evemu.client import RemoteError
from evemu.db import characters as chars
from evemu.db import inventory as inv
from evemu.machonet import constants as C
from evemu.services.space import SESSION_CHANGE_ACTIVE, SESSION_CHANGE_TICKS, SpaceWorld
from evemu.services.inventory import ITEM_DESCRIPTOR
from evemu.wire.marshal import Buffer, Instance, PackedRow, Token
from evemu.world.space import physics
from evemu.world.space.ball import decode_state

SYSTEM = 30004971                   # Duripant (the Federal Navy Academy's system)
CONSTELLATION = 20000727            # Duripant's constellation
GATE = 61900148                     # Stargate (Renyn) in Duripant
DEST_SYSTEM, DEST_GATE = 30004970, 61900146
VELATOR = dict(radius=40.0, mass=1148000.0, agility=4.04, speed=296.0)


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        SpaceWorld.of(srv).autostart = False
        yield srv


def system(server, sid=SYSTEM):
    return SpaceWorld.of(server).space.systems[sid]


def tick(server, *clients, n=1, sid=SYSTEM):
    for _ in range(n):
        system(server, sid).tick()
    for c in clients:
        assert c.ping() is not None          # read what arrived meanwhile


def updates(c):
    """Every DoDestinyUpdate's actions received so far, flattened: [(stamp, name, args)]."""
    out = []
    for args in c.take_notifications("DoDestinyUpdate"):
        assert len(args) in (2, 3) and isinstance(args[0], list)
        for stamp, (name, a) in args[0]:
            out.append((stamp, name, a))
    return out


def undocked(server, name, charname):
    """A logged-in client whose character has undocked and bound beyonce: (client, cid,
    ship, beyonce bound id, [initial updates])."""
    c = login(server, name)
    cid, ship = create_and_select(c, charname)
    shipsvc, _ = bind(c, "ship", (STATION, 15))
    c.call_bound(shipsvc, "Undock", ship, False)
    park, _ = bind(c, "beyonce", c.session["solarsystemid"])
    assert c.ping() is not None
    return c, cid, ship, park, updates(c)


def set_state_of(ups):
    ss = [a for _s, n, a in ups if n == b"SetState"]
    assert ss, ups
    kv = ss[-1][0]
    assert isinstance(kv, Instance) and kv.name == "util.KeyVal"
    return kv.state


def ball_in(state_kv, ball_id):
    data = state_kv[b"state"]
    assert isinstance(data, Buffer)
    _ptype, stamp, balls = decode_state(bytes(data))
    assert stamp == state_kv[b"stamp"]
    for b in balls:
        if b.id == ball_id:
            return b
    return None


def fresh_state(c, park):
    assert c.call_bound(park, "UpdateStateRequest") is None
    assert c.ping() is not None
    return set_state_of(updates(c))


# ------------------------------------------------------------------------------ undock
def test_undock_changes_session_then_beyonce_sends_addballs2_and_setstate(server):
    c = login(server, "undocker")
    try:
        cid, ship = create_and_select(c, "Un Docker")
        shipsvc, _ = bind(c, "ship", (STATION, 15))
        before = len(c.notifications)
        rsp = c.call_bound(shipsvc, "Undock", ship, False, onlineModules={})
        assert isinstance(rsp, tuple) and rsp[0] == shipsvc.encode() and rsp[1] > 0
        # the session change came before the CallRsp (kept by the client while it waited)
        changes = [p for p in c.notifications[before:]
                   if p.type == C.SESSION_CHANGE_NOTIFICATION]
        assert len(changes) == 1
        ch = {k.decode(): v for k, v in changes[0].body[1][1].items()}
        assert ch["stationid"] == (STATION, None)
        assert ch["solarsystemid"] == (None, SYSTEM)
        assert ch["locationid"] == (STATION, SYSTEM)
        assert c.session["stationid"] is None and c.session["solarsystemid"] == SYSTEM
        assert c.session["locationid"] == SYSTEM and c.session["shipid"] == ship
        # the ship item is in space now
        assert server.db.run(inv.item, ship)["locationID"] == SYSTEM
        s = system(server)
        b = s.park.get(ship)
        assert b is not None and b.observer is not None
        st = s.statics[STATION]
        point, direction = st.extra["undock"]
        assert b.position == pytest.approx(point)
        v = b.velocity
        assert physics.norm(v) > 0
        cosang = sum(x * y for x, y in zip(physics.unit(v), physics.unit(direction)))
        assert cosang == pytest.approx(1.0)
        # nothing reaches the client before it binds beyonce
        tick(server, c)
        assert updates(c) == []
        park, _ = bind(c, "beyonce", SYSTEM)
        assert c.ping() is not None
        ups = updates(c)
        assert [n for _s, n, _a in ups] == [b"AddBalls2", b"SetState"]
        (n_add, _, add_args), (n_set, _, set_args) = ups
        assert n_set == n_add + 1 == s.stamp + 1
        state_buf, extra = add_args[0]
        _pt, stamp, balls = decode_state(bytes(state_buf))
        assert stamp == n_add and [x.id for x in balls] == [ship]
        assert extra[0][0][b"itemID"] == ship and extra[0][0][b"typeID"] == 606
        kv = set_args[0].state
        for key in (b"stamp", b"state", b"ego", b"damageState", b"slims", b"solItem",
                    b"droneState", b"effectStates", b"allianceBridges", b"aggressors"):
            assert key in kv, key
        assert kv[b"ego"] == ship and kv[b"stamp"] == n_set
        ego = ball_in(kv, ship)
        assert ego.radius == pytest.approx(VELATOR["radius"])
        assert ego.mass == pytest.approx(VELATOR["mass"])
        assert ego.max_speed == pytest.approx(VELATOR["speed"])
        assert ego.inertia == pytest.approx(VELATOR["agility"])
        assert ego.position[0] == pytest.approx(b.position[0])
        assert ball_in(kv, STATION) is not None and ball_in(kv, GATE) is not None
        slim_ids = [sl.state[b"itemID"] for sl in kv[b"slims"]]
        assert ship in slim_ids and STATION in slim_ids
        # solItem: the system as an item row (EVEmu SystemManager::MakeSetState, the
        # StaticDataMgr::CreateHeader descriptor with its stacksize/singleton keywords)
        sol = kv[b"solItem"]
        assert isinstance(sol, PackedRow)
        assert sol.descriptor == ITEM_DESCRIPTOR
        assert sol.asdict() == {"itemID": SYSTEM, "typeID": 5, "ownerID": 1,
                                "locationID": CONSTELLATION, "flagID": 0, "quantity": -1,
                                "groupID": 5, "categoryID": 2, "customInfo": b""}
        # droneState: the bubble's drones as a util.Rowset (SystemBubble::GetDroneState)
        drones = kv[b"droneState"]
        assert isinstance(drones, Instance) and drones.name == "util.Rowset"
        assert drones.state == {b"header": [b"droneID", b"ownerID", b"controllerID",
                                            b"activityState", b"typeID",
                                            b"controllerOwnerID", b"targetID"],
                                b"RowClass": Token("util.Row"), b"lines": []}
        # the other station guests no longer list us
        with pytest.raises(RemoteError):
            c.call("station", "GetGuests")
    finally:
        c.close()


def test_undock_refusals(server):
    c = login(server, "refused")
    try:
        cid, ship = create_and_select(c, "Re Fused")
        shipsvc, _ = bind(c, "ship", (STATION, 15))
        with pytest.raises(RemoteError) as e:
            c.call_bound(shipsvc, "Undock", ship + 12345, False)
        assert e.value.msg == "CustomError"
        with pytest.raises(RemoteError) as e:          # beyonce before undocking
            bind(c, "beyonce", SYSTEM)
        assert e.value.msg == "CustomError"
        c.call_bound(shipsvc, "Undock", ship, False)
        with pytest.raises(RemoteError) as e:          # twice
            c.call_bound(shipsvc, "Undock", ship, False)
        assert e.value.msg == "CustomError"
        for params in (SYSTEM + 1, "x", None, 1.5):    # not the system we are in
            with pytest.raises(RemoteError) as e:
                bind(c, "beyonce", params)
            assert e.value.msg == "CustomError"
        assert c.ping() is not None
    finally:
        c.close()


# ------------------------------------------------------------------------- flying
def test_goto_point_positions_match_the_closed_form(server):
    c, cid, ship, park, _ = undocked(server, "flyer", "Fly Er")
    try:
        s = system(server)
        b = s.park.get(ship)
        # stop first, so that the run starts from rest
        c.call_bound(park, "CmdStop")
        tick(server, c, n=80)           # v0 e^(-80/4.64 s): 74 m/s -> 3e-6 m/s
        assert physics.norm(s.park.get(ship).velocity) < 1e-3
        updates(c)
        p0 = b.position
        target = (p0[0] + 5.0e7, p0[1], p0[2])
        assert c.call_bound(park, "CmdGotoPoint", *target) is None
        stamp0 = s.stamp
        tick(server, c)
        ups = updates(c)
        assert (stamp0, b"GotoPoint", (ship, *target)) in ups
        tau = physics.tau(VELATOR["mass"], VELATOR["agility"])
        for n in (5, 15):
            tick(server, c, n=n - (s.stamp - stamp0))
            kv = fresh_state(c, park)
            assert kv[b"stamp"] == stamp0 + n
            ego = ball_in(kv, ship)
            t = float(n)
            dist = ego.position[0] - p0[0]
            assert dist == pytest.approx(physics.distance_from_rest(VELATOR["speed"], tau, t),
                                         rel=1e-3)
            assert ego.velocity[0] == pytest.approx(
                physics.speed_from_rest(VELATOR["speed"], tau, t), rel=1e-3)
            assert ego.position[1] == pytest.approx(p0[1])
            assert ego.position[2] == pytest.approx(p0[2])
        # speed fraction goes to everyone (here: us) as SetSpeedFraction
        assert c.call_bound(park, "CmdSetSpeedFraction", 0.5) is None
        tick(server, c)
        assert any(n == b"SetSpeedFraction" and a == (ship, 0.5) for _s, n, a in updates(c))
    finally:
        c.close()


def test_two_clients_in_a_bubble_see_each_other_a_far_one_does_not(server):
    a, _, ship_a, park_a, _ = undocked(server, "pilot_a", "Pilot Aa")
    b, _, ship_b, park_b, ups_b = undocked(server, "pilot_b", "Pilot Bb")
    far = None
    try:
        s = system(server)
        # b's SetState holds a; a was told of b with an AddBalls2 at the next tick
        assert ball_in(set_state_of(ups_b), ship_a) is not None
        tick(server, a, b)
        ups_a = updates(a)
        added = [x for _s, n, x in ups_a if n == b"AddBalls2"]
        assert added and decode_state(bytes(added[0][0][0]))[2][0].id == ship_b
        far, _, ship_f, park_f, _ = undocked(server, "pilot_far", "Pilot Far")
        # move the third ship 1,000 km away: at the next tick it changes bubble
        fb = s.park.get(ship_f)
        p = fb.position
        s.park._set_vec(s.park.pos, fb.slot, (p[0] + 1.0e6, p[1], p[2]))
        tick(server, a, b, far)
        for cl in (a, b, far):
            updates(cl)
        assert not s.sees(ship_f, ship_a) and not s.sees(ship_a, ship_f)
        assert s.sees(ship_a, ship_b)
        # b moves: a hears it by the next tick, far does not
        stamp = s.stamp
        b.call_bound(park_b, "CmdGotoDirection", 0.0, 1.0, 0.0)
        tick(server, a, b, far)
        # a and b got the same updates: marshalled once for both
        assert len(SpaceWorld.of(server)._bodies) == 1
        got_a = updates(a)
        assert (stamp, b"GotoDirection", (ship_b, 0.0, 1.0, 0.0)) in got_a
        assert all(x[0] != ship_b for _s, n, x in updates(far) if n == b"GotoDirection")
        assert (stamp, b"GotoDirection", (ship_b, 0.0, 1.0, 0.0)) in updates(b)
        # a orbits b, b follows a: both in the bubble, both told
        a.call_bound(park_a, "CmdOrbit", ship_b, 5000)
        b.call_bound(park_b, "CmdFollowBall", ship_a, 1000.0)
        a.call_bound(park_a, "CmdAlignTo", STATION)
        tick(server, a, b, far)
        names_b = [(n, x[0]) for _s, n, x in updates(b)]
        assert (b"Orbit", ship_a) in names_b and (b"FollowBall", ship_b) in names_b
        assert (b"AlignTo", ship_a) in names_b
        assert updates(far) == []
        # the far one cannot orbit what it does not see
        with pytest.raises(RemoteError) as e:
            far.call_bound(park_f, "CmdOrbit", ship_a, 5000)
        assert e.value.msg == "CustomNotify"
        # a disconnects: b gets RemoveBalls, the ship leaves space
        a.close()
        assert settle(lambda: s.park.get(ship_a) is None)
        tick(server, b)
        assert any(n == b"RemoveBalls" and ship_a in x[0] for _s, n, x in updates(b))
    finally:
        for cl in (a, b, far):
            if cl is not None:
                cl.close()


def test_a_client_closing_while_the_tick_flushes(server):
    """Delivering to one client may close it (a peer that stops reading is dropped); its ship
    then leaves space in the middle of the flush: the tick goes on, the others hear of it."""
    a, _, ship_a, park_a, _ = undocked(server, "closer_a", "Closer Aa")
    b, _, ship_b, park_b, _ = undocked(server, "closer_b", "Closer Bb")
    try:
        s = system(server)
        tick(server, a, b)
        updates(a), updates(b)
        pilots = SpaceWorld.of(server).pilots
        victim = next(p for p in pilots.values() if p.ship_id == ship_a)
        deliver = victim._deliver

        def closing_deliver(args):
            victim.connection.close("test: dropped while the tick flushes")
            deliver(args)

        victim.observer.deliver = closing_deliver
        a.call_bound(park_a, "CmdGotoDirection", 1.0, 0.0, 0.0)
        b.call_bound(park_b, "CmdGotoDirection", 0.0, 0.0, 1.0)
        s.tick()                                    # no RuntimeError
        assert s.park.get(ship_a) is None and ship_a not in s.observers
        tick(server, b)
        got = updates(b)
        assert any(n == b"RemoveBalls" and ship_a in x[0] for _s, n, x in got)
        assert s.park.get(ship_b) is not None
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------------ warp, jump, dock
def test_warp_to_the_gate_then_jump(server):
    c, cid, ship, park, _ = undocked(server, "jumper", "Jump Er")
    try:
        s = system(server)
        gate = s.statics[GATE]
        with pytest.raises(RemoteError) as e:               # too far to jump
            c.call_bound(park, "CmdStargateJump", GATE, DEST_GATE, ship)
        assert e.value.msg == "CustomNotify"
        assert c.call_bound(park, "CmdWarpToStuff", "item", GATE, minRange=0) is None
        tick(server, c)
        warps = [x for _s, n, x in updates(c) if n == b"WarpTo"]
        assert warps and warps[0][0] == ship and warps[0][1:4] == gate.position
        for _ in range(30):                                 # aligning, then in warp
            if s.park.get(ship).warp is not None:
                break
            tick(server)
        assert s.park.get(ship).warp is not None
        with pytest.raises(RemoteError) as e:               # no commands while warping
            c.call_bound(park, "CmdStop")
        assert e.value.msg == "CustomNotify"
        for _ in range(200):                                # 11.6 AU: about 40 ticks
            if s.park.get(ship).warp is None:
                break
            tick(server)
        assert s.park.get(ship).warp is None
        b = s.park.get(ship)
        gap = physics.norm(physics.sub(gate.position, b.position)) - gate.radius - b.radius
        assert -1.0 <= gap < 2500.0                        # lands on the surface
        assert c.ping() is not None
        updates(c)
        n0 = len(c.notifications)
        # EVEmu's BeyonceBound::CmdStargateJump answers this bound object's OID
        # (GetOID(): the (idString, filetime) the bind gave)
        oid = c.call_bound(park, "CmdStargateJump", GATE, DEST_GATE, ship)
        assert isinstance(oid, tuple) and len(oid) == 2
        assert oid[0] == park.encode() and isinstance(oid[1], int) and oid[1] > 0
        ch = [p for p in c.notifications[n0:] if p.type == C.SESSION_CHANGE_NOTIFICATION]
        assert ch, "no session change"
        assert c.session["solarsystemid"] == DEST_SYSTEM
        assert c.session["solarsystemid2"] == DEST_SYSTEM
        assert c.session["locationid"] == DEST_SYSTEM
        assert s.park.get(ship) is None
        assert server.db.run(inv.item, ship)["locationID"] == DEST_SYSTEM
        park2, _ = bind(c, "beyonce", DEST_SYSTEM)
        assert c.ping() is not None
        kv = set_state_of(updates(c))
        ego = ball_in(kv, ship)
        dg = system(server, DEST_SYSTEM).statics[DEST_GATE]
        d = physics.norm(physics.sub(ego.position, dg.position))
        assert d - dg.radius - ego.radius < 2500.0 + 5000.0
        assert c.call_bound(park2, "CmdStop") is None
        # the object whose OID the jump answered keeps serving the ship (as EVEmu's does)
        assert c.call_bound(park, "CmdSetSpeedFraction", 0.5) is None
        tick(server, c, sid=DEST_SYSTEM)
        assert any(n == b"SetSpeedFraction" and a == (ship, 0.5) for _s, n, a in updates(c))
    finally:
        c.close()


def test_dock_returns_to_the_station(server):
    a, cid, ship, park, _ = undocked(server, "docker", "Dock Er")
    w, _, ship_w, park_w, _ = undocked(server, "watcher", "Watch Er")
    try:
        s = system(server)
        tick(server, a, w, n=SESSION_CHANGE_TICKS)          # the undock's session timer
        updates(a), updates(w)
        with pytest.raises(RemoteError) as e:               # not a station
            a.call_bound(park, "CmdDock", GATE, ship)
        assert e.value.msg == "CustomNotify"
        with pytest.raises(RemoteError) as e:               # not our ship
            a.call_bound(park, "CmdDock", STATION, ship_w)
        assert e.value.msg == "CustomError"
        assert a.call_bound(park, "CmdDock", STATION, ship) is None
        assert a.session["stationid"] == STATION and a.session["locationid"] == STATION
        assert a.session["solarsystemid"] is None and a.session["solarsystemid2"] == SYSTEM
        assert s.park.get(ship) is None
        it = server.db.run(inv.item, ship)
        assert (it["locationID"], it["flagID"]) == (STATION, 4)
        assert server.db.run(chars.character_row, cid)["stationID"] == STATION
        assert any(g[0] == cid for g in a.call("station", "GetGuests"))
        tick(server, w)
        assert any(n == b"RemoveBalls" and ship in x[0] for _s, n, x in updates(w))
        with pytest.raises(RemoteError):                    # the park is gone
            a.call_bound(park, "CmdStop")
        # and out again
        shipsvc, _ = bind(a, "ship", (STATION, 15))
        a.call_bound(shipsvc, "Undock", ship, False)
        assert a.session["solarsystemid"] == SYSTEM
    finally:
        a.close()
        w.close()


def test_session_change_timer(server):
    """No dock or jump within 10 stamps of the undock, the jump or a login in space (EVEmu's
    IsSessionChange() in BeyonceBound::CmdDock / CmdStargateJump, Player::Timer::Session);
    the refusal is its CustomNotify text and changes nothing."""
    c, cid, ship, park, _ = undocked(server, "timer", "Tim Er")
    try:
        s = system(server)
        st = s.statics[STATION]
        gate = s.statics[GATE]

        def put(ball):
            b = s.park.get(ship)
            b.warp = None
            s.park._set_vec(s.park.pos, b.slot, tuple(p + o for p, o in zip(
                ball.position, (ball.radius + 1000.0, 0.0, 0.0))))

        for _ in range(SESSION_CHANGE_TICKS - 1):
            put(st)
            with pytest.raises(RemoteError) as e:
                c.call_bound(park, "CmdDock", STATION, ship)
            assert (e.value.msg, e.value.values) == (
                "CustomNotify", {"notify": SESSION_CHANGE_ACTIVE.encode()})
            put(gate)
            with pytest.raises(RemoteError) as e:
                c.call_bound(park, "CmdStargateJump", GATE, DEST_GATE, ship)
            assert e.value.msg == "CustomNotify"
            tick(server, c)
        assert s.park.get(ship) is not None and c.session["solarsystemid"] == SYSTEM
        tick(server, c)
        put(gate)
        assert c.call_bound(park, "CmdStargateJump", GATE, DEST_GATE, ship) is not None
        assert c.session["solarsystemid"] == DEST_SYSTEM
        # the jump starts a new timer, in the new system
        d = system(server, DEST_SYSTEM)
        dg = d.statics[DEST_GATE]
        b = d.park.get(ship)
        d.park._set_vec(d.park.pos, b.slot, tuple(p + o for p, o in zip(
            dg.position, (dg.radius + 1000.0, 0.0, 0.0))))
        with pytest.raises(RemoteError) as e:
            c.call_bound(park, "CmdStargateJump", DEST_GATE, GATE, ship)
        assert e.value.values == {"notify": SESSION_CHANGE_ACTIVE.encode()}
        tick(server, c, n=SESSION_CHANGE_TICKS, sid=DEST_SYSTEM)
        assert c.call_bound(park, "CmdStargateJump", DEST_GATE, GATE, ship) is not None
        assert c.session["solarsystemid"] == SYSTEM
    finally:
        c.close()


# ---------------------------------------------------------------------- hostile input
HOSTILE = [
    ("CmdGotoDirection", ("a", 0, 0)), ("CmdGotoDirection", (0.0, 0.0, 0.0)),
    ("CmdGotoDirection", (float("nan"), 1.0, 0.0)), ("CmdGotoDirection", (1e300, 0, 0)),
    ("CmdGotoPoint", (None, 1, 2)), ("CmdGotoPoint", (float("inf"), 0, 0)),
    ("CmdGotoPoint", (2 ** 80, 0, 0)),
    ("CmdSetSpeedFraction", (-0.5,)), ("CmdSetSpeedFraction", (7.0,)),
    ("CmdSetSpeedFraction", ("fast",)), ("CmdSetSpeedFraction", (float("nan"),)),
    ("CmdOrbit", (123456789, 5000)), ("CmdOrbit", ("me", 5000)), ("CmdOrbit", (STATION, -1)),
    ("CmdOrbit", (STATION, 1e99)), ("CmdFollowBall", (True, 100)),
    ("CmdFollowBall", (STATION, [1])), ("CmdAlignTo", (None,)), ("CmdAlignTo", (2 ** 70,)),
    ("CmdWarpToStuff", ("item", 123)), ("CmdWarpToStuff", ("nonsense", GATE)),
    ("CmdWarpToStuff", (5, GATE)), ("CmdWarpToStuff", ("bookmark", 1)),
    ("CmdWarpToStuff", ("item", STATION)),               # too close to warp
    ("CmdDock", (GATE,)), ("CmdDock", ("x",)), ("CmdDock", (SYSTEM,)),
    ("CmdStargateJump", (STATION, GATE)), ("CmdStargateJump", (GATE, 1)),
    ("CmdStargateJump", ("g", None)), ("CmdStargateJump", (GATE, DEST_GATE)),
]


def test_hostile_arguments_get_user_errors(server, caplog):
    c, cid, ship, park, _ = undocked(server, "hostile", "Host Ile")
    try:
        s = system(server)
        tick(server, c, n=SESSION_CHANGE_TICKS)             # the undock's session timer
        updates(c)
        before = s.park.get(ship).position
        with caplog.at_level(logging.WARNING, logger="evemu"):
            for method, args in HOSTILE:
                with pytest.raises(RemoteError) as e:
                    c.call_bound(park, method, *args)
                assert e.value.msg in ("CustomNotify", "CustomError"), (method, args)
                assert "Internal" not in str(e.value), (method, args)
            for method, args in (("CmdStop", (1, 2)), ("CmdOrbit", ()),
                                 ("CmdGotoPoint", (1, 2, 3, 4, 5)),
                                 ("UpdateStateRequest", (1,))):
                with pytest.raises(RemoteError) as e:
                    c.call_bound(park, method, *args)
                assert e.value.msg == "CustomError"
            with pytest.raises(RemoteError):
                c.call_bound(park, "CmdGotoPoint", 1, 2, 3, bogus=1)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert s.park.get(ship).position == before
        tick(server, c)
        assert updates(c) == []                            # nothing was commanded
        assert c.call_bound(park, "CmdStop") is None       # still flying
    finally:
        c.close()


# ------------------------------------------------------------------------- the tasklet
def test_system_tasklet_flushes_by_itself():
    with bounded(60), running_server(space_tick=0.05) as server:
        c, cid, ship, park, _ = undocked(server, "realtime", "Real Time")
        try:
            s = system(server)
            assert s.tasklet is not None and s.tasklet.alive
            stamp = s.stamp
            c.call_bound(park, "CmdGotoDirection", 1.0, 0.0, 0.0)
            pkt = c.wait_notification("DoDestinyUpdate")
            acts = c.notification_args(pkt)[0]
            assert any(n == b"GotoDirection" and st >= stamp for st, (n, _a) in acts)
        finally:
            c.close()
        assert settle(lambda: s.idle)
    assert s.tasklet is None


def test_npcs_are_spawned_across_the_starting_systems():
    with bounded(60), running_server(npcs=120, space_tick=0.05) as server:
        w = SpaceWorld.of(server)
        assert settle(lambda: len(w.npcs) == 120, timeout=20)
        systems = {n.system.id for n in w.npcs}
        assert len(systems) >= 10
        assert all(n.tasklet.alive for n in w.npcs)
        s = w.npcs[0].system
        t0 = s.ticks
        assert settle(lambda: s.ticks >= t0 + 3, timeout=20)
        # a player undocking at the academy sees the NPCs of its bubble in its SetState
        c, cid, ship, park, ups = undocked(server, "npc_watcher", "Npc Watcher")
        try:
            here = w.space.systems[SYSTEM]
            npc_ids = {n.ship_id for n in w.npcs if n.system is here}
            assert npc_ids
            kv = set_state_of(ups)
            seen = {sl.state[b"itemID"] for sl in kv[b"slims"]}
            others = {n.ship_id for n in w.npcs if n.system is not here}
            assert seen & npc_ids                  # some fly around the station
            assert not seen & others               # none of another system
        finally:
            c.close()
    assert w.npcs == [] and all(x.tasklet is None for x in w.space.systems.values())


def test_npcs_setting_names():
    from evemu import config as cfg
    from evemu.__main__ import parse
    _ns, config = parse(["serve", "--npcs", "12"])
    assert config.npcs == 12
    assert cfg.env_name("npcs") == "EVEMU_NPCS"
    assert cfg.parse_value("npcs", "40") == 40
    with pytest.raises(cfg.ConfigError):
        cfg.parse_value("npcs", "-1")
    with pytest.raises(cfg.ConfigError):
        cfg.parse_value("npcs", "many")
