"""The ``stackless`` module surface: names, constants, properties and module functions.

Contract: Stackless 3.8 Doc/library/stackless/stackless.rst, Lib/stackless.py and
Stackless/module/stacklessmodule.c.
"""
import builtins
import sys
import threading
import types

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


# --------------------------------------------------------------------- names

PUBLIC_NAMES = [
    "tasklet", "channel", "bomb", "atomic",
    "run", "schedule", "schedule_remove",
    "getcurrent", "getmain", "getruncount", "getcurrentid",
    "get_thread_info", "getthreads", "switch_trap",
    "set_schedule_callback", "get_schedule_callback",
    "set_channel_callback", "get_channel_callback",
    "set_error_handler", "enable_softswitch",
    "pickle_flags", "pickle_flags_default",
]


@pytest.mark.parametrize("name", PUBLIC_NAMES)
def test_public_name_exists(name):
    assert hasattr(stackless, name)


def test_types_are_classes():
    for name in ("tasklet", "channel", "bomb", "atomic"):
        assert isinstance(getattr(stackless, name), type), name


def test_taskletexit_is_systemexit_subclass_and_builtin():
    assert issubclass(TaskletExit, SystemExit)  # noqa: F821 -- a builtin under Stackless
    assert not issubclass(builtins.TaskletExit, Exception)
    # ISSUE-2 also exports it from the module (real Stackless only has the builtin)
    if not IS_SLP:
        assert stackless.TaskletExit is builtins.TaskletExit


def test_pickleflag_constants():
    assert stackless.PICKLEFLAGS_PRESERVE_TRACING_STATE == 1
    assert stackless.PICKLEFLAGS_PRESERVE_AG_FINALIZER == 2
    assert stackless.PICKLEFLAGS_RESET_AG_FINALIZER == 4


def test_pickleflag_pickle_context_constant():
    if IS_SLP and not hasattr(stackless, "PICKLEFLAGS_PICKLE_CONTEXT"):
        pytest.skip("reference Stackless predates 3.7.6 (no context support)")
    assert stackless.PICKLEFLAGS_PICKLE_CONTEXT == 8


def test_module_is_module_instance_and_self_reference():
    assert isinstance(stackless, types.ModuleType)
    assert sys.modules["stackless"] is stackless
    assert stackless.stackless is stackless


# --------------------------------------------------------------- properties

def test_property_current_and_main_in_main_tasklet():
    assert stackless.current is stackless.getcurrent()
    assert stackless.main is stackless.getmain()
    assert stackless.current is stackless.main


def test_property_runcount():
    assert stackless.runcount == stackless.getruncount() == 1
    t = stackless.tasklet(lambda: None)()
    try:
        assert stackless.runcount == 2
        assert stackless.getruncount() == 2
    finally:
        t.kill()
    assert stackless.runcount == 1


def test_properties_are_computed_per_access_inside_tasklet():
    seen = {}

    def f():
        seen["current"] = stackless.current
        seen["getcurrent"] = stackless.getcurrent()
        seen["main"] = stackless.main
        seen["runcount"] = stackless.runcount

    t = stackless.tasklet(f)()
    stackless.run()
    assert seen["current"] is t
    assert seen["getcurrent"] is t
    assert seen["main"] is stackless.getmain()
    # main is paused while acting as the watchdog of run(): only t counts
    assert seen["runcount"] == 1


def test_property_threads():
    threads = stackless.threads
    assert isinstance(threads, list)
    assert threads == stackless.getthreads()
    assert threading.main_thread().ident == threads[0]


@pytest.mark.parametrize("name", ["current", "main", "runcount", "threads"])
def test_properties_are_read_only(name):
    with pytest.raises(AttributeError):
        setattr(stackless, name, None)


# ------------------------------------------------------------ simple getters

def test_getruncount_counts_current_tasklet():
    assert stackless.getruncount() == 1


def test_getmain_is_main_tasklet():
    m = stackless.getmain()
    assert isinstance(m, stackless.tasklet)
    assert m.is_main
    assert m.is_current
    assert m.alive
    assert m.scheduled
    assert not m.blocked
    assert not m.paused
    assert m.thread_id == threading.get_ident()


def test_getcurrentid_main_is_thread_id():
    # stacklessmodule.c: "for a main tasklet, we use its thread ID"
    assert stackless.getcurrentid() == threading.get_ident()


def test_getcurrentid_in_tasklets_distinct_and_stable():
    ids = []

    def f():
        a = stackless.getcurrentid()
        stackless.schedule()
        b = stackless.getcurrentid()
        ids.append((a, b))

    stackless.tasklet(f)()
    stackless.tasklet(f)()
    stackless.run()
    assert len(ids) == 2
    (a1, b1), (a2, b2) = ids
    assert a1 == b1 and a2 == b2
    assert a1 != a2
    assert threading.get_ident() not in (a1, a2)
    assert all(isinstance(x, int) for x in (a1, a2))


@pytest.mark.parametrize("func", ["getcurrent", "getmain", "getruncount", "getcurrentid",
                                  "getthreads", "get_schedule_callback",
                                  "get_channel_callback"])
def test_noarg_functions_reject_arguments(func):
    with pytest.raises(TypeError):
        getattr(stackless, func)(1)


# ----------------------------------------------------------- get_thread_info

def test_get_thread_info_current_thread():
    main, current, runcount = stackless.get_thread_info(threading.get_ident())
    assert main is stackless.main
    assert current is stackless.current
    assert runcount == 1


def test_get_thread_info_minus_one_is_current_thread():
    info = stackless.get_thread_info(-1)
    assert info == (stackless.main, stackless.current, 1)


def test_get_thread_info_counts_scheduled_tasklets():
    t = stackless.tasklet(lambda: None)()
    try:
        assert stackless.get_thread_info(threading.get_ident())[2] == 2
    finally:
        t.kill()


def test_get_thread_info_unknown_thread():
    with pytest.raises(RuntimeError, match="Thread id not found"):
        stackless.get_thread_info(123456789)


def test_get_thread_info_bad_type():
    with pytest.raises(TypeError):
        stackless.get_thread_info("main")


def test_get_thread_info_watchdog_flag():
    info = stackless.get_thread_info(-1, 1 << 31)
    assert len(info) == 4
    assert info[:3] == (stackless.main, stackless.current, 1)
    assert info[3] in (None, [None])

    seen = []

    def f():
        seen.append(list(stackless.get_thread_info(-1, 1 << 31)[3]))

    stackless.tasklet(f)()
    stackless.run()
    # during run() the main tasklet is on the watchdog stack
    assert len(seen) == 1
    assert isinstance(seen[0], list)
    assert stackless.main in seen[0][1:]


# ----------------------------------------------------------------- getthreads

def test_getthreads_main_first_and_includes_other_threads():
    ready = threading.Event()
    done = threading.Event()
    seen = {}

    def worker():
        seen["tid"] = threading.get_ident()
        stackless.getcurrent()  # make sure stackless knows this thread
        ready.set()
        done.wait(30)

    th = threading.Thread(target=worker)
    th.start()
    try:
        assert ready.wait(30)
        threads = stackless.getthreads()
        assert threads[0] == threading.main_thread().ident
        assert seen["tid"] in threads
        assert len(set(threads)) == len(threads)
    finally:
        done.set()
        th.join(30)


# --------------------------------------------------------------- switch_trap

def test_switch_trap_returns_previous_level():
    assert stackless.switch_trap(0) == 0
    assert stackless.switch_trap(1) == 0
    try:
        assert stackless.switch_trap(1) == 1
        assert stackless.switch_trap(-1) == 2
    finally:
        assert stackless.switch_trap(-1) == 1
    assert stackless.switch_trap(0) == 0


def test_switch_trap_blocks_schedule():
    t = stackless.tasklet(lambda: None)()
    stackless.switch_trap(1)
    try:
        with pytest.raises(RuntimeError, match="switch_trap"):
            stackless.schedule()
        with pytest.raises(RuntimeError, match="switch_trap"):
            t.run()
        with pytest.raises(RuntimeError, match="switch_trap"):
            stackless.run()
    finally:
        stackless.switch_trap(-1)
    assert t.alive and t.scheduled
    stackless.run()
    assert not t.alive


def test_switch_trap_blocks_channel_switch_but_not_nonswitching_ops():
    c = stackless.channel()
    c.preference = 1  # sender continues: no switch when a receiver waits

    got = []
    t = stackless.tasklet(lambda: got.append(c.receive()))()
    stackless.run()  # t blocks on receive
    assert c.balance == -1
    stackless.switch_trap(1)
    try:
        c.send(42)  # prefer sender: receiver is just made runnable, no switch
        with pytest.raises(RuntimeError, match="switch_trap"):
            stackless.schedule()
    finally:
        stackless.switch_trap(-1)
    stackless.run()
    assert got == [42]
    assert not t.alive


def test_switch_trap_blocks_blocking_receive():
    c = stackless.channel()
    t = stackless.tasklet(lambda: None)()  # something else is runnable
    stackless.switch_trap(1)
    try:
        with pytest.raises(RuntimeError, match="switch_trap"):
            c.receive()
    finally:
        stackless.switch_trap(-1)
    assert c.balance == 0
    assert stackless.current.blocked is False
    stackless.run()
    assert not t.alive


def test_switch_trap_bad_arg():
    with pytest.raises(TypeError):
        stackless.switch_trap("1")


# ------------------------------------------------------- enable_softswitch

def test_enable_softswitch_query_forms_agree():
    a = stackless.enable_softswitch(None)
    assert isinstance(a, bool)
    assert stackless.enable_softswitch(None) is a


def test_enable_softswitch_requires_argument():
    with pytest.raises(TypeError):
        stackless.enable_softswitch()


def test_enable_softswitch_returns_previous_setting():
    old = stackless.enable_softswitch(None)
    try:
        prev = stackless.enable_softswitch(False)
        assert prev is old
        assert stackless.enable_softswitch(None) is False
    finally:
        stackless.enable_softswitch(old)
    assert stackless.enable_softswitch(None) is old


# -------------------------------------------------------------- pickle flags

def test_pickle_flags_query_and_set():
    old = stackless.pickle_flags()
    assert isinstance(old, int)
    try:
        assert stackless.pickle_flags(1, 1) == old
        assert stackless.pickle_flags() & 1 == 1
        assert stackless.pickle_flags(0, 1) & 1 == 1
        assert stackless.pickle_flags() & 1 == 0
    finally:
        stackless.pickle_flags(old)
    assert stackless.pickle_flags() == old


def test_pickle_flags_mask_keeps_other_bits():
    old = stackless.pickle_flags()
    try:
        stackless.pickle_flags(1 | 2)
        stackless.pickle_flags(0, 1)  # clear only bit 0
        assert stackless.pickle_flags() == 2
    finally:
        stackless.pickle_flags(old)


def test_pickle_flags_default_query_and_set():
    old = stackless.pickle_flags_default()
    assert isinstance(old, int)
    try:
        assert stackless.pickle_flags_default(1, 1) == old
        assert stackless.pickle_flags_default() & 1 == 1
    finally:
        stackless.pickle_flags_default(old)
    assert stackless.pickle_flags_default() == old


@pytest.mark.parametrize("func", ["pickle_flags", "pickle_flags_default"])
def test_pickle_flags_reject_undefined_bits(func):
    f = getattr(stackless, func)
    old = f()
    with pytest.raises(ValueError, match="you must not set an undefined pickle-flag"):
        f(1 << 10)
    with pytest.raises(ValueError):
        f(-2)
    assert f() == old


@pytest.mark.parametrize("func", ["pickle_flags", "pickle_flags_default"])
def test_pickle_flags_keywords_and_types(func):
    f = getattr(stackless, func)
    old = f()
    assert f(mask=0) == old  # nothing changes when the mask is empty
    with pytest.raises(TypeError):
        f("1")


# ------------------------------------------------------ schedule(retval)

def test_schedule_returns_retval_default_current():
    assert stackless.schedule() is stackless.current


def test_schedule_returns_given_retval():
    sentinel = object()
    assert stackless.schedule(sentinel) is sentinel
    assert stackless.schedule(retval=sentinel) is sentinel
    assert stackless.schedule(None) is None


def test_schedule_bad_keyword():
    with pytest.raises(TypeError):
        stackless.schedule(value=1)
    with pytest.raises(TypeError):
        stackless.schedule(1, 2)


def test_schedule_in_tasklet_returns_retval_and_yields():
    order = []

    def f(name):
        order.append(name + "1")
        r = stackless.schedule(name)
        order.append((name + "2", r))

    stackless.tasklet(f)("a")
    stackless.tasklet(f)("b")
    stackless.run()
    assert order == ["a1", "b1", ("a2", "a"), ("b2", "b")]


def test_schedule_remove_in_tasklet_pauses_it():
    state = []

    def f():
        r = stackless.schedule_remove(7)
        state.append(r)

    t = stackless.tasklet(f)()
    stackless.run()
    assert state == []
    assert t.alive and t.paused and not t.scheduled
    assert t.tempval == 7
    t.tempval = "woken"
    t.insert()
    stackless.run()
    assert state == ["woken"]
    assert not t.alive


def test_schedule_remove_default_retval_is_current():
    state = []

    def f():
        state.append(stackless.schedule_remove() is stackless.current)

    t = stackless.tasklet(f)()
    stackless.run()
    assert t.paused
    t.insert()
    stackless.run()
    assert state == [True]


def test_schedule_remove_keyword():
    state = []

    def f():
        state.append(stackless.schedule_remove(retval="kw"))

    t = stackless.tasklet(f)()
    stackless.run()
    t.insert()
    stackless.run()
    assert state == ["kw"]


def test_schedule_with_bomb_retval_raises():
    def f():
        try:
            1 / 0
        except ZeroDivisionError:
            return stackless.bomb(*sys.exc_info())

    b = f()
    with pytest.raises(ZeroDivisionError):
        stackless.schedule(b)


def test_schedule_remove_in_main_with_nothing_else_returns():
    # the main tasklet cannot really be removed when nothing else can run
    assert stackless.schedule_remove("x") == "x"
    assert stackless.current.scheduled


# --------------------------------------------------------------------- bomb

def test_bomb_attributes():
    b = stackless.bomb(ValueError, ValueError("x"), None)
    assert b.type is ValueError
    assert isinstance(b.value, ValueError)
    assert b.traceback is None


def test_bomb_from_exc_info_tuple():
    try:
        raise KeyError("k")
    except KeyError:
        info = sys.exc_info()
    b = stackless.bomb(info)
    assert b.type is KeyError
    assert b.value is info[1]
    assert b.traceback is info[2]
    b2 = stackless.bomb(*info)
    assert (b2.type, b2.value, b2.traceback) == info


def test_bomb_empty():
    b = stackless.bomb()
    assert b.type is None and b.value is None and b.traceback is None


def test_bomb_attributes_read_only():
    b = stackless.bomb(ValueError)
    with pytest.raises(AttributeError):
        b.type = KeyError


def test_bomb_in_tempval_explodes_when_tasklet_resumes():
    caught = []

    def f():
        try:
            stackless.schedule_remove()
        except ValueError as e:
            caught.append(e.args)

    t = stackless.tasklet(f)()
    stackless.run()
    assert t.paused
    t.tempval = stackless.bomb(ValueError, ValueError("boom"))
    t.insert()
    stackless.run()
    assert caught == [("boom",)]


# -------------------------------------------------------------------- atomic

def test_atomic_context_manager_sets_and_restores():
    cur = stackless.current
    assert not cur.atomic
    with stackless.atomic():
        assert cur.atomic
        with stackless.atomic():
            assert cur.atomic
        assert cur.atomic  # inner exit restores the previous (True) value
    assert not cur.atomic


def test_atomic_restores_on_exception():
    cur = stackless.current
    with pytest.raises(KeyError):
        with stackless.atomic():
            raise KeyError
    assert not cur.atomic


def test_atomic_restores_previous_true_value():
    cur = stackless.current
    old = cur.set_atomic(True)
    try:
        with stackless.atomic():
            pass
        assert cur.atomic
    finally:
        cur.set_atomic(old)


def test_atomic_in_tasklet():
    seen = []

    def f():
        with stackless.atomic():
            seen.append(stackless.current.atomic)
        seen.append(stackless.current.atomic)

    stackless.tasklet(f)()
    stackless.run()
    assert seen == [True, False]


def test_atomic_enter_returns_none():
    a = stackless.atomic()
    with a as v:
        assert v is None


# -------------------------------------------------------- callbacks (get/set)

def test_set_schedule_callback_returns_previous():
    def cb1(prev, next):
        pass

    def cb2(prev, next):
        pass

    assert stackless.get_schedule_callback() is None
    assert stackless.set_schedule_callback(cb1) is None
    try:
        assert stackless.get_schedule_callback() is cb1
        assert stackless.set_schedule_callback(cb2) is cb1
        assert stackless.get_schedule_callback() is cb2
    finally:
        assert stackless.set_schedule_callback(None) is cb2
    assert stackless.get_schedule_callback() is None


def test_set_schedule_callback_not_callable():
    with pytest.raises(TypeError, match="schedule callback must be callable"):
        stackless.set_schedule_callback(42)
    assert stackless.get_schedule_callback() is None


def test_set_schedule_callback_arg_count():
    with pytest.raises(TypeError):
        stackless.set_schedule_callback()


def test_set_channel_callback_returns_previous():
    def cb1(*a):
        pass

    def cb2(*a):
        pass

    assert stackless.get_channel_callback() is None
    assert stackless.set_channel_callback(cb1) is None
    try:
        assert stackless.get_channel_callback() is cb1
        assert stackless.set_channel_callback(cb2) is cb1
        assert stackless.get_channel_callback() is cb2
    finally:
        assert stackless.set_channel_callback(None) is cb2
    assert stackless.get_channel_callback() is None


def test_set_channel_callback_not_callable():
    with pytest.raises(TypeError, match="channel callback must be callable"):
        stackless.set_channel_callback("nope")
    assert stackless.get_channel_callback() is None


def test_set_error_handler_returns_previous():
    def h(*a):
        pass

    def h2(*a):
        pass

    assert stackless.set_error_handler(h) is None
    try:
        assert stackless.set_error_handler(h2) is h
    finally:
        assert stackless.set_error_handler(None) is h2
    assert stackless.set_error_handler(None) is None
    # no argument also clears the handler and returns the old one
    stackless.set_error_handler(h)
    assert stackless.set_error_handler() is h
    assert stackless.set_error_handler(None) is None


# --------------------------------------------------------------- run() args

def test_run_with_nothing_to_do_returns_none():
    assert stackless.run() is None
    assert stackless.run(0) is None
    assert stackless.run(timeout=1000) is None


def test_run_keywords_accepted():
    stackless.tasklet(lambda: None)()
    assert stackless.run(timeout=0, threadblock=False, soft=False,
                         ignore_nesting=False, totaltimeout=False) is None


def test_run_bad_arguments():
    with pytest.raises(TypeError):
        stackless.run("x")
    with pytest.raises(TypeError):
        stackless.run(bogus=1)
    with pytest.raises(TypeError):
        stackless.run(0, 0, 0, 0, 0, 0)


def test_schedule_in_main_runs_others_one_step():
    log = []

    def f(name):
        log.append(name + "1")
        stackless.schedule()
        log.append(name + "2")

    stackless.tasklet(f)("a")
    stackless.tasklet(f)("b")
    stackless.schedule()
    log.append("main")
    assert log == ["a1", "b1", "main"]
    stackless.run()
    assert log == ["a1", "b1", "main", "a2", "b2"]


def test_schedule_remove_in_main_is_revived_when_queue_empties():
    log = []
    stackless.tasklet(log.append)("t")
    assert stackless.schedule_remove("back") == "back"
    assert log == ["t"]
    assert stackless.main.scheduled
    assert stackless.getruncount() == 1


def test_star_import():
    ns = {}
    exec("from stackless import *", ns)
    for name in ("atomic", "channel", "tasklet", "run", "schedule", "schedule_remove",
                 "getcurrent", "getmain", "getruncount", "getcurrentid", "getthreads",
                 "get_thread_info", "set_channel_callback", "get_channel_callback",
                 "set_schedule_callback", "get_schedule_callback", "set_error_handler",
                 "switch_trap", "enable_softswitch"):
        assert name in ns, name


def test_get_thread_info_bookkeeping_flag():
    # undocumented bit 30 (used by Stackless' own test support): serial,
    # serial_last_jump and the initial stub are appended
    info = stackless.get_thread_info(-1, 1 << 30)
    assert len(info) == 6
    assert info[:3] == (stackless.main, stackless.current, 1)
    assert isinstance(info[3], int) and isinstance(info[4], int)
    both = stackless.get_thread_info(-1, (1 << 30) | (1 << 31))
    assert len(both) == 7
    assert both[:3] == info[:3]
    assert both[6] in (None, [None])
    assert stackless.get_thread_info(-1, 0) == info[:3]


def test_pickle_with_tracing_state_property():
    # stackless.rst "pickle_with_tracing_state" (deprecated wrapper around
    # pickle_flags / pickle_flags_default bit PICKLEFLAGS_PRESERVE_TRACING_STATE)
    old_flags = stackless.pickle_flags()
    old_default = stackless.pickle_flags_default()
    try:
        stackless.pickle_with_tracing_state = True
        assert stackless.pickle_with_tracing_state is True
        assert stackless.pickle_flags() & 1
        assert stackless.pickle_flags_default() & 1
        stackless.pickle_with_tracing_state = False
        assert stackless.pickle_with_tracing_state is False
        assert not stackless.pickle_flags() & 1
        assert not stackless.pickle_flags_default() & 1
    finally:
        stackless.pickle_flags(old_flags)
        stackless.pickle_flags_default(old_default)


def test_debug_and_uncollectables():
    assert isinstance(stackless.getdebug(), bool)
    assert stackless.debug == stackless.getdebug()
    assert isinstance(stackless.getuncollectables(), list)
    assert isinstance(stackless.uncollectables, list)
    for name in ("debug", "uncollectables"):
        with pytest.raises(AttributeError):
            setattr(stackless, name, None)


def test_atomic_does_not_prevent_voluntary_switches():
    log = []
    c = stackless.channel()

    def a():
        with stackless.atomic():
            log.append("a1")
            stackless.schedule()  # voluntary: still switches
            log.append("a2")
            log.append(("a got", c.receive()))
            log.append(("a atomic", stackless.current.atomic))

    def b():
        log.append(("b atomic", stackless.current.atomic))
        c.send("x")

    stackless.tasklet(a)()
    stackless.tasklet(b)()
    stackless.run()
    assert log == ["a1", ("b atomic", False), "a2", ("a got", "x"), ("a atomic", True)]


def test_type_names_and_class_pickling():
    import pickle
    for name in ("tasklet", "channel", "bomb", "atomic"):
        cls = getattr(stackless, name)
        assert cls.__name__ == name
        assert pickle.loads(pickle.dumps(cls)) is cls
    assert pickle.loads(pickle.dumps(TaskletExit)) is TaskletExit  # noqa: F821
