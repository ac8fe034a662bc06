"""Quasi-static body-on-roller physics: the timeline becomes the true vertical force and shell travel.

Statics. The body rests on three supports along its length: the other support (hands or
forearms) at 0, the roller at lever r, the feet (or the free leg) further out. Moment balance
about the hands gives the roller's load F = (W c - F_feet f) / r: the person chooses how much
the feet carry (that is the moment m = c - F_feet f / W, in metres, the timeline's `m_knots`),
and with that choice fixed the load falls as 1/r while the roller travels distally
(r = support_lever + x). Everything else modulates that statics:

- breathing (chest expansion shifts the trunk's centre of mass): x (1 + depth * breath(t))
- slow drift of the hands/feet share (an Ornstein-Uhlenbeck wander) and a balance tremor
- tissue thickness under the roller varies along the segment (an indeterminate structure
  shifts load to the support that stands highest): x (1 + tissue(x))
- arms push one way and pull the other during a stroke: + delta * W * tanh(v / 3 cm/s)
- a ribbed shell adds a ripple that is a function of shell position (none when still)
- knee bends during a hold move the leg's centre of mass: + sign * swing * W * bend(t)
- holds settle (sinking moves load to the other supports) and shift posture (steps)
- foam: viscoelastic foam in parallel with stiff limbs low-passes the load (first order,
  tau) and adds a rate-independent hysteresis (Dahl model)
- contact: the force is scaled by a 0..1 contact envelope (stepping on and off).
"""
from __future__ import annotations

import math

import numpy as np
from scipy import signal as sps

from .timeline import Timeline

G_M_S2 = 9.80665
GRID_HZ = 100.0  # internal simulation grid (independent of the ADC rate, so a rate override keeps the person)


def gi(t_s: float | np.ndarray, n: int) -> np.ndarray | int:
    """Index of the first internal grid point at or after t_s (the grid starts at 0, step 1/GRID_HZ)."""
    if isinstance(t_s, float | int):
        return min(max(math.ceil(t_s * GRID_HZ - 1e-9), 0), n)
    return np.clip(np.ceil(np.asarray(t_s) * GRID_HZ - 1e-9), 0, n).astype(np.int64)


def eased(knots: list[tuple[float, float]], t: np.ndarray) -> np.ndarray:
    """Piecewise smoothstep between (t, v) knots (times non-decreasing); constant outside.
    `t` is the internal grid."""
    n = len(t)
    kt = np.array([k[0] for k in knots])
    kv = np.array([k[1] for k in knots])
    start = gi(kt, n)  # first grid index belonging to interval k (knot k .. k+1)
    counts = np.diff(np.concatenate([[0], start, [n]]))
    idx = np.repeat(np.arange(-1, len(kt)), counts)  # -1: before the first knot
    idx = np.clip(idx, 0, len(kt) - 1)
    nxt = np.minimum(idx + 1, len(kt) - 1)
    span = kt[nxt] - kt[idx]
    u = np.clip((t - kt[idx]) / np.where(span > 0, span, 1.0), 0.0, 1.0)
    u = np.where(span > 0, u, 1.0)
    e = u * u * (3 - 2 * u)
    return kv[idx] + (kv[nxt] - kv[idx]) * e


def trapezoid_profile(u: np.ndarray, a: float) -> np.ndarray:
    """Normalised position 0..1 of a move whose speed ramps up (raised cosine) over a share `a`,
    cruises, and ramps down symmetrically: zero speed and acceleration continuity at both ends."""
    a = float(a)
    norm = 1.0 - a  # area under the speed profile (peak speed 1)
    pos = a / 2 + (u - a)  # cruising
    lo = u < a
    w = u[lo]
    pos[lo] = (w - (a / np.pi) * np.sin(np.pi * w / a)) / 2  # speeding up
    hi = u > 1 - a
    w = 1.0 - u[hi]
    pos[hi] = norm - (w - (a / np.pi) * np.sin(np.pi * w / a)) / 2  # slowing down (mirror)
    return np.clip(pos / norm, 0.0, 1.0)


def ou(rng: np.random.Generator, n: int, dt: float, tau_s: float) -> np.ndarray:
    """Unit-variance Ornstein-Uhlenbeck process, stationary from the start."""
    a = np.exp(-dt / tau_s)
    w = rng.standard_normal(n)
    y, _ = sps.lfilter([np.sqrt(1 - a * a)], [1.0, -a], w, zi=[a * rng.standard_normal()])
    return y


def position(tl: Timeline, t: np.ndarray) -> np.ndarray:
    """Roller contact position along the segment, cm, on the internal grid t."""
    n = len(t)
    if not tl.moves:
        return np.full(n, tl.x_init_cm)
    # still between moves: the end position of the last move begun (a step function)
    starts = gi(np.array([m.t0 for m in tl.moves]), n)
    counts = np.diff(np.concatenate([[0], starts, [n]]))
    x = np.repeat(np.concatenate([[tl.x_init_cm], [m.x1 for m in tl.moves]]), counts)
    for m in tl.moves:
        i0, i1 = gi(m.t0, n), gi(m.t1, n)
        if i1 > i0:
            u = (t[i0:i1] - m.t0) / (m.t1 - m.t0)
            x[i0:i1] = m.x0 + (m.x1 - m.x0) * trapezoid_profile(u, m.accel_frac)
    return x


def breathing(rng: np.random.Generator, t: np.ndarray, hz: float, inhale: float, wander: float) -> np.ndarray:
    """-1..1 breathing wave: quicker inhalation, slower exhalation, rate wandering."""
    dt = t[1] - t[0]
    f = hz * (1 + wander * np.clip(ou(rng, len(t), dt, 20.0), -2.5, 2.5))
    c = np.mod(np.cumsum(f) * dt + rng.random(), 1.0)
    w = np.where(c < inhale, (1 - np.cos(np.pi * c / inhale)) / 2,
                 (1 + np.cos(np.pi * (c - inhale) / (1 - inhale))) / 2)
    return 2 * w - 1


def dahl(x: np.ndarray, gain: float, half_width: float, step: int = 5) -> np.ndarray:
    """Rate-independent hysteresis (Dahl friction model) on a force trace: the output lags each
    change of direction by up to `half_width` N; small reversals pass scaled by (1 - gain).

    The hysteresis offset varies slowly (bounded by the half-width), so it is integrated on
    every `step`-th grid point and interpolated back (keeps a 10-min session fast)."""
    xs = x[::step].tolist()
    es = []
    e = 0.0
    prev = xs[0]
    h = max(half_width, 1e-9)
    g = gain
    for xk in xs:
        dx = xk - prev
        prev = xk
        if dx > 0:
            e += g * dx * (1 - e / h)
        elif dx < 0:
            e += g * dx * (1 + e / h)
        es.append(e)
    k = np.arange(0, len(x), step)
    return x - np.interp(np.arange(len(x)), k, np.asarray(es))


def simulate_body(tl: Timeline, bp: dict, rng: np.random.Generator) -> dict:
    """True force (N), contact position (cm) and shell travel (cm) on the internal grid.

    `bp` holds the drawn body/foam/shell parameters (see quasistatic/__init__.py)."""
    dt = 1.0 / GRID_HZ
    t = np.arange(0.0, tl.duration_s + dt / 2, dt)
    n = len(t)
    W = bp["body_mass_kg"] * G_M_S2
    x = position(tl, t)
    lever = bp["support_lever_m"] + x / 100.0
    m = eased(tl.m_knots, t)
    r_ref = eased(tl.r_knots, t)
    env = np.clip(eased(tl.env_knots, t), 0.0, 1.0)

    # hold factor: settling (sinking) and posture shifts, fading back to 1 over the release
    fac = np.ones(n)
    limb = np.zeros(n)
    rock = np.zeros(n)
    rock_noise = ou(rng, n, dt, 3.0)
    for h in tl.holds:
        i0, i1 = gi(h.t0, n), gi(h.t_release1, n)
        if i1 <= i0:
            continue
        th = t[i0:i1]
        f = 1 - h.sink_rel * (1 - np.exp(-(th - h.t0) / h.sink_tau_s))
        for ts, step, dur in h.shifts:
            u = np.clip((th - ts) / dur, 0, 1)
            f = f * (1 + step * u * u * (3 - 2 * u))
        j0 = gi(h.t_release0, n) - i0
        if j0 < len(th):
            u = np.clip((th[j0:] - h.t_release0) / max(h.t_release1 - h.t_release0, 1e-3), 0, 1)
            f[j0:] = 1 + (f[j0] - 1) * (1 - u * u * (3 - 2 * u))
        fac[i0:i1] = f
        # millimetre rocking of the shell while holding (window so it starts and ends at 0)
        win = np.sin(np.pi * np.clip((th - h.t0) / max(h.t_end - h.t0, 1e-3), 0, 1)) ** 2
        rock[i0:i1] = h.rock_cm * 0.5 * np.tanh(rock_noise[i0:i1]) * win
        if h.limb:
            lb = h.limb
            for c0, period, depth in lb["cycles"]:
                k0, k1 = gi(c0, n), gi(c0 + period, n)
                u = (t[k0:k1] - c0) / period
                u = u ** lb["skew"]  # bend and straighten at different speeds
                bend = (1 - np.cos(2 * np.pi * u)) / 2
                limb[k0:k1] += lb["sign"] * lb["swing_frac_bw"] * depth * W * bend
                if i0 <= k0 and k1 <= i1:  # the thigh rolls a little over the roller as the knee bends
                    rock[k0:k1] += 0.05 * lb["sign"] * bend * win[k0 - i0:k1 - i0]

    # rolling-only terms
    v = np.gradient(x, dt)  # cm/s
    moving = np.abs(v) > 0.05
    direction = bp["direction_support_frac_bw"] * W * np.tanh(v / 3.0) * bp["direction_sign"]

    # tissue thickness profile along the segment (function of position: constant when still)
    xg = np.arange(-5.0, bp["segment_length_cm"] + 5.0, 0.25)
    prof = rng.standard_normal(len(xg))
    sig = bp["tissue_corr_cm"] / 0.25
    ker = np.exp(-0.5 * (np.arange(-4 * sig, 4 * sig + 1) / sig) ** 2)
    prof = np.convolve(prof, ker / ker.sum(), mode="same")
    prof = prof / (prof.std() + 1e-12)
    tissue = bp["tissue_profile_rel"] * np.clip(np.interp(x, xg, prof), -3, 3)

    breath = bp["breath_depth_rel"] * breathing(rng, t, bp["breath_hz"], bp["breath_inhale_frac"],
                                                bp["breath_rate_wander_rel"])
    wander = bp["support_wander_rel"] * np.interp(t, t[::10], ou(rng, len(t[::10]), dt * 10, bp["support_wander_tau_s"]))
    sos = sps.butter(2, [0.5, 3.0], btype="bandpass", fs=GRID_HZ, output="sos")
    tremor = sps.sosfilt(sos, rng.standard_normal(n))
    tremor = bp["balance_tremor_rel"] * tremor / (tremor.std() + 1e-12)

    # shell travel: the body moves the shell only while loaded; slip makes the shell under-turn
    dx = np.diff(x, prepend=x[0])
    dx[env <= 0.0] = 0.0
    shell = np.cumsum(dx) * (1 - bp["shell_slip_rel"]) + rock
    shell -= shell[0]
    rib = np.zeros(n)
    if bp["shell"] == "ribbed":
        ph = 2 * np.pi * shell / bp["rib_pitch_cm"]
        bump = ((1 + np.cos(ph)) / 2) ** 3  # narrow crests
        rib = bp["rib_depth_rel"] * (bump - 0.3125) / 0.35

    # the person partly keeps the pressure they feel as the roller travels (shifting weight
    # to or from the hands): only (1 - c) of the lever effect remains; at r_ref the load is m/r_ref
    c = bp["lever_compensation_rel"]
    static = W * m / (lever ** (1 - c) * r_ref ** c)
    f = static * fac * (1 + breath + wander + tremor + tissue + rib) + direction * moving + limb
    f = np.maximum(f, 0.0)
    # foam: first-order low-pass (viscoelastic) then hysteresis
    a = np.exp(-dt / bp["foam_tau_s"])
    f, _ = sps.lfilter([1 - a], [1.0, -a], f, zi=[a * f[0]])
    f = dahl(f, bp["foam_hyst_gain"], bp["foam_hyst_frac_bw"] * W)
    f = np.maximum(f, 0.0) * env
    # statics cannot put more than the body's weight on one support: soft cap at 0.8 W
    cap = 0.8 * W
    f = np.where(f > 0.6 * cap, 0.6 * cap + 0.4 * cap * np.tanh((f - 0.6 * cap) / (0.4 * cap)), f)
    return {"t_s": t, "force_n": f, "x_cm": x, "shell_cm": shell, "contact": env, "weight_n": W}
