"""kill / throw / raise_exception on every tasklet state, pending True and False.

Contract: Stackless 3.8 Doc/library/stackless/tasklets.rst (tasklet.raise_exception,
tasklet.throw, tasklet.kill) and Stackless/module/taskletobject.c
(_impl_tasklet_throw_bomb, impl_tasklet_kill), scheduling.c (slp_exc_to_bomb,
slp_make_bomb).
"""
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


class Boom(Exception):
    pass


def make_recorder():
    """A tasklet body that records how it ended."""
    log = []

    def body(*args):
        log.append("start")
        try:
            stackless.schedule_remove()  # park: paused, started
            log.append("resumed")
        except BaseException as e:
            log.append(("exc", type(e), e.args))
            raise
        finally:
            log.append("finally")

    return log, body


def blocked_receiver(ch):
    log = []

    def body():
        log.append("start")
        try:
            log.append(("got", ch.receive()))
        except BaseException as e:
            log.append(("exc", type(e), e.args))
            raise

    t = stackless.tasklet(body)()
    stackless.run()
    assert t.blocked and ch.balance == -1
    return t, log


# ------------------------------------------------------------------- kill

@pytest.mark.parametrize("pending", [False, True])
def test_kill_unbound_new_tasklet_does_nothing(pending):
    t = stackless.tasklet()
    assert t.kill(pending=pending) is None
    assert not t.alive and not t.scheduled
    t2 = stackless.tasklet(lambda: None)
    t2.kill(pending)
    assert not t2.alive and not t2.scheduled


def test_kill_bound_not_scheduled_tasklet_never_runs_function():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1), ())
    assert t.paused
    t.kill()
    assert not t.alive
    assert ran == []
    assert stackless.getruncount() == 1


def test_kill_bound_not_scheduled_pending():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1), ())
    t.kill(pending=True)
    # pending: the tasklet is made runnable; the caller continues
    assert t.alive and t.scheduled
    stackless.run()
    assert not t.alive
    assert ran == []


def test_kill_scheduled_unstarted_tasklet_never_runs_function():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1))()
    t.kill()
    assert not t.alive and not t.scheduled
    assert ran == []
    assert stackless.getruncount() == 1


def test_kill_scheduled_unstarted_pending():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1))()
    t.kill(pending=True)
    assert t.alive and t.scheduled
    stackless.run()
    assert not t.alive
    assert ran == []


def test_kill_started_scheduled_tasklet_runs_finally():
    log = []

    def f():
        try:
            log.append("start")
            stackless.schedule()
            log.append("not reached")
        finally:
            log.append("finally")

    t = stackless.tasklet(f)()
    t.run()
    assert t.scheduled and log == ["start"]
    t.kill()
    assert log == ["start", "finally"]
    assert not t.alive and not t.scheduled
    assert stackless.current is stackless.main


def test_kill_paused_started_tasklet():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    assert t.paused and log == ["start"]
    t.kill()
    assert log == ["start", ("exc", TaskletExit, ()), "finally"]  # noqa: F821
    assert not t.alive


def test_kill_paused_started_tasklet_pending():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    t.kill(pending=True)
    assert log == ["start"]
    assert t.alive and t.scheduled and not t.paused
    stackless.run()
    assert log == ["start", ("exc", TaskletExit, ()), "finally"]  # noqa: F821
    assert not t.alive


def test_kill_blocked_receiver_unblocks_channel():
    ch = stackless.channel()
    t, log = blocked_receiver(ch)
    t.kill()
    assert not t.alive
    assert ch.balance == 0
    assert ch.queue is None
    assert log == ["start", ("exc", TaskletExit, ())]  # noqa: F821


def test_kill_blocked_receiver_pending():
    ch = stackless.channel()
    t, log = blocked_receiver(ch)
    t.kill(pending=True)
    # removed from the channel at once, made runnable, not yet dead
    assert ch.balance == 0
    assert not t.blocked
    assert t.alive and t.scheduled
    assert log == ["start"]
    stackless.run()
    assert not t.alive
    assert log == ["start", ("exc", TaskletExit, ())]  # noqa: F821


def test_kill_blocked_sender():
    ch = stackless.channel()

    def f():
        ch.send(1)

    t = stackless.tasklet(f)()
    stackless.run()
    assert ch.balance == 1
    t.kill()
    assert ch.balance == 0
    assert not t.alive


def test_kill_dead_tasklet_is_noop():
    t = stackless.tasklet(lambda: None)()
    stackless.run()
    assert t.kill() is None
    assert t.kill(pending=True) is None
    assert not t.alive and not t.scheduled


def test_kill_current_tasklet_ends_it():
    log = []

    def f():
        try:
            stackless.current.kill()
            log.append("not reached")
        finally:
            log.append("finally")

    t = stackless.tasklet(f)()
    stackless.run()
    assert log == ["finally"]
    assert not t.alive


def test_kill_current_raises_taskletexit_in_caller():
    seen = []

    def f():
        try:
            stackless.current.kill()
        except TaskletExit:  # noqa: F821
            seen.append("caught")
        seen.append("continued")

    stackless.tasklet(f)()
    stackless.run()
    assert seen == ["caught", "continued"]


def test_kill_main_from_main_raises_taskletexit():
    with pytest.raises(TaskletExit):  # noqa: F821
        stackless.main.kill()
    assert stackless.current is stackless.main


def test_taskletexit_caught_inside_tasklet_keeps_it_alive():
    log = []

    def f():
        try:
            stackless.schedule_remove()
        except TaskletExit:  # noqa: F821
            log.append("caught")
        stackless.schedule_remove()
        log.append("second")

    t = stackless.tasklet(f)()
    stackless.run()
    t.kill()
    assert log == ["caught"]
    assert t.alive and t.paused
    t.kill()
    assert not t.alive
    assert log == ["caught"]


def test_kill_pending_argument_positional_and_truthiness():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    t.kill(1)  # any true value means pending
    assert t.scheduled and t.alive
    stackless.run()
    assert not t.alive


def test_uncaught_taskletexit_is_silent():
    def f():
        raise TaskletExit  # noqa: F821

    t = stackless.tasklet(f)()
    stackless.run()  # must not raise
    assert not t.alive


def test_uncaught_systemexit_subclass_taskletexit_with_args_is_silent():
    def f():
        raise TaskletExit("bye")  # noqa: F821

    t = stackless.tasklet(f)()
    stackless.run()
    assert not t.alive


# ------------------------------------------------------------------- throw

def test_throw_class_into_paused_tasklet():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    with pytest.raises(Boom):  # uncaught in t: propagates to the main tasklet
        t.throw(Boom)
    assert log == ["start", ("exc", Boom, ()), "finally"]
    assert not t.alive


def test_throw_class_and_value():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    with pytest.raises(Boom) as ei:
        t.throw(Boom, "why")
    assert ei.value.args == ("why",)
    assert log[1] == ("exc", Boom, ("why",))


def test_throw_instance():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    inst = Boom(1, 2)
    with pytest.raises(Boom) as ei:
        t.throw(inst)
    assert ei.value is inst
    assert log[1] == ("exc", Boom, (1, 2))


def test_throw_instance_with_value_is_type_error():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    with pytest.raises(TypeError, match="instance exception may not have a separate value"):
        t.throw(Boom(), 1)
    assert t.alive and t.paused and log == ["start"]
    t.kill()


def test_throw_not_an_exception_is_type_error():
    t = stackless.tasklet(lambda: None)()
    with pytest.raises(TypeError, match="exceptions must be classes, or instances, not int"):
        t.throw(42)
    with pytest.raises(TypeError):
        t.throw(object)
    t.kill()


def test_throw_bad_traceback_is_type_error():
    t = stackless.tasklet(lambda: None)()
    with pytest.raises(TypeError, match="third argument must be a traceback object"):
        t.throw(Boom, None, 42)
    t.kill()


def test_throw_with_traceback_keeps_it():
    try:
        raise Boom("orig")
    except Boom:
        _, val, tb = sys.exc_info()

    caught = []

    def f():
        try:
            stackless.schedule_remove()
        except Boom as e:
            caught.append(e)

    t = stackless.tasklet(f)()
    stackless.run()
    t.throw(Boom, val, tb)
    assert caught and caught[0] is val
    chain = []
    x = caught[0].__traceback__
    while x is not None:
        chain.append(x)
        x = x.tb_next
    assert tb in chain


def test_throw_keywords():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    t.throw(exc=Boom, val="kw", tb=None, pending=True)
    assert t.scheduled and log == ["start"]
    with pytest.raises(Boom):
        stackless.run()
    assert log[1] == ("exc", Boom, ("kw",))


def test_throw_pending_makes_runnable_caller_continues():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    assert t.throw(Boom, pending=True) is None
    assert log == ["start"]
    assert t.scheduled and not t.paused
    with pytest.raises(Boom):
        stackless.run()
    assert log == ["start", ("exc", Boom, ()), "finally"]
    assert not t.alive


def test_throw_non_pending_switches_immediately():
    order = []

    def f():
        try:
            stackless.schedule_remove()
        except Boom:
            order.append("in tasklet")

    t = stackless.tasklet(f)()
    stackless.run()
    t.throw(Boom)
    order.append("back in main")
    assert order == ["in tasklet", "back in main"]


def test_throw_into_unstarted_scheduled_tasklet_never_runs_function():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1))()
    with pytest.raises(Boom):
        t.throw(Boom)
    assert ran == []
    assert not t.alive and not t.scheduled


def test_throw_into_bound_paused_unstarted_pending():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1), ())
    t.throw(Boom, pending=True)
    assert t.scheduled
    with pytest.raises(Boom):
        stackless.run()
    assert ran == []
    assert not t.alive


def test_throw_into_blocked_tasklet():
    ch = stackless.channel()
    t, log = blocked_receiver(ch)
    with pytest.raises(Boom):
        t.throw(Boom)
    assert ch.balance == 0
    assert log == ["start", ("exc", Boom, ())]
    assert not t.alive


def test_throw_into_blocked_tasklet_pending():
    ch = stackless.channel()
    t, log = blocked_receiver(ch)
    t.throw(Boom, pending=True)
    assert ch.balance == 0
    assert not t.blocked and t.scheduled
    with pytest.raises(Boom):
        stackless.run()
    assert log == ["start", ("exc", Boom, ())]


def test_throw_into_blocked_tasklet_caught_continues():
    ch = stackless.channel()
    log = []

    def f():
        try:
            ch.receive()
        except Boom:
            log.append("caught")
        log.append(("again", ch.receive()))

    t = stackless.tasklet(f)()
    stackless.run()
    t.throw(Boom)
    assert log == ["caught"]
    assert t.blocked and ch.balance == -1
    ch.send("x")
    stackless.run()
    assert log == ["caught", ("again", "x")]
    assert not t.alive


@pytest.mark.parametrize("pending", [False, True])
def test_throw_to_dead_tasklet(pending):
    t = stackless.tasklet(lambda: None)()
    stackless.run()
    with pytest.raises(RuntimeError, match="You cannot throw to a dead tasklet"):
        t.throw(Boom, pending=pending)


@pytest.mark.parametrize("pending", [False, True])
def test_throw_to_new_tasklet(pending):
    t = stackless.tasklet(lambda: None)
    with pytest.raises(RuntimeError, match="You cannot throw to a dead tasklet"):
        t.throw(Boom, pending=pending)
    with pytest.raises(RuntimeError, match="You cannot throw to a dead tasklet"):
        stackless.tasklet().throw(Boom, pending=pending)


@pytest.mark.parametrize("pending", [False, True])
def test_throw_taskletexit_to_dead_tasklet_is_ok(pending):
    t = stackless.tasklet(lambda: None)()
    stackless.run()
    assert t.throw(TaskletExit, pending=pending) is None  # noqa: F821
    assert t.throw(TaskletExit()) is None  # noqa: F821


def test_throw_into_current_raises_in_caller():
    with pytest.raises(Boom):
        stackless.current.throw(Boom)
    got = []

    def f():
        try:
            stackless.current.throw(Boom("me"), pending=True)
        except Boom as e:
            got.append(e.args)

    stackless.tasklet(f)()
    stackless.run()
    assert got == [("me",)]


def test_throw_systemexit_subclass_other_than_taskletexit_propagates():
    # only TaskletExit is silent; a ValueError etc. reaches the main tasklet
    def f():
        stackless.schedule_remove()

    t = stackless.tasklet(f)()
    stackless.run()
    with pytest.raises(KeyError):
        t.throw(KeyError("k"))
    assert not t.alive


# --------------------------------------------------------- raise_exception

def test_raise_exception_with_args():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    with pytest.raises(Boom) as ei:
        t.raise_exception(Boom, 1, "two")
    assert ei.value.args == (1, "two")
    assert log[1] == ("exc", Boom, (1, "two"))
    assert not t.alive


def test_raise_exception_caught_in_tasklet():
    got = []

    def f():
        try:
            stackless.schedule_remove()
        except KeyError as e:
            got.append(e.args)

    t = stackless.tasklet(f)()
    stackless.run()
    t.raise_exception(KeyError, "a")
    assert got == [("a",)]
    assert not t.alive


def test_raise_exception_taskletexit_kills_silently():
    log, body = make_recorder()
    t = stackless.tasklet(body)()
    stackless.run()
    t.raise_exception(TaskletExit)  # noqa: F821
    assert not t.alive
    assert log[-1] == "finally"


def test_raise_exception_not_exception_class():
    t = stackless.tasklet(lambda: None)()
    with pytest.raises(TypeError, match="tasklet.raise_exception needs Exception or string "
                                        "subclass as first parameter"):
        t.raise_exception(42)
    with pytest.raises(TypeError):
        t.raise_exception(int)
    t.kill()


def test_raise_exception_no_args():
    with pytest.raises(TypeError, match="raise_exception"):
        stackless.tasklet(lambda: None).raise_exception()


def test_raise_exception_dead_tasklet():
    t = stackless.tasklet(lambda: None)()
    stackless.run()
    with pytest.raises(RuntimeError, match="You cannot throw to a dead tasklet"):
        t.raise_exception(Boom)
    t.raise_exception(TaskletExit)  # noqa: F821  -- allowed on a dead tasklet


def test_raise_exception_new_unstarted_tasklet_never_runs():
    ran = []
    t = stackless.tasklet(lambda: ran.append(1))()
    with pytest.raises(Boom):
        t.raise_exception(Boom, "x")
    assert ran == []
    assert not t.alive


def test_raise_exception_blocked_tasklet():
    ch = stackless.channel()
    t, log = blocked_receiver(ch)
    with pytest.raises(Boom):
        t.raise_exception(Boom)
    assert ch.balance == 0
    assert log[-1] == ("exc", Boom, ())


def test_raise_exception_current():
    with pytest.raises(Boom) as ei:
        stackless.current.raise_exception(Boom, 5)
    assert ei.value.args == (5,)


@pytest.mark.parametrize("pending", [False, True])
def test_kill_main_from_tasklet_raises_taskletexit_in_main(pending):
    log = []

    def f():
        stackless.main.kill(pending=pending)
        log.append("after kill")

    t = stackless.tasklet(f)()
    with pytest.raises(TaskletExit):  # noqa: F821
        stackless.run()
    assert stackless.current is stackless.main
    if pending:
        assert log == ["after kill"]  # the killer continued first
    stackless.run()
    assert log == ["after kill"]
    assert not t.alive


def test_throw_into_main_from_tasklet():
    def f():
        stackless.main.throw(Boom("to main"))

    stackless.tasklet(f)()
    with pytest.raises(Boom, match="to main"):
        stackless.run()
    stackless.run()


def test_kill_paused_main_from_tasklet_while_main_blocked():
    c = stackless.channel()

    def f():
        stackless.main.raise_exception(Boom, "wake up")

    stackless.tasklet(f)()
    with pytest.raises(Boom):
        c.receive()  # main blocks, f raises into it
    assert c.balance == 0
    stackless.run()
