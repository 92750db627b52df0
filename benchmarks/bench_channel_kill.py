"""Cost of killing tasklets blocked on one shared channel (notes/IO-NEEDS.md item 3).

    PYTHONPATH=src:. python benchmarks/bench_channel_kill.py [N]      # default N=20000

N receivers block on one channel; they are then killed front to back (each is
the queue's head) and, in a second round, back to front (each is the tail, with
N-1..0 tasklets in front of it).  Removal from a channel's queue is O(1) when
both figures are about the same; an O(position) removal shows as a back-to-front
cost that grows with N.  Prints CPU microseconds per kill (process time: the
machine is shared, wall time would count other engineers' jobs).
"""
import sys
import time

import stackless


def one_round(n, order):
    ch = stackless.channel()
    ts = [stackless.tasklet(ch.receive)() for _ in range(n)]
    stackless.schedule()                    # all of them block on ch
    assert ch.balance == -n
    victims = ts if order == "front-to-back" else ts[::-1]
    t0 = time.process_time()
    for t in victims:
        t.kill()
    dt = time.process_time() - t0
    assert ch.balance == 0 and not any(t.alive for t in ts)
    return dt * 1e6 / n


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    print("%d receivers on one channel, CPU us per kill" % n)
    for order in ("front-to-back", "back-to-front"):
        print("  %-14s %8.2f us" % (order, one_round(n, order)))


if __name__ == "__main__":
    main()
