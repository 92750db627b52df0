"""Atheris harness for evemu.marshal (the installed package).

    pip install atheris
    python fuzz/fuzz_marshal.py -atheris_runs=100000 tests/vectors/handmade

Same property as the libFuzzer harness (fuzz_marshal.c): loads() returns a value or raises
MarshalError, and a decoded value survives dumps() -> loads() unchanged.  Atheris only sees
coverage of Python code unless the extension is built with -fsanitize=fuzzer-no-link; for
coverage-guided fuzzing of the C decoder under ASan/UBSan use fuzz/build.sh (README.md).
"""
import sys

import atheris

with atheris.instrument_imports():
    import evemu.marshal as m


def TestOneInput(data):
    try:
        v = m.loads(data, max_size=4 << 20)
    except m.MarshalError:
        return
    again = m.loads(m.dumps(v, None))
    try:
        r1 = repr(v)
    except ValueError:          # a bad nested SubStream (MarshalError), a huge int's str
        return
    if repr(again) != r1:
        raise AssertionError(f"round trip changed the value: {r1!r} -> {again!r}")


def main():
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
