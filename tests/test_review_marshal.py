"""Regression tests for bugs found by the C code review of _evemu_marshal.

Cases that crashed the interpreter before their fix run in a child interpreter.
"""
import pytest

import evemu.marshal as m


def _ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout.strip().splitlines()[-1]


def test_packedrow_values_list_shrunk_while_converting(run_python):
    # PySequence_Fast returns the caller's list itself; a value whose __index__ empties the
    # list made the constructor read past the end of the list's item array (segfault).
    out = _ok(run_python(r"""
import evemu.marshal as m
d = m.DBRowDescriptor([("c%d" % i, m.DBTYPE_I4) for i in range(41)])
vals = []
class Evil:
    def __index__(self):
        vals.clear()
        return 1
vals.extend([Evil()] + list(range(40)))
try:
    m.PackedRow(d, vals)
except RuntimeError as e:
    print("RuntimeError", e)
"""))
    assert out == "RuntimeError PackedRow values changed size during construction"


def test_packedrow_values_list_unchanged_still_works():
    d = m.DBRowDescriptor([("a", m.DBTYPE_I4), ("b", m.DBTYPE_BOOL), ("c", m.DBTYPE_STR)])

    class Idx:
        def __index__(self):
            return 7

    row = m.PackedRow(d, [Idx(), 1, b"x"])
    assert list(row) == [7, True, b"x"]


class WeirdInt(int):
    def bit_length(self):
        return -5

    def to_bytes(self, *a, **k):
        return "not bytes"


@pytest.mark.parametrize("value", [2**70, -(2**70), 2**64, -(2**63) - 1])
def test_dumps_int_subclass_overriding_int_methods(value):
    # a negative bit_length() made dumps return NULL without an exception (SystemError);
    # a to_bytes() returning a str was read as bytes
    data = m.dumps(WeirdInt(value))
    assert m.loads(data) == value


@pytest.mark.parametrize("fn", ["loads", "dumps"])
def test_max_depth_is_capped(fn):
    with pytest.raises(ValueError, match="max_depth must be in 1..10000"):
        if fn == "loads":
            m.loads(b"\x7e\0\0\0\0\x01", max_depth=10001)
        else:
            m.dumps(None, max_depth=10**6)
    # the cap itself is accepted
    deep = b"\x7e\0\0\0\0" + b"\x25" * 9000 + b"\x01"
    v = m.loads(deep, max_depth=10000)
    assert m.dumps(v, None, max_depth=10000) == deep     # (== on values: RecursionError)


def test_deep_nesting_with_huge_max_depth_does_not_crash(run_python):
    # decode_object recursed on the C stack as deep as the caller's max_depth allowed:
    # 100000 nested tuples overflowed the stack (segfault); likewise dumps.
    out = _ok(run_python(r"""
import evemu.marshal as m
data = b"\x7e\0\0\0\0" + b"\x25" * 200000 + b"\x01"
res = []
try:
    m.loads(data, max_depth=10**6)
except ValueError as e:
    res.append("loads ValueError")
o = None
for i in range(1000000):
    o = [o]
try:
    m.dumps(o, max_depth=2 * 10**6)
except ValueError as e:
    res.append("dumps ValueError")
print(res)
"""))
    assert out == "['loads ValueError', 'dumps ValueError']"
