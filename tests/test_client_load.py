"""The load generator (python -m evemu.client load): its figures are computed from what
happened (logins, calls, errors, server RSS/CPU), in one or several processes.  No timing
assertions: only counts and the presence and sanity of every figure."""
import json
import os
import subprocess
import sys

import pytest

from evemu.client.load import _parse_rates, percentiles, proc_cpu_seconds, proc_status

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_percentiles_nearest_rank():
    s = list(range(1, 101))
    assert percentiles(s) == {"p50": 50, "p90": 90, "p99": 99, "max": 100}
    assert percentiles([7]) == {"p50": 7, "p90": 7, "p99": 7, "max": 7}
    assert percentiles([]) == {"p50": None, "p90": None, "p99": None, "max": None}
    assert percentiles([3, 1, 2], ps=(50,)) == {"p50": 2, "max": 3}


def test_rates_and_proc_readings():
    assert _parse_rates("1000,5000, 10000") == [1000.0, 5000.0, 10000.0]
    assert _parse_rates("max") == [None] and _parse_rates("0,10") == [None, 10.0]
    st = proc_status(os.getpid())
    assert st["VmRSS"] > 1 << 20 and st["VmHWM"] >= st["VmRSS"]
    assert proc_cpu_seconds(os.getpid()) > 0
    assert proc_status(2 ** 22 + 12345) == {} and proc_cpu_seconds(2 ** 22 + 12345) is None


def _load(*args):
    p = subprocess.run([sys.executable, "-m", "evemu.client", "load", "--start-server",
                        "--json", *args], capture_output=True, text=True, timeout=120,
                       cwd=REPO)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1]), p.stdout


@pytest.mark.parametrize("procs", [1, 2])
def test_load_run_against_a_started_server(procs):
    r, text = _load("--clients", "6", "--rate", "60,max", "--duration", "0.5",
                    "--procs", str(procs))
    assert r["procs"] == procs and r["clients"] == 6
    lg = r["login"]
    assert lg["logged_in"] == 6 and lg["errors"] == 0 and lg["per_second"] > 0
    assert 0 < lg["p50"] <= lg["p99"] <= lg["max"]
    assert r["rss_after_logins"] > 0 and r["rss_per_connection"] is not None
    open_phase, closed_phase = r["phases"]
    assert open_phase["offered"] == 60 and closed_phase["offered"] is None
    assert 0 < open_phase["calls"] <= 36          # 60/s for 0.5 s (+ one per client)
    assert closed_phase["calls"] > 0 and closed_phase["errors"] == 0
    for ph in r["phases"]:
        assert ph["p50"] <= ph["p90"] <= ph["p99"] <= ph["max"]
        assert ph["server_cpu"] >= 0
    assert "logins/s" in text and "KiB per connection" in text and "p99 ms" in text


def test_loadtest_alias_and_bad_usage():
    p = subprocess.run([sys.executable, "-m", "evemu.client.loadtest", "--start-server",
                        "--clients", "3", "--calls", "4", "--json"], capture_output=True,
                       text=True, timeout=120, cwd=REPO)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["phases"][0]["calls"] == 12 and r["login"]["logged_in"] == 3
    p = subprocess.run([sys.executable, "-m", "evemu.client"], capture_output=True, text=True,
                       timeout=60, cwd=REPO)
    assert p.returncode == 2 and "load" in p.stderr
