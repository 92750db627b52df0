"""Passwords: the digest the Crucible client sends, and what the server stores instead of it.

The client's digest (protocol notes section 3.1).  ``user_password_hash`` in the login packet is
computed by the client as: UTF-16LE encode the password and the user name (the name stripped of
surrounding blanks and lower-cased); ``h = SHA1(password16 + name16)``, then 1000 times
``h = SHA1(h + name16)``; the 20-byte binary digest is sent.  Test vector (EVEmu's unit test):
name ``" Hello World "``, password ``" Secret Password "`` ->
``1be6df86421dcf2cfa71900f342775b03198dce5``.

That digest is a password *equivalent*: whoever has it can log in.  So the server never stores
it.  It stores a *verifier*: a per-account random salt and a key-derivation function of the
digest, ``scrypt(digest, salt, n, r, p)``.  Whoever reads the database learns the verifier,
which does not log in (the client would have to send a digest whose scrypt is the verifier).

Stored per account: ``kdf`` (a text naming the function and its cost, e.g. ``scrypt:4096:8:1``),
``salt`` (16 random bytes) and ``verifier`` (32 bytes).  The cost is per row, so raising the
default later re-derives each verifier at that account's next login (see
:func:`needs_upgrade`).  ``sha256`` rows come from the migration of the old plain-digest column:
``sha256(salt + digest)`` hides the old digest at once without computing scrypt for every row
during start-up; such a row is re-derived with scrypt at its first login.

The default cost (``n=4096, r=8, p=1``, 4 MiB) keeps logins above 200/s on two cores; the
client's own 1001 SHA-1 rounds come before it.  Verification runs on the KDF threads
(:func:`evemu.db.on_kdf_thread`), never on the loop.

Two implementations of the one function: libsodium's (through PyNaCl, a declared dependency:
its salsa20/8 core uses SSE2, ~6.2 ms per default-cost check on the reference machine) and
OpenSSL's (:func:`hashlib.scrypt`, ~8.2 ms), used when PyNaCl cannot be imported.  Both give the
same bytes for the same inputs (scrypt is one function; tests/test_db.py compares them), so a
verifier written by one is checked by the other, and an attacker's cost is the same: only the
server's own cost per login drops.  Both release the GIL.
"""
import hashlib
import hmac
import os

try:
    from nacl.bindings import crypto_pwhash_scryptsalsa208sha256_ll as _sodium_scrypt
    from nacl.bindings import has_crypto_pwhash_scryptsalsa208sha256 as _has_sodium_scrypt
except ImportError:                # no PyNaCl: OpenSSL's scrypt
    _sodium_scrypt = None
else:
    if not _has_sodium_scrypt:     # a "minimal" libsodium build has no scrypt
        _sodium_scrypt = None

ROUNDS = 1000
SALT_BYTES = 16
VERIFIER_BYTES = 32
DEFAULT_KDF = "scrypt:4096:8:1"

__all__ = ["password_hash", "normalise_name", "hashes_match", "make_verifier", "check_verifier",
           "needs_upgrade", "parse_kdf", "scrypt", "scrypt_implementation", "DEFAULT_KDF",
           "KdfError"]


class KdfError(ValueError):
    """A stored ``kdf`` text this server does not understand."""


def normalise_name(name):
    """The account name as the hash (and the account table) sees it."""
    return name.strip().lower()


def password_hash(name, password):
    """The 20-byte digest the client sends for ``name``/``password``."""
    user16 = normalise_name(name).encode("utf-16-le")
    h = hashlib.sha1(password.encode("utf-16-le") + user16).digest()
    for _ in range(ROUNDS):
        h = hashlib.sha1(h + user16).digest()
    return h


def hashes_match(stored, offered):
    """Constant-time comparison of two digests (bytes); False if either is missing."""
    if not stored or not offered:
        return False
    return hmac.compare_digest(bytes(stored), bytes(offered))


def parse_kdf(kdf):
    """``"scrypt:n:r:p"`` -> ("scrypt", n, r, p); ``"sha256"`` -> ("sha256",)."""
    parts = str(kdf).split(":")
    if parts[0] == "sha256" and len(parts) == 1:
        return ("sha256",)
    if parts[0] == "scrypt" and len(parts) == 4:
        try:
            n, r, p = (int(x) for x in parts[1:])
        except ValueError:
            raise KdfError(f"bad scrypt parameters in {kdf!r}") from None
        # n < 2**(16 r): scrypt's own bound (RFC 7914), which both implementations enforce
        if n < 2 or n & (n - 1) or r < 1 or p < 1 or n * r > 1 << 24 or n >= 1 << (16 * r):
            raise KdfError(f"bad scrypt parameters in {kdf!r}")
        return ("scrypt", n, r, p)
    raise KdfError(f"unknown key-derivation function {kdf!r}")


def _derive(kdf, salt, digest):
    spec = parse_kdf(kdf)
    if spec[0] == "sha256":
        return hashlib.sha256(bytes(salt) + bytes(digest)).digest()
    _, n, r, p = spec
    return scrypt(bytes(digest), bytes(salt), n, r, p)


def scrypt(password, salt, n, r, p, dklen=VERIFIER_BYTES, *, impl=None):
    """scrypt(password, salt, N=n, r, p) -> ``dklen`` bytes, by libsodium when PyNaCl is
    there, else by OpenSSL.  ``impl`` ("sodium" or "openssl") forces one (tests, benchmarks)."""
    if impl is None:
        impl = "openssl" if _sodium_scrypt is None else "sodium"
    if impl == "sodium":
        if _sodium_scrypt is None:
            raise KdfError("libsodium's scrypt is not available (PyNaCl is not installed)")
        return _sodium_scrypt(password, salt, n, r, p, dklen=dklen,
                              maxmem=256 * n * r * p + (1 << 20))
    if impl != "openssl":
        raise ValueError(f"unknown scrypt implementation {impl!r}")
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r + (1 << 20), dklen=dklen)


def scrypt_implementation():
    """The implementation :func:`scrypt` uses: "sodium" or "openssl"."""
    return "openssl" if _sodium_scrypt is None else "sodium"


def make_verifier(digest, kdf=DEFAULT_KDF, salt=None):
    """(kdf, salt, verifier) to store for the client digest ``digest`` (CPU-bound: call it on
    a worker thread from the server)."""
    if not isinstance(digest, (bytes, bytearray)) or not digest:
        raise ValueError("the digest must be non-empty bytes")
    salt = os.urandom(SALT_BYTES) if salt is None else bytes(salt)
    return kdf, salt, _derive(kdf, salt, digest)


def check_verifier(digest, kdf, salt, verifier):
    """True if ``digest`` derives to ``verifier`` (constant-time compare).  False for a
    missing digest or a row without a verifier; KdfError for an unknown ``kdf``."""
    if not digest or not verifier or salt is None:
        return False
    return hmac.compare_digest(_derive(kdf, salt, bytes(digest)), bytes(verifier))


def needs_upgrade(kdf, wanted=DEFAULT_KDF):
    """True if a row stored with ``kdf`` should be re-derived with ``wanted`` at login."""
    return kdf != wanted
