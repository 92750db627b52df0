"""Restart the server on the same database file: characters, items (after moves, splits and
boarding), the wallet and its journal are all there."""
from server_helpers import bounded, running_server
from test_world_items import bind, bound_id, create_and_select, login, rows

from evemu.client import Client
from evemu.db import Database
from evemu.db import characters as chars
from evemu.db import filetime_now

STATION = 60014689


def test_everything_survives_a_restart(tmp_path):
    path = tmp_path / "world.sqlite3"
    with bounded(60), running_server(db=Database(path)) as server:
        with login(server, "keeper") as c:
            cid, ship = create_and_select(c, "Keep Er")
            broker, _ = bind(c, "invbroker", (STATION, 15))
            hangar = bound_id(c.call_bound(broker, "GetInventory", 10004))
            ship_inv = bound_id(c.call_bound(broker, "GetInventoryFromId", ship, 0))
            trit = [r for r in rows(c.call_bound(ship_inv, "List", 5))][0]["itemID"]
            part = c.call_bound(hangar, "Add", trit, ship, qty=40)
            pod = c.call_bound(bind(c, "ship", STATION)[0], "LeaveShip", ship)
            server.db.run(chars.add_journal, cid, 10, -250.0, filetime_now(), owner1=cid)
            before_hangar = sorted((r["itemID"], r["typeID"], r["quantity"])
                                   for r in rows(c.call_bound(hangar, "List")))
            before_ship = sorted((r["itemID"], r["flagID"], r["quantity"])
                                 for r in rows(c.call_bound(ship_inv, "List")))
            before_journal = [tuple(r) for r in c.call("account", "GetJournal", 1000, 0,
                                                       None, False).list]
        server.db.close()
    with bounded(60), running_server(db=Database(path)) as server:
        c = Client.connect(server.address)
        try:
            c.login("keeper", "pw")
            listed = c.call("charUnboundMgr", "GetCharactersToSelect").list
            assert [r.characterID for r in listed] == [cid]
            c.call("charUnboundMgr", "SelectCharacterID", cid)
            assert c.session["shipid"] == pod                 # still in the capsule
            broker, _ = bind(c, "invbroker", (STATION, 15))
            hangar = bound_id(c.call_bound(broker, "GetInventory", 10004))
            ship_inv = bound_id(c.call_bound(broker, "GetInventoryFromId", ship, 0))
            assert sorted((r["itemID"], r["typeID"], r["quantity"])
                          for r in rows(c.call_bound(hangar, "List"))) == before_hangar
            assert (part, 34, 40) in before_hangar and any(i == pod for i, _t, _q in
                                                           before_hangar)
            assert sorted((r["itemID"], r["flagID"], r["quantity"])
                          for r in rows(c.call_bound(ship_inv, "List"))) == before_ship
            assert (trit, 5, 60) in before_ship
            assert c.call("account", "GetCashBalance", 0) == chars.STARTING_BALANCE - 250.0
            assert [tuple(r) for r in c.call("account", "GetJournal", 1000, 0, None,
                                             False).list] == before_journal
            assert len(before_journal) == 2
        finally:
            c.close()
        server.db.close()
