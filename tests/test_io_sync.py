"""stackless.sync: each primitive alone, with timeouts, kills and the threading/queue
error messages; Timeout in tasklets and in the main tasklet; use across threads."""
import os
import queue
import threading

import pytest

import stackless
from stackless import loop, sync

from io_helpers import no_threads_left_behind, run_all, settle, spawn  # noqa: F401 (no_threads_left_behind is a fixture)
from io_helpers import bounded_and_clean as _bounded_and_clean

bounded_and_clean = _bounded_and_clean(20)

FUZZ_SEEDS = int(os.environ.get("IO_FUZZ_SEEDS", "8"))   # more seeds: IO_FUZZ_SEEDS=500


# --------------------------------------------------------------------- Lock
def test_lock_basics_and_errors():
    lk = sync.Lock()
    assert not lk.locked()
    assert lk.acquire() is True
    assert lk.locked()
    assert lk.acquire(False) is False
    assert lk.acquire(timeout=0.01) is False
    assert lk._waiters == collections_deque()
    lk.release()
    with pytest.raises(RuntimeError, match="release unlocked lock"):
        lk.release()
    with pytest.raises(ValueError, match="can't specify a timeout for a non-blocking call"):
        lk.acquire(False, 1)
    with pytest.raises(ValueError, match="timeout value must be positive"):
        lk.acquire(True, -2)
    with lk:
        assert lk.locked()
    assert not lk.locked()


def collections_deque():
    import collections
    return collections.deque()


def test_lock_fifo_handoff_between_tasklets():
    lk = sync.Lock()
    order = []

    def worker(i):
        with lk:
            order.append(i)
            loop.sleep(0)          # hold it across a switch

    lk.acquire()
    ts = [spawn(worker, i) for i in range(5)]
    settle()
    assert order == [] and len(lk._waiters) == 5
    lk.release()
    run_all(*ts)
    assert order == [0, 1, 2, 3, 4]
    assert not lk.locked()


def test_lock_acquire_in_main_waits_for_tasklet():
    lk = sync.Lock()

    def holder():
        with lk:
            loop.sleep(0.01)

    spawn(holder)
    settle()
    assert lk.locked()
    assert lk.acquire() is True     # main drives the loop until the hand-off
    lk.release()


def test_kill_lock_waiter_cleans_up():
    lk = sync.Lock()
    lk.acquire()
    t = spawn(lk.acquire)
    settle()
    assert t.blocked and len(lk._waiters) == 1
    t.kill()
    assert not t.alive and len(lk._waiters) == 0
    lk.release()
    assert not lk.locked()


def test_lock_handed_to_killed_waiter_passes_on():
    lk = sync.Lock()
    got = []

    def waiter(name):
        lk.acquire()
        got.append(name)
        lk.release()

    lk.acquire()
    b, c = spawn(waiter, "b"), spawn(waiter, "c")
    settle()
    lk.release()            # handed to b, which is runnable but has not resumed
    assert not b.blocked
    b.kill()                # b must pass the lock on to c
    run_all(c)
    assert got == ["c"]
    assert not lk.locked()


def test_lock_acquire_timeout_in_tasklet():
    lk = sync.Lock()
    lk.acquire()
    res = []
    t = spawn(lambda: res.append(lk.acquire(timeout=0.01)))
    run_all(t)
    assert res == [False] and len(lk._waiters) == 0
    lk.release()


# -------------------------------------------------------------------- RLock
def test_rlock_reentrant_and_owned_by_tasklet():
    rl = sync.RLock()
    assert rl.acquire() and rl.acquire()
    errs = []

    def other():
        try:
            rl.release()
        except RuntimeError as e:
            errs.append(str(e))
        errs.append(rl.acquire(timeout=0.01))

    run_all(spawn(other))
    assert errs == ["cannot release un-acquired lock", False]
    rl.release()
    rl.release()
    with pytest.raises(RuntimeError, match="cannot release un-acquired lock"):
        rl.release()


def test_rlock_waiter_gets_it_after_full_release():
    rl = sync.RLock()
    got = []

    def other():
        with rl:
            got.append(rl._count)

    rl.acquire()
    rl.acquire()
    t = spawn(other)
    settle()
    rl.release()
    settle()
    assert got == []      # still held once
    rl.release()
    run_all(t)
    assert got == [1]


def test_kill_rlock_waiter():
    rl = sync.RLock()
    rl.acquire()
    t = spawn(rl.acquire)
    settle()
    t.kill()
    assert len(rl._waiters) == 0
    rl.release()
    assert rl._owner is None


# -------------------------------------------------------------------- Event
def test_event_wait_set_clear_timeout():
    ev = sync.Event()
    assert not ev.is_set()
    assert ev.wait(0.01) is False
    assert ev.wait(0) is False
    res = []
    ts = [spawn(lambda: res.append(ev.wait())) for _ in range(3)]
    settle()
    assert res == []
    ev.set()
    run_all(*ts)
    assert res == [True, True, True]
    assert ev.wait() is True
    ev.clear()
    assert not ev.is_set()


def test_kill_event_waiter():
    ev = sync.Event()
    t = spawn(ev.wait)
    settle()
    assert len(ev._waiters) == 1
    t.kill()
    assert len(ev._waiters) == 0


def test_event_set_from_plain_thread_wakes_tasklet():
    ev = sync.Event()
    res = []
    t = spawn(lambda: res.append(ev.wait(5)))
    settle()
    threading.Timer(0.02, ev.set).start()
    run_all(t)
    assert res == [True]


# ---------------------------------------------------------------- Condition
def test_condition_producer_consumer():
    cond = sync.Condition()
    items = []
    got = []

    def consumer():
        with cond:
            while len(got) < 3:
                cond.wait_for(lambda: items)
                got.append(items.pop(0))

    def producer():
        for i in range(3):
            with cond:
                items.append(i)
                cond.notify()
            loop.sleep(0)

    c = spawn(consumer)
    p = spawn(producer)
    run_all(p, c)
    assert got == [0, 1, 2]


def test_condition_errors_and_timeout():
    cond = sync.Condition(sync.Lock())
    with pytest.raises(RuntimeError, match="cannot wait on un-acquired lock"):
        cond.wait()
    with pytest.raises(RuntimeError, match="cannot notify on un-acquired lock"):
        cond.notify()
    with cond:
        assert cond.wait(0.01) is False
        assert cond.wait_for(lambda: False, timeout=0.01) is False
        assert cond.wait(0) is False
    assert not cond._lock.locked()


def test_condition_notify_n_and_all():
    cond = sync.Condition()
    woke = []

    def w(i):
        with cond:
            cond.wait()
            woke.append(i)

    ts = [spawn(w, i) for i in range(5)]
    settle()
    with cond:
        cond.notify(2)
    settle()
    assert woke == [0, 1]
    with cond:
        cond.notify_all()
    run_all(*ts)
    assert woke == [0, 1, 2, 3, 4]


def test_kill_condition_waiter_releases_lock():
    cond = sync.Condition()

    def w():
        with cond:
            cond.wait()

    t = spawn(w)
    settle()
    t.kill()
    assert not t.alive
    assert cond._lock._owner is None and len(cond._waiters) == 0


def test_notified_condition_waiter_killed_passes_notify_on():
    cond = sync.Condition()
    woke = []

    def w(i):
        with cond:
            cond.wait()
            woke.append(i)

    a, b = spawn(w, "a"), spawn(w, "b")
    settle()
    with cond:
        cond.notify()      # a is chosen
    a.kill()               # before it resumes
    run_all(b)
    assert woke == ["b"]


# ---------------------------------------------------------------- Semaphore
def test_semaphore_counts_and_errors():
    with pytest.raises(ValueError, match="semaphore initial value must be >= 0"):
        sync.Semaphore(-1)
    s = sync.Semaphore(2)
    assert s.acquire() and s.acquire()
    assert s.acquire(False) is False
    assert s.acquire(timeout=0.01) is False
    with pytest.raises(ValueError, match="can't specify timeout for non-blocking acquire"):
        s.acquire(False, 1)
    with pytest.raises(ValueError, match="n must be one or more"):
        s.release(0)
    s.release(2)
    assert s._value == 2


def test_semaphore_release_n_wakes_n_in_order():
    s = sync.Semaphore(0)
    got = []
    ts = [spawn(lambda i=i: (s.acquire(), got.append(i))) for i in range(4)]
    settle()
    s.release(3)
    settle()
    assert got == [0, 1, 2]
    s.release()
    run_all(*ts)
    assert got == [0, 1, 2, 3] and s._value == 0


def test_bounded_semaphore():
    b = sync.BoundedSemaphore(1)
    with pytest.raises(ValueError, match="Semaphore released too many times"):
        b.release()
    with b:
        pass
    assert b._value == 1


def test_kill_semaphore_waiters_no_leak():
    s = sync.Semaphore(0)
    a, b = spawn(s.acquire), spawn(s.acquire)
    settle()
    a.kill()
    assert len(s._waiters) == 1
    s.release()        # handed to b
    run_all(b)
    assert s._value == 0 and len(s._waiters) == 0


def test_semaphore_unit_handed_to_killed_waiter_is_returned():
    s = sync.Semaphore(0)
    t = spawn(s.acquire)
    settle()
    s.release()        # handed to t, not yet resumed
    t.kill()
    assert s._value == 1


# -------------------------------------------------------------------- Queue
def test_queue_fifo_and_nowait_errors():
    q = sync.Queue(2)
    q.put(1)
    q.put_nowait(2)
    assert q.full() and q.qsize() == 2
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.01)
    assert q.get() == 1 and q.get_nowait() == 2
    assert q.empty()
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.01)
    with pytest.raises(queue.Empty):
        q.get(block=False)
    with pytest.raises(ValueError, match="'timeout' must be a non-negative number"):
        q.get(timeout=-1)
    with pytest.raises(ValueError, match="task_done\\(\\) called too many times"):
        for _ in range(3):
            q.task_done()
    assert sync.Empty is queue.Empty and sync.Full is queue.Full


def test_queue_blocking_put_get_between_tasklets():
    q = sync.Queue(1)
    got = []

    def producer():
        for i in range(50):
            q.put(i)

    def consumer():
        for _ in range(50):
            got.append(q.get())

    p, c = spawn(producer), spawn(consumer)
    run_all(p, c)
    assert got == list(range(50))


def test_queue_task_done_join():
    q = sync.Queue()
    done = []

    def worker():
        while True:
            item = q.get()
            if item is None:
                q.task_done()
                return
            loop.sleep(0.001)
            done.append(item)
            q.task_done()

    ts = [spawn(worker) for _ in range(3)]
    for i in range(10):
        q.put(i)
    q.join()                 # main drives the loop until all are done
    assert sorted(done) == list(range(10))
    for _ in ts:
        q.put(None)
    run_all(*ts)


def test_kill_queue_getter_and_putter():
    q = sync.Queue(1)
    g = spawn(q.get)
    settle()
    g.kill()
    assert len(q._getters) == 0
    q.put(1)
    p = spawn(q.put, 2)
    settle()
    p.kill()
    assert len(q._putters) == 0 and q.qsize() == 1 and q.get() == 1


def test_kill_queue_joiner():
    q = sync.Queue()
    q.put(1)
    t = spawn(q.join)
    settle()
    assert t.blocked and len(q._joiners) == 1
    t.kill()
    assert len(q._joiners) == 0
    q.get()
    q.task_done()


def test_notified_getter_killed_does_not_lose_item():
    q = sync.Queue()
    got = []
    a = spawn(lambda: got.append(("a", q.get())))
    b = spawn(lambda: got.append(("b", q.get())))
    settle()
    q.put("x")        # wakes a
    a.kill()          # before it took the item
    run_all(b)
    assert got == [("b", "x")]


def test_lifo_and_priority_queues():
    lq = sync.LifoQueue()
    pq = sync.PriorityQueue()
    for i in (3, 1, 2):
        lq.put(i)
        pq.put(i)
    assert [lq.get() for _ in range(3)] == [2, 1, 3]
    assert [pq.get() for _ in range(3)] == [1, 2, 3]


def test_queue_fed_by_plain_thread():
    q = sync.Queue()
    got = []

    def consumer():
        for _ in range(20):
            got.append(q.get(timeout=5))

    t = spawn(consumer)
    settle()

    def feeder():
        for i in range(20):
            q.put(i)

    th = threading.Thread(target=feeder)
    th.start()
    run_all(t)
    th.join()
    assert got == list(range(20))


# ------------------------------------------------------------------ Timeout
def test_timeout_interrupts_sleep_in_tasklet():
    out = []

    def f():
        tm = sync.Timeout(0.01)
        try:
            with tm:
                loop.sleep(10)
        except sync.TimeoutExpired as e:
            out.append((isinstance(e, TimeoutError), e.timeout is tm, tm.expired))

    run_all(spawn(f))
    assert out == [(True, True, True)]


def test_timeout_cancelled_when_block_ends_first():
    def f():
        with sync.Timeout(0.01) as tm:
            loop.sleep(0.001)
        loop.sleep(0.03)          # past the deadline: nothing fires
        return tm

    t = spawn(f)
    run_all(t)
    assert loop.get_loop().pending()["timers"] == 0


def test_timeout_suppress_and_none():
    out = []

    def f():
        with sync.Timeout(0.01, suppress=True) as tm:
            loop.sleep(10)
            out.append("not reached")
        out.append(tm.expired)
        with sync.Timeout(None):
            loop.sleep(0.001)
        out.append("none ok")

    run_all(spawn(f))
    assert out == [True, "none ok"]


def test_nested_timeouts_outer_fires():
    out = []

    def f():
        outer = sync.Timeout(0.01)
        try:
            with outer:
                with sync.Timeout(5) as inner:
                    loop.sleep(10)
        except sync.TimeoutExpired as e:
            out.append((e.timeout is outer, inner.expired))

    run_all(spawn(f))
    assert out == [(True, False)]


def test_timeout_in_main_tasklet():
    with pytest.raises(sync.TimeoutExpired):
        with sync.Timeout(0.01):
            loop.sleep(10)
    with sync.Timeout(0.01, suppress=True) as tm:
        sync.Event().wait()
    assert tm.expired


def test_timeout_around_raw_channel_receive():
    ch = stackless.channel()
    out = []

    def f():
        try:
            with sync.Timeout(0.01):
                ch.receive()
        except TimeoutError:
            out.append("timeout")

    t = spawn(f)
    run_all(t)
    assert out == ["timeout"] and ch.balance == 0


def test_timeout_around_lock_and_queue_leaves_no_waiter():
    lk = sync.Lock()
    lk.acquire()
    q = sync.Queue()
    out = []

    def f():
        with sync.Timeout(0.01, suppress=True):
            lk.acquire()
        with sync.Timeout(0.01, suppress=True):
            q.get()
        out.append((len(lk._waiters), len(q._getters)))

    run_all(spawn(f))
    assert out == [(0, 0)]
    lk.release()


def test_timeout_reuse_while_active_is_error():
    tm = sync.Timeout(1)
    with tm:
        with pytest.raises(RuntimeError, match="already active"):
            tm.__enter__()


# ------------------------------------------------------------ pre-emption
def test_primitives_survive_preemptive_run():
    """Under stackless.run(timeout) a tasklet can be interrupted on any line, also
    inside a primitive's bookkeeping; that must never deadlock the thread or lose
    a wake-up."""
    lock = sync.Lock()
    q = sync.Queue(3)
    counter = [0]
    got = []

    def incrementer():
        for _ in range(100):
            with lock:
                x = counter[0]
                x += 1
                counter[0] = x

    def producer():
        for i in range(150):
            q.put(i)

    def consumer():
        for _ in range(150):
            got.append(q.get())

    ts = [spawn(incrementer) for _ in range(4)] + [spawn(producer), spawn(consumer)]
    interrupted = 0
    while any(t.alive for t in ts):
        t = stackless.run(7)          # tiny slices: interruptions everywhere
        if t is not None:
            interrupted += 1
            t.insert()
    assert interrupted > 0
    assert counter[0] == 400
    assert got == list(range(150))


# ------------------------------------------------------------------- fuzz
@pytest.mark.parametrize("seed", range(FUZZ_SEEDS))
def test_random_kills_and_timeouts_keep_primitives_consistent(seed):
    """Tasklets take a lock, move items through a bounded queue, wait on events and
    semaphores, under random Timeouts and random kills.  Afterwards nothing may be
    left waiting, the lock and the semaphore must be whole again and every item
    put is either delivered or still in the queue."""
    import random
    rnd = random.Random(seed)
    lock = sync.Lock()
    sem = sync.BoundedSemaphore(2)
    q = sync.Queue(2)
    ev = sync.Event()
    put, taken = [], []
    counter = iter(range(10 ** 6))

    def worker(r):
        for _ in range(30):
            op = r.random()
            try:
                with sync.Timeout(r.choice([None, 0.0005, 0.002])):
                    if op < 0.25:
                        with lock:
                            loop.sleep(r.choice([0, 0.0005]))
                    elif op < 0.45:
                        item = next(counter)
                        q.put(item)
                        put.append(item)
                    elif op < 0.65:
                        taken.append(q.get())
                    elif op < 0.8:
                        with sem:
                            loop.sleep(0)
                    elif op < 0.9:
                        ev.wait()
                    else:
                        ev.set() if r.random() < 0.5 else ev.clear()
            except sync.TimeoutExpired:
                pass

    ts = [spawn(worker, random.Random(rnd.random())) for _ in range(12)]
    for _ in range(40):
        loop.sleep(rnd.choice([0, 0.0005, 0.001]))
        victim = rnd.choice(ts)
        if victim.alive and rnd.random() < 0.3:
            victim.kill()
    ev.set()
    for t in ts:
        t.kill()
    run_all(*ts)
    assert not lock.locked() and not lock._waiters
    assert sem._value == 2 and not sem._waiters
    assert not q._getters and not q._putters and not ev._waiters
    left = []
    while not q.empty():
        left.append(q.get_nowait())
    # put()/get() never switch after moving an item, so a kill or a Timeout lands
    # either before the item moved or after the list was updated: exact accounting.
    assert sorted(taken + left) == sorted(put)


# ------------------------------------------------------------------ threads
def test_lock_handed_between_plain_thread_and_tasklet():
    lk = sync.Lock()
    held = threading.Event()
    release = threading.Event()

    def holder():                       # a plain thread (its own loop, created on demand)
        lk.acquire()
        held.set()
        release.wait(10)
        lk.release()                    # hands the lock to the waiting tasklet

    th = threading.Thread(target=holder)
    th.start()
    assert held.wait(10)
    got = []
    t = spawn(lambda: got.append(lk.acquire(timeout=10)))
    settle()
    assert t.blocked
    release.set()
    loop.run_until(t)                   # woken through this loop's eventfd
    th.join(10)
    assert got == [True] and lk.locked()
    lk.release()


def test_plain_thread_blocks_on_queue_fed_by_tasklets():
    q = sync.Queue()
    out = []

    def consumer():                     # blocks its thread, driving that thread's loop
        for _ in range(5):
            out.append(q.get(timeout=10))

    th = threading.Thread(target=consumer)
    th.start()

    def producer():
        for i in range(5):
            loop.sleep(0.001)
            q.put(i)

    loop.run_until(spawn(producer))
    th.join(10)
    assert not th.is_alive() and out == [0, 1, 2, 3, 4]
