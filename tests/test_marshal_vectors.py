"""Test vectors: every stream decodes to EVEmu's decode of it, and re-encodes to the same value.

Two sets: the project's own copies in tests/vectors/ (always run) and the full shared set in
../shared/vectors/ (skipped, with the reason, when the folder is absent).
"""
import datetime
import zlib

import pytest

import evemu.marshal as m
from marshal_helpers import (
    LOCAL_VECTORS,
    VECTORS,
    canon,
    first_difference,
    parse_evemu_file,
    vector_files,
)

SHARED_MISSING = not VECTORS.is_dir()
needs_shared = pytest.mark.skipif(SHARED_MISSING, reason=f"shared vectors not found at {VECTORS}")

# handmade/shared_ref2.bin holds a 4-tuple followed by two stray bytes (1b 02) before its slot
# map; EVEmu ignores them, our strict default reports them (see docs/marshal.md).
TRAILING = {"shared_ref2.bin": 18}

LOCAL = vector_files(LOCAL_VECTORS)
SHARED = [] if SHARED_MISSING else vector_files(VECTORS)


def _id(p):
    return f"{p.parent.name}/{p.name}"


def _load(path):
    data = path.read_bytes()
    if path.name in TRAILING:
        with pytest.raises(m.MarshalError, match="trailing data") as ei:
            m.loads(data)
        assert ei.value.offset == TRAILING[path.name]
        return m.loads(data, allow_trailing=True)
    return m.loads(data)


def check_vector(path):
    expected, reencoded = parse_evemu_file(path.with_suffix(".evemu.txt"))
    value = _load(path)
    got = canon(value)
    assert got == expected, first_difference(got, expected)
    # EVEmu's own re-encoding decodes to the same value ...
    if reencoded is not None:
        again = canon(m.loads(reencoded))
        assert again == expected, first_difference(again, expected)
    # ... and so does ours, compressed or not.
    for threshold in (None, 0):
        ours = m.dumps(value, threshold)
        back = m.loads(ours)
        assert canon(back) == expected, first_difference(canon(back), expected)
        assert back == value


def test_local_vectors_present():
    assert len(LOCAL) >= 20


@pytest.mark.parametrize("path", LOCAL, ids=_id)
def test_local_vector(path):
    check_vector(path)


@needs_shared
def test_shared_vector_count():
    assert len(SHARED) == 85  # 7 ccp-cache + 41 evesharp + 29 evemu-login + 8 handmade


@needs_shared
@pytest.mark.parametrize("path", SHARED, ids=_id)
def test_shared_vector(path):
    check_vector(path)


# The real CCP files are CCP's data: the project does not redistribute them, so these tests read
# them from ../shared only and skip (with the reason) when it is absent.
def _cache_files():
    return sorted((VECTORS / "ccp-cache").glob("*.cache"))


@needs_shared
@pytest.mark.parametrize("path", _cache_files(), ids=_id)
def test_ccp_cache_byte_complete(path):
    """Real CCP files: strict decoding (which raises on trailing bytes) consumes every byte up
    to the slot map."""
    data = path.read_bytes()
    value = m.loads(data)
    assert value is not None
    # Cutting one byte anywhere in the object data must fail: nothing is optional.
    with pytest.raises(m.MarshalError):
        m.loads(data[:-1])


def _filetime_to_datetime(ft):
    return datetime.datetime(1601, 1, 1) + datetime.timedelta(microseconds=ft // 10)


def _lonetrek_files():
    return sorted((VECTORS / "ccp-cache").glob("Lonetrek-*.cache"))


@needs_shared
@pytest.mark.parametrize("path", _lonetrek_files(), ids=_id)
def test_lonetrek_orders_match_client_export(path):
    value = m.loads(path.read_bytes())
    key, result = value
    assert key[:2] == (b"marketProxy", b"GetOrders")
    rowlists = result[b"lret"]
    rows = [row for rl in rowlists for row in rl.list]
    assert all(type(rl) is m.ObjectEx2 and rl.header[0] == (m.Token("dbutil.RowList"),)
               for rl in rowlists)
    by_id = {row.orderID: row for row in rows}
    lines = path.with_suffix(".txt").read_text().splitlines()
    header = lines[0].rstrip(",").split(",")
    csv_rows = [dict(zip(header, ln.rstrip(",").split(","))) for ln in lines[1:] if ln.strip()]
    assert len(csv_rows) == len(rows) > 10
    for rec in csv_rows:
        row = by_id[int(rec["orderID"])]
        assert row.price == float(rec["price"])          # CY: int64 / 10000
        assert row["volRemaining"] == float(rec["volRemaining"])
        assert row.typeID == int(rec["typeID"])
        assert row.range == int(rec["range"])
        assert row.volEntered == int(rec["volEntered"])
        assert row.minVolume == int(rec["minVolume"])
        assert row.bid == (rec["bid"] == "True")
        assert row.duration == int(rec["duration"])
        assert row.stationID == int(rec["stationID"])
        assert row.regionID == int(rec["regionID"])
        assert row.solarSystemID == int(rec["solarSystemID"])
        # "jumps" is not compared: the client's export counts jumps from where the player
        # stood when exporting, the cache holds the server's value.
        issued = _filetime_to_datetime(row.issued).replace(microsecond=0)
        assert issued == datetime.datetime.strptime(rec["issued"], "%Y-%m-%d %H:%M:%S.%f")
        assert isinstance(row.issued, int)                # FILETIME stays an int


def _regionbest_path():
    return VECTORS / "ccp-cache" / "market.GetRegionBest.10000033.cache"


@needs_shared
def test_region_best_rowdict_payload():
    """The CachedObject's 137,762-byte zlib payload: a dbutil.RowDict of 6007 PackedRows that all
    share one descriptor (sent once, then 0x1B references)."""
    outer = m.loads(_regionbest_path().read_bytes())
    (kind, node, call), cached = outer
    assert (kind, node, call) == (b"Method Call", "proxy",
                                  (b"marketProxy", b"GetRegionBest", 10000033))
    assert type(cached) is m.Instance and cached.name == "objectCaching.CachedObject"
    (stamp, version), _, node_id, shared, blob, compressed, object_id = cached.state
    assert (version, node_id, shared, compressed) == (59978, 1000012, 1, 1)
    raw = zlib.decompress(blob)
    assert len(raw) == 137762                            # 137,758 + the 4-byte slot map
    rowdict = m.loads(raw)
    assert m.loads(blob) == rowdict                      # zlib framing handled by loads
    assert type(rowdict) is m.ObjectEx2
    assert rowdict.header[0] == (m.Token("dbutil.RowDict"),)
    meta = rowdict.header[1]
    assert meta[b"key"] == b"typeID"
    desc = meta[b"header"]
    assert type(desc) is m.DBRowDescriptor
    assert desc.names == ("price", "volRemaining", "typeID", "stationID")
    assert len(rowdict.dict) == 6007 and rowdict.list == []
    for type_id, row in rowdict.dict.items():
        assert row.descriptor is desc                    # one shared object, by identity
        assert row.typeID == type_id
        assert isinstance(row.price, float) and row.price >= 0
    assert repr(rowdict.dict[18]) == (
        "PackedRow(price=26.0, volRemaining=84.0, typeID=18, stationID=60004090)")
    # Re-encoding keeps the descriptor shared: the stream stays about the same size.
    again = m.dumps(rowdict, None)
    assert len(again) < len(raw) * 1.1
    assert m.loads(again) == rowdict
