"""``python -m evemu`` commands as an operator types them: account and db administration,
settings from flags / EVEMU_* / TOML / defaults, help texts, errors and exit statuses."""
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from evemu.client import Client, LoginError
from evemu.db import SCHEMA_VERSION, Database

from server_helpers import bounded
from test_server_main import ServerProcess, _env


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(90):
        yield


def evemu(tmp_path, *args, input=None, env=None):
    e = _env(tmp_path)
    e.pop("EVEMU_PASSWORD", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "evemu", *args], env=e, cwd=tmp_path,
                          input=input, capture_output=True, text=True, timeout=60)


# ------------------------------------------------------------------ accounts
def test_account_lifecycle(tmp_path):
    db = str(tmp_path / "admin.sqlite3")
    r = evemu(tmp_path, "account", "create", "Operator", "--db", db, input="s3cret\n")
    assert r.returncode == 0, r.stderr
    assert "created account 1 (operator)" in r.stderr and "Traceback" not in r.stderr
    r = evemu(tmp_path, "account", "create", "operator", "--db", db, input="other\n")
    assert r.returncode == 1 and "account 'operator' already exists" in r.stderr
    r = evemu(tmp_path, "account", "create", "x;y", "--db", db, input="pw\n")
    assert r.returncode == 1 and "invalid characters" in r.stderr
    evemu(tmp_path, "account", "create", "second", "--db", db, input="pw2\n")

    r = evemu(tmp_path, "account", "list", "--db", db)
    assert r.returncode == 0
    assert "operator" in r.stdout and "second" in r.stdout and "2 account(s)" in r.stdout
    assert "s3cret" not in r.stdout

    r = evemu(tmp_path, "account", "passwd", "operator", "--db", db, input="n3w\n")
    assert r.returncode == 0, r.stderr
    d = Database(db)
    acct = d.get_account("operator")
    assert acct.check_password(plain="n3w") and not acct.check_password(plain="s3cret")
    d.close()

    assert evemu(tmp_path, "account", "ban", "second", "--db", db).returncode == 0
    d = Database(db)
    assert d.get_account("second").banned
    d.close()
    assert evemu(tmp_path, "account", "unban", "second", "--db", db).returncode == 0
    d = Database(db)
    assert not d.get_account("second").banned
    d.close()

    assert evemu(tmp_path, "account", "delete", "second", "--db", db).returncode == 0
    r = evemu(tmp_path, "account", "delete", "second", "--db", db)
    assert r.returncode == 1 and "no account 'second'" in r.stderr
    r = evemu(tmp_path, "account", "passwd", "ghost", "--db", db, input="pw\n")
    assert r.returncode == 1 and "no account 'ghost'" in r.stderr
    r = evemu(tmp_path, "account", "create", "--db", db)
    assert r.returncode == 2 and "needs an account NAME" in r.stderr

    # the server (auto-account off) lets the created account in with its new password
    srv = ServerProcess(tmp_path, "--db", db, "--no-auto-account")
    try:
        with Client.connect(srv.address) as c:
            assert c.login("operator", "n3w")["userid"] == 1
        with Client.connect(srv.address) as c:
            with pytest.raises(LoginError):
                c.login("second", "pw2")
    finally:
        assert srv.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize("cmd", ["create", "passwd"])
def test_password_at_end_of_input_exits_2(tmp_path, cmd):
    db = str(tmp_path / "eof.sqlite3")
    if cmd == "passwd":
        evemu(tmp_path, "account", "create", "someone", "--db", db, input="pw\n")
    r = evemu(tmp_path, "account", cmd, "someone", "--db", db, input="")
    assert r.returncode == 2
    assert "no password: standard input is at end of file" in r.stderr
    assert "Traceback" not in r.stderr and "EOFError" not in r.stderr
    r = evemu(tmp_path, "account", cmd, "someone", "--db", db, input="\n")
    assert r.returncode == 2 and "an empty password is not allowed" in r.stderr


def _on_terminal(tmp_path, args, typed):
    """Run with stdin/stdout on a pseudo-terminal, typing each line of ``typed`` when asked;
    returns (exit status, everything written to the terminal)."""
    master, slave = pty.openpty()
    e = _env(tmp_path)
    e.pop("EVEMU_PASSWORD", None)
    proc = subprocess.Popen([sys.executable, "-m", "evemu", *args], env=e, cwd=tmp_path,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    out = b""
    pending = list(typed)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pending and out.rstrip().endswith(b":"):
                os.write(master, pending.pop(0).encode() + b"\n")
                out += b"<typed>"
        elif proc.poll() is not None:
            break
    rc = proc.wait(timeout=30)
    os.close(master)
    return rc, out.decode(errors="replace")


def test_password_from_a_terminal_is_not_echoed_and_confirmed(tmp_path):
    db = str(tmp_path / "tty.sqlite3")
    rc, out = _on_terminal(tmp_path, ["account", "create", "ttyuser", "--db", db],
                           ["Hidden-1", "Hidden-1"])
    assert rc == 0, out
    assert "password for ttyuser:" in out and "again:" in out
    assert "Hidden-1" not in out
    d = Database(db)
    assert d.get_account("ttyuser").check_password(plain="Hidden-1")
    d.close()
    rc, out = _on_terminal(tmp_path, ["account", "create", "ttyuser2", "--db", db],
                           ["one", "two"])
    assert rc == 2 and "the two passwords differ" in out


# ------------------------------------------------------------------ db
def test_db_info_and_upgrade(tmp_path):
    db = tmp_path / "old.sqlite3"
    r = evemu(tmp_path, "db", "info", "--db", str(db))
    assert r.returncode == 1 and "no database at" in r.stderr and not db.exists()
    # a database as the first server wrote it (schema 1, digests in `hash`)
    from test_server_accounts import _v1_database
    from evemu.db.passwords import password_hash
    _v1_database(str(db), "oldtimer", password_hash("oldtimer", "pw"))
    r = evemu(tmp_path, "db", "info", "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "schema version: 1" in r.stdout and "pending     2" in r.stdout
    r = evemu(tmp_path, "db", "upgrade", "--db", str(db))
    assert r.returncode == 0 and "applied migration 2" in r.stdout
    assert f"schema version: {SCHEMA_VERSION} (" in r.stdout and "pending" not in r.stdout
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT hash, kdf FROM account").fetchall() == [(None, "sha256")]
    conn.close()
    r = evemu(tmp_path, "db", "upgrade", "--db", str(db))
    assert r.returncode == 0 and "nothing to do" in r.stdout
    # a database from a newer server is refused
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (9999, 'from the future', 0)")
    conn.commit()
    conn.close()
    r = evemu(tmp_path, "db", "info", "--db", str(db))
    assert "unknown  9999" in r.stdout
    r = evemu(tmp_path, "db", "upgrade", "--db", str(db))
    assert r.returncode == 1 and "newer than this server" in r.stderr


# ------------------------------------------------------------------ settings
def test_settings_precedence_flags_env_toml_defaults(tmp_path, monkeypatch):
    from evemu.__main__ import parse
    toml = tmp_path / "evemu.toml"
    toml.write_text('port = 27000\nhost = "0.0.0.0"\n[server]\nmax_connections = 77\n'
                    'frame_timeout = 5.5\nauto_account = true\n')
    for k in list(os.environ):
        if k.startswith("EVEMU_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("EVEMU_PORT", "28000")
    monkeypatch.setenv("EVEMU_MAX_CONNECTIONS", "88")
    ns, c = parse(["--config", str(toml), "--port", "29000"])
    assert ns.command == "serve"
    assert c.port == 29000                      # flag beats env and file
    assert c.max_connections == 88              # env beats file
    assert c.host == "0.0.0.0" and c.frame_timeout == 5.5 and c.auto_account is True   # file
    assert c.backlog == 1024                    # default
    monkeypatch.setenv("EVEMU_CONFIG", str(toml))
    ns, c = parse(["serve", "--no-auto-account"])
    assert c.port == 28000 and c.auto_account is False and c.host == "0.0.0.0"
    ns, c = parse(["account", "list", "--db", "/x/y.sqlite3"])
    assert ns.command == "account" and c.db_path == "/x/y.sqlite3"


def test_bad_settings_exit_2(tmp_path):
    r = evemu(tmp_path, "--port", "many")
    assert r.returncode == 2 and "port: expected int" in r.stderr
    (tmp_path / "bad.toml").write_text("no_such_setting = 1\n")
    r = evemu(tmp_path, "--config", str(tmp_path / "bad.toml"))
    assert r.returncode == 2 and "unknown setting 'no_such_setting'" in r.stderr
    r = evemu(tmp_path, "db", "info", env={"EVEMU_LOG_LEVEL": "LOUD"})
    assert r.returncode == 2 and "log_level" in r.stderr
    r = evemu(tmp_path, "--config", str(tmp_path / "missing.toml"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    for out in (r.stderr,):
        assert "Traceback" not in out


def test_sqlite_sync_setting_reaches_the_server_database(tmp_path, monkeypatch):
    from evemu.__main__ import parse
    from evemu.config import Config
    from evemu.machonet.server import Server
    for k in list(os.environ):
        if k.startswith("EVEMU_"):
            monkeypatch.delenv(k)
    assert parse([])[1].sqlite_sync == "full"                     # the durable default
    assert parse(["--sqlite-sync", "NORMAL"])[1].sqlite_sync == "normal"
    monkeypatch.setenv("EVEMU_SQLITE_SYNC", "normal")
    assert parse(["serve"])[1].sqlite_sync == "normal"
    from evemu.services import build_services
    for mode, pragma in (("full", 2), ("normal", 1)):
        srv = Server(build_services, Config(port=0, db_path=str(tmp_path / f"{mode}.sqlite3"),
                                            sqlite_sync=mode))
        srv.start()                              # opens the database as `serve` does
        try:
            got = srv.db.call(lambda b: b.conn.execute("PRAGMA synchronous").fetchone()[0])
        finally:
            srv.shutdown()                       # closes the database too
        assert got == pragma, mode


def test_bad_sqlite_sync_exits_2(tmp_path):
    for args, env in ((["--sqlite-sync", "off"], None), (["db", "info"], {"EVEMU_SQLITE_SYNC": "0"})):
        r = evemu(tmp_path, *args, env=env)
        assert r.returncode == 2, r.stderr
        assert "sqlite_sync: expected full or normal, not" in r.stderr
        assert "Traceback" not in r.stderr


def test_help_names_flags_env_and_toml(tmp_path):
    for args in (["--help"], ["serve", "--help"]):
        r = evemu(tmp_path, *args)
        assert r.returncode == 0
        out = r.stdout
        for text in ("--max-connections", "EVEMU_MAX_CONNECTIONS", "TOML max_connections",
                     "--config", "environment variable", "--db", "EVEMU_DB", "--no-auto-account"):
            assert text in out, (args, text)
    r = evemu(tmp_path, "account", "--help")
    assert r.returncode == 0 and "create" in r.stdout and "--db" in r.stdout
    r = evemu(tmp_path, "db", "--help")
    assert r.returncode == 0 and "upgrade" in r.stdout and "--config" in r.stdout


@pytest.mark.parametrize("command", [[], ["serve"]], ids=["bare", "serve"])
def test_start_line_and_quick_exit(tmp_path, command):
    db = tmp_path / "start.sqlite3"
    srv = ServerProcess(tmp_path, *command, "--db", str(db), "--log-level", "INFO") \
        if not command else _serve(tmp_path, "--db", str(db))
    try:
        start = [ln for ln in srv.lines if "listening on" in ln]
        assert len(start) == 1
        line = start[0]
        assert "evemu 0." in line and f"database {db} (schema {SCHEMA_VERSION})" in line
        assert "auto-account on (loopback default)" in line and "127.0.0.1:" in line
        t0 = time.monotonic()
    finally:
        rc = srv.stop(signal.SIGTERM)
    took = time.monotonic() - t0
    assert rc == 0 and took < 5, took
    assert (db.stat().st_mode & 0o777) == 0o600


def _serve(tmp_path, *args):
    return ServerProcess(tmp_path, *args, command="serve")


def test_non_loopback_listen_turns_auto_account_off(tmp_path):
    db = tmp_path / "wide.sqlite3"
    srv = _serve(tmp_path, "--db", str(db), "--host", "0.0.0.0")
    try:
        assert "auto-account off (loopback default)" in srv.log
        with Client.connect(("127.0.0.1", srv.address[1])) as c:
            with pytest.raises(LoginError) as e:
                c.login("walkin", "pw")
            assert "AutoAccount is disabled" in e.value.reason
    finally:
        assert srv.stop(signal.SIGTERM) == 0
