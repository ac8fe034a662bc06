"""The person on the roller: a session plan (minimum-jerk strokes, holds, re-positions, step-offs) and the
load it puts on the roller, from a delayed, noisy feedback controller and a Hunt-Crossley contact.

Model in short (docs/scenarios.md, "Third generator: controlsim"):

* The person aims for an intended load T(t) (their felt pressure: rolling level, hold level, less on a
  tender spot) and gets it by feed-forward; whatever disturbs it (the tissue's height profile under the
  moving contact through the stiffness of their posture, the push that drives the stroke, breathing,
  signal-dependent motor noise, tremor) is corrected by a feedback loop with a sensorimotor delay,
  muscle activation lag and a limited (leaky-integral) gain. The load is T + knee-bend load + creep +
  S(z) * disturbances, S the loop's sensitivity: slow disturbances mostly corrected, fast ones and those
  near the loop's crossover passed or amplified -- per person, as their delay and gain are drawn.
* Knee bends act through the leg's kinematics: the load change follows the sine of the knee angle
  (the leg's moment) plus the leg's vertical acceleration; the person accepts it (it is the movement
  they were told to make) rather than correct it.
* The body sits on the foam through a Hunt-Crossley contact F = k d^n (1 + a d'): linearised around the
  rolling load it is a damped second-order link (natural frequency from k_eff / effective mass) between
  the load the body applies and the load cells, and its stiffness turns the shell's surface (ribs,
  runout: a function of the shell angle) into a disturbance that grows with load as k_eff ~ F^((n-1)/n)
  and goes through the person's loop like the tissue profile.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import signal as sps

from .params import FAMILY_PLAN, FS_HZ, G, LOG_RANGES, SESSION_S, STROKE_STYLES, ranges_for


def min_jerk(u: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile 10u^3 - 15u^4 + 6u^5 on [0, 1] (Flash & Hogan 1985), clipped outside."""
    u = np.clip(u, 0.0, 1.0)
    return u * u * u * (10.0 - 15.0 * u + 6.0 * u * u)


class Draw:
    """Draws named values from the family's ranges and keeps every drawn value (the audit trail)."""

    def __init__(self, rng: np.random.Generator, family: str) -> None:
        self.rng = rng
        self.ranges = ranges_for(family)
        self.drawn: dict[str, Any] = {}

    def __call__(self, name: str, key: str | None = None) -> float:
        lo, hi = self.ranges[name]
        if name in LOG_RANGES and lo > 0:
            v = float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))
        else:
            v = float(self.rng.uniform(lo, hi))
        if key is not None:
            self.drawn[key] = v
        return v

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


@dataclass
class Plan:
    """What the person does, as lists of smooth changes; rendered on a grid by `render`."""

    fs_hz: float
    x0_cm: float
    moves: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, dur, dx cm) shell turns
    jumps: list[tuple[float, float]] = field(default_factory=list)  # (t, dx cm) new spot while off (no turn)
    levels: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, dur, d level frac BW)
    contact: list[tuple[float, float, float]] = field(default_factory=list)  # (t0, dur, +-1)
    phases: list[list[Any]] = field(default_factory=list)  # [kind, t0, t1, info]
    knee: list[dict[str, Any]] = field(default_factory=list)
    creep: list[tuple[float, float, float, float]] = field(default_factory=list)  # (t0, t1, frac, tau)
    strokes: list[dict[str, Any]] = field(default_factory=list)
    repositions: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    t_end_s: float = 0.0


class Planner:
    """Builds a family's session plan for one person."""

    def __init__(self, family: str, d: Draw, person: dict[str, Any]) -> None:
        self.family = family
        self.fam = FAMILY_PLAN[family]
        self.d = d
        self.rng = d.rng
        self.p = person
        self.L = person["segment_len_cm"]
        self.t = 0.0
        self.x = float(self.rng.uniform(0.3, 0.7) * self.L)
        self.level = 0.0
        self.plan = Plan(FS_HZ, self.x)

    # -- primitives ------------------------------------------------------------------------------
    def phase(self, kind: str, t0: float, t1: float, info: dict[str, Any] | None = None) -> None:
        if t1 <= t0:
            return
        self.plan.phases.append([kind, t0, t1, info or {}])

    def set_level(self, t0: float, dur: float, new: float) -> None:
        if new != self.level:
            self.plan.levels.append((t0, max(dur, 1e-3), new - self.level))
            self.level = new

    def move(self, dx: float, dur: float) -> None:
        self.plan.moves.append((self.t, dur, dx))
        self.x += dx
        self.t += dur

    def tender_at(self, x: float) -> float:
        return float(sum(a * np.exp(-0.5 * ((x - c) / w) ** 2) for c, w, a in self.p["tender"]))

    def spot(self) -> float:
        c, _w, _a = self.p["tender"][int(self.rng.integers(len(self.p["tender"])))]
        return float(np.clip(c + self.rng.normal(0.0, 1.0), 3.0, self.L - 3.0))

    # -- phases ----------------------------------------------------------------------------------
    def roll_bout(self, dur: float, style: str, end_at: float | None, step_on: bool, step_off: bool) -> None:
        """Strokes around the next spot for about `dur` s; ends stopped at `end_at` (a hold) or stepping off."""
        rng, d = self.rng, self.d
        t_start = self.t
        if step_on:
            t_on = d("step_on_s")
            self.plan.contact.append((self.t, t_on, 1.0))
            self.set_level(self.t, 1e-3, 0.0)
        rl = self.p["roll_frac_bw"] * rng.uniform(0.92, 1.08)
        self.set_level(self.t, d("settle_s") if not step_on else 0.3, rl)
        st = STROKE_STYLES[style]
        base_T = rng.uniform(*st["stroke_s"])
        base_trav = d("travel_cm")
        cv = self.p["stroke_cv"]
        centre = end_at if end_at is not None else self.spot()
        a = rng.uniform(0.3, 0.7)
        lo_x, hi_x = max(2.0, centre - a * base_trav), min(self.L - 2.0, centre + (1 - a) * base_trav)
        if hi_x - lo_x < 5.0:  # near an end of the segment: keep at least 5 cm of travel
            lo_x, hi_x = max(2.0, min(lo_x, self.L - 7.0)), min(self.L - 2.0, max(hi_x, 7.0))
        direction = 1.0 if abs(hi_x - self.x) > abs(self.x - lo_x) else -1.0
        t_stop = t_start + dur
        while True:
            target = (hi_x if direction > 0 else lo_x) + rng.normal(0.0, cv * 2.0)
            target = float(np.clip(target, 2.0, self.L - 2.0))
            self._stroke(target - self.x, base_T, st, style)
            direction = -direction
            if self.t >= t_stop:
                break
            self.t += rng.uniform(*st["pause_s"])
        if end_at is not None and abs(end_at - self.x) > 0.3:
            # final stroke into the spot: decelerates smoothly into the stop (minimum jerk)
            dist = end_at - self.x
            T = float(np.clip(base_T * np.sqrt(max(abs(dist), 1.0) / max(base_trav, 1.0)),
                              st["stroke_s"][0] * 0.5, st["stroke_s"][1]))
            self.t += rng.uniform(*st["pause_s"])
            self._stroke(dist, T, st, style, record=False)
        t_end = self.t
        if step_off:
            t_off = d("step_on_s")
            self.set_level(self.t, t_off, 0.0)
            self.plan.contact.append((self.t, t_off, -1.0))
            self.t += t_off
            t_end = self.t
        self.phase("roll", t_start, t_end, {"style": style})

    def _stroke(self, dx: float, base_T: float, st: dict[str, tuple[float, float]], style: str,
                record: bool = True) -> None:
        rng = self.rng
        xs = np.linspace(self.x, self.x + dx, 7)
        tender = max(self.tender_at(float(v)) for v in xs)
        T = base_T * float(np.exp(rng.normal(0.0, self.p["stroke_cv"]))) * (1.0 + self.p["tender_slow_down"] * tender)
        T = float(np.clip(T, *st["stroke_s"]))
        if record and rng.random() < self.p["hesitation_p"] and abs(dx) > 4.0:
            f = rng.uniform(0.3, 0.7)
            t0 = self.t
            self.move(dx * f, T * f)
            self.t += rng.uniform(0.2, 0.8)
            self.move(dx * (1 - f), T * (1 - f))
            self.plan.strokes.append({"t0_s": t0, "dur_s": self.t - t0, "dx_cm": dx, "style": style,
                                      "hesitation": True})
            return
        if record:
            self.plan.strokes.append({"t0_s": self.t, "dur_s": T, "dx_cm": dx, "style": style, "hesitation": False})
        self.move(dx, T)

    def hold(self, dur: float, load_frac: float, heavy: bool, knee: bool) -> None:
        rng, d = self.rng, self.d
        t0 = self.t
        lead = d("unload_lead_s")
        self.set_level(t0 + lead, d("settle_s"), load_frac)
        info: dict[str, Any] = {"load_frac_bw": load_frac, "heavy": heavy, "spot_x_cm": self.x}
        n_shift = int(rng.integers(1, 4)) if self.family == "long" else int(dur > 40.0 and rng.random() < 0.5)
        shifts = []
        for ts in np.sort(rng.uniform(t0 + 0.15 * dur, t0 + 0.85 * dur, n_shift)):
            frac = d("posture_shift_frac") * (1 if rng.random() < 0.5 else -1)
            self.set_level(float(ts), d("posture_shift_s"), self.level * (1 + frac))
            shifts.append({"t_s": float(ts), "frac": frac})
        info["posture_shifts"] = shifts
        cf, ct = d("creep_frac"), d("creep_tau_s")
        self.plan.creep.append((t0, t0 + dur, cf, ct))
        info["creep"] = {"frac": cf, "tau_s": ct}
        if knee:
            bouts = []
            tb = t0 + rng.uniform(2.0, 8.0)
            hz, swing = d("knee_hz"), d("knee_swing_frac_bw")
            sign = 1.0 if rng.random() < 0.5 else -1.0
            if sign < 0:  # a bend that unloads cannot take more than part of the hold's load (no lift-off)
                swing = min(swing, max(0.6 * load_frac, 0.03))
            rng_deg = d("knee_range_deg")
            th0 = rng.uniform(0.0, 20.0)
            while tb < t0 + dur - 4.0:
                te = min(tb + d("knee_bout_s"), t0 + dur - 1.0)
                if te - tb >= 6.0 and (te - tb - 3.0) * hz * 0.7 >= 1.0:  # a full bend inside the ramps
                    b = {"t0_s": float(tb), "t1_s": float(te), "hz": hz, "swing_frac_bw": swing, "sign": sign,
                         "range_deg": rng_deg, "theta0_deg": th0}
                    bouts.append(b)
                    self.plan.knee.append(b)
                tb = te + rng.uniform(3.0, 15.0)
            info["knee_bouts"] = bouts
        self.t = t0 + dur
        info["start_s"], info["end_s"] = t0, self.t
        self.plan.holds.append(info)
        self.phase("hold", t0, self.t, info)

    def reposition(self) -> None:
        """1-4 s of short irregular loaded movement of 2-8 cm to a new spot: movement, so `roll`."""
        rng = self.rng
        t0 = self.t
        dist = rng.uniform(2.0, 8.0) * (1 if rng.random() < 0.5 else -1)
        if not 3.0 <= self.x + dist <= self.L - 3.0:
            dist = -dist
        dur = rng.uniform(1.0, 4.0)
        n = int(rng.integers(2, 4))
        w = rng.dirichlet(np.ones(n) * 2.0)
        parts = w * dist
        if n == 3 and rng.random() < 0.4:  # a small step back and a longer one forward
            parts = np.array([dist * 0.7, -dist * 0.15, dist * 0.45])
        pauses = rng.uniform(0.0, 0.25, n - 1)
        move_time = dur - pauses.sum()
        times = rng.dirichlet(np.ones(n) * 3.0) * move_time
        self.set_level(t0, 0.3, self.level + rng.uniform(0.0, 0.6) * max(self.p["roll_frac_bw"] - self.level, 0.0))
        for i in range(n):
            self.move(float(parts[i]), float(times[i]))
            if i < n - 1:
                self.t += float(pauses[i])
        self.plan.repositions.append({"t0_s": t0, "t1_s": self.t, "dx_cm": float(dist)})
        self.phase("roll", t0, self.t, {"reposition": True})

    def off(self, dur: float) -> None:
        t0 = self.t
        new = self.spot()
        self.plan.jumps.append((t0 + dur / 2, new - self.x))
        self.x = new
        self.t += dur
        self.phase("off", t0, self.t)

    # -- the session -----------------------------------------------------------------------------
    def build(self) -> Plan:
        rng, d, fam = self.rng, self.d, self.fam
        target_len = rng.uniform(*SESSION_S)
        self.phase("off", 0.0, rng.uniform(2.0, 6.0))
        self.t = self.plan.phases[-1][2]
        on = False
        n_holds = 0
        short_done = not fam["short_hold"]
        while True:
            style = str(rng.choice(fam["styles"]))
            spot = self.spot()
            bout = d("roll_bout_s") * (1.3 if style == "slow" else 1.0)
            self.roll_bout(bout, style, spot, step_on=not on, step_off=False)
            on = True
            group = int(rng.integers(2, 5)) if rng.random() < fam["p_group"] else 1
            for g in range(group):
                heavy = rng.random() < fam["p_heavy"]
                load = d("heavy_hold_frac_bw") if heavy else d("light_hold_frac_bw")
                dur = rng.uniform(*fam["hold_s"])
                if not short_done and n_holds >= 1 and rng.random() < 0.5:
                    dur, short_done = rng.uniform(8.0, 20.0), True
                self.hold(dur, load, heavy, knee=rng.random() < fam["p_knee"])
                n_holds += 1
                if g < group - 1:
                    self.reposition()
            if self.t > target_len and n_holds >= 2:
                break
            if rng.random() < 0.35:
                self.roll_bout(d("roll_bout_s") * 0.5, style, None, step_on=False, step_off=True)
                self.off(d("off_s"))
                on = False
        self.roll_bout(d("roll_bout_s") * 0.5, style, None, step_on=False, step_off=True)
        self.off(rng.uniform(2.0, 5.0))
        self.plan.t_end_s = self.t
        return self.plan


def draw_person(d: Draw) -> dict[str, Any]:
    """One person: body, rolling habits, controller, tissue, foam and shell (every value recorded)."""
    rng = d.rng
    p: dict[str, Any] = {}
    for k in ("body_mass_kg", "height_m", "m_eff_frac", "leg_mass_frac", "roll_frac_bw", "delay_s",
              "crossover_x_delay", "dc_compensation", "activation_tau_s", "motor_cv", "motor_bw_hz", "tremor_frac",
              "tremor_hz", "tissue_h_std_cm", "posture_k_n_per_cm", "push_coupling", "rolling_resistance",
              "breath_hz", "breath_frac", "tender_press_less", "tender_slow_down", "stroke_cv", "hesitation_p",
              "indent_cm_at_250n", "hc_exponent", "contact_zeta", "shell_radius_cm", "slip_frac", "rib_height_mm",
              "rib_pitch_cm", "rib_bridge", "eccentricity_mm", "hold_rock_cm"):
        p[k] = d(k)
    p["segment_len_cm"] = d("segment_len_frac_h") * p["height_m"] * 100.0
    n_spots = int(rng.integers(1, 4))
    L = p["segment_len_cm"]
    p["tender"] = [(float(rng.uniform(0.25, 0.75) * L), d("tender_width_cm"), float(rng.uniform(0.4, 1.0)))
                   for _ in range(n_spots)]
    # tissue height profile along the segment: a distal taper (girth falls towards the knee) + 3 modes
    p["tissue_modes"] = [(float(rng.normal()), float(rng.uniform(0, 2 * np.pi))) for _ in range(3)]
    p["tissue_taper"] = float(rng.uniform(-1.0, 0.0))
    p["rib_second"] = float(rng.uniform(0.0, 0.5))  # a second rib family (grid pattern), relative height
    p["rib_sharp"] = float(rng.uniform(1.0, 4.0))
    p["ecc_phase"] = float(rng.uniform(0, 2 * np.pi))
    return p


def _profile(p: dict[str, Any], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Tenderness (0..~1) and tissue height (cm, zero-mean over the segment) at positions x (cm)."""
    tender = np.zeros_like(x)
    for c, w, a in p["tender"]:
        tender += a * np.exp(-0.5 * ((x - c) / w) ** 2)
    L = p["segment_len_cm"]
    grid = np.linspace(0.0, L, 200)

    def h(z: np.ndarray) -> np.ndarray:
        out = p["tissue_taper"] * (z / L - 0.5) * 2.0
        for m, (a, ph) in enumerate(p["tissue_modes"], start=1):
            out = out + a / m * np.sin(np.pi * m * z / L + ph)
        return out

    hg = h(grid)
    scale = p["tissue_h_std_cm"] / max(float(np.std(hg)), 1e-6)
    return tender, (h(x) - float(np.mean(hg))) * scale


def _smooth_noise(rng: np.random.Generator, n: int, fs: float, corner_hz: float) -> np.ndarray:
    """Unit-variance noise low-passed at corner_hz (2nd order)."""
    sos = sps.butter(2, min(corner_hz, 0.45 * fs), fs=fs, output="sos")
    y = sps.sosfilt(sos, rng.normal(size=n + int(fs * 5)))[int(fs * 5):]
    y = y - float(np.mean(y))  # zero mean over the span: a short span of slow noise is otherwise all offset
    return y / max(float(np.std(y)), 1e-12)


def _steps(t: np.ndarray, changes: list[tuple[float, float, float]]) -> np.ndarray:
    """Sum of minimum-jerk steps (t0, dur, delta) on grid t."""
    out = np.zeros_like(t)
    fs = 1.0 / (t[1] - t[0])
    for t0, dur, delta in changes:
        i0 = max(int(np.floor(t0 * fs)), 0)
        if i0 >= len(t):
            continue
        out[i0:] += delta * min_jerk((t[i0:] - t0) / dur)
    return out


def sensitivity(p: dict[str, Any], fs: float) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """The person's loop: S(z) = 1 / (1 + G(z) z^-d), G = leaky integrator x activation low-pass.

    Crossover ~ crossover_x_delay / delay (rad/s); DC loop gain from dc_compensation (share of a constant
    disturbance corrected). Gain reduced until every pole is inside the unit circle (a stable person).
    """
    ts = 1.0 / fs
    dly = max(1, int(round(p["delay_s"] * fs)))
    wc = p["crossover_x_delay"] / p["delay_s"]
    g_dc = p["dc_compensation"] / (1.0 - p["dc_compensation"])
    a = float(np.exp(-ts / p["activation_tau_s"]))
    for _ in range(20):
        rho = 1.0 - wc * ts / g_dc
        a_g = np.convolve([1.0, -rho], [1.0, -a])
        b_g = wc * ts * (1.0 - a)
        den = np.zeros(max(len(a_g), dly + 1))
        den[:len(a_g)] += a_g
        den[dly] += b_g
        if np.max(np.abs(np.roots(den))) < 0.999:
            break
        wc *= 0.7
    return a_g, den, {"crossover_rad_s": wc, "delay_samples": dly, "dc_loop_gain": g_dc}


@dataclass
class Truth:
    t_s: np.ndarray  # internal grid (s, true time)
    force_n: np.ndarray  # load on the roller (N)
    shell_cm: np.ndarray  # shell surface travel (cm): the angle sensor's truth
    contact: np.ndarray  # 0..1
    intended_n: np.ndarray
    knee_n: np.ndarray
    loop: dict[str, float]


def render(plan: Plan, p: dict[str, Any], rng: np.random.Generator, shell: str) -> Truth:
    """The load on the roller and the shell's travel on the internal grid."""
    fs = plan.fs_hz
    t = np.arange(0.0, plan.t_end_s, 1.0 / fs)
    n = len(t)
    W = p["body_mass_kg"] * G
    shell_cm = _steps(t, plan.moves)
    x_body = plan.x0_cm + shell_cm + _steps(t, [(tj, 1e-3, dx) for tj, dx in plan.jumps])
    level = _steps(t, plan.levels)
    c = np.clip(_steps(t, plan.contact), 0.0, 1.0)
    tender, h_cm = _profile(p, x_body)
    v_cm_s = np.gradient(shell_cm, 1.0 / fs)
    a_m_s2 = np.gradient(v_cm_s, 1.0 / fs) / 100.0
    # where the person is rolling (not holding): tenderness lowers the intended rolling load
    rolling = np.zeros(n)
    hold_mask = np.zeros(n)
    for kind, t0, t1, _info in plan.phases:
        i0, i1 = int(t0 * fs), int(t1 * fs)
        if kind == "roll":
            rolling[i0:i1] = 1.0
        elif kind == "hold":
            hold_mask[i0:i1] = 1.0
    k = int(fs)
    rolling = np.convolve(rolling, np.ones(k) / k, mode="same")
    intended = W * level * (1.0 - p["tender_press_less"] * np.minimum(tender, 1.0) * rolling)
    # creep / settling during holds, fading out over 0.5 s after the hold
    creep = np.zeros(n)
    for t0, t1, frac, tau in plan.creep:
        i0, i1 = int(t0 * fs), min(int(t1 * fs), n)
        tt = t[i0:i1] - t0
        creep[i0:i1] = frac * (1.0 - np.exp(-tt / tau))
        j1 = min(i1 + int(0.5 * fs), n)
        if i1 < n and i1 > i0:
            creep[i1:j1] = creep[i1 - 1] * (1.0 - min_jerk((t[i1:j1] - t[i1]) / 0.5))
    intended = intended * (1.0 + creep)
    # knee bends: load through the leg's kinematics (moment ~ sin(knee angle)) + the leg's acceleration
    knee = np.zeros(n)
    knee_norm = np.zeros(n)
    H = p["height_m"]
    m_leg = p["leg_mass_frac"] * p["body_mass_kg"]
    l_c = 0.606 * 0.246 * H  # leg + foot centre of mass from the knee (Winter Table 4.1)
    for b in plan.knee:
        i0, i1 = int(b["t0_s"] * fs), min(int(b["t1_s"] * fs), n)
        tt = t[i0:i1] - b["t0_s"]
        f_inst = b["hz"] * np.clip(1.0 + 0.15 * _smooth_noise(rng, len(tt), fs, 0.05), 0.7, 1.3)
        psi = 2 * np.pi * np.cumsum(f_inst) / fs
        env = min_jerk(tt / 1.5) * min_jerk((tt[-1] - tt) / 1.5)
        th0 = np.radians(b["theta0_deg"])
        th = th0 + np.radians(b["range_deg"]) * env * (1.0 - np.cos(psi)) / 2.0
        static = np.sin(th) - np.sin(th0)
        span = max(float(np.max(np.sin(th0 + np.radians(np.linspace(0, b["range_deg"], 50))) - np.sin(th0))), 1e-3)
        thd = np.gradient(th, 1.0 / fs)
        thdd = np.gradient(thd, 1.0 / fs)
        a_up = l_c * (thdd * np.cos(th) - thd ** 2 * np.sin(th))
        knee[i0:i1] = b["sign"] * (b["swing_frac_bw"] * W * static / span + 0.5 * m_leg * a_up)
        knee_norm[i0:i1] = static / span
    # disturbances the loop corrects (partly, late)
    d_pos = p["posture_k_n_per_cm"] * h_cm
    d_push = p["push_coupling"] * (0.6 * p["body_mass_kg"] * a_m_s2
                                   + p["rolling_resistance"] * intended * np.tanh(v_cm_s / 1.0))
    b_f = p["breath_hz"] * (1.0 + 0.1 * _smooth_noise(rng, n, fs, 0.03))
    psi_b = 2 * np.pi * np.cumsum(b_f) / fs
    breath_w = np.sin(psi_b) + 0.25 * np.sin(2 * psi_b + 0.8)  # inhale faster than exhale
    d_breath = p["breath_frac"] * intended * breath_w / 1.1
    motor = p["motor_cv"] * intended * _smooth_noise(rng, n, fs, p["motor_bw_hz"])
    tremor = p["tremor_frac"] * intended * np.sin(2 * np.pi * np.cumsum(
        p["tremor_hz"] * (1 + 0.05 * _smooth_noise(rng, n, fs, 0.5))) / fs)
    dist = c * (d_pos - np.mean(d_pos) + d_push + d_breath + motor + tremor)
    # Hunt-Crossley contact through the foam: k_eff = dF/dd = n k^(1/n) F^((n-1)/n)
    n_hc = p["hc_exponent"]
    k_hc = 250.0 / (p["indent_cm_at_250n"] / 100.0) ** n_hc

    def k_eff(f: np.ndarray | float) -> np.ndarray | float:
        return n_hc * k_hc ** (1.0 / n_hc) * np.maximum(f, 1.0) ** ((n_hc - 1.0) / n_hc)

    # rock of the shell during holds (breathing, knee bends): sub-millimetre, still a hold
    hold_s = np.convolve(hold_mask, np.ones(k) / k, mode="same") * hold_mask
    shell_cm = shell_cm + hold_s * p["hold_rock_cm"] * (np.sin(psi_b) + 0.5 * knee_norm)
    phi = shell_cm * (1.0 + p["slip_frac"]) / p["shell_radius_cm"]  # shell angle (rad)
    # the shell's surface under the body (runout once a turn; ribs on a ribbed shell) pushes the body up
    # against its posture: a disturbance like the tissue profile, so the loop corrects it the same way
    ripple_m = (p["eccentricity_mm"] / 1000.0) * np.sin(phi + p["ecc_phase"])
    ripple = p["posture_k_n_per_cm"] * 100.0 * ripple_m * 0.3
    if shell == "ribbed":
        n_rib = 2 * np.pi * p["shell_radius_cm"] / p["rib_pitch_cm"]
        sh = p["rib_sharp"]
        prof = np.tanh(sh * np.sin(n_rib * phi)) / np.tanh(sh)
        prof = prof + p["rib_second"] * np.sin(1.5 * n_rib * phi + 0.7)
        rib_m = 0.5 * p["rib_height_mm"] / 1000.0 * prof
        ripple = ripple + p["rib_bridge"] * k_eff(c * (intended + knee)) * rib_m
    num_s, den_s, loop = sensitivity(p, fs)
    load = c * (intended + knee) + sps.lfilter(num_s, den_s, dist + c * ripple)
    load = np.maximum(load, 0.0) * (c > 0)
    # the body on the contact, linearised at the rolling load: a damped 2nd-order link to the load cells
    f_roll = p["roll_frac_bw"] * W
    wn = float(np.sqrt(k_eff(f_roll) / (p["m_eff_frac"] * p["body_mass_kg"])))
    wn = min(wn, 2 * np.pi * 0.4 * fs)
    zeta = p["contact_zeta"]
    bz, az = sps.bilinear([wn * wn], [1.0, 2 * zeta * wn, wn * wn], fs=fs)
    force = sps.lfilter(bz, az, load)
    force = np.maximum(force, 0.0) * (c > 1e-3)
    loop.update({"contact_hz": wn / (2 * np.pi), "k_eff_n_per_m_at_roll": float(k_eff(f_roll))})
    return Truth(t, force, shell_cm, c, intended, knee, loop)
