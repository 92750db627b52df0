"""The character sheet and the wallet: ``charMgr``, ``skillMgr`` (bound), ``dogmaIM``
(bound) and ``account`` (protocol notes 4.1, step 5).

Shapes (EVEmu CharMgrService.cpp + CharacterDB.cpp, SkillMgrService.cpp + Character.cpp,
DogmaIMService.cpp + Ship.cpp + InventoryItem.cpp, AccountService.cpp + AccountDB.cpp):

* ``charMgr.GetPublicInfo3(charID)``: CRowset (bounty R8, title WSTR, startDateTime UI8,
  description WSTR, corporationID UI4); ``GetPrivateInfo(charID)``: one PackedRow (gender I1,
  createDateTime UI8, raceID UI1, bloodlineID UI1), only for the caller's own characters;
* ``skillMgr``: ``GetSkillQueueAndFreePoints()`` ``([(typeID, level)...], freePoints)``,
  ``GetEndOfTraining()`` a FILETIME (0: nothing training), ``GetSkillHistory()`` a
  util.Rowset (logDate, eventTypeID, skillTypeID, absolutePoints; chrSkillHistory, newest 50
  first), ``InjectSkillIntoBrain(skillItemIDs, stationID)`` None (the books become
  skills; OnItemChange + OnMultiEvent OnSkillInjected), ``GetRespecInfo()`` a dict
  (freeRespecs, lastRespecDate, nextTimedRespec), ``GetCharacterAttributeModifiers(attr)``
  a list of (itemID, typeID, operation, value); a queue call that would train while another
  character of the account trains: ``UserError('UserAlreadyHasSkillInTraining',
  {charactersTrainingCount, charName1, charName2})`` (the client's name; EVEmu has none);
* ``dogmaIM.GetAllInfo(getCharInfo, getShipInfo)``: util.KeyVal {activeShipID, locationInfo,
  shipModifiedCharAttribs, charInfo, shipInfo, shipState}; charInfo / shipInfo map itemID ->
  util.KeyVal {itemID, invItem (item row), activeEffects, attributes, description, time};
  shipState is ({itemID: item status row}, {charges}, {linked weapons});
* ``account.GetCashBalance(isCorpWallet, walletKey)``: a float; ``GetJournal(accountKey,
  fromDate, entryTypeID, corpAccount, transactionID, rev)``: CRowset of EVEmu's journal
  columns.
"""
import logging
import math

from evemu.db import characters as chars
from evemu.db import charinfo
from evemu.db import filetime_now
from evemu.db import inventory as inv
from evemu.db import skill_history, skills
from evemu.world.training import TrainingClock
from evemu.wire.marshal import (DBTYPE_BOOL, DBTYPE_I1, DBTYPE_I4, DBTYPE_I8, DBTYPE_R8,
                                DBTYPE_UI1, DBTYPE_UI2, DBTYPE_UI4, DBTYPE_UI8, DBTYPE_WSTR,
                                Instance, PackedRow)

from . import BindableService, BoundObject, Service, UserError, exposed
from .inventory import (FLAG_SKILL, SOMEONE_ELSES, _int, item_row, need_character,
                        need_reachable, send_item_changes)
from .notify import notify_chars
from .rowsets import crowset, descriptor, keyval, rowset

log = logging.getLogger("evemu.services.character")

PUBLIC_INFO3_COLUMNS = (("bounty", DBTYPE_R8), ("title", DBTYPE_WSTR),
                        ("startDateTime", DBTYPE_UI8), ("description", DBTYPE_WSTR),
                        ("corporationID", DBTYPE_UI4))
PRIVATE_INFO_COLUMNS = (("gender", DBTYPE_I1), ("createDateTime", DBTYPE_UI8),
                        ("raceID", DBTYPE_UI1), ("bloodlineID", DBTYPE_UI1))
JOURNAL_COLUMNS = (("transactionID", DBTYPE_UI4), ("transactionDate", DBTYPE_I8),
                   ("referenceID", DBTYPE_UI4), ("entryTypeID", DBTYPE_UI2),
                   ("ownerID1", DBTYPE_UI4), ("ownerID2", DBTYPE_UI4),
                   ("accountKey", DBTYPE_UI2), ("amount", DBTYPE_R8), ("balance", DBTYPE_R8),
                   ("description", DBTYPE_WSTR), ("currency", DBTYPE_I1),
                   ("sortValue", DBTYPE_I8))
STATUS_COLUMNS = (("instanceID", DBTYPE_I8), ("online", DBTYPE_BOOL), ("damage", DBTYPE_R8),
                  ("charge", DBTYPE_R8), ("skillPoints", DBTYPE_I4),
                  ("armorDamage", DBTYPE_R8), ("shieldCharge", DBTYPE_R8),
                  ("incapacitated", DBTYPE_BOOL))
STATUS_DESCRIPTOR = descriptor(STATUS_COLUMNS)
ACCOUNT_CASH = 1000
ISK = 28                             # UserError parameter type of an ISK amount
MINUTE = 60 * 10_000_000
FITTING_FLAGS = set(range(11, 35)) | set(range(92, 100)) | set(range(125, 133))
ATTR_SKILL_TIME_CONSTANT, ATTR_ONLINE = 275, 2
UE_TYPEID = 4                        # UserError parameter type of a type's name
#: EVEmu's SendNotifyMsg / status texts of Character::InjectSkillIntoBrain
PREREQUISITES_TEXT = b"Injection failed.  Skill prerequisites incomplete."
NOT_SKILL_TEXT = b"Injection failed.  That item is not a skill book."
#: the client's UserError when another character of the account is training (its skill
#: queue service, skillQueueSvc.CommitTransaction, expects it from SaveSkillQueue and
#: CharStartTrainingSkillByTypeID)
ALREADY_TRAINING = "UserAlreadyHasSkillInTraining"


def already_training(others):
    """The client's UserError for a character that may not train while ``others``
    [(characterID, name)] of its account do: ``UserAlreadyHasSkillInTraining`` with the
    keywords its message box reads (charactersTrainingCount, charName1, charName2)."""
    names = [n for _c, n in others] + [""]
    return UserError(ALREADY_TRAINING, {b"charactersTrainingCount": len(others),
                                        b"charName1": names[0], b"charName2": names[1]})


class CharMgrService(Service):
    name = "charMgr"

    def _char(self, char_id):
        row = self.db.run(chars.character_row, _int(char_id, "characterID"))
        if row is None:
            raise UserError("CharacterNotFound", {b"charID": char_id})
        return row

    @exposed
    def GetPublicInfo3(self, call, characterID):
        c = self.db.run(chars.character_row, _int(characterID, "characterID"))
        if c is None:                 # EVEmu: the query finds no row (an NPC, an agent...)
            return crowset(PUBLIC_INFO3_COLUMNS, [])
        return crowset(PUBLIC_INFO3_COLUMNS, [(
            float(c["bounty"]), c["title"] or "", c["startDateTime"] or 0,
            "", c["corporationID"])])

    @exposed
    def GetPrivateInfo(self, call, characterID):
        c = self._char(characterID)
        if c["accountID"] != call.userid:
            raise UserError("CharacterNotFound", {b"charID": characterID})
        return PackedRow(descriptor(PRIVATE_INFO_COLUMNS),
                         (c["gender"], c["createDateTime"] or 0, c["raceID"],
                          c["bloodlineID"]))

    @exposed
    def GetPublicInfo(self, call, ownerID):
        c = self._char(ownerID)
        return keyval({"characterID": c["characterID"], "characterName": None,
                       "corporationID": c["corporationID"], "raceID": c["raceID"],
                       "bloodlineID": c["bloodlineID"], "ancestryID": c["ancestryID"],
                       "gender": c["gender"], "createDateTime": c["createDateTime"],
                       "description": "", "title": c["title"] or ""})

    @exposed
    def GetContactList(self, call):
        return keyval({"addresses": rowset(("contactID", "inWatchList", "relationshipID",
                                            "labelMask"), []),
                       "blocked": rowset(("contactID", "inWatchList", "relationshipID",
                                          "labelMask"), [])})


class SkillMgrBound(BoundObject):
    """The character's skills and training queue (EVEmu SkillMgrService.cpp + Character.cpp;
    the queue and its clock: :mod:`evemu.db.skills`, :mod:`evemu.world.training`)."""

    @property
    def db(self):
        return self.service.db

    def _cid(self, call):
        return need_character(call)

    def _change(self, call, fn, *args, saved=False):
        """Run a queue change for the calling character; its events go to the client as one
        OnMultiEvent, and the clock looks at the new end times."""
        cid = self._cid(call)
        clock = self.service.clock
        try:
            events = self.db.run(fn, cid, *args, clock.now())
        except skills.SkillQueueError as e:
            raise UserError("CustomError", {b"error": str(e).encode()}) from None
        except skills.AccountTrainingError as e:
            raise already_training(e.others) from None
        if saved:
            events = list(events) + [("OnSkillTrainingSaved",)]
        self.service.send_events(cid, events)
        clock.changed()
        return None

    def _queue(self, call):
        return [(t, lv) for t, lv, _s, _e in self.db.run(skills.queue, self._cid(call))]

    @exposed
    def GetSkillQueueAndFreePoints(self, call):
        return (self._queue(call), 0)

    @exposed
    def GetSkillQueue(self, call):
        return self._queue(call)

    @exposed
    def GetEndOfTraining(self, call):
        q = self.db.run(skills.queue, self._cid(call))
        return q[0][3] if q else 0

    @exposed
    def SaveSkillQueue(self, call, skillQueue):
        return self._change(call, skills.save_queue, skillQueue, saved=True)

    @exposed
    def AddToEndOfSkillQueue(self, call, skillID, nextLevel):
        return self._change(call, skills.add_to_end, _int(skillID, "skillID"),
                            _int(nextLevel, "nextLevel"))

    @exposed
    def CharStartTrainingSkillByTypeID(self, call, skillTypeID):
        return self._change(call, skills.start, _int(skillTypeID, "skillTypeID"))

    @exposed
    def CharStartTrainingSkill(self, call, itemID, locationID=None):
        cid = self._cid(call)
        it = self.db.run(inv.item, _int(itemID, "itemID"))
        if it is None or it["ownerID"] != cid or it["locationID"] != cid:
            raise UserError("CantDoThatWithSomeoneElsesStuff")
        return self._change(call, skills.start, it["typeID"])

    @exposed
    def InjectSkillIntoBrain(self, call, skillItemIDs, stationID=None):
        """EVEmu SkillMgrBound::InjectSkillIntoBrain(skillItemIDs, stationID) ->
        Character::InjectSkillIntoBrain: every book becomes a skill at level 0 (one off a
        stack), all in one transaction (EVEmu goes book by book; a refused book here refuses
        the call and changes nothing).  Answers None; the client hears OnItemChange for each
        changed item and ``OnMultiEvent([('OnSkillInjected',)])`` (EVEmu's
        QueueDestinyEvent).  Refusals: CantDoThatWithSomeoneElsesStuff (not our item),
        CharacterAlreadyKnowsSkill {skillName} (EVEmu's named UserError), CustomError with
        EVEmu's texts for missing prerequisites and a book that is not a skill, and
        need_reachable's for a book not in our station or ship."""
        cid = self._cid(call)
        if not isinstance(skillItemIDs, (list, tuple)):
            raise UserError("CustomError", {b"error": b"skillItemIDs must be a list"})
        if len(skillItemIDs) > skills.MAX_INJECT:
            raise UserError("CustomError", {
                b"error": f"at most {skills.MAX_INJECT} skill books at once".encode()})
        ids = list(dict.fromkeys(_int(i, "skillItemID") for i in skillItemIDs))
        if not ids:
            return None
        try:
            changes, _new = self.db.run(skills.inject, cid, ids, self.service.clock.now(),
                                        lambda conn, it: need_reachable(conn, call, it))
        except skills.InjectError as e:
            if e.reason == "not_owned":
                raise UserError(SOMEONE_ELSES) from None
            if e.reason == "known":
                raise UserError("CharacterAlreadyKnowsSkill",
                                {b"skillName": (UE_TYPEID, e.type_id)}) from None
            if e.reason == "prerequisites":
                raise UserError("CustomError", {b"error": PREREQUISITES_TEXT}) from None
            raise UserError("CustomError", {b"error": NOT_SKILL_TEXT}) from None
        send_item_changes(self.service.manager, changes)
        self.service.send_events(cid, [("OnSkillInjected",)])
        return None

    @exposed
    def CharStopTrainingSkill(self, call):
        return self._change(call, skills.stop)

    @exposed
    def GetSkillHistory(self, call):
        """EVEmu SkillMgrBound::GetSkillHistory -> CharacterDB::GetSkillHistory: the newest
        50 rows of chrSkillHistory as a util.Rowset (logDate, eventTypeID, skillTypeID,
        absolutePoints), newest first."""
        cid = self._cid(call)
        return rowset(skill_history.HISTORY_COLUMNS,
                      self.db.run(skill_history.history, cid))

    @exposed
    def GetRespecInfo(self, call):
        self._cid(call)
        return {b"freeRespecs": 2, b"lastRespecDate": 0, b"nextTimedRespec": 0}

    @exposed
    def GetCharacterAttributeModifiers(self, call, attributeID):
        self._cid(call)
        return []

    @exposed
    def GetSkillPoints(self, call):
        cid = self._cid(call)
        return self.db.run(chars.character_row, cid)["skillPoints"]


class SkillMgrService(BindableService):
    name = "skillMgr"
    access = "character"

    def __init__(self, manager):
        super().__init__(manager)
        server = manager.server
        self.clock = TrainingClock(getattr(server, "db", None), self.send_events)
        if self.clock.db is not None:
            self.clock.start()
            hooks = getattr(server, "on_shutdown", None)
            if hooks is not None:
                hooks.append(self.clock.stop)

    def send_events(self, char_id, events):
        """The character's skill events as one OnMultiEvent (EVEmu Client::_SendQueuedUpdates:
        ``OnMultiEvent((events,))``, id type charid)."""
        if not events:
            return 0
        return notify_chars(self.manager, (char_id,), "OnMultiEvent", "charid",
                            ([tuple(e) for e in events],))

    def character_selected(self, call, character_row):
        """Called by charUnboundMgr.SelectCharacterID: the levels that completed while the
        character was away, as EVEmu's login pass of Character::SkillQueueLoop tells them:
        ``OnMultipleSkillsTrained([itemIDs])`` for several, ``OnSkillTrained(itemID)`` for
        one."""
        char_id = character_row["characterID"]
        try:
            ids = self.db.run(skills.take_trained, char_id)
        except Exception as e:           # an old database without the table: nothing to tell
            log.warning("skills trained while away of %s: %r", char_id, e)
            return
        if len(ids) > 1:
            self.send_events(char_id, [("OnMultipleSkillsTrained", ids)])
        elif ids:
            self.send_events(char_id, [("OnSkillTrained", ids[0])])

    def create_bound(self, call, bind_params):
        need_character(call)
        return SkillMgrBound(self, call.connection)


def _info_entry(it, attributes, effects=None, now=0):
    return Instance("util.KeyVal", {
        b"itemID": it["itemID"], b"invItem": item_row(it),
        b"activeEffects": effects or {}, b"attributes": attributes,
        b"description": (it["itemName"] or "").encode("utf-8"), b"time": now})


def _status_row(it, attrs):
    return PackedRow(STATUS_DESCRIPTOR, (
        it["itemID"], bool(attrs.get(ATTR_ONLINE, 0)), float(attrs.get(3, 0.0)),
        float(attrs.get(18, 0.0)), int(attrs.get(chars.ATTR_SKILL_POINTS, 0)),
        float(attrs.get(266, 0.0)), float(attrs.get(264, 0.0)), False))


class DogmaIMBound(BoundObject):
    @property
    def db(self):
        return self.service.db

    def _attrs(self, it):
        a = self.db.run(charinfo.type_attributes, it["typeID"])
        a.update(self.db.run(charinfo.item_attributes, it["itemID"]))
        return a

    def char_info(self, cid, now):
        c = self.db.run(chars.character_row, cid)
        me = self.db.run(inv.item, cid)
        attrs = self.db.run(charinfo.type_attributes, me["typeID"])
        attrs.update(self.db.run(charinfo.character_attributes, cid))
        out = {cid: _info_entry(me, attrs, now=now)}
        for sk in (self.db.run(inv.items_in, cid, FLAG_SKILL) +
                   self.db.run(inv.items_in, cid, skills.FLAG_SKILL_IN_TRAINING)):
            a = self.db.run(charinfo.item_attributes, sk["itemID"])
            t = self.db.run(charinfo.type_attributes, sk["typeID"])
            a.setdefault(ATTR_SKILL_TIME_CONSTANT, t.get(ATTR_SKILL_TIME_CONSTANT, 1))
            out[sk["itemID"]] = _info_entry(sk, {k: a[k] for k in (
                ATTR_SKILL_TIME_CONSTANT, chars.ATTR_SKILL_POINTS, chars.ATTR_SKILL_LEVEL)
                if k in a}, now=now)
        if c is None:
            raise UserError("CharacterNotFound", {b"charID": cid})
        return out

    def ship_info(self, ship_id, now):
        ship = self.db.run(inv.item, ship_id)
        out = {ship_id: _info_entry(ship, self._attrs(ship), now=now)}
        state = {ship_id: _status_row(ship, self._attrs(ship))}
        for it in self.db.run(inv.items_in, ship_id):
            if it["flagID"] in FITTING_FLAGS:
                a = self._attrs(it)
                out[it["itemID"]] = _info_entry(it, a, now=now)
                state[it["itemID"]] = _status_row(it, a)
            elif it["flagID"] == 57:                      # the pilot
                state[it["itemID"]] = _status_row(it, {})
        return out, state

    @exposed
    def GetAllInfo(self, call, getCharInfo, getShipInfo):
        cid = need_character(call)
        ship_id = call.session.get("shipid")
        now = filetime_now() - MINUTE
        ship_info, state = self.ship_info(ship_id, now) if ship_id else ({}, {})
        return keyval({
            "activeShipID": ship_id,
            "locationInfo": {} if getShipInfo else None,
            "shipModifiedCharAttribs": None,
            "charInfo": self.char_info(cid, now) if getCharInfo else {},
            "shipInfo": ship_info if getShipInfo else {},
            "shipState": (state, {}, {})})

    @exposed
    def ShipGetInfo(self, call):
        ship_id = call.session.get("shipid")
        return self.ship_info(ship_id, filetime_now())[0] if ship_id else None

    @exposed
    def CharGetInfo(self, call):
        return self.char_info(need_character(call), filetime_now())

    @exposed
    def GetTargets(self, call):
        return []

    @exposed
    def GetTargeters(self, call):
        return []


class DogmaIMService(BindableService):
    name = "dogmaIM"
    access = "location"

    def create_bound(self, call, bind_params):
        need_character(call)
        return DogmaIMBound(self, call.connection)

    @exposed
    def GetAttributeTypes(self, call):
        return None


class AccountService(Service):
    name = "account"
    access = "character"

    @exposed
    def GetCashBalance(self, call, isCorpWallet=0, walletKey=None, accountKey=None):
        cid = need_character(call)
        if isCorpWallet:
            return 0.0
        key = accountKey if accountKey is not None else walletKey
        if key not in (None, ACCOUNT_CASH):
            return 0.0
        return self.db.run(charinfo.balance, cid)

    @exposed
    def GetJournal(self, call, accountKey, fromDate, entryTypeID=None, corpAccount=0,
                   transactionID=None, rev=None):
        cid = need_character(call)
        if corpAccount:
            return crowset(JOURNAL_COLUMNS, [])
        key = _int(accountKey, "accountKey") or ACCOUNT_CASH
        rows = self.db.run(charinfo.journal, cid, key, _int(fromDate or 0, "fromDate"),
                                entryTypeID)
        return crowset(JOURNAL_COLUMNS, rows)

    @exposed
    def GiveCash(self, call, toID, amount, reason=None):
        """EVEmu AccountService::GiveCash: a player donation, journalled on both sides;
        both owners get OnAccountChange('cash', ownerID, balance)."""
        cid = need_character(call)
        to_id = _int(toID, "toID")
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or \
                not math.isfinite(amount) or amount <= 0 or amount > charinfo.BALANCE_CAP:
            raise UserError("CustomError", {b"error": b"Invalid amount."})
        if reason is None or reason == b"" or reason == "":
            text = "DESC: No Reason Given"
        elif isinstance(reason, (bytes, str)) and len(reason) <= 255:
            text = "DESC: " + (reason.decode("utf-8", "replace")
                               if isinstance(reason, bytes) else reason)
        else:
            raise UserError("CustomError", {b"error": b"Invalid reason."})
        if to_id == cid:
            raise UserError("CustomError", {b"error": b"You cannot give money to yourself."})
        try:
            mine, theirs = self.db.run(charinfo.transfer, cid, to_id, float(amount),
                                       filetime_now(), text)
        except KeyError:
            raise UserError("CharacterNotFound", {b"charID": to_id}) from None
        except charinfo.NotEnoughMoney as e:
            raise UserError("NotEnoughMoney", {b"amount": (ISK, e.amount),
                                               b"balance": (ISK, e.balance)}) from None
        for owner, bal in ((cid, mine), (to_id, theirs)):
            notify_chars(self.manager, (owner,), "OnAccountChange", "cash",
                         (b"cash", owner, bal), sequenced=False)
        log.info("%s: %d gave %.2f ISK to %d", call.connection, cid, amount, to_id)
        return None

    @exposed
    def GetKeyMap(self, call):
        return rowset(("accountKey", "accountType", "accountName", "description"), [
            (1000, "cash", "Wallet", "")])

    @exposed
    def GetEntryTypes(self, call):
        return None

    @exposed
    def GetWalletDivisionsInfo(self, call):
        return None

    @exposed
    def GetDefaultContactCost(self, call):
        return None
