"""Golden scheduling traces recorded on real Stackless Python.

Small random programs (fixed seeds) of tasklets doing channel sends/receives,
schedule(), schedule_remove()/insert(), run() and kill() on channels with random
preference/schedule_all settings.  Every operation is logged when it completes;
the log (the exact interleaving) plus the final states must equal what real
Stackless 3.7.5 produced (EXPECTED below, generated with
``python tests/test_stackless_traces.py --generate`` under Stackless).

This pins down the run-queue order, the channel resume order for every
preference, the blocking order and the revival of the main tasklet in one go.
"""
import random
import sys

import pytest

import stackless

N_PROGRAMS = 60


def make_program(seed):
    rnd = random.Random(seed)
    n_ch = rnd.randint(1, 3)
    channels = []
    for _ in range(n_ch):
        channels.append((rnd.choice([-1, 0, 1]), rnd.random() < 0.25))
    n_t = rnd.randint(2, 5)
    tasks = []
    for i in range(n_t):
        ops = []
        for _ in range(rnd.randint(1, 6)):
            kind = rnd.random()
            if kind < 0.35:
                ops.append(("send", rnd.randrange(n_ch)))
            elif kind < 0.70:
                ops.append(("recv", rnd.randrange(n_ch)))
            elif kind < 0.85:
                ops.append(("sched",))
            elif kind < 0.92:
                ops.append(("spawn", rnd.randrange(n_ch)))
            else:
                ops.append(("remove_self",))
        tasks.append(ops)
    main_ops = []
    for _ in range(rnd.randint(0, 3)):
        kind = rnd.random()
        if kind < 0.4:
            main_ops.append(("send", rnd.randrange(n_ch)))
        elif kind < 0.8:
            main_ops.append(("recv", rnd.randrange(n_ch)))
        else:
            main_ops.append(("sched",))
    return channels, tasks, main_ops


def run_program(seed):
    channels_spec, tasks, main_ops = make_program(seed)
    log = []
    chans = []
    for pref, sall in channels_spec:
        c = stackless.channel()
        c.preference = pref
        c.schedule_all = sall
        chans.append(c)
    tasklets = {}
    counter = [0]

    def value():
        counter[0] += 1
        return counter[0]

    def body(name, ops):
        for op in ops:
            if op[0] == "send":
                v = value()
                chans[op[1]].send(v)
                log.append("%s:s%d=%d" % (name, op[1], v))
            elif op[0] == "recv":
                v = chans[op[1]].receive()
                log.append("%s:r%d=%d" % (name, op[1], v))
            elif op[0] == "sched":
                stackless.schedule()
                log.append("%s:y" % name)
            elif op[0] == "spawn":
                child = name + "c"
                while child in tasklets:
                    child += "c"
                tasklets[child] = stackless.tasklet(body)(child, [("recv", op[1])])
                log.append("%s:spawn %s" % (name, child))
            elif op[0] == "remove_self":
                parked.append(stackless.current)
                stackless.schedule_remove()
                log.append("%s:back" % name)
        log.append("%s:end" % name)

    parked = []
    for i, ops in enumerate(tasks):
        name = "t%d" % i
        tasklets[name] = stackless.tasklet(body)(name, ops)

    def main_step(op):
        try:
            if op[0] == "send":
                v = value()
                chans[op[1]].send(v)
                log.append("M:s%d=%d" % (op[1], v))
            elif op[0] == "recv":
                v = chans[op[1]].receive()
                log.append("M:r%d=%d" % (op[1], v))
            else:
                stackless.schedule()
                log.append("M:y")
        except RuntimeError as e:
            log.append("M:err %s" % e)

    for op in main_ops:
        main_step(op)
    for _ in range(3):
        stackless.run()
        log.append("M:run")
        while parked:
            t = parked.pop(0)
            if t.alive and t.paused:
                t.insert()
                log.append("M:insert")
    final = []
    for name in sorted(tasklets):
        t = tasklets[name]
        final.append("%s:%s%s" % (name, "A" if t.alive else "d", "B" if t.blocked else ""))
    final.append("bal:" + ",".join(str(c.balance) for c in chans))
    for name in sorted(tasklets):
        if tasklets[name].alive:
            tasklets[name].kill()
    return log + ["--"] + final


def compact(trace):
    return " ".join(trace)


# generated on Stackless 3.7.5 with --generate
EXPECTED = {
    0: 't3:y t3:end M:run M:insert t1:back t1:y t1:spawn t1c t0:r0=1 t1:s0=1 t1:spawn t1cc t1:end M:run M:run -- t0:AB t1:d t1c:AB t1cc:AB t2:AB t3:d bal:0,-4',
    1: 't0:s0=1 M:r0=1 M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t1:AB bal:-2',
    2: 'M:y t0:y t0:spawn t0c t2:s0=1 t0:r0=1 t0c:r0=2 t0c:end t2:s0=2 t0:r0=3 t2:s0=3 M:run M:insert M:insert t1:back t0:back t2:s0=4 t1:r0=4 t1:spawn t1c M:run M:insert t2:back t2:end M:run -- t0:AB t0c:d t1:AB t1c:AB t2:d bal:-3',
    3: 'M:s0=1 t0:r0=1 t2:y t2:s0=2 t2:s0=3 M:r0=2 t1:r0=3 t1:s0=4 t1:spawn t1c t2:y t2:s0=5 t3:r0=4 t1:y t1:end t0:r0=5 t0:s0=6 t0:s0=7 t2:y t2:end M:r0=6 t1c:r0=7 t1c:end M:run M:insert t3:back t3:s0=8 t0:r0=8 t0:end M:run M:run -- t0:d t1:d t1c:d t2:d t3:AB bal:1',
    4: 't0:s0=1 t1:r0=1 t3:y t3:y M:run M:run M:run -- t0:AB t1:AB t2:AB t3:AB t4:AB bal:5',
    5: 't0:y t0:s0=1 t0:spawn t0c M:r0=1 M:run M:run M:run -- t0:AB t0c:AB t1:AB bal:-2,0,-1',
    6: 't3:spawn t3c t3:spawn t3cc t1:y t3c:r2=1 t3c:end M:s2=1 M:run M:insert M:insert t3:back t3:spawn t3ccc t3:r2=2 t3:end t4:back t1:s2=2 t3cc:r1=3 t3cc:end t4:s1=3 t1:r1=4 t0:r0=5 t2:r0=6 t4:s1=4 t3ccc:r2=7 t3ccc:end t1:s0=5 t0:s0=6 t2:y t4:s2=7 t0:y t0:r2=8 t2:y t0:r0=9 t4:s2=8 t4:end t2:s0=9 t2:end M:run M:run -- t0:AB t1:AB t2:d t3:d t3c:d t3cc:d t3ccc:d t4:d bal:0,-1,1',
    7: 'M:run M:run M:run -- t0:AB t1:AB bal:-2,0',
    8: 't1:s0=1 t0:y t0:s0=2 t0:end M:r0=1 t2:y t2:end t1:r0=2 M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:d t1:d t2:d bal:0',
    9: 'M:s0=1 t0:r0=1 t1:y M:run M:run M:run -- t0:AB t1:AB bal:1,-1',
    10: 't0:y M:r1=1 t0:s1=1 t3:r0=2 t0:s0=2 M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:d t1:AB t2:AB t3:AB bal:-1,-1,-1',
    11: 'M:y t0:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:d t1:AB t2:AB bal:-2,0',
    12: 't3:r0=2 t4:r0=3 t4:end M:y t2:s0=2 t2:s0=4 t3:s0=3 M:r0=4 t3:y M:run M:insert t0:back t0:end M:run M:run -- t0:d t1:AB t2:AB t3:AB t4:d bal:-1,2',
    13: 't2:r0=1 M:y t0:s0=1 t0:spawn t0c t2:y t0c:r0=2 t0c:end t0:s0=2 t0:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:insert t1:back M:run M:insert t1:back t1:y M:run -- t0:d t0c:d t1:AB t2:AB bal:1,1',
    14: 'M:s0=1 t0:y t1:r0=1 t0:s0=2 t2:y t1:r0=2 t1:s0=3 t0:r0=3 t0:end M:run M:run M:run -- t0:d t1:AB t2:AB bal:-2',
    15: 't0:spawn t0c t0c:r0=1 t0c:end M:s0=1 M:run M:insert t1:back M:run M:run -- t0:AB t0c:d t1:AB bal:2',
    16: 't0:spawn t0c M:r1=2 t1:s1=2 M:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t0c:AB t1:AB bal:2,-1',
    17: 't0:spawn t0c t0:end t0c:r0=1 t0c:end t1:y M:s0=1 M:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:d t0c:d t1:AB t2:AB t3:AB bal:0,1,-2',
    18: 'M:r0=1 M:r0=2 t3:spawn t3c t0:s0=1 t0:r0=3 t0:end t1:s0=2 t3c:r0=4 t3c:end t2:s0=3 t2:r0=5 t2:end t3:s0=4 t1:s0=5 M:run M:run M:run -- t0:d t1:AB t2:d t3:AB t3c:d bal:2',
    19: 'M:r1=1 t0:s1=1 t2:r1=4 t2:end t0:s1=4 M:run M:run M:run -- t0:AB t1:AB t2:d t3:AB bal:1,1,1',
    20: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t1:d bal:-1,0,0',
    21: 't1:s0=1 t1:end t3:r0=2 t0:y M:r0=1 t2:s0=2 t2:end M:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:insert M:insert t3:back t3:end t0:back M:run M:run -- t0:AB t1:d t2:d t3:d bal:-1',
    22: 'M:y t0:y t1:y t3:r0=1 t3:end t4:s0=1 M:y t0:y t0:end M:run M:insert t2:back M:run M:run -- t0:d t1:AB t2:AB t3:d t4:AB bal:3',
    23: 't2:s1=1 t0:y M:r1=1 t1:r0=3 t0:s0=3 t0:end M:run M:run M:run -- t0:d t1:AB t2:AB t3:AB bal:-1,2',
    24: 't0:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:insert t1:back t1:y t1:end M:run M:run -- t0:d t1:d bal:0,0,0',
    25: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:r1=1 t0:s1=1 M:run M:run M:run -- t0:AB t1:d bal:1,0',
    26: 't0:y t0:end t1:r2=1 t3:s2=1 M:run M:run M:run -- t0:d t1:AB t2:AB t3:AB t4:AB bal:-2,-1,1',
    27: 't1:spawn t1c M:y t2:y t2:end M:err the main tasklet is receiving without a sender available. M:run M:run M:run -- t0:AB t1:AB t1c:AB t2:d t3:AB bal:-1,-1,-2',
    28: 'M:y M:run M:run M:run -- t0:AB t1:AB t2:AB bal:3',
    29: 't1:spawn t1c M:run M:run M:run -- t0:AB t1:AB t1c:AB t2:AB t3:AB t4:AB bal:1,-2,-3',
    30: 't1:s0=1 t1:spawn t1c t1:end M:y t0:r0=1 M:err Deadlock: the last runnable tasklet cannot be blocked. M:y M:run M:insert t0:back M:run M:run -- t0:AB t1:d t1c:d bal:0,0,-1',
    31: 'M:s0=1 t0:r0=1 t3:y t4:y t4:end M:y t1:s0=2 t3:r0=2 t3:end M:run M:insert t0:back t0:end M:run M:run -- t0:d t1:AB t2:AB t3:d t4:d bal:2',
    32: 'M:r0=1 t0:s0=1 t2:y t1:r0=2 t0:s0=2 t0:y M:run M:insert t2:back t2:end M:run M:run -- t0:AB t1:AB t2:d bal:-2',
    33: 't0:spawn t0c t1:spawn t1c t0:s2=1 t1:r2=1 t2:y M:run M:run M:run -- t0:AB t0c:AB t1:AB t1c:AB t2:AB bal:1,-2,-2',
    34: 'M:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:insert t0:back M:run M:run -- t0:AB t1:AB bal:1,0,1',
    35: 'M:run M:insert t1:back M:run M:run -- t0:AB t1:AB t2:AB t3:AB bal:1,2,1',
    36: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t1:d bal:-1,0',
    37: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:y M:run M:insert t0:back M:run M:run -- t0:AB t1:d bal:-1,0,0',
    38: 'M:run M:run M:run -- t0:AB t1:AB t2:AB t3:AB bal:-3,1,0',
    39: 't2:spawn t2c t2:end M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t1:AB t2:d t2c:d bal:-2',
    40: 't0:y t2:r1=1 t2:end t0:s1=1 t0:end M:run M:run M:run -- t0:d t1:AB t2:d bal:-1,0',
    41: 't0:spawn t0c t4:spawn t4c t0:r1=1 t0:spawn t0cc t4:s1=1 t0:y t2:r0=2 t4:s0=2 t3:r0=3 t2:s0=3 t4c:r0=4 t4c:end t3:s0=4 t3:end M:run M:insert t1:back M:run M:insert t1:back M:run M:insert -- t0:AB t0c:AB t0cc:AB t1:A t2:AB t3:d t4:AB t4c:d bal:-3,-2',
    42: 'M:s0=1 t0:r0=1 M:y M:run M:run M:run -- t0:AB t1:AB bal:1,0,1',
    43: 't0:r0=1 t1:s0=2 M:s0=1 t0:r0=2 t1:y t2:y M:run M:run M:run -- t0:AB t1:AB t2:AB bal:-3',
    44: 'M:run M:insert t2:back t1:r1=2 t2:s1=2 t1:y t2:s1=3 t2:end t1:r1=3 M:run M:run -- t0:AB t1:AB t2:d bal:1,1',
    45: 't1:y M:run M:insert t1:back t1:spawn t1c t1:end M:run M:run -- t0:AB t1:d t1c:AB bal:-2,0',
    46: 'M:r0=1 t2:s0=1 t0:r0=2 M:s0=2 t2:y M:run M:insert t1:back t0:s0=3 t1:r0=3 t2:s0=4 t0:r0=4 t0:y t1:r0=5 t0:s0=5 M:run M:run -- t0:AB t1:AB t2:AB bal:-3',
    47: 't1:spawn t1c t1:end M:err Deadlock: the last runnable tasklet cannot be blocked. t0:r0=1 M:s0=1 t0:y M:run M:run M:run -- t0:AB t1:d t1c:d t2:AB t3:AB bal:-3,0',
    48: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:y M:run M:run M:run -- t0:AB t1:AB t2:AB t3:AB t4:d bal:-2,0,2',
    49: 't0:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:s0=1 t1:r0=1 M:run M:run M:run -- t0:d t1:AB bal:-1',
    50: 'M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:AB t1:AB t2:AB t3:d bal:-3,0',
    51: 't0:y t0:s0=1 t0:end M:r0=1 M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:insert t1:back t1:y M:run M:run -- t0:d t1:AB t2:AB bal:-2',
    52: 't1:r0=1 M:s0=1 M:run M:run M:run -- t0:AB t1:AB t2:AB t3:AB bal:2,-2',
    53: 'M:y M:run M:insert t4:back t4:r0=1 t0:s0=1 t0:spawn t0c t4:y t0:y M:run M:run -- t0:AB t0c:AB t1:AB t2:AB t3:AB t4:AB bal:1,-3,2',
    54: 't2:s0=1 t4:spawn t4c M:r0=1 M:run M:run M:run -- t0:AB t1:AB t2:AB t3:AB t4:AB t4c:AB bal:-6',
    55: 'M:y t0:y t0:end t1:s0=1 t3:r0=1 M:s0=2 t1:r0=2 t3:s0=3 t1:r0=3 t1:end M:run M:insert t2:back M:run M:insert t2:back t2:y M:run -- t0:d t1:d t2:AB t3:AB bal:2',
    56: 't3:r0=3 t2:y t2:end t1:s0=3 M:err Deadlock: the last runnable tasklet cannot be blocked. t0:s1=2 M:r1=2 M:s1=6 t0:r1=6 t3:s2=4 t4:s2=5 t0:r2=4 t0:s2=7 t3:r2=5 t0:s2=8 t4:r2=7 t3:r2=8 M:run M:run M:run -- t0:AB t1:d t2:d t3:AB t4:AB bal:0,-1,-2',
    57: 't0:r0=1 M:s0=1 t1:y t1:r0=2 t0:s0=2 t0:end M:run M:run M:run -- t0:d t1:AB bal:-1',
    58: 't4:s1=4 t4:end t0:r1=4 t0:y M:err Deadlock: the last runnable tasklet cannot be blocked. M:run M:run M:run -- t0:d t1:AB t2:AB t3:AB t4:d bal:-1,0,2',
    59: 'M:run M:insert t2:back M:run M:run -- t0:AB t1:AB t2:AB t3:AB t4:AB bal:5',
}


@pytest.mark.parametrize("seed", range(N_PROGRAMS))
def test_trace_matches_stackless(seed):
    if seed not in EXPECTED:
        pytest.skip("no recorded trace for this seed")
    got = compact(run_program(seed))
    assert got == EXPECTED[seed]
    assert stackless.getruncount() == 1


def test_every_seed_has_a_recorded_trace():
    assert sorted(EXPECTED) == list(range(N_PROGRAMS))


if __name__ == "__main__" and "--generate" in sys.argv:
    assert "Stackless" in sys.version, "generate the traces with real Stackless"
    print("EXPECTED = {")
    for seed in range(N_PROGRAMS):
        print("    %d: %r," % (seed, compact(run_program(seed))))
    print("}")
