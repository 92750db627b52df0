"""The shipped starter universe (evemu/world/data) is complete and consistent: every reference
the server follows (school -> corporation -> HQ station -> system -> constellation -> region,
bloodline -> character type and rookie ship, gates paired both ways...) resolves."""
import json
import os

import pytest

from evemu.db import Database
from evemu.db import static


@pytest.fixture(scope="module")
def conn():
    db = Database(":memory:")
    yield db
    db.close()


def q(db, sql):
    return db.execute(sql)          # on the database thread; all rows


def test_files_are_well_formed():
    docs = static.shipped_tables()
    assert len(docs) >= 90
    for name, doc in docs.items():
        assert os.path.exists(os.path.join(static.DATA_DIR, name + ".json"))
        width = len(doc["columns"])
        assert all(len(r) == width for r in doc["rows"]), name
        assert set(doc["primaryKey"]) <= {c for c, _ in doc["columns"]}, name
        keys = [tuple(r[[c for c, _ in doc["columns"]].index(k)] for k in doc["primaryKey"])
                for r in doc["rows"]]
        assert len(keys) == len(set(keys)), f"duplicate primary key in {name}"


def test_no_ccp_prose_is_shipped():
    for name, doc in static.shipped_tables().items():
        cols = [c for c, _ in doc["columns"]]
        for col in ("description", "maleDescription", "femaleDescription",
                    "shortDescription"):
            if col in cols:
                i = cols.index(col)
                assert all(not r[i] for r in doc["rows"]), (name, col)


def test_every_school_leads_to_a_docked_start(conn):
    rows = q(conn, 'SELECT s."schoolID", s."raceID", st."stationID", ss."solarSystemID", '
                   'c."constellationID", r."regionID" FROM "chrSchools" s '
                   'JOIN "crpCorporation" co ON co."corporationID" = s."corporationID" '
                   'JOIN "staStations" st ON st."stationID" = co."stationID" '
                   'JOIN "mapSolarSystems" ss ON ss."solarSystemID" = st."solarSystemID" '
                   'JOIN "mapConstellations" c ON c."constellationID" = ss."constellationID" '
                   'JOIN "mapRegions" r ON r."regionID" = c."regionID"')
    assert len(rows) == 12
    assert sorted({r[1] for r in rows}) == [1, 2, 4, 8]
    assert all(q(conn, f'SELECT 1 FROM "careers" WHERE "schoolID" = {r[0]}') for r in rows)


def test_bloodlines_have_types_ships_and_ancestries(conn):
    for bl, race, ship in q(conn, 'SELECT "bloodlineID", "raceID", "shipTypeID" FROM '
                                  '"chrBloodlines" WHERE "raceID" IN (1, 2, 4, 8)'):
        (char_type,), = q(conn, f'SELECT "typeID" FROM "bloodlineTypes" WHERE '
                                f'"bloodlineID" = {bl}')
        assert q(conn, f'SELECT 1 FROM "invTypes" WHERE "typeID" = {char_type}')
        assert q(conn, f'SELECT 1 FROM "invTypes" WHERE "typeID" = {ship}')
        weapon, miner = q(conn, f'SELECT "weaponTypeID", "miningTypeID" FROM "shipTypes" '
                                f'WHERE "shipTypeID" = {ship}')[0]
        assert q(conn, f'SELECT 1 FROM "invTypes" WHERE "typeID" IN ({weapon}, {miner})')
        assert len(q(conn, f'SELECT 1 FROM "chrAncestries" WHERE "bloodlineID" = {bl}')) == 3


def test_types_groups_categories_and_skills(conn):
    assert not q(conn, 'SELECT t."typeID" FROM "invTypes" t LEFT JOIN "invGroups" g ON '
                       'g."groupID" = t."groupID" WHERE g."groupID" IS NULL')
    assert not q(conn, 'SELECT g."groupID" FROM "invGroups" g LEFT JOIN "invCategories" c ON '
                       'c."categoryID" = g."categoryID" WHERE c."categoryID" IS NULL')
    for (skill,) in q(conn, 'SELECT "skillTypeID" FROM "sklBaseSkills" UNION '
                            'SELECT "skillTypeID" FROM "sklRaceSkills"'):
        assert q(conn, f'SELECT 1 FROM "dgmTypeAttributes" WHERE "typeID" = {skill} AND '
                       f'"attributeID" = 275'), skill          # its rank
    names = {r[0] for r in q(conn, 'SELECT "typeName" FROM "invTypes"')}
    assert {"Capsule", "Impairor", "Ibis", "Velator", "Reaper", "Tritanium", "Megacyte",
            "Civilian Miner", "Clone Grade Alpha"} <= names


def test_map_is_connected_and_gates_are_paired(conn):
    systems = {r[0] for r in q(conn, 'SELECT "solarSystemID" FROM "mapSolarSystems"')}
    jumps = q(conn, 'SELECT "fromSolarSystemID", "toSolarSystemID" FROM '
                    '"mapSolarSystemJumps"')
    assert {a for a, _ in jumps} <= systems and {b for _, b in jumps} <= systems
    assert {(b, a) for a, b in jumps} == set(jumps)
    gates = dict(q(conn, 'SELECT "itemID", "solarSystemID" FROM "mapDenormalize" '
                         'WHERE "groupID" = 10'))
    pairs = dict(q(conn, 'SELECT "stargateID", "celestialID" FROM "mapJumps"'))
    assert set(pairs) == set(gates) and len(gates) == len(jumps)
    for gate, far in pairs.items():
        assert pairs[far] == gate
        assert (gates[gate], gates[far]) in set(jumps)
    for system in systems:                           # every system is in mapDenormalize
        assert q(conn, f'SELECT 1 FROM "mapDenormalize" WHERE "itemID" = {system}')


def test_changed_files_are_reloaded_at_start_up(tmp_path, monkeypatch):
    path = tmp_path / "v.sqlite3"
    db = Database(path)
    (unit_id, name), = db.execute('SELECT "unitID", "unitName" FROM "eveUnits" '
                                  'ORDER BY "unitID" LIMIT 1')
    db.close()
    v1 = static.data_version()
    copy = tmp_path / "data"
    copy.mkdir()
    for f in os.listdir(static.DATA_DIR):
        with open(os.path.join(static.DATA_DIR, f), "rb") as src:
            (copy / f).write_bytes(src.read())
    monkeypatch.setattr(static, "DATA_DIR", str(copy))
    assert static.data_version() == v1
    doc = json.loads((copy / "eveUnits.json").read_text())
    assert doc["rows"][0][:2] == [unit_id, name]
    doc["rows"][0][1] = "Furlong"
    (copy / "eveUnits.json").write_text(json.dumps(doc))
    assert static.data_version() != v1
    db = Database(path)
    assert db.execute('SELECT "unitName" FROM "eveUnits" WHERE "unitID" = ?',
                      (unit_id,)) == [("Furlong",)]
    db.close()
