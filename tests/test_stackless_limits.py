"""What stock CPython cannot give, and how our runtime reports it honestly.

These tests are specific to our implementation on stock CPython (ISSUE-2,
"Interpreter-only features ... raise or report honestly"): they are skipped on
real Stackless Python, where the opposite is true (soft switching exists and a
started tasklet pickles with its frames).
"""
import pickle
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version

pytestmark = pytest.mark.skipif(IS_SLP, reason="stock-CPython limits; real Stackless has these features")

PICKLE_ERRORS = (RuntimeError, TypeError, pickle.PicklingError)


def test_enable_softswitch_always_reports_false():
    assert stackless.enable_softswitch(None) is False


def test_enable_softswitch_true_is_accepted_but_still_false():
    prev = stackless.enable_softswitch(True)
    assert prev is False
    assert stackless.enable_softswitch(None) is False
    assert stackless.enable_softswitch(False) is False


def test_enable_softswitch_bad_truth_value():
    class Bad:
        def __bool__(self):
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        stackless.enable_softswitch(Bad())


def _parked():
    t = stackless.tasklet(stackless.schedule_remove)()
    stackless.run()
    assert t.alive and t.paused
    return t


def test_pickle_started_paused_tasklet_raises_clear_error():
    t = _parked()
    try:
        for proto in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(PICKLE_ERRORS) as ei:
                pickle.dumps(t, proto)
            assert str(ei.value)  # a message, not a bare exception
    finally:
        t.kill()


def test_pickle_started_blocked_tasklet_raises():
    c = stackless.channel()
    t = stackless.tasklet(c.receive)()
    stackless.run()
    try:
        with pytest.raises(PICKLE_ERRORS):
            pickle.dumps(t)
    finally:
        t.kill()


def test_pickle_started_scheduled_tasklet_raises():
    def f():
        while True:
            stackless.schedule()

    t = stackless.tasklet(f)()
    t.run()
    try:
        with pytest.raises(PICKLE_ERRORS):
            pickle.dumps(t)
    finally:
        t.kill()


def test_pickle_channel_with_blocked_tasklets_raises():
    # a blocked tasklet has started: the channel holding it cannot be pickled
    c = stackless.channel()
    t = stackless.tasklet(c.receive)()
    stackless.run()
    try:
        with pytest.raises(PICKLE_ERRORS):
            pickle.dumps(c)
    finally:
        t.kill()


def test_pickle_failure_leaves_tasklet_usable():
    t = _parked()
    with pytest.raises(PICKLE_ERRORS):
        pickle.dumps(t)
    assert t.alive and t.paused
    t.insert()
    stackless.run()
    assert not t.alive


def test_pickle_main_tasklet_raises():
    with pytest.raises(PICKLE_ERRORS):
        pickle.dumps(stackless.main)


def test_unstarted_tasklet_still_pickles():
    t = stackless.tasklet(len, ("abc",))
    u = pickle.loads(pickle.dumps(t))
    assert u.alive and u.paused


def test_restorable_of_new_tasklet():
    assert stackless.tasklet(len).restorable is True


def test_bind_thread_of_started_tasklet_raises():
    # a started tasklet owns a C stack (its greenlet) in the thread where it
    # started: it cannot move (Stackless: "tasklet has C state on its stack")
    import threading

    box = {}
    ready = threading.Event()
    release = threading.Event()

    def worker():
        t = stackless.tasklet(stackless.schedule_remove)()
        stackless.run()
        box["t"] = t
        ready.set()
        release.wait(30)
        if t.alive:
            t.kill()

    th = threading.Thread(target=worker)
    th.start()
    try:
        assert ready.wait(30)
        t = box["t"]
        assert t.alive and t.paused
        with pytest.raises(RuntimeError):
            t.bind_thread()
        assert t.thread_id == th.ident
    finally:
        release.set()
        th.join(30)


def test_started_tasklet_is_not_restorable():
    t = _parked()
    try:
        assert t.restorable is False
    finally:
        t.kill()
