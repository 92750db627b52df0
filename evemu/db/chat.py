"""User chat channels that outlive the server (portable SQL on a DB-API connection): the
channel and its settings, its access list and its subscribers, as EVEmu's LSCDB keeps them in
``channels`` / ``channelChars`` (our tables: ``lscChannels``, ``lscChannelAccess``,
``lscChannelMembers``, migration 301).

Only user-created, non-temporary channels are kept: the fixed help channels are made at start,
session-bound channels follow sessions, and private conversations end with their last member.
An access entry for everyone (accessor None) is stored with accessor 0.
"""
from .importer import _placeholder, _tx

__all__ = ["SCHEMA", "load_channels", "save_channel", "delete_channel", "set_access",
           "subscribe", "unsubscribe"]

SCHEMA = (
    'CREATE TABLE IF NOT EXISTS "lscChannels" ('
    ' "channelID" BIGINT PRIMARY KEY, "ownerID" BIGINT NOT NULL,'
    ' "displayName" VARCHAR(100) NOT NULL, "motd" TEXT NOT NULL,'
    ' "comparisonKey" VARCHAR(100) NOT NULL, "memberless" INTEGER NOT NULL,'
    ' "password" VARCHAR(100) NOT NULL, "cspa" INTEGER NOT NULL)',
    'CREATE TABLE IF NOT EXISTS "lscChannelAccess" ('
    ' "channelID" BIGINT NOT NULL, "accessor" BIGINT NOT NULL, "mode" INTEGER NOT NULL,'
    ' "untilWhen" BIGINT, "originalMode" INTEGER NOT NULL, "admin" VARCHAR(100) NOT NULL,'
    ' "reason" VARCHAR(300) NOT NULL, PRIMARY KEY ("channelID", "accessor"))',
    'CREATE TABLE IF NOT EXISTS "lscChannelMembers" ('
    ' "channelID" BIGINT NOT NULL, "charID" BIGINT NOT NULL,'
    ' PRIMARY KEY ("channelID", "charID"))',
)

CHANNEL_COLUMNS = ("channelID", "ownerID", "displayName", "motd", "comparisonKey",
                   "memberless", "password", "cspa")
ACCESS_COLUMNS = ("accessor", "mode", "untilWhen", "originalMode", "admin", "reason")


def load_channels(conn):
    """Every kept channel: a dict of CHANNEL_COLUMNS plus ``acl`` (list of dicts of
    ACCESS_COLUMNS, accessor None for everyone) and ``members`` (set of charIDs)."""
    cur = conn.cursor()
    cols = ", ".join(f'"{c}"' for c in CHANNEL_COLUMNS)
    cur.execute(f'SELECT {cols} FROM "lscChannels" ORDER BY "channelID"')
    out = {}
    for row in cur.fetchall():
        d = dict(zip(CHANNEL_COLUMNS, row))
        d["memberless"] = bool(d["memberless"])
        d["acl"], d["members"] = [], set()
        out[int(d["channelID"])] = d
    cols = ", ".join(f'"{c}"' for c in ("channelID",) + ACCESS_COLUMNS)
    cur.execute(f'SELECT {cols} FROM "lscChannelAccess" ORDER BY "channelID", "accessor"')
    for row in cur.fetchall():
        ch = out.get(int(row[0]))
        if ch is not None:
            e = dict(zip(ACCESS_COLUMNS, row[1:]))
            e["accessor"] = None if e["accessor"] == 0 else int(e["accessor"])
            ch["acl"].append(e)
    cur.execute('SELECT "channelID", "charID" FROM "lscChannelMembers"')
    for cid, char in cur.fetchall():
        ch = out.get(int(cid))
        if ch is not None:
            ch["members"].add(int(char))
    return list(out.values())


def _save_access(conn, channel_id, e):
    ph = _placeholder(conn)
    cur = conn.cursor()
    accessor = 0 if e["accessor"] is None else e["accessor"]
    cur.execute(f'DELETE FROM "lscChannelAccess" WHERE "channelID" = {ph} AND "accessor" = '
                f'{ph}', (channel_id, accessor))
    if e.get("mode") is not None:
        cur.execute(f'INSERT INTO "lscChannelAccess" VALUES ({", ".join([ph] * 7)})',
                    (channel_id, accessor, e["mode"], e.get("untilWhen"),
                     e.get("originalMode", e["mode"]), e.get("admin") or "",
                     e.get("reason") or ""))


def save_channel(conn, channel, acl=None):
    """Insert or update a channel (dict of CHANNEL_COLUMNS); ``acl``: entries to write with
    it (a new channel's public entry)."""
    def run():
        ph = _placeholder(conn)
        cur = conn.cursor()
        cur.execute(f'DELETE FROM "lscChannels" WHERE "channelID" = {ph}',
                    (channel["channelID"],))
        cur.execute(f'INSERT INTO "lscChannels" VALUES ({", ".join([ph] * 8)})',
                    tuple(int(channel[c]) if c == "memberless" else channel[c]
                          for c in CHANNEL_COLUMNS))
        for e in acl or ():
            _save_access(conn, channel["channelID"], e)
    _tx(conn, run)


def delete_channel(conn, channel_id):
    def run():
        ph = _placeholder(conn)
        cur = conn.cursor()
        for table in ("lscChannelMembers", "lscChannelAccess", "lscChannels"):
            cur.execute(f'DELETE FROM "{table}" WHERE "channelID" = {ph}', (channel_id,))
    _tx(conn, run)


def set_access(conn, channel_id, entry):
    """Write one access entry (dict of ACCESS_COLUMNS); mode None removes it."""
    _tx(conn, lambda: _save_access(conn, channel_id, entry))


def subscribe(conn, channel_id, char_id):
    def run():
        ph = _placeholder(conn)
        cur = conn.cursor()
        cur.execute(f'DELETE FROM "lscChannelMembers" WHERE "channelID" = {ph} AND "charID" = '
                    f'{ph}', (channel_id, char_id))
        cur.execute(f'INSERT INTO "lscChannelMembers" VALUES ({ph}, {ph})',
                    (channel_id, char_id))
    _tx(conn, run)


def unsubscribe(conn, channel_id, char_id):
    def run():
        ph = _placeholder(conn)
        conn.cursor().execute(f'DELETE FROM "lscChannelMembers" WHERE "channelID" = {ph} AND '
                              f'"charID" = {ph}', (channel_id, char_id))
    _tx(conn, run)
