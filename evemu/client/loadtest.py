"""``python -m evemu.client.loadtest``: the old name of ``python -m evemu.client load``.

    python -m evemu.client.loadtest --port 26100 --clients 200 --calls 50

takes the same options as :mod:`evemu.client.load` (``--calls N`` = each client makes N calls
back to back, as the old load test did) and prints the same report.
"""
from .load import main as _main


def main(argv=None):
    return _main(argv, prog="python -m evemu.client.loadtest")


if __name__ == "__main__":
    raise SystemExit(main())
