"""trajsim behaviour: the person's roller trajectory and load intent as a plan of min-jerk moves.

What: a `Planner` writes a session as knots of two piecewise minimum-jerk curves, the roller
position along the limb (`position_cm`, travel = shell angle x radius) and the commanded share of
body weight on the roller (`share`, 1 = body weight), plus the ground-truth segments (off / roll /
hold) and event lists (strokes, holds, limb bouts, posture shifts, creep).
Why min-jerk: human point-to-point arm/body movements follow smooth, bell-shaped velocity
profiles (Flash & Hogan 1985), so each stroke, search move, re-position and step is one
min-jerk move between rest points, with stroke-to-stroke variability in duration and travel.
Ground truth follows from the plan itself: a hold is a stretch with no move of at least 5 s
(contracts: a sustained, loaded, still stretch of at least 5 s); pauses between moves are
short enough that, with the nearly still ends of the moves either side (a min-jerk move starts
and stops slowly), the roller is never still for 5 s inside rolling; unloaded time is off.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .params import RANGES, draw, draw_int

STATE_OFF, STATE_ROLL, STATE_HOLD = 0, 1, 2
STATE_NAMES = ("off", "roll", "hold")
MIN_HOLD_S = 5.0  # contracts.md: a hold is a sustained, loaded, still stretch of at least 5 s
#: the roller counts as still below this speed (1 mm/s: about 0.8 AS5600 steps per second on a
#: 7.5 cm shell, inside the angle noise over a second)
STILL_CM_S = 0.1
#: the longest still time allowed inside rolling: a pause plus the slow ends of the moves either side
MAX_STILL_S = 4.5
#: upper bound of the slow start of any move the planner makes (strokes: T <= 8 s over >= 7.5 cm;
#: slowing moves: T <= 10 s at >= SLOWING_MIN_CM_S; search, approach and step moves are shorter):
#: the next move is not drawn yet when a pause is planned
NEXT_TAIL_MAX_S = 1.0
SLOWING_MIN_CM_S = 0.5


def still_tail_s(dur_s: float, dist_cm: float, still_cm_s: float = STILL_CM_S) -> float:
    """How long (s) one end of a min-jerk move of `dur_s` over `dist_cm` is slower than `still_cm_s`.

    Why: the speed 30 (D/T) tau^2 (1-tau)^2 starts and ends at zero, so a reversal pause is
    flanked by stretches in which the roller hardly moves; together they must stay under 5 s, or
    the rolling holds a stretch that is a hold by the contract's definition.
    """
    dist_cm = abs(dist_cm)
    if dur_s <= 0:
        return 0.0
    if dist_cm == 0:
        return dur_s / 2
    c = still_cm_s * dur_s / dist_cm
    if c >= 30.0 / 16.0:  # never faster than the threshold: the whole move is still
        return dur_s / 2
    lo, hi = 0.0, 0.5  # 30 tau^2 (1 - tau)^2 rises on [0, 0.5]
    for _ in range(40):
        mid = (lo + hi) / 2
        if 30.0 * mid * mid * (1 - mid) ** 2 < c:
            lo = mid
        else:
            hi = mid
    return lo * dur_s


class MinJerkCurve:
    """A piecewise minimum-jerk curve through knots (t_s, value): between two knots the value moves
    from one to the next along 10τ³-15τ⁴+6τ⁵ (zero velocity and acceleration at both ends)."""

    def __init__(self, t0_s: float, v0: float) -> None:
        self.t_s: list[float] = [t0_s]
        self.v: list[float] = [v0]

    @property
    def last_t_s(self) -> float:
        return self.t_s[-1]

    @property
    def last(self) -> float:
        return self.v[-1]

    def to(self, t_s: float, v: float) -> None:
        """Move to value v, arriving at t_s (stays at the last value until then if the last knot is older)."""
        if t_s < self.t_s[-1] - 1e-9:
            raise ValueError(f"knot at {t_s} s before the last knot at {self.t_s[-1]} s")
        if t_s - self.t_s[-1] < 1e-6:
            self.v[-1] = v
            return
        self.t_s.append(t_s)
        self.v.append(v)

    def ramp(self, start_s: float, dur_s: float, v: float) -> float:
        """Stay until start_s (or the last knot if later), then move to v over dur_s; returns the end time."""
        a = max(start_s, self.t_s[-1])
        self.to(a, self.v[-1])
        self.to(a + max(dur_s, 1e-3), v)
        return a + max(dur_s, 1e-3)

    def eval(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Value, first and second time derivative (per s, per s²) at times t_s."""
        kt = np.asarray(self.t_s)
        kv = np.asarray(self.v)
        t = np.asarray(t_s, dtype=np.float64)
        i = np.clip(np.searchsorted(kt, t, side="right") - 1, 0, len(kt) - 1)
        j = np.minimum(i + 1, len(kt) - 1)
        dt = kt[j] - kt[i]
        inside = (dt > 0) & (t >= kt[0]) & (t <= kt[-1])
        dts = np.where(dt > 0, dt, 1.0)
        tau = np.clip((t - kt[i]) / dts, 0.0, 1.0)
        d = np.where(inside, kv[j] - kv[i], 0.0)
        t2 = tau * tau
        s = t2 * tau * (10.0 - 15.0 * tau + 6.0 * t2)
        s1 = 30.0 * t2 * (1.0 - 2.0 * tau + t2)
        s2 = 60.0 * tau - 180.0 * t2 + 120.0 * t2 * tau
        base = np.where(t >= kt[-1], kv[-1], kv[i])
        return base + d * s, d * s1 / dts, d * s2 / (dts * dts)


@dataclass
class Person:
    """Behavioural traits of one person (drawn per seed; see RANGES)."""

    mass_kg: float
    roll_share: float
    light_share: float
    heavy_share: float
    heavy_prob: float
    share_jitter: float
    stroke_cm: float
    stroke_cv: float
    centre_walk_cm: float
    stroke_mean_s: dict[str, float]
    pause_mean_s: dict[str, float]
    press_change_prob: float
    shift_prob: float
    limb_prob: float
    limb_hz: float
    limb_swing_frac: float
    limb_sign: float
    rock_mm: float
    creep_sign: float


def draw_person(rng: np.random.Generator) -> Person:
    """One person: body mass, load habits and movement habits, each uniform over its RANGES entry."""
    stroke_mean = {s: draw(rng, f"stroke_{s}_s") for s in ("standard", "fast", "slow")}
    pause_mean = {s: draw(rng, f"pause_{s}_s") for s in ("standard", "fast", "slow")}
    return Person(
        mass_kg=draw(rng, "body_mass_kg"), roll_share=draw(rng, "roll_share"),
        light_share=draw(rng, "light_hold_share"), heavy_share=draw(rng, "heavy_hold_share"),
        heavy_prob=draw(rng, "heavy_hold_prob"), share_jitter=draw(rng, "hold_share_jitter"),
        stroke_cm=draw(rng, "stroke_cm"), stroke_cv=draw(rng, "stroke_cv"),
        centre_walk_cm=draw(rng, "centre_walk_cm"), stroke_mean_s=stroke_mean, pause_mean_s=pause_mean,
        press_change_prob=draw(rng, "press_change_prob"), shift_prob=draw(rng, "shift_prob"),
        limb_prob=draw(rng, "limb_prob"), limb_hz=draw(rng, "limb_hz"),
        limb_swing_frac=draw(rng, "limb_swing_frac"), limb_sign=float(rng.choice([-1.0, 1.0])),
        rock_mm=draw(rng, "rock_mm"), creep_sign=1.0 if rng.random() < 0.7 else -1.0,
    )


def _stroke_style(style: str) -> str:
    return {"fast": "fast", "slow": "slow"}.get(style, "standard")


def _hold_range(style: str) -> tuple[float, float]:
    name = {"fast": "hold_fast_s", "limb": "hold_limb_s", "reposition": "hold_group_s",
            "long": "hold_long_s"}.get(style, "hold_standard_s")
    return RANGES[name][0], RANGES[name][1]


@dataclass
class Plan:
    """A planned session: curves, ground-truth segments and event lists (all times in s)."""

    position: MinJerkCurve
    share: MinJerkCurve
    segments: list[list[Any]]
    end_s: float
    strokes: list[dict[str, Any]] = field(default_factory=list)
    holds: list[dict[str, Any]] = field(default_factory=list)
    limb_bouts: list[dict[str, Any]] = field(default_factory=list)
    shifts: list[dict[str, Any]] = field(default_factory=list)
    sets: list[dict[str, Any]] = field(default_factory=list)


class Planner:
    """Writes one session as a Plan. `profile(x_cm)` is the person's anatomy load profile: during
    a hold the person regulates the felt load, so the commanded share is target / profile(spot)."""

    def __init__(self, rng: np.random.Generator, person: Person, profile: Callable[[np.ndarray], np.ndarray],
                 target_s: float) -> None:
        self.rng, self.p, self.profile = rng, person, profile
        lo_s, hi_s = RANGES["session_s"][:2]
        self.target_s = float(np.clip(target_s, lo_s + 4.0, hi_s - 20.0))
        self.off_end_s = draw(rng, "off_end_s")
        self.t = 0.0
        x0 = float(rng.uniform(-5.0, 5.0))
        self.pos = MinJerkCurve(0.0, x0)
        self.share = MinJerkCurve(0.0, 0.0)
        self.plan = Plan(self.pos, self.share, [], 0.0)
        self.dir = float(rng.choice([-1.0, 1.0]))
        self.group = 0
        self.roll_cmd = person.roll_share  # commanded rolling share (set per set, see do_set)
        self._end_tail_s = 0.0  # slow end of the last move (s), for the pause that follows it

    # ---------------------------------------------------------------- primitives
    @property
    def x(self) -> float:
        return self.pos.last

    def _seg(self, kind: str, t0: float, t1: float) -> None:
        segs = self.plan.segments
        if t1 - t0 <= 1e-9:
            return
        if segs and segs[-1][0] == kind and abs(segs[-1][2] - t0) < 1e-9:
            segs[-1][2] = t1
        else:
            segs.append([kind, t0, t1])

    def _move(self, x_to: float, dur_s: float, kind: str, style: str = "") -> None:
        t0 = self.t
        self.pos.to(t0, self.x)
        x0 = self.x
        self.pos.to(t0 + dur_s, x_to)
        self.t = t0 + dur_s
        self._end_tail_s = still_tail_s(dur_s, x_to - x0)
        self._seg("roll", t0, self.t)
        self.plan.strokes.append({"kind": kind, "style": style, "start_s": t0, "end_s": self.t,
                                  "from_cm": x0, "to_cm": x_to})

    def _pause(self, dur_s: float) -> None:
        """Stay put for dur_s inside rolling, shortened so that the pause and the slow ends of the
        moves either side stay under MAX_STILL_S (a still stretch of 5 s would be a hold)."""
        dur_s = min(dur_s, MAX_STILL_S - self._end_tail_s - NEXT_TAIL_MAX_S)
        if dur_s <= 0:
            return
        self._seg("roll", self.t, self.t + dur_s)
        self.t += dur_s

    def _share_back_to_roll(self) -> None:
        """At the start of a movement after a hold: ramp the load back to the rolling share."""
        if abs(self.share.last - self.roll_cmd) > 1e-9:
            self.share.ramp(self.t, draw(self.rng, "unsettle_s"), self.roll_cmd)

    def off(self, dur_s: float) -> None:
        self._seg("off", self.t, self.t + dur_s)
        self.t += dur_s

    def step_on(self) -> None:
        ramp = draw(self.rng, "step_ramp_s")
        self.share.ramp(self.t, ramp, self.roll_cmd)
        self._move(self.x + self.dir * draw(self.rng, "step_move_cm"), ramp, "step_on")
        self._pause(float(self.rng.uniform(0.3, 2.0)))

    def step_off(self) -> None:
        ramp = draw(self.rng, "step_ramp_s")
        self.share.ramp(self.t, ramp, 0.0)
        self._move(self.x + float(self.rng.choice([-1.0, 1.0])) * draw(self.rng, "step_move_cm"), ramp, "step_off")

    # ---------------------------------------------------------------- behaviours
    def _stroke_draw(self, style: str) -> tuple[float, float, float]:
        s = _stroke_style(style)
        lo, hi = RANGES[f"stroke_{s}_s"][:2]
        dur = float(np.clip(self.p.stroke_mean_s[s] * math.exp(self.rng.normal(0, self.p.stroke_cv)), lo, hi))
        plo, phi = RANGES[f"pause_{s}_s"][:2]
        pause = float(np.clip(self.p.pause_mean_s[s] * math.exp(self.rng.normal(0, 0.3)), plo, phi))
        tlo, thi = RANGES["stroke_cm"][:2]
        travel = float(np.clip(self.p.stroke_cm * math.exp(self.rng.normal(0, self.p.stroke_cv)), tlo, thi))
        return dur, pause, travel

    def roll_phase(self, style: str, dur_s: float, centre_cm: float) -> None:
        """Full strokes around centre_cm for about dur_s (min-jerk, variable duration/travel, pauses)."""
        self._share_back_to_roll()
        t_end = self.t + dur_s
        centre = centre_cm
        tlo, thi = RANGES["stroke_cm"][:2]
        while self.t < t_end:
            dur, pause, travel = self._stroke_draw(style)
            centre += self.rng.normal(0, self.p.centre_walk_cm) + 0.3 * (centre_cm - centre)
            target = centre + self.dir * travel / 2
            if (target - self.x) * self.dir <= 0:  # already past it: turn and go the full way
                self.dir = -self.dir
                target = centre + self.dir * travel / 2
            d = float(np.clip(abs(target - self.x), tlo, thi))
            self._move(self.x + self.dir * d, dur, "stroke", _stroke_style(style))
            self.dir = -self.dir
            self._pause(pause)

    def search(self, style: str, spot_cm: float) -> None:
        """Pressure seeking: slowing, shrinking strokes toward the spot, small back-and-forth moves, approach."""
        dur, pause, travel = self._stroke_draw(style)
        slow_f = draw(self.rng, "search_slow_factor")
        for _ in range(draw_int(self.rng, "search_slow_strokes")):
            dur *= slow_f
            travel *= float(self.rng.uniform(0.5, 0.75))
            cap_s = 1.25 * RANGES[f"stroke_{_stroke_style(style)}_s"][1]
            x_to = spot_cm + self.dir * travel / 2
            # slow, not crawling: a move of a few mm over 10 s would be still time inside rolling
            cap_s = min(cap_s, max(abs(x_to - self.x), 0.5) / SLOWING_MIN_CM_S)
            self._move(x_to, min(dur, cap_s), "slowing", _stroke_style(style))
            self.dir = -self.dir
            self._pause(pause)
        for _ in range(draw_int(self.rng, "search_moves")):
            self._move(spot_cm + self.dir * draw(self.rng, "search_cm") / 2, draw(self.rng, "search_move_s"), "search")
            self.dir = -self.dir
            self._pause(draw(self.rng, "search_pause_s"))
        self._move(spot_cm, float(self.rng.uniform(0.6, 2.0)), "approach")

    def reposition(self) -> None:
        """1-4 s of short irregular loaded motion (1-3 min-jerk sub-moves) to a spot 2-8 cm away."""
        dur = draw(self.rng, "repos_s")
        dist = draw(self.rng, "repos_cm") * float(self.rng.choice([-1.0, 1.0]))
        n = draw_int(self.rng, "repos_submoves")
        fr_x = self.rng.dirichlet(np.full(n, 2.0))
        fr_t = 0.15 + 0.85 * self.rng.dirichlet(np.full(n, 2.0))
        fr_t = fr_t / fr_t.sum()
        dip = self.share.last * (1.0 - draw(self.rng, "repos_dip_frac"))
        t0, x0 = self.t, self.x
        self.share.ramp(self.t, dur / 2, dip)
        for k in range(n):
            self._move(self.x + dist * fr_x[k], dur * fr_t[k], "reposition")
        self.plan.strokes[-1]["group_move"] = {"start_s": t0, "end_s": self.t, "travel_cm": abs(self.x - x0)}

    def hold(self, style: str, dur_s: float, *, limb: bool, long: bool) -> None:
        """Still on the spot for dur_s: settle to the felt target, then pressure changes, posture shifts,
        creep and related-limb bouts; the roller does not travel (rocking < 0.5 mm aside)."""
        rng, p = self.rng, self.p
        t0, t1, spot = self.t, self.t + dur_s, self.x
        heavy = bool(rng.random() < p.heavy_prob) and style != "limb"
        felt = (p.heavy_share if heavy else p.light_share) * math.exp(rng.normal(0, p.share_jitter))
        gain = float(self.profile(np.array([spot]))[0])
        cmd = felt / gain
        settle = min(draw(rng, "settle_s"), 0.25 * dur_s)
        self.share.ramp(t0, settle, cmd)
        # deliberate pressure change and posture shifts: non-overlapping ramps after settling
        events: list[tuple[str, float]] = []
        if rng.random() < p.press_change_prob:
            events.append(("press", draw(rng, "press_change_frac") * float(rng.choice([-1.0, 1.0]))))
        n_shift = draw_int(rng, "long_shifts") if long else int(rng.random() < p.shift_prob)
        for _ in range(n_shift):
            events.append(("shift", draw(rng, "shift_frac") * float(rng.choice([-1.0, 1.0]))))
        if events:
            span0, span1 = t0 + settle + 1.0, t1 - 3.0
            width = (span1 - span0) / len(events)
            level = cmd
            for k, (what, frac) in enumerate(events):
                ev_dur = draw(rng, "shift_s") if what == "shift" else float(rng.uniform(0.5, 2.0))
                ts = span0 + width * k + float(rng.uniform(0.0, max(width - ev_dur - 1.0, 0.0)))
                if ts + ev_dur >= t1 - 1.0 or ts < self.share.last_t_s:
                    continue
                level = level * (1.0 + frac)
                self.share.ramp(ts, ev_dur, level)
                self.plan.shifts.append({"kind": what, "start_s": ts, "end_s": ts + ev_dur, "frac": frac,
                                         "hold": len(self.plan.holds)})
        # creep / sinking and (long holds) slow drift, applied by the body model as a load factor
        creep = {"frac": p.creep_sign * draw(rng, "creep_frac"), "tau_s": draw(rng, "creep_tau_s"),
                 "drift_per_s": (draw(rng, "drift_long_frac_per_min") * float(rng.choice([-1.0, 1.0])) / 60.0)
                 if long else 0.0}
        bouts = self._limb_bouts(t0 + settle, t1, always=limb, felt_share=felt) if (limb or rng.random() < p.limb_prob) else []
        self._seg("hold", t0, t1)
        self.t = t1
        self.plan.holds.append({"start_s": t0, "end_s": t1, "duration_s": dur_s, "spot_cm": spot,
                                "felt_share": felt, "heavy": heavy, "style": style, "group": self.group,
                                "limb": bool(bouts), "n_limb_bouts": len(bouts), "creep": creep,
                                "n_shifts": sum(1 for s in self.plan.shifts if s["hold"] == len(self.plan.holds))})

    def _limb_bouts(self, a_s: float, b_s: float, always: bool, felt_share: float) -> list[dict[str, Any]]:
        """Knee-bend bouts inside a hold's still time [a_s, b_s]: 2-8 bends at 0.1-0.5 Hz (8 % cycle-to-cycle
        rate spread), 3-12 s rests. With `always` the first bout starts early and is made to fit.
        A bout that unloads the roller swings by at most 60 % of the held load (the force cannot go negative)."""
        rng, p = self.rng, self.p
        f_lo, f_hi = RANGES["limb_hz"][:2]
        bouts: list[dict[str, Any]] = []
        t = a_s + float(rng.uniform(2.0, 8.0))
        if always:
            t = min(t, a_s + 2.0 + 0.2 * max(0.0, b_s - a_s - 25.0))
        while True:
            f_hz = float(np.clip(p.limb_hz * math.exp(rng.normal(0, 0.2)), f_lo, f_hi))
            n_cyc = draw_int(rng, "limb_cycles")
            rates = np.exp(rng.normal(0, 0.08, n_cyc))
            swing = float(np.clip(p.limb_swing_frac * math.exp(rng.normal(0, 0.25)), *RANGES["limb_swing_frac"][:2]))
            sign = p.limb_sign if rng.random() < 0.8 else -p.limb_sign
            if sign < 0:
                swing = max(min(swing, 0.6 * felt_share), RANGES["limb_swing_frac"][0])
            amps = rng.uniform(0.85, 1.0, n_cyc)
            end = b_s - 0.5
            while n_cyc > 2 and t + float(np.sum(1.0 / (f_hz * rates[:n_cyc]))) > end:
                n_cyc -= 1
            n_cyc = max(n_cyc, 2)
            need = float(np.sum(1.0 / (f_hz * rates[:n_cyc])))
            if t + need > end:
                if not (always and not bouts):
                    break
                f_hz *= need / max(end - t, 1e-6)  # speed up so that two bends fit
                if f_hz * float(rates[:2].min()) > f_hi:
                    rates[:2] = 1.0
                    f_hz = max(f_hz, 2.0 / max(end - t, 1e-6))
                    if f_hz > f_hi:
                        break
            dur = float(np.sum(1.0 / (f_hz * rates[:n_cyc])))
            bouts.append({"start_s": t, "end_s": t + dur, "f_hz": f_hz, "cycles": n_cyc, "swing_frac": swing,
                          "sign": sign, "hold": len(self.plan.holds), "rock_mm": p.rock_mm,
                          "cycle_amp": amps[:n_cyc].tolist(), "cycle_rate": rates[:n_cyc].tolist()})
            t = t + dur + draw(rng, "limb_rest_s")
        self.plan.limb_bouts.extend(bouts)
        return bouts

    # ---------------------------------------------------------------- sets and session
    def remaining_s(self) -> float:
        """Time left before the session's target end, keeping a reserve for stepping off."""
        return self.target_s - self.t - self.off_end_s - 2.0

    def do_set(self, style: str) -> None:
        rng = self.rng
        set_info = {"style": style, "start_s": self.t}
        centre = self.x + float(rng.uniform(-6.0, 6.0))
        # the person keeps their habitual rolling load on average over the stretch they roll
        self.roll_cmd = self.p.roll_share / float(np.mean(self.profile(np.linspace(centre - 9.0, centre + 9.0, 37))))
        self.step_on()
        spot = centre + float(rng.uniform(-3.0, 3.0))
        hlo, hhi = _hold_range(style)
        roll_s = draw(rng, "roll_phase_s")
        if style == "slow":
            roll_s = max(roll_s, 20.0)
        self.roll_phase(style, min(roll_s, max(self.remaining_s() - hlo - 25.0, 4.0)), centre)
        search_s = 70.0 if style == "slow" else 40.0  # a generous bound on the time a search takes
        if style == "reposition":
            if self.remaining_s() >= 2 * hlo + 8.0 + search_s:
                self.search(style, spot)
                n = draw_int(rng, "group_holds")
                durs = [draw(rng, "hold_group_s") for _ in range(n)]
                avail = self.remaining_s() - 4.0 * n - 2.0
                while n > 2 and sum(durs) > avail:
                    n -= 1
                    durs = durs[:n]
                if sum(durs) > avail:
                    durs = [max(hlo, d * avail / sum(durs)) for d in durs]
                if sum(durs) <= avail + 1e-9:
                    self.group += 1
                    for k, d in enumerate(durs):
                        if k:
                            self.reposition()
                        self.hold(style, d, limb=False, long=False)
        else:
            n = draw_int(rng, "holds_per_set") if style != "long" else 1
            for k in range(n):
                if k:
                    if self.remaining_s() < hlo + search_s + 30.0:
                        break
                    self.roll_phase(style, min(draw(rng, "roll_phase_s"), 15.0), spot)
                    spot = spot + float(rng.uniform(-4.0, 4.0))
                if self.remaining_s() < hlo + search_s:
                    break
                self.search(style, spot)
                if self.remaining_s() - 2.0 < hlo:
                    break  # searched but no time left to hold: the set ends rolling
                self.group += 1
                dur = min(float(rng.uniform(hlo, hhi)), self.remaining_s() - 2.0)
                self.hold(style, dur, limb=(style == "limb"), long=(style == "long"))
        if rng.random() < 0.4 and self.remaining_s() > 25.0:
            self.roll_phase(style, float(rng.uniform(3.0, 8.0)), self.x)
        self.step_off()
        set_info["end_s"] = self.t
        self.plan.sets.append(set_info)

    def run(self, styles: Callable[[], str]) -> Plan:
        """The whole session: off, sets separated by step-offs, off; a rolling-only set fills the end
        when the time left is too short for a hold. The length lands within RANGES["session_s"]."""
        rng = self.rng
        lo_s, hi_s = RANGES["session_s"][:2]
        self.off(draw(rng, "off_start_s"))
        first = True
        while True:
            rem = self.remaining_s()
            style = styles()
            hlo = _hold_range(style)[0]
            if not first:
                if rem < 20.0:
                    break
                self.off(min(draw(rng, "off_between_s"), max(rem - 15.0, 3.0)))
                rem = self.remaining_s()
            first = False
            if rem >= hlo + 60.0:
                self.do_set(style)
            else:  # not enough time for a hold: a rolling-only set
                t_set = self.t
                self.step_on()
                self.roll_phase(style, max(rem - 4.0, 5.0), self.x)
                self.step_off()
                self.plan.sets.append({"style": style + "-rollonly", "start_s": t_set, "end_s": self.t})
                break
        # final unloaded time; never shorter than the session's lower bound
        self.off(max(self.off_end_s, lo_s + 0.5 - self.t, 0.5))
        if self.t > hi_s:
            raise AssertionError(f"trajsim plan overran {hi_s} s ({self.t:.1f} s)")
        self.pos.to(self.t, self.x)
        self.share.to(self.t, 0.0)
        self.plan.end_s = self.t
        return self.plan
