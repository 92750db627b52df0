"""Shared pytest set-up for the project's test suite.

Kept generic on purpose (other suites live beside the runtime's):

* ``shared_dir()`` returns the shared data folder ``../shared`` (beside the
  clone) or skips the calling test with a clear reason when it is absent.
* Every test's time is bounded: a watchdog (faulthandler) dumps all stacks and
  ends the run if one test hangs for longer than ``EVEMU_TEST_TIMEOUT`` seconds
  (default 120), so a deadlock bug fails loudly instead of hanging CI.
* For the runtime's tests (``test_stackless_*``) an autouse fixture checks
  after each test that the tasklet scheduler of the main thread is clean:
  the current tasklet is the main tasklet, ``getruncount() == 1`` and no
  ``run()`` watchdog is left active.  A test that leaves tasklets behind
  fails here instead of confusing the next test.  The leftovers are killed so
  one bad test does not cascade.
* ``run_python`` runs a snippet of code in a fresh interpreter (same
  executable, same ``sys.path``) with a time limit: used for cases that can
  crash or hang by nature (deadlock, interpreter exit, pre-emption).
"""
import faulthandler
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

pytest_plugins = ["pg_helpers"]          # the throw-away PostgreSQL: pg_cluster, pg_url

TEST_TIMEOUT = float(os.environ.get("EVEMU_TEST_TIMEOUT", "120"))

#: True when the suite runs on real Stackless Python (used to validate the tests).
IS_STACKLESS_PYTHON = "Stackless" in sys.version

#: On real Stackless, EVEMU_SLP_HARD=1 disables soft switching for the whole run
#: (children included): every tasklet then keeps a C stack, as with greenlet.
SLP_HARD = IS_STACKLESS_PYTHON and os.environ.get("EVEMU_SLP_HARD") == "1"
_HARD_PRELUDE = "import stackless as _s; _s.enable_softswitch(False); del _s\n"


def pytest_configure(config):
    if SLP_HARD:
        import stackless
        stackless.enable_softswitch(False)


def shared_dir():
    """Return the path of the shared data folder (``../shared`` beside the clone).

    Skips the calling test when the folder is absent (e.g. a bare clone).
    The environment variable ``EVEMU_SHARED`` overrides the location.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = []
    if os.environ.get("EVEMU_SHARED"):
        candidates.append(os.environ["EVEMU_SHARED"])
    candidates.append(os.path.join(here, os.pardir, os.pardir, "shared"))
    candidates.append(os.path.join(os.getcwd(), os.pardir, "shared"))
    for path in candidates:
        path = os.path.normpath(path)
        if os.path.isdir(path):
            return path
    pytest.skip("shared data folder ../shared is absent (set EVEMU_SHARED to point at it)")


_THREAD_USING_MODULES = ("test_server_", "test_db", "test_world")


@pytest.fixture(autouse=True)
def _no_stray_worker_threads(request):
    """The server's tests leave worker threads behind for up to a second (the database
    thread, the call_on_thread pool of the password KDF).  The runtime's deadlock rule counts a
    live thread as one that might still wake a blocked tasklet, so a later test that expects
    ``Deadlock`` would hang instead.  Before any other test, end those threads."""
    if not request.node.module.__name__.startswith(_THREAD_USING_MODULES):
        import stackless.loop as _loop
        from stackless import _io_threads
        _loop.shutdown_thread_pool(wait=True)
        for pool in list(_io_threads._pools):
            if getattr(pool, "_name", "").startswith("evemu-"):
                pool.shutdown(wait=True)
    yield


@pytest.fixture(autouse=True)
def _bounded_time():
    """Abort the whole run with a stack dump if a single test hangs."""
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _scheduler_leftovers(stackless):
    """Describe what is wrong with the main thread's scheduler, or return ''."""
    problems = []
    current = stackless.getcurrent()
    main = stackless.getmain()
    if current is not main:
        problems.append("the current tasklet is not the main tasklet")
    count = stackless.getruncount()
    if count != 1:
        problems.append("getruncount() == %d, expected 1" % count)
    try:
        info = stackless.get_thread_info(-1, 1 << 31)
    except Exception:  # the undocumented flag is optional
        info = None
    if info is not None and len(info) > 3:
        watchdogs = info[3]
        if watchdogs not in (None, [None]):
            problems.append("watchdog stack not empty: %r" % (watchdogs,))
    return "; ".join(problems)


def _clean_up(stackless):
    """Kill runnable tasklets left behind by a failed test (best effort)."""
    main = stackless.getmain()
    for _ in range(1000):
        if stackless.getcurrent() is not main or stackless.getruncount() <= 1:
            break
        t = main.next
        if t is None or t is main:
            break
        try:
            t.kill()
        except BaseException:
            try:
                t.remove()
            except BaseException:
                break


@pytest.fixture(autouse=True)
def _clean_scheduler(request):
    """After each runtime test: the scheduler must be back to 'main only'."""
    name = request.node.module.__name__.rsplit(".", 1)[-1] if request.node.module else ""
    if not name.startswith("test_stackless"):
        yield
        return
    stackless = sys.modules.get("stackless")
    if stackless is None:
        import stackless  # noqa: F401  (the runtime's own tests import it anyway)
    old_sched = stackless.get_schedule_callback()
    old_chan = stackless.get_channel_callback()
    threads_before = set(threading.enumerate())
    yield
    problems = _scheduler_leftovers(stackless)
    # no test may leave Python threads running (give finishing ones a moment)
    deadline = time.time() + 2.0
    extra = [t for t in threading.enumerate() if t not in threads_before and t.is_alive()]
    while extra and time.time() < deadline:
        time.sleep(0.01)
        extra = [t for t in extra if t.is_alive()]
    if extra:
        problems = (problems + "; " if problems else "") + "threads left running: %r" % (extra,)
    # restore global hooks a failing test may have left installed
    if stackless.get_schedule_callback() is not old_sched:
        stackless.set_schedule_callback(old_sched)
        problems = (problems + "; " if problems else "") + "schedule callback left installed"
    if stackless.get_channel_callback() is not old_chan:
        stackless.set_channel_callback(old_chan)
        problems = (problems + "; " if problems else "") + "channel callback left installed"
    stackless.set_error_handler(None)
    if stackless.switch_trap(0) != 0:
        stackless.switch_trap(-stackless.switch_trap(0))
        problems = (problems + "; " if problems else "") + "switch_trap left raised"
    if stackless.getcurrent().atomic:
        stackless.getcurrent().set_atomic(False)
        problems = (problems + "; " if problems else "") + "main tasklet left atomic"
    if problems:
        _clean_up(stackless)
        pytest.fail("scheduler not clean after test: " + problems, pytrace=False)


def _run_python(code, timeout=60, args=(), env=None, input=None):
    """Run ``code`` in a fresh interpreter; return CompletedProcess (text mode).

    The child sees the same ``sys.path`` as this process (so it imports the
    same ``stackless``).  A child that outlives ``timeout`` is killed and the
    test fails with its partial output (a hang is a failure, never a hang).
    It runs in the tests folder: ``python -c`` puts the working directory
    first on sys.path, and a source checkout there would shadow the installed
    packages with sources that have no compiled extensions.
    """
    code = textwrap.dedent(code)
    if SLP_HARD:
        code = _HARD_PRELUDE + code
    child_env = dict(os.environ)
    child_env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    child_env.setdefault("PYTHONFAULTHANDLER", "1")
    if env:
        child_env.update(env)
    cmd = [sys.executable, "-c", code] + list(args)
    with subprocess.Popen(cmd, stdin=subprocess.PIPE if input is not None else None,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=child_env,
                          cwd=os.path.dirname(os.path.abspath(__file__))) as p:
        try:
            out, err = p.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            # SIGABRT first: faulthandler (PYTHONFAULTHANDLER) writes every thread's
            # Python stack to stderr, so a hang says where it hung; then SIGKILL.
            p.send_signal(signal.SIGABRT)
            try:
                out, err = p.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
            pytest.fail("child interpreter hung for %ss\n--- stdout ---\n%s\n--- stderr ---\n%s"
                        % (timeout, out or "", err or ""), pytrace=False)
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


@pytest.fixture
def run_python():
    """Fixture form of ``_run_python(code, timeout=60, ...)``."""
    return _run_python


@pytest.fixture
def is_stackless_python():
    return IS_STACKLESS_PYTHON
