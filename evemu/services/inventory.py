"""``invbroker`` and its inventories (protocol notes 4.1, step 5).

Shapes (EVEmu InvBrokerService.cpp, InventoryBound.cpp, Inventory.cpp, InventoryItem.cpp):

* ``invbroker`` is bound with ``(locationID, groupID)``; its ``GetInventoryFromId(itemID,
  passive)`` and ``GetInventory(containerID, ownerID)`` bind an InventoryBound and answer
  ``SubStruct(SubStream(oid))``;
* ``InventoryBound.List(flag)`` is a ``dbutil.CRowset`` of item rows (itemID I8, typeID I4,
  ownerID I4, locationID I4, flagID I2, quantity I4 (-1 for a singleton), groupID I4,
  categoryID I4, customInfo STR; the descriptor's keywords ``stacksize`` -> util.StackSize and
  ``singleton`` -> util.Singleton); ``GetItem()`` the container's own row (a PackedRow);
* ``Add`` answers the moved itemID (the new one when part of a stack moved), ``MultiAdd``,
  ``MultiMerge`` and ``StackAll`` None;
* every changed item goes to its owner as ``OnItemChange(row, {ix: old value})``
  (unsequenced, id type ``clientID``).

An item belongs to its owner: listing, moving or merging another character's item or
container is ``UserError('CantDoThatWithSomeoneElsesStuff')``.
"""
import logging

from evemu.db import inventory as inv
from evemu.wire.marshal import (DBTYPE_I2, DBTYPE_I4, DBTYPE_I8, DBTYPE_STR, PackedRow,
                                SubStream, SubStruct, Token)

from . import BindableService, BoundObject, CallResult, UserError, exposed
from .notify import notify_chars
from .rowsets import crowset, descriptor

log = logging.getLogger("evemu.services.inventory")

ITEM_ROW_COLUMNS = (("itemID", DBTYPE_I8), ("typeID", DBTYPE_I4), ("ownerID", DBTYPE_I4),
                    ("locationID", DBTYPE_I4), ("flagID", DBTYPE_I2), ("quantity", DBTYPE_I4),
                    ("groupID", DBTYPE_I4), ("categoryID", DBTYPE_I4),
                    ("customInfo", DBTYPE_STR))
#: EVEmu StaticDataMgr::CreateHeader ("correct data for crucible"): the descriptor's keyword
#: list names two virtual columns the client computes from the row (item.stacksize,
#: item.singleton)
ITEM_KEYWORDS = ((b"stacksize", Token("util.StackSize")), (b"singleton", Token("util.Singleton")))
ITEM_DESCRIPTOR = descriptor(ITEM_ROW_COLUMNS, ITEM_KEYWORDS)

# inventory containers (the client's const.container*) and item flags
CONTAINER_WALLET, CONTAINER_GLOBAL, CONTAINER_HANGAR, CONTAINER_CHARACTER = (
    10001, 10002, 10004, 10011)
FLAG_NONE, FLAG_WALLET, FLAG_HANGAR, FLAG_CARGO, FLAG_SKILL = 0, 1, 4, 5, 7
FLAG_SKILL_IN_TRAINING = 61
GROUP_STATION, GROUP_SOLAR_SYSTEM = 15, 5
CATEGORY_SHIP = 6
SOMEONE_ELSES = "CantDoThatWithSomeoneElsesStuff"


def item_values(it):
    qty = -1 if it["singleton"] else it["quantity"]
    info = it["customInfo"] or ""
    return (it["itemID"], it["typeID"], it["ownerID"], it["locationID"], it["flagID"], qty,
            it["groupID"], it["categoryID"],
            info.encode("utf-8") if isinstance(info, str) else info)


def item_row(it):
    """The client's item row (a PackedRow) of an item dict."""
    return PackedRow(ITEM_DESCRIPTOR, item_values(it))


def send_item_changes(manager, changes):
    """OnItemChange to the owner of each changed item (EVEmu SendItemChange: not to owner 1
    or NPC owners, unsequenced, 'clientID')."""
    for after, ch in changes:
        if not ch or after["ownerID"] < 90000000:
            continue
        notify_chars(manager, (after["ownerID"],), "OnItemChange", "clientID",
                     (item_row(after), dict(ch)), sequenced=False)


INT64_MIN, INT64_MAX = -2 ** 63, 2 ** 63 - 1


def _int(v, what):
    """A client-supplied integer: a 64-bit int (what the database can hold), else the
    client's CustomError."""
    if isinstance(v, bool) or not isinstance(v, int) or not INT64_MIN <= v <= INT64_MAX:
        raise UserError("CustomError", {b"error": f"{what} must be an integer".encode()})
    return v


def _flag(v):
    """A client-supplied item flag (invFlags ids fit the row's I2 column)."""
    v = _int(v, "flag")
    if not 0 <= v <= 32767:
        raise UserError("CustomError", {b"error": b"flag out of range"})
    return v


def need_character(call):
    cid = call.session.get("charid")
    if cid is None:
        raise UserError("CharacterNotSelected")
    return cid


def own_item(conn, call, item_id):
    """The item, if the calling character owns it (or it is the character); else the
    client's UserError."""
    cid = need_character(call)
    it = inv.item(conn, _int(item_id, "itemID"))
    if it is None or (it["ownerID"] != cid and it["itemID"] != cid):
        raise UserError(SOMEONE_ELSES)
    return it


def reachable(conn, call, it):
    """Whether the item is where the docked character can handle it: in the station it is
    docked in, in its active ship, or inside an item of its own that is (up to 3 levels)."""
    here = {call.session.get("stationid"), call.session.get("shipid")} - {None}
    cid = call.session.get("charid")
    loc = it["locationID"]
    for _ in range(3):
        if loc in here:
            return True
        holder = inv.item(conn, loc)
        if holder is None or holder["ownerID"] != cid:
            return False
        loc = holder["locationID"]
    return False


def need_reachable(conn, call, it):
    if not reachable(conn, call, it):
        raise UserError("CustomError", {b"error": b"That item is not here."})


def own_reachable_item(conn, call, item_id, character_anywhere=False):
    """:func:`own_item` then :func:`need_reachable` on one connection (one ``db.run``, one
    pool checkout); ``character_anywhere``: the character's own item skips the second."""
    it = own_item(conn, call, item_id)
    if not (character_anywhere and it["itemID"] == call.session.get("charid")):
        need_reachable(conn, call, it)
    return it


class InventoryBound(BoundObject):
    """One inventory: ``location`` (a station, an item or the character), the flag its
    listing keeps to (None: all) and the owner it lists for."""

    def __init__(self, service, connection, location, flag, owner, default_flag):
        super().__init__(service, connection)
        self.location = location
        self.flag = flag
        self.owner = owner
        self.default_flag = default_flag

    @property
    def db(self):
        return self.service.db

    def _check(self, call):
        if call.session.get("charid") != self.owner:
            raise UserError(SOMEONE_ELSES)

    def _send(self, changes):
        send_item_changes(self.service.manager, changes)

    @exposed
    def List(self, call, flag=None):
        self._check(call)
        flag = self.flag if flag is None or flag == FLAG_NONE else _flag(flag)
        # a station hangar holds everyone's items: list only ours; a ship or container of
        # ours, or the character, lists all it holds
        station = self.location == call.session.get("stationid")
        items = self.db.run(inv.items_in, self.location, flag, self.owner if station else None)
        if flag == FLAG_SKILL and self.location == self.owner:
            # the skill in training is the character's too (flagSkillInTraining)
            items = sorted(items + self.db.run(inv.items_in, self.location,
                                               FLAG_SKILL_IN_TRAINING), key=lambda i: i["itemID"])
        return crowset(ITEM_ROW_COLUMNS, [item_values(it) for it in items], ITEM_KEYWORDS)

    @exposed
    def GetItem(self, call):
        self._check(call)
        it = self.db.run(inv.item, self.location)
        return None if it is None else item_row(it)

    def _movable_check(self, call):
        """``check(conn, item)`` for :func:`evemu.db.inventory.move`: every rule for moving
        an item here, run on the item's locked row inside the move's transaction (the client's
        UserError otherwise, and nothing changes)."""
        cid = need_character(call)

        def check(conn, it):
            if it["ownerID"] != cid and it["itemID"] != cid:
                raise UserError(SOMEONE_ELSES)
            need_reachable(conn, call, it)
            if it["itemID"] in (self.owner, self.location, call.session.get("shipid")) and not (
                    it["itemID"] == call.session.get("shipid") and
                    self.location == call.session.get("stationid")):
                raise UserError("CustomError", {b"error": b"You cannot move that item there."})
            if it["categoryID"] == CATEGORY_SHIP and it["singleton"] and \
                    self.location != call.session.get("stationid"):
                raise UserError("CustomError", {b"error": b"An assembled ship cannot go there."})
        return check

    def _movable_allow(self, call):
        """``allow`` for :func:`evemu.db.inventory.move`: a narrower form of
        :meth:`_movable_check`'s rules, as values, under which that check certainly passes
        (ours, directly in the station or the active ship, not the character, this inventory
        or the active ship, and no assembled ship unless this is the station's hangar): on
        PostgreSQL a whole item that meets it moves in one statement.  Keep it inside the
        check: whatever it lets through is not checked again."""
        station, ship = call.session.get("stationid"), call.session.get("shipid")
        return {"owner": need_character(call), "places": (station, ship),
                "not_items": (self.owner, self.location, ship),
                "ships": station is not None and self.location == station}

    def _move(self, call, item_id, flag, qty):
        """One database call and one transaction: the item locked, checked, moved (on
        PostgreSQL a whole item that meets :meth:`_movable_allow`: one statement)."""
        item_id = _int(item_id, "itemID")
        if qty is not None:
            qty = _int(qty, "qty")
            if qty < 1:
                raise UserError("CustomError", {b"error": b"quantity must be at least 1"})
        dest_flag = self.default_flag if flag is None else _flag(flag)
        try:
            new_id, changes = self.db.run(inv.move, item_id, self.location, dest_flag, qty,
                                          check=self._movable_check(call),
                                          allow=self._movable_allow(call))
        except KeyError:
            raise UserError(SOMEONE_ELSES) from None
        except ValueError as e:
            raise UserError("CustomError", {b"error": str(e).encode()}) from None
        self._send(changes)
        return new_id

    @exposed
    def Add(self, call, itemID, containerID=None, qty=None, flag=None, **kw):
        self._check(call)
        return self._move(call, itemID, flag, qty)

    @exposed
    def MultiAdd(self, call, itemIDs, containerID=None, flag=None, qty=None, **kw):
        """Every item is checked first, then all move in one transaction: all or none."""
        self._check(call)
        if not isinstance(itemIDs, (list, tuple)):
            raise UserError("CustomError", {b"error": b"itemIDs must be a list"})
        ids = []
        for iid in itemIDs:
            iid = _int(iid, "itemID")
            if iid not in ids:
                ids.append(iid)
        dest_flag = self.default_flag if flag is None else _flag(flag)
        try:
            changes = self.db.run(inv.move_many, ids, self.location, dest_flag,
                                  check=self._movable_check(call))
        except KeyError:
            raise UserError(SOMEONE_ELSES) from None
        except ValueError as e:
            raise UserError("CustomError", {b"error": str(e).encode()}) from None
        self._send(changes)
        return None

    @exposed
    def MultiMerge(self, call, ops, sourceContainerID=None):
        """Every operation is checked first, then all run in one transaction: all or none."""
        self._check(call)
        if not isinstance(ops, (list, tuple)):
            raise UserError("CustomError", {b"error": b"ops must be a list"})
        checked = []
        for op in ops:
            if not isinstance(op, tuple) or len(op) != 3:
                raise UserError("CustomError", {b"error": b"(source, destination, qty)"})
            checked.append((_int(op[0], "itemID"), _int(op[1], "itemID"), _int(op[2], "qty")))
        cid = need_character(call)

        def check(conn, it):            # own_item's and need_reachable's rules, row locked
            if it["ownerID"] != cid and it["itemID"] != cid:
                raise UserError(SOMEONE_ELSES)
            need_reachable(conn, call, it)
        try:
            changes = self.db.run(inv.merge_many, checked, check=check)
        except KeyError:
            raise UserError(SOMEONE_ELSES) from None
        except ValueError as e:
            raise UserError("CustomError", {b"error": str(e).encode()}) from None
        self._send(changes)
        return None

    @exposed
    def StackAll(self, call, flag=None):
        self._check(call)
        flag = self.flag if flag is None else _flag(flag)
        self._send(self.db.run(inv.stack_all, self.location, flag, self.owner))
        return None


class InvBrokerBound(BoundObject):
    def __init__(self, service, connection, location, group):
        super().__init__(service, connection)
        self.location = location
        self.group = group

    @property
    def db(self):
        return self.service.db

    def _bind(self, call, location, flag, owner, default_flag):
        obj = InventoryBound(self.service, call.connection, location, flag, owner,
                             default_flag)
        oid = self.service.manager.bind(obj, call.connection)
        return CallResult(SubStruct(SubStream(oid)), oob={b"OID+": {oid[0]: oid[1]}})

    @exposed
    def GetInventoryFromId(self, call, inventoryID, passive=0):
        cid = need_character(call)
        inventoryID = _int(inventoryID, "inventoryID")
        if inventoryID == call.session.get("stationid"):
            return self._bind(call, inventoryID, FLAG_HANGAR, cid, FLAG_HANGAR)
        it = self.db.run(own_reachable_item, call, inventoryID, character_anywhere=True)
        if it["itemID"] == cid:
            return self._bind(call, cid, FLAG_SKILL, cid, FLAG_SKILL)
        default = FLAG_CARGO if it["categoryID"] == CATEGORY_SHIP else FLAG_HANGAR
        return self._bind(call, it["itemID"], None, cid, default)

    @exposed
    def GetInventory(self, call, containerID, ownerID=None):
        cid = need_character(call)
        containerID = _int(containerID, "containerID")
        if ownerID not in (None, 0, cid):
            raise UserError(SOMEONE_ELSES)
        if containerID == CONTAINER_HANGAR:
            if self.location != call.session.get("stationid"):
                raise UserError(SOMEONE_ELSES)
            return self._bind(call, self.location, FLAG_HANGAR, cid, FLAG_HANGAR)
        if containerID == CONTAINER_CHARACTER:
            return self._bind(call, cid, FLAG_SKILL, cid, FLAG_SKILL)
        if containerID == CONTAINER_WALLET:
            return self._bind(call, cid, FLAG_WALLET, cid, FLAG_WALLET)
        log.info("%s: GetInventory(%s) not supported; None", call.connection, containerID)
        return None

    @exposed
    def SplitStack(self, call, locationID, itemID, quantity, ownerID=None):
        it = self.db.run(own_reachable_item, call, itemID)
        try:
            new_id, changes = self.db.run(inv.split, it["itemID"], _int(quantity, "quantity"))
        except ValueError as e:
            raise UserError("CustomError", {b"error": str(e).encode()}) from None
        send_item_changes(self.service.manager, changes)
        return new_id


class InvBrokerService(BindableService):
    name = "invbroker"
    access = "location"

    def create_bound(self, call, bind_params):
        need_character(call)
        if not (isinstance(bind_params, tuple) and len(bind_params) == 2):
            raise UserError("CustomError", {b"error": b"bind params: (locationID, groupID)"})
        location, group = (_int(v, "bind parameter") for v in bind_params)
        return InvBrokerBound(self, call.connection, location, group)

    @exposed
    def GetItemDescriptor(self, call):
        return ITEM_DESCRIPTOR
