"""CI: the README's run command, verbatim, from the clone root; then a login; then a clean stop.

    python .ci/readme_run.py

Runs ``pip install . && python -m evemu`` through bash in the clone root (the folder where
``evemu/`` would shadow the installed package), waits until 127.0.0.1:26000 accepts, logs in
with :class:`evemu.client.Client` (imported from the clone root too) and makes one call, then
sends SIGTERM to the server and requires exit status 0.  The database is a throw-away file
(``EVEMU_DB``), so the user's own is never touched.  Exits non-zero on any failure.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README_RUN = "pip install . && python -m evemu"
ADDRESS = ("127.0.0.1", 26000)
START_LIMIT = 900.0       # the pip install may build the extensions first
STOP_LIMIT = 60.0


def _fail(msg):
    print(f"readme_run: FAILED: {msg}", flush=True)
    sys.exit(1)


def _accepts(address):
    try:
        with socket.create_connection(address, timeout=1.0):
            return True
    except OSError:
        return False


def _server_pid(shell_pid):
    """The `python -m evemu` process: the shell itself if it exec'd it, else its child."""
    def cmdline(pid):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                return f.read().split(b"\0")
        except OSError:
            return []

    if b"evemu" in cmdline(shell_pid) and b"-m" in cmdline(shell_pid):
        return shell_pid
    try:
        with open(f"/proc/{shell_pid}/task/{shell_pid}/children") as f:
            children = [int(p) for p in f.read().split()]
    except OSError:
        children = []
    for pid in children:
        if b"evemu" in cmdline(pid) and b"-m" in cmdline(pid):
            return pid
    return None


def _login():
    sys.path.insert(0, ROOT)            # as `python` started in the clone root would see it
    from evemu.client import Client
    import evemu

    where = os.path.dirname(os.path.abspath(evemu.__file__))
    with Client.connect(ADDRESS, timeout=30.0) as c:
        session = c.login("cireadme", "ci-secret")
        if not session.get("userid"):
            _fail(f"login gave no userid: {session!r}")
        now = c.call("machoNet", "GetTime")
        if not isinstance(now, int):
            _fail(f"machoNet.GetTime returned {now!r}")
    print(f"readme_run: logged in as userid {session['userid']} (evemu from {where})", flush=True)


def main():
    if _accepts(ADDRESS):
        _fail(f"something already listens on {ADDRESS[0]}:{ADDRESS[1]}")
    tmp = tempfile.mkdtemp(prefix="evemu-ci-")
    env = dict(os.environ, EVEMU_DB=os.path.join(tmp, "evemu.sqlite3"))
    env.pop("PYTHONPATH", None)
    print(f"readme_run: $ {README_RUN}   (in {ROOT})", flush=True)
    proc = subprocess.Popen(["bash", "-c", README_RUN], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_LIMIT
        while not _accepts(ADDRESS):
            if proc.poll() is not None:
                _fail(f"the command ended with status {proc.returncode} before listening")
            if time.monotonic() > deadline:
                _fail(f"nothing listens on port {ADDRESS[1]} after {START_LIMIT:.0f} s")
            time.sleep(0.5)
        _login()
        pid = _server_pid(proc.pid)
        if pid is None:
            _fail("cannot find the `python -m evemu` process")
        os.kill(pid, signal.SIGTERM)
        try:
            status = proc.wait(STOP_LIMIT)
        except subprocess.TimeoutExpired:
            _fail(f"the server did not stop within {STOP_LIMIT:.0f} s of SIGTERM")
        if status != 0:
            _fail(f"the command ended with status {status} after SIGTERM")
        print("readme_run: ok (started from the clone root, login, clean stop)", flush=True)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
