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

__all__ = ["CallContext", "CallResult"]


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
