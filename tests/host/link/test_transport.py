"""Transport base and SerialTransport over real pyserial: loop://, a real pty pair, socket://."""
from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from holdsense.errors import DeviceError
from holdsense.link.transport import LinkLost, Transport
from holdsense.link.serial import SerialTransport, open_transport


def _read_all(t: Transport, n: int, timeout_s: float = 2.0) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        data = t.recv(0.05)
        if data:
            out += data
    return out


def test_loop_url_roundtrip_and_taps():
    seen: list[tuple[str, bytes]] = []
    with open_transport("loop://") as t:
        t.add_tap(lambda d, data, ts: seen.append((d, data)))
        assert t.recv(0.01) is None  # nothing sent yet: timeout, not an error
        t.write(b"\x01\x02\x00abc")
        assert _read_all(t, 6) == b"\x01\x02\x00abc"
    assert t.closed
    assert seen[0] == ("tx", b"\x01\x02\x00abc")
    assert b"".join(d for k, d in seen if k == "rx") == b"\x01\x02\x00abc"
    with pytest.raises(LinkLost):
        t.recv(0.01)


def test_pty_pair_both_directions_and_unplug():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    try:
        t = SerialTransport(path)
        os.write(master, bytes(range(256)) * 4)
        assert _read_all(t, 1024) == bytes(range(256)) * 4  # raw mode: no byte translated
        t.write(b"hello\x00")
        got = b""
        deadline = time.monotonic() + 2
        while len(got) < 6 and time.monotonic() < deadline:
            got += os.read(master, 64)
        assert got == b"hello\x00"
        # Unplug: the device side of the pty goes away -> the reader sees LinkLost, not a hang.
        os.close(master)
        master = -1
        with pytest.raises(LinkLost):
            for _ in range(20):
                t.recv(0.05)
        t.close()
    finally:
        if master >= 0:
            os.close(master)
        os.close(slave)


def test_iteration_stops_when_link_lost():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    t = SerialTransport(path)
    os.write(master, b"abc")
    chunks = []

    def unplug_later():
        time.sleep(0.2)
        os.close(master)

    th = threading.Thread(target=unplug_later)
    th.start()
    for data in t:  # ends by itself when the pty closes
        chunks.append(data)
    th.join()
    t.close()
    os.close(slave)
    assert b"".join(chunks) == b"abc"


def test_socket_url_to_local_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    t = open_transport(f"socket://127.0.0.1:{port}")
    conn, _ = srv.accept()
    try:
        conn.sendall(b"\x10\x20\x00")
        assert _read_all(t, 3) == b"\x10\x20\x00"
        t.write(b"ping")
        assert conn.recv(16) == b"ping"
        conn.close()  # server drops the link
        with pytest.raises(LinkLost):
            for _ in range(20):
                t.recv(0.05)
    finally:
        t.close()
        srv.close()


def test_missing_port_is_a_device_error(tmp_path):
    with pytest.raises(DeviceError, match="no such serial port"):
        SerialTransport(str(tmp_path / "nope"))
    with pytest.raises(DeviceError, match="cannot open"):
        SerialTransport("socket://127.0.0.1:1")  # nothing listens on port 1


def test_exclusive_open_of_a_busy_port():
    master, slave = os.openpty()
    path = os.ttyname(slave)
    a = SerialTransport(path)
    try:
        # says why, not pyserial's "[Errno 11] ... Resource temporarily unavailable"
        with pytest.raises(DeviceError, match="cannot open serial port: it is in use by another program") as exc:
            SerialTransport(path)
        assert "Errno" not in str(exc.value)
    finally:
        a.close()
        os.close(master)
        os.close(slave)


def test_subclass_needs_only_two_methods():
    class Queue(Transport):
        name = "queue"

        def __init__(self, chunks):
            super().__init__()
            self.chunks = list(chunks)
            self.sent = []

        def _recv_chunk(self, timeout_s):
            if not self.chunks:
                raise LinkLost("empty")
            return self.chunks.pop(0)

        def _write(self, data):
            self.sent.append(data)

    q = Queue([b"a", None, b"b"])
    assert list(q) == [b"a", b"b"]
    q.write(b"x")
    assert q.sent == [b"x"]
