"""One client connection: a reader tasklet, one tasklet per call, ordered non-blocking writes.

Life of a connection::

    reader tasklet:  handshake (bounded by handshake_timeout)
                     -> SessionInitialStateNotification
                     -> loop: read a frame, decode it, parse the packet
                          CallReq          -> spawn a call tasklet (at most
                                              max_calls_per_connection at once; the reader
                                              waits for a free slot: back-pressure)
                          PingReq          -> PingRsp (inline)
                          Notification     -> ClientHasReleasedTheseObjects (inline)
                          anything else    -> logged and ignored
    call tasklet:    dispatch to the service -> [SessionChangeNotification] -> CallRsp,
                     or ErrorResponse (WRAPPEDEXCEPTION UserError)
    close:           socket closed, call tasklets killed, bound objects released, the
                     account marked offline, the connection unregistered.

Anything the peer does wrong at the byte or packet level (a bad length, a truncated frame,
bytes that are not marshal, a value that is not a packet, a handshake out of order) drops this
connection and only this one; the server and the other clients go on.  A call that fails is an
error *reply*, not a drop.

Sending never blocks: a frame goes out in one non-blocking send() when nothing is queued,
else it joins the queue of the connection's writer tasklet, so frames keep their order and
never interleave (no lock); a peer that stops reading for ``send_timeout`` seconds, or lets
too much pile up, is dropped.  Silence from the peer (no complete frame) for
``idle_timeout`` seconds makes the server send a PingReq; a second silent period drops it
(one coarse timer per connection, no timer per read).
"""
import collections
import itertools
import logging
import socket
import threading
import time

import stackless
from stackless import loop, sync
from stackless._io_poll import READ as _READ

from evemu.db import filetime_now
from evemu.wire import marshal
from evemu.wire.framing import (HEADER as _HEADER, EmptyFrame, FrameReader, FramingError,
                                FrameTooLarge, TruncatedFrame, encode_frame)
from evemu.wire.marshal import MarshalError, SubStream, make_instance

from . import constants as C
from .calls import CallContext, CallResult, client_answered
from .errors import CustomError, UserError
from .handshake import Handshake, HandshakeError, LoginRefused, handshake_ack
from .broadcast import Broadcaster, notification_addresses, notification_body
from .packets import (Address, Packet, PacketError, call_rsp_wire, parse_call,
                      parse_call_packet, parse_notification, parse_packet)
from .session import Session

__all__ = ["Connection"]

log = logging.getLogger("evemu.machonet.connection")
#: Frames / bytes a connection may have waiting for a peer that does not read; more drops it.
MAX_QUEUED_FRAMES = 2048
MAX_QUEUED_BYTES = 64 << 20
#: Frames held for the end of a loop turn (corked notifications and what follows them) beyond
#: this many bytes are sent at once: a turn's output to one client is never held whole, and
#: what a slow peer's socket does not take meets the queue limits above frame by frame.
MAX_CORKED_BYTES = 256 << 10
#: ... and beyond this many bytes held by all connections together, every connection's are:
#: a broadcast of a large notification to thousands of clients is not held whole either.
MAX_CORKED_TOTAL = 2 << 20
_monotonic = time.monotonic
_getcurrent = stackless.getcurrent
_dumps = marshal.dumps
_substream = SubStream.from_raw
_DEBUG = logging.DEBUG
_pack_header = _HEADER.pack
_raw_send = socket.socket.send
_raw_recv_into = socket.socket.recv_into
_scratch = threading.local()


def _thread_scratch():
    buf = getattr(_scratch, "chunk", None)
    if buf is None:
        buf = _scratch.chunk = bytearray(16 * 1024)
    return buf
_ids = itertools.count(1)


_NOTHING = object()       # the packet loop: no complete frame buffered


class _Closed(Exception):
    """Internal: the connection is closing."""


class _FrameClock:
    """What the FrameReader of a logged-in connection reads from: the socket, with a deadline
    per frame.  Between frames a read waits as the socket's own (idle) timeout allows; once
    part of a frame is buffered, the rest must arrive within ``timeout`` seconds of the read
    that brought its first bytes, else FramingError (a slow sender is dropped, not waited for
    until the idle timeout)."""

    __slots__ = ("sock", "reader", "timeout", "last_recv", "frame_no", "started")

    def __init__(self, sock, reader, timeout):
        self.sock = sock
        self.reader = reader
        self.timeout = timeout
        self.last_recv = loop.time()
        self.frame_no = -1
        self.started = 0.0

    def recv_into(self, view):
        if self.reader.buffered:
            if self.frame_no != self.reader.frames:     # a new frame began at the last read
                self.frame_no = self.reader.frames
                self.started = self.last_recv
            remaining = self.started + self.timeout - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                loop.wait_readable(self.sock, remaining)
            except TimeoutError:
                raise FramingError(f"frame not completed within {self.timeout:g} s") from None
        n = self.sock.recv_into(view)
        self.last_recv = loop.time()
        return n


class Connection:
    def __init__(self, server, sock, peer):
        self.server = server
        self.config = server.config
        self.sock = sock
        try:        # replies are whole frames: send each at once (no 40 ms Nagle/delayed ACK)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        # the stdlib send() never blocks this thread when the fd is non-blocking underneath
        # (stackless sockets are); otherwise always go through the tasklet-blocking sendall
        try:
            self._raw_send = socket.socket.gettimeout(sock) == 0.0
        except (OSError, TypeError):
            self._raw_send = False
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        self.id = next(_ids)
        self.session = None
        self.account = None
        self.bound_ids = set()
        self.calls = set()                  # running call tasklets
        self.closed = False
        self.close_reason = None
        # until the login succeeds, an anonymous peer may not make us buffer much
        self.reader = FrameReader(sock, min(self.config.max_frame,
                                            self.config.max_handshake_frame))
        # The reader's 16 KiB receive chunk is only written by a recv_into() and copied out
        # before any tasklet switch, so all connections of one loop thread can share one:
        # 16 KiB less RSS per connection (about half of what an idle one costs).
        self.reader._chunk = _thread_scratch()
        self._max_calls = self.config.max_calls_per_connection
        self._slot_free = None              # Event the reader waits on when calls are full
        self._ping_id = 0
        self._outq = collections.deque()    # frames waiting for the writer tasklet
        self._queued_bytes = 0
        self._writer = None                 # the writer tasklet while _outq is being sent
        self._cork = None                   # notifications held to the end of this loop turn
        self._corked_bytes = 0              # their size (at most about MAX_CORKED_BYTES)
        self._keepalive = None              # the keep-alive timer's handle (after login)
        self._pings = {}                    # our PingReq callID -> [Event, PingRsp or None]
        self._notify_seq = 0
        self.tasklet = None

    def __repr__(self):
        who = f" {self.account.name}" if self.account else ""
        return f"<conn {self.id} {self.peer}{who}>"

    __str__ = __repr__

    def _warn(self, msg, *args):
        """A WARNING about this peer, rate-limited per client address like the server's
        (``warnings_per_minute``): a client cannot flood the log with bad packets."""
        self.server.warn(getattr(self, "host", None) or self.peer.rsplit(":", 1)[0], msg, *args)

    @property
    def client_id(self):
        return None if self.session is None else self.session.get("clientID")

    @property
    def userid(self):
        return None if self.session is None else self.session.get("userid")

    # ------------------------------------------------------------------ sending
    def send_value(self, value):
        """Marshal, frame and send ``value``; raises _Closed if the connection is gone."""
        frame = encode_frame(marshal.dumps(value, 8192))
        self._send_frame(frame)

    def _send_frame(self, frame):
        """Send one or more whole frames, in order with everything sent before; never
        blocks the caller.  When nothing is queued, one non-blocking send() (the socket is
        non-blocking underneath) usually takes it all; whatever it does not take is queued
        for this connection's writer tasklet, and while the writer has work every frame
        joins its queue, so frames never interleave and keep their order (a notification
        queued behind a full socket still precedes the CallRsp sent after it).  The writer
        sends under ``send_timeout``; a peer that lets more than MAX_QUEUED_FRAMES frames or
        MAX_QUEUED_BYTES bytes pile up is dropped.  While notifications are held for this
        turn (_send_corked) the frame joins them.  Raises _Closed if the connection is gone."""
        if self.closed:
            raise _Closed()
        cork = self._cork
        if cork is not None:                # behind notifications held for this turn
            cork.append(frame)
            self._held(len(frame))
            return
        if self._writer is None and self._raw_send:
            sent = self._send_now(frame)
            if sent >= len(frame):
                return
            if sent:
                frame = memoryview(frame)[sent:]
        self._enqueue(frame)

    def _send_now(self, data):
        """One non-blocking send() with nothing queued before it: the bytes the socket took
        (0 when full).  A failing socket closes the connection and raises _Closed."""
        try:
            return _raw_send(self.sock, data)
        except BlockingIOError:
            return 0
        except OSError as e:
            self.close(f"send failed: {e!r}")
            raise _Closed() from None

    def _enqueue(self, frame):
        """Queue one frame (or the rest of one) for the writer tasklet, starting it if idle;
        drops the peer when the queue passes MAX_QUEUED_FRAMES / MAX_QUEUED_BYTES."""
        if self._writer is None:
            self._outq.append(frame)
            self._queued_bytes = len(frame)
            self._writer = stackless.tasklet(self._write_queue)()
            return
        self._queued_bytes += len(frame)
        if len(self._outq) >= MAX_QUEUED_FRAMES or self._queued_bytes > MAX_QUEUED_BYTES:
            self.close(f"{len(self._outq)} frames ({self._queued_bytes} bytes) queued: "
                       "peer not reading")
            raise _Closed()
        self._outq.append(frame)

    def _send_frames(self, frames):
        """Send held frames in order: one send() of them all when nothing is queued; what the
        socket does not take joins the writer's queue *frame by frame*, so the queue limits
        count every frame as they would have uncorked (a joined remainder would count as
        one, and the first queued piece is not checked at all: a peer that stopped reading
        could be sent a whole turn's output without being dropped)."""
        if self._writer is None and self._raw_send:
            data = frames[0] if len(frames) == 1 else b"".join(frames)
            sent = self._send_now(data)
            if sent >= len(data):
                return
            del data
            i = 0
            while sent >= len(frames[i]):   # the frames the socket took whole
                sent -= len(frames[i])
                i += 1
            frames = frames[i:]
            if sent:
                frames[0] = memoryview(frames[0])[sent:]
        for frame in frames:
            self._enqueue(frame)

    def _send_corked(self, frame):
        """Send a notification frame at the end of this loop turn, with whatever else this
        connection is sent meanwhile, in one send() (see Server.flush_corked).  A broadcast
        then costs one syscall per client per turn, not one per notification: selections
        announced to 1,000 guests, local and corp members at once, or a busy chat channel.
        More than MAX_CORKED_BYTES held are sent at once (_spill)."""
        if self.closed:
            raise _Closed()
        cork = self._cork
        if cork is None:
            if self._writer is not None:    # the writer's queue keeps the order
                self._send_frame(frame)
                return
            cork = self._cork = []
            self._corked_bytes = 0
            self.server.cork(self)
        cork.append(frame)
        self._held(len(frame))

    def _held(self, n):
        """Count ``n`` more bytes held for this turn: past MAX_CORKED_BYTES this connection's
        are sent now, past MAX_CORKED_TOTAL (all connections) everyone's."""
        self._corked_bytes += n
        server = self.server
        server.corked_bytes += n
        if self._corked_bytes > MAX_CORKED_BYTES:
            self._spill()
        elif server.corked_bytes > MAX_CORKED_TOTAL:
            server.flush_corked()

    def _spill(self):
        """The frames held for this turn passed MAX_CORKED_BYTES: send them now (raises
        _Closed if that drops the peer).  The connection stays registered for the turn's
        flush: later frames of the turn are held again while the socket takes everything,
        and go straight to the writer's queue (and its limits) once it does not."""
        frames, self._cork = self._cork, None
        server = self.server
        server.corked_bytes = max(0, server.corked_bytes - self._corked_bytes)
        self._corked_bytes = 0
        self._send_frames(frames)
        if not self.closed and self._writer is None:
            self._cork = []

    def _uncork(self):
        """Server.flush_corked: send what was held, in one send() when the socket takes it."""
        frames, self._cork = self._cork, None
        self._corked_bytes = 0
        if not frames or self.closed:
            return
        try:
            self._send_frames(frames)
        except _Closed:
            pass

    def flush(self, timeout=5.0):
        """Wait (this tasklet only) until every queued frame has been sent, e.g. a last
        notice before close(); True when sent, False on timeout or if the connection closed.
        (Usually a frame is sent at once and there is nothing to wait for.)"""
        deadline = _monotonic() + timeout
        while (self._writer is not None or self._cork is not None) and not self.closed:
            if _monotonic() >= deadline:
                return False
            loop.sleep(0.005)
        return not self.closed

    def _write_queue(self):
        """The writer tasklet: send the queued frames in order, then end."""
        try:
            while self._outq and not self.closed:
                frame = self._outq[0]
                self._send_blocking(frame)
                self._outq.popleft()
                self._queued_bytes -= len(frame)
        except _Closed:
            pass
        finally:
            self._writer = None
            if self.closed:
                self._outq.clear()

    def _send_blocking(self, frame):
        if self.closed:
            raise _Closed()
        try:
            try:
                sent = _raw_send(self.sock, frame) if self._raw_send else 0
            except BlockingIOError:
                sent = 0
            if sent < len(frame):
                with sync.Timeout(self.config.send_timeout):
                    self.sock.sendall(memoryview(frame)[sent:] if sent else frame)
        except (OSError, sync.TimeoutExpired) as e:
            self.close(f"send failed: {e!r}")
            raise _Closed() from None

    def send_packet(self, packet):
        self.send_value(packet.to_wire())

    def notify(self, event, id_type, args, sequenced=True):
        """Send a macho.Notification (server -> client event ``event`` with ``args``).
        ``oob['sn']`` carries this connection's notification sequence number (1, 2, ...);
        EVEmu leaves it out for some destiny updates (``sequenced=False``).  Groups of
        clients: :mod:`evemu.machonet.broadcast` (``server.broadcast``)."""
        self.notify_body(event, id_type, notification_body(args), sequenced)

    def notify_body(self, event, id_type, body, sequenced=True, addresses=None):
        """notify() with the body already built (broadcast marshals it once for everyone,
        and passes ``addresses``: the wire source and destination, the same for all).
        Never blocks the caller (see _send_frame): a broadcast is not held up by a client
        that stopped reading, and each client gets its ``sn`` in order."""
        if self.closed:
            raise _Closed()
        oob = None
        if sequenced:
            self._notify_seq += 1
            oob = {b"sn": self._notify_seq}
        if addresses is None:
            addresses = notification_addresses(self.server.node_id, event, id_type)
        src, dst = addresses
        wire = make_instance("macho.Notification", (C.NOTIFICATION, src, dst,
                                                    self.session.get("userid")
                                                    if self.session else None,
                                                    body, oob, None))
        self._send_corked(encode_frame(marshal.dumps(wire, 8192)))

    def send_session_change(self):
        """Send the pending session changes now (for changes made outside a call: a call's
        own changes go out before its CallRsp).  Returns True if there were any."""
        change = self.session.change_packet(self.server.node_id) if self.session else None
        if change is None:
            return False
        self.send_packet(change)
        return True

    # ------------------------------------------------------------------ reading
    def _recv_handshake_value(self):
        payload = self.reader.read_frame()
        if payload is None:
            raise _Closed("peer closed during the handshake")
        return marshal.loads(payload, max_size=self.config.max_inflated)

    def run(self):
        """The reader tasklet's body."""
        self.tasklet = stackless.getcurrent()
        try:
            self.sock.settimeout(None)
            try:
                with sync.Timeout(self.config.handshake_timeout):
                    self._handshake()
            except sync.TimeoutExpired:
                self.close("handshake timed out")
                return
            self._packet_loop()
        except _Closed as e:
            self.close(str(e) or "closed")
        except LoginRefused as e:
            self.close(f"login refused: {e}")
        except (HandshakeError, PacketError, MarshalError) as e:
            self._warn("%s: protocol violation, dropping: %s", self, e)
            self.close(f"protocol violation: {e}")
        except FramingError as e:
            self.close(str(e))
        except (OSError, EOFError) as e:
            self.close(f"socket error: {e!r}")
        except stackless.TaskletExit:
            self.close(self.close_reason or "stopped")
            raise
        except Exception as e:
            log.exception("%s: internal error in the reader", self)
            self.close(f"internal error: {e!r}")
        finally:
            self.close(self.close_reason or "closed")

    def _handshake(self):
        def authenticate(name, password_hash, password):
            return self.server.authenticate(name, password_hash, password, conn=self)

        hs = Handshake(self._recv_handshake_value, self.send_value, authenticate,
                       peer=self.peer, node_id=self.server.node_id,
                       user_count=self.server.user_count,
                       image_server_url=self.config.image_server_url,
                       warn=self._warn)
        account = hs.run()               # marks the account online for this connection
        self._logged_in()
        s = Session()
        s.update(address=self.peer, languageID=hs.language, userType=account.type,
                 userid=account.id, role=account.role,
                 clientID=1000000 * account.id + self.server.node_id)
        self.session = s
        self.send_value(handshake_ack(s, account.role))
        self.send_packet(s.initial_state_packet(self.server.node_id))
        Broadcaster.of(self.server).attach(self)
        log.info("%s: account %d (%s) logged in", self, account.id, account.name)

    def _packet_loop(self):
        # Keep-alive without a timer per read (a socket timeout arms and cancels one on every
        # wait: ~10% of the server's CPU at 1,000 clients): each frame stamps _last_rx, and
        # one coarse timer per connection (every idle_timeout / 4) pings a peer silent for
        # idle_timeout and drops it after a second silent period.
        idle = self.config.idle_timeout
        self.sock.settimeout(None)
        if idle:
            self._last_rx = _monotonic()
            self._pinged_at = None
            self._keepalive = loop.call_later(idle / 4, self._keepalive_tick)
        # With nothing buffered the socket is almost always empty too (the client waits for
        # our reply): wait for readability first instead of a recv() that fails with EAGAIN
        # and goes through the socket's exception and retry path (a syscall and ~5 Python
        # frames per request).  Same kept epoll interest as the socket's own waits.
        if not self._raw_send:           # a socket that may block this thread: the slow path
            return self._packet_loop_reader(idle)
        # The fast path (one request per wake-up is the common case): wait for readability,
        # one recv_into() straight on the non-blocking socket into the thread's scratch,
        # append, then cut every complete frame out of the buffer.  No FrameReader/_FrameClock
        # /stackless-socket frames per request, and the clock is read once per recv.  A frame
        # whose first bytes arrived must be complete within frame_timeout (measured from the
        # recv that brought them); silence between frames is the keep-alive's business.
        lp = loop.get_loop()
        wait_fd = lp.wait_fd
        fd = self.sock.fileno()
        sock = self.sock
        reader = self.reader
        buf = reader._buf
        chunk = memoryview(reader._chunk)
        max_frame = reader.max_frame
        frame_timeout = self.config.frame_timeout
        max_inflated = self.config.max_inflated
        loads = marshal.loads
        handle = self._handle
        unpack = _HEADER.unpack_from
        # a CallReq of the usual shape is parsed in one step and its call tasklet started
        # here (the general path: parse_packet -> _handle -> parse_call -> _start_call)
        parse_call_req = parse_call_packet
        calls = self.calls
        max_calls = self._max_calls
        run_call = self._run_call
        new_tasklet = stackless.tasklet
        started = None                   # when the first bytes of the pending frame came
        now = _monotonic()
        while not self.closed:
            have = len(buf)
            if have >= 4:
                (size,) = unpack(buf)
                if size > max_frame:
                    raise FrameTooLarge(size, max_frame)
                if size == 0:
                    raise EmptyFrame()
                if have >= 4 + size:
                    payload = bytes(buf[4:4 + size])
                    del buf[:4 + size]
                    reader.frames += 1
                    started = now if buf else None      # the rest came with the last recv
                    value = loads(payload, max_size=max_inflated)
                else:
                    value = _NOTHING
            else:
                value = _NOTHING
            if value is _NOTHING:
                if not have:
                    wait_fd(fd, _READ, None, True)
                else:
                    if started is None:
                        started = now
                    if frame_timeout:
                        remaining = started + frame_timeout - _monotonic()
                        if remaining <= 0 or not wait_fd(fd, _READ, remaining, True):
                            raise FramingError(
                                f"frame not completed within {frame_timeout:g} s")
                    else:
                        wait_fd(fd, _READ, None, True)
                try:
                    n = _raw_recv_into(sock, chunk)
                except (BlockingIOError, InterruptedError):
                    continue
                if not n:
                    if buf:
                        need = unpack(buf)[0] if len(buf) >= 4 else 4
                        raise TruncatedFrame(len(buf) - 4 if len(buf) >= 4 else len(buf),
                                             need)
                    raise _Closed("peer closed the connection")
                reader.bytes += n
                now = _monotonic()
                # The usual case: nothing was buffered and this recv brought exactly one
                # whole frame.  Decode it from the scratch (the decoder copies what it
                # keeps) instead of copying it into the buffer and out again.
                if have or n <= 4 or unpack(chunk)[0] + 4 != n or n - 4 > max_frame:
                    buf += chunk[:n]
                    continue
                reader.frames += 1
                started = None
                value = loads(chunk[4:n], max_size=max_inflated)
            if idle:
                self._last_rx = now
                self._pinged_at = None
            pr = parse_call_req(value)
            if pr is None:
                handle(parse_packet(value))
            elif len(calls) < max_calls and not self.closed:
                task = new_tasklet(run_call)
                calls.add(task)
                task(*pr)
            else:
                self._start_call(*pr)

    def _packet_loop_reader(self, idle):
        """The packet loop through the FrameReader (sockets that are not non-blocking)."""
        if self.config.frame_timeout:
            self.reader.sock = _FrameClock(self.sock, self.reader, self.config.frame_timeout)
        lp = loop.get_loop()
        fd = self.sock.fileno()
        reader = self.reader
        while not self.closed:
            if not reader._buf:
                lp.wait_fd(fd, _READ, None, True)
            payload = reader.read_frame()
            if payload is None:
                raise _Closed("peer closed the connection")
            if idle:
                self._last_rx = _monotonic()
                self._pinged_at = None
            packet = parse_packet(marshal.loads(payload, max_size=self.config.max_inflated))
            self._handle(packet)

    def _keepalive_tick(self):
        """Timer callback (main tasklet): ping or drop a silent peer, then re-arm."""
        if self.closed:
            return
        idle = self.config.idle_timeout
        now = _monotonic()
        if self._pinged_at is not None and now - self._pinged_at >= idle:
            stackless.tasklet(self.close)("peer silent after a ping")
            return
        if self._pinged_at is None and now - self._last_rx >= idle:
            self._pinged_at = now
            stackless.tasklet(self._keepalive_ping)()
        self._keepalive = loop.call_later(idle / 4, self._keepalive_tick)

    def _keepalive_ping(self):
        try:
            self._send_ping()
        except _Closed:
            pass

    def _handle(self, packet):
        t = packet.type
        if t == C.CALL_REQ:
            self._start_call(packet, parse_call(packet))
        elif t == C.PING_REQ:
            self._answer_ping(packet)
        elif t == C.NOTIFICATION:
            self._handle_notification(packet)
        elif t == C.PING_RSP:
            self._ping_answered(packet)         # the answer to ping() or the keep-alive
        elif t in (C.CALL_RSP, C.ERROR_RESPONSE) and client_answered(self, packet):
            pass                                # the answer to a calls.call_client()
        else:
            self._warn("%s: ignoring a %s packet", self, packet.type_name)

    def _start_call(self, packet, req):
        """Start the call tasklet of a CallReq.  Back-pressure: at max_calls_per_connection
        running calls the reader waits for one to end (a counter on the fast path, an Event
        only when full)."""
        while len(self.calls) >= self._max_calls:
            ev = self._slot_free = sync.Event()
            ev.wait()
            if self.closed:
                raise _Closed()
        if self.closed:
            raise _Closed()
        task = stackless.tasklet(self._run_call)
        self.calls.add(task)
        task(packet, req)

    # ------------------------------------------------------------ limits (server core)
    def _logged_in(self):
        """After the handshake: full frame size, out of the server's not-logged-in count, and
        from now on a frame that has started must finish within ``frame_timeout``."""
        self.reader.max_frame = self.config.max_frame
        self.server.connection_authenticated(self)
        # (the fast packet loop keeps the frame deadline itself; the FrameReader path of
        # _packet_loop_reader reads through a _FrameClock)

    # ------------------------------------------------------------------ calls
    def _run_call(self, packet, req):
        """A call tasklet's body: dispatch to the service -> [SessionChangeNotification] ->
        CallRsp, or an ErrorResponse (a UserError, or any exception of the service).  One
        frame per call (it runs once per request)."""
        me = _getcurrent()
        try:
            session = self.session
            manager = self.server.services
            ctx = CallContext(self, session, packet, req, manager)
            debug = log.isEnabledFor(_DEBUG)
            started = _monotonic() if debug else 0.0
            try:
                result = manager.dispatch(ctx)
                oob = None
                if isinstance(result, CallResult):
                    result, oob = result.value, result.oob
                # everything is encoded here, so that a value that cannot be sent is this
                # call's error, not a broken connection
                attrs = session._attrs
                rsp = call_rsp_wire(packet, attrs.get("clientID"), attrs.get("userid"),
                                    _substream(_dumps(result, None)), oob)
                data = _dumps(rsp, 8192)
                if len(data) > 0xFFFFFFFF:      # (encode_frame, inline)
                    raise ValueError("payload too large for a 32-bit length prefix")
                frame = _pack_header(len(data)) + data
                if session._changes:    # the changes this call made go out before its reply
                    change = session.change_packet(self.server.node_id)
                    if change is not None:
                        frame = self._frames(change) + frame
            except UserError as e:
                log.info("%s: %s.%s -> UserError %s", self,
                         packet.destination.service or req.target, req.method, e)
                self._send_error(packet, e)
            except (stackless.TaskletExit, _Closed):
                raise
            except Exception as e:
                log.exception("%s: call %s.%s failed", self,
                              packet.destination.service or req.target, req.method)
                self._send_error(packet,
                                 CustomError(f"Internal server error: {type(e).__name__}"))
            else:
                self._send_frame(frame)
                if debug:
                    log.debug("%s: %s.%s served in %.1f ms", self,
                              packet.destination.service or req.target, req.method,
                              (_monotonic() - started) * 1000)
        except _Closed:
            pass
        except Exception:
            # A bug outside the service (an exception escaping a tasklet would reach the main
            # tasklet and stop the loop): log it and drop this connection only.
            log.exception("%s: internal error while answering %s", self, req.method)
            self.close("internal error")
        finally:
            self.calls.discard(me)
            ev = self._slot_free
            if ev is not None:
                self._slot_free = None
                ev.set()

    def _frames(self, *packets):
        """Encode packets (None skipped) to one byte string of frames."""
        return b"".join(encode_frame(marshal.dumps(p.to_wire(), 8192))
                        for p in packets if p is not None)

    def _send_error(self, packet, exc):
        body = (C.CALL_REQ, C.WRAPPEDEXCEPTION, (SubStream(exc.to_wire()),))
        err = Packet(C.ERROR_RESPONSE, packet.destination,
                     Address.client(self.client_id, packet.source.call_id), self.userid, body)
        try:
            change = self.session.change_packet(self.server.node_id)
            frames = self._frames(change, err)
        except (TypeError, ValueError):
            log.exception("%s: session change cannot be encoded; dropped", self)
            frames = self._frames(err)
        self._send_frame(frames)

    # ------------------------------------------------------------ ping, notify
    def _answer_ping(self, packet):
        times = packet.body[0] if packet.body and type(packet.body[0]) is list else []
        now = filetime_now()
        hops = [(now, now, name) for name in (
            b"proxy::handle_message", b"proxy::writing", b"server::handle_message",
            b"server::turnaround", b"proxy::handle_message", b"proxy::writing")]
        self.send_packet(Packet(C.PING_RSP, packet.destination,
                                Address.client(self.client_id, packet.source.call_id),
                                self.userid, (list(times) + hops,)))

    def _send_ping(self):
        """A PingReq as EVEmu's keep-alive (source Node(nodeID, 'ping', callID)); returns its
        callID, which the client's PingRsp carries back in its destination."""
        self._ping_id += 1
        self.send_packet(Packet(C.PING_REQ,
                                Address.node(self.server.node_id, "ping", self._ping_id),
                                Address.client(self.client_id, 0), self.userid, ([],), {}))
        return self._ping_id

    def ping(self, timeout=10.0):
        """Ping the client and wait for its PingRsp: returns (round trip in seconds, the
        client's list of (time, time, hop name) entries); TimeoutError if it does not answer.
        Blocks only the calling tasklet."""
        waiter = [sync.Event(), None]
        started = time.monotonic()
        ping_id = self._ping_id + 1
        self._pings[ping_id] = waiter
        try:
            self._send_ping()
            if not waiter[0].wait(timeout):
                raise TimeoutError(f"{self}: no PingRsp within {timeout} s")
            rsp = waiter[1]
            if rsp is None:
                raise ConnectionResetError(f"{self}: closed while pinging")
        except _Closed:
            raise ConnectionResetError(f"{self}: closed while pinging") from None
        finally:
            self._pings.pop(ping_id, None)
        times = rsp.body[0] if rsp.body and type(rsp.body[0]) is list else []
        return time.monotonic() - started, times

    def _ping_answered(self, packet):
        waiter = self._pings.get(packet.destination.call_id)
        if waiter is not None:
            waiter[1] = packet
            waiter[0].set()

    def _handle_notification(self, packet):
        method, elements = parse_notification(packet)
        if method != "ClientHasReleasedTheseObjects":
            self._warn("%s: unhandled notification %r", self, method)
            return
        for el in elements:
            if type(el) is not tuple or not el or not isinstance(el[0], (bytes, str)):
                self._warn("%s: bad release element %r", self, el)
                continue
            bound_id = el[0].decode("ascii", "replace") if isinstance(el[0], bytes) else el[0]
            if not self.server.services.release(bound_id, self):
                log.info("%s: released unknown bound object %r", self, bound_id)

    # ------------------------------------------------------------------ closing
    def close(self, reason="closed"):
        """Idempotent.  Safe from any tasklet of the server's thread."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        log.debug("%s: disconnected (%s)", self, reason)
        cork, self._cork = self._cork, None
        if cork and self._writer is None and self._raw_send:
            try:        # held notifications (a last notice before close): one try, as before
                _raw_send(self.sock, b"".join(cork))
            except OSError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass
        me = stackless.getcurrent()
        for t in list(self.calls):
            if t is not me and t.alive:
                t.kill()
        self.calls.clear()
        writer = self._writer
        if writer is not None and writer is not me:
            # (a writer started in this turn has not run yet: killed before its first line,
            # its finally never runs, so it is forgotten here)
            self._writer = None
            if writer.alive:
                writer.kill()
        self._outq.clear()
        if self._keepalive is not None:
            self._keepalive.cancel()        # (it would keep this object alive until it fired)
            self._keepalive = None
        for waiter in self._pings.values():
            waiter[0].set()
        if self._slot_free is not None:
            self._slot_free.set()
        if self.session is not None:
            Broadcaster.of(self.server).detach(self)
        self.server.services.release_all(self)
        self.server.connection_closed(self)
        if self.tasklet is not None and self.tasklet is not me and self.tasklet.alive:
            self.tasklet.kill()
