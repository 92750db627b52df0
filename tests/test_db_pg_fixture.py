"""The throw-away PostgreSQL fixture itself (tests/pg_helpers.py): where none can be started its
tests skip and say why, and with EVEMU_REQUIRE_PG=1 (CI) they fail instead; a started cluster
is removed at the end of the session."""
import glob
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SAMPLE = '''
def test_uses_postgresql(pg_cluster, pg_url):
    open("root.txt", "w").write(pg_cluster.root)
    assert pg_url.startswith("postgresql://")
'''


def run_sample(tmp_path, **env):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    e = dict(os.environ)
    e.pop("EVEMU_REQUIRE_PG", None)
    e.pop("EVEMU_PG_BINDIR", None)
    e.update(env)
    e["PYTHONPATH"] = os.pathsep.join([str(HERE), e.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "pg_helpers", "-p",
                           "no:cacheprovider", "-q", "-rsf", "test_sample.py"], cwd=tmp_path,
                          env=e, capture_output=True, text=True, timeout=120)


def test_without_binaries_the_tests_skip_with_the_reason(tmp_path):
    p = run_sample(tmp_path, EVEMU_PG_BINDIR=str(tmp_path / "nowhere"))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 skipped" in p.stdout
    assert "no PostgreSQL for the tests: no PostgreSQL binaries" in p.stdout


def test_with_evemu_require_pg_they_fail(tmp_path):
    p = run_sample(tmp_path, EVEMU_PG_BINDIR=str(tmp_path / "nowhere"), EVEMU_REQUIRE_PG="1")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "1 error" in p.stdout or "1 failed" in p.stdout
    assert "EVEMU_REQUIRE_PG=1: a PostgreSQL must start" in p.stdout


def postmasters():
    """The data folders of the running throw-away PostgreSQL servers."""
    out = set()
    for cmd in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            args = Path(cmd).read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"/postgres") and b"-D" in args:
            d = args[args.index(b"-D") + 1].decode()
            if "/evemu-pg-" in d:
                out.add(d)
    return out


def test_a_session_starts_one_cluster_and_removes_it(tmp_path, pg_cluster):
    """(pg_cluster: only where PostgreSQL can start.)  The sample session's own cluster lives
    in a fresh /tmp/evemu-pg-* folder that is gone afterwards, and so is its server."""
    assert pg_cluster.data in postmasters()
    p = run_sample(tmp_path)
    assert p.returncode == 0 and "1 passed" in p.stdout, p.stdout + p.stderr
    root = (tmp_path / "root.txt").read_text()
    assert root.startswith("/tmp/evemu-pg-") and root != pg_cluster.root
    assert not os.path.exists(root)
    assert not [d for d in postmasters() if d.startswith(root)]
    assert os.path.isdir(pg_cluster.data)            # ours is untouched


CRASHING = '''
import os
def test_dies_without_cleaning_up(pg_cluster, pg_url):
    open("root.txt", "w").write(pg_cluster.root)
    os._exit(3)                 # as the faulthandler watchdog ends a hung run
'''


def test_a_session_that_dies_leaves_no_server_behind(tmp_path, pg_cluster):
    (tmp_path / "test_crash.py").write_text(CRASHING)
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH",
                                                                                "")]))
    p = subprocess.run([sys.executable, "-m", "pytest", "-p", "pg_helpers", "-p",
                        "no:cacheprovider", "-q", "test_crash.py"], cwd=tmp_path, env=e,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 3, p.stdout + p.stderr
    root = (tmp_path / "root.txt").read_text()
    assert root.startswith("/tmp/evemu-pg-") and root != pg_cluster.root

    def gone():
        return not os.path.exists(root) and not [d for d in postmasters() if
                                                 d.startswith(root)]
    import time
    for _ in range(150):                             # the watcher polls once a second
        if gone():
            break
        time.sleep(0.2)
    assert gone()


ON_BACKEND = '''
from server_helpers import running_server
def test_backend():
    with running_server() as srv:
        print("BACKEND", srv.db.backend.dialect)
'''


def test_evemu_test_backend_puts_the_servers_on_postgresql(tmp_path, pg_cluster):
    (tmp_path / "test_backend.py").write_text(ON_BACKEND)
    e = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH",
                                                                                "")]))
    for backend in ("postgresql", "sqlite"):
        e["EVEMU_TEST_BACKEND"] = backend
        p = subprocess.run([sys.executable, "-m", "pytest", "-p", "pg_helpers", "-p",
                            "no:cacheprovider", "-q", "-s", "test_backend.py"], cwd=tmp_path,
                           env=e, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0 and f"BACKEND {backend}" in p.stdout, p.stdout + p.stderr
