"""Run one benchmark figure for one peer in this process; print one JSON line.

    python benchmarks/worker.py PEER FIGURE [--n N] [--reps R] [--warmup W]

run.py starts one of these per peer and figure, so that no peer inherits another
one's heap, arenas or imported modules. The JSON line holds, per metric, the
list of values of the repetitions (timings in microseconds per operation,
memory in bytes per task), or {"skip": reason} when the peer is not available
or has no equivalent of the figure.

Peers:
  ours      the `stackless` C runtime of this repository (the in-tree build in
            src/ when there is one, else the installed package)
  carbon    CCP's carbon-scheduler (github maxrossi/greenlet-scheduler), built
            outside the repository; CARBON_SCHEDULER_PATH names the folder that
            holds its `scheduler` package and `_scheduler` extension
  emu       benchmarks/slp_emu.py, a pure-Python Stackless emulation on greenlet
  greenlet  raw greenlet: bare switches, no scheduler, no channels
  asyncio   asyncio with its default event loop; asyncio.Queue as the channel
  uvloop    the same code on uvloop's event loop
  gevent    gevent greenlets; gevent.queue.Channel as the channel
  threads   OS threads; queue.Queue as the channel

Figures (metric names in brackets):
  roundtrip      [roundtrip]  send a value to an echo task and receive it back
  yield          [yield]      one schedule()/sleep(0)/switch between two tasks
  spawn          [spawn]      create + run + finish a trivial task (batches of 100)
  wave           [wave]       1,000 tasks block on one channel, then all are woken
                              and finish; per task (the tasks that block each need
                              their own stack, so this is where stacks are reused)
  mem_unstarted  [mem_unstarted] RSS per task created but not yet run
  mem_blocked    [mem_blocked]   RSS per task blocked receiving on a channel
  ring           [ring_hop, ring_rss, ring_drift] N tasks in a ring of channels,
                 one message around the ring per round: time per hop, RSS after
                 each round, and the RSS growth from the first round to the last
"""
import argparse
import gc
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SPAWN_BATCH = 100
WAVE = 1000  # wave figure: tasks that block together, then all finish
_PAGE = os.sysconf("SC_PAGE_SIZE")
_KEEP = []
TRACE = False  # --trace: tracemalloc breakdown of the memory figures
# The clock of the timing figures: CPU time of this process by default (on a
# shared machine it does not count the time other processes hold the CPU;
# every peer but OS threads runs on one thread), wall time with --clock wall.
# OS threads always use wall time: their cost includes waking another thread.
now = time.process_time


class Skip(Exception):
    """This peer cannot run this figure here (not installed, or no equivalent)."""


def rss():
    """Resident set size of this process, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


def noop():
    pass


def timed_reps(reps, warmup, body):
    """Run body() warmup+reps times; body returns (seconds, ops); keep µs/op of the reps."""
    out = []
    for i in range(warmup + reps):
        gc.collect()
        seconds, ops = body()
        if i >= warmup:
            out.append(seconds / ops * 1e6)
    return out


def memory_per_task(n, build):
    """RSS growth per task while build(n) creates n tasks (it keeps them alive).

    With --trace, tracemalloc also runs (then RSS includes its own overhead) and
    the result tells where the Python-heap part of each task's memory went: the
    traced bytes per task, grouped by the source line that allocated them (C
    allocations count against the Python line that called into C, so the stack
    slice greenlet saves at a switch shows up on the line that blocked).
    """
    import tracemalloc
    gc.collect()
    if TRACE:
        tracemalloc.start(1)
        snap0 = tracemalloc.take_snapshot()
    before = rss()
    t0 = now()
    keep = build(n)
    seconds = now() - t0
    after = rss()
    _KEEP.append(keep)  # freed only by os._exit: tearing down is not measured
    out = {"bytes": (after - before) / n, "seconds": seconds, "rss_before": before,
           "rss_after": after}
    if TRACE:
        snap1 = tracemalloc.take_snapshot()
        diff = snap1.compare_to(snap0, "lineno")
        out["traced_per_task"] = sum(d.size_diff for d in diff) / n
        out["by_line"] = [(f"{os.path.basename(d.traceback[0].filename)}:{d.traceback[0].lineno}",
                           round(d.size_diff / n, 1), round(d.count_diff / n, 2))
                          for d in diff[:8] if abs(d.size_diff) / n >= 1]
        tracemalloc.stop()
    return out


def mem_result(metric, r, extra_key):
    res = {metric: [r["bytes"]], extra_key: r["seconds"]}
    for k in ("traced_per_task", "by_line"):
        if k in r:
            res[k] = r[k]
    return res


# --------------------------------------------------------------------------------------
# Peers with the Stackless API: ours, carbon, emu

def load_stackless_api(peer):
    if peer == "ours":
        # Prefer an in-tree build (python setup.py build_ext --inplace).
        src = os.path.join(ROOT, "src")
        if any(name.startswith("_stackless") and name.endswith(".so")
               for name in os.listdir(os.path.join(src, "stackless"))):
            sys.path.insert(0, src)
        try:
            import stackless
        except ImportError as e:
            raise Skip(f"stackless not importable: {e}")
        if not hasattr(stackless, "tasklet"):
            raise Skip("stackless has no C core built (run python setup.py build_ext --inplace)")
        return stackless
    if peer == "carbon":
        path = os.environ.get("CARBON_SCHEDULER_PATH")
        if not path:
            raise Skip("CARBON_SCHEDULER_PATH not set (folder with a built carbon-scheduler)")
        sys.path.insert(0, path)
        try:
            import scheduler
        except ImportError as e:
            raise Skip(f"carbon-scheduler not importable from {path}: {e}")
        return scheduler
    if peer == "emu":
        sys.path.insert(0, HERE)
        import slp_emu
        return slp_emu
    raise AssertionError(peer)


def slp_figure(peer, figure, args):
    m = load_stackless_api(peer)
    n, reps, warmup = args.n, args.reps, args.warmup
    WAVES = max(1, n // WAVE)

    if figure == "roundtrip":
        ch, back = m.channel(), m.channel()

        def echo():
            while True:
                back.send(ch.receive())

        m.tasklet(echo)()
        m.run()  # echo now blocks receiving on ch

        def body():
            send, receive = ch.send, back.receive
            t0 = now()
            for i in range(n):
                send(i)
                receive()
            return now() - t0, n

        return {"roundtrip": timed_reps(reps, warmup, body)}

    if figure == "yield":
        schedule = m.schedule

        def worker():
            for _ in range(n):
                schedule()

        def body():
            m.tasklet(worker)()
            m.tasklet(worker)()
            t0 = now()
            m.run()
            return now() - t0, 2 * n

        return {"yield": timed_reps(reps, warmup, body)}

    if figure == "spawn":
        tasklet, run = m.tasklet, m.run

        def body():
            t0 = now()
            for _ in range(n // SPAWN_BATCH):
                for _ in range(SPAWN_BATCH):
                    tasklet(noop)()
                run()
            return now() - t0, n // SPAWN_BATCH * SPAWN_BATCH

        return {"spawn": timed_reps(reps, warmup, body)}

    if figure == "mem_unstarted":
        def build(n):
            tasklet = m.tasklet
            for _ in range(n):
                tasklet(noop)()  # bound and scheduled: the run queue keeps it
            assert m.getruncount() == n + 1
        r = memory_per_task(n, build)
        return mem_result("mem_unstarted", r, "create_s")

    if figure == "mem_blocked":
        ch = m.channel()

        def waiter():
            ch.receive()

        def build(n):
            tasklet = m.tasklet
            for _ in range(n):
                tasklet(waiter)()
            m.run()
            assert ch.balance == -n, ch.balance
        r = memory_per_task(n, build)
        return mem_result("mem_blocked", r, "create_block_s")

    if figure == "wave":
        def work(ch):
            ch.receive()

        def body():
            t0 = now()
            for _ in range(WAVES):
                ch = m.channel()
                for _ in range(WAVE):
                    m.tasklet(work)(ch)
                m.run()  # every one blocks
                for _ in range(WAVE):
                    ch.send(None)
                m.run()  # every one finishes
            return now() - t0, WAVES * WAVE

        return {"wave": timed_reps(reps, warmup, body)}

    if figure == "ring":
        chans = [m.channel() for _ in range(n + 1)]

        def node(inp, out):
            while True:
                out.send(inp.receive())

        for i in range(n):
            m.tasklet(node)(chans[i], chans[i + 1])
        m.run()  # every node blocks receiving
        return ring_rounds(args, lambda r: (chans[0].send(r), chans[n].receive())[1])

    raise Skip(f"unknown figure {figure}")


def ring_rounds(args, one_round):
    hops, rss_mb = [], []
    for r in range(args.rounds):
        t0 = now()
        got = one_round(r)
        hops.append((now() - t0) / args.n * 1e6)
        assert got == r, (got, r)
        rss_mb.append(rss() / 2**20)
    return {"ring_hop": hops, "ring_rss": rss_mb,
            "ring_drift": [(rss_mb[-1] - rss_mb[0]) * 1024]}


# --------------------------------------------------------------------------------------
# Raw greenlet: the floor under every greenlet-based runtime

def greenlet_figure(figure, args):
    try:
        from greenlet import getcurrent, greenlet
    except ImportError as e:
        raise Skip(f"greenlet not installed: {e}")
    n, reps, warmup = args.n, args.reps, args.warmup
    main = getcurrent()
    WAVES = max(1, n // WAVE)

    if figure == "roundtrip":
        # No channel: the two bare switches a round trip needs at least.
        def echo(v):
            while True:
                v = main.switch(v)

        g = greenlet(echo)

        def body():
            switch = g.switch
            t0 = now()
            for i in range(n):
                switch(i)
            return now() - t0, n

        return {"roundtrip": timed_reps(reps, warmup, body)}

    if figure == "yield":
        def body():
            pair = []

            def a():
                other = pair[1]
                for _ in range(n):
                    other.switch()

            def b():
                other = pair[0]
                for _ in range(n):
                    other.switch()

            pair[:] = [greenlet(a), greenlet(b)]
            t0 = now()
            pair[0].switch()  # a and b alternate; a ends first, then main resumes
            return now() - t0, 2 * n

        return {"yield": timed_reps(reps, warmup, body)}

    if figure == "spawn":
        def body():
            t0 = now()
            for _ in range(n):
                greenlet(noop).switch()
            return now() - t0, n

        return {"spawn": timed_reps(reps, warmup, body)}

    if figure == "mem_unstarted":
        r = memory_per_task(args.n, lambda n: [greenlet(noop) for _ in range(n)])
        return mem_result("mem_unstarted", r, "create_s")

    if figure == "mem_blocked":
        def wait():
            main.switch()

        def build(n):
            gs = [greenlet(wait) for _ in range(n)]
            for g in gs:
                g.switch()
            return gs
        r = memory_per_task(args.n, build)
        return mem_result("mem_blocked", r, "create_block_s")

    if figure == "wave":
        def wait():
            main.switch()

        def body():
            t0 = now()
            for _ in range(WAVES):
                gs = [greenlet(wait) for _ in range(WAVE)]
                for g in gs:
                    g.switch()  # every one suspends
                for g in gs:
                    g.switch()  # every one finishes
            return now() - t0, WAVES * WAVE

        return {"wave": timed_reps(reps, warmup, body)}

    raise Skip("no scheduler or channel in raw greenlet")


# --------------------------------------------------------------------------------------
# asyncio and uvloop

def asyncio_figure(peer, figure, args):
    import asyncio
    if peer == "uvloop":
        try:
            import uvloop
        except ImportError as e:
            raise Skip(f"uvloop not installed: {e}")
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    n, reps, warmup = args.n, args.reps, args.warmup
    WAVES = max(1, n // WAVE)

    async def anoop():
        pass

    if figure == "roundtrip":
        async def main():
            q1, q2 = asyncio.Queue(maxsize=1), asyncio.Queue(maxsize=1)

            async def echo():
                while True:
                    await q2.put(await q1.get())

            task = asyncio.create_task(echo())
            out = []
            for i in range(warmup + reps):
                gc.collect()
                put, get = q1.put, q2.get
                t0 = now()
                for j in range(n):
                    await put(j)
                    await get()
                if i >= warmup:
                    out.append((now() - t0) / n * 1e6)
            task.cancel()
            return out

        return {"roundtrip": loop.run_until_complete(main())}

    if figure == "yield":
        async def worker():
            sleep = asyncio.sleep
            for _ in range(n):
                await sleep(0)

        async def main():
            out = []
            for i in range(warmup + reps):
                gc.collect()
                t0 = now()
                await asyncio.gather(worker(), worker())
                if i >= warmup:
                    out.append((now() - t0) / (2 * n) * 1e6)
            return out

        return {"yield": loop.run_until_complete(main())}

    if figure == "spawn":
        async def main():
            out = []
            create_task, sleep = asyncio.create_task, asyncio.sleep
            for i in range(warmup + reps):
                gc.collect()
                t0 = now()
                for _ in range(n // SPAWN_BATCH):
                    for _ in range(SPAWN_BATCH):
                        last = create_task(anoop())
                    await sleep(0)  # FIFO: every task of the batch runs to its end first
                    assert last.done()
                if i >= warmup:
                    out.append((now() - t0) / (n // SPAWN_BATCH * SPAWN_BATCH) * 1e6)
            return out

        return {"spawn": loop.run_until_complete(main())}

    if figure == "mem_unstarted":
        def build(n):
            create_task = loop.create_task
            return [create_task(anoop()) for _ in range(n)]  # in loop._ready, not run
        r = memory_per_task(n, build)
        return mem_result("mem_unstarted", r, "create_s")

    if figure == "mem_blocked":
        q = asyncio.Queue()

        async def waiter():
            await q.get()

        def build(n):
            create_task = loop.create_task
            tasks = [create_task(waiter()) for _ in range(n)]
            loop.run_until_complete(asyncio.sleep(0))  # every waiter starts and blocks
            assert len(q._getters) == n
            return tasks
        r = memory_per_task(n, build)
        return mem_result("mem_blocked", r, "create_block_s")

    if figure == "wave":
        async def work(q):
            await q.get()

        async def main():
            out = []
            for i in range(warmup + reps):
                gc.collect()
                t0 = now()
                for _ in range(WAVES):
                    q = asyncio.Queue()
                    tasks = [asyncio.create_task(work(q)) for _ in range(WAVE)]
                    await asyncio.sleep(0)  # every one blocks
                    for _ in range(WAVE):
                        q.put_nowait(None)
                    await asyncio.sleep(0)  # every one finishes
                    assert tasks[-1].done()
                if i >= warmup:
                    out.append((now() - t0) / (WAVES * WAVE) * 1e6)
            return out

        return {"wave": loop.run_until_complete(main())}

    if figure == "ring":
        qs = [asyncio.Queue(maxsize=1) for _ in range(n + 1)]

        async def node(inp, out):
            while True:
                await out.put(await inp.get())

        async def setup():
            for i in range(n):
                asyncio.create_task(node(qs[i], qs[i + 1]))
            await asyncio.sleep(0)

        async def one(r):
            await qs[0].put(r)
            return await qs[n].get()

        loop.run_until_complete(setup())
        return ring_rounds(args, lambda r: loop.run_until_complete(one(r)))

    raise Skip(f"unknown figure {figure}")


# --------------------------------------------------------------------------------------
# gevent

def gevent_figure(figure, args):
    try:
        import gevent
        import gevent.queue
    except ImportError as e:
        raise Skip(f"gevent not installed: {e}")
    n, reps, warmup = args.n, args.reps, args.warmup
    WAVES = max(1, n // WAVE)

    if figure == "roundtrip":
        ch, back = gevent.queue.Channel(), gevent.queue.Channel()

        def echo():
            while True:
                back.put(ch.get())

        gevent.spawn(echo)

        def body():
            put, get = ch.put, back.get
            t0 = now()
            for i in range(n):
                put(i)
                get()
            return now() - t0, n

        return {"roundtrip": timed_reps(reps, warmup, body)}

    if figure == "yield":
        def worker():
            sleep = gevent.sleep
            for _ in range(n):
                sleep(0)

        def body():
            t0 = now()
            gevent.joinall([gevent.spawn(worker), gevent.spawn(worker)])
            return now() - t0, 2 * n

        return {"yield": timed_reps(reps, warmup, body)}

    if figure == "spawn":
        def body():
            spawn, sleep = gevent.spawn, gevent.sleep
            t0 = now()
            for _ in range(n // SPAWN_BATCH):
                for _ in range(SPAWN_BATCH):
                    last = spawn(noop)
                sleep(0)  # callbacks run in order: the batch starts and ends first
                assert last.dead
            return now() - t0, n // SPAWN_BATCH * SPAWN_BATCH

        return {"spawn": timed_reps(reps, warmup, body)}

    if figure == "mem_unstarted":
        r = memory_per_task(n, lambda n: [gevent.spawn(noop) for _ in range(n)])
        return mem_result("mem_unstarted", r, "create_s")

    if figure == "mem_blocked":
        ch = gevent.queue.Channel()

        def build(n):
            gs = [gevent.spawn(ch.get) for _ in range(n)]
            gevent.sleep(0)
            assert ch.getters and len(ch.getters) == n
            return gs
        r = memory_per_task(n, build)
        return mem_result("mem_blocked", r, "create_block_s")

    if figure == "wave":
        def body():
            t0 = now()
            for _ in range(WAVES):
                ch = gevent.queue.Channel()
                gs = [gevent.spawn(ch.get) for _ in range(WAVE)]
                gevent.sleep(0)  # every one blocks
                for _ in range(WAVE):
                    ch.put(None)
                gevent.sleep(0)
                assert gs[-1].dead
            return now() - t0, WAVES * WAVE

        return {"wave": timed_reps(reps, warmup, body)}

    if figure == "ring":
        chans = [gevent.queue.Channel() for _ in range(n + 1)]

        def node(inp, out):
            while True:
                out.put(inp.get())

        for i in range(n):
            gevent.spawn(node, chans[i], chans[i + 1])
        gevent.sleep(0)
        return ring_rounds(args, lambda r: (chans[0].put(r), chans[n].get())[1])

    raise Skip(f"unknown figure {figure}")


# --------------------------------------------------------------------------------------
# OS threads

def threads_figure(figure, args):
    import queue
    import threading
    n, reps, warmup = args.n, args.reps, args.warmup

    if figure == "roundtrip":
        q1, q2 = queue.Queue(maxsize=1), queue.Queue(maxsize=1)

        def echo():
            while True:
                v = q1.get()
                if v is None:
                    return
                q2.put(v)

        t = threading.Thread(target=echo, daemon=True)
        t.start()

        def body():
            put, get = q1.put, q2.get
            t0 = time.perf_counter()
            for i in range(1, n + 1):
                put(i)
                get()
            return time.perf_counter() - t0, n

        out = timed_reps(reps, warmup, body)
        q1.put(None)
        return {"roundtrip": out}

    if figure == "spawn":
        def body():
            Thread = threading.Thread
            t0 = time.perf_counter()
            for _ in range(n // SPAWN_BATCH):
                batch = [Thread(target=noop) for _ in range(SPAWN_BATCH)]
                for t in batch:
                    t.start()
                for t in batch:
                    t.join()
            return time.perf_counter() - t0, n // SPAWN_BATCH * SPAWN_BATCH

        return {"spawn": timed_reps(reps, warmup, body)}

    raise Skip("no equivalent with OS threads" if figure == "yield"
               else "not feasible with OS threads at this N")


# --------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("peer")
    p.add_argument("figure")
    p.add_argument("--n", type=int, default=100_000, help="operations per repetition / tasks")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--rounds", type=int, default=10, help="ring rounds")
    p.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                   help="timing clock: process CPU time (default) or wall time")
    p.add_argument("--trace", action="store_true",
                   help="memory figures: tracemalloc breakdown by source line")
    args = p.parse_args(argv)
    global TRACE, now
    TRACE = args.trace
    now = time.process_time if args.clock == "cpu" else time.perf_counter

    result = {"peer": args.peer, "figure": args.figure, "n": args.n,
              "clock": "wall" if args.peer == "threads" else args.clock}
    try:
        if args.peer in ("ours", "carbon", "emu"):
            metrics = slp_figure(args.peer, args.figure, args)
        elif args.peer == "greenlet":
            metrics = greenlet_figure(args.figure, args)
        elif args.peer in ("asyncio", "uvloop"):
            metrics = asyncio_figure(args.peer, args.figure, args)
        elif args.peer == "gevent":
            metrics = gevent_figure(args.figure, args)
        elif args.peer == "threads":
            metrics = threads_figure(args.figure, args)
        else:
            raise Skip(f"unknown peer {args.peer}")
        result["metrics"] = metrics
    except Skip as e:
        result["skip"] = str(e)
    result["peak_rss"] = _peak_rss()
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    # Tearing down a million suspended greenlets (or a carbon-scheduler, whose
    # interpreter shutdown is fragile) costs time and proves nothing here.
    os._exit(0)


def _peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


if __name__ == "__main__":
    main()
