"""charMgr, skillMgr, dogmaIM and the wallet over loopback, with the reply shapes of EVEmu."""
import pytest

from server_helpers import bounded, running_server
from test_world_items import bind, create_and_select, login

from evemu.client import RemoteError
from evemu.db import characters as chars
from evemu.db import filetime_now
from evemu.db import inventory as inv
from evemu.machonet import constants as C
from evemu.wire.marshal import (DBTYPE_I1, DBTYPE_R8, DBTYPE_UI1, DBTYPE_UI4, DBTYPE_UI8,
                                DBTYPE_WSTR, Instance, ObjectEx2, PackedRow, Token)


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def test_public_and_private_info(server):
    with login(server, "sheet") as c:
        cid, _ = create_and_select(c, "Sheet Reader")
        pub = c.call("charMgr", "GetPublicInfo3", cid)
        assert isinstance(pub, ObjectEx2) and pub.header[0] == (Token("dbutil.CRowset"),)
        assert list(pub.header[1][b"header"].columns) == [
            (b"bounty", DBTYPE_R8), (b"title", DBTYPE_WSTR), (b"startDateTime", DBTYPE_UI8),
            (b"description", DBTYPE_WSTR), (b"corporationID", DBTYPE_UI4)]
        assert pub.list[0].corporationID == 1000168 and pub.list[0].bounty == 0.0
        priv = c.call("charMgr", "GetPrivateInfo", cid)
        assert isinstance(priv, PackedRow)
        assert list(priv.descriptor.columns) == [(b"gender", DBTYPE_I1),
                                                 (b"createDateTime", DBTYPE_UI8),
                                                 (b"raceID", DBTYPE_UI1),
                                                 (b"bloodlineID", DBTYPE_UI1)]
        assert (priv.gender, priv.raceID, priv.bloodlineID) == (1, 8, 7)
        assert c.call("charMgr", "GetPublicInfo3", 424242).list == []    # as EVEmu
        with pytest.raises(RemoteError) as e:
            c.call("charMgr", "GetPrivateInfo", 424242)
        assert e.value.msg == "CharacterNotFound"
    with login(server, "nosy") as b:
        create_and_select(b, "Nosy Parker")
        assert b.call("charMgr", "GetPublicInfo3", cid).list[0].corporationID == 1000168
        with pytest.raises(RemoteError) as e:                # another account's character
            b.call("charMgr", "GetPrivateInfo", cid)
        assert e.value.msg == "CharacterNotFound"


def test_skill_mgr_queries(server):
    with login(server, "skiller") as c:
        create_and_select(c, "Skill Sheet")
        sk, nested = bind(c, "skillMgr", None, (b"GetSkillQueueAndFreePoints", (), {}))
        assert nested == ([], 0)
        assert c.call_bound(sk, "GetEndOfTraining") == 0
        hist = c.call_bound(sk, "GetSkillHistory")
        assert hist.name == "util.Rowset" and hist.state[b"header"] == [
            b"logDate", b"eventTypeID", b"skillTypeID", b"absolutePoints"]
        assert set(c.call_bound(sk, "GetRespecInfo")) == {b"freeRespecs", b"lastRespecDate",
                                                          b"nextTimedRespec"}
        assert c.call_bound(sk, "GetCharacterAttributeModifiers", 165) == []


def test_dogma_get_all_info(server):
    with login(server, "dogma") as c:
        cid, ship = create_and_select(c, "Dogma Pilot")
        dogma, _ = bind(c, "dogmaIM", (c.session["stationid"], 15))
        info = c.call_bound(dogma, "GetAllInfo", True, True)
        assert isinstance(info, Instance) and info.name == "util.KeyVal"
        d = info.state
        assert set(d) == {b"activeShipID", b"locationInfo", b"shipModifiedCharAttribs",
                          b"charInfo", b"shipInfo", b"shipState"}
        assert d[b"activeShipID"] == ship and d[b"locationInfo"] == {}
        me = d[b"charInfo"][cid]
        assert me.name == "util.KeyVal"
        assert set(me.state) == {b"itemID", b"invItem", b"activeEffects", b"attributes",
                                 b"description", b"time"}
        row = server.db.run(chars.character_row, cid)
        assert me.state[b"invItem"].itemID == cid
        attrs = me.state[b"attributes"]
        assert attrs[165] > 0 and attrs[164] > 0 and attrs[168] > 0     # int, cha, will
        skills = [k for k, v in d[b"charInfo"].items() if k != cid]
        assert len(skills) >= 9
        sk = d[b"charInfo"][skills[0]].state[b"attributes"]
        assert sk[280] >= 1 and sk[276] > 0 and 275 in sk
        assert sum(d[b"charInfo"][k].state[b"attributes"][276] for k in skills) == \
            row["skillPoints"]
        ship_entry = d[b"shipInfo"][ship]
        assert ship_entry.state[b"invItem"].typeID == 606
        sattrs = ship_entry.state[b"attributes"]
        assert sattrs[4] > 0 and sattrs[38] > 0              # mass, capacity from invTypes
        fitted = [i["itemID"] for i in server.db.run(inv.items_in, ship)
                  if 27 <= i["flagID"] <= 34]
        assert set(fitted) <= set(d[b"shipInfo"]) and len(fitted) == 2
        modules, charges, linked = d[b"shipState"]
        assert set(modules) == {ship, cid, *fitted}
        assert isinstance(modules[ship], PackedRow) and modules[ship].instanceID == ship
        assert charges == {} and linked == {}
        only_ship = c.call_bound(dogma, "GetAllInfo", False, True).state
        assert only_ship[b"charInfo"] == {} and ship in only_ship[b"shipInfo"]


def test_wallet_balance_and_journal(server):
    with login(server, "wallet") as c:
        cid, _ = create_and_select(c, "Rich Pilot")
        assert c.call("account", "GetCashBalance", 0) == chars.STARTING_BALANCE
        assert c.call("account", "GetCashBalance", 0, 1000) == chars.STARTING_BALANCE
        j = c.call("account", "GetJournal", 1000, 0, None, False)
        assert isinstance(j, ObjectEx2)
        names = list(j.header[1][b"header"].names)
        assert names == ["transactionID", "transactionDate", "referenceID", "entryTypeID",
                         "ownerID1", "ownerID2", "accountKey", "amount", "balance",
                         "description", "currency", "sortValue"]
        (first,) = j.list
        assert (first.entryTypeID, first.amount, first.balance, first.ownerID1) == (
            chars.REF_INHERITANCE, chars.STARTING_BALANCE, chars.STARTING_BALANCE,
            chars.CORP_SCC)
        # every ISK change goes through the journal: balance = sum of the journal
        db = server.db
        db.run(chars.add_journal, cid, 10, -1234.5, filetime_now(), owner1=cid, owner2=1000168)
        db.run(chars.add_journal, cid, 85, 200.0, filetime_now(), owner1=1000125, owner2=cid)
        assert c.call("account", "GetCashBalance", 0) == 5000.0 - 1234.5 + 200.0
        rows = c.call("account", "GetJournal", 1000, 0, None, False).list
        assert [r.amount for r in rows] == [5000.0, -1234.5, 200.0]
        assert [r.balance for r in rows] == [5000.0, 3765.5, 3965.5]
        assert [r.entryTypeID for r in c.call("account", "GetJournal", 1000, 0, 85,
                                               False).list] == [85]
        assert c.call("account", "GetJournal", 1000, 0, None, True).list == []
    with login(server, "nocharwallet") as b:
        with pytest.raises(RemoteError) as e:
            b.call("account", "GetCashBalance", 0)
        assert e.value.msg == "CharacterNotSelected"


def account_changes(c, since=0):
    out = []
    for p in c.notifications[since:]:
        if p.type == C.NOTIFICATION and p.destination.id in ("OnAccountChange",
                                                             b"OnAccountChange"):
            (_flag, ss), = p.body
            out.append(ss.value[1][1])
    return out


def test_give_cash_is_journalled_on_both_sides(server):
    db = server.db
    with login(server, "payer") as a, login(server, "payee") as b:
        cid_a, _ = create_and_select(a, "Pay Er")
        cid_b, _ = create_and_select(b, "Pay Ee")
        assert a.call("account", "GiveCash", cid_b, 1500.25, "for the ship") is None
        assert a.call("account", "GetCashBalance", 0) == 5000.0 - 1500.25
        assert b.call("account", "GetCashBalance", 0) == 5000.0 + 1500.25
        assert account_changes(a) == [(b"cash", cid_a, 3499.75)]
        assert account_changes(b) == [(b"cash", cid_b, 6500.25)]
        ja = a.call("account", "GetJournal", 1000, 0, None, False).list
        jb = b.call("account", "GetJournal", 1000, 0, None, False).list
        assert (ja[-1].amount, ja[-1].balance, ja[-1].entryTypeID) == (-1500.25, 3499.75, 10)
        assert (jb[-1].amount, jb[-1].balance, jb[-1].ownerID1) == (1500.25, 6500.25, cid_a)
        assert ja[-1].description == "DESC: for the ship"
        # refused: too much (nothing changes), yourself, nobody, bad amounts
        with pytest.raises(RemoteError) as e:
            a.call("account", "GiveCash", cid_b, 1e9)
        assert e.value.msg == "NotEnoughMoney"
        assert e.value.values == {"amount": (28, 1e9), "balance": (28, 3499.75)}
        for to, amount, key in ((cid_a, 1.0, "CustomError"), (424242, 1.0, "CharacterNotFound"),
                                (cid_b, -5.0, "CustomError"), (cid_b, 0, "CustomError"),
                                (cid_b, float("nan"), "CustomError"),
                                (cid_b, float("inf"), "CustomError"),
                                (cid_b, True, "CustomError"), (cid_b, b"5", "CustomError")):
            with pytest.raises(RemoteError) as e:
                a.call("account", "GiveCash", to, amount)
            assert e.value.msg == key, (to, amount)
        assert a.call("account", "GetCashBalance", 0) == 3499.75
        # the invariant: each balance is the sum of its journal
        for cid in (cid_a, cid_b):
            total = db.execute('SELECT SUM("amount") FROM "jnlCharacters" WHERE '
                               '"characterID" = ?', (cid,))[0][0]
            assert total == db.run(chars.character_row, cid)["balance"]
