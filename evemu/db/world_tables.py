"""Start-up hook of the world layer's tables: the shipped static data (:mod:`.static`) and
the character/item tables (:mod:`.characters`).  Called once by :class:`evemu.db.Database`;
each module keeps its own portable SQL, to be moved under the migration API later."""
from . import characters, static


def install(conn):
    static.install(conn)
    characters.install(conn)
