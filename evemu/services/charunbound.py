"""``charUnboundMgr``: character selection and creation (protocol notes section 4.1, step 3-4).

Shapes (EVEmu CharUnboundMgrService.cpp / CharacterDB.cpp): the select list and the selected
character are ``dbutil.CRowset``s with EVEmu's column types; GetCharCreationInfo and
GetCharNewExtraCreationInfo a dict of cache hints ('bloodlines', 'races', ..., 'raceskills');
ValidateNameEx the client's validState code (1 valid, -1 too short, -2 too long, -5 illegal
character, -6 too many spaces, -7 consecutive spaces, -101 taken, -102 banned);
CreateCharacterWithDoll the new characterID, or a UserError with the client's message key
(CharNameTooShort, CharNameInvalidMaxLength, CharNameInvalidSomeChar,
CharNameInvalidMaxSpaces, CharNameInvalidTaken, CharNameInvalidBannedWord...).

Every method acts only on the calling account's characters; another account's characterID is
refused with ``UserError('CharacterNotFound')``.
"""
import logging

from evemu.db import characters as chars
from evemu.db import filetime_now
from evemu.wire.marshal import (DBTYPE_I1, DBTYPE_I4, DBTYPE_I8, DBTYPE_R4, DBTYPE_R8,
                                DBTYPE_UI1, DBTYPE_UI4, DBTYPE_UI8, DBTYPE_WSTR, Instance)
from evemu.world import cachables

from . import Service, UserError, exposed
from .rowsets import crowset

log = logging.getLogger("evemu.services.charunbound")

#: The columns EVEmu sends (CharacterDB::GetCharacterList), with its column types.
CHARACTER_SELECT_COLUMNS = (
    ("characterID", DBTYPE_UI4),
    ("characterName", DBTYPE_WSTR),
    ("deletePrepareDateTime", DBTYPE_UI8),
    ("gender", DBTYPE_I1),
    ("typeID", DBTYPE_I4),
)

#: CharacterDB::GetCharSelectInfo's columns: literals are BIGINT (I8) in MariaDB.
CHARACTER_TO_SELECT_COLUMNS = (
    ("unreadMailCount", DBTYPE_I8), ("upcomingEventCount", DBTYPE_I8),
    ("unprocessedNotifications", DBTYPE_I8), ("characterID", DBTYPE_UI4),
    ("petitionMessage", DBTYPE_WSTR), ("gender", DBTYPE_I1), ("bloodlineID", DBTYPE_UI1),
    ("createDateTime", DBTYPE_I8), ("startDateTime", DBTYPE_I8),
    ("corporationID", DBTYPE_UI4), ("worldSpaceID", DBTYPE_I8), ("stationID", DBTYPE_UI4),
    ("solarSystemID", DBTYPE_UI4), ("constellationID", DBTYPE_UI4),
    ("regionID", DBTYPE_UI4), ("allianceID", DBTYPE_I8),
    ("allianceMemberStartDate", DBTYPE_I8), ("shortName", DBTYPE_WSTR),
    ("bounty", DBTYPE_R8), ("skillQueueEndTime", DBTYPE_UI8), ("skillPoints", DBTYPE_I8),
    ("shipTypeID", DBTYPE_I8), ("shipName", DBTYPE_WSTR), ("securityRating", DBTYPE_R4),
    ("title", DBTYPE_WSTR), ("balance", DBTYPE_R8), ("aurBalance", DBTYPE_R8),
    ("daysLeft", DBTYPE_I8), ("userType", DBTYPE_I8), ("paperDollState", DBTYPE_I1),
)

SECOND = 10_000_000                 # FILETIME ticks


def motd_text(server, session):
    return ("<br>Welcome to EVEmu (stackless).<br>Current Population: "
            f"{len(getattr(server, 'connections', ()) or ())}")


def _text(value, what):
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise UserError("CharNameInvalidSomeChar") from None
    if isinstance(value, str):
        return value
    raise UserError("CharNameInvalid", {b"reason": f"{what} must be text".encode()})


def _int(value, what):
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError("CharCreationInvalidArgument", {b"argument": what.encode()})
    return value


class CharUnboundMgrService(Service):
    name = "charUnboundMgr"

    #: seconds between PrepareCharacterForDelete and the earliest DeleteCharacter
    termination_delay = 60

    def __init__(self, manager):
        super().__init__(manager)
        self.online = {}            # characterID -> connection that selected it


    def _own_character(self, call, char_id, **extra):
        """The character's row (:func:`evemu.db.characters.character_row`, ``extra`` its
        joined columns), if it is the calling account's."""
        char_id = _int(char_id, "characterID")
        row = self.db.run(chars.character_row, char_id, **extra)
        if row is None or row["accountID"] != call.userid:
            raise UserError("CharacterNotFound", {b"charID": char_id})
        return row

    # ------------------------------------------------------------------ selection
    @exposed
    def GetCharactersToSelect(self, call):
        rows = self.db.characters_of(call.userid)
        # EVEmu's deletePrepareDateTime is 0 when no deletion is pending, never NULL
        # (CharacterDB::CancelCharacterDeletePrepare sets 0): UI8 0 on the wire
        return crowset(CHARACTER_SELECT_COLUMNS,
                       [(c.characterID, c.characterName, c.deletePrepareDateTime or 0,
                         c.gender, c.typeID) for c in rows])

    @exposed
    def GetCharacterToSelect(self, call, characterID):
        c = self._own_character(call, characterID, ship=True)    # one query, the ship joined
        if c["shipTypeID"] is None:
            ship_type, ship_name = 606, "My Ship"
        else:
            ship_type, ship_name = c["shipTypeID"], c["shipName"]
        return crowset(CHARACTER_TO_SELECT_COLUMNS, [(
            0, 0, 0, c["characterID"], c["petitionMessage"], c["gender"], c["bloodlineID"],
            c["createDateTime"], c["startDateTime"], c["corporationID"], 0, c["stationID"],
            c["solarSystemID"], c["constellationID"], c["regionID"], 0, 0, "none",
            c["bounty"], c["skillQueueEndTime"], c["skillPoints"], ship_type,
            ship_name, c["securityRating"], c["title"], c["balance"], c["aurBalance"],
            15, 30, c["paperDollState"])])

    @exposed
    def IsUserReceivingCharacter(self, call):
        return False

    @exposed
    def GetCharacterInfo(self, call):
        return None

    @exposed
    def SelectCharacterID(self, call, characterID, loadDungeon=0, secondChoiceID=None):
        c = self._own_character(call, characterID, hq=True)      # one query, the HQ joined
        char_id = c["characterID"]
        space = self.manager.lookup("beyonce")        # its last log-off in space written first
        wait = getattr(space, "wait_logged_off", None)
        if wait is not None and wait(char_id):
            c = self._own_character(call, characterID, hq=True)
        if call.session.get("charid") is not None:
            raise UserError("CharacterAlreadySelected")
        other = self.online.get(char_id)
        if other is not None and other is not call.connection and not other.closed:
            raise UserError("CharacterAlreadyOnline")
        self.online[char_id] = call.connection
        hq = c["hqID"]
        s = call.session
        s.update(genderID=c["gender"], bloodlineID=c["bloodlineID"], raceID=c["raceID"],
                 charid=char_id, corpid=c["corporationID"], cloneStationID=c["stationID"],
                 hqID=hq, baseID=c["baseID"],
                 corpAccountKey=c["corpAccountKey"], corprole=c["corpRole"],
                 rolesAtAll=c["rolesAtAll"], rolesAtBase=c["rolesAtBase"],
                 rolesAtHQ=c["rolesAtHQ"], rolesAtOther=c["rolesAtOther"])
        if c["stationID"]:
            s.update(stationid=c["stationID"], stationid2=c["stationID"],
                     worldspaceid=c["stationID"], locationid=c["stationID"])
            if s.get("solarsystemid") is not None:
                s.set("solarsystemid", None)         # None when docked, as EVEmu
        else:
            s.update(solarsystemid=c["solarSystemID"], locationid=c["solarSystemID"])
        s.update(solarsystemid2=c["solarSystemID"], constellationid=c["constellationID"],
                 regionid=c["regionID"], shipid=c["shipID"])
        # the session change goes out now, so that the MOTD (and anything the chat service
        # sends on login) reaches a client that already knows its new location
        pkt = s.change_packet(self.manager.node_id)
        if pkt is not None:
            call.connection.send_packet(pkt)
        self._after_selection(call, c)
        station = self.manager.lookup("station")      # the other guests hear of the arrival
        if station is not None and hasattr(station, "enter"):
            station.enter(call, c)
        space = self.manager.lookup("beyonce")        # a ship in space enters the ballpark
        if space is not None and hasattr(space, "character_selected"):
            space.character_selected(call, c)
        skill_mgr = self.manager.lookup("skillMgr")   # skills trained while away
        hook = getattr(skill_mgr, "character_selected", None)
        if hook is not None:
            hook(call, c)
        log.info("%s: selected character %d (%s)", call.connection, char_id,
                 c["characterName"])
        return None

    def _after_selection(self, call, c):
        lsc = self.manager.lookup("LSC")
        hook = getattr(lsc, "character_selected", None)
        if hook is not None:          # the chat service joins channels and sends the MOTD
            hook(call, c)
            return
        system = c["solarSystemID"]
        sender = (None, 1, [1, b"EVE System", 1], 1, 1, None)
        args = (((b"solarsystemid2", system),), 1, b"SendMessage", sender,
                (motd_text(self.server, call.session).encode("utf-8"),))
        call.connection.notify("OnLSC", "solarsystemid2", args)

    # ------------------------------------------------------------------ creation
    @exposed
    def GetCharCreationInfo(self, call):
        return self.manager.lookup("objectCaching").hints(cachables.CHAR_CREATION_CACHABLES)

    @exposed
    def GetCharNewExtraCreationInfo(self, call):
        return self.manager.lookup("objectCaching").hints(cachables.CHAR_NEW_EXTRA_CACHABLES)

    @exposed
    def ValidateNameEx(self, call, name):
        return self.db.run(chars.validate_name, _text(name, "name"))

    @exposed
    def CreateCharacterWithDoll(self, call, characterName, bloodlineID, genderID, ancestryID,
                                characterInfo=None, portraitInfo=None, schoolID=None):
        name = _text(characterName, "characterName")
        for info, what in ((characterInfo, "characterInfo"), (portraitInfo, "portraitInfo")):
            if info is not None and not (isinstance(info, Instance) and
                                         info.name == "util.KeyVal"):
                raise UserError("CharCreationInvalidArgument", {b"argument": what.encode()})
        try:
            char_id = self.db.run(
                chars.create_character, call.userid, name, _int(bloodlineID, "bloodlineID"),
                _int(genderID, "genderID"), _int(ancestryID, "ancestryID"),
                _int(schoolID, "schoolID"), filetime_now())
        except chars.CharacterError as e:
            raise UserError(e.key) from None
        log.info("%s: created character %d (%s)", call.connection, char_id, name)
        return char_id

    # ------------------------------------------------------------------ deletion
    @exposed
    def PrepareCharacterForDelete(self, call, characterID):
        c = self._own_character(call, characterID)
        when = filetime_now() + self.termination_delay * SECOND
        self.db.run(chars.set_delete_prepare, call.userid, c["characterID"], when)
        return when

    @exposed
    def CancelCharacterDeletePrepare(self, call, characterID):
        c = self._own_character(call, characterID)
        self.db.run(chars.set_delete_prepare, call.userid, c["characterID"], None)
        return None

    @exposed
    def DeleteCharacter(self, call, characterID):
        c = self._own_character(call, characterID)
        when = c["deletePrepareDateTime"]
        if not when:
            raise UserError("CharacterDeletePrepareFirst")
        if when > filetime_now():
            raise UserError("CharacterDeleteTooSoon", {b"when": when})
        if call.session.get("charid") == c["characterID"]:
            raise UserError("CharacterAlreadyOnline")
        self.db.run(chars.delete_character, call.userid, c["characterID"])
        self.online.pop(c["characterID"], None)
        log.info("%s: deleted character %d", call.connection, c["characterID"])
        return None
