"""evemu.wire.framing: the 4-byte little-endian length prefix, its limits and a peer that
disconnects mid-frame.  Driven through a fake socket (exact control over what each recv returns)
and through real stackless sockets."""
import struct

import pytest

import stackless
from stackless import loop
from stackless import socket as ssocket

from evemu.wire import marshal
from evemu.wire.framing import (ConnectionClosed, DEFAULT_MAX_FRAME, EmptyFrame, FrameReader,
                                FrameTooLarge, TruncatedFrame, dumps_frame, encode_frame)

from server_helpers import bounded


@pytest.fixture(autouse=True)
def _bounded():
    with bounded(30):
        yield


class FakeSock:
    """recv_into returns the given chunks one by one, then b'' (EOF)."""

    def __init__(self, *chunks):
        self.chunks = list(chunks)
        self.calls = 0

    def recv_into(self, buf):
        self.calls += 1
        if not self.chunks:
            return 0
        chunk = self.chunks.pop(0)
        n = min(len(chunk), len(buf))
        buf[:n] = chunk[:n]
        if n < len(chunk):
            self.chunks.insert(0, chunk[n:])
        return n


def test_encode_frame():
    assert encode_frame(b"~abc") == b"\x04\x00\x00\x00~abc"
    assert encode_frame(bytearray(b"x")) == b"\x01\x00\x00\x00x"
    assert dumps_frame(None) == b"\x06\x00\x00\x00~\x00\x00\x00\x00\x01"


def test_dumps_frame_compresses_large_values():
    frame = dumps_frame(b"a" * 10000)
    (n,) = struct.unpack_from("<I", frame)
    assert n == len(frame) - 4 and frame[4] == 0x78
    assert marshal.loads(frame[4:]) == b"a" * 10000


def test_several_frames_in_one_recv():
    data = encode_frame(b"~one") + encode_frame(b"~two") + encode_frame(b"~three")
    r = FrameReader(FakeSock(data))
    assert [r.read_frame() for _ in range(3)] == [b"~one", b"~two", b"~three"]
    assert r.read_frame() is None
    assert r.frames == 3 and r.bytes == len(data)


def test_frame_in_single_bytes():
    data = encode_frame(b"~" + b"x" * 50)
    r = FrameReader(FakeSock(*[data[i:i + 1] for i in range(len(data))]))
    assert r.read_frame() == b"~" + b"x" * 50
    assert r.read_frame() is None


def test_clean_close_between_frames_is_none():
    assert FrameReader(FakeSock()).read_frame() is None
    r = FrameReader(FakeSock(encode_frame(b"~a")))
    assert r.read_frame() == b"~a"
    assert r.read_frame() is None


@pytest.mark.parametrize("cut", [1, 2, 3])
def test_close_inside_the_length_prefix(cut):
    r = FrameReader(FakeSock(encode_frame(b"~abc")[:cut]))
    with pytest.raises(TruncatedFrame) as e:
        r.read_frame()
    assert (e.value.have, e.value.need) == (cut, 4)
    assert str(e.value) == f"connection closed mid-frame: {cut} of 4 bytes received"


def test_close_inside_the_payload():
    r = FrameReader(FakeSock(encode_frame(b"~" * 100)[:54]))
    with pytest.raises(TruncatedFrame) as e:
        r.read_frame()
    assert (e.value.have, e.value.need) == (50, 100)
    assert isinstance(e.value, ConnectionError)


def test_frame_too_large_is_refused_before_reading_it():
    sock = FakeSock(struct.pack("<I", DEFAULT_MAX_FRAME + 1))
    r = FrameReader(sock)
    with pytest.raises(FrameTooLarge) as e:
        r.read_frame()
    assert e.value.size == DEFAULT_MAX_FRAME + 1 and e.value.limit == DEFAULT_MAX_FRAME
    assert sock.calls == 1


def test_max_frame_boundary():
    payload = b"~" + b"\0" * 99
    assert FrameReader(FakeSock(encode_frame(payload)), max_frame=100).read_frame() == payload
    with pytest.raises(FrameTooLarge):
        FrameReader(FakeSock(encode_frame(payload + b"\0")), max_frame=100).read_frame()
    with pytest.raises(FrameTooLarge):
        FrameReader(FakeSock(b"\xff\xff\xff\xff")).read_frame()
    with pytest.raises(ValueError):
        FrameReader(FakeSock(), max_frame=0)


def test_empty_frame():
    with pytest.raises(EmptyFrame):
        FrameReader(FakeSock(b"\0\0\0\0")).read_frame()


def test_read_value():
    r = FrameReader(FakeSock(dumps_frame((1, b"two"))))
    assert r.read_value() == (1, b"two")
    with pytest.raises(ConnectionClosed):
        r.read_value()
    with pytest.raises(marshal.MarshalError):
        FrameReader(FakeSock(encode_frame(b"not marshal"))).read_value()


def test_socket_errors_propagate():
    class Broken:
        def recv_into(self, buf):
            raise ConnectionResetError(104, "Connection reset by peer")

    with pytest.raises(ConnectionResetError):
        FrameReader(Broken()).read_frame()


def test_large_frame_over_real_sockets():
    """A 900 KB frame between two stackless sockets, writer and reader in tasklets."""
    a, b = ssocket.socketpair()
    payload = b"~" + bytes(range(256)) * 3500
    got = []

    def writer():
        a.sendall(encode_frame(payload) + encode_frame(b"~end"))
        a.close()

    def reader():
        r = FrameReader(b)
        while (f := r.read_frame()) is not None:
            got.append(f)

    tw = stackless.tasklet(writer)()
    tr = stackless.tasklet(reader)()
    loop.run_until(tw)
    loop.run_until(tr)
    b.close()
    assert got == [payload, b"~end"]


def test_peer_disconnect_mid_frame_over_real_sockets():
    a, b = ssocket.socketpair()
    errors = []

    def reader():
        try:
            FrameReader(b).read_frame()
        except TruncatedFrame as e:
            errors.append(e)

    t = stackless.tasklet(reader)()
    a.sendall(struct.pack("<I", 1000) + b"~" * 10)
    loop.sleep(0.01)
    a.close()
    loop.run_until(t)
    b.close()
    assert len(errors) == 1 and errors[0].have == 10 and errors[0].need == 1000
