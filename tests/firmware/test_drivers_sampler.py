"""Firmware drivers, sampler and queues under CPython, with the shims below the drivers (fake pins/I2C)."""
from __future__ import annotations

import pytest

from holdsense.link import frames as P


def _fw():
    from holdsense_fw import compat, frame, hx711, sampler
    return compat, frame, hx711, sampler


def test_hx711_bit_protocol_values_and_timing(rig_factory):
    rig = rig_factory(step_per_read=2)  # each pin access costs ~2 µs, like MicroPython on an ESP32
    from holdsense_fw.hx711 import HX711
    from holdsense.virtual.shims import Pin
    hx = HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT, value=0))
    for value in (84210, -1, -123456, 0, 0x7FFFFF, -0x800000, 0x555555):
        rig.value = value
        rig.edge()
        assert hx.is_ready()
        assert hx.read_raw() == value
        assert not hx.is_ready()  # DOUT high after the 25th pulse until the next conversion
    assert rig.hx.pulses_with_irq_on == 0, "PD_SCK pulses must be clocked with interrupts disabled"
    assert 0 < rig.hx.max_high_us < 60
    assert rig.hx.resets == 0 and rig.hx.gain_pulses == 1 and rig.hx.reads == 7
    assert HX711.saturated(0x7FFFFF) and HX711.saturated(-0x800000) and not HX711.saturated(0x7FFFFE)
    assert HX711.spurious_pattern(0x12FFF) and not HX711.spurious_pattern(0x12FFE)


def test_hx711_not_ready_timeout_and_power_cycle(rig_factory):
    rig = rig_factory(step_per_read=50)
    from holdsense_fw.hx711 import HX711
    from holdsense.virtual.shims import Pin
    hx = HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT, value=0))
    with pytest.raises(OSError):
        hx.read_raw()  # DOUT high: no data
    rig.hx.dead = True
    rig.edge()
    with pytest.raises(OSError):
        hx.wait_read(timeout_ms=20)  # never ready: OSError, not a hang
    rig.hx.dead = False
    rig.edge()
    hx.power_cycle()  # PD_SCK high > 60 µs resets the chip (result discarded)
    assert rig.hx.resets == 1 and not hx.is_ready()


def test_hx711_rate_pin(rig_factory):
    from holdsense_fw.hx711 import HX711
    from holdsense.virtual.shims import Pin
    rig = rig_factory(rate_wired=True)
    hx = HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT), Pin(6, Pin.OUT, value=1))
    assert rig.hx.nominal_rate_hz() == 80
    hx.set_rate(10)
    assert rig.hx.nominal_rate_hz() == 10 and hx.rate_hz == 10
    with pytest.raises(ValueError):
        hx.set_rate(40)
    rig2 = rig_factory(rate_wired=False)
    hx2 = HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT))
    with pytest.raises(ValueError, match="unsupported"):
        hx2.set_rate(10)


def test_as5600_watchdog_status_and_angle(rig_factory):
    rig = rig_factory()
    from holdsense_fw.as5600 import AS5600
    from holdsense.virtual.shims import I2C
    enc = AS5600(I2C(0))
    assert rig.as5600.watchdog
    assert enc.setup() == (True, False, False)
    assert not rig.as5600.watchdog, "the watchdog must be disabled at start (holds look like no movement)"
    rig.angle_raw = 4095
    assert enc.raw_angle() == 4095
    rig.as5600.magnet = "weak"
    assert enc.status() == (True, True, False)
    rig.as5600.magnet = "none"
    assert enc.status()[0] is False
    rig.as5600.fail = True
    with pytest.raises(OSError):
        enc.raw_angle()


def test_angle_unwrapper_across_4096():
    from holdsense_fw.sampler import AngleUnwrapper
    u = AngleUnwrapper()
    seq = [4000, 4090, 10, 100, 50, 4050, 3000, 2000, 1000, 0, 4095]
    out = [u.update(r) for r in seq]
    assert out == [0, 90, 106, 196, 146, 50, -1000, -2000, -3000, -4000, -4001]


def _sampler(rig, **settings):
    from holdsense_fw import config
    from holdsense_fw.as5600 import AS5600
    from holdsense_fw.hx711 import HX711
    from holdsense_fw.sampler import SampleQueue, Sampler
    from holdsense.virtual.shims import I2C, Pin
    s = dict(config.DEFAULTS)
    s["cal"] = {"tare_counts": 84210, "counts_to_n": [0.0, 0.0123], "residual_n": None, "fitted": True}
    s.update(settings)
    hx = HX711(Pin(4, Pin.IN), Pin(5, Pin.OUT))
    enc = AS5600(I2C(0)) if rig.as5600 is not None else None
    sm = Sampler(hx, enc, s)
    q = SampleQueue(s["queue_len"])
    q.enabled = True
    sm.add_queue(q)
    return sm, q


def _edge_step(rig, sm, n=1):
    for _ in range(n):
        rig.edge()
        from holdsense_fw import compat
        sm.hx.stamp = compat.ticks_us()  # the IRQ's stamp at the edge (the clock is at the edge)
        sm.step()


def test_sampler_timestamps_wrap_safe_at_2_30(rig_factory):
    period = 1 << 30
    rig = rig_factory(t0_us=period - 30 * 12500)  # ticks_us wraps after 30 samples
    sm, q = _sampler(rig)
    _edge_step(rig, sm, 80)
    items = q.pop(1000)
    t = [s[0] for _, s in items]
    assert all(b - a == 12500 for a, b in zip(t, t[1:])), "wide time must not jump at the ticks_us wrap"
    from holdsense_fw import compat
    assert compat.ticks_us() < 80 * 12500  # the wrapped tick counter really wrapped
    assert [i for i, _ in items] == list(range(80))


def test_sampler_past_2_30_us_of_uptime_keeps_exact_times_and_windows(rig_factory):
    """The wide clock is two small ints (hi, lo) since issue 15's follow-up: past 2^30 µs of uptime
    (17.9 min) times, the idle window (minutes) and the rate stay exact, as before the boundary."""
    rig = rig_factory(t0_us=0)
    sm, q = _sampler(rig)
    from holdsense_fw import compat
    for _ in range(4):  # 4 x 2^28 µs: the wide clock reaches 2^30 µs + 2^28
        rig.clock.t_us += 1 << 28
        sm.clock.stamp()
    start = sm.clock.wide()
    assert start >= 1 << 30 and sm.clock.hi == 1
    sm.settings["idle_after_s"] = 2
    rig.hx.schedule_from(rig.clock.t_us)
    rig.value = sm.tare_counts  # unloaded: idle after 2 s
    _edge_step(rig, sm, 400)
    items = q.pop(1000)
    (i0, s0), (i1, s1) = items[0], items[1]
    period = s1[0] - s0[0]
    t = [s[0] for _, s in items]
    # every time on the chip's grid (idle decimation leaves whole periods out), none lost or doubled
    assert all((b - a) % period == 0 and b > a for a, b in zip(t, t[1:])) and t[0] >= start, t
    assert (t[-1] - t[0]) // period + 1 >= 390 and sm.timer.missed == 0
    assert sm.idle and items[-1][1][2] & 0x20  # F_IDLE: the 2 s idle window worked past the boundary and sm.timer.missed == 0
    assert 7900 <= sm.rate_chz <= 8100  # SPS x 100 of the fake chip, measured past the boundary


def test_wide_clock_many_wraps_and_stale_stamp(rig_factory):
    rig = rig_factory(t0_us=5)
    from holdsense_fw import compat
    c = compat.WideClock()
    for k in range(1, 20):  # 19 steps of 2^28 µs: several 2^30 wraps and past 2^32
        rig.clock.t_us += 1 << 28
        assert c.wide() == k << 28
    stale = compat.ticks_add(compat.ticks_us(), -1000)
    assert c.wide(stale) == (19 << 28) - 1000  # an IRQ stamp a little older than the last update
    assert (c.hi, c.lo) == divmod((19 << 28) - 1000, 1 << 30)  # kept as two small ints
    rig.clock.t_us += 1 << 28
    assert c.wide() == 5 << 30 and (c.hi, c.lo) == (5, 0)
    back = compat.ticks_add(compat.ticks_us(), -1000)  # older than the last multiple of 2^30
    assert c.wide(back) == (5 << 30) - 1000 and (c.hi, c.lo) == (4, (1 << 30) - 1000)
    assert c.wide() == 5 << 30  # a stale stamp does not move the clock


def test_irq_stamps_the_data_ready_edge(rig_factory):
    rig = rig_factory(t0_us=1000)
    sm, q = _sampler(rig)
    from holdsense_fw import compat
    flag = compat.ThreadSafeFlag()
    sm.hx.start_irq(flag)
    t_edge = rig.edge()
    rig.clock.t_us += 3000  # the task reads 3 ms after the edge
    sm.step()
    assert sm.hx.stamp == t_edge % compat.TICKS_PERIOD
    _, s = q.pop(1)[0]
    assert s[0] == t_edge - 1000  # wide clock counts from the sampler's start
    sm.hx.stop_irq()


def test_saturation_spike_and_flags(rig_factory):
    rig = rig_factory()
    sm, q = _sampler(rig)
    from holdsense_fw.frame import ERR_SATURATED, ERR_SPURIOUS, F_SAT, F_SPIKE
    rig.value = 90000
    _edge_step(rig, sm, 2)
    rig.value = 90000 | 0xFFFF  # spurious: low bits all ones, big jump
    _edge_step(rig, sm)
    rig.value = 90010
    _edge_step(rig, sm)
    rig.value = 0x7FFFFF
    _edge_step(rig, sm)
    vals = [(s[1], s[2]) for _, s in q.pop(10)]
    assert vals[2] == (90000, F_SPIKE), "a spurious code is replaced by the 3-point median and flagged"
    assert vals[3] == (90010, 0)
    assert vals[4][1] & F_SAT and vals[4][0] == 0x7FFFFF
    assert sm.errors & ERR_SPURIOUS and sm.errors & ERR_SATURATED
    # a genuine step whose low bits happen not to be all ones is kept
    rig.value = 150000
    _edge_step(rig, sm)
    assert q.pop(1)[0][1][1] == 150000


def test_encoder_angle_in_samples_and_faults(rig_factory):
    rig = rig_factory()
    sm, q = _sampler(rig)
    from holdsense_fw.frame import F_ANGLE_BAD, F_MAGNET
    for raw in (100, 4000, 50):
        rig.angle_raw = raw
        _edge_step(rig, sm)
    assert [s[3] for _, s in q.pop(10)] == [0, -196, -50]
    rig.as5600.fail = True
    _edge_step(rig, sm)
    _, s = q.pop(1)[0]
    assert s[2] & F_ANGLE_BAD and s[3] == -50
    rig.as5600.fail = False
    rig.as5600.magnet = "strong"
    _edge_step(rig, sm, 16)
    assert any(s[2] & F_MAGNET for _, s in q.pop(100))


def test_queue_bounded_drop_counter_and_flag(rig_factory):
    rig = rig_factory()
    sm, q = _sampler(rig, queue_len=10)
    from holdsense_fw.frame import ERR_OVERFLOW, F_DROPPED
    _edge_step(rig, sm, 15)  # nobody drains: 5 dropped, never blocks
    assert q.count == 10 and q.dropped == 5 and sm.errors & ERR_OVERFLOW
    items = q.pop(100)
    assert [i for i, _ in items] == list(range(10))
    _edge_step(rig, sm, 2)
    items = q.pop(100)
    assert [i for i, _ in items] == [15, 16], "indices count dropped samples, so the host sees exactly 5 lost"
    assert items[0][1][2] & F_DROPPED and not items[1][1][2] & F_DROPPED


def test_idle_mode_decimates_and_wakes_on_load(rig_factory):
    rig = rig_factory()
    sm, q = _sampler(rig, idle_after_s=1, idle_decimation=4)
    from holdsense_fw.frame import F_IDLE
    rig.value = 84210  # unloaded (at tare)
    _edge_step(rig, sm, 200)  # 2.5 s
    items = q.pop(1000)
    assert sm.idle
    idle = [s for _, s in items if s[2] & F_IDLE]
    full = [s for _, s in items if not s[2] & F_IDLE]
    assert 75 <= len(full) <= 82 and len(idle) == pytest.approx((200 - len(full)) / 4, abs=1)
    assert [i for i, _ in items] == list(range(len(items))), "idle skipping is not loss"
    rig.value = 84210 + 50000  # someone lies on it
    _edge_step(rig, sm, 3)
    woke = q.pop(10)
    assert len(woke) == 3 and not any(s[2] & F_IDLE for _, s in woke) and not sm.idle


def test_tare_averages_good_samples(rig_factory):
    rig = rig_factory()
    sm, q = _sampler(rig)
    got = []
    sm.request_tare(4, lambda t, n: got.append((t, n)))
    with pytest.raises(ValueError):
        sm.request_tare(4, lambda t, n: None)
    for v in (1000, 1001, 0x7FFFFF, 1002, 1003):
        rig.value = v
        _edge_step(rig, sm)
    assert got == [(1002, 4)] and sm.tare_counts == 1002


def test_link_frames_decode_on_the_host(rig_factory):
    rig = rig_factory(t0_us=(1 << 30) - 100000)
    sm, _ = _sampler(rig, queue_len=100)
    from holdsense_fw.link import Link
    link = Link("usb", 100, has_angle=True)
    link.queue.enabled = True
    sm.add_queue(link.queue)
    _edge_step(rig, sm, 130)  # 30 dropped
    frames = link.take_frames(max_samples=1000)
    _edge_step(rig, sm, 5)
    frames += link.take_frames()
    dec = P.FrameDecoder()
    from holdsense_fw.frame import cobs_encode
    got = dec.feed(b"".join(cobs_encode(f) + b"\x00" for f in frames))
    assert all(len(f) <= 244 for f in frames)
    u = P.SampleUnpacker(P.Calibration(84210, [0.0, 0.0123]))
    chunk, gaps = u.process(got)
    assert len(chunk) == 105 and [(g.reason, g.lost_samples) for g in gaps] == [("dropped", 30)]
    assert chunk.t_s[100] - chunk.t_s[99] == pytest.approx(31 * 0.0125)
