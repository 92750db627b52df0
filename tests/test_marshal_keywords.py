"""DBRowDescriptor keywords: the third item of the blue.DBRowDescriptor ObjectEx1 header, a list
of (name, Token) pairs (EVEmu's PyObjectEx_Type1 with a keyword list; its item rows name
stacksize -> util.StackSize and singleton -> util.Singleton there)."""
import copy
import pickle

import pytest

from evemu.wire import marshal as m

T = m.Token
COLS = [(b"itemID", m.DBTYPE_I8), (b"quantity", m.DBTYPE_I4), (b"customInfo", m.DBTYPE_STR)]
KW = [(b"stacksize", T("util.StackSize")), (b"singleton", T("util.Singleton"))]


def test_keywords_are_kept_compared_and_hashed():
    d = m.DBRowDescriptor(COLS, KW)
    assert d.keywords == tuple(KW)
    assert m.DBRowDescriptor(COLS).keywords == ()
    assert m.DBRowDescriptor(COLS, None).keywords == ()
    assert m.DBRowDescriptor(COLS, [("stacksize", T("util.StackSize"))]).keywords == (KW[0],)
    assert d == m.DBRowDescriptor(COLS, KW) and hash(d) == hash(m.DBRowDescriptor(COLS, KW))
    assert d != m.DBRowDescriptor(COLS)
    assert d != m.DBRowDescriptor(COLS, KW[:1])
    assert "keywords=" in repr(d) and "keywords" not in repr(m.DBRowDescriptor(COLS))
    assert pickle.loads(pickle.dumps(d)) == d and copy.copy(d).keywords == d.keywords


@pytest.mark.parametrize("bad, msg", [
    ([("a", "util.StackSize")], "(name: bytes|str, Token) pairs"),
    ([("a",)], "(name: bytes|str, Token) pairs"),
    ([["a", T("x")]], "(name: bytes|str, Token) pairs"),
    ([(1, T("x"))], "(name: bytes|str, Token) pairs"),
    (5, "keywords must be a sequence"),
])
def test_bad_keywords_are_refused(bad, msg):
    with pytest.raises(TypeError, match=msg.replace("(", r"\(").replace(")", r"\)")
                       .replace("|", r"\|")):
        m.DBRowDescriptor(COLS, bad)


def test_wire_form_is_evemus_three_item_header():
    d = m.DBRowDescriptor(COLS, KW)
    data = m.dumps(m.PackedRow(d, (7, -1, b"")))
    # ObjectEx1 saved, a 3-tuple header: token, (columns,), then the keyword list
    assert data[5:8] == bytes([0x2A, 0x22 | 0x40, 0x14]) and data[8] == 3
    body = data[data.index(b"util.Singleton"):]
    assert body[len(b"util.Singleton"):len(b"util.Singleton") + 2] == b"\x2d\x2d"
    row = m.loads(data)
    assert row.descriptor == d and row.descriptor.keywords == tuple(KW)
    assert (row.itemID, row.quantity) == (7, -1)


def test_rows_share_one_saved_descriptor_with_keywords():
    d = m.DBRowDescriptor(COLS, KW)
    rows = [m.PackedRow(d, (i, i, b"x")) for i in range(5)]
    data = m.dumps(rows)
    assert data.count(b"blue.DBRowDescriptor") == 1 and data.count(b"util.StackSize") == 1
    back = m.loads(data)
    assert all(r.descriptor is back[0].descriptor for r in back)
    assert [r.itemID for r in back] == list(range(5))


def test_without_keywords_the_header_stays_two_items():
    data = m.dumps(m.PackedRow(m.DBRowDescriptor(COLS), (1, 2, b"")))
    assert data[5:8] == bytes([0x2A, 0x22 | 0x40, 0x2C])


def test_a_header_whose_third_item_is_not_a_keyword_list_is_a_plain_objectex1():
    """Decoding: only a list of (name, Token) pairs makes a descriptor; anything else stays
    an ObjectEx1 (and a PackedRow on it is refused as before)."""
    for third in ((b"stacksize", T("util.StackSize")),      # a tuple, not a list
                  [(b"stacksize", b"util.StackSize")]):     # not a Token
        obj = m.ObjectEx1((T("blue.DBRowDescriptor"), ((tuple(COLS[:1])),), third), [], {})
        back = m.loads(m.dumps(obj))
        assert type(back) is m.ObjectEx1
    good = m.ObjectEx1((T("blue.DBRowDescriptor"), (tuple(COLS[:1]),), list(KW)), [], {})
    back = m.loads(m.dumps(good))
    assert type(back) is m.DBRowDescriptor and back.keywords == tuple(KW)
