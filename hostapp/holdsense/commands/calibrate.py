"""`holdsense calibrate --port P`: the calibration wizard (fitted on the host, stored on the roller).

    holdsense calibrate --port P                              # interactive, on a terminal
    holdsense calibrate --port P --points 0,5,20 --yes        # no prompts (values in kg)

Steps: tare with the roller unloaded; for each further known mass, wait for the reading to
settle at a new stable level clearly above the previous point (a point is never taken while
the load moves), take it; fit counts→N by least squares (`holdsense.calibration`: linear, or
quadratic when that is meaningful); report residual and non-linearity; save the coefficients on
the roller (SET_CAL) and, with `--save`, to a JSON file for `holdsense recalibrate`.

Why it waits instead of taking a reading on Enter: a mass set down on foam rocks and settles for
a second or two, and a person stepping onto a board sways; averaging that in would bias the
slope. The stability rule is the one the fit itself checks (`StabilityCriteria`), so a point the
wizard takes is a point the fit accepts.

It never waits on a stdin that is not a terminal: without `--yes` on a non-TTY it stops at once
with one clear line (exit 2), as CI and scripts need.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..calibration import (STANDARD_GRAVITY_MPS2, CalibrationError, CalPoint, FitResult, StabilityCriteria,
                           fit_calibration, save_calibration, window_stats)
from ..errors import UserError
from ._options import add_connection_options, number, open_device, output_path, seconds

DEFAULT_POINT_TIMEOUT_S = 120.0
FLAG_SAT = 1
#: This many saturated samples in a row mean the load is beyond the range (a single one is a glitch).
SATURATED_RUN = 20

if TYPE_CHECKING:
    import numpy as np  # imported where used: `holdsense calibrate --help` does not pay for it


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", conflict_handler="resolve",
        help="calibrate the load cells with known masses (wizard); saves the fit on the roller",
        description="Calibrate counts→newtons: tare unloaded, then known masses (e.g. 5 kg, 20 kg, a person "
                    "of known weight on a board over the roller). Each point is taken once the reading "
                    "is stable at a new level. The fit is saved on the roller and travels in every "
                    "recording's metadata. See docs/calibration.md.")
    add_connection_options(p)
    # --timeout is the per-point wait here (issue 6); the handshake keeps its default.
    p.add_argument("--timeout", type=seconds(0.0, 3600.0, what="a wait per point in seconds"),
                   default=DEFAULT_POINT_TIMEOUT_S, metavar="S", dest="point_timeout_s",
                   help=f"seconds to wait for each stable point (default {DEFAULT_POINT_TIMEOUT_S:g})")
    p.set_defaults(connect_timeout_s=3.0)
    p.add_argument("--points", metavar="KG,KG,...",
                   help="the masses in kg, starting with 0 (the tare), e.g. 0,5,20 or 0,5,20,75")
    p.add_argument("--yes", "-y", action="store_true",
                   help="no prompts: wait for each mass of --points in turn and save the result")
    p.add_argument("--save", type=output_path, metavar="CAL.json", help="also write the calibration (with its report) to this file")
    p.add_argument("--no-store", action="store_true", help="fit and report only; leave the roller's calibration")
    p.add_argument("--linear", action="store_true", help="force a linear fit (no quadratic term)")
    p.add_argument("--gravity", type=number(9.7, 9.9, unit="m/s²", what="local gravity on Earth", lo_open=True,
                                            hi_open=True), default=STANDARD_GRAVITY_MPS2, metavar="G", dest="g_mps2",
                   help=f"local gravity in m/s² (default {STANDARD_GRAVITY_MPS2})")
    p.add_argument("--window", type=number(0.3, 30.0, unit="s", what="an averaging window"), default=StabilityCriteria.window_s, metavar="S", dest="window_s",
                   help=f"averaging window that must be stable (default {StabilityCriteria.window_s:g} s)")
    p.set_defaults(func=run)


def parse_points(text: str) -> list[float]:
    """`0,5,20` → [0.0, 5.0, 20.0]; must start at 0, increase strictly, and hold ≥ 2 masses."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UserError(f"--points {text!r}: give masses in kg separated by commas, e.g. 0,5,20") from None
    if not values or values[0] != 0:
        raise UserError(f"--points {text!r}: the first point must be 0 (the unloaded roller: tare)")
    if len(values) < 3:
        raise UserError(f"--points {text!r}: need the tare and at least two known masses, e.g. 0,5,20")
    if any(not math.isfinite(v) for v in values) or any(b <= a for a, b in zip(values, values[1:])):
        raise UserError(f"--points {text!r}: masses must be different and increasing")
    if values[-1] > 400:
        raise UserError(f"--points {text!r}: {values[-1]:g} kg is above what the roller is built for (200 kg cells)")
    return values


class PointWaiter:
    """Collects raw counts from the device and waits for a stable window at a new level.

    Pure logic around a `recv` callable (the device's), so tests and the wizard share it.
    """

    def __init__(self, recv: Callable[[float], list[Any] | None], criteria: StabilityCriteria,
                 say: Callable[[str], None] = print, clock: Callable[[], float] = time.monotonic) -> None:
        self.recv = recv
        self.criteria = criteria
        self.say = say
        self.clock = clock
        self.t: deque[float] = deque()
        self.c: deque[float] = deque()
        self.saturated = False
        self._sat_run = 0  # consecutive saturated samples: a lone glitch is skipped, a run means overload

    def _pump(self, timeout_s: float) -> None:
        from ..messages import Gap, Samples

        msgs = self.recv(timeout_s) or []
        for m in msgs:
            if isinstance(m, Gap):  # lost samples: the window must not straddle them
                self.t.clear()
                self.c.clear()
            elif isinstance(m, Samples):
                ch = m.chunk
                raw = ch.raw_counts
                if raw is None:
                    raise UserError("the roller sends no raw counts: cannot calibrate")
                for t, c, f in zip(ch.t_s, raw, ch.flags):
                    if f & FLAG_SAT:
                        self._sat_run += 1
                        self.saturated = self._sat_run >= SATURATED_RUN
                        self.t.clear()  # never average across a saturated code
                        self.c.clear()
                        continue
                    self._sat_run = 0
                    if math.isfinite(c):
                        self.t.append(float(t))
                        self.c.append(float(c))
        if self.t:
            while self.t and self.t[-1] - self.t[0] > self.criteria.window_s:
                self.t.popleft()
                self.c.popleft()

    def wait(self, accept: Callable[[float], str | None], tolerance: Callable[[float], float],
             timeout_s: float, label: str) -> tuple[np.ndarray, np.ndarray]:
        """Wait until the last `window_s` of readings are stable and `accept(mean)` returns None.

        tolerance(mean) gives the allowed spread/drift (counts); accept(mean) returns None to take
        the window or a short reason to keep waiting. Returns the window (t_s, counts).
        Raises UserError after `timeout_s` with what was seen last.
        """
        import numpy as np

        # Start afresh: samples from before the request (the previous load) must not count.
        self.t.clear()
        self.c.clear()
        self.saturated = False
        deadline = self.clock() + timeout_s
        last_report = self.clock()
        reason = "no readings yet"
        while True:
            now = self.clock()
            if now >= deadline:
                raise UserError(f"{label}: no stable reading within {timeout_s:g} s ({reason}); "
                                "check the load and try again with a longer --timeout")
            self._pump(min(0.1, deadline - now))
            if self.saturated:
                raise UserError(f"{label}: the ADC saturated: the load is beyond the cells' range")
            n = len(self.c)
            span = (self.t[-1] - self.t[0]) if n else 0.0
            if n >= 5 and span >= 0.95 * self.criteria.window_s:
                ws = window_stats(np.array(self.t), np.array(self.c))
                tol = tolerance(ws.mean_counts)
                if ws.std_counts > tol or abs(ws.drift_counts) > tol:
                    reason = (f"load moving: spread {ws.std_counts:.0f}, drift {ws.drift_counts:+.0f} counts, "
                              f"allowed {tol:.0f}")
                else:
                    why = accept(ws.mean_counts)
                    if why is None:
                        return np.array(self.t), np.array(self.c)
                    reason = why
            elif n:
                reason = "collecting readings"
            if self.clock() - last_report >= 3.0:
                self.say(f"  … waiting ({reason})")
                last_report = self.clock()


def _ask(prompt: str) -> str:
    try:
        return input(prompt)
    except EOFError:
        raise UserError("input ended: calibration cancelled") from None


def run(args: argparse.Namespace) -> int:
    interactive = not args.yes
    if interactive and not sys.stdin.isatty():
        raise UserError("calibrate asks questions but stdin is not a terminal: run it in a terminal, "
                        "or give --points 0,M1,M2,... --yes")
    if args.yes and not args.points:
        raise UserError("--yes needs --points (e.g. --points 0,5,20): the wizard cannot ask for the masses")
    masses = parse_points(args.points) if args.points else None
    save_path = Path(args.save) if args.save else None  # (numbers and the --save folder: checked when parsed)

    criteria = StabilityCriteria(window_s=args.window_s)
    out = sys.stdout

    def say(msg: str) -> None:
        print(msg, file=out, flush=True)

    dev = open_device(args)
    try:
        result = _wizard(dev, masses, args, criteria, interactive, say)
        cal = result.calibration
        for line in result.summary_lines():
            say(line)
        if save_path is not None:
            save_calibration(save_path, cal)
            say(f"calibration written to {save_path}")
        store = not args.no_store
        if store and interactive:
            store = _ask("Save this calibration on the roller? [Y/n] ").strip().lower() in ("", "y", "yes")
        if store:
            stored = dev.set_calibration(_device_dict(cal))
            got = list(getattr(stored, "counts_to_n", []))
            want = _device_dict(cal)["counts_to_n"]
            if len(got) != len(want) or any(abs(a - b) > 1e-6 * max(abs(b), 1e-30) for a, b in zip(got, want)):
                raise UserError(f"the roller stored {got}, not the fitted {want}: calibration not saved correctly")
            say(f"saved on the roller {dev.info.device_line() if dev.info else ''}".rstrip())
        else:
            say("not saved on the roller")
    finally:
        try:
            dev.stop_streaming()
        except UserError:
            pass
        dev.close()
    return 0


def _device_dict(cal) -> dict[str, Any]:
    """What SET_CAL carries: integer tare, ≤ 4 float32 coefficients, residual."""
    return {"tare_counts": int(round(cal.tare_counts)), "counts_to_n": [float(c) for c in cal.counts_to_n],
            "residual_n": cal.residual_n, "fitted": True}


def _wizard(dev, masses: list[float] | None, args: argparse.Namespace, criteria: StabilityCriteria,
            interactive: bool, say: Callable[[str], None]) -> FitResult:
    g = args.g_mps2
    waiter = PointWaiter(dev.recv, criteria, say)
    dev.start()
    nominal = dev.calibration
    nominal_n_per_count = None
    if nominal is not None and len(getattr(nominal, "counts_to_n", [])) > 1 and nominal.counts_to_n[1]:
        nominal_n_per_count = float(nominal.counts_to_n[1])

    # 1. Tare. No reference noise yet: a stable window is one whose drift is small next to its
    # spread (a ramp means someone is still touching it) and, when the roller has any
    # calibration, whose spread is below a few newtons.
    if interactive:
        _ask("Step 1: take everything off the roller and don't touch it. Press Enter when ready. ")
    else:
        say("step 1: tare: waiting for the unloaded roller to be still")
    abs_limit = 2.0 / abs(nominal_n_per_count) if nominal_n_per_count else math.inf

    def tare_tol(_mean: float) -> float:
        return abs_limit

    tare_t, tare_c = waiter.wait(lambda m: None, tare_tol, args.point_timeout_s, "tare")
    tare_pt = CalPoint.from_window(0.0, tare_t, tare_c)
    if abs(tare_pt.drift_counts) > max(2.5 * tare_pt.std_counts, criteria.min_tolerance_counts):
        # Rare: re-take once rather than fail (the first window may catch a hand leaving the roller).
        tare_t, tare_c = waiter.wait(lambda m: None, tare_tol, args.point_timeout_s, "tare")
        tare_pt = CalPoint.from_window(0.0, tare_t, tare_c)
    sigma0 = tare_pt.std_counts
    say(f"  tare: {tare_pt.counts:.1f} counts (spread {sigma0:.1f} counts over {tare_pt.n_samples} readings)")
    points = [tare_pt]

    # 2. Known masses.
    k = 1
    while True:
        if masses is not None:
            if k >= len(masses):
                break
            mass = masses[k]
            if interactive:
                _ask(f"Step {k + 1}: put {mass:g} kg on the roller and let go. Press Enter. ")
        else:
            ans = _ask(f"Step {k + 1}: mass in kg now on the roller (put it on first; empty = done): ").strip()
            if not ans:
                if len(points) < 3:
                    say("  need at least two known masses")
                    continue
                break
            try:
                mass = float(ans)
            except ValueError:
                say(f"  {ans!r} is not a number of kilograms")
                continue
            if not (mass > points[-1].mass_kg and math.isfinite(mass)):
                say(f"  masses must increase: the last one was {points[-1].mass_kg:g} kg")
                continue
        if not interactive:
            say(f"step {k + 1}: waiting for {mass:g} kg (up to {args.point_timeout_s:g} s)")
        prev = points[-1]
        # Expected counts step from the slope known so far (the points taken, else the nominal).
        if len(points) >= 2:
            slope = (points[-1].counts - tare_pt.counts) / (points[-1].mass_kg * g)
        elif nominal_n_per_count:
            slope = 1.0 / nominal_n_per_count
        else:
            slope = None
        min_step = criteria.min_step_counts(sigma0)

        def accept(mean: float, prev=prev, mass=mass, slope=slope, min_step=min_step) -> str | None:
            step = mean - prev.counts
            direction = 1.0 if slope is None or slope > 0 else -1.0
            if len(points) >= 2:  # direction is known from the first mass
                direction = 1.0 if (points[1].counts - tare_pt.counts) > 0 else -1.0
            need = min_step
            if slope is not None and len(points) >= 2:
                need = max(need, criteria.min_step_fraction * abs((mass - prev.mass_kg) * g * slope))
            if slope is None or len(points) < 2:
                if abs(step) < need:
                    return f"reading {step:+.0f} counts from the previous point, not yet a new level"
                return None
            if direction * step < need:
                return f"reading {step:+.0f} counts from the previous point, expected about " \
                       f"{(mass - prev.mass_kg) * g * slope:+.0f}"
            return None

        def tol(mean: float) -> float:
            return criteria.tolerance_counts(sigma0, mean - tare_pt.counts)

        t, c = waiter.wait(accept, tol, args.point_timeout_s, f"{mass:g} kg")
        pt = CalPoint.from_window(mass, t, c)
        implied = ""
        if len(points) >= 2:
            implied = f" (≈ {(pt.counts - tare_pt.counts) / slope / g:.2f} kg by the slope so far)"
        say(f"  {mass:g} kg: {pt.counts:.1f} counts, spread {pt.std_counts:.1f}{implied}")
        points.append(pt)
        k += 1

    try:
        return fit_calibration(points, g_mps2=g, max_degree=1 if args.linear else 2, criteria=criteria)
    except CalibrationError as exc:
        raise UserError(f"calibration rejected: {exc}") from None
