"""Database round trips of the selection and inventory calls, on both backends (issue 12: on
PostgreSQL every ``Database.call`` is a pool checkout and every statement a round trip to
another process, so each one cut is latency): the number of ``Database.call``s a call makes
(both backends) and of statements it sends (PostgreSQL), and that the folded queries answer as
the separate ones did (ship joined into the character sheet, the HQ into the selection, the
chat channels' names)."""
import contextlib

import pytest

from server_helpers import bounded, running_server

from evemu.client import Client
from evemu.db import Database
from evemu.db import characters as chars
from evemu.wire.marshal import Instance

KEYVAL = Instance("util.KeyVal", {b"appearance": {}})
STATION, SOLAR_SYSTEM, CORP, HQ = 60014689, 30004971, 1000168, 60014689


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    if request.param == "sqlite":
        target, drop = str(tmp_path / "r.sqlite3"), None
    else:
        cluster = request.getfixturevalue("pg_cluster")
        name = cluster.create_database(template=cluster.server_template())
        target, drop = cluster.url(name), lambda: cluster.drop_database(name)
    db = Database(target)
    try:
        with bounded(120), running_server(db=db) as srv:
            yield srv
    finally:
        db.close()
        if drop is not None:
            drop()


class Counter:
    """``Database.call``s of one server (both backends) and statements sent (PostgreSQL:
    every ``Cursor.execute`` of psycopg; SQLite: None)."""

    def __init__(self, server, monkeypatch):
        self.calls, self.sql = 0, []
        db = server.db
        real = db.call

        def call(fn, *args):
            self.calls += 1
            return real(fn, *args)
        monkeypatch.setattr(db, "call", call)
        self.pg = db.backend.dialect == "postgresql"
        if self.pg:
            import psycopg
            real_exec = psycopg.Cursor.execute

            def execute(cur, query, params=None, **kw):
                self.sql.append(query)
                return real_exec(cur, query, params, **kw)
            monkeypatch.setattr(psycopg.Cursor, "execute", execute)

    @contextlib.contextmanager
    def counting(self):
        self.calls, self.sql[:] = 0, []
        yield self

    @property
    def statements(self):
        return len(self.sql) if self.pg else None


def login_and_create(server, name, select=False):
    c = Client.connect(server.address)
    c.login(name, "pw")
    cid = c.call("charUnboundMgr", "CreateCharacterWithDoll", name.title() + " Pilot", 7, 1, 13,
                 KEYVAL, KEYVAL, 20)
    if select:
        c.call("charUnboundMgr", "SelectCharacterID", cid)
    return c, cid


def test_character_to_select_is_one_call_and_one_statement(server, monkeypatch):
    c, cid = login_and_create(server, "sheet")
    with c:
        n = Counter(server, monkeypatch)
        with n.counting():
            row = c.call("charUnboundMgr", "GetCharacterToSelect", cid).list[0]
        assert n.calls == 1                     # was 2: the character, then its ship
        assert n.statements in (None, 1)
        ship = server.db.run(chars.character_row, cid)["shipID"]
        (want_type, want_name), = server.db.execute(
            'SELECT "typeID", "itemName" FROM "invItems" WHERE "itemID" = ?', (ship,))
        assert (row.characterID, row.shipTypeID, row.shipName) == (cid, want_type, want_name)
        assert row.shipName == "Sheet Pilot's Ship" and row.balance == 5000.0
        assert (row.stationID, row.solarSystemID, row.corporationID) == (
            STATION, SOLAR_SYSTEM, CORP)


def test_character_to_select_ship_fallbacks(server):
    """The ship's row without a name: ""; its row gone, or no ship: EVEmu's 606 "My Ship"."""
    c, cid = login_and_create(server, "fallback")
    with c:
        ship = server.db.run(chars.character_row, cid)["shipID"]
        server.db.execute('UPDATE "invItems" SET "itemName" = NULL WHERE "itemID" = ?', (ship,))
        row = c.call("charUnboundMgr", "GetCharacterToSelect", cid).list[0]
        assert (row.shipTypeID, row.shipName) == (606, "")
        server.db.execute('UPDATE "invItems" SET "itemName" = ?, "typeID" = 601 WHERE '
                          '"itemID" = ?', ("Renamed", ship))
        row = c.call("charUnboundMgr", "GetCharacterToSelect", cid).list[0]
        assert (row.shipTypeID, row.shipName) == (601, "Renamed")
        server.db.execute('DELETE FROM "invItems" WHERE "itemID" = ?', (ship,))
        row = c.call("charUnboundMgr", "GetCharacterToSelect", cid).list[0]
        assert (row.shipTypeID, row.shipName) == (606, "My Ship")
        server.db.execute('UPDATE "chrCharacterInfo" SET "shipID" = NULL WHERE '
                          '"characterID" = ?', (cid,))
        row = c.call("charUnboundMgr", "GetCharacterToSelect", cid).list[0]
        assert (row.shipTypeID, row.shipName, row.characterID) == (606, "My Ship", cid)


def test_character_row_joins(server):
    c, cid = login_and_create(server, "joins")
    c.close()
    plain = server.db.run(chars.character_row, cid)
    both = server.db.run(chars.character_row, cid, ship=True, hq=True)
    assert {k: v for k, v in both.items() if k not in ("shipTypeID", "shipName", "hqID")} \
        == plain
    assert (both["shipTypeID"], both["shipName"], both["hqID"]) == (606, "Joins Pilot's Ship",
                                                                    HQ)
    server.db.execute('UPDATE "chrCharacters" SET "corporationID" = 1 WHERE "characterID" = ?',
                      (cid,))
    assert server.db.run(chars.character_row, cid, hq=True)["hqID"] is None
    assert server.db.run(chars.character_row, 424242, ship=True, hq=True) is None


def test_select_character_reads(server, monkeypatch):
    """SelectCharacterID: the character and its corporation's HQ in one statement, each chat
    channel's name in one call: 5 calls (was 9 on PostgreSQL, 6 on SQLite): character + HQ,
    local's name, corp's name, the station's guests, the skills trained unseen."""
    c, cid = login_and_create(server, "selector")
    c.close()
    with Client.connect(server.address) as c:
        c.login("selector", "pw")
        n = Counter(server, monkeypatch)
        with n.counting():
            c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert c.session["hqID"] == HQ and c.session["charid"] == cid
        assert n.calls == 5, [s[:60] for s in n.sql]
        assert n.statements in (None, 5)


def test_chat_channel_names_come_from_the_database(server):
    """Local's and corp's MOTD are the names in the static data on both backends (on
    PostgreSQL the queries failed -- ``?`` and unquoted mixed-case names -- and the channels
    were named by their numbers)."""
    c, cid = login_and_create(server, "chatty", select=True)
    with c:
        (system,), = server.db.execute('SELECT "solarSystemName" FROM "mapSolarSystems" WHERE '
                                       '"solarSystemID" = ?', (SOLAR_SYSTEM,))
        (corp,), = server.db.execute('SELECT "corporationName" FROM "crpCorporation" WHERE '
                                     '"corporationID" = ?', (CORP,))
        world = server.services.lookup("LSC").world
        assert world.channels[SOLAR_SYSTEM].motd == system != str(SOLAR_SYSTEM)
        assert world.channels[CORP].motd == corp != str(CORP)
        svc = server.services.lookup("LSC")
        assert svc._name_of("regionid", 424242) == "424242"          # no row: the number
        assert svc._name_of("nosuchkind", 7) == "7"
        assert svc._character(cid)[0] == "Chatty Pilot"


def test_inventory_from_id_is_one_call(server, monkeypatch):
    c, cid = login_and_create(server, "invfrom", select=True)
    with c:
        oid, _ = c.call("invbroker", "MachoBindObject", (STATION, 15), None)
        broker = oid.value.value[0].decode()
        n = Counter(server, monkeypatch)
        with n.counting():
            c.call_bound(broker, "GetInventoryFromId", c.session["shipid"], 0)
        assert n.calls == 1                     # was 2: own_item, then need_reachable
        assert n.statements in (None, 1)
        with n.counting():
            c.call_bound(broker, "GetInventoryFromId", cid, 0)
        assert n.calls == 1
