#!/usr/bin/env python3
"""Regenerate the capture library in tests/captures/ (docs/capture.md): `python tests/captures/make_captures.py`.

Each capture is a real `holdsense record --capture` session against the virtual
device (the firmware's own code under CPython, tests/captures/scenarios/*.json,
fixed seed), with faults injected through its control socket at fixed device
times. Beside each NAME.hscap sits NAME.csv.gz, the recording the same
`holdsense record` wrote at the same time: the regression tests check that the
capture decodes, and replays, to exactly those samples.

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
SPEED = 3.0  # device time per host second: fast, yet (on a busy 2-core machine) still about 80 Hz
DURATION_S = 55.0

#: name -> (scenario, [(scenario time s, control object)], what it covers). The scenario runs from the virtual
#: device's start; the recording starts when `holdsense record` has connected (some 5-15 s in), so each
#: scenario begins with 15 s unloaded and faults fire no earlier than 3 s into the recording.
CAPTURES: dict[str, tuple[str, list[tuple[float, dict]], str]] = {
    "session": ("capture-session", [], "step on, rolling, a 35 s hold, rolling, step off"),
    "limb": ("capture-limb", [], "a hold while the knee bends (limb movement)"),
    "dropout": ("capture-session", [(40.0, {"unplug_s": 5.0})],
                "cable out 5 s mid-hold: the device queue (3.2 s) overflows, samples lost, gap marked, reconnect"),
    "reconnect": ("capture-session", [(40.0, {"unplug_s": 1.5})],
                  "cable out 1.5 s: the host reconnects by itself (the device queue bridges part of it)"),
    "corrupt": ("capture-session", [(25.0, {"garbage_bytes": 400}), (45.0, {"garbage_bytes": 300})],
                "two bursts of random bytes on the wire: CRC errors, resync, lost frames"),
    "reboot": ("capture-session", [(45.0, {"reboot": True})],
               "the roller reboots mid-hold: boot banner garbage, new boot id, new time base"),
}


def make(name: str, out_dir: Path) -> None:
    from holdsense.virtual import spawn

    scenario, faults, _ = CAPTURES[name]
    scen = HERE / "scenarios" / f"{scenario}.json"
    cap, rec = out_dir / f"{name}.hscap", out_dir / f"{name}.csv.gz"
    with tempfile.TemporaryDirectory(prefix="holdsense-mkcap-") as tmp:
        link = os.path.join(tmp, "roller")
        with spawn(str(scen), seed=0, speed=SPEED, link=link) as dev:
            cmd = [sys.executable, "-m", "holdsense.cli", "record", "--port", link, "--duration", str(DURATION_S),
                   "-o", str(rec), "--capture", str(cap), "--overwrite", "--quiet"]
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            assert proc.stderr is not None
            first = proc.stderr.readline()  # "recording ... for 55 s": the host is connected and streaming
            if not first.startswith("recording "):
                proc.kill()
                raise SystemExit(f"{name}: record did not start: {first}{proc.stderr.read()}")
            t0 = dev.control({"query": True})["device_s"]
            pending = [(max(t, t0 + 3.0), obj) for t, obj in faults]
            deadline = time.monotonic() + DURATION_S / SPEED + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if pending:
                    now = dev.control({"query": True})["device_s"]
                    if now >= pending[0][0]:
                        dev.control(pending.pop(0)[1])
                time.sleep(0.05)
            out, err = proc.communicate(timeout=30)
            if proc.returncode != 0 or pending:
                raise SystemExit(f"{name}: record failed (rc {proc.returncode}, faults left {pending}): {err}")
    print(f"{name}: {cap.stat().st_size:,} B capture, {rec.stat().st_size:,} B recording (from device {t0:.1f} s); "
          f"{err.strip().splitlines()[-1]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*", choices=[*CAPTURES, []], help="captures to make (default: all)")
    ap.add_argument("--out", type=Path, default=HERE, help="folder (default: tests/captures)")
    args = ap.parse_args()
    for name in args.names or list(CAPTURES):
        make(name, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
