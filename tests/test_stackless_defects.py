"""Regression-style cases: object finalizers running inside tasklets, the last
reference to a tasklet being dropped while it switches, schedule_remove at the
edges of deadlock detection, and similar situations that crashed Stackless
versions in the past (Stackless/unittests/test_defects.py lists the history;
these are our own tests of the same situations).
"""
import gc
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


class ObjWithDel(object):
    deleted = []

    def __del__(self):
        ObjWithDel.deleted.append(stackless.current)


def test_tasklet_return_value_with_del_is_released():
    ObjWithDel.deleted[:] = []

    def f():
        return ObjWithDel()

    t = stackless.tasklet(f)()
    stackless.run()
    gc.collect()
    assert len(ObjWithDel.deleted) == 1
    assert not t.alive


def test_tasklet_subclass_with_del():
    dels = []

    class TaskletWithDel(stackless.tasklet):
        def __del__(self):
            dels.append(1)

    TaskletWithDel(lambda: None)()
    stackless.run()
    gc.collect()
    assert dels == [1]


def test_gc_collect_inside_tasklet_del_does_not_crash():
    class TaskletWithDelAndCollect(stackless.tasklet):
        def __del__(self):
            gc.collect()

    def blocking():
        c = stackless.channel()
        c.receive()

    stackless.tasklet(blocking)()
    stackless.run()
    gc.collect()
    TaskletWithDelAndCollect(lambda: None)()
    stackless.run()
    gc.collect()
    assert stackless.getruncount() == 1


def test_schedule_remove_only_tasklet_under_watchdog_revives_main():
    log = []

    def func():
        stackless.schedule_remove()
        log.append("should not run")

    t = stackless.tasklet(func)()
    stackless.run()
    assert log == []
    assert t.alive and t.paused
    t.kill()
    assert log == [] and not t.alive


def test_schedule_remove_only_tasklet_with_main_blocked_raises(run_python):
    r = run_python(r"""
import stackless
chan = stackless.channel()
out = []
def func():
    try:
        stackless.schedule_remove()
    except RuntimeError as e:
        out.append(str(e))
    chan.send(None)
stackless.tasklet(func)()
chan.receive()
print(out)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['Deadlock: the last runnable tasklet cannot be blocked.']"


def test_schedule_remove_last_reference_to_tasklet():
    def func():
        stackless.schedule_remove(None)

    stackless.tasklet(func)()
    stackless.run()
    gc.collect()
    assert stackless.getruncount() == 1


def test_schedule_remove_last_reference_from_main():
    def func():
        stackless.schedule_remove(None)

    stackless.tasklet(func)()
    assert stackless.schedule_remove(None) is None
    gc.collect()
    assert stackless.getruncount() == 1
    assert stackless.current is stackless.main


def test_temporary_channel_receive():
    def f1():
        c = stackless.channel()
        c.receive()

    def f2():
        pass

    t1 = stackless.tasklet(f1)()
    stackless.tasklet(f2)()
    stackless.run()
    assert stackless.current is stackless.main
    t1.kill()


def test_infinite_recursion_in_call_raises():
    class A(object):
        def __call__(self):
            pass

    A.__call__ = A()
    errors = []

    def f():
        try:
            A()()
        except RecursionError:
            errors.append("recursion")

    stackless.tasklet(f)()
    stackless.run()
    assert errors == ["recursion"]


def test_schedule_callback_raising_for_main_is_reported(run_python):
    r = run_python(r"""
import stackless
def cb(prev, next):
    if next is not None and next.is_main:
        raise RuntimeError("scheduleCallback")
stackless.set_schedule_callback(cb)
stackless.tasklet(lambda: None)()
stackless.run()
stackless.set_schedule_callback(None)
print("ok")
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
    assert "scheduleCallback" in r.stderr


def test_channel_next_rejects_arguments():
    with pytest.raises(TypeError):
        stackless.channel().__next__(None)


def test_taskletexit_code_attribute():
    assert TaskletExit().code is None  # noqa: F821
    assert TaskletExit(3).code == 3  # noqa: F821


def test_tasklet_of_thread_that_ran_main_from_tasklet(run_python):
    # a thread whose main tasklet is switched around by another tasklet ends
    # cleanly
    r = run_python(r"""
import threading, stackless
res = []
def other():
    t2 = stackless.tasklet(stackless.main.run)()
    t2.run()
    res.append((t2.alive, stackless.current.is_main))
th = threading.Thread(target=other)
th.start(); th.join(20)
print(th.is_alive(), res)
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False [(True, True)]"


def test_many_tasklets_created_and_finished():
    n = 20000
    out = []
    for i in range(n):
        stackless.tasklet(out.append)(i)
    assert stackless.getruncount() == n + 1
    stackless.run()
    assert len(out) == n and out[-1] == n - 1


DEEP_CHAIN = r"""
import stackless, sys
depth = 20000
seen = []
def step(i):
    seen.append(i)
    if i < depth:
        t = stackless.tasklet(step)(i + 1)
        %s
stackless.tasklet(step)(0)
stackless.run()
print(len(seen))
"""


@pytest.mark.parametrize("how", ["stackless.schedule()", "t.run()", "t.switch()"])
def test_deep_chain_of_tasklets_started_from_tasklets(run_python, how):
    # each tasklet starts the next one from inside its own body: a runtime that
    # starts new C stacks where it is called would nest 20000 C stacks and crash
    r = run_python(DEEP_CHAIN % how, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "20001"
