"""`holdsense tare --port P [--force]`: zero the roller's load cells (nothing on it), stored on the roller.

Before zeroing, the roller streams for about half a second and the load on it is
measured with its current calibration: a roller carrying more than
`MAX_TARE_LOAD_N` (a leg, a hand, a bag left on it) is refused with the load in
the message, because a zero taken under load makes every later force too low by
that load. `--force` zeroes it anyway. A tare that takes 2 s or more (`--samples N` at 10 SPS: up to
3 min 20 s) says how long on stderr first: the roller is silent until its readings are in.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from typing import Any

from ..errors import UserError
from ._options import add_connection_options, integer, open_device

#: Largest load (N) accepted as "nothing on it": about 2 kg. Zero drift with temperature is tens of counts
#: per degC (a fraction of a newton); a limb resting on the roller is 50 N or more (domain.md).
MAX_TARE_LOAD_N = 20.0
#: Most readings one TARE may average (the firmware's limit, protocol.md §5: more is ERROR 2).
MAX_TARE_SAMPLES = 2000
#: How long the roller streams to measure its load, and how long to wait for the samples at most.
MEASURE_S = 0.5
MEASURE_TIMEOUT_S = 3.0
G_N_PER_KG = 9.80665
#: A TARE expected to take at least this long (s) says so on stderr first: the roller answers only when its
#: readings are in, and 2000 readings at 10 SPS take over 3 minutes of silence otherwise.
SAY_DURATION_FROM_S = 2.0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("tare", help="zero the roller's load cells (take everything off it first)",
                       description="Zero the load cells: the roller averages its readings with nothing on it "
                                   "and stores the zero in flash. The zero drifts with temperature (tens of "
                                   "counts per °C), so tare whenever the roller has warmed up or moved rooms. "
                                   f"A roller that carries more than {MAX_TARE_LOAD_N:g} N is refused "
                                   "(use --force to zero it anyway).")
    add_connection_options(p)
    p.add_argument("--samples", type=integer(0, MAX_TARE_SAMPLES, what="a number of readings"),
                   default=0, metavar="N",
                   help="readings to average (default: the roller's own, 40 ≈ 0.5 s at 80 Hz)")
    p.add_argument("--force", action="store_true",
                   help=f"zero the roller even when it carries load (more than {MAX_TARE_LOAD_N:g} N) or the "
                        "load cannot be measured")
    p.set_defaults(func=run)


def measure_load_n(dev: Any, duration_s: float = MEASURE_S, timeout_s: float = MEASURE_TIMEOUT_S) -> float | None:
    """Median force (N) over `duration_s` of streamed samples (device clock), with the roller's current
    calibration; None when no calibrated sample arrived within `timeout_s` (host clock)."""
    import numpy as np  # here, not at the top: every command module is imported for `holdsense --help`

    from ..messages import Samples

    forces: list[Any] = []
    t_first = t_last = None
    dev.start()
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for m in dev.recv(0.1) or []:
                if isinstance(m, Samples) and len(m.chunk):
                    forces.append(np.asarray(m.chunk.force_n, dtype=float))
                    t_first = float(m.chunk.t_s[0]) if t_first is None else t_first
                    t_last = float(m.chunk.t_s[-1])
            if t_first is not None and t_last - t_first >= duration_s:
                break
    finally:
        dev.stop_streaming()
    if not forces:
        return None
    f = np.concatenate(forces)
    f = f[np.isfinite(f)]
    return float(np.median(f)) if len(f) else None


def duration_line(n_samples: int, rate_hz: int | None) -> str | None:
    """The stderr line saying how long a TARE of `n_samples` readings (0: the roller's default) takes at the
    nominal rate `rate_hz` (SPS; None: unknown, taken as 10, the slower), or None under SAY_DURATION_FROM_S.

    Why: the roller sends nothing while it averages (protocol.md §5), so a long tare looked hung."""
    from ..fmt import plural
    from ..link.device import TARE_DEFAULT_SAMPLES

    n = n_samples or TARE_DEFAULT_SAMPLES
    expected_s = n / (rate_hz or 10)
    if expected_s < SAY_DURATION_FROM_S:
        return None
    m, sec = divmod(int(round(expected_s)), 60)
    took = f"{m} min {sec} s" if m else f"{sec} s"
    at = f"{rate_hz} SPS" if rate_hz else "10 SPS or more (rate unknown)"
    return (f"holdsense: averaging {plural(n, 'reading')} at {at}: about {took}; keep the roller unloaded "
            "until it answers")


def run(args: argparse.Namespace) -> int:
    dev = open_device(args)
    try:
        load_n = measure_load_n(dev)
        if load_n is None:
            if not args.force:
                raise UserError(f"{dev.name}: could not measure the load on the roller (no calibrated samples "
                                f"within {MEASURE_TIMEOUT_S:g} s), so it was not zeroed; use --force to zero it "
                                "without checking")
            print("holdsense: load not measured (no calibrated samples); zeroing anyway (--force)", file=sys.stderr)
        elif abs(load_n) > MAX_TARE_LOAD_N:
            carries = f"{load_n:.0f} N ({load_n / G_N_PER_KG:.1f} kg)"
            if not args.force:
                raise UserError(f"{dev.name}: the roller carries {carries}, more than the {MAX_TARE_LOAD_N:g} N "
                                "allowed for a zero; take everything off it and tare again (or use --force to "
                                "zero it with this load on it)")
            print(f"holdsense: zeroing with {carries} on the roller (--force): later forces will read "
                  f"{abs(load_n):.0f} N {'low' if load_n > 0 else 'high'}", file=sys.stderr)
        old = dev.calibration.tare_counts if dev.calibration is not None else None
        line = duration_line(args.samples, dev.info.rate_hz if dev.info is not None else None)
        if line:
            print(line, file=sys.stderr, flush=True)  # stderr: stdout's one result line stays as it was
        res = dev.tare(n_samples=args.samples)
    finally:
        dev.close()
    change = f" (was {old})" if old is not None else ""
    measured = "" if load_n is None or not math.isfinite(load_n) else f"; load before zeroing {load_n:.1f} N"
    print(f"tared {dev.info.device_line()}: zero = {res['tare_counts']} counts{change}, "
          f"averaged over {res['n_samples']} readings; stored on the roller{measured}")
    return 0
