"""``python -m evemu`` as a user runs it: a subprocess that logs, serves logins, and stops
cleanly on SIGTERM and SIGINT (Ctrl-C)."""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import evemu
import stackless
from stackless import socket as ssocket

from evemu.client import Client

from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(60):
        yield


def _env(tmp_path):
    """The child imports the same packages as this process, whichever way they are installed.
    (Children also run in tmp_path: `python -m` puts the working directory first on sys.path,
    and a source checkout's evemu/ there has no compiled codec.)"""
    env = dict(os.environ)
    roots = {str(Path(evemu.__file__).resolve().parent.parent),
             str(Path(stackless.__file__).resolve().parent.parent)}
    env["PYTHONPATH"] = os.pathsep.join(list(roots) + [env.get("PYTHONPATH", "")])
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")          # never touch the user's real data
    env.pop("EVEMU_DB", None)
    return env


class ServerProcess:
    """``python -m evemu [COMMAND] --port 0 ARGS...`` in tmp_path, once it is ready; its log is
    drained in the background.  ``command`` is a subcommand such as ``"serve"``."""

    def __init__(self, tmp_path, *args, command=()):
        command = (command,) if isinstance(command, str) else tuple(command)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "evemu", *command, "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(tmp_path), text=True,
            cwd=tmp_path)
        self.lines = []
        self.address = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(r"listening on ([\d.]+):(\d+)", line)
            if m:
                self.address = (m.group(1), int(m.group(2)))
            if "ready for Crucible clients" in line:
                break
        if self.address is None:
            self.proc.kill()
            raise AssertionError("server did not start:\n" + "".join(self.lines))
        # keep draining the log so that the server never blocks on a full pipe
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def stop(self, sig):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=20)
        self.drain.join(timeout=10)
        return rc

    @property
    def log(self):
        return "".join(self.lines)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_login_and_stop(tmp_path, sig):
    db = tmp_path / "server.sqlite3"
    srv = ServerProcess(tmp_path, "--db", str(db))
    try:
        assert srv.address[0] == "127.0.0.1"
        with Client.connect(srv.address) as c:
            state = c.login("cliuser", "pw")
            assert state["userid"] == 1
            assert c.call("machoNet", "GetTime") > 0
            idle = Client.connect(srv.address)          # a client still connected at stop
            idle.recv()
            rc = srv.stop(sig)
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    assert rc == 0, srv.log
    log = srv.log
    assert f"database {db}" in log
    assert "created account 1 (cliuser)" in log
    assert "account 1 (cliuser) logged in" in log
    assert f"{signal.Signals(sig).name} received, stopping" in log
    assert "server stopped (1 logins served)" in log
    assert "Traceback" not in log
    assert db.exists()
    with pytest.raises(ConnectionError):
        idle.recv()
    idle.close()


def test_default_database_location(tmp_path):
    srv = ServerProcess(tmp_path)
    try:
        with Client.connect(srv.address) as c:
            c.login("xdguser", "pw")
    finally:
        rc = srv.stop(signal.SIGTERM)
    assert rc == 0
    assert (tmp_path / "xdg" / "evemu" / "evemu.sqlite3").exists()


def test_port_in_use(tmp_path):
    blocker = ssocket.create_server(("127.0.0.1", 0))
    port = blocker.getsockname()[1]
    try:
        proc = subprocess.run([sys.executable, "-m", "evemu", "--port", str(port), "--db",
                               str(tmp_path / "x.sqlite3")], env=_env(tmp_path), cwd=tmp_path,
                              capture_output=True, text=True, timeout=30)
    finally:
        blocker.close()
    assert proc.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "evemu", "--help"], env=_env(tmp_path), cwd=tmp_path,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for opt in ("--host", "--port", "--db", "--log-level", "--no-auto-account"):
        assert opt in proc.stdout


def test_loadtest_against_the_cli_server(tmp_path):
    """150 clients at once against `python -m evemu` (each logs in, 5 calls): no errors."""
    from evemu.client.loadtest import run
    srv = ServerProcess(tmp_path, "--db", str(tmp_path / "load.sqlite3"))
    try:
        result = run(*srv.address, clients=150, calls=5)
    finally:
        rc = srv.stop(signal.SIGTERM)
    assert result["errors"] == 0, result
    assert result["logins"] == 150 and result["calls"] == 750
    assert rc == 0 and "Traceback" not in srv.log
    assert srv.log.count("logged in") == 150 and "server stopped (150 logins served)" in srv.log


def test_create_account_then_login_without_auto_accounts(tmp_path):
    db = str(tmp_path / "accounts.sqlite3")
    env = dict(_env(tmp_path), EVEMU_PASSWORD="hunter2")
    cmd = [sys.executable, "-m", "evemu", "--db", db, "--create-account", "Admin"]
    first = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert first.returncode == 0 and "created account 1 (admin)" in first.stderr
    again = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert again.returncode == 1 and "account 'admin' already exists" in again.stderr
    bad = subprocess.run(cmd[:-1] + ["x;y"], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 1 and "invalid characters" in bad.stderr

    srv = ServerProcess(tmp_path, "--db", db, "--no-auto-account")
    try:
        with Client.connect(srv.address) as c:
            assert c.login("admin", "hunter2")["userid"] == 1
        with Client.connect(srv.address) as c:
            from evemu.client import LoginError
            with pytest.raises(LoginError):
                c.login("stranger", "pw")
    finally:
        assert srv.stop(signal.SIGTERM) == 0
