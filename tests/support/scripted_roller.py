"""A scripted roller on a real pty, speaking the firmware's own framing code (holdsense_fw.frame).

Used by the host tests to give each fault precisely: lost frames, garbage, a
reboot, an unplug and replug at the same path, silence, a foreign protocol
version. The end-to-end tests in tests/e2e run the real virtual device.
"""
from __future__ import annotations

import os
import struct
import threading
import time
import tty

import pytest

from holdsense_fw import frame as fw

RATE_HZ = 80
DT_US = 12500
CAL = {"tare_counts": 1000, "counts_to_n": [0.0, 0.01], "residual_n": 0.2, "fitted": True}


class ScriptedRoller:
    """A pty peer streaming SAMPLES frames at `speed` × 80 Hz and answering commands."""

    def __init__(self, link: str, *, speed: float = 10.0, proto_major: int = fw.PROTO_MAJOR,
                 proto_minor: int = 0, silent: bool = False, has_angle: bool = True, garbage_only: bool = False) -> None:
        self.link = link
        self.speed = speed
        self.proto_major = proto_major
        self.proto_minor = proto_minor  # 0: a 1.0 roller (no TARE frames; the TARE ACK re-zeroes)
        self.silent = silent
        self.garbage_only = garbage_only
        self.has_angle = has_angle
        self.boot_id = 0x1234
        self.cal = dict(CAL)
        self.lock = threading.RLock()
        self.streaming = False
        self.index = 0
        self.t_us = 5_000_000
        self.seq = 0
        self.drop_frames = 0
        self.hang = False  # True: the link stays up but the roller neither sends nor answers (a dead BLE link)
        self.commands: list[int] = []
        self.stop_flag = threading.Event()
        self.master = -1
        self._plug()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    # -- link -----------------------------------------------------------------
    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo before the host opens it
        path = os.ttyname(slave)
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(path, tmp)
        os.replace(tmp, self.link)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.deframer = fw.Deframer()

    def unplug(self, for_s: float) -> None:
        with self.lock:
            # the port's name goes as a real /dev/ttyACM0 does: a link left to the closed pty would lead a
            # reconnect attempt to whichever test's pty gets that number next (seen: "in use by another program")
            if os.path.lexists(self.link):
                os.unlink(self.link)
            os.close(self.master)
            os.close(self._slave)
            self.master = -1
        time.sleep(for_s)
        with self.lock:
            self._plug()

    def reboot(self) -> None:
        with self.lock:
            self.boot_id += 1
            self.index = 0
            self.t_us = 1_000
            self.seq = 0
            self.streaming = False
            self._send(fw.encode_frame(fw.T_INFO, self._seq(), self._info_payload()))

    def _seq(self) -> int:
        s = self.seq
        self.seq = (self.seq + 1) & 0xFFFF
        return s

    def _send(self, raw: bytes) -> None:
        if self.master < 0:
            return
        data = fw.cobs_encode(raw) + b"\x00"
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def send_garbage(self, data: bytes) -> None:
        with self.lock:
            if self.master >= 0:
                os.write(self.master, data)

    def _info_payload(self) -> bytes:
        info = {"boot_id": self.boot_id, "sensors": fw.S_HX711 | (fw.S_AS5600 if self.has_angle else 0),
                "rate_hz": RATE_HZ, "streaming": self.streaming, "fw_version": "0.9.0", "board": "scripted",
                "device_id": "AA:BB", "calibration": self.cal, "proto_minor": self.proto_minor}
        p = fw.encode_info_payload(info)
        return bytes((self.proto_major,)) + p[1:]

    # -- loop -----------------------------------------------------------------
    def _run(self) -> None:
        next_t = time.monotonic()
        while not self.stop_flag.is_set():
            with self.lock:
                if self.master >= 0:
                    try:
                        data = os.read(self.master, 4096)
                    except (BlockingIOError, OSError):
                        data = b""
                    for typ, seq, payload in self.deframer.feed(data):
                        if typ == fw.T_CMD and not self.hang:
                            self._command(seq, payload[0], payload[1:])
                    if self.streaming and not self.hang:
                        self._emit(4)
            next_t += 4 * DT_US / 1e6 / self.speed
            time.sleep(max(0.0, next_t - time.monotonic()))

    def _emit(self, n: int) -> None:
        samples = []
        for _ in range(n):
            raw = 1000 + 10000 + (self.index % 80) * 10
            angle = self.index * 3
            samples.append((self.t_us, raw, 0, angle))
            self.t_us += DT_US
            self.index += 1
        first = self.index - n
        seq = self._seq()
        if self.drop_frames:
            self.drop_frames -= 1
            return
        self._send(fw.encode_samples(seq, first, samples, self.has_angle))

    def _command(self, seq: int, cmd: int, args: bytes) -> None:
        self.commands.append(cmd)
        if self.silent:
            return
        if self.garbage_only:
            os.write(self.master, b"\x13garbage\x00\x7f\x00")
            return
        if cmd == fw.C_INFO:
            self._send(fw.encode_ack(self._seq(), seq, cmd, self._info_payload()))
        elif cmd == fw.C_START:
            self.streaming = True
            self._send(fw.encode_ack(self._seq(), seq, cmd))
            self._send(fw.encode_frame(fw.T_INFO, self._seq(), self._info_payload()))
        elif cmd == fw.C_STOP:
            self.streaming = False
            self._send(fw.encode_ack(self._seq(), seq, cmd))
        elif cmd == fw.C_TARE:
            self.cal["tare_counts"] = 1500
            self._send(fw.encode_ack(self._seq(), seq, cmd, struct.pack("<iH", 1500, 40)))
        elif cmd == fw.C_STATUS:
            st = {"battery_mv": 3600, "battery_pct": 12, "state": 1 if self.streaming else 0, "samples_total": self.index,
                  "dropped_total": 0, "errors": fw.ERR_BATTERY_LOW, "hx711_timeouts": 0, "rx_bad_frames": 0,
                  "uptime_s": 5, "rate_chz": 8000}
            self._send(fw.encode_ack(self._seq(), seq, cmd, fw.encode_status_payload(st)))
            self._send(fw.encode_frame(fw.T_STATUS, self._seq(), fw.encode_status_payload(st)))
        elif cmd == fw.C_BATTERY:
            self._send(fw.encode_ack(self._seq(), seq, cmd, struct.pack("<HB", 3600, 12)))
        elif cmd == fw.C_SET_RATE:
            self._send(fw.encode_error(self._seq(), seq, cmd, fw.E_UNSUPPORTED, "RATE pin not wired"))
        else:
            self._send(fw.encode_ack(self._seq(), seq, cmd))

    def close(self) -> None:
        self.stop_flag.set()
        self.thread.join(2)
        with self.lock:
            if self.master >= 0:
                os.close(self.master)
                os.close(self._slave)
                self.master = -1


@pytest.fixture
def roller(tmp_path):
    """`roller(**kw)` starts a ScriptedRoller linked at tmp_path/roller; all are closed afterwards."""
    rollers = []

    def make(**kw):
        r = ScriptedRoller(str(tmp_path / "roller"), **kw)
        rollers.append(r)
        return r

    yield make
    for r in rollers:
        r.close()
