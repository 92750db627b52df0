"""Crash safety on both backends (tests/crash_helpers.py): the server is SIGKILLed during ISK
transfers, stack moves and splits from many clients, restarted, and every acknowledged change
must be there, ISK conserved, no item lost or duplicated, the journal matching the balances.
A few rounds here (bounded); ``python tools/crash_db.py`` runs 20 rounds with 200 clients."""
import pytest

from server_helpers import bounded

import crash_helpers


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "crash.sqlite3")
    return request.getfixturevalue("pg_url")


def test_acknowledged_changes_survive_kill_9(target, tmp_path):
    with bounded(240):
        rounds = crash_helpers.run(target, tmp_path, rounds=4, clients=16, seed=12)
    assert len(rounds) == 4
    # the load did run: transfers and splits were acknowledged, and checked, every round
    assert all(r["acked_this_round"] > 0 for r in rounds), rounds
    assert rounds[-1]["splits"] > 0 and rounds[-1]["isk"] == 16 * crash_helpers.START_ISK


def test_the_check_sees_a_lost_transfer(tmp_path):
    """The checker is not blind: an acknowledged transfer missing from the journal, a unit of
    Tritanium too many and a wrong balance are all reported."""
    import random
    import stackless
    from stackless import loop
    from evemu.db import Database
    target = str(tmp_path / "c.sqlite3")
    server = crash_helpers.Server(target, tmp_path)
    try:
        db = Database(target)
        players = crash_helpers.setup(server, 2, db)
        load = crash_helpers.Load(players, random.Random(1), ops=6)
        ts = [stackless.tasklet(load.run_client)(p, server.address) for p in players]
        for t in ts:
            loop.run_until(t)
        assert crash_helpers.check(db, players, [load])["transfers"] == 8
        a, b = players
        load.transfers.append((a.char_id, b.char_id, crash_helpers.isk("0.07")))
        db.execute('UPDATE "invItems" SET "quantity" = "quantity" + 1 WHERE "itemID" = ?',
                   (b.stack,))
        db.execute("UPDATE chrCharacters SET balance = balance + 1 WHERE characterID = ?",
                   (a.char_id,))
        with pytest.raises(AssertionError) as e:
            crash_helpers.check(db, players, [load])
        text = str(e.value)
        assert "acked transfer" in text and "0.07 ISK" in text
        assert "101 units of Tritanium" in text and f"character {a.char_id}: balance" in text
        assert "total ISK" in text
        db.close()
    finally:
        server.stop()
