"""EVE Online marshal codec: ``loads``/``dumps`` and the value model.

The wire format is CCP's "blue marshal" (``../shared/protocol/eve-protocol.md`` section 2).  The
codec itself is C (:mod:`_evemu_marshal`); this module holds the model types written in
Python and re-exports the C functions and types.  ``evemu.marshal`` is the public alias.

API
---
``loads(data, *, max_depth=200, max_size=64 MiB, allow_trailing=False)``
    Decode one stream (``0x7E ...``) or a zlib-compressed one (``0x78 ...``).  Every malformed
    input raises :class:`MarshalError` (a ``ValueError``) whose ``offset`` is the byte offset in
    the (inflated) stream; nothing in a stream is imported or instantiated as a Python class.
    Limits: nesting ``max_depth``; inflated size and the total unpacked size of packed rows
    ``max_size``; shared references count as the objects they stand for, and the expanded value
    may hold at most 64 objects per stream byte (at least 2**20).  ``allow_trailing`` ignores
    bytes between the root object and the slot map (EVEmu does; the default refuses them).
``dumps(obj, compress_threshold=8192, *, max_depth=200)``
    Encode ``obj``; the result is zlib-compressed when it is at least ``compress_threshold``
    bytes (EVEmu's 0x2000 rule); ``None`` never compresses.  Unsupported types raise TypeError.

Value model (Python 2 on the client -> Python 3 here)
------------------------------------------------------
=================================  =====================================================
wire                               Python
=================================  =====================================================
None, True/False, ints, floats     ``None``, ``bool``, ``int`` (any width), ``float``
Py2 ``str`` (0x0E 0x0F 0x10 0x11   ``bytes`` -- byte strings stay bytes, unicode stays str;
0x13)                              string-table entries (0x11) decode to plain bytes
Py2 ``unicode`` (0x12 0x28 0x29    ``str``
0x2E)
0x0D "buffer"                      :class:`Buffer` (a ``bytes`` subclass)
tuple / list / dict                ``tuple`` / ``list`` / ``dict``
0x02 token (global name)           :class:`Token` -- the name stays data
0x17 instance                      :class:`Instance` (name: str, state)
0x22 / 0x23 ObjectEx               :class:`ObjectEx1` / :class:`ObjectEx2` (header, list, dict)
blue.DBRowDescriptor ObjectEx1     :class:`DBRowDescriptor` (C type)
0x2A packed row                    :class:`PackedRow` (C type, columns read lazily)
0x2B substream                     :class:`SubStream` (raw bytes kept, decoded on access)
0x19 substruct                     :class:`SubStruct`
0x1B shared-object reference       the same Python object (identity preserved)
0x1C checksummed stream            verified (Adler-32), then transparent: its inner value
=================================  =====================================================

Encoding chooses the compact forms (-1/0/1, smallest int width, the string table, short
tuples/lists, empty strings).  A ``DBRowDescriptor`` is written once per stream with the save
flag and referenced (0x1B) by every later row, as CCP's own server does.  ``int`` and Python 2
``long`` cannot be told apart after decoding: integers are encoded by value.  Exact types are
dispatched first; subclasses of int/float/bytes/str/tuple/list/dict encode as their base type.
"""
import _evemu_marshal as _marshal
from _evemu_marshal import (  # noqa: F401  (re-exported)
    DBRowDescriptor,
    MarshalError,
    PackedRow,
    STRING_TABLE,
    dumps,
    loads,
)
from _evemu_marshal import (  # noqa: F401
    DBTYPE_BOOL,
    DBTYPE_BYTES,
    DBTYPE_CY,
    DBTYPE_FILETIME,
    DBTYPE_I1,
    DBTYPE_I2,
    DBTYPE_I4,
    DBTYPE_I8,
    DBTYPE_R4,
    DBTYPE_R8,
    DBTYPE_STR,
    DBTYPE_UI1,
    DBTYPE_UI2,
    DBTYPE_UI4,
    DBTYPE_UI8,
    DBTYPE_WSTR,
)

__all__ = [
    "loads", "dumps", "MarshalError",
    "Token", "Instance", "ObjectEx", "ObjectEx1", "ObjectEx2", "SubStream", "SubStruct",
    "Buffer", "DBRowDescriptor", "PackedRow", "STRING_TABLE", "make_instance",
    "DBTYPE_BOOL", "DBTYPE_BYTES", "DBTYPE_CY", "DBTYPE_FILETIME", "DBTYPE_I1", "DBTYPE_I2",
    "DBTYPE_I4", "DBTYPE_I8", "DBTYPE_R4", "DBTYPE_R8", "DBTYPE_STR", "DBTYPE_UI1",
    "DBTYPE_UI2", "DBTYPE_UI4", "DBTYPE_UI8", "DBTYPE_WSTR",
]


def _name(value, what):
    """A class or global name: str, sent as a latin-1 byte string (bytes are accepted)."""
    if type(value) is str and value.isascii():      # the common case, O(1)
        return value
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            raise ValueError(f"{what} must be latin-1 text: {value!r}") from None
        return str(value)
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


_setattr = object.__setattr__


class Token:
    """A global name (opcode 0x02), e.g. ``Token('blue.DBRowDescriptor')``.

    Only a name: nothing is ever imported or resolved.  Immutable, hashable; equal to another
    Token with the same name (never to a str).  Names are latin-1 on the wire.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        object.__setattr__(self, "name", _name(name, "Token name"))

    def __setattr__(self, attr, value):
        raise AttributeError("Token is immutable")

    def __eq__(self, other):
        if type(other) is Token:
            return self.name == other.name
        return NotImplemented

    def __hash__(self):
        return hash((Token, self.name))

    def __repr__(self):
        return f"Token({self.name!r})"

    def __reduce__(self):
        return (Token, (self.name,))


class Instance:
    """An old-style instance (opcode 0x17): a class name and its state.

    ``Instance('macho.CallReq', (6, src, dst, ...))``.  The class name is data (a str; a Py2
    byte string on the wire); the client calls ``__setstate__(state)`` on its own class.
    Immutable; hashable when its state is.
    """

    __slots__ = ("name", "state")

    def __init__(self, name, state):
        # every packet is one: the ASCII str name (what the decoder passes) skips _name()
        _setattr(self, "name", name if type(name) is str and name.isascii()
                 else _name(name, "Instance name"))
        _setattr(self, "state", state)

    def __setattr__(self, attr, value):
        raise AttributeError("Instance is immutable")

    def __eq__(self, other):
        if type(other) is Instance:
            return self.name == other.name and self.state == other.state
        return NotImplemented

    def __hash__(self):
        return hash((Instance, self.name, self.state))

    def __repr__(self):
        return f"Instance({self.name!r}, {self.state!r})"

    def __reduce__(self):
        return (Instance, (self.name, self.state))


class ObjectEx:
    """Base of the two "extended object" forms (0x22 / 0x23).

    ``header`` is the constructor description (for 0x22 ``(Token callable, args[, state])``, for
    0x23 ``((Token cls, *newargs), state)``); ``list`` holds the items the client ``append``\\s,
    ``dict`` the items it sets with ``obj[key] = value``.  Mutable containers (a rowset is built
    up), therefore unhashable; equality compares type, header, list and dict.
    """

    __slots__ = ("header", "list", "dict")

    def __init__(self, header, list=None, dict=None):
        self.header = header
        self.list = [] if list is None else list
        self.dict = {} if dict is None else dict

    def __eq__(self, other):
        if type(other) is type(self):
            return (self.header == other.header and self.list == other.list
                    and self.dict == other.dict)
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"{type(self).__name__}({self.header!r}, {self.list!r}, {self.dict!r})"

    def __reduce__(self):
        return (type(self), (self.header, self.list, self.dict))


class ObjectEx1(ObjectEx):
    """ObjectEx type 1 (0x22, "REDUCE"): exceptions such as ``ccp_exceptions.UserError``.

    (The ``blue.DBRowDescriptor`` ObjectEx1 decodes to :class:`DBRowDescriptor` instead.)
    """

    __slots__ = ()


class ObjectEx2(ObjectEx):
    """ObjectEx type 2 (0x23, "NEWOBJ"): ``dbutil.CRowset``, ``RowList``, ``RowDict``..."""

    __slots__ = ()


_MISSING = object()


class SubStream:
    """A nested, length-prefixed stream (0x2B), decoded lazily.

    Decoding keeps the raw bytes (``.raw``) so a payload can be forwarded or cached without
    re-encoding; ``.value`` decodes them on first access (and may then raise MarshalError).
    ``SubStream(value)`` wraps a value to send; it is encoded when first needed.  Two
    SubStreams are equal when their raw bytes are, or else when their values are.
    """

    __slots__ = ("_raw", "_value")
    _MISSING = _MISSING          # the C decoder fills `_value` with it (not yet decoded)

    def __init__(self, value):
        self._raw = None
        self._value = value

    @classmethod
    def _from_raw(cls, raw):
        self = cls.__new__(cls)
        self._raw = bytes(raw)
        self._value = _MISSING
        return self

    from_raw = _from_raw

    @property
    def raw(self):
        """The nested stream's bytes (``0x7E ...``)."""
        if self._raw is None:
            self._raw = dumps(self._value, None)
        return self._raw

    @property
    def value(self):
        """The decoded nested value (decoded on first access)."""
        if self._value is _MISSING:
            self._value = loads(self._raw)
        return self._value

    def __eq__(self, other):
        if type(other) is not SubStream:
            return NotImplemented
        if self._raw is not None and self._raw == other._raw:
            return True
        return self.value == other.value

    __hash__ = None

    def __repr__(self):
        if self._value is _MISSING:
            try:
                self.value
            except MarshalError:
                return f"SubStream.from_raw({self._raw!r})"
        return f"SubStream({self._value!r})"

    def __reduce__(self):
        return (SubStream._from_raw, (self.raw,))


class SubStruct:
    """Opcode 0x19: one wrapped value (EVEmu wraps a bound object's OID in it)."""

    __slots__ = ("value",)

    def __init__(self, value):
        object.__setattr__(self, "value", value)

    def __setattr__(self, attr, value):
        raise AttributeError("SubStruct is immutable")

    def __eq__(self, other):
        if type(other) is SubStruct:
            return self.value == other.value
        return NotImplemented

    def __hash__(self):
        return hash((SubStruct, self.value))

    def __repr__(self):
        return f"SubStruct({self.value!r})"

    def __reduce__(self):
        return (SubStruct, (self.value,))


class Buffer(bytes):
    """A byte string sent with opcode 0x0D ("buffer"); a Py2 ``str`` like plain bytes, kept
    distinct so that it re-encodes with the same opcode.  Compares equal to equal bytes."""

    __slots__ = ()

    def __repr__(self):
        return f"Buffer({bytes(self)!r})"

    def __reduce__(self):
        return (Buffer, (bytes(self),))


_marshal._register_types(Token, Instance, ObjectEx1, ObjectEx2, SubStream, SubStruct, Buffer)

#: ``make_instance(name, state)`` == ``Instance(name, state)``, built in C (no __init__ frame)
#: when ``name`` is an ASCII str: for code that makes many, e.g. MachoNet packets.
make_instance = _marshal._instance
#: ``SubStream.from_raw(raw)``: built in C for bytes (the server wraps every reply in one).
SubStream.from_raw = staticmethod(_marshal._substream)
