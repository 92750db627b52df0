"""benchmarks/bench_db.py runs and prints its tables (tiny sizes: this checks the script, not
the figures, which live in docs/db.md)."""
import os
import re
import subprocess
import sys


SCRIPT = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "bench_db.py")


def run(*args):
    r = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_sequential_sqlite_both_syncs():
    out = run("--backend", "sqlite", "--n", "10", "--clients", "3", "--per", "3")
    for label in ("sqlite full", "sqlite normal"):
        for call in ("character selection", "item move", "ISK transfer"):
            assert re.search(rf"{label}\s+{call}\s+1 client\s+\d+", out), out
            assert re.search(rf"{label}\s+{call}\s+3 clients\s+\d+", out), out


def test_paired_against_postgresql(pg_url):
    out = run("--paired", "--pg", pg_url, "--sqlite-sync", "full", "--rounds", "2",
              "--block", "5")
    assert "2 alternated rounds of 5 calls per backend" in out, out
    for label in ("sqlite full", "postgresql"):
        for call in ("character selection", "item move", "ISK transfer"):
            assert re.search(rf"{label}\s+{call}\s+\d+\s+\d+", out), out
    assert "PostgreSQL / sqlite full" in out, out
    for call in ("character selection", "item move", "ISK transfer"):
        assert re.search(rf"{call}\s+\d+\.\d\dx\s+\d+\.\d\dx \[\d+\.\d\d-\d+\.\d\d\]", out), out
