"""``python -m evemu import-data PATH``: load the MariaDB/phpMyAdmin dumps of evemu_Crucible.

PATH is an evemu_Crucible checkout (its ``sql/base`` folder is used) or a folder of ``*.sql.gz``
/ ``*.sql`` files.  The dumps are parsed here (no MariaDB server): ``CREATE TABLE`` (column
types, ``PRIMARY KEY``/``KEY`` lines), ``ALTER TABLE ... ADD PRIMARY KEY/KEY/UNIQUE KEY``
(phpMyAdmin puts keys there), ``INSERT INTO ... VALUES (...),(...)`` with MySQL string escapes,
``NULL``, ``b'0'`` bit literals, ``0x..`` hex literals and numbers.  Everything else
(``SET``, ``LOCK TABLES``, ``/*!40101 ... */`` version comments, ``DROP TABLE``) is ignored.

Rules:

* Each file is imported in ONE transaction: its tables are dropped and re-created, then filled.
  A file that is truncated or malformed raises :class:`DumpError` naming the file, the line and
  the reason, and the transaction is rolled back: nothing of that file stays.
* Idempotent: ``importedFiles`` keeps each file's SHA-256; a file already imported with the same
  content is skipped, so a second run changes nothing.
* The server's own runtime tables (accounts, characters, items...) are never touched: a table
  that exists in the database and was not created by an import or by the shipped starter data
  (``staticTables``) is skipped, and so are EVEmu's runtime tables (:data:`RUNTIME_TABLES`).

SQL is portable (DB-API ``paramstyle`` ``qmark``/``format`` chosen from the connection's module):
identifiers are double-quoted, column types are ``BIGINT``, ``DOUBLE PRECISION``, ``TEXT``,
``BLOB``.
"""
import gzip
import hashlib
import os
import re
import sys
import time
from bisect import bisect_right

__all__ = ["DumpError", "parse_dump", "import_path", "import_file", "dump_files",
           "ensure_registry", "RUNTIME_TABLES"]

#: EVEmu runtime tables shipped in sql/base that are not static data (never imported).
RUNTIME_TABLES = frozenset(s.lower() for s in (
    "account", "chrCharacters", "chrCharacterAttributes", "entity", "entity_attributes",
    "chrSkillQueue", "chrSkillHistory", "chrEmployment", "chrContacts", "chrNotes",
    "chrOwnerNote", "chrPausedSkillQueue", "chrPortraitData", "chrShipFittings",
    "chrVisitedSystems", "chrCertificates", "chrLabels", "chrMedals", "chrKillTable",
    "avatars", "avatar_colors", "avatar_modifiers", "avatar_sculpts", "bookmarks",
    "bookmarkFolders", "channelChars", "channelMods", "crpCorporation", "crpShares",
    "eveMail", "eveMailDetails", "mailMessage", "mailStatus", "mailLabel", "mailList",
    "mailListUsers", "jnlCharacters", "jnlCorporations", "mktOrders", "mktTransactions",
    "mktHistory", "billsPayable", "billsReceivable", "ramJobs", "srvStatus",
    "srvStatisticData", "srvStatisticHistory", "sysCalendarEvents", "sysCalendarInvitees",
    "sysCalendarResponses", "piPins", "piLinks", "piRoutes", "piPinContents", "piLaunches",
    "repStandings", "repStandingChanges", "webBounties", "liveupdates", "test"))

REGISTRY_SQL = (
    'CREATE TABLE IF NOT EXISTS "importedFiles" ('
    ' "fileName" VARCHAR(255) PRIMARY KEY, "sha256" VARCHAR(64) NOT NULL,'
    ' "tables" TEXT NOT NULL, "rowCount" BIGINT NOT NULL, "importedAt" BIGINT NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "staticTables" ('
    ' "tableName" VARCHAR(255) PRIMARY KEY, "source" VARCHAR(255) NOT NULL)',
    # the MySQL column types of the static tables: they decide the DBTYPEs of the packed rows
    # the client gets (EVEmu derives them from the MariaDB result's field types)
    'CREATE TABLE IF NOT EXISTS "staticColumns" ('
    ' "tableName" VARCHAR(255) NOT NULL, "columnName" VARCHAR(255) NOT NULL,'
    ' "position" INTEGER NOT NULL, "mysqlType" VARCHAR(255) NOT NULL,'
    ' PRIMARY KEY ("tableName", "columnName"))',
)


class DumpError(ValueError):
    """A dump the importer refuses: ``file``, ``line`` (1-based) and ``reason``."""

    def __init__(self, file, line, reason):
        super().__init__(f"{file}:{line}: {reason}")
        self.file = file
        self.line = line
        self.reason = reason


# ------------------------------------------------------------------------------ lexing
_SKIP = re.compile(r"(?:\s+|--[^\n]*|#[^\n]*|/\*.*?\*/)*", re.S)
_WORD = re.compile(r"[A-Za-z_]+")
_IDENT = re.compile(r"\s*(?:`((?:[^`]|``)+)`|\"([^\"]+)\"|([A-Za-z_][A-Za-z0-9_$]*))")
# One value of a VALUES tuple and the delimiter after it (',' or ')').
_VALUE = re.compile(r"""\s*(?:
      '((?:[^'\\]|\\.|'')*)'                     # 1 string
    | (NULL|null)                                # 2 NULL
    | ([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)  # 3 number
    | [bB]'([01]*)'                              # 4 bit literal
    | 0x([0-9A-Fa-f]+)                           # 5 hex literal
    | [xX]'([0-9A-Fa-f]*)'                       # 6 hex string literal
    | (TRUE|FALSE|true|false)                    # 7 boolean
    )\s*([,)])""", re.X | re.S)
_LAST_VALUE = re.compile(r"\s*(?:NULL|[-+]?[0-9.eE+-]+|[bB]'[01]*'|0x[0-9A-Fa-f]+)?\s*\Z")
_ROW_OPEN = re.compile(r"\s*\(")
_ROW_NEXT = re.compile(r"\s*([,;])")
_ESC = re.compile(r"\\(.)|''", re.S)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def _unescape(s):
    if "\\" not in s and "''" not in s:
        return s
    return _ESC.sub(lambda m: "'" if m.group(1) is None else _ESCAPES.get(m.group(1),
                                                                            m.group(1)), s)


# MySQL type -> (portable column type, python converter kind)
def map_type(mysql_type):
    t = mysql_type.lower()
    base = re.match(r"[a-z]+", t).group(0)
    if base == "bit":
        return "BIGINT", "bit"
    if base in ("tinyint", "smallint", "mediumint", "int", "integer", "bigint", "bool",
                "boolean", "year"):
        return "BIGINT", "int"
    if base in ("float", "double", "real", "decimal", "numeric"):
        return "DOUBLE PRECISION", "float"
    if base in ("blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary"):
        return "BLOB", "bytes"
    return "TEXT", "str"


class Table:
    __slots__ = ("name", "columns", "types", "kinds", "mysql", "primary", "keys", "line")

    def __init__(self, name, line):
        self.name = name
        self.columns = []
        self.types = []
        self.kinds = []
        self.mysql = []           # the dump's own column types, e.g. "smallint(5) unsigned"
        self.primary = []
        self.keys = []            # (unique, [cols])
        self.line = line


class Dump:
    """A parsed dump: its tables (in order) and their rows."""

    def __init__(self):
        self.tables = {}          # name -> Table
        self.rows = {}            # name -> list of tuples


class _Parser:
    def __init__(self, text, filename):
        self.text = text
        self.file = filename
        self._nl = None

    def line_of(self, pos):
        if self._nl is None:
            self._nl = [m.start() for m in re.finditer("\n", self.text)]
        return bisect_right(self._nl, pos - 1) + 1

    def fail(self, pos, reason):
        raise DumpError(self.file, self.line_of(min(pos, len(self.text))), reason)

    def ident(self, pos):
        m = _IDENT.match(self.text, pos)
        if not m:
            self.fail(pos, "expected a name")
        name = m.group(1).replace("``", "`") if m.group(1) is not None else (
            m.group(2) or m.group(3))
        return name, m.end()

    def skip(self, pos):
        return _SKIP.match(self.text, pos).end()

    def statement_end(self, pos, start):
        """Position after the ';' ending the statement that starts at ``pos`` (strings,
        quoted names and comments skipped)."""
        text = self.text
        n = len(text)
        while pos < n:
            c = text[pos]
            if c == ";":
                return pos + 1
            if c == "'" or c == '"' or c == "`":
                j = pos + 1
                while True:
                    k = text.find(c, j)
                    if k < 0:
                        self.fail(pos, "unterminated quoted text (file truncated?)")
                    if c != "`" and text[k - 1] == "\\":
                        b = k - 1          # count backslashes before the quote
                        while text[b] == "\\":
                            b -= 1
                        if (k - 1 - b) % 2:
                            j = k + 1
                            continue
                    if k + 1 < n and text[k + 1] == c:
                        j = k + 2
                        continue
                    pos = k + 1
                    break
                continue
            if c == "-" and text.startswith("-- ", pos) or c == "#":
                k = text.find("\n", pos)
                pos = n if k < 0 else k + 1
                continue
            if c == "/" and text.startswith("/*", pos):
                k = text.find("*/", pos + 2)
                if k < 0:
                    self.fail(pos, "unterminated comment (file truncated?)")
                pos = k + 2
                continue
            pos += 1
        self.fail(start, "statement not terminated by ';' (file truncated?)")

    # ------------------------------------------------------------------ statements
    def parse(self, on_row_batch=None):
        dump = Dump()
        text = self.text
        pos = self.skip(0)
        n = len(text)
        while pos < n:
            m = _WORD.match(text, pos)
            if not m:
                if text[pos] == ";":
                    pos = self.skip(pos + 1)
                    continue
                if text.startswith("/*", pos):
                    self.fail(pos, "unterminated comment (file truncated?)")
                self.fail(pos, f"unexpected text {text[pos:pos + 20]!r}")
            word = m.group(0).upper()
            if word == "INSERT" or word == "REPLACE":
                pos = self.insert(pos, m.end(), dump, on_row_batch)
            elif word == "CREATE" and re.match(r"CREATE\s+TABLE\b", text[pos:pos + 40], re.I):
                pos = self.create(pos, dump)
            elif word == "ALTER":
                end = self.statement_end(m.end(), pos)
                self.alter(pos, text[pos:end], dump)
                pos = end
            else:                 # SET, LOCK, UNLOCK, DROP, START TRANSACTION, COMMIT...
                pos = self.statement_end(m.end(), pos)
            pos = self.skip(pos)
        return dump

    def create(self, start, dump):
        text = self.text
        m = re.compile(r"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?", re.I).match(text, start)
        name, pos = self.ident(m.end())
        end = self.statement_end(pos, start)
        body = text[pos:end]
        lp = body.find("(")
        rp = body.rfind(")")
        if lp < 0 or rp < lp:
            self.fail(start, f"CREATE TABLE {name}: no column list")
        table = Table(name, self.line_of(start))
        for raw in _split_top(body[lp + 1:rp]):
            item = raw.strip()
            if not item:
                continue
            up = item.upper()
            if up.startswith("PRIMARY KEY"):
                table.primary = _key_columns(item)
            elif up.startswith(("UNIQUE KEY", "UNIQUE INDEX", "UNIQUE")):
                table.keys.append((True, _key_columns(item)))
            elif up.startswith(("KEY", "INDEX", "FULLTEXT", "SPATIAL")):
                table.keys.append((False, _key_columns(item)))
            elif up.startswith(("CONSTRAINT", "FOREIGN KEY", "CHECK")):
                continue
            else:
                cm = re.match(r"(?:`((?:[^`]|``)+)`|(\w+))\s+(\w+(?:\s*\([^)]*\))?"
                              r"(?:\s+unsigned)?)", item, re.I)
                if not cm:
                    self.fail(start, f"CREATE TABLE {name}: cannot read column {item[:40]!r}")
                col = cm.group(1) or cm.group(2)
                ctype, kind = map_type(cm.group(3))
                table.columns.append(col)
                table.types.append(ctype)
                table.kinds.append(kind)
                table.mysql.append(re.sub(r"\s+", " ", cm.group(3).lower()))
                if re.search(r"\bPRIMARY\s+KEY\b", item, re.I):
                    table.primary = [col]
        if not table.columns:
            self.fail(start, f"CREATE TABLE {name}: no columns")
        dump.tables[name] = table
        dump.rows.setdefault(name, [])
        return end

    def alter(self, start, stmt, dump):
        m = re.match(r"ALTER\s+TABLE\s+(?:ONLY\s+)?", stmt, re.I)
        if not m:
            return
        name, _ = self.ident(m.end() + start)
        table = dump.tables.get(name)
        if table is None:
            return
        for cl in _split_top(stmt[m.end():].rstrip(";")):
            up = cl.strip().upper()
            if "ADD PRIMARY KEY" in up:
                table.primary = _key_columns(cl[up.index("PRIMARY KEY"):])
            elif re.search(r"ADD\s+UNIQUE", up):
                table.keys.append((True, _key_columns(cl)))
            elif re.search(r"ADD\s+(KEY|INDEX)", up):
                table.keys.append((False, _key_columns(cl)))

    def insert(self, start, pos, dump, on_row_batch):
        text = self.text
        m = re.compile(r"\s+(?:IGNORE\s+)?INTO\s+", re.I).match(text, pos)
        if not m:
            self.fail(start, "INSERT without INTO")
        name, pos = self.ident(m.end())
        table = dump.tables.get(name)
        if table is None:
            self.fail(start, f"INSERT INTO {name} before its CREATE TABLE")
        pos = self.skip(pos)
        columns = None
        if text.startswith("(", pos):
            close = text.find(")", pos)
            if close < 0:
                self.fail(start, "unterminated column list (file truncated?)")
            columns = [c.strip().strip("`\"") for c in text[pos + 1:close].split(",")]
            unknown = [c for c in columns if c not in table.columns]
            if unknown:
                self.fail(pos, f"INSERT INTO {name}: unknown columns {unknown}")
            pos = close + 1
        vm = re.compile(r"\s*VALUES?", re.I).match(text, pos)
        if not vm:
            self.fail(pos, f"INSERT INTO {name}: expected VALUES")
        pos = vm.end()
        ncols = len(columns) if columns is not None else len(table.columns)
        if columns is not None:
            order = [columns.index(c) if c in columns else None for c in table.columns]
        rows = dump.rows[name]
        kinds = table.kinds if columns is None else [
            table.kinds[table.columns.index(c)] for c in columns]
        value_match = _VALUE.match
        row_open = _ROW_OPEN.match
        row_next = _ROW_NEXT.match
        n = len(text)
        while True:
            # (v1, v2, ...)
            om = row_open(text, pos)
            if not om:
                self.fail(pos, "expected '(' (file truncated?)" if self.skip(pos) >= n
                          else f"expected '(' at {text[pos:pos + 20].strip()!r}")
            pos = om.end()
            row = []
            while True:
                vm = value_match(text, pos)
                if vm is None:
                    rest = text[pos:pos + 30].strip()
                    if not rest:
                        self.fail(pos, "file ends inside a row (truncated)")
                    if rest.startswith("'"):
                        self.fail(pos, "unterminated string literal (file truncated?)")
                    if _LAST_VALUE.match(text, pos):
                        self.fail(pos, "file ends inside a row (truncated)")
                    token = re.match(r"[^,;)\s]*", rest).group(0) or rest[:1]
                    self.fail(pos, f"bad literal {token[:30]!r}")
                g = vm.lastindex
                if vm.group(1) is not None:
                    v = _unescape(vm.group(1))
                elif vm.group(2) is not None:
                    v = None
                elif vm.group(3) is not None:
                    s = vm.group(3)
                    if "." in s or "e" in s or "E" in s:
                        v = float(s)
                    else:
                        v = int(s)
                elif vm.group(4) is not None:
                    v = int(vm.group(4) or "0", 2)
                elif vm.group(5) is not None:
                    v = bytes.fromhex(vm.group(5)) if len(vm.group(5)) % 2 == 0 else \
                        bytes.fromhex("0" + vm.group(5))
                elif vm.group(6) is not None:
                    if len(vm.group(6)) % 2:
                        self.fail(pos, "odd hex string literal")
                    v = bytes.fromhex(vm.group(6))
                else:
                    v = 1 if vm.group(7).upper() == "TRUE" else 0
                row.append(v)
                pos = vm.end()
                if vm.group(g) == ")":
                    break
            if len(row) != ncols:
                self.fail(pos, f"INSERT INTO {name}: row has {len(row)} values, "
                               f"table has {ncols} columns")
            for i, k in enumerate(kinds):
                v = row[i]
                if v is None:
                    continue
                if k == "bit" and isinstance(v, str):
                    # mysqldump writes BIT(n) values as raw bytes in a string: '\0', '\1'
                    try:
                        row[i] = int(v) if v.isdigit() else int.from_bytes(
                            v.encode("latin-1"), "big")
                    except UnicodeEncodeError:
                        self.fail(pos, f"INSERT INTO {name}: {v[:30]!r} is not a bit value")
                elif k == "int" and isinstance(v, str):
                    try:
                        row[i] = int(v) if v.strip().lstrip("-+").isdigit() else float(v)
                    except ValueError:
                        col = table.columns[i] if columns is None else columns[i]
                        self.fail(pos, f"INSERT INTO {name}: {v[:30]!r} is not a number "
                                       f"(column {col})")
                elif k == "float" and isinstance(v, str):
                    try:
                        row[i] = float(v)
                    except ValueError:
                        self.fail(pos, f"INSERT INTO {name}: {v[:30]!r} is not a number")
                elif k == "str" and isinstance(v, bytes):
                    row[i] = v.decode("utf-8", "replace")
            if columns is not None:
                row = [None if j is None else row[j] for j in order]
            rows.append(tuple(row))
            nm = row_next(text, pos)
            if not nm:
                self.fail(pos, "expected ',' or ';' after a row (file truncated?)"
                          if self.skip(pos) >= n else
                          f"expected ',' or ';' after a row, not {text[pos:pos + 20].strip()!r}")
            pos = nm.end()
            if nm.group(1) == ";":
                if on_row_batch:
                    on_row_batch(pos)
                return pos


def _split_top(s):
    """Split on commas outside parentheses and quotes."""
    out, depth, cur, q = [], 0, [], None
    for c in s:
        if q:
            cur.append(c)
            if c == q:
                q = None
            continue
        if c in "'`\"":
            q = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            out.append("".join(cur))
            cur = []
            continue
        cur.append(c)
    out.append("".join(cur))
    return out


def _key_columns(item):
    lp, rp = item.find("("), item.rfind(")")
    if lp < 0 or rp < lp:
        return []
    return [re.sub(r"\(\d+\)$", "", c.strip()).strip("`\" ") for c in
            _split_top(item[lp + 1:rp])]


def read_dump_text(path):
    """The text of a dump file (gzip by suffix); truncation of a .gz raises DumpError."""
    name = os.path.basename(path)
    try:
        if str(path).endswith(".gz"):
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            with open(path, "rb") as f:
                raw = f.read()
    except EOFError:
        raise DumpError(name, 0, "compressed stream ends early (file truncated)") from None
    except (OSError, gzip.BadGzipFile) as e:
        raise DumpError(name, 0, f"cannot read: {e}") from None
    try:
        return raw.decode("utf-8"), raw
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DumpError(name, line, f"not UTF-8 text ({e.reason} at byte {e.start})") from None


def parse_dump(text, filename="<dump>", on_progress=None):
    """Parse a dump's text into a :class:`Dump`; raises :class:`DumpError`."""
    return _Parser(text, filename).parse(on_progress)


# ------------------------------------------------------------------------------ storing
_drivers = {}           # connection class -> its DB-API module's name


def _driver(conn):
    """The DB-API module's name of a connection (of its class or a base: psycopg's
    connections are subclassed by :mod:`evemu.db.pgloop`).  Remembered per class: every
    query function asks it (placeholder, dialect, ``FOR UPDATE``) once or more per call."""
    cls = type(conn)
    mod = _drivers.get(cls)
    if mod is None:
        for c in cls.__mro__:
            mod = c.__module__.split(".")[0]
            if mod in ("sqlite3", "_sqlite3", "psycopg", "psycopg2"):
                break
        else:
            mod = cls.__module__.split(".")[0]
        _drivers[cls] = mod
    return mod


def dialect(conn):
    """'sqlite' or 'postgresql' (by the DB-API module of the connection)."""
    return "sqlite" if _driver(conn) in ("sqlite3", "_sqlite3") else "postgresql"


def _column_type(conn, portable):
    # the one portable type name PostgreSQL spells differently
    return "BYTEA" if portable == "BLOB" and dialect(conn) == "postgresql" else portable


def _placeholder(conn):
    mod = sys.modules.get(_driver(conn))
    style = getattr(mod, "paramstyle", "qmark")
    return "?" if style == "qmark" else "%s"


def _q(name):
    return '"' + name.replace('"', '""') + '"'


def ensure_registry(conn):
    cur = conn.cursor()
    for stmt in REGISTRY_SQL:
        cur.execute(stmt)


def record_columns(conn, table, columns, mysql_types):
    """Remember the MySQL types of ``table``'s columns (in staticColumns)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    cur.execute(f'DELETE FROM "staticColumns" WHERE "tableName" = {ph}', (table,))
    cur.executemany(f'INSERT INTO "staticColumns" VALUES ({ph}, {ph}, {ph}, {ph})',
                    [(table, c, i, t) for i, (c, t) in enumerate(zip(columns, mysql_types))])


def _existing_tables(conn):
    cur = conn.cursor()
    if dialect(conn) == "sqlite":
        cur.execute("SELECT name FROM sqlite_master WHERE type='table'")
    else:
        cur.execute("SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema()")
    return {r[0].lower(): r[0] for r in cur.fetchall()}


def _begin(conn):
    """Open a transaction that covers DDL too, committed by the caller's ``conn.commit()``.
    sqlite3 opens one implicitly only before INSERT/UPDATE/DELETE (never before CREATE/DROP
    TABLE), and not at all in autocommit mode, so SQLite gets an explicit ``BEGIN IMMEDIATE``
    (the write lock at once: a read-then-write transaction cannot fail to upgrade it).  The
    PostgreSQL connections are in autocommit mode, so they get an explicit ``BEGIN`` too (unless
    one is open already, e.g. a migration's)."""
    if dialect(conn) == "sqlite":
        if not conn.in_transaction:
            conn.cursor().execute("BEGIN IMMEDIATE")
        return
    raw = getattr(conn, "raw", conn)          # (a migration's QmarkConnection)
    info = getattr(raw, "info", None)
    if info is not None and info.transaction_status == 0:         # IDLE
        raw.execute("BEGIN")



def _tx(conn, fn):
    """``fn()`` in ONE transaction (:func:`_begin`): committed once if it returns, rolled back
    on any exception (re-raised).  Returns what ``fn`` returned."""
    _begin(conn)
    try:
        out = fn()
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return out


def for_update(conn):
    """`` FOR UPDATE`` on PostgreSQL (row locks held to the end of the transaction), nothing on
    SQLite (whose ``BEGIN IMMEDIATE`` already excludes every other writer)."""
    return "" if dialect(conn) == "sqlite" else " FOR UPDATE"


def _store(conn, dump, source, skip_tables):
    """Create and fill the dump's tables (inside the caller's transaction)."""
    ph = _placeholder(conn)
    cur = conn.cursor()
    done = []
    for name, table in dump.tables.items():
        if name.lower() in skip_tables:
            continue
        cur.execute(f"DROP TABLE IF EXISTS {_q(name)}")
        cols = [f"{_q(c)} {_column_type(conn, t)}" for c, t in zip(table.columns, table.types)]
        if table.primary and all(c in table.columns for c in table.primary):
            cols.append(f"PRIMARY KEY ({', '.join(_q(c) for c in table.primary)})")
        cur.execute(f"CREATE TABLE {_q(name)} ({', '.join(cols)})")
        rows = dump.rows.get(name, ())
        if rows:
            sql = (f"INSERT INTO {_q(name)} VALUES ({', '.join([ph] * len(table.columns))})")
            try:
                cur.executemany(sql, rows)
            except Exception as e:
                raise DumpError(source, table.line, f"table {name}: {e}") from None
        for i, (unique, kcols) in enumerate(table.keys):
            if not kcols or not all(c in table.columns for c in kcols):
                continue
            iname = f"{name}_ix{i}"
            try:
                cur.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {_q(iname)} ON "
                            f"{_q(name)} ({', '.join(_q(c) for c in kcols)})")
            except Exception:
                # EVEmu's data breaks some of its own UNIQUE keys: keep a plain index
                cur.execute(f"CREATE INDEX {_q(iname)} ON {_q(name)} "
                            f"({', '.join(_q(c) for c in kcols)})")
        record_columns(conn, name, table.columns, table.mysql)
        cur.execute(f"DELETE FROM \"staticTables\" WHERE \"tableName\" = {ph}", (name,))
        cur.execute(f"INSERT INTO \"staticTables\" VALUES ({ph}, {ph})", (name, source))
        done.append((name, len(rows)))
    return done


def dump_files(path):
    """The dump files under PATH (a checkout, its sql/base folder, or one file), sorted."""
    path = os.fspath(path)
    if os.path.isfile(path):
        return [path]
    for sub in (os.path.join(path, "sql", "base"), path):
        if os.path.isdir(sub):
            files = sorted(os.path.join(sub, f) for f in os.listdir(sub)
                           if f.endswith((".sql", ".sql.gz")))
            if files:
                return files
    raise FileNotFoundError(f"no *.sql or *.sql.gz files under {path}")


class ImportResult:
    def __init__(self):
        self.imported = []        # (file, [(table, rows)])
        self.unchanged = []       # file names
        self.refused = []         # DumpError
        self.skipped_tables = []  # (file, table, why)

    @property
    def rows(self):
        return sum(n for _, t in self.imported for _, n in t)


def import_file(conn, path, result=None, progress=None):
    """Import one dump file in one transaction.  Returns the ImportResult.  ``progress(frac)``
    is called after each INSERT statement with the fraction of the text parsed."""
    result = result or ImportResult()
    name = os.path.basename(path)
    ph = _placeholder(conn)
    ensure_registry(conn)
    try:
        text, raw = read_dump_text(path)
    except DumpError as e:
        result.refused.append(e)
        return result
    digest = hashlib.sha256(raw).hexdigest()
    cur = conn.cursor()
    cur.execute(f'SELECT "sha256" FROM "importedFiles" WHERE "fileName" = {ph}', (name,))
    row = cur.fetchone()
    if row and row[0] == digest:
        result.unchanged.append(name)
        return result
    try:
        n = max(1, len(text))
        dump = parse_dump(text, name, None if progress is None else
                          (lambda pos: progress(pos / n)))
    except DumpError as e:
        result.refused.append(e)
        return result
    existing = _existing_tables(conn)
    cur.execute('SELECT "tableName" FROM "staticTables"')
    static = {r[0].lower() for r in cur.fetchall()}
    skip = set()
    for t in dump.tables:
        low = t.lower()
        if low in RUNTIME_TABLES:
            skip.add(low)
            result.skipped_tables.append((name, t, "EVEmu runtime table"))
        elif low in existing and low not in static and low not in ("importedfiles",
                                                                      "statictables"):
            skip.add(low)
            result.skipped_tables.append((name, t, "the server's own table"))
        elif low in ("importedfiles", "statictables", "meta"):
            skip.add(low)
            result.skipped_tables.append((name, t, "reserved name"))
    _begin(conn)
    try:
        done = _store(conn, dump, name, skip)
        cur.execute(f'DELETE FROM "importedFiles" WHERE "fileName" = {ph}', (name,))
        cur.execute(f'INSERT INTO "importedFiles" VALUES ({ph}, {ph}, {ph}, {ph}, {ph})',
                    (name, digest, ",".join(t for t, _ in done),
                     sum(n for _, n in done), int(time.time())))
    except BaseException as e:
        conn.rollback()
        if isinstance(e, DumpError):
            result.refused.append(e)
            return result
        raise
    conn.commit()
    result.imported.append((name, done))
    return result


class Progress:
    """A progress bar on a tty (stderr), else one line every ``every`` seconds."""

    def __init__(self, total_bytes, stream=None, every=5.0):
        self.total = max(1, total_bytes)
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.every = every
        self.done = 0
        self.last = 0.0
        self.start = time.monotonic()

    def update(self, done, label):
        self.done = done
        now = time.monotonic()
        if self.tty:
            if now - self.last < 0.1 and done < self.total:
                return
            frac = min(1.0, done / self.total)
            bar = "#" * int(frac * 30)
            self.stream.write(f"\r[{bar:<30}] {frac * 100:5.1f}% {label[:40]:<40}")
            self.stream.flush()
        elif now - self.last >= self.every:
            self.stream.write(f"import-data: {done * 100 // self.total}% ({label})\n")
            self.stream.flush()
        else:
            return
        self.last = now

    def finish(self):
        if self.tty:
            self.stream.write("\r" + " " * 80 + "\r")
            self.stream.flush()


def import_path(conn, path, stream=None):
    """Import every dump under ``path``; returns an ImportResult (refusals do not stop it)."""
    files = dump_files(path)
    sizes = [os.path.getsize(f) for f in files]
    progress = Progress(sum(sizes), stream)
    result = ImportResult()
    done = 0
    for f, size in zip(files, sizes):
        progress.update(done, os.path.basename(f))
        import_file(conn, f, result,
                    lambda frac, d=done, s=size, n=os.path.basename(f):
                    progress.update(d + int(s * frac), n))
        done += size
    progress.update(done, "done")
    progress.finish()
    return result


def summary(result):
    """The end-of-run report (a list of lines)."""
    lines = []
    tables = sorted((t, n) for _, ts in result.imported for t, n in ts)
    if tables:
        w = max(len(t) for t, _ in tables)
        lines.append(f"{'table':<{w}}  {'rows':>9}")
        lines += [f"{t:<{w}}  {n:>9}" for t, n in tables]
    lines.append(f"imported {len(result.imported)} files ({len(tables)} tables, "
                 f"{result.rows} rows); {len(result.unchanged)} unchanged; "
                 f"{len(result.refused)} refused")
    for e in result.refused:
        lines.append(f"refused: {e}")
    for f, t, why in result.skipped_tables:
        lines.append(f"skipped table {t} ({f}): {why}")
    return lines


def run(db, path, stream=None):
    """``python -m evemu import-data PATH``: import every dump under ``path`` into the open
    :class:`evemu.db.Database` ``db``, on its database thread; returns the ImportResult.
    FileNotFoundError if ``path`` holds no dumps (checked before anything is written)."""
    dump_files(path)
    return db.run(import_path, path, stream)
