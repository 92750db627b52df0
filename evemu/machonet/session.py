"""Client sessions (protocol notes section 3.3).

A session is a dict of attributes (``userid``, ``role``, ``charid``, ``locationid``...).  The
client learns it once, in full, from a ``macho.SessionInitialStateNotification`` right after the
handshake, and afterwards from ``macho.SessionChangeNotification`` packets that carry
``{attr: (old, new)}``.  The server sends pending changes *before* the CallRsp of the call that
made them (EVEmu does the same), so the client sees e.g. its new location before the call returns.

``clientID``, ``sessionID`` and ``sid`` live in the session but are never sent to the client.
"""
import random
import time

from . import constants as C
from .packets import Address, Packet, wire_str

__all__ = ["Session", "NOT_SENT"]

NOT_SENT = frozenset({"clientID", "sessionID", "sid"})


def _wire(value):
    return wire_str(value) if isinstance(value, str) else value


class Session:
    """Attributes of one logged-in client, with change tracking."""

    def __init__(self, session_id=None):
        if session_id is None:
            # a random positive 63-bit id (the client does random.getrandbits(63) too)
            session_id = random.getrandbits(62) | (time.time_ns() & 0xFFFF)
        self.session_id = session_id
        self._attrs = {"sessionID": session_id}
        self._changes = {}          # attr -> (old, new), not yet sent
        #: ``observer(name, old, new)`` after every real change (the server's broadcast
        #: registry indexes charid, corpid, stationid... this way); None: nobody listens.
        self.observer = None

    def __getitem__(self, name):
        return self._attrs[name]

    def get(self, name, default=None):
        return self._attrs.get(name, default)

    def __contains__(self, name):
        return name in self._attrs

    def set(self, name, value):
        """Set an attribute; a real change is queued for the next change notification."""
        old = self._attrs.get(name)
        if name in self._attrs and old == value and type(old) is type(value):
            return
        self._attrs[name] = value
        if self.observer is not None:
            self.observer(name, old, value)
        if name in NOT_SENT:
            return
        if name in self._changes:
            first_old = self._changes[name][0]
            if first_old == value:
                del self._changes[name]          # changed back: nothing to tell
                return
            old = first_old
        self._changes[name] = (old, value)

    def update(self, **attrs):
        for k, v in attrs.items():
            self.set(k, v)

    def clear_changes(self):
        self._changes.clear()

    @property
    def dirty(self):
        return bool(self._changes)

    def initial_state(self):
        """``{attr: value}`` for SessionInitialStateNotification; pending changes are dropped
        (the client is about to learn the whole state)."""
        self._changes.clear()
        return {wire_str(k): _wire(v) for k, v in self._attrs.items() if k not in NOT_SENT}

    def pop_changes(self):
        """``{attr: (old, new)}`` in wire form, and forget them; {} when nothing changed."""
        changes = {wire_str(k): (_wire(o), _wire(n)) for k, (o, n) in self._changes.items()}
        self._changes.clear()
        return changes

    def as_dict(self):
        return dict(self._attrs)

    # ---------------------------------------------------------------- packets
    def initial_state_packet(self, node_id):
        return Packet(C.SESSION_INITIAL_STATE_NOTIFICATION,
                      Address.node(node_id), Address.client(self.get("clientID")),
                      self.get("userid"),
                      (self.session_id, C.SESSION_TYPE_USER, self.initial_state()))

    def change_packet(self, node_id):
        """The SessionChangeNotification for the pending changes, or None."""
        changes = self.pop_changes()
        if not changes:
            return None
        return Packet(C.SESSION_CHANGE_NOTIFICATION,
                      Address.node(node_id), Address.client(self.get("clientID")),
                      self.get("userid"),
                      (self.session_id, (0, changes), [-1, node_id]))
