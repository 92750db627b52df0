"""Argument checking: every entry point rejects wrong arity / keywords / types
with the exception type CPython's argument parsing gives (METH_NOARGS, METH_O,
PyArg_ParseTuple[AndKeywords]) as Stackless declares them, and leaves the
runtime untouched.

Contract: the method tables of Stackless/module/stacklessmodule.c,
taskletobject.c, channelobject.c and scheduling.c (bomb).
"""
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


def _t():
    return stackless.tasklet()


def _c():
    return stackless.channel()


CASES = [
    # module functions
    ("schedule(1, 2)", lambda: stackless.schedule(1, 2), TypeError),
    ("schedule(x=1)", lambda: stackless.schedule(x=1), TypeError),
    ("schedule_remove(1, 2)", lambda: stackless.schedule_remove(1, 2), TypeError),
    ("run(1, 2, 3, 4, 5, 6)", lambda: stackless.run(1, 2, 3, 4, 5, 6), TypeError),
    ("run(timeout=None)", lambda: stackless.run(timeout=None), TypeError),
    ("run(soft='x')", lambda: stackless.run(soft="x"), TypeError),
    ("getruncount(1)", lambda: stackless.getruncount(1), TypeError),
    ("getcurrent(x=1)", lambda: stackless.getcurrent(x=1), TypeError),
    ("getmain(1)", lambda: stackless.getmain(1), TypeError),
    ("getcurrentid(1)", lambda: stackless.getcurrentid(1), TypeError),
    ("getthreads(1)", lambda: stackless.getthreads(1), TypeError),
    ("get_thread_info(1, 2, 3)", lambda: stackless.get_thread_info(1, 2, 3), TypeError),
    ("get_thread_info(1.5)", lambda: stackless.get_thread_info(1.5), TypeError),
    ("get_thread_info(-1, 'x')", lambda: stackless.get_thread_info(-1, "x"), TypeError),
    ("switch_trap(1, 2)", lambda: stackless.switch_trap(1, 2), TypeError),
    ("switch_trap(1.0)", lambda: stackless.switch_trap(1.0), TypeError),
    ("enable_softswitch()", lambda: stackless.enable_softswitch(), TypeError),
    ("enable_softswitch(1, 2)", lambda: stackless.enable_softswitch(1, 2), TypeError),
    ("set_schedule_callback()", lambda: stackless.set_schedule_callback(), TypeError),
    ("set_schedule_callback(1)", lambda: stackless.set_schedule_callback(1), TypeError),
    ("set_schedule_callback(None, None)",
     lambda: stackless.set_schedule_callback(None, None), TypeError),
    ("set_channel_callback()", lambda: stackless.set_channel_callback(), TypeError),
    ("set_channel_callback(1)", lambda: stackless.set_channel_callback(1), TypeError),
    ("get_schedule_callback(1)", lambda: stackless.get_schedule_callback(1), TypeError),
    ("get_channel_callback(1)", lambda: stackless.get_channel_callback(1), TypeError),
    ("set_error_handler(1, 2)", lambda: stackless.set_error_handler(1, 2), TypeError),
    ("pickle_flags(1, 2, 3)", lambda: stackless.pickle_flags(1, 2, 3), TypeError),
    ("pickle_flags('x')", lambda: stackless.pickle_flags("x"), TypeError),
    ("pickle_flags(-2)", lambda: stackless.pickle_flags(-2), ValueError),
    ("pickle_flags(256)", lambda: stackless.pickle_flags(256), ValueError),
    ("pickle_flags_default(mask='x')", lambda: stackless.pickle_flags_default(mask="x"),
     TypeError),
    ("pickle_flags_default(1 << 20)", lambda: stackless.pickle_flags_default(1 << 20),
     ValueError),
    # tasklet
    ("tasklet(1)", lambda: stackless.tasklet(1), TypeError),
    ("tasklet(len, 1, 2, 3)", lambda: stackless.tasklet(len, (), {}, 3), TypeError),
    ("tasklet(spam=1)", lambda: stackless.tasklet(spam=1), TypeError),
    ("tasklet().bind(1)", lambda: _t().bind(1), TypeError),
    ("tasklet().bind(len, (), {}, 4)", lambda: _t().bind(len, (), {}, 4), TypeError),
    ("tasklet().insert(1)", lambda: _t().insert(1), TypeError),
    ("tasklet().remove(1)", lambda: _t().remove(1), TypeError),
    ("tasklet().run(1)", lambda: _t().run(1), TypeError),
    ("tasklet().switch(1)", lambda: _t().switch(1), TypeError),
    ("tasklet().kill(1, 2)", lambda: _t().kill(1, 2), TypeError),
    ("tasklet().kill(x=1)", lambda: _t().kill(x=1), TypeError),
    ("tasklet().throw()", lambda: _t().throw(), TypeError),
    ("tasklet().throw(1, 2, 3, 4, 5)", lambda: _t().throw(KeyError, None, None, False, 5),
     TypeError),
    ("tasklet().throw(x=1)", lambda: _t().throw(x=1), TypeError),
    ("tasklet().raise_exception()", lambda: _t().raise_exception(), TypeError),
    ("tasklet().raise_exception(1)", lambda: _t().raise_exception(1), TypeError),
    ("tasklet().set_atomic()", lambda: _t().set_atomic(), TypeError),
    ("tasklet().set_atomic(1, 2)", lambda: _t().set_atomic(1, 2), TypeError),
    ("tasklet().set_atomic(None)", lambda: _t().set_atomic(None), TypeError),
    ("tasklet().set_ignore_nesting()", lambda: _t().set_ignore_nesting(), TypeError),
    ("tasklet().set_ignore_nesting('x')", lambda: _t().set_ignore_nesting("x"), TypeError),
    ("tasklet().bind_thread('x')", lambda: _t().bind_thread("x"), TypeError),
    ("tasklet().bind_thread(1, 2)", lambda: _t().bind_thread(1, 2), TypeError),
    ("tasklet().block_trap = None", lambda: setattr(_t(), "block_trap", None), TypeError),
    # channel
    ("channel().send()", lambda: _c().send(), TypeError),
    ("channel().send(1, 2)", lambda: _c().send(1, 2), TypeError),
    ("channel().receive(1)", lambda: _c().receive(1), TypeError),
    ("channel().send_exception()", lambda: _c().send_exception(), TypeError),
    ("channel().send_exception(1)", lambda: _c().send_exception(1), TypeError),
    ("channel().send_throw()", lambda: _c().send_throw(), TypeError),
    ("channel().send_throw(1, 2, 3, 4)", lambda: _c().send_throw(KeyError, None, None, 4),
     TypeError),
    ("channel().send_throw(1)", lambda: _c().send_throw(1), TypeError),
    ("channel().send_sequence()", lambda: _c().send_sequence(), TypeError),
    ("channel().send_sequence(1)", lambda: _c().send_sequence(1), TypeError),
    ("channel().close(1)", lambda: _c().close(1), TypeError),
    ("channel().open(1)", lambda: _c().open(1), TypeError),
    ("channel().preference = None", lambda: setattr(_c(), "preference", None), TypeError),
    ("channel().preference = 1.5", lambda: setattr(_c(), "preference", 1.5), TypeError),
    ("channel().schedule_all = None", lambda: setattr(_c(), "schedule_all", None), TypeError),
    ("channel().balance = 1", lambda: setattr(_c(), "balance", 1), AttributeError),
    ("channel().queue = None", lambda: setattr(_c(), "queue", None), AttributeError),
    ("channel().closed = True", lambda: setattr(_c(), "closed", True), AttributeError),
    # bomb
    ("bomb(1, 2, 3, 4)", lambda: stackless.bomb(1, 2, 3, 4), TypeError),
    ("bomb(spam=1)", lambda: stackless.bomb(spam=1), TypeError),
    # tasklet attributes
    ("tasklet().alive = True", lambda: setattr(_t(), "alive", True), AttributeError),
    ("tasklet().next = None", lambda: setattr(_t(), "next", None), AttributeError),
    ("tasklet().frame = None", lambda: setattr(_t(), "frame", None), AttributeError),
    ("tasklet().thread_id = 1", lambda: setattr(_t(), "thread_id", 1), AttributeError),
]


@pytest.mark.parametrize("expr,call,exc", CASES, ids=[c[0] for c in CASES])
def test_argument_errors(expr, call, exc):
    before = stackless.getruncount()
    with pytest.raises(exc) as ei:
        call()
    assert type(ei.value) is exc, expr
    assert stackless.getruncount() == before
    assert stackless.current is stackless.main


CONTEXT_CASES = [
    ("tasklet().set_context()", lambda: _t().set_context(), TypeError),
    ("tasklet().set_context(1)", lambda: _t().set_context(1), TypeError),
    ("tasklet().context_run()", lambda: _t().context_run(), TypeError),
    ("tasklet().context_run(1)", lambda: _t().context_run(1), TypeError),
    ("tasklet().context_id = 1", lambda: setattr(_t(), "context_id", 1), AttributeError),
]


@pytest.mark.parametrize("expr,call,exc", CONTEXT_CASES, ids=[c[0] for c in CONTEXT_CASES])
def test_context_argument_errors(expr, call, exc):
    if not hasattr(stackless.tasklet, "set_context"):
        pytest.skip("this Stackless predates context support (3.7.6)")
    with pytest.raises(exc) as ei:
        call()
    assert type(ei.value) is exc, expr


def test_messages_defined_by_stackless():
    c = stackless.channel()
    with pytest.raises(TypeError) as ei:
        c.preference = None
    assert str(ei.value) == "preference must be set to an integer"
    with pytest.raises(TypeError) as ei:
        c.schedule_all = None
    assert str(ei.value) == "preference must be set to a bool or integer"
    t = stackless.tasklet()
    with pytest.raises(TypeError) as ei:
        t.block_trap = None
    assert str(ei.value) == "block_trap must be set to a bool or integer"
    with pytest.raises(TypeError) as ei:
        t.set_atomic(None)
    assert str(ei.value) == "set_atomic needs exactly one bool or integer"
    with pytest.raises(TypeError) as ei:
        t.set_ignore_nesting(None)
    assert str(ei.value) == "set_ignore_nesting needs exactly one bool or integer"
    with pytest.raises(TypeError) as ei:
        t.raise_exception()
    assert str(ei.value) == "raise_exception() takes at least 1 argument"
    with pytest.raises(TypeError) as ei:
        c.send_exception()
    assert str(ei.value) == "send_exception() takes at least 1 argument"
    with pytest.raises(TypeError) as ei:
        t.raise_exception(1)
    assert str(ei.value) == ("tasklet.raise_exception needs Exception or string "
                             "subclass as first parameter")
    with pytest.raises(TypeError) as ei:
        c.send_exception(1)
    assert str(ei.value) == ("channel.send_exception needs Exception or string "
                             "subclass as first parameter")
    with pytest.raises(TypeError) as ei:
        stackless.tasklet(1)
    assert str(ei.value) == "tasklet function must be a callable or None"
    with pytest.raises(TypeError) as ei:
        stackless.set_schedule_callback(1)
    assert str(ei.value) == "schedule callback must be callable"
    with pytest.raises(TypeError) as ei:
        stackless.set_channel_callback(1)
    assert str(ei.value) == "channel callback must be callable"
    with pytest.raises(ValueError) as ei:
        stackless.pickle_flags(1 << 20)
    assert str(ei.value) == "you must not set an undefined pickle-flag"
