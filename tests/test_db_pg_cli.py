"""``python -m evemu`` on PostgreSQL, as an operator runs it: the account commands and ``db info``
with ``--db postgresql://...`` (and EVEMU_DB, and the TOML file), and a server that logs a client
in.  The password of the URL must never appear in what is printed or logged."""
import signal
import subprocess
import sys

import pytest

from evemu.client import Client
from evemu.db import SCHEMA_VERSION, Database

from server_helpers import bounded
from test_server_main import ServerProcess, _env


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(120):
        yield


def evemu(tmp_path, *args, env=None, password=None):
    env = dict(_env(tmp_path), **(env or {}))
    if password is not None:
        env["EVEMU_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "evemu", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_account_flows_and_db_info(tmp_path, pg_cluster, pg_url):
    secret = pg_cluster.password
    shown = pg_url.replace(secret, "***")
    outputs = []

    def run(*args, password=None, rc=0):
        p = evemu(tmp_path, *args, "--db", pg_url, password=password)
        outputs.append(p.stdout + p.stderr)
        assert p.returncode == rc, p.stdout + p.stderr
        return p.stdout + p.stderr

    info = run("db", "info")
    assert f"database:       {shown}" in info and "backend:        postgresql 15." in info
    assert "schema version: 0" in info and "pending     1  accounts and characters" in info
    assert "nothing to do" not in run("db", "upgrade")
    assert f"schema version: {SCHEMA_VERSION} (" in run("db", "info")
    assert "created account 1 (pilot)" in run("account", "create", "Pilot", password="pw1")
    assert "already exists" in run("account", "create", "pilot", password="x", rc=1)
    assert "invalid characters" in run("account", "create", "x;y", password="x", rc=1)
    assert "created account" in run("account", "create", "other", password="pw2")
    listing = run("account", "list")
    assert "2 account(s) in " + shown in listing and "pilot" in listing
    run("account", "passwd", "pilot", password="new")
    assert "no account 'ghost'" in run("account", "passwd", "ghost", password="x", rc=1)
    run("account", "ban", "pilot")
    db = Database(pg_url)
    acct = db.get_account("pilot")
    assert acct.banned and acct.check_password(plain="new") and not acct.check_password(
        plain="pw1")
    run("account", "unban", "pilot")
    assert not db.get_account("pilot").banned
    run("account", "delete", "pilot")
    assert db.get_account("pilot") is None
    assert "no account 'pilot'" in run("account", "delete", "pilot", rc=1)
    db.close()
    info = run("db", "info")
    assert "accounts:       1" in info and "applied     2" in info
    for out in outputs:
        assert secret not in out


def test_db_from_the_environment_and_the_config_file(tmp_path, pg_cluster, pg_url):
    p = evemu(tmp_path, "account", "create", "envuser", env={"EVEMU_DB": pg_url}, password="pw")
    assert p.returncode == 0, p.stderr
    conf = tmp_path / "evemu.toml"
    conf.write_text(f'db = "{pg_url}"\n')
    p = evemu(tmp_path, "account", "list", "--config", str(conf))
    assert p.returncode == 0 and "envuser" in p.stdout, p.stdout + p.stderr
    assert pg_cluster.password not in p.stdout + p.stderr


def test_unreachable_database_is_a_clean_error(tmp_path, pg_cluster):
    from pg_helpers import _free_port
    url = f"postgresql://evemu:hunter2@127.0.0.1:{_free_port()}/evemu"
    p = evemu(tmp_path, "account", "list", "--db", url)
    assert p.returncode == 2 and "cannot open the database" in p.stderr
    assert "hunter2" not in p.stderr and "Traceback" not in p.stderr
    p = evemu(tmp_path, "db", "info", "--db", url)
    assert p.returncode == 2 and "hunter2" not in p.stderr
    # the server refuses to start, with the reason
    p = evemu(tmp_path, "--port", "0", "--db", url)
    assert p.returncode == 2 and "cannot start" in p.stderr and "hunter2" not in p.stderr


def test_serve_on_postgresql_logs_a_client_in(tmp_path, pg_cluster, pg_url):
    srv = ServerProcess(tmp_path, "--db", pg_url)
    try:
        with Client.connect(srv.address) as c:
            state = c.login("pguser", "pw")
            assert state["userid"] == 1
            assert c.call("machoNet", "GetTime") > 0
        with Client.connect(srv.address) as c:              # again: the stored verifier
            assert c.login("pguser", "pw")["userid"] == 1
        rc = srv.stop(signal.SIGTERM)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    log = srv.log
    assert rc == 0, log
    assert f"database {pg_url.replace(pg_cluster.password, '***')} (schema {SCHEMA_VERSION})" in log
    assert "created account 1 (pguser)" in log and "account 1 (pguser) logged in" in log
    assert "Traceback" not in log and pg_cluster.password not in log
    db = Database(pg_url)
    acct = db.get_account("pguser")
    assert acct.logon_count == 2 and acct.check_password(plain="pw")
    db.close()
