"""The C sources compile warning-free with -Wall -Wextra (a project rule, checked here).

Needs the source tree (a clone) and a C compiler; skips with the reason otherwise.
"""
import os
import pathlib
import shutil
import subprocess
import sysconfig

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
C_DIRS = ["src/stackless", "src/marshal"]
C_FILES = sorted(p for d in C_DIRS for p in (ROOT / d).glob("*.c"))


def _compiler():
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    return shutil.which(cc) or shutil.which("cc")


@pytest.mark.skipif(not C_FILES, reason="no C sources beside the tests (not a source checkout)")
@pytest.mark.parametrize("path", C_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_compiles_without_warnings(path):
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler on PATH")
    greenlet = pytest.importorskip("greenlet")
    includes = [
        sysconfig.get_paths()["include"],
        os.path.dirname(greenlet.__file__),
        str(path.parent),
    ]
    # Compile for real (-c): some warnings only appear with optimisation on.
    cmd = [cc, "-c", "-o", os.devnull, "-Wall", "-Wextra", "-Werror", "-O2", "-fPIC"]
    cmd += [f"-I{i}" for i in includes] + [str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
