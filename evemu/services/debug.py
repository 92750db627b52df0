"""``debugSvc`` and ``debugBindable``: services for tests and diagnosis, registered only with
``--debug-services`` (Config.debug_services).  Never enable them on a public server: Sleep lets
a client hold call slots, and Crash logs tracebacks on demand."""
from stackless import loop

from . import BindableService, BoundObject, CallResult, Service, UserError, exposed


class DebugService(Service):
    name = "debugSvc"

    @exposed
    def Echo(self, call, *args, **kwargs):
        return (args, {k.encode(): v for k, v in kwargs.items()})

    @exposed
    def Sleep(self, call, seconds):
        loop.sleep(min(float(seconds), 30.0))
        return seconds

    @exposed
    def Raise(self, call, msg, values=None):
        key = msg.decode() if isinstance(msg, bytes) else msg
        raise UserError(key, {(k.decode() if isinstance(k, bytes) else k): v
                              for k, v in (values or {}).items()})

    @exposed
    def Crash(self, call):
        raise RuntimeError("debugSvc.Crash was called")

    @exposed
    def Unmarshallable(self, call):
        return object()

    @exposed
    def SetSession(self, call, name, value):
        call.session.set(name.decode() if isinstance(name, bytes) else name, value)
        return True

    @exposed
    def Notify(self, call, text):
        """An OnRemoteMessage('CustomNotify', {notify: text}) to the caller, then True."""
        call.connection.notify("OnRemoteMessage", "charid",
                               (b"CustomNotify", {b"notify": text}))
        return True

    @exposed
    def WithOOB(self, call):
        return CallResult(1, oob={b"note": b"out of band"})

    @exposed
    def Stats(self, call):
        srv = self.server
        return {b"connections": len(srv.connections), b"online": len(srv.online),
                b"bound": self.manager.bound_count,
                b"calls": sum(len(c.calls) for c in srv.connections)}

    def NotExposed(self, call):
        return "should never be reachable"


class Counter(BoundObject):
    def __init__(self, service, connection, start):
        super().__init__(service, connection)
        self.value = start
        self.service.released = getattr(self.service, "released", [])

    @exposed
    def Increment(self, call, by=1):
        self.value += by
        return self.value

    def on_release(self):
        self.service.released.append(self.bound_id)


class DebugBindableService(BindableService):
    name = "debugBindable"

    def create_bound(self, call, bind_params):
        if type(bind_params) is not int:
            raise UserError("CustomError", {"error": "bind params must be an int"})
        return Counter(self, call.connection, bind_params)

    @exposed
    def Released(self, call):
        return [r.encode() for r in getattr(self, "released", [])]
