"""The device client drains what a byte transport says is already waiting (`Transport.pending`, pyserial's
in_waiting) and decodes it as one batch: small OS reads (64 B) no longer mean one unpack per read, and the
samples, gaps and counters are the same as read by read."""
from __future__ import annotations

import numpy as np
import pytest

from holdsense.link.device import DRAIN_BYTES, Device
from holdsense.link.frames import Calibration
from holdsense.link.transport import Transport
from holdsense.messages import Gap, Samples
from holdsense_fw import frame as fw


def _stream(n: int, per_frame: int, skip_frame: int | None = None) -> bytes:
    out = bytearray()
    t_us, idx, seq = 1_000_000, 0, 0
    while idx < n:
        k = min(per_frame, n - idx)
        samples = [(t_us + 12_500 * j, 1000 * (idx + j), 0, 3 * (idx + j)) for j in range(k)]
        t_us += 12_500 * k
        if seq != skip_frame:
            out += fw.cobs_encode(fw.encode_samples(seq, idx, samples, True)) + b"\x00"
        seq, idx = seq + 1, idx + k
    return bytes(out)


class _Memory(Transport):
    name = "memory"

    def __init__(self, data: bytes, read_size: int, drains: bool) -> None:
        super().__init__()
        self.data, self.read_size, self.pos, self.reads = data, read_size, 0, 0
        if drains:
            self.pending = lambda: len(self.data) - self.pos

    def _recv_chunk(self, timeout_s):
        if self.pos >= len(self.data):
            return None
        self.reads += 1
        out = self.data[self.pos:self.pos + self.read_size]
        self.pos += self.read_size
        return out

    def _write(self, data: bytes) -> None:
        pass


def _run(data: bytes, read_size: int, drains: bool):
    dev = Device(lambda: _Memory(data, read_size, drains), reconnect=False, host_clock=lambda: 0.0)
    dev._open_transport()
    dev.link_state = "ok"
    dev.unpacker.calibration = Calibration(0, [0.0, 0.01])
    msgs, recvs = [], 0
    while dev.transport.pos < len(data):
        msgs += dev.recv(0)
        recvs += 1
    msgs += dev.recv(0)
    return dev, msgs, recvs


@pytest.mark.parametrize("read_size", [1, 64, 512, 4096])
def test_draining_gives_the_same_stream_in_fewer_batches(read_size: int) -> None:
    data = _stream(3000, 20, skip_frame=40)  # one frame lost on the way: a gap of 20 samples
    a_dev, a, a_recvs = _run(data, read_size, drains=False)
    b_dev, b, b_recvs = _run(data, read_size, drains=True)
    chunks = [np.concatenate([m.chunk.t_s for m in x if isinstance(m, Samples)]) for x in (a, b)]
    np.testing.assert_array_equal(chunks[0], chunks[1])
    assert len(chunks[0]) == 2980
    gaps = [[(g.t_s, g.reason, g.lost_samples) for g in x if isinstance(g, Gap)] for x in (a, b)]
    assert gaps[0] == gaps[1] and [g[2] for g in gaps[0]] == [20]
    assert a_dev.stats() == b_dev.stats() and b_dev.lost_frames == 1
    # one receive takes up to DRAIN_BYTES of what is waiting, so the reads are gathered into few batches
    assert b_recvs <= len(data) // DRAIN_BYTES + 2 < a_recvs
