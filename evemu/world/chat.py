"""Chat state: channels, their members and access lists, and the per-character rate limit.

Pure state, no wire format and no sockets: :mod:`evemu.services.lsc` decodes the client's calls,
asks this model, encodes replies and sends the ``OnLSC`` notifications.  Facts (constants,
kinds, ids) follow the Crucible client and evemu_Crucible (``EVE_LSC.h``, ``LSCChannel``); see
``docs/chat.md``.

Channel kinds.  A channel is found by an int id:

* *session-bound* channels (``solarsystemid2`` local, ``corpid``, ``allianceid``, ``fleetid``,
  ...) have the id of the entity (solar system, corporation...) and are named on the wire by
  ``((kind, id),)``.  Only a character whose session has ``kind == id`` may be in one; the
  service keeps membership in step with the session.
* *normal* channels (the fixed help/rookie/trade channels, ids 1..100, and user-created ones,
  ids from :data:`FIRST_USER_CHANNEL_ID`) are named by their int id.  A *temporary* normal
  channel is a private conversation: invite-only, removed when the last member leaves.
"""
import time

__all__ = [
    "MODE_CREATOR", "MODE_OPERATOR", "MODE_CONVERSATIONALIST", "MODE_SPEAKER", "MODE_LISTENER",
    "MODE_NOTSPECIFIED", "MODE_DISALLOWED", "VALID_MODES", "ERR_UNSPECIFIED",
    "ERR_NOSUCHCHANNEL", "ERR_ALREADYEXISTS", "ROOKIE_HELP_CHANNEL", "HELP_CHANNEL",
    "FIRST_USER_CHANNEL_ID", "LAST_USER_CHANNEL_ID", "MAX_MESSAGE_LENGTH", "MAX_NAME_LENGTH",
    "CSPA", "SESSION_KINDS", "NORMAL", "Speaker", "AclEntry", "Channel", "RateLimiter",
    "ChatWorld", "ChatError",
]

# chat modes (the client's CHTMODE_*): bit 1 listen, 2 speak, 4 operate, 8 create
MODE_CREATOR = 15
MODE_OPERATOR = 7
MODE_CONVERSATIONALIST = 3
MODE_SPEAKER = 2
MODE_LISTENER = 1
MODE_NOTSPECIFIED = -1
MODE_DISALLOWED = -2
VALID_MODES = frozenset({MODE_CREATOR, MODE_OPERATOR, MODE_CONVERSATIONALIST, MODE_SPEAKER,
                         MODE_LISTENER, MODE_NOTSPECIFIED, MODE_DISALLOWED})

# CreateChannel error results (CHTERR_*; EVEmu's LSC::Error)
ERR_UNSPECIFIED = -1
ERR_NOSUCHCHANNEL = -3
ERR_ALREADYEXISTS = -6

ROOKIE_HELP_CHANNEL = 1          # the client's rookieHelpChannel
HELP_CHANNEL = 2                 # helpChannelEN
FIRST_USER_CHANNEL_ID = 2100000000     # EVEmu's LSCService::BASE_CHANNEL_ID
LAST_USER_CHANNEL_ID = 2**31 - 1       # the id is an int32 on the wire and in the client
MAX_MESSAGE_LENGTH = 256         # the client cuts at CHT_MAX_INPUT (253) and appends '...'
MAX_NAME_LENGTH = 60             # longest channel name (ChatCustomChannelNameTooLong)
MAX_MOTD_LENGTH = 4000
CSPA = 2950                      # CONCORD spam prevention charge EVEmu puts on every channel

NORMAL = "normal"
#: kinds whose membership is tied to the session attribute of the same name
SESSION_KINDS = ("solarsystemid2", "solarsystemid", "constellationid", "regionid", "corpid",
                 "allianceid", "fleetid", "wingid", "squadid", "warfactionid")
#: session-bound kinds the service joins by itself when the session changes
AUTO_KINDS = ("solarsystemid2", "corpid")

# EVEmu's names, MOTD source and groupMessageID for the session-bound kinds
_KIND_INFO = {
    "regionid": ("Region", 1), "constellationid": ("Constellation", 2),
    "solarsystemid2": ("Local", 3), "solarsystemid": ("System", 3),
    "corpid": ("Corp", 263235), "allianceid": ("Alliance", 5), "fleetid": ("Fleet", 0),
    "wingid": ("Wing", 0), "squadid": ("Squad", 0), "warfactionid": ("Militia", 0),
}


class ChatError(Exception):
    """A refusal; ``key`` is the client's UserError message key, ``values`` its dict."""

    def __init__(self, key, **values):
        super().__init__(key, values)
        self.key = key
        self.values = values


class Speaker:
    """A character as chat sees it: who it is (from the session) and its connection."""

    __slots__ = ("charid", "corpid", "allianceid", "warfactionid", "role", "corprole", "name",
                 "typeid", "conn", "channels", "seen", "client_joined", "motd")

    def __init__(self, charid, conn=None, *, corpid=None, allianceid=None, warfactionid=None,
                 role=0, corprole=0, name=None, typeid=1373):
        self.charid = charid
        self.conn = conn
        self.corpid = corpid
        self.allianceid = allianceid
        self.warfactionid = warfactionid
        self.role = role or 0
        self.corprole = corprole or 0
        self.name = name if name is not None else f"Character {charid}"
        self.typeid = typeid
        self.channels = set()           # ids of the channels it is in
        self.seen = {}                  # session-bound kind -> the id last synced
        self.client_joined = set()      # channel ids the client itself joined (JoinChannels)
        self.motd = None                # server welcome text waiting for local to be joined

    def __repr__(self):
        return f"<Speaker {self.charid} {self.name!r}>"


class AclEntry:
    """One access-list row: ``accessor`` (a char/corp/alliance id, or None for everyone)."""

    __slots__ = ("accessor", "mode", "until", "original_mode", "admin", "reason")

    def __init__(self, accessor, mode, until=None, original_mode=None, admin="", reason=""):
        self.accessor = accessor
        self.mode = mode
        self.until = until
        self.original_mode = mode if original_mode is None else original_mode
        self.admin = admin
        self.reason = reason


class Channel:
    __slots__ = ("id", "kind", "owner_id", "display_name", "motd", "comparison_key",
                 "memberless", "password", "mailing_list", "cspa", "temporary",
                 "language_restriction", "group_message_id", "channel_message_id", "members",
                 "acl", "static", "subscribers")

    def __init__(self, channel_id, kind=NORMAL, *, owner_id=1, display_name="", motd="",
                 comparison_key=None, memberless=False, password="", cspa=CSPA,
                 temporary=False, group_message_id=None, channel_message_id=None,
                 public_mode=MODE_CONVERSATIONALIST, static=False):
        self.id = channel_id
        self.kind = kind
        self.owner_id = owner_id
        self.display_name = display_name
        self.motd = motd
        self.comparison_key = (comparison_key if comparison_key is not None
                               else comparison_key_of(display_name))
        self.memberless = memberless
        self.password = password
        self.mailing_list = False
        self.cspa = cspa
        self.temporary = temporary
        self.language_restriction = False
        self.group_message_id = group_message_id
        self.channel_message_id = channel_message_id
        self.members = {}                  # charid -> Speaker
        self.acl = {}                      # accessor -> AclEntry
        self.static = static
        self.subscribers = set()           # charids that keep it (kept user channels)
        if kind == NORMAL:
            self.acl[None] = AclEntry(None, public_mode)

    @property
    def session_bound(self):
        return self.kind != NORMAL

    @property
    def kept(self):
        """A user channel that outlives the server (not fixed, not private, not
        session-bound)."""
        return self.kind == NORMAL and not self.static and not self.temporary

    def __repr__(self):
        return f"<Channel {self.kind}:{self.id} {self.display_name!r} {len(self.members)}>"

    # ---------------------------------------------------------------- access
    def mode_of(self, sp):
        """The chat mode of a speaker here (the client's GetAccessInfo, same rules)."""
        if self.session_bound:
            return MODE_CONVERSATIONALIST
        if sp.charid == self.owner_id:
            return MODE_CREATOR
        entry = self.acl.get(sp.charid)
        if entry is not None:
            return entry.mode
        group = [self.acl[i].mode for i in (sp.corpid, sp.allianceid)
                 if i is not None and i in self.acl]
        if group:
            return min(group)
        public = self.acl.get(None)
        return public.mode if public is not None else MODE_NOTSPECIFIED

    def may_join(self, sp):
        return self.mode_of(sp) >= MODE_LISTENER

    def may_speak(self, sp):
        return self.mode_of(sp) >= MODE_SPEAKER

    def may_operate(self, sp):
        return self.mode_of(sp) >= MODE_OPERATOR

    def visible_to(self, sp):
        """Listed by GetChannels: public channels, and private ones it may join."""
        if self.session_bound:
            return False
        return not self.temporary or sp.charid in self.members or self.may_join(sp)


def comparison_key_of(name):
    """EVEmu's comparison key: lower case, spaces removed."""
    return "".join(name.lower().split(" "))


class RateLimiter:
    """Token bucket per character (kept across reconnects): ``burst`` messages at once, then
    ``rate`` per second."""

    def __init__(self, rate=2.0, burst=10, clock=time.monotonic):
        self.rate = float(rate)
        self.burst = float(burst)
        self.clock = clock
        self._buckets = {}              # charid -> [tokens, stamp]

    def allow(self, charid):
        now = self.clock()
        b = self._buckets.get(charid)
        if b is None:
            b = self._buckets[charid] = [self.burst, now]
        else:
            b[0] = min(self.burst, b[0] + (now - b[1]) * self.rate)
            b[1] = now
        if b[0] < 1.0:
            return False
        b[0] -= 1.0
        if len(self._buckets) > 100000:             # forget full buckets now and then
            self._buckets = {k: v for k, v in self._buckets.items() if v[0] < self.burst}
        return True


# the fixed channels of EVEmu's LSCService::CreateStaticChannels: id, owner, name, group
_STATIC = (
    (1, 1, "Rookie Help", 263238), (2, 1, "Help", 263238),
    (10, 1, "Caldari", 263329), (11, 1, "Amarr", 263329), (12, 1, "Minmatar", 263329),
    (13, 1, "Gallente", 263329), (14, 1, "Jove", 263329),
    (20, 9, "Recruitment", 263235), (21, 9, "CEO", 263235),
    (40, 1, "Other", 263240), (41, 1, "Ships", 263240), (42, 1, "Blueprints", 263240),
    (43, 1, "Modules and Munitions", 263240), (44, 1, "Minerals and Manufacturing", 263240),
    (50, 1, "Boosters", 263331), (51, 1, "Invention", 263331), (52, 1, "Manufacturing", 263331),
    (53, 1, "Mining", 263331), (54, 1, "Planetary Interaction", 263331),
    (55, 1, "Research", 263331),
    (60, 1, "Incursions", 263328), (61, 1, "Ratting", 263328), (62, 1, "Scanning", 263328),
    (63, 1, "Wormholes", 263328),
)

_HELP_MOTD = ("<br><b>Welcome to EVEmu (Crucible)</b><br><br>EVE related help. English "
              "only; no trading, recruiting or advertising.")


class ChatWorld:
    """Every channel of the node and the speakers in them."""

    def __init__(self, name_of=lambda kind, entity_id: str(entity_id)):
        #: ``name_of(kind, id)``: the name of a solar system / corporation... (channel MOTD)
        self.name_of = name_of
        self.channels = {}               # id -> Channel
        self._next_user_id = FIRST_USER_CHANNEL_ID
        for cid, owner, name, group in _STATIC:
            motd = _HELP_MOTD if cid in (ROOKIE_HELP_CHANNEL, HELP_CHANNEL) else (
                f"Welcome to the {name} channel.")
            ch = Channel(cid, owner_id=owner, display_name=name, motd=motd, memberless=True,
                         group_message_id=group, channel_message_id=-1, static=True)
            self.channels[cid] = ch

    # ---------------------------------------------------------------- lookup
    def get(self, channel_id, kind=NORMAL):
        ch = self.channels.get(channel_id)
        if ch is None or ch.kind != kind:
            return None
        return ch

    def session_channel(self, kind, entity_id):
        """The channel of a session-bound kind, created on first use."""
        ch = self.channels.get(entity_id)
        if ch is not None:
            return ch if ch.kind == kind else None
        name, group = _KIND_INFO[kind]
        title = self.name_of(kind, entity_id) or str(entity_id)
        # name_of may block (the service asks the database): another caller may have made the
        # channel meanwhile, and a second one would orphan its members
        ch = self.channels.get(entity_id)
        if ch is not None:
            return ch if ch.kind == kind else None
        message_id = -1
        if kind == "corpid" and not (1000000 <= entity_id < 2000000):
            message_id = 0                                   # a player corporation
        elif kind in ("allianceid", "fleetid", "wingid", "squadid"):
            message_id = 0
        ch = Channel(entity_id, kind, owner_id=entity_id, display_name=name, motd=title,
                     comparison_key=comparison_key_of(title), group_message_id=group or None,
                     channel_message_id=message_id)
        self.channels[entity_id] = ch
        return ch

    def by_name(self, name):
        key = comparison_key_of(name.strip())
        for ch in self.channels.values():
            if ch.kind == NORMAL and not ch.temporary and (
                    ch.comparison_key == key or ch.display_name.lower() == name.lower()):
                return ch
        return None

    # ---------------------------------------------------------------- lifecycle
    def create(self, owner, name, *, temporary=False, memberless=False):
        """A user channel owned by ``owner`` (a Speaker); private and invite-only when
        ``temporary``.  Raises ChatError when ids run out."""
        cid = self._next_user_id
        while cid in self.channels:
            cid += 1
        if cid > LAST_USER_CHANNEL_ID:
            raise ChatError("LSCCannotCreate", msg="No more channel ids")
        self._next_user_id = cid + 1
        ch = Channel(cid, owner_id=owner.charid, display_name=name, motd="",
                     memberless=bool(memberless), temporary=temporary,
                     public_mode=MODE_NOTSPECIFIED if temporary else MODE_CONVERSATIONALIST)
        self.channels[cid] = ch
        return ch

    def restore(self, d):
        """A kept channel as :func:`evemu.db.chat.load_channels` gives it back."""
        ch = Channel(int(d["channelID"]), owner_id=int(d["ownerID"]),
                     display_name=d["displayName"], motd=d["motd"],
                     comparison_key=d["comparisonKey"], memberless=bool(d["memberless"]),
                     password=d["password"] or "", cspa=int(d["cspa"]))
        ch.acl.clear()
        for e in d["acl"]:
            ch.acl[e["accessor"]] = AclEntry(e["accessor"], int(e["mode"]), e["untilWhen"],
                                             int(e["originalMode"]), e["admin"], e["reason"])
        ch.subscribers = set(d["members"])
        self.channels[ch.id] = ch
        if ch.id >= self._next_user_id:
            self._next_user_id = ch.id + 1
        return ch

    def destroy(self, ch):
        """Forget a channel; returns its former members."""
        members = list(ch.members.values())
        for sp in members:
            sp.channels.discard(ch.id)
        ch.members.clear()
        self.channels.pop(ch.id, None)
        return members

    def join(self, ch, sp):
        """Add a speaker; False if it was already in."""
        if sp.charid in ch.members:
            return False
        ch.members[sp.charid] = sp
        sp.channels.add(ch.id)
        return True

    def leave(self, ch, sp):
        """Remove a speaker; False if it was not in.  An empty private conversation goes
        away, and so does an empty session-bound channel (made again when needed)."""
        if ch.members.get(sp.charid) is not sp:
            return False
        del ch.members[sp.charid]
        sp.channels.discard(ch.id)
        if (ch.temporary or ch.kind != NORMAL) and not ch.members \
                and self.channels.get(ch.id) is ch:
            del self.channels[ch.id]
        return True
