"""trajsim body: the vertical force between body and roller, from the plan, on a fine time grid.

What: load_n(t) = W · share(t) · profile(x(t)) · (1 + wander) · creep(t) · (1 + breath(t))
+ limb bouts + arm brace/push at reversals + rib texture, then a linear body-on-foam support
(2nd-order low-pass, unity gain) and 8-12 Hz physiological tremor. W = mass_kg · g.
Why this route: the load is not derived from a lever or a controller; it is a person-specific
smooth random function of position along the limb (a Gaussian-process "anatomy profile":
muscle bellies, tendons, bone nearer the surface) times a posture share the person chooses,
with the person regulating the FELT load while holding (commanded share = target / profile).
Units: times in s, positions in cm, forces in N, shares as fractions of body weight.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import signal

from .behaviour import Person, Plan
from .params import G_M_S2, draw

GRID_HZ = 250.0  # physics grid (s⁻¹): fine enough for the HX711's 12.5 ms conversion window


class Profile:
    """Anatomy load profile along the limb: 1 + amp · z(x), z a unit-variance Gaussian process with a
    squared-exponential kernel of length len_cm (random Fourier features), tabulated every 0.05 cm."""

    def __init__(self, rng: np.random.Generator, amp: float, len_cm: float, n_features: int = 64) -> None:
        self.amp, self.len_cm = amp, len_cm
        w = rng.normal(0.0, 1.0 / len_cm, n_features)
        ph = rng.uniform(0.0, 2 * math.pi, n_features)
        self.x_cm = np.arange(-120.0, 120.0, 0.05)
        z = math.sqrt(2.0 / n_features) * np.cos(np.outer(self.x_cm, w) + ph).sum(axis=1)
        self.gain = np.clip(1.0 + amp * z, 0.5, 1.6)

    def __call__(self, x_cm: np.ndarray) -> np.ndarray:
        return np.interp(x_cm, self.x_cm, self.gain)


def draw_profile(rng: np.random.Generator) -> Profile:
    """The person's anatomy profile (amplitude and length scale from RANGES)."""
    return Profile(rng, draw(rng, "profile_amp"), draw(rng, "profile_len_cm"))


def ou(rng: np.random.Generator, n: int, tau_s: float, dt_s: float) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck (AR(1)) noise of correlation time tau_s, n samples dt_s apart."""
    a = math.exp(-dt_s / tau_s)
    w = rng.normal(0.0, math.sqrt(1.0 - a * a), n)
    x = signal.lfilter([1.0], [1.0, -a], w)
    return x + rng.normal() * a ** (np.arange(n) + 1)  # start in the stationary state


def load_on_grid(rng: np.random.Generator, person: Person, profile: Profile, plan: Plan,
                 shell: str, t0_s: float = -0.5) -> dict[str, Any]:
    """Simulate the true force at the load cells on a GRID_HZ grid from t0_s to the plan's end (+0.5 s).

    Returns a dict of grid arrays: t_s, load_n (at the cells), position_cm, share, limb_n, breath_frac,
    arm_n, and scalars body_weight_n and the drawn body parameters.
    """
    dt = 1.0 / GRID_HZ
    t = np.arange(t0_s, plan.end_s + 0.5, dt)
    n = len(t)
    w_n = person.mass_kg * G_M_S2
    x, v, a = plan.position.eval(t)
    share, _, _ = plan.share.eval(t)
    share = np.maximum(share, 0.0)
    loaded = share > 1e-3
    state = np.zeros(n, dtype=np.int8)
    for kind, a_s, b_s in plan.segments:
        i, j = np.searchsorted(t, [a_s, b_s])
        state[i:j] = ("off", "roll", "hold").index(kind)
    # slow posture wander: larger while rolling than while holding
    tau = draw(rng, "wander_tau_s")
    s_roll, s_hold = draw(rng, "wander_roll_frac"), draw(rng, "wander_hold_frac")
    size = signal.lfilter([0.02], [1.0, -0.98], np.where(state == 2, s_hold, s_roll), zi=[0.98 * s_roll])[0]
    wander = ou(rng, n, tau, dt) * size  # the size eases (~0.2 s) between rolling and holding
    # creep / sinking (and drift in long holds), fading out over 1 s after the hold
    creep = np.ones(n)
    for h in plan.holds:
        c = h["creep"]
        i, j = np.searchsorted(t, [h["start_s"], h["end_s"] + 1.0])
        tt = t[i:j] - h["start_s"]
        f = c["frac"] * (1.0 - np.exp(-tt / c["tau_s"])) + c["drift_per_s"] * tt
        fade = np.clip(1.0 - (t[i:j] - h["end_s"]), 0.0, 1.0)
        creep[i:j] += f * fade
    # breathing: quasi-periodic, variable rate and depth, inhale/exhale asymmetry
    f_b = draw(rng, "breath_hz") * (1.0 + draw(rng, "breath_rate_cv") * np.clip(ou(rng, n, 15.0, dt), -2.5, 2.5))
    phase = 2 * math.pi * np.cumsum(f_b) * dt + rng.uniform(0, 2 * math.pi)
    h2 = draw(rng, "breath_harmonic")
    depth = draw(rng, "breath_frac") * np.clip(1.0 + 0.3 * ou(rng, n, 20.0, dt), 0.3, 1.8)
    breath = depth * (np.sin(phase) + h2 * np.sin(2 * phase + 1.0)) / (1.0 + h2)
    base_n = w_n * share * profile(x) * (1.0 + wander) * creep
    # related-limb bouts (knee bends): each cycle 0 -> swing -> 0, raised-cosine shape
    limb = np.zeros(n)
    rock_cm = np.zeros(n)
    for b in plan.limb_bouts:
        ts = b["start_s"]
        for amp, rate in zip(b["cycle_amp"], b["cycle_rate"]):
            per = 1.0 / (b["f_hz"] * rate)
            i, j = np.searchsorted(t, [ts, ts + per])
            shape = 0.5 * (1.0 - np.cos(2 * math.pi * (t[i:j] - ts) / per))
            limb[i:j] += b["sign"] * b["swing_frac"] * amp * w_n * shape
            rock_cm[i:j] += 0.1 * b["rock_mm"] * shape
            ts += per
    # arms at reversals: brace (always unloads) and push/pull (signed), from the acceleration along the limb
    acc_m_s2 = a / 100.0
    arm = -person.mass_kg * (draw(rng, "arm_brace") * np.abs(acc_m_s2) + draw(rng, "arm_tilt") * acc_m_s2)
    arm *= np.clip(share / max(person.roll_share, 1e-6), 0.0, 1.0)
    tex_frac, pitch = draw(rng, "texture_frac"), draw(rng, "rib_pitch_cm")
    texture = np.zeros(n)
    if shell == "ribbed":
        texture = tex_frac * base_n * np.sin(2 * math.pi * x / pitch) * np.clip(np.abs(v) / 1.0, 0.0, 1.0)
    cmd_n = np.maximum(base_n * (1.0 + breath) + limb + arm + texture, 0.0)
    cmd_n[~loaded & (cmd_n > 0)] = 0.0
    # body-on-foam support: 2nd-order low-pass (unity DC gain), bilinear transform at GRID_HZ
    f0, zeta = draw(rng, "body_foam_hz"), draw(rng, "body_foam_zeta")
    wn = 2 * math.pi * f0
    bz, az = signal.bilinear([wn * wn], [1.0, 2 * zeta * wn, wn * wn], fs=GRID_HZ)
    body_n = signal.lfilter(bz, az, cmd_n)
    # physiological tremor, 8-12 Hz band, proportional to load
    sos = signal.butter(2, [8.0, 12.0], btype="bandpass", fs=GRID_HZ, output="sos")
    trem = signal.sosfilt(sos, rng.normal(0.0, 1.0, n))
    trem *= draw(rng, "tremor_frac") / max(float(np.std(trem)), 1e-12)
    load = np.maximum(body_n * (1.0 + trem), 0.0)
    return {"t_s": t, "load_n": load, "position_cm": x + rock_cm, "velocity_cm_s": v, "share": share,
            "limb_n": limb, "breath_frac": breath, "arm_n": arm, "state": state, "body_weight_n": w_n,
            "body_foam_hz": f0, "body_foam_zeta": zeta}
