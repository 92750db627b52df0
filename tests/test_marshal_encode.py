"""dumps(): the compact forms chosen for each value, compression, and round trips."""
import math
import struct
import zlib

import pytest
from hypothesis import given, settings, strategies as st

import evemu.marshal as m


def body(obj):
    """The encoded object bytes, without the 0x7E header and (empty) slot map."""
    data = m.dumps(obj, None)
    assert data[:5] == b"\x7e\x00\x00\x00\x00"
    return data[5:]


@pytest.mark.parametrize("value, encoded", [
    (None, "01"), (True, "1f"), (False, "20"),
    (-1, "07"), (0, "08"), (1, "09"),
    (2, "0602"), (-128, "0680"), (127, "067f"),
    (128, "058000"), (-32768, "050080"),
    (32768, "0400800000"), (-(2 ** 31), "0400000080"), (2 ** 31 - 1, "04ffffff7f"),
    (2 ** 31, "030000008000000000"), (-(2 ** 63), "030000000000000080"),
    (2 ** 63, "2f09000000000000008000"), (-(2 ** 63) - 1, "2f09ffffffffffffff7fff"),
    (2 ** 64, "2f09000000000000000001"),
    (0.0, "0b"), (-0.0, "0a0000000000000080"), (1.5, "0a000000000000f83f"),
    (b"", "0e"), (b"a", "0f61"), (b"hello", "130568656c6c6f"),
    (b"*corpid", "1101"), (b"macho.CallReq", "112e"), (b"agent.StorylineMissionDetails", "11c3"),
    ("", "28"), ("a", "2e0161"), ("W\u00f3rld", "2e0657c3b3726c64"),
    ("\ud800", "2e03eda080"),                        # a surrogate: one code point each
    ("\ud800\udc00", "2e06eda080edb080"),            # a pair stays two code points
    ((), "24"), ((1,), "2509"), ((1, 2), "2c090602"), ((1, 2, 3), "1403090602 0603"),
    ([], "26"), ([1], "2709"), ([1, 2], "1502090602"),
    ({}, "1600"), ({b"k": 1}, "1601090f6b"),          # value before key
    (m.Token("util.KeyVal"), "020b7574696c2e4b657956616c"),
    (m.Buffer(b"\x00\x01"), "0d020001"),
    (m.SubStruct(None), "1901"),
    (m.Instance("macho.CallReq", ()), "17112e24"),
    (m.Instance("x.Y", None), "171303782e5901"),
    (m.ObjectEx1((m.Token("a.B"), ()), [1], {b"k": 2}), "222c0203612e4224092d0f6b06022d"),
    (m.ObjectEx2(((m.Token("a.B"),), {}), [], {}), "232c250203612e4216002d2d"),
    (m.SubStream(5), "2b077e000000000605"),
])
def test_compact_forms(value, encoded):
    assert body(value) == bytes.fromhex(encoded.replace(" ", ""))
    back = m.loads(m.dumps(value, None))
    assert back == value and type(back) is type(value)


def test_sizeex_lengths():
    s = b"x" * 254
    assert body(s)[:2] == b"\x13\xfe"
    s = b"x" * 255
    assert body(s)[:6] == b"\x13\xff\xff\x00\x00\x00"
    t = tuple(range(300))
    assert body(t)[:6] == b"\x14\xff\x2c\x01\x00\x00"
    assert m.loads(m.dumps(t)) == t


def test_compression_threshold():
    big = [b"abc"] * 5000
    plain = m.dumps(big, None)
    assert plain[0] == 0x7E and len(plain) >= 8192
    packed = m.dumps(big)                            # default threshold 8192 (EVEmu's 0x2000)
    assert packed[0] == 0x78 and zlib.decompress(packed) == plain
    assert m.loads(packed) == big
    assert m.dumps(big, len(plain) + 1) == plain     # below the threshold: raw
    assert m.dumps(big, len(plain))[0] == 0x78       # at the threshold: compressed
    assert m.dumps([1], 0)[0] == 0x78
    with pytest.raises(ValueError):
        m.dumps(1, -1)


def test_descriptor_saved_once_and_referenced():
    desc = m.DBRowDescriptor([("a", m.DBTYPE_I4), ("b", m.DBTYPE_STR)])
    rows = [m.PackedRow(desc, [i, b"n%d" % i]) for i in range(3)]
    data = m.dumps(rows, None)
    assert data[1:5] == b"\x01\x00\x00\x00"                  # one saved object
    assert data[-4:] == b"\x01\x00\x00\x00"                  # in slot 1
    assert data.count(b"blue.DBRowDescriptor") == 1
    assert data.count(b"\x2a\x1b\x01") == 2                  # rows 2 and 3 reference it
    back = m.loads(data)
    assert back == rows
    assert back[0].descriptor is back[1].descriptor is back[2].descriptor


def test_unsupported_types():
    for bad in (object(), {1, 2}, 1j, m.loads):
        with pytest.raises(TypeError, match="cannot encode"):
            m.dumps(bad)
    with pytest.raises(ValueError, match="latin-1"):
        m.Token("\u20ac")                              # names are latin-1 byte strings
    with pytest.raises(ValueError, match="latin-1"):
        m.Instance("\u20ac", None)
    with pytest.raises(TypeError):
        m.Token(5)


def test_subclasses_encode_as_base_types():
    import collections
    import enum

    class Color(enum.IntEnum):
        RED = 5

    P = collections.namedtuple("P", "x y")
    assert m.loads(m.dumps([Color.RED, P(1, 2), collections.OrderedDict(a=1), bytearray(b"z")])) \
        == [5, (1, 2), {"a": 1}, b"z"]


def test_cycles_and_depth_are_refused():
    a = []
    a.append(a)
    with pytest.raises(m.MarshalError, match="nesting deeper"):
        m.dumps(a)
    deep = []
    for _ in range(150):
        deep = [deep]
    assert m.loads(m.dumps(deep)) == deep
    with pytest.raises(m.MarshalError):
        m.dumps(deep, max_depth=100)


def test_substream_containing_its_parent():
    """A SubStream is encoded by its own dumps() call when the outer value is encoded; a value
    that contains itself through a SubStream recurses until Python's recursion limit."""
    d = {b"a": 1}
    d[b"b"] = m.SubStream(d)
    with pytest.raises((RecursionError, m.MarshalError)):
        m.dumps(d)


# --------------------------------------------------------------------------------------------
# Round trips of generated values
# --------------------------------------------------------------------------------------------

names = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=20)
scalars = (
    st.none() | st.booleans()
    | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False)
    | st.binary(max_size=300) | st.sampled_from([bytes(x) for x in m.STRING_TABLE[1:]])
    | st.text(max_size=40)
    | st.binary(max_size=20).map(m.Buffer)
    | names.map(m.Token)
)
hashable = st.none() | st.booleans() | st.integers() | st.binary(max_size=20) | st.text(max_size=20)


def _containers(children):
    return (
        st.lists(children, max_size=6)
        | st.lists(children, max_size=6).map(tuple)
        | st.dictionaries(hashable, children, max_size=6)
        | st.builds(m.Instance, names, children)
        | st.builds(m.ObjectEx1, children, st.lists(children, max_size=3),
                    st.dictionaries(hashable, children, max_size=3))
        | st.builds(m.ObjectEx2, children, st.lists(children, max_size=3),
                    st.dictionaries(hashable, children, max_size=3))
        | st.builds(m.SubStruct, children)
        | st.builds(m.SubStream, children)
    )


values = st.recursive(scalars, _containers, max_leaves=30)


def _eq(a, b):
    """== that also checks the types the wire keeps apart (bytes/Buffer, int/bool, float)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_eq(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_eq(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300, deadline=None)
@given(values)
def test_round_trip(value):
    data = m.dumps(value, None)
    back = m.loads(data)
    assert back == value
    assert _eq(back, value)
    assert m.loads(m.dumps(value, 0)) == value        # through zlib as well


DBTYPES = {
    m.DBTYPE_I1: st.integers(-128, 127), m.DBTYPE_UI1: st.integers(0, 255),
    m.DBTYPE_I2: st.integers(-32768, 32767), m.DBTYPE_UI2: st.integers(0, 65535),
    m.DBTYPE_I4: st.integers(-(2 ** 31), 2 ** 31 - 1), m.DBTYPE_UI4: st.integers(0, 2 ** 32 - 1),
    m.DBTYPE_I8: st.integers(-(2 ** 63), 2 ** 63 - 1), m.DBTYPE_UI8: st.integers(0, 2 ** 64 - 1),
    m.DBTYPE_FILETIME: st.integers(0, 2 ** 63 - 1),
    m.DBTYPE_R8: st.floats(allow_nan=False),
    m.DBTYPE_R4: st.floats(width=32, allow_nan=False),
    m.DBTYPE_CY: st.integers(-(2 ** 50), 2 ** 50).map(lambda raw: raw / 10000),
    m.DBTYPE_BOOL: st.booleans(),
    m.DBTYPE_STR: st.binary(max_size=30), m.DBTYPE_BYTES: st.binary(max_size=30),
    m.DBTYPE_WSTR: st.text(max_size=30),
}


@st.composite
def rowsets(draw):
    types = draw(st.lists(st.sampled_from(sorted(DBTYPES)), min_size=1, max_size=12))
    desc = m.DBRowDescriptor([(f"c{i}", t) for i, t in enumerate(types)])
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        vals = [draw(st.none() | DBTYPES[t]) for t in types]
        rows.append((vals, m.PackedRow(desc, vals)))
    return desc, rows


@settings(max_examples=200, deadline=None)
@given(rowsets())
def test_packed_row_round_trip(rowset):
    desc, rows = rowset
    for vals, row in rows:
        assert list(row.values()) == vals               # packing keeps every value
    crowset = m.ObjectEx2(((m.Token("dbutil.CRowset"),), {b"header": desc}),
                          [row for _, row in rows], {})
    back = m.loads(m.dumps(crowset, None))
    assert back == crowset
    for (vals, _), row in zip(rows, back.list):
        assert list(row.values()) == vals
        assert row.descriptor is back.header[1][b"header"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_rle_round_trip(data):
    import _evemu_marshal as _marshal
    packed = _marshal._rle_pack(data)
    assert _marshal._rle_unpack(packed, len(data)) == data
    assert len(packed) <= len(data) + len(data) // 8 + 2


def test_rle_reference_row():
    """The protocol notes' test row (CRowset vector) packs to the bytes EVEmu, Reverence and an
    independent encoder agree on."""
    import _evemu_marshal as _marshal
    row = bytes.fromhex("44d6120000000000" "0000000000000440" "64000000" "5e020000" "00" "41")
    assert _marshal._rle_pack(row).hex() == "f544d6125a0440646a5e027a41"
    assert _marshal._rle_unpack(bytes.fromhex("f544d6125a0440646a5e027a41"), len(row)) == row


def test_rle_runs_must_fit_the_row():
    """As CCP's decoder: the length a nibble declares must fit in the row, whatever the data
    ("Invalid RLE string", offset = the control byte); a literal run cut short by the end of the
    input copies what is there; a high nibble after the end of the input is no run at all."""
    import _evemu_marshal as _marshal
    def refused(packed, n, at=0):
        with pytest.raises(m.MarshalError, match=f"Invalid RLE string.*{n}-byte row") as ei:
            _marshal._rle_unpack(bytes(packed), n)
        assert ei.value.offset == at
    refused([0x0F], 5)                          # zero run of 8 into a 5-byte row
    refused([0xFF], 3)                          # 16 zeros into 3
    refused([0x02, 0x41], 5)                    # literal run of 6, 1 byte present
    refused([0x07, 0x00, 0x00], 1)              # 1 literal, then 8 more (1 present) into 1
    refused([0x06, 0x41, 0x42], 1)              # 2 literals into 1
    refused([0x0F, 0x70, 0x41], 9)              # 8 zeros + 1 literal, then 8 literals: 2nd byte
    refused([0x78, 0x41, 0x08], 2, at=2)        # row full, then a zero run
    assert _marshal._rle_unpack(bytes([0x02, 0x41]), 6) == b"\x41" + bytes(5)
    assert _marshal._rle_unpack(bytes([0x06, 0x41]), 4) == b"\x41\x00\x00\x00"  # short literal
    assert _marshal._rle_unpack(bytes([0x0F]), 8) == bytes(8)                    # exact fit
    assert _marshal._rle_unpack(bytes([0x07, 0x41]), 1) == b"\x41"             # 0 high nibble
    assert _marshal._rle_unpack(b"", 3) == bytes(3)