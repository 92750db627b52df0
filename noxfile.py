"""nox: the test suite on every CPython >= 3.11 on this machine, each in a fresh venv.

    pip install nox && nox                 # every version found; a missing one is a printed skip
    nox -p 3.13 -- -x tests/test_core_smoke.py

Each session installs the project as the README says (``pip install '.[test]'``) and runs
``pytest`` from the clone root.  .ci/run runs the README's own command on its interpreter and this
file on all the others.

Interpreters: 3.11 to 3.14 are always listed (a missing one is skipped with its reason), plus any
newer CPython found.  pyenv's ``python3.N`` shims fail for a version that is not selected, so the
real executables under ``$PYENV_ROOT/versions/*/bin`` are put first on PATH (through a folder of
links, so no other command of those folders changes).
"""
import glob
import os
import re
import shutil

import nox

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False   # also under CI=true: skip, do not fail

HERE = os.path.dirname(os.path.abspath(__file__))
TARGETS = {(3, 11), (3, 12), (3, 13), (3, 14)}


def _version_key(path):
    name = os.path.basename(os.path.dirname(os.path.dirname(path)))
    return tuple(int(p) for p in re.findall(r"\d+", name))


def _pyenv_interpreters():
    """{(3, N): newest pyenv executable of 3.N}, plain CPython builds only."""
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    found = {}
    for exe in sorted(glob.glob(os.path.join(root, "versions", "*", "bin", "python3.*")),
                      key=_version_key):
        version_dir = os.path.basename(os.path.dirname(os.path.dirname(exe)))
        m = re.fullmatch(r"python3\.(\d+)", os.path.basename(exe))
        if m and re.fullmatch(r"3\.\d+\.\d+", version_dir) and os.access(exe, os.X_OK):
            found[(3, int(m.group(1)))] = exe
    return found


def _expose(interpreters):
    """Put links python3.N -> the real executable first on PATH (nox looks them up there)."""
    if not interpreters:
        return
    links = os.path.join(HERE, ".nox", "_interpreters")
    os.makedirs(links, exist_ok=True)
    for (major, minor), exe in interpreters.items():
        link = os.path.join(links, f"python{major}.{minor}")
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(exe, link)
    os.environ["PATH"] = links + os.pathsep + os.environ.get("PATH", "")


_PYENV = _pyenv_interpreters()
_expose(_PYENV)
_ON_PATH = {(3, n) for n in range(11, 40) if shutil.which(f"python3.{n}")}
PYTHONS = [f"{a}.{b}" for a, b in sorted(TARGETS | {v for v in _PYENV.keys() | _ON_PATH
                                                     if v >= (3, 11)})]


@nox.session(python=PYTHONS)
def tests(session):
    """pip install '.[test]' && pytest, as the README says (pytest's 5, no tests, is no failure)."""
    session.install(".[test]")
    session.run("pytest", *session.posargs, success_codes=[0, 5])
