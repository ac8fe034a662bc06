"""The person on the roller: true vertical force and roller travel as continuous functions of time.

Every phase of a resolved scenario becomes an object with closed-form
`level(t)` (force as a fraction of body weight) and `x_cm(t)` (roller travel
along the body, i.e. shell surface rolled, from the session start). Nothing is
sampled on a grid, so `Body.force_n(t)` can be evaluated at any times, in any
order, for sessions of any length, in memory proportional to the number of
strokes / breaths / knee bends rather than to the duration. That is what lets
the virtual device drive its shimmed HX711 and AS5600 in real time from the
same physics that `simulate()` samples offline.

Physics (figures from docs/scenarios.md, taken from domain.md):

* roll: strokes of 7.5-17.5 cm each way with a cycloidal position profile
  (zero speed and smooth acceleration at each reversal, optional short dwell);
  force 25-40 % BW, modulated by the lever (the share of weight on the roller
  changes as the roller moves along the limb), a bump at each reversal that
  grows with stroke speed (decelerating and pushing back), breathing, slow
  postural wobble and the ribbed shell passing under the tissue.
* hold: loaded and still; light (10-25 % BW) or heavier; settling from the
  previous load, breathing (0.18-0.33 Hz, a few %), slow sinking / creep,
  posture shifts (smoothed steps up to ~10 % with a brief unloading), knee bends
  (0.1-1 Hz load shifts, in bouts) and millimetre sway of the roller.
* reposition: 1-4 s of irregular loaded stop-go motion to a new spot.
* off: nobody on the roller (0 N); stepping on and off are smooth ramps inside
  the loaded phase next to the off phase, so the label boundary is first / last contact.
"""
from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np

from .spec import Scenario, load_scenario

G_M_S2 = 9.80665
MIN_HOLD_S = 5.0  # contracts.md §3: a hold is a still, loaded stretch of at least 5 s
_TWO_PI = 2.0 * math.pi


def _smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3.0 - 2.0 * u)


def _cycloid(u: np.ndarray) -> np.ndarray:
    """Cycloidal motion profile 0->1: zero velocity and zero acceleration jump at both ends."""
    u = np.clip(u, 0.0, 1.0)
    return u - np.sin(_TWO_PI * u) / _TWO_PI


class _RandomSines:
    """A smooth random signal of unit RMS: a few sinusoids with random frequency and phase."""

    def __init__(self, rng: np.random.Generator, n: int, f_lo_hz: float, f_hi_hz: float) -> None:
        self.f_hz = rng.uniform(f_lo_hz, f_hi_hz, n)
        self.phase = rng.uniform(0.0, _TWO_PI, n)
        a = rng.uniform(0.5, 1.0, n)
        self.amp = a / math.sqrt(float(np.sum(a * a)) / 2.0)

    def __call__(self, t_s: np.ndarray) -> np.ndarray:
        # one vectorised call per block (fast for the virtual device's 1-sample calls,
        # bounded memory for day-long arrays); same arithmetic whatever the call size
        t = np.asarray(t_s, dtype=np.float64)
        flat = t.reshape(-1)
        out = np.empty(flat.shape, dtype=np.float64)
        w = _TWO_PI * self.f_hz
        for i in range(0, len(flat), 65536):
            blk = flat[i:i + 65536]
            out[i:i + 65536] = np.sin(blk[:, None] * w[None, :] + self.phase[None, :]) @ self.amp
        return out.reshape(t.shape)


class _Breathing:
    """Breathing waveform (about ±1) on the absolute session clock, so it runs through every phase.

    Rate wanders ±8 % over ~45 s cycles and inhalation is sharper than exhalation
    (second harmonic); breath depth wanders ±25 %.
    """

    def __init__(self, rng: np.random.Generator, f_hz: float) -> None:
        self.f_hz = f_hz
        self.fm_hz = rng.uniform(1 / 60, 1 / 30)
        self.pm = rng.uniform(0, _TWO_PI)
        self.p0 = rng.uniform(0, _TWO_PI)
        self.depth = _RandomSines(rng, 3, 0.005, 0.05)

    def __call__(self, t_s: np.ndarray) -> np.ndarray:
        ph = _TWO_PI * self.f_hz * (t_s + 0.08 / (_TWO_PI * self.fm_hz) * np.sin(_TWO_PI * self.fm_hz * t_s + self.pm)) + self.p0
        wave = (np.sin(ph) + 0.3 * np.sin(2 * ph + 0.8)) / 1.2
        return wave * (1.0 + 0.25 * self.depth(t_s) / math.sqrt(2))


class _Phase:
    kind = "off"
    loaded = False

    def __init__(self, p: dict[str, Any], t0_s: float, x0_cm: float) -> None:
        self.p = p
        self.t0_s = t0_s
        self.duration_s = float(p["duration_s"])
        self.t1_s = t0_s + self.duration_s
        self.x0_cm = x0_cm

    def level(self, tl_s: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        """Force as a fraction of body weight at phase-local time tl_s (roller at x_cm)."""
        return np.zeros_like(tl_s)

    def x_cm(self, tl_s: np.ndarray) -> np.ndarray:
        return np.full_like(tl_s, self.x0_cm, dtype=np.float64)

    @property
    def x_end_cm(self) -> float:
        return float(self.x_cm(np.array([self.duration_s]))[0])


class _Loaded(_Phase):
    loaded = True

    def __init__(self, p: dict[str, Any], t0_s: float, x0_cm: float, rng: np.random.Generator, body: "Body") -> None:
        super().__init__(p, t0_s, x0_cm)
        self.f = float(p["force_frac"])
        self.breathing_frac = float(p.get("breathing_frac", 0.0))
        self.wobble_frac = float(p.get("wobble_frac", 0.0))
        self._breathing = body._breathing
        self._wobble = _RandomSines(rng, 5, 0.05, 0.6)
        self._tremor = _RandomSines(rng, 3, 7.0, 11.0)  # physiological tremor, tiny
        self.rib_frac = body.rib_frac
        self.rib_spacing_cm = body.rib_spacing_cm
        self.rib_phase = rng.uniform(0, _TWO_PI)

    def common(self, tl_s: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        """Modulation shared by all loaded phases (relative): breathing, wobble, tremor, ribs."""
        t_abs = tl_s + self.t0_s
        m = self.breathing_frac * self._breathing(t_abs)
        m += self.wobble_frac * self._wobble(t_abs)
        m += 0.002 * self._tremor(t_abs)
        # ribbed shell: load varies with which rib is under the tissue (a function of
        # position, so it is constant while still and oscillates while rolling)
        m += self.rib_frac * np.sin(_TWO_PI * x_cm / self.rib_spacing_cm + self.rib_phase)
        return m


class _Roll(_Loaded):
    kind = "roll"

    def __init__(self, p: dict[str, Any], t0_s: float, x0_cm: float, rng: np.random.Generator, body: "Body") -> None:
        super().__init__(p, t0_s, x0_cm, rng, body)
        D = self.duration_s
        A = float(p["travel_cm"])
        T = float(p["stroke_s"])
        self.amp_nom_cm = A
        centre = float(p["spot_cm"]) if p.get("spot_cm") is not None else x0_cm
        d = 1.0 if rng.uniform() < 0.5 else -1.0
        # one direction is often quicker than the other (pulling vs pushing with the arms)
        asym = float(rng.uniform(-1.0, 1.0)) * float(p["stroke_asymmetry"])
        ends: list[float] = []
        durs: list[float] = []
        dwells: list[float] = []
        total = 0.0
        prev = x0_cm
        c = centre
        k = 0
        while total < D or not durs:
            a_k = A * float(np.clip(np.exp(rng.normal(0.0, p["travel_jitter"])), 0.5, 1.6))
            c = centre + float(np.clip(c - centre + rng.normal(0.0, 0.6), -3.0, 3.0))  # centre wanders
            e = c + d * a_k / 2.0
            dist = abs(e - prev)
            # duration ~ nominal stroke time scaled by distance (short first strokes are quicker)
            # duration: the person's pace with jitter, longer for longer strokes, quicker one way;
            # kept within 0.6-1.4x the nominal so a family's stroke range means what it says
            factor = float(np.exp(rng.normal(0.0, p["stroke_jitter"]))) * (1.0 + asym * d)
            factor *= float(np.clip(dist / max(A, 1e-6), 0.4, 1.6)) ** 0.5
            t_k = T * float(np.clip(factor, 0.6 if k else 0.3, 1.4))
            w_k = float(min(rng.exponential(p["dwell_s"]) if p["dwell_s"] > 0 else 0.0, 4 * p["dwell_s"] + 0.01))
            if p["pause_prob"] > 0 and rng.uniform() < p["pause_prob"]:
                # a brief stop at a reversal (re-grip, look at the spot): still, but far
                # shorter than a hold (< 5 s), so it stays part of the rolling
                w_k = float(rng.uniform(0.5, 1.0)) * float(p["pause_s"])
            ends.append(e)
            durs.append(t_k)
            dwells.append(w_k)
            total += t_k + w_k
            prev = e
            d = -d
            k += 1
            if k > 100000:
                break
        # Fit the strokes to the phase: the last stroke is cut short (the person stops on
        # the spot part-way along the path, at the pace they were rolling), or, when only a
        # sliver of it would remain, the strokes are stretched a little instead. The phase
        # ends with the roller stopped (no dwell after the last stroke).
        n = len(durs)
        before = sum(durs[:-1]) + sum(dwells[:-1])  # time used by the first n-1 strokes
        rem = D - before
        if rem < 0.25 * durs[-1] and n > 1:
            ends, durs, dwells = ends[:-1], durs[:-1], dwells[:-1]
        else:
            r = min(rem / durs[-1], 1.0)
            start_last = ends[-2] if n > 1 else x0_cm
            ends[-1] = start_last + (ends[-1] - start_last) * r
            durs[-1] = rem
        dwells[-1] = 0.0
        scale = D / (sum(durs) + sum(dwells))
        self.T = np.array(durs) * scale
        self.W = np.array(dwells) * scale
        self.starts = np.concatenate([[0.0], np.cumsum(self.T + self.W)[:-1]])
        self.ends = np.array(ends)
        self.begins = np.concatenate([[x0_cm], self.ends[:-1]])
        self.centre_cm = centre
        dist = np.abs(self.ends - self.begins)
        self.v_peak_cm_s = 2.0 * dist / np.maximum(self.T, 1e-6)  # cycloid peak speed
        # reversal bump: grows with the speed the person has to stop and reverse
        self.rev_t = self.starts + self.T + np.minimum(self.W / 2.0, 0.15)  # at the stop, even before a pause
        self.bump = float(p["bump_frac"]) * np.clip(self.v_peak_cm_s / 20.0, 0.1, 2.0)
        self.bump_sigma = np.clip(0.15 * self.T, 0.06, 0.35)
        self.lever_sign = 1.0 if rng.uniform() < 0.5 else -1.0
        self.lever_frac = float(p["lever_frac"])

    def x_cm(self, tl_s: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(self.starts, tl_s, side="right") - 1, 0, len(self.T) - 1)
        u = (tl_s - self.starts[k]) / self.T[k]
        return self.begins[k] + (self.ends[k] - self.begins[k]) * _cycloid(u)

    def level(self, tl_s: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        half = max(self.amp_nom_cm / 2.0, 1e-6)
        m = self.lever_frac * self.lever_sign * np.clip((x_cm - self.centre_cm) / half, -1.5, 1.5)
        j = np.searchsorted(self.rev_t, tl_s)
        for dj in (-1, 0, 1):  # the three nearest reversals cover every bump (sigma <= 0.35 s)
            jj = np.clip(j + dj, 0, len(self.rev_t) - 1)
            m += self.bump[jj] * np.exp(-0.5 * ((tl_s - self.rev_t[jj]) / self.bump_sigma[jj]) ** 2) * (
                (j + dj >= 0) & (j + dj < len(self.rev_t)))
        return self.f * (1.0 + m + self.common(tl_s, x_cm))


class _Hold(_Loaded):
    kind = "hold"

    def __init__(self, p: dict[str, Any], t0_s: float, x0_cm: float, rng: np.random.Generator, body: "Body") -> None:
        super().__init__(p, t0_s, x0_cm, rng, body)
        D = self.duration_s
        self.sink_frac = float(p["sink_frac"])
        self.sink_tau_s = float(p["sink_tau_s"])
        # knee bends / limb movement: cycles with jittered period and depth, in bouts
        self.limb_starts = np.empty(0)
        self.limb_periods = np.empty(0)
        self.limb_amps = np.empty(0)
        f_limb = float(p["limb_hz"])
        if f_limb > 0 and p["limb_frac"] > 0:
            sign = 1.0 if rng.uniform() < 0.6 else -1.0
            starts, periods, amps = [], [], []
            t = float(rng.uniform(0.5, 3.0))
            duty = float(p["limb_duty"])
            while t < D:
                n_bout = int(rng.integers(4, 12)) if duty < 1.0 else 10 ** 9
                for _ in range(n_bout):
                    per = float(np.clip(np.exp(rng.normal(0.0, 0.12)), 0.7, 1.4)) / f_limb
                    if t + per > D - 0.5:
                        t = D
                        break
                    starts.append(t)
                    periods.append(per)
                    amps.append(sign * p["limb_frac"] * float(np.clip(np.exp(rng.normal(0.0, 0.2)), 0.5, 1.6)))
                    t += per
                if duty < 1.0 and t < D:
                    active = n_bout / f_limb
                    t += float(rng.uniform(0.5, 1.5)) * active * (1.0 - duty) / max(duty, 0.05)
            self.limb_starts = np.array(starts)
            self.limb_periods = np.array(periods)
            self.limb_amps = np.array(amps)
        # posture shifts: smoothed steps in load with a brief unloading, tiny roller nudge
        n_shift = int(p["posture_shifts"])
        if n_shift > 0 and D > 6.0:
            self.shift_t = np.sort(rng.uniform(3.0, D - 3.0, n_shift))
            self.shift_step = rng.uniform(0.3, 1.0, n_shift) * p["posture_step_frac"] * rng.choice([-1.0, 1.0], n_shift)
            self.shift_w = rng.uniform(0.3, 1.0, n_shift)
            self.shift_x = rng.normal(0.0, 0.4, n_shift) * p["sway_cm"]
        else:
            self.shift_t = self.shift_step = self.shift_w = self.shift_x = np.empty(0)
        self.sway_cm = float(p["sway_cm"])
        self._sway = _RandomSines(rng, 3, 0.02, 0.2)
        self._sway0 = float(self._sway(np.array([t0_s]))[0])
        self._limb_max = float(np.max(np.abs(self.limb_amps))) if len(self.limb_amps) else 1.0

    def _limb(self, tl_s: np.ndarray) -> np.ndarray:
        if len(self.limb_starts) == 0:
            return np.zeros_like(tl_s)
        k = np.clip(np.searchsorted(self.limb_starts, tl_s, side="right") - 1, 0, len(self.limb_starts) - 1)
        u = (tl_s - self.limb_starts[k]) / self.limb_periods[k]
        inside = (u >= 0.0) & (u <= 1.0)
        return np.where(inside, self.limb_amps[k] * 0.5 * (1.0 - np.cos(_TWO_PI * np.clip(u, 0, 1))), 0.0)

    def x_cm(self, tl_s: np.ndarray) -> np.ndarray:
        sway = self._sway(tl_s + self.t0_s) - self._sway0
        x = self.x0_cm + self.sway_cm * 0.5 * sway * _smoothstep(tl_s / 2.0)
        if len(self.limb_amps):  # knee bends rock the shell a little, without travel
            x += 0.3 * self.sway_cm * self._limb(tl_s) / max(self._limb_max, 1e-9)
        for t_j, w_j, dx in zip(self.shift_t, self.shift_w, self.shift_x):
            x += dx * _smoothstep((tl_s - t_j) / w_j + 0.5)
        return x

    def level(self, tl_s: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        m = self.sink_frac * (1.0 - np.exp(-tl_s / self.sink_tau_s))
        m += self._limb(tl_s)
        for t_j, s_j, w_j in zip(self.shift_t, self.shift_step, self.shift_w):
            m += s_j * _smoothstep((tl_s - t_j) / w_j + 0.5)
            m -= 0.5 * abs(s_j) * np.exp(-0.5 * ((tl_s - t_j) / (0.3 * w_j)) ** 2)  # lift to shift
        return self.f * (1.0 + m + self.common(tl_s, x_cm))


class _Reposition(_Loaded):
    kind = "reposition"

    def __init__(self, p: dict[str, Any], t0_s: float, x0_cm: float, rng: np.random.Generator, body: "Body") -> None:
        super().__init__(p, t0_s, x0_cm, rng, body)
        D = self.duration_s
        target = x0_cm + (1.0 if rng.uniform() < 0.5 else -1.0) * float(p["travel_cm"])
        n = int(rng.integers(2, 5))
        cuts = np.sort(rng.uniform(0.0, 1.0, n - 1))
        knots = np.concatenate([[0.0], cuts, [1.0]]) * D
        # keep each sub-move at least a little long
        knots = np.maximum.accumulate(knots)
        xs = [x0_cm]
        for j in range(1, n):
            xs.append(x0_cm + (target - x0_cm) * (j / n) + rng.normal(0.0, 0.25) * max(abs(target - x0_cm), 2.0))
        xs.append(target)
        self.knots = knots
        self.xs = np.array(xs)
        self.move_frac = rng.uniform(0.55, 1.0, n)  # stop-go: part of each sub-interval is a pause
        irr = float(p["irregularity_frac"])
        self.lv = np.clip(1.0 + irr * rng.normal(0.0, 1.0, n + 1), 0.3, 2.0)
        self.lv[-1] = 1.0

    def x_cm(self, tl_s: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(self.knots, tl_s, side="right") - 1, 0, len(self.xs) - 2)
        span = np.maximum(self.knots[k + 1] - self.knots[k], 1e-6) * self.move_frac[k]
        u = (tl_s - self.knots[k]) / span
        return self.xs[k] + (self.xs[k + 1] - self.xs[k]) * _cycloid(u)

    def level(self, tl_s: np.ndarray, x_cm: np.ndarray) -> np.ndarray:
        k = np.clip(np.searchsorted(self.knots, tl_s, side="right") - 1, 0, len(self.xs) - 2)
        u = (tl_s - self.knots[k]) / np.maximum(self.knots[k + 1] - self.knots[k], 1e-6)
        lv = self.lv[k] + (self.lv[k + 1] - self.lv[k]) * _smoothstep(u)
        return self.f * (lv + self.common(tl_s, x_cm))


_KINDS = {"off": None, "roll": _Roll, "hold": _Hold, "reposition": _Reposition}


class Body:
    """A person on the roller following a scenario: true force (N) and shell angle at any time.

    `Body(scenario, seed)` resolves the scenario (a family name, JSON path, dict
    or Scenario) for `seed` and builds the session's physics. `load_kg` is an
    extra known mass resting on the roller (e.g. a calibration weight placed by
    the virtual device): it adds `load_kg * g` newtons at every time, and may
    be changed at any moment (`body.load_kg = 2.0`). Before t=0 and after the
    scenario ends nobody is on the roller: force 0 (plus `load_kg`), angle constant.
    """

    def __init__(self, scenario: "str | dict[str, Any] | Scenario", seed: int = 0, *, load_kg: float = 0.0,
                 overrides: dict[str, Any] | None = None, duration_s: float | None = None,
                 resolved: dict[str, Any] | None = None) -> None:
        if resolved is None:
            resolved = load_scenario(scenario).resolve(seed, overrides=overrides, duration_s=duration_s)
        self.scenario: dict[str, Any] = resolved
        self.seed = int(seed)
        self.load_kg = float(load_kg)
        self.body_mass_kg = float(resolved["body_mass_kg"])
        self.weight_n = self.body_mass_kg * G_M_S2
        self.shell_radius_cm = float(resolved["shell_radius_cm"])
        self.rib_frac = float(resolved["rib_frac"])
        self.rib_spacing_cm = float(resolved["rib_spacing_cm"])
        key = zlib.crc32(str(resolved["name"]).encode("utf-8"))
        rng_root = np.random.SeedSequence([self.seed, 1, key])
        kids = rng_root.spawn(len(resolved["phases"]) + 1)
        self._breathing = _Breathing(np.random.default_rng(kids[-1]), float(resolved["breathing_hz"]))
        self._phases: list[_Phase] = []
        t, x = 0.0, 0.0
        for i, p in enumerate(resolved["phases"]):
            cls = _KINDS[p["kind"]]
            ph = _Phase(p, t, x) if cls is None else cls(p, t, x, np.random.default_rng(kids[i]), self)
            self._phases.append(ph)
            t = ph.t1_s
            x = ph.x_end_cm
        self.duration_s = t
        self._t0 = np.array([ph.t0_s for ph in self._phases])
        # contact ramps (stepping on / off) and settling blends between loaded phases
        step_rng = np.random.default_rng(np.random.SeedSequence([self.seed, 3, key]))
        step_s = float(resolved["step_s"])
        n = len(self._phases)
        self._ramp_on = [0.0] * n
        self._ramp_off = [0.0] * n
        self._blend = [0.0] * n  # level offset at phase start (decays with settle_s)
        for i, ph in enumerate(self._phases):
            if not ph.loaded:
                continue
            prev_off = i == 0 or not self._phases[i - 1].loaded
            next_off = i == n - 1 or not self._phases[i + 1].loaded
            if prev_off:
                self._ramp_on[i] = min(step_s * float(step_rng.uniform(0.7, 1.3)), 0.4 * ph.duration_s)
            if next_off:
                self._ramp_off[i] = min(step_s * float(step_rng.uniform(0.7, 1.3)), 0.4 * ph.duration_s)
            if not prev_off:
                prev = self._phases[i - 1]
                end_prev = self._level_phase(i - 1, np.array([prev.duration_s]))[0]
                start_here = self._raw_level(ph, np.array([0.0]))[0]
                self._blend[i] = end_prev - start_here
        self.segments: list[dict[str, Any]] = self._make_segments()

    @classmethod
    def idle(cls, duration_s: float = 1.0, *, load_kg: float = 0.0, seed: int = 0) -> "Body":
        """Nobody on the roller (for tare / calibration with a known `load_kg`)."""
        spec = {"name": "idle", "description": "empty roller", "encoder": True,
                "phases": [{"kind": "off", "duration_s": float(duration_s)}]}
        return cls(spec, seed, load_kg=load_kg)

    # --- evaluation ---------------------------------------------------------------------

    def _raw_level(self, ph: _Phase, tl: np.ndarray) -> np.ndarray:
        return ph.level(tl, ph.x_cm(tl))

    def _level_phase(self, i: int, tl: np.ndarray) -> np.ndarray:
        ph = self._phases[i]
        if not ph.loaded:
            return np.zeros_like(tl)
        lev = self._raw_level(ph, tl)
        if self._blend[i]:
            lev = lev + self._blend[i] * np.exp(-tl / float(ph.p["settle_s"]))
        if self._ramp_on[i]:
            lev = lev * _smoothstep(tl / self._ramp_on[i])
        if self._ramp_off[i]:
            lev = lev * _smoothstep((ph.duration_s - tl) / self._ramp_off[i])
        return np.maximum(lev, 0.0)

    def _dispatch(self, t: np.ndarray, fn) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        out = np.zeros(t.shape, dtype=np.float64)
        flat_t = t.reshape(-1)
        flat = out.reshape(-1)
        idx = np.searchsorted(self._t0, flat_t, side="right") - 1
        inside = (flat_t >= 0.0) & (flat_t < self.duration_s)
        idx = np.where(inside, idx, -1)
        if len(idx) == 1:  # the virtual device's per-sample call: skip the grouping
            if idx[0] >= 0:
                flat[:] = fn(int(idx[0]), flat_t - self._phases[idx[0]].t0_s)
            return out, inside.reshape(t.shape)
        for i in np.unique(idx):
            if i < 0:
                continue
            m = idx == i
            flat[m] = fn(int(i), flat_t[m] - self._phases[i].t0_s)
        return out, inside.reshape(t.shape)

    def level(self, t_s: np.ndarray) -> np.ndarray:
        """Body force as a fraction of body weight (no extra load)."""
        out, _ = self._dispatch(t_s, self._level_phase)
        return out

    def _wrap(self, t_s: "np.ndarray | float") -> tuple[np.ndarray, np.ndarray]:
        """(time within the session, number of completed sessions) for a looping session."""
        t = np.asarray(t_s, dtype=np.float64)
        laps = np.floor(np.maximum(t, 0.0) / self.duration_s)
        return t - laps * self.duration_s, laps

    def force_n(self, t_s: "np.ndarray | float", *, loop: bool = False) -> np.ndarray:
        """True vertical force on the roller (N) at session times t_s (s): body plus `load_kg`.

        loop=True repeats the session end to end (the person steps off, then starts again).
        """
        t = self._wrap(t_s)[0] if loop else t_s
        return self.level(t) * self.weight_n + self.load_kg * G_M_S2

    def position_cm(self, t_s: "np.ndarray | float", *, loop: bool = False) -> np.ndarray:
        """Roller travel (cm of shell surface rolled, signed) since the session start.

        loop=True repeats the session; travel keeps accumulating across repeats (the
        shell does not spin back when the session starts over).
        """
        t = np.asarray(t_s, dtype=np.float64)
        x_end = self._phases[-1].x_end_cm
        if loop:
            tw, laps = self._wrap(t)
            return self.position_cm(tw) + laps * x_end
        out, inside = self._dispatch(t, lambda i, tl: self._phases[i].x_cm(tl))
        return np.where(inside, out, np.where(t >= self.duration_s, x_end, 0.0))

    def angle_deg(self, t_s: "np.ndarray | float", *, loop: bool = False) -> np.ndarray:
        """True cumulative shell rotation (degrees) = travel / shell radius (loop: as position_cm)."""
        return np.degrees(self.position_cm(t_s, loop=loop) / self.shell_radius_cm)

    # --- ground truth -------------------------------------------------------------------

    def _make_segments(self) -> list[dict[str, Any]]:
        """Labels (contracts.md §2): off / roll / hold tiling [0, duration_s].

        Re-positioning is movement, labelled roll. A scripted hold shorter than
        5 s is not a hold by the contract's definition and is labelled roll.
        Adjacent segments of one kind merge.
        """
        raw: list[dict[str, Any]] = []
        for ph in self._phases:
            kind = {"off": "off", "roll": "roll", "hold": "hold", "reposition": "roll"}[ph.kind]
            if kind == "hold" and ph.duration_s < MIN_HOLD_S:
                kind = "roll"
            if raw and raw[-1]["kind"] == kind:
                raw[-1]["end_s"] = ph.t1_s
                continue
            raw.append({"kind": kind, "start_s": ph.t0_s, "end_s": ph.t1_s})
        for seg in raw:
            if seg["kind"] == "hold":
                t = np.linspace(seg["start_s"], seg["end_s"], max(int((seg["end_s"] - seg["start_s"]) * 20), 2),
                                endpoint=False)
                f = self.level(t) * self.weight_n
                seg["mean_force_n"] = round(float(np.mean(f)), 2)
                seg["force_frac_bw"] = round(float(np.mean(f)) / self.weight_n, 4)
                seg["spot_cm"] = round(float(self.position_cm(np.array([seg["start_s"]]))[0]), 2)
                x = self.position_cm(t)
                seg["travel_cm"] = round(float(np.max(x) - np.min(x)), 3)
            seg["start_s"] = round(seg["start_s"], 4)
            seg["end_s"] = round(seg["end_s"], 4)
        return raw

    def holds(self) -> list[dict[str, Any]]:
        """The hold segments of the ground truth."""
        return [s for s in self.segments if s["kind"] == "hold"]
