"""A small scripted EVE client: how tests (and curious people) drive the server end to end.

    from evemu.client import Client
    with Client.connect(("127.0.0.1", 26000)) as c:
        c.login("alice", "secret")                 # the whole handshake of section 3.1
        c.call("machoNet", "GetTime")              # -> FILETIME
        c.call("charUnboundMgr", "GetCharactersToSelect")

It speaks the protocol as the Crucible client does (placebo crypto, hashed password) and uses
:mod:`stackless.socket`, so many clients can run as tasklets of one thread; from the main
tasklet its blocking calls drive the loop (a server running in the same thread keeps serving).

``call`` returns the decoded result or raises :class:`RemoteError` (an ErrorResponse; ``.msg``
and ``.values`` for a UserError).  Notifications and session changes that arrive meanwhile are
kept in ``notifications`` and applied to ``session``.
"""
import itertools
import socket as _socket

from stackless import socket as ssocket

from evemu.db import filetime_now
from evemu.db.passwords import password_hash
from evemu.machonet import constants as C
from evemu.machonet.handshake import version_tuple
from evemu.machonet.packets import Address, Packet, parse_packet
from evemu.wire import marshal
from evemu.wire.framing import FrameReader, encode_frame
from evemu.wire.marshal import ObjectEx1, SubStream

__all__ = ["Client", "RemoteError", "LoginError", "ProtocolError"]


class ProtocolError(Exception):
    """The server sent something the client did not expect."""


class LoginError(Exception):
    """The server refused the login (GPSTransportClosed); ``reason`` is its text."""

    def __init__(self, reason, exc=None):
        super().__init__(reason)
        self.reason = reason
        self.exception = exc


class RemoteError(Exception):
    """An ErrorResponse.  ``exception`` is the decoded wrapped exception; for a UserError
    ``msg`` is its message key and ``values`` its dict."""

    def __init__(self, packet):
        self.packet = packet
        self.code = packet.body[1] if len(packet.body) > 1 else None
        self.exception = None
        self.msg = None
        self.values = {}
        try:
            self.exception = packet.body[2][0].value
            header = self.exception.header
            self.exception_class = header[0].name
            state = header[2] if len(header) > 2 else {}
            msg = state.get(b"msg")
            self.msg = msg.decode() if isinstance(msg, bytes) else msg
            self.values = {k.decode() if isinstance(k, bytes) else k: v
                           for k, v in (state.get(b"dict") or {}).items()}
        except (AttributeError, IndexError, TypeError, ValueError):
            self.exception_class = None
        super().__init__(f"{self.exception_class}: {self.msg} {self.values}")


def _py(v):
    """bytes -> str for readability in tests (recursively for dict keys)."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


class Client:
    def __init__(self, sock, max_frame=64 << 20):
        self.sock = sock
        try:        # the handshake sends small frames back to back: no Nagle/delayed-ACK stall
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        self.reader = FrameReader(sock, max_frame)
        self.call_ids = itertools.count(1)
        self.client_id = None
        self.userid = None
        self.session = {}
        self.session_id = None
        self.ack = None
        self.handshake = None
        self.server_version = None
        self.notifications = []
        self.last_sn = 0                  # the last notification sequence number seen
        self.sn_gaps = []                 # (expected, got) when a number was skipped/repeated
        self.bound = {}                   # bound id str -> OID timestamp (from 'OID+')
        self.answer_pings = True          # answer the server's PingReq while waiting
        self.pings_answered = 0
        #: the server's calls to this client (e.g. ``'LSC.ChatInvite'``): name -> fn(*args),
        #: whose result is the CallRsp; a call with no handler is kept in ``notifications``
        #: and answered None
        self.remote_handlers = {}
        self.remote_calls = []            # (service.method, args) the server called

    @classmethod
    def connect(cls, address, timeout=30.0):
        sock = ssocket.create_connection(address, timeout=timeout)
        return cls(sock)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------ raw I/O
    def send(self, value):
        self.sock.sendall(encode_frame(marshal.dumps(value, 8192)))

    def send_raw(self, data):
        self.sock.sendall(data)

    def recv(self):
        """The next value; ConnectionError when the server closed the connection."""
        payload = self.reader.read_frame()
        if payload is None:
            raise ConnectionResetError("server closed the connection")
        return marshal.loads(payload)

    def recv_packet(self):
        return parse_packet(self.recv())

    # ------------------------------------------------------------------ login
    def login(self, user, password=None, *, hashed=None, language="EN", vip_key=b"vipkey",
              queue_check=False):
        """The full handshake; returns the SessionInitialState dict (str keys)."""
        self.server_version = self.recv()
        if type(self.server_version) is not tuple or len(self.server_version) != 7:
            raise ProtocolError(f"bad server version: {self.server_version!r}")
        self.send(version_tuple(0)[:6])
        if queue_check:
            self.send((None, b"QC"))
            position = self.recv()
            if type(position) is not int:
                raise ProtocolError(f"bad queue position: {position!r}")
            self.server_version = self.recv()
            self.send(version_tuple(0)[:6])
        self.send((None, b"VK", vip_key))
        self.send((b"placebo", {}))
        ok = self.recv()
        if ok != b"OK CC":
            raise ProtocolError(f"crypto refused: {ok!r}")
        if hashed is None:
            hashed = password_hash(user, password)
        self.send((b"x" * 32, {
            b"macho_version": C.MACHO_VERSION, b"boot_version": C.VERSION_NUMBER,
            b"boot_build": C.BUILD_VERSION, b"boot_codename": C.PROJECT_CODENAME.encode(),
            b"boot_region": C.PROJECT_REGION.encode(), b"user_name": user,
            b"user_password": None, b"user_password_hash": hashed,
            b"user_languageid": language, b"user_affiliateid": 0}))
        pw_version = self.recv()
        if pw_version != C.PASSWORD_VERSION_HASHED:
            raise ProtocolError(f"unexpected password version {pw_version!r}")
        shake = self.recv()
        if isinstance(shake, ObjectEx1):
            reason = shake.header[1][0] if len(shake.header) > 1 and shake.header[1] else b""
            raise LoginError(_py(reason), shake)
        self.handshake = shake
        self.send((b"55087", b"", {}))
        self.ack = self.recv()
        if type(self.ack) is not dict:
            raise ProtocolError(f"bad handshake ack: {self.ack!r:.200}")
        self.client_id = self.ack[b"user_clientid"]
        pkt = self.recv_packet()
        if pkt.type != C.SESSION_INITIAL_STATE_NOTIFICATION:
            raise ProtocolError(f"expected the initial session state, got {pkt!r}")
        self.session_id, _type, state = pkt.body
        self.session = {_py(k): _py(v) for k, v in state.items()}
        self.userid = self.session.get("userid")
        return self.session

    # ------------------------------------------------------------------ calls
    def call_packet(self, service, method, *args, target=1, **kwargs):
        call_id = next(self.call_ids)
        dest = Address.any(service) if service else Address.node(None)
        inner = (target, method.encode(), args, {k.encode(): v for k, v in kwargs.items()})
        pkt = Packet(C.CALL_REQ, Address.client(self.client_id, call_id), dest, None,
                     ((0, SubStream(inner)),), None)
        return call_id, pkt

    def call_with_oob(self, oob, service, method, *args, **kwargs):
        """A call whose CallReq carries the out-of-band dict ``oob`` (e.g. ``{b'OID-':
        {boundID: 0}}``); returns the CallRsp packet."""
        call_id, pkt = self.call_packet(service, method, *args, **kwargs)
        pkt.oob = oob
        self.send(pkt.to_wire())
        return self.wait_reply(call_id)

    def call(self, service, method, *args, **kwargs):
        """Call ``service.method(*args, **kwargs)`` and wait for its answer."""
        call_id, pkt = self.call_packet(service, method, *args, **kwargs)
        self.send(pkt.to_wire())
        return self.wait_reply(call_id).body[0].value

    def call_bound(self, bound_id, method, *args, **kwargs):
        call_id, pkt = self.call_packet(None, method, *args, target=bound_id.encode(), **kwargs)
        pkt.destination = Address.node(None)
        self.send(pkt.to_wire())
        return self.wait_reply(call_id).body[0].value

    def call_full(self, service, method, *args, **kwargs):
        """Like call, but returns the CallRsp packet (for its oob)."""
        call_id, pkt = self.call_packet(service, method, *args, **kwargs)
        self.send(pkt.to_wire())
        return self.wait_reply(call_id)

    def wait_reply(self, call_id):
        while True:
            pkt = self.recv_packet()
            if pkt.type in (C.CALL_RSP, C.ERROR_RESPONSE) and pkt.destination.call_id == call_id:
                if pkt.type == C.ERROR_RESPONSE:
                    raise RemoteError(pkt)
                added = (pkt.oob or {}).get(b"OID+")
                if isinstance(added, dict):
                    for oid, stamp in added.items():
                        self.bound[_py(oid)] = stamp
                return pkt
            self._other(pkt)

    def _other(self, pkt):
        """A packet that is not the awaited reply: session changes are applied,
        notifications checked for their sequence number, the server's PingReq answered;
        all but the answered pings are kept in ``notifications``."""
        if pkt.type == C.SESSION_CHANGE_NOTIFICATION:
            _sid, (_flag, changes), _nodes = pkt.body
            for k, (_old, new) in changes.items():
                self.session[_py(k)] = _py(new)
        elif pkt.type == C.NOTIFICATION:
            sn = (pkt.oob or {}).get(b"sn")
            if sn is not None:
                if sn != self.last_sn + 1:
                    self.sn_gaps.append((self.last_sn + 1, sn))
                self.last_sn = sn
        elif pkt.type == C.PING_REQ and self.answer_pings:
            self.answer_ping(pkt)
            return
        elif pkt.type == C.CALL_REQ:
            self.answer_call(pkt)
        self.notifications.append(pkt)

    def answer_call(self, req):
        """Answer a call the server makes to this client (``remote_handlers``) with a CallRsp
        to its source (which carries the server's callID)."""
        (_flag, ss), = req.body
        _target, method, args, _kw = ss.value
        name = f"{_py(req.destination.service)}.{_py(method)}"
        self.remote_calls.append((name, args))
        fn = self.remote_handlers.get(name)
        result = fn(*args) if fn is not None else None
        rsp = Packet(C.CALL_RSP, Address.client(self.client_id, None, None), req.source, None,
                     (SubStream(result),), None)
        self.send(rsp.to_wire())

    def answer_ping(self, req):
        """Answer the server's PingReq with a PingRsp (its times plus ours), addressed back
        to its source (which carries the server's ping callID)."""
        times = req.body[0] if req.body and type(req.body[0]) is list else []
        now = filetime_now()
        rsp = Packet(C.PING_RSP, Address.client(self.client_id, req.destination.call_id),
                     req.source, None, (list(times) + [(now, now, b"client::handle_message")],))
        self.send(rsp.to_wire())
        self.pings_answered += 1

    def wait_notification(self, event=None, ptype=C.NOTIFICATION):
        """Return (and remove) the first kept packet of type ``ptype`` (and, for a
        notification, broadcast event name ``event``), reading more packets until it comes."""
        def match(p):
            return p.type == ptype and (event is None or p.destination.id == event)
        while True:
            for i, p in enumerate(self.notifications):
                if match(p):
                    return self.notifications.pop(i)
            self._other(self.recv_packet())

    @staticmethod
    def notification_args(pkt):
        """The args tuple of a server Notification packet."""
        (_flag, ss), = pkt.body
        _zero, (_one, args) = ss.value
        return args

    def take_notifications(self, event):
        """The args of every kept notification named ``event``, oldest first, removed from
        ``notifications`` (call ``ping()`` first to read what the server sent meanwhile)."""
        out, keep = [], []
        for p in self.notifications:
            if p.type == C.NOTIFICATION and p.destination.id in (event, event.encode()):
                out.append(self.notification_args(p))
            else:
                keep.append(p)
        self.notifications = keep
        return out

    def ping(self):
        call_id = next(self.call_ids)
        pkt = Packet(C.PING_REQ, Address.client(self.client_id, call_id),
                     Address.node(C.DEFAULT_NODE_ID), None, ([],))
        self.send(pkt.to_wire())
        while True:
            rsp = self.recv_packet()
            if rsp.type == C.PING_RSP:
                return rsp.body[0]
            self._other(rsp)

    def release(self, *bound_ids):
        """Send ClientHasReleasedTheseObjects for ``bound_ids`` (no reply)."""
        for b in bound_ids:
            self.bound.pop(b, None)
        inner = ([(b.encode(), 0) for b in bound_ids], b"ClientHasReleasedTheseObjects", (), {})
        pkt = Packet(C.NOTIFICATION, Address.client(self.client_id),
                     Address.node(C.DEFAULT_NODE_ID), None, ((0, SubStream(inner)),))
        self.send(pkt.to_wire())
