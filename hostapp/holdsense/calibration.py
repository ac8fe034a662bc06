"""Load-cell calibration: fit raw HX711 counts to newtons, apply it, invert it, (de)serialise it.

Pure code (numpy/scipy, no I/O except the small JSON file helpers at the end), used by
`holdsense calibrate` (the wizard), `holdsense recalibrate` and anything reading a
recording's `calibration` metadata (contracts.md §1):

    force_n = Σ counts_to_n[k] · (raw_counts − tare_counts)^k      (ascending powers)

Why these choices (docs/calibration.md has the long form):

* The tare point (0 kg) *defines* `tare_counts` and `counts_to_n[0]` is fixed at 0, so an
  unloaded roller reads exactly 0 N after calibration: the firmware's automatic tare and the
  host's auto-zero both move `tare_counts` only, never the slope.
* The slope comes from a least-squares fit through the origin over the loaded points. A
  quadratic term is added only when it is *meaningful*: at least three loaded points (so the
  quadratic keeps a residual degree of freedom), it at least halves the residual sum of squares,
  and it is significant by a partial F-test at p < 0.05. Strain-gauge cells are linear to
  ~0.02–0.05 % of full scale; a quadratic that only chases reading noise would make the curve
  worse between the calibration points, so the default is linear.
* A point set is rejected, with one clear message, when it cannot give a trustworthy fit:
  fewer than the tare plus two masses, no or several 0 kg points, duplicate masses, a saturated
  ADC, an unstable reading (load moving: spread or drift above the stability tolerance), or
  readings that do not grow with the mass.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .errors import UserError

if TYPE_CHECKING:  # numpy is imported where it is used: `holdsense calibrate --help` does not pay for it
    import numpy as np

#: Standard gravity (m/s²), CGPM 1901; local g differs by up to ±0.3 %, pass `g_mps2` to correct.
STANDARD_GRAVITY_MPS2 = 9.80665
#: HX711 output codes are 24-bit two's complement; these two codes mean "saturated" (datasheet).
ADC_MAX_COUNTS = 0x7FFFFF
ADC_MIN_COUNTS = -0x800000
#: Design full scale of the reference build (hardware/README.md: 2 × 100 kg cells), for "% FS" figures.
DESIGN_FULL_SCALE_N = 200.0 * STANDARD_GRAVITY_MPS2

#: Quadratic-term acceptance rule (see module docstring).
QUAD_MIN_LOADED_POINTS = 3
QUAD_MIN_SSR_RATIO = 0.5
QUAD_MAX_P_VALUE = 0.05


class CalibrationError(UserError):
    """A point set, file or JSON object that cannot give a trustworthy calibration (exit 2)."""


@dataclass(frozen=True)
class StabilityCriteria:
    """When a reading counts as *stable* (the load is at rest), in raw counts.

    tolerance = max(noise_factor · σ_tare, rel_tolerance · |counts − tare|, min_tolerance_counts)

    A window is stable when both its standard deviation and its drift (slope of a straight-line
    fit × window length) are within the tolerance. σ_tare is the spread measured with the roller
    unloaded, so the criterion scales with the real noise of the build (≈ 35–60 counts rms at
    10–80 SPS for the reference cells, hardware/README.md); the relative part allows the small
    sway of a person standing on a board (0.2 % of the load by default).
    """

    window_s: float = 1.5
    noise_factor: float = 5.0
    rel_tolerance: float = 0.002
    min_tolerance_counts: float = 5.0
    #: A new point must differ from the previous one by this many noise tolerances at least.
    min_step_tolerances: float = 10.0
    #: ...and by this fraction of the step the known masses predict (once a slope is known).
    min_step_fraction: float = 0.5

    def min_step_counts(self, tare_std_counts: float) -> float:
        """Smallest change (counts) that counts as a new level: well above the unloaded noise."""
        return self.min_step_tolerances * max(self.noise_factor * max(tare_std_counts, 0.0),
                                              self.min_tolerance_counts)

    def tolerance_counts(self, tare_std_counts: float, delta_counts: float) -> float:
        """Allowed spread/drift (counts) for a reading `delta_counts` away from the tare."""
        return max(self.noise_factor * max(tare_std_counts, 0.0), self.rel_tolerance * abs(delta_counts),
                   self.min_tolerance_counts)


@dataclass(frozen=True)
class WindowStats:
    """Summary of a window of raw readings: mean, spread, drift over the window (all counts)."""

    mean_counts: float
    std_counts: float
    drift_counts: float
    n_samples: int
    duration_s: float


def window_stats(t_s: Sequence[float] | np.ndarray, counts: Sequence[float] | np.ndarray) -> WindowStats:
    """Mean, standard deviation and drift (straight-line slope × duration) of raw counts.

    NaN samples (missing) are ignored. Drift uses device time `t_s`, never a nominal rate.
    """
    import numpy as np

    t = np.asarray(t_s, dtype=float)
    c = np.asarray(counts, dtype=float)
    ok = np.isfinite(t) & np.isfinite(c)
    t, c = t[ok], c[ok]
    n = int(len(c))
    if n == 0:
        return WindowStats(math.nan, math.nan, math.nan, 0, 0.0)
    duration = float(t[-1] - t[0]) if n > 1 else 0.0
    std = float(np.std(c, ddof=1)) if n > 1 else 0.0
    drift = 0.0
    if n > 2 and duration > 0:
        slope = float(np.polyfit(t - t[0], c, 1)[0])
        drift = slope * duration
    return WindowStats(float(np.mean(c)), std, drift, n, duration)


@dataclass(frozen=True)
class CalPoint:
    """One calibration point: a known mass and the raw reading averaged while it rested.

    `std_counts` and `drift_counts` describe the averaging window (see `window_stats`); they let
    the fit reject a point taken while the load was moving.
    """

    mass_kg: float
    counts: float
    std_counts: float = 0.0
    drift_counts: float = 0.0
    n_samples: int = 1

    @classmethod
    def from_window(cls, mass_kg: float, t_s: Sequence[float] | np.ndarray,
                    counts: Sequence[float] | np.ndarray) -> "CalPoint":
        """A point from a window of raw readings taken while `mass_kg` rested on the roller."""
        ws = window_stats(t_s, counts)
        return cls(float(mass_kg), ws.mean_counts, ws.std_counts, ws.drift_counts, ws.n_samples)


@dataclass
class Calibration:
    """counts → newtons: force_n = Σ counts_to_n[k] · (raw_counts − tare_counts)^k (contracts.md §1).

    `residual_n` is the RMS fit residual at the calibration points (None when unknown).
    `extra` keeps every other JSON field (fit report, points, dates) through a round trip.
    """

    tare_counts: float
    counts_to_n: list[float]
    residual_n: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate_core(self.tare_counts, self.counts_to_n, self.residual_n)

    # -- counts <-> newtons -------------------------------------------------------------------
    def apply(self, raw_counts: Any) -> Any:
        """Force (N) for raw counts (scalar or array); NaN (missing) stays NaN."""
        import numpy as np

        x = np.asarray(raw_counts, dtype=float) - float(self.tare_counts)
        out = np.zeros_like(x)
        for c in reversed(self.counts_to_n):  # Horner: fewer rounding steps than summing powers
            out = out * x + c
        return float(out) if out.ndim == 0 else out

    def invert(self, force_n: Any) -> Any:
        """Raw counts that read as `force_n` (scalar or array); inverse of `apply`.

        Exact for a linear calibration; Newton's method from the linear estimate otherwise
        (a valid calibration is monotonic over its range, so this converges in a few steps).
        """
        import numpy as np

        f = np.asarray(force_n, dtype=float)
        coeffs = list(self.counts_to_n)
        slope = coeffs[1] if len(coeffs) > 1 else 0.0
        if slope == 0.0:
            raise CalibrationError("calibration has no linear term: cannot invert")
        x = (f - coeffs[0]) / slope
        if any(c != 0.0 for c in coeffs[2:]):
            deriv = [k * c for k, c in enumerate(coeffs)][1:]
            for _ in range(50):
                val = np.zeros_like(x)
                for c in reversed(coeffs):
                    val = val * x + c
                d = np.zeros_like(x)
                for c in reversed(deriv):
                    d = d * x + c
                step = (val - f) / d
                x = x - step
                if np.all(~np.isfinite(step) | (np.abs(step) < 1e-9 * (1.0 + np.abs(x)))):
                    break
        out = x + float(self.tare_counts)
        return float(out) if out.ndim == 0 else out

    @property
    def newtons_per_count(self) -> float:
        """Small-signal slope at the tare point (N per count)."""
        return float(self.counts_to_n[1]) if len(self.counts_to_n) > 1 else 0.0

    def with_tare(self, tare_counts: float) -> "Calibration":
        """The same curve moved to a new zero (what an automatic or manual tare does)."""
        return Calibration(float(tare_counts), list(self.counts_to_n), self.residual_n, dict(self.extra))

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The JSON object stored in recordings' metadata and sent to the device."""
        d: dict[str, Any] = {"tare_counts": _num(self.tare_counts),
                             "counts_to_n": [_num(c) for c in self.counts_to_n],
                             "residual_n": None if self.residual_n is None else _num(self.residual_n)}
        for k, v in self.extra.items():
            if k not in d:
                d[k] = v
        return d

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, separators=None if indent else (", ", ": "))

    @classmethod
    def from_dict(cls, obj: Any, source: str = "calibration") -> "Calibration":
        """Validate and build from a JSON object; CalibrationError names what is wrong."""
        if not isinstance(obj, dict):
            raise CalibrationError(f"{source}: expected a JSON object with tare_counts and counts_to_n")
        for key in ("tare_counts", "counts_to_n"):
            if key not in obj:
                raise CalibrationError(f"{source}: missing '{key}'")
        tare = obj["tare_counts"]
        coeffs = obj["counts_to_n"]
        resid = obj.get("residual_n")
        if not _is_number(tare):
            raise CalibrationError(f"{source}: tare_counts must be a finite number, got {tare!r}")
        if not isinstance(coeffs, list) or not coeffs or not all(_is_number(c) for c in coeffs):
            raise CalibrationError(f"{source}: counts_to_n must be a list of finite numbers, got {coeffs!r}")
        if resid is not None and not (_is_number(resid) and resid >= 0):
            raise CalibrationError(f"{source}: residual_n must be a non-negative number or null, got {resid!r}")
        extra = {k: v for k, v in obj.items() if k not in ("tare_counts", "counts_to_n", "residual_n")}
        try:
            return cls(float(tare), [float(c) for c in coeffs], None if resid is None else float(resid), extra)
        except CalibrationError as exc:
            raise CalibrationError(f"{source}: {exc}") from None

    @classmethod
    def from_json(cls, text: str, source: str = "calibration") -> "Calibration":
        try:
            obj = json.loads(text)
        except ValueError as exc:
            raise CalibrationError(f"{source}: not valid JSON ({exc})") from None
        return cls.from_dict(obj, source)


def _validate_core(tare: float, coeffs: Sequence[float], resid: float | None) -> None:
    if not _is_number(tare):
        raise CalibrationError(f"tare_counts must be a finite number, got {tare!r}")
    if len(coeffs) < 2 or len(coeffs) > 6:
        raise CalibrationError(f"counts_to_n needs 2 to 6 coefficients (ascending powers), got {len(coeffs)}")
    if not all(_is_number(c) for c in coeffs):
        raise CalibrationError("counts_to_n must contain finite numbers only")
    if coeffs[1] == 0.0:
        raise CalibrationError("counts_to_n[1] (newtons per count) must not be 0")
    if resid is not None and not (_is_number(resid) and resid >= 0):
        raise CalibrationError(f"residual_n must be a non-negative number, got {resid!r}")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num(v: float) -> float | int:
    """Whole numbers as int (84210 rather than 84210.0), everything else as float."""
    fv = float(v)
    return int(fv) if fv.is_integer() and abs(fv) < 2**53 else fv


# --------------------------------------------------------------------------------------------
# Fitting
# --------------------------------------------------------------------------------------------

@dataclass
class PointReport:
    mass_kg: float
    force_n: float
    counts: float
    std_counts: float
    n_samples: int
    fitted_n: float
    residual_n: float


@dataclass
class FitResult:
    """A fitted calibration with the report the wizard prints and stores."""

    calibration: Calibration
    model: str                  # "linear" or "quadratic"
    reason: str                 # why this model (the quadratic rule, in words)
    residual_rms_n: float
    residual_max_n: float
    dof: int                    # residual degrees of freedom
    nonlinearity_pct: float     # max deviation of the points from the zero→top straight line, % of top load
    top_force_n: float
    linear_rms_n: float
    quadratic_rms_n: float | None
    points: list[PointReport]

    def residual_pct_fs(self, full_scale_n: float = DESIGN_FULL_SCALE_N) -> float:
        return 100.0 * self.residual_max_n / full_scale_n

    def summary_lines(self, full_scale_n: float = DESIGN_FULL_SCALE_N) -> list[str]:
        """Human-readable report, one line per fact."""
        c = self.calibration
        lines = [
            f"model: {self.model} ({self.reason})",
            f"tare_counts: {c.tare_counts:.1f}   counts_to_n: [{', '.join(f'{v:.6g}' for v in c.counts_to_n)}]",
            f"scale: {1.0 / c.newtons_per_count:.2f} counts/N",
            f"residual: rms {self.residual_rms_n:.3f} N, max {self.residual_max_n:.3f} N "
            f"({self.residual_pct_fs(full_scale_n):.3f} % of {full_scale_n:.0f} N full scale; {self.dof} dof)",
            f"non-linearity: {self.nonlinearity_pct:.3f} % of the top load ({self.top_force_n:.1f} N)",
        ]
        for p in self.points:
            lines.append(f"  {p.mass_kg:8.3f} kg  {p.force_n:9.2f} N  counts {p.counts:12.1f} "
                         f"(sd {p.std_counts:6.1f}, n={p.n_samples})  fit {p.fitted_n:9.2f} N  "
                         f"residual {p.residual_n:+.3f} N")
        return lines


def fit_calibration(points: Iterable[CalPoint], *, g_mps2: float = STANDARD_GRAVITY_MPS2,
                    max_degree: int = 2, criteria: StabilityCriteria = StabilityCriteria()) -> FitResult:
    """Least-squares fit of counts → newtons over a tare point and ≥ 2 known masses.

    points: one 0 kg point (the tare) and at least two loaded points, any order.
    g_mps2: local gravity to turn kg into N (standard gravity by default).
    max_degree: 1 forces linear; 2 allows the quadratic under the rule in the module docstring.
    Raises CalibrationError for every point set it cannot trust (see module docstring).
    """
    import numpy as np

    pts = list(points)
    if not (_is_number(g_mps2) and 9.7 < g_mps2 < 9.9):
        raise CalibrationError(f"local gravity {g_mps2!r} m/s² is not plausible on Earth (9.78–9.84)")
    if len(pts) < 3:
        raise CalibrationError(f"need the unloaded (0 kg) point and at least two known masses; got {len(pts)} point{'' if len(pts) == 1 else 's'}")
    for i, p in enumerate(pts, 1):
        if not (_is_number(p.mass_kg) and _is_number(p.counts)):
            raise CalibrationError(f"point {i}: mass and counts must be finite numbers")
        if p.mass_kg < 0:
            raise CalibrationError(f"point {i}: negative mass {p.mass_kg:g} kg")
        if p.counts >= ADC_MAX_COUNTS or p.counts <= ADC_MIN_COUNTS:
            raise CalibrationError(f"point {i} ({p.mass_kg:g} kg): the ADC was saturated; lighten the load "
                                   "or check the load-cell wiring")
    by_mass: dict[float, int] = {}
    for i, p in enumerate(pts, 1):
        key = round(p.mass_kg, 6)
        if key in by_mass:
            raise CalibrationError(f"duplicate mass {p.mass_kg:g} kg (points {by_mass[key]} and {i}): "
                                   "each point needs a different known mass")
        by_mass[key] = i
    zeros = [p for p in pts if p.mass_kg == 0]
    if not zeros:
        raise CalibrationError("no 0 kg point: take the first reading with the roller unloaded (tare)")
    tare = zeros[0]
    loaded = sorted((p for p in pts if p.mass_kg > 0), key=lambda p: p.mass_kg)
    if len(loaded) < 2:
        raise CalibrationError(f"need at least two known masses besides the tare; got {len(loaded)}")

    # Stability: the same rule the wizard applies while waiting, so a hand-made point set and a
    # wizard-made one are judged alike.
    for p in [tare] + loaded:
        tol = criteria.tolerance_counts(tare.std_counts, p.counts - tare.counts)
        if p is not tare and (p.std_counts > tol or abs(p.drift_counts) > tol):
            raise CalibrationError(
                f"unstable reading at {p.mass_kg:g} kg (spread {p.std_counts:.0f}, drift {p.drift_counts:+.0f} counts; "
                f"allowed {tol:.0f}): the load was moving, take the point again")
        # The tare has no reference noise of its own; a ramp shows as drift ≈ 3.5 × spread, white
        # noise as drift ≈ √(12/n) × spread, so drift > 2.5 × spread means the load was moving.
        if p is tare and abs(p.drift_counts) > max(2.5 * p.std_counts, criteria.min_tolerance_counts):
            raise CalibrationError(f"unstable tare (drift {p.drift_counts:+.0f} counts over the window): "
                                   "leave the roller unloaded and still, then take it again")

    # Readings must move away from the tare, in one direction, by a clear step each time.
    x = np.array([p.counts - tare.counts for p in loaded])
    sign = 1.0 if x[0] > 0 else -1.0
    prev_x, prev_m = 0.0, 0.0
    for p, xi in zip(loaded, x):
        if sign * xi - sign * prev_x < criteria.min_step_counts(tare.std_counts):
            raise CalibrationError(
                f"the reading at {p.mass_kg:g} kg is not clearly above the one at {prev_m:g} kg "
                f"({xi:+.0f} vs {prev_x:+.0f} counts from tare): was the mass resting on the roller?")
        prev_x, prev_m = xi, p.mass_kg

    y = np.array([p.mass_kg * g_mps2 for p in loaded])
    scale_x = float(np.max(np.abs(x)))  # conditioning: fit on x / scale_x, then rescale
    u = x / scale_x

    def solve(deg: int) -> tuple[np.ndarray, float]:
        a = np.column_stack([u ** k for k in range(1, deg + 1)])
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        ssr = float(np.sum((a @ coef - y) ** 2))
        return np.concatenate([[0.0], coef / scale_x ** np.arange(1, deg + 1)]), ssr

    lin, ssr_l = solve(1)
    coeffs, model, ssr = lin, "linear", ssr_l
    quad_rms = None
    n = len(loaded)
    reason = "default"
    if max_degree >= 2 and n >= QUAD_MIN_LOADED_POINTS:
        quad, ssr_q = solve(2)
        quad_rms = math.sqrt(ssr_q / n)
        dof_q = n - 2
        if ssr_q <= 0.0:
            p_value = 0.0 if ssr_l > 0 else 1.0
        else:
            f_stat = (ssr_l - ssr_q) / (ssr_q / dof_q)
            from scipy.special import fdtrc  # F-distribution survival function; imported here to keep CLI start fast
            p_value = float(fdtrc(1, dof_q, f_stat))
        # Monotonic over the range used (and half again): a curve that turns back is unusable.
        xs = np.linspace(0, 1.5 * float(np.max(np.abs(x))), 64) * sign
        deriv = quad[1] + 2 * quad[2] * xs
        monotonic = bool(np.all(np.sign(deriv) == np.sign(quad[1])))
        if ssr_q <= QUAD_MIN_SSR_RATIO * ssr_l and p_value < QUAD_MAX_P_VALUE and monotonic:
            coeffs, model, ssr = quad, "quadratic", ssr_q
            reason = f"quadratic term significant: residual SS {ssr_l:.3g}→{ssr_q:.3g} N², p={p_value:.2g}"
        else:
            reason = (f"quadratic term not meaningful (residual SS {ssr_l:.3g}→{ssr_q:.3g} N², p={p_value:.2g}"
                      + ("" if monotonic else ", not monotonic") + ")")
    elif max_degree >= 2:
        reason = f"quadratic needs ≥ {QUAD_MIN_LOADED_POINTS} known masses"
    else:
        reason = "linear requested"

    cal = Calibration(tare.counts, [float(c) for c in coeffs])
    fitted = np.asarray(cal.apply(np.array([p.counts for p in loaded])))
    resid = fitted - y
    rms = math.sqrt(float(np.mean(resid ** 2)))
    top = float(y[-1])
    terminal = top * x / x[-1]
    nonlin = 100.0 * float(np.max(np.abs(y - terminal))) / top
    reports = [PointReport(0.0, 0.0, tare.counts, tare.std_counts, tare.n_samples, 0.0, 0.0)]
    reports += [PointReport(p.mass_kg, float(yi), p.counts, p.std_counts, p.n_samples, float(fi), float(ri))
                for p, yi, fi, ri in zip(loaded, y, fitted, resid)]
    cal.residual_n = rms
    cal.extra = {
        "model": model,
        "max_residual_n": float(np.max(np.abs(resid))),
        "nonlinearity_pct": nonlin,
        "g_mps2": g_mps2,
        "points": [{"mass_kg": r.mass_kg, "counts": r.counts, "std_counts": r.std_counts,
                    "n_samples": r.n_samples, "residual_n": r.residual_n} for r in reports],
        "fitted_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    return FitResult(cal, model, reason, rms, float(np.max(np.abs(resid))), n - (len(coeffs) - 1), nonlin,
                     top, math.sqrt(ssr_l / n), quad_rms, reports)


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------

def load_calibration(path: str | os.PathLike[str]) -> Calibration:
    """Read a calibration JSON file (as written by `save_calibration` or by hand)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"{p}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"{p}: cannot read ({exc})") from None
    return Calibration.from_json(text, str(p))


def save_calibration(path: str | os.PathLike[str], cal: Calibration) -> None:
    """Write a calibration as indented JSON (atomic: temp file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(cal.to_json(indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, p)


__all__ = [
    "ADC_MAX_COUNTS", "ADC_MIN_COUNTS", "CalPoint", "Calibration", "CalibrationError", "DESIGN_FULL_SCALE_N",
    "FitResult", "STANDARD_GRAVITY_MPS2", "StabilityCriteria", "WindowStats", "fit_calibration",
    "load_calibration", "save_calibration", "window_stats",
]
