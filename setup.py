"""Build script for the two C extensions; metadata lives in pyproject.toml.

Both extensions are top-level private modules, so that no source folder can shadow them (the
clone root holds ``evemu/``, which Python finds before the installed package when started there):

- ``_stackless``: the tasklet runtime (Stackless names its C module the same), every
  ``src/stackless/*.c``. It switches stacks through greenlet's C API, so it compiles against the
  ``greenlet.h`` that ships inside the installed greenlet package. ``stackless._stackless`` is
  the same module, as an attribute.
- ``_evemu_marshal``: the EVE marshal codec, every ``src/marshal/*.c``, used by
  ``evemu.wire.marshal``. It uses CPython's own ``zlib`` module at run time and links nothing else.

The headers are ``depends`` (editing one rebuilds its extension) and ship in the sdist
(MANIFEST.in); no C source, header or build leftover goes into the wheel.
"""
import glob
import os

import setuptools
from setuptools import Extension, find_packages, setup
from setuptools.command.build import build

HERE = os.path.dirname(os.path.abspath(__file__))

# pyproject.toml uses PEP 639 metadata (an SPDX `license` string and `license-files`), which older
# setuptools reject with an obscure validation error. pip's isolated build gets the pinned
# version by itself; say what to do for --no-build-isolation or `python setup.py ...`.
if tuple(int(p) for p in setuptools.__version__.split(".")[:2] if p.isdigit()) < (77, 0):
    raise SystemExit(f"setuptools>=77.0.3 is needed (found {setuptools.__version__}): "
                     "pip install -U 'setuptools>=77.0.3'")


def greenlet_include():
    import greenlet  # a build requirement (pyproject.toml)

    path = os.path.dirname(os.path.abspath(greenlet.__file__))
    if not os.path.exists(os.path.join(path, "greenlet.h")):
        raise RuntimeError(f"greenlet.h not found in the installed greenlet package ({path})")
    return path


def files(folder, pattern):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, folder, pattern)))


CFLAGS = ["-Wall", "-Wextra"]
if os.environ.get("EVEMU_STRICT"):  # used by tests/test_build.py and the sanitizer script
    CFLAGS.append("-Werror")
if os.environ.get("EVEMU_DEBUG"):
    CFLAGS += ["-O0", "-g3", "-UNDEBUG"]

ext_modules = [
    Extension(
        "_stackless",
        sources=files("src/stackless", "*.c"),
        depends=files("src/stackless", "*.h"),
        include_dirs=[os.path.join(HERE, "src/stackless"), greenlet_include()],
        extra_compile_args=CFLAGS,
    ),
    Extension(
        "_evemu_marshal",
        sources=files("src/marshal", "*.c"),
        depends=files("src/marshal", "*.h"),
        include_dirs=[os.path.join(HERE, "src/marshal")],
        extra_compile_args=CFLAGS,
    ),
]
# A tree being built up may not have the C files of one extension yet.
ext_modules = [e for e in ext_modules if e.sources]


class build_clean(build):
    """`build`, then drop from build/lib* what this build did not produce.

    pip builds in the source tree and reuses build/: files an older layout put there (the old
    extension names, C sources once copied as package data) would otherwise go into the wheel.
    """

    def run(self):
        super().run()
        keep = set()
        for name in self.get_sub_commands():
            outputs = getattr(self.get_finalized_command(name), "get_outputs", None)
            if outputs is not None:
                keep.update(os.path.abspath(p) for p in outputs())
        for folder, _dirs, names in os.walk(self.build_lib):
            for n in names:
                path = os.path.abspath(os.path.join(folder, n))
                if path not in keep:
                    os.remove(path)


setup(
    # evemu/world/data holds the shipped static data (JSON, no Python): a data package
    packages=["stackless"] + find_packages(include=["evemu", "evemu.*"]) + ["evemu.world.data"],
    package_dir={"stackless": "src/stackless"},
    package_data={"stackless": ["*.pyi", "py.typed"], "evemu.world.data": ["*.json"]},
    # The sdist carries the C next to the Python of `stackless`; the wheel must not.
    exclude_package_data={"": ["*.c", "*.h", "*.o", "*.so", "*.pyd"]},
    ext_modules=ext_modules,
    cmdclass={"build": build_clean},
)
