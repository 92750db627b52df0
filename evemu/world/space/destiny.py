"""Builders for the destiny updates the client's michelle/ballpark understands.

Everything returned is a marshal value (docs/marshal.md): Py2 ``str`` names and dict keys are
``bytes``; ``util.KeyVal`` and ``foo.SlimItem`` are ``Instance``s (EVEmu's PyObject); the state
buffer is a ``Buffer``.  Shapes follow EVEmu's Destiny.xmlp (read for facts):

    action           (stamp, (name, args))                  one DoDestinyAction
    DoDestinyUpdate  (updates, waitForBubble)  or  (updates, waitForBubble, events)
    AddBalls2        (stamp, ('AddBalls2', ((state, extraBallData),)))
                     extraBallData: [(slimItemDict, damageState), ...]
    PackagedAction   (stamp, ('PackagedAction', SubStream([action, ...])))   bulk additions
    SetState         (stamp, ('SetState', (KeyVal{stamp, state, ego, damageState, aggressors,
                                          droneState, slims, solItem, effectStates,
                                          allianceBridges},)))
    damage state     ((shield, rechargeMs, filetime), armor, structure)   ratios 0..1
"""

from evemu import marshal as _m

from .ball import BALLS, FULL_STATE, encode_state

FILETIME_EPOCH_OFFSET = 116444736000000000      # 1601 -> 1970 in 100 ns ticks


def action(stamp, name, *args):
    return (stamp, (name, args))


def goto_direction(stamp, ball_id, direction):
    return action(stamp, b"GotoDirection", ball_id, *map(float, direction))


def goto_point(stamp, ball_id, point):
    return action(stamp, b"GotoPoint", ball_id, *map(float, point))


def set_speed_fraction(stamp, ball_id, fraction):
    return action(stamp, b"SetSpeedFraction", ball_id, float(fraction))


def stop(stamp, ball_id):
    return action(stamp, b"Stop", ball_id)


def orbit(stamp, ball_id, target_id, rng):
    return action(stamp, b"Orbit", ball_id, target_id, int(rng))


def follow_ball(stamp, ball_id, target_id, rng):
    return action(stamp, b"FollowBall", ball_id, target_id, int(rng))


def align_to(stamp, ball_id):
    return action(stamp, b"AlignTo", ball_id)


def warp_to(stamp, ball_id, point, distance, warp_speed_au):
    """WarpTo: destination, stop distance (int metres), warp speed in AU/s x 10 (int)."""
    return action(stamp, b"WarpTo", ball_id, *map(float, point), int(distance),
                  int(round(warp_speed_au * 10)))


def set_ball_velocity(stamp, ball_id, velocity):
    return action(stamp, b"SetBallVelocity", ball_id, *map(float, velocity))


def set_ball_position(stamp, ball_id, position):
    return action(stamp, b"SetBallPosition", ball_id, *map(float, position))


def remove_balls(stamp, ids):
    return action(stamp, b"RemoveBalls", list(ids))


def damage_state(shield=1.0, recharge_ms=1000000.0, armor=1.0, structure=1.0, filetime=0):
    return ((float(shield), float(recharge_ms), int(filetime)), float(armor), float(structure))


def slim_item(ball):
    """The slim item dict of a ball (keys as the client's foo.SlimItem attributes)."""
    d = {b"itemID": ball.id, b"typeID": ball.type_id, b"ownerID": ball.owner_id,
         b"corpID": ball.corp_id, b"allianceID": ball.alliance_id if ball.alliance_id > 0 else None,
         b"groupID": ball.group_id, b"categoryID": ball.category_id}
    if ball.name:
        d[b"name"] = ball.name
    if ball.extra and "slim" in ball.extra:
        d.update(ball.extra["slim"])
    return d


def add_balls2(stamp, balls):
    """One AddBalls2 action adding ``balls`` (Ball objects) at ``stamp``."""
    state = encode_state([b.state() for b in balls], stamp, BALLS)
    extra = [(slim_item(b), damage_state()) for b in balls]
    return (stamp, (b"AddBalls2", ((_m.Buffer(state), extra),)))


def packaged_action(stamp, actions):
    """Bulk additions: the actions inside a SubStream (EVEmu's PackagedAction)."""
    return (stamp, (b"PackagedAction", _m.SubStream(list(actions))))


#: droneState's columns (EVEmu SystemBubble::GetDroneState)
DRONE_STATE_COLUMNS = (b"droneID", b"ownerID", b"controllerID", b"activityState", b"typeID",
                       b"controllerOwnerID", b"targetID")


def drone_rowset(lines=()):
    """SetState's ``droneState``: a ``util.Rowset`` of the bubble's drones, one line of
    DRONE_STATE_COLUMNS each (EVEmu SystemBubble::GetDroneState; no drones here, so it is
    empty)."""
    return _m.Instance("util.Rowset", {b"header": list(DRONE_STATE_COLUMNS),
                                       b"RowClass": _m.Token("util.Row"),
                                       b"lines": [list(x) for x in lines]})


def set_state(stamp, ego, balls, sol_item=None, drone_state=None):
    """(stamp, ('SetState', (KeyVal,))) for a client whose ship is ``ego``; ``balls`` is
    everything it sees (statics, its bubble, its ship) with positions and velocities at ``stamp``.
    ``sol_item``: the solar system's item row (a PackedRow, made by the caller, who has the
    system's row); ``drone_state`` defaults to the empty drone rowset."""
    if drone_state is None:
        drone_state = drone_rowset()
    state = encode_state([b.state() for b in balls], stamp, FULL_STATE)
    kv = {
        b"stamp": stamp,
        b"state": _m.Buffer(state),
        b"ego": ego,
        b"damageState": {b.id: damage_state() for b in balls if not b.is_static},
        b"aggressors": {},
        b"droneState": drone_state,
        b"slims": [_m.Instance("foo.SlimItem", slim_item(b)) for b in balls],
        b"solItem": sol_item,
        b"effectStates": [],
        b"allianceBridges": [],
    }
    return (stamp, (b"SetState", (_m.Instance("util.KeyVal", kv),)))


def do_destiny_update(updates, wait_for_bubble=False, events=None):
    """The DoDestinyUpdate notification arguments."""
    if events:
        return (list(updates), bool(wait_for_bubble), list(events))
    return (list(updates), bool(wait_for_bubble))


def encode(args):
    """Marshal bytes of a DoDestinyUpdate's arguments (for measurement and tests)."""
    return _m.dumps(args, compress_threshold=None)
