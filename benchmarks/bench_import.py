"""import-data throughput on a generated dgmTypeAttributes dump (EVEmu's mysqldump format).

    python benchmarks/bench_import.py [--rows 300000] [--gz]

Writes a synthetic ``dgmTypeAttributes.sql(.gz)`` (typeID, attributeID, valueInt, valueFloat;
extended INSERTs of 1,000 rows like mysqldump's; a third of the rows with a float value and
NULL int, the rest the opposite), then imports it into a fresh SQLite file with
:func:`evemu.db.importer.import_file` and prints a table: parse and store time, rows/s.
A second run of the same file is timed too (it must be a no-op: SHA-256 unchanged).
"""
import argparse
import gzip
import os
import random
import sqlite3
import sys
import tempfile
import time

from evemu.db import importer

HEADER = """-- MariaDB dump 10.18  Distrib 10.4.17-MariaDB, for Linux (x86_64)
/*!40101 SET NAMES utf8mb4 */;
DROP TABLE IF EXISTS `dgmTypeAttributes`;
CREATE TABLE `dgmTypeAttributes` (
  `typeID` int(10) unsigned NOT NULL DEFAULT 0,
  `attributeID` smallint(5) unsigned NOT NULL DEFAULT 0,
  `valueInt` int(11) DEFAULT NULL,
  `valueFloat` double DEFAULT NULL,
  PRIMARY KEY (`typeID`,`attributeID`),
  KEY `attributeID` (`attributeID`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8;
LOCK TABLES `dgmTypeAttributes` WRITE;
"""


def generate(path, rows, gz):
    rnd = random.Random(7)
    parts = [HEADER]
    batch = []
    n = 0
    type_id = 1
    while n < rows:
        for attr in range(1, 21):
            if n >= rows:
                break
            if n % 3 == 0:
                batch.append(f"({type_id},{attr},NULL,{rnd.uniform(-1e6, 1e6)!r})")
            else:
                batch.append(f"({type_id},{attr},{rnd.randint(-2**31, 2**31 - 1)},NULL)")
            n += 1
            if len(batch) == 1000:
                parts.append("INSERT INTO `dgmTypeAttributes` VALUES " + ",".join(batch) + ";\n")
                batch = []
        type_id += 1
    if batch:
        parts.append("INSERT INTO `dgmTypeAttributes` VALUES " + ",".join(batch) + ";\n")
    parts.append("UNLOCK TABLES;\n")
    data = "".join(parts).encode()
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)
    return len(data)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=300000)
    p.add_argument("--gz", action="store_true", help="gzip the dump (as in sql/base)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "dgmTypeAttributes.sql" + (".gz" if args.gz else ""))
        size = generate(path, args.rows, args.gz)
        text, _ = importer.read_dump_text(path)
        t0 = time.perf_counter()
        dump = importer.parse_dump(text, os.path.basename(path))
        t_parse = time.perf_counter() - t0
        assert len(dump.rows["dgmTypeAttributes"]) == args.rows
        del dump, text
        conn = sqlite3.connect(os.path.join(tmp, "bench.sqlite3"))
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        t0 = time.perf_counter()
        res = importer.import_file(conn, path)
        t_total = time.perf_counter() - t0
        assert not res.refused and res.rows == args.rows, res.refused
        t0 = time.perf_counter()
        again = importer.import_file(conn, path)
        t_again = time.perf_counter() - t0
        assert again.unchanged == [os.path.basename(path)]
        conn.close()
    print(f"python {sys.version.split()[0]}, {args.rows} rows, {size / 1e6:.1f} MB SQL"
          f"{' (gzip)' if args.gz else ''}")
    print(f"{'step':<28}{'seconds':>9}{'rows/s':>12}")
    print(f"{'parse only':<28}{t_parse:>9.2f}{args.rows / t_parse:>12,.0f}")
    print(f"{'import (read+parse+store)':<28}{t_total:>9.2f}{args.rows / t_total:>12,.0f}")
    print(f"{'second run (unchanged)':<28}{t_again:>9.2f}{'-':>12}")


if __name__ == "__main__":
    main()
