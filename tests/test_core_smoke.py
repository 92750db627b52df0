"""Smoke tests of the C core written while building it (the full suite is
tests/test_stackless_*.py)."""
import gc
import pickle
import threading

import pytest

import stackless


def test_module_surface():
    assert stackless.current is stackless.main
    assert stackless.runcount == 1
    assert issubclass(stackless.TaskletExit, SystemExit)
    import builtins
    assert builtins.TaskletExit is stackless.TaskletExit
    assert stackless.stackless is stackless
    assert stackless.enable_softswitch(None) is False


def test_create_run_finish_order():
    out = []

    def f(n):
        out.append(n)
        stackless.schedule()
        out.append(n + 10)

    for i in range(3):
        stackless.tasklet(f)(i)
    stackless.run()
    assert out == [0, 1, 2, 10, 11, 12]
    assert stackless.runcount == 1


def test_channel_roundtrip_and_preference():
    ch = stackless.channel()
    got = []

    def rx():
        got.append(ch.receive())
        got.append(ch.receive())

    stackless.tasklet(rx)()
    stackless.schedule()
    assert ch.balance == -1
    ch.send(1)           # preference -1: the receiver runs at once
    assert got == [1]
    ch.send(2)
    assert got == [1, 2]
    assert ch.balance == 0


def test_send_exception_and_kill():
    ch = stackless.channel()
    seen = []

    def rx():
        try:
            ch.receive()
        except ValueError as e:
            seen.append(e.args)
        try:
            ch.receive()
        except TaskletExit:
            seen.append("killed")
            raise

    t = stackless.tasklet(rx)()
    stackless.schedule()
    ch.send_exception(ValueError, 1, 2)
    t.kill()
    assert seen == [(1, 2), "killed"]
    assert not t.alive


def test_kill_unstarted_does_not_run():
    ran = []
    t = stackless.tasklet(ran.append)(1)
    t.kill()
    assert ran == [] and not t.alive


def test_deadlock_message():
    ch = stackless.channel()
    with pytest.raises(RuntimeError, match="Deadlock: the last runnable tasklet cannot be blocked."):
        ch.receive()
    assert stackless.runcount == 1


def test_main_blocked_woken_with_error():
    ch = stackless.channel()
    stackless.tasklet(lambda: None)()
    with pytest.raises(RuntimeError, match="the main tasklet is receiving without a sender available."):
        ch.receive()


def test_error_propagates_to_main():
    def bad():
        raise KeyError("x")

    stackless.tasklet(bad)()
    with pytest.raises(KeyError):
        stackless.run()


def test_atomic_and_bomb():
    with stackless.atomic():
        assert stackless.current.atomic
    assert not stackless.current.atomic
    b = stackless.bomb(ValueError, ValueError("v"), None)
    assert b.type is ValueError


def test_pickle_unstarted_and_dead():
    t = stackless.tasklet(max).bind(max, (1, 2))
    t2 = pickle.loads(pickle.dumps(t))
    assert t2.alive and t2.paused
    t2.insert()
    stackless.run()
    assert not t2.alive
    t3 = pickle.loads(pickle.dumps(t2))
    assert not t3.alive


def test_pickle_started_tasklet_raises():
    t = stackless.tasklet(stackless.schedule_remove)()
    stackless.run()
    assert t.paused
    with pytest.raises(RuntimeError, match="started tasklet"):
        pickle.dumps(t)
    t.kill()


def test_timeout_preempts():
    def spin():
        while True:
            pass

    t = stackless.tasklet(spin)()
    victim = stackless.run(100)
    assert victim is t
    assert t.alive and not t.scheduled
    t.kill()
    assert not t.alive


def test_threads_cross_wakeup():
    ch = stackless.channel()
    res = []

    def worker():
        res.append(ch.receive())

    th = threading.Thread(target=worker)
    th.start()
    while ch.balance == 0:
        stackless.schedule()
        import time
        time.sleep(0.001)
    ch.send("hi")
    th.join(10)
    assert res == ["hi"]


def test_dead_thread_tasklets():
    box = {}

    def worker():
        box["t"] = stackless.tasklet(lambda: None)()
        box["blocked"] = stackless.tasklet(stackless.schedule_remove)()
        stackless.schedule()

    th = threading.Thread(target=worker)
    th.start()
    th.join(10)
    t = box["t"]
    assert t.thread_id == -1 and not t.alive
    del box
    gc.collect()


def test_gc_of_unstarted_and_paused():
    import weakref
    t = stackless.tasklet(lambda: None)
    r = weakref.ref(t)
    del t
    gc.collect()
    assert r() is None
    fin = []

    def f():
        try:
            stackless.schedule_remove()
        finally:
            fin.append(1)

    t = stackless.tasklet(f)()
    stackless.run()
    del t
    gc.collect()
    assert fin == [1]


def test_new_tasklets_start_from_a_shallow_stack():
    # each tasklet starts the next one and switches to it at once: without the
    # spawner every new C stack would begin deeper than the previous one
    depth = 3000
    done = []

    def chain(n):
        if n:
            stackless.tasklet(chain)(n - 1).run()
        else:
            done.append(True)

    stackless.tasklet(chain)(depth)
    stackless.run()
    assert done == [True]


def test_workers_are_reused():
    import greenlet

    def count():
        return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet))

    for _ in range(10):
        stackless.tasklet(lambda: None)()
    stackless.run()
    gc.collect()
    before = count()
    for _ in range(100):
        for _ in range(10):
            stackless.tasklet(stackless.schedule)()
        stackless.run()
    gc.collect()
    assert count() - before <= 10


def test_thread_end_kills_started_tasklets():
    log = []

    def worker():
        def parked():
            try:
                stackless.schedule_remove()
            finally:
                log.append("parked finally")
        stackless.tasklet(parked)()
        stackless.tasklet(lambda: log.append("never"))
        stackless.run()
        log.append("thread end")

    th = threading.Thread(target=worker)
    th.start()
    th.join(10)
    assert log == ["thread end", "parked finally"]
