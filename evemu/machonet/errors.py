"""Exceptions a call may raise that reach the client as ``macho.ErrorResponse``
(WRAPPEDEXCEPTION, protocol notes section 3.2)."""
from .packets import user_error

__all__ = ["UserError", "CustomError", "MethodNotFound", "LoginFailed"]


class UserError(Exception):
    """``ccp_exceptions.UserError(msg, values)``: the client shows its localised message ``msg``
    (a key such as ``"ServiceNotFound"``) with ``values`` filled in."""

    def __init__(self, msg, values=None):
        super().__init__(msg, values or {})
        self.msg = msg
        self.values = dict(values or {})

    def to_wire(self):
        return user_error(self.msg, self.values)

    def __str__(self):
        return f"{self.msg} {self.values}" if self.values else self.msg


class CustomError(UserError):
    """``UserError('CustomError', {'error': text})``: a message in plain text."""

    def __init__(self, text):
        super().__init__("CustomError", {"error": text})


class MethodNotFound(CustomError):
    """A call to a method the target does not expose (unknown, or not ``@exposed``).

    EVEmu answers such a call with ``None`` (its ``method_not_found`` is caught in
    ``Client::Handle_CallReq``); we answer an error in EVEmu's only error form, an
    ErrorResponse WRAPPEDEXCEPTION holding ``ccp_exceptions.UserError``, with the
    ``CustomError`` message key (the client shows ``dict['error']`` as text), so that client
    code waiting for a value learns that there is none."""

    def __init__(self, where, method):
        super().__init__(f"{where} has no method {method}")
        self.where = where
        self.method = method


class LoginFailed(Exception):
    """The handshake refuses a login; ``str(exc)`` is the reason shown to the user."""
