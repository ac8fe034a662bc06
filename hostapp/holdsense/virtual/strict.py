"""A host on the virtual roller's strict USB link (holdsense.virtual.usb.StrictUsb): the one way
bench/strict_link.py and tests/firmware/test_strict_device.py start the device and talk to it.

    with spawn_strict(usb="c3", host_buffer=512) as dev:
        host = StrictHost(dev.port)
        reply, took_s = host.cmd("start")      # one small write, then read until its answer
        host.pump()                            # read what is there: samples, losses (index gaps)

The host reads with real pyserial on the device's pty and decodes with the host app's own decoder
(holdsense.link.frames), so the loss count is the one `holdsense record` would write.
"""
from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Any, Sequence

from ..link import commands as C
from ..link import frames as P
from .process import VirtualDeviceProcess, spawn


def spawn_strict(scenario: str = "standard", *, speed: float = 1.0, usb: str = "s3", host_buffer: int = 4096,
                 encoder: bool = True, loop: bool = False,
                 extra_args: Sequence[str] = ()) -> AbstractContextManager[VirtualDeviceProcess]:
    """`holdsense virtual-device` on its strict USB link: `usb` is the board's USB timing ("s3" TinyUSB
    500 ms per blocked write, "c3" USB-Serial-JTAG 200 ms then gives up), `host_buffer` the bytes the
    host's driver holds before the device's writes block (Linux N_TTY: 4096)."""
    args = ["--usb", usb, "--usb-host-buffer", str(int(host_buffer))]
    if not encoder:
        args.append("--no-encoder")
    return spawn(scenario, speed=speed, loop=loop, extra_args=args + list(extra_args))


class StrictHost:
    """pyserial on the device's port: frames decoded, samples unpacked, losses counted by index gap.

    rate_hz: the nominal rate, only to express the largest step between received consecutive
    samples in sample periods (`max_step_periods`); keep_frames: keep every decoded frame in `frames`.
    """

    def __init__(self, port: str, *, rate_hz: float = 80.0, keep_frames: bool = False, read_timeout_s: float = 0.01,
                 read_size: int = 16384) -> None:
        import serial

        self.s = serial.Serial(port, timeout=read_timeout_s)
        self.dec = P.FrameDecoder()
        self.unp = P.SampleUnpacker()
        self.rate_hz = float(rate_hz)
        self.keep_frames = keep_frames
        self.read_size = int(read_size)
        self.frames: list[P.Frame] = []
        self.seq = 0
        self.received = 0          # samples received
        self.lost = 0              # samples the host counted as lost (index gaps)
        self.max_step_periods = 0.0  # largest time step between received index-consecutive samples

    def pump(self) -> list[P.Frame]:
        """Read what the port has now (waits at most the read timeout); returns the new frames."""
        import numpy as np

        frames = self.dec.feed(self.s.read(self.read_size))
        for f in frames:
            if f.type == P.FrameType.INFO:
                self.unp.on_info(C.parse_info(f.payload))
        chunk, gaps = self.unp.process(frames)
        self.lost += sum(g.lost_samples for g in gaps)
        if chunk is not None and len(chunk):
            self.received += len(chunk)
            t = np.asarray(chunk.t_s)
            if len(t) > 1 and not gaps:  # steps between samples with none lost in between
                self.max_step_periods = max(self.max_step_periods, float(np.diff(t).max()) * self.rate_hz)
        if self.keep_frames:
            self.frames += frames
        return frames

    def cmd(self, name: str, timeout_s: float = 2.0, **kw: Any) -> tuple[C.Reply, float]:
        """Send one command as its own small write; read until its ACK/ERROR. Returns (reply, seconds
        from the write to the reply's arrival). TimeoutError when it does not come (a frozen firmware)."""
        self.seq += 1
        t0 = time.monotonic()
        self.s.write(C.encode_command(name, self.seq, **kw))
        while time.monotonic() - t0 < timeout_s:
            for f in self.pump():
                if f.type in (P.FrameType.ACK, P.FrameType.ERROR):
                    r = C.parse_reply(f)
                    if r.cmd_seq == self.seq:
                        return r, time.monotonic() - t0
        raise TimeoutError(f"no answer to {name} within {timeout_s} s: the firmware froze")

    def close(self) -> None:
        self.s.close()
