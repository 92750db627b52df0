"""Build script for the two C extensions; metadata lives in pyproject.toml.

- ``stackless._stackless``: the tasklet runtime, every ``src/stackless/*.c``.
  It switches stacks through greenlet's C API, so it compiles against the
  ``greenlet.h`` that ships inside the installed greenlet package.
- ``evemu.wire._marshal``: the EVE marshal codec, every ``src/marshal/*.c``.
  It uses CPython's own ``zlib`` module at run time, so it links nothing else.
"""
import glob
import os

from setuptools import Extension, find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def greenlet_include():
    import greenlet  # a build requirement (pyproject.toml)

    path = os.path.dirname(os.path.abspath(greenlet.__file__))
    if not os.path.exists(os.path.join(path, "greenlet.h")):
        raise RuntimeError(f"greenlet.h not found in the installed greenlet package ({path})")
    return path


def sources(folder):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, folder, "*.c")))


CFLAGS = ["-Wall", "-Wextra"]
if os.environ.get("EVEMU_STRICT"):  # used by tests/test_build.py and the sanitizer script
    CFLAGS.append("-Werror")
if os.environ.get("EVEMU_DEBUG"):
    CFLAGS += ["-O0", "-g3", "-UNDEBUG"]

ext_modules = [
    Extension(
        "stackless._stackless",
        sources=sources("src/stackless"),
        include_dirs=[os.path.join(HERE, "src/stackless"), greenlet_include()],
        extra_compile_args=CFLAGS,
    ),
    Extension(
        "evemu.wire._marshal",
        sources=sources("src/marshal"),
        include_dirs=[os.path.join(HERE, "src/marshal")],
        extra_compile_args=CFLAGS,
    ),
]
# A tree being built up may not have the C files of one extension yet.
ext_modules = [e for e in ext_modules if e.sources]

setup(
    packages=["stackless"] + find_packages(include=["evemu", "evemu.*"]),
    package_dir={"stackless": "src/stackless"},
    package_data={"stackless": ["*.pyi", "py.typed"], "evemu.world": ["data/*.json"]},
    ext_modules=ext_modules,
)
