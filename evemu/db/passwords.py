"""The account password hash the Crucible client sends (protocol notes section 3.1).

``user_password_hash`` in the login packet is computed by the client as: UTF-16LE encode the
password and the user name (the name stripped of surrounding blanks and lower-cased);
``h = SHA1(password16 + name16)``, then 1000 times ``h = SHA1(h + name16)``; the 20-byte binary
digest is sent.  The server stores that digest and compares it with what the client sends.

Test vector (EVEmu's unit test): name ``" Hello World "``, password ``" Secret Password "`` ->
``1be6df86421dcf2cfa71900f342775b03198dce5``.
"""
import hashlib
import hmac

ROUNDS = 1000


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
