"""contextvars and tasklets: inheritance at bind/__init__ (a bare tasklet()
has no context of its own until it needs one), set_context (refused while the
context is entered, or from another thread for a current or runnable tasklet),
context_run, context_id, and the context switch on every tasklet switch.

Contract: Stackless 3.8 Doc/library/stackless/tasklets.rst ("Tasklets and Context
Variables", tasklet.set_context, tasklet.context_run, tasklet.context_id;
versionadded 3.7.6).
"""
import contextvars
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version

if not hasattr(stackless.tasklet, "set_context"):
    pytestmark = pytest.mark.skip(reason="this Stackless predates context support (3.7.6)")

var = contextvars.ContextVar("var", default="default")


@pytest.fixture(autouse=True)
def _restore_main_context():
    """Some tests set variables in, or replace, the context of the running
    tasklet: give it back a copy of the one it had, so no other test sees it."""
    saved = contextvars.copy_context()
    yield
    stackless.current.set_context(saved)


def current_context_id():
    return stackless.current.context_id


def test_context_id_is_int():
    assert isinstance(stackless.current.context_id, int)


def test_context_id_is_id_of_running_context():
    ctx = contextvars.Context()
    assert ctx.run(current_context_id) == id(ctx)


def test_new_tasklet_with_func_shares_creator_context():
    ctx = contextvars.Context()

    def create():
        t = stackless.tasklet(lambda: None)
        return t, stackless.current.context_id

    t, cid = ctx.run(create)
    assert t.context_id == cid == id(ctx)


def test_bind_sets_context_of_current():
    ctx = contextvars.Context()
    t = stackless.tasklet()
    ctx.run(t.bind, lambda: None)
    assert t.context_id == id(ctx)


def test_tasklet_sees_context_variables_of_creator():
    seen = []
    token = var.set("outer")
    try:
        stackless.tasklet(lambda: seen.append(var.get()))()
        stackless.run()
    finally:
        var.reset(token)
    assert seen == ["outer"]


def test_shared_context_sees_child_changes():
    # the child shares (not copies) the context of its creator
    ctx = contextvars.Context()
    seen = []

    def parent():
        def child():
            var.set("from child")

        stackless.tasklet(child)()
        stackless.schedule()
        seen.append(var.get())

    ctx.run(stackless.tasklet, parent)()
    stackless.run()
    assert seen == ["from child"]
    assert ctx[var] == "from child"


def test_set_context_returns_self_and_is_used_while_running():
    ctx = contextvars.Context()
    ctx.run(var.set, "in ctx")
    seen = []
    t = stackless.tasklet(lambda: seen.append((var.get(), stackless.current.context_id)))
    assert t.set_context(ctx) is t
    assert t.context_id == id(ctx)
    t()
    stackless.run()
    assert seen == [("in ctx", id(ctx))]


def test_tasklet_switch_switches_context():
    log = []
    c1 = contextvars.Context()
    c2 = contextvars.Context()

    def f(name):
        var.set(name)
        stackless.schedule()
        log.append((name, var.get()))

    stackless.tasklet(f).set_context(c1)("one")
    stackless.tasklet(f).set_context(c2)("two")
    token = var.set("main")
    try:
        stackless.run()
        assert var.get() == "main"
    finally:
        var.reset(token)
    assert log == [("one", "one"), ("two", "two")]
    assert c1[var] == "one" and c2[var] == "two"


def test_set_context_type_error():
    with pytest.raises(TypeError):
        stackless.tasklet().set_context({})
    with pytest.raises(TypeError):
        stackless.tasklet().set_context()


def test_set_context_of_current_inside_context_run_fails():
    ctx = contextvars.Context()
    with pytest.raises(RuntimeError):
        ctx.run(stackless.current.set_context, contextvars.Context())


def test_set_context_of_current_tasklet():
    ctx = contextvars.Context()
    ctx.run(var.set, "x")
    seen = []

    def f():
        stackless.current.set_context(ctx)
        seen.append(var.get())

    stackless.tasklet(f).set_context(contextvars.Context())()
    stackless.run()
    assert seen == ["x"]


def test_context_run_runs_in_tasklet_context():
    ctx = contextvars.Context()
    ctx.run(var.set, "tasklet value")
    t = stackless.tasklet(lambda: None).set_context(ctx)
    assert t.context_run(var.get) == "tasklet value"
    assert var.get() == "default"


def test_context_run_passes_args_kwargs_and_result():
    t = stackless.tasklet(lambda: None)

    def f(a, b=0):
        return a + b

    assert t.context_run(f, 1, b=2) == 3


def test_context_run_propagates_exception_and_restores_context():
    ctx = contextvars.Context()
    t = stackless.tasklet(lambda: None).set_context(ctx)
    before = stackless.current.context_id

    def bad():
        raise KeyError("k")

    with pytest.raises(KeyError):
        t.context_run(bad)
    assert stackless.current.context_id == before


def test_context_run_copy_context():
    ctx = contextvars.Context()
    ctx.run(var.set, "copied")
    t = stackless.tasklet(lambda: None).set_context(ctx)
    copy = t.context_run(contextvars.copy_context)
    assert isinstance(copy, contextvars.Context)
    assert copy is not ctx
    assert copy[var] == "copied"


def test_context_run_changes_visible_in_tasklet():
    ctx = contextvars.Context()
    t = stackless.tasklet(lambda: None).set_context(ctx)
    t.context_run(var.set, "set via context_run")
    assert ctx[var] == "set via context_run"


def test_context_run_requires_callable():
    with pytest.raises(TypeError):
        stackless.tasklet().context_run()


def test_tasklets_of_other_contexts_are_isolated():
    c1 = contextvars.Context()
    c2 = contextvars.Context()
    out = []

    def setter():
        var.set("c1 only")
        stackless.schedule()

    def reader():
        out.append(var.get())

    stackless.tasklet(setter).set_context(c1)()
    stackless.tasklet(reader).set_context(c2)()
    stackless.run()
    assert out == ["default"]


def test_main_tasklet_context_survives_run():
    token = var.set("main value")
    try:
        stackless.tasklet(var.set)("changed in shared context")
        # the tasklet shares the main context: the change is visible afterwards
        stackless.run()
        assert var.get() == "changed in shared context"
    finally:
        var.reset(token)


# ---------------------------------------------------------------------------
# Stackless 3.8 test_miscell.TestTaskletContext: the whole contract (issue 8).
# A tasklet made without a callable has no context until it needs one; a
# context that is entered (Context.run() on the stack of the tasklet) cannot be
# replaced; another thread may not change the context of a tasklet that is
# current or runnable in its own thread.
# ---------------------------------------------------------------------------

import threading

cvar = contextvars.ContextVar("TestTaskletContext", default="unset")
ENTERED = "the current context of the tasklet has been entered"
OTHER_THREAD = "tasklet belongs to a different thread"


def in_thread(func):
    """Run func in a new thread; return what it returned or raised."""
    out = {}

    def target():
        try:
            out["result"] = func()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            out["error"] = e

    thr = threading.Thread(target=target, name="other thread")
    thr.start()
    thr.join(30)
    assert not thr.is_alive()
    return out


def test_bare_new_tasklet_sees_default_not_creator_value():
    token = cvar.set("creator")
    try:
        assert stackless.tasklet().context_run(cvar.get) == "unset"
    finally:
        cvar.reset(token)


def test_bare_new_tasklet_gets_a_fresh_context_of_its_own():
    cvar.set(object())
    cid0 = stackless.current.context_id
    t = stackless.tasklet()

    def get_cid():
        assert cvar.get() == "unset"
        return stackless.current.context_id

    cid = t.context_run(get_cid)
    assert stackless.current.context_id == cid0
    assert isinstance(cid, int) and cid != cid0
    assert t.context_id == cid          # kept: the same context next time
    assert t.context_run(get_cid) == cid


def test_bare_tasklet_runs_in_empty_context_when_bound_later_elsewhere():
    # bind() captures the context of whoever binds, not of the creator
    token = cvar.set("creator")
    try:
        t = stackless.tasklet()
    finally:
        cvar.reset(token)
    seen = []
    ctx = contextvars.Context()
    ctx.run(cvar.set, "binder")
    ctx.run(t.bind, lambda: seen.append(cvar.get()))
    t.setup()
    stackless.run()
    assert seen == ["binder"]


def test_tasklet_with_callable_still_shares_creator_context():
    token = cvar.set("creator")
    try:
        t = stackless.tasklet(lambda: None)
        assert t.context_id == stackless.current.context_id
        assert t.context_run(cvar.get) == "creator"
        t.bind(None)
    finally:
        cvar.reset(token)


def test_context_id_of_known_context():
    ct = stackless.current
    cvar.set(object())
    assert isinstance(ct.context_id, int)
    ctx = contextvars.Context()
    assert id(ctx) != ct.context_id
    assert ctx.run(stackless.getcurrent) is ct
    assert ctx.run(getattr, ct, "context_id") == id(ctx)


def test_set_context_not_current_scheduled_same_thread():
    ctx = contextvars.Context()
    ctx.run(cvar.set, "s")
    started = []
    t = stackless.tasklet()

    def task():
        started.append((t.context_id == id(ctx), cvar.get()))

    t.bind(task)()
    assert t.set_context(ctx) is t
    stackless.run()
    assert started == [(True, "s")]


def test_set_context_entered_by_paused_tasklet_is_refused():
    ctx = contextvars.Context()
    ctx.run(cvar.set, object())
    log = []
    t = stackless.tasklet()

    def task():
        log.append(t.context_id == id(ctx))
        stackless.schedule_remove()
        log.append(t.context_id == id(ctx))

    t.bind(ctx.run)(task)
    stackless.run()
    assert t.alive and t.paused and not t.is_current
    with pytest.raises(RuntimeError) as info:
        t.set_context(contextvars.Context())
    assert str(info.value) == ENTERED + "."
    # nothing changed: the tasklet resumes in ctx and leaves ctx.run() cleanly
    assert t.context_id == id(ctx)
    t.insert()
    stackless.run()
    assert log == [True, True]
    assert not t.alive


def test_set_context_of_paused_tasklet_outside_context_run_is_allowed():
    ctx = contextvars.Context()
    new = contextvars.Context()
    new.run(cvar.set, "new")
    seen = []

    def task():
        stackless.schedule_remove()
        seen.append(cvar.get())

    t = stackless.tasklet(task).set_context(ctx)()
    stackless.run()
    assert t.paused
    assert t.set_context(new) is t
    assert t.context_id == id(new)
    t.insert()
    stackless.run()
    assert seen == ["new"]


def test_set_context_current_same_thread():
    sentinel = object()
    cvar.set(sentinel)
    assert isinstance(stackless.current.context_id, int)
    sentinel2 = object()
    ctx = contextvars.Context()
    ctx.run(cvar.set, sentinel2)
    assert stackless.current.context_id != id(ctx)
    assert stackless.current.set_context(ctx) is stackless.current
    assert stackless.current.context_id == id(ctx)
    assert cvar.get() is sentinel2


def test_set_context_current_entered_same_thread():
    sentinel = object()
    cvar.set(sentinel)
    cid = stackless.current.context_id
    with pytest.raises(RuntimeError) as info:
        contextvars.Context().run(stackless.current.set_context, contextvars.Context())
    assert str(info.value) == ENTERED + "."
    assert type(info.value) is RuntimeError
    # neither CPython's "cannot exit context" nor a changed context
    assert stackless.current.context_id == cid
    assert cvar.get() is sentinel


def test_set_context_of_tasklet_inside_its_own_context_run_is_refused():
    ctx = contextvars.Context()
    out = []

    def task():
        try:
            stackless.current.set_context(contextvars.Context())
        except RuntimeError as e:
            out.append(str(e))
        out.append(stackless.current.context_id == id(ctx))

    stackless.tasklet(ctx.run)(task)
    stackless.run()
    assert out == [ENTERED + ".", True]


def test_set_context_other_thread_paused():
    ctx = contextvars.Context()
    ctx.run(cvar.set, "p")
    started = []
    t = stackless.tasklet()

    def task():
        started.append((t.context_id == id(ctx), cvar.get()))

    t.bind(task, ())            # paused: another thread may set its context
    out = in_thread(lambda: t.set_context(ctx))
    assert out.get("result") is t
    t.insert()
    stackless.run()
    assert started == [(True, "p")]


def test_set_context_other_thread_scheduled_is_refused():
    ctx = contextvars.Context()
    ctx.run(cvar.set, "mine")
    started = []
    t = stackless.tasklet()

    def task():
        started.append((t.context_id == id(ctx), cvar.get()))

    t.bind(task)()              # scheduled in this thread
    t.set_context(ctx)
    out = in_thread(lambda: t.set_context(contextvars.Context()))
    assert type(out.get("error")) is RuntimeError
    assert str(out["error"]) == OTHER_THREAD
    stackless.run()
    assert started == [(True, "mine")]


def test_set_context_other_thread_blocked_is_allowed():
    ctx = contextvars.Context()
    ctx.run(cvar.set, "while blocked")
    ch = stackless.channel()
    seen = []

    def task():
        ch.receive()
        seen.append(cvar.get())

    t = stackless.tasklet(task)()
    stackless.run()
    assert t.blocked
    out = in_thread(lambda: t.set_context(ctx))
    assert out.get("result") is t
    ch.send(None)
    stackless.run()
    assert seen == ["while blocked"]


def test_set_context_other_thread_not_current_entered():
    ctx = contextvars.Context()
    ctx.run(cvar.set, object())
    log = []
    t = stackless.tasklet()

    def task():
        log.append(t.context_id == id(ctx))
        stackless.schedule_remove()
        log.append(t.context_id == id(ctx))

    t.bind(ctx.run)(task)
    stackless.run()
    assert t.alive and not t.is_current
    out = in_thread(lambda: t.set_context(contextvars.Context()))
    assert type(out.get("error")) is RuntimeError
    assert str(out["error"]) == ENTERED + "."
    t.insert()
    stackless.run()
    assert log == [True, True]


def test_set_context_other_thread_current():
    cvar.set(object())
    cid = stackless.current.context_id
    t = stackless.current
    out = in_thread(lambda: t.set_context(contextvars.Context()))
    assert type(out.get("error")) is RuntimeError
    assert str(out["error"]) == OTHER_THREAD
    assert stackless.current.context_id == cid


def test_set_context_other_thread_current_entered():
    t = stackless.current
    ctx = contextvars.Context()
    ctx.run(cvar.set, object())
    out = {}

    def in_ctx():
        assert stackless.current.context_id == id(ctx)
        out.update(in_thread(lambda: t.set_context(contextvars.Context())))
        assert stackless.current.context_id == id(ctx)

    ctx.run(in_ctx)
    assert type(out.get("error")) is RuntimeError
    assert str(out["error"]) == OTHER_THREAD


def test_context_init_null_main_other_thread():
    # bind() in a thread whose main has no context yet creates one and shares it
    t = stackless.tasklet()

    def other():
        assert stackless.current is stackless.main
        t.bind(lambda: None)
        return stackless.current.context_id

    out = in_thread(other)
    assert isinstance(out.get("result"), int)
    assert t.context_id == out["result"]


def test_context_init_main_other_thread():
    t = stackless.tasklet()

    def other():
        cvar.set(object())
        assert stackless.current is stackless.main
        cid = stackless.current.context_id
        t.bind(lambda: None)
        assert stackless.current.context_id == cid
        return cid

    out = in_thread(other)
    assert t.context_id == out["result"]


def test_context_init_nonmain():
    cvar.set(object())
    cid = stackless.current.context_id
    t = stackless.tasklet()
    t.bind(lambda: None)
    assert stackless.current.context_id == cid
    assert t.context_id == cid


def test_context_setstate_notalive():
    state = stackless.tasklet().__reduce__()[2]
    cvar.set(object())
    cid = stackless.current.context_id
    t = stackless.tasklet()
    t.__setstate__(state)
    assert not t.alive
    assert stackless.current.context_id == cid
    assert t.context_run(cvar.get) == "unset"


def test_context_run_with_set_context():
    cvar.set(object())
    cid0 = stackless.current.context_id
    t = stackless.tasklet()
    ctx = contextvars.Context()
    t.set_context(ctx)

    def get_cid():
        assert cvar.get() == "unset"
        return stackless.current.context_id

    assert t.context_run(get_cid) == id(ctx)
    assert stackless.current.context_id == cid0


def test_bare_tasklet_context_is_not_kept_alive_by_creator():
    # the bare tasklet's own lazily made context is private to it
    t1, t2 = stackless.tasklet(), stackless.tasklet()
    t1.context_run(cvar.set, "one")
    assert t2.context_run(cvar.get) == "unset"
    assert t1.context_run(cvar.get) == "one"
    assert t1.context_id != t2.context_id != stackless.current.context_id
