"""stackless.set_wakeup_fd(fd): a per-thread fd written to (8 bytes, native
uint64 1) when another thread makes one of this thread's tasklets runnable
(notes/IO-NEEDS.md item 1)."""
import os
import struct
import threading

import pytest

import stackless

ONE = struct.pack("=Q", 1)


@pytest.fixture(autouse=True)
def _no_wakeup_fd_set():
    # The tests start from "no wakeup fd" in this thread; a stackless.loop that ran here
    # earlier (test_io_*, in a different test order) keeps its own notifier set: put it
    # aside and give it back.
    saved = stackless.set_wakeup_fd(-1)
    try:
        yield
    finally:
        stackless.set_wakeup_fd(saved)


@pytest.fixture
def pipe():
    r, w = os.pipe()
    os.set_blocking(r, False)
    os.set_blocking(w, False)
    old = stackless.set_wakeup_fd(-1)
    assert old == -1
    try:
        yield r, w
    finally:
        stackless.set_wakeup_fd(-1)
        os.close(r)
        os.close(w)


def drain(r):
    try:
        return os.read(r, 4096)
    except BlockingIOError:
        return b""


def in_thread(fn):
    box = []

    def run():
        try:
            box.append(("ok", fn()))
        except BaseException as e:  # noqa: BLE001 -- reported to the test
            box.append(("err", e))
    th = threading.Thread(target=run)
    th.start()
    th.join(30)
    assert not th.is_alive(), "helper thread hung"
    kind, val = box[0]
    if kind == "err":
        raise val
    return val


# ------------------------------------------------------------- arguments
@pytest.mark.parametrize("bad", [1.0, "3", None, b"3", [3]])
def test_non_int_is_type_error(bad):
    with pytest.raises(TypeError, match="must be int"):
        stackless.set_wakeup_fd(bad)
    assert stackless.set_wakeup_fd(-1) == -1   # unchanged


@pytest.mark.parametrize("bad", [-2, -100, 2 ** 31, 2 ** 70, -2 ** 70])
def test_out_of_range_is_value_error(bad):
    with pytest.raises(ValueError, match="invalid fd"):
        stackless.set_wakeup_fd(bad)
    assert stackless.set_wakeup_fd(-1) == -1


def test_not_an_open_fd_is_value_error():
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    with pytest.raises(ValueError, match="invalid fd"):
        stackless.set_wakeup_fd(w)
    assert stackless.set_wakeup_fd(-1) == -1


def test_blocking_fd_is_value_error():
    r, w = os.pipe()
    try:
        with pytest.raises(ValueError, match="non-blocking"):
            stackless.set_wakeup_fd(w)
        assert stackless.set_wakeup_fd(-1) == -1
    finally:
        os.close(r)
        os.close(w)


def test_no_argument_or_two_arguments():
    with pytest.raises(TypeError):
        stackless.set_wakeup_fd()
    with pytest.raises(TypeError):
        stackless.set_wakeup_fd(-1, -1)


def test_exported():
    assert "set_wakeup_fd" in stackless.__all__
    assert stackless.set_wakeup_fd is stackless._stackless.set_wakeup_fd


# ------------------------------------------------------------- previous value
def test_returns_previous(pipe):
    r, w = pipe
    assert stackless.set_wakeup_fd(w) == -1
    assert stackless.set_wakeup_fd(w) == w
    assert stackless.set_wakeup_fd(w) == w
    assert stackless.set_wakeup_fd(-1) == w
    assert stackless.set_wakeup_fd(-1) == -1


def test_per_thread_independent(pipe):
    r, w = pipe
    stackless.set_wakeup_fd(w)

    def other():
        first = stackless.set_wakeup_fd(-1)     # its own slot: still none
        second = stackless.set_wakeup_fd(w)
        third = stackless.set_wakeup_fd(-1)
        return first, second, third

    assert in_thread(other) == (-1, -1, w)
    assert stackless.set_wakeup_fd(w) == w      # main's slot untouched


# ------------------------------------------------------------- writes
def test_same_thread_wakeups_do_not_write(pipe):
    r, w = pipe
    stackless.set_wakeup_fd(w)
    ch = stackless.channel()
    got = []
    t = stackless.tasklet(lambda: got.append(ch.receive()))()
    stackless.schedule()                 # t blocks on ch
    ch.send("x")                         # same-thread unblock
    p = stackless.tasklet(got.append)("y")
    p.remove()
    p.insert()                           # same-thread insert
    stackless.run()
    b = stackless.tasklet(lambda: got.append(ch.receive()))()
    stackless.schedule()
    b.kill()                             # same-thread kill of a blocked tasklet
    assert got == ["x", "y"]
    assert not t.alive and not b.alive
    assert drain(r) == b""


def test_cross_thread_send_writes_one(pipe):
    r, w = pipe
    stackless.set_wakeup_fd(w)
    ch = stackless.channel()
    got = []
    t = stackless.tasklet(lambda: got.append(ch.receive()))()
    stackless.schedule()
    assert ch.balance == -1
    assert drain(r) == b""
    in_thread(lambda: ch.send("hello"))  # unblocks a tasklet of the main thread
    assert drain(r) == ONE               # written before send() returned
    assert stackless.getruncount() == 2
    stackless.run()
    assert got == ["hello"] and not t.alive


def test_cross_thread_insert_and_kill_write(pipe):
    r, w = pipe
    stackless.set_wakeup_fd(w)
    got = []
    p = stackless.tasklet(got.append)("p")
    p.remove()
    in_thread(p.insert)
    assert drain(r) == ONE
    stackless.run()
    assert got == ["p"]

    ch = stackless.channel()
    t = stackless.tasklet(ch.receive)()
    stackless.schedule()
    assert t.blocked
    in_thread(lambda: t.kill(pending=True))
    assert drain(r) == ONE
    assert ch.balance == 0 and not t.blocked
    stackless.run()
    assert not t.alive


def test_no_write_after_clear(pipe):
    r, w = pipe
    stackless.set_wakeup_fd(w)
    assert stackless.set_wakeup_fd(-1) == w
    ch = stackless.channel()
    t = stackless.tasklet(ch.receive)()
    stackless.schedule()
    in_thread(lambda: ch.send(1))
    stackless.run()
    assert not t.alive
    assert drain(r) == b""


def test_only_the_target_threads_fd_is_written(pipe):
    """The sender's own fd is not written; the receiver's thread fd is."""
    r, w = pipe
    r2, w2 = os.pipe()
    os.set_blocking(r2, False)
    os.set_blocking(w2, False)
    try:
        stackless.set_wakeup_fd(w)
        ch = stackless.channel()
        t = stackless.tasklet(ch.receive)()
        stackless.schedule()

        def other():
            stackless.set_wakeup_fd(w2)
            try:
                ch.send(1)
            finally:
                stackless.set_wakeup_fd(-1)
        in_thread(other)
        stackless.run()
        assert not t.alive
        assert drain(r) == ONE
        assert drain(r2) == b""
    finally:
        os.close(r2)
        os.close(w2)


def test_full_pipe_does_not_block(pipe):
    r, w = pipe
    while True:                     # fill the pipe: further writes get EAGAIN
        try:
            os.write(w, b"\0" * 65536)
        except BlockingIOError:
            break
    stackless.set_wakeup_fd(w)
    ch = stackless.channel()
    t = stackless.tasklet(ch.receive)()
    stackless.schedule()
    in_thread(lambda: ch.send(1))   # would hang here on a blocking write
    stackless.run()
    assert not t.alive


def test_closed_fd_does_not_crash(run_python):
    # in a child: the closed fd number must not be reused by anything else
    res = run_python("""
        import os, threading, stackless
        r, w = os.pipe()
        os.set_blocking(w, False)
        stackless.set_wakeup_fd(w)
        os.close(r); os.close(w)          # closed behind the core's back
        ch = stackless.channel()
        t = stackless.tasklet(ch.receive)()
        stackless.schedule()
        th = threading.Thread(target=ch.send, args=(5,)); th.start(); th.join()
        stackless.run()
        print(t.alive, stackless.set_wakeup_fd(-1) == w)
    """, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "True"]


def test_wakes_a_thread_sleeping_in_select():
    """The point of it: a thread parked in select() on its wake-up fd wakes
    when another thread sends to one of its tasklets (bounded by a timeout)."""
    import select
    result = {}
    ready = threading.Event()
    ch = stackless.channel()

    def sleeper():
        r, w = os.pipe()
        os.set_blocking(r, False)
        os.set_blocking(w, False)
        stackless.set_wakeup_fd(w)
        got = []
        t = stackless.tasklet(lambda: got.append(ch.receive()))()
        stackless.schedule()
        ready.set()
        rl, _, _ = select.select([r], [], [], 20)
        result["woken"] = bool(rl) and os.read(r, 8) == ONE
        stackless.run()
        result["got"] = got
        stackless.set_wakeup_fd(-1)
        os.close(r)
        os.close(w)
        del t

    th = threading.Thread(target=sleeper)
    th.start()
    assert ready.wait(20)
    ch.send("ping")
    th.join(30)
    assert not th.is_alive()
    assert result == {"woken": True, "got": ["ping"]}
