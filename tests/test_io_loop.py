"""stackless.loop: timers, sleeps, fd waits, call_on_thread, driving rules, threads.

Every test is bounded (SIGALRM) and checks that it left no registration behind in
the thread's loop.  No timing assertions: only lower bounds that follow from the
definition of sleep, and orderings.
"""
import os
import random
import socket
import threading
import time

import pytest

import stackless
from stackless import loop

from io_helpers import ZERO, no_threads_left_behind, run_all, spawn  # noqa: F401 (no_threads_left_behind is a fixture)
from io_helpers import bounded_and_clean as _bounded_and_clean

bounded_and_clean = _bounded_and_clean(20)


# ------------------------------------------------------------------ sleep
def test_sleep_in_main_runs_loop_inline():
    t0 = time.monotonic()
    loop.sleep(0.02)
    assert time.monotonic() - t0 >= 0.02


def test_sleep_in_main_lets_other_tasklets_run():
    seen = []

    def worker():
        seen.append("ran")
        loop.sleep(0.001)
        seen.append("woke")

    spawn(worker)
    loop.sleep(0.03)
    assert seen == ["ran", "woke"]


def test_sleep_in_tasklet_lower_bound():
    elapsed = []

    def f():
        t0 = time.monotonic()
        loop.sleep(0.015)
        elapsed.append(time.monotonic() - t0)

    run_all(spawn(f))
    assert elapsed and elapsed[0] >= 0.015


def test_sleep_until_wakes_in_deadline_order():
    rnd = random.Random(4)
    offsets_ms = rnd.sample(range(1, 80), 40)
    t0 = loop.time() + 0.005
    woke = []

    def f(ms):
        loop.sleep_until(t0 + ms / 1000.0)
        woke.append(ms)
        assert loop.time() >= t0 + ms / 1000.0

    ts = [spawn(f, ms) for ms in offsets_ms]
    run_all(*ts)
    assert woke == sorted(offsets_ms)
    loop.sleep_until(loop.time() - 1)      # in the past: just yields
    loop.sleep_until(loop.time() + 0.002)  # from the main tasklet


def test_sleeps_wake_in_deadline_order():
    rnd = random.Random(4)
    durations_ms = rnd.sample(range(2, 80, 2), 30)
    woke = []

    def f(ms):
        target = time.monotonic() + ms / 1000.0   # the loop's own deadline is a hair later
        loop.sleep(ms / 1000.0)
        woke.append(target)

    ts = [spawn(f, ms) for ms in durations_ms]
    run_all(*ts)
    # In deadline order; only deadlines closer than the skew between our clock
    # read and the loop's (microseconds; 0.5 ms allowed) may swap.
    assert all(b > a - 0.0005 for a, b in zip(woke, woke[1:]))
    assert len(woke) == 30


def test_equal_sleeps_wake_fifo():
    woke = []

    def f(i):
        loop.sleep(0.01)
        woke.append(i)

    ts = [spawn(f, i) for i in range(20)]
    run_all(*ts)
    assert woke == list(range(20))


def test_sleep_zero_yields_to_runnable_tasklets():
    trace = []

    def f(name):
        for i in range(3):
            trace.append((name, i))
            loop.sleep(0)

    a, b = spawn(f, "a"), spawn(f, "b")
    run_all(a, b)
    assert trace == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]


def test_sleep_zero_in_main_runs_others_once():
    trace = []

    def f():
        trace.append(1)
        stackless.schedule()
        trace.append(2)

    t = spawn(f)
    loop.sleep(0)
    assert trace == [1]
    loop.run_until(t)
    assert trace == [1, 2]


def test_sleep_negative_is_value_error():
    with pytest.raises(ValueError, match="sleep length must be non-negative"):
        loop.sleep(-1)


def test_no_busy_waiting_while_sleeping():
    lp = loop.get_loop()
    before = lp.polls
    loop.sleep(0.2)
    # One kernel wait for the whole sleep (a second one if it woke a hair early
    # by the kernel's rounding); a polling loop would need hundreds.
    assert lp.polls - before <= 10


def test_kill_sleeping_tasklet_removes_timer():
    state = []

    def f():
        try:
            loop.sleep(10)
        except stackless.TaskletExit:
            state.append("exit")
            raise

    t = spawn(f)
    loop.sleep(0)          # let it start and park
    assert t.alive and t.blocked
    assert loop.get_loop().pending()["timers"] == 1
    t.kill()
    assert state == ["exit"]
    assert not t.alive
    assert loop.get_loop().pending() == ZERO


def test_throw_into_sleeping_tasklet():
    got = []

    def f():
        try:
            loop.sleep(10)
        except KeyError as e:
            got.append(e.args)

    t = spawn(f)
    loop.sleep(0)
    t.throw(KeyError("x"))
    loop.run_until(t)
    assert got == [("x",)]


# -------------------------------------------------------------- callbacks
def test_call_later_fires_in_order_and_cancel_works():
    fired = []
    h1 = loop.call_later(0.02, fired.append, "b")
    h0 = loop.call_later(0.01, fired.append, "a")
    h2 = loop.call_later(0.015, fired.append, "never")
    h2.cancel()
    h2.cancel()   # idempotent
    assert h2.cancelled() and not h1.cancelled()
    loop.sleep(0.03)
    assert fired == ["a", "b"]
    h0.cancel()   # after firing: no effect
    assert not h0.cancelled()


def test_many_cancelled_timers_are_compacted():
    lp = loop.get_loop()
    hs = [loop.call_later(100, lambda: None) for _ in range(2000)]
    for h in hs:
        h.cancel()
    assert len(lp._timers) < 2000
    assert lp.pending()["timers"] == 0


def test_callback_may_block_in_main():
    out = []

    def cb():
        loop.sleep(0.005)     # nested drive of the loop from a callback
        out.append("cb")

    loop.call_later(0.001, cb)
    loop.sleep(0.02)
    assert out == ["cb"]


def test_callback_exception_propagates_out_of_run_and_loop_survives():
    def bad():
        raise ZeroDivisionError("cb")

    loop.call_later(0, bad)
    with pytest.raises(ZeroDivisionError, match="cb"):
        loop.sleep(0.01)
    loop.sleep(0.001)   # still usable


def test_timers_due_with_a_raising_callback_still_fire():
    woke = []

    def sleeper():
        loop.sleep(0.01)
        woke.append(1)

    t = spawn(sleeper)
    loop.sleep(0)

    def bad():
        raise ArithmeticError("cb")

    loop.call_later(0.005, bad)
    import time as _t
    _t.sleep(0.02)            # both the callback and the sleeper are due in one turn
    with pytest.raises(ArithmeticError):
        loop.sleep(0)
    loop.run_until(t)
    assert woke == [1]


# ---------------------------------------------------------------- driving
def test_run_until_returns_when_tasklet_dies_and_for_dead_tasklet():
    t = spawn(lambda: loop.sleep(0.005))
    loop.run_until(t)
    assert not t.alive
    loop.run_until(t)   # already dead: returns at once


def test_run_forever_and_stop_from_tasklet():
    def stopper():
        loop.sleep(0.01)
        loop.stop()

    spawn(stopper)
    loop.run_forever()
    assert not loop.get_loop().is_running()


def test_stop_without_run_forever_does_not_spin_and_applies_to_next_run():
    lp = loop.get_loop()
    loop.stop()
    before = lp.polls
    loop.sleep(0.1)               # an inline wait is not a run_forever: no busy polling
    assert lp.polls - before <= 10
    loop.run_forever()            # returns after one turn: the stop was pending
    loop.stop()
    loop.run_forever()


def test_stop_from_other_thread_wakes_kernel_wait():
    lp = loop.get_loop()
    th = threading.Timer(0.05, lp.stop)
    th.start()
    loop.run_forever()      # no timers, nothing runnable: sleeps until the eventfd fires
    th.join()


def test_call_soon_threadsafe_runs_in_loop_thread():
    lp = loop.get_loop()
    where = []

    def cb():
        where.append(threading.get_ident())
        lp.stop()

    threading.Thread(target=lp.call_soon_threadsafe, args=(cb,)).start()
    loop.run_forever()
    assert where == [threading.get_ident()]


def test_run_forever_refuses_non_main_tasklet():
    errors = []

    def f():
        for fn in (loop.run_forever, lambda: loop.run_until(stackless.getcurrent())):
            try:
                fn()
            except RuntimeError as e:
                errors.append(str(e))

    loop.run_until(spawn(f))
    assert len(errors) == 2
    assert all("main tasklet" in e for e in errors)


def test_tasklet_parked_while_main_does_not_drive_waits_for_the_loop():
    done = []

    def f():
        loop.sleep(0.005)
        done.append(1)

    t = spawn(f)
    stackless.run()            # the plain scheduler: f parks in the loop, run() returns
    assert t.alive and done == []
    loop.run_until(t)          # driving the loop finishes it
    assert done == [1]


def test_uncaught_error_in_tasklet_comes_out_of_run_until():
    def f():
        loop.sleep(0.001)
        raise LookupError("boom")

    t = spawn(f)
    with pytest.raises(LookupError, match="boom"):
        loop.run_until(t)
    assert not t.alive
    loop.sleep(0.001)          # the loop is still usable


# ----------------------------------------------------------------- fd waits
def test_wait_readable_wakes_on_data_and_times_out():
    a, b = socket.socketpair()
    try:
        got = []

        def reader():
            loop.wait_readable(a)
            got.append(a.recv(10))

        t = spawn(reader)
        loop.sleep(0)
        assert t.blocked and got == []
        b.send(b"hi")
        loop.run_until(t)
        assert got == [b"hi"]
        with pytest.raises(TimeoutError):
            loop.wait_readable(a.fileno(), timeout=0.01)
        loop.wait_writable(a, timeout=1)
    finally:
        a.close()
        b.close()


def test_wait_readable_rejects_bad_fd():
    with pytest.raises(ValueError, match="invalid file descriptor: -1"):
        loop.wait_readable(-1)
    with pytest.raises(TypeError, match="expected an int fd or an object with fileno"):
        loop.wait_writable("3")
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(OSError):
        loop.wait_readable(r, timeout=0.01)


def test_two_readers_on_one_fd_both_wake():
    a, b = socket.socketpair()
    try:
        woke = []

        def reader(i):
            loop.wait_readable(a)
            woke.append(i)

        ts = [spawn(reader, 0), spawn(reader, 1)]
        loop.sleep(0)
        b.send(b"x")
        run_all(*ts)
        assert sorted(woke) == [0, 1]
    finally:
        a.close()
        b.close()


def test_kill_tasklet_waiting_on_fd_removes_registration():
    a, b = socket.socketpair()
    try:
        t = spawn(loop.wait_readable, a)
        loop.sleep(0)
        p = loop.get_loop().pending()
        assert p["fds"] == 1 and p["fd_waiters"] == 1
        t.kill()
        assert not t.alive
        assert loop.get_loop().pending() == ZERO
        assert loop.get_loop()._poller.mask(a.fileno()) == 0
    finally:
        a.close()
        b.close()


# ------------------------------------------------------------ call_on_thread
def test_call_on_thread_returns_result_and_blocks_only_caller():
    ticks = []
    stop = []
    ticked = threading.Event()

    def ticker():
        while not stop:
            ticks.append(1)
            if len(ticks) == 3:
                ticked.set()
            loop.sleep(0.001)

    def slow(x):
        assert ticked.wait(10)     # returns only once the ticker ran meanwhile
        return x * 2

    res = []

    def caller():
        res.append(loop.call_on_thread(slow, 21))
        res.append(len(ticks))
        stop.append(1)

    tk, c = spawn(ticker), spawn(caller)
    run_all(c, tk)
    assert res[0] == 42
    assert res[1] >= 3     # the ticker ran while caller waited


def test_call_on_thread_propagates_exception():
    class Custom(Exception):
        pass

    def bad():
        raise Custom("from thread", 7)

    out = []

    def caller():
        try:
            loop.call_on_thread(bad)
        except Custom as e:
            out.append(e.args)

    loop.run_until(spawn(caller))
    assert out == [("from thread", 7)]
    with pytest.raises(Custom):       # and from the main tasklet, inline
        loop.call_on_thread(bad)


def test_kill_before_thread_call_starts_cancels_it():
    from concurrent.futures import ThreadPoolExecutor
    gate = threading.Event()
    ran = []
    pool = ThreadPoolExecutor(1)
    old = loop.set_thread_pool(pool)
    try:
        pool.submit(gate.wait, 5)            # occupy the only worker
        t = spawn(loop.call_on_thread, ran.append, 1)
        loop.sleep(0)
        t.kill()
        gate.set()
        pool.shutdown(wait=True)
        assert ran == []                     # cancelled before it started
    finally:
        loop.set_thread_pool(old)


def test_idle_pool_workers_leave_and_deadlock_detection_returns():
    from stackless._io_threads import IdleThreadPool
    pool = IdleThreadPool(max_workers=2, idle=0.02)
    old = loop.set_thread_pool(pool)
    try:
        assert loop.call_on_thread(sum, [1, 2, 3]) == 6
        for _ in range(500):
            if pool.worker_count() == 0:
                break
            loop.sleep(0.01)
        assert pool.worker_count() == 0
    finally:
        loop.set_thread_pool(old)
        pool.shutdown()
    loop.shutdown_thread_pool()
    # No other thread is alive now, so the runtime reports the deadlock of a
    # main tasklet blocked on a channel nobody else can reach (instead of
    # waiting for a thread that might wake it).
    for t in threading.enumerate():
        if t is not threading.main_thread():
            t.join(5)
    assert threading.active_count() == 1
    with pytest.raises(RuntimeError):
        stackless.channel().receive()


def test_pool_shutdown_and_errors():
    from stackless._io_threads import IdleThreadPool
    with pytest.raises(ValueError):
        IdleThreadPool(max_workers=0)
    pool = IdleThreadPool(max_workers=3)
    futs = [pool.submit(pow, 2, i) for i in range(10)]
    pool.shutdown(wait=True)
    assert [f.result() for f in futs] == [2 ** i for i in range(10)]
    assert pool.worker_count() == 0
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(pow, 2, 2)


def test_call_on_thread_runs_on_another_thread_from_main():
    assert loop.call_on_thread(threading.get_ident) != threading.get_ident()


def test_kill_tasklet_waiting_on_thread_call():
    release = threading.Event()
    started = threading.Event()
    finished = threading.Event()

    def blocking():
        started.set()
        release.wait(5)
        finished.set()
        return "late"

    t = spawn(loop.call_on_thread, blocking)
    loop.sleep(0)
    assert t.blocked
    assert started.wait(5)       # running on its thread: it cannot be cancelled any more
    t.kill()
    assert not t.alive
    release.set()
    assert finished.wait(5)
    loop.sleep(0.01)   # the late result arrives and is dropped harmlessly
    assert loop.get_loop().pending() == ZERO


# ------------------------------------------------------------------ threads
def test_one_loop_per_thread_and_tasklets_in_threads():
    results = {}
    main_loop = loop.get_loop()

    def thread_main(n):
        lp = loop.get_loop()
        out = []

        def f(i):
            loop.sleep(0.001 * (n - i))
            out.append(i)

        ts = [spawn(f, i) for i in range(n)]
        for t in ts:
            loop.run_until(t)
        results[threading.get_ident()] = (lp is not main_loop, lp is loop.get_loop(), out)

    ths = [threading.Thread(target=thread_main, args=(5,)) for _ in range(3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(10)
    assert len(results) == 3
    for other, same, out in results.values():
        assert other and same and out == [4, 3, 2, 1, 0]


@pytest.mark.skipif(not hasattr(stackless, "set_wakeup_fd"),
                    reason="needs the core's per-thread wake-up fd (docs/io.md, 'Requests to the core', item 1)")
def test_raw_channel_send_from_other_thread_wakes_sleeping_loop():
    ch = stackless.channel()
    got = []

    def receiver():
        got.append(ch.receive())

    t = spawn(receiver)
    loop.sleep(0)   # parked on the raw channel; the loop will sleep in the kernel
    th = threading.Timer(0.05, ch.send, args=("hello",))
    th.start()
    loop.run_until(t)   # must wake although no timer or fd is due
    th.join()
    assert got == ["hello"]


# --------------------------------------------------------------------- leaks
def test_no_leak_across_block_and_kill_rounds():
    import gc
    from stackless import sync
    a, b = socket.socketpair()
    lock = sync.Lock()
    q = sync.Queue()

    def one_round():
        lock.acquire()
        ts = [spawn(loop.sleep, 10) for _ in range(50)]
        ts += [spawn(loop.wait_readable, a) for _ in range(50)]
        ts += [spawn(lock.acquire) for _ in range(50)]
        ts += [spawn(q.get) for _ in range(50)]
        ts += [spawn(loop.call_on_thread, time.sleep, 0)]
        loop.sleep(0)
        for t in ts:
            t.kill()
        lock.release()
        loop.sleep(0.01)          # lets the thread result come back and be dropped
        assert loop.get_loop().pending() == ZERO

    try:
        for _ in range(3):
            one_round()
        gc.collect()
        n0 = len(gc.get_objects())
        for _ in range(5):
            one_round()
        gc.collect()
        n1 = len(gc.get_objects())
        assert n1 - n0 < 100, (n0, n1)
    finally:
        a.close()
        b.close()


def test_infinite_sleep_and_bad_durations():
    t = spawn(loop.sleep, float("inf"))
    loop.sleep(0)
    assert t.blocked
    t.kill()
    assert not t.alive
    h = loop.call_later(float("inf"), lambda: None)
    loop.sleep(0.001)
    assert not h.cancelled()
    h.cancel()
    assert h.cancelled()
    with pytest.raises(TypeError):
        loop.call_later("soon", print)
    with pytest.raises(ValueError):
        loop.sleep(float("nan"))


# ------------------------------------------------- wait_fd(keep=True): the reader's fast path
def test_kept_wait_wakes_and_keeps_the_interest():
    a, b = socket.socketpair()
    a.setblocking(False)
    lp = loop.get_loop()
    try:
        got = []

        def reader():
            for _ in range(3):
                assert lp.wait_fd(a.fileno(), 1, None, True) is True    # 1: READ
                got.append(a.recv(10))

        t = spawn(reader)
        for i in range(3):
            loop.sleep(0)
            assert t.blocked
            assert lp.pending()["fd_waiters"] == 1
            b.send(b"%d" % i)
            while len(got) <= i:
                loop.sleep(0)
        loop.run_until(t)
        assert got == [b"0", b"1", b"2"]
        assert lp.pending()["fd_waiters"] == 0
        assert lp._poller.mask(a.fileno()) == 1           # kept for the next wait
        lp.drop_kept(a.fileno())
        assert lp._poller.mask(a.fileno()) == 0
    finally:
        a.close()
        b.close()


def test_kept_wait_left_by_kill_throw_or_close_unlists_itself():
    a, b = socket.socketpair()
    lp = loop.get_loop()
    fd = a.fileno()
    try:
        t = spawn(lp.wait_fd, fd, 1, None, True)
        loop.sleep(0)
        assert lp.pending()["fd_waiters"] == 1
        t.kill()
        assert not t.alive and lp.pending()["fd_waiters"] == 0

        caught = []

        def waiter():
            try:
                lp.wait_fd(fd, 1, None, True)
            except LookupError as e:
                caught.append(e)

        t = spawn(waiter)
        loop.sleep(0)
        t.throw(LookupError("thrown"))
        loop.run_until(t)
        assert [str(e) for e in caught] == ["thrown"] and lp.pending()["fd_waiters"] == 0

        def closed():
            with pytest.raises(OSError, match="closed while a tasklet waited"):
                lp.wait_fd(fd, 1, None, True)
            caught.append("closed")

        t = spawn(closed)
        loop.sleep(0)
        lp.forget_fd(fd)                                  # raises EBADF in the waiter
        loop.run_until(t)
        assert caught[-1] == "closed" and lp.pending()["fd_waiters"] == 0
    finally:
        a.close()
        b.close()
