"""The virtual roller on its strict USB link (MicroPython semantics), driven over a real pty with pyserial:
commands one at a time as small writes are all answered; a host that stops reading makes the
device drop whole samples that the host counts exactly, while sampling never stalls."""
from __future__ import annotations

import time

import pytest

from holdsense.link import frames as P

pytest.importorskip("holdsense.sim", reason="holdsense.sim (simulator) not merged yet")
from holdsense.virtual.strict import StrictHost, spawn_strict  # noqa: E402


COMMANDS = [("info", {}), ("status", {"clear": False}), ("battery", {}), ("get_cal", {}),
            ("cue", {"pattern": 1, "repeat": 1}), ("set_rate", {"rate_hz": 80}),
            ("idle", {"idle_after_s": 60, "decimation": 8, "load_counts": 43800}), ("start", {}),
            ("tare", {"n_samples": 8}), ("stop", {})]


def test_commands_one_small_write_at_a_time_are_all_answered():
    """Today's firmware awaited read(64) on stdin: on MicroPython that waits for 64 bytes, so the
    first 10-byte command froze everything. Each command here is one small write, with pauses."""
    with spawn_strict(speed=1.0) as dev:
        h = StrictHost(dev.port)
        for name, kw in COMMANDS:
            r, took = h.cmd(name, **kw)
            assert r.cmd == getattr(P.Cmd, name.upper())
            time.sleep(0.15)
        q = dev.control({"query": True})
        assert q["usb"]["read_cap_hits"] == 0 and q["usb"]["max_block_ms"] == 0


def test_host_pause_loss_is_counted_exactly_and_sampling_never_stalls():
    """The host stops reading for 4 s (device time) twice; its driver holds only 512 bytes and the
    firmware queue 256 samples (2.8-3.3 s at a real 78-92 SPS), so samples must go. The firmware
    never sits in a blocking write (the port would hold it 500 ms a packet); samples it cannot send are
    dropped whole, and the host's loss count equals what the device dropped and the chip converted."""
    speed = 2.0
    with spawn_strict(speed=speed, host_buffer=512, encoder=False) as dev:
        h = StrictHost(dev.port)
        assert h.cmd("start")[0].ok
        for _ in range(2):
            t_end = time.monotonic() + 1.5 / speed
            while time.monotonic() < t_end:
                h.pump()
            time.sleep(4.0 / speed)  # the host stops reading: kernel buffer, then the 256-sample queue fill
        t_end = time.monotonic() + 1.5 / speed
        while time.monotonic() < t_end:
            h.pump()
        assert h.cmd("stop")[0].ok
        for _ in range(20):
            h.pump()
        q = dev.control({"query": True})
        link = q["sampler"]["links"]["usb"]
        assert q["usb"]["max_block_ms"] == 0 and q["usb"]["read_cap_hits"] == 0, "the firmware sat in a USB call"
        assert q["sampler"]["missed"] == 0, "a conversion was missed: sampling stalled"
        assert link["dropped"] > 0, "the pause must overflow the queue for this test to mean anything"
        # the host's loss count is exactly what the device dropped; every other index was received,
        # but the few samples still queued when STOP cleared the queue (less than one 20 ms flush)
        assert h.lost == link["dropped"]
        assert 0 <= link["next_index"] - (h.received + h.lost) <= 4


@pytest.mark.parametrize("rate_hz", [10, 80])
def test_a_fixed_rate_chip_without_rate_pin_streams_every_conversion(rate_hz):
    """RATE not wired (hardware/README.md §2: most breakouts tie it to GND, 10 SPS): INFO reports the chip's
    own rate, the index advances by one per conversion (nothing booked as lost), SET_RATE's error names
    the fixed rate. Before: INFO said 80 and at 10 SPS 86 % of the samples were counted as dropped."""
    speed = 2.0
    with spawn_strict(speed=speed, encoder=False, extra_args=["--no-rate-pin", "--rate", str(rate_hz)]) as dev:
        h = StrictHost(dev.port, rate_hz=rate_hz)
        info = h.cmd("info")[0].result
        assert info.rate_hz == rate_hz and not info.rate_selectable
        r = h.cmd("set_rate", rate_hz=90 - rate_hz)[0]
        assert not r.ok and r.code == P.ErrorCode.UNSUPPORTED and f"fixed at {rate_hz} SPS" in r.message
        assert h.cmd("start")[0].ok
        t_end = time.monotonic() + 3.5 / speed
        while time.monotonic() < t_end:
            h.pump()
        st = h.cmd("status")[0].result
        assert st["dropped_total"] == 0 and not st["error_bits"] & 0x0400, st
        assert 0.9 * rate_hz < st["rate_hz"] < 1.2 * rate_hz, st  # a real part: 78-92 SPS at "80"
        assert h.lost == 0 and h.received >= 2.5 * rate_hz
        q = dev.control({"query": True})
        assert q["rate_hz"] == rate_hz and q["sampler"]["missed"] == 0


def test_a_short_or_non_finite_set_cal_is_answered_with_one_error():
    """protocol.md §5: exactly one ACK or ERROR per command. A SET_CAL of 0, 6 or 16 argument bytes got no
    answer on the virtual roller (CPython's struct.error escaped and restarted its USB receive task), and
    counts_to_n = [inf, 1.0] was stored."""
    import math
    import struct

    from holdsense.link import commands as C

    def raw_cmd(h, args):
        h.seq += 1
        h.s.write(P.serial_wrap(P.encode_frame(P.FrameType.CMD, h.seq, bytes((P.Cmd.SET_CAL,)) + args)))
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            for f in h.pump():
                if f.type in (P.FrameType.ACK, P.FrameType.ERROR) and C.parse_reply(f).cmd_seq == h.seq:
                    return C.parse_reply(f)
        raise AssertionError(f"no answer to SET_CAL with {len(args)} argument bytes")

    block = struct.pack("<iBB", 0, 0, 2) + struct.pack("<ff", math.inf, 1.0) + struct.pack("<f", math.nan)
    with spawn_strict(speed=1.0, encoder=False) as dev:
        h = StrictHost(dev.port)
        cal0 = h.cmd("get_cal")[0].result
        for args in (b"", block[:6], block[:16], block):
            r = raw_cmd(h, args)
            assert not r.ok and r.code == P.ErrorCode.BAD_ARGS, (len(args), r)
        assert h.cmd("get_cal")[0].result == cal0
        st = h.cmd("status")[0].result
        assert st["task_restarts"] == 0 and not st["error_bits"] & 0x0800, st


def test_nothing_follows_the_exit_ack():
    """EXIT while streaming: the ACK is the last frame on the port (mpremote gets the REPL next). Before, the
    transmit task kept sending the queued samples after it."""
    with spawn_strict(speed=1.0, encoder=False, host_buffer=512) as dev:
        h = StrictHost(dev.port, keep_frames=True)
        assert h.cmd("start")[0].ok
        t_end = time.monotonic() + 0.5
        while time.monotonic() < t_end:
            h.pump()
        time.sleep(0.4)  # the host does not read: samples queue on the device
        r, _ = h.cmd("exit")
        assert r.ok
        t_end = time.monotonic() + 1.5
        while time.monotonic() < t_end:
            h.pump()
        i = next(k for k, f in enumerate(h.frames) if f.type == P.FrameType.ACK and f.payload[2] == P.Cmd.EXIT)
        after = [P.FrameType(f.type).name for f in h.frames[i + 1:]]
        assert after == [], after
