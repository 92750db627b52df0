"""Hostile input: every malformed stream raises MarshalError (a ValueError) with an offset, and
nothing crashes, hangs or leaks."""
import gc
import random
import struct
import tracemalloc
import zlib

import pytest

import evemu.marshal as m
from marshal_helpers import LOCAL_VECTORS, vector_files


def stream(body_hex, slots=()):
    body = bytes.fromhex(body_hex.replace(" ", ""))
    return (b"\x7e" + struct.pack("<I", len(slots)) + body
            + b"".join(struct.pack("<I", s) for s in slots))


def raises(data, match, offset=None, **kw):
    with pytest.raises(m.MarshalError, match=match) as ei:
        m.loads(data, **kw)
    assert isinstance(ei.value, ValueError)
    if offset is not None:
        assert ei.value.offset == offset, str(ei.value)
    assert f"offset {ei.value.offset}" in str(ei.value)
    return ei.value


def test_exception_type():
    assert issubclass(m.MarshalError, ValueError)
    assert m.MarshalError is m.loads.__self__.MarshalError


@pytest.mark.parametrize("data, match, offset", [
    (b"", "empty stream", 0),
    (b"\x00", "not a marshal stream", 0),
    (b"\x7e", "truncated", 1),
    (b"\x7e\x00\x00", "truncated", 1),
    (stream(""), "truncated", 5),
    (stream("03 0102"), "truncated", 6),                  # int64 needs 8 bytes
    (stream("13 05 6162"), "truncated", 7),               # string longer than the data
    (stream("13 ff ffffff7f"), "truncated", 11),          # 2 GiB string, never allocated
    (stream("14 ff ffffff7f"), "declared count", 11),     # 2**31 items, never allocated
    (stream("15 05 0101"), "declared count", 7),
    (stream("16 02 0101 01"), "declared count", 7),       # 2 pairs need 4 bytes
    (stream("12 03 4100"), "declared count", 7),          # UCS-2 count past the end
    (stream("00"), "unknown or unsupported opcode 0x00", 5),
    (stream("0c"), "opcode 0x0c", 5),
    (stream("18"), "opcode 0x18", 5),
    (stream("21"), "opcode 0x21", 5),
    (stream("3f"), "opcode 0x3f", 5),
    (stream("2d"), "terminator", 5),
    (stream("11 00"), "string table index 0", 6),
    (stream("11 c4"), "string table index 196", 6),
    (stream("1b 01"), "reference to slot 1, stream has 0", 5),
    (stream("67 1b01", [1]), "before its object is complete", 6),   # [x] with x = itself
    (stream("2c 53 0161 1b02", [1]), "slot 2, stream has 1", 9),
    (stream("2c 5301 61 53 0162", [1]), "more saved objects", 9),
    (stream("41", [0]), "slot number 0 out of range", 5),
    (stream("41", [2]), "slot number 2 out of range", 5),
    (stream("2c 41 41", [1, 1]), "slot 1 assigned twice", 7),
    (stream("01 01"), "trailing data", 6),
    (stream("17 09 01"), "class name is a int", 6),
    (stream("16 01 01 26"), r"unhashable type: 'list'", None),
    (stream("2e 02 c328"), "invalid value.*utf-8", None),
    (stream("22 01 01"), "truncated", 8),                 # ObjectEx without its terminators
    (stream("22 01 2d 01"), "truncated", 9),
    (stream("2a 01"), "not a blue.DBRowDescriptor", 6),
    (stream("1c 00000000 01"), "checksum mismatch", 6),
    (b"\x7e\xff\xff\xff\xff\x01", "slot map of 4294967295 entries", 1),
])
def test_malformed(data, match, offset):
    raises(data, match, offset)


def test_checksummed_stream_verified():
    inner = bytes.fromhex("2c0906 05")
    good = stream("1c" + struct.pack("<I", zlib.adler32(inner)).hex() + inner.hex())
    assert m.loads(good) == (1, 5)
    bad = bytearray(good)
    bad[-1] ^= 1
    raises(bytes(bad), "checksum mismatch", 6)


def test_depth_cap():
    deep = stream("27" * 10000 + "01")
    raises(deep, "nesting deeper than 200 levels", 5 + 200)
    raises(stream("27" * 50 + "01"), "nesting deeper than 10", max_depth=10)
    assert m.loads(stream("27" * 50 + "01"), max_depth=51) is not None


def _bomb(n):
    """A zlib stream of a valid marshal string of n zero bytes, built without holding n bytes."""
    c = zlib.compressobj(9)
    parts = [c.compress(b"\x7e\x00\x00\x00\x00\x13\xff" + struct.pack("<I", n))]
    chunk = bytes(1 << 20)
    for _ in range(n >> 20):
        parts.append(c.compress(chunk))
    parts.append(c.compress(bytes(n & ((1 << 20) - 1))))
    parts.append(c.flush())
    return b"".join(parts)


def test_zlib_bomb_is_capped():
    bomb = _bomb(5_000_000)
    assert len(bomb) < 10_000
    raises(bomb, "inflates past the 1000000-byte limit", 0, max_size=1_000_000)
    assert len(m.loads(bomb, max_size=5_000_100)) == 5_000_000


def test_zlib_bomb_default_cap():
    bomb = _bomb(80 << 20)                                  # 80 MiB from ~80 KB
    assert len(bomb) < 200_000
    raises(bomb, "inflates past the 67108864-byte limit", 0)


def test_zlib_errors():
    z = zlib.compress(stream("0605"))
    assert m.loads(z) == 5
    raises(z[:-3], "truncated zlib stream")
    raises(z + b"xx", "trailing data after the zlib stream")
    raises(b"\x78\x00\x00\x00", "invalid zlib data", 0)
    raises(zlib.compress(b"\x78" + zlib.compress(stream("01"))), "not a marshal stream", 0)


def test_raw_size_cap():
    raises(stream("13 05 6162636465"), "exceeds the 4-byte limit", 0, max_size=4)


def test_allow_trailing():
    data = stream("01 0102")
    raises(data, "2 byte\\(s\\) of trailing data", 6)
    assert m.loads(data, allow_trailing=True) is None


def test_bad_arguments():
    with pytest.raises(TypeError):
        m.loads("a str")
    with pytest.raises(ValueError):
        m.loads(stream("01"), max_depth=0)
    assert m.loads(bytearray(stream("0605"))) == 5
    assert m.loads(memoryview(stream("0605"))) == 5


# --------------------------------------------------------------------------------------------
# Every prefix and a deterministic set of mutations of real vectors
# --------------------------------------------------------------------------------------------

def _vectors():
    out = []
    for p in vector_files(LOCAL_VECTORS):
        data = p.read_bytes()
        if data[0] == 0x78:
            data = zlib.decompress(data)
        out.append((p.name, data))
    return out


@pytest.mark.parametrize("name, data", _vectors()[:12], ids=lambda x: x if isinstance(x, str) else "")
def test_every_truncation_raises(name, data):
    kw = {"allow_trailing": True} if name == "shared_ref2.bin" else {}
    m.loads(data, **kw)
    for cut in range(len(data)):
        with pytest.raises(m.MarshalError):
            m.loads(data[:cut], **kw)


def test_mutation_fuzz_deterministic():
    """A few thousand seeded mutations of the local vectors (the pytest-sized sibling of the
    libFuzzer harness in fuzz/): each either decodes, and then round-trips through dumps, or
    raises MarshalError; anything else (another exception, a crash) fails the test."""
    rng = random.Random(20261129)
    corpus = [d for _, d in _vectors()]
    outcomes = {"ok": 0, "error": 0}
    for i in range(4000):
        data = bytearray(rng.choice(corpus))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randrange(len(data)) if data else 0
            if op < 0.4 and data:
                data[pos] = rng.randrange(256)
            elif op < 0.55 and data:
                data[pos] = rng.choice([0x00, 0x01, 0x1B, 0x2D, 0x40 | data[pos], 0xFF, 0x7E])
            elif op < 0.7:
                del data[pos:pos + rng.randint(1, 8)]
            elif op < 0.85:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            elif len(data) > 5:
                data[1:5] = struct.pack("<I", rng.choice([0, 1, 2, 5, 255, 2 ** 31]))
        try:
            v = m.loads(bytes(data))
        except m.MarshalError as e:
            assert e.offset is None or 0 <= e.offset <= len(data)
            outcomes["error"] += 1
        else:
            # what decodes must re-encode, and decode again to the same value
            again = m.loads(m.dumps(v, None))
            try:
                assert repr(again) == repr(v)
            except ValueError:   # repr decodes a bad nested SubStream lazily (MarshalError)
                pass
            outcomes["ok"] += 1
    assert outcomes["error"] > 1000 and outcomes["ok"] > 10, outcomes


def test_no_leaks_on_errors_and_success():
    """Decode good and bad streams in a loop: traced memory must not grow."""
    good = [d for _, d in _vectors() if len(d) < 20000]
    bad = [d[: len(d) // 2] for d in good] + [stream("67 1b01", [1]),
                                              stream("16 01 01 26"), stream("2e 02 c328")]

    def run():
        for d in good:
            try:
                m.loads(d)
            except m.MarshalError:
                pass
            m.dumps(m.loads(d, allow_trailing=True))
        for d in bad:
            with pytest.raises(m.MarshalError):
                m.loads(d)

    for _ in range(3):
        run()
    gc.collect()
    tracemalloc.start()
    try:
        run()
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(20):
            run()
        gc.collect()
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert after - base < 64 * 1024, (base, after)


def test_packed_row_amplification_is_capped():
    """A 4-byte row (2a 1b 01 00) referencing a 10000-column descriptor unpacks to 80 KB: the
    rows of one stream may not unpack to more than max_size bytes in total."""
    desc = m.DBRowDescriptor([("c%d" % i, m.DBTYPE_I8) for i in range(10000)])
    two = m.dumps([m.PackedRow(desc, [0] * 10000)] * 2, None)
    rows_at = two.index(b"\x2a\x1b\x01\x00")
    n = 20000                                            # would be 1.6 GB of rows
    head = two[:5] + b"\x15\xff" + struct.pack("<I", n) + two[7:rows_at]
    data = head + b"\x2a\x1b\x01\x00" * (n - 1) + two[-4:]
    assert len(data) < 200_000
    # (the descriptor's 30,000 objects per reference also trip the expansion cap first)
    e = raises(data, "PackedRows unpack to more than|shared references expand to more than")
    assert e.offset > 1000
    small = head + b"\x2a\x1b\x01\x00" * 9 + two[-4:]
    small = small[:7] + struct.pack("<I", 10) + small[11:]
    assert len(m.loads(small)) == 10
    raises(small, "PackedRows unpack", max_size=5 * 80_001)


def test_reference_bomb_is_capped():
    """Lists of 100 references to the previous list, 8 levels deep: 1.6 KB that would expand to
    100**8 objects for anything walking the value (repr, ==, dumps).  References count as the
    objects they stand for, and the expanded total is capped (64 x the stream, at least 2**20)."""
    levels = 8
    out = bytearray(b"\x14" + bytes([levels + 1]) + b"\x53\x03abc")
    for k in range(levels):
        out += b"\x55\x64" + (b"\x1b" + bytes([k + 1])) * 100
    data = (b"\x7e" + struct.pack("<I", levels + 1) + bytes(out)
            + b"".join(struct.pack("<I", i + 1) for i in range(levels + 1)))
    assert len(data) < 2000
    raises(data, "shared references expand to more than 1048576 objects")
    # Two levels (10,000 objects) are fine, and keep their identity.
    small = (b"\x7e" + struct.pack("<I", 3) + b"\x14\x03\x53\x03abc"
             + b"\x55\x64" + b"\x1b\x01" * 100 + b"\x55\x64" + b"\x1b\x02" * 100
             + b"".join(struct.pack("<I", i) for i in (1, 2, 3)))
    v = m.loads(small)
    assert len(v[2]) == 100 and v[2][0] is v[1] and v[1][0] is v[0]


# --- What CCP's decoders refuse (issue 9: a differential against EVEmu's and Reverence's) -----

def _row_stream(blob):
    """A PackedRow of a 5-byte row (one I4 column + the NULL-bit byte) with RLE data `blob`;
    returns (stream, offset of the blob)."""
    desc = m.DBRowDescriptor([("a", m.DBTYPE_I4)])
    good = m.dumps(m.PackedRow(desc, [0x41424344]), None)
    at = good.index(bytes.fromhex("05 04 44434241"))
    assert m.loads(good)["a"] == 0x41424344
    return good[:at] + bytes([len(blob)]) + bytes(blob) + good[at + 6:], at + 1


@pytest.mark.parametrize("blob, bad_ctl", [
    ([0x0F], 0),                  # a zero run of 8 into the 5-byte row
    ([0x02, 0x41], 0),            # a literal run of 6 with 1 byte present
    ([0x0C, 0x0F], 0),            # 5 zeros (the row is full), then 8 literals (1 present)
    ([0x84, 1, 2, 3, 4, 0x08], 5),     # 4 literals, 1 zero (full), then a run: 2nd control
])
def test_packed_row_rle_past_the_row_is_refused(blob, bad_ctl):
    data, blob_at = _row_stream(blob)
    raises(data, r"Invalid RLE string: a run past the 5-byte row", blob_at + bad_ctl)


def test_packed_row_rle_that_fits_is_accepted():
    data, _ = _row_stream([0x0C])                    # 5 zeros: all NULL bits clear
    assert m.loads(data)["a"] == 0
    data, _ = _row_stream([0x05, 0x41, 0x42, 0x43])  # a literal run of 3 cut short at the end
    assert m.loads(data)["a"] == 0x434241


@pytest.mark.parametrize("body, what", [
    ("17 2e 03 612e62 01", "wide string"),           # 0x2E UTF-8 class name
    ("17 28 01", "wide string"),                     # 0x28 empty wide string
    ("17 12 01 6100 01", "wide string"),             # 0x12 UCS-2
    ("17 29 6100 01", "wide string"),                # 0x29 one UCS-2 char
])
def test_instance_class_name_must_be_a_byte_string(body, what):
    raises(stream(body), f"instance class name is a {what}, not a byte string", 6)
    # the byte-string forms are accepted
    assert m.loads(stream("17 13 03 612e62 01")) == m.Instance("a.b", None)
    assert m.loads(stream("17 112e 24")) == m.Instance("macho.CallReq", ())


@pytest.mark.parametrize("body, slots, at", [
    ("81", [], 5),                   # None with the 0x80 bit
    ("c1", [1], 5),                  # save flag and 0x80
    ("14 02 01 88", [], 8),          # inside a tuple: 0 with the 0x80 bit
    ("95 00", [], 5),                # list
    ("bf", [], 5),
])
def test_opcode_with_0x80_bit_is_refused(body, slots, at):
    e = raises(stream(body, slots), r"opcode byte 0x[0-9a-f]{2} has the undefined 0x80 flag", at)
    assert f"0x{bytes.fromhex(body.replace(' ', ''))[at - 5]:02x}" in str(e)
    assert m.loads(stream("41", [1])) is None        # the 0x40 save flag alone is fine


@pytest.mark.parametrize("s", [
    "\ud800\udc00",                  # a surrogate pair held as two code points
    "\udc00\ud800", "\ud800", "\udfff", "a\ud800b",
    "\U00010000",                    # a real astral character stays one
    "\U00010000\ud800\udc00\ud83d",  # mixed
])
def test_surrogates_round_trip(s):
    for v in (s, [s], {s: s}, (s, 1)):
        back = m.loads(m.dumps(v))
        assert back == v
    assert len(m.loads(m.dumps(s))) == len(s)


def test_ucs2_stream_still_decodes_as_before():
    """0x12 from a UCS-2 client: a pair written there is one astral character (it is one on a
    narrow Python 2 build), a lone surrogate stays."""
    assert m.loads(stream("12 02 00d8 00dc")) == "\U00010000"
    assert m.loads(stream("12 01 00d8")) == "\ud800"
