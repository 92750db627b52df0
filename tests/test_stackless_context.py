"""contextvars and tasklets: inheritance at bind/__init__, set_context,
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
