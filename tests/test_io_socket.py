"""stackless.socket on loopback: echo with 1,000 concurrent clients, timeouts, errors,
makefile, UDP, closing and killing while blocked, patch()/unpatch()."""
import errno
import os
import resource
import threading
import socket as stdsocket

import pytest

import stackless
from stackless import loop, sync
from stackless import socket as ssocket

from io_helpers import ZERO, no_threads_left_behind, run_all, settle, spawn  # noqa: F401 (no_threads_left_behind is a fixture)
from io_helpers import bounded_and_clean as _bounded_and_clean

bounded_and_clean = _bounded_and_clean(60, cleanup=ssocket.unpatch)


def listener():
    srv = ssocket.create_server(("127.0.0.1", 0), backlog=2048)
    return srv, srv.getsockname()


def test_types_and_timeout_accessors():
    s = ssocket.socket()
    try:
        assert isinstance(s, stdsocket.socket)
        assert s.gettimeout() is None and s.getblocking()
        assert stdsocket._socket.socket.gettimeout(s) == 0.0   # the OS socket is non-blocking
        s.settimeout(1.5)
        assert s.gettimeout() == 1.5 and s.timeout == 1.5
        s.setblocking(False)
        assert s.gettimeout() == 0.0 and not s.getblocking()
        with pytest.raises(ValueError):
            s.settimeout(-1)
        assert ssocket.timeout is TimeoutError and ssocket.error is OSError
        assert ssocket.AF_INET == stdsocket.AF_INET
    finally:
        s.close()


def echo_server(srv, nconn):
    def handle(conn):
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                conn.sendall(data)

    for _ in range(nconn):
        conn, _addr = srv.accept()
        spawn(handle, conn)


def test_echo_1000_concurrent_clients_every_byte():
    need = 2 * 1000 + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    srv, addr = listener()
    n = 1000
    ok = []

    def client(i):
        payload = bytes((i + k) % 256 for k in range(1000 + i))   # distinct per client
        with ssocket.create_connection(addr) as c:
            for rnd in range(3):
                c.sendall(payload)
                got = bytearray()
                while len(got) < len(payload):
                    chunk = c.recv(65536)
                    assert chunk, "server closed early"
                    got += chunk
                assert bytes(got) == payload
        ok.append(i)

    st = spawn(echo_server, srv, n)
    clients = [spawn(client, i) for i in range(n)]
    run_all(*clients)
    run_all(st)
    srv.close()
    settle()
    assert sorted(ok) == list(range(n))


def test_recv_timeout_and_accept_timeout():
    srv, addr = listener()
    srv.settimeout(0.01)
    with pytest.raises(TimeoutError, match="timed out"):
        srv.accept()
    out = []

    def client():
        with ssocket.create_connection(addr, timeout=0.02) as c:
            assert c.gettimeout() == 0.02
            try:
                c.recv(10)
            except stdsocket.timeout as e:
                out.append(str(e))

    def server():
        srv.settimeout(None)
        conn, _ = srv.accept()
        with conn:
            loop.sleep(0.1)

    s = spawn(server)
    run_all(spawn(client), s)
    srv.close()
    assert out == ["timed out"]


def test_nonblocking_mode_raises_blockingioerror():
    a, b = ssocket.socketpair()
    with a, b:
        a.setblocking(False)
        with pytest.raises(BlockingIOError):
            a.recv(10)
        b.send(b"z")
        settle()
        assert a.recv(10) == b"z"


def test_timeout_context_around_blocked_recv():
    a, b = ssocket.socketpair()
    out = []

    def reader():
        try:
            with sync.Timeout(0.01):
                a.recv(10)
        except sync.TimeoutExpired:
            out.append("expired")
        out.append(loop.get_loop().pending()["fd_waiters"])

    with a, b:
        run_all(spawn(reader))
    assert out == ["expired", 0]


def test_connect_refused():
    probe = stdsocket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()   # nothing listens there now
    s = ssocket.socket()
    with s:
        with pytest.raises(ConnectionRefusedError):
            s.connect(("127.0.0.1", port))
    s2 = ssocket.socket()
    with s2:
        assert s2.connect_ex(("127.0.0.1", port)) == errno.ECONNREFUSED
    with pytest.raises(ConnectionRefusedError):
        ssocket.create_connection(("127.0.0.1", port))


def test_connect_timeout_and_kill_while_connecting():
    # A listener with backlog 0 takes one connection into its queue and drops the
    # SYNs after it: further connects hang until their timeout.
    srv = stdsocket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    addr = srv.getsockname()
    first = stdsocket.create_connection(addr)
    s1 = ssocket.socket()
    s1.settimeout(0.05)
    s2 = ssocket.socket()
    s2.settimeout(0.05)
    s3 = ssocket.socket()
    try:
        with pytest.raises(TimeoutError, match="timed out"):
            s1.connect(addr)
        assert s2.connect_ex(addr) == errno.EAGAIN
        t = spawn(s3.connect, addr)     # no timeout: parked until killed
        settle()
        assert t.blocked and loop.get_loop().pending()["fd_waiters"] == 1
        t.kill()
        assert not t.alive and loop.get_loop().pending()["fd_waiters"] == 0
    finally:
        for s in (s1, s2, s3, first, srv):
            s.close()


def test_peer_closes_mid_sendall():
    srv, addr = listener()
    out = []

    def server():
        conn, _ = srv.accept()
        conn.recv(10)
        conn.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        conn.close()    # RST: the sender's next writes fail

    def client():
        c = ssocket.create_connection(addr)
        c.setsockopt(stdsocket.SOL_SOCKET, stdsocket.SO_SNDBUF, 4096)
        try:
            c.sendall(b"x" * (64 * 1024 * 1024))
        except OSError as e:
            out.append(type(e))
        finally:
            c.close()

    s = spawn(server)
    c = spawn(client)
    run_all(c, s)
    srv.close()
    assert len(out) == 1 and issubclass(out[0], (BrokenPipeError, ConnectionResetError))


def test_kill_tasklet_blocked_in_sendall():
    a, b = ssocket.socketpair()
    with a, b:
        t = spawn(a.sendall, b"x" * (16 * 1024 * 1024))   # b never reads: a fills up
        settle()
        assert t.blocked and loop.get_loop().pending()["fd_waiters"] == 1
        t.kill()
        assert not t.alive and loop.get_loop().pending()["fd_waiters"] == 0


def test_close_wakes_waiters_with_ebadf():
    a, b = ssocket.socketpair()
    out = []

    def reader():
        try:
            a.recv(10)
        except OSError as e:
            out.append(e.errno)

    t = spawn(reader)
    settle()
    assert t.blocked
    a.close()
    run_all(t)
    b.close()
    assert out == [errno.EBADF]


def test_kill_tasklets_blocked_in_socket_calls_leaves_nothing():
    srv, addr = listener()
    a, b = ssocket.socketpair()
    blocked = [spawn(srv.accept), spawn(a.recv, 10), spawn(a.recvfrom, 10)]
    settle()
    assert loop.get_loop().pending()["fd_waiters"] == 3
    for t in blocked:
        t.kill()
        assert not t.alive
    assert loop.get_loop().pending() == ZERO
    for s in (srv, a, b):
        s.close()


def test_socket_dropped_without_close_does_not_confuse_fd_reuse():
    import gc
    a, b = ssocket.socketpair()
    t = spawn(a.recv, 1)
    settle()
    assert t.blocked              # a waits once: its epoll interest is kept afterwards
    b.send(b"x")
    loop.run_until(t)
    assert loop.get_loop()._poller.mask(a.fileno())
    old_fds = {a.fileno()}        # the end with kept epoll interest
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)   # dropped unclosed on purpose
        del a, b, t
        gc.collect()
    extra = []
    for _ in range(20):           # Linux hands out the lowest free number: reuse comes
        c, d = ssocket.socketpair()
        if {c.fileno(), d.fileno()} & old_fds:
            break
        extra += [c, d]
    for s in extra:
        s.close()
    assert {c.fileno(), d.fileno()} & old_fds
    with c, d:
        if c.fileno() not in old_fds:
            c, d = d, c           # wait on the end that reuses a number
        got = []
        t = spawn(lambda: got.append(c.recv(10)))
        settle()
        assert t.blocked
        d.send(b"new")
        loop.run_until(t)
        assert got == [b"new"]


@pytest.mark.parametrize("how", ["close", "dropped"])
def test_kept_interest_taken_through_the_loop_is_dropped_on_close(how):
    # A server's read loop waits with loop.wait_fd(fd, READ, None, keep=True) on a socket
    # that never waited through its own methods (every recv found data).  Closing it must
    # still drop that kept interest: epoll forgets a closed fd by itself, so a new socket
    # given the same number would be believed registered and never woken (a second login
    # on PostgreSQL hung this way in CI).
    import gc
    import warnings
    a, b = ssocket.socketpair()
    fd = a.fileno()
    t = spawn(loop.get_loop().wait_fd, fd, loop.READ, None, True)
    settle()
    assert t.blocked
    b.send(b"x")
    loop.run_until(t)
    assert a._sl_loop is None and loop.get_loop()._poller.mask(fd)   # kept, via the loop
    if how == "close":
        a.close()
        b.close()
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)   # dropped unclosed on purpose
            del a, b
            gc.collect()
    assert loop.get_loop()._poller.mask(fd) == 0 and fd not in loop.get_loop()._fds
    c, d = ssocket.socketpair()
    with c, d:
        if c.fileno() != fd:
            c, d = d, c           # wait on the end that reuses the number
        assert c.fileno() == fd
        got = []
        t = spawn(lambda: got.append(c.recv(10)))
        settle()
        assert t.blocked
        d.send(b"new")
        loop.run_until(t)
        assert got == [b"new"]


def test_makefile_lines():
    srv, addr = listener()
    got = []

    def server():
        conn, _ = srv.accept()
        with conn, conn.makefile("rwb") as f:
            for line in f:
                f.write(line.upper())
                f.flush()

    def client():
        with ssocket.create_connection(addr) as c, c.makefile("rw", newline="\n") as f:
            for word in ("alpha", "beta", "gamma"):
                f.write(word + "\n")
                f.flush()
                got.append(f.readline())

    s = spawn(server)
    run_all(spawn(client), s)
    srv.close()
    assert got == ["ALPHA\n", "BETA\n", "GAMMA\n"]


def test_recv_into_and_udp():
    a, b = ssocket.socketpair()
    with a, b:
        buf = bytearray(8)
        n = []
        t = spawn(lambda: n.append(a.recv_into(buf)))
        settle()
        assert t.blocked
        b.sendall(b"abc")
        run_all(t)
        assert n == [3] and bytes(buf[:3]) == b"abc"
    u1 = ssocket.socket(ssocket.AF_INET, ssocket.SOCK_DGRAM)
    u2 = ssocket.socket(ssocket.AF_INET, ssocket.SOCK_DGRAM)
    with u1, u2:
        u1.bind(("127.0.0.1", 0))
        u2.bind(("127.0.0.1", 0))
        got = []
        t = spawn(lambda: got.append(u1.recvfrom(100)))
        settle()
        u2.sendto(b"dgram", u1.getsockname())
        run_all(t)
        assert got[0][0] == b"dgram" and got[0][1] == u2.getsockname()
        u1.settimeout(0.01)
        with pytest.raises(TimeoutError):
            u1.recvfrom(100)


def test_socket_calls_from_main_tasklet_inline():
    srv, addr = listener()
    def serve():
        with srv.accept()[0] as conn:
            conn.sendall(b"from tasklet")

    t = spawn(serve)
    c = ssocket.create_connection(addr)
    assert c.recv(100) == b"from tasklet"
    loop.run_until(t)
    c.close()
    srv.close()


def test_getaddrinfo_names_use_thread_pool():
    res = ssocket.getaddrinfo("localhost", 80, ssocket.AF_INET, ssocket.SOCK_STREAM)
    assert res and res[0][4][0].startswith("127.")
    assert ssocket.getaddrinfo("127.0.0.1", 80)[0][4][0] == "127.0.0.1"


def test_patch_and_unpatch():
    orig = stdsocket.socket
    assert not ssocket.is_patched()
    assert ssocket.patch() is True
    assert ssocket.patch() is False
    try:
        assert stdsocket.socket is ssocket.socket
        s = stdsocket.socket()
        s.close()
        assert isinstance(s, ssocket.socket)
        a, b = stdsocket.socketpair()
        with a, b:
            assert isinstance(a, ssocket.socket)
    finally:
        assert ssocket.unpatch() is True
    assert stdsocket.socket is orig and not ssocket.is_patched()
    assert ssocket.unpatch() is False


# The README's tour (README.md and docs/io.md), verbatim but for the port and run_forever.
def _readme_chat_server():
    from stackless import socket, sync

    rooms = set()                                   # one outbox queue per client

    def client(conn):
        outbox = sync.Queue(maxsize=100)

        def writer():                               # one tasklet writes to this client
            while (line := outbox.get()) is not None:
                conn.sendall(line)

        w = stackless.tasklet(writer)()
        rooms.add(outbox)
        try:
            with conn, conn.makefile("rb") as lines:
                conn.sendall(b"welcome\n")
                for line in lines:                  # blocks only this tasklet
                    for q in rooms - {outbox}:
                        try:
                            q.put_nowait(line)
                        except sync.Full:           # a reader that does not keep up loses lines
                            pass
        finally:
            rooms.discard(outbox)
            w.kill()

    def acceptor(server):
        while True:
            conn, addr = server.accept()            # blocks only this tasklet
            stackless.tasklet(client)(conn)

    server = socket.create_server(("127.0.0.1", 0))
    return stackless.tasklet(acceptor)(server), server, rooms


def test_readme_chat_server():
    acc, server, rooms = _readme_chat_server()
    addr = server.getsockname()
    got = {}

    def user(name, says, expect):
        with ssocket.create_connection(addr) as c, c.makefile("rwb") as f:
            assert f.readline() == b"welcome\n"
            while len(rooms) < 3:
                loop.sleep(0.001)
            for line in says:
                f.write(line)
                f.flush()
            got[name] = [f.readline() for _ in range(expect)]
            loop.sleep(0.01)

    users = [spawn(user, "a", [b"a1\n", b"a2\n"], 1), spawn(user, "b", [b"b1\n"], 2),
             spawn(user, "c", [], 3)]
    run_all(*users)
    assert got["a"] == [b"b1\n"]
    assert got["b"] == [b"a1\n", b"a2\n"]               # one sender's lines keep their order
    assert sorted(got["c"]) == [b"a1\n", b"a2\n", b"b1\n"]
    assert got["c"].index(b"a1\n") < got["c"].index(b"a2\n")
    acc.kill()
    server.close()
    settle()
    assert not rooms


def test_socket_moved_to_another_thread_drops_old_interest():
    a, b = ssocket.socketpair()
    with a, b:
        t = spawn(a.recv, 1)
        settle()
        b.send(b"1")
        loop.run_until(t)
        main_loop = loop.get_loop()
        assert main_loop._poller.mask(a.fileno())      # interest kept in this thread
        got = []

        def other_thread():
            got.append(a.recv(1))                      # waits in that thread's loop

        th = threading.Thread(target=other_thread)
        th.start()
        for _ in range(2000):                          # the thread's first wait posts
            if main_loop._poller.mask(a.fileno()) == 0:   # drop_kept to this loop
                break
            loop.sleep(0.005)
        assert main_loop._poller.mask(a.fileno()) == 0
        b.send(b"2")
        th.join(10)
        assert got == [b"2"]


def test_sendfile_blocks_only_the_tasklet(tmp_path):
    data = bytes(range(256)) * 4096                      # 1 MiB: more than the buffers hold
    path = tmp_path / "blob"
    path.write_bytes(data)
    a, b = ssocket.socketpair()
    got = bytearray()

    def reader():
        while len(got) < len(data):
            chunk = b.recv(65536)
            assert chunk
            got.extend(chunk)

    with a, b:
        r = spawn(reader)
        with open(path, "rb") as f:
            assert a.sendfile(f) == len(data)           # from the main tasklet, inline
        loop.run_until(r)
    assert bytes(got) == data


@pytest.mark.parametrize("seed", range(int(os.environ.get("IO_FUZZ_SEEDS", "4"))))
def test_random_kills_and_timeouts_during_echo_traffic(seed):
    import random
    rnd = random.Random(seed)
    srv, addr = listener()
    handlers = []

    def handle(conn):
        with conn:
            try:
                while True:
                    data = conn.recv(4096)
                    if not data:
                        return
                    conn.sendall(data)
            except (ConnectionResetError, BrokenPipeError):
                return      # a client that stopped mid-stream closed with data unread

    def acceptor():
        while True:
            conn, _ = srv.accept()
            handlers.append(spawn(handle, conn))

    def client(r):
        with ssocket.create_connection(addr) as c:
            for _ in range(20):
                msg = bytes(r.randrange(256) for _ in range(r.randrange(1, 3000)))
                try:
                    with sync.Timeout(r.choice([None, 0.0005, 0.005])):
                        c.sendall(msg)
                        got = b""
                        while len(got) < len(msg):
                            got += c.recv(4096)
                        assert got == msg
                except sync.TimeoutExpired:
                    return      # the stream is out of step now: stop this client

    acc = spawn(acceptor)
    clients = [spawn(client, random.Random(rnd.random())) for _ in range(20)]
    for _ in range(30):
        loop.sleep(rnd.choice([0, 0.0005, 0.002]))
        victim = rnd.choice(clients)
        if victim.alive and rnd.random() < 0.3:
            victim.kill()
    run_all(*clients)
    run_all(*handlers)          # every client closed: every handler sees EOF and ends
    acc.kill()
    srv.close()


def test_patched_http_client_blocks_only_its_tasklet():
    import http.client
    srv, addr = listener()

    def server():
        conn, _ = srv.accept()
        with conn, conn.makefile("rb") as f:
            while f.readline() not in (b"\r\n", b""):
                pass                     # the request's head
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello")

    ticks = []

    def ticker():
        for _ in range(3):
            ticks.append(1)
            loop.sleep(0)

    got = []

    def client():
        c = http.client.HTTPConnection(*addr, timeout=10)
        c.request("GET", "/")
        kind = type(c.sock)              # (HTTP/1.0: closed after the response)
        r = c.getresponse()
        got.append((r.status, r.read(), kind))
        c.close()

    assert ssocket.patch()
    try:
        s = spawn(server)
        t = spawn(ticker)
        run_all(spawn(client), s, t)
    finally:
        ssocket.unpatch()
    srv.close()
    assert got == [(200, b"hello", ssocket.socket)] and len(ticks) == 3
