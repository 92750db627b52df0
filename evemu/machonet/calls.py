"""What MachoNet hands to the layer above for each call, and what it takes back.

The connection builds a :class:`CallContext` for every CallReq and passes it to the server's
*dispatcher* (``Server.services``; the services layer provides it), which must offer::

    dispatch(ctx)                 -> result value, or CallResult(value, oob); may raise UserError
    release(bound_id, connection) -> bool   (ClientHasReleasedTheseObjects)
    release_all(connection)                 (the connection closed)
    names()                       -> service names (for the log)

So machonet knows nothing about particular services, and services know MachoNet only through
these two classes and :mod:`evemu.machonet.errors`.
"""

import itertools
import weakref

from stackless import sync

__all__ = ["CallContext", "CallResult", "call_client", "client_answered", "ClientCallError"]


class CallResult:
    """A result with named out-of-band values (the CallRsp ``oob`` dict)."""

    __slots__ = ("value", "oob")

    def __init__(self, value, oob=None):
        self.value = value
        self.oob = oob


class CallContext:
    """What a service method knows about the call it serves."""

    __slots__ = ("connection", "session", "packet", "request", "manager")

    def __init__(self, connection, session, packet, request, manager):
        self.connection = connection
        self.session = session
        self.packet = packet
        self.request = request
        self.manager = manager

    @property
    def server(self):
        return self.connection.server

    @property
    def userid(self):
        return self.session.get("userid")

    @property
    def oob(self):
        """The CallReq's out-of-band dict (``{}`` when it has none); ``OID-`` entries (bound
        objects the client released) are acted on before the call is dispatched."""
        return self.packet.oob or {}


# ------------------------------------------------------------------ server -> client calls
class ClientCallError(Exception):
    """The client answered a server-to-client call with an ErrorResponse (``.body``)."""

    def __init__(self, body):
        super().__init__(f"the client's call failed: {body!r:.200}")
        self.body = body


_pending = weakref.WeakKeyDictionary()     # connection -> {callID: [Event, answer packet]}
_call_ids = itertools.count(1)


def call_client(connection, service, method, args=(), kwargs=None, timeout=60.0):
    """Call ``service.method(*args)`` on the client of ``connection`` (a CallReq from
    ``Node(nodeID, None, callID)`` to ``Client(clientID, None, service)``, the real server's
    way of e.g. ``LSC.ChatInvite``) and block the calling tasklet until its CallRsp: returns
    the client's result.  ``TimeoutError`` after ``timeout`` seconds, ``ConnectionResetError``
    if the connection closes meanwhile, :class:`ClientCallError` for an ErrorResponse."""
    from evemu.machonet import constants as C
    from evemu.machonet.packets import Address, Packet, wire_str
    from evemu.wire.marshal import SubStream
    call_id = next(_call_ids)
    waiter = [sync.Event(), None]
    mine = _pending.setdefault(connection, {})
    mine[call_id] = waiter
    session = connection.session
    inner = (1, wire_str(method), tuple(args),
             {wire_str(k): v for k, v in kwargs.items()} if kwargs else None)
    pkt = Packet(C.CALL_REQ, Address.node(connection.server.node_id, None, call_id),
                 Address.client(session.get("clientID"), None, service), session.get("userid"),
                 ((0, SubStream(inner)),), None)
    try:
        connection.send_packet(pkt)
        waited = 0.0
        while not waiter[0].wait(min(1.0, timeout - waited)):   # notice a close within 1 s
            waited += 1.0
            if connection.closed:
                raise ConnectionResetError(f"{connection}: closed during {service}.{method}")
            if waited >= timeout:
                raise TimeoutError(f"{connection}: no answer to {service}.{method} within "
                                   f"{timeout} s")
    finally:
        mine.pop(call_id, None)
    rsp = waiter[1]
    if rsp.type == C.ERROR_RESPONSE:
        raise ClientCallError(rsp.body)
    body = rsp.body
    value = body[0] if type(body) is tuple and body else None
    return value.value if isinstance(value, SubStream) else value


def client_answered(connection, packet):
    """A CallRsp / ErrorResponse from the client: wakes its :func:`call_client`; False if no
    call of this connection waits for it (the caller logs it)."""
    waiter = _pending.get(connection, {}).get(packet.destination.call_id)
    if waiter is None or waiter[1] is not None:
        return False
    waiter[1] = packet
    waiter[0].set()
    return True
