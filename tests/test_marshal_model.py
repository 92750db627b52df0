"""The value model: types, reprs, equality, identity, packed rows, lazy substreams."""
import copy
import gc
import pickle
import struct
import weakref

import pytest

import evemu.marshal as m
import evemu.wire.marshal as wm


def stream(body_hex, slots=()):
    body = bytes.fromhex(body_hex.replace(" ", ""))
    return (b"\x7e" + struct.pack("<I", len(slots)) + body
            + b"".join(struct.pack("<I", s) for s in slots))


def test_public_surface():
    assert m.loads is wm.loads and m.dumps is wm.dumps
    for name in m.__all__:
        assert getattr(m, name) is getattr(wm, name)
    assert len(m.STRING_TABLE) == 196 and m.STRING_TABLE[0] is None
    assert m.STRING_TABLE[1] == b"*corpid" and m.STRING_TABLE[46] == b"macho.CallReq"
    assert m.STRING_TABLE[136] == b"marketProxy" and m.STRING_TABLE[195] == \
        b"agent.StorylineMissionDetails"


def test_bytes_and_str_stay_distinct():
    v = m.loads(stream("2c 1303616263 2e03616263"))
    assert v == (b"abc", "abc") and type(v[0]) is bytes and type(v[1]) is str
    assert m.loads(stream("112e")) == b"macho.CallReq"        # string table -> bytes
    assert type(m.loads(stream("0d0161"))) is m.Buffer
    assert m.loads(stream("0d0161")) == b"a"                  # a Buffer is still a byte string
    assert m.loads(stream("29 4100")) == "A"
    assert m.loads(stream("12 02 41004200")) == "AB"
    assert m.loads(stream("10 02 4142")) == b"AB"             # deprecated short string
    assert m.loads(stream("2f 00")) == 0
    assert m.loads(stream("2f 03 ffff7f")) == 0x7FFFFF
    assert m.loads(stream("2f 03 000080")) == -0x800000
    assert m.loads(stream("2f 0a 00000000000000000001")) == 2 ** 72


def test_token_is_data():
    t = m.loads(stream("02 09 6f732e73797374656d"))           # Token("os.system")
    assert t == m.Token("os.system") and t.name == "os.system"
    assert t != "os.system" and hash(t) == hash(m.Token("os.system"))
    assert repr(t) == "Token('os.system')"
    with pytest.raises(AttributeError):
        t.name = "x"
    assert pickle.loads(pickle.dumps(t)) == t


def test_instance():
    v = m.loads(stream("17 1305782e4b6579 1600"))
    assert v == m.Instance("x.Key", {}) and v.name == "x.Key" and v.state == {}
    assert repr(v) == "Instance('x.Key', {})"
    assert m.Instance(b"x.Key", 1) == m.Instance("x.Key", 1)
    assert hash(m.Instance("a.B", (1,))) == hash(m.Instance("a.B", (1,)))
    with pytest.raises(AttributeError):
        v.state = 1
    assert copy.deepcopy(v) == v


def test_objectex():
    a = m.ObjectEx1((m.Token("a.B"), (1,)), [1, 2], {b"k": 3})
    b = m.ObjectEx2((m.Token("a.B"), (1,)), [1, 2], {b"k": 3})
    assert a != b and a == m.ObjectEx1((m.Token("a.B"), (1,)), [1, 2], {b"k": 3})
    assert repr(a) == "ObjectEx1((Token('a.B'), (1,)), [1, 2], {b'k': 3})"
    assert isinstance(a, m.ObjectEx) and isinstance(b, m.ObjectEx)
    with pytest.raises(TypeError):
        hash(a)
    c = m.ObjectEx2("h")
    c.list.append(1)
    assert c == m.ObjectEx2("h", [1], {})


def test_shared_objects_keep_identity():
    v = m.loads(stream("14 03 67 01 1b01 1b01", [1]))
    assert v == ([None], [None], [None])
    assert v[0] is v[1] is v[2]
    v = m.loads(stream("2c 53 03616263 1b01", [1]))
    assert v[0] is v[1]


def test_saved_slot_order():
    """Map entries are taken in encounter order: the first saved object gets entry 0."""
    v = m.loads(stream("14 04 5303616263 6701 0605 1b01", [2, 1]))
    assert v == (b"abc", [None], 5, [None]) and v[1] is v[3]


def test_substream_lazy():
    inner = stream("2c 0601 0602")
    v = m.loads(stream("2b %02x %s" % (len(inner), inner.hex())))
    assert type(v) is m.SubStream
    assert v.raw == inner                                     # raw bytes kept
    assert v._value is wm._MISSING                            # not decoded yet
    assert v.value == (1, 2)
    assert v == m.SubStream((1, 2))
    assert repr(v) == "SubStream((1, 2))"
    bad = m.SubStream.from_raw(b"\x7e\x00")
    assert bad.raw == b"\x7e\x00" and "from_raw" in repr(bad)
    with pytest.raises(m.MarshalError):
        bad.value
    again = m.loads(m.dumps(m.SubStream((1, 2)), None))
    assert type(again) is m.SubStream and again.raw == stream("2c 0906 02") and again == v


def test_substruct():
    v = m.loads(stream("19 0605"))
    assert v == m.SubStruct(5) and repr(v) == "SubStruct(5)" and v.value == 5


def test_checksummed_stream_is_transparent():
    import zlib
    inner = bytes.fromhex("0605")
    assert m.loads(stream("1c" + struct.pack("<I", zlib.adler32(inner)).hex() + "0605")) == 5


# --------------------------------------------------------------------------------------------
# DBRowDescriptor and PackedRow
# --------------------------------------------------------------------------------------------

COLS = [("itemID", m.DBTYPE_I4), ("typeID", m.DBTYPE_I4), ("price", m.DBTYPE_CY),
        ("name", m.DBTYPE_STR), ("isOn", m.DBTYPE_BOOL), ("q", m.DBTYPE_UI1),
        ("f", m.DBTYPE_R8)]


def test_descriptor():
    d = m.DBRowDescriptor(COLS)
    assert d.names == ("itemID", "typeID", "price", "name", "isOn", "q", "f")
    assert d.columns[0] == (b"itemID", 3) and len(d) == 7
    assert d.row_len == 8 + 8 + 4 + 4 + 1 + 1                 # + 1 bool + 7 null bits
    assert d == m.DBRowDescriptor([(b"itemID", 3)] + COLS[1:])
    assert hash(d) == hash(m.DBRowDescriptor(COLS))
    assert repr(d).startswith("DBRowDescriptor([('itemID', DBTYPE_I4), ('typeID', DBTYPE_I4), "
                              "('price', DBTYPE_CY)")
    assert pickle.loads(pickle.dumps(d)) == d
    with pytest.raises(ValueError, match="unsupported column type"):
        m.DBRowDescriptor([("a", 0)])
    with pytest.raises(TypeError):
        m.DBRowDescriptor([("a",)])
    with pytest.raises(TypeError):
        m.DBRowDescriptor(5)


def test_descriptor_decodes_from_its_objectex_form():
    d = m.DBRowDescriptor(COLS)
    data = m.dumps(d, None)
    assert m.loads(data) == d
    # Same header with a list item is not a descriptor: it stays a generic ObjectEx1.
    gen = m.ObjectEx1((m.Token("blue.DBRowDescriptor"), (tuple(d.columns),)), [1], {})
    assert type(m.loads(m.dumps(gen))) is m.ObjectEx1
    # An unknown column type also leaves it generic (and a PackedRow on it is refused).
    gen = m.ObjectEx1((m.Token("blue.DBRowDescriptor"), (((b"a", 99),),)), [], {})
    assert type(m.loads(m.dumps(gen))) is m.ObjectEx1


def test_packed_row_values_and_access():
    d = m.DBRowDescriptor(COLS)
    r = m.PackedRow(d, [100, 606, 123.45, b"Rifter", True, None, 2.5])
    assert r.data.hex() == "44d6120000000000" "0000000000000440" "64000000" "5e020000" "00" "41"
    assert len(r) == 7 and list(r) == [100, 606, 123.45, b"Rifter", True, None, 2.5]
    assert r[0] == 100 and r[-1] == 2.5 and r["price"] == 123.45 and r[b"price"] == 123.45
    assert r.price == 123.45 and r.name == b"Rifter" and r.q is None and r.isOn is True
    assert r.keys() == d.names and r.values() == tuple(r)
    assert r.items()[2] == ("price", 123.45)
    assert r.asdict() == dict(zip(d.names, r))
    assert r.get("nope", 7) == 7 and r.get(99) is None and r.get("typeID") == 606
    assert r.descriptor is d
    assert repr(r) == ("PackedRow(itemID=100, typeID=606, price=123.45, name=b'Rifter', "
                       "isOn=True, q=None, f=2.5)")
    with pytest.raises(KeyError):
        r["nope"]
    with pytest.raises(IndexError):
        r[7]
    with pytest.raises(AttributeError, match="no column or attribute 'nope'"):
        r.nope
    with pytest.raises(TypeError):
        r[1.5]
    with pytest.raises(TypeError):
        hash(r)
    assert pickle.loads(pickle.dumps(r)) == r


def test_packed_row_from_mapping_and_equality():
    d = m.DBRowDescriptor(COLS)
    a = m.PackedRow(d, {"itemID": 1, "price": 5, "name": b"x"})
    assert a.price == 5.0 and a.typeID is None and a.f is None
    b = m.PackedRow(m.DBRowDescriptor(COLS), [1, None, 5.0, b"x", None, None, None])
    assert a == b and not (a != b)
    assert a != m.PackedRow(d, {"itemID": 2, "price": 5, "name": b"x"})
    assert a != m.PackedRow(m.DBRowDescriptor(COLS[:3]), [1, None, 5])
    assert (a == 5) is False


def test_packed_row_ranges():
    d = m.DBRowDescriptor([("a", m.DBTYPE_UI1), ("b", m.DBTYPE_I2), ("c", m.DBTYPE_CY)])
    with pytest.raises(OverflowError):
        m.PackedRow(d, [256, 0, 0])
    with pytest.raises(OverflowError):
        m.PackedRow(d, [0, 40000, 0])
    with pytest.raises(OverflowError):
        m.PackedRow(d, [0, 0, 2 ** 62])
    with pytest.raises(ValueError, match="needs 3 values"):
        m.PackedRow(d, [1])
    with pytest.raises(TypeError):
        m.PackedRow("not a descriptor", [])
    r = m.PackedRow(d, [255, -32768, -0.0001])
    assert tuple(r) == (255, -32768, -0.0001)


def test_cy_reads_as_the_client_sees_it():
    d = m.DBRowDescriptor([("price", m.DBTYPE_CY), ("t", m.DBTYPE_FILETIME)])
    r = m.PackedRow(d, [91000000.0, 128931763896530000])
    assert r.data[:8] == struct.pack("<q", 910000000000)
    assert r.price == 91000000.0 and r.t == 128931763896530000 and type(r.t) is int


def test_packed_row_wire_layout_matches_crowset_vector():
    data = m.dumps(m.PackedRow(m.DBRowDescriptor(COLS),
                               [100, 606, 123.45, b"Rifter", True, None, 2.5]), None)
    assert bytes.fromhex("0df544d6125a0440646a5e027a41") in data


def test_rows_with_object_columns_are_collected():
    """A row whose object column holds a container can be part of a cycle; the GC finds it."""
    d = m.DBRowDescriptor([("o", m.DBTYPE_BYTES)])
    class Holder(list):
        pass

    holder = Holder()
    r = m.PackedRow(d, [holder])
    holder.append(r)
    ref = weakref.ref(holder)
    del holder, r
    gc.collect()
    assert ref() is None


def test_untracked_rows_for_atoms():
    d = m.DBRowDescriptor([("a", m.DBTYPE_I4), ("s", m.DBTYPE_WSTR)])
    assert not gc.is_tracked(m.PackedRow(d, [1, "x"]))
    assert gc.is_tracked(m.PackedRow(d, [1, ["x"]]))
    rows = m.loads(m.dumps([m.PackedRow(d, [i, "n"]) for i in range(3)]))
    assert not any(gc.is_tracked(r) for r in rows)


def test_packed_row_errors():
    d = m.DBRowDescriptor([("a", m.DBTYPE_I4)])
    good = m.dumps(m.PackedRow(d, [5]), None)
    # the blob is "5f05" -> [05 00 00 00 | 00]; make it spill non-zero data past the row
    i = good.index(b"\x2a")
    blob_at = good.index(b"\x05", i + 10)
    assert m.loads(good).a == 5
    spill = good[:blob_at - 2] + b"\x03\x00\x05" + good[blob_at + 1:]
    with pytest.raises(m.MarshalError):
        m.loads(spill)


def test_threads_decode_and_encode_concurrently():
    """The codec keeps no per-call state in the module: threads decoding and encoding at the
    same time get the same results as one thread."""
    import threading
    d = m.DBRowDescriptor(COLS)
    value = {b"rows": [m.PackedRow(d, [i, i * 2, i / 4, b"n%d" % i, bool(i & 1), None, 0.5])
                       for i in range(300)],
             b"call": m.Instance("macho.CallReq", (m.SubStream((1, "x")), m.Token("a.b")))}
    data = m.dumps(value, None)
    expected = repr(m.loads(data))
    errors = []

    def work():
        try:
            for _ in range(30):
                v = m.loads(data)
                assert repr(v) == expected
                assert m.dumps(v, None) == data
                assert m.loads(m.dumps(v, 0)) == v
        except Exception as e:  # collected and re-raised in the main thread
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def test_no_leaks_in_the_row_api():
    import tracemalloc
    d = m.DBRowDescriptor(COLS)

    def run():
        for i in range(50):
            r = m.PackedRow(d, [i, 2, 3.5, b"x", True, None, 1.0])
            r2 = m.PackedRow(d, {"itemID": i, "name": [b"y"]})
            (r.price, r["name"], r[-1], r.get("nope"), r.values(), r.items(), r.asdict(),
             repr(r), r == r2, list(r), r.data, r2.name)
            for bad in ([1], [10 ** 20] * 7, {"q": 300}):
                try:
                    m.PackedRow(d, bad)
                except (ValueError, OverflowError, TypeError):
                    pass
            for key in ("nope", 99, 1.5):
                try:
                    r[key]
                except (KeyError, IndexError, TypeError):
                    pass
            try:
                r.nope
            except AttributeError:
                pass
            m.loads(m.dumps([r, r2], None))
            m.DBRowDescriptor([("a", 3), (b"b", 129)])
            repr(d)
            try:
                m.DBRowDescriptor([("a", 99)])
            except ValueError:
                pass

    run()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(10):
            run()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - base < 32 * 1024, (base, after)


def test_make_instance_is_instance():
    """make_instance builds Instances in C for ASCII str names, else calls the class."""
    from evemu.wire.marshal import make_instance
    i = make_instance("macho.CallRsp", (7, [1]))
    assert type(i) is m.Instance and i == m.Instance("macho.CallRsp", (7, [1]))
    assert i.name == "macho.CallRsp" and i.state == (7, [1])
    with pytest.raises(AttributeError):
        i.name = "x"
    assert make_instance(b"a.B", None) == m.Instance("a.B", None)       # bytes: via the class
    assert make_instance("caf\u00e9", 1).name == "caf\u00e9"              # latin-1: via the class
    with pytest.raises(ValueError):
        make_instance("\u20ac", 1)
    with pytest.raises(TypeError):
        make_instance(5, 1)
    with pytest.raises(TypeError):
        make_instance("a")
    assert m.loads(m.dumps(make_instance("x.Y", (1,)))) == m.Instance("x.Y", (1,))


def test_substream_from_raw_fast_path():
    """SubStream.from_raw is built in C for bytes, via the class for other buffers; both are
    lazy SubStreams equal to one built from the value."""
    raw = m.dumps((1, b"x"), None)
    for src in (raw, bytearray(raw), memoryview(raw)):
        s = m.SubStream.from_raw(src)
        assert type(s) is m.SubStream and type(s.raw) is bytes and s.raw == raw
        assert s == m.SubStream((1, b"x")) and s.value == (1, b"x")
    bad = m.SubStream.from_raw(b"\x7e\x00")
    with pytest.raises(m.MarshalError):
        bad.value
