"""``python -m evemu db copy --from URL --to URL``: SQLite -> PostgreSQL -> SQLite, verified by
row counts and checksums, identity sequences past the copied ids, refusals."""
import os
import subprocess
import sys

import pytest

from evemu.db import Database, filetime_now, open_backend
from evemu.db import characters as chars
from evemu.db import charinfo
from evemu.db import inventory as inv
from evemu.db.copy import CopyError, copy_database, table_checksums
from evemu.machonet import constants as C

from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(180):
        yield


def evemu(*args):
    env = dict(os.environ)
    env.pop("EVEMU_DB", None)
    return subprocess.run([sys.executable, "-m", "evemu", *args], capture_output=True,
                          text=True, timeout=150, env=env, cwd="/")


def populated(path):
    """A database as a server leaves it: static data, accounts, characters, items moved and
    split, ISK transferred."""
    db = Database(path)
    ids = []
    for name in ("Copy Alpha", "Copy Beta"):
        acct = db.create_account(name.replace(" ", ""), C.ROLE_STD, password="pw")
        ids.append(db.run(chars.create_character, acct.id, name, 7, 1, 13, 20, filetime_now()))
    db.run(charinfo.transfer, ids[0], ids[1], 1234.56, filetime_now(), "DESC: a gift")
    (ore,), = db.execute('SELECT "itemID" FROM "invItems" WHERE "ownerID" = ? AND '
                         '"typeID" = 34', (ids[0],))
    db.run(inv.split, ore, 25)
    db.close()
    return ids


def checksums(path):
    b = open_backend(path)
    try:
        return table_checksums(b.connection())
    finally:
        b.close()


def test_sqlite_to_postgresql_and_back(tmp_path, pg_url, pg_cluster):
    src = str(tmp_path / "src.sqlite3")
    ids = populated(src)
    r = evemu("db", "copy", "--from", src, "--to", pg_url)
    assert r.returncode == 0, r.stderr
    assert pg_cluster.password not in r.stdout + r.stderr
    assert "row counts and checksums match" in r.stdout and "100.0%" in r.stderr
    assert "chrcharacters" in r.stdout and "verified" in r.stdout
    # the copy is a working database: logins, balances, items...
    db = Database(pg_url)
    acct = db.get_account("CopyAlpha")
    assert acct is not None and acct.check_password(plain="pw")
    assert db.run(charinfo.balance, ids[0]) == 3765.44
    assert db.run(charinfo.balance, ids[1]) == 6234.56
    # ...whose ids continue past the copied ones: identity (accounts, core characters) and the
    # world's sequences
    new = db.create_account("AfterCopy", C.ROLE_STD, password="pw")
    assert new.id > acct.id
    core_char = db.create_character(new.id, "Core Made", 1373, 1)
    assert core_char > max(ids)
    world_char = db.run(chars.create_character, new.id, "World Made", 7, 1, 13, 20,
                        filetime_now())
    assert world_char > max(ids) and world_char != core_char
    db.close()
    # and back to a new SQLite file: the same rows as the first (but the 3 new characters)
    back = str(tmp_path / "back.sqlite3")
    db = Database(pg_url)
    db.run(chars.delete_character, new.id, world_char)
    db.execute("DELETE FROM chrCharacters WHERE characterID = ?", (core_char,))
    db.delete_account("AfterCopy")
    db.close()
    r = evemu("db", "copy", "--from", pg_url, "--to", back)
    assert r.returncode == 0, r.stderr
    first, last = checksums(src), checksums(back)
    first.pop("idsequences"), last.pop("idsequences")     # the world's counters moved on
    assert first == last


def test_the_api_returns_what_it_verified(tmp_path, pg_url):
    src = str(tmp_path / "s.sqlite3")
    populated(src)
    s, d = open_backend(src), open_backend(pg_url)
    done = copy_database(s, d)
    assert done["account"][0] == 2 and done["chrcharacters"][0] == 2
    assert done == table_checksums(d.connection())
    s.close(), d.close()


def test_a_destination_with_accounts_is_refused_unless_forced(tmp_path, pg_url):
    src = str(tmp_path / "s.sqlite3")
    populated(src)
    db = Database(pg_url)
    db.create_account("Squatter", C.ROLE_STD, password="pw")
    db.close()
    r = evemu("db", "copy", "--from", src, "--to", pg_url)
    assert r.returncode == 1 and "already holds account rows" in r.stderr
    db = Database(pg_url)
    assert [a.name for a in db.list_accounts()] == ["squatter"]      # untouched
    db.close()
    r = evemu("db", "copy", "--from", src, "--to", pg_url, "--force")
    assert r.returncode == 0, r.stderr
    db = Database(pg_url)
    assert sorted(a.name for a in db.list_accounts()) == ["copyalpha", "copybeta"]
    db.close()


def test_a_source_behind_this_servers_schema_is_refused(tmp_path, pg_url):
    from test_server_accounts import _v1_database
    from evemu.db.passwords import password_hash
    src = str(tmp_path / "v1.sqlite3")
    _v1_database(src, "oldtimer", password_hash("oldtimer", "pw"))
    r = evemu("db", "copy", "--from", src, "--to", pg_url)
    assert r.returncode == 1 and "db upgrade" in r.stderr


def test_bad_arguments(tmp_path, pg_url):
    r = evemu("db", "copy", "--from", str(tmp_path / "none.sqlite3"), "--to", pg_url)
    assert r.returncode == 1 and "no database at" in r.stderr
    r = evemu("db", "copy", "--to", pg_url)
    assert r.returncode == 2 and "needs --from URL and --to URL" in r.stderr
    r = evemu("db", "copy", "--from", pg_url, "--to", pg_url)
    assert r.returncode == 2 and "the same database" in r.stderr


def test_a_checksum_sees_a_changed_value(tmp_path):
    src = str(tmp_path / "s.sqlite3")
    populated(src)
    before = checksums(src)
    db = Database(src)
    db.execute("UPDATE chrCharacters SET balance = balance + 0.01 WHERE characterID = "
               "(SELECT MIN(characterID) FROM chrCharacters)")
    db.close()
    after = checksums(src)
    assert after["chrcharacters"][0] == before["chrcharacters"][0]
    assert after["chrcharacters"][1] != before["chrcharacters"][1]
    assert {k: v for k, v in after.items() if k != "chrcharacters"} == \
        {k: v for k, v in before.items() if k != "chrcharacters"}


def test_a_copy_that_does_not_verify_is_an_error(tmp_path, pg_url, monkeypatch):
    from evemu.db import copy as copy_mod
    src = str(tmp_path / "s.sqlite3")
    populated(src)
    real = copy_mod._to_param
    monkeypatch.setattr(copy_mod, "_to_param",
                        lambda d, v: v + 1 if isinstance(v, float) else real(d, v))
    s, d = open_backend(src), open_backend(pg_url)
    with pytest.raises(CopyError, match="does not verify"):
        copy_database(s, d)
    s.close(), d.close()
