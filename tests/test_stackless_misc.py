"""More corner cases: switch_trap on every switching operation, throw argument
forms, the error handler with early/pending throws, kill of the current tasklet.

Contract: Stackless 3.8 Doc/library/stackless/stackless.rst (switch_trap,
set_error_handler), tasklets.rst (throw, kill) and Stackless/module/scheduling.c
(slp_schedule_task: "switch_trap"), scheduling.c slp_exc_to_bomb.
"""
import sys
import traceback

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


class trapped(object):
    def __enter__(self):
        stackless.switch_trap(1)

    def __exit__(self, *exc):
        stackless.switch_trap(-1)


# ---------------------------------------------------------------- switch_trap

def test_trap_schedule_remove():
    main = []
    stackless.tasklet(lambda: main[0].insert())()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            stackless.schedule_remove()
    assert stackless.main.scheduled
    main.append(stackless.getcurrent())
    stackless.schedule_remove()  # the tasklet re-inserts main
    assert stackless.getruncount() == 1


def test_trap_run_paused_keeps_it_paused():
    s = stackless.tasklet(lambda: None)
    s.bind(args=())
    assert s.paused
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            s.run()
    assert s.paused
    s.run()
    assert not s.alive


def test_trap_send_to_waiting_receiver():
    c = stackless.channel()
    got = []
    stackless.tasklet(lambda: got.append(c.receive()))()
    stackless.run()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            c.send("x")
    assert c.balance == -1  # nothing was transferred
    c.send("y")
    assert got == ["y"]


def test_trap_send_throw():
    c = stackless.channel()
    got = []

    def f():
        try:
            c.receive()
        except NotImplementedError:
            got.append("ok")

    stackless.tasklet(f)()
    stackless.run()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            c.send_throw(NotImplementedError)
    c.send_throw(NotImplementedError)
    assert got == ["ok"]


def test_trap_receive_from_waiting_sender_with_sender_preference():
    c = stackless.channel()
    c.preference = 1  # a receive would switch to the sender at once
    stackless.tasklet(c.send)(1)
    stackless.run()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            c.receive()
    assert c.balance == 1
    assert c.receive() == 1


def test_trap_receive_would_block():
    c = stackless.channel()
    t = stackless.tasklet(lambda: c.send_throw(NotImplementedError))()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            c.receive()
    with pytest.raises(NotImplementedError):
        c.receive()
    stackless.run()
    assert not t.alive


def test_trap_raise_exception_and_kill():
    c = stackless.channel()
    log = []

    def foo():
        try:
            c.receive()
        except IndexError:
            log.append("index")
        try:
            c.receive()
        except TaskletExit:  # noqa: F821
            log.append("exit")
            raise

    s = stackless.tasklet(foo)()
    s.run()
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            s.raise_exception(RuntimeError)
        with pytest.raises(RuntimeError, match="switch_trap"):
            s.throw(IndexError)
    assert s.blocked
    s.raise_exception(IndexError)
    with trapped():
        with pytest.raises(RuntimeError, match="switch_trap"):
            s.kill()
    assert s.blocked and s.alive
    s.kill()
    assert log == ["index", "exit"]
    assert not s.alive


def test_trap_pending_operations_do_not_switch():
    s = stackless.tasklet(stackless.schedule_remove)()
    s.run()
    with trapped():
        s.kill(pending=True)  # only makes it runnable: allowed
    assert s.scheduled
    stackless.run()
    assert not s.alive


def test_trap_is_per_thread():
    import threading
    res = []

    def worker():
        res.append(stackless.switch_trap(0))
        stackless.tasklet(lambda: res.append("ran"))()
        stackless.run()

    with trapped():
        th = threading.Thread(target=worker)
        th.start()
        th.join(30)
    assert res == [0, "ran"]


# --------------------------------------------------------------- throw forms

def _blocked_catcher(c, log):
    def foo():
        try:
            c.receive()
        except Exception as e:
            log.append((type(e), e.args, "".join(traceback.format_tb(sys.exc_info()[2]))))

    s = stackless.tasklet(foo)()
    s.run()
    return s


@pytest.mark.parametrize("pending", [False, True])
def test_throw_class_with_tuple_value_gives_args(pending):
    c = stackless.channel()
    log = []
    s = _blocked_catcher(c, log)
    s.throw(IndexError, (1, 2, 3), pending=pending)
    if pending:
        assert s.alive and log == []
        s.run()
    assert not s.alive
    assert log[0][:2] == (IndexError, (1, 2, 3))


@pytest.mark.parametrize("pending", [False, True])
def test_throw_instance_args(pending):
    c = stackless.channel()
    log = []
    s = _blocked_catcher(c, log)
    s.throw(IndexError(1, 2, 3), pending=pending)
    if pending:
        s.run()
    assert log[0][:2] == (IndexError, (1, 2, 3))


@pytest.mark.parametrize("pending", [False, True])
def test_throw_exc_info_keeps_traceback(pending):
    c = stackless.channel()
    log = []
    s = _blocked_catcher(c, log)

    def errfunc():
        1 / 0

    try:
        errfunc()
    except Exception:
        s.throw(*sys.exc_info(), pending=pending)
    if pending:
        s.run()
    assert log[0][0] is ZeroDivisionError
    assert "errfunc" in log[0][2]


def test_throw_instance_with_tuple_value_is_type_error():
    s = stackless.getcurrent()
    with pytest.raises(TypeError):
        s.throw(IndexError(1), (1, 2, 3))


def test_throw_taskletexit_into_new_tasklet_then_run_says_dead():
    ran = []
    s = stackless.tasklet(lambda: ran.append(1))()
    s.throw(TaskletExit)  # noqa: F821
    stackless.run()
    assert ran == []
    with pytest.raises(RuntimeError, match="dead"):
        s.run()


@pytest.mark.parametrize("pending", [False, True])
def test_throw_into_new_scheduled_tasklet_unhandled(pending):
    c = stackless.channel()
    s = stackless.tasklet(c.receive)()
    assert s.frame is None and s.alive
    if not pending:
        with pytest.raises(IndexError):
            s.throw(IndexError)
    else:
        s.throw(IndexError, pending=True)
        with pytest.raises(IndexError):
            stackless.run()
    assert not s.alive


def test_switch_to_current_twice():
    cur = stackless.current
    cur.switch()
    cur.switch()
    assert stackless.current is cur and cur.scheduled


# ------------------------------------------------------------- error handler

class Handler(object):
    def __init__(self):
        self.handled = []

    def __call__(self, exc, val, tb):
        assert exc
        self.handled.append((exc, stackless.getcurrent()))


def test_error_handler_early_throw():
    ran = []
    h = Handler()
    s = stackless.tasklet(lambda: ran.append(1))()
    old = stackless.set_error_handler(h)
    try:
        s.throw(ZeroDivisionError, "thrown error")
    finally:
        stackless.set_error_handler(old)
    assert ran == []
    assert h.handled == [(ZeroDivisionError, s)]
    assert not s.alive


def test_error_handler_runs_in_exiting_tasklet_on_run():
    h = Handler()

    def f():
        raise ZeroDivisionError("I am broken")

    s = stackless.tasklet(f)()
    old = stackless.set_error_handler(h)
    try:
        s.run()
    finally:
        stackless.set_error_handler(old)
    assert h.handled == [(ZeroDivisionError, s)]


def test_error_handler_pending_throw_is_not_immediate():
    h = Handler()
    ran = []

    def f():
        ran.append(1)
        stackless.schedule()
        ran.append(2)

    s = stackless.tasklet(f)()
    s.run()
    old = stackless.set_error_handler(h)
    try:
        s.throw(ZeroDivisionError, "thrown error", pending=True)
        assert h.handled == []
        s.run()
    finally:
        stackless.set_error_handler(old)
    assert h.handled == [(ZeroDivisionError, s)]
    assert ran == [1]


def test_error_handler_visible_inside_failing_tasklet():
    seen = []
    h = Handler()

    def f():
        cur = stackless.set_error_handler(None)
        stackless.set_error_handler(cur)
        seen.append(cur)
        raise ValueError

    stackless.tasklet(f)()
    old = stackless.set_error_handler(h)
    try:
        stackless.run()
    finally:
        stackless.set_error_handler(old)
    assert seen == [h]
    assert [e for e, _ in h.handled] == [ValueError]


# -------------------------------------------------------------------- kill

def test_kill_current_keeps_thread_id():
    killed = []

    def task():
        try:
            stackless.current.kill()
        except TaskletExit:  # noqa: F821
            killed.append(True)
            raise

    t = stackless.tasklet(task)()
    t.run()
    assert killed == [True]
    assert not t.alive
    assert t.thread_id == stackless.current.thread_id


def test_kill_pending_then_run():
    killed = []

    def foo():
        try:
            stackless.schedule()
        except TaskletExit:  # noqa: F821
            killed.append(True)
            raise

    t = stackless.tasklet(foo)()
    t.run()
    t.kill(pending=True)
    assert killed == []
    t.run()
    assert killed == [True]
    assert not t.alive


# ------------------------------------------------- per-tasklet interpreter state

def test_exc_info_is_per_tasklet():
    log = []

    def a():
        try:
            raise KeyError("a")
        except KeyError:
            stackless.schedule()
            log.append(("a", sys.exc_info()[0]))
            try:
                raise  # re-raises a's exception, not b's
            except KeyError as e:
                log.append(("a reraised", e.args))

    def b():
        log.append(("b", sys.exc_info()[0]))
        try:
            raise ValueError("b")
        except ValueError:
            stackless.schedule()
            log.append(("b", sys.exc_info()[0]))

    stackless.tasklet(a)()
    stackless.tasklet(b)()
    stackless.run()
    assert log == [("b", None), ("a", KeyError), ("a reraised", ("a",)), ("b", ValueError)]
    assert sys.exc_info() == (None, None, None)


def test_main_exc_info_survives_tasklet_switch():
    got = []
    stackless.tasklet(lambda: got.append(sys.exc_info()[0]))()
    try:
        raise IndexError("main")
    except IndexError:
        stackless.run()
        assert sys.exc_info()[0] is IndexError
    assert got == [None]


def test_recursion_depth_is_per_tasklet():
    limit = sys.getrecursionlimit()
    res = []

    def deep(n, then):
        if n:
            return deep(n - 1, then)
        return then()

    def a():
        deep(limit // 2, stackless.schedule)
        res.append("a done")

    def b():
        try:
            deep(limit // 2 + 50, lambda: None)
            res.append("b ok")
        except RecursionError:
            res.append("b recursion error")

    stackless.tasklet(a)()
    stackless.tasklet(b)()
    stackless.run()
    assert res == ["b ok", "a done"]


def test_tasklet_frame_chain_ends_in_tasklet():
    def inner():
        stackless.schedule()

    def outer():
        inner()

    t = stackless.tasklet(outer)()
    t.run()
    names = []
    f = t.frame
    while f is not None:
        names.append(f.f_code.co_name)
        f = f.f_back
    stackless.run()
    assert names[:2] == ["inner", "outer"]
    assert "test_tasklet_frame_chain_ends_in_tasklet" not in names


def test_traceback_of_error_from_tasklet_names_tasklet_function():
    def failing_tasklet_function():
        raise ValueError("deep")

    stackless.tasklet(failing_tasklet_function)()
    with pytest.raises(ValueError) as ei:
        stackless.run()
    text = "".join(traceback.format_exception(ei.type, ei.value, ei.tb))
    assert "failing_tasklet_function" in text


def test_generators_and_with_blocks_across_switches():
    log = []

    class CM(object):
        def __enter__(self):
            log.append("enter")

        def __exit__(self, *a):
            log.append("exit")

    def gen():
        for i in range(3):
            stackless.schedule()
            yield i

    def f():
        with CM():
            for v in gen():
                log.append(v)

    stackless.tasklet(f)()
    stackless.tasklet(lambda: [stackless.schedule() for _ in range(5)])()
    stackless.run()
    assert log == ["enter", 0, 1, 2, "exit"]


def test_generator_resumed_from_another_tasklet():
    def gen():
        who = []
        while True:
            who.append(stackless.current)
            yield who

    g = gen()
    got = []

    def a():
        got.append(next(g)[-1])
        stackless.schedule()

    def b():
        got.append(next(g)[-1])

    ta = stackless.tasklet(a)()
    tb = stackless.tasklet(b)()
    stackless.run()
    assert got == [ta, tb]


def test_generator_running_in_two_tasklets_is_refused():
    def gen():
        stackless.schedule()  # suspended while "running"
        yield 1

    g = gen()
    errors = []

    def a():
        next(g)

    def b():
        try:
            next(g)
        except ValueError as e:
            errors.append(str(e))

    stackless.tasklet(a)()
    stackless.tasklet(b)()
    stackless.run()
    assert errors == ["generator already executing"]
