"""A throw-away PostgreSQL for the tests: a cluster in a temporary folder, started once per test
session with Debian's binaries (``initdb``/``pg_ctl``), stopped and removed at the end.

Registered as a pytest plugin (``pytest_plugins`` in conftest.py), it gives:

* ``pg_cluster`` (session): the running :class:`PgCluster`.  When none can be started (no
  binaries, no psycopg, initdb failing...) the tests that use it are skipped with the reason --
  or fail, when ``EVEMU_REQUIRE_PG=1`` (CI sets it: there a PostgreSQL must start).
* ``pg_url`` (function): ``postgresql://evemu:PASSWORD@127.0.0.1:PORT/DB`` of a fresh, empty
  database (dropped after the test).

The server listens on 127.0.0.1 (a free port) and on a unix socket in the temporary folder, with
password (scram) authentication for TCP, so URLs carry a password as an operator's would.
``initdb`` refuses to run as root: as root the cluster belongs to the ``postgres`` user (or
``nobody``) and every binary runs through ``runuser``; as a normal user it runs as that user.
"""
import glob
import itertools
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile

import pytest

__all__ = ["PgCluster", "PgUnavailable", "find_bindir", "require_pg"]

ADMIN = "evemu"


class PgUnavailable(Exception):
    """No PostgreSQL can be started here; the message says why."""


def require_pg():
    return os.environ.get("EVEMU_REQUIRE_PG") == "1"


def find_bindir():
    """``EVEMU_PG_BINDIR`` if set (only it), else the newest ``/usr/lib/postgresql/N/bin`` that
    has initdb and pg_ctl; None if there is none."""
    if os.environ.get("EVEMU_PG_BINDIR"):
        cands = [os.environ["EVEMU_PG_BINDIR"]]
        found = []
    else:
        cands = []
        found = glob.glob("/usr/lib/postgresql/*/bin")

    def major(p):
        try:
            return int(p.split("/")[-2])
        except ValueError:
            return 0
    cands += sorted(found, key=major, reverse=True)
    for d in cands:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Runs beside the test session: if the session dies without cleaning up (the faulthandler
# watchdog's exit, SIGKILL), it stops the server and removes the folder.
_WATCHER = """
import os, shutil, subprocess, sys, time
pid, root, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    except PermissionError:
        pass
    time.sleep(1)
subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
shutil.rmtree(root, ignore_errors=True)
"""


class PgCluster:
    """One throw-away cluster.  ``start()`` raises PgUnavailable with the reason.

    ``durable=False`` (tests): ``fsync=off``, ``full_page_writes=off``.  ``durable=True``
    (benchmarks): PostgreSQL's own defaults, a commit fsync'ed before it returns."""

    def __init__(self, bindir=None, durable=False):
        self.bindir = bindir or find_bindir()
        self.durable = durable
        self.root = None
        self.port = None
        self.password = secrets.token_hex(12)
        self.user = None            # the OS user the server runs as, when we are root
        self._dbs = itertools.count(1)
        self._template = None
        self.running = False
        self._watcher = None

    # ------------------------------------------------------------------ process control
    def _cmd(self, *args):
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.user is not None:
            cmd = ["runuser", "-u", self.user, "--"] + cmd
        return cmd

    def _run(self, *args, timeout=60):
        proc = subprocess.run(self._cmd(*args), capture_output=True, text=True, timeout=timeout,
                              cwd=self.root, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            raise PgUnavailable(f"{args[0]} failed ({proc.returncode}): "
                                f"{(proc.stderr or proc.stdout).strip()[-600:]}"
                                f"{self._log_tail()}")
        return proc

    def _log_tail(self):
        try:
            with open(os.path.join(self.root, "server.log")) as f:
                tail = f.read()[-600:]
            return "\nserver.log: " + tail if tail.strip() else ""
        except OSError:
            return ""

    @property
    def data(self):
        return os.path.join(self.root, "data")

    def _server_options(self):
        # fsync off: a throw-away cluster; the crash-safety runs use their own
        sync = "on" if self.durable else "off"
        return (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync={sync} "
                f"-c full_page_writes={sync} -c max_connections=60")

    def start(self):
        if self.bindir is None:
            where = os.environ.get("EVEMU_PG_BINDIR") or "/usr/lib/postgresql/*/bin"
            raise PgUnavailable(f"no PostgreSQL binaries (initdb, pg_ctl, postgres in {where}): "
                                "apt-get install postgresql, or run .ci/postgres.sh")
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise PgUnavailable(f"psycopg is not installed ({e}): pip install "
                                "'evemu-stackless[postgres]'") from None
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                raise PgUnavailable("running as root and there is no runuser to drop to an "
                                    "unprivileged user (initdb refuses root)")
            for name in ("postgres", "nobody"):
                try:
                    pw = pwd.getpwnam(name)
                except KeyError:
                    continue
                self.user, uid, gid = name, pw.pw_uid, pw.pw_gid
                break
            else:
                raise PgUnavailable("running as root and neither a 'postgres' nor a 'nobody' "
                                    "user exists (initdb refuses root)")
        # directly in /tmp: pytest's own temporary folders are not traversable by another user
        self.root = tempfile.mkdtemp(prefix="evemu-pg-")
        if self.user is not None:
            os.chown(self.root, uid, gid)
        pwfile = os.path.join(self.root, "pw")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        if self.user is not None:
            os.chown(pwfile, uid, gid)
        os.chmod(pwfile, 0o600)
        self._run("initdb", "-D", self.data, "-U", ADMIN, f"--pwfile={pwfile}",
                  "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
                  "--locale=C", "--no-sync", timeout=120)
        os.unlink(pwfile)
        last = None
        for _ in range(3):                    # the free port may be taken meanwhile
            self.port = _free_port()
            try:
                self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                          "-l", os.path.join(self.root, "server.log"),
                          "-o", self._server_options(), timeout=90)
                self.running = True
                self._watcher = subprocess.Popen(
                    [sys.executable, "-c", _WATCHER, str(os.getpid()), self.root,
                     *self._cmd("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, start_new_session=True)
                return self
            except PgUnavailable as e:
                last = e
        raise last

    def stop(self):
        if self.running:
            try:
                self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.data)
            except (PgUnavailable, subprocess.TimeoutExpired):
                pass
            self.running = False

    def start_again(self):
        """Start a stopped cluster again, on the same port."""
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", self.data,
                  "-l", os.path.join(self.root, "server.log"), "-o", self._server_options(),
                  timeout=90)
        self.running = True

    def restart(self):
        """Stop (dropping every connection) and start again on the same port."""
        self._run("pg_ctl", "restart", "-w", "-t", "60", "-m", "fast", "-D", self.data,
                  "-l", os.path.join(self.root, "server.log"), "-o", self._server_options(),
                  timeout=90)

    def remove(self):
        if self._watcher is not None:
            self._watcher.kill()
            self._watcher.wait()
            self._watcher = None
        self.stop()
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    # ------------------------------------------------------------------ databases
    def url(self, dbname="postgres", password=True):
        pw = f":{self.password}" if password else ""
        return f"postgresql://{ADMIN}{pw}@127.0.0.1:{self.port}/{dbname}"

    def admin(self):
        import psycopg
        return psycopg.connect(host=self.root, port=self.port, user=ADMIN, dbname="postgres",
                               autocommit=True, connect_timeout=10)

    def create_database(self, template=None):
        name = f"evemu_test_{os.getpid()}_{next(self._dbs)}"
        with self.admin() as c:
            c.execute(f'CREATE DATABASE "{name}"' +
                      (f' TEMPLATE "{template}"' if template else ""))
        return name

    def server_template(self):
        """A database as a server's first start leaves it (migrated, shipped static data
        loaded), made once per session: a server database is a copy of it (CREATE DATABASE
        ... TEMPLATE, a file copy), not a migration and a static-data load per test."""
        if self._template is None:
            from evemu.db import Database
            name = self.create_database()
            Database(self.url(name)).close()
            self._template = name
        return self._template

    def drop_database(self, name):
        with self.admin() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


_cluster = None
_failure = None


def _get_cluster():
    global _cluster, _failure
    if _cluster is None and _failure is None:
        c = PgCluster()
        try:
            _cluster = c.start()
        except (PgUnavailable, OSError, subprocess.SubprocessError) as e:
            c.remove()
            _failure = f"no PostgreSQL for the tests: {e}"
    if _failure is not None:
        if require_pg():
            pytest.fail(_failure + " (EVEMU_REQUIRE_PG=1: a PostgreSQL must start)",
                        pytrace=False)
        pytest.skip(_failure)
    return _cluster


@pytest.fixture(scope="session")
def pg_cluster():
    yield _get_cluster()


def pytest_sessionfinish(session, exitstatus):
    global _cluster
    if _cluster is not None:
        _cluster.remove()
        _cluster = None


@pytest.fixture
def pg_url(pg_cluster):
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


def server_databases_on_postgresql(monkeypatch, cluster):
    """Make ``server_helpers.running_server()``'s default database (``:memory:``) a fresh
    PostgreSQL database; returns the list of the names created (drop them afterwards)."""
    import server_helpers
    made = []
    real = server_helpers.Database

    def database(path=None, **kw):
        if str(path) == ":memory:":
            made.append(cluster.create_database(template=cluster.server_template()))
            return real(cluster.url(made[-1]), **kw)
        return real(path, **kw)

    monkeypatch.setattr(server_helpers, "Database", database)
    return made


@pytest.fixture(autouse=True)
def _server_tests_on_postgresql(request):
    """``EVEMU_TEST_BACKEND=postgresql pytest tests/test_server_*.py``: every in-process server
    of the run gets a PostgreSQL database instead of ``:memory:``."""
    if os.environ.get("EVEMU_TEST_BACKEND", "sqlite") != "postgresql":
        yield
        return
    cluster = request.getfixturevalue("pg_cluster")
    made = server_databases_on_postgresql(request.getfixturevalue("monkeypatch"), cluster)
    yield
    for name in made:
        cluster.drop_database(name)
