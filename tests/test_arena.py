"""Correctness of the 16 KiB frame-stack block cache (src/stackless/arena.c).

The cache wraps CPython's object arena allocator for the whole process, so each
case runs in a fresh interpreter (a subprocess with a time limit): what one case
allocates or frees cannot leak into another's counters. No timings here; the
speed-up is measured by benchmarks/run.py.
"""
import json
import os
import subprocess
import sys
import textwrap

import pytest

TIMEOUT = 120


def run(code):
    """Run code in a fresh interpreter; return the JSON object of its last line."""
    env = {k: v for k, v in os.environ.items() if k != "STACKLESS_NO_ARENA"}
    p = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True, timeout=TIMEOUT, env=env)
    assert p.returncode == 0, f"exit {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}"
    return json.loads(p.stdout.strip().splitlines()[-1])


PRELUDE = """
    import json, sys
    import stackless
    from stackless import _stackless as core
    stats = core._arena_stats
"""


def test_installed_on_import_with_its_limits():
    r = run(PRELUDE + """
    print(json.dumps(stats()))
    """)
    assert r["installed"] is True
    assert r["block_size"] == 16 * 1024
    assert r["cache_max"] >= 64
    assert 0 <= r["cached"] <= r["cache_max"]


def test_finished_tasklets_blocks_are_reused():
    # Tasklets that block each hold a worker greenlet (and its frame-stack block);
    # when more of them end than the runtime keeps idle workers, the surplus
    # greenlets die and their blocks come back to the cache, to serve the next
    # wave. Values computed on reused blocks must be right.
    r = run(PRELUDE + """
    before = stats()
    # more than the cache and the runtime's idle workers (at most 2,048) hold
    n = before["cache_max"] + 3000
    results = []
    def work(ch, i):
        x = [i] * 10  # locals live in the frame-stack block
        ch.receive()
        results.append(sum(x))
    for wave in range(3):
        ch = stackless.channel()
        for i in range(n):
            stackless.tasklet(work)(ch, i)
        stackless.run()  # all n block
        for i in range(n):
            ch.send(None)
        stackless.run()
    after = stats()
    print(json.dumps({"before": before, "after": after,
                      "ok": results == [10 * i for i in range(n)] * 3}))
    """)
    before, after = r["before"], r["after"]
    assert r["ok"], "a tasklet computed a wrong result on a reused block"
    hits = after["hits"] - before["hits"]
    # waves 2 and 3 find a full cache when they start
    assert hits >= 2 * after["cache_max"], after
    assert after["released"] - before["released"] > 0, after
    assert after["cached"] == after["cache_max"], after


def test_blocks_allocated_before_installation_come_back_safely():
    # Greenlets started BEFORE stackless is imported get their frame-stack chunks
    # from the original allocator; they are freed through the wrapper afterwards.
    r = run("""
    import json, greenlet
    main = greenlet.getcurrent()
    def wait(i):
        main.switch()
        return i * 2
    early = [greenlet.greenlet(wait) for _ in range(3000)]
    for i, g in enumerate(early):
        g.switch(i)
    import stackless
    from stackless import _stackless as core
    s0 = core._arena_stats()
    ok = all(g.switch() == i * 2 for i, g in enumerate(early))
    s1 = core._arena_stats()
    out = []
    def f(i):
        out.append(i)  # a Python frame: its tasklet needs a frame-stack block
    for i in range(3000):
        stackless.tasklet(f)(i)
    stackless.run()
    s2 = core._arena_stats()
    print(json.dumps({"ok": ok and out == list(range(3000)), "s0": s0, "s1": s1, "s2": s2}))
    """)
    s0, s1, s2 = r["s0"], r["s1"], r["s2"]
    assert r["ok"]
    # The 3,000 early chunks came back: the cache filled up, the surplus was released.
    assert s1["cached"] == s1["cache_max"]
    assert s1["released"] - s0["released"] >= 3000 - s1["cache_max"] - s0["cached"]
    # ...and those early blocks served the new tasklets.
    assert s2["hits"] > s1["hits"]
    assert s2["cached"] <= s2["cache_max"]


def test_trim_releases_every_cached_block():
    r = run(PRELUDE + """
    import greenlet
    main = greenlet.getcurrent()
    def wait():
        main.switch()  # a Python frame: this greenlet has a frame-stack block
    gs = [greenlet.greenlet(wait) for _ in range(100)]
    for g in gs:
        g.switch()
    for g in gs:
        g.switch()  # they finish: 100 blocks return to the cache
    s1 = stats()
    n = core._arena_trim()
    s2 = stats()
    again = core._arena_trim()
    print(json.dumps({"s1": s1, "n": n, "s2": s2, "again": again}))
    """)
    assert r["s1"]["cached"] >= 100
    assert r["n"] == r["s1"]["cached"]
    assert r["s2"]["cached"] == 0
    assert r["again"] == 0


def test_blocks_of_other_sizes_pass_through():
    # Deep recursion inside tasklets needs frame-stack chunks larger than 16 KiB;
    # those (and pymalloc's arenas) go to the original allocator untouched.
    r = run(PRELUDE + """
    sys.setrecursionlimit(10000)
    def deep(n):
        return 0 if n == 0 else 1 + deep(n - 1)
    got = []
    for i in range(200):
        stackless.tasklet(lambda: got.append(deep(2000)))()
    stackless.run()
    junk = [bytearray(100) for _ in range(200000)]  # new pymalloc arenas
    del junk
    s = stats()
    print(json.dumps({"ok": got == [2000] * 200, "s": s}))
    """)
    assert r["ok"]
    assert r["s"]["cached"] <= r["s"]["cache_max"]


def test_tasklets_in_several_threads():
    r = run(PRELUDE + """
    import threading
    errors = []
    def worker(k):
        try:
            out = []
            def f(i):
                out.append(i)
            for batch in range(20):
                for i in range(50):
                    stackless.tasklet(f)(i)
                stackless.run()
            assert out == list(range(50)) * 20, k
        except BaseException as e:
            errors.append(repr(e))
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    s = stats()
    print(json.dumps({"errors": errors, "s": s}))
    """)
    assert r["errors"] == []
    assert 0 <= r["s"]["cached"] <= r["s"]["cache_max"]
    assert r["s"]["hits"] > 0


def test_blocked_tasklets_freed_by_kill_and_gc():
    # Tasklets killed or collected while blocked hand their blocks back too
    # (beyond the idle workers the runtime keeps, at most 2,048).
    r = run(PRELUDE + """
    import gc
    ch = stackless.channel()
    def wait():
        ch.receive()
    ts = [stackless.tasklet(wait)() for _ in range(4000)]
    stackless.run()
    s0 = stats()
    for t in ts[:3500]:
        t.kill()
    del ts
    gc.collect()
    s1 = stats()
    print(json.dumps({"s0": s0, "s1": s1, "balance": ch.balance}))
    """)
    s0, s1 = r["s0"], r["s1"]
    assert r["balance"] == -500
    returned = (s1["cached"] - s0["cached"]) + (s1["released"] - s0["released"])
    assert returned >= 3500 - 2048, (s0, s1)
    assert s1["cached"] <= s1["cache_max"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
