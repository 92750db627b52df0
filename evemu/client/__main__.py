"""``python -m evemu.client load ...``: the load generator (see :mod:`evemu.client.load`)."""
import sys


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_load-worker":
        from .load import worker_main
        return worker_main()
    if argv and argv[0] == "load":
        from .load import main as load_main
        return load_main(argv[1:])
    print("usage: python -m evemu.client load [--help]\n"
          "  load   a load generator: logins/s, calls/s, latency percentiles, server RSS",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
