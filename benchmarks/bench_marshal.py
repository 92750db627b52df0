"""Marshal codec throughput on the real CCP files: decode and encode MB/s (median, min-max).

    python benchmarks/bench_marshal.py [--repeat N] [--quick]

Reads ../shared/vectors/ccp-cache (beside the repository): CCP's own files, which the project
does not redistribute.  The headline figure is the 137,762-byte dbutil.RowDict payload (6007 packed
rows) inside market.GetRegionBest.10000033.cache.  MB = 10**6 bytes of marshal stream (the
uncompressed size, also for the zlib-framed files, so figures compare).  Each sample times one
call; the result stays alive while timed (freeing it is not decoding).  Reference figures on the
project machine: Reverence's C decoder 226 MB/s, a pure-Python decoder 1.15 MB/s on the RowDict.
"""
import argparse
import gc
import statistics
import sys
import time
import zlib
from pathlib import Path

import evemu.marshal as m

REPO = Path(__file__).resolve().parent.parent


def find_files():
    for root in (REPO.parent / "shared" / "vectors" / "ccp-cache",
                 REPO.parent.parent / "shared" / "vectors" / "ccp-cache"):
        files = sorted(root.glob("*.cache"))
        if files:
            return root, files
    sys.exit("no .cache files found: this benchmark needs ../shared/vectors/ccp-cache beside the repository")


def samples(fn, arg, repeat, min_time):
    out = []
    t_end = time.perf_counter() + min_time
    while len(out) < repeat or time.perf_counter() < t_end:
        t0 = time.perf_counter()
        result = fn(arg)
        out.append(time.perf_counter() - t0)
        del result
        if len(out) > 50 * repeat:
            break
    return out


def mbps(nbytes, times):
    rates = sorted(nbytes / t / 1e6 for t in times)
    return statistics.median(rates), rates[0], rates[-1]


def row(name, nbytes, dec, enc):
    d, e = mbps(nbytes, dec), mbps(nbytes, enc)
    print(f"{name:44s} {nbytes:>8d}  {d[0]:7.1f} ({d[1]:6.1f}-{d[2]:6.1f})"
          f"  {e[0]:7.1f} ({e[1]:6.1f}-{e[2]:6.1f})")
    return d, e


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200, help="minimum samples per figure")
    ap.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    args = ap.parse_args()
    repeat, min_time = (20, 0.05) if args.quick else (args.repeat, 0.5)

    root, files = find_files()
    print(f"files: {root}")
    print(f"python {sys.version.split()[0]}, gc {'on' if gc.isenabled() else 'off'}")
    print(f"{'stream':44s} {'bytes':>8s}  {'decode MB/s median (min-max)':29s}"
          f"  {'encode MB/s median (min-max)'}")
    payload = None
    for path in files:
        data = path.read_bytes()
        raw = zlib.decompress(data) if data[0] == 0x78 else data
        value = m.loads(raw)
        dec = samples(m.loads, raw, repeat, min_time)
        enc = samples(lambda v: m.dumps(v, None), value, repeat, min_time)
        row(path.name, len(raw), dec, enc)
        if path.name.startswith("market.GetRegionBest"):
            payload = zlib.decompress(value[1].state[4])

    if payload is not None:
        value = m.loads(payload)
        dec = samples(m.loads, payload, repeat, min_time)
        enc = samples(lambda v: m.dumps(v, None), value, repeat, min_time)
        print()
        d, e = row("RowDict payload (6007 PackedRows)", len(payload), dec, enc)
        rows = list(value.dict.values())

        def read_column(rs):
            return [r.price for r in rs]

        def read_all(rs):
            return [r.values() for r in rs]

        t_col = statistics.median(samples(read_column, rows, repeat, min_time))
        t_all = statistics.median(samples(read_all, rows, repeat, min_time))
        print(f"  reading one column of every row: {t_col * 1e9 / len(rows):6.1f} ns/row;"
              f" all 4 columns (values()): {t_all * 1e9 / len(rows):6.1f} ns/row")
        z = value and m.dumps(value)                 # default: zlib above 8192 bytes
        zt = samples(m.loads, z, max(5, repeat // 10), min_time)
        print(f"  zlib-framed ({len(z)} bytes): decode incl. inflate "
              f"{mbps(len(payload), zt)[0]:.1f} MB/s of marshal data")
        print(f"targets: decode >= 200 MB/s (got {d[0]:.0f}), encode >= 100 MB/s (got {e[0]:.0f})")


if __name__ == "__main__":
    main()
