"""Golden traces for exceptions, kill, throw and raise_exception, recorded on
real Stackless Python 3.7.5 (``python tests/test_stackless_traces_exc.py --generate``).

Random programs (fixed seeds): tasklets receive/send/schedule, raise uncaught
errors or catch errors around a receive; the main tasklet runs the scheduler and
kills / throws into / raises exceptions in random tasklets (pending or not),
sometimes with an error handler installed.  Where every exception lands and the
final states must match Stackless exactly.
"""
import random
import sys

import pytest

import stackless

N_PROGRAMS = 60


class Err(Exception):
    pass


def make_program(seed):
    rnd = random.Random(seed)
    n_ch = rnd.randint(1, 2)
    n_t = rnd.randint(2, 4)
    tasks = []
    for _ in range(n_t):
        ops = []
        for _ in range(rnd.randint(1, 4)):
            k = rnd.random()
            if k < 0.25:
                ops.append(("recv", rnd.randrange(n_ch)))
            elif k < 0.45:
                ops.append(("guard", rnd.randrange(n_ch)))
            elif k < 0.6:
                ops.append(("send", rnd.randrange(n_ch)))
            elif k < 0.8:
                ops.append(("sched",))
            elif k < 0.9:
                ops.append(("park",))
            else:
                ops.append(("raise",))
        tasks.append(ops)
    main_ops = []
    for _ in range(rnd.randint(2, 7)):
        k = rnd.random()
        i = rnd.randrange(n_t)
        if k < 0.25:
            main_ops.append(("run",))
        elif k < 0.45:
            main_ops.append(("kill", i, rnd.random() < 0.5))
        elif k < 0.65:
            main_ops.append(("throw", i, rnd.random() < 0.5))
        elif k < 0.75:
            main_ops.append(("raise_exc", i))
        elif k < 0.85:
            main_ops.append(("send", rnd.randrange(n_ch)))
        else:
            main_ops.append(("tkill", i))
    handler = rnd.random() < 0.3
    prefs = [rnd.choice([-1, 0, 1]) for _ in range(n_ch)]
    return prefs, tasks, main_ops, handler


def run_program(seed):
    prefs, tasks, main_ops, use_handler = make_program(seed)
    log = []
    chans = []
    for p in prefs:
        c = stackless.channel()
        c.preference = p
        chans.append(c)

    def body(name, ops):
        try:
            for op in ops:
                if op[0] == "recv":
                    log.append("%s:r=%r" % (name, chans[op[1]].receive()))
                elif op[0] == "guard":
                    try:
                        log.append("%s:g=%r" % (name, chans[op[1]].receive()))
                    except Exception as e:
                        log.append("%s:caught %s%r" % (name, type(e).__name__, e.args))
                elif op[0] == "send":
                    chans[op[1]].send(name)
                    log.append("%s:sent" % name)
                elif op[0] == "sched":
                    stackless.schedule()
                    log.append("%s:y" % name)
                elif op[0] == "park":
                    stackless.schedule_remove()
                    log.append("%s:back" % name)
                elif op[0] == "raise":
                    raise Err(name)
            log.append("%s:end" % name)
        except TaskletExit:  # noqa: F821
            log.append("%s:exit" % name)
            raise

    ts = []
    for i, ops in enumerate(tasks):
        ts.append(stackless.tasklet(body)("t%d" % i, ops))

    def handler(typ, val, tb):
        # only the type: Stackless may pass a not yet normalised value here
        log.append("H:%s cur=%s" % (typ.__name__, names.get(stackless.current, "?")))

    names = dict((t, "t%d" % i) for i, t in enumerate(ts))
    names[stackless.main] = "M"
    old = stackless.set_error_handler(handler if use_handler else None)
    try:
        for op in main_ops:
            try:
                if op[0] == "run":
                    stackless.run()
                    log.append("M:ran")
                elif op[0] == "kill":
                    ts[op[1]].kill(pending=op[2])
                    log.append("M:killed%d" % op[1])
                elif op[0] == "throw":
                    ts[op[1]].throw(Err, ("thrown", op[1]), pending=op[2])
                    log.append("M:threw%d" % op[1])
                elif op[0] == "raise_exc":
                    ts[op[1]].raise_exception(Err, "raised", op[1])
                    log.append("M:raised%d" % op[1])
                elif op[0] == "send":
                    chans[op[1]].send("M")
                    log.append("M:sent")
                elif op[0] == "tkill":
                    ts[op[1]].throw(TaskletExit)  # noqa: F821
                    log.append("M:tkilled%d" % op[1])
            except (Err, RuntimeError) as e:
                log.append("M:%s%r" % (type(e).__name__, e.args))
        try:
            stackless.run()
        except (Err, RuntimeError) as e:
            log.append("M:final %s%r" % (type(e).__name__, e.args))
    finally:
        stackless.set_error_handler(old)
    final = ["%s:%s%s%s" % (names[t], "A" if t.alive else "d", "B" if t.blocked else "",
                            "S" if t.scheduled else "") for t in ts]
    final.append("bal:" + ",".join(str(c.balance) for c in chans))
    for t in ts:
        if t.alive:
            try:
                t.kill()
            except Exception:
                pass
    while stackless.getruncount() > 1:
        try:
            stackless.run()
        except Exception:
            pass
    return log + ["--"] + final


def compact(trace):
    return " ".join(trace)


# generated on Stackless 3.7.5 with --generate
EXPECTED = {
    0: 'M:tkilled2 M:tkilled2 M:tkilled1 M:ran t0:exit -- t0:ABS t1:d t2:d bal:0,-1',
    1: "t1:sent t0:g='t1' t0:end t1:y M:ran H:Err cur=t1 M:raised1 M:sent M:killed1 M:tkilled0 M:killed0 t2:exit M:tkilled2 t3:exit -- t0:d t1:d t2:d t3:ABS bal:-1",
    2: "H:Err cur=t1 M:threw1 M:killed1 M:tkilled1 M:RuntimeError('You cannot throw to a dead tasklet',) M:killed0 -- t0:d t1:d bal:0",
    3: "M:killed0 t1:y t1:end t3:y M:ran M:killed0 t3:exit M:killed3 M:tkilled3 M:RuntimeError('You cannot throw to a dead tasklet',) t2:exit -- t0:d t1:d t2:ABS t3:d bal:-1",
    4: "t2:sent M:killed0 M:sent t1:r='t2' t2:g='M' t2:end t1:exit -- t0:d t1:ABS t2:d bal:-1",
    5: 'M:threw1 H:Err cur=t1 t0:y H:Err cur=t0 t2:y H:Err cur=t2 M:ran M:ran M:ran M:ran t3:exit -- t0:d t1:d t2:d t3:ABS bal:-1,0',
    6: "M:Err('raised', 1) M:killed0 M:killed1 M:Err('t2',) M:RuntimeError('You cannot throw to a dead tasklet',) M:ran -- t0:d t1:d t2:d bal:0",
    7: "M:Err('thrown', 0) M:ran t1:exit -- t0:d t1:ABS bal:0,-1",
    8: "M:killed1 M:tkilled2 M:ran M:ran M:killed1 M:ran M:RuntimeError('You cannot throw to a dead tasklet',) t0:exit -- t0:ABS t1:d t2:d bal:-1",
    9: "t2:r='M' H:Err cur=t2 t0:g='t3' M:sent t3:sent t3:y t3:end M:ran M:RuntimeError('You cannot throw to a dead tasklet',) M:tkilled2 M:tkilled3 t0:exit t1:exit -- t0:A t1:ABS t2:d t3:d bal:-1,0",
    10: "M:killed0 M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:ran t1:exit M:tkilled1 M:RuntimeError('You cannot throw to a dead tasklet',) t2:exit -- t0:d t1:d t2:ABS bal:-1",
    11: "t0:sent M:Err('t3',) t1:g='t0' t1:end M:ran M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:ran t0:exit t2:exit -- t0:ABS t1:d t2:ABS t3:d bal:1,-1",
    12: "M:killed0 t1:sent M:Err('t1',) M:RuntimeError('You cannot throw to a dead tasklet',) M:killed1 M:killed0 t2:exit M:tkilled2 M:ran -- t0:d t1:d t2:d bal:0,0",
    13: "M:Err('thrown', 0) t1:y t2:y M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) t1:exit M:tkilled1 M:killed0 M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:RuntimeError('You cannot throw to a dead tasklet',) -- t0:d t1:d t2:d bal:0,0",
    14: 'M:ran t3:exit M:tkilled3 t0:exit t1:exit t2:exit -- t0:ABS t1:ABS t2:A t3:d bal:-2',
    15: "M:tkilled0 M:ran H:Err cur=t1 M:raised1 M:killed1 M:tkilled1 M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:tkilled1 -- t0:d t1:d bal:0",
    16: "t1:y M:sent t2:y M:Err('t2',) t1:r='M' t1:end t0:exit -- t0:ABS t1:d t2:d bal:-1,0",
    17: "M:threw1 M:Err('thrown', 1) M:Err('thrown', 2) t0:caught RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) t0:r=None M:sent M:killed2 M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:tkilled1 t0:exit -- t0:ABS t1:d t2:d bal:0,-1",
    18: "M:ran t0:caught Err('raised', 0) M:Err('t0',) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) t1:exit -- t0:d t1:A bal:0",
    19: "M:Err('thrown', 3) M:Err('t1',) t2:g='t0' t0:sent t0:end t2:exit -- t0:d t1:d t2:A t3:d bal:0",
    20: "M:killed0 M:threw2 M:killed2 t1:r='M' H:Err cur=t1 M:sent M:ran M:ran -- t0:d t1:d t2:d bal:0",
    21: "H:Err cur=t1 M:raised1 t2:exit M:tkilled2 t0:y H:RuntimeError cur=t0 M:RuntimeError('the main tasklet is sending without a receiver available.',) -- t0:d t1:d t2:d bal:0",
    22: 't0:y t0:end M:ran M:killed0 t1:exit -- t0:d t1:ABS bal:-1',
    23: 'M:ran M:killed1 t1:exit t0:exit -- t0:ABS t1:d bal:0,1',
    24: "M:killed2 M:Err('thrown', 0) M:killed0 t3:y M:ran M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:killed2 M:ran t1:exit t3:exit -- t0:d t1:A t2:d t3:ABS bal:1,0",
    25: "M:Err('t0',) M:ran M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) t1:exit -- t0:d t1:A bal:0,0",
    26: "t1:y t1:end t2:y H:Err cur=t2 t3:y M:ran M:sent t0:g='M' M:ran t0:exit t3:exit -- t0:ABS t1:d t2:d t3:ABS bal:-2",
    27: "M:Err('t0',) t2:y t2:end t3:y t3:y t3:y M:Err('t3',) t1:exit -- t0:d t1:ABS t2:d t3:d bal:0,-1",
    28: "t1:r='t0' t0:sent t3:y M:ran M:ran t2:exit M:tkilled2 M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:threw1 t1:caught Err('thrown', 1) t1:y t0:exit t1:exit t3:exit -- t0:ABS t1:ABS t2:d t3:A bal:-2",
    29: 'M:tkilled2 M:killed2 M:tkilled0 t1:exit M:killed1 -- t0:d t1:d t2:d bal:0',
    30: "M:Err('thrown', 3) M:Err('raised', 0) M:Err('t2',) M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) M:tkilled0 -- t0:d t1:d t2:d t3:d bal:0,0",
    31: "t0:y t0:end t1:y t2:y M:ran H:Err cur=t1 M:threw1 M:ran M:ran t2:r='M' t2:end M:sent M:ran M:killed2 -- t0:d t1:d t2:d bal:0",
    32: "M:threw1 M:Err('thrown', 1) t0:exit -- t0:ABS t1:d bal:-1",
    33: "M:tkilled2 M:Err('t1',) M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) t3:exit -- t0:d t1:d t2:d t3:A bal:0",
    34: "H:Err cur=t2 t3:g='M' t3:end M:sent t0:exit M:killed0 M:tkilled2 t1:exit -- t0:d t1:A t2:d t3:d bal:0,0",
    35: "M:killed0 M:threw0 M:final Err('thrown', 0) -- t0:d t1:AS bal:0,0",
    36: "M:Err('thrown', 0) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:killed0 -- t0:d t1:d bal:0,0",
    37: 'M:killed2 M:killed2 H:Err cur=t0 M:threw0 M:threw3 H:Err cur=t3 M:ran M:ran t1:exit -- t0:d t1:ABS t2:d t3:d bal:-1',
    38: "M:threw0 M:Err('raised', 2) M:tkilled2 M:threw0 M:killed2 M:final Err('thrown', 0) -- t0:d t1:AS t2:d bal:0,0",
    39: "M:Err('thrown', 1) M:RuntimeError('You cannot throw to a dead tasklet',) M:Err('thrown', 2) M:ran M:tkilled2 M:RuntimeError('You cannot throw to a dead tasklet',) t0:exit -- t0:ABS t1:d t2:d bal:-1",
    40: 'H:Err cur=t0 M:raised0 t1:y t3:y t3:end M:ran M:ran M:ran M:killed0 M:killed2 t2:exit t1:exit -- t0:d t1:ABS t2:d t3:d bal:0,-1',
    41: "M:tkilled0 M:killed0 t1:exit M:tkilled1 t2:y t2:end M:ran M:RuntimeError('You cannot throw to a dead tasklet',) M:ran M:ran -- t0:d t1:d t2:d bal:0,0",
    42: "t1:sent t1:end t0:r='t1' t0:y t0:y t0:end M:ran M:RuntimeError('You cannot throw to a dead tasklet',) -- t0:d t1:d bal:0",
    43: 'M:threw1 M:killed2 H:Err cur=t0 H:Err cur=t1 M:ran -- t0:d t1:d t2:d bal:0',
    44: "t1:r='t3' M:tkilled0 t2:exit M:tkilled2 t3:sent t3:end M:ran M:ran t1:exit -- t0:d t1:ABS t2:d t3:d bal:1,0",
    45: 'M:tkilled2 M:killed2 H:Err cur=t0 M:raised0 t1:exit -- t0:d t1:A t2:d bal:0,0',
    46: 'H:Err cur=t1 M:threw1 M:tkilled0 M:killed2 t2:exit -- t0:d t1:d t2:d bal:0',
    47: 'M:killed1 M:ran t0:exit -- t0:ABS t1:d bal:0,1',
    48: 'H:Err cur=t0 M:threw0 t1:y M:ran t1:exit M:tkilled1 -- t0:d t1:d bal:0,0',
    49: "M:Err('t0',) M:tkilled2 M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('You cannot throw to a dead tasklet',) t1:exit -- t0:d t1:ABS t2:d bal:-1",
    50: 'M:tkilled1 t2:exit M:tkilled2 t0:y t0:exit -- t0:ABS t1:d t2:d bal:0,-1',
    51: "M:threw1 M:killed3 M:final Err('thrown', 1) t0:exit -- t0:ABS t1:d t2:AS t3:d bal:-1",
    52: "M:threw1 M:Err('thrown', 1) t0:exit -- t0:A t1:d bal:0,0",
    53: 'M:killed0 M:killed2 H:Err cur=t1 M:threw1 -- t0:d t1:d t2:d bal:0',
    54: 'M:killed0 H:Err cur=t1 M:threw1 M:threw0 H:Err cur=t0 M:ran M:ran t2:exit -- t0:d t1:d t2:ABS bal:1',
    55: "M:threw1 M:killed1 H:Err cur=t0 M:RuntimeError('the main tasklet is sending without a receiver available.',) M:ran M:RuntimeError('You cannot throw to a dead tasklet',) M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:ran -- t0:d t1:d bal:0",
    56: 'M:tkilled2 t0:y H:Err cur=t0 M:ran t1:exit -- t0:d t1:ABS t2:d bal:-1',
    57: "M:Err('thrown', 1) M:threw2 M:Err('thrown', 2) M:tkilled2 M:RuntimeError('Deadlock: the last runnable tasklet cannot be blocked.',) M:killed2 M:ran -- t0:d t1:d t2:d bal:0",
    58: "H:Err cur=t1 M:threw1 M:RuntimeError('You cannot throw to a dead tasklet',) t0:exit -- t0:ABS t1:d bal:-1",
    59: 'M:tkilled0 M:killed0 M:killed0 M:ran M:killed0 M:tkilled0 t1:exit -- t0:d t1:ABS bal:1',
}


# Seeds whose recorded trace shows a Stackless bug we do not want to copy.
# 17: main blocks in send(); the last tasklet then blocks and gets the deadlock
#     bomb, and scheduling.c schedule_task_block() (cantblock branch) claims the
#     *main* tasklet's tempval -- the value main is sending -- so the receiver
#     later gets None instead of 'M'.  A correct runtime delivers 'M'.
KNOWN_STACKLESS_BUGS = {17: "Stackless loses main's sent value on a tasklet deadlock"}


@pytest.mark.parametrize("seed", range(N_PROGRAMS))
def test_exception_trace_matches_stackless(seed):
    if seed in KNOWN_STACKLESS_BUGS:
        expected = EXPECTED[seed].replace("t0:r=None", "t0:r='M'")
        if "Stackless" in sys.version:
            pytest.skip(KNOWN_STACKLESS_BUGS[seed])
        assert compact(run_program(seed)) == expected
        return
    if seed not in EXPECTED:
        pytest.skip("no recorded trace for this seed")
    assert compact(run_program(seed)) == EXPECTED[seed]
    assert stackless.getruncount() == 1


def test_every_seed_has_a_recorded_trace():
    assert sorted(EXPECTED) == list(range(N_PROGRAMS))


if __name__ == "__main__" and "--generate" in sys.argv:
    assert "Stackless" in sys.version, "generate the traces with real Stackless"
    print("EXPECTED = {")
    for seed in range(N_PROGRAMS):
        print("    %d: %r," % (seed, compact(run_program(seed))))
    print("}")
