"""charUnboundMgr over loopback with the scripted client: creation for each race (with every
name rejection), selection (session change, then the MOTD), another account's characters,
deletion, and persistence across a restart."""
import pytest

from server_helpers import bounded, running_server

from evemu.client import Client, RemoteError
from evemu.db import Database
from evemu.db import characters as chars
from evemu.machonet import constants as C
from evemu.wire.marshal import (DBTYPE_I8, DBTYPE_R4, DBTYPE_UI4, DBTYPE_WSTR, Instance,
                                ObjectEx2, Token)

KEYVAL = Instance("util.KeyVal", {b"appearance": {}})
# race: (bloodlineID, ancestryID, schoolID, rookie ship, gun, school corp, station, system)
RACES = {
    1: (1, 10, 17, 601, 3638, 1000167, 60014659, 30000141),     # Deteis, State War Academy
    2: (3, 19, 14, 588, 3636, 1000170, 60014749, 30002547),     # Sebiestor, Republic Military
    4: (5, 1, 11, 596, 3634, 1000166, 60014629, 30003489),      # Amarr, Imperial Academy
    8: (7, 13, 20, 606, 3640, 1000168, 60014689, 30004971),     # Gallente, Federal Navy Academy
}


@pytest.fixture
def server():
    with bounded(120), running_server() as srv:
        yield srv


def login(server, name):
    c = Client.connect(server.address)
    c.login(name, "pw")
    return c


def create(c, name, race=1, gender=1, **over):
    bl, anc, school = RACES[race][:3]
    args = dict(bloodlineID=bl, genderID=gender, ancestryID=anc, schoolID=school)
    args.update(over)
    return c.call("charUnboundMgr", "CreateCharacterWithDoll", name, args["bloodlineID"],
                  args["genderID"], args["ancestryID"], KEYVAL, KEYVAL, args["schoolID"])


def count(db, table):
    return db.execute(f'SELECT COUNT(*) FROM "{table}"')[0][0]


@pytest.mark.parametrize("race", sorted(RACES))
def test_create_a_character_of_each_race(server, race):
    bl, anc, school, ship_type, gun, corp, station, system = RACES[race]
    with login(server, f"racer{race}") as c:
        assert c.call("charUnboundMgr", "ValidateNameEx", f"Pilot Race{race}") == 1
        cid = create(c, f"Pilot Race{race}", race, gender=race % 2)
        assert isinstance(cid, int) and cid >= 90000000
        listed = c.call("charUnboundMgr", "GetCharactersToSelect")
        assert [r.asdict() for r in listed.list] == [{
            "characterID": cid, "characterName": f"Pilot Race{race}",
            "deletePrepareDateTime": 0, "gender": race % 2,
            "typeID": server.db.execute(
                'SELECT "typeID" FROM "bloodlineTypes" WHERE "bloodlineID"=?', (bl,)
            )[0][0]}]
    db = server.db
    row = db.run(chars.character_row, cid)
    assert (row["raceID"], row["bloodlineID"], row["ancestryID"], row["schoolID"]) == (
        race, bl, anc, school)
    assert (row["corporationID"], row["stationID"], row["solarSystemID"]) == (corp, station,
                                                                               system)
    assert row["balance"] == chars.STARTING_BALANCE
    items = db.execute('SELECT "itemID", "typeID", "locationID", "flagID", "quantity" '
                       'FROM "invItems" WHERE "ownerID"=?', (cid,))
    by_type = {t: (i, loc, flag, q) for i, t, loc, flag, q in items}
    ship_id = row["shipID"]
    assert by_type[ship_type] == (ship_id, station, chars.FLAG_HANGAR, 1)
    assert by_type[gun][1:3] == (ship_id, chars.FLAG_HISLOT1)
    assert by_type[chars.TYPE_CIVILIAN_MINER][1:3] == (ship_id, chars.FLAG_HISLOT0)
    assert by_type[chars.TYPE_TRITANIUM][1:] == (ship_id, chars.FLAG_CARGO, 100)
    assert by_type[chars.TYPE_CAPSULE][:3] == (row["capsuleID"], system, chars.FLAG_CAPSULE)
    assert by_type[chars.TYPE_CLONE_ALPHA][1:3] == (station, chars.FLAG_CLONE)
    skills = [i for i, t, loc, flag, q in items if flag == chars.FLAG_SKILL]
    assert len(skills) >= 9 and row["skillPoints"] > 0
    sp = db.execute('SELECT SUM("value") FROM "invItemAttributes" WHERE "attributeID"=276 '
                    'AND "itemID" IN (SELECT "itemID" FROM "invItems" WHERE "ownerID"=?)',
                    (cid,))[0][0]
    assert sp == row["skillPoints"]
    journal = db.execute('SELECT "refTypeID", "amount", "balance", "ownerID1" FROM '
                         '"jnlCharacters" WHERE "characterID"=?', (cid,))
    assert journal == [(chars.REF_INHERITANCE, chars.STARTING_BALANCE,
                        chars.STARTING_BALANCE, chars.CORP_SCC)]


@pytest.mark.parametrize("name, code, key", [
    ("", -1, "CharNameTooShort"),
    ("Ab", -1, "CharNameTooShort"),
    ("A" * 25, -2, "CharNameInvalidMaxLength"),
    ("Abcdef Ghijklmnopqrs", -2, "CharNameInvalidMaxLength"),      # family name > 12
    ("Bad#Name", -5, "CharNameInvalidSomeChar"),
    ("Bad_Name", -5, "CharNameInvalidSomeChar"),
    ("Ünïcode Name", -5, "CharNameInvalidSomeChar"),
    (" Leading", -5, "CharNameInvalidSomeChar"),
    ("Trailing-", -5, "CharNameInvalidSomeChar"),
    ("Too Many Spaces", -6, "CharNameInvalidMaxSpaces"),
    ("Two  Spaces", -7, "CharNameInvalidMaxSpaces"),
    ("Admin Person", -102, "CharNameInvalidBannedWord"),
    ("CCP Pilot", -102, "CharNameInvalidBannedWord"),
    ("taken PILOT", -101, "CharNameInvalidTaken"),
    ("caldari state", -101, "CharNameInvalidTaken"),            # an NPC owner's name
])
def test_every_name_rejection(server, name, code, key):
    with login(server, "namer") as c:
        create(c, "Taken Pilot")
        before = (count(server.db, "chrCharacters"), count(server.db, "invItems"))
        assert c.call("charUnboundMgr", "ValidateNameEx", name) == code
        for race in sorted(RACES):
            with pytest.raises(RemoteError) as e:
                create(c, name, race)
            assert e.value.exception_class == "ccp_exceptions.UserError"
            assert e.value.msg == key
        assert (count(server.db, "chrCharacters"), count(server.db, "invItems")) == before


def test_valid_names(server):
    with login(server, "namer2") as c:
        for name in ("Abc", "Jo'hn Doe", "Mary-Jane O.Neil", "A" * 24, "A" * 24 + " " + "B" * 12,
                     "R2D2 Unit"):
            assert c.call("charUnboundMgr", "ValidateNameEx", name) == 1, name
        assert c.call("charUnboundMgr", "ValidateNameEx", name.encode()) == 1


@pytest.mark.parametrize("over, key", [
    ({"bloodlineID": 99}, "CharCreationInvalidBloodline"),
    ({"ancestryID": 1}, "CharCreationInvalidAncestry"),          # Amarr ancestry, Deteis
    ({"schoolID": 11}, "CharCreationInvalidSchool"),             # Amarr school, Caldari
    ({"genderID": 2}, "CharCreationInvalidGender"),
    ({"schoolID": None}, "CharCreationInvalidArgument"),
    ({"bloodlineID": b"1"}, "CharCreationInvalidArgument"),
])
def test_invalid_choices_create_nothing(server, over, key):
    with login(server, "chooser") as c:
        before = (count(server.db, "chrCharacters"), count(server.db, "invItems"),
                  count(server.db, "jnlCharacters"))
        with pytest.raises(RemoteError) as e:
            create(c, "Good Name", 1, **over)
        assert e.value.msg == key
        assert (count(server.db, "chrCharacters"), count(server.db, "invItems"),
                count(server.db, "jnlCharacters")) == before
        assert c.call("charUnboundMgr", "GetCharactersToSelect").list == []


def test_creation_is_one_transaction(server, monkeypatch):
    """A failure half-way (here: the journal insert) leaves nothing behind."""
    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(chars, "add_journal", boom)
    with login(server, "atomic") as c:
        with pytest.raises(RemoteError) as e:
            create(c, "Half Made")
        assert e.value.msg == "CustomError"
    for table in ("chrCharacters", "invItems", "invItemAttributes", "chrCharacterInfo",
                  "jnlCharacters"):
        assert count(server.db, table) == 0, table
    monkeypatch.undo()
    with login(server, "atomic") as c:
        assert create(c, "Half Made") >= 90000000


def test_char_creation_info_hints(server):
    with login(server, "creator") as c:
        info = c.call("charUnboundMgr", "GetCharCreationInfo")
        assert {b"bloodlines", b"races", b"ancestries", b"schools", b"attributes", b"hairs",
                b"eyes"} <= set(info)
        hint = info[b"bloodlines"]
        assert hint.name == "util.CachedObject"
        oid, node, (stamp, version), _ = hint.state
        assert oid == b"charCreationInfo.bloodlines" and node == C.CACHE_NODE_ID
        obj = c.call("objectCaching", "GetCachableObject", 0, oid, (stamp, version), node)
        assert obj.state[0] == (stamp, version)
        extra = c.call("charUnboundMgr", "GetCharNewExtraCreationInfo")
        assert set(extra) == {b"raceskills", b"careerskills", b"careers", b"specialityskills",
                              b"specialities"}


def test_select_character_session_change_then_motd(server):
    with login(server, "selector") as c:
        cid = create(c, "Select Me", 8)
        info = c.call("charUnboundMgr", "GetCharacterToSelect", cid)
        assert isinstance(info, ObjectEx2) and info.header[0] == (Token("dbutil.CRowset"),)
        desc = info.header[1][b"header"]
        assert len(desc.names) == 30 and desc.columns[0] == (b"unreadMailCount", DBTYPE_I8)
        cols = dict(zip(desc.names, [t for _, t in desc.columns]))
        assert cols["characterID"] == DBTYPE_UI4 and cols["shipName"] == DBTYPE_WSTR
        assert cols["securityRating"] == DBTYPE_R4
        row = info.list[0]
        assert (row.characterID, row.shipTypeID, row.balance) == (cid, 606, 5000.0)
        assert row.shipName == "Select Me's Ship" and row.stationID == 60014689

        n = len(c.notifications)
        assert c.call("charUnboundMgr", "SelectCharacterID", cid) is None
        got = c.notifications[n:]
        assert got[0].type == C.SESSION_CHANGE_NOTIFICATION    # first, then chat's joins
        assert all(p.type == C.NOTIFICATION and p.destination.id == "OnLSC" and
                   p.body[0][1].value[1][1][2] == b"JoinChannel" for p in got[1:])
        _sid, (_flag, changes), _nodes = got[0].body
        row = server.db.run(chars.character_row, cid)
        want = {b"charid": cid, b"corpid": 1000168, b"stationid": 60014689,
                b"stationid2": 60014689, b"locationid": 60014689, b"worldspaceid": 60014689,
                b"solarsystemid2": 30004971, b"constellationid": 20000727,
                b"regionid": 10000064, b"shipid": row["shipID"], b"raceID": 8,
                b"bloodlineID": 7, b"genderID": 1, b"hqID": 60014689, b"baseID": 60014689}
        for k, v in want.items():
            assert changes[k] == (None, v), k
        assert b"solarsystemid" not in changes          # None in station, as EVEmu
        # the MOTD waits for the client's own JoinChannels of local (the client drops an
        # OnLSC for a channel it has not joined yet; see docs/chat.md)
        n = len(c.notifications)
        c.call("LSC", "JoinChannels", [((b"solarsystemid2", 30004971),)], C.ROLE_STD)
        c.ping()
        got = [p for p in c.notifications[n:] if p.type == C.NOTIFICATION]
        motd = got[-1]
        assert motd.destination.kind == C.ADDRESS_BROADCAST
        (flag, ss), = motd.body
        event = ss.value[1][1]
        channel, members, verb, sender, (text,) = event
        assert channel == ((b"solarsystemid2", 30004971),) and verb == b"SendMessage"
        assert sender[2] == [1, "EVE System", 1] and "Welcome" in text
        assert c.session["charid"] == cid and c.session["shipid"] == row["shipID"]
        with pytest.raises(RemoteError) as e:
            c.call("charUnboundMgr", "SelectCharacterID", cid)
        assert e.value.msg == "CharacterAlreadySelected"


def test_other_accounts_characters_are_refused(server):
    with login(server, "owner") as a:
        cid = create(a, "Mine Only")
    with login(server, "thief") as b:
        for method, args in (("GetCharacterToSelect", (cid,)), ("SelectCharacterID", (cid,)),
                             ("PrepareCharacterForDelete", (cid,)),
                             ("CancelCharacterDeletePrepare", (cid,)),
                             ("DeleteCharacter", (cid,)),
                             ("GetCharacterToSelect", (424242,))):
            with pytest.raises(RemoteError) as e:
                b.call("charUnboundMgr", method, *args)
            assert e.value.msg == "CharacterNotFound", method
        assert b.call("charUnboundMgr", "GetCharactersToSelect").list == []
        assert "charid" not in b.session
    assert server.db.run(chars.character_row, cid) is not None


def test_delete_needs_prepare_and_its_delay(server):
    svc = server.services.lookup("charUnboundMgr")
    with login(server, "deleter") as c:
        cid = create(c, "Short Lived")
        with pytest.raises(RemoteError) as e:
            c.call("charUnboundMgr", "DeleteCharacter", cid)
        assert e.value.msg == "CharacterDeletePrepareFirst"
        when = c.call("charUnboundMgr", "PrepareCharacterForDelete", cid)
        assert when > 130000000000000000
        listed = c.call("charUnboundMgr", "GetCharactersToSelect").list
        assert listed[0].deletePrepareDateTime == when
        with pytest.raises(RemoteError) as e:
            c.call("charUnboundMgr", "DeleteCharacter", cid)
        assert e.value.msg == "CharacterDeleteTooSoon"
        assert c.call("charUnboundMgr", "CancelCharacterDeletePrepare", cid) is None
        assert c.call("charUnboundMgr", "GetCharactersToSelect").list[0] \
            .deletePrepareDateTime == 0
        svc.termination_delay = 0
        c.call("charUnboundMgr", "PrepareCharacterForDelete", cid)
        assert c.call("charUnboundMgr", "DeleteCharacter", cid) is None
        assert c.call("charUnboundMgr", "GetCharactersToSelect").list == []
    for table in ("chrCharacters", "invItems", "invItemAttributes", "chrCharacterInfo",
                  "jnlCharacters"):
        assert count(server.db, table) == 0, table


def test_characters_survive_a_restart(tmp_path):
    path = tmp_path / "persist.sqlite3"
    with bounded(60), running_server(db=Database(path)) as server:
        with login(server, "persist") as c:
            cid = create(c, "Still Here", 2)
        server.db.close()
    with bounded(60), running_server(db=Database(path)) as server:
        with login(server, "persist") as c:
            rows = c.call("charUnboundMgr", "GetCharactersToSelect").list
            assert [r.characterID for r in rows] == [cid]
            c.call("charUnboundMgr", "SelectCharacterID", cid)
            assert c.session["solarsystemid2"] == RACES[2][7]
            cid2 = create(c, "Next One", 4)
            assert cid2 == cid + 1
        server.db.close()


def test_hostile_arguments(server):
    with login(server, "hostile") as c:
        for name in (None, 12, [b"x"], b"\xff\xfe"):
            with pytest.raises(RemoteError) as e:
                c.call("charUnboundMgr", "ValidateNameEx", name)
            assert e.value.msg in ("CharNameInvalid", "CharNameInvalidSomeChar")
        assert c.call("charUnboundMgr", "ValidateNameEx", "x" * 100000) == -2
        with pytest.raises(RemoteError) as e:
            c.call("charUnboundMgr", "CreateCharacterWithDoll", "Good Name", 1, 1, 10,
                   b"not a keyval", KEYVAL, 17)
        assert e.value.msg == "CharCreationInvalidArgument"
        with pytest.raises(RemoteError) as e:
            c.call("charUnboundMgr", "SelectCharacterID", "90000000")
        assert e.value.msg == "CharCreationInvalidArgument"
        assert count(server.db, "chrCharacters") == 0


def test_name_taken_by_a_concurrent_creation_is_a_user_error(server, monkeypatch):
    """The UNIQUE constraint catches a name created between the check and the insert."""
    with login(server, "racer") as c:
        create(c, "Same Name")
    real = chars.name_taken
    calls = []

    def stale(conn, name):           # the in-transaction check misses the other creation
        calls.append(name)
        return False if len(calls) == 1 else real(conn, name)
    monkeypatch.setattr(chars, "name_taken", stale)
    monkeypatch.setattr(chars, "name_code", lambda name: chars.NAME_OK)
    with login(server, "racer2") as c:
        with pytest.raises(RemoteError) as e:
            create(c, "same name")
        assert e.value.msg == "CharNameInvalidTaken"
    assert count(server.db, "chrCharacters") == 1
