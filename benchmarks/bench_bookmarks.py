"""Bookmarks over loopback: the round trip of ``bookmark.BookmarkLocation`` (one INSERT in
its own transaction), of ``GetBookmarks`` as a character's list grows, and of
``DeleteBookmarks`` of the whole list (server and client in one process, one thread, like the
tests; SQLite in a temporary file, or ``--pg URL``).

    python benchmarks/bench_bookmarks.py [--bookmarks 500] [--pg postgresql://...]

Prints the p50/p99 of each call in milliseconds.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

from server_helpers import running_server  # noqa: E402

from evemu.client import Client  # noqa: E402
from evemu.db import Database  # noqa: E402
from evemu.wire.marshal import Instance, ObjectEx1, Token  # noqa: E402

KV = Instance("util.KeyVal", {})
STATION = 60014689                  # the Federal Navy Academy (bloodline 7, ancestry 13, 20)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000.0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bookmarks", type=int, default=500)
    p.add_argument("--pg", default=None, help="a PostgreSQL URL instead of SQLite")
    args = p.parse_args()
    n = args.bookmarks
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(args.pg or os.path.join(tmp, "bench.sqlite3"))
        try:
            with running_server(db=db, debug_services=False) as server:
                c = Client.connect(server.address)
                c.login("marker", "pw")
                cid = c.call("charUnboundMgr", "CreateCharacterWithDoll", "Mark Er", 7, 1, 13,
                             KV, KV, 20)
                c.call("charUnboundMgr", "SelectCharacterID", cid)
                add, get, ids = [], [], []
                for i in range(n):
                    t0 = time.perf_counter()
                    ids.append(c.call("bookmark", "BookmarkLocation", STATION, cid,
                                      f"mark {i}", "")[0])
                    add.append(time.perf_counter() - t0)
                    if i % 50 == 49:
                        t0 = time.perf_counter()
                        marks, _folders = c.call("bookmark", "GetBookmarks")
                        get.append(time.perf_counter() - t0)
                        assert len(marks) == i + 1
                t0 = time.perf_counter()
                c.call("bookmark", "DeleteBookmarks",
                       ObjectEx1((Token("__builtin__.set"), (ids,))))
                delete = time.perf_counter() - t0
                assert c.call("bookmark", "GetBookmarks") == ([], [])
                c.close()
        finally:
            db.close()
    backend = "postgresql" if args.pg else "sqlite"
    print(f"{backend}, {n} bookmarks, one client over loopback")
    rows = [("BookmarkLocation", f"{pct(add, .5):8.2f}", f"{pct(add, .99):8.2f}"),
            (f"GetBookmarks (every 50th, 50..{n})", f"{pct(get, .5):8.2f}",
             f"{pct(get, .99):8.2f}"),
            (f"DeleteBookmarks of all {n}", f"{delete * 1000:8.2f}", "")]
    print(f"| {'call':<36} | {'p50 ms':>8} | {'p99 ms':>8} |")
    for name, a, b in rows:
        print(f"| {name:<36} | {a:>8} | {b:>8} |")
    print(f"GetBookmarks of {n}: {get[-1] * 1000:.2f} ms; mean BookmarkLocation "
          f"{statistics.mean(add) * 1000:.2f} ms")


if __name__ == "__main__":
    main()
