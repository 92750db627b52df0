"""``objectCaching``: cached objects the client keeps on disk (protocol notes section 2.6).

A service returns a *hint* ``util.CachedObject(objectID, nodeID, (timestamp, version), False)``
instead of a large value; the client calls ``GetCachableObject(shared, objectID, (timestamp,
version), nodeID)`` and gets an ``objectCaching.CachedObject`` whose payload is the marshalled
value.  ``version`` is the CRC-32 of the payload (as EVEmu computes it).

What is served: whatever a service put in the :class:`CacheStore` (``machoNet.serviceInfo``
from GetInitVals), and the login / character-creation cachables EVEmu builds from the static
data (``config.BulkData.*``, ``config.Units``, ``charCreationInfo.*``...; see
:mod:`evemu.world.cachables`), built from the database on first use and kept.  Versions are the
CRC-32 of the payload and timestamps are recorded in the database per CRC, so a hint stays the
same across restarts as long as the data does (the client's cache stays valid).  An object
whose table is missing answers None (EVEmu's answer for an object it cannot build), logged.
"""
import binascii
import logging

from evemu.db import static
from evemu.db.static import cache_timestamp
from evemu.world import cachables

from evemu.db import filetime_now
from evemu.machonet import constants as C
from evemu.wire import marshal
from evemu.wire.marshal import Buffer, Instance

from . import Service, exposed
from .rowsets import crowset, packed_row_list

log = logging.getLogger("evemu.services.objcache")

#: Object ids EVEmu builds from CCP's static data (not available here yet).
STATIC_DATA_PREFIXES = (b"config.", b"charCreationInfo.", b"charNewExtraCreationInfo.")


def _key(object_id):
    """A hashable, str/bytes-neutral key for an object id."""
    if isinstance(object_id, str):
        return object_id.encode("utf-8")
    if isinstance(object_id, (tuple, list)):
        return tuple(_key(x) for x in object_id)
    if isinstance(object_id, (bytes, int, float)) or object_id is None:
        return object_id
    return repr(object_id)


class CacheRecord:
    __slots__ = ("object_id", "blob", "timestamp", "version")

    def __init__(self, object_id, value, timestamps=None, blob=None):
        self.object_id = object_id
        # zlib above 8 KiB, as EVEmu; ``blob``: an already marshalled value
        self.blob = marshal.dumps(value, 8192) if blob is None else bytes(blob)
        crc = binascii.crc32(self.blob)
        self.version = crc - (1 << 32) if crc & 0x80000000 else crc   # signed int32
        self.timestamp = (filetime_now() if timestamps is None else
                          timestamps(repr(_key(object_id)), crc))

    @property
    def compressed(self):
        return self.blob[:1] == b"\x78"

    def hint(self):
        return Instance("util.CachedObject",
                        (self.object_id, C.CACHE_NODE_ID, (self.timestamp, self.version), False))

    def cached_object(self):
        return Instance("objectCaching.CachedObject", (
            (self.timestamp, self.version), None, C.CACHE_NODE_ID, 1, Buffer(self.blob),
            1 if self.compressed else 0, self.object_id))


class CacheStore:
    """Cached objects by id.  ``timestamps(key, crc) -> filetime`` makes timestamps stable
    (default: now)."""

    def __init__(self, timestamps=None):
        self._records = {}
        self.timestamps = timestamps

    def put(self, object_id, value, blob=None):
        rec = CacheRecord(object_id, value, self.timestamps, blob)
        self._records[_key(object_id)] = rec
        return rec

    def has(self, object_id):
        return _key(object_id) in self._records

    def get(self, object_id):
        return self._records.get(_key(object_id))

    def hint(self, object_id):
        return self._records[_key(object_id)].hint()


class ObjectCachingService(Service):
    name = "objectCaching"

    def __init__(self, manager):
        super().__init__(manager)
        self.store = CacheStore(self._timestamp)
        self._unavailable = set()
        self._fingerprint = None

    def _timestamp(self, key, crc):
        return self.db.run(cache_timestamp, key, crc, filetime_now())

    def static_record(self, object_id):
        """The record of a static-data cachable (built on first use), or None if its table is
        not loaded (logged once)."""
        rec = self.store.get(object_id)
        if rec is not None:
            return rec
        name = object_id.decode("latin-1") if isinstance(object_id, bytes) else object_id
        if not isinstance(name, str) or name not in cachables.SPECS:
            return None
        # every query runs on the database thread (this tasklet waits, the others go on)
        db = self.db
        if self._fingerprint is None:
            self._fingerprint = db.run(static.data_fingerprint)
        # built by an earlier run from the same data: reuse its bytes (a full import makes
        # some of these objects take seconds to build)
        blob = db.run(static.stored_blob, name, self._fingerprint)
        if blob is not None:
            return self.store.get(object_id) or self.store.put(name.encode("latin-1"), None,
                                                                blob)
        try:
            kind, columns, rows = db.run(cachables.build, name)
            value = (crowset if kind == "crowset" else packed_row_list)(columns, rows)
        except cachables.Unavailable as e:
            if name not in self._unavailable:
                self._unavailable.add(name)
                log.warning("cached object %s cannot be built: %s; answering None", name, e)
            return None
        rec = self.store.get(object_id)
        if rec is not None:                 # built meanwhile by another tasklet
            return rec
        rec = self.store.put(name.encode("latin-1"), value)
        db.run(static.store_blob, name, self._fingerprint, rec.blob)
        return rec

    def hints(self, object_ids):
        """``{key: util.CachedObject hint}`` for GetCharCreationInfo & co. (EVEmu's
        InsertCacheHints: keys such as 'bloodlines', 'hairs'; unbuildable objects left out)."""
        out = {}
        for oid in object_ids:
            rec = self.static_record(oid)
            if rec is not None:
                out[cachables.hint_keys(oid).encode("latin-1")] = rec.hint()
        return out

    @exposed
    def GetCachableObject(self, call, shared, object_id, version, node_id):
        rec = self.store.get(object_id) or self.static_record(object_id)
        if rec is None:
            k = _key(object_id)
            if isinstance(k, bytes) and k.startswith(STATIC_DATA_PREFIXES):
                log.warning("cached object %r is not one this server builds; "
                            "returning None", object_id)
            else:
                log.warning("unknown cached object %r; returning None", object_id)
            return None
        return rec.cached_object()
