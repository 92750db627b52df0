"""Nested run() calls: the per-thread watchdog stack.

Contract: Stackless 3.8 Doc/library/stackless/stackless.rst (run: "This function
can be called from any tasklet ... the calls nest so that the innermost call will
return once the run-queue is emptied ... only the first [timeout] has any
effect") and Stackless/module/stacklessmodule.c (push_watchdog, pop_watchdog,
check_watchdog, slp_get_watchdog, PyStackless_RunWatchdogEx).
"""
import sys

import pytest

import stackless

IS_SLP = "Stackless" in sys.version


def watchdog_list():
    """The live watchdog list (undocumented get_thread_info flag bit 31)."""
    return stackless.get_thread_info(-1, 1 << 31)[3]


def assert_no_watchdogs():
    assert watchdog_list() in (None, [None])


def test_run_from_worker_while_main_keeps_scheduling():
    done = []

    def worker():
        stackless.schedule()
        done.append("worker")

    def runner():
        stackless.run()
        done.append("runner")

    stackless.tasklet(worker)()
    t = stackless.tasklet(runner)()
    for _ in range(100):
        if done:
            break
        stackless.schedule()
    # the runner's run() cannot return while main stays runnable
    assert done == ["worker"]
    assert t.alive and t.paused  # a watchdog is paused
    t.run()
    assert done == ["worker", "runner"]
    assert_no_watchdogs()


def test_run_from_worker_with_main_blocked():
    c = stackless.channel()
    done = []

    def worker():
        stackless.schedule()
        done.append("worker")

    def runner():
        stackless.run()
        done.append("runner")
        c.send(None)

    stackless.tasklet(worker)()
    stackless.tasklet(runner)()
    c.receive()  # main blocks; runner's run() returns once worker is done
    assert done == ["worker", "runner"]
    stackless.run()  # let the runner finish
    assert_no_watchdogs()


def test_inner_run_completes_before_outer():
    done = []

    def worker():
        stackless.schedule()
        done.append("worker")

    def runner():
        stackless.run()
        done.append(("runner", stackless.main.paused))

    stackless.tasklet(worker)()
    stackless.tasklet(runner)()
    stackless.run()
    assert done == ["worker", ("runner", True)]
    assert_no_watchdogs()


def test_inner_run_gets_unhandled_error():
    done = []

    def errfunc():
        raise RuntimeError("foo")

    def runner():
        stackless.tasklet(errfunc)()
        try:
            stackless.run()
        except RuntimeError as e:
            done.append(str(e))

    stackless.tasklet(runner)()
    stackless.run()
    assert done == ["foo"]
    assert_no_watchdogs()


def test_manual_wakeup_of_main_wakes_inner_watchdogs_later():
    done = []

    def wakeup():
        stackless.main.run()
        done.append("wakeup")

    def runner():
        stackless.tasklet(wakeup)()
        stackless.run()
        done.append("runner")

    stackless.tasklet(runner)()
    stackless.run()
    assert done == []  # main was woken before anything finished
    stackless.run()
    assert done == ["wakeup", "runner"]
    assert_no_watchdogs()


def test_main_running_while_worker_watchdog_waits():
    done = []

    def runner():
        stackless.run()
        done.append("runner")

    t = stackless.tasklet(runner)()
    stackless.schedule()  # runner enters run(); nothing else runnable but main
    assert done == []
    assert t.paused
    stackless.run()  # the paused watchdog is not runnable: nothing happens
    assert done == []
    stackless.schedule()
    assert done == []
    assert t.alive
    t.kill()
    assert not t.alive
    assert_no_watchdogs()


def test_watchdog_list_during_nested_runs():
    seen = []
    tasklets = {}

    def worker():
        seen.append(list(watchdog_list()))

    def w2():
        tasklets["worker"] = stackless.tasklet(worker)()
        stackless.run()

    def w1():
        tasklets["w2"] = stackless.tasklet(w2)()
        stackless.run()

    tasklets["w1"] = stackless.tasklet(w1)()
    stackless.run()
    assert seen == [[None, stackless.main, tasklets["w1"], tasklets["w2"]]]
    assert_no_watchdogs()


def test_watchdog_list_with_timeout_has_interrupt_slot(run_python):
    r = run_python(r"""
import stackless
seen = []
def worker():
    seen.append(list(stackless.get_thread_info(-1, 1 << 31)[3]))
stackless.tasklet(worker)()
print(stackless.run(10**8))
m = stackless.main
print(seen == [[m, m]], stackless.get_thread_info(-1, 1 << 31)[3])
""")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["None", "True [None]"]


def test_watchdog_on_tasklet_is_the_one_awoken(run_python):
    r = run_python(r"""
import stackless
done = []
def task():
    while True:
        for i in range(500):
            pass
        stackless.schedule()
def runner(soft):
    res = stackless.run(2000, soft=soft, totaltimeout=True, ignore_nesting=True)
    done.append((res is None) if soft else (res in (t1, t2)))
    t1.kill(); t2.kill()
for soft in (False, True):
    t1 = stackless.tasklet(task)()
    t2 = stackless.tasklet(task)()
    stackless.tasklet(runner)(soft)
    stackless.run()
print(done, stackless.getruncount())
""", timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[True, True] 1"


def test_outermost_timed_watchdog_is_awoken(run_python):
    r = run_python(r"""
import stackless
order = []
def task():
    while True:
        for i in range(100):
            pass
        stackless.schedule()
def runner(depth):
    if depth:
        stackless.tasklet(runner)(depth - 1)
    with stackless.atomic():
        res = stackless.run(5000, totaltimeout=True, ignore_nesting=True)
        order.append((depth, res is not None))
    t1.kill(); t2.kill()
t1 = stackless.tasklet(task)()
t2 = stackless.tasklet(task)()
stackless.tasklet(runner)(2)
stackless.run()
print(order[0])
""", timeout=60)
    assert r.returncode == 0, r.stderr
    # the first (outermost) timed watchdog wakes up first, with the victim
    assert r.stdout.strip() == "(2, True)"


def test_lone_receive_in_tasklet_while_main_runs():
    def f():
        c = stackless.channel()
        c.receive()

    t = stackless.tasklet(f)()
    assert stackless.run() is None
    assert t.blocked
    t.kill()


@pytest.mark.parametrize("pending", [False, True])
def test_kill_tasklet_waiting_in_nested_run(pending):
    log = []
    box = {}

    def worker():
        stackless.schedule()
        box["w"].kill(pending=pending)
        log.append("worker after kill")

    def watchdog():
        stackless.tasklet(worker)()
        try:
            stackless.run()
            log.append("run returned")
        except TaskletExit:  # noqa: F821
            log.append("watchdog killed")
            raise

    box["w"] = stackless.tasklet(watchdog)()
    stackless.run()
    stackless.run()
    if pending:
        assert log == ["worker after kill", "watchdog killed"]
    else:
        assert log == ["watchdog killed", "worker after kill"]
    assert not box["w"].alive
    assert_no_watchdogs()


def test_exception_in_nested_run_watchdog_itself():
    def watchdog():
        stackless.tasklet(stackless.schedule)()
        stackless.run()
        raise KeyError("after inner run")

    stackless.tasklet(watchdog)()
    with pytest.raises(KeyError):
        stackless.run()
    stackless.run()
    assert_no_watchdogs()
