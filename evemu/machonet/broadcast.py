"""Server -> client notifications to groups: a character, a corporation, a station, a solar
system, everyone (EVEmu's ``EntityList::Unicast`` / ``Multicast`` / ``Broadcast``).

The server owns one :class:`Broadcaster` (``server.broadcast``).  Every logged-in connection is
*attached* to it; its session then reports each attribute change to the broadcaster, which keeps
an index ``attribute -> value -> connections`` for the attributes in :data:`INDEXED`.  A lookup
is a dict access, not a scan of every client::

    server.broadcast.to_character(charid, "OnRemoteMessage", (b"CustomNotify", {...}))
    server.broadcast.to_corporation(corpid, "OnCorporationChanged", (corpid, change))
    server.broadcast.to_station(stationid, "OnCharNowInStation", ((charid, corpid, ...),))
    server.broadcast.to_solar_system(systemid, "OnSomething", args)
    server.broadcast.to_everyone("OnRemoteMessage", (b"ServerMessage", {b"msg": text}))

Each recipient gets its own ``macho.Notification`` (source ``Node(nodeID)``, destination
``Broadcast(event, [], idType)``, body ``((0, SubStream((0, (1, args)))),)``, oob
``{'sn': n}`` with that connection's next sequence number), as EVEmu's ``SendNotification``
builds it; the payload is marshalled once for all recipients.  Sending never blocks the
caller: a frame the socket does not take at once is queued for that connection's writer
tasklet (``Connection.notify_body``), so every client sees its notifications in ``sn`` order
and one client that stops reading (dropped after ``send_timeout``, or when too many are
queued) holds up nobody else.  The helpers return the number of clients reached.

Solar systems are indexed by ``solarsystemid2`` (the system the client is in, docked or not),
as the client's own ``solarsystemid2`` broadcasts are.
"""
import logging

from evemu.wire import marshal
from evemu.wire.marshal import SubStream

from .packets import Address

__all__ = ["Broadcaster", "INDEXED", "notification_body", "notification_addresses"]

log = logging.getLogger("evemu.machonet.broadcast")

#: Session attributes the broadcaster indexes.
INDEXED = ("userid", "charid", "corpid", "allianceid", "stationid", "solarsystemid2",
           "solarsystemid", "locationid", "fleetid")


def notification_addresses(node_id, event, id_type):
    """The wire (source, destination) of a server notification: ``Node(nodeID)`` and
    ``Broadcast(event, [], idType)``."""
    return (Address.node(node_id).to_wire(), Address.broadcast(event, id_type).to_wire())


def notification_body(args):
    """The body of a server notification carrying ``args`` (EVEmu's EVENotificationStream),
    with the inner stream marshalled once (a SubStream of raw bytes)."""
    inner = marshal.dumps((0, (1, tuple(args))), None)
    return ((0, SubStream.from_raw(inner)),)


class Broadcaster:
    @classmethod
    def of(cls, server):
        """``server.broadcast``, created on first use when the server did not make one."""
        b = getattr(server, "broadcast", None)
        if b is None:
            b = server.broadcast = cls(server)
        return b

    def __init__(self, server):
        self.server = server
        self._attached = {}                       # connection -> None (ordered set)
        self._index = {attr: {} for attr in INDEXED}

    # ------------------------------------------------------------------ registry
    def attach(self, conn):
        """Index a logged-in connection by its session (and follow its changes)."""
        session = conn.session
        self._attached[conn] = None
        for attr in INDEXED:
            value = session.get(attr)
            if value is not None:
                self._add(attr, value, conn)
        session.observer = lambda name, old, new: self._changed(conn, name, old, new)

    def detach(self, conn):
        """Forget a connection (it closed).  Idempotent."""
        if conn not in self._attached:
            return
        del self._attached[conn]
        session = conn.session
        session.observer = None
        for attr in INDEXED:
            value = session.get(attr)
            if value is not None:
                self._remove(attr, value, conn)

    def _changed(self, conn, name, old, new):
        if name not in self._index or conn not in self._attached:
            return
        if old is not None:
            self._remove(name, old, conn)
        if new is not None:
            self._add(name, new, conn)

    def _add(self, attr, value, conn):
        try:
            self._index[attr].setdefault(value, {})[conn] = None
        except TypeError:                         # an unhashable value: not indexable
            log.warning("%s: session %s=%r cannot be indexed", conn, attr, value)

    def _remove(self, attr, value, conn):
        try:
            group = self._index[attr].get(value)
        except TypeError:
            return
        if group is not None:
            group.pop(conn, None)
            if not group:
                del self._index[attr][value]

    def connections(self, attr=None, value=None):
        """The attached connections whose session has ``attr == value`` (all when attr is
        None), as a list (a snapshot: sending may close some)."""
        if attr is None:
            return list(self._attached)
        if attr not in self._index:
            raise KeyError(f"session attribute {attr!r} is not indexed (see INDEXED)")
        try:
            return list(self._index[attr].get(value, ()))
        except TypeError:
            return []

    def count(self, attr=None, value=None):
        if attr is None:
            return len(self._attached)
        try:
            return len(self._index[attr].get(value, ()))
        except TypeError:
            return 0

    # ------------------------------------------------------------------ sending
    def send(self, conns, event, id_type, args, sequenced=True):
        """Notify each connection of ``conns``; returns how many were reached."""
        if not conns:
            return 0
        body = notification_body(args)
        addresses = notification_addresses(self.server.node_id, event, id_type)
        sent = 0
        for conn in conns:
            if conn.closed:
                continue
            try:
                conn.notify_body(event, id_type, body, sequenced, addresses)
                sent += 1
            except Exception as e:               # the others go on in any case
                if conn.closed:                  # it died under us (its close logs why)
                    log.debug("%s: notification %s not delivered: %r", conn, event, e)
                else:                            # a bug: say so
                    log.exception("%s: notification %s not delivered", conn, event)
        return sent

    def to_character(self, charid, event, args, id_type="charid", sequenced=True):
        return self.send(self.connections("charid", charid), event, id_type, args, sequenced)

    def to_characters(self, charids, event, args, id_type="charid", sequenced=True):
        seen, conns = set(), []
        for charid in charids:
            for c in self.connections("charid", charid):
                if c not in seen:
                    seen.add(c)
                    conns.append(c)
        return self.send(conns, event, id_type, args, sequenced)

    def to_corporation(self, corpid, event, args, id_type="corpid", sequenced=True):
        return self.send(self.connections("corpid", corpid), event, id_type, args, sequenced)

    def to_station(self, stationid, event, args, id_type="stationid", sequenced=True):
        return self.send(self.connections("stationid", stationid), event, id_type, args,
                         sequenced)

    def to_solar_system(self, solarsystemid, event, args, id_type="solarsystemid2",
                        sequenced=True):
        return self.send(self.connections("solarsystemid2", solarsystemid), event, id_type,
                         args, sequenced)

    def to_everyone(self, event, args, id_type="clientID", sequenced=True):
        return self.send(self.connections(), event, id_type, args, sequenced)
