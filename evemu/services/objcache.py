"""``objectCaching``: cached objects the client keeps on disk (protocol notes section 2.6).

A service returns a *hint* ``util.CachedObject(objectID, nodeID, (timestamp, version), False)``
instead of a large value; the client calls ``GetCachableObject(shared, objectID, (timestamp,
version), nodeID)`` and gets an ``objectCaching.CachedObject`` whose payload is the marshalled
value.  ``version`` is the CRC-32 of the payload (as EVEmu computes it).

What is served today: whatever a service put in the :class:`CacheStore` (``machoNet.serviceInfo``
from GetInitVals).  The login cachables EVEmu serves (``config.BulkData.*``, ``config.Units``,
``charCreationInfo.*``...) are rows of CCP's static data, which this server does not ship; asking
for one returns None (EVEmu's answer for an object it cannot build) and logs why.
"""
import binascii
import logging

from evemu.db import filetime_now
from evemu.machonet import constants as C
from evemu.wire import marshal
from evemu.wire.marshal import Buffer, Instance

from . import Service, exposed

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

    def __init__(self, object_id, value):
        self.object_id = object_id
        self.blob = marshal.dumps(value, 8192)       # zlib above 8 KiB, as EVEmu
        self.timestamp = filetime_now()
        crc = binascii.crc32(self.blob)
        self.version = crc - (1 << 32) if crc & 0x80000000 else crc   # signed int32

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
    def __init__(self):
        self._records = {}

    def put(self, object_id, value):
        rec = CacheRecord(object_id, value)
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
        self.store = CacheStore()

    @exposed
    def GetCachableObject(self, call, shared, object_id, version, node_id):
        rec = self.store.get(object_id)
        if rec is None:
            k = _key(object_id)
            if isinstance(k, bytes) and k.startswith(STATIC_DATA_PREFIXES):
                log.warning("cached object %r needs CCP static data, which is not loaded; "
                            "returning None", object_id)
            else:
                log.warning("unknown cached object %r; returning None", object_id)
            return None
        return rec.cached_object()
