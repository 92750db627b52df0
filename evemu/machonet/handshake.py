"""The login handshake (protocol notes section 3.1), as a state machine.

Each step is one framed marshal value.  S = server, C = client::

    S  VersionExchangeServer (birthday, machoVersion, userCount, version, build, project, None)
    C  VersionExchangeClient  (the first six fields)                 state VERSION
    C  (None, 'QC')        -> S queue position (int), back to the version exchange   COMMAND
       (None, 'VK', vipKey) -> on to CRYPTO
    C  ('placebo', {})     -> S 'OK CC'                                              CRYPTO
    C  (challenge, {user_name, user_password_hash, ...})                             LOGIN
                           -> S 2 (password version: hashed)
                           -> S CryptoServerHandshake, or GPSTransportClosed(reason) and close
    C  (challenge_responsehash, func_output, func_result)                            FUNC_RESULT
                           -> S CryptoHandshakeAck {live_updates, session_init, ...}
                           -> S macho.SessionInitialStateNotification               DONE

Only placebo crypto is spoken (the client's common.ini must select it, as with EVEmu).  A value
that does not have the shape of the expected step is a protocol violation: the handshake raises
:class:`HandshakeError` and the connection is dropped.  Version mismatches are only logged
(EVEmu does the same).  Login refusals raise :class:`LoginRefused` after the GPSTransportClosed
has been sent.

The handshake talks through two callables, ``recv()`` -> value and ``send(value)``, and asks
``authenticate(name, password_hash, password)`` for the account (which raises
:class:`~evemu.machonet.errors.LoginFailed` with the reason to show).
"""
import enum
import logging

from evemu.db import filetime_now
from evemu.wire.marshal import Buffer

from . import constants as C
from .errors import LoginFailed
from .packets import gps_transport_closed, wire_str

__all__ = ["State", "Handshake", "HandshakeError", "LoginRefused", "version_tuple"]

log = logging.getLogger("evemu.machonet.handshake")

PLACEBO_REFUSAL = ("Invalid CryptoAPI request - You must change your client to use Placebo "
                   "crypto in common.ini to talk to this server.")


class State(enum.Enum):
    VERSION = "version"
    COMMAND = "command"
    CRYPTO = "crypto"
    LOGIN = "login"
    FUNC_RESULT = "func-result"
    DONE = "done"
    FAILED = "failed"


class HandshakeError(ValueError):
    """The peer sent something that is not the expected handshake step."""


class LoginRefused(Exception):
    """The login was refused (the client has been told why)."""


def version_tuple(user_count):
    return (C.BIRTHDAY, C.MACHO_VERSION, user_count, C.VERSION_NUMBER, C.BUILD_VERSION,
            wire_str(C.PROJECT_VERSION), None)


def _text(v, what):
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, str):
        return v
    raise HandshakeError(f"{what} must be a string, not {type(v).__name__}")


def _get(d, key, default=None):
    """A field of a client dict whose keys are Py2 str (bytes); str keys accepted too."""
    if key.encode() in d:
        return d[key.encode()]
    return d.get(key, default)


class Handshake:
    """Runs the handshake of one connection.  After :meth:`run`: ``account``, ``login`` (the
    client's login dict with str keys), ``language``."""

    def __init__(self, recv, send, authenticate, *, peer, node_id, user_count=lambda: 0,
                 image_server_url="http://127.0.0.1:26001/", warn=None):
        self.recv = recv
        self.send = send
        self.authenticate = authenticate
        self.peer = peer
        self.node_id = node_id
        self.user_count = user_count
        self.image_server_url = image_server_url
        self.warn = warn or log.warning      # (msg, *args): the server rate-limits per address
        self.state = State.VERSION
        self.account = None
        self.login = None
        self.language = "EN"
        self.queue_checks = 0

    # ---------------------------------------------------------------- steps
    def run(self):
        """Drive the handshake until the client is logged in (returns the account)."""
        self.send(version_tuple(self.user_count()))
        while self.state is not State.DONE:
            step = getattr(self, "_on_" + self.state.name.lower())
            try:
                step(self.recv())
            except (HandshakeError, LoginRefused):
                self.state = State.FAILED
                raise
        return self.account

    def _on_version(self, v):
        if type(v) is not tuple or len(v) != 6:
            raise HandshakeError(f"expected VersionExchangeClient (6-tuple), got {v!r:.80}")
        expected = version_tuple(0)[:6]
        names = ("birthday", "macho_version", "user_count", "version_number", "build_version",
                 "project_version")
        for i, name in enumerate(names):
            if i != 2 and v[i] != expected[i]:
                self.warn("%s: client's %s %r does not match ours %r", self.peer, name, v[i],
                          expected[i])
        self.state = State.COMMAND

    def _on_command(self, v):
        if type(v) is tuple and len(v) == 2 and v[1] in (b"QC", "QC"):
            self.queue_checks += 1
            if self.queue_checks > 16:
                raise HandshakeError("too many queue checks")
            self.send(1)                                   # our queue position
            self.send(version_tuple(self.user_count()))    # and start over
            self.state = State.VERSION
        elif type(v) is tuple and len(v) == 3 and v[1] in (b"VK", "VK"):
            self.state = State.CRYPTO
        else:
            raise HandshakeError(f"expected a QC or VK command, got {v!r:.80}")

    def _on_crypto(self, v):
        if type(v) is not tuple or len(v) != 2:
            raise HandshakeError(f"expected CryptoRequestPacket, got {v!r:.80}")
        if v[0] not in (b"placebo", "placebo"):
            self.warn("%s: client asks for %r crypto; only placebo is supported",
                        self.peer, v[0])
            self._refuse(PLACEBO_REFUSAL)
        self.send(b"OK CC")
        self.state = State.LOGIN

    def _on_login(self, v):
        if type(v) is not tuple or len(v) != 2 or type(v[1]) is not dict:
            raise HandshakeError(f"expected CryptoChallengePacket, got {v!r:.80}")
        info = v[1]
        self.login = {(k.decode("latin-1") if isinstance(k, bytes) else str(k)): val
                      for k, val in info.items()}
        name = _text(_get(info, "user_name", ""), "user_name")
        pw_hash = _get(info, "user_password_hash")
        if pw_hash is not None and not isinstance(pw_hash, bytes):
            raise HandshakeError("user_password_hash must be a byte string")
        plain = _get(info, "user_password")
        plain = None if plain is None else _text(plain, "user_password")
        lang = _get(info, "user_languageid", "EN")
        self.language = _text(lang, "user_languageid") if lang is not None else "EN"

        self.send(C.PASSWORD_VERSION_HASHED)
        try:
            self.account = self.authenticate(name, pw_hash, plain)
        except LoginFailed as e:
            log.debug("%s: login as %r refused: %s", self.peer, name, e)
            self._refuse(str(e))
        self.send(self.server_handshake())
        self.state = State.FUNC_RESULT

    def _on_func_result(self, v):
        if type(v) is not tuple or len(v) != 3:
            raise HandshakeError(f"expected CryptoHandshakeResult, got {v!r:.80}")
        if not isinstance(v[1], (bytes, str)):
            raise HandshakeError("func_output must be a string")
        self.state = State.DONE

    def _refuse(self, reason):
        self.send(gps_transport_closed(reason, filetime_now()))
        raise LoginRefused(reason)

    # ---------------------------------------------------------------- messages
    def server_handshake(self):
        """CryptoServerHandshake (what EVEmu sends: empty challenge, marshalled None code)."""
        return (b"", (Buffer(C.MARSHALED_NONE), False), {}, {
            b"challenge_responsehash": wire_str(C.CHALLENGE_RESPONSE_HASH),
            b"macho_version": C.MACHO_VERSION,
            b"boot_version": C.VERSION_NUMBER,
            b"boot_build": C.BUILD_VERSION,
            b"boot_codename": wire_str(C.PROJECT_CODENAME),
            b"boot_region": wire_str(C.PROJECT_REGION),
            b"cluster_usercount": self.user_count() + 1,      # including this user
            b"proxy_nodeid": C.PROXY_NODE_ID,
            b"user_logonqueueposition": 1,
            b"config_vals": {b"imageserverurl": wire_str(self.image_server_url)},
        })


def handshake_ack(session, role):
    """CryptoHandshakeAck: the client's session seed.  ``live_updates`` (EVEmu ships compiled
    client patches from its database) is empty: we send no code to clients."""
    return {
        b"live_updates": [],
        b"session_init": {
            b"languageID": wire_str(session.get("languageID")),
            b"userid": session.get("userid"),
            b"maxSessionTime": None,
            b"userType": session.get("userType"),
            b"role": role,
            b"address": wire_str(session.get("address")),
            b"inDetention": None,
        },
        b"client_hash": None,
        b"user_clientid": session.get("clientID"),
        b"sessionID": session.session_id,
    }
