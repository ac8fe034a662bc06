"""Contact mechanics: soft tissue in series with foam, quasi-linear viscoelastic, washed out by rolling.

The person controls posture: how far the limb sinks onto the roller, i.e. the
total compression c (mm) of the tissue + foam stack under the contact. The
force follows from that compression:

* elastic response F_e(c): tissue with Fung's exponential law
  F = A·m·(exp(B·u_t) − 1) (m > 1 while the muscle is tensed) in series with
  foam that densifies, u_f = h·(1 − exp(−F/(k_f·h))). Series: the same force
  through both, c = u_t(F) + u_f(F); both inverses are explicit, so c(F) is
  closed-form and F_e(c) is one vectorised Newton solve (c(F) is concave, so
  Newton from F = 0 climbs monotonically to the root).
* stress relaxation (Fung's quasi-linear viscoelasticity, QLV): three branches
  with shares g_i and times tau_i (0.3-20 s) take away r_i from F_e:
  dr_i/dt = (g_i·F_e − r_i)/tau_i − (|v|/L)·r_i. The last term is what rolling
  does: material (skin and foam cells) leaves the contact at |v|/L per second
  and fresh, unrelaxed material enters, so a moving contact stays stiff (faster
  rolling = stiffer) and a stopped one relaxes (the load falls while posture is
  held).
* tissue thickness profile T(x) along the limb (girth gradient, muscle bellies,
  bony landmarks, smooth texture), averaged over the contact length: rolling
  over a belly compresses more at the same posture, so the load follows it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline


@dataclass(frozen=True)
class Contact:
    """Static contact law of one person on one roller (forces in N, lengths in mm)."""

    tissue_a_n: float      # A: tissue force scale
    tissue_b_per_mm: float  # B: exponential stiffening
    foam_k_n_per_mm: float  # initial foam stiffness
    foam_h_mm: float        # compressible foam thickness (densification limit)

    def c_of_f(self, f_n: np.ndarray | float, m: np.ndarray | float = 1.0) -> np.ndarray:
        """Total compression (mm) that carries force f_n (N) with tissue tone m: explicit inverse."""
        f = np.maximum(np.asarray(f_n, dtype=float), 0.0)
        u_t = np.log1p(f / (self.tissue_a_n * m)) / self.tissue_b_per_mm
        u_f = self.foam_h_mm * -np.expm1(-f / (self.foam_k_n_per_mm * self.foam_h_mm))
        return u_t + u_f

    def f_of_c(self, c_mm: np.ndarray, m: np.ndarray | float = 1.0, iters: int = 30) -> np.ndarray:
        """Elastic force (N) at total compression c_mm (mm; <= 0 means no contact), tone m.

        Newton on the concave, increasing c(F): starting below the root every
        step stays below it and converges; iterate until the largest step is tiny.
        """
        c = np.maximum(np.asarray(c_mm, dtype=float), 0.0)
        am = self.tissue_a_n * np.asarray(m, dtype=float)
        b, k, h = self.tissue_b_per_mm, self.foam_k_n_per_mm, self.foam_h_mm
        f = np.zeros_like(c)
        for _ in range(iters):
            e = np.exp(-f / (k * h))
            g = np.log1p(f / am) / b + h * (1.0 - e) - c
            dg = 1.0 / (b * (am + f)) + e / k
            step = -g / dg
            f = np.maximum(f + step, 0.0)
            if np.max(np.abs(step)) < 1e-6:
                break
        return f


def tissue_profile(rng: np.random.Generator, draw, contact_len_cm: float,
                   x_lo_cm: float = -60.0, x_hi_cm: float = 60.0) -> tuple[np.ndarray, np.ndarray, dict]:
    """A random smooth tissue-thickness profile along the limb, averaged over the contact.

    Returns (x_cm grid, extra thickness mm at each grid point, description). The
    average over the contact length stands for the contact patch sitting on a
    stretch of limb, not a point.
    """
    dx = 0.25
    x = np.arange(x_lo_cm, x_hi_cm + dx, dx)
    grad = draw("profile_grad_mm_per_cm")
    prof = grad * x
    bellies = []
    for _ in range(int(round(draw("profile_bellies")))):
        c, a, s = rng.uniform(-25, 25), draw("profile_belly_mm"), draw("profile_belly_sigma_cm")
        bellies.append([round(c, 2), round(a, 3), round(s, 2)])
        prof += a * np.exp(-0.5 * ((x - c) / s) ** 2)
    marks = []
    for _ in range(int(round(draw("profile_landmarks")))):
        c, a, s = rng.uniform(-30, 30), draw("profile_landmark_mm"), draw("profile_landmark_sigma_cm")
        marks.append([round(c, 2), round(a, 3), round(s, 2)])
        prof -= a * np.exp(-0.5 * ((x - c) / s) ** 2)
    tex_mm = draw("profile_texture_mm")
    knot_cm = rng.uniform(4, 6)
    kx = np.arange(x_lo_cm, x_hi_cm + knot_cm, knot_cm)
    prof += CubicSpline(kx, rng.normal(0, tex_mm, len(kx)))(x)
    # contact averaging: a boxcar of the contact length
    n = max(1, int(round(contact_len_cm / dx)))
    ker = np.ones(n) / n
    padded = np.pad(prof, n, mode="edge")
    prof = np.convolve(padded, ker, mode="same")[n:-n]
    prof -= np.interp(0.0, x, prof)  # the session's first contact point is the reference thickness
    desc = dict(grad_mm_per_cm=round(grad, 4), bellies=bellies, landmarks=marks, texture_mm=round(tex_mm, 3),
                texture_knot_cm=round(knot_cm, 2))
    return x, prof, desc


def ltv_scan(a: np.ndarray, u: np.ndarray, r0: float = 0.0, block: int = 128) -> np.ndarray:
    """Solve r[n] = a[n]·r[n−1] + u[n] (0 < a <= 1) for all n, vectorised in blocks.

    Within a block r = P·(r_start + cumsum(u/P)) with P the running product of a;
    blocks are short so 1/P stays well inside float range, and a scalar loop
    over blocks carries r from one block to the next.
    """
    n = len(a)
    m = -(-n // block) * block
    A = np.ones(m)
    U = np.zeros(m)
    A[:n], U[:n] = a, u
    A = A.reshape(-1, block)
    U = U.reshape(-1, block)
    P = np.exp(np.cumsum(np.log(np.maximum(A, 1e-300)), axis=1))
    Z = P * np.cumsum(U / P, axis=1)        # response from a zero start in each block
    carry = np.empty(len(A))
    r = r0
    p_end, z_end = P[:, -1], Z[:, -1]
    for i in range(len(A)):
        carry[i] = r
        r = p_end[i] * r + z_end[i]
    out = Z + P * carry[:, None]
    return out.reshape(-1)[:n]


def relax(f_e_n: np.ndarray, speed_cm_s: np.ndarray, dt_s: float, g: list[float], tau_s: list[float],
          contact_len_cm: float) -> tuple[np.ndarray, np.ndarray]:
    """QLV relaxation with wash-out by rolling: (force N, relaxed share r/F_e).

    Each branch i: dr/dt = (g_i·F_e − r)/tau_i − (|v|/L)·r, integrated exactly
    for inputs held over a step.
    """
    w = np.abs(speed_cm_s) / contact_len_cm
    r_tot = np.zeros_like(f_e_n)
    for gi, ti in zip(g, tau_s):
        lam = 1.0 / ti + w
        a = np.exp(-lam * dt_s)
        r_eq = gi * f_e_n / (ti * lam)
        r_tot += ltv_scan(a, (1.0 - a) * r_eq)
    f = np.maximum(f_e_n - r_tot, 0.0)
    share = np.divide(r_tot, f_e_n, out=np.zeros_like(f_e_n), where=f_e_n > 1e-6)
    return f, share


def relaxed_share(g: list[float], tau_s: list[float], speed_cm_s: float, contact_len_cm: float,
                  after_s: float | None = None) -> float:
    """Share of F_e relaxed away: steady rolling at speed_cm_s, or after_s seconds after a stop.

    The person picks posture by feel, for the load they feel once settled: this
    is how a load target (the domain's figures are loads) becomes a posture.
    """
    if after_s is not None:
        return float(sum(gi * (1.0 - np.exp(-after_s / ti)) for gi, ti in zip(g, tau_s)))
    w = abs(speed_cm_s) / contact_len_cm
    return float(sum(gi / (1.0 + w * ti) for gi, ti in zip(g, tau_s)))
