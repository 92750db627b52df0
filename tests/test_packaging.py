"""The package as a user gets it.

* Fast: the compiled modules are the top-level ``_stackless`` and ``_evemu_marshal``, so code
  started from the clone root (where the source folder ``evemu/`` is found before the installed
  package) still imports them (the README's ``python -m evemu`` works there).
* Slow (marked ``slow``; part of the default run and so of CI): ``python -m build --sdist``, then
  ``pip install`` of that sdist into a fresh venv outside the tree, and a tasklet ping-pong and a
  marshal round trip there.  The sdist must hold every C source and header, the wheel none of
  them and no build leftovers (checked through the installed RECORD).

The slow test needs the ``build`` package (in the ``test`` extra), a C compiler and a package
index for the isolated build environment (pip's cache is reused).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import textwrap
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
IN_CHECKOUT = (ROOT / "setup.py").is_file() and (ROOT / "src").is_dir()
C_SOURCES = sorted(p.relative_to(ROOT).as_posix()
                   for pattern in ("*.c", "*.h") for p in (ROOT / "src").glob(f"*/{pattern}"))
CHECKOUT_ONLY = pytest.mark.skipif(not IN_CHECKOUT, reason="needs the source tree (a clone)")


def _run(cmd, *, cwd, timeout=600, env=None):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f"{cmd} failed ({proc.returncode}):\n"
                                  f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _env_without_tree():
    """The environment without what points into the tree or at a sanitizer runtime
    (tools/sanitize.sh preloads one; the builds and installs here are ordinary ones)."""
    drop = ("PYTHONPATH", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")
    return {k: v for k, v in os.environ.items() if k not in drop}


# ---------------------------------------------------------------------------- fast checks

def test_compiled_modules_are_top_level():
    import _evemu_marshal
    import _stackless

    import evemu.wire.marshal
    import stackless

    assert stackless._stackless is _stackless
    assert stackless.tasklet is _stackless.tasklet and stackless.channel is _stackless.channel
    assert evemu.wire.marshal.loads is _evemu_marshal.loads
    assert _stackless.__name__ == "_stackless" and _evemu_marshal.__name__ == "_evemu_marshal"
    # Neither lives in a package, so no folder named like one can hide them.
    assert "." not in _stackless.__spec__.name and "." not in _evemu_marshal.__spec__.name


def test_old_nested_module_names_are_gone():
    with pytest.raises(ModuleNotFoundError, match="evemu.wire._marshal"):
        __import__("evemu.wire._marshal")


@CHECKOUT_ONLY
def test_source_folder_of_the_clone_root_does_not_shadow_the_extensions():
    """From the clone root ``import evemu`` finds the source folder; the codec must still load."""
    code = textwrap.dedent("""
        import os, evemu, evemu.marshal as m, stackless
        from _stackless import tasklet, channel
        here = os.path.dirname(os.path.abspath(evemu.__file__))
        assert here == os.path.join(os.getcwd(), "evemu"), evemu.__file__
        assert m.loads(m.dumps((1, "x", [2.5, None]))) == (1, "x", [2.5, None])
        print("ok")
    """)
    proc = _run([sys.executable, "-c", code], cwd=ROOT, timeout=120, env=_env_without_tree())
    assert proc.stdout.strip() == "ok"
    proc = _run([sys.executable, "-m", "evemu", "--help"], cwd=ROOT, timeout=120,
                env=_env_without_tree())
    assert "usage: python -m evemu" in proc.stdout


@CHECKOUT_ONLY
def test_every_header_is_a_depends_of_its_extension():
    """Editing a header rebuilds its extension (setuptools compares `depends` with the .so)."""
    # setup.py runs against a stand-in setuptools that records the Extension objects, so the
    # check needs neither a given setuptools version nor a build.
    code = textwrap.dedent("""
        import json, sys, types
        class Extension:
            def __init__(self, name, sources, depends=(), **kw):
                self.name, self.sources, self.depends = name, sources, list(depends)
        seen = {}
        st = types.ModuleType("setuptools")
        st.__version__ = "999.0"
        st.Extension, st.find_packages, st.setup = Extension, lambda **kw: [], seen.update
        cmd = types.ModuleType("setuptools.command")
        build = types.ModuleType("setuptools.command.build")
        build.build = type("build", (), {})
        sys.modules.update({"setuptools": st, "setuptools.command": cmd,
                            "setuptools.command.build": build})
        import os; path = os.path.abspath("setup.py")
        exec(compile(open(path).read(), path, "exec"), {"__name__": "__main__", "__file__": path})
        print(json.dumps({e.name: [e.sources, e.depends] for e in seen["ext_modules"]}))
    """)
    pytest.importorskip("greenlet")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=_env_without_tree())
    assert proc.returncode == 0, proc.stderr
    exts = json.loads(proc.stdout)
    assert sorted(exts) == ["_evemu_marshal", "_stackless"]
    for name, folder in (("_stackless", "src/stackless"), ("_evemu_marshal", "src/marshal")):
        sources, depends = exts[name]
        assert sorted(sources) == sorted(p for p in C_SOURCES if p.startswith(folder + "/")
                                         and p.endswith(".c"))
        headers = sorted(p for p in C_SOURCES if p.startswith(folder + "/") and p.endswith(".h"))
        assert headers and sorted(depends) == headers


# ---------------------------------------------------------------------------- the sdist

def _clean_copy(tmp_path_factory):
    """The tree without build products: setuptools re-reads a stale egg-info/SOURCES.txt of an
    earlier build, which would hide a file missing from the manifest."""
    tree = tmp_path_factory.mktemp("tree") / "clone"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", ".nox", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".hypothesis", "*.so", "*.o"))
    return tree


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    pytest.importorskip("build", reason="needs the `build` package (pip install '.[test]')")
    tree = _clean_copy(tmp_path_factory)
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--sdist", "--outdir", str(out), str(tree)],
                cwd=out, env=_env_without_tree())
    (path,) = out.glob("evemu_stackless-*.tar.gz")
    return path, proc.stdout + proc.stderr


@CHECKOUT_ONLY
@pytest.mark.slow
def test_sdist_holds_every_source_header_and_the_license(sdist):
    path, log = sdist
    assert C_SOURCES and any(s.endswith(".h") for s in C_SOURCES)
    with tarfile.open(path) as tar:
        top = tar.getnames()[0].split("/")[0]
        names = {n[len(top) + 1:] for n in tar.getnames()}
        pkg_info = tar.extractfile(f"{top}/PKG-INFO").read().decode()
    missing = [s for s in C_SOURCES + ["LICENSE", "setup.py", "pyproject.toml", "MANIFEST.in"]
               if s not in names]
    assert missing == []
    assert not [n for n in names if n.endswith((".so", ".o", ".pyc"))]
    assert "License-Expression: MIT" in pkg_info and "License-File: LICENSE" in pkg_info
    deprecated = [line for line in log.splitlines()
                  if "deprecat" in line.lower() and "license" in line.lower()]
    assert deprecated == []


@CHECKOUT_ONLY
@pytest.mark.slow
def test_sdist_installs_into_a_fresh_venv_and_works_there(sdist, tmp_path):
    path, _log = sdist
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path,
         env=_env_without_tree())
    py = venv / "bin" / "python"
    # The outer pip installs into the venv (no pip bootstrap there); its cache is reused.
    _run([sys.executable, "-m", "pip", "--python", str(py), "install",
          "--disable-pip-version-check", str(path)], cwd=tmp_path, env=_env_without_tree())
    code = textwrap.dedent("""
        import os, sys
        import stackless, _stackless
        from _stackless import channel, tasklet
        from evemu.marshal import dumps, loads, Token
        import evemu.wire.marshal as wm

        for mod in (stackless, _stackless, wm):
            assert mod.__file__.startswith(sys.prefix), mod.__file__

        got = []
        def ping(ch, n):
            for i in range(n):
                ch.send(i)
                got.append(("pong", ch.receive()))
        def pong(ch, n):
            for _ in range(n):
                v = ch.receive()
                got.append(("ping", v))
                ch.send(v * 10)
        ch = channel()
        tasklet(ping)(ch, 3)
        tasklet(pong)(ch, 3)
        stackless.run()
        assert got == [("ping", 0), ("pong", 0), ("ping", 1), ("pong", 10),
                       ("ping", 2), ("pong", 20)], got

        value = (1, -2**40, 2.5, "caf\\u00e9", b"raw", [None, True],
                 {b"k": (Token(b"blue.DBRow"),)})
        assert loads(dumps(value)) == value
        print("ok")
    """)
    proc = _run([str(py), "-c", code], cwd=tmp_path, env=_env_without_tree(), timeout=120)
    assert proc.stdout.strip() == "ok"

    # What the wheel put into the venv (its RECORD): the two extensions at top level, the
    # license, and no C source, header, object file or other build leftover.
    (record,) = venv.glob("lib/python*/site-packages/evemu_stackless-*.dist-info/RECORD")
    files = [line.split(",")[0] for line in record.read_text().splitlines() if line]
    assert not [f for f in files if f.endswith((".c", ".h", ".o", ".a", ".pyx"))]
    assert not [f for f in files if f.startswith(("build/", "src/", "tests/"))]
    top_so = sorted(f.split(".")[0] for f in files if "/" not in f and f.endswith(".so"))
    assert top_so == ["_evemu_marshal", "_stackless"]
    assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files)


@CHECKOUT_ONLY
@pytest.mark.slow
def test_wheel_leaves_out_stale_files_of_an_earlier_build(tmp_path_factory):
    """pip builds in the tree and reuses build/: what an older build left there stays out."""
    pytest.importorskip("build", reason="needs the `build` package (pip install '.[test]')")
    tree = _clean_copy(tmp_path_factory)
    lib = tree / "build" / f"lib.{sysconfig.get_platform()}-{sys.implementation.cache_tag}"
    stale = ["evemu/wire/_marshal.cpython-311-x86_64-linux-gnu.so", "stackless/module.c",
             "stackless/stackless_impl.h", "stackless/_stackless.abi3.so", "evemu/old_module.py"]
    for rel in stale:
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        (lib / rel).write_bytes(b"stale")
    out = tmp_path_factory.mktemp("wheel")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(tree)], cwd=out,
         env=_env_without_tree())
    (wheel,) = out.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert [n for n in stale if n in names] == []
    assert not [n for n in names if n.endswith((".c", ".h", ".o"))]
    assert sorted(n.split(".")[0] for n in names if n.endswith(".so")) == ["_evemu_marshal",
                                                                           "_stackless"]
    assert "stackless/__init__.py" in names and "evemu/wire/marshal.py" in names
