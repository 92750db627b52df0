"""The world layer's tables, as versioned migrations (:mod:`evemu.db.migrations`).

- 100: the static-data registry: where each static table came from (``staticTables``), its
  MySQL column types (``staticColumns``), the imported files (``importedFiles``), the shipped
  data's version (``staticDataVersion``), and the cached-object versions and blobs
  (``cacheVersions``, ``cacheObjects``).  The shipped tables themselves are (re)loaded by a
  start-up step, keyed by the data files' fingerprint (:func:`evemu.db.static.install`, run by
  :meth:`evemu.db.Database.start_up` on the database thread): their columns come from the
  data files, so they are not a fixed schema.
- 200: the character and item tables (:data:`evemu.db.characters.SCHEMA`).
- 300, 301: the skill queue, the kept chat channels; 310: the skill history
  (:data:`evemu.db.skill_history.SCHEMA`, one text per dialect for its generated id); 311: the
  levels trained while their character was away (:data:`evemu.db.skills.UNSEEN_SCHEMA`).
- 500: bookmarks and their folders (:data:`evemu.db.bookmarks.SCHEMA`).
- 501: where ships were left in space (:data:`evemu.db.inspace.SCHEMA`).

The SQL is portable (DB-API cursor, double-quoted identifiers), so each migration is a function
of the connection, the same on every dialect.  ``IF NOT EXISTS`` keeps them harmless on a
database whose tables an older start-up hook already created.
"""
import importlib

from . import importer, skill_history, static
from .migrations import migration, register

__all__ = ["REGISTRY_SQL"]

REGISTRY_SQL = (
    'CREATE TABLE IF NOT EXISTS "staticDataVersion" ('
    ' "name" VARCHAR(64) PRIMARY KEY, "version" VARCHAR(64) NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "cacheVersions" ("objectKey" VARCHAR(255) PRIMARY KEY,'
    ' "crc" BIGINT NOT NULL, "timestamp" BIGINT NOT NULL)',
)


@migration(100, "world: static data registry and cached objects")
def _registry(conn):
    importer.ensure_registry(conn)
    cur = conn.cursor()
    for stmt in REGISTRY_SQL:
        cur.execute(stmt)
    static._blob_table(conn)


def _schema(module, attr="SCHEMA"):
    """A migration action that runs the statements of ``evemu.db.<module>.<attr>`` (the module
    imported when the migration runs: some of them import this one's neighbours)."""
    def action(conn):
        stmts = getattr(importlib.import_module(f"{__package__}.{module}"), attr)
        cur = conn.cursor()
        for stmt in stmts:
            cur.execute(stmt)
    return action


register(200, "characters: id sequences, character info, items, item attributes, journal",
         _schema("characters"))
register(300, "skills: the skill queue (chrSkillQueue)", _schema("skills"))
register(301, "chat: user channels, their access lists and subscribers", _schema("chat"))
register(310, "skills: the skill history (chrSkillHistory; EVEmu's table, ai generated)",
         skill_history.SCHEMA)
register(311, "skills: levels trained while the character was away (chrSkillTrainedUnseen)",
         _schema("skills", "UNSEEN_SCHEMA"))
register(500, "bookmarks: personal bookmarks and their folders", _schema("bookmarks"))
register(501, "space: the point a ship was left at in space (shipPositions)",
         _schema("inspace"))
