"""A client written from docs/protocol.md alone (no holdsense.protocol, no firmware code: the encoder
is tests/golden/doc_encoder.py, the decoder is below), talking to the virtual roller over a real pty.
It must agree with the device on every frame type, every command's answer, every length and the
frame maximum."""
from __future__ import annotations

import binascii
import math
import struct
import sys
import time
from pathlib import Path

import pytest
import serial

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "golden"))
import doc_encoder as D  # noqa: E402

pytest.importorskip("holdsense.sim", reason="holdsense.sim (simulator) not merged yet")
from holdsense.virtual import spawn  # noqa: E402

INFO, SAMPLES, STATUS, TEXT, TARE, ACK, ERROR = 0x01, 0x02, 0x03, 0x04, 0x05, 0x11, 0x12


def uncobs(b: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(b):
        code = b[i]
        assert code != 0
        out += b[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(b):
            out.append(0)
    return bytes(out)


def cal_len(p: bytes, i: int) -> int:
    """§3 calibration block length at offset i."""
    n = p[i + 5]
    assert n <= 4
    return 6 + 4 * n + 4


def info_len(p: bytes) -> int:
    """§3: 9 fixed bytes, three u8-length strings, the calibration block."""
    i = 9
    for _ in range(3):
        i += 1 + p[i]
    return i + cal_len(p, i)


def check_payload(ftype: int, p: bytes, minor: int) -> None:
    """Lengths per docs/protocol.md §2-§5."""
    if ftype == INFO:
        assert p[0] == 1 and len(p) == info_len(p)
    elif ftype == SAMPLES:
        layout, n = p[0], p[1]
        rec = 11 if layout & 1 else 7
        assert n <= (20 if layout & 1 else 32) and len(p) == 10 + n * rec
    elif ftype == STATUS:
        assert len(p) == (26 if minor >= 2 else 24)
    elif ftype == TARE:
        assert len(p) == 11
    elif ftype == TEXT:
        assert p[0] in (0, 1, 2)
        p[1:].decode()


# §5: the ACK result of each command (length after the 3-byte head)
def ack_result_len(cmd: int, r: bytes) -> int:
    if cmd == 0x01:
        return info_len(r)
    if cmd in (0x05, 0x06, 0x07):
        return cal_len(r, 0)
    return {0x02: 0, 0x03: 0, 0x04: 6, 0x08: 1, 0x09: 3, 0x0A: 26, 0x0B: 0, 0x0C: 9, 0x0D: 1, 0x0E: 0}[cmd]


class DocClient:
    def __init__(self, port: str) -> None:
        self.s = serial.Serial(port, timeout=0.02)
        self.buf = b""
        self.frames: list[tuple[int, int, bytes]] = []
        self.rx_seq: int | None = None
        self.seq_gaps = 0
        self.max_part = 0
        self.seq = 0
        self.minor = 0
        self.s.write(b"\x00")  # §7: a lone delimiter before the first command ends stale bytes on the device

    def pump(self) -> list[tuple[int, int, bytes]]:
        self.buf += self.s.read(8192)
        *parts, self.buf = self.buf.split(b"\x00")
        out = []
        for part in parts:
            if not part:
                continue
            self.max_part = max(self.max_part, len(part))
            if len(part) > D.MAX_COBS:  # the boot banner of the virtual board is garbage, like a real one's
                continue
            try:
                raw = uncobs(part)
            except (AssertionError, IndexError):
                continue
            if len(raw) < 5 or binascii.crc_hqx(raw[:-2], 0xFFFF) != raw[-2] | (raw[-1] << 8):
                continue
            assert len(raw) <= D.MAX_RAW
            ftype, seq, p = raw[0], raw[1] | (raw[2] << 8), raw[3:-2]
            if self.rx_seq is not None and seq != (self.rx_seq + 1) & 0xFFFF:
                self.seq_gaps += 1
            self.rx_seq = seq
            if ftype == INFO:
                self.minor = p[1]
            check_payload(ftype, p, self.minor)
            out.append((ftype, seq, p))
        self.frames += out
        return out

    def send_raw(self, raw: bytes) -> int:
        self.s.write(D.serial(raw))
        return raw[1] | (raw[2] << 8)

    def cmd(self, name: str, timeout_s: float = 3.0, **kw) -> tuple[int, bytes]:
        seq = self.seq
        self.seq += 1
        self.send_raw(D.command(name, seq, **kw))
        return self.answer(seq, D.CMD_IDS[name], timeout_s)

    def answer(self, seq: int, cmd: int, timeout_s: float = 3.0) -> tuple[int, bytes]:
        t_end = time.monotonic() + timeout_s
        while time.monotonic() < t_end:
            for ftype, _s, p in self.pump():
                if ftype in (ACK, ERROR) and struct.unpack_from("<H", p)[0] == seq:
                    assert p[2] == cmd
                    if ftype == ACK:
                        assert len(p) - 3 == ack_result_len(cmd, p[3:]), (cmd, p.hex())
                    else:
                        assert len(p) >= 4 and 1 <= p[3] <= 7
                        p[4:].decode()
                    return ftype, p[3:]
        raise AssertionError(f"no answer to command 0x{cmd:02x} (seq {seq})")


def test_a_client_written_from_the_document_agrees_with_the_device():
    with spawn("standard", speed=2.0) as dev:
        c = DocClient(dev.port)
        t, r = c.cmd("info")
        assert t == ACK and r[0] == 1 and r[1] == 2  # protocol 1.2
        boot_id, sensors, rate, state = struct.unpack_from("<IBBB", r, 2)
        assert sensors & 0x01 and rate in (10, 80) and not state & 0x01
        t, r = c.cmd("get_cal")
        tare0 = struct.unpack_from("<i", r)[0]
        cal = {"tare_counts": tare0, "counts_to_n": [0.0, 1 / 2000.0], "residual_n": 0.5, "fitted": False}
        t, r = c.cmd("set_cal", calibration=cal)
        assert t == ACK and r[4] & 0x01, "the device sets the fitted flag"
        assert math.isclose(struct.unpack_from("<f", r, 10)[0], 1 / 2000.0, rel_tol=1e-6)
        assert c.cmd("clear_cal")[0] == ACK
        assert c.cmd("set_rate", rate_hz=80) == (ACK, bytes([80]))
        assert c.cmd("set_rate", rate_hz=40)[0] == ERROR
        t, r = c.cmd("battery")
        assert t == ACK and 0 < struct.unpack_from("<H", r)[0] < 5000
        t, r = c.cmd("status", clear=False)
        assert t == ACK and r[3] == 0  # stopped
        assert c.cmd("cue", pattern=1, repeat=1) == (ACK, b"")
        t, r = c.cmd("idle", idle_after_s=60, decimation=8, load_counts=43800)
        assert struct.unpack("<HBIH", r)[:3] == (60, 8, 43800)
        assert c.cmd("ble_cal", enable=False) == (ACK, b"\x00")
        # START: ACK, then INFO with the streaming bit, then SAMPLES
        c.frames.clear()
        assert c.cmd("start")[0] == ACK
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end and not any(f[0] == SAMPLES for f in c.frames):
            c.pump()
        infos = [p for f, _s, p in c.frames if f == INFO]
        assert infos and infos[0][8] & 0x01, "the INFO sent on START has its streaming bit set"
        kinds = [f for f, _s, _p in c.frames]
        assert kinds.index(ACK) < kinds.index(INFO) < kinds.index(SAMPLES), "§5: START's ACK, then INFO, then SAMPLES"
        t, r = c.cmd("tare", n_samples=8)
        assert t == ACK and struct.unpack("<iH", r)[1] == 8
        assert any(f[0] == TARE for f in c.frames), "a 1.1+ device sends TARE before the TARE ack"
        # STATUS frames while streaming, 26 bytes; a task that raises: TEXT + task_restarts
        dev.control({"fault_task": "status"})
        t_end = time.monotonic() + 3.0
        while time.monotonic() < t_end and not any(f[0] == TEXT for f in c.frames):
            c.pump()
        texts = [p for f, _s, p in c.frames if f == TEXT]
        assert texts and texts[0][0] == 2 and b"status" in texts[0]
        # the restarted status task sends STATUS again (200 ms restart + 1 s period, device time);
        # waited for explicitly: the steps below can take less than that on a fast machine
        t_end = time.monotonic() + 5.0
        while time.monotonic() < t_end and not any(f[0] == STATUS for f in c.frames):
            c.pump()
        statuses = [p for f, _s, p in c.frames if f == STATUS]
        assert statuses and len(statuses[0]) == 26
        t, r = c.cmd("status", clear=True)
        assert struct.unpack_from("<H", r, 24)[0] == 1 and struct.unpack_from("<H", r, 12)[0] & 0x0800
        # the frame maximum: a 244-byte command is a frame (answered: bad arguments), 245 is not
        body = bytes([0x10]) + struct.pack("<H", 900) + bytes([0x0C]) + bytes(D.MAX_RAW - 6)
        c.send_raw(body + struct.pack("<H", D.crc(body)))
        assert c.answer(900, 0x0C)[0] == ERROR  # IDLE takes 7 or 9 bytes
        body = bytes([0x10]) + struct.pack("<H", 901) + bytes([0x0C]) + bytes(D.MAX_RAW - 5)
        c.s.write(D.cobs(body + struct.pack("<H", D.crc(body))) + b"\x00")
        with pytest.raises(AssertionError):
            c.answer(901, 0x0C, timeout_s=0.5)
        t, r = c.cmd("status", clear=False)
        assert struct.unpack_from("<H", r, 16)[0] >= 1, "the over-long frame is counted in rx_bad_frames"
        assert c.cmd("stop")[0] == ACK
        assert c.cmd("exit") == (ACK, b""), "EXIT gets its ACK before the app stops"
        assert c.max_part <= D.MAX_COBS and c.seq_gaps == 0
        got = {f[0] for f in c.frames}
        assert {INFO, SAMPLES, STATUS, TEXT, TARE, ACK, ERROR} <= got
