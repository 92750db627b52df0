"""Regression tests for crash bugs found by the C code review of stackless._stackless.

Each case that crashed the interpreter before its fix runs in a child interpreter
(``run_python``), so a regression fails the test instead of killing the run.
"""
import sys

import pytest

import stackless

RECURSIVE = "Recursive scheduler call due to callbacks!"


# -- switching inside a schedule / channel callback ---------------------------------------
# The callbacks run with the scheduler in the middle of a switch (Stackless sets
# `schedlock`); a switch from inside one corrupted the run queue (segfault).  Stackless
# refuses it; so must we: RuntimeError inside the callback, the scheduler unharmed.

_SCHED_CB_PRELUDE = r"""
import stackless
errors = []
def body(prev, nxt):
    pass
def cb(prev, nxt):
    try:
        body(prev, nxt)
    except RuntimeError as e:
        errors.append(str(e))
stackless.set_schedule_callback(cb)
"""


def _check_child(r, expect_errors=True):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "done", r.stdout
    if expect_errors:
        assert lines[-2] == repr({RECURSIVE}), r.stdout


def test_schedule_inside_schedule_callback_is_refused(run_python):
    r = run_python(_SCHED_CB_PRELUDE + r"""
def body(prev, nxt):
    stackless.schedule()
def f():
    for i in range(3):
        stackless.schedule()
stackless.tasklet(f)()
stackless.tasklet(f)()
stackless.run()
stackless.set_schedule_callback(None)
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    _check_child(r)


def test_kill_inside_schedule_callback_is_refused(run_python):
    r = run_python(_SCHED_CB_PRELUDE + r"""
victims = []
def body(prev, nxt):
    if victims:
        victims[0].kill()
log = []
def f(name):
    stackless.schedule()
    log.append(name)
a = stackless.tasklet(f)("a")
b = stackless.tasklet(f)("b")
victims.append(b)
stackless.run()
stackless.set_schedule_callback(None)
assert sorted(log) == ["a", "b"], log
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    _check_child(r)


def test_run_and_switch_inside_schedule_callback_are_refused(run_python):
    r = run_python(_SCHED_CB_PRELUDE + r"""
other = stackless.tasklet(lambda: None)()
def body(prev, nxt):
    if other.alive:
        other.run()
def g():
    pass
stackless.tasklet(g)()
stackless.run()
stackless.set_schedule_callback(None)
other.kill()
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    _check_child(r)


def test_schedule_remove_inside_schedule_callback_is_refused(run_python):
    r = run_python(_SCHED_CB_PRELUDE + r"""
def body(prev, nxt):
    stackless.schedule_remove()
stackless.tasklet(lambda: None)()
stackless.run()
stackless.set_schedule_callback(None)
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    _check_child(r)


def test_schedule_inside_channel_callback_is_refused(run_python):
    # the value sent must arrive intact and no other tasklet may run inside the callback
    r = run_python(r"""
import stackless
errors = []
def ccb(ch, t, sending, willblock):
    try:
        stackless.schedule()
    except RuntimeError as e:
        errors.append(str(e))
stackless.set_channel_callback(ccb)
ch = stackless.channel()
got = []
def r():
    got.append(ch.receive())
def s():
    ch.send(42)
stackless.tasklet(r)()
stackless.tasklet(s)()
stackless.tasklet(lambda: None)()
stackless.run()
stackless.set_channel_callback(None)
assert got == [42], got
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    _check_child(r)


# -- run(timeout) with a huge timeout ------------------------------------------------------
# tick_counter + timeout overflowed a C long (undefined behaviour; in practice the
# watermark wrapped negative and the first tasklet was interrupted at once).

@pytest.mark.parametrize("timeout", [sys.maxsize, sys.maxsize - 1000, 2**62 + 12345])
def test_run_with_huge_timeout_does_not_interrupt(timeout):
    done = []

    def f(n):
        for i in range(50):
            pass
        done.append(n)

    # advance the thread's tick counter first, so that counter + timeout overflows
    stackless.tasklet(f)(0)
    assert stackless.run(timeout=100000) is None
    stackless.tasklet(f)(1)
    stackless.tasklet(f)(2)
    assert stackless.run(timeout=timeout) is None
    assert done == [0, 1, 2]
    assert stackless.getruncount() == 1


def test_insert_from_another_thread_while_schedule_callback_releases_gil(run_python):
    # The schedule callback of a tasklet that removed itself sleeps (GIL released);
    # another thread makes a tasklet of this thread runnable meanwhile.  The queue head
    # was the detached tasklet: the insert dereferenced its NULL links (segfault).
    r = run_python(r"""
import stackless, threading, time
ready = threading.Event()
ran = []
target = stackless.tasklet(lambda: ran.append("target"))
target.bind(target.tempval, ())        # bound with its arguments: alive and paused
slow = []
def cb(prev, nxt):
    if prev is not None and prev in slow:
        ready.set()
        time.sleep(0.2)
def other():
    ready.wait(10)
    target.insert()
th = threading.Thread(target=other)
th.start()
def f():
    slow.append(stackless.getcurrent())
    stackless.schedule_remove()
    ran.append("f")
t = stackless.tasklet(f)()
stackless.set_schedule_callback(cb)
stackless.run()
th.join()
stackless.set_schedule_callback(None)
stackless.run()
del slow[:]
t.insert()
stackless.run()
assert ran == ["target", "f"], ran
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print("done")
""")
    _check_child(r, expect_errors=False)


def test_remove_inside_schedule_callback_is_refused(run_python):
    # removing the tasklet about to run left a detached tasklet as the running one
    # (refused either as a recursive scheduler call or as removing the current tasklet)
    r = run_python(_SCHED_CB_PRELUDE + r"""
def body(prev, nxt):
    if nxt is not None and not nxt.is_main:
        nxt.remove()
def f():
    stackless.schedule()
stackless.tasklet(f)()
stackless.tasklet(f)()
stackless.run()
stackless.set_schedule_callback(None)
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(bool(errors) and set(errors) <= {"The current tasklet cannot be removed.", %r})
print("done")
""" % RECURSIVE)
    _check_child(r, expect_errors=False)
    assert r.stdout.strip().splitlines()[-2] == "True", r.stdout


def test_channel_operation_inside_schedule_callback_is_refused(run_python):
    # without a channel callback installed: the receive used the tempval of a tasklet
    # that was not running (its received value was lost) or blocked a detached tasklet
    r = run_python(r"""
import stackless
ch = stackless.channel()
errors = []
got = []
def cb(prev, nxt):
    try:
        if ch.balance > 0:
            got.append(("cb", ch.receive()))
        else:
            ch.send("from-callback")
    except RuntimeError as e:
        errors.append(str(e))
stackless.set_schedule_callback(cb)
def s():
    ch.send(1)
def r():
    got.append(ch.receive())
stackless.tasklet(s)()
stackless.tasklet(r)()
stackless.run()
stackless.set_schedule_callback(None)
assert got == [1], got
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print(set(errors))
print("done")
""")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.strip().splitlines()
    assert lines[-1] == "done"
    assert lines[-2] == repr({"Recursive channel call due to callbacks!"}), r.stdout


# -- tracing ---------------------------------------------------------------------------------

def test_first_trace_function_set_inside_a_timed_run(run_python):
    # The C trampolines behind sys.settrace/setprofile are learnt on first use by calling
    # sys.settrace, which stackless wraps to re-install the tick counter during a timed run:
    # the "trampoline" learnt was then the tick counter itself, chaining to itself (endless
    # recursion, segfault) once a tasklet's trace function was installed.
    r = run_python(r"""
import stackless
calls = []
def tf(frame, event, arg):
    calls.append((event, frame.f_code.co_name))
    return None
def g():
    return 1
def work():
    stackless.getcurrent().trace_function = tf
    g()
    stackless.schedule()
    g()
    stackless.getcurrent().trace_function = None
def other():
    for i in range(5):
        stackless.schedule()
stackless.tasklet(work)()
stackless.tasklet(other)()
while stackless.getruncount() > 1:
    stackless.run(timeout=100000)
print(calls.count(("call", "g")))
print("done")
""")
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.split() == ["2", "done"], r.stdout


def test_tasklet_created_in_schedule_callback_after_a_block(run_python):
    # prev has just blocked on a channel: as the queue head during the callback, a tasklet
    # created there was linked into the channel's list of blocked tasklets (heap overflow,
    # segfault a few switches later)
    r = run_python(r"""
import stackless
ch = stackless.channel()
made = []
def cb(prev, nxt):
    if prev is not None and prev.blocked:
        made.append(stackless.tasklet(lambda: None)())
def recv():
    ch.receive()
def send():
    ch.send(1)
stackless.set_schedule_callback(cb)
for i in range(3):
    stackless.tasklet(recv)()
stackless.run()
assert ch.balance == -3, ch.balance
for i in range(3):
    stackless.tasklet(send)()
stackless.run()
stackless.set_schedule_callback(None)
assert ch.balance == 0 and made and not any(t.alive for t in made)
assert stackless.getruncount() == 1 and stackless.current is stackless.main
print("done")
""")
    _check_child(r, expect_errors=False)
