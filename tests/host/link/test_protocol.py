"""Host decoder/encoder (holdsense.link.frames, holdsense.link.commands) against the golden vectors, plus resync, fuzz and time base."""
from __future__ import annotations

import json
import math
import random
import struct
from pathlib import Path

import numpy as np
import pytest

from holdsense.link import commands as C
from holdsense.link import frames as P
from holdsense.errors import DeviceError
from rollsignal import FLAG_GAP, FLAG_SAT, FLAG_SPIKE

VECTORS = json.loads((Path(__file__).resolve().parents[2] / "golden" / "protocol_vectors.json").read_text())
FRAMES = {v["name"]: v for v in VECTORS["frames"]}


def _data(entry: dict) -> bytes:
    return entry["ascii"].encode() if "ascii" in entry else bytes.fromhex(entry["hex"])


@pytest.mark.parametrize("entry", VECTORS["crc16_ccitt_false"], ids=lambda e: e.get("ascii", e.get("hex")) or "empty")
def test_crc_vectors(entry):
    assert P.crc16(_data(entry)) == entry["crc"]


def test_crc_check_value():
    assert P.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("entry", VECTORS["cobs"], ids=lambda e: e["decoded"][:12])
def test_cobs_vectors(entry):
    raw = bytes.fromhex(entry["decoded"])
    assert P.serial_wrap(raw) == bytes.fromhex(entry["encoded"]) + b"\x00"


@pytest.mark.parametrize("vec", VECTORS["frames"], ids=lambda v: v["name"])
def test_frame_vectors_decode(vec):
    frames = P.FrameDecoder().feed(bytes.fromhex(vec["serial_hex"]))
    assert len(frames) == 1
    f = frames[0]
    assert (f.type, f.seq, f.payload.hex()) == (vec["type"], vec["seq"], vec["payload_hex"])
    assert P.decode_raw(bytes.fromhex(vec["raw_hex"])) == f
    assert P.encode_frame(vec["type"], vec["seq"], bytes.fromhex(vec["payload_hex"])).hex() == vec["raw_hex"]
    d = vec["decoded"]
    if f.type == P.FrameType.INFO:
        info = C.parse_info(f.payload)
        for k in ("proto_major", "proto_minor", "boot_id", "sensors", "rate_hz", "streaming",
                  "ble_cal_writes", "idle", "fw_version", "board", "device_id"):
            assert getattr(info, k) == d[k], k
        assert info.calibration == P.Calibration.from_dict(d["calibration"])
    elif f.type == P.FrameType.SAMPLES:
        arr = P.decode_sample_frames([f])
        t32 = (arr.frame_t0_us32[arr.frame_of] + arr.t_rel_us) % (1 << 32)
        got = [[int(t32[i]), int(arr.raw[i]), int(arr.flags[i]),
                None if arr.angle is None else int(arr.angle[i])] for i in range(len(arr))]
        assert got == d["samples"]
        assert arr.index.tolist() == [d["first_index"] + i for i in range(len(got))]
    elif f.type == P.FrameType.STATUS:
        st = C.parse_status(f.payload)
        assert st["samples_total"] == d["samples_total"] and st["dropped_total"] == d["dropped_total"]
        assert st["battery_mv"] == (d["battery_mv"] or None)
        assert st["battery_pct"] == (None if d["battery_pct"] == 255 else d["battery_pct"])
        assert st["error_bits"] == d["errors"] and st["rate_hz"] == d["rate_chz"] / 100
    elif f.type == P.FrameType.TARE:
        ev = C.parse_tare(f.payload)
        assert (ev.tare_counts, ev.from_index, ev.n_samples) == (d["tare_counts"], d["from_index"], d["n"])
        assert ev.source == C.TARE_SOURCES[d["source"]]
    elif f.type == P.FrameType.CMD:
        assert C.encode_command(d["cmd"], vec["seq"], **d["args"]).hex() == vec["serial_hex"]
        assert C.encode_command(d["cmd"], vec["seq"], framing="raw", **d["args"]).hex() == vec["raw_hex"]
    elif f.type in (P.FrameType.ACK, P.FrameType.ERROR):
        r = C.parse_reply(f)
        assert (r.cmd_seq, r.cmd) == (d["cmd_seq"], d["cmd"])
        if f.type == P.FrameType.ERROR:
            assert not r.ok and r.code == d["code"] and r.message == d["message"]
            with pytest.raises(DeviceError):
                r.raise_for_error()
        else:
            exp = d["result"]
            if isinstance(r.result, C.DeviceInfo):
                assert r.result.boot_id == exp["boot_id"] and r.result.fw_version == exp["fw_version"]
            elif isinstance(r.result, P.Calibration):
                assert r.result == P.Calibration.from_dict(exp)
            elif isinstance(r.result, dict) and "error_bits" in r.result:
                assert r.result["samples_total"] == exp["samples_total"]
            else:
                assert r.result == exp


def test_resync_after_garbage_and_counts_errors():
    good = [bytes.fromhex(v["serial_hex"]) for v in VECTORS["frames"]]
    dec = P.FrameDecoder()
    rng = random.Random(1)
    stream = b""
    for g in good:
        stream += bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 40))) + b"\x00" + g
    got = []
    for i in range(0, len(stream), 7):  # any chunking
        got += dec.feed(stream[i:i + 7])
    assert [f.seq for f in got] == [v["seq"] for v in VECTORS["frames"]]
    assert dec.errors > 0 and dec.bytes_discarded > 0
    # a flipped bit is a counted CRC (or COBS) error, and the next frame still decodes
    bad = bytearray(good[0])
    bad[5] ^= 0x10
    dec2 = P.FrameDecoder()
    out = dec2.feed(bytes(bad) + good[1])
    assert [f.seq for f in out] == [VECTORS["frames"][1]["seq"]]
    assert dec2.crc_errors + dec2.cobs_errors == 1


def test_no_delimiter_flood_is_bounded():
    dec = P.FrameDecoder()
    for _ in range(100):
        assert dec.feed(b"\x55" * 1000) == []
    assert len(dec._buf) <= 4 * dec.MAX_ENCODED
    assert dec.feed(b"\x00" + bytes.fromhex(FRAMES["status"]["serial_hex"]))[0].seq == 40


def test_fuzz_100k_corrupted_and_random_frames():
    rng = random.Random(1234)
    good = [bytes.fromhex(v["raw_hex"]) for v in VECTORS["frames"]]
    dec = P.FrameDecoder()
    unpacker = P.SampleUnpacker(P.Calibration(0, [0.0, 0.01]), host_clock=lambda: 0.0)
    n_good = 0
    chunks = []
    for i in range(100_000):
        k = i % 4
        raw = bytearray(rng.choice(good))
        if k == 0:  # random bytes, random length
            raw = bytearray(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
        elif k == 1:  # flipped bits
            for _ in range(rng.randrange(1, 4)):
                raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        elif k == 2:  # truncated / extended, CRC recomputed so it passes framing (payload fuzz)
            body = raw[:-2][: rng.randrange(0, len(raw))] + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 8)))
            raw = bytearray(body + struct.pack("<H", P.crc16(bytes(body))))
        else:
            n_good += 1
        wire = P.serial_wrap(bytes(raw)) if rng.random() < 0.9 else bytes(raw)
        chunks.append(wire)
        if len(chunks) == 50:
            frames = dec.feed(b"".join(chunks))
            chunks = []
            for f in frames:  # every payload parser must fail with FrameError only
                try:
                    if f.type == P.FrameType.INFO:
                        C.parse_info(f.payload)
                    elif f.type == P.FrameType.STATUS:
                        C.parse_status(f.payload)
                    elif f.type in (P.FrameType.ACK, P.FrameType.ERROR):
                        C.parse_reply(f)
                except P.FrameError:
                    pass
            unpacker.process(frames)
    assert dec.frames >= n_good * 0.5
    assert dec.errors > 10_000


def _samples_frame(seq, first, t0, n, has_angle=False, dt=12500, raw0=1000, flags=0):
    from holdsense_fw import frame as F  # the firmware encoder, as the device would send
    s = [(t0 + i * dt, raw0 + i, flags if i == 0 else 0, 10 * i) for i in range(n)]
    return P.decode_raw(F.encode_samples(seq, first, s, has_angle))


def test_unpacker_time_unwrap_gaps_and_reboot():
    host_t = [100.0]
    u = P.SampleUnpacker(P.Calibration(1000, [0.0, 2.0]), host_clock=lambda: host_t[0])
    M = 1 << 32
    t0 = M - 30000  # the device's 32-bit time wraps between these frames
    f1 = _samples_frame(0, 0, t0, 4)
    f2 = _samples_frame(1, 4, (t0 + 50000) % M, 4)
    chunk, gaps = u.process([f1, f2])
    assert gaps == []
    assert np.allclose(np.diff(chunk.t_s), 0.0125)
    assert chunk.t_s[0] == 0.0
    assert chunk.force_n[:3].tolist() == [0.0, 2.0, 4.0]
    # 6 samples lost on the link: the next frame is flagged and the gap counted
    f3 = _samples_frame(3, 14, (t0 + 175000) % M, 2)
    chunk, gaps = u.process([f3])
    assert [(g.reason, g.lost_samples) for g in gaps] == [("lost", 6)]
    assert chunk.flags[0] & FLAG_GAP and not chunk.flags[1] & FLAG_GAP
    assert math.isclose(chunk.t_s[0], 0.175) and gaps[0].t_s == chunk.t_s[0]
    # device dropped samples itself: F_DROPPED on the first one after, index jump
    f4 = _samples_frame(4, 20, (t0 + 250000) % M, 2, flags=P.F_DROPPED | P.F_SAT)
    chunk, gaps = u.process([f4])
    assert gaps[0].reason == "dropped" and chunk.flags[0] & FLAG_GAP and chunk.flags[0] & FLAG_SAT
    # reboot: index goes back to 0 and the clock restarts; 2 s of host time passed
    host_t[0] += 2.0
    f5 = _samples_frame(0, 0, 1000, 3)
    chunk, gaps = u.process([f5])
    assert [g.reason for g in gaps] == ["reboot"]
    assert chunk.t_s[0] > 0.2625 + 1.9 and chunk.flags[0] & FLAG_GAP
    assert u.reboots == 1 and u.lost_samples == 6 + 4


def test_unpacker_reboot_from_boot_id_and_angle():
    u = P.SampleUnpacker(None, host_clock=lambda: 0.0)
    info = C.parse_info(bytes.fromhex(FRAMES["info"]["payload_hex"]))
    u.on_info(info)
    chunk, _ = u.process([_samples_frame(0, 50, 7_000_000, 3, has_angle=True)])
    assert chunk.angle_deg.tolist() == [0.0, 10 * 360 / 4096, 20 * 360 / 4096]
    assert not np.isnan(chunk.force_n).any()
    info.boot_id += 1
    u.on_info(info)  # same index continues, but the boot id changed: still a reboot
    chunk, gaps = u.process([_samples_frame(0, 53, 100, 2, has_angle=True)])
    assert [g.reason for g in gaps] == ["reboot"]


def test_unpacker_spike_and_bad_angle_flags():
    from holdsense_fw import frame as F
    s = [(0, 5, F.F_SPIKE, 0), (12500, 6, F.F_ANGLE_BAD, 0)]
    u = P.SampleUnpacker(P.Calibration(0, [0.0, 1.0]))
    chunk, _ = u.process([P.decode_raw(F.encode_samples(0, 0, s, True))])
    assert chunk.flags[0] & FLAG_SPIKE
    assert math.isnan(chunk.angle_deg[1]) and chunk.angle_deg[0] == 0.0


def test_protocol_major_mismatch_names_firmware():
    payload = bytearray(bytes.fromhex(FRAMES["info"]["payload_hex"]))
    payload[0] = 2
    info = C.parse_info(bytes(payload))
    with pytest.raises(DeviceError, match=r"holdsense_fw .*holdsense deploy"):
        C.check_compatible(info)
    payload[0] = 0
    with pytest.raises(DeviceError, match="deploy firmware holdsense_fw"):
        C.check_compatible(C.parse_info(bytes(payload)))
    C.check_compatible(C.parse_info(bytes.fromhex(FRAMES["info"]["payload_hex"])))


def test_command_argument_errors():
    with pytest.raises(TypeError):
        C.encode_command("set_rate", 1)
    with pytest.raises(TypeError):
        C.encode_command("start", 1, rate_hz=3)
    assert P.decode_raw(C.encode_command("cue", 5, framing="raw", pattern="release")).payload == bytes((0x0B, 4, 1))


def test_decode_throughput_sanity():
    """Not timed: checks the vectorised path handles a big mixed stream in one call."""
    from holdsense_fw import frame as F
    wire = bytearray()
    t = 0
    for k in range(5000):
        s = [(t + i * 12500, (k * 7 + i) % 100000 - 50000, 0, k + i) for i in range(3)]
        t += 3 * 12500
        wire += F.cobs_encode(F.encode_samples(k, 3 * k, s, k % 2 == 0)) + b"\x00"
    frames = P.FrameDecoder().feed(bytes(wire))
    chunk, gaps = P.SampleUnpacker(P.Calibration(0, [0.0, 1.0])).process(frames)
    assert len(chunk) == 15000 and gaps == []
    assert np.allclose(np.diff(chunk.t_s), 0.0125)
    assert np.isnan(chunk.angle_deg).sum() == 7500  # frames without angle in a mixed stream


def _random_sample_frames(rng: random.Random, nf: int, has_angle: bool) -> list[bytes]:
    """Raw SAMPLES frames from the firmware's encoder with extreme field values."""
    from holdsense_fw import frame as F
    out = []
    t = (1 << 32) - 40_000_000 + rng.randrange(1000)  # the 32-bit device time wraps inside the run
    idx = rng.randrange(1 << 31)
    for k in range(nf):
        n = rng.randint(1, F.max_batch(has_angle))
        s = []
        for _ in range(n):
            raw = rng.choice([rng.randrange(-(1 << 23), 1 << 23), -(1 << 23), (1 << 23) - 1, -1, 0])
            s.append((t, raw, rng.randrange(256), rng.randrange(-(1 << 31), 1 << 31)))
            t += rng.choice([0, 1, 12_500, rng.randrange(1 << 24)])
        out.append(F.encode_samples(k & 0xFFFF, idx, s, has_angle))
        idx += n
    return out


def test_fast_and_careful_paths_agree_with_the_firmware_reference():
    """The decoder's batch paths (COBS/CRC mapped over a read; records through structured views)
    give exactly what the per-frame paths and the firmware's own decode_samples give."""
    from holdsense_fw import frame as F
    rng = random.Random(77)
    for has_angle in (False, True, None):  # None: both layouts mixed in one batch (gather path)
        raws = (_random_sample_frames(rng, 40, rng.random() < 0.5) if has_angle is None else
                _random_sample_frames(rng, 40, has_angle))
        if has_angle is None:
            raws += _random_sample_frames(rng, 5, True) + _random_sample_frames(rng, 5, False)
        wire = b"".join(P.serial_wrap(r) for r in raws)
        fast = P.FrameDecoder().feed(wire)
        careful = P.FrameDecoder()._feed_careful([p for p in wire.split(b"\x00") if p])
        assert fast == careful and [f.seq for f in fast] == [F.decode_frame(r)[1] for r in raws]
        arr = P.decode_sample_frames(fast)
        ref = [F.decode_samples(f.payload) for f in fast]
        exp_raw = [x[1] for _, _, ss in ref for x in ss]
        exp_flags = [x[2] for _, _, ss in ref for x in ss]
        exp_t32 = [x[0] for _, _, ss in ref for x in ss]
        exp_idx = [first + i for first, _, ss in ref for i in range(len(ss))]
        assert arr.raw.tolist() == exp_raw and arr.flags.tolist() == exp_flags and arr.index.tolist() == exp_idx
        assert ((arr.frame_t0_us32[arr.frame_of] + arr.t_rel_us) % (1 << 32)).tolist() == exp_t32
        if has_angle is not False:
            exp_angle = [x[3] if ha else 0 for _, ha, ss in ref for x in ss]
            assert arr.angle.tolist() == exp_angle
            exp_valid = [bool(ha and not x[2] & F.F_ANGLE_BAD) for _, ha, ss in ref for x in ss]
            assert arr.angle_valid.tolist() == exp_valid
        # one malformed (CRC-valid, wrong length) frame: skipped and counted, the rest unchanged
        bad = P.decode_raw(P.encode_frame(P.FrameType.SAMPLES, 9, fast[0].payload[:-1]))
        arr2 = P.decode_sample_frames(fast[:3] + [bad] + fast[3:])
        assert arr2.bad_frames == 1 and arr2.raw.tolist() == exp_raw and arr2.index.tolist() == exp_idx


def test_a_bad_frame_in_a_read_is_counted_and_the_rest_decoded():
    """One corrupt frame sends its whole read down the careful path: nothing good is lost."""
    rng = random.Random(5)
    raws = _random_sample_frames(rng, 30, True)
    wires = [P.serial_wrap(r) for r in raws]
    corrupt = bytearray(wires[10])
    corrupt[5] ^= 0x40
    dec = P.FrameDecoder()
    got = dec.feed(b"".join(wires[:10]) + bytes(corrupt) + b"".join(wires[11:]))
    assert [f.seq for f in got] == [k for k in range(30) if k != 10]
    assert dec.errors == 1 and dec.frames == 29


def test_an_unknown_cue_pattern_is_a_value_error_naming_the_patterns() -> None:
    """`Device.cue("typo")` used to raise a bare KeyError('typo'); a library user gets what to write instead."""

    with pytest.raises(ValueError, match=r"unknown pattern 'typo'; one of off, beep, double, long, release, led"):
        C.command_args(C.Cmd.CUE, pattern="typo")
    with pytest.raises(ValueError, match="fit a byte"):
        C.command_args(C.Cmd.CUE, pattern=1, repeat=300)
    assert C.command_args(C.Cmd.CUE, pattern="release", repeat=2) == bytes((4, 2))
