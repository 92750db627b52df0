"""The core's own migrations: accounts and characters (protocol notes section 5: EVEmu's
``account`` and ``chrCharacters``).  See :mod:`evemu.db.migrations` for how to add one."""
import hashlib
import os

from .migrations import migration, register

# 1: the first schema (what every database written before migrations existed already has).
register(1, "accounts and characters", """
CREATE TABLE IF NOT EXISTS account (
    accountID      INTEGER PRIMARY KEY AUTOINCREMENT,
    accountName    TEXT    NOT NULL UNIQUE,          -- normalised: stripped, lower case
    hash           BLOB,                             -- (v1) the client's digest; NULL since v2
    role           INTEGER NOT NULL,
    type           INTEGER NOT NULL DEFAULT 30,      -- userType (30 = Mammon, a player)
    banned         INTEGER NOT NULL DEFAULT 0,
    logonCount     INTEGER NOT NULL DEFAULT 0,
    lastLogin      INTEGER,                          -- FILETIME
    createDateTime INTEGER NOT NULL                  -- FILETIME
);
CREATE TABLE IF NOT EXISTS chrCharacters (
    characterID           INTEGER PRIMARY KEY,
    accountID             INTEGER NOT NULL REFERENCES account(accountID),
    characterName         TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    typeID                INTEGER NOT NULL,          -- character type (from the bloodline)
    gender                INTEGER NOT NULL,          -- 0 female, 1 male
    raceID                INTEGER,
    bloodlineID           INTEGER,
    ancestryID            INTEGER,
    corporationID         INTEGER,
    stationID             INTEGER,
    solarSystemID         INTEGER,
    balance               REAL    NOT NULL DEFAULT 0,
    deletePrepareDateTime INTEGER,                   -- FILETIME or NULL
    createDateTime        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chrCharacters_account ON chrCharacters(accountID);
""")


# 2: verifiers instead of password equivalents (evemu.db.passwords).
@migration(2, "salted password verifiers instead of client digests")
def _verifiers(conn):
    for col in ("kdf TEXT", "salt BLOB", "verifier BLOB"):
        conn.execute(f"ALTER TABLE account ADD COLUMN {col}")
    rows = conn.execute("SELECT accountID, hash FROM account WHERE hash IS NOT NULL").fetchall()
    for account_id, digest in rows:
        # cheap for every row now; scrypt replaces it at the account's first login
        salt = os.urandom(16)
        conn.execute("UPDATE account SET kdf='sha256', salt=?, verifier=?, hash=NULL "
                     "WHERE accountID=?",
                     (salt, hashlib.sha256(salt + bytes(digest)).digest(), account_id))
