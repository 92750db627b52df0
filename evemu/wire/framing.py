"""Framing: how marshal streams travel over TCP (protocol notes section 2.1).

Every message is a 4-byte little-endian unsigned length ``N`` followed by ``N`` bytes of payload:
a marshal stream (``0x7E ...``) or a zlib stream (``0x78 ...``, inflated by the codec).  There is
no other header.

:class:`FrameReader` reads frames from a socket-like object (anything with ``recv_into``); it
blocks only the calling tasklet when the socket is a :mod:`stackless.socket` socket.  It keeps
its own buffer, so one ``recv`` may deliver several frames or a frame in many pieces.

Errors, all subclasses of :class:`FramingError` (a ``ConnectionError``):

* :class:`ConnectionClosed` -- the peer closed the connection cleanly *between* two frames
  (``read_frame`` normally returns ``None`` for this; the exception is for callers that want it);
* :class:`TruncatedFrame` -- the peer closed in the middle of a length prefix or a payload;
* :class:`FrameTooLarge` -- the announced length exceeds ``max_frame`` (EVEmu refuses inbound
  packets over 1 MiB; we default to the same).  The connection must then be dropped: the stream
  cannot be resynchronised.

``encode_frame(payload)`` returns the bytes to send; ``dumps_frame(value)`` marshals first.
"""
import struct

from evemu.wire import marshal

__all__ = [
    "FramingError", "ConnectionClosed", "TruncatedFrame", "FrameTooLarge", "EmptyFrame",
    "FrameReader", "encode_frame", "dumps_frame", "DEFAULT_MAX_FRAME", "HEADER",
]

#: Length prefix: u32 little-endian.
HEADER = struct.Struct("<I")
#: Largest inbound frame accepted by default (EVEmu's limit: 1 MiB).
DEFAULT_MAX_FRAME = 1 << 20
_RECV_CHUNK = 16 * 1024          # per reader: 4096 connections hold 64 MiB of it


class FramingError(ConnectionError):
    """The byte stream cannot be split into frames; drop the connection."""


class ConnectionClosed(FramingError):
    """The peer closed the connection between two frames (a clean end)."""


class TruncatedFrame(FramingError):
    """The peer closed the connection in the middle of a frame."""

    def __init__(self, have, need):
        super().__init__(f"connection closed mid-frame: {have} of {need} bytes received")
        self.have = have
        self.need = need


class FrameTooLarge(FramingError):
    """A frame announced more bytes than the reader accepts."""

    def __init__(self, size, limit):
        super().__init__(f"frame of {size} bytes exceeds the {limit}-byte limit")
        self.size = size
        self.limit = limit


class EmptyFrame(FramingError):
    """A frame of length 0: never valid (a marshal stream has at least 5 bytes)."""

    def __init__(self):
        super().__init__("empty frame (length 0)")


def encode_frame(payload):
    """Length prefix + ``payload`` (bytes-like)."""
    payload = bytes(payload)
    if len(payload) > 0xFFFFFFFF:
        raise ValueError("payload too large for a 32-bit length prefix")
    return HEADER.pack(len(payload)) + payload


def dumps_frame(value, compress_threshold=8192):
    """Marshal ``value`` (zlib when at least ``compress_threshold`` bytes) and frame it."""
    return encode_frame(marshal.dumps(value, compress_threshold))


class FrameReader:
    """Reads whole frames from ``sock`` (an object with ``recv_into``).

    ``read_frame()`` returns the payload bytes of the next frame, or ``None`` when the peer
    closed the connection cleanly between frames.  It raises :class:`TruncatedFrame`,
    :class:`FrameTooLarge`, :class:`EmptyFrame`, and whatever the socket raises (``OSError``,
    ``TimeoutError``).  ``read_value()`` also unmarshals (``MarshalError`` on bad payloads).
    """

    def __init__(self, sock, max_frame=DEFAULT_MAX_FRAME):
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self.sock = sock
        self.max_frame = max_frame
        self._buf = bytearray()
        self._chunk = bytearray(_RECV_CHUNK)
        self.frames = 0       # frames read so far
        self.bytes = 0        # bytes received so far

    def _fill(self, need):
        """Receive until the buffer holds ``need`` bytes; False on EOF before that."""
        view = memoryview(self._chunk)
        while len(self._buf) < need:
            n = self.sock.recv_into(view)
            if n == 0:
                return False
            self.bytes += n
            self._buf += view[:n]
        return True

    @property
    def buffered(self):
        """Bytes received but not returned yet (a frame in progress when not 0)."""
        return len(self._buf)

    def read_frame(self):
        buf = self._buf
        if not self._fill(4):
            if buf:
                raise TruncatedFrame(len(buf), 4)
            return None
        (size,) = HEADER.unpack_from(buf)
        if size > self.max_frame:
            raise FrameTooLarge(size, self.max_frame)
        if size == 0:
            raise EmptyFrame()
        if not self._fill(4 + size):
            raise TruncatedFrame(len(buf) - 4, size)
        payload = bytes(buf[4:4 + size])
        del buf[:4 + size]
        self.frames += 1
        return payload

    def read_value(self, **loads_options):
        """The next frame, unmarshalled; ``None`` payload means a clean close -> raises
        :class:`ConnectionClosed` (a marshalled ``None`` is a legitimate value)."""
        payload = self.read_frame()
        if payload is None:
            raise ConnectionClosed("connection closed by peer")
        return marshal.loads(payload, **loads_options)
