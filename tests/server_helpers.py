"""Helpers for the server tests: an in-process server, captured frames, tree comparison.

The in-process server runs on the stackless loop of the test's own thread; the test talks to it
with :class:`evemu.client.Client` from the main tasklet, whose blocking socket calls drive the
loop, so server and clients interleave in one thread.  Every test is bounded by SIGALRM.
"""
import contextlib
import os
import signal
from pathlib import Path

import pytest

from stackless import loop

from evemu.config import Config
from evemu.db import Database
from evemu.machonet.server import Server
from evemu.services import build_services
from evemu.wire import marshal

HERE = Path(__file__).resolve().parent
LOCAL_FRAMES = HERE / "vectors" / "server"


def _find_shared():
    if os.environ.get("EVEMU_SHARED"):
        return Path(os.environ["EVEMU_SHARED"])
    repo = HERE.parent
    for cand in (repo.parent / "shared", repo.parent.parent / "shared"):
        if cand.is_dir():
            return cand
    return repo.parent / "shared"


SHARED = _find_shared()
SHARED_FRAMES = SHARED / "vectors" / "evemu-login"
needs_shared = pytest.mark.skipif(not SHARED_FRAMES.is_dir(),
                                  reason=f"shared captured frames not found at {SHARED_FRAMES}")


def frame_path(prefix):
    """The captured frame whose name starts with ``prefix`` (local copy first)."""
    for folder in (LOCAL_FRAMES, SHARED_FRAMES):
        if folder.is_dir():
            hits = sorted(folder.glob(prefix + "*.bin"))
            if hits:
                return hits[0]
    pytest.skip(f"frame {prefix} is in neither {LOCAL_FRAMES} nor {SHARED_FRAMES}")


def frame_bytes(prefix):
    return frame_path(prefix).read_bytes()


def frame_value(prefix):
    return marshal.loads(frame_bytes(prefix))


@contextlib.contextmanager
def bounded(seconds=60):
    def on_alarm(signum, frame):
        raise TimeoutError(f"test exceeded its {seconds} s bound")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextlib.contextmanager
def running_server(db=None, extra_services=(), **config):
    """An in-process server on a free port with the debug services (and ``extra_services``
    classes); yields the Server."""
    config.setdefault("port", 0)
    config.setdefault("debug_services", True)
    own_db = db is None
    server = Server(lambda srv: build_services(srv, extra_services), Config(**config),
                    db=db or Database(":memory:"))
    server.start()
    try:
        yield server
    finally:
        server.shutdown()
        if own_db:
            server.db.close()
        # let killed tasklets finish their finally blocks
        for _ in range(3):
            loop.sleep(0)


def settle(predicate, timeout=5.0):
    """Drive the loop until ``predicate()`` holds (True) or ``timeout`` passes (False)."""
    deadline = loop.get_loop().time() + timeout
    while not predicate():
        if loop.get_loop().time() > deadline:
            return False
        loop.sleep(0.01)
    return True


# ------------------------------------------------------------------ tree comparison
def diff(ours, theirs, volatile=(), path="root"):
    """Differences between two canonical trees (tests/marshal_helpers.canon form).

    ``volatile`` holds paths (as printed in the differences) whose *values* may differ (times,
    ids, crcs): there only the tag (type) must match."""
    out = []
    if type(ours) is not type(theirs):
        return [f"{path}: {ours!r:.120} vs {theirs!r:.120}"]
    if isinstance(ours, tuple):
        if ours and isinstance(ours[0], str) and path in volatile:
            return [] if ours[0] == theirs[0] else [f"{path}: tag {ours[0]} vs {theirs[0]}"]
        if len(ours) != len(theirs):
            return [f"{path}: length {len(ours)} vs {len(theirs)}: {ours!r:.160} vs "
                    f"{theirs!r:.160}"]
        for i, (a, b) in enumerate(zip(ours, theirs)):
            out += diff(a, b, volatile, f"{path}[{i}]")
        return out
    if ours != theirs:
        out.append(f"{path}: {ours!r:.120} vs {theirs!r:.120}")
    return out
