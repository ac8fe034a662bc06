#!/usr/bin/env python3
"""Regenerate the capture library in tests/captures/ (docs/capture.md): `python tests/captures/make_captures.py`.

Each capture is a real `holdsense record --capture` session against the virtual
device (the firmware's own code under CPython, tests/captures/scenarios/*.json,
fixed seed), with faults injected through its control socket at fixed device
times. Beside each NAME.hscap sits NAME.csv.gz, the recording the same
`holdsense record` wrote at the same time: the regression tests check that the
capture decodes, and replays, to exactly those samples.

The virtual device starts the scenario at the host's START (--wait-for-start),
runs in real time, and each capture is checked for the full rate (78-82 Hz, no
sample interval stretched outside the scripted faults) and made again if the machine was too busy.
The outputs are committed; timing jitter of this machine makes each run's bytes
differ (the device's sample times are real), so regenerate only on purpose.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Device time per host second. 1: real time, so the firmware under CPython keeps the HX711's 80 Hz even on
#: a busy machine (captures made at 3x on an overloaded 2-core host came out at 34-58 Hz).
SPEED = 1.0
DURATION_S = 42.0
#: The virtual HX711's own rate is drawn per seed from a real part's 78-92 SPS: seed 5's runs at 80.2 SPS.
SEED = 5
#: A capture outside this rate, or with a sample interval the firmware stretched (a conversion it did not read
#: in time on a busy machine) outside the scripted faults, is made again.
RATE_RANGE_HZ = (78.0, 82.0)

#: name -> (scenario, [(scenario time s, control object)], what it covers). The virtual device runs with
#: --wait-for-start: the scenario's clock starts at the recording host's START, so scenario time = session
#: time (t_s) and the recording covers the whole scenario (2 s off, 8 s rolling, a 25 s hold at 10-35 s,
#: rolling, off).
CAPTURES: dict[str, tuple[str, list[tuple[float, dict]], str]] = {
    "session": ("capture-session", [], "step on, rolling, a 25 s hold, rolling, step off"),
    "limb": ("capture-limb", [], "a hold while the knee bends (limb movement)"),
    "dropout": ("capture-session", [(20.0, {"unplug_s": 5.0})],
                "cable out 5 s mid-hold: the device queue (3.2 s) overflows, samples lost, gap marked, reconnect"),
    "reconnect": ("capture-session", [(20.0, {"unplug_s": 1.5})],
                  "cable out 1.5 s: the host reconnects by itself (the device queue bridges part of it)"),
    "corrupt": ("capture-session", [(6.0, {"garbage_bytes": 400}), (25.0, {"garbage_bytes": 300})],
                "two bursts of random bytes on the wire: CRC errors, resync, lost frames"),
    "reboot": ("capture-session", [(24.0, {"reboot": True})],
               "the roller reboots mid-hold: boot banner garbage, new boot id, new time base"),
}


def scenario_s(q: dict) -> float | None:
    """The scenario's clock from a device query (None before the host's START)."""
    t0 = q.get("scenario_t0_world_s")
    return None if t0 is None else q["world_s"] - t0


def check_rate(samples) -> tuple[float, int]:
    """(sample rate Hz, sample intervals over 1.5 x the median) of a recording, both outside marked gaps."""
    import numpy as np
    from rollsignal import FLAG_GAP

    t = samples.t_s
    if len(t) < 2:
        return 0.0, 0
    dt = np.diff(t)
    ok = (samples.flags[1:] & FLAG_GAP) == 0  # not across a marked gap (a dropout, a reboot: scripted)
    return float(np.count_nonzero(ok) / dt[ok].sum()), int(np.count_nonzero((dt > 1.5 * np.median(dt)) & ok))


def make(name: str, out_dir: Path, speed: float = SPEED) -> tuple[float, int]:
    """Record one capture; returns (sample rate Hz, unintended gaps: see check_rate)."""
    from holdsense.io.recording import read_recording
    from holdsense.virtual import spawn

    scenario, faults, _ = CAPTURES[name]
    scen = HERE / "scenarios" / f"{scenario}.json"
    cap, rec = out_dir / f"{name}.hscap", out_dir / f"{name}.csv.gz"
    with tempfile.TemporaryDirectory(prefix="holdsense-mkcap-") as tmp:
        link = os.path.join(tmp, "roller")
        with spawn(str(scen), seed=SEED, speed=speed, link=link, wait_for_start=True) as dev:
            cmd = [sys.executable, "-m", "holdsense.cli", "record", "--port", link, "--duration", str(DURATION_S),
                   "-o", str(rec), "--capture", str(cap), "--overwrite", "--quiet"]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            assert proc.stderr is not None
            first = proc.stderr.readline()  # "recording ... for 42 s": the host is connected and streaming
            if not first.startswith("recording "):
                proc.kill()
                raise SystemExit(f"{name}: record did not start: {first}{proc.stderr.read()}")
            pending = list(faults)
            deadline = time.monotonic() + DURATION_S / speed + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if pending:
                    now = scenario_s(dev.control({"query": True}))
                    if now is not None and now >= pending[0][0]:
                        dev.control(pending.pop(0)[1])
                time.sleep(0.02)
            out, err = proc.communicate(timeout=30)
            if proc.returncode != 0 or pending:
                raise SystemExit(f"{name}: record failed (rc {proc.returncode}, faults left {pending}): {err}")
    r = read_recording(rec, warn=None)
    rate, stretched = check_rate(r.samples)
    print(f"{name}: {cap.stat().st_size:,} B capture, {rec.stat().st_size:,} B recording, {rate:.2f} Hz "
          f"({len(r.samples)} samples), {stretched} unintended gaps; {err.strip().splitlines()[-1]}", flush=True)
    return rate, stretched


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", choices=[*CAPTURES, []], help="captures to make (default: all)")
    ap.add_argument("--out", type=Path, default=HERE, help="folder (default: tests/captures)")
    ap.add_argument("--speed", type=float, default=SPEED, help=f"device time per host second (default {SPEED:g})")
    ap.add_argument("--tries", type=int, default=3, help="attempts per capture to reach the full rate (default 3)")
    args = ap.parse_args()
    for name in args.names or list(CAPTURES):
        for attempt in range(1, args.tries + 1):
            rate, stretched = make(name, args.out, args.speed)
            if RATE_RANGE_HZ[0] <= rate <= RATE_RANGE_HZ[1] and stretched == 0:
                break
            print(f"{name}: {rate:.1f} Hz, {stretched} unintended gaps: the machine was too busy; "
                  f"{'again' if attempt < args.tries else 'giving up'}")
        else:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
