"""`holdsense device info|rate|cue|ble-cal|idle`: look at a roller and change its settings.

What someone bringing up a new roller needs (hardware/README.md §6): who it is
and what it has (`info`: INFO + STATUS, human-readable or `--json`), the HX711
rate (`rate 10|80`: SET_RATE), a test of the buzzer and LED (`cue`: CUE),
calibration writes over Bluetooth LE (`ble-cal on|off`: BLE_CAL, over USB only)
and idle streaming / automatic tare (`idle`: IDLE). Each sends the protocol's
command (docs/protocol.md §5) through the same `Device` client and connection
options as every other command; a command the roller refuses is one line with
the roller's own reason, exit 2.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..errors import DeviceError
from ._options import add_connection_options, hx711_rate, integer, on_off, open_device

#: STATUS error bits (holdsense.link.commands.STATUS_ERROR_BITS names) in words, in bit order.
ERROR_WORDS = {
    "hx711_timeout": "HX711 timeout", "saturated": "ADC saturated", "spurious_code": "spurious ADC code",
    "i2c_error": "I2C error", "no_magnet": "no magnet", "magnet_range": "magnet too weak or too strong",
    "storage_error": "storage (flash) error", "queue_overflow": "queue overflow (samples dropped)",
    "battery_low": "battery low", "rx_bad_frame": "bad frame received",
    "missed_conversions": "HX711 conversions missed", "task_restarted": "a firmware task restarted",
}
#: Below this the battery is low (the firmware's BATTERY_LOW_MV; STATUS error bit 0x0100).
BATTERY_LOW_MV = 3400
#: The firmware's idle defaults (docs/protocol.md §6, firmware config.py DEFAULTS): sent for the IDLE fields
#: not given, because the roller cannot report the ones in force.
IDLE_DEFAULTS = {"idle_after_s": 60, "decimation": 8, "load_counts": 43800}
#: After SET_RATE the roller measures the new rate over 2 s of samples; wait this long for it at most.
RATE_MEASURE_TIMEOUT_S = 4.0
#: What a cue pattern sounds and looks like (docs/protocol.md §5 CUE).
CUE_WORDS = {"off": "stops any cue", "beep": "a short beep and LED flash", "double": "a double beep",
             "long": "a long beep", "release": "a rising three-tone 'release window reached'",
             "led": "the LED alone"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("device", help="a roller's info and status; set its rate, idle, BLE calibration; test its cue",
                       description="Look at one roller and change its settings (docs/protocol.md §5): 'info' shows "
                                   "firmware, sensors, rates, battery, calibration, errors and counters; 'rate', "
                                   "'cue', 'ble-cal' and 'idle' send the SET_RATE, CUE, BLE_CAL and IDLE commands. "
                                   "The first power-up checklist (hardware/README.md §6) uses them.")
    dsub = p.add_subparsers(dest="device_command", metavar="info|rate|cue|ble-cal|idle", parser_class=type(p))

    i = dsub.add_parser("info", help="firmware, sensors, nominal and measured rate, battery, calibration, errors",
                        description="Ask the roller INFO and STATUS: firmware and protocol version, board, device id, "
                                    "sensors (HX711, AS5600 with its magnet, RATE pin wired, buzzer, LED, battery "
                                    "ADC), nominal and measured sample rate, battery, calibration, the sticky error "
                                    "bits in words, and its counters.")
    i.add_argument("--json", action="store_true", help="one JSON object instead of the human-readable lines")
    i.add_argument("--clear-errors", action="store_true",
                   help="clear the roller's sticky error bits after reporting them (e.g. after fixing the magnet gap)")
    add_connection_options(i)
    i.set_defaults(func=run_info)

    r = dsub.add_parser("rate", help="set the HX711 rate: 10 or 80 samples/s (needs the RATE pin wired)",
                        description="Switch the HX711 between 10 and 80 samples/s (SET_RATE; stored on the roller), "
                                    "then show the rate the roller measures. A roller whose RATE pin is not wired "
                                    "(hardware/README.md, 'The HX711's RATE pin') refuses: it runs at its fixed rate.")
    r.add_argument("rate_hz", type=hx711_rate, metavar="HZ", help="10 or 80")
    add_connection_options(r)
    r.set_defaults(func=run_rate)

    c = dsub.add_parser("cue", help="play a cue on the roller (beep and LED flash) to test them",
                        description="Play one of the roller's cues (CUE): beep (a short beep and LED flash, the "
                                    "default), double, long, release (rising tones: release window reached), led "
                                    "(the LED alone), off (stop a cue).")
    c.add_argument("pattern", nargs="?", default="beep", choices=tuple(CUE_WORDS), metavar="PATTERN",
                   help="beep (default), double, long, release, led or off")
    c.add_argument("--repeat", type=integer(1, 10, what="a number of repeats"), default=1, metavar="N",
                   help="play it N times (1-10, default 1)")
    add_connection_options(c)
    c.set_defaults(func=run_cue)

    b = dsub.add_parser("ble-cal", help="allow or forbid calibration writes over Bluetooth LE (over USB only)",
                        description="Enable or disable calibration writes over Bluetooth LE (BLE_CAL; stored on "
                                    "the roller). Off by default, so a passer-by cannot change a roller's "
                                    "calibration; on, 'holdsense calibrate --ble NAME' can store its fit. The roller "
                                    "takes this command over USB only.")
    b.add_argument("enable", type=on_off, metavar="on|off", help="on: allow; off: forbid")
    add_connection_options(b)
    b.set_defaults(func=run_ble_cal)

    d = dsub.add_parser("idle", help="set idle streaming and the automatic tare",
                        description="Set idle streaming and the automatic tare (IDLE; stored on the roller). After "
                                    "--after seconds with |raw - zero| below --load-counts the roller sends one "
                                    "sample in --decimation; --auto-tare sets how long it must stay unloaded and "
                                    "still before it re-takes its zero (0 = automatic tare off; left out: kept). "
                                    "The roller cannot report its idle settings, so --after, --decimation and "
                                    "--load-counts left out are set to the defaults "
                                    f"({IDLE_DEFAULTS['idle_after_s']} s, {IDLE_DEFAULTS['decimation']}, "
                                    f"{IDLE_DEFAULTS['load_counts']} counts); the values now in force are printed.")
    d.add_argument("--after", type=integer(0, 65535, what="a number of seconds"), dest="idle_after_s",
                   default=IDLE_DEFAULTS["idle_after_s"], metavar="S",
                   help=f"seconds unloaded before idle streaming, 0 = never (default {IDLE_DEFAULTS['idle_after_s']})")
    d.add_argument("--decimation", type=integer(1, 255, what="a decimation"), default=IDLE_DEFAULTS["decimation"],
                   metavar="N", help=f"send one sample in N when idle (default {IDLE_DEFAULTS['decimation']})")
    d.add_argument("--load-counts", type=integer(0, 2**32 - 1, what="a number of counts"),
                   default=IDLE_DEFAULTS["load_counts"], metavar="N",
                   help=f"|raw - zero| above this is 'loaded' (default {IDLE_DEFAULTS['load_counts']}: 20 N on the "
                        "reference build)")
    d.add_argument("--auto-tare", type=integer(0, 65535, what="a number of seconds"), dest="auto_tare_after_s",
                   default=None, metavar="S",
                   help="automatic tare after S s unloaded and still; 0 = off (default: keep the roller's setting)")
    add_connection_options(d)
    d.set_defaults(func=run_idle)

    p.set_defaults(func=lambda args: (p.print_help(sys.stderr), 2)[1])


# ------------------------------------------------------------------------------------------------ helpers

def _command(dev: Any, cmd: str, what: str, hint: str = "", **kwargs: Any) -> Any:
    """Send `cmd`; its ACK result, or DeviceError naming the roller's own reason (and `hint`) when refused."""
    reply = dev.command(cmd, check=False, **kwargs)
    if not reply.ok:
        raise DeviceError(f"{dev.name}: the roller refused {what}: {reply.message or 'no reason given'} "
                          f"({reply.code_name}){hint}")
    return reply.result


def _over_ble(dev: Any) -> bool:
    return bool(getattr(dev.transport, "packetized", False))


def magnet_state(info: Any, errors: list[str]) -> str | None:
    """The AS5600 magnet as the sticky error bits tell it; None without an AS5600."""
    if not info.has_encoder:
        return None
    if "no_magnet" in errors:
        return "no magnet"
    if "magnet_range" in errors:
        return "magnet too weak or too strong"
    if "i2c_error" in errors:
        return "I2C error reading the encoder"
    return "ok"


def battery_state(info: Any, status: dict[str, Any]) -> str:
    mv = status.get("battery_mv")
    if not mv:
        if not info.sensors & 0x20:
            return "not measured (no battery ADC)"
        # the firmware reports a reading under 2.5 V as 0 mV: no cell on the divider (protocol.md §4)
        return "not measured (no battery connected: running from USB?)"
    if "battery_low" in status.get("errors", []) or mv < BATTERY_LOW_MV:
        return f"low (below {BATTERY_LOW_MV / 1000:g} V): charge it"
    return "ok"


def describe_calibration(cal: Any) -> str:
    if cal is None:
        return "unknown"
    d = cal.to_dict()
    c = d["counts_to_n"]
    bits = ["fitted on the host" if d["fitted"] else "nominal (not calibrated: run 'holdsense calibrate')",
            f"zero {d['tare_counts']} counts"]
    if len(c) >= 2 and c[1]:
        bits.append(f"{1.0 / c[1]:.1f} counts/N")
    if len(c) >= 3:
        bits.append("quadratic" if len(c) == 3 else f"degree {len(c) - 1}")
    if d["residual_n"] is not None:
        bits.append(f"residual {d['residual_n']:.2f} N")
    return ", ".join(bits)


def collect_info(dev: Any, clear_errors: bool = False) -> dict[str, Any]:
    """INFO (from the handshake, just now) and STATUS as one dict (the `--json` object)."""
    info = dev.info
    status = _command(dev, "STATUS", "status", clear=clear_errors)
    names = set(info.sensor_names)
    measured = status["rate_hz"] or None
    errors = status["errors"]
    cal = info.calibration
    mv = status.get("battery_mv")
    return {
        "port": dev.name, "fw_version": info.fw_version, "protocol": f"{info.proto_major}.{info.proto_minor}",
        "board": info.board, "device_id": info.device_id, "boot_id": info.boot_id,
        "sensors": {"hx711": "hx711" in names, "as5600": "as5600" in names, "rate_pin": "rate_pin" in names,
                    "buzzer": "buzzer" in names, "led": "led" in names, "battery_adc": "battery" in names},
        "magnet": magnet_state(info, errors),
        "rate_hz": info.rate_hz, "measured_rate_hz": measured,
        "battery_mv": mv, "battery_v": None if not mv else round(mv / 1000.0, 3),
        "battery_pct": status.get("battery_pct"), "battery_state": battery_state(info, status),
        "calibration": None if cal is None else cal.to_dict(),
        "state": status["state"], "streaming": info.streaming, "idle": info.idle,
        "ble_cal_writes": info.ble_cal_writes,
        "errors": errors, "error_words": [ERROR_WORDS.get(e, e) for e in errors], "error_bits": status["error_bits"],
        "errors_cleared": bool(clear_errors),
        "counters": {"samples_total": status["samples_total"], "dropped_total": status["dropped_total"],
                     "task_restarts": status["task_restarts"], "hx711_timeouts": status["hx711_timeouts"],
                     "rx_bad_frames": status["rx_bad_frames"], "uptime_s": status["uptime_s"]},
    }


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def describe_info(d: dict[str, Any]) -> str:
    """The human-readable `device info`: one fact per line."""
    s = d["sensors"]
    magnet = f" ({'magnet ' + d['magnet'] if d['magnet'] == 'ok' else d['magnet']})" if d["magnet"] else ""
    if d["measured_rate_hz"]:
        measured = f"{d['measured_rate_hz']:.1f} SPS measured"
    else:
        measured = "measured: not yet (the roller measures over 2 s after boot or a rate change)"
    battery = "; ".join(x for x in (f"{d['battery_v']:.2f} V" if d["battery_v"] else "",
                                    f"{d['battery_pct']} %" if d["battery_pct"] is not None else "",
                                    d["battery_state"]) if x)
    cal = d["calibration"]
    from ..link.frames import Calibration

    c = d["counters"]
    up = c["uptime_s"]
    errors = ", ".join(d["error_words"]) if d["error_words"] else "none"
    if d["error_words"]:
        errors += " (cleared now)" if d["errors_cleared"] else " (sticky since boot; --clear-errors clears them)"
    lines = [
        ("roller", f"{d['port']}: firmware {d['fw_version']}, protocol {d['protocol']}, board {d['board']}, "
                   f"id {d['device_id']}"),
        ("sensors", f"HX711 {_yes(s['hx711'])}; AS5600 {_yes(s['as5600'])}{magnet}; RATE wired {_yes(s['rate_pin'])}; "
                    f"buzzer {_yes(s['buzzer'])}; LED {_yes(s['led'])}; battery ADC {_yes(s['battery_adc'])}"),
        ("rate", f"{d['rate_hz']} SPS nominal, {measured}"
                 + ("" if s["rate_pin"] else " (RATE not wired: fixed)")),
        ("battery", battery),
        ("calibration", describe_calibration(None if cal is None else Calibration.from_dict(cal))),
        ("state", f"{d['state']}{', idle' if d['idle'] else ''}; calibration writes over BLE "
                  f"{'enabled' if d['ble_cal_writes'] else 'disabled'}; "
                  f"up {up // 3600}:{up // 60 % 60:02d}:{up % 60:02d}"),
        ("errors", errors),
        ("counters", f"{c['dropped_total']} samples dropped, "
                     f"{'?' if c['task_restarts'] is None else c['task_restarts']} task restarts, "
                     f"{c['hx711_timeouts']} HX711 timeouts, {c['rx_bad_frames']} bad frames received, "
                     f"{c['samples_total']} samples sent"),
    ]
    return "\n".join(f"{k:<12} {v}" for k, v in lines)


# ------------------------------------------------------------------------------------------------ commands

def run_info(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        d = collect_info(dev, args.clear_errors)
    finally:
        dev.close()
    print(json.dumps(d) if args.json else describe_info(d))
    return 0


def wait_measured_rate(dev: Any, nominal: int, before: float | None,
                       timeout_s: float = RATE_MEASURE_TIMEOUT_S) -> float | None:
    """The rate the roller measures once it has measured the new one (None if not within `timeout_s`): a
    value near `nominal` (0.6x-1.5x), and a new one unless the one before was already near it."""
    deadline = time.monotonic() + timeout_s
    while True:
        measured = _command(dev, "STATUS", "status")["rate_hz"] or None
        if measured and 0.6 * nominal <= measured <= 1.5 * nominal and (measured != before or before is None
                                                                         or 0.6 * nominal <= before <= 1.5 * nominal):
            return measured
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.2)


def run_rate(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        before = _command(dev, "STATUS", "status")["rate_hz"] or None
        _command(dev, "SET_RATE", f"rate {args.rate_hz}",
                 " (hardware/README.md, 'The HX711's RATE pin': open the jumper, wire RATE to its GPIO, set "
                 "rate_wired in /holdsense.json)", rate_hz=args.rate_hz)
        measured = wait_measured_rate(dev, args.rate_hz, before)
    finally:
        dev.close()
    got = (f"measured {measured:.1f} SPS" if measured else
           "not measured yet: see 'holdsense device info' in a few seconds")
    print(f"rate set to {args.rate_hz} SPS on {dev.info.device_line()} (stored on the roller); {got}")
    return 0


def run_cue(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        _command(dev, "CUE", f"cue {args.pattern}", pattern=args.pattern, repeat=args.repeat)
        names = set(dev.info.sensor_names)
    finally:
        dev.close()
    times = "" if args.repeat == 1 else f", {args.repeat} times"
    print(f"cue '{args.pattern}' sent to {dev.info.device_line()}: {CUE_WORDS[args.pattern]}{times}")
    missing = [w for n, w in (("buzzer", "buzzer"), ("led", "LED")) if n not in names and args.pattern != "off"]
    if missing:
        print(f"holdsense: note: the roller reports no {' and no '.join(missing)} fitted", file=sys.stderr)
    return 0


def run_ble_cal(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        hint = " (connect the roller by USB and use --port)" if _over_ble(dev) else ""
        on = _command(dev, "BLE_CAL", f"ble-cal {'on' if args.enable else 'off'}", hint, enable=args.enable)
    finally:
        dev.close()
    if on:
        print(f"calibration writes over BLE enabled on {dev.info.device_line()} (stored on the roller): "
              "'holdsense calibrate --ble NAME' can store its fit; 'holdsense device ble-cal off' forbids it again")
    else:
        print(f"calibration writes over BLE disabled on {dev.info.device_line()} (stored on the roller)")
    return 0


def run_idle(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        res = _command(dev, "IDLE", "idle", idle_after_s=args.idle_after_s, decimation=args.decimation,
                       load_counts=args.load_counts, auto_tare_after_s=args.auto_tare_after_s)
        cal = dev.calibration
    finally:
        dev.close()
    a = res["idle_after_s"]
    load = f"{res['load_counts']} counts"
    c = cal.counts_to_n if cal is not None else []
    if len(c) >= 2 and c[1]:
        load += f" ({abs(res['load_counts'] * c[1]):.1f} N)"
    at = res.get("auto_tare_after_s")
    auto = ("" if at is None else "; automatic tare off" if at == 0 else
            f"; automatic tare after {at} s unloaded and still")
    idle = "never idle" if a == 0 else f"idle after {a} s below {load}, then 1 sample in {res['decimation']}"
    print(f"idle set on {dev.info.device_line()} (stored on the roller): {idle}{auto}")
    return 0
