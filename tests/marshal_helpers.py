"""Helpers for the marshal tests: the `.evemu.txt` decode notation and a structural comparison.

`NAME.evemu.txt` (see ../shared/vectors/README.md) holds `DECODED <value>` in EVEmu's notation.
`parse_evemu()` turns that text into a canonical tree, `canon()` turns a value decoded by
evemu.marshal into the same tree, so the two can be compared with ==.

Canonical tree: tagged tuples.  int and long are one tag (Python 3 has one int type); dicts are a
sorted tuple of (key, value) pairs; CY packed-row columns are compared as the raw int64 the
notation prints (our value is int64 / 10000).
"""
import math
import os
from pathlib import Path

import evemu.marshal as m

# Tests that read the shared data find it beside the repository (../shared), as in CI.  A git
# worktree one level further down (worktrees/<branch>) also looks in ../../shared; the
# EVEMU_SHARED environment variable overrides both.
REPO = Path(__file__).resolve().parent.parent


def _find_shared():
    if os.environ.get("EVEMU_SHARED"):
        return Path(os.environ["EVEMU_SHARED"])
    for cand in (REPO.parent / "shared", REPO.parent.parent / "shared"):
        if cand.is_dir():
            return cand
    return REPO.parent / "shared"


SHARED = _find_shared()
VECTORS = SHARED / "vectors"
LOCAL_VECTORS = Path(__file__).resolve().parent / "vectors"


class ParseError(ValueError):
    pass


def parse_evemu_file(path):
    """Return (canonical tree of DECODED, bytes of REENCODED or None)."""
    decoded = reencoded = None
    for line in Path(path).read_text().splitlines():
        if line.startswith("DECODED "):
            decoded = parse_evemu(line[len("DECODED "):])
        elif line.startswith("REENCODED "):
            reencoded = bytes.fromhex(line[len("REENCODED "):].strip())
    if decoded is None:
        raise ParseError(f"{path}: no DECODED line")
    return decoded, reencoded


def parse_evemu(text):
    p = _Parser(text)
    v = p.value()
    if p.i != len(text):
        raise ParseError(f"trailing text at {p.i}: {text[p.i:p.i + 40]!r}")
    return v


class _Parser:
    def __init__(self, s):
        self.s = s
        self.i = 0

    def expect(self, c):
        if not self.s.startswith(c, self.i):
            raise ParseError(f"expected {c!r} at {self.i}: {self.s[self.i:self.i + 40]!r}")
        self.i += len(c)

    def ident(self):
        j = self.i
        while j < len(self.s) and (self.s[j].isalnum() or self.s[j] == "_"):
            j += 1
        if j == self.i:
            raise ParseError(f"expected a name at {self.i}: {self.s[self.i:self.i + 40]!r}")
        name, self.i = self.s[self.i:j], j
        return name

    def until(self, c):
        j = self.s.index(c, self.i)
        text, self.i = self.s[self.i:j], j
        return text

    def hexstr(self):
        self.expect('("')
        h = self.until('"')
        self.expect('")')
        return bytes.fromhex(h)

    def items(self, close):
        out = []
        if self.s.startswith(close, self.i):
            self.i += 1
            return out
        while True:
            out.append(self.value())
            if self.s.startswith(",", self.i):
                self.i += 1
                continue
            self.expect(close)
            return out

    def value(self):
        name = self.ident()
        if name == "None":
            return ("none",)
        if name in ("True", "False"):
            return ("bool", name == "True")
        if name in ("int", "long"):
            self.expect("(")
            v = int(self.until(")"))
            self.expect(")")
            return ("int", v)
        if name == "float":
            self.expect("(")
            v = float(self.until(")"))
            self.expect(")")
            return ("float", v)
        if name in ("str", "buffer", "token"):
            return ({"str": "bytes"}.get(name, name), self.hexstr())
        if name == "wstr":
            return ("str", self.hexstr())  # hex of the UTF-8 bytes
        if name in ("tuple", "list", "fields"):
            self.expect("[")
            return ("tuple" if name == "tuple" else "list", tuple(self.items("]")))
        if name == "dict":
            self.expect("{")
            pairs = []
            if self.s.startswith("}", self.i):
                self.i += 1
            else:
                while True:
                    k = self.value()
                    self.expect(":")
                    pairs.append((k, self.value()))
                    if self.s.startswith(",", self.i):
                        self.i += 1
                        continue
                    self.expect("}")
                    break
            return ("dict", tuple(sorted(pairs, key=repr)))
        if name in ("object", "objectex1", "objectex2", "packedrow", "substream", "substruct"):
            self.expect("(")
            args = self.items(")")
            if name == "packedrow":
                desc, fields = args
                return ("packedrow", desc, _cy_fields(desc, fields))
            return (name,) + tuple(args)
        raise ParseError(f"unknown constructor {name!r}")


def _cy_fields(desc, fields):
    return fields  # CY columns are already raw int64 in the notation


def _desc_canon(d):
    header = (m.Token("blue.DBRowDescriptor"), (tuple(d.columns),))
    return ("objectex1", canon(header), ("list", ()), ("dict", ()))


def canon(v):
    """Canonical tree of a value decoded by evemu.marshal (see module docstring)."""
    if v is None:
        return ("none",)
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", int(v))
    if isinstance(v, float):
        return ("float", v)
    if type(v) is m.Buffer:
        return ("buffer", bytes(v))
    if isinstance(v, bytes):
        return ("bytes", v)
    if isinstance(v, str):
        return ("str", v.encode("utf-8", "surrogatepass"))
    if type(v) is m.Token:
        return ("token", v.name.encode("latin-1"))
    if isinstance(v, tuple):
        return ("tuple", tuple(canon(x) for x in v))
    if isinstance(v, list):
        return ("list", tuple(canon(x) for x in v))
    if isinstance(v, dict):
        return ("dict", tuple(sorted(((canon(k), canon(x)) for k, x in v.items()), key=repr)))
    if type(v) is m.Instance:
        return ("object", ("bytes", v.name.encode("latin-1")), canon(v.state))
    if type(v) is m.DBRowDescriptor:
        return _desc_canon(v)
    if type(v) in (m.ObjectEx1, m.ObjectEx2):
        tag = "objectex1" if type(v) is m.ObjectEx1 else "objectex2"
        return (tag, canon(v.header), canon(v.list), canon(v.dict))
    if type(v) is m.PackedRow:
        out = []
        for (name, t), x in zip(v.descriptor.columns, v.values()):
            if t == m.DBTYPE_CY and x is not None:
                out.append(("int", round(x * 10000)))
            else:
                out.append(canon(x))
        return ("packedrow", _desc_canon(v.descriptor), ("list", tuple(out)))
    if type(v) is m.SubStream:
        return ("substream", canon(v.value))
    if type(v) is m.SubStruct:
        return ("substruct", canon(v.value))
    raise TypeError(f"no canonical form for {type(v).__name__}")


def first_difference(a, b, path="root"):
    """Describe the first place where two canonical trees differ (for assertion messages)."""
    if type(a) is not type(b):
        return f"{path}: {a!r:.200} != {b!r:.200}"
    if isinstance(a, tuple):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}: {a!r:.200} vs {b!r:.200}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, float) and isinstance(b, float):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return None
        return f"{path}: {a!r} != {b!r}"
    return None if a == b else f"{path}: {a!r:.200} != {b!r:.200}"


def vector_files(root):
    """All stream files (.bin, .cache) under root that have a .evemu.txt beside them."""
    root = Path(root)
    out = []
    for p in sorted(root.rglob("*")):
        if p.suffix in (".bin", ".cache"):
            note = p.with_suffix(".evemu.txt")
            if note.exists():
                out.append(p)
    return out
