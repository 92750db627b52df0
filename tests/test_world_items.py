"""invbroker and InventoryBound over loopback: list the hangar and the ship, move, split,
merge and stack items, OnItemChange, and another account's items refused."""
import pytest

from server_helpers import bounded, running_server

from evemu.client import Client, RemoteError
from evemu.db import characters as chars
from evemu.db import inventory as inv
from evemu.machonet import constants as C
from evemu.wire.marshal import (DBTYPE_I2, DBTYPE_I4, DBTYPE_I8, DBTYPE_STR, Instance,
                                ObjectEx2, PackedRow, SubStruct, Token)

KEYVAL = Instance("util.KeyVal", {b"appearance": {}})
STATION = 60014689


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def login(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def create_and_select(c, name):
    """A Gallente character (Federal Navy Academy), selected: returns (charID, shipID)."""
    cid = c.call("charUnboundMgr", "CreateCharacterWithDoll", name, 7, 1, 13, KEYVAL, KEYVAL,
                 20)
    c.call("charUnboundMgr", "SelectCharacterID", cid)
    return cid, c.session["shipid"]


def bind(c, service, params, nested=None):
    oid_struct, result = c.call(service, "MachoBindObject", params, nested)
    assert type(oid_struct) is SubStruct
    return oid_struct.value.value[0].decode(), result


def bound_id(value):
    assert type(value) is SubStruct
    return value.value.value[0].decode()


def inventory(c, method, *args):
    broker, _ = bind(c, "invbroker", (c.session["stationid"], 15))
    return bound_id(c.call_bound(broker, method, *args)), broker


def rows(crs):
    assert isinstance(crs, ObjectEx2) and crs.header[0] == (Token("dbutil.CRowset"),)
    return [r.asdict() for r in crs.list]


def item_changes(c, since):
    out = []
    for p in c.notifications[since:]:
        if p.type == C.NOTIFICATION and p.destination.id in ("OnItemChange", b"OnItemChange"):
            (_flag, ss), = p.body
            row, changes = ss.value[1][1]
            assert isinstance(row, PackedRow)
            out.append((row.asdict(), changes))
            assert p.oob is None                       # unsequenced, as EVEmu
    return out


def test_list_hangar_and_ship(server):
    with login(server, "lister") as c:
        cid, ship = create_and_select(c, "List Er")
        hangar, _ = inventory(c, "GetInventory", 10004)
        crs = c.call_bound(hangar, "List")
        desc = crs.header[1][b"header"]
        assert list(desc.columns) == [(b"itemID", DBTYPE_I8), (b"typeID", DBTYPE_I4),
                                   (b"ownerID", DBTYPE_I4), (b"locationID", DBTYPE_I4),
                                   (b"flagID", DBTYPE_I2), (b"quantity", DBTYPE_I4),
                                   (b"groupID", DBTYPE_I4), (b"categoryID", DBTYPE_I4),
                                   (b"customInfo", DBTYPE_STR)]
        listed = rows(crs)
        assert [(r["itemID"], r["typeID"], r["flagID"], r["quantity"], r["categoryID"])
                for r in listed] == [(ship, 606, 4, -1, 6)]
        assert listed[0]["ownerID"] == cid and listed[0]["locationID"] == STATION
        ship_inv, _ = inventory(c, "GetInventoryFromId", ship, 0)
        contents = rows(c.call_bound(ship_inv, "List"))
        by_flag = {r["flagID"]: r for r in contents}
        assert by_flag[5]["typeID"] == 34 and by_flag[5]["quantity"] == 100
        assert by_flag[27]["typeID"] == chars.TYPE_CIVILIAN_MINER
        assert by_flag[57]["itemID"] == cid                 # the pilot
        assert [r["flagID"] for r in rows(c.call_bound(ship_inv, "List", 5))] == [5]
        me = c.call_bound(ship_inv, "GetItem")
        assert isinstance(me, PackedRow) and me.itemID == ship and me.groupID == 237
        skills, _ = inventory(c, "GetInventory", 10011)
        sk = rows(c.call_bound(skills, "List"))
        assert len(sk) >= 9 and {r["flagID"] for r in sk} == {7}
        assert {r["categoryID"] for r in sk} == {16}


def test_move_split_merge_stack_persist_and_notify(server):
    with login(server, "mover") as c:
        cid, ship = create_and_select(c, "Move Er")
        db = server.db
        trit = [it for it in db.run(inv.items_in, ship, 5)][0]["itemID"]
        hangar, _ = inventory(c, "GetInventory", 10004)
        # split: 30 of the 100 Tritanium to the hangar
        n = len(c.notifications)
        new = c.call_bound(hangar, "Add", trit, ship, qty=30)
        assert new != trit
        assert db.run(inv.item, new)["quantity"] == 30
        assert db.run(inv.item, new)["locationID"] == STATION
        assert db.run(inv.item, trit)["quantity"] == 70
        ch = item_changes(c, n)
        assert ({r["itemID"] for r, _ in ch}) == {trit, new}
        src = [x for x in ch if x[0]["itemID"] == trit][0]
        assert src[1] == {5: 100} and src[0]["quantity"] == 70
        dst = [x for x in ch if x[0]["itemID"] == new][0]
        assert dst[0]["locationID"] == STATION and dst[1][3] == 0
        # move the rest whole
        n = len(c.notifications)
        assert c.call_bound(hangar, "Add", trit, ship) == trit
        (row, changes), = item_changes(c, n)
        assert row["locationID"] == STATION and row["flagID"] == 4
        assert changes == {3: ship, 4: 5}
        # two stacks in the hangar: StackAll makes one of 100
        n = len(c.notifications)
        assert c.call_bound(hangar, "StackAll") is None
        left = [r for r in rows(c.call_bound(hangar, "List")) if r["typeID"] == 34]
        assert [(r["itemID"], r["quantity"]) for r in left] == [(trit, 100)]
        gone = [x for x in item_changes(c, n) if x[0]["itemID"] == new][0]
        assert gone[0]["locationID"] == inv.LOCATION_JUNKYARD and gone[1][3] == STATION
        # split in place with invbroker.SplitStack, then MultiMerge 5 back
        broker, _ = bind(c, "invbroker", (STATION, 15))
        part = c.call_bound(broker, "SplitStack", STATION, trit, 10, cid)
        assert (db.run(inv.item, part)["quantity"],
                db.run(inv.item, trit)["quantity"]) == (10, 90)
        assert c.call_bound(hangar, "MultiMerge", [(part, trit, 5)]) is None
        assert (db.run(inv.item, part)["quantity"],
                db.run(inv.item, trit)["quantity"]) == (5, 95)
        # MultiAdd both stacks into the ship's cargo
        ship_inv, _ = inventory(c, "GetInventoryFromId", ship, 0)
        assert c.call_bound(ship_inv, "MultiAdd", [part, trit], STATION, flag=5) is None
        assert {(i["itemID"], i["flagID"]) for i in db.run(inv.items_in, ship, 5)} == {
            (part, 5), (trit, 5)}
        for bad in (0, -3):
            with pytest.raises(RemoteError) as e:
                c.call_bound(hangar, "Add", trit, ship, qty=bad)
            assert e.value.msg == "CustomError"
        with pytest.raises(RemoteError):
            c.call_bound(hangar, "MultiMerge", [(part, ship, 1)])     # not the same type
        # a MultiMerge is all or nothing: a good merge followed by a refused one leaves
        # both stacks as they were (and tells the client nothing)
        before = {i: db.run(inv.item, i)["quantity"] for i in (part, trit)}
        n = len(c.notifications)
        with pytest.raises(RemoteError) as e:
            c.call_bound(ship_inv, "MultiMerge", [(part, trit, 2), (part, ship, 1)])
        assert e.value.msg == "CustomError"
        assert {i: db.run(inv.item, i)["quantity"] for i in (part, trit)} == before
        assert item_changes(c, n) == []


def test_other_accounts_items_are_refused(server):
    with login(server, "victim") as a:
        vcid, vship = create_and_select(a, "Vic Tim")
        vtrit = server.db.run(inv.items_in, vship, 5)[0]["itemID"]
        with login(server, "robber") as b:
            cid, ship = create_and_select(b, "Rob Ber")
            broker, _ = bind(b, "invbroker", (STATION, 15))
            for method, args in (("GetInventoryFromId", (vship, 0)),
                                 ("GetInventoryFromId", (vcid, 0)),
                                 ("GetInventoryFromId", (424242, 0)),
                                 ("GetInventory", (10004, vcid)),
                                 ("SplitStack", (STATION, vtrit, 5, vcid))):
                with pytest.raises(RemoteError) as e:
                    b.call_bound(broker, method, *args)
                assert e.value.msg == "CantDoThatWithSomeoneElsesStuff", method
            hangar = bound_id(b.call_bound(broker, "GetInventory", 10004))
            # the victim's ship is in the same hangar, but not in the robber's listing
            assert [r["itemID"] for r in rows(b.call_bound(hangar, "List"))] == [ship]
            mine = server.db.run(inv.items_in, ship, 5)[0]["itemID"]
            for method, args, kw in (("Add", (vtrit, vship), {}),
                                     ("Add", (vship, STATION), {}),
                                     ("MultiAdd", ([mine, vtrit], ship), {}),
                                     ("MultiMerge", ([(vtrit, mine, 5)],), {}),
                                     ("MultiMerge", ([(mine, vtrit, 5)],), {})):
                with pytest.raises(RemoteError) as e:
                    b.call_bound(hangar, method, *args, **kw)
                assert e.value.msg == "CantDoThatWithSomeoneElsesStuff", method
            # nothing moved
            assert server.db.run(inv.item, vtrit)["quantity"] == 100
            assert server.db.run(inv.item, vtrit)["locationID"] == vship
            assert server.db.run(inv.item, mine)["locationID"] == ship
            # a bound inventory of one connection cannot be used by another
            a_hangar, _ = inventory(a, "GetInventory", 10004)
            with pytest.raises(RemoteError) as e:
                b.call_bound(a_hangar, "List")
            assert e.value.msg == "ServiceNotFound"


def test_invbroker_needs_a_character_and_good_arguments(server):
    with login(server, "nochar") as c:
        with pytest.raises(RemoteError) as e:
            bind(c, "invbroker", (STATION, 15))
        assert e.value.msg == "CharacterNotSelected"
        create_and_select(c, "Arg Checker")
        with pytest.raises(RemoteError):
            bind(c, "invbroker", "garbage")
        broker, _ = bind(c, "invbroker", (STATION, 15))
        with pytest.raises(RemoteError):
            c.call_bound(broker, "GetInventoryFromId", b"x", 0)
        assert c.call_bound(broker, "GetInventory", 99999) is None


def test_items_elsewhere_and_ships_in_cargo_are_refused(server):
    with login(server, "faraway") as c:
        cid, ship = create_and_select(c, "Far Items")
        db = server.db
        trit = db.run(inv.items_in, ship, 5)[0]["itemID"]
        hangar, broker = inventory(c, "GetInventory", 10004)
        # an item of ours in another station's hangar (and a ship there) is out of reach
        far = c.call_bound(hangar, "Add", trit, ship, qty=10)
        db.execute('UPDATE "invItems" SET "locationID" = 60014659 WHERE "itemID" = ?', (far,))
        before = db.run(inv.item, far)
        for method, args, kw in (("Add", (far, 60014659), {}),
                                 ("Add", (far, 60014659), {"qty": 2}),
                                 ("MultiAdd", ([far],), {}),
                                 ("MultiMerge", ([(far, trit, 1)],), {})):
            with pytest.raises(RemoteError) as e:
                c.call_bound(hangar, method, *args, **kw)
            assert e.value.msg == "CustomError", method
        with pytest.raises(RemoteError):
            c.call_bound(broker, "SplitStack", 60014659, far, 1, cid)
        assert db.run(inv.item, far) == before
        # a ship (even a second one) cannot go into a ship's cargo
        ship_inv, _ = inventory(c, "GetInventoryFromId", ship, 0)
        with pytest.raises(RemoteError) as e:
            c.call_bound(ship_inv, "Add", ship, STATION)
        assert e.value.msg == "CustomError"
        assert db.run(inv.item, ship)["locationID"] == STATION
        # the character itself is not an item to move
        with pytest.raises(RemoteError):
            c.call_bound(hangar, "Add", cid, ship)
        assert db.run(inv.item, cid)["locationID"] == ship


HOSTILE = (None, -1, 0, 2 ** 63, -2 ** 63, 1.5, float("nan"), b"x", "x", [], [1, 2], (1,),
           ((1, 2, 3),), [(1, 2)], [("a", "b", "c")], {1: 2}, True)


def test_hostile_arguments_never_crash_a_handler(server, caplog):
    """Every inventory, station, ship and wallet method fed garbage answers or refuses with a
    UserError; none fails inside (no 'call ... failed' traceback in the log)."""
    import logging
    with login(server, "fuzzer") as c:
        cid, ship = create_and_select(c, "Fuzz Er")
        hangar, broker = inventory(c, "GetInventory", 10004)
        ship_inv, _ = inventory(c, "GetInventoryFromId", ship, 0)
        shipsvc, _ = bind(c, "ship", STATION)
        calls = []
        for v in HOSTILE:
            calls += [(hangar, "Add", (v, ship)), (hangar, "Add", (ship, ship), {"qty": v}),
                      (hangar, "Add", (ship, ship), {"flag": v}), (hangar, "MultiAdd", (v, 1)),
                      (hangar, "MultiMerge", (v,)), (hangar, "MultiMerge", ([(v, v, v)],)),
                      (hangar, "StackAll", (v,)), (hangar, "List", (v,)),
                      (ship_inv, "MultiAdd", ([v], 1)),
                      (broker, "GetInventoryFromId", (v, 0)), (broker, "GetInventory", (v,)),
                      (broker, "GetInventory", (10004, v)),
                      (broker, "SplitStack", (STATION, v, 1, cid)),
                      (broker, "SplitStack", (STATION, ship, v, cid)),
                      (shipsvc, "Board", (v, ship)), (shipsvc, "LeaveShip", (v,)),
                      (None, "stationSvc.GetStation", (v,)),
                      (None, "charMgr.GetPublicInfo3", (v,)),
                      (None, "charMgr.GetPrivateInfo", (v,)),
                      (None, "account.GiveCash", (v, 1.0)),
                      (None, "account.GiveCash", (cid + 1, v)),
                      (None, "account.GiveCash", (cid + 1, 1.0, v)),
                      (None, "account.GetJournal", (v, 0))]
        with caplog.at_level(logging.ERROR):
            for target, method, args, *kw in calls:
                kw = kw[0] if kw else {}
                try:
                    if target is None:
                        svc, m = method.split(".")
                        c.call(svc, m, *args, **kw)
                    else:
                        c.call_bound(target, method, *args, **kw)
                except RemoteError as e:
                    assert e.exception_class == "ccp_exceptions.UserError", (method, args)
        failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage() or
                  "internal error" in r.getMessage()]
        assert failed == []
        # and the character's things are where they were
        assert server.db.run(inv.item, ship)["locationID"] == STATION
        assert c.session["shipid"] == ship


def test_nested_bind_sends_the_oid_of_the_object_the_nested_call_binds(server):
    """moniker.Bind with a call: invbroker bound with GetInventoryFromId nested; the reply's
    OID+ names both the broker and the InventoryBound the nested call bound (EVEmu leaves the
    second one out; the client tracks bound objects by OID+)."""
    with login(server, "nester") as c:
        cid, ship = create_and_select(c, "Nest Er")
        rsp = c.call_full("invbroker", "MachoBindObject", (STATION, 15),
                          ("GetInventoryFromId", (ship, 0), {}))
        oid_struct, nested = rsp.body[0].value
        broker = bound_id(oid_struct)
        ship_inv = bound_id(nested)
        assert broker != ship_inv
        added = rsp.oob[b"OID+"]
        assert set(added) == {broker.encode(), ship_inv.encode()}
        assert all(isinstance(stamp, int) and stamp > 0 for stamp in added.values())
        assert {broker, ship_inv} <= set(c.bound)
        # the nested object is live: it lists the ship
        assert 57 in {r["flagID"] for r in rows(c.call_bound(ship_inv, "List"))}
        # a nested call that binds nothing adds nothing
        rsp = c.call_full("invbroker", "MachoBindObject", (STATION, 15),
                          ("GetInventory", (10002,), {}))
        assert rsp.body[0].value[1] is None and len(rsp.oob[b"OID+"]) == 1
        count = server.services.bound_count
        # a nested call that fails leaves nothing bound: the error reaches the client and the
        # object bound for it (whose OID the client never learns) is released
        with pytest.raises(RemoteError, match="CantDoThatWithSomeoneElsesStuff"):
            c.call("invbroker", "MachoBindObject", (STATION, 15),
                   ("GetInventoryFromId", (1, 0), {}))
        assert server.services.bound_count == count


ITEM_KEYWORDS = ((b"stacksize", Token("util.StackSize")), (b"singleton", Token("util.Singleton")))


def test_item_rows_carry_evemus_descriptor_keywords(server):
    """EVEmu StaticDataMgr::CreateHeader: the item row descriptor of List, GetItem and
    OnItemChange names stacksize -> util.StackSize and singleton -> util.Singleton."""
    with login(server, "keyworder") as c:
        cid, ship = create_and_select(c, "Key Worder")
        hangar, _ = inventory(c, "GetInventory", 10004)
        crs = c.call_bound(hangar, "List")
        desc = crs.header[1][b"header"]
        assert desc.keywords == ITEM_KEYWORDS
        assert all(r.descriptor.keywords == ITEM_KEYWORDS for r in crs.list)
        ship_inv, _ = inventory(c, "GetInventoryFromId", ship, 0)
        assert c.call_bound(ship_inv, "GetItem").descriptor.keywords == ITEM_KEYWORDS
        assert c.call("invbroker", "GetItemDescriptor").keywords == ITEM_KEYWORDS
        trit = [r for r in rows(c.call_bound(ship_inv, "List", 5))][0]["itemID"]
        n = len(c.notifications)
        c.call_bound(hangar, "Add", trit, ship, qty=1)
        changes = [p for p in c.notifications[n:] if p.type == C.NOTIFICATION and
                   p.destination.id in ("OnItemChange", b"OnItemChange")]
        assert changes
        for p in changes:
            (_flag, ss), = p.body
            row, _ch = ss.value[1][1]
            assert row.descriptor.keywords == ITEM_KEYWORDS


def test_a_move_is_one_database_call_checked_on_the_locked_row(server, monkeypatch):
    # issue 12: a service method gets one transaction -- the ownership and reachability checks
    # run inside the move's transaction, on the item's locked row, not in calls before it
    with login(server, "onecall") as c:
        cid, ship = create_and_select(c, "One Call")
        db = server.db
        trit = db.run(inv.items_in, ship, 5)[0]["itemID"]
        hangar, _ = inventory(c, "GetInventory", 10004)
        runs = []
        real = type(db).run

        def counting(self, fn, *a, **kw):
            runs.append(getattr(fn, "__name__", fn))
            return real(self, fn, *a, **kw)
        monkeypatch.setattr(type(db), "run", counting)
        c.call_bound(hangar, "Add", trit, ship, qty=10)
        assert runs == ["move"]
        runs.clear()
        c.call_bound(hangar, "MultiAdd", [trit], ship)
        assert runs == ["move_many"]
        parts = [it["itemID"] for it in db.run(inv.items_in, STATION, 4, cid)
                 if it["typeID"] == db.run(inv.item, trit)["typeID"]]
        assert len(parts) == 2                      # the 10 split off, and the rest
        runs.clear()
        c.call_bound(hangar, "MultiMerge", [(p, trit, 1) for p in parts if p != trit])
        assert runs == ["merge_many"]
        monkeypatch.undo()
        assert db.run(inv.item, trit)["locationID"] == STATION


def test_a_refused_check_inside_the_move_changes_nothing(server):
    db = server.db
    with login(server, "refusecheck") as c:
        cid, ship = create_and_select(c, "Refuse Check")
        trit = db.run(inv.items_in, ship, 5)[0]["itemID"]
        before = db.run(inv.item, trit)
        hangar_before = db.run(inv.items_in, STATION, 4, cid)

        def refuse(conn, it):
            assert it["itemID"] == trit and it["quantity"] == before["quantity"]
            raise PermissionError("no")
        for args in ((trit, STATION, 4, 10), (trit, STATION, 4, None)):
            with pytest.raises(PermissionError):
                db.run(inv.move, *args, check=refuse)
        with pytest.raises(PermissionError):
            db.run(inv.move_many, [trit], STATION, 4, check=refuse)
        part = db.run(inv.split, trit, 5)[0]          # a second stack, in the same place
        before, parts_before = db.run(inv.item, trit), db.run(inv.items_in, ship, 5)

        def refuse_second(conn, it, seen=[]):
            seen.append(it["itemID"])
            if len(seen) == 2:
                raise PermissionError("no")
        with pytest.raises(PermissionError):
            db.run(inv.merge_many, [(part, trit, None)], check=refuse_second)
        assert db.run(inv.items_in, ship, 5) == parts_before
        assert db.run(inv.item, trit) == before
        assert db.run(inv.items_in, STATION, 4, cid) == hangar_before
