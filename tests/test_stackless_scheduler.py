"""The scheduler: run() (nested, with timeout, soft, totaltimeout), exceptions leaving
run(), the error handler, deadlock detection and the schedule callback.

Contract: Stackless 3.8 Doc/library/stackless/scheduler.rst, stackless.rst (run,
set_schedule_callback, set_error_handler) and Stackless/module/stacklessmodule.c
(PyStackless_RunWatchdogEx, push/pop_watchdog), scheduling.c (schedule_task_block,
slp_tasklet_end, slp_call_schedule_fasthook).

Cases that hang or crash when the implementation is wrong (deadlock, pre-emption)
run in a child interpreter with a time limit.
"""
import os
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version
SLP_HARD = IS_SLP and os.environ.get("EVEMU_SLP_HARD") == "1"
# Stackless pre-empts only tasklets without C state (nesting_level 0) unless
# ignore_nesting is given; with soft switching off every tasklet has C state.
needs_soft_preemption = pytest.mark.skipif(
    SLP_HARD, reason="Stackless does not pre-empt tasklets with C state (EVEMU_SLP_HARD=1)")


class Boom(Exception):
    pass


# ----------------------------------------------------------- cooperative run

def test_run_runs_until_queue_empty():
    log = []

    def f(n, name):
        for i in range(n):
            log.append((name, i))
            stackless.schedule()

    stackless.tasklet(f)(3, "a")
    stackless.tasklet(f)(2, "b")
    assert stackless.run() is None
    assert log == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2)]
    assert stackless.getruncount() == 1


def test_run_returns_when_remaining_tasklets_are_blocked():
    c = stackless.channel()
    t = stackless.tasklet(c.receive)()
    assert stackless.run() is None  # no deadlock error: main is revived
    assert t.blocked
    assert stackless.current is stackless.main
    t.kill()


def test_main_is_paused_during_run():
    seen = []
    stackless.tasklet(lambda: seen.append((stackless.main.paused, stackless.main.scheduled,
                                           stackless.getruncount())))()
    stackless.run()
    assert seen == [(True, False, 1)]
    assert stackless.main.scheduled


def test_exception_in_tasklet_propagates_out_of_run():
    log = []

    def looper():
        for i in range(3):
            log.append(i)
            stackless.schedule()

    def bad():
        raise Boom("catch this")

    lt = stackless.tasklet(looper)()
    bt = stackless.tasklet(bad)()
    with pytest.raises(Boom, match="catch this"):
        stackless.run()
    assert not bt.alive
    assert lt.alive and lt.scheduled  # the other tasklet is untouched
    stackless.run()
    assert log == [0, 1, 2]


def test_exception_in_tasklet_propagates_to_main_blocked_in_channel():
    # the error of a dying tasklet wakes the main tasklet wherever it waits
    c = stackless.channel()

    def bad():
        raise Boom("x")

    stackless.tasklet(bad)()
    with pytest.raises(Boom):
        c.receive()
    assert c.balance == 0
    assert stackless.main.scheduled and not stackless.main.blocked


def test_exception_in_tasklet_propagates_into_schedule_of_main():
    stackless.tasklet(lambda: 1 / 0)()
    with pytest.raises(ZeroDivisionError):
        stackless.schedule()


def test_nested_run_returns_when_queue_empties():
    log = []

    def a():
        log.append("a1")
        stackless.run()
        log.append("a2")

    def b():
        log.append("b")

    stackless.tasklet(a)()
    stackless.tasklet(b)()
    stackless.run()
    assert log == ["a1", "b", "a2"]


def test_nested_run_watchdog_stack():
    depth = []

    def inner():
        info = stackless.get_thread_info(-1, 1 << 31)
        depth.append(len(info[3]) - 1)

    def outer():
        stackless.tasklet(inner)()
        stackless.run()

    stackless.tasklet(outer)()
    stackless.run()
    assert depth == [2]  # main and outer are both watchdogs
    info = stackless.get_thread_info(-1, 1 << 31)
    assert info[3] in (None, [None])


def test_nested_run_exception_goes_to_innermost_watchdog():
    def inner():
        raise Boom("deep")

    caught = []

    def outer():
        stackless.tasklet(inner)()
        try:
            stackless.run()
        except Boom:
            caught.append("outer")
            raise

    stackless.tasklet(outer)()
    with pytest.raises(Boom):
        stackless.run()
    # the error wakes the innermost watchdog (outer's run()); outer re-raises
    # it and then it reaches the main tasklet
    assert caught == ["outer"]


def test_run_from_tasklet_with_timeout_argument_parsed():
    res = []

    def f():
        res.append(stackless.run(0))

    stackless.tasklet(f)()
    stackless.run()
    assert res == [None]


# -------------------------------------------------------------- error handler

def test_error_handler_called_in_dying_tasklet():
    calls = []

    def handler(typ, val, tb):
        calls.append((typ, val.args, tb is not None, stackless.current))

    def bad():
        raise Boom("handled")

    t = stackless.tasklet(bad)()
    stackless.set_error_handler(handler)
    try:
        stackless.run()  # no exception leaves run()
    finally:
        stackless.set_error_handler(None)
    assert calls == [(Boom, ("handled",), True, t)]
    assert not t.alive


def test_error_handler_not_called_for_taskletexit():
    calls = []
    stackless.set_error_handler(lambda *a: calls.append(a))
    try:
        t = stackless.tasklet(stackless.schedule_remove)()
        stackless.run()
        t.kill()
    finally:
        stackless.set_error_handler(None)
    assert calls == []


def test_error_handler_raising_propagates_its_error():
    def handler(typ, val, tb):
        raise KeyError("from handler")

    stackless.tasklet(lambda: 1 / 0)()
    stackless.set_error_handler(handler)
    try:
        with pytest.raises(KeyError):
            stackless.run()
    finally:
        stackless.set_error_handler(None)


def test_error_handler_others_keep_running():
    log = []
    stackless.set_error_handler(lambda *a: log.append("handled"))
    try:
        stackless.tasklet(lambda: 1 / 0)()
        stackless.tasklet(log.append)("next")
        stackless.run()
    finally:
        stackless.set_error_handler(None)
    assert log == ["handled", "next"]


# -------------------------------------------------------- schedule callback

def test_schedule_callback_sees_every_switch():
    calls = []

    def cb(prev, next):
        calls.append((prev, next))

    def f():
        stackless.schedule()

    t = stackless.tasklet(f)()
    m = stackless.main
    stackless.set_schedule_callback(cb)
    try:
        stackless.run()
    finally:
        stackless.set_schedule_callback(None)
    # main -> t (run), t -> t?  no: schedule() with only t runnable does not
    # switch; t -> main when t ends
    assert calls[0] == (m, t)
    assert calls[-1][0] is t
    assert calls[-1][1] in (m, None)
    assert all(p is not n for p, n in calls)


def test_schedule_callback_two_tasklets_alternate():
    calls = []
    a = stackless.tasklet(stackless.schedule)()
    b = stackless.tasklet(stackless.schedule)()
    m = stackless.main
    stackless.set_schedule_callback(lambda p, n: calls.append((p, n)))
    try:
        stackless.run()
    finally:
        stackless.set_schedule_callback(None)
    assert calls[:3] == [(m, a), (a, b), (b, a)]
    assert calls[-1][0] is b


def test_schedule_callback_not_called_without_switch():
    calls = []
    stackless.set_schedule_callback(lambda p, n: calls.append((p, n)))
    try:
        stackless.schedule()  # nothing else to run: no switch
        stackless.run()
    finally:
        stackless.set_schedule_callback(None)
    assert calls == []


def test_schedule_callback_exception_is_printed_not_propagated(capfd):
    # Stackless reports it with PyErr_WriteUnraisable: printed on stderr, or
    # (Python >= 3.8) handed to sys.unraisablehook, which prints by default
    ran = []
    unraisable = []

    def cb(prev, next):
        raise Boom("in callback")

    old_hook = getattr(sys, "unraisablehook", None)
    if old_hook is not None:
        sys.unraisablehook = unraisable.append
    stackless.tasklet(ran.append)(1)
    stackless.set_schedule_callback(cb)
    try:
        stackless.run()  # must not raise
    finally:
        stackless.set_schedule_callback(None)
        if old_hook is not None:
            sys.unraisablehook = old_hook
    assert ran == [1]
    if old_hook is not None:
        assert unraisable, "the callback error was not reported"
        assert all(isinstance(u.exc_value, Boom) for u in unraisable)
        assert str(unraisable[0].exc_value) == "in callback"
    else:
        err = capfd.readouterr().err
        assert "Boom" in err and "in callback" in err


def test_schedule_callback_exception_printed_in_child(run_python):
    r = run_python(r"""
import stackless
def cb(prev, next):
    raise KeyError("from the callback")
stackless.set_schedule_callback(cb)
stackless.tasklet(lambda: None)()
stackless.run()
stackless.set_schedule_callback(None)
print("survived")
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "survived"
    assert "KeyError" in r.stderr and "from the callback" in r.stderr


def test_schedule_callback_replaced_old_not_called():
    c1, c2 = [], []
    stackless.set_schedule_callback(lambda p, n: c1.append(1))
    stackless.set_schedule_callback(lambda p, n: c2.append(1))
    try:
        stackless.tasklet(lambda: None)()
        stackless.run()
    finally:
        stackless.set_schedule_callback(None)
    assert c1 == [] and len(c2) >= 2


def test_schedule_callback_prev_none_when_main_of_new_thread_starts(run_python):
    # "When main starts up or after death, prev is None": observable in a thread
    # whose main tasklet is created while the callback is installed
    code = r"""
import threading, stackless
calls = []
def cb(prev, next):
    calls.append((threading.get_ident(), prev, next))
stackless.set_schedule_callback(cb)
res = {}
def thread_main():
    res['tid'] = threading.get_ident()
    t = stackless.tasklet(lambda: None)()
    res['main'] = stackless.main
    res['t'] = t
    stackless.run()
th = threading.Thread(target=thread_main)
th.start(); th.join()
stackless.set_schedule_callback(None)
mine = [(p, n) for tid, p, n in calls if tid == res['tid']]
assert mine, calls
first = mine[0]
assert first[0] is None, mine
assert first[1] is res['main'], mine
assert (res['main'], res['t']) in mine, mine
print("OK")
"""
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "OK"


# ------------------------------------------------------------------ deadlock

def test_deadlock_main_receive_nothing_runnable(run_python):
    r = run_python(r"""
import stackless
c = stackless.channel()
try:
    c.receive()
except RuntimeError as e:
    print("ERR", e)
print("balance", c.balance, stackless.current is stackless.main, stackless.getruncount())
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "ERR Deadlock: the last runnable tasklet cannot be blocked.",
        "balance 0 True 1",
    ]


def test_deadlock_main_send_nothing_runnable(run_python):
    r = run_python(r"""
import stackless
c = stackless.channel()
try:
    c.send(1)
except RuntimeError as e:
    print("ERR", e)
print("balance", c.balance)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "ERR Deadlock: the last runnable tasklet cannot be blocked.",
        "balance 0",
    ]


def test_main_receiving_woken_when_last_tasklet_ends(run_python):
    r = run_python(r"""
import stackless
c = stackless.channel()
stackless.tasklet(lambda: None)()
try:
    c.receive()
except RuntimeError as e:
    print("ERR", e)
print("balance", c.balance, stackless.main.blocked)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "ERR the main tasklet is receiving without a sender available.",
        "balance 0 False",
    ]


def test_main_sending_woken_when_last_tasklet_ends(run_python):
    r = run_python(r"""
import stackless
c = stackless.channel()
stackless.tasklet(lambda: None)()
try:
    c.send(1)
except RuntimeError as e:
    print("ERR", e)
print("balance", c.balance)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "ERR the main tasklet is sending without a receiver available.",
        "balance 0",
    ]


def test_deadlock_last_tasklet_blocking_while_main_blocked(run_python):
    r = run_python(r"""
import stackless
c1 = stackless.channel()
c2 = stackless.channel()
def f():
    try:
        c2.receive()
    except RuntimeError as e:
        print("T", e)
stackless.tasklet(f)()
try:
    c1.receive()
except RuntimeError as e:
    print("MAIN", e)
print("done", c1.balance, c2.balance)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "T Deadlock: the last runnable tasklet cannot be blocked.",
        "MAIN the main tasklet is receiving without a sender available.",
        "done 0 0",
    ]


def test_deadlock_error_uncaught_in_tasklet_reaches_main(run_python):
    r = run_python(r"""
import stackless
c1 = stackless.channel()
c2 = stackless.channel()
stackless.tasklet(c2.receive)()
try:
    c1.receive()
except RuntimeError as e:
    print("MAIN", e)
print("done", c1.balance, c2.balance)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "MAIN Deadlock: the last runnable tasklet cannot be blocked.",
        "done 0 0",
    ]


def test_blocking_in_tasklet_while_main_runs_is_not_deadlock():
    c = stackless.channel()
    log = []

    def f():
        log.append("before")
        c.receive()
        log.append("after")

    t = stackless.tasklet(f)()
    stackless.run()
    assert log == ["before"]
    assert t.blocked
    c.send(None)
    stackless.run()
    assert log == ["before", "after"]


# ------------------------------------------------------- pre-emptive run()

@needs_soft_preemption
def test_run_timeout_interrupts_busy_tasklet(run_python):
    r = run_python(r"""
import stackless
state = {"n": 0}
def busy():
    while True:
        state["n"] += 1
t = stackless.tasklet(busy)()
res = stackless.run(1000)
print(res is t, t.alive, t.scheduled, t.paused, stackless.getruncount(), state["n"] > 0)
n = state["n"]
t.insert()
res2 = stackless.run(1000)
print(res2 is t, state["n"] > n)
t.kill()
print(t.alive)
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["True True False True 1 True", "True True", "False"]


def test_run_timeout_returns_none_when_all_finish(run_python):
    r = run_python(r"""
import stackless
out = []
for i in range(3):
    stackless.tasklet(out.append)(i)
print(stackless.run(1000000), out)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "None [0, 1, 2]"


@needs_soft_preemption
def test_run_timeout_does_not_interrupt_atomic(run_python):
    r = run_python(r"""
import stackless
state = {"atomic_done": False, "spins": 0}
def busy():
    with stackless.atomic():
        for i in range(300000):
            pass
        state["atomic_done"] = True
    while True:
        state["spins"] += 1
t = stackless.tasklet(busy)()
res = stackless.run(100)
print(res is t, state["atomic_done"])
t.kill()
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True True"


def test_run_timeout_cooperative_tasklets_not_interrupted(run_python):
    r = run_python(r"""
import stackless
out = []
def coop(name):
    for i in range(50):
        out.append(name)
        stackless.schedule()
stackless.tasklet(coop)("a")
stackless.tasklet(coop)("b")
print(stackless.run(100000), len(out))
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "None 100"


@needs_soft_preemption
def test_run_totaltimeout_interrupts_cooperative_tasklets(run_python):
    r = run_python(r"""
import stackless
def coop():
    while True:
        stackless.schedule()
ts = [stackless.tasklet(coop)() for i in range(3)]
res = stackless.run(1000, totaltimeout=True)
print(res in ts, res.scheduled, stackless.getruncount())
for t in ts:
    t.kill()
print([t.alive for t in ts])
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["True False 3", "[False, False, False]"]


@needs_soft_preemption
def test_run_soft_timeout_returns_none_and_leaves_tasklets_scheduled(run_python):
    r = run_python(r"""
import stackless
def coop():
    while True:
        for i in range(100):
            pass
        stackless.schedule()
ts = [stackless.tasklet(coop)() for i in range(2)]
res = stackless.run(100, soft=True, totaltimeout=True)
print(res, [t.scheduled for t in ts], stackless.getruncount())
for t in ts:
    t.kill()
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "None [True, True] 3"


@needs_soft_preemption
def test_nested_run_with_timeout_only_outermost_counts(run_python):
    r = run_python(r"""
import stackless
def busy():
    while True:
        pass
inner_res = []
def outer():
    stackless.tasklet(busy)()
    inner_res.append(stackless.run())   # cooperative inner run
o = stackless.tasklet(outer)()
res = stackless.run(1000)
print(res is not None, inner_res)
res.kill()
for t in (o,):
    if t.alive:
        t.kill()
print(stackless.getruncount())
""", timeout=60)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "True []"
    assert lines[-1] == "1"


@needs_soft_preemption
def test_timed_run_and_user_tracing_coexist(run_python):
    # a timed run() must neither show up as a trace function nor lose the
    # user's own one
    r = run_python(r"""
import sys, stackless
events = []
def tracer(frame, event, arg):
    events.append(event)
    return tracer
seen = []
def busy():
    seen.append((sys.gettrace(), stackless.current.trace_function))
    while True:
        pass
t = stackless.tasklet(busy)()
print(stackless.run(1000) is t, seen)
t.kill()
sys.settrace(tracer)
t2 = stackless.tasklet(busy)()
res = stackless.run(1000)
after = sys.gettrace()
sys.settrace(None)
print(res is t2, after is tracer, stackless.main.trace_function)
t2.kill()
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["True [(None, None)]", "True True None"]


def test_keyboardinterrupt_in_tasklet_reaches_run(run_python):
    r = run_python(r"""
import os, signal, threading, time, stackless
# Python installs its KeyboardInterrupt handler only when SIGINT is not ignored at start-up,
# and a shell's background job (nohup ... &) starts with it ignored: install it here.
signal.signal(signal.SIGINT, signal.default_int_handler)
def busy():
    while True:
        stackless.schedule()
ts = [stackless.tasklet(busy)() for i in range(3)]
threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    stackless.run()
except KeyboardInterrupt:
    print("interrupted", stackless.current is stackless.main)
for t in ts:
    t.kill()
print(stackless.getruncount())
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["interrupted True", "1"]


@needs_soft_preemption
def test_settrace_inside_timed_run(run_python):
    r = run_python(r"""
import sys, stackless
events = []
def tracer(frame, event, arg):
    if frame.f_code.co_name == "traced_function":
        events.append(event)
    return tracer
def traced_function():
    return 1
state = {}
def busy():
    sys.settrace(tracer)
    traced_function()
    state["inside"] = sys.gettrace() is tracer
    while True:
        pass
t = stackless.tasklet(busy)()
res = stackless.run(2000)
print(res is t, "call" in events, state.get("inside"), sys.gettrace())
t.kill()
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True True True None"


@needs_soft_preemption
# (a tasklet with a trace function set through tasklet.trace_function is not
# pre-empted by Stackless at all: tracing gives it C state; not tested)
@pytest.mark.parametrize("how", ["settrace_none", "setprofile"])
def test_timed_run_survives_tracing_changes(run_python, how):
    r = run_python(r"""
import sys, stackless
how = %r
def tracer(frame, event, arg):
    return tracer
def busy():
    if how == "settrace_none":
        sys.settrace(None)
    elif how == "setprofile":
        sys.setprofile(lambda *a: None)
    while True:
        pass
t = stackless.tasklet(busy)()
if how == "trace_function_attr":
    t.trace_function = tracer
res = stackless.run(2000)
print(res is t)
t.kill()
sys.setprofile(None)
""" % how, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True"


@needs_soft_preemption
@pytest.mark.parametrize("how", ["started_before", "created_inside", "woken_by_channel",
                                 "after_nested_run"])
def test_timed_run_preempts_tasklets_however_they_got_running(run_python, how):
    r = run_python(r"""
import stackless
how = %r
def busy():
    while True:
        pass
c = stackless.channel()
victim = {}
if how == "started_before":
    def f():
        stackless.schedule()
        busy()
    t = stackless.tasklet(f)()
    t.run()
    victim["t"] = t
elif how == "created_inside":
    def creator():
        victim["t"] = stackless.tasklet(busy)()
    stackless.tasklet(creator)()
elif how == "woken_by_channel":
    def waiter():
        c.receive()
        busy()
    t = stackless.tasklet(waiter)()
    t.run()
    victim["t"] = t
    def sender():
        c.send(None)
    stackless.tasklet(sender)()
else:
    def inner():
        pass
    def outer():
        stackless.tasklet(inner)()
        stackless.run()
        busy()
    victim["t"] = stackless.tasklet(outer)()
res = stackless.run(2000)
print(res is victim["t"], res.paused)
res.kill()
stackless.run()
print(stackless.getruncount())
""" % how, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["True True", "1"]


@needs_soft_preemption
def test_repeatedly_preempted_tasklets_compute_correct_results(run_python):
    # the idiom from scheduler.rst: pump the scheduler with a timeout and
    # re-insert the interrupted tasklet; deep call stacks survive interruption
    r = run_python(r"""
import stackless
results = {}
def work(name, depth):
    def rec(n):
        if n == 0:
            total = 0
            for i in range(2000):
                total += i
            return total
        return rec(n - 1) + n
    results[name] = rec(depth)
ts = [stackless.tasklet(work)("t%d" % i, 20 + i) for i in range(4)]
interrupts = 0
while True:
    t = stackless.run(500)
    if t is None:
        break
    interrupts += 1
    assert t.paused and t.alive
    t.insert()
expected = dict(("t%d" % i, sum(range(2000)) + sum(range(21 + i))) for i in range(4))
print(results == expected, interrupts > 4, stackless.getruncount())
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True True 1"


@needs_soft_preemption
def test_interrupted_tasklet_frame_shows_where_it_was(run_python):
    # scheduler.rst "Detecting uncooperative tasklets": print_stack(t.frame)
    r = run_python(r"""
import io, traceback, stackless
def uncooperative_inner():
    n = 0
    while True:
        n += 1
def uncooperative():
    uncooperative_inner()
t = stackless.tasklet(uncooperative)()
res = stackless.run(1000)
buf = io.StringIO()
traceback.print_stack(res.frame, file=buf)
text = buf.getvalue()
print(res is t, res.frame.f_code.co_name, "uncooperative_inner" in text and "uncooperative" in text)
t.kill()
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "True uncooperative_inner True"


@needs_soft_preemption
def test_timed_run_invisible_to_frames(run_python):
    r = run_python(r"""
import sys, stackless
seen = []
def f():
    fr = sys._getframe()
    seen.append((sys.gettrace(), fr.f_trace, stackless.current.trace_function))
t = stackless.tasklet(f)()
print(stackless.run(100000), seen)
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "None [(None, None, None)]"


# --- stackless.current inside the schedule callback (issue 8) -------------------
# Stackless' test_sched_cb.test2currentWithPrevAndNext: the callback runs on the
# stack of the tasklet that switches away, and stackless.current (and
# sys.exc_info()) must say so.

def test_schedule_callback_current_agrees_with_frame_stack():
    class ExMain(Exception):
        name = "call_run"

    class ExA(Exception):
        name = "task_a"

    def call_run():
        try:
            raise ExMain()
        except Exception:
            stackless.run()

    def task_a():
        try:
            raise ExA()
        except Exception:
            stackless.schedule()

    tasklet_a = stackless.tasklet(task_a)()
    tasklet_main = stackless.current
    switches = []

    def cb(prev, next):
        ex = sys.exc_info()[0]
        f = sys._getframe()
        while f is not None:
            if f.f_code in (call_run.__code__, task_a.__code__):
                name = f.f_code.co_name
                break
            f = f.f_back
        else:
            name = None
        cur = stackless.current
        cur_name = {tasklet_main: "call_run", tasklet_a: "task_a"}.get(cur, cur)
        switches.append((name, ex, cur_name, cur is prev, prev, next,
                         prev.is_current if prev is not None else None,
                         next.is_current))

    stackless.set_schedule_callback(cb)
    try:
        call_run()
    finally:
        stackless.set_schedule_callback(None)
    assert len(switches) >= 2
    for name, ex, cur_name, cur_is_prev, prev, next, prev_is_cur, next_is_cur in switches:
        if name:
            assert name == cur_name
        if ex is not None:
            assert ex.name == cur_name
        assert cur_is_prev and prev_is_cur and not next_is_cur
    # main -> a on main's stack, then a (finished) -> main
    assert switches[0][:3] == ("call_run", ExMain, "call_run")
    assert switches[0][4:6] == (tasklet_main, tasklet_a)
    assert switches[-1][4:6] == (tasklet_a, tasklet_main)


def test_schedule_callback_current_when_a_tasklet_blocks_and_schedules():
    ch = stackless.channel()
    seen = []

    def cb(prev, next):
        seen.append((stackless.current is prev, stackless.getcurrent() is prev,
                     stackless.getcurrentid() == (stackless.main.thread_id if prev is stackless.main
                                                  else stackless.getcurrentid())))

    def receiver():
        ch.receive()

    def yielder():
        stackless.schedule()

    stackless.tasklet(receiver)()
    stackless.tasklet(yielder)()
    stackless.set_schedule_callback(cb)
    try:
        stackless.run()
        ch.send(1)
    finally:
        stackless.set_schedule_callback(None)
    assert len(seen) >= 5
    assert all(a and b and c for a, b, c in seen)
    # outside the callback, current is the real head of the queue again
    assert stackless.current is stackless.main and stackless.main.is_current


def test_schedule_callback_current_in_other_thread_is_its_own():
    import threading
    out = []

    def cb(prev, next):
        out.append((threading.current_thread().name, prev, stackless.current is prev,
                    prev is None or prev.thread_id == threading.get_ident()))

    def thread_main():
        stackless.tasklet(lambda: None)()
        stackless.run()

    stackless.set_schedule_callback(cb)
    try:
        thr = threading.Thread(target=thread_main, name="cbthread")
        thr.start()
        thr.join(30)
    finally:
        stackless.set_schedule_callback(None)
    switches = [o for o in out if o[1] is not None]   # prev None: the thread's main starts
    assert len(switches) >= 2
    for name, prev, cur_is_prev, thread_ok in switches:
        assert name == "cbthread" and thread_ok and cur_is_prev
