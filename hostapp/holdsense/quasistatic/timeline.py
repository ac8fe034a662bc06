"""What the person does, as a timeline: where the roller sits on the body segment, how much
moment the person puts through it, when they are on the roller, and the truth phases.

Positions `x_cm` are along the rolled body segment from its proximal end (0 .. segment length).
The load the person chooses is expressed as a moment `m_m` (metres): the roller carries
F = W * m / r, with W the body weight and r the lever from the other support (hands/forearms)
to the roller (see physics.py). Holding m fixed while the roller travels is a fixed share of
weight on hands/feet; the force then changes along the segment by the lever alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .params import Drawer

STYLES = ("standard", "fast", "slow")


@dataclass
class Move:
    """Roller travel along the body from x0 to x1 (cm) over [t0, t1] (s) with a trapezoid speed profile."""

    t0: float
    t1: float
    x0: float
    x1: float
    accel_frac: float  # share of the move spent accelerating (and the same decelerating)


@dataclass
class Hold:
    """A hold: roller still at `spot_cm` from `t0` (the stop) to `t_end` (label end)."""

    t0: float
    t_end: float
    spot_cm: float
    load_frac_bw: float
    heavy: bool
    t_release0: float = 0.0  # load starts leaving the hold level
    t_release1: float = 0.0
    sink_rel: float = 0.0  # signed: positive = load decreases as the body settles
    sink_tau_s: float = 30.0
    shifts: list[tuple[float, float, float]] = field(default_factory=list)  # (t_s, rel step, duration_s)
    limb: dict | None = None  # swing_frac_bw, hz, sign, skew, cycles: [(t0, period_s, depth_rel)]
    rock_cm: float = 0.0


@dataclass
class Timeline:
    """Everything the physics needs, plus the truth phases (kind, t0, t1)."""

    duration_s: float
    x_init_cm: float
    moves: list[Move]
    m_knots: list[tuple[float, float]]  # (t_s, moment m) eased between knots
    r_knots: list[tuple[float, float]]  # (t_s, reference lever r_ref m) the person's feel is set at
    env_knots: list[tuple[float, float]]  # (t_s, 0..1 contact) eased between knots
    holds: list[Hold]
    phases: list[dict]  # {"kind": off|roll|hold|reposition, "start_s", "end_s", ...}


class _Builder:
    def __init__(self, d: Drawer, family: str, person: dict) -> None:
        self.d = d
        self.rng = d.rng
        self.family = family
        self.p = person
        self.L = person["segment_length_cm"]
        self.t = 0.0
        self.x = float(self.rng.uniform(0.3, 0.7) * self.L)
        self.x_init = self.x
        self.moves: list[Move] = []
        self.m_knots: list[tuple[float, float]] = [(0.0, 0.0)]
        self.r_knots: list[tuple[float, float]] = [(0.0, self.lever_m(self.x))]
        self.env_knots: list[tuple[float, float]] = [(0.0, 0.0)]
        self.holds: list[Hold] = []
        self.phases: list[dict] = []

    # --- helpers -------------------------------------------------------------
    def lever_m(self, x_cm: float) -> float:
        return self.p["support_lever_m"] + x_cm / 100.0

    def clip_x(self, x: float) -> float:
        return float(np.clip(x, 1.0, self.L - 1.0))

    def m_to(self, t0: float, t1: float, v: float, r_ref: float | None = None) -> None:
        """Eased change of the chosen moment to v over [t0, t1] (and of the reference lever,
        where the person aims for their load, to r_ref if given)."""
        lt, lv = self.m_knots[-1]
        lr = self.r_knots[-1][1]
        t0 = max(t0, lt)
        t1 = max(t1, t0 + 1e-3)
        self.m_knots.append((t0, lv))
        self.m_knots.append((t1, v))
        self.r_knots.append((t0, lr))
        self.r_knots.append((t1, lr if r_ref is None else r_ref))

    def env_to(self, t0: float, t1: float, v: float) -> None:
        lt, lv = self.env_knots[-1]
        t0 = max(t0, lt)
        self.env_knots.append((t0, lv))
        self.env_knots.append((max(t1, t0 + 1e-3), v))

    def phase(self, kind: str, t0: float, t1: float, **extra) -> None:
        self.phases.append({"kind": kind, "start_s": t0, "end_s": t1, **extra})

    def move(self, dur: float, x1: float, accel: float) -> None:
        self.moves.append(Move(self.t, self.t + dur, self.x, x1, accel))
        self.t += dur
        self.x = x1

    # --- phases --------------------------------------------------------------
    def off(self, dur: float) -> None:
        """Nobody on the roller. A step-off ramp (already begun by the caller) ends at self.t."""
        t0 = self.t
        self.phase("off", t0, t0 + dur)
        self.t = t0 + dur

    def step_off(self) -> None:
        """Contact ends at the end of a ramp that starts now (belongs to the phase before)."""
        ramp = self.d.local("step_ramp_s")
        self.env_to(self.t, self.t + ramp, 0.0)
        self.t += ramp
        # the previous phase lasts until contact ends (a hold keeps its load pattern until then)
        self.phases[-1]["end_s"] = self.t
        if self.phases[-1]["kind"] == "hold":
            self.holds[-1].t_end = self.t

    def step_on(self, m_level: float, r_ref: float) -> float:
        """Contact ramps up from now; the person lands on a new spot. Returns the ramp end."""
        # landing spot: anywhere on the segment (the shell does not turn while nobody is on it)
        x_new = self.clip_x(self.rng.uniform(0.2, 0.8) * self.L)
        # placed while nobody is on the roller (off stretches last >= 1.5 s), so the shell stays put
        self.moves.append(Move(self.t - 0.5, self.t - 0.5, self.x, x_new, 0.3))
        self.x = x_new
        ramp = self.d.local("step_ramp_s")
        self.m_to(self.t - 1e-3, self.t, m_level, r_ref)  # level set while unloaded
        self.env_to(self.t, self.t + ramp, 1.0)
        return ramp

    def roll_bout(self, dur: float, style: str, spot: float | None, after_off: bool) -> float:
        """Rolling strokes for about `dur` s, ending (stopped) at `spot` if given. Returns the bout's load frac."""
        p = self.p
        rng = self.rng
        t_start = self.t
        frac = p["rolling_load_frac_bw"] * (1 + rng.uniform(-1, 1) * p["bout_load_jitter_rel"])
        centre = self.clip_x(spot + rng.uniform(-2, 2) if spot is not None else self.x + rng.uniform(-3, 3))
        centre = float(np.clip(centre, 0.25 * self.L, 0.75 * self.L))
        m_roll = frac * self.lever_m(centre)
        if after_off:
            ramp = self.step_on(m_roll, self.lever_m(centre))
            self.t += ramp * rng.uniform(0.3, 1.0)  # strokes start during or just after the step-on
        else:
            # leaving a hold: load moves to the rolling level around the first stroke's start
            lead = rng.uniform(-0.4, 0.2)
            ramp = rng.uniform(0.3, 1.0)
            self._release(self.t + lead, self.t + lead + ramp)
            self.m_to(self.t + lead, self.t + lead + ramp, m_roll, self.lever_m(centre))
        stroke_s = p["stroke_s"][style]
        amp_cm = p["stroke_travel_cm"]
        jit = p["stroke_jitter_rel"]
        direction = 1.0 if self.x < centre else -1.0
        t_goal = t_start + dur
        n = 0
        while True:
            amp = amp_cm * rng.uniform(1 - jit, 1 + jit)
            target = self.clip_x(centre + direction * amp / 2)
            dist = abs(target - self.x)
            if dist < 1.0:
                direction = -direction
                continue
            tdur = self._stroke_dur(stroke_s, dist, amp_cm, direction)
            self.move(tdur, target, self._accel())
            n += 1
            if self.t >= t_goal - stroke_s and n >= 2:
                break
            self._reversal_pause(style)
            direction = -direction
            centre = float(np.clip(centre + rng.normal(0, p["centre_wander_cm"]), 0.25 * self.L, 0.75 * self.L))
        if spot is not None:
            self._reversal_pause(style, allow_stop=False)
            dist = abs(spot - self.x)
            if dist < 1.0:  # come back through the spot: a short stroke away first
                away = self.clip_x(self.x + (4.0 if self.x < 0.5 * self.L else -4.0))
                self.move(self._stroke_dur(stroke_s, abs(away - self.x), amp_cm, 1.0), away, self._accel())
                self._reversal_pause(style, allow_stop=False)
                dist = abs(spot - self.x)
            self.move(self._stroke_dur(stroke_s, dist, amp_cm, np.sign(spot - self.x)), spot, self._accel())
        self.phase("roll", t_start, self.t, style=style, load_frac_bw=round(frac, 4),
                   stroke_s=round(stroke_s, 3), strokes=n)
        return frac

    def _stroke_dur(self, stroke_s: float, dist: float, amp: float, direction: float) -> float:
        p = self.p
        asym = 1 + p["stroke_asymmetry_rel"] * (0.5 if direction > 0 else -0.5)
        j = self.rng.uniform(1 - p["stroke_jitter_rel"], 1 + p["stroke_jitter_rel"])
        return max(0.3, stroke_s * asym * j * np.sqrt(max(dist, 0.5) / amp))

    def _accel(self) -> float:
        return float(np.clip(self.p["stroke_accel_frac"] + self.rng.normal(0, 0.04), 0.08, 0.5))

    def _reversal_pause(self, style: str, allow_stop: bool = True) -> None:
        p = self.p
        pause = p["reversal_pause_s"] * self.rng.uniform(0.5, 1.5)
        if allow_stop and self.rng.random() < p["brief_stop_p"]:
            pause = self.rng.uniform(1.0, 3.5)  # a brief stop: still rolling (far below 5 s)
        self.t += pause

    def _release(self, t0: float, t1: float) -> None:
        if self.holds and self.holds[-1].t_release1 == 0.0:
            h = self.holds[-1]
            h.t_release0 = max(t0, h.t0 + 0.5)
            h.t_release1 = max(t1, h.t_release0 + 1e-3)

    def hold(self, dur: float, heavy: bool, limb: bool, long_hold: bool) -> Hold:
        """Roller still at the current spot for `dur` s (the caller ends it)."""
        d = self.d
        rng = self.rng
        t0 = self.t
        frac = d.local("heavy_hold_frac_bw") if heavy else d.local("light_hold_frac_bw")
        m_hold = frac * self.lever_m(self.x)
        delay = rng.uniform(0.0, 0.3)
        settle = d.local("hold_settle_s")
        self.m_to(t0 + delay, t0 + delay + settle, m_hold, self.lever_m(self.x))
        h = Hold(t0=t0, t_end=t0 + dur, spot_cm=self.x, load_frac_bw=frac, heavy=heavy)
        sink = d.local("sink_rel")
        h.sink_rel = sink if rng.random() < 0.75 else -0.6 * sink  # mostly settles off the roller
        h.sink_tau_s = d.local("sink_tau_s")
        n_shift = int(rng.integers(1, 4)) if long_hold else int(dur > 40 and rng.random() < 0.3)
        for _ in range(n_shift):
            ts = t0 + rng.uniform(0.15, 0.85) * dur
            h.shifts.append((ts, d.local("posture_shift_rel") * rng.choice([-1.0, 1.0]), d.local("posture_shift_s")))
        h.shifts.sort()
        h.rock_cm = d.local("hold_rock_cm")
        if limb:
            h.limb = self._limb_bouts(t0 + settle + rng.uniform(1.0, 5.0), t0 + dur - 1.0, frac)
        self.holds.append(h)
        self.t = t0 + dur
        return h

    def _limb_bouts(self, t_a: float, t_b: float, hold_frac: float) -> dict:
        d = self.d
        rng = self.rng
        swing = d.local("limb_swing_frac_bw")
        hz = d.local("limb_hz")
        jit = d.local("limb_cycle_jitter_rel")
        continuous = rng.random() < 0.25
        cycles: list[tuple[float, float, float]] = []
        t = t_a
        while t < t_b:
            n = int(round(d.local("limb_cycles_per_bout")))
            for _ in range(n):
                period = (1.0 / hz) * rng.uniform(1 - jit, 1 + jit)
                if t + period > t_b:
                    break
                cycles.append((t, period, float(np.clip(rng.uniform(1 - jit, 1 + jit), 0.7, 1.3))))
                t += period
            if not continuous:
                t += d.local("limb_rest_s")
            if t + 1.0 / hz > t_b:
                break
        # bending the knee moves the leg's centre of mass towards or away from the roller: the
        # load rises or falls; it can only fall by less than what the roller carries
        sign = float(rng.choice([-1.0, 1.0]))
        if swing * 1.3 > 0.7 * hold_frac:
            sign = 1.0
        if sign > 0:  # a heavy hold plus the bend stays under ~0.65 BW on the spot (domain: 600-900 N top)
            swing = min(swing, max(0.03, (0.65 - hold_frac) / 1.3))
        return {"swing_frac_bw": swing, "hz": hz, "sign": sign,
                "skew": float(rng.uniform(0.7, 1.4)), "continuous": continuous, "cycles": cycles}

    def reposition(self) -> None:
        """1-4 s of short irregular loaded motion to a spot 2-8 cm away; ends stopped there."""
        d = self.d
        rng = self.rng
        t_start = self.t
        window = d.local("reposition_s")
        dist = d.local("reposition_cm") * rng.choice([-1.0, 1.0])
        if not (1.0 <= self.x + dist <= self.L - 1.0):
            dist = -dist
        target = self.clip_x(self.x + dist)
        k = int(rng.integers(2, 5))
        parts = rng.dirichlet(np.full(k, 3.0)) * window
        pauses = parts * rng.uniform(0.0, 0.3, k)
        pauses[-1] = 0.0
        x_start = self.x
        cum = np.cumsum(rng.dirichlet(np.full(k, 2.0)))
        m_now = self.m_knots[-1][1]
        unload = d.local("reposition_unload_rel")
        lead = rng.uniform(-0.3, 0.1)
        self._release(t_start + lead, t_start + lead + 0.3)
        for i in range(k):
            xi = target if i == k - 1 else self.clip_x(x_start + dist * cum[i] + rng.normal(0, 0.8))
            mv = parts[i] - pauses[i]
            self.m_to(self.t + (lead if i == 0 else 0.0), self.t + mv * 0.6,
                      m_now * (1 - unload * rng.uniform(0.3, 1.0)))
            self.move(max(mv, 0.2), xi, float(rng.uniform(0.2, 0.5)))
            self.t += pauses[i]
        self.phase("reposition", t_start, self.t, travel_cm=round(target - x_start, 3))

    def build(self) -> Timeline:
        for h in self.holds:
            if h.t_release1 == 0.0:  # ended by a step-off: the factor fades with the contact
                h.t_release0 = h.t_end
                h.t_release1 = h.t_end + 1e-3
        return Timeline(self.t, self.x_init, self.moves, self.m_knots, self.r_knots, self.env_knots, self.holds,
                        self.phases)


def person_draws(d: Drawer, family: str) -> dict:
    """Session-level (person and style) parameters."""
    p: dict = {}
    for name in ("body_mass_kg", "segment_length_m", "support_lever_m", "rolling_load_frac_bw",
                 "bout_load_jitter_rel", "lever_compensation_rel", "stroke_travel_cm", "stroke_jitter_rel", "stroke_asymmetry_rel",
                 "stroke_accel_frac", "reversal_pause_s", "centre_wander_cm", "brief_stop_p"):
        p[name] = d(name)
    p["segment_length_cm"] = p["segment_length_m"] * 100.0
    p["stroke_s"] = {s: d(f"stroke_s_{s}") for s in STYLES}
    return p


FAMILY_STYLE = {"fast": "fast", "slow": "slow"}


def build_timeline(d: Drawer, family: str, person: dict) -> Timeline:
    """The session plan for one family (see docs/scenarios.md, quasistatic families)."""
    rng = d.rng
    b = _Builder(d, family, person)
    session_s = d("session_s")
    min_holds = 2 if family == "long" else 3
    max_s = 600.0  # the last hold ends by then; a short closing bout and the step-off follow
    heavy_p = {"mixed": 0.3, "standard": 0.3, "dropouts": 0.3}.get(family, 0.2)
    limb_p = {"limb": 1.0, "mixed": 0.5}.get(family, 0.0)
    repos_p = {"reposition": 1.0, "mixed": 0.4, "standard": 0.15, "limb": 0.1}.get(family, 0.0)
    stepoff_p = 0.35
    b.off(d.local("off_s") * 0.5)
    after_off = True
    n_holds = 0
    while True:
        style = FAMILY_STYLE.get(family, "standard")
        if family == "mixed":
            style = str(rng.choice(STYLES, p=[0.4, 0.3, 0.3]))
        bout = d.local("roll_bout_s")
        if n_holds >= min_holds and b.t + bout + 15.0 > max_s:
            if not after_off:
                b.step_off()
            b.off(d.local("off_s") * 0.5)
            break
        spot = b.clip_x(rng.uniform(0.25, 0.75) * b.L)
        b.roll_bout(bout, style, spot, after_off)
        after_off = False
        # one hold, or (re-position family / sometimes) a group of holds joined by re-positions
        group = 1
        if rng.random() < repos_p:
            group = int(rng.integers(2, 5)) if family == "reposition" else 2
        for gi in range(group):
            long_hold = family == "long"
            if long_hold:
                dur = d.local("long_hold_s")
            elif family in ("standard", "dropouts") and rng.random() < 0.2:
                dur = d.local("short_hold_s")
            else:
                dur = d.local("hold_s")
            if family == "reposition":
                dur = min(dur, rng.uniform(15.0, 60.0))
            if b.t + dur > max_s:
                dur = max(8.0, max_s - b.t)
            heavy = rng.random() < heavy_p
            limb = rng.random() < limb_p
            h = b.hold(dur, heavy, limb, long_hold)
            b.phase("hold", h.t0, h.t_end, heavy=heavy, limb=limb)
            n_holds += 1
            if gi < group - 1:
                b.reposition()
        done = (b.t >= session_s and n_holds >= min_holds) or (n_holds >= min_holds and b.t > max_s - 25.0)
        if done:
            if rng.random() < 0.4:
                b.roll_bout(d.local("roll_bout_s") * 0.5, FAMILY_STYLE.get(family, "standard"), None, False)
            b.step_off()
            b.off(d.local("off_s") * 0.5)
            break
        if rng.random() < stepoff_p:
            b.step_off()
            b.off(d.local("off_s"))
            after_off = True
    return b.build()
