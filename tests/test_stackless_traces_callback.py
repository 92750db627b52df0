"""Golden schedule-callback sequences, recorded on real Stackless 3.7.5
(``python tests/test_stackless_traces_callback.py --generate``).

The channel/schedule programs of test_stackless_traces.py are replayed with a
schedule callback installed; every callback call is logged as ``prev>next``
among the operations.  This pins down exactly which operations switch
tasklets (and which do not) and the (prev, next) pair of each switch.
"""
import os
import sys

import pytest

import stackless

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_stackless_traces as programs  # noqa: E402

N_PROGRAMS = 40


def run_program(seed):
    channels_spec, tasks, main_ops = programs.make_program(seed)
    log = []
    names = {}
    chans = []
    for pref, sall in channels_spec:
        c = stackless.channel()
        c.preference = pref
        c.schedule_all = sall
        chans.append(c)

    def name_of(t):
        if t is None:
            return "None"
        if t is stackless.main:
            return "M"
        return names.get(id(t), "?")

    def cb(prev, next):
        log.append("%s>%s" % (name_of(prev), name_of(next)))

    counter = [0]
    parked = []

    def body(name, ops):
        for op in ops:
            if op[0] == "send":
                counter[0] += 1
                chans[op[1]].send(counter[0])
                log.append("%s:s%d" % (name, op[1]))
            elif op[0] == "recv":
                v = chans[op[1]].receive()
                log.append("%s:r%d=%d" % (name, op[1], v))
            elif op[0] == "sched":
                stackless.schedule()
                log.append("%s:y" % name)
            elif op[0] == "spawn":
                child = name + "c" * (1 + len([n for n in names.values() if n.startswith(name)]))
                t = stackless.tasklet(body)(child, [("recv", op[1])])
                names[id(t)] = child
                keep.append(t)
                log.append("%s:spawn" % name)
            elif op[0] == "remove_self":
                parked.append(stackless.current)
                stackless.schedule_remove()
                log.append("%s:back" % name)
        log.append("%s:end" % name)

    keep = []
    for i, ops in enumerate(tasks):
        t = stackless.tasklet(body)("t%d" % i, ops)
        names[id(t)] = "t%d" % i
        keep.append(t)
    stackless.set_schedule_callback(cb)
    try:
        for op in main_ops:
            try:
                if op[0] == "send":
                    counter[0] += 1
                    chans[op[1]].send(counter[0])
                    log.append("M:s%d" % op[1])
                elif op[0] == "recv":
                    v = chans[op[1]].receive()
                    log.append("M:r%d=%d" % (op[1], v))
                else:
                    stackless.schedule()
                    log.append("M:y")
            except RuntimeError:
                log.append("M:err")
        for _ in range(3):
            stackless.run()
            log.append("M:run")
            while parked:
                t = parked.pop(0)
                if t.alive and t.paused:
                    t.insert()
    finally:
        stackless.set_schedule_callback(None)
    for t in keep:
        if t.alive:
            t.kill()
    return " ".join(log)


# generated on Stackless 3.7.5 (same with soft switching off)
EXPECTED = {
    0: 'M>t0 t0>t1 t1>t2 t2>t3 t3:y t3:end t3>M M:run M>t1 t1:back t1:y t1:spawn t1>t1cc t1cc>t0 t0:r0=1 t0>t1 t1:s0 t1:spawn t1:end t1>t1ccc t1ccc>M M:run M:run',
    1: 'M>t0 t0:s0 t0>t1 t1>M M:r0=1 M:err M:err M:run M:run M:run',
    2: 'M>t0 t0>t1 t1>t2 t2>M M:y M>t0 t0:y t0:spawn t0>t0cc t0cc>t2 t2:s0 t2>t0 t0:r0=1 t0>t0cc t0cc:r0=2 t0cc:end t0cc>t2 t2:s0 t2>t0 t0:r0=3 t0>t2 t2:s0 t2>M M:run M>t1 t1:back t1>t0 t0:back t0>t2 t2:s0 t2>t1 t1:r0=4 t1:spawn t1>t1cc t1cc>M M:run M>t2 t2:back t2:end t2>M M:run',
    3: 'M>t0 t0>M M:s0 M>t1 t1>t2 t2>t3 t3>t0 t0:r0=1 t0>t2 t2:y t2:s0 t2:s0 t2>M M:r0=2 M>t1 t1:r0=3 t1:s0 t1:spawn t1>t2 t2:y t2:s0 t2>t3 t3:r0=4 t3>t1cc t1cc>t1 t1:y t1:end t1>t0 t0:r0=5 t0:s0 t0:s0 t0>t2 t2:y t2:end t2>M M:r0=6 M>t1cc t1cc:r0=7 t1cc:end t1cc>M M:run M>t3 t3:back t3:s0 t3>t0 t0:r0=8 t0:end t0>M M:run M:run',
    4: 'M>t0 t0>t1 t1>t2 t2>t3 t3>t4 t4>t0 t0:s0 t0>t1 t1:r0=1 t1>t3 t3:y t3:y t3>M M:run M:run M:run',
    5: 'M>t0 t0>t1 t1>t0 t0:y t0:s0 t0:spawn t0>M M:r0=1 M>t0cc t0cc>M M:run M:run M:run',
    6: 'M>t0 t0>t1 t1>t2 t2>t3 t3:spawn t3:spawn t3>t4 t4>t1 t1:y t1>t3cc t3cc:r2=1 t3cc:end t3cc>t3ccc t3ccc>M M:s2 M:run M>t3 t3:back t3:spawn t3:r2=2 t3:end t3>t4 t4:back t4>t3cccc t3cccc>t1 t1:s2 t1>t3ccc t3ccc:r1=3 t3ccc:end t3ccc>t4 t4:s1 t4>t1 t1:r1=4 t1>t0 t0:r0=5 t0>t2 t2:r0=6 t2>t4 t4:s1 t4>t3cccc t3cccc:r2=7 t3cccc:end t3cccc>t1 t1:s0 t1>t0 t0:s0 t0>t2 t2:y t2>t4 t4:s2 t4>t0 t0:y t0:r2=8 t0>t2 t2:y t2>t0 t0:r0=9 t0>t4 t4:s2 t4:end t4>t2 t2:s0 t2:end t2>M M:run M:run',
    7: 'M>t0 t0>t1 t1>M M:run M:run M:run',
    8: 'M>t0 t0>t1 t1:s0 t1>t2 t2>t0 t0:y t0:s0 t0:end t0>M M:r0=1 M>t2 t2:y t2:end t2>t1 t1:r0=2 t1>M M:err M:err M:run M:run M:run',
    9: 'M>t0 t0>M M:s0 M>t1 t1>t0 t0:r0=1 t0>t1 t1:y t1>M M:run M:run M:run',
    10: 'M>t0 t0>t1 t1>t2 t2>t3 t3>t0 t0:y t0>M M:r1=1 M>t0 t0:s1 t0>t3 t3:r0=2 t3>t0 t0:s0 t0>M M:err M:run M:run M:run',
    11: 'M>t0 t0>t1 t1>t2 t2>M M:y M>t0 t0:y t0>M M:err M:err M:run M:run M:run',
    12: 'M>t0 t0>t1 t1>t2 t2>t3 t3:r0=2 t3>t4 t4:r0=3 t4:end t4>M M:y M>t2 t2:s0 t2:s0 t2>t3 t3:s0 t3>M M:r0=4 M>t3 t3:y t3>M M:run M>t0 t0:back t0:end t0>M M:run M:run',
    13: 'M>t0 t0>t1 t1>t2 t2:r0=1 t2>M M:y M>t0 t0:s0 t0:spawn t0>t2 t2:y t2>t0cc t0cc:r0=2 t0cc:end t0cc>t0 t0:s0 t0:y t0>M M:err M:run M>t1 t1:back t1>M M:run M>t1 t1:back t1:y t1>M M:run',
    14: 'M>t0 t0>t1 t1>M M:s0 M>t2 t2>t0 t0:y t0>t1 t1:r0=1 t1>t0 t0:s0 t0>t2 t2:y t2>t1 t1:r0=2 t1:s0 t1>t0 t0:r0=3 t0:end t0>M M:run M:run M:run',
    15: 'M>t0 t0:spawn t0>t1 t1>t0cc t0cc:r0=1 t0cc:end t0cc>M M:s0 M:run M>t1 t1:back t1>M M:run M:run',
    16: 'M>t0 t0:spawn t0>t1 t1>t0cc t0cc>M M:r1=2 M>t1 t1:s1 t1>M M:y M:err M:run M:run M:run',
    17: 'M>t0 t0:spawn t0:end t0>t1 t1>t2 t2>t3 t3>t0cc t0cc:r0=1 t0cc:end t0cc>t1 t1:y t1>M M:s0 M:y M:err M:run M:run M:run',
    18: 'M>t0 t0>M M:r0=1 M>t1 t1>M M:r0=2 M>t2 t2>t3 t3:spawn t3>t0 t0:s0 t0:r0=3 t0:end t0>t1 t1:s0 t1>t3cc t3cc:r0=4 t3cc:end t3cc>t2 t2:s0 t2:r0=5 t2:end t2>t3 t3:s0 t3>t1 t1:s0 t1>M M:run M:run M:run',
    19: 'M>t0 t0>t1 t1>t2 t2>t3 t3>M M:r1=1 M>t0 t0:s1 t0>t2 t2:r1=4 t2:end t2>t0 t0:s1 t0>M M:run M:run M:run',
    20: 'M>t0 t0>t1 t1>M M:err M:err M:err M:run M:run M:run',
    21: 'M>t0 t0>t1 t1:s0 t1:end t1>t2 t2>t3 t3:r0=2 t3>t0 t0:y t0>M M:r0=1 M>t2 t2:s0 t2:end t2>M M:y M:err M:run M>t3 t3:back t3:end t3>t0 t0:back t0>M M:run M:run',
    22: 'M>t0 t0>t1 t1>t2 t2>t3 t3>t4 t4>M M:y M>t0 t0:y t0>t1 t1:y t1>t3 t3:r0=1 t3:end t3>t4 t4:s0 t4>M M:y M>t0 t0:y t0:end t0>M M:run M>t2 t2:back t2>M M:run M:run',
    23: 'M>t0 t0>t1 t1>t2 t2:s1 t2>t3 t3>t0 t0:y t0>M M:r1=1 M>t1 t1:r0=3 t1>t0 t0:s0 t0:end t0>M M:run M:run M:run',
    24: 'M>t0 t0>t1 t1>t0 t0:y t0>M M:err M:y M:err M:run M>t1 t1:back t1:y t1:end t1>M M:run M:run',
    25: 'M>t0 t0>t1 t1>M M:err M:r1=1 M>t0 t0:s1 t0>M M:run M:run M:run',
    26: 'M>t0 t0>t1 t1>t2 t2>t3 t3>t4 t4>t0 t0:y t0:end t0>t1 t1:r2=1 t1>t3 t3:s2 t3>M M:run M:run M:run',
    27: 'M>t0 t0>t1 t1:spawn t1>t2 t2>t3 t3>M M:y M>t1cc t1cc>t2 t2:y t2:end t2>M M:err M:run M:run M:run',
    28: 'M>t0 t0>t1 t1>t2 t2>M M:y M:run M:run M:run',
    29: 'M>t0 t0>t1 t1:spawn t1>t2 t2>t3 t3>t4 t4>t1cc t1cc>M M:run M:run M:run',
    30: 'M>t0 t0>t1 t1:s0 t1:spawn t1:end t1>M M:y M>t0 t0:r0=1 t0>t1cc t1cc>M M:err M:y M:run M>t0 t0:back t0>M M:run M:run',
    31: 'M>t0 t0>t1 t1>t2 t2>t3 t3>t4 t4>M M:s0 M>t0 t0:r0=1 t0>t3 t3:y t3>t4 t4:y t4:end t4>M M:y M>t1 t1:s0 t1>t3 t3:r0=2 t3:end t3>M M:run M>t0 t0:back t0:end t0>M M:run M:run',
    32: 'M>t0 t0>t1 t1>t2 t2>M M:r0=1 M>t0 t0:s0 t0>t2 t2:y t2>t1 t1:r0=2 t1>t0 t0:s0 t0:y t0>M M:run M>t2 t2:back t2:end t2>M M:run M:run',
    33: 'M>t0 t0:spawn t0>t1 t1:spawn t1>t0 t0:s2 t0>t2 t2>t0cc t0cc>t1cc t1cc>t1 t1:r2=1 t1>t2 t2:y t2>M M:run M:run M:run',
    34: 'M>t0 t0>t1 t1>M M:y M:err M:err M:run M>t0 t0:back t0>M M:run M:run',
    35: 'M>t0 t0>t1 t1>t2 t2>t3 t3>M M:run M>t1 t1:back t1>M M:run M:run',
    36: 'M>t0 t0>t1 t1>M M:err M:run M:run M:run',
    37: 'M>t0 t0>t1 t1>M M:err M:y M:run M>t0 t0:back t0>M M:run M:run',
    38: 'M>t0 t0>t1 t1>t2 t2>t3 t3>M M:run M:run M:run',
    39: 'M>t0 t0>t1 t1>t2 t2:spawn t2:end t2>t2cc t2cc>M M:err M:err M:run M:run M:run',
}


@pytest.mark.parametrize("seed", range(N_PROGRAMS))
def test_schedule_callback_sequence_matches_stackless(seed):
    if seed not in EXPECTED:
        pytest.skip("no recorded trace")
    assert run_program(seed) == EXPECTED[seed]
    assert stackless.getruncount() == 1


def test_every_seed_recorded():
    assert sorted(EXPECTED) == list(range(N_PROGRAMS))


if __name__ == "__main__" and "--generate" in sys.argv:
    assert "Stackless" in sys.version, "generate with real Stackless"
    if os.environ.get("EVEMU_SLP_HARD") == "1":
        stackless.enable_softswitch(False)
    print("EXPECTED = {")
    for seed in range(N_PROGRAMS):
        print("    %d: %r," % (seed, run_program(seed)))
        assert stackless.getruncount() == 1, seed
    print("}")
