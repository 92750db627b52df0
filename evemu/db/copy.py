"""``python -m evemu db copy --from URL --to URL``: a whole database from one backend to another
(SQLite <-> PostgreSQL, or between two of one kind), verified.

1. The source must be at this server's schema (no pending migration: ``db upgrade`` it first);
   the destination is migrated to it (nothing else: no static-data load).  A destination that
   holds accounts or characters is refused unless ``force``.
2. Every base table of the source but the migration bookkeeping is copied, in ONE destination
   transaction: its rows deleted, the source's inserted in batches (parents of a foreign key
   first).  A table the destination lacks (one ``import-data`` made) is created with the
   nearest column types.  Columns are matched by name without case (PostgreSQL folds unquoted
   names to lower case).
3. PostgreSQL identity columns and id sequences are ``setval``'d past the copied ids (and
   SQLite's ``idSequences`` counters raised), so the next account, character, item or journal
   entry does not clash with a copied one.
4. Verified: per table, the row count and an order-independent checksum of the rows (values
   normalised so that an integer, a float and a NUMERIC of one value agree) must be equal on
   both sides; otherwise :class:`CopyError`.

A progress bar goes to ``progress`` (a text stream), one line redrawn with ``\\r``.
"""
import hashlib
from decimal import Decimal

from .importer import _begin, dialect

__all__ = ["copy_database", "table_checksums", "CopyError"]

SKIP = {"schema_migrations", "meta"}
BATCH = 500
_MOD = 1 << 256


class CopyError(RuntimeError):
    """The copy was refused or did not verify; the message says why."""


# ------------------------------------------------------------------ catalogs
def base_tables(conn):
    """{lower name: actual name} of the base tables (no views, no sqlite_ internals)."""
    cur = conn.cursor()
    if dialect(conn) == "sqlite":
        cur.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                    "'sqlite\\_%' ESCAPE '\\'")
    else:
        cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                    "current_schema() AND table_type = 'BASE TABLE'")
    return {r[0].lower(): r[0] for r in cur.fetchall()}


def columns(conn, table):
    """[(name, declared type)] of ``table``, in order."""
    cur = conn.cursor()
    if dialect(conn) == "sqlite":
        cur.execute(f"PRAGMA table_info({_q(table)})")
        return [(r[1], r[2] or "") for r in cur.fetchall()]
    cur.execute("SELECT column_name, data_type FROM information_schema.columns WHERE "
                "table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
                (table,))
    return [(r[0], r[1]) for r in cur.fetchall()]


def _parents(conn, table):
    """Lower names of the tables ``table`` has a foreign key to."""
    cur = conn.cursor()
    if dialect(conn) == "sqlite":
        cur.execute(f"PRAGMA foreign_key_list({_q(table)})")
        return {r[2].lower() for r in cur.fetchall()}
    cur.execute("SELECT DISTINCT ccu.table_name FROM information_schema.table_constraints tc "
                "JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = "
                "tc.constraint_name AND ccu.table_schema = tc.table_schema WHERE "
                "tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() "
                "AND tc.table_name = %s", (table,))
    return {r[0].lower() for r in cur.fetchall()}


def _q(name):
    return '"' + name.replace('"', '""') + '"'


def _ordered(conn, names):
    """``names`` (lower) with every table after the tables it references."""
    deps = {n: _parents(conn, n_actual) & set(names) - {n} for n, n_actual in names.items()}
    out, done = [], set()
    while len(out) < len(names):
        ready = sorted(n for n in names if n not in done and deps[n] <= done)
        if not ready:                                   # a cycle: keep the rest as they are
            ready = sorted(n for n in names if n not in done)
        for n in ready:
            out.append(n)
            done.add(n)
    return out


def _type_for(dst_dialect, declared):
    t = declared.upper()
    if dst_dialect == "sqlite":
        if "INT" in t:
            return "INTEGER"
        if "NUMERIC" in t or "DECIMAL" in t:
            return "NUMERIC"
        if "DOUBLE" in t or "REAL" in t or "FLOA" in t:
            return "REAL"
        if "BYTEA" in t or "BLOB" in t:
            return "BLOB"
        return "TEXT"
    if "INT" in t:
        return "BIGINT"
    if "NUMERIC" in t or "DECIMAL" in t:
        return "NUMERIC"
    if "DOUB" in t or "REAL" in t or "FLOA" in t:
        return "DOUBLE PRECISION"
    if "BLOB" in t or "BYTEA" in t:
        return "BYTEA"
    return "TEXT"


# ------------------------------------------------------------------ values and checksums
def _norm(v):
    if v is None:
        return "N"
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (float, Decimal)):
        if v == v.to_integral_value() if isinstance(v, Decimal) else float(v).is_integer():
            return str(int(v))
        return repr(float(v))
    if isinstance(v, (bytes, bytearray, memoryview)):
        return "b:" + bytes(v).hex()
    return "s:" + str(v)


def _row_hash(row):
    text = "\x1f".join(_norm(v) for v in row)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest(), "big")


def _checksum(conn, table, cols):
    """(row count, checksum) of ``table`` over ``cols`` (actual names, in this order)."""
    cur = conn.cursor()
    cur.execute(f"SELECT {', '.join(_q(c) for c in cols)} FROM {_q(table)}")
    n, total = 0, 0
    while True:
        rows = cur.fetchmany(BATCH)
        if not rows:
            break
        for r in rows:
            total = (total + _row_hash(r)) % _MOD
        n += len(rows)
    return n, f"{total:064x}"


def table_checksums(conn, skip=SKIP):
    """{lower table name: (rows, checksum)} of every base table (columns in name order)."""
    out = {}
    for low, table in sorted(base_tables(conn).items()):
        if low in skip:
            continue
        cols = sorted((c for c, _ in columns(conn, table)), key=str.lower)
        out[low] = _checksum(conn, table, cols)
    return out


def _to_param(dst_dialect, v):
    if dst_dialect == "sqlite" and isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, memoryview):
        return bytes(v)
    return v


# ------------------------------------------------------------------ progress
class _Bar:
    def __init__(self, stream, total, width=30):
        self.stream, self.total, self.width, self.done = stream, max(total, 1), width, 0

    def step(self, n, what):
        self.done += n
        if self.stream is None:
            return
        frac = min(1.0, self.done / self.total)
        fill = int(frac * self.width)
        self.stream.write(f"\r  [{'#' * fill}{'.' * (self.width - fill)}] {frac * 100:5.1f}% "
                          f"{self.done}/{self.total} rows  {what[:28]:<28}")
        self.stream.flush()

    def end(self):
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


# ------------------------------------------------------------------ the copy
def copy_database(src, dst, progress=None, force=False):
    """Copy backend ``src`` into backend ``dst`` (both open; see the module doc).  Returns
    {lower table name: (rows, checksum)} as verified on both sides."""
    info = src.schema_info()
    if info["pending"] or info["unknown"]:
        raise CopyError(f"{src.path} is at schema {info['version']}, this server's is "
                        f"{info['latest']}: run 'python -m evemu db upgrade' on it first")
    dst.migrate()
    sconn, dconn = src.connection(), dst.connection()
    dd = dialect(dconn)
    if not force:
        for table in ("account", "chrcharacters"):
            existing = base_tables(dconn)
            if table in existing:
                cur = dconn.cursor()
                cur.execute(f"SELECT COUNT(*) FROM {_q(existing[table])}")
                if cur.fetchone()[0]:
                    raise CopyError(f"{dst.path} already holds {existing[table]} rows; copy "
                                    "into an empty database (or --force to replace them)")
    stables = {k: v for k, v in base_tables(sconn).items() if k not in SKIP}
    counts = {}
    for low, table in stables.items():
        cur = sconn.cursor()
        cur.execute(f"SELECT COUNT(*) FROM {_q(table)}")
        counts[low] = cur.fetchone()[0]
    bar = _Bar(progress, sum(counts.values()))
    order = _ordered(sconn, stables)
    plan = {}
    _begin(dconn)
    try:
        dtables = base_tables(dconn)
        for low in order:
            table = stables[low]
            scols = columns(sconn, table)
            if low not in dtables:
                ddl = ", ".join(f"{_q(c)} {_type_for(dd, t)}" for c, t in scols)
                dconn.cursor().execute(f"CREATE TABLE {_q(table)} ({ddl})")
                dtables[low] = table
            dcols = {c.lower(): c for c, _ in columns(dconn, dtables[low])}
            missing = [c for c, _ in scols if c.lower() not in dcols]
            if missing:
                raise CopyError(f"{dst.path}: table {dtables[low]} has no column "
                                f"{', '.join(missing)}")
            plan[low] = ([c for c, _ in scols], [dcols[c.lower()] for c, _ in scols])
        for low in reversed(order):                       # children first
            dconn.cursor().execute(f"DELETE FROM {_q(dtables[low])}")
        ph = "?" if dd == "sqlite" else "%s"
        for low in order:
            scols, dcols = plan[low]
            insert = (f"INSERT INTO {_q(dtables[low])} ({', '.join(_q(c) for c in dcols)}) "
                      f"VALUES ({', '.join([ph] * len(dcols))})")
            cur = sconn.cursor()
            cur.execute(f"SELECT {', '.join(_q(c) for c in scols)} FROM {_q(stables[low])}")
            while True:
                rows = cur.fetchmany(BATCH)
                if not rows:
                    break
                dconn.cursor().executemany(insert, [tuple(_to_param(dd, v) for v in r)
                                                    for r in rows])
                bar.step(len(rows), dtables[low])
        if dd == "postgresql":
            _setval_identities(dconn)
        if "idsequences" in dtables:
            from .characters import sync_sequences
            sync_sequences(dconn)
    except BaseException:
        dconn.rollback()
        bar.end()
        raise
    dconn.commit()
    bar.end()
    # verify: the same rows on both sides
    out, bad = {}, []
    for low in order:
        pairs = sorted(zip(*plan[low]), key=lambda p: p[0].lower())   # table_checksums' order
        scols, dcols = [p[0] for p in pairs], [p[1] for p in pairs]
        got = _checksum(sconn, stables[low], scols), _checksum(dconn, dtables[low], dcols)
        if got[0] != got[1]:
            bad.append(f"{stables[low]}: {got[0][0]} rows {got[0][1][:12]} -> "
                       f"{got[1][0]} rows {got[1][1][:12]}")
        out[low] = got[0]
    if bad:
        raise CopyError("the copy does not verify: " + "; ".join(bad))
    return out


def _setval_identities(conn):
    """Every identity column's sequence past the largest id now in its table."""
    cur = conn.cursor()
    cur.execute("SELECT table_name, column_name FROM information_schema.columns WHERE "
                "table_schema = current_schema() AND is_identity = 'YES'")
    for table, column in cur.fetchall():
        cur.execute(f"SELECT MAX({_q(column)}) FROM {_q(table)}")
        top = cur.fetchone()[0]
        if top is not None:
            cur.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s, true)",
                        (_q(table), column, int(top)))
