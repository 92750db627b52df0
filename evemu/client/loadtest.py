"""``python -m evemu.client.loadtest``: the old name of ``python -m evemu.client load``.

    python -m evemu.client.loadtest --port 26100 --clients 200 --calls 50

takes the same options as :mod:`evemu.client.load` (``--calls N`` = each client makes N calls
back to back, as the old load test did) and prints the same report.  ``run()`` keeps the old
API (one process, closed loop).
"""
from .load import main as _main
from .load import run as _run


def run(host, port, clients, calls, prefix="load"):
    """Log ``clients`` in, then ``calls`` sequential calls each; the old result dict:
    logins, calls, errors, seconds (login phase + calls), login_p50_ms (+ ``figures``: the
    full result of :func:`evemu.client.load.run`)."""
    r = _run(host, port, clients, [None], 3600.0, prefix=prefix, max_calls=calls)
    lg, ph = r["login"], r["phases"][0]
    out = {"logins": lg["logged_in"], "calls": ph["calls"],
           "errors": lg["errors"] + ph["errors"], "seconds": lg["seconds"] + ph["seconds"],
           "login_p50_ms": (lg["p50"] or 0) * 1000, "figures": r}
    first = lg["first_error"] or ph["first_error"]
    if first:
        out["first_error"] = first
    return out


def main(argv=None):
    return _main(argv, prog="python -m evemu.client.loadtest")


if __name__ == "__main__":
    raise SystemExit(main())
