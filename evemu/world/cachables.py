"""The cached objects the client fetches with ``objectCaching.GetCachableObject`` at login and
in character creation, built from the static tables (EVEmu: ObjCacheDB.cpp's generators).

Each object is a query over CCP's tables and a container kind: ``crowset`` (``dbutil.CRowset``)
or ``list`` (a plain list of PackedRows, EVEmu's DBResultToPackedRowList); the services layer
(``objectCaching``) makes the container.  Column types follow
from the MySQL types recorded for the tables (``staticColumns``), as EVEmu's MariaDB layer
derives them; computed columns say their MySQL type (an integer literal is BIGINT -> I8).

Column mini-language (one string per output column, in order)::

    "typeID"                     the main table's column
    "graphicID=iconID"           renamed column (``b.activityID`` for a joined table ``b``)
    "dataID:bigint=0"            a computed column: its MySQL type, then its SQL expression
"""
import logging
import re

from evemu.db.static import column_types
from evemu.wire.marshal import (DBTYPE_BOOL, DBTYPE_BYTES, DBTYPE_FILETIME, DBTYPE_I1,
                                DBTYPE_I2, DBTYPE_I4, DBTYPE_I8, DBTYPE_R4, DBTYPE_R8,
                                DBTYPE_STR, DBTYPE_UI1, DBTYPE_UI2, DBTYPE_UI4, DBTYPE_UI8,
                                DBTYPE_WSTR)

log = logging.getLogger("evemu.world.cachables")

__all__ = ["LOGIN_CACHABLES", "CHAR_CREATION_CACHABLES", "APPEARANCE_CACHABLES",
           "CHAR_NEW_EXTRA_CACHABLES", "SPECS", "build", "dbtype_of", "hint_keys"]

_SIGNED = {"tinyint": DBTYPE_I1, "smallint": DBTYPE_I2, "mediumint": DBTYPE_I4,
           "int": DBTYPE_I4, "integer": DBTYPE_I4, "bigint": DBTYPE_I8}
_UNSIGNED = {"tinyint": DBTYPE_UI1, "smallint": DBTYPE_UI2, "mediumint": DBTYPE_UI4,
             "int": DBTYPE_UI4, "integer": DBTYPE_UI4, "bigint": DBTYPE_UI8}
_INTS = frozenset(_SIGNED.values()) | frozenset(_UNSIGNED.values()) | {DBTYPE_FILETIME}


def dbtype_of(mysql_type):
    """The DBTYPE EVEmu's MariaDB layer gives a column of this MySQL type (dbcore.cpp:
    TEXT/VARCHAR -> WSTR, CHAR -> STR, FLOAT -> R4, DOUBLE/DECIMAL -> R8, BIT -> BOOL,
    TIMESTAMP -> FILETIME, BLOB/BINARY -> BYTES, integers by size and sign)."""
    t = mysql_type.lower().strip()
    base = re.match(r"[a-z]+", t).group(0)
    if base in _SIGNED:
        return (_UNSIGNED if "unsigned" in t else _SIGNED)[base]
    if base == "float":
        return DBTYPE_R4
    if base in ("double", "real", "decimal", "numeric"):
        return DBTYPE_R8
    if base == "bit":
        return DBTYPE_BOOL
    if base == "timestamp":
        return DBTYPE_FILETIME
    if base == "char":
        return DBTYPE_STR
    if base in ("binary", "varbinary", "blob", "tinyblob", "mediumblob", "longblob"):
        return DBTYPE_BYTES
    return DBTYPE_WSTR


def _spec(kind, table, columns, joins=""):
    return {"kind": kind, "table": table, "columns": columns.split(), "joins": joins}


def _crs(table, columns, joins=""):
    return _spec("crowset", table, columns, joins)


def _lst(table, columns):
    return _spec("list", table, columns)


#: objectID -> spec (EVEmu ObjCacheDB generators: same tables, columns and containers).
SPECS = {
    "config.BulkData.paperdollResources": _crs(
        "paperdollResources", "paperdollResourceID resGender resPath restrictions"),
    "config.BulkData.ramactivities": _crs(
        "ramActivities", "activityID activityName iconNo description published"),
    "config.BulkData.billtypes": _crs("billTypes", "billTypeID billTypeName description"),
    "config.BulkData.bloodlineNames": _crs("chrBloodlineNames", "nameID bloodlineID lastName"),
    "config.BulkData.locationscenes": _crs("locationScenes", "locationID sceneID"),
    "config.BulkData.overviewDefaults": _crs(
        "chrDefaultOverviews", "dataID overviewID overviewName overviewShortName"),
    "config.BulkData.schematicspinmap": _crs("schematicsPinMap", "schematicID pinTypeID"),
    "config.Bloodlines": _lst(
        "chrBloodlines", "bloodlineID bloodlineName raceID description maleDescription "
        "femaleDescription shipTypeID corporationID shortDescription shortMaleDescription "
        "shortFemaleDescription iconID bloodlineNameID descriptionID dataID"),
    "config.BulkData.overviewDefaultGroups": _crs("chrDefaultOverviewGroups",
                                                  "overviewID groupID"),
    "config.BulkData.schematics": _crs("schematics", "schematicID schematicName cycleTime "
                                                     "dataID"),
    "config.BulkData.paperdollColors": _crs(
        "paperdollColors", "colorID colorKey hasSecondary hasWeight hasGloss"),
    "config.BulkData.schematicstypemap": _crs("schematicsTypeMap",
                                              "schematicID typeID quantity isInput"),
    "config.BulkData.sounds": _crs("sounds", "soundID soundFile description obsolete"),
    "config.BulkData.invtypematerials": _crs("invTypeMaterials",
                                             "typeID materialTypeID quantity"),
    "config.BulkData.ownericons": _crs("ownerIcons", "ownerID iconID"),
    "config.BulkData.paperdollModifierLocations": _crs(
        "paperdollModifierLocations", "modifierLocationID modifierKey variationKey"),
    "config.BulkData.paperdollSculptingLocations": _crs(
        "paperdollSculptingLocations", "sculptLocationID weightKeyCategory weightKeyPrefix"),
    "config.BulkData.paperdollColorNames": _crs("paperdollColorNames",
                                                "colorNameID colorName"),
    "config.BulkData.paperdollColorRestrictions": _crs(
        "paperdollColorRestrictions", "colorNameID gender restrictions"),
    "config.BulkData.icons": _crs("icons", "iconID iconFile description obsolete iconType"),
    "config.Units": _lst("eveUnits", "unitID unitName displayName"),
    "config.BulkData.tickernames": _crs(
        "crpCorporation", "corporationID tickerName shape1 shape2 shape3 color1 color2 "
        "color3"),
    "config.BulkData.ramtyperequirements": _crs(
        "ramTypeRequirements", "typeID activityID requiredTypeID quantity damagePerJob extra"),
    "config.BulkData.ramaltypesdetailpergroup": _crs(
        "ramAssemblyLineTypeDetailPerGroup",
        "assemblyLineTypeID activityID=b.activityID groupID timeMultiplier "
        "materialMultiplier",
        'LEFT JOIN "ramAssemblyLineTypes" b ON b."assemblyLineTypeID" = '
        't."assemblyLineTypeID"'),
    "config.BulkData.ramaltypes": _crs(
        "ramAssemblyLineTypes", "assemblyLineTypeID assemblyLineTypeName "
        "typeName=assemblyLineTypeName description activityID baseTimeMultiplier "
        "baseMaterialMultiplier volume"),
    "config.BulkData.allianceshortnames": _crs("alnAlliance", "allianceID shortName"),
    "config.BulkData.ramcompletedstatuses": _crs("ramCompletedStatuses",
                                                 "completedStatusID completedStatusName"),
    "config.BulkData.categories": _crs(
        "invCategories", "categoryID categoryName description published iconID "
        "categoryNameID dataID"),
    "config.BulkData.invtypereactions": _crs("invTypeReactions",
                                             "reactionTypeID input typeID quantity"),
    "config.BulkData.dgmtypeeffects": _crs("dgmTypeEffects", "typeID effectID isDefault"),
    "config.BulkData.metagroups": _crs(
        "invMetaGroups", "metaGroupID metaGroupName description iconID graphicID:bigint=0 "
        "dataID:bigint=0"),
    "config.BulkData.ramaltypesdetailpercategory": _crs(
        "ramAssemblyLineTypeDetailPerCategory",
        "assemblyLineTypeID activityID=b.activityID categoryID timeMultiplier "
        "materialMultiplier",
        'LEFT JOIN "ramAssemblyLineTypes" b ON b."assemblyLineTypeID" = '
        't."assemblyLineTypeID"'),
    "config.BulkData.owners": _crs("cacheOwners", "ownerID ownerName typeID"),
    "config.StaticOwners": _crs("eveStaticOwners", "ownerID ownerName typeID"),
    "config.Races": _lst(
        "chrRaces", "raceID raceName description graphicID=iconID shortDescription iconID "
        "dataID:bigint=0"),
    "config.Attributes": _lst(
        "chrAttributes", "attributeID attributeName description iconID shortDescription "
        "notes graphicID=iconID"),
    "config.BulkData.dgmtypeattribs": _crs(
        "dgmTypeAttributes",
        'typeID attributeID value:double=COALESCE(t."valueInt",t."valueFloat")'),
    "config.BulkData.locations": _crs("cacheLocations",
                                      "locationID locationName locationNameID x y z"),
    "config.BulkData.locationwormholeclasses": _crs("mapLocationWormholeClasses",
                                                    "locationID wormholeClassID"),
    "config.BulkData.groups": _crs(
        "invGroups", "groupID categoryID groupName description iconID graphicID:bigint=0 "
        "useBasePrice allowManufacture allowRecycler anchored anchorable "
        "fittableNonSingleton published:bigint=1 dataID:bigint=0"),
    "config.BulkData.shiptypes": _crs("shipTypes",
                                      "shipTypeID weaponTypeID miningTypeID skillTypeID"),
    "config.BulkData.dgmattribs": _crs(
        "dgmAttributeTypes", "attributeID attributeName attributeCategory description "
        "maxAttributeID attributeIdx chargeRechargeTimeID defaultValue published unitID "
        "displayName displayNameID stackable highIsGood iconID dataID"),
    "config.Flags": _lst(
        "invFlags", "flagID flagName flagLabel=flagName flagGroup=flagName "
        "description=flagName orderID"),
    "config.BulkData.bptypes": _crs(
        "invBlueprintTypes", "blueprintTypeID parentBlueprintTypeID productTypeID "
        "productionTime techLevel researchProductivityTime researchMaterialTime "
        "researchCopyTime researchTechTime productivityModifier materialModifier wasteFactor "
        "chanceOfRE maxProductionLimit"),
    "config.BulkData.graphics": _crs(
        "graphics", "graphicID graphicFile graphicName description obsolete graphicType "
        "collisionFile paperdollFile animationTemplate collidable explosionID directoryID "
        "graphicMinX graphicMinY graphicMinZ graphicMaxX graphicMaxY graphicMaxZ"),
    "config.BulkData.mapcelestialdescriptions": _crs("mapCelestialDescriptions",
                                                     "celestialID description"),
    "config.BulkData.certificates": _crs(
        "crtCertificates", "certificateID categoryID classID grade iconID corpID "
        "description dataID:bigint=0"),
    "config.StaticLocations": _crs("eveStaticLocations", "locationID locationName x y z"),
    "config.InvContrabandTypes": _crs(
        "invContrabandTypes", "factionID typeID standingLoss confiscateMinSec fineByValue "
        "attackMinSec"),
    "config.BulkData.certificaterelationships": _crs(
        "crtRelationships", "relationshipID parentID parentTypeID parentLevel childID "
        "childTypeID:int(11)=NULL"),     # EVEmu's query names a column its table lacks
    "config.BulkData.units": _crs("eveUnits", "unitID unitName displayName"),
    "config.BulkData.dgmeffects": _crs(
        "dgmEffects", "effectID effectName displayNameID descriptionID dataID effectCategory "
        "preExpression postExpression description guid isOffensive isAssistance "
        "durationAttributeID trackingSpeedAttributeID dischargeAttributeID rangeAttributeID "
        "falloffAttributeID disallowAutoRepeat published displayName isWarpSafe rangeChance "
        "electronicChance propulsionChance distribution sfxName npcUsageChanceAttributeID "
        "npcActivationChanceAttributeID fittingUsageChanceAttributeID iconID modifierInfo"),
    "config.BulkData.dgmexpressions": _crs(
        "dgmExpressions", "expressionID operandID arg1 arg2 expressionValue description "
        "expressionName expressionTypeID expressionGroupID expressionAttributeID"),
    "config.BulkData.types": _crs(
        "invTypes", "typeID groupID typeName description graphicID radius mass volume "
        "capacity portionSize raceID basePrice published marketGroupID chanceOfDuplicating "
        "soundID iconID dataID typeNameID descriptionID"),
    "config.BulkData.invmetatypes": _crs("invMetaTypes", "typeID parentTypeID metaGroupID"),
    # character creation
    "charCreationInfo.bloodlines": _crs(
        "chrBloodlines", "bloodlineID bloodlineName raceID description maleDescription "
        "femaleDescription shipTypeID corporationID shortDescription shortMaleDescription "
        "shortFemaleDescription iconID bloodlineNameID descriptionID dataID"),
    "charCreationInfo.races": _crs(
        "chrRaces", "raceID raceName description iconID graphicID=iconID shortDescription "
        "dataID:bigint=0"),
    "charCreationInfo.ancestries": _crs(
        "chrAncestries", "ancestryID ancestryName bloodlineID description iconID "
        "graphicID=iconID shortDescription ancestryNameID descriptionID dataID"),
    "charCreationInfo.schools": _crs(
        "chrSchools", "raceID schoolID schoolName description graphicID corporationID "
        "agentID newAgentID iconID schoolNameID descriptionID"),
    "charCreationInfo.attributes": _crs(
        "chrAttributes", "attributeID attributeName description iconID graphicID=iconID "
        "shortDescription notes"),
    "charNewExtraCreationInfo.raceskills": _crs("sklRaceSkills", "raceID skillTypeID level"),
    "charNewExtraCreationInfo.careerskills": _crs("sklCareerSkills",
                                                  "careerID skillTypeID level"),
    "charNewExtraCreationInfo.careers": _crs(
        "careers", "raceID careerID careerName description shortDescription graphicID "
        "schoolID iconID dataID"),
    "charNewExtraCreationInfo.specialityskills": _crs("specialitySkills",
                                                      "specialityID skillTypeID level"),
    "charNewExtraCreationInfo.specialities": _crs(
        "specialities", "careerID specialityID specialityName description shortDescription "
        "graphicID iconID dataID"),
}

for _short, _table, _cols in (
        ("accessories", "BLAccessories", "bloodlineID gender accessoryID"),
        ("lights", "BLLights", "lightID lightName"),
        ("skins", "BLSkins", "bloodlineID gender skinID"),
        ("beards", "BLBeards", "bloodlineID gender beardID"),
        ("eyes", "BLEyes", "bloodlineID gender eyesID"),
        ("lipsticks", "BLLipsticks", "bloodlineID gender lipstickID"),
        ("makeups", "BLMakeups", "bloodlineID gender makeupID"),
        ("hairs", "BLHairs", "bloodlineID gender hairID"),
        ("backgrounds", "BLBackgrounds", "backgroundID backgroundName"),
        ("decos", "BLDecos", "bloodlineID gender decoID"),
        ("eyebrows", "BLEyebrows", "bloodlineID gender eyebrowsID"),
        ("costumes", "BLCostumes", "bloodlineID gender costumeID")):
    SPECS["charCreationInfo.bl_" + _short] = _crs("chr" + _table, _cols)

for _short, _id in (("eyebrows", "eyebrows"), ("eyes", "eyes"), ("decos", "deco"),
                    ("hairs", "hair"), ("backgrounds", "background"),
                    ("accessories", "accessory"), ("lights", "light"), ("costumes", "costume"),
                    ("makeups", "makeup"), ("beards", "beard"), ("skins", "skin"),
                    ("lipsticks", "lipstick")):
    SPECS["charCreationInfo." + _short] = _crs("chr" + _short[0].upper() + _short[1:],
                                               f"{_id}ID {_id}Name")

#: EVEmu's ObjCacheService lists, in its order.
LOGIN_CACHABLES = (
    "config.BulkData.paperdollResources", "config.BulkData.ramactivities",
    "config.BulkData.billtypes", "config.BulkData.bloodlineNames",
    "config.BulkData.locationscenes", "config.BulkData.overviewDefaults",
    "config.BulkData.schematicspinmap", "config.Bloodlines",
    "config.BulkData.overviewDefaultGroups", "config.BulkData.schematics",
    "config.BulkData.paperdollColors", "config.BulkData.schematicstypemap",
    "config.BulkData.sounds", "config.BulkData.invtypematerials", "config.BulkData.ownericons",
    "config.BulkData.paperdollModifierLocations", "config.BulkData.paperdollSculptingLocations",
    "config.BulkData.paperdollColorNames", "config.BulkData.paperdollColorRestrictions",
    "config.BulkData.icons", "config.Units", "config.BulkData.tickernames",
    "config.BulkData.ramtyperequirements", "config.BulkData.ramaltypesdetailpergroup",
    "config.BulkData.ramaltypes", "config.BulkData.allianceshortnames",
    "config.BulkData.ramcompletedstatuses", "config.BulkData.categories",
    "config.BulkData.invtypereactions", "config.BulkData.dgmtypeeffects",
    "config.BulkData.metagroups", "config.BulkData.ramaltypesdetailpercategory",
    "config.BulkData.owners", "config.StaticOwners", "config.Races", "config.Attributes",
    "config.BulkData.dgmtypeattribs", "config.BulkData.locations",
    "config.BulkData.locationwormholeclasses", "config.BulkData.groups",
    "config.BulkData.shiptypes", "config.BulkData.dgmattribs", "config.Flags",
    "config.BulkData.bptypes", "config.BulkData.graphics",
    "config.BulkData.mapcelestialdescriptions", "config.BulkData.certificates",
    "config.StaticLocations", "config.InvContrabandTypes",
    "config.BulkData.certificaterelationships", "config.BulkData.units",
    "config.BulkData.dgmeffects", "config.BulkData.dgmexpressions", "config.BulkData.types",
    "config.BulkData.invmetatypes")
CHAR_CREATION_CACHABLES = tuple("charCreationInfo." + k for k in (
    "bl_eyebrows", "bl_eyes", "bl_decos", "bloodlines", "bl_hairs", "bl_backgrounds",
    "bl_accessories", "bl_costumes", "bl_lights", "races", "ancestries", "schools",
    "attributes", "bl_beards", "bl_skins", "bl_lipsticks", "bl_makeups"))
APPEARANCE_CACHABLES = tuple("charCreationInfo." + k for k in (
    "eyebrows", "eyes", "decos", "hairs", "backgrounds", "accessories", "lights", "costumes",
    "makeups", "beards", "skins", "lipsticks"))
CHAR_NEW_EXTRA_CACHABLES = tuple("charNewExtraCreationInfo." + k for k in (
    "raceskills", "careerskills", "careers", "specialityskills", "specialities"))


def hint_keys(object_id):
    """The dict key under which GetCharCreationInfo & co. return a hint (EVEmu's
    m_cacheKeys: 'bloodlines', 'hairs', 'raceskills'...)."""
    short = object_id.split(".", 1)[1]
    return short[3:] if short.startswith("bl_") else short


def _parse_column(col, table):
    """-> (outName, sqlExpr, (table, column) or mysqlType)"""
    if ":" in col.split("=")[0]:
        left, expr = col.split("=", 1)
        out, mysql = left.split(":", 1)
        return out, expr, mysql
    if "=" in col:
        out, src = col.split("=", 1)
    else:
        out = src = col
    alias, name = src.split(".", 1) if "." in src else ("t", src)
    return out, f'{alias}."{name}"', (alias, name)


class Unavailable(LookupError):
    """The object's table is not in the database."""


def build_rows(conn, spec):
    """``(columns [(name, DBTYPE)], rows [tuple])`` of a spec."""
    table = spec["table"]
    types = {"t": column_types(conn, table)}
    if not types["t"]:
        raise Unavailable(f"table {table} is not loaded")
    for m in re.finditer(r'JOIN "(\w+)" (\w+)', spec["joins"]):
        types[m.group(2)] = column_types(conn, m.group(1))
    columns, exprs = [], []
    for col in spec["columns"]:
        out, expr, src = _parse_column(col, table)
        if isinstance(src, tuple):
            mysql = types.get(src[0], {}).get(src[1])
            if mysql is None:
                raise Unavailable(f"column {src[1]} is not in table {table}")
        else:
            mysql = src
        columns.append((out, dbtype_of(mysql)))
        exprs.append(expr)
    cur = conn.cursor()
    order = "1, 2" if len(exprs) > 1 else "1"
    cur.execute(f'SELECT {", ".join(exprs)} FROM "{table}" t {spec["joins"]} ORDER BY {order}')
    convert = [_converter(t) for _, t in columns]
    rows = [tuple(None if v is None else f(v) for f, v in zip(convert, r))
            for r in cur.fetchall()]
    return columns, rows


def _converter(dbtype):
    if dbtype in _INTS:
        return lambda v: int(v) if not isinstance(v, str) else int(float(v))
    if dbtype in (DBTYPE_R4, DBTYPE_R8):
        return float
    if dbtype == DBTYPE_BOOL:
        return bool
    if dbtype == DBTYPE_STR:
        return lambda v: v if isinstance(v, bytes) else str(v).encode("utf-8")
    if dbtype == DBTYPE_BYTES:
        return lambda v: v if isinstance(v, bytes) else str(v).encode("utf-8")
    return lambda v: v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def build(conn, object_id):
    """``(kind, columns, rows)`` of a cached object: kind 'crowset' (a ``dbutil.CRowset``) or
    'list' (a list of PackedRows); the services layer makes the container.  Raises KeyError
    for an unknown object and :class:`Unavailable` when its table is missing."""
    spec = SPECS[object_id]
    columns, rows = build_rows(conn, spec)
    return spec["kind"], columns, rows
