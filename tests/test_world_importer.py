"""``python -m evemu import-data``: synthetic dumps in evemu_Crucible's formats (mysqldump and
phpMyAdmin), truncated and malformed files, idempotence, the server's own tables."""
import gzip
import os
import sqlite3
import subprocess
import sys

import pytest

from evemu.db import Database
from evemu.db import importer as I

MYSQLDUMP = r"""-- MariaDB dump 10.18  Distrib 10.4.17-MariaDB, for Linux (x86_64)
/*!40101 SET NAMES utf8mb4 */;
/*!40103 SET TIME_ZONE='+00:00' */;

DROP TABLE IF EXISTS `invTypes`;
/*!40101 SET @saved_cs_client     = @@character_set_client */;
CREATE TABLE `invTypes` (
  `typeID` smallint(5) NOT NULL DEFAULT '0',
  `groupID` smallint(5) unsigned NOT NULL DEFAULT '0',
  `typeName` text COLLATE utf8_unicode_ci,
  `radius` float NOT NULL DEFAULT '0',
  `published` bit(1) NOT NULL DEFAULT b'0',
  `flags` bit(1) NOT NULL DEFAULT b'0',
  `raw` blob,
  PRIMARY KEY (`typeID`),
  KEY `groupID` (`groupID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;

LOCK TABLES `invTypes` WRITE;
/*!40000 ALTER TABLE `invTypes` DISABLE KEYS */;
INSERT INTO `invTypes` VALUES (588,25,'Reaper',35.5,b'1','\1',NULL),(670,29,'Capsule; \'pod\'',-2.5e1,b'0','\0',0x00ff),
(34,18,'Line\nbreak \\ back -- not a comment',0,b'1','\0',X'4142');
INSERT INTO `invTypes` VALUES (35,18,'It''s /* not */ a comment',1E3,b'0','\0',NULL);
/*!40000 ALTER TABLE `invTypes` ENABLE KEYS */;
UNLOCK TABLES;
-- Dump completed on 2021-03-26 15:47:24
"""

PHPMYADMIN = """-- phpMyAdmin SQL Dump
SET SQL_MODE = "NO_AUTO_VALUE_ON_ZERO";
START TRANSACTION;
SET time_zone = "+00:00";

CREATE TABLE `chrRaces` (
  `raceID` tinyint(3) UNSIGNED NOT NULL DEFAULT '0',
  `raceName` varchar(100) DEFAULT NULL,
  `iconID` smallint(6) NOT NULL DEFAULT '0'
) ENGINE=MyISAM DEFAULT CHARSET=utf8;

INSERT INTO `chrRaces` (`raceID`, `raceName`, `iconID`) VALUES
(1, 'Caldari', 1439),
(2, 'Minmatar', 1440),
(4, NULL, 1442);

ALTER TABLE `chrRaces`
  ADD PRIMARY KEY (`raceID`),
  ADD KEY `iconID` (`iconID`);
COMMIT;
"""

RUNTIME = """CREATE TABLE `account` (`accountID` int(10) unsigned NOT NULL);
INSERT INTO `account` VALUES (1),(2);
CREATE TABLE `entity` (`itemID` int(10) unsigned NOT NULL);
INSERT INTO `entity` VALUES (140000000);
"""

BAD_LITERAL = """CREATE TABLE `zzUnits` (`unitID` tinyint(3) unsigned NOT NULL,
  `unitName` varchar(100) DEFAULT NULL);
INSERT INTO `zzUnits` VALUES (1,'Length'),(2,'Mass');
CREATE TABLE `zzSounds` (`soundID` int(11) NOT NULL, `soundFile` varchar(255));
INSERT INTO `zzSounds` VALUES (1,'a.wav'),
(2,oops);
"""


def _write(folder, name, text):
    path = folder / name
    if name.endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(text.encode("utf-8"))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def dumps(tmp_path):
    base = tmp_path / "evemu_Crucible" / "sql" / "base"
    base.mkdir(parents=True)
    _write(base, "invTypes.sql.gz", MYSQLDUMP)
    _write(base, "chrRaces.sql", PHPMYADMIN)
    _write(base, "account.sql.gz", RUNTIME)
    _write(base, "zBadLiteral.sql", BAD_LITERAL)
    _write(base, "zTruncated.sql", MYSQLDUMP[:MYSQLDUMP.index("'Capsule") + 5])
    gz = gzip.compress(MYSQLDUMP.replace("invTypes", "invGroupsX").encode())
    (base / "zTruncatedGz.sql.gz").write_bytes(gz[:len(gz) // 2])
    return tmp_path / "evemu_Crucible"


def _tables(conn):
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def _snapshot(conn):
    return list(conn.iterdump())


# ------------------------------------------------------------------------------ parsing
def test_parse_mysqldump_values_and_types():
    d = I.parse_dump(MYSQLDUMP, "invTypes.sql")
    t = d.tables["invTypes"]
    assert t.columns == ["typeID", "groupID", "typeName", "radius", "published", "flags", "raw"]
    assert t.mysql == ["smallint(5)", "smallint(5) unsigned", "text", "float", "bit(1)",
                       "bit(1)", "blob"]
    assert t.primary == ["typeID"] and t.keys == [(False, ["groupID"])]
    rows = d.rows["invTypes"]
    assert rows[0] == (588, 25, "Reaper", 35.5, 1, 1, None)
    assert rows[1] == (670, 29, "Capsule; 'pod'", -25.0, 0, 0, b"\x00\xff")
    assert rows[2] == (34, 18, "Line\nbreak \\ back -- not a comment", 0, 1, 0, b"AB")
    assert rows[3] == (35, 18, "It's /* not */ a comment", 1000.0, 0, 0, None)


def test_parse_phpmyadmin_alter_keys_and_column_lists():
    d = I.parse_dump(PHPMYADMIN, "chrRaces.sql")
    t = d.tables["chrRaces"]
    assert t.primary == ["raceID"] and t.keys == [(False, ["iconID"])]
    assert t.mysql[0] == "tinyint(3) unsigned"
    assert d.rows["chrRaces"] == [(1, "Caldari", 1439), (2, "Minmatar", 1440), (4, None, 1442)]


@pytest.mark.parametrize("text, line, reason", [
    ("CREATE TABLE `t` (`a` int(11));\nINSERT INTO `t` VALUES (1),\n(abc);\n", 3,
     "bad literal 'abc'"),
    ("CREATE TABLE `t` (`a` int(11));\nINSERT INTO `t` VALUES (b'2');\n", 2,
     "bad literal \"b'2'\""),
    ("CREATE TABLE `t` (`a` int(11), `b` text);\nINSERT INTO `t` VALUES (1,'x');\n"
     "INSERT INTO `t` VALUES (2);\n", 3, "INSERT INTO t: row has 1 values, table has 2 "),
    ("CREATE TABLE `t` (`a` int(11));\nINSERT INTO `t` VALUES (1),(2", 2,
     "file ends inside a row (truncated)"),
    ("CREATE TABLE `t` (`a` text);\nINSERT INTO `t` VALUES ('abc", 2,
     "unterminated string literal (file truncated?)"),
    ("CREATE TABLE `t` (`a` int(11));\nINSERT INTO `t` VALUES (1)", 2,
     "expected ',' or ';' after a row (file truncated?)"),
    ("CREATE TABLE `t` (\n`a` int(11)", 1, "statement not terminated by ';' (file truncated?)"),
    ("INSERT INTO `nope` VALUES (1);\n", 1, "INSERT INTO nope before its CREATE TABLE"),
    ("CREATE TABLE `t` (`a` int(11));\nINSERT INTO `t` VALUES ('x');\n", 2,
     "INSERT INTO t: 'x' is not a number (column a)"),
    ("/* never closed", 1, "unterminated comment (file truncated?)"),
])
def test_malformed_dumps_name_line_and_reason(text, line, reason):
    with pytest.raises(I.DumpError) as e:
        I.parse_dump(text, "bad.sql")
    assert (e.value.file, e.value.line) == ("bad.sql", line)
    assert e.value.reason.startswith(reason), e.value.reason
    assert str(e.value) == f"bad.sql:{line}: {e.value.reason}"


def test_dump_files_accepts_checkout_folder_or_file(dumps):
    files = I.dump_files(dumps)
    assert [os.path.basename(f) for f in files] == [
        "account.sql.gz", "chrRaces.sql", "invTypes.sql.gz", "zBadLiteral.sql",
        "zTruncated.sql", "zTruncatedGz.sql.gz"]
    assert I.dump_files(dumps / "sql" / "base") == files
    assert I.dump_files(files[1]) == [files[1]]
    with pytest.raises(FileNotFoundError):
        I.dump_files(dumps / "sql")


# ------------------------------------------------------------------------------ importing
def test_import_refuses_bad_files_whole_and_is_idempotent(dumps, tmp_path):
    db = Database(tmp_path / "server.sqlite3")           # the server's own tables exist
    db.create_account("keeper", 1, password="pw")
    conn = sqlite3.connect(db.path)
    result = I.import_path(conn, dumps, stream=open(os.devnull, "w"))
    assert sorted(f for f, _ in result.imported) == ["account.sql.gz", "chrRaces.sql",
                                                     "invTypes.sql.gz"]
    refused = {e.file: e for e in result.refused}
    assert set(refused) == {"zBadLiteral.sql", "zTruncated.sql", "zTruncatedGz.sql.gz"}
    assert refused["zBadLiteral.sql"].line == 6
    assert refused["zBadLiteral.sql"].reason == "bad literal 'oops'"
    assert refused["zTruncated.sql"].reason == "unterminated string literal (file truncated?)"
    assert refused["zTruncated.sql"].line == 21
    assert refused["zTruncatedGz.sql.gz"].reason.startswith("compressed stream ends early")
    tables = _tables(conn)
    # nothing of a refused file: zzUnits (valid part of zBadLiteral) is absent too
    assert "zzUnits" not in tables and "zzSounds" not in tables and "invGroupsX" not in tables
    assert {"invTypes", "chrRaces"} <= tables
    # runtime tables: EVEmu's 'entity' never imported, our 'account' untouched
    assert "entity" not in tables
    assert [r[0] for r in conn.execute("SELECT accountName FROM account")] == ["keeper"]
    assert {(f, t) for f, t, _ in result.skipped_tables} == {("account.sql.gz", "account"),
                                                               ("account.sql.gz", "entity")}
    assert conn.execute('SELECT typeName, published, raw FROM "invTypes" WHERE typeID=670'
                        ).fetchone() == ("Capsule; 'pod'", 0, b"\x00\xff")
    assert conn.execute('SELECT "mysqlType" FROM "staticColumns" WHERE "tableName"=\'chrRaces\''
                        ' AND "columnName"=\'raceID\'').fetchone() == ("tinyint(3) unsigned",)
    before = _snapshot(conn)

    again = I.import_path(conn, dumps, stream=open(os.devnull, "w"))
    assert again.imported == [] and sorted(again.unchanged) == [
        "account.sql.gz", "chrRaces.sql", "invTypes.sql.gz"]
    assert len(again.refused) == 3
    assert _snapshot(conn) == before                        # a second run changes nothing

    # a fixed file is imported on the next run
    _write(dumps / "sql" / "base", "zBadLiteral.sql", BAD_LITERAL.replace("oops", "'ok.wav'"))
    third = I.import_path(conn, dumps, stream=open(os.devnull, "w"))
    assert [f for f, _ in third.imported] == ["zBadLiteral.sql"]
    assert conn.execute('SELECT COUNT(*) FROM "zzSounds"').fetchone() == (2,)
    conn.close()
    db.close()


def test_imported_table_replaces_the_shipped_one_and_survives_restart(tmp_path):
    path = tmp_path / "s.sqlite3"
    db = Database(path)
    shipped = db.execute('SELECT COUNT(*) FROM "chrRaces"')[0][0]
    assert shipped == 8
    db.close()
    folder = tmp_path / "dumps"
    folder.mkdir()
    _write(folder, "chrRaces.sql", PHPMYADMIN)
    conn = sqlite3.connect(path)
    I.import_path(conn, folder, stream=open(os.devnull, "w"))
    conn.close()
    db = Database(path)                                   # restart: shipped data not reloaded
    assert db.execute('SELECT COUNT(*) FROM "chrRaces"')[0][0] == 3
    assert db.execute('SELECT "source" FROM "staticTables" WHERE "tableName"=\'chrRaces\''
                      ) == [("chrRaces.sql",)]
    db.close()


def test_cli_summary_and_progress_lines(dumps, tmp_path):
    out = subprocess.run([sys.executable, "-m", "evemu", "import-data", str(dumps), "--db",
                          str(tmp_path / "cli.sqlite3")], capture_output=True, text=True,
                         timeout=120, cwd=str(tmp_path))
    assert out.returncode == 3, out.stderr            # some files were refused
    lines = out.stdout.splitlines()
    assert "imported 3 files (2 tables, 7 rows); 0 unchanged; 3 refused" in lines
    assert any(line.startswith("refused: zBadLiteral.sql:6: bad literal") for line in lines)
    assert any(line.split() == ["invTypes", "4"] for line in lines)
    progress = [ln for ln in out.stderr.splitlines() if ln.startswith("import-data:")]
    assert progress[0].startswith("import-data: 0%")      # not a tty: plain progress lines
    again = subprocess.run([sys.executable, "-m", "evemu", "import-data", str(dumps), "--db",
                            str(tmp_path / "cli.sqlite3")], capture_output=True, text=True,
                           timeout=120, cwd=str(tmp_path))
    assert "imported 0 files (0 tables, 0 rows); 3 unchanged; 3 refused" in again.stdout
    missing = subprocess.run([sys.executable, "-m", "evemu", "import-data",
                              str(tmp_path / "nowhere")], capture_output=True, text=True,
                             timeout=60, cwd=str(tmp_path))
    assert missing.returncode == 2 and "no *.sql or *.sql.gz files" in missing.stderr


def test_progress_bar_on_a_tty():
    class Tty:
        def __init__(self):
            self.out = []

        def isatty(self):
            return True

        def write(self, s):
            self.out.append(s)

        def flush(self):
            pass

    t = Tty()
    p = I.Progress(200, t)
    p.update(100, "invTypes.sql.gz")
    p.update(200, "done")
    p.finish()
    assert t.out[0].startswith("\r[###############               ]  50.0% invTypes.sql.gz")
    assert "100.0% done" in t.out[1]


def test_a_file_failing_while_stored_leaves_the_previous_import(tmp_path):
    """DROP/CREATE TABLE are inside the file's transaction: a duplicate primary key found by
    the database while storing rolls the whole file back, the earlier import stays."""
    folder = tmp_path / "d"
    folder.mkdir()
    _write(folder, "chrRaces.sql", PHPMYADMIN)
    for isolation in ("", None):                   # legacy implicit transactions, autocommit
        conn = sqlite3.connect(tmp_path / f"t{isolation is None}.sqlite3",
                               isolation_level=isolation)
        assert not I.import_path(conn, folder, stream=open(os.devnull, "w")).refused
        _write(folder, "chrRaces.sql", PHPMYADMIN.replace("(4, NULL, 1442)", "(2, 'Dup', 0)"))
        res = I.import_path(conn, folder, stream=open(os.devnull, "w"))
        assert [e.file for e in res.refused] == ["chrRaces.sql"]
        assert "UNIQUE constraint failed" in res.refused[0].reason
        assert conn.execute('SELECT "raceName" FROM "chrRaces" ORDER BY "raceID"').fetchall() \
            == [("Caldari",), ("Minmatar",), (None,)]
        assert not conn.in_transaction
        conn.close()
        _write(folder, "chrRaces.sql", PHPMYADMIN)


def test_cli_is_a_subcommand_with_config_and_env(dumps, tmp_path):
    """import-data takes its database from --config FILE.toml and EVEMU_DB like the other
    commands, writes through the server's database (migrated, private file), and is listed."""
    target = tmp_path / "from-toml.sqlite3"
    toml = tmp_path / "evemu.toml"
    toml.write_text(f'db = "{target}"\n')
    env = dict(os.environ, EVEMU_DB=str(tmp_path / "from-env.sqlite3"))
    env.pop("EVEMU_CONFIG", None)
    out = subprocess.run([sys.executable, "-m", "evemu", "import-data", str(dumps), "--config",
                          str(toml)], capture_output=True, text=True, timeout=120,
                         cwd=str(tmp_path),
                         env={k: v for k, v in env.items() if k != "EVEMU_DB"})
    assert out.returncode == 3, out.stderr
    assert target.exists() and (target.stat().st_mode & 0o077) == 0
    db = Database(target)
    try:
        assert db.execute('SELECT COUNT(*) FROM "invTypes"')[0][0] == 4
        applied = {v for v, _, _ in db.schema_info()["applied"]}
        assert {100, 200} <= applied
    finally:
        db.close()
    out = subprocess.run([sys.executable, "-m", "evemu", "import-data", str(dumps)],
                         capture_output=True, text=True, timeout=120, cwd=str(tmp_path), env=env)
    assert out.returncode == 3 and (tmp_path / "from-env.sqlite3").exists()
    helped = subprocess.run([sys.executable, "-m", "evemu", "--help"], capture_output=True,
                            text=True, timeout=60, cwd=str(tmp_path))
    assert "import-data" in helped.stdout
    usage = subprocess.run([sys.executable, "-m", "evemu", "import-data"], capture_output=True,
                           text=True, timeout=60, cwd=str(tmp_path))
    assert usage.returncode == 2 and "path" in usage.stderr
