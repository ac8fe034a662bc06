"""The Butterworth designs the detector uses, stored as scipy makes them (no scipy.signal import to design them).

Data only (numpy, no scipy): filters.py builds its filters from here and _scipy.py answers `sosfilt_zi`
for these designs from here, so neither needs `scipy.signal` (whose import costs ~0.6 s; _scipy.py).
"""
from __future__ import annotations

import numpy as np

#: The frame period (s) the designs below were made for (fs = 1 / FRAME_S_DESIGNED = 20 Hz); with another
#: frame period filters.py designs with scipy instead.
FRAME_S_DESIGNED = 0.05

#: The Butterworth designs the detector uses, as `scipy.signal.butter(order, cutoff_hz, btype, fs=1 / FRAME_S,
#: output="sos")` and `scipy.signal.sosfilt_zi` of it return them (Python float reprs round-trip exactly).
#: Stored, not designed at run time: designing needs `scipy.signal`, whose import costs ~0.6 s, five times
#: the analysis of a 2-hour file (see _scipy.py). tests/dsp/test_scipy_kernels.py checks every entry
#: against scipy bit for bit; a design not listed here is made by scipy as before.
STORED_DESIGNS: dict[tuple[int, float | tuple[float, float], str], tuple[list[list[float]], list[list[float]]]] = {
    (2, 2.0, "lowpass"): (
        [[0.0674552738890719, 0.1349105477781438, 0.0674552738890719, 1.0, -1.1429805025399011,
          0.41280159809618877]],
        [[0.9325447261109279, -0.34534632420711675]]),
    (2, (0.1, 0.4), "bandpass"): (
        [[0.002080567135492293, 0.004161134270984586, 0.002080567135492293, 1.0, -1.8925388671474799,
          0.9041738508370836],
         [1.0, -2.0, 1.0, 1.0, -1.9667173311097974, 0.967971532735005]],
        [[0.713199210128436, -0.6446567034991252], [-0.7152797772639047, 0.7152797772639055]]),
    (2, (0.4, 1.5), "bandpass"): (
        [[0.02384755629891096, 0.04769511259782192, 0.02384755629891096, 1.0, -1.551176170591888,
          0.6960783679375013],
         [1.0, -2.0, 1.0, 1.0, -1.8622586820432399, 0.8813989834666985]],
        [[0.6344600949517045, -0.4343861591843873], [-0.6583076512506155, 0.6583076512506155]]),
}
_STORED_ZI = {np.array(sos).tobytes(): zi for sos, zi in STORED_DESIGNS.values()}


def design_key(order: int, cutoff_hz: float | tuple[float, float], btype: str) -> tuple:
    """The STORED_DESIGNS key of a design (cut-offs as floats, a band as a tuple)."""
    cut = tuple(float(c) for c in cutoff_hz) if isinstance(cutoff_hz, (tuple, list)) else float(cutoff_hz)
    return (int(order), cut, btype)


def stored_sosfilt_zi(sos: np.ndarray) -> np.ndarray | None:
    """`scipy.signal.sosfilt_zi(sos)` when `sos` is one of the stored designs, else None."""
    sos = np.asarray(sos)
    if sos.dtype != np.float64:
        return None
    zi = _STORED_ZI.get(np.ascontiguousarray(sos).tobytes())
    return None if zi is None else np.array(zi, dtype=np.float64)
