"""Binary destiny state and destiny update builders: round trips field by field."""

import struct

import pytest

import evemu.marshal as m
from evemu.world.space import ball as B
from evemu.world.space import destiny
from evemu.world.space.ball import BallState, decode_state, encode_state
from evemu.world.space.park import Ballpark

FIELDS = BallState.__slots__


def assert_same(a, b):
    for f in FIELDS:
        va, vb = getattr(a, f), getattr(b, f)
        if f in ("radius", "max_speed", "inertia", "speed_fraction"):   # f32 on the wire
            assert vb == pytest.approx(va, rel=1e-6), f
        elif f == "sector":
            assert len(va) == len(vb), f
            for x, y in zip(va, vb):
                assert y == pytest.approx(x, rel=1e-6), f
        elif f == "miniballs":
            assert len(va) == len(vb)
            for x, y in zip(va, vb):
                assert y == pytest.approx(x, rel=1e-6)
        else:
            assert va == vb, f


SAMPLES = [
    BallState(40000001, B.RIGID, 15000.0, (1.5e11, -2.25e10, 3.0e9), B.GLOBAL),
    BallState(2**40 + 5, B.STOP, 41.0, (1.0, 2.0, 3.0), B.FREE | B.INTERACTIVE, mass=1.2e6,
              cloak=1, alliance_id=99000001, corp_id=98000001, harmonic=-1, max_speed=312.5,
              velocity=(1.25, -2.5, 0.0), inertia=3.25, speed_fraction=0.0),
    BallState(7, B.GOTO, 50.0, (0.0, 0.0, 0.0), B.FREE, mass=1e6, max_speed=100.0,
              velocity=(10.0, 0.0, 0.0), inertia=1.0, speed_fraction=0.5,
              sector=(1e12, -4.5e9, 7.0)),
    BallState(8, B.FOLLOW, 50.0, (5.0, 6.0, 7.0), B.FREE, mass=2e6, max_speed=200.0,
              inertia=2.0, speed_fraction=1.0, sector=(2**33, 2500.0)),
    BallState(9, B.ORBIT, 50.0, (5.0, 6.0, 7.0), B.FREE, mass=2e6, max_speed=200.0,
              inertia=2.0, speed_fraction=0.75, sector=(60000001, 7500.0)),
    BallState(10, B.WARP, 250.0, (-1e9, 0.0, 1e9), B.FREE, mass=1e8, max_speed=90.0,
              velocity=(0.0, 4.4e11, 0.0), inertia=0.1, speed_fraction=1.0,
              sector=(1.0e12, 2.0, 3.0, 1234, 0, 0, 30)),
    BallState(11, B.TROLL, 10.0, (1.0, 1.0, 1.0), B.FREE | B.HAS_MINIBALLS, mass=1e4,
              sector=(1001,), miniballs=((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0))),
    BallState(12, B.FIELD, 1000.0, (0.0, 0.0, 0.0), B.MASSIVE, mass=1e9),
]


def test_round_trip_field_by_field():
    data = encode_state(SAMPLES, 123456, B.FULL_STATE)
    packet_type, stamp, balls = decode_state(data)
    assert (packet_type, stamp) == (B.FULL_STATE, 123456)
    assert len(balls) == len(SAMPLES)
    for a, b in zip(SAMPLES, balls):
        assert_same(a, b)


def test_layout_of_a_rigid_and_a_free_ball():
    rigid = encode_state([SAMPLES[0]], 1000, B.BALLS)
    # header 5 + ball header 38 + rigid sector 1
    assert len(rigid) == 5 + 38 + 1
    assert rigid[:5] == struct.pack("<BI", 1, 1000)
    assert struct.unpack_from("<qBfdddB", rigid, 5)[:2] == (40000001, B.RIGID)
    assert rigid[-1] == 0xFF
    free = encode_state([SAMPLES[1]], 1000)
    # + mass 25 + data 36 + stop sector 1
    assert len(free) == 5 + 38 + 25 + 36 + 1
    mass = struct.unpack_from("<dBqii", free, 5 + 38)
    assert mass == (1.2e6, 1, 99000001, 98000001, -1)
    data = struct.unpack_from("<fdddff", free, 5 + 38 + 25)
    assert data[0] == 312.5 and data[1:4] == (1.25, -2.5, 0.0) and data[5] == 0.0


def test_speed_fraction_holds_the_commanded_fraction():
    bp = Ballpark(vectorised=False)
    b = bp.add_ball(1, (0.0, 0.0, 0.0), 40.0, mass=1e6, inertia=1.0, max_speed=100.0)
    bp.goto_direction(b, (1.0, 0.0, 0.0), 0.4)
    for _ in range(3):
        bp.tick()
    (got,) = decode_state(encode_state([b.state()], 1))[2]
    assert got.speed_fraction == pytest.approx(0.4)
    assert got.mode == B.GOTO
    assert got.velocity == pytest.approx(b.velocity)
    assert got.position == b.position


@pytest.mark.parametrize("cut", [1, 4, 6, 30, 50, 80, 100])
def test_truncated_state_is_an_error(cut):
    data = encode_state(SAMPLES[1:3], 1)
    with pytest.raises(ValueError, match="truncated"):
        decode_state(data[:len(data) - cut])


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="cannot encode"):
        encode_state([BallState(1, B.MISSILE, 1.0, (0, 0, 0), 0)], 1)
    bad = bytearray(encode_state([SAMPLES[0]], 1))
    bad[5 + 8] = 99
    with pytest.raises(ValueError, match="unknown ball mode 99"):
        decode_state(bytes(bad))


def _park_with_ships():
    bp = Ballpark(vectorised=False)
    st = bp.add_ball(60000004, (0.0, 0.0, 0.0), 5000.0, static=True, type_id=1529)
    a = bp.add_ball(140000001, (10000.0, 0.0, 0.0), 40.0, mass=1.2e6, inertia=3.0,
                    max_speed=300.0, type_id=587, owner_id=90000001, corp_id=1000044,
                    name="Rifter")
    bp.orbit(a, st, 2500.0)
    bp.tick()
    return bp, st, a


def test_add_balls2_shape_and_round_trip():
    bp, st, a = _park_with_ships()
    act = destiny.add_balls2(1005, [a])
    stamp, (name, args) = m.loads(m.dumps(act))
    assert (stamp, name) == (1005, b"AddBalls2")
    ((state, extra),) = args
    assert isinstance(state, bytes)
    pt, st_stamp, (got,) = decode_state(state)
    assert (pt, st_stamp) == (B.BALLS, 1005)
    assert got.id == a.id and got.mode == B.ORBIT and got.sector[0] == st.id
    assert got.position == a.position
    slim, damage = extra[0]
    assert slim[b"itemID"] == a.id and slim[b"typeID"] == 587 and slim[b"name"] == "Rifter"
    assert damage == ((1.0, 1000000.0, 0), 1.0, 1.0)


def test_set_state_keyval():
    bp, st, a = _park_with_ships()
    act = destiny.set_state(1006, a.id, [st, a])
    stamp, (name, (kv,)) = m.loads(m.dumps(act))
    assert (stamp, name) == (1006, b"SetState")
    assert isinstance(kv, m.Instance) and kv.name == "util.KeyVal"
    d = kv.state
    assert set(d) == {b"stamp", b"state", b"ego", b"damageState", b"aggressors",
                      b"droneState", b"slims", b"solItem", b"effectStates",
                      b"allianceBridges"}
    assert d[b"ego"] == a.id and d[b"stamp"] == 1006
    assert list(d[b"damageState"]) == [a.id]
    # droneState: an empty util.Rowset of EVEmu's SystemBubble::GetDroneState columns
    assert d[b"droneState"] == m.Instance("util.Rowset", {
        b"header": [b"droneID", b"ownerID", b"controllerID", b"activityState", b"typeID",
                    b"controllerOwnerID", b"targetID"],
        b"RowClass": m.Token("util.Row"), b"lines": []})
    assert [s.name for s in d[b"slims"]] == ["foo.SlimItem"] * 2
    pt, s_stamp, balls = decode_state(d[b"state"])
    assert pt == B.FULL_STATE and s_stamp == 1006
    assert [b.id for b in balls] == [st.id, a.id]
    assert balls[1].velocity == a.velocity


def test_do_destiny_update_with_packaged_action():
    bp, st, a = _park_with_ships()
    inner = [destiny.add_balls2(1007, [a])]
    upd = destiny.do_destiny_update([destiny.packaged_action(1007, inner),
                                     destiny.stop(1007, a.id)], False)
    raw = destiny.encode(upd)
    updates, wait = m.loads(raw)
    assert wait is False
    (stamp, (name, sub)), stop = updates
    assert (stamp, name) == (1007, b"PackagedAction")
    assert isinstance(sub, m.SubStream)
    assert sub.value[0][1][0] == b"AddBalls2"
    assert stop == (1007, (b"Stop", (a.id,)))
    with_events = destiny.do_destiny_update([], True, [(b"OnDamageStateChange", (1, 2))])
    assert len(m.loads(destiny.encode(with_events))) == 3


def test_update_builders():
    assert destiny.warp_to(1, 5, (1.0, 2.0, 3.0), 20000.0, 3.0) == \
        (1, (b"WarpTo", (5, 1.0, 2.0, 3.0, 20000, 30)))
    assert destiny.orbit(2, 5, 6, 2500.0) == (2, (b"Orbit", (5, 6, 2500)))
    assert destiny.remove_balls(3, [1, 2]) == (3, (b"RemoveBalls", ([1, 2],)))
