"""Bookmarks and folders in the database (migration 500) on both backends: ids, owners,
updates, deletes and folder moves, each all-or-nothing."""
import pytest

from evemu.db import Database, filetime_now
from evemu.db import bookmarks as bm
from evemu.db import migrations as M

from server_helpers import bounded

A, B = 90000001, 90000002
SYSTEM, STATION = 30004971, 60014689


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(150):
        yield


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path):
    if request.param == "sqlite":
        target = str(tmp_path / "b.sqlite3")
    else:
        target = request.getfixturevalue("pg_url")
    d = Database(target)
    yield d
    d.close()


def add(db, owner=A, folder=None, memo="spot", point=(1.0, 2.0, 3.0)):
    return db.run(bm.add_bookmark, owner, SYSTEM, 5, memo, "a note", point, SYSTEM,
                  filetime_now(), folder)


def test_migration_500_is_registered():
    names = {m.version: m.name for m in M.registered()}
    assert names[500].startswith("bookmarks")


def test_add_list_and_read_back(db):
    b1 = add(db, point=(1.5, -2.25, 1e12))
    b2 = db.run(bm.add_bookmark, A, STATION, 1529, "station", "", (0.0, 0.0, 0.0), SYSTEM,
                filetime_now())
    b3 = add(db, owner=B)
    assert b1 < b2 < b3 and b1 >= 1
    rows = db.run(bm.bookmarks_of, A)
    assert [r["bookmarkID"] for r in rows] == [b1, b2]
    r = rows[0]
    assert tuple(r) == bm.BOOKMARK_COLUMNS
    assert (r["ownerID"], r["creatorID"], r["itemID"], r["typeID"], r["locationID"]) == (
        A, A, SYSTEM, 5, SYSTEM)
    assert (r["x"], r["y"], r["z"]) == (1.5, -2.25, 1e12)
    assert r["memo"] == "spot" and r["note"] == "a note" and r["folderID"] is None
    assert r["created"] > 0
    assert db.run(bm.bookmark, b3)["ownerID"] == B
    assert db.run(bm.bookmark, 999999) is None
    assert db.run(bm.bookmarks_of, 12345) == []


def test_update_and_delete_check_the_owner(db):
    b1, b2 = add(db), add(db)
    theirs = add(db, owner=B)
    db.run(bm.update_bookmark, A, b1, "renamed", "new note")
    r = db.run(bm.bookmark, b1)
    assert (r["memo"], r["note"]) == ("renamed", "new note")
    with pytest.raises(bm.NotOwner):
        db.run(bm.update_bookmark, A, theirs, "mine now", "")
    with pytest.raises(bm.NotOwner):
        db.run(bm.update_bookmark, A, 424242, "nothing", "")
    assert db.run(bm.bookmark, theirs)["memo"] == "spot"
    # one of someone else's in the list: nothing is deleted
    with pytest.raises(bm.NotOwner):
        db.run(bm.delete_bookmarks, A, [b1, theirs])
    assert len(db.run(bm.bookmarks_of, A)) == 2
    # unknown ids are skipped, duplicates count once
    assert db.run(bm.delete_bookmarks, A, [b1, b1, 777777]) == [b1]
    assert [r["bookmarkID"] for r in db.run(bm.bookmarks_of, A)] == [b2]
    assert db.run(bm.delete_bookmarks, A, []) == []


def test_folders(db):
    f = db.run(bm.create_folder, A, "Belts")
    assert f == {"ownerID": A, "folderID": f["folderID"], "folderName": "Belts",
                 "creatorID": A}
    g = db.run(bm.create_folder, B, "Theirs")
    assert db.run(bm.folders_of, A) == [f]
    b1 = add(db, folder=f["folderID"])
    b2 = add(db)
    with pytest.raises(bm.NotOwner):                  # into someone else's folder
        add(db, folder=g["folderID"])
    with pytest.raises(bm.NotOwner):
        db.run(bm.move_to_folder, A, g["folderID"], [b2])
    with pytest.raises(bm.NotOwner):
        db.run(bm.update_folder, A, g["folderID"], "Hijacked")
    with pytest.raises(bm.NotOwner):
        db.run(bm.delete_folder, A, g["folderID"])
    assert db.run(bm.folders_of, B)[0]["folderName"] == "Theirs"
    db.run(bm.update_folder, A, f["folderID"], "Moons")
    assert db.run(bm.folders_of, A)[0]["folderName"] == "Moons"
    assert db.run(bm.move_to_folder, A, f["folderID"], [b2]) == [b2]
    assert {r["folderID"] for r in db.run(bm.bookmarks_of, A)} == {f["folderID"]}
    assert db.run(bm.move_to_folder, A, None, [b1]) == [b1]
    assert db.run(bm.bookmark, b1)["folderID"] is None
    assert db.run(bm.delete_folder, A, f["folderID"]) == [b2]
    assert db.run(bm.folders_of, A) == []
    assert [r["bookmarkID"] for r in db.run(bm.bookmarks_of, A)] == [b1]


def test_ids_survive_a_reopen(tmp_path):
    path = str(tmp_path / "r.sqlite3")
    db = Database(path)
    b1 = add(db)
    db.close()
    db = Database(path)
    try:
        assert add(db) == b1 + 1
        assert db.run(bm.bookmark, b1)["memo"] == "spot"
    finally:
        db.close()


def test_a_character_keeps_at_most_so_many_bookmarks_and_folders(db, monkeypatch):
    monkeypatch.setattr(bm, "MAX_BOOKMARKS", 3)
    monkeypatch.setattr(bm, "MAX_FOLDERS", 2)
    ids = [add(db) for _ in range(3)]
    with pytest.raises(bm.TooMany, match="at most 3 bookmarks"):
        add(db)
    assert [r["bookmarkID"] for r in db.run(bm.bookmarks_of, A)] == ids
    add(db, owner=B)                                   # another character has its own room
    db.run(bm.delete_bookmarks, A, ids[:1])
    add(db)                                            # room again after a delete
    for _ in range(2):
        db.run(bm.create_folder, A, "f")
    with pytest.raises(bm.TooMany, match="at most 2 bookmark folders"):
        db.run(bm.create_folder, A, "f")
    assert len(db.run(bm.folders_of, A)) == 2
