"""``LSC`` ("large scale chat"): channels, members, messages (protocol notes section 4).

The reply shapes are those of evemu_Crucible's ``LSCService`` / ``LSCChannel`` (their
``LSCPkts.xmlp`` elements); the state lives in :mod:`evemu.world.chat`.  Design notes, the
places where we differ from EVEmu and why, and what the real client sends: ``docs/chat.md``.

Channel ids on the wire: an int for normal (help, user-created, private) channels, and
``((kind, entityID),)`` for session-bound ones (``(('solarsystemid2', 30002187),)`` is local).

``OnLSC(channelID, memberCount, method, who, args)`` goes to the members of the channel only:
``who = (allianceID, corpID, [charID, name, typeID], role, corpRole, warFactionID)``; methods
``JoinChannel``, ``LeaveChannel``, ``SendMessage`` (args ``(text,)``), ``DestroyChannel``,
``AccessControl`` (args ``(accessor, mode, untilWhen, originalMode, reason, admin)``).

Session changes: whoever changes ``charid``, ``corpid`` or ``solarsystemid2`` (character
selection, undock, jump) calls :func:`session_changed` (connection) afterwards; local and corp
membership then follows the session.  A member whose session no longer matches a session-bound
channel is also dropped when that channel next fans out, so a forgotten call cannot leak chat.
"""
import collections
import logging
import time

import stackless

from evemu.db import chat as chat_db
from evemu.db.importer import _placeholder
from evemu.machonet.calls import ClientCallError, call_client
from evemu.world import chat as W
from evemu.world.chat import ChatError
from evemu.wire.marshal import Instance, Token

from . import BoundObject, Service, UserError, exposed

__all__ = ["LSCService", "session_changed", "send_notification"]

log = logging.getLogger("evemu.services.lsc")

#: EVEmu's column headers (LSCPkts.xmlp)
CHANNEL_INFO_HEADER = [b"channelID", b"ownerID", b"displayName", b"motd", b"comparisonKey",
                       b"memberless", b"password", b"mailingList", b"cspa", b"temporary",
                       b"languageRestriction", b"groupMessageID", b"channelMessageID", b"mode",
                       b"subscribed", b"estimatedMemberCount"]
CHANNEL_MODS_HEADER = [b"accessor", b"mode", b"untilWhen", b"originalMode", b"admin",
                       b"reason"]
CHANNEL_CHARS_HEADER = [b"charID", b"corpID", b"mode", b"allianceID", b"warFactionID", b"role",
                        b"extra"]
OWNER_HEADER = [b"ownerID", b"ownerName", b"typeID"]

_MAX_CHANNELS_PER_CALL = 200


# ------------------------------------------------------------------ the one send path
def send_notification(connections, event, id_type, args, broadcaster=None):
    """Send one notification to each live connection in ``connections``.

    This is the only place chat talks to MachoNet for notifications.  With the server's
    broadcaster (:class:`evemu.machonet.broadcast.Broadcaster`, ``server.broadcast``) the
    payload is marshalled once for all members and each frame goes out without blocking;
    without one (a bare connection object, tests) each connection's ``notify`` is called.  A
    connection that is closing is skipped; it never stops the fan-out to the others."""
    if broadcaster is not None:
        return broadcaster.send(list(connections), event, id_type, args)
    sent = 0
    for conn in connections:
        if conn.closed:
            continue
        try:
            conn.notify(event, id_type, args)
            sent += 1
        except Exception as e:
            if conn.closed:             # it died under us (its own close logs why)
                log.debug("%s: %s not delivered: %r", conn, event, e)
            else:                       # a bug: say so, and go on with the others
                log.exception("%s: %s not delivered", conn, event)
    return sent


def session_changed(connection):
    """Hook for the code that changes a session's charid/corpid/solarsystemid2 (select
    character, undock, jump...): brings chat membership in line with the session."""
    services = getattr(connection.server, "services", None)
    svc = services.lookup("LSC") if services is not None else None
    if svc is not None:
        svc.sync_session(connection)


def _fetch_one(conn, sql, args):
    """The first row of ``sql`` (``?`` placeholders on both backends), or None."""
    return conn.execute(sql.replace("?", _placeholder(conn)), args).fetchone()


def _first_value(conn, queries, args):
    """The first true first value of the first row of ``queries``, tried in order; a query
    that fails (its table is not there without the static data) counts as no row.  None if
    none has one."""
    for sql in queries:
        try:
            row = _fetch_one(conn, sql, args)
        except Exception:               # noqa: BLE001 -- table or column missing: the next
            continue
        if row and row[0]:
            return row[0]
    return None


# ------------------------------------------------------------------ wire helpers
def _text(value, what, limit):
    """A str from the client's unicode or byte string, at most ``limit`` characters."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise ChatError("LSCCannotSendMessage", msg=f"The {what} must be text")
    if len(value) > limit:
        raise ChatError("LSCCannotSendMessage", msg=f"The {what} is too long (at most "
                        f"{limit} characters)")
    return value


def _is_int(v):
    return type(v) is int and -2**63 <= v < 2**63


def _kind_of(v):
    if isinstance(v, bytes):
        try:
            v = v.decode("ascii")
        except UnicodeDecodeError:
            return None
    return v if isinstance(v, str) else None


def parse_channel(value):
    """``(kind, id)`` from a channel id as the client sends it: ``5``, ``(('corpid', 5),)``,
    ``[('corpid', 5)]`` or ``('corpid', 5)``.  Raises ChatError otherwise."""
    if _is_int(value):
        return W.NORMAL, value
    v = value
    for _ in range(2):
        if type(v) in (tuple, list) and len(v) == 1 and type(v[0]) in (tuple, list):
            v = v[0]
    if type(v) in (tuple, list) and len(v) == 2:
        kind = _kind_of(v[0])
        if kind in W.SESSION_KINDS and _is_int(v[1]):
            return kind, v[1]
        if kind == W.NORMAL and _is_int(v[1]):
            return W.NORMAL, v[1]
    raise ChatError("LSCCannotJoin", msg=f"No such channel: {value!r:.80}")


def wire_id(ch):
    if ch.kind == W.NORMAL:
        return ch.id
    return ((ch.kind.encode("ascii"), ch.id),)


def _row(header, line):
    return Instance("util.Row", {b"header": header, b"line": line})


def _rowset(header, lines):
    return Instance("util.Rowset", {b"header": header, b"RowClass": Token("util.Row"),
                                    b"lines": lines})


def _info_line(ch, sp):
    return [ch.id, ch.owner_id, ch.display_name, ch.motd, ch.comparison_key,
            ch.memberless, ch.password, ch.mailing_list, ch.cspa, ch.temporary,
            ch.language_restriction, ch.group_message_id, ch.channel_message_id,
            ch.mode_of(sp), sp.charid in ch.members, len(ch.members)]


def channel_info(ch, sp):
    """The ``util.Row`` of a joined channel (EVEmu's ChannelJoinChannelInfo)."""
    return _row(CHANNEL_INFO_HEADER, _info_line(ch, sp))


def channel_mods(ch):
    """The access list (``util.Rowset``, EVEmu's ChannelJoinChannelMods)."""
    return _rowset(CHANNEL_MODS_HEADER, [
        [e.accessor, e.mode, e.until, e.original_mode, e.admin, e.reason]
        for e in ch.acl.values()])


def member_line(ch, sp):
    return [sp.charid, sp.corpid or 0, ch.mode_of(sp), sp.allianceid or 0,
            sp.warfactionid or 0, sp.role, _row(OWNER_HEADER, [sp.charid, sp.name, sp.typeid])]


def channel_chars(ch):
    """The member list (``util.Rowset``, EVEmu's ChannelJoinChannelChars)."""
    return _rowset(CHANNEL_CHARS_HEADER, [member_line(ch, sp) for sp in ch.members.values()])


def sender_info(sp):
    """``who`` of an OnLSC (EVEmu's OnLSC_SenderInfo)."""
    return (sp.allianceid or None, sp.corpid, [sp.charid, sp.name, sp.typeid], sp.role,
            sp.corprole, sp.warfactionid or None)


SYSTEM_SENDER = (None, 1, [1, "EVE System", 1], 1, 1, None)


def _user_error(e):
    return UserError(e.key, dict(e.values))


class _Presence(BoundObject):
    """Held for a connection that is in chat: released when it closes, so its character
    leaves its channels.  Never announced to the client."""

    def on_release(self):
        self.service.connection_gone(self.connection)


class LSCService(Service):
    name = "LSC"
    access = "location"

    def __init__(self, manager):
        super().__init__(manager)
        self.world = W.ChatWorld(name_of=self._name_of)
        self.limiter = W.RateLimiter()
        self.max_message_length = W.MAX_MESSAGE_LENGTH
        self.speakers = {}               # connection -> Speaker
        self.by_char = {}                # charid -> Speaker
        self._present = set()            # connections holding a _Presence
        #: (members reached, seconds) of the last SendMessage fan-outs (benchmarks/bench_chat)
        self.fanout_stats = collections.deque(maxlen=10000)
        self._names = {}                 # charid -> (name, typeID)
        self.invite_timeout = 120.0      # seconds an invitee's client has to answer
        self.max_pending_invites = 20    # unanswered invitations of one inviter
        self._invites = {}               # (channelID, invitee charid) -> inviter charid
        self._invite_tasks = set()       # the tasklets asking invitees
        hooks = getattr(getattr(manager, "server", None), "on_shutdown", None)
        if hooks is not None:
            hooks.append(self._stop_invites)
        self._restore()

    # ------------------------------------------------------------ kept channels
    @property
    def _db(self):
        return getattr(getattr(self.manager, "server", None), "db", None)

    def _restore(self):
        """The user channels kept in the database (with their settings, access lists and
        subscribers) come back at start."""
        if self._db is None:
            return
        try:
            kept = self._db.run(chat_db.load_channels)
        except Exception as e:           # no table (an old test database): nothing kept
            log.warning("LSC: kept channels not loaded: %r", e)
            return
        for d in kept:
            self.world.restore(d)

    def _keep(self, fn, *args):
        """Write a change of a kept channel; a failure is logged, chat goes on."""
        if self._db is None:
            return
        try:
            self._db.run(fn, *args)
        except Exception:
            log.exception("LSC: keeping %s%r", fn.__name__, args)

    @staticmethod
    def _channel_row(ch):
        return {"channelID": ch.id, "ownerID": ch.owner_id, "displayName": ch.display_name,
                "motd": ch.motd, "comparisonKey": ch.comparison_key,
                "memberless": ch.memberless, "password": ch.password or "", "cspa": ch.cspa}

    @staticmethod
    def _acl_row(e):
        return {"accessor": e.accessor, "mode": e.mode, "untilWhen": e.until,
                "originalMode": e.original_mode, "admin": e.admin, "reason": e.reason}

    @property
    def _broadcaster(self):
        """The server's broadcaster (None for a bare manager: notify() per connection)."""
        return getattr(getattr(self.manager, "server", None), "broadcast", None)

    # ------------------------------------------------------------ look-ups
    #: where a session-bound channel's MOTD (the entity's name) comes from: EVEmu's LSCDB
    #: tables first, then CCP's static-data names.  Quoted names and ``?`` (the connection's
    #: placeholder is put in): PostgreSQL folds unquoted names to lower case and takes ``%s``
    _NAME_QUERIES = {
        "solarsystemid2": ('SELECT "solarSystemName" FROM "mapSolarSystems" '
                           'WHERE "solarSystemID" = ?',),
        "solarsystemid": ('SELECT "solarSystemName" FROM "mapSolarSystems" '
                          'WHERE "solarSystemID" = ?',),
        "constellationid": ('SELECT "constellationName" FROM "mapConstellations" '
                            'WHERE "constellationID" = ?',),
        "regionid": ('SELECT "regionName" FROM "mapRegions" WHERE "regionID" = ?',),
        "corpid": ('SELECT "corporationName" FROM "crpCorporation" WHERE "corporationID" = ?',
                   'SELECT "itemName" FROM "invNames" WHERE "itemID" = ?',
                   'SELECT "itemName" FROM "eveNames" WHERE "itemID" = ?',
                   'SELECT "corporationName" FROM "crpNPCCorporations" '
                   'WHERE "corporationID" = ?'),
        "allianceid": ('SELECT "shortName" FROM "alnAlliance" WHERE "allianceID" = ?',),
    }

    def _name_of(self, kind, entity_id):
        queries = self._NAME_QUERIES.get(kind, ())
        name = None
        if queries:
            try:            # all of a kind's queries on one connection (one db.run)
                name = self.manager.server.db.run(_first_value, queries, (entity_id,))
            except Exception:           # noqa: BLE001 -- no database: the plain fallback
                name = None
        return name or str(entity_id)

    def _character(self, charid):
        got = self._names.get(charid)
        if got is None:
            db = self.manager.server.db
            try:
                row = db.run(_fetch_one, 'SELECT "characterName", "typeID" FROM '
                             '"chrCharacters" WHERE "characterID" = ?', (charid,))
            except Exception:
                row = None
            got = (row[0], row[1]) if row else (f"Character {charid}", 1373)
            self._names[charid] = got
        return got

    # ------------------------------------------------------------ speakers
    def speaker(self, call):
        """The caller as a Speaker; UserError when no character is selected."""
        sp = self.sync_session(call.connection)
        if sp is None:
            raise UserError("LSCCannotJoin", {"msg": "No character selected"})
        return sp

    def sync_session(self, conn):
        """Bring the speaker of ``conn`` and its session-bound channels in line with its
        session (the :func:`session_changed` hook).  Returns the Speaker or None."""
        s = conn.session
        charid = s.get("charid") if s is not None else None
        sp = self.speakers.get(conn)
        if sp is not None and sp.charid != charid:
            self._leave_all(sp)                 # another character (or none) now
            del self.speakers[conn]
            if self.by_char.get(sp.charid) is sp:
                del self.by_char[sp.charid]
            sp = None
        if charid is None or not _is_int(charid) or conn.closed:
            return None
        new = sp is None
        if new:
            name, typeid = self._character(charid)
            sp = W.Speaker(charid, conn, name=name, typeid=typeid)
            self.speakers[conn] = sp
            self.by_char[charid] = sp
            if conn not in self._present:
                self._present.add(conn)
                self.manager.bind(_Presence(self, conn), conn)
        for attr in ("corpid", "allianceid", "warfactionid", "role", "corprole"):
            v = s.get(attr)
            setattr(sp, attr, (v or 0) if attr in ("role", "corprole") else v)
        # leave session-bound channels the session left; join local and corp
        if sp.seen.get("solarsystemid2", s.get("solarsystemid2")) != s.get("solarsystemid2"):
            sp.client_joined.discard(sp.seen["solarsystemid2"])
        for cid in list(sp.channels):
            ch = self.world.channels.get(cid)
            if ch is not None and ch.session_bound and s.get(ch.kind) != ch.id:
                self._leave(ch, sp)
        # join local and corp when they change (so a channel the character left stays left)
        for kind in W.AUTO_KINDS:
            eid = s.get(kind)
            if sp.seen.get(kind) == eid:
                continue
            sp.seen[kind] = eid
            if _is_int(eid) and eid > 0:
                ch = self.world.session_channel(kind, eid)
                if ch is not None and sp.charid not in ch.members:
                    self._join(ch, sp)
        return sp

    def connection_gone(self, conn):
        self._present.discard(conn)
        sp = self.speakers.pop(conn, None)
        if sp is None:
            return
        if self.by_char.get(sp.charid) is sp:
            del self.by_char[sp.charid]
        if getattr(self.manager.server, "_stopping", False):
            # the server is closing every connection: telling the others, one by one, that
            # everybody left would be N*N notifications into sockets about to close (EVEmu
            # skips them too: LeaveChannel returns at shutdown)
            for cid in list(sp.channels):
                ch = self.world.channels.get(cid)
                if ch is not None:
                    self.world.leave(ch, sp)
            return
        self._leave_all(sp)

    # ------------------------------------------------------------ membership + fan-out
    def _targets(self, ch):
        """The connections of the members.  A session-bound channel first drops members whose
        session left it (membership follows the session even if nobody called the hook):
        all of them at once, then one LeaveChannel each, so nothing recurses."""
        if ch.session_bound:
            stale = [sp for sp in ch.members.values()
                     if sp.conn is None or sp.conn.closed or sp.conn.session is None
                     or sp.conn.session.get(ch.kind) != ch.id
                     or sp.conn.session.get("charid") != sp.charid]
            for sp in stale:
                self.world.leave(ch, sp)
            for sp in stale:
                if ch.members:
                    self._send(ch, b"LeaveChannel", sender_info(sp), ())
        return [sp.conn for sp in ch.members.values() if sp.conn is not None]

    def _send(self, ch, method, who, args):
        payload = (wire_id(ch), len(ch.members), method, who, tuple(args))
        return send_notification([sp.conn for sp in ch.members.values() if sp.conn is not None],
                                 "OnLSC", ch.kind.encode("ascii"), payload, self._broadcaster)

    def _broadcast(self, ch, method, sp_who, args=()):
        """OnLSC to the members (after dropping stale ones); returns how many got it."""
        self._targets(ch)
        who = sender_info(sp_who) if isinstance(sp_who, W.Speaker) else sp_who
        return self._send(ch, method, who, args)

    def _join(self, ch, sp):
        if self.world.join(ch, sp):
            if ch.kept and sp.charid not in ch.subscribers:
                ch.subscribers.add(sp.charid)
                self._keep(chat_db.subscribe, ch.id, sp.charid)
            self._broadcast(ch, b"JoinChannel", sp)
            return True
        return False

    def _unsubscribe(self, ch, sp):
        if ch.kept and sp.charid in ch.subscribers:
            ch.subscribers.discard(sp.charid)
            self._keep(chat_db.unsubscribe, ch.id, sp.charid)

    def _leave(self, ch, sp):
        if self.world.leave(ch, sp):
            if ch.members:
                self._broadcast(ch, b"LeaveChannel", sp)
            return True
        return False

    def _leave_all(self, sp):
        for cid in list(sp.channels):
            ch = self.world.channels.get(cid)
            if ch is not None:
                self._leave(ch, sp)
        sp.channels.clear()

    def _find(self, sp, value, err="LSCCannotJoin"):
        """The channel a client's id names, or ChatError ``err``; session-bound channels
        only for a session that is there."""
        try:
            kind, cid = parse_channel(value)
        except ChatError as e:
            raise ChatError(err, **e.values) from None
        if kind == W.NORMAL:
            ch = self.world.get(cid)
        else:
            if sp.conn.session.get(kind) != cid:
                raise ChatError(err, msg="You are not in that channel's location or group")
            ch = self.world.session_channel(kind, cid)
        if ch is None:
            raise ChatError(err, msg=f"No such channel: {cid}")
        return ch

    def _join_reply(self, ch, sp):
        return (wire_id(ch), 1, (channel_info(ch, sp), channel_mods(ch), channel_chars(ch)))

    # ------------------------------------------------------------ calls
    @exposed
    def GetChannels(self, call, reload=0):
        """The channels the character may list: fixed help/trade channels, user channels and
        the private ones it belongs to (a ``util.Rowset`` of ChannelInfo lines)."""
        sp = self.speaker(call)
        lines = [_info_line(ch, sp) for ch in sorted(self.world.channels.values(),
                                                      key=lambda c: c.id)
                 if ch.visible_to(sp)]
        return _rowset(CHANNEL_INFO_HEADER, lines)

    @exposed
    def GetRookieHelpChannel(self, call):
        return W.ROOKIE_HELP_CHANNEL

    @exposed
    def JoinChannels(self, call, channels, role=None):
        """``[(channelID, 1, (info, acl, members)) | (channelID, 0, (msgKey, dict)), ...]``;
        the character's own mailing lists (charid/corpid/allianceid as ints), which we do not
        have, are left out as EVEmu does."""
        sp = self.speaker(call)
        if type(channels) not in (list, tuple) or len(channels) > _MAX_CHANNELS_PER_CALL:
            raise UserError("LSCCannotJoin", {"msg": "Bad channel list"})
        own = {sp.charid, sp.corpid, sp.allianceid}
        out, seen = [], set()
        for value in channels:
            try:
                kind, cid = parse_channel(value)
            except ChatError as e:
                raise _user_error(e) from None
            if (kind, cid) in seen or cid == 0:
                continue
            seen.add((kind, cid))
            if kind == W.NORMAL and cid in own and self.world.get(cid) is None:
                continue
            try:
                ch = self._find(sp, value)
                if not ch.may_join(sp):
                    raise ChatError("LSCCannotJoin", msg="You are not allowed in that channel")
            except ChatError as e:
                wid = cid if kind == W.NORMAL else ((kind.encode("ascii"), cid),)
                out.append((wid, 0, (e.key.encode("ascii"), {b"msg": e.values.get("msg", "")})))
                continue
            self._join(ch, sp)          # joining twice answers the channel again (idempotent)
            out.append(self._join_reply(ch, sp))
            sp.client_joined.add(ch.id)
            if ch.kind == "solarsystemid2" and sp.motd is not None:
                # while this call runs the client holds OnLSCs for the channel until the
                # join is done, so the text lands in the new window
                text, sp.motd = sp.motd, None
                self._motd_to(sp, ch, text)
        return out

    @exposed
    def JoinChannel(self, call, channel, password=None):
        """The password prompt's join: ``(info, acl, members)`` or None."""
        sp = self.speaker(call)
        try:
            ch = self._find(sp, channel)
        except ChatError as e:
            raise _user_error(e) from None
        if ch.password and password != ch.password:
            return None
        if not ch.may_join(sp):
            raise UserError("LSCCannotJoin", {"msg": "You are not allowed in that channel"})
        self._join(ch, sp)
        return self._join_reply(ch, sp)[2]

    def _leave_value(self, sp, value, unsubscribe=False):
        try:
            kind, cid = parse_channel(value)
        except ChatError:
            return
        ch = self.world.channels.get(cid)
        if ch is None or ch.kind != kind:
            return
        if kind == "solarsystemid2" and sp.conn.session.get(kind) == cid:
            # nobody leaves the local channel of the system they are in; the client asks
            # when chat reaches it before it has joined (EVE's client: OnLSC for an unknown
            # channel -> LeaveChannel), which would otherwise race its own JoinChannels
            return
        self._leave(ch, sp)
        if unsubscribe:
            self._unsubscribe(ch, sp)

    @exposed
    def LeaveChannels(self, call, channels, unsubscribe=0, role=None):
        """Elements are ``(channelID, announce)`` (the client's form) or bare channel ids;
        anything else is skipped, as EVEmu does."""
        sp = self.speaker(call)
        if type(channels) not in (list, tuple) or len(channels) > _MAX_CHANNELS_PER_CALL:
            raise UserError("LSCCannotJoin", {"msg": "Bad channel list"})
        for el in channels:
            if type(el) is tuple and len(el) == 2 and type(el[1]) in (bool, int) and (
                    _is_int(el[0]) or type(el[0]) in (tuple, list)):
                self._leave_value(sp, el[0], bool(unsubscribe))
            else:
                self._leave_value(sp, el, bool(unsubscribe))
        return None

    @exposed
    def LeaveChannel(self, call, channel, unsubscribe=0):
        sp = self.speaker(call)
        self._leave_value(sp, channel, unsubscribe is True or unsubscribe == 1)
        return None

    @exposed
    def ForgetChannel(self, call, channel):
        """The channel list's "forget": leave it and drop the subscription (EVESharp; EVEmu
        has no handler)."""
        sp = self.speaker(call)
        self._leave_value(sp, channel, True)
        return None

    @exposed
    def SendMessage(self, call, channel, message):
        """Fan a message out to the channel's members as ``OnLSC(..., 'SendMessage', who,
        (text,))``; refused (``LSCCannotSendMessage``) when the caller is not a member, may
        not speak, the text is too long, or it sends too fast."""
        sp = self.speaker(call)
        try:
            text = _text(message, "message", self.max_message_length)
            ch = self._find(sp, channel, err="LSCCannotSendMessage")
            if sp.charid not in ch.members:
                raise ChatError("LSCCannotSendMessage", msg="You are not in that channel")
            if not ch.may_speak(sp):
                raise ChatError("LSCCannotSendMessage", msg="You are not able to speak in "
                                "this channel")
            if not text.strip():
                return None
            if not self.limiter.allow(sp.charid):
                raise ChatError("LSCCannotSendMessage", msg="You are sending messages too "
                                "fast; wait a moment")
        except ChatError as e:
            raise _user_error(e) from None
        t0 = time.perf_counter()
        sent = self._broadcast(ch, b"SendMessage", sp, (text,))
        self.fanout_stats.append((sent, time.perf_counter() - t0))
        return None

    @exposed
    def GetMembers(self, call, channel):
        """The member rowset of a channel the caller is in (None otherwise, as EVEmu)."""
        sp = self.speaker(call)
        try:
            ch = self._find(sp, channel)
        except ChatError:
            return None
        if sp.charid not in ch.members:
            return None
        self._targets(ch)               # drop stale members first
        return channel_chars(ch)

    @exposed
    def GetMember(self, call, channel=None, charID=None):
        """EVEmu answers None; we give the member line when both are in the channel."""
        sp = self.speaker(call)
        try:
            ch = self._find(sp, channel)
        except ChatError:
            return None
        other = ch.members.get(charID) if _is_int(charID) else None
        if sp.charid not in ch.members or other is None:
            return None
        return _row(CHANNEL_CHARS_HEADER, member_line(ch, other))

    @exposed
    def CreateChannel(self, call, name, **kw):
        """``(info, acl, members)`` of a new (``create=True``) or existing
        (``joinExisting=True``) channel; a failure is ``(CHTERR_*, None, None)``."""
        sp = self.speaker(call)
        if not isinstance(name, (str, bytes)):
            raise UserError("LSCCannotJoin", {"msg": "The channel name must be text"})
        try:
            display = _text(name, "channel name", W.MAX_NAME_LENGTH).strip()
        except ChatError:
            raise UserError("ChatCustomChannelNameTooLong", {"max": W.MAX_NAME_LENGTH}) \
                from None
        create = bool(kw.get("create", False))
        temporary = bool(kw.get("temporary", False))
        join_existing = bool(kw.get("joinExisting", False))
        memberless = kw.get("memberless", 0)
        if not display:
            return (W.ERR_UNSPECIFIED, None, None)
        if join_existing:
            ch = self.world.by_name(display)
            if ch is None:
                return (W.ERR_NOSUCHCHANNEL, None, None)
            if not ch.may_join(sp):
                raise UserError("LSCCannotJoin", {"msg": "You are not allowed in that channel"})
        elif create or temporary:
            if not temporary and self.world.by_name(display) is not None:
                return (W.ERR_ALREADYEXISTS, None, None)
            try:
                ch = self.world.create(sp, display, temporary=temporary,
                                       memberless=memberless if _is_int(memberless) else 0)
            except ChatError as e:
                raise _user_error(e) from None
            if ch.kept:
                self._keep(chat_db.save_channel, self._channel_row(ch),
                           [self._acl_row(e) for e in ch.acl.values()])
        else:
            return (W.ERR_UNSPECIFIED, None, None)
        self._join(ch, sp)
        return (channel_info(ch, sp), channel_mods(ch), channel_chars(ch))

    def _own_channel(self, sp, channel_id, err):
        if not _is_int(channel_id):
            raise UserError(err, {"msg": "Bad channel id"})
        ch = self.world.get(channel_id)
        if ch is None:
            raise UserError(err, {"msg": f"No such channel: {channel_id}"})
        return ch

    @exposed
    def DestroyChannel(self, call, channelID, *rest):
        """Only the creator of a user channel (the fixed ones: nobody) may destroy it; the
        members get ``OnLSC(..., 'DestroyChannel')``."""
        sp = self.speaker(call)
        ch = self._own_channel(sp, channelID, "LSCCannotDestroy")
        if ch.static or ch.mode_of(sp) < W.MODE_CREATOR:
            raise UserError("LSCCannotDestroy", {"msg": "Insufficient permissions"})
        targets = self._targets(ch)
        payload = (wire_id(ch), 0, b"DestroyChannel", sender_info(sp), ())
        self.world.destroy(ch)
        if ch.kept:
            self._keep(chat_db.delete_channel, ch.id)
        send_notification(targets, "OnLSC", b"normal", payload, self._broadcaster)
        return None

    @exposed
    def Invite(self, call, characterID, channelID, channelTitle=None, addAllowed=False):
        """Invite a character into a channel (private conversations): an access-list entry
        (conversationalist) for it, announced to the members as ``AccessControl``; needs
        operator rights (any member of a private conversation may invite).  Answers 1 at once,
        as EVEmu's LSCService::Invite does: the invitee's client is asked in a tasklet of its
        own (:meth:`_ask_invitee`), so the inviter never waits for the other player."""
        sp = self.speaker(call)
        if not _is_int(characterID):
            raise UserError("ChtCharNotReachable", {"char": 0})
        ch = self._own_channel(sp, channelID, "LSCCannotJoin")
        if characterID == sp.charid:
            raise UserError("ChtCannotInviteSelf")
        if not ch.may_operate(sp) and not (ch.temporary and sp.charid in ch.members):
            raise UserError("ChtWrongRole", {"channel": ch.display_name,
                                             "missingroles": "Operator"})
        if characterID in ch.members:
            raise UserError("ChtAlreadyInChannel", {"char": characterID})
        other = self.by_char.get(characterID)
        if other is None:
            raise UserError("ChtCharNotReachable", {"char": characterID})
        key = (ch.id, characterID)
        if key in self._invites:
            raise UserError("ChtAlreadyInvited", {"char": characterID})
        if sum(1 for inviter in self._invites.values() if inviter == sp.charid) >= \
                self.max_pending_invites:
            raise UserError("CustomError", {"error": "Too many invitations are waiting for "
                                                     "an answer."})
        entry = None
        if ch.mode_of(other) < W.MODE_CONVERSATIONALIST:
            self._set_access(ch, sp, characterID, W.MODE_CONVERSATIONALIST)
            entry = ch.acl.get(characterID)
        self._invites[key] = sp.charid
        t = stackless.tasklet(self._ask_invitee)(sp, other, ch, entry, key)
        self._invite_tasks.add(t)
        return 1

    def _ask_invitee(self, sp, other, ch, entry, key):
        """The invitee's client is asked (``LSC.ChatInvite(invitorID, invitorName,
        invitorGender, channelID)``, a server-to-client call, at most ``invite_timeout``
        seconds).  None: accepted (the client joins with JoinChannels by itself).  A refusal
        (the client's UserError key: ``ChtRejected``, ``ChtBlockedNow``, ...; anything else
        counts as ``ChtRejected``), no answer or a closed connection (``ChtCharNotReachable``)
        takes back the access entry the invitation gave (unless the invitee joined meanwhile
        or someone changed the entry) and tells the inviter's client as
        ``OnRemoteMessage(key, {char})``, the way EVEmu sends a message outside a call."""
        char_id = key[1]
        try:
            gender = sp.conn.session.get("genderID") if sp.conn.session is not None else None
            try:
                reason = call_client(other.conn, "LSC", "ChatInvite",
                                     (sp.charid, sp.name, gender or 0, ch.id),
                                     timeout=self.invite_timeout)
            except (TimeoutError, ConnectionResetError, ClientCallError, OSError) as e:
                log.info("LSC: invitation of %s to %s not answered: %r", char_id, ch.id, e)
                reason = "ChtCharNotReachable"
            if reason is None:
                return
            if isinstance(reason, bytes):
                reason = reason.decode("ascii", "replace")
            if not isinstance(reason, str) or not reason.startswith("Cht") or len(reason) > 40:
                reason = "ChtRejected"
            if entry is not None and ch.acl.get(char_id) is entry and \
                    char_id not in ch.members and self.world.channels.get(ch.id) is ch:
                self._set_access(ch, sp, char_id, W.MODE_NOTSPECIFIED)   # declined: undone
            if not sp.conn.closed:
                send_notification((sp.conn,), "OnRemoteMessage", b"charid",
                                  (reason.encode("ascii"), {b"char": char_id}),
                                  self._broadcaster)
        except Exception:
            log.exception("LSC: invitation of %s to %s", char_id, ch.id)
        finally:
            self._invites.pop(key, None)
            self._invite_tasks.discard(stackless.getcurrent())

    def _stop_invites(self):
        """Shutdown: the invitations still waiting for an answer are dropped."""
        for t in list(self._invite_tasks):
            if t.alive:
                t.kill()
        self._invite_tasks.clear()
        self._invites.clear()

    def _set_access(self, ch, sp, accessor, mode, until=None, reason=""):
        if mode == W.MODE_NOTSPECIFIED and accessor is not None:
            ch.acl.pop(accessor, None)
            if ch.kept:
                self._keep(chat_db.set_access, ch.id, {"accessor": accessor, "mode": None})
        else:
            entry = ch.acl[accessor] = W.AclEntry(accessor, mode, until, mode, sp.name,
                                                  reason or "")
            if ch.kept:
                self._keep(chat_db.set_access, ch.id, self._acl_row(entry))
        self._broadcast(ch, b"AccessControl", sp,
                        (accessor, mode, until, mode, reason or "", sp.name))
        if accessor is not None:
            for member in list(ch.members.values()):
                if member.charid != ch.owner_id and not ch.may_join(member):
                    self._leave(ch, member)

    @exposed
    def AccessControl(self, call, channelID, accessor, mode, untilWhen=None, reason=None,
                      *rest):
        """Set one access-list entry (``accessor`` None: everyone); operators only, and only
        the creator makes or unmakes operators.  Members that lose access are removed."""
        sp = self.speaker(call)
        ch = self._own_channel(sp, channelID, "LSCCannotAccessControl")
        if not ch.may_operate(sp) or ch.static:
            raise UserError("LSCCannotAccessControl", {"msg": "Insufficient permissions"})
        if not (accessor is None or _is_int(accessor)) or type(mode) is not int or \
                mode not in W.VALID_MODES:
            raise UserError("LSCCannotAccessControl", {"msg": "Bad access entry"})
        if accessor == ch.owner_id or (mode >= W.MODE_OPERATOR and accessor is None):
            raise UserError("LSCCannotAccessControl", {"msg": "Insufficient permissions"})
        current = ch.acl.get(accessor)
        if (mode >= W.MODE_OPERATOR or (current is not None and
                                        current.mode >= W.MODE_OPERATOR)) \
                and ch.mode_of(sp) < W.MODE_CREATOR:
            raise UserError("LSCCannotAccessControl", {"msg": "Insufficient permissions"})
        if untilWhen is not None and not _is_int(untilWhen):
            untilWhen = None
        if reason is not None and not isinstance(reason, (str, bytes)):
            reason = None
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        self._set_access(ch, sp, accessor, mode, untilWhen, (reason or "")[:200])
        return 1

    @exposed
    def Configure(self, call, channelID, **kw):
        """Operators change ``displayName`` / ``motd`` / ``memberless``; members are told with
        ``RenameChannel`` / ``SetChannelMOTD`` / ``SetChannelMemberless`` OnLSCs."""
        sp = self.speaker(call)
        ch = self._own_channel(sp, channelID, "LSCCannotAccessControl")
        if not ch.may_operate(sp) or ch.static:
            raise UserError("LSCCannotAccessControl", {"msg": "Insufficient permissions"})
        try:
            if "displayName" in kw:
                name = _text(kw["displayName"], "channel name", W.MAX_NAME_LENGTH).strip()
                if name:
                    ch.display_name = name
                    ch.comparison_key = W.comparison_key_of(name)
                    self._broadcast(ch, b"RenameChannel", sp, (name,))
            if "motd" in kw:
                ch.motd = _text(kw["motd"], "motd", W.MAX_MOTD_LENGTH)
                self._broadcast(ch, b"SetChannelMOTD", sp, (ch.motd,))
        except ChatError as e:
            raise UserError("LSCCannotAccessControl", {"msg": e.values.get("msg", "")}) \
                from None
        if "memberless" in kw and type(kw["memberless"]) in (int, bool):
            ch.memberless = bool(kw["memberless"])
            self._broadcast(ch, b"SetChannelMemberless", sp, (int(ch.memberless),
                                                               channel_chars(ch)))
        if ch.kept:
            self._keep(chat_db.save_channel, self._channel_row(ch))
        return None

    # ------------------------------------------------------------ server side
    def character_selected(self, call, character):
        """charUnboundMgr.SelectCharacterID's hook, called after the session change went out:
        the character joins its session-bound channels (local, corp), and the welcome text
        waits for the client's own JoinChannels of local (see :meth:`send_motd`)."""
        from .charunbound import motd_text
        # the speaker's name and type from the row the selection read: no query of its own
        self._names[character["characterID"]] = (character["characterName"],
                                                 character["typeID"])
        self.sync_session(call.connection)
        self.send_motd(call.connection, motd_text(self.manager.server, call.session))

    def send_motd(self, conn, text):
        """The server's welcome text in the character's local channel, to it alone (EVEmu's
        SendServerMOTD).  Call it when the character is selected: if the client has not
        joined local yet (it does so right after the session change), the text waits for
        its JoinChannels.  Returns True if sent now, False if queued, None: no character."""
        sp = self.sync_session(conn)
        if sp is None:
            return None
        eid = conn.session.get("solarsystemid2")
        ch = self.world.channels.get(eid) if _is_int(eid) else None
        if ch is None or ch.id not in sp.client_joined or sp.charid not in ch.members:
            sp.motd = text
            return False
        return self._motd_to(sp, ch, text)

    def _motd_to(self, sp, ch, text):
        payload = (wire_id(ch), len(ch.members), b"SendMessage", SYSTEM_SENDER, (text,))
        return send_notification([sp.conn], "OnLSC", ch.kind.encode("ascii"), payload,
                                 self._broadcaster) == 1
