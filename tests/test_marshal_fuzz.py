"""A short libFuzzer run of the marshal decoder under ASan/UBSan (fuzz/README.md).

The longer runs are made by hand (fuzz/README.md); this one keeps the harness building and
catches a regression on every test run where clang-14 with its sanitizer runtime and a shared
libpython are present.  Elsewhere it skips with the reason; the deterministic mutation test in
test_marshal_errors.py covers the same property without a compiler.
"""
import os
import pathlib
import shutil
import subprocess
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BUILD = ROOT / "fuzz" / "build.sh"


def _skip_reason():
    if not BUILD.exists() or not (ROOT / "src" / "marshal").is_dir():
        return "needs the source checkout (fuzz/build.sh, src/marshal)"
    if shutil.which("clang-14") is None:
        return "needs clang-14 and libclang-rt-14-dev (apt-get install clang-14 libclang-rt-14-dev)"
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        return "needs a Python built with a shared libpython to embed"
    return None


@pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))
def test_libfuzzer_smoke_run(tmp_path):
    # The harness links its own sanitizer runtime: a preloaded one (tools/sanitize.sh) clashes.
    env = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "ASAN_OPTIONS")}
    build = subprocess.run(["sh", str(BUILD)], capture_output=True, text=True, timeout=300,
                           env=env)
    assert build.returncode == 0, build.stdout + build.stderr
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds = sorted(str(p) for p in (ROOT / "tests" / "vectors").iterdir() if p.is_dir())
    env = dict(env, PYTHONMALLOC="malloc", ASAN_OPTIONS="detect_leaks=0")
    run = subprocess.run(
        [str(ROOT / "build" / "fuzz_marshal"), "-runs=20000", "-timeout=10", "-rss_limit_mb=2048",
         "-seed=1", f"-artifact_prefix={tmp_path}/", str(corpus), *seeds],
        capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    assert "Done 20000 runs" in run.stderr
