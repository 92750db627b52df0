"""run(timeout) pre-emption on every supported CPython (3.11: a chained C trace
function; 3.12+: a sys.monitoring tool of our own, see src/stackless/preempt.c).

The cases that matter on 3.12+ are tasklets that were already running when
the timed run began (their frames sit in another greenlet, outside the frame
chain that CPython re-instruments) and loops that make no calls.  Every case
runs in a child interpreter with a time limit: a tasklet that is never
pre-empted hangs the child, and the test fails instead of hanging.
"""
import sys

import pytest

IS_SLP = "Stackless" in sys.version
MONITORING = sys.version_info >= (3, 12) and not IS_SLP
needs_monitoring = pytest.mark.skipif(not MONITORING, reason="sys.monitoring is CPython 3.12+")
not_slp = pytest.mark.skipif(IS_SLP, reason="the mechanism of this implementation")

LIMIT = 30   # seconds; a healthy child needs well under one

# 3.12+: our events stay on for 1,000 instructions after the last timed run
# (so that run(timeout) in a loop does not re-instrument everything each
# time); a child runs BURN to get past that
BURN = """
def burn():
    for i in range(20000):
        pass
"""


def _check(r, expected):
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected


@pytest.mark.parametrize("loop", ["while True:\n            pass",
                                  "while True:\n            x = 1",
                                  "for i in iter(int, 1):\n            pass"])
def test_preempts_loop_in_frame_suspended_before_the_run(run_python, loop):
    # the tasklet is suspended inside the very function that then loops with
    # no call at all: no function entry ever re-instruments its code
    r = run_python(r"""
import stackless
go = [False]
def f():
    while not go[0]:
        stackless.schedule()
    %s
t = stackless.tasklet(f)()
t.run()                    # now suspended in schedule() inside f
go[0] = True
res = stackless.run(1000)
print(res is t, t.alive, t.paused)
t.kill()
print(stackless.getruncount())
""" % loop.replace("\n        ", "\n    "), timeout=LIMIT)
    _check(r, ["True True True", "1"])


def test_preempts_deep_chain_suspended_before_the_run(run_python):
    # the loop is in a caller frame further down the suspended chain
    r = run_python(r"""
import stackless
go = [False]
def wait():
    while not go[0]:
        stackless.schedule()
def f():
    wait()                 # returns into f's loop: no RESUME either
    n = 0
    while True:
        n += 1
t = stackless.tasklet(f)()
t.run()
go[0] = True
res = stackless.run(1000)
print(res is t, res.frame.f_code.co_name)
t.kill()
""", timeout=LIMIT)
    _check(r, ["True f"])


@pytest.mark.parametrize("between", ["pass", "burn()"])
def test_preempts_again_in_a_second_timed_run(run_python, between):
    # the pump loop of scheduler.rst: every run() is a new timed run; the
    # interrupted tasklet resumes inside its loop in each of them.  With
    # burn() our events go off between the runs (3.12+) and come back on
    r = run_python(r"""
import stackless
BURN_HERE
state = {"n": 0}
go = [False]
def f():
    while not go[0]:
        stackless.schedule()
    while True:
        state["n"] += 1
t = stackless.tasklet(f)()
t.run()
go[0] = True
seen = []
for i in range(5):
    res = stackless.run(500)
    seen.append(res is t)
    t.insert()
    BETWEEN
print(seen, state["n"] > 0)
t.kill()
""".replace("BURN_HERE", BURN).replace("BETWEEN", between), timeout=LIMIT)
    _check(r, ["[True, True, True, True, True] True"])


def test_timed_run_in_two_threads(run_python):
    # the tick counter is per thread; the sys.monitoring events are shared
    # and stay set until the last timed run of the process has ended
    r = run_python(r"""
import sys, threading, stackless
out = {}
def busy():
    while True:
        pass
def body(name):
    t = stackless.tasklet(busy)()
    res = stackless.run(2000)
    out[name] = res is t
    t.kill()
%s
ths = [threading.Thread(target=body, args=(n,)) for n in ("a", "b")]
for th in ths: th.start()
body("main")
for th in ths: th.join()
print(sorted(out.items()))
burn()
if sys.version_info >= (3, 12):
    print([sys.monitoring.get_events(i) for i in range(6)])
else:
    print([0] * 6)
""" % BURN, timeout=LIMIT)
    _check(r, ["[('a', True), ('b', True), ('main', True)]", "[0, 0, 0, 0, 0, 0]"])


@not_slp
def test_nothing_installed_without_a_timed_run(run_python):
    r = run_python(r"""
import sys, stackless
def mon_state():
    if sys.version_info < (3, 12):
        return None
    return ([sys.monitoring.get_tool(i) for i in range(6)],
            [sys.monitoring.get_events(i) for i in range(6)])
before = (sys.gettrace(), sys.getprofile(), mon_state())
def f():
    for i in range(100):
        stackless.schedule()
for i in range(3):
    stackless.tasklet(f)()
stackless.run()
print(before == (None, None, mon_state()), before[2] is None or before[2][0] == [None] * 6)
""", timeout=LIMIT)
    _check(r, ["True True"])


@needs_monitoring
def test_monitoring_tool_claimed_by_the_first_timed_run_with_no_events_after(run_python):
    r = run_python(r"""
import sys, stackless
seen = []
def f():
    seen.append((sys.monitoring.get_tool(4), sys.monitoring.get_events(4)))
stackless.tasklet(f)()
print(stackless.run(100000))
print(seen[0][0], seen[0][1] == sys.monitoring.events.INSTRUCTION)
lingering = sys.monitoring.get_events(4)
%s
burn()
print(sys.monitoring.get_tool(4), sys.monitoring.get_events(4), sys.gettrace(),
      lingering == sys.monitoring.events.INSTRUCTION)
""" % BURN, timeout=LIMIT)
    _check(r, ["None", "stackless True", "stackless 0 None True"])


@needs_monitoring
def test_takes_the_next_free_tool_id(run_python):
    r = run_python(r"""
import sys, stackless
sys.monitoring.use_tool_id(4, "someone")
def busy():
    while True:
        pass
t = stackless.tasklet(busy)()
print(stackless.run(1000) is t, sys.monitoring.get_tool(3), sys.monitoring.get_tool(4))
t.kill()
""", timeout=LIMIT)
    _check(r, ["True stackless someone"])


@needs_monitoring
def test_no_free_tool_id_is_a_clear_error(run_python):
    r = run_python(r"""
import sys, stackless
for i in (3, 4, 5):
    sys.monitoring.use_tool_id(i, "someone")
out = []
stackless.tasklet(out.append)(1)
try:
    stackless.run(1000)
except RuntimeError as e:
    print(type(e).__name__, e)
print(stackless.getruncount(), stackless.get_thread_info(-1, 1 << 31)[3])
sys.monitoring.free_tool_id(4)
print(stackless.run(1000), out)     # works again once an id is free
""", timeout=LIMIT)
    _check(r, ["RuntimeError run(timeout) needs a free sys.monitoring tool id "
               "(4, 3 and 5 are all in use)",
               "2 [None]",
               "None [1]"])


@needs_monitoring
def test_user_monitoring_tool_works_alongside(run_python):
    # a debugger/coverage tool of the user's gets its events during a timed
    # run, and pre-emption still works; both stay independent afterwards
    r = run_python(r"""
import sys, stackless
M = sys.monitoring
M.use_tool_id(M.DEBUGGER_ID, "user")
lines = []
def on_line(code, line):
    if code.co_name == "busy":
        lines.append(line)
M.register_callback(M.DEBUGGER_ID, M.events.LINE, on_line)
M.set_events(M.DEBUGGER_ID, M.events.LINE)
def busy():
    n = 0
    while True:
        n += 1
t = stackless.tasklet(busy)()
res = stackless.run(3000)
print(res is t, len(lines) > 10, M.get_events(M.DEBUGGER_ID) == M.events.LINE)
t.kill()
M.set_events(M.DEBUGGER_ID, 0)
M.free_tool_id(M.DEBUGGER_ID)
""", timeout=LIMIT)
    _check(r, ["True True True"])


def test_user_settrace_works_alongside(run_python):
    # the user's sys.settrace function sees its events in a pre-empted
    # tasklet, including after the tasklet is resumed in a later timed run
    r = run_python(r"""
import sys, stackless
events = []
def tracer(frame, event, arg):
    if frame.f_code.co_name == "work":
        events.append(event)
    return tracer
def work(n):
    total = 0
    for i in range(n):
        total += i
    return total
def busy():
    sys.settrace(tracer)
    while True:
        work(50)
t = stackless.tasklet(busy)()
r1 = stackless.run(2000)
n1 = len(events)
t.insert()
r2 = stackless.run(2000)
print(r1 is t, r2 is t, n1 > 0, len(events) > n1, "call" in events, "return" in events)
t.kill()
sys.settrace(None)
""", timeout=LIMIT)
    _check(r, ["True True True True True True"])


@needs_monitoring
def test_code_left_suspended_is_uninstrumented_after_the_run(run_python):
    # a loop that stays suspended across the end of a timed run runs
    # uninstrumented code again once it resumes (no leftover cost)
    r = run_python(r"""
import dis, sys, stackless
INSTR = dis.opmap["INSTRUMENTED_INSTRUCTION"]
def instrumented(code):
    b = code._co_code_adaptive
    return any(b[i] == INSTR for i in range(0, len(b), 2))
state = {"n": 0, "stop": False}
def loop():
    while not state["stop"]:
        state["n"] += 1
        if state["n"] % 1000 == 0:
            stackless.schedule()
t = stackless.tasklet(loop)()
res = stackless.run(500)            # pre-empted inside loop()
during = instrumented(loop.__code__)
BURN_HERE
burn()                               # our events go off
t.insert()
def stopper():
    state["stop"] = True
stackless.tasklet(stopper)()
n = state["n"]
stackless.schedule()                 # loop resumes with no timed run
print(res is t, during, state["n"] > n, instrumented(loop.__code__))
stackless.run()
""".replace("BURN_HERE", BURN), timeout=LIMIT)
    _check(r, ["True True True False"])


@needs_monitoring
def test_settrace_is_not_wrapped_on_312_and_later():
    import stackless  # noqa: F401
    assert not hasattr(sys.settrace, "__wrapped__")


@pytest.mark.skipif(sys.version_info >= (3, 12) or IS_SLP, reason="the 3.11 mechanism")
def test_settrace_is_wrapped_on_311():
    import stackless  # noqa: F401
    assert sys.settrace.__wrapped__ is not None


@not_slp
def test_import_refused_when_the_gil_is_forced_off(run_python):
    # what a free-threaded build (3.13t/3.14t) run with PYTHON_GIL=0 reports;
    # simulated here through the sys._is_gil_enabled() the module asks
    r = run_python(r"""
import sys
sys._is_gil_enabled = lambda: False
try:
    import stackless
except ImportError as e:
    print("ImportError", e)
""", timeout=LIMIT)
    _check(r, ["ImportError stackless needs the GIL, and this free-threaded interpreter "
               "runs with it disabled (PYTHON_GIL=0 or -X gil=0): run without forcing it off"])


@needs_monitoring
@pytest.mark.parametrize("how", ["free", "take"])
def test_tool_id_taken_away_between_timed_runs(run_python, how):
    # someone frees our id (3.14's free_tool_id also clears its events), or
    # frees it and takes it: the next timed run claims an id again
    r = run_python(r"""
import sys, stackless
M = sys.monitoring
how = %r
def busy():
    while True:
        pass
t = stackless.tasklet(busy)()
first = stackless.run(1000) is t
M.set_events(4, 0)
M.register_callback(4, M.events.INSTRUCTION, None)
M.free_tool_id(4)
if how == "take":
    M.use_tool_id(4, "someone")
t.insert()
print(first, stackless.run(1000) is t, M.get_tool(4), M.get_tool(3))
t.kill()
""" % how, timeout=LIMIT)
    _check(r, ["True True %s" % ("stackless None" if how == "free" else "someone stackless")])


def test_profile_function_of_a_tasklet_sees_it_return_after_a_switch(run_python):
    # 3.12+: installing the function at the switch instruments the frames of
    # the tasklet being left; the resumed tasklet's frames must be too
    r = run_python(r"""
import stackless
events = []
def prof(frame, event, arg):
    if frame.f_code.co_name == "traced":
        events.append(event)
def traced():
    x = 1
    stackless.schedule()
    return x
t = stackless.tasklet(traced)()
t.profile_function = prof
stackless.tasklet(lambda: None)()
stackless.run()
print(events)
""", timeout=LIMIT)
    _check(r, ["['call', 'c_call', 'c_return', 'return']"])
