"""Write evemu/world/data/*.json, the starter universe shipped with the server.

Run by a developer, not by the server:

    python -m evemu import-data ~/evemu_Crucible --db /tmp/full.db
    python tools/make_starter_data.py /tmp/full.db ~/evemu_Crucible/sql/base/crpCorporation.sql.gz

It takes *facts* from a database the importer filled from evemu_Crucible's dumps (IDs, names,
positions, attribute numbers of the few entities the starting area needs, the MySQL column
types), drops CCP's prose (descriptions are written empty) and adds what the dumps lack
(stargates: mapDenormalize is not in the public snapshot, so our gates get our own IDs from
61000000+... see GATE_BASE, and positions we compute).  Tables the login caches need but the
starting area does not are written with their columns and no rows.
"""
import json
import math
import os
import sqlite3
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "evemu", "world", "data")

PLAYER_RACES = (1, 2, 4, 8)
ROOKIE = {1: (601, 3638), 2: (588, 3636), 4: (596, 3634), 8: (606, 3640)}
EXTRA_TYPES = (
    1, 2, 3, 4, 5, 16159, 30,          # owner/map types: system, corporation, region...
    670, 164, 3651,                    # capsule, clone grade alpha, civilian miner
    34, 35, 36, 37, 38, 39, 40, 11399,  # minerals
    185, 215, 222, 246,                # charges
    10039, 21853, 21857, 30839,        # civilian modules
)
GATE_TYPE = {1: 29627, 2: 29633, 4: 29624, 8: 3875}   # "Stargate (<race> System)"
GATE_BASE = 61900000        # our own stargate ids (the real ones need mapDenormalize)
BLANK = {"description", "maleDescription", "femaleDescription", "shortDescription",
         "shortMaleDescription", "shortFemaleDescription", "notes"}

# tables the login caches read; written with no rows unless selected below
SCHEMA_ONLY = (
    "specialities", "specialitySkills", "icons", "ownerIcons", "invTypeMaterials", "sounds",
    "schematicsTypeMap", "schematics", "chrDefaultOverviewGroups", "schematicsPinMap",
    "chrDefaultOverviews", "locationScenes", "chrBloodlineNames", "paperdollResources",
    "paperdollColors", "paperdollModifierLocations", "paperdollSculptingLocations",
    "paperdollColorNames", "paperdollColorRestrictions", "billTypes", "alnAlliance",
    "invTypeReactions", "dgmTypeEffects", "dgmEffects", "dgmExpressions", "invMetaGroups",
    "ramActivities", "ramAssemblyLineTypeDetailPerGroup", "ramAssemblyLineTypes",
    "ramAssemblyLineTypeDetailPerCategory", "ramCompletedStatuses", "ramTypeRequirements",
    "mapCelestialDescriptions", "crtCertificates", "crtRelationships",
    "mapLocationWormholeClasses", "invBlueprintTypes", "graphics", "invMetaTypes",
    "invContrabandTypes", "agtAgents", "chrBLAccessories", "chrBLLights", "chrBLSkins",
    "chrBLBeards", "chrBLEyes", "chrBLLipsticks", "chrBLMakeups", "chrBLHairs",
    "chrBLBackgrounds", "chrBLDecos", "chrBLEyebrows", "chrBLCostumes", "chrAccessories",
    "chrLights", "chrSkins", "chrBeards", "chrEyes", "chrLipsticks", "chrMakeups", "chrHairs",
    "chrBackgrounds", "chrDecos", "chrEyebrows", "chrCostumes", "cacheOwners", "cacheLocations",
)


def main(db_path, corp_dump):
    sys.path.insert(0, os.path.join(HERE, ".."))
    from evemu.db import importer
    c = sqlite3.connect(db_path)
    text, _ = importer.read_dump_text(corp_dump)
    corp = importer.parse_dump(text, "crpCorporation").tables["crpCorporation"]
    corp_rows = importer.parse_dump(text, "crpCorporation").rows["crpCorporation"]
    corp_types = dict(zip(corp.columns, corp.mysql))
    ci = {k: i for i, k in enumerate(corp.columns)}
    corp_by_id = {r[ci["corporationID"]]: r for r in corp_rows}

    def cols(table):
        return c.execute('SELECT "columnName", "mysqlType" FROM "staticColumns" WHERE '
                         '"tableName"=? ORDER BY "position"', (table,)).fetchall()

    def select(table, where="1=1", args=()):
        names = [n for n, _ in cols(table)]
        q = ", ".join(f'"{n}"' for n in names)
        rows = c.execute(f'SELECT {q} FROM "{table}" WHERE {where}', args).fetchall()
        return [[("" if (names[i] in BLANK and v) else v) for i, v in enumerate(r)]
                for r in rows]

    def keys(table):
        return [r[0] for r in c.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 "
                                        "ORDER BY pk", (table,))]

    out = {}

    def put(table, rows, columns=None, primary=None):
        out[table] = {"table": table,
                      "columns": [list(x) for x in (columns or cols(table))],
                      "primaryKey": primary if primary is not None else keys(table),
                      "rows": rows}

    def inlist(ids):
        ids = sorted(set(int(i) for i in ids if i is not None))
        return "(" + ",".join(map(str, ids)) + ")" if ids else "(NULL)"

    schools = select("chrSchools", f"raceID IN {inlist(PLAYER_RACES)}")
    school_corps = [r[6] for r in schools]
    hq = {cid: corp_by_id[cid][ci["stationID"]] for cid in school_corps}
    stations = select("staStations", f"stationID IN {inlist(hq.values())}")
    st_cols = [n for n, _ in cols("staStations")]
    S = {n: i for i, n in enumerate(st_cols)}
    start_systems = {r[S["solarSystemID"]] for r in stations}
    constellations = {r[S["constellationID"]] for r in stations}
    systems = select("mapSolarSystems", f"constellationID IN {inlist(constellations)}")
    sys_cols = [n for n, _ in cols("mapSolarSystems")]
    Y = {n: i for i, n in enumerate(sys_cols)}
    system_ids = {r[Y["solarSystemID"]] for r in systems}
    regions = {r[Y["regionID"]] for r in systems}
    jumps = select("mapSolarSystemJumps", f"fromSolarSystemID IN {inlist(system_ids)} AND "
                                          f"toSolarSystemID IN {inlist(system_ids)}")
    print(f"{len(start_systems)} starting systems, {len(system_ids)} systems, "
          f"{len(constellations)} constellations, {len(regions)} regions, "
          f"{len(jumps)} jumps", file=sys.stderr)

    put("chrRaces", select("chrRaces"))
    put("chrBloodlines", select("chrBloodlines"))
    put("bloodlineTypes", select("bloodlineTypes"))
    put("chrAncestries", select("chrAncestries"))
    put("chrSchools", schools)
    put("careers", select("careers"))
    put("sklCareerSkills", select("sklCareerSkills"))
    put("chrAttributes", select("chrAttributes"))
    put("sklBaseSkills", select("sklBaseSkills"))
    put("sklRaceSkills", select("sklRaceSkills"))
    put("eveUnits", select("eveUnits"))
    put("invFlags", select("invFlags"))
    put("invCategories", select("invCategories"))

    # types
    type_ids = set(EXTRA_TYPES)
    for ship, gun in ROOKIE.values():
        type_ids |= {ship, gun}
    type_ids |= {r[0] for r in c.execute("SELECT typeID FROM bloodlineTypes")}
    type_ids |= {r[0] for r in c.execute("SELECT skillTypeID FROM sklBaseSkills")}
    type_ids |= {r[0] for r in c.execute("SELECT skillTypeID FROM sklRaceSkills")}
    type_ids |= {r[0] for r in c.execute("SELECT skillTypeID FROM sklCareerSkills")}
    type_ids |= set(GATE_TYPE.values())
    type_ids |= {r[S["stationTypeID"]] for r in stations}
    type_ids |= {r[Y["sunTypeID"]] for r in systems}
    types = select("invTypes", f"typeID IN {inlist(type_ids)}")
    put("invTypes", types)
    groups = {r[1] for r in types} | {1, 2, 3, 4, 5, 6, 10, 15, 19, 32}
    put("invGroups", select("invGroups", f"groupID IN {inlist(groups)}"))
    ta = select("dgmTypeAttributes", f"typeID IN {inlist(type_ids)}")
    put("dgmTypeAttributes", ta)
    attr_ids = {r[1] for r in ta} | {164, 165, 166, 167, 168, 180, 181, 182, 183, 184, 185,
                                     186, 187, 188}
    put("dgmAttributeTypes", select("dgmAttributeTypes", f"attributeID IN {inlist(attr_ids)}"))
    put("shipTypes", select("shipTypes", f"shipTypeID IN {inlist(s for s, _ in ROOKIE.values())}"))

    # owners
    npc = set(school_corps) | {1000132} | {r[0] for r in c.execute(
        "SELECT corporationID FROM chrBloodlines")} | {r[S["corporationID"]] for r in stations}
    npc_rows = select("crpNPCCorporations", f"corporationID IN {inlist(npc)}")
    put("crpNPCCorporations", npc_rows)
    factions = {r[[n for n, _ in cols("crpNPCCorporations")].index("factionID")]
                for r in npc_rows}
    put("facFactions", select("facFactions", f"factionID IN {inlist(factions)}"))
    keep = ("corporationID", "corporationName", "tickerName", "stationID", "raceID",
            "shape1", "shape2", "shape3", "color1", "color2", "color3", "memberCount",
            "ceoID", "creatorID", "allianceID", "warFactionID", "taxRate", "deleted")
    put("crpCorporation", [[corp_by_id[cid][ci[k]] for k in keep] for cid in sorted(npc)
                           if cid in corp_by_id],
        columns=[(k, corp_types[k]) for k in keep], primary=["corporationID"])
    owners = select("eveStaticOwners", f"ownerID IN {inlist(npc | factions | {1})}")
    put("eveStaticOwners", owners)

    # map
    put("mapRegions", select("mapRegions", f"regionID IN {inlist(regions)}"))
    put("mapConstellations", select("mapConstellations",
                                    f"constellationID IN {inlist(constellations)}"))
    put("mapSolarSystems", systems)
    put("mapSolarSystemJumps", jumps)
    put("staStations", stations)
    put("staStationTypes", select("staStationTypes", f"stationTypeID IN "
                                  f"{inlist(r[S['stationTypeID']] for r in stations)}"))
    loc_ids = regions | constellations | system_ids | set(hq.values())
    put("eveStaticLocations", select("eveStaticLocations", f"locationID IN {inlist(loc_ids)}"))

    # our stargates: one per jump end, 15 AU from the sun towards the neighbour
    sysrow = {r[Y["solarSystemID"]]: r for r in systems}
    race_of_faction = {500001: 1, 500002: 2, 500003: 4, 500004: 8}
    gate_id = {}
    n = GATE_BASE
    for a, b in sorted({(r[2], r[3]) for r in jumps}):
        n += 1
        gate_id[(a, b)] = n
    den_cols = [("itemID", "int(11)"), ("typeID", "int(11)"), ("groupID", "int(11)"),
                ("solarSystemID", "int(11)"), ("constellationID", "int(11)"),
                ("regionID", "int(11)"), ("orbitID", "int(11)"), ("x", "double"),
                ("y", "double"), ("z", "double"), ("radius", "double"),
                ("itemName", "varchar(100)"), ("security", "double"),
                ("celestialIndex", "tinyint(4)"), ("orbitIndex", "tinyint(4)")]
    den = []
    reg_rows = c.execute(f"SELECT regionID, regionName, x, y, z FROM mapRegions "
                         f"WHERE regionID IN {inlist(regions)}").fetchall()
    for rid, name, x, y, z in reg_rows:
        den.append([rid, 3, 3, None, None, None, None, x, y, z, None, name, None, None, None])
    for cid, rid, name, x, y, z in c.execute(
            f"SELECT constellationID, regionID, constellationName, x, y, z FROM "
            f"mapConstellations WHERE constellationID IN {inlist(constellations)}"):
        den.append([cid, 4, 4, None, None, rid, None, x, y, z, None, name, None, None, None])
    for sid, r in sorted(sysrow.items()):
        den.append([sid, 5, 5, None, r[Y["constellationID"]], r[Y["regionID"]], None,
                    r[Y["x"]], r[Y["y"]], r[Y["z"]], r[Y["radius"]], r[Y["solarSystemName"]],
                    r[Y["security"]], None, None])
    for r in stations:
        den.append([r[S["stationID"]], r[S["stationTypeID"]], 15, r[S["solarSystemID"]],
                    r[S["constellationID"]], r[S["regionID"]], None, r[S["x"]], r[S["y"]],
                    r[S["z"]], None, r[S["stationName"]], r[S["security"]], None, None])
    mapjumps = []
    au = 149597870700.0
    for (a, b), gid in sorted(gate_id.items()):
        ra, rb = sysrow[a], sysrow[b]
        dx, dy, dz = (rb[Y["x"]] - ra[Y["x"]], rb[Y["y"]] - ra[Y["y"]],
                      rb[Y["z"]] - ra[Y["z"]])
        d = math.sqrt(dx * dx + dy * dy + dz * dz) or 1.0
        gx, gy, gz = (round(15 * au * dx / d), round(15 * au * dy / d * 0.1),
                      round(15 * au * dz / d))
        race = race_of_faction.get(ra[Y["factionID"]], 1)
        den.append([gid, GATE_TYPE[race], 10, a, ra[Y["constellationID"]], ra[Y["regionID"]],
                    None, float(gx), float(gy), float(gz), 15000.0,
                    f"Stargate ({rb[Y['solarSystemName']]})", ra[Y["security"]], None, None])
        mapjumps.append([gid, gate_id[(b, a)]])
    put("mapDenormalize", den, columns=den_cols, primary=["itemID"])
    # mapConnections: ctype 0 between regions, 1 between constellations, 2 inside one
    conns = []
    for (a, b), gid in sorted(gate_id.items()):
        ra, rb = sysrow[a], sysrow[b]
        ctype = (0 if ra[Y["regionID"]] != rb[Y["regionID"]] else
                 1 if ra[Y["constellationID"]] != rb[Y["constellationID"]] else 2)
        conns.append([len(conns) + 1, ctype, ra[Y["regionID"]], ra[Y["constellationID"]], a,
                      gid, gate_id[(b, a)], b, rb[Y["constellationID"]], rb[Y["regionID"]]])
    put("mapConnections", conns, columns=cols("mapConnections"), primary=["ai"])
    put("mapJumps", mapjumps, columns=[("stargateID", "int(11)"), ("celestialID", "int(11)")],
        primary=["stargateID"])

    for t in SCHEMA_ONLY:
        if t not in out and cols(t):
            put(t, [])
    os.makedirs(OUT, exist_ok=True)
    for t, doc in sorted(out.items()):
        with open(os.path.join(OUT, t + ".json"), "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
    print(f"wrote {len(out)} tables, {sum(len(d['rows']) for d in out.values())} rows",
          file=sys.stderr)


if __name__ == "__main__":
    main(*sys.argv[1:3])
