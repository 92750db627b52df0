"""MachoNet packets and addresses (protocol notes section 3.2), to and from marshal values.

Every message after the handshake is an instance (marshal 0x17) named ``macho.<Type>`` whose state
is the 7-tuple ``(command, source, destination, userID, body, oob, contextKey)``.  Here a packet is
a :class:`Packet` with Python-native fields; :meth:`Packet.to_wire` builds the marshal value and
:func:`parse_packet` checks and converts one (raising :class:`PacketError`, after which the
connection is dropped: a client that sends malformed packets is broken or hostile).

Strings: on the wire a Python 2 ``str`` is ``bytes``; here service/method names are ``str`` and
are converted at this boundary (ASCII only: a non-ASCII name is a malformed packet).
"""
from evemu.wire.marshal import Instance, ObjectEx1, SubStream, Token, make_instance
from evemu.wire.marshal import loads as _loads

from . import constants as C

__all__ = [
    "PacketError", "Address", "Packet", "CallRequest", "parse_packet", "parse_call",
    "parse_notification", "user_error", "gps_transport_closed", "wire_str", "native_str",
    "call_rsp_wire",
]


class PacketError(ValueError):
    """A value that is not a valid MachoNet packet."""


def wire_str(s):
    """A Python str as the Py2 byte string the client expects (UTF-8; None stays None)."""
    if s is None or isinstance(s, bytes):
        return s
    return s.encode("utf-8")


def native_str(s, what="string"):
    """A name from the wire (bytes or unicode) as an ASCII str; PacketError otherwise."""
    if isinstance(s, bytes):
        try:
            return s.decode("ascii")
        except UnicodeDecodeError:
            raise PacketError(f"{what} is not ASCII: {s!r}") from None
    if isinstance(s, str):
        if not s.isascii():
            raise PacketError(f"{what} is not ASCII: {s!r}")
        return s
    raise PacketError(f"{what} must be a string, not {type(s).__name__}")


def _opt_str(s, what):
    return None if s is None else native_str(s, what)


def _int(v, what, optional=False):
    if v is None and optional:
        return None
    if type(v) is not int:   # bool is not an address field
        raise PacketError(f"{what} must be an int, not {type(v).__name__}")
    return v


_ADDRESS_FIELDS = {C.ADDRESS_NODE: 4, C.ADDRESS_CLIENT: 4, C.ADDRESS_BROADCAST: 4,
                   C.ADDRESS_ANY: 3}


class Address:
    """A ``macho.MachoAddress``.  Build with the class methods:

    ``Address.node(nodeID, service=None, callID=None)``   -> ``(1, nodeID, service, callID)``
    ``Address.client(clientID, callID=None, service=None)`` -> ``(2, clientID, callID, service)``
    ``Address.broadcast(eventName, narrowcast=(), idType)`` -> ``(4, eventName, [..], idType)``
    ``Address.any(service=None, callID=None)``              -> ``(8, service, callID)``
    """

    __slots__ = ("kind", "id", "service", "call_id", "narrowcast", "id_type", "_wire")

    def __init__(self, kind, id=None, service=None, call_id=None, narrowcast=None, id_type=None):
        self._wire = None             # the Instance it was parsed from (to_wire returns it)
        self.kind = kind
        self.id = id                  # nodeID / clientID / broadcast event name
        self.service = service
        self.call_id = call_id
        self.narrowcast = narrowcast
        self.id_type = id_type

    @classmethod
    def node(cls, node_id, service=None, call_id=None):
        return cls(C.ADDRESS_NODE, node_id, service, call_id)

    @classmethod
    def client(cls, client_id, call_id=None, service=None):
        return cls(C.ADDRESS_CLIENT, client_id, service, call_id)

    @classmethod
    def broadcast(cls, event, id_type, narrowcast=()):
        return cls(C.ADDRESS_BROADCAST, event, narrowcast=list(narrowcast), id_type=id_type)

    @classmethod
    def any(cls, service=None, call_id=None):
        return cls(C.ADDRESS_ANY, None, service, call_id)

    def to_wire(self):
        # An address parsed from the wire is a value: answer with the very same Instance
        # (a CallRsp's source is its CallReq's destination).  Addresses are not mutated in
        # place anywhere; build a new one to change a field.
        if self._wire is not None:
            return self._wire
        k = self.kind
        if k == C.ADDRESS_NODE:
            state = (k, self.id, wire_str(self.service), self.call_id)
        elif k == C.ADDRESS_CLIENT:
            state = (k, self.id, self.call_id, wire_str(self.service))
        elif k == C.ADDRESS_BROADCAST:
            state = (k, wire_str(self.id), list(self.narrowcast or ()), wire_str(self.id_type))
        elif k == C.ADDRESS_ANY:
            state = (k, wire_str(self.service), self.call_id)
        else:
            raise ValueError(f"unknown address kind {k!r}")
        return make_instance("macho.MachoAddress", state)

    @classmethod
    def from_wire(cls, value):
        # Fast path for the shapes of every call: Client(int, int|None, None) and
        # Any(ascii bytes, int|None); anything else takes the checking path below.
        if type(value) is Instance and value.name == "macho.MachoAddress":
            st = value.state
            if type(st) is tuple:
                n = len(st)
                if n == 4 and st[0] == 2 and type(st[1]) is int and st[3] is None and \
                        (st[2] is None or type(st[2]) is int) and type(st[0]) is int:
                    a = cls(2, st[1], None, st[2])
                    a._wire = value
                    return a
                if n == 3 and st[0] == 8 and type(st[1]) is bytes and st[1].isascii() and \
                        (st[2] is None or type(st[2]) is int) and type(st[0]) is int:
                    a = cls(8, None, st[1].decode("ascii"), st[2])
                    a._wire = value
                    return a
        return cls._from_wire_checked(value)

    @classmethod
    def _from_wire_checked(cls, value):
        if type(value) is not Instance or value.name != "macho.MachoAddress":
            raise PacketError(f"not a macho.MachoAddress: {type(value).__name__}")
        st = value.state
        if type(st) is not tuple or not st:
            raise PacketError("MachoAddress state must be a non-empty tuple")
        kind = st[0]
        want = _ADDRESS_FIELDS
        if type(kind) is not int or kind not in want:
            raise PacketError(f"unknown MachoAddress type {kind!r}")
        if len(st) != want[kind]:
            raise PacketError(f"MachoAddress type {kind} needs {want[kind]} fields, got {len(st)}")
        if kind == C.ADDRESS_NODE:
            return cls(kind, _int(st[1], "nodeID", True), _opt_str(st[2], "service"),
                       _int(st[3], "callID", True))
        if kind == C.ADDRESS_CLIENT:
            return cls(kind, _int(st[1], "clientID", True), _opt_str(st[3], "service"),
                       _int(st[2], "callID", True))
        if kind == C.ADDRESS_ANY:
            return cls(kind, None, _opt_str(st[1], "service"), _int(st[2], "callID", True))
        narrow = st[2]
        if narrow is not None and type(narrow) is not list:
            raise PacketError("broadcast narrowcast must be a list")
        return cls(kind, _opt_str(st[1], "broadcastID"), narrowcast=narrow,
                   id_type=_opt_str(st[3], "idType"))

    def __eq__(self, other):
        if type(other) is not Address:
            return NotImplemented
        return all(getattr(self, s) == getattr(other, s) for s in self.__slots__[:-1])

    __hash__ = None

    def __repr__(self):
        names = {1: "node", 2: "client", 4: "broadcast", 8: "any"}
        fields = ", ".join(f"{s}={getattr(self, s)!r}" for s in self.__slots__[1:-1]
                           if getattr(self, s) is not None)
        return f"Address.{names.get(self.kind, self.kind)}({fields})"


class Packet:
    """One MachoNet packet.  ``body`` is the payload tuple, ``oob`` the named payload dict."""

    __slots__ = ("type", "source", "destination", "userid", "body", "oob", "context_key")

    def __init__(self, type, source, destination, userid=None, body=(), oob=None,
                 context_key=None):
        self.type = type
        self.source = source
        self.destination = destination
        self.userid = userid
        self.body = body
        self.oob = oob
        self.context_key = context_key

    @property
    def type_name(self):
        return C.PACKET_TYPE_NAMES[self.type]

    def to_wire(self):
        return make_instance(C.PACKET_TYPE_NAMES[self.type], (
            self.type, self.source.to_wire(), self.destination.to_wire(), self.userid,
            self.body, self.oob, self.context_key))

    def __repr__(self):
        return (f"Packet({self.type_name}, src={self.source!r}, dst={self.destination!r}, "
                f"userid={self.userid!r}, body={self.body!r}, oob={self.oob!r})")


def parse_packet(value):
    """A decoded marshal value -> :class:`Packet`; PacketError when it is not one."""
    # EVEmu also accepts a packet wrapped in a SubStream (the checksummed form is unwrapped by
    # the codec already).
    if type(value) is SubStream:
        try:
            value = value.value
        except ValueError as e:
            raise PacketError(f"undecodable packet substream: {e}") from None
    if type(value) is not Instance:
        raise PacketError(f"a packet must be a macho instance, not {type(value).__name__}")
    ptype = C.PACKET_TYPES_BY_NAME.get(value.name)
    if ptype is None:
        raise PacketError(f"unknown packet class {value.name!r}")
    st = value.state
    if type(st) is not tuple or len(st) not in (6, 7):
        raise PacketError(f"{value.name} state must be a 6- or 7-tuple")
    if st[0] != ptype or type(st[0]) is not int:
        raise PacketError(f"{value.name} carries command {st[0]!r}, expected {ptype}")
    body = st[4]
    if type(body) is not tuple:
        raise PacketError(f"{value.name} body must be a tuple, not {type(body).__name__}")
    oob = st[5]
    if oob is not None and type(oob) is not dict:
        raise PacketError(f"{value.name} oob must be a dict or None")
    return Packet(ptype, Address.from_wire(st[1]), Address.from_wire(st[2]),
                  _int(st[3], "userID", True), body, oob, st[6] if len(st) == 7 else None)


class CallRequest:
    """The decoded body of a CallReq: ``target`` is an int (plain service call: the service is
    in the destination address) or a bound-object id ``"N=<nodeID>:<counter>"``."""

    __slots__ = ("target", "method", "args", "kwargs")

    def __init__(self, target, method, args, kwargs):
        self.target = target
        self.method = method
        self.args = args
        self.kwargs = kwargs

    def __repr__(self):
        return f"CallRequest({self.target!r}, {self.method!r}, {self.args!r}, {self.kwargs!r})"


def _unwrap_body(packet, what):
    body = packet.body
    if len(body) != 1 or type(body[0]) is not tuple or len(body[0]) != 2:
        raise PacketError(f"{what} body must be ((flag, SubStream),)")
    ss = body[0][1]
    if type(ss) is not SubStream:
        raise PacketError(f"{what} payload must be a SubStream, not {type(ss).__name__}")
    try:
        inner = ss.value
    except ValueError as e:
        raise PacketError(f"undecodable {what} payload: {e}") from None
    if type(inner) is not tuple or len(inner) != 4:
        raise PacketError(f"{what} payload must be a 4-tuple")
    return inner


def parse_call(packet):
    """CallReq packet -> :class:`CallRequest`.  ``kwargs`` None is accepted (EVEmu crashes on
    it); keyword names become str."""
    target, method, args, kwargs = _unwrap_body(packet, "CallReq")
    if type(target) is bytes or type(target) is str:
        target = native_str(target, "bound object id")
    elif type(target) is not int:
        raise PacketError(f"call target must be an int or a bound id, not {type(target).__name__}")
    method = native_str(method, "method name")
    if type(args) is not tuple:
        raise PacketError("call arguments must be a tuple")
    if not kwargs:
        if kwargs is not None and type(kwargs) is not dict:
            raise PacketError("call keywords must be a dict or None")
        kwargs = {}
    elif type(kwargs) is not dict:
        raise PacketError("call keywords must be a dict or None")
    else:
        kwargs = {native_str(k, "keyword name"): v for k, v in kwargs.items()}
    return CallRequest(target, method, args, kwargs)


_new = object.__new__
_CALL_REQ_NAME = "macho.CallReq"
_ADDRESS_NAME = "macho.MachoAddress"
_MISSING = SubStream._MISSING
#: ``Any(service, None)`` destinations seen in CallReqs, by service name (bytes): the same for
#: every call to a service, and an Address is a value (never mutated), so one object serves
#: them all.  Bounded: names from the network beyond this many are not remembered.
_dest_cache = {}
_DEST_CACHE_MAX = 512


def parse_call_packet(value):
    """``(packet, request)`` for a decoded CallReq, as ``parse_packet`` then ``parse_call``
    give them (same objects, same checks), in one frame for the shape of nearly every call:
    a plain ``macho.CallReq`` from ``Client(clientID, callID, None)`` to ``Any(service,
    callID)``, a ``((flag, SubStream),)`` body, an int or ASCII target and method and no
    keywords.  Anything else -- another packet type, an address of another kind, keywords, a
    malformed value -- returns None, and the caller takes the general path (which raises
    the errors)."""
    if type(value) is not Instance or value.name != _CALL_REQ_NAME:
        return None
    st = value.state
    if type(st) is not tuple or len(st) not in (6, 7) or st[0] != 6 or type(st[0]) is not int:
        return None
    body = st[4]
    oob = st[5]
    uid = st[3]
    if type(body) is not tuple or len(body) != 1 or (oob is not None and type(oob) is not dict) \
            or (uid is not None and type(uid) is not int):
        return None
    # source Client(int, int|None, None)
    w = st[1]
    if type(w) is not Instance or w.name != _ADDRESS_NAME:
        return None
    a = w.state
    if type(a) is not tuple or len(a) != 4 or a[0] != 2 or type(a[0]) is not int or \
            type(a[1]) is not int or a[3] is not None or \
            (a[2] is not None and type(a[2]) is not int):
        return None
    src = _new(Address)
    src._wire = w
    src.kind = 2
    src.id = a[1]
    src.service = None
    src.call_id = a[2]
    src.narrowcast = None
    src.id_type = None
    # destination Any(ascii bytes, int|None); Any(service, None) from the cache
    w = st[2]
    if type(w) is not Instance or w.name != _ADDRESS_NAME:
        return None
    a = w.state
    if type(a) is not tuple or len(a) != 3 or a[0] != 8 or type(a[0]) is not int or \
            type(a[1]) is not bytes or (a[2] is not None and type(a[2]) is not int):
        return None
    dst = _dest_cache.get(a[1]) if a[2] is None else None
    if dst is None:
        if not a[1].isascii():
            return None
        dst = _new(Address)
        dst._wire = w
        dst.kind = 8
        dst.id = None
        dst.service = a[1].decode("ascii")
        dst.call_id = a[2]
        dst.narrowcast = None
        dst.id_type = None
        if a[2] is None and len(_dest_cache) < _DEST_CACHE_MAX:
            _dest_cache[a[1]] = dst
    # body ((flag, SubStream((target, method, args, kwargs))),)
    b = body[0]
    if type(b) is not tuple or len(b) != 2:
        return None
    ss = b[1]
    if type(ss) is not SubStream:
        return None
    inner = ss._value
    if inner is _MISSING:               # (SubStream.value, without its frame)
        try:
            inner = ss._value = _loads(ss._raw)
        except ValueError:
            return None
    if type(inner) is not tuple or len(inner) != 4:
        return None
    target, method, args, kwargs = inner
    if type(target) is bytes:
        if not target.isascii():
            return None
        target = target.decode("ascii")
    elif type(target) is not int:
        return None
    if type(method) is not bytes or not method.isascii() or type(args) is not tuple:
        return None
    if kwargs is None or (type(kwargs) is dict and not kwargs):
        kwargs = {}
    else:
        return None
    pkt = _new(Packet)
    pkt.type = 6
    pkt.source = src
    pkt.destination = dst
    pkt.userid = uid
    pkt.body = body
    pkt.oob = oob
    pkt.context_key = st[6] if len(st) == 7 else None
    req = _new(CallRequest)
    req.target = target
    req.method = method.decode("ascii")
    req.args = args
    req.kwargs = kwargs
    return pkt, req


def parse_notification(packet):
    """Client -> server Notification: ``((flag, SubStream((elements, method, args, kw))),)``;
    returns ``(method, elements)``."""
    elements, method, _args, _kw = _unwrap_body(packet, "Notification")
    method = native_str(method, "notification name")
    if type(elements) is not list:
        raise PacketError("notification elements must be a list")
    return method, elements


def call_rsp_wire(request, client_id, userid, payload, oob=None):
    """The wire value of the CallRsp answering ``request`` (a parsed CallReq Packet), built
    without intermediate Packet/Address objects (one per call, so it is on the hot path):
    source = the request's destination, destination = ``Client(clientID, callID, None)``, body
    ``(payload,)`` (a SubStream), EVEmu's ``Client::_SendCallReturn`` shape."""
    dst = request.destination
    return make_instance("macho.CallRsp", (
        C.CALL_RSP, dst._wire if dst._wire is not None else dst.to_wire(),
        make_instance("macho.MachoAddress",
                      (C.ADDRESS_CLIENT, client_id, request.source.call_id, None)),
        userid, (payload,), oob, None))


def user_error(msg, values=None):
    """The wire form of ``ccp_exceptions.UserError(msg, dict)`` (an ObjectEx1): the client
    shows the localised message ``msg`` filled in with ``values``."""
    d = {wire_str(k): v for k, v in (values or {}).items()}
    key = wire_str(msg)
    return ObjectEx1((Token("ccp_exceptions.UserError"), (key, d),
                      {b"msg": key, b"dict": d}))


def gps_transport_closed(reason, clock):
    """``exceptions.GPSTransportClosed(reason)``: the login-failure reply."""
    r = wire_str(reason)
    return ObjectEx1((Token("exceptions.GPSTransportClosed"), (r,), {
        b"reason": r, b"reasonArgs": {}, b"clock": clock, b"region": wire_str(C.PROJECT_REGION),
        b"version": C.VERSION_NUMBER, b"build": C.BUILD_VERSION,
        b"codename": wire_str(C.PROJECT_CODENAME), b"machoVersion": C.MACHO_VERSION}))
