"""`holdsense device info|rate|cue|ble-cal|idle` as real subprocesses against the REAL virtual roller
(`holdsense virtual-device`: the firmware's own commands on a pty): what each prints, what the roller
then holds (its --control socket's query), and the failures (no roller at the port, nothing answering,
a bad value, SET_RATE on a roller without the RATE pin wired) as one line and exit 2.

The roller runs 4x faster than real time, so its rate measurement (2 s of device time) takes 0.5 s.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from cli_run import run_cli
from holdsense.virtual import spawn

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(os.name != "posix", reason="the virtual device uses a pty")]

SPEED = 4.0
#: an "80 SPS" HX711 really runs 78-92 SPS and a "10 SPS" one about 10-12 (the virtual part draws its rate there)
BAND_80 = (77.0, 93.0)
BAND_10 = (9.0, 12.5)


def hs(*args: object, timeout: float = 60):
    return run_cli(["device", *args], timeout=timeout)


def one_error_line(p) -> str:
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("holdsense: error: "), p.stderr
    assert "Traceback" not in p.stderr and not p.stdout
    return lines[0]


@pytest.fixture(scope="module")
def roller():
    with spawn(scenario="standard", speed=SPEED) as dev:
        yield dev


@pytest.fixture(scope="module")
def fixed_rate_roller():
    with spawn(scenario="standard", speed=SPEED, encoder=False, extra_args=["--no-rate-pin"]) as dev:
        yield dev


def wait_measured(dev, lo: float, hi: float, timeout_s: float = 10.0) -> None:
    """Until the roller has measured its rate (0 for the first 2 s of device time after boot)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        p = hs("info", "--port", dev.port, "--json")
        if p.returncode == 0 and lo <= (json.loads(p.stdout)["measured_rate_hz"] or 0) <= hi:
            return
        time.sleep(0.2)
    raise AssertionError("the roller never measured its rate")


def test_info_human_readable_and_json(roller):
    wait_measured(roller, *BAND_80)
    p = hs("info", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    q = roller.control({"query": True})
    assert f"id {q['device_id']}" in out and "protocol 1.2" in out and "board esp32s3" in out
    assert "HX711 yes; AS5600 yes (magnet ok); RATE wired yes" in out
    assert "80 SPS nominal" in out and "SPS measured" in out
    assert "calibration  fitted on the host, zero" in out and "counts/N" in out
    assert "errors       none" in out and "0 samples dropped, 0 task restarts" in out
    p = hs("info", "--port", roller.port, "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["device_id"] == q["device_id"] and d["protocol"] == "1.2" and d["fw_version"]
    assert d["sensors"] == {"hx711": True, "as5600": True, "rate_pin": True, "buzzer": True, "led": True,
                            "battery_adc": True}
    assert d["magnet"] == "ok" and d["rate_hz"] == 80 and BAND_80[0] <= d["measured_rate_hz"] <= BAND_80[1]
    assert 3.3 <= d["battery_v"] <= 4.25 and d["battery_state"] == "ok" and 0 <= d["battery_pct"] <= 100
    assert d["calibration"]["fitted"] and d["calibration"]["tare_counts"] == q["settings"]["cal"]["tare_counts"]
    assert d["errors"] == [] and d["counters"]["task_restarts"] == 0 and d["counters"]["dropped_total"] == 0


def test_info_names_error_bits_in_words_and_clears_them(roller):
    import serial

    roller.control({"fault_task": "usb-rx"})  # the firmware's USB receive task raises on its next bytes
    with serial.Serial(roller.port, timeout=0) as port:
        port.write(b"\x00")  # (an empty frame: nothing else would have answered)
    deadline = time.monotonic() + 10
    while roller.control({"query": True})["sampler"]["task_restarts"] == 0:
        assert time.monotonic() < deadline, "the injected fault never happened"
        time.sleep(0.1)
    p = hs("info", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "a firmware task restarted (sticky since boot; --clear-errors clears them)" in p.stdout
    assert "1 task restarts" in p.stdout
    p = hs("info", "--port", roller.port, "--json", "--clear-errors")
    d = json.loads(p.stdout)
    assert d["errors"] == ["task_restarted"] and d["error_words"] == ["a firmware task restarted"]
    assert d["error_bits"] == 0x0800 and d["errors_cleared"]
    d = json.loads(hs("info", "--port", roller.port, "--json").stdout)
    # the bit is cleared, the count stays (another bit may have come since: the virtual HX711 gives the odd
    # spurious code, as a real one does, and 'spurious_code' then stands beside it)
    assert "task_restarted" not in d["errors"] and d["counters"]["task_restarts"] == 1


def test_rate_10_then_80_is_set_and_measured(roller):
    p = hs("rate", "10", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "rate set to 10 SPS" in p.stdout and "stored on the roller" in p.stdout
    measured = float(p.stdout.split("measured ")[1].split(" SPS")[0])
    assert BAND_10[0] <= measured <= BAND_10[1]
    q = roller.control({"query": True})
    assert q["rate_hz"] == 10 and q["settings"]["rate_hz"] == 10
    d = json.loads(hs("info", "--port", roller.port, "--json").stdout)
    assert d["rate_hz"] == 10 and BAND_10[0] <= d["measured_rate_hz"] <= BAND_10[1]
    p = hs("rate", "80sps", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    measured = float(p.stdout.split("measured ")[1].split(" SPS")[0])
    assert BAND_80[0] <= measured <= BAND_80[1] and roller.control({"query": True})["rate_hz"] == 80


def test_cue_plays_the_pattern(roller):
    p = hs("cue", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "cue 'beep' sent" in p.stdout and "beep and LED flash" in p.stdout
    assert roller.control({"query": True})["cues"][-1] == [1, 1]
    p = hs("cue", "led", "--repeat", "3", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert roller.control({"query": True})["cues"][-1] == [5, 3]


def test_ble_cal_on_and_off(roller):
    p = hs("ble-cal", "on", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "calibration writes over BLE enabled" in p.stdout and "calibrate --ble" in p.stdout
    assert roller.control({"query": True})["settings"]["ble_cal_writes"] is True
    assert json.loads(hs("info", "--port", roller.port, "--json").stdout)["ble_cal_writes"] is True
    p = hs("ble-cal", "off", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "disabled" in p.stdout and roller.control({"query": True})["settings"]["ble_cal_writes"] is False


def test_idle_sets_the_roller_and_defaults_match_the_firmware(roller):
    from holdsense.commands.device import IDLE_DEFAULTS
    from holdsense_fw import config

    assert IDLE_DEFAULTS == {"idle_after_s": config.DEFAULTS["idle_after_s"],
                             "decimation": config.DEFAULTS["idle_decimation"],
                             "load_counts": config.DEFAULTS["load_counts"]}
    p = hs("idle", "--after", "30", "--decimation", "4", "--auto-tare", "0", "--port", roller.port)
    assert p.returncode == 0, p.stderr
    assert "idle after 30 s below 43800 counts" in p.stdout and "1 sample in 4; automatic tare off" in p.stdout
    s = roller.control({"query": True})["settings"]
    assert (s["idle_after_s"], s["idle_decimation"], s["load_counts"], s["auto_tare_after_s"]) == (30, 4, 43800, 0)
    p = hs("idle", "--port", roller.port)  # defaults; the automatic tare setting is kept
    assert p.returncode == 0, p.stderr
    s = roller.control({"query": True})["settings"]
    assert (s["idle_after_s"], s["idle_decimation"], s["auto_tare_after_s"]) == (60, 8, 0)
    assert "automatic tare off" in p.stdout


def test_rate_without_rate_pin_is_the_rollers_refusal_in_one_line(fixed_rate_roller):
    p = hs("rate", "10", "--port", fixed_rate_roller.port)
    line = one_error_line(p)
    assert "refused rate 10: RATE pin not wired: fixed at 80 SPS (unsupported)" in line
    assert "RATE pin" in line and fixed_rate_roller.port in line
    assert fixed_rate_roller.control({"query": True})["rate_hz"] == 80
    p = hs("info", "--port", fixed_rate_roller.port)
    assert "AS5600 no; RATE wired no" in p.stdout and "(RATE not wired: fixed)" in p.stdout


def test_no_roller_at_the_port_or_none_answering_is_one_line_exit_2(tmp_path):
    for sub in (["info"], ["rate", "10"], ["cue"], ["ble-cal", "on"], ["idle"]):
        line = one_error_line(hs(*sub, "--port", tmp_path / "nope"))
        assert "no such serial port" in line
    master, slave = os.openpty()  # a pty with nothing behind it: opens, never answers
    try:
        line = one_error_line(hs("cue", "--port", os.ttyname(slave), "--timeout", "0.6"))
        assert "no answer from a holdsense roller" in line
    finally:
        os.close(master)
        os.close(slave)


def test_bad_values_and_missing_port_are_one_line_exit_2(tmp_path):
    assert "not an HX711 rate (10 or 80" in one_error_line(hs("rate", "5", "--port", tmp_path / "x"))
    assert "say on or off" in one_error_line(hs("ble-cal", "maybe", "--port", tmp_path / "x"))
    assert "--repeat" in one_error_line(hs("cue", "--repeat", "0", "--port", tmp_path / "x"))
    assert "--decimation" in one_error_line(hs("idle", "--decimation", "0", "--port", tmp_path / "x"))
    assert "no roller given: use --port" in one_error_line(hs("info"))
