"""Notifications from the world services to other characters' clients: the one place that
finds a character's connection and sends it an event (through the broadcast helpers of
:mod:`evemu.machonet.broadcast` when the server has them)."""
import logging

log = logging.getLogger("evemu.services.notify")

__all__ = ["connection_of", "notify_chars"]


def connection_of(manager, char_id):
    """The open connection that has selected ``char_id``, or None."""
    cu = manager.lookup("charUnboundMgr")
    conn = getattr(cu, "online", {}).get(char_id)
    if conn is None or conn.closed or conn.session is None or \
            conn.session.get("charid") != char_id:
        return None
    return conn


def notify_chars(manager, char_ids, event, id_type, args, sequenced=True):
    """Send the event to each online character of ``char_ids``; returns how many got it.  A
    connection that fails while sending is skipped (it is closing).  Through the server's
    broadcaster (:mod:`evemu.machonet.broadcast`: indexed by session charid, the payload
    marshalled once, never blocking) when there is one."""
    broadcaster = getattr(getattr(manager, "server", None), "broadcast", None)
    if broadcaster is not None:
        return broadcaster.to_characters(list(char_ids), event, args, id_type, sequenced)
    sent = 0
    for cid in char_ids:
        conn = connection_of(manager, cid)
        if conn is None:
            continue
        try:
            conn.notify(event, id_type, args, sequenced)
            sent += 1
        except Exception as e:           # the peer went away meanwhile
            log.debug("notify %s to %s failed: %r", event, cid, e)
    return sent
