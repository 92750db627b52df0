"""Services: named singletons whose exposed methods the client calls (protocol notes 3.4, 4).

Writing a service::

    class MachoNetService(Service):
        name = "machoNet"          # the wire name the client uses
        access = None              # its entry in machoNet.serviceInfo (routing hint)

        @exposed
        def GetTime(self, call):   # call: CallContext (session, connection, kwargs...)
            return filetime_now()

Only methods marked ``@exposed`` can be called from the network.  Positional arguments of the
call follow ``call``; keyword arguments are passed as keywords (``machoVersion``, a transport
hint the client adds, is removed first).  A method returns the result value, or a
:class:`CallResult` when it also has named out-of-band results.  It may raise
:class:`~evemu.machonet.errors.UserError` (sent to the client as WRAPPEDEXCEPTION); any other
exception is logged with its traceback and the client gets a ``CustomError``.

Bound objects (monikers): :meth:`ServiceManager.bind` gives an object the id
``"N=<nodeID>:<counter>"``; later calls whose target is that id reach the object's exposed
methods, only from the connection that bound it.  ``ClientHasReleasedTheseObjects`` (or the
connection closing) releases it.  :class:`BindableService` implements ``MachoResolveObject`` /
``MachoBindObject`` on top of that.

Each call runs in its own tasklet, so a method may block (I/O, sleep, a lock) without stopping
other calls.
"""
import inspect
import itertools
import logging

from evemu.db import filetime_now
from evemu.machonet.calls import CallContext, CallResult
from evemu.machonet.errors import CustomError, MethodNotFound, UserError
from evemu.wire.marshal import SubStream, SubStruct

__all__ = ["Service", "BindableService", "BoundObject", "ServiceManager", "CallContext",
           "CallResult", "exposed", "ServiceNotFound", "MethodNotFound", "UserError",
           "CustomError", "build_services", "STANDARD_SERVICES"]

log = logging.getLogger("evemu.services")

#: Keywords the client adds to calls that are not arguments of the method.
TRANSPORT_KEYWORDS = frozenset({"machoVersion"})


_signatures = {}     # exposed function -> inspect.Signature (checked before every call)
_exposed = {}        # (class, method name) -> (function, arity) of exposed methods only


def _where(obj):
    return getattr(obj, "name", None) or getattr(obj, "bound_id", "?")


def _positional_arity(bound_method):
    """``(min, max)`` positional arguments (``call`` included) a bound method accepts when
    called without keywords, or False when its signature needs the full check (keyword-only
    arguments without defaults)."""
    lo = hi = 0
    for p in inspect.signature(bound_method).parameters.values():
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            hi += 1
            if p.default is p.empty:
                lo += 1
        elif p.kind == p.VAR_POSITIONAL:
            hi = 1 << 30
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            return False
    return (lo, hi)


def exposed(fn):
    """Mark a method as callable by clients."""
    fn.__evemu_exposed__ = True
    return fn


class ServiceNotFound(UserError):
    """The call names a service (or bound object) this node does not have."""

    def __init__(self):
        super().__init__("ServiceNotFound")


class _Exposing:
    def exposed_method(self, name):
        fn = getattr(type(self), name, None)
        if fn is None or not getattr(fn, "__evemu_exposed__", False):
            return None
        return getattr(self, name)


class Service(_Exposing):
    """A named singleton; subclasses set ``name`` and mark methods with ``@exposed``."""

    name = None
    #: serviceInfo value: None, 'location', 'locationPreferred', 'solarsystem', 'solarsystem2',
    #: 'station', 'character', 'corporation' or 'bulk'.
    access = None

    def __init__(self, manager):
        self.manager = manager

    @property
    def server(self):
        return self.manager.server

    @property
    def db(self):
        return self.manager.server.db


class BoundObject(_Exposing):
    """An object a client holds a moniker for.  ``bound_id`` is set by the manager."""

    def __init__(self, service, connection):
        self.service = service
        self.connection = connection
        self.bound_id = None

    def on_release(self):
        """Called once when the client releases the object or disconnects."""


class BindableService(Service):
    """A service the client binds to with ``moniker.Bind``: subclasses implement
    ``create_bound(call, bind_params) -> BoundObject``."""

    def create_bound(self, call, bind_params):
        raise NotImplementedError

    @exposed
    def MachoResolveObject(self, call, bind_params, just_query):
        return self.manager.node_id

    @exposed
    def MachoBindObject(self, call, bind_params, nested_call):
        obj = self.create_bound(call, bind_params)
        oid = self.manager.bind(obj, call.connection)
        nested = None
        if nested_call is not None:
            if type(nested_call) is not tuple or len(nested_call) != 3:
                raise CustomError("MachoBindObject: nested call must be (method, args, kwargs)")
            method, args, kwargs = nested_call
            if isinstance(method, bytes):
                method = method.decode("ascii", "replace")
            try:
                nested = self.manager.invoke(obj, call, method, args, kwargs or {})
            except BaseException:
                # the client never learns the OID of an object whose bind call failed
                self.manager.release(oid[0].decode("ascii"), call.connection)
                raise
        oob = {b"OID+": {oid[0]: oid[1]}}
        if isinstance(nested, CallResult):
            # the nested call's own out-of-band values (e.g. the OID+ of an object it bound:
            # invbroker -> GetInventoryFromId -> InventoryBound) go out with this reply, so the
            # client tracks every object bound by the call
            oob = merge_oob(oob, nested.oob)
            nested = nested.value
        return CallResult((SubStruct(SubStream(oid)), nested), oob=oob)


def merge_oob(oob, more):
    """``oob`` with the out-of-band values of ``more`` added: the ``OID+`` dicts are united,
    any other key of ``more`` is taken as it is."""
    if not more:
        return oob
    out = dict(oob)
    for key, value in more.items():
        if key == b"OID+" and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


class ServiceManager:
    """The services and bound objects of this node, and call dispatch."""

    def __init__(self, server, node_id):
        self.server = server
        self.node_id = node_id
        self._services = {}
        self._bound = {}                      # bound id str -> BoundObject
        self._counter = itertools.count(1)

    # ------------------------------------------------------------------ services
    def register(self, service_cls, *args, **kwargs):
        svc = service_cls(self, *args, **kwargs)
        if not svc.name:
            raise ValueError(f"{service_cls.__name__} has no name")
        if svc.name in self._services:
            raise ValueError(f"service {svc.name!r} registered twice")
        self._services[svc.name] = svc
        return svc

    def lookup(self, name):
        return self._services.get(name)

    def names(self):
        return sorted(self._services)

    def service_info(self):
        """``machoNet.serviceInfo``: service name -> access level (routing hint)."""
        return {name.encode("ascii"): (None if s.access is None else s.access.encode("ascii"))
                for name, s in sorted(self._services.items())}

    # ------------------------------------------------------------- bound objects
    def bind(self, obj, connection):
        """Register ``obj`` for ``connection``; returns its OID ``(idString, filetime)`` in wire
        form (the id as a Py2 byte string)."""
        bound_id = f"N={self.node_id}:{next(self._counter)}"
        obj.bound_id = bound_id
        self._bound[bound_id] = obj
        connection.bound_ids.add(bound_id)
        return (bound_id.encode("ascii"), filetime_now())

    def bound(self, bound_id, connection):
        obj = self._bound.get(bound_id)
        if obj is None or obj.connection is not connection:
            return None
        return obj

    def release(self, bound_id, connection):
        """Release one bound object of ``connection``; False if it holds no such object."""
        obj = self.bound(bound_id, connection)
        if obj is None:
            return False
        del self._bound[bound_id]
        connection.bound_ids.discard(bound_id)
        try:
            obj.on_release()
        except Exception:
            log.exception("releasing %s", bound_id)
        return True

    def release_all(self, connection):
        for bound_id in list(connection.bound_ids):
            self.release(bound_id, connection)

    @property
    def bound_count(self):
        return len(self._bound)

    # ------------------------------------------------------------------ dispatch
    def resolve(self, call):
        """The object a CallReq targets: a service (by destination service name) or a bound
        object of the calling connection (by id string).  Raises ServiceNotFound."""
        req = call.request
        if isinstance(req.target, str):
            obj = self.bound(req.target, call.connection)
        else:
            service = call.packet.destination.service
            obj = self._services.get(service) if service else None
        if obj is None:
            raise ServiceNotFound()
        return obj

    def invoke(self, obj, call, method, args, kwargs):
        """Call the exposed ``method`` of ``obj``.  An unknown or unexposed method is
        :class:`MethodNotFound`, an error reply (EVEmu answers None)."""
        entry = _exposed.get((type(obj), method))
        if entry is None:
            fn = obj.exposed_method(method)
            if fn is None:
                where = _where(obj)
                log.info("%s: no method %s.%s", call.connection, where, method)
                raise MethodNotFound(where, method)
            # only exposed methods are cached (names from the network that miss are not)
            entry = _exposed[(type(obj), method)] = (fn.__func__, _positional_arity(fn))
        func, arity = entry
        if kwargs:
            kwargs = {k: v for k, v in kwargs.items() if k not in TRANSPORT_KEYWORDS}
        # the common case (positional arguments only, a count the method takes) is checked
        # with two comparisons; anything else goes through inspect's full binding check
        if kwargs or arity is False or not (arity[0] <= len(args) + 1 <= arity[1]):
            sig = _signatures.get(func)
            if sig is None:
                sig = _signatures[func] = inspect.signature(func.__get__(obj))
            try:
                sig.bind(call, *args, **kwargs)
            except TypeError as e:
                where = _where(obj)
                log.warning("%s: bad arguments for %s.%s: %s", call.connection, where, method,
                            e)
                raise CustomError(f"Bad arguments for {where}.{method}: {e}") from None
        return func(obj, call, *args, **kwargs)

    def release_from_oob(self, call):
        """``OID-`` in a CallReq's oob: bound objects the client released (``{idString:
        refcount}``, or a list of id strings), piggybacked on a call instead of sent as a
        ClientHasReleasedTheseObjects notification.  Returns how many were released."""
        released = call.oob.get(b"OID-") if call.packet.oob else None
        if not released or not isinstance(released, (dict, list, tuple)):
            return 0
        n = 0
        for oid in released:
            if isinstance(oid, tuple) and oid:
                oid = oid[0]
            if isinstance(oid, bytes):
                oid = oid.decode("ascii", "replace")
            if isinstance(oid, str) and self.release(oid, call.connection):
                n += 1
        return n

    def dispatch(self, call):
        req = call.request
        packet = call.packet
        if packet.oob:
            self.release_from_oob(call)
        # resolve() and invoke()'s common case, inline (this runs once per call): a service
        # by name, a cached exposed method, positional arguments within its arity
        if type(req.target) is int:
            service = packet.destination.service
            obj = self._services.get(service) if service else None
            if obj is None:
                raise ServiceNotFound()
        else:
            obj = self.resolve(call)
        args = req.args
        if not req.kwargs:
            entry = _exposed.get((type(obj), req.method))
            if entry is not None:
                func, arity = entry
                if arity is not False and arity[0] <= len(args) + 1 <= arity[1]:
                    return func(obj, call, *args)
        return self.invoke(obj, call, req.method, args, req.kwargs)


def _standard():
    from .bulkmgr import BulkMgrService
    from .charunbound import CharUnboundMgrService
    from .config_svc import ConfigService
    from .lsc import LSCService
    from .machonet_svc import MachoNetService
    from .objcache import ObjectCachingService
    from .paperdoll import PaperDollService, PhotoUploadService
    return (MachoNetService, ObjectCachingService, CharUnboundMgrService, ConfigService,
            BulkMgrService, PaperDollService, PhotoUploadService, LSCService)


STANDARD_SERVICES = _standard()


def build_services(server, extra=()):
    """The ServiceManager of a server: the standard services, the debug ones when
    ``server.config.debug_services`` is set, then ``extra`` service classes."""
    mgr = ServiceManager(server, server.node_id)
    for cls in STANDARD_SERVICES:
        mgr.register(cls)
    from .inventory import InvBrokerService; mgr.register(InvBrokerService)  # noqa: E702
    from .station import StationSvc; mgr.register(StationSvc)  # noqa: E702
    from .station import StationGuestsService; mgr.register(StationGuestsService)  # noqa: E702
    from .station import CorpStationMgrService; mgr.register(CorpStationMgrService)  # noqa: E702
    from .station import ShipService; mgr.register(ShipService)  # noqa: E702
    from .space import BeyonceService; mgr.register(BeyonceService)  # noqa: E702
    from .bookmark import BookmarkService; mgr.register(BookmarkService)  # noqa: E702
    from .character import CharMgrService; mgr.register(CharMgrService)  # noqa: E702
    from .character import SkillMgrService; mgr.register(SkillMgrService)  # noqa: E702
    from .character import DogmaIMService; mgr.register(DogmaIMService)  # noqa: E702
    from .character import AccountService; mgr.register(AccountService)  # noqa: E702
    if server.config.debug_services:
        from .debug import DebugBindableService, DebugService
        mgr.register(DebugService)
        mgr.register(DebugBindableService)
    for cls in extra:
        mgr.register(cls)
    from .harmless import register_missing; register_missing(mgr)  # noqa: E702  (keep last)
    return mgr
