"""The row containers the Crucible client expects (protocol notes 2.4), built from
``(name, DBTYPE)`` columns and value tuples.  Shapes follow EVEmu's EVEDBUtils.cpp:

=========================  ===========================================================
``crowset``                ``dbutil.CRowset`` ObjectEx2 of PackedRows (DBResultToCRowset)
``packed_row_list``        a plain list of PackedRows sharing one descriptor
                           (DBResultToPackedRowList)
``rowset``                 ``util.Rowset`` instance: header, RowClass, lines (DBResultToRowset)
``index_rowset``           ``util.IndexRowset``: + idName, items {key: line}
``tuple_set``              ``(columns, [[values]...])`` (DBResultToTupleSet)
``row_list``               ``(columns, [util.Row...])`` (DBResultToRowList)
``keyval``                 ``util.KeyVal`` instance over a dict (DBRowToKeyVal)
=========================  ===========================================================

Column names travel as Py2 byte strings outside packed rows (``PyString`` in EVEmu).
"""
from evemu.wire.marshal import DBRowDescriptor, Instance, ObjectEx2, PackedRow, Token

__all__ = ["crowset", "packed_row_list", "rowset", "index_rowset", "tuple_set", "row_list",
           "keyval", "descriptor"]


def _b(name):
    return name.encode("utf-8") if isinstance(name, str) else name


def descriptor(columns, keywords=()):
    """A DBRowDescriptor of ``(name, DBTYPE)`` columns; ``keywords``: the header's ``(name,
    Token)`` pairs (EVEmu's item rows: stacksize/util.StackSize, singleton/util.Singleton)."""
    return DBRowDescriptor([(n, t) for n, t in columns], keywords or None)


def crowset(columns, rows, keywords=()):
    desc = descriptor(columns, keywords)
    return ObjectEx2(((Token("dbutil.CRowset"),), {b"header": desc}),
                     [PackedRow(desc, tuple(r)) for r in rows], {})


def packed_row_list(columns, rows):
    desc = descriptor(columns)
    return [PackedRow(desc, tuple(r)) for r in rows]


def rowset(names, rows):
    return Instance("util.Rowset", {b"header": [_b(n) for n in names],
                                    b"RowClass": Token("util.Row"),
                                    b"lines": [list(r) for r in rows]})


def index_rowset(names, rows, key):
    i = list(names).index(key)
    return Instance("util.IndexRowset", {b"header": [_b(n) for n in names],
                                         b"RowClass": Token("util.Row"),
                                         b"idName": _b(key),
                                         b"items": {r[i]: list(r) for r in rows}})


def tuple_set(names, rows):
    return ([_b(n) for n in names], [list(r) for r in rows])


def row_list(names, rows):
    header = [_b(n) for n in names]
    return (header, [Instance("util.Row", {b"header": header, b"line": list(r)})
                     for r in rows])


def keyval(values):
    return Instance("util.KeyVal", {_b(k): v for k, v in values.items()})
