"""Behaviour: a hidden semi-Markov grammar of what the person does, and the roller kinematics it implies.

A session is sets (step on, warm-up rolling, spots, step off). At a spot the
person may iron (slow strokes without reversal pauses) and search (short 1-5 cm
exploratory strokes) before settling into a hold; from a hold they re-position
to the next spot of a chain or roll on. Dwell times are log-normal, truncated
to the documented ranges; the transition probabilities are the family's
(`params.GRAMMAR`) and the person's style (drawn per seed).

Everything here is a *plan* in true time (s): roller moves (shell travel x, cm),
posture knots (the load the person aims for when choosing a posture), contact
gates (stepping on/off), per-hold events (fidgets, contract-relax, knee-bend
bouts, posture shifts, creep, rocking) and episodes (what the labels come from).
`render` turns the plan into arrays on the simulation grid.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from scipy.signal import butter, sosfiltfilt
from scipy.special import betainc

from .params import GRAMMAR, family_range

PACE_RANGE = {"fast": "fast.stroke_s", "standard": "standard.stroke_s", "slow": "slow.stroke_s"}
#: Phase codes of the `phase` truth array.
PHASES = ("off", "roll", "hold", "search", "iron", "repos", "step")
X_LIMIT_CM = 22.0  # the stroke centre stays on the limb segment (a thigh is ~40 cm long)


@dataclass
class Person:
    """Per-seed style of the person (drawn values; all in `draws`)."""

    body_mass_kg: float
    draws: dict[str, Any]

    @property
    def bw_n(self) -> float:
        return self.body_mass_kg * 9.81


@dataclass
class Plan:
    """What happens, in true time (s); see the module docstring."""

    episodes: list[dict[str, Any]] = field(default_factory=list)
    moves: list[tuple] = field(default_factory=list)       # (t0, t1, x0, x1, shape, p1, p2)
    knots: list[tuple] = field(default_factory=list)       # (t, target_n, ramp_s, relaxed_share, dT_ref_mm)
    gates: list[tuple] = field(default_factory=list)       # (t0, ramp_s, +1 on / -1 off)
    holds: list[dict[str, Any]] = field(default_factory=list)
    strokes: list[dict[str, Any]] = field(default_factory=list)
    roll_mods: list[tuple] = field(default_factory=list)   # (t0, t1, direction) rolling strokes
    end_s: float = 0.0


def lognorm_in(rng: np.random.Generator, lo: float, hi: float, mean: float | None = None, cv: float = 0.25) -> float:
    """A log-normal dwell with median `mean` (default: geometric mid of the range), truncated to [lo, hi]."""
    med = mean if mean is not None else float(np.sqrt(lo * hi))
    for _ in range(20):
        v = med * float(np.exp(rng.normal(0.0, cv)))
        if lo <= v <= hi:
            return v
    return float(np.clip(med, lo, hi))


def stroke_shape(s: np.ndarray, shape: str, p1: float, p2: float) -> np.ndarray:
    """Normalised position 0..1 along a stroke at normalised time s (0..1).

    "bell": velocity ~ s^(p1-1)(1-s)^(p2-1) (asymmetric when p1 != p2), position
    the regularised incomplete beta function; "trap": trapezoidal velocity with
    ramps of p1 of the stroke at each end.
    """
    if shape == "bell":
        return betainc(p1, p2, s)
    r = p1
    vmax = 1.0 / (1.0 - r)
    return np.where(s < r, vmax * s * s / (2 * r),
                    np.where(s <= 1 - r, vmax * (r / 2 + (s - r)), 1.0 - vmax * (1 - s) ** 2 / (2 * r)))


class Builder:
    """Builds a Plan step by step: t (s) and x (cm) are where the person and the roller are now."""

    def __init__(self, family: str, person: Person, rng: np.random.Generator, contact_ref: Callable,
                 profile_at: Callable[[float], float]) -> None:
        self.family = family
        self.g = GRAMMAR[family]
        self.p = person
        self.d = person.draws
        self.rng = rng
        self.plan = Plan()
        self.t = 0.0
        self.x = 0.0
        self.centre = 0.0
        self.load_n = 0.0  # the current posture target (N)
        self.comp_roll = contact_ref  # relaxed share as a function of (kind, speed)
        self.profile_at = profile_at
        self.n_holds = 0

    # ------------------------------------------------------------------ primitives
    def episode(self, kind: str, t0: float, t1: float, **extra: Any) -> None:
        self.plan.episodes.append(dict(kind=kind, t0=t0, t1=t1, **extra))

    def knot(self, target_n: float, ramp_s: float, kind: str, speed_cm_s: float = 0.0,
             dT_ref_mm: float | None = None, t: float | None = None) -> None:
        """Posture change: the person aims at target_n and chooses the posture that gives it once settled."""
        share = self.comp_roll(kind, speed_cm_s)
        ref = self.profile_at(self.x) if dT_ref_mm is None else dT_ref_mm
        self.plan.knots.append((self.t if t is None else t, target_n, ramp_s, share, ref))
        self.load_n = target_n

    def move(self, dur_s: float, dx_cm: float, shape: str, p1: float, p2: float) -> None:
        self.plan.moves.append((self.t, self.t + dur_s, self.x, self.x + dx_cm, shape, p1, p2))
        self.t += dur_s
        self.x += dx_cm

    def still(self, dur_s: float) -> None:
        self.t += dur_s

    def bell(self) -> tuple[str, float, float]:
        """A stroke's velocity profile: trapezoid (person's share) or an asymmetric bell."""
        lo, hi = self.d["bell_lo"], self.d["bell_hi"]
        if self.rng.random() < self.d["p_trapezoid"]:
            r = family_range(self.family, "trapezoid_ramp_frac")
            return "trap", float(self.rng.uniform(r.lo, r.hi)), 0.0
        a, b = self.rng.uniform(lo, hi), self.rng.uniform(lo, hi)
        return "bell", float(a), float(b)

    # ------------------------------------------------------------------ behaviours
    def step_on(self) -> None:
        ramp = self.d["step_s"] * float(np.exp(self.rng.normal(0, 0.15)))
        ramp = float(np.clip(ramp, 0.3, 0.8))
        self.plan.gates.append((self.t, ramp, +1))
        t0 = self.t
        self.knot(self.d["roll_load_n"], 0.01, "roll", self.d["roll_speed_cm_s"]["standard"])
        self.still(ramp * self.rng.uniform(0.6, 1.0))
        self.episode("step", t0, self.t)

    def step_off(self) -> None:
        ramp = float(np.clip(self.d["step_s"] * float(np.exp(self.rng.normal(0, 0.15))), 0.3, 0.8))
        self.plan.gates.append((self.t, ramp, -1))
        t0 = self.t
        self.still(ramp)
        self.episode("step_off", t0, self.t)

    def off(self, dur_s: float) -> None:
        self.episode("off", self.t, self.t + dur_s)
        self.still(dur_s)

    def roll_bout(self, pace: str, dur_s: float) -> None:
        """Strokes back and forth for about dur_s: bell/trapezoid velocity, reversal pauses, hesitations."""
        rng, d = self.rng, self.d
        rr = family_range(self.family, PACE_RANGE[pace])
        sl = family_range(self.family, "stroke_cm")
        t0 = self.t
        self.knot(d["roll_load_n"] * float(np.exp(rng.normal(0, 0.05))), rng.uniform(0.4, 1.2), "roll",
                  d["roll_speed_cm_s"][pace])
        direction = 1.0 if self.centre - self.x >= 0 else -1.0
        while self.t - t0 < dur_s:
            dur = lognorm_in(rng, rr.lo, rr.hi, d["stroke_s"][pace], d["stroke_cv"])
            length = lognorm_in(rng, sl.lo, sl.hi, d["stroke_cm"], d["stroke_cv"])
            self.centre = float(np.clip(self.centre + rng.normal(0, d["centre_walk_cm"]), -X_LIMIT_CM + 9,
                                        X_LIMIT_CM - 9))
            end = self.centre + direction * length / 2
            dx = float(np.clip(end - self.x, -sl.hi, sl.hi))
            if abs(dx) < sl.lo:
                dx = direction * sl.lo
            shape, p1, p2 = self.bell()
            st = dict(t0=self.t, cm=abs(dx), pace=pace, hesitation=False)
            self.plan.roll_mods.append((self.t, self.t + dur, np.sign(dx)))
            if rng.random() < d["hesitation_p"]:
                q = rng.uniform(0.3, 0.7)
                hr = family_range(self.family, "hesitation_s")
                self.move(dur * q, dx * q, "bell", 2.0, 2.0)
                self.still(rng.uniform(hr.lo, hr.hi))
                self.move(dur * (1 - q), dx * (1 - q), "bell", 2.0, 2.0)
                st["hesitation"] = True
            else:
                self.move(dur, dx, shape, p1, p2)
            st["t1"] = self.t
            self.plan.strokes.append(st)
            direction = -direction
            self.still(d["reversal_pause_s"] * float(np.exp(rng.normal(0, 0.3))))
        self.episode("roll", t0, self.t, pace=pace)

    def iron(self) -> None:
        """Slow continuous strokes without reversal pauses, pressing a little more."""
        rng, d = self.rng, self.d
        t0 = self.t
        n = int(rng.integers(2, 5))
        ir = family_range(self.family, "iron_stroke_s")
        self.knot(d["iron_load_n"], rng.uniform(0.5, 1.5), "iron", 12.0 / np.sqrt(ir.lo * ir.hi))
        direction = 1.0 if self.centre - self.x >= 0 else -1.0
        for _ in range(n):
            dur = rng.uniform(ir.lo, ir.hi)
            length = rng.uniform(10.0, 17.5)
            dx = float(np.clip(self.x + direction * length, -X_LIMIT_CM, X_LIMIT_CM) - self.x)
            self.move(dur, dx, "bell", float(rng.uniform(1.8, 2.3)), float(rng.uniform(1.8, 2.3)))
            self.plan.roll_mods.append((self.t - dur, self.t, np.sign(dx)))
            direction = -direction
        self.episode("iron", t0, self.t)

    def search(self, spot_cm: float) -> None:
        """Short exploratory strokes (1-5 cm) around the tender spot, ending on it: still rolling."""
        rng, d = self.rng, self.d
        t0 = self.t
        self.knot(0.5 * (self.load_n + d["hold_light_n"]), rng.uniform(0.4, 1.0), "search", 3.0)
        n = int(rng.integers(3, 9))
        sr, ss, sp = (family_range(self.family, k) for k in ("search_cm", "search_stroke_s", "search_pause_s"))
        for i in range(n):
            target = spot_cm if i == n - 1 else spot_cm + rng.choice((-1, 1)) * rng.uniform(sr.lo, sr.hi) / 2
            dx = float(np.clip(target - self.x, -sr.hi, sr.hi))
            if abs(dx) < 0.3:
                dx = 0.3 * (1 if rng.random() < 0.5 else -1)
            self.move(rng.uniform(ss.lo, ss.hi), dx, "bell", float(rng.uniform(1.6, 3.0)),
                      float(rng.uniform(1.6, 3.0)))
            if i < n - 1:
                self.still(rng.uniform(sp.lo, sp.hi))
        self.episode("search", t0, self.t)

    def repos(self, hold_n: float) -> None:
        """A 1-4 s irregular loaded move of 2-8 cm to the next spot (1-3 jerky sub-moves, unweighted)."""
        rng = self.rng
        dr, cr, lr = (family_range(self.family, k) for k in ("repos_s", "repos_cm", "repos_load_frac"))
        t0 = self.t
        total = float(rng.uniform(dr.lo, dr.hi))
        net = float(rng.uniform(cr.lo, cr.hi))
        sign = 1.0 if (self.x + net < X_LIMIT_CM and (self.x - net < -X_LIMIT_CM or rng.random() < 0.6)) else -1.0
        k = int(rng.integers(1, 4))
        self.knot(hold_n * rng.uniform(lr.lo, lr.hi), rng.uniform(0.2, 0.5), "repos", net / total)
        w = rng.dirichlet(np.ones(k) * 2.0)
        parts = net * w
        if k >= 2 and rng.random() < 0.4:  # a small back-step inside the move: irregular
            parts[-1] = -min(parts[-1], 0.8)
            parts[:-1] *= (net - parts[-1]) / max(parts[:-1].sum(), 1e-9)
        pauses = rng.uniform(0.0, 0.3, k - 1) if k > 1 else np.zeros(0)
        move_s = max(total - pauses.sum(), 0.6 * total)
        tw = rng.dirichlet(np.ones(k) * 3.0) * move_s
        for i in range(k):
            self.move(float(tw[i]), float(sign * parts[i]), "bell", float(rng.uniform(1.4, 3.2)),
                      float(rng.uniform(1.4, 3.2)))
            if i < k - 1:
                self.still(float(pauses[i]))
        self.episode("repos", t0, self.t, cm=round(abs(self.x - (self.plan.moves[-k][2])), 3))

    def hold(self, dur_s: float, target_n: float, heavy: bool) -> None:
        """Still on a spot: settle, breathe and rock, and whatever the person does while holding."""
        rng, d, fam = self.rng, self.d, self.family
        t0, t1 = self.t, self.t + dur_s
        settle = float(rng.uniform(*family_range(fam, "settle_s")[:2]))
        self.knot(target_n, settle, "hold")
        ev: dict[str, Any] = dict(t0=t0, t1=t1, heavy=heavy, target_n=target_n, spot_cm=self.x, settle_s=settle)
        # fidgets: < 1 s load blips while still
        nf = rng.poisson(d["fidget_per_min"] * dur_s / 60.0)
        fr, fa = family_range(fam, "fidget_s"), family_range(fam, "fidget_frac")
        ev["fidgets"] = [(float(rng.uniform(t0 + 2, t1 - 1.5)), float(rng.uniform(fr.lo, fr.hi)),
                          float(rng.uniform(fa.lo, fa.hi)) * (1 if rng.random() < 0.7 else -1))
                         for _ in range(nf) if t1 - t0 > 4]
        # contract-relax cycles (tensing stiffens the tissue)
        ev["contracts"] = []
        if rng.random() < d["p_contract"] * self.g["p_contract_scale"] and dur_s > 20:
            cs, rs, kk = (family_range(fam, k) for k in ("contract_s", "contract_rest_s", "contract_kappa"))
            tc = t0 + rng.uniform(8, 15)
            for _ in range(int(rng.integers(1, 4))):
                ln = rng.uniform(cs.lo, cs.hi)
                if tc + ln > t1 - 2:
                    break
                ev["contracts"].append((float(tc), float(ln), float(rng.uniform(kk.lo, kk.hi))))
                tc += ln + rng.uniform(rs.lo, rs.hi)
        # knee-bend bouts
        ev["limb"] = []
        if rng.random() < self.g["p_limb"]:
            br, rr2 = family_range(fam, "limb_bout_s"), family_range(fam, "limb_rest_s")
            sw = family_range(fam, "limb_swing_bw")
            tb = t0 + rng.uniform(2.5, 8.0)
            while tb < t1 - 4:
                ln = min(rng.uniform(br.lo, br.hi), t1 - 1.5 - tb)
                if ln < 3:
                    break
                hz = float(np.clip(d["limb_hz"] * np.exp(rng.normal(0, 0.15)), 0.1, 0.8))
                swing = float(np.clip(d["limb_swing_bw"] * np.exp(rng.normal(0, 0.2)), sw.lo, sw.hi))
                ev["limb"].append(dict(t0=float(tb), dur_s=float(ln), hz=hz, swing_bw=swing,
                                       seed=int(rng.integers(2**31))))
                tb += ln + rng.uniform(rr2.lo, rr2.hi)
        # posture shifts (long holds) and creep (arm fatigue / easing off)
        lo_n, hi_n = self.g["shifts"]
        n_sh = int(rng.integers(lo_n, hi_n + 1)) if dur_s > 40 else 0
        shr, rmp = family_range(fam, "shift_frac"), family_range(fam, "shift_ramp_s")
        ev["shifts"] = sorted((float(rng.uniform(t0 + 25, t1 - 8)), float(rng.uniform(rmp.lo, rmp.hi)),
                               float(rng.uniform(shr.lo, shr.hi)) * (1 if rng.random() < 0.5 else -1))
                              for _ in range(n_sh))
        cr = family_range(fam, "creep_per_min")
        ev["creep"] = (float(t0 + rng.uniform(*family_range(fam, "creep_delay_s")[:2])),
                       float(rng.uniform(cr.lo, cr.hi)))
        ev["rock_mm"] = d["rock_mm"] * float(rng.uniform(0.6, 1.0))
        ev["drift_mm"] = float(rng.uniform(*family_range(fam, "hold_drift_mm")[:2])) * (1 if rng.random() < 0.5 else -1)
        ev["limb_rock_mm"] = d["limb_rock_mm"]
        self.plan.holds.append(ev)
        self.still(dur_s)
        self.episode("hold", t0, self.t, heavy=heavy, limb=bool(ev["limb"]))
        self.n_holds += 1


def build_plan(family: str, person: Person, rng: np.random.Generator, comp: Callable,
               profile_at: Callable[[float], float]) -> Plan:
    """The semi-Markov session grammar for `family` (see the module docstring)."""
    g, d = GRAMMAR[family], person.draws
    b = Builder(family, person, rng, comp, profile_at)
    sets = int(rng.integers(g["sets"][0], g["sets"][1] + 1))
    session_s = d["session_s"]
    b.off(d["off_start_s"])
    budget = (session_s - b.t - d["off_end_s"]) / sets
    hr = family_range(family, "hold_s")
    heavy_i = int(rng.integers(0, 3)) if rng.random() < g["p_heavy_session"] else -1
    short_i = int(rng.integers(1, 3)) if g["short_hold"] else -1
    if short_i == heavy_i:
        heavy_i = -1
    paces = g["paces"]

    def pace() -> str:
        return paces[int(rng.integers(len(paces)))]

    for k in range(sets):
        set_end = b.t + budget
        b.step_on()
        b.roll_bout(pace(), lognorm_in(rng, *family_range(family, "warmup_s")[:2]))
        while True:
            if rng.random() < g["p_iron"]:
                b.iron()
            spot = float(np.clip(b.x + rng.normal(0, 3.0), -X_LIMIT_CM + 3, X_LIMIT_CM - 3))
            if rng.random() < g["p_search"]:
                b.search(spot)
            lo_c, hi_c = g["chain"]
            chain = 1 + sum(rng.random() < g["p_repos"] for _ in range(hi_c - 1))
            chain = max(chain, lo_c) if g["p_repos"] >= 1.0 else chain
            for c in range(chain):
                i = b.n_holds
                if i == short_i:
                    sr = family_range(family, "short_hold_s")
                    dur = float(rng.uniform(sr.lo, sr.hi))
                else:
                    dur = lognorm_in(rng, hr.lo, hr.hi, None, 0.4)
                    dur = min(dur, max(hr.lo, set_end + 15 - b.t))
                heavy = i == heavy_i
                # light holds vary from spot to spot, within domain.md's ~10-25 % BW
                lr = family_range(family, "hold_light_bw")
                target = d["hold_heavy_n"] if heavy else float(np.clip(
                    d["hold_light_n"] * np.exp(rng.normal(0, 0.12)), lr.lo * person.bw_n, lr.hi * person.bw_n))
                if c > 0:
                    b.repos(target)
                b.hold(dur, target, heavy)
            if b.t >= set_end - 12:
                if rng.random() < 0.5:
                    b.roll_bout(pace(), rng.uniform(4, 12))
                b.step_off()
                break
            rb = family_range(family, "roll_bout_s")
            b.roll_bout(pace(), min(lognorm_in(rng, rb.lo, rb.hi), max(rb.lo, set_end - b.t)))
        if k < sets - 1:
            b.off(lognorm_in(rng, *family_range(family, "off_between_sets_s")[:2]))
    b.off(d["off_end_s"])
    b.plan.end_s = b.t
    return b.plan


# ---------------------------------------------------------------------------------------- rendering
def lowpass_noise(rng: np.random.Generator, n: int, fs_hz: float, lo_hz: float | None, hi_hz: float) -> np.ndarray:
    """Unit-rms noise band-limited to [lo_hz, hi_hz] (zero-phase Butterworth)."""
    w = rng.normal(0.0, 1.0, n)
    if lo_hz:
        sos = butter(2, [lo_hz, hi_hz], btype="band", fs=fs_hz, output="sos")
    else:
        sos = butter(2, hi_hz, btype="low", fs=fs_hz, output="sos")
    y = sosfiltfilt(sos, w)
    return y / max(float(np.std(y)), 1e-12)


def raised(s: np.ndarray) -> np.ndarray:
    """0..1 raised-cosine ramp of s in [0, 1]."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(s, 0.0, 1.0))


def knots_to_arrays(t: np.ndarray, knots: list[tuple]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target N, relaxed share, reference thickness mm) step functions with raised-cosine ramps."""
    out = [np.zeros(len(t)) for _ in range(3)]
    dt = t[1] - t[0]
    for (tk, tgt, ramp, share, ref) in knots:
        i0 = int(round(tk / dt))
        i1 = max(i0 + 1, int(round((tk + ramp) / dt)))
        if i0 >= len(t):
            break
        r = raised((np.arange(i0, min(i1, len(t))) - i0) / (i1 - i0))
        for arr, v in zip(out, (tgt, share, ref)):
            start = arr[i0]
            arr[i0:i1] = start + (v - start) * r
            arr[i1:] = v
    return out[0], out[1], out[2]


def gate_array(t: np.ndarray, gates: list[tuple]) -> np.ndarray:
    """Contact gate 0..1: 0 off, raised-cosine ramps while stepping on/off, 1 loaded."""
    g = np.zeros(len(t))
    dt = t[1] - t[0]
    for (t0, ramp, sgn) in gates:
        i0 = int(round(t0 / dt))
        i1 = max(i0 + 1, int(round((t0 + ramp) / dt)))
        r = raised((np.arange(i0, min(i1, len(t))) - i0) / (i1 - i0))
        g[i0:i1] = r if sgn > 0 else 1.0 - r
        g[i1:] = 1.0 if sgn > 0 else 0.0
    return g


def moves_to_x(t: np.ndarray, moves: list[tuple]) -> np.ndarray:
    """Shell travel x (cm) from the move list; constant between moves."""
    x = np.zeros(len(t))
    dt = t[1] - t[0]
    last_i, last_x = 0, 0.0
    for (t0, t1, x0, x1, shape, p1, p2) in moves:
        i0 = int(np.ceil(t0 / dt - 1e-9))
        i1 = int(np.ceil(t1 / dt - 1e-9))
        x[last_i:i0] = last_x
        if i1 > i0:
            s = (t[i0:i1] - t0) / max(t1 - t0, 1e-9)
            x[i0:i1] = x0 + (x1 - x0) * stroke_shape(s, shape, p1, p2)
        last_i, last_x = i1, x1
    x[last_i:] = last_x
    return x


def limb_wave(t_rel: np.ndarray, bout: dict[str, Any]) -> np.ndarray:
    """Irregular knee-bend waveform 0..1 over one bout: per cycle its own period, depth, rise share and
    a dwell at full bend; sometimes a pause between cycles. Flexion is quicker than extension."""
    rng = np.random.default_rng(bout["seed"])
    out = np.zeros(len(t_rel))
    jit = bout.get("jitter", 0.2)
    tc = 0.0
    dur = bout["dur_s"]
    while tc < dur:
        period = (1.0 / bout["hz"]) * float(np.clip(1 + jit * rng.normal(), 0.6, 1.5))
        depth = float(np.clip(1 + jit * rng.normal(), 0.55, 1.0))
        q = rng.uniform(0.25, 0.45)    # flexion share
        dw = rng.uniform(0.0, 0.2)     # dwell at full bend
        if tc + period > dur:
            break
        m = (t_rel >= tc) & (t_rel < tc + period)
        s = (t_rel[m] - tc) / period
        y = np.where(s < q, raised(s / q), np.where(s < q + dw, 1.0, 1.0 - raised((s - q - dw) / (1 - q - dw))))
        out[m] = depth * y
        tc += period
        if rng.random() < 0.2:
            tc += rng.uniform(0.5, 2.0)
    return np.minimum(out, 1.0)
