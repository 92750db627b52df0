"""loads/dumps argument handling.  Both are METH_FASTCALL functions whose common forms
(``loads(data)``, ``loads(data, max_size=n)``, ``dumps(obj)``, ``dumps(obj, threshold)``) skip
the general argument parser; every form must still mean what it meant, and every other form
must be parsed (and refused) as before."""
import pytest

from evemu.wire import marshal as m

DATA = m.dumps((1, b"GetTime", (), {}), None)


@pytest.mark.parametrize("form", [
    lambda: m.loads(DATA),
    lambda: m.loads(data=DATA),
    lambda: m.loads(DATA, max_size=len(DATA)),
    lambda: m.loads(DATA, max_size=len(DATA), max_depth=5),
    lambda: m.loads(DATA, max_depth=5, max_size=1 << 40),
    lambda: m.loads(bytearray(DATA)),
    lambda: m.loads(memoryview(DATA)),
    lambda: m.loads(memoryview(b"xx" + DATA)[2:]),
    lambda: m.loads(DATA, allow_trailing=True),
    lambda: m.loads(DATA, **{"max_size": 100}),
], ids=["positional", "data=", "max_size", "max_size+depth", "big max_size", "bytearray",
        "memoryview", "memoryview slice", "allow_trailing", "**kw"])
def test_loads_forms(form):
    assert form() == (1, b"GetTime", (), {})


def test_loads_max_size_is_applied_on_the_fast_form():
    with pytest.raises(m.MarshalError, match="exceeds the 3-byte limit"):
        m.loads(DATA, max_size=3)
    with pytest.raises(ValueError, match="max_size >= 0"):
        m.loads(DATA, max_size=-1)


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: m.loads(), TypeError, "loads"),
    (lambda: m.loads(DATA, 5), TypeError, "positional argument"),
    (lambda: m.loads("text"), TypeError, "bytes-like"),
    (lambda: m.loads(None), TypeError, "bytes-like"),
    (lambda: m.loads(DATA, max_size="5"), TypeError, "integer"),
    (lambda: m.loads(DATA, max_size=5.0), TypeError, "integer"),
    (lambda: m.loads(DATA, max_size=1 << 70), OverflowError, None),
    (lambda: m.loads(DATA, max_sizes=5), TypeError, "max_sizes"),
    (lambda: m.loads(DATA, data=DATA), TypeError, "data"),
    (lambda: m.loads(memoryview(DATA * 2)[::2]), (TypeError, ValueError, BufferError), None),
    (lambda: m.loads(DATA, max_depth=0), ValueError, "max_depth"),
])
def test_loads_refusals(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_loads_max_size_bool_is_an_int():
    # (the general parser's "n" takes a bool as the int 1; the fast form leaves it to it)
    with pytest.raises(m.MarshalError, match="exceeds the 1-byte limit"):
        m.loads(b"~\0\0\0\0\x01", max_size=True)


@pytest.mark.parametrize("form, threshold", [
    (lambda v: m.dumps(v), 8192),
    (lambda v: m.dumps(v, 8192), 8192),
    (lambda v: m.dumps(v, None), None),
    (lambda v: m.dumps(v, 10), 10),
    (lambda v: m.dumps(v, compress_threshold=10), 10),
    (lambda v: m.dumps(obj=v, compress_threshold=None), None),
    (lambda v: m.dumps(v, 10, max_depth=50), 10),
], ids=["default", "positional", "None", "small", "keyword", "all keywords", "max_depth"])
def test_dumps_forms(form, threshold):
    small, big = (1, b"x"), (b"y" * 100,)
    assert form(small) == m.dumps(small, None)
    out = form(big)
    if threshold is not None and threshold <= 100:
        assert out[:1] == b"\x78" and m.loads(out) == big       # compressed
    else:
        assert out == m.dumps(big, None)


@pytest.mark.parametrize("call, exc, msg", [
    (lambda: m.dumps(), TypeError, "dumps"),
    (lambda: m.dumps(1, 2, 3), TypeError, "at most 2"),
    (lambda: m.dumps(1, -1), ValueError, "compress_threshold"),
    (lambda: m.dumps(1, "x"), TypeError, "integer"),
    (lambda: m.dumps(1, max_depth=0), ValueError, "max_depth"),
    (lambda: m.dumps(1, obj=1), TypeError, "obj"),
    (lambda: m.dumps(object()), TypeError, None),
])
def test_dumps_refusals(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def test_max_depth_is_applied_on_both_paths():
    deep = ()
    for _ in range(300):
        deep = (deep,)
    with pytest.raises(Exception):
        m.dumps(deep)                     # the default max_depth, fast form
    data = m.dumps(deep, max_depth=1000)
    with pytest.raises(m.MarshalError):
        m.loads(data)                     # the default max_depth, fast form
    with pytest.raises(m.MarshalError):
        m.loads(data, max_size=1 << 20)
    assert m.loads(data, max_depth=1000) == deep
