"""Removing blocked tasklets from any position of a channel's queue
(notes/IO-NEEDS.md item 3: the removal is O(1) now; timing lives in
benchmarks/bench_channel_kill.py).  These tests pin correctness: after every
removal, in every order, the queue keeps FIFO order, `balance`, the
`queue`/`next`/`prev` chain and each tasklet's `blocked`/`channel`."""
import itertools
import threading

import pytest

import stackless


def chain(ch):
    """The queue via .queue/.next, checking .prev on the way."""
    out = []
    t = ch.queue
    prev = None
    while t is not None:
        assert t.prev is prev
        out.append(t)
        prev = t
        t = t.next
        assert len(out) <= 10000
    return out


def check(ch, alive, removed, direction):
    assert chain(ch) == alive
    assert ch.balance == direction * len(alive)
    for t in alive:
        assert t.blocked and t.channel is ch
    for t in removed:
        assert not t.blocked and t.channel is None
        assert t.next is None and t.prev is None
    if alive:
        assert ch.queue is alive[0]
        assert alive[-1].next is None
    else:
        assert ch.queue is None


def block(n, direction):
    ch = stackless.channel()
    ch.preference = 0
    if direction < 0:
        ts = [stackless.tasklet(ch.receive)() for _ in range(n)]
    else:
        ts = [stackless.tasklet(ch.send)(i) for i in range(n)]
    stackless.schedule()
    return ch, ts


def take(t, how):
    if how == "kill":
        t.kill()
        assert not t.alive
    elif how == "kill_pending":
        t.kill(pending=True)
        assert t.scheduled and not t.blocked
        stackless.run()
        assert not t.alive
    elif how == "throw":
        with pytest.raises(ZeroDivisionError):   # uncaught: passed on to main
            t.throw(ZeroDivisionError)
        assert not t.alive
    elif how == "raise_exception":
        t.raise_exception(TaskletExit)
        assert not t.alive
    else:
        raise AssertionError(how)


def drain(ch, alive, direction):
    """Complete the survivors; they must come out in FIFO order."""
    if direction < 0:
        for i in range(len(alive)):
            ch.send(i)                 # preference 0: the receiver is queued
        stackless.run()
        assert [t.alive for t in alive] == [False] * len(alive)
        return
    got = [ch.receive() for _ in alive]
    stackless.run()
    assert got == sorted(got)          # senders sent their index: FIFO


@pytest.mark.parametrize("direction", [-1, 1])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_every_removal_order(n, direction):
    for order in itertools.permutations(range(n)):
        ch, ts = block(n, direction)
        alive = list(ts)
        removed = []
        check(ch, alive, removed, direction)
        for k, i in enumerate(order[:-1] if n > 1 else order):
            t = ts[i]
            take(t, ("kill", "throw", "raise_exception", "kill_pending")[k % 4])
            alive.remove(t)
            removed.append(t)
            check(ch, alive, removed, direction)
        drain(ch, alive, direction)
        check(ch, [], ts, direction)


def test_receivers_get_values_in_fifo_order_after_middle_removals():
    ch = stackless.channel()
    got = []
    ts = [stackless.tasklet(lambda i=i: got.append((i, ch.receive())))() for i in range(10)]
    stackless.schedule()
    for i in (5, 0, 9, 3):
        ts[i].kill()
    survivors = [1, 2, 4, 6, 7, 8]
    check(ch, [ts[i] for i in survivors], [ts[i] for i in (5, 0, 9, 3)], -1)
    for v in range(len(survivors)):
        ch.send(v)
    stackless.run()
    assert got == list(zip(survivors, range(len(survivors))))


def test_reinsert_after_removal_goes_to_the_tail():
    ch, ts = block(4, -1)
    ts[1].kill()
    extra = stackless.tasklet(ch.receive)()
    stackless.schedule()
    check(ch, [ts[0], ts[2], ts[3], extra], [ts[1]], -1)
    for v in range(4):
        ch.send(v)
    stackless.run()
    assert not any(t.alive for t in ts + [extra])


def test_many_random_removals_keep_invariants():
    import random
    rnd = random.Random(1234)
    for direction in (-1, 1):
        ch, ts = block(300, direction)
        alive = list(ts)
        removed = []
        while len(alive) > 1:
            t = alive.pop(rnd.randrange(len(alive)))
            t.kill()
            removed.append(t)
            if len(alive) % 37 == 0:
                check(ch, alive, removed, direction)
        check(ch, alive, removed, direction)
        drain(ch, alive, direction)


def test_remove_from_the_middle_from_another_thread():
    ch, ts = block(5, -1)
    err = []

    def other():
        try:
            ts[2].kill(pending=True)   # a tasklet of the main thread, mid-queue
        except BaseException as e:     # noqa: BLE001 -- reported below
            err.append(e)
    th = threading.Thread(target=other)
    th.start()
    th.join(30)
    assert not th.is_alive() and err == []
    check(ch, [ts[0], ts[1], ts[3], ts[4]], [], -1)
    assert ts[2].scheduled and not ts[2].blocked and ts[2].channel is None
    stackless.run()
    assert not ts[2].alive
    drain(ch, [ts[0], ts[1], ts[3], ts[4]], -1)


def test_channel_close_and_clear_unlink_every_tasklet():
    ch, ts = block(4, -1)
    ts[1].kill()
    ch.close()
    assert ch.closing and not ch.closed
    check(ch, [ts[0], ts[2], ts[3]], [ts[1]], -1)
    for t in (ts[2], ts[0], ts[3]):
        t.kill()
    check(ch, [], ts, -1)
    assert ch.closed


def test_reduce_lists_the_queue_after_middle_removal():
    ch, ts = block(3, -1)
    ts[1].kill()
    state = ch.__reduce__()[2]
    assert state[0] == -2 and state[2] == [ts[0], ts[2]]
    for t in (ts[2], ts[0]):
        t.kill()
    assert ch.__reduce__()[2][2] == []
    check(ch, [], ts, -1)
