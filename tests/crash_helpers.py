"""Crash safety of the database layer: a server subprocess is killed (SIGKILL) while many clients
give ISK, move and split item stacks; it is restarted and the database is checked.

Used by tests/test_db_crash.py (a few rounds, both backends) and tools/crash_db.py (20 rounds,
200 clients).  A round:

1. the server runs (``python -m evemu serve --db TARGET``); every client logs in, selects its
   character and binds its hangar, its ship and invbroker;
2. each client (a tasklet here, on stackless sockets) repeats, until its connection breaks:
   ``account.GiveCash`` of a unique amount to another character, a whole-stack move of its
   Tritanium between the ship's cargo and the hangar, and now and then ``SplitStack`` of one
   unit; it records each request before sending it and each success reply;
3. a random delay after the first acknowledged transfer the server gets SIGKILL; it is
   started again on the same database;
4. :func:`check` (a Database of its own, while the restarted server runs): every acknowledged
   transfer is in the journal once on each side, total ISK is what the characters started with,
   each balance is the sum of its journal and equals its last journal row, every acknowledged
   split's item exists, each stack is where its last acknowledged move (or the one in flight at
   the kill) put it, no Tritanium unit is lost or duplicated, no item id is used twice.
"""
import os
import random
import re
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import stackless
from stackless import loop

import evemu
from evemu.client import Client, RemoteError
from evemu.db import Database
from evemu.db.money import isk
from evemu.wire.marshal import Instance, SubStruct

KEYVAL = Instance("util.KeyVal", {b"appearance": {}})
STATION = 60014689              # the Federal Navy Academy's station (Gallente school 20)
FLAG_HANGAR, FLAG_CARGO = 4, 5
TRITANIUM = 34
START_ISK = Decimal("5000.00")


def _die_with_parent():
    """In the child: SIGKILL it when the test process dies (a watchdog's os._exit must not leave
    a server behind).  Linux only; elsewhere nothing."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)     # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class Server:
    """``python -m evemu serve`` on a free port with ``target`` as its database."""

    def __init__(self, target, workdir):
        self.target, self.workdir = str(target), Path(workdir)
        self.proc, self.address = None, None
        self.start()

    def start(self):
        env = dict(os.environ)
        roots = {str(Path(evemu.__file__).resolve().parent.parent),
                 str(Path(stackless.__file__).resolve().parent.parent)}
        env["PYTHONPATH"] = os.pathsep.join(sorted(roots) + [env.get("PYTHONPATH", "")])
        env["XDG_DATA_HOME"] = str(self.workdir / "xdg")
        env.pop("EVEMU_DB", None)
        self.starts = getattr(self, "starts", 0) + 1
        self.log_path = self.workdir / f"server-{self.starts}.log"
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "evemu", "serve", "--port", "0", "--db", self.target,
                 "--log-level", "INFO"],
                stdout=log, stderr=subprocess.STDOUT, text=True, env=env, cwd=self.workdir,
                preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 60
        self.address = None
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = self.log_path.read_text()
            m = re.search(r"listening on ([\d.]+):(\d+)", text)
            if m and "ready for Crucible clients" in text:
                self.address = (m.group(1), int(m.group(2)))
                break
            time.sleep(0.02)
        if self.address is None:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("the server did not start:\n" + self.log_path.read_text()[-3000:])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _bound(value):
    assert type(value) is SubStruct
    return value.value.value[0].decode()


def _bind(c, service, params):
    oid, _ = c.call(service, "MachoBindObject", params, None)
    return _bound(oid)


class Player:
    """One client's character and what the server acknowledged to it."""

    def __init__(self, n):
        self.name = f"crash{n:03d}"
        self.char_name = f"Crash Pilot{n:03d}"
        self.char_id = self.ship = self.stack = None
        self.stack_at = (None, FLAG_CARGO)        # (location, flag) of the last acked move
        self.in_flight_move = None
        self.splits = []                          # acked new itemIDs (one unit each)
        self.stack_qty = 100
        self.sent = 0                             # GiveCash calls made (amount = sent/100)

    def connect(self, address):
        c = Client.connect(address)
        c.login(self.name, "pw")
        return c

    def create(self, address):
        with self.connect(address) as c:
            self.char_id = c.call("charUnboundMgr", "CreateCharacterWithDoll", self.char_name,
                                  7, 1, 13, KEYVAL, KEYVAL, 20)
            c.call("charUnboundMgr", "SelectCharacterID", self.char_id)
            self.ship = c.session["shipid"]
            self.stack_at = (self.ship, FLAG_CARGO)


class Load:
    """The clients of one round and what they were told."""

    def __init__(self, players, rng, ops=10 ** 6):
        self.players, self.rng, self.ops = players, rng, ops
        self.transfers = []                       # acked (payer, payee, Decimal amount)
        self.errors = []                          # refusals (RemoteError): none expected

    def run_client(self, p, address):
        try:
            c = p.connect(address)
        except Exception:                         # noqa: BLE001 -- the server is gone
            return
        try:
            c.call("charUnboundMgr", "SelectCharacterID", p.char_id)
            broker = _bind(c, "invbroker", (STATION, 15))
            hangar = _bound(c.call_bound(broker, "GetInventory", 10004))
            ship_inv = _bound(c.call_bound(broker, "GetInventoryFromId", p.ship, 0))
            others = [q.char_id for q in self.players if q is not p]
            for i in range(self.ops):
                kind = i % 5
                if kind in (0, 2, 4):
                    p.sent += 1                   # unique per payer: the check's key
                    amount = p.sent / 100.0
                    to = self.rng.choice(others)
                    try:
                        c.call("account", "GiveCash", to, amount, "crash test")
                    except RemoteError as e:
                        if e.msg != "NotEnoughMoney":
                            raise
                        continue                  # refused, nothing changed: fine
                    self.transfers.append((p.char_id, to, isk(amount)))
                elif kind == 1:
                    dest = ((STATION, FLAG_HANGAR) if p.stack_at[1] == FLAG_CARGO
                            else (p.ship, FLAG_CARGO))
                    p.in_flight_move = dest
                    if dest[1] == FLAG_HANGAR:
                        c.call_bound(hangar, "Add", p.stack, p.ship)
                    else:
                        c.call_bound(ship_inv, "Add", p.stack, STATION, flag=FLAG_CARGO)
                    p.stack_at, p.in_flight_move = dest, None
                elif p.stack_qty > 40:
                    new = c.call_bound(broker, "SplitStack", p.stack_at[0], p.stack, 1,
                                       p.char_id)
                    p.splits.append(new)
                    p.stack_qty -= 1
        except RemoteError as e:
            self.errors.append(f"{p.name}: {e}")
        except Exception:                         # noqa: BLE001 -- the kill ends every client
            pass
        finally:
            try:
                c.close()
            except Exception:                     # noqa: BLE001
                pass


def setup(server, n_players, db):
    """Create the players' characters; find each one's Tritanium stack."""
    players = [Player(i) for i in range(n_players)]
    ts = [stackless.tasklet(p.create)(server.address) for p in players]
    for t in ts:
        loop.run_until(t)
    for p in players:
        assert p.char_id, f"{p.name}: no character"
        (p.stack,), = db.execute('SELECT "itemID" FROM "invItems" WHERE "ownerID" = ? AND '
                                 '"typeID" = ? AND "locationID" = ?', (p.char_id, TRITANIUM,
                                                                       p.ship))
    return players


def crash_round(server, players, rng, min_delay=0.3, max_delay=1.5):
    """One round: load, SIGKILL at a random moment, restart.  Returns the Load."""
    load = Load(players, rng)
    ts = [stackless.tasklet(load.run_client)(p, server.address) for p in players]
    # the kill comes at a random moment once the load runs (logins take a while)
    for _ in range(600):
        if load.transfers or not any(t.alive for t in ts):
            break
        loop.sleep(0.05)
    loop.sleep(rng.uniform(min_delay, max_delay))
    server.kill()
    for t in ts:
        loop.run_until(t)
    server.start()
    return load


def check(db, players, loads):
    """Raise AssertionError when an acknowledged change is missing or anything is inconsistent;
    returns a summary dict."""
    problems = [e for load in loads for e in load.errors]
    # ISK: every acked transfer, once on each side
    jr = db.execute('SELECT "characterID", "amount", "argID1" FROM "jnlCharacters" WHERE '
                    '"refTypeID" = 10')
    seen = {}
    for cid, amount, arg in jr:
        key = (int(cid), isk(amount), int(arg))
        seen[key] = seen.get(key, 0) + 1
    acked = [t for load in loads for t in load.transfers]
    for payer, payee, amount in acked:
        if seen.get((payer, -amount, payee)) != 1 or seen.get((payee, amount, payer)) != 1:
            problems.append(f"acked transfer {payer}->{payee} {amount} ISK: "
                            f"{seen.get((payer, -amount, payee))} payer rows, "
                            f"{seen.get((payee, amount, payer))} payee rows")
    ids = {p.char_id for p in players}
    rows = db.execute('SELECT c.characterID, c.balance, (SELECT SUM(j."amount") FROM '
                      '"jnlCharacters" j WHERE j."characterID" = c.characterID), (SELECT '
                      'j."balance" FROM "jnlCharacters" j WHERE j."characterID" = '
                      'c.characterID ORDER BY j."refID" DESC LIMIT 1) FROM chrCharacters c')
    total = Decimal(0)
    for cid, bal, jsum, jlast in rows:
        if cid not in ids:
            continue
        bal = isk(bal)
        total += bal
        if bal != isk(jsum) or bal != isk(jlast):
            problems.append(f"character {cid}: balance {bal}, journal sum {jsum}, "
                            f"last journal balance {jlast}")
    if total != START_ISK * len(players):
        problems.append(f"total ISK {total}, started with {START_ISK * len(players)}")
    # items
    dup = db.execute('SELECT "itemID", COUNT(*) FROM "invItems" GROUP BY "itemID" '
                     'HAVING COUNT(*) > 1')
    if dup:
        problems.append(f"item ids used twice: {dup}")
    n_splits = 0
    for p in players:
        trit = db.execute('SELECT "itemID", "locationID", "flagID", "quantity" FROM "invItems" '
                          'WHERE "ownerID" = ? AND "typeID" = ?', (p.char_id, TRITANIUM))
        units = sum(int(r[3]) for r in trit)
        if units != 100:
            problems.append(f"{p.name}: {units} units of Tritanium, not 100")
        have = {int(r[0]): r for r in trit}
        for s in p.splits:
            n_splits += 1
            if s not in have:
                problems.append(f"{p.name}: acked split item {s} is missing")
        stack = have.get(p.stack)
        if stack is None:
            problems.append(f"{p.name}: its stack {p.stack} is gone")
        else:
            at = (int(stack[1]), int(stack[2]))
            allowed = {p.stack_at} | ({p.in_flight_move} if p.in_flight_move else set())
            if at not in allowed:
                problems.append(f"{p.name}: stack at {at}, acked {p.stack_at}, in flight "
                                f"{p.in_flight_move}")
            # the next round starts from what the database says
            p.stack_at, p.in_flight_move = at, None
            p.stack_qty = int(stack[3])
    assert not problems, "\n".join(problems[:20])
    return {"transfers": len(acked), "splits": n_splits, "isk": total}


def run(target, workdir, rounds=5, clients=20, seed=1, say=None, min_delay=0.3,
        max_delay=1.5):
    """The whole run (see the module doc); returns the per-round summaries."""
    say = say or (lambda *_: None)
    rng = random.Random(seed)
    server = Server(target, workdir)
    out = []
    try:
        db = Database(target)
        try:
            players = setup(server, clients, db)
        finally:
            db.close()
        loads = []
        for r in range(rounds):
            loads.append(crash_round(server, players, rng, min_delay, max_delay))
            db = Database(target)
            try:
                summary = check(db, players, loads)
            finally:
                db.close()
            summary["round"] = r + 1
            summary["acked_this_round"] = len(loads[-1].transfers)
            out.append(summary)
            say(summary)
    finally:
        server.stop()
    return out
