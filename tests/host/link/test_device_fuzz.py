"""Fuzz the device client: a stream of real frames, corrupted, plus random and CRC-valid nonsense frames.

Nothing may escape as an exception, and what comes out must still be a valid
recording stream: t_s non-decreasing, every chunk well-formed.
"""
from __future__ import annotations

import struct

import numpy as np

from holdsense.link.device import Device
from holdsense.messages import Samples
from holdsense.link.frames import encode_frame, serial_wrap
from holdsense.link.transport import LinkLost, Transport
from holdsense_fw import frame as fw

CAL = {"tare_counts": 0, "counts_to_n": [0.0, 0.01], "residual_n": None, "fitted": True}


class Script(Transport):
    """In-memory link: serves prepared byte chunks; answers the INFO handshake; then LinkLost."""

    name = "script"

    def __init__(self, chunks, info_payload):
        super().__init__()
        self.chunks = list(chunks)
        self.info_payload = info_payload
        self.reply: list[bytes] = []
        self.seq = 0

    def _write(self, data):
        for typ, seq, payload in fw.Deframer().feed(data):
            if payload[0] == fw.C_INFO:
                self.reply.append(fw.cobs_encode(fw.encode_ack(9000, seq, fw.C_INFO, self.info_payload)) + b"\0")
            else:
                self.reply.append(fw.cobs_encode(fw.encode_ack(9000, seq, payload[0])) + b"\0")

    def _recv_chunk(self, timeout_s):
        if self.reply:
            return self.reply.pop(0)
        if not self.chunks:
            raise LinkLost("end of script")
        return self.chunks.pop(0)


def info_payload(boot_id=7):
    return fw.encode_info_payload({"boot_id": boot_id, "sensors": 3, "rate_hz": 80, "streaming": True,
                                   "fw_version": "0.9.0", "board": "fuzz", "device_id": "F", "calibration": CAL})


def good_stream(n_frames, rng):
    out = []
    t_us, idx = 10_000, 0
    for s in range(n_frames):
        k = int(rng.integers(1, 21))
        samples = [(t_us + j * 12_500, int(rng.integers(-8_000_000, 8_000_000)), int(rng.integers(0, 64)), idx + j)
                   for j in range(k)]
        t_us += k * 12_500
        idx += k
        out.append(fw.encode_samples(s & 0xFFFF, idx - k, samples, True))
    return out


def test_fuzz_100k_frames_nothing_escapes_and_time_never_goes_back():
    rng = np.random.default_rng(12345)
    frames = good_stream(75_000, rng)
    wire = []
    for raw in frames:
        r = rng.random()
        if r < 0.25:  # flip bytes in a real frame
            b = bytearray(raw)
            for _ in range(int(rng.integers(1, 4))):
                b[int(rng.integers(0, len(b)))] ^= int(rng.integers(1, 256))
            raw = bytes(b)
        elif r < 0.30:  # truncated
            raw = raw[: int(rng.integers(0, len(raw)))]
        wire.append(serial_wrap(raw) if rng.random() > 0.02 else raw)  # sometimes no COBS at all
        if rng.random() < 0.35:  # random junk, or a CRC-valid frame of random type and payload
            if rng.random() < 0.5:
                wire.append(rng.integers(0, 256, int(rng.integers(1, 300)), dtype=np.uint8).tobytes())
            else:
                typ = int(rng.choice([1, 2, 3, 4, 0x11, 0x12, 0x7F]))
                payload = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
                if typ == 2 and rng.random() < 0.5:  # well-formed SAMPLES header, nonsense content
                    n = int(rng.integers(1, 20))
                    payload = struct.pack("<BBII", 1, n, int(rng.integers(0, 2**32)),
                                          int(rng.integers(0, 2**32))) + payload[: 0] + bytes(11 * n)
                wire.append(serial_wrap(encode_frame(typ, int(rng.integers(0, 65536)), payload)))
    assert len(wire) >= 100_000
    # deliver in random-sized pieces, as a serial port does
    blob = b"".join(wire)
    cuts = np.cumsum(rng.integers(1, 600, len(blob) // 100))
    cuts = cuts[cuts < len(blob)]
    pieces = [blob[a:b] for a, b in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(blob)]]))]
    link = Script(pieces, info_payload())
    dev = Device(lambda: link, name="fuzz", reconnect=False)
    dev.connect()
    last_t = -np.inf
    n = 0
    while True:
        try:
            msgs = dev.recv(0.0)
        except Exception as exc:  # only the scripted end of the link may end it
            assert "link lost" in str(exc), repr(exc)
            break
        for m in msgs or []:
            if isinstance(m, Samples):
                t = m.chunk.t_s
                assert np.all(np.diff(t) >= 0) and t[0] >= last_t
                assert len(m.chunk.force_n) == len(t)
                last_t = t[-1]
                n += len(t)
    st = dev.stats()
    assert n > 100_000  # most of the good samples came through
    assert st["corrupt_frames"] > 10_000


def _frame(first, t0, n=4, dt_us=12_500, seq=0):
    from holdsense.link.frames import decode_raw

    samples = [(t0 + k * dt_us, 0, 0, 0) for k in range(n)]
    return decode_raw(fw.encode_samples(seq, first, samples, True))


def test_gate_drops_a_stray_frame_and_keeps_a_confirmed_jump():
    from holdsense.link.device import SampleFrameGate

    g = SampleFrameGate()
    a = _frame(0, 1_000_000)
    b = _frame(4, 1_050_000)
    stray = _frame(3_000_000_000, 7)  # CRC-valid nonsense
    c = _frame(8, 1_100_000)
    assert g.filter([a, b, stray]) == [a, b]  # stray held, not yet judged
    assert g.filter([c]) == [c] and g.rejected == 1  # c continues the stream: stray dropped
    # a real jump (say a reboot whose INFO was lost): held one frame, then confirmed by its successor
    j1 = _frame(0, 50, seq=1)
    j2 = _frame(4, 50 + 50_000, seq=2)
    assert g.filter([j1]) == []
    assert g.filter([j2]) == [j1, j2] and g.rejected == 1
    # idle streaming: long but consistent steps go straight through
    i1 = _frame(8, 50 + 100_000 + 10_000_000, n=1)
    assert g.filter([i1]) == [i1]


def test_gate_reads_frame_heads_alike_one_by_one_and_in_bulk():
    """`SampleFrameGate._heads` (numpy, for batches) gives exactly `_head` of each frame, and a stream filtered
    in bulk passes and rejects the same frames as one filtered frame by frame."""
    from holdsense.link.device import SampleFrameGate
    from holdsense.link.frames import Frame, decode_raw

    rng = np.random.default_rng(16)
    frames = []
    first, t = 0, 1_000_000
    for k in range(400):
        n = int(rng.integers(1, 21))
        angle = bool(rng.integers(0, 2))
        dts = rng.integers(0, 1 << 24, n) if k % 37 == 5 else rng.integers(12_000, 13_000, n)  # some huge steps
        samples = []
        for j in range(n):
            samples.append((t & 0xFFFFFFFF, int(rng.integers(-1000, 1000)), 0, j))
            t += int(dts[j])
        index = int(rng.integers(0, 1 << 32)) if k % 53 == 7 else first  # a stray index now and then
        f = decode_raw(fw.encode_samples(k & 0xFFFF, index & 0xFFFFFFFF, samples, angle))
        first += n
        kind = k % 41
        if kind == 3:
            f = Frame(f.type, f.seq, f.payload[:7])  # too short for a head
        elif kind == 4:
            f = Frame(f.type, f.seq, f.payload[:1] + b"\x00" + f.payload[2:])  # n = 0
        elif kind == 5:
            f = Frame(f.type, f.seq, f.payload + b"\x01")  # length does not match n
        frames.append(f)
    g = SampleFrameGate()
    assert g._heads(frames) == [g._head(f) for f in frames]
    assert g._heads(frames[:1]) == [g._head(frames[0])]
    one, bulk = SampleFrameGate(), SampleFrameGate()
    one.VECTOR_FRAMES = 10 ** 9
    bulk.VECTOR_FRAMES = 1
    out_one, out_bulk = [], []
    cuts = np.cumsum(rng.integers(1, 30, 40))
    for part in np.split(np.arange(len(frames)), cuts[cuts < len(frames)]):
        batch = [frames[i] for i in part]
        out_one += one.filter(batch)
        out_bulk += bulk.filter(batch)
    assert out_one == out_bulk and one.rejected == bulk.rejected > 0
