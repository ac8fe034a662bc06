"""rollsignal._scipy (scipy's filter kernels without scipy.signal's package import) equals scipy, bit for bit.

The detector's output is bit-identical to what the public scipy functions give only if every stand-in
is: each is compared here with the public function on random inputs, in the argument forms rollsignal
uses and a few more; the stored filter designs are compared with scipy's designs.
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal

from rollsignal import _scipy
from rollsignal.designs import STORED_DESIGNS, stored_sosfilt_zi
from rollsignal.filters import butter_sos, sosfilt_state, sosfilt_zi_of
from rollsignal.frames import FRAME_S

RNG = np.random.default_rng(16)


def test_the_kernels_were_found() -> None:
    # without them every call falls back to the public functions: correct, but the import saving is gone
    assert _scipy.sosfilt_kernel is not None
    assert _scipy._linear_filter is not None
    assert _scipy._min_or_max_filter1d is not None


def test_detector_imports_neither_scipy_signal_nor_ndimage() -> None:
    code = ("import sys, numpy as np, rollsignal\n"
            "t = np.arange(4000) / 80.0\n"
            "f = 100 + 50 * np.sin(t)\n"
            "rollsignal.analyze(rollsignal.SampleChunk(t, f, np.degrees(t)))\n"
            "rollsignal.analyze(rollsignal.SampleChunk(t, f))\n"
            "print(sorted(m for m in ('scipy.signal', 'scipy.ndimage', 'scipy.stats', 'scipy.special') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stdout


@pytest.mark.parametrize("key", sorted(STORED_DESIGNS, key=repr))
def test_stored_designs_are_scipys(key) -> None:
    order, cutoff, btype = key
    sos = scipy.signal.butter(order, cutoff, btype=btype, fs=1.0 / FRAME_S, output="sos")
    assert np.array_equal(butter_sos(order, cutoff, btype), sos)
    assert butter_sos(order, cutoff, btype).dtype == sos.dtype and butter_sos(order, cutoff, btype).shape == sos.shape
    zi = scipy.signal.sosfilt_zi(sos)
    assert np.array_equal(stored_sosfilt_zi(sos), zi)
    assert np.array_equal(_scipy.sps.sosfilt_zi(sos), zi)
    assert np.array_equal(sosfilt_zi_of(order, cutoff, btype), zi)


def test_a_design_not_stored_is_made_by_scipy() -> None:
    sos = scipy.signal.butter(3, 1.0, btype="highpass", fs=1.0 / FRAME_S, output="sos")
    assert np.array_equal(butter_sos(3, 1.0, "highpass"), sos)
    assert stored_sosfilt_zi(sos) is None
    assert np.array_equal(_scipy.sps.sosfilt_zi(sos), scipy.signal.sosfilt_zi(sos))


@pytest.mark.parametrize("n", [1, 2, 7, 1000])  # (not 0: scipy's kernel then returns an uninitialised zf)
def test_lfilter_first_order_with_state(n: int) -> None:
    x = RNG.normal(100, 30, n)
    for a in (0.0025, 0.025, 0.3):
        b, den = [a], [1.0, -(1.0 - a)]
        zi = np.array([(1.0 - a) * 17.0])
        y1, z1 = scipy.signal.lfilter(b, den, x, zi=zi)
        y2, z2 = _scipy.sps.lfilter(b, den, x, zi=zi)
        assert np.array_equal(y1, y2) and np.array_equal(z1, z2) and y1.dtype == y2.dtype
        y1, z1 = scipy.signal.lfilter(np.array(b), np.array(den), x, zi=[0.4])  # autozero's form: zi a list
        y2, z2 = _scipy.sps.lfilter(np.array(b), np.array(den), x, zi=[0.4])
        assert np.array_equal(y1, y2) and np.array_equal(z1, z2)
        assert np.array_equal(scipy.signal.lfilter(b, den, x), _scipy.sps.lfilter(b, den, x))


def test_lfilter_higher_order_and_pieces() -> None:
    b, a = scipy.signal.butter(4, 0.1)
    x = RNG.normal(0, 1, 3000)
    zi = scipy.signal.lfilter_zi(b, a) * x[0]
    y1, _ = scipy.signal.lfilter(b, a, x, zi=zi)
    z = zi
    parts = []
    for piece in np.array_split(x, [1, 5, 400, 401, 2000]):
        y, z = _scipy.sps.lfilter(b, a, piece, zi=z)
        parts.append(y)
    assert np.array_equal(np.concatenate(parts), y1)


def test_lfilter_forms_the_kernel_does_not_take_go_to_scipy() -> None:
    x = RNG.normal(0, 1, 50)
    # FIR (len(a) == 1) is a convolution in scipy's Python code, not the kernel
    assert np.array_equal(_scipy.sps.lfilter([0.5, 0.5], [1.0], x), scipy.signal.lfilter([0.5, 0.5], [1.0], x))
    x2 = RNG.normal(0, 1, (3, 40))
    assert np.array_equal(_scipy.sps.lfilter([0.2], [1.0, -0.8], x2, axis=0),
                          scipy.signal.lfilter([0.2], [1.0, -0.8], x2, axis=0))


def test_sosfilt_state_equals_sosfilt() -> None:
    for key in STORED_DESIGNS:
        sos = butter_sos(*key)
        x = RNG.normal(50, 20, 2500)
        zi = scipy.signal.sosfilt_zi(sos) * x[0]
        y1, z1 = scipy.signal.sosfilt(sos, x, zi=zi)
        y2, z2 = sosfilt_state(sos, x, zi)
        assert np.array_equal(y1, y2) and np.array_equal(z1, z2)


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_min_max_filters(dtype) -> None:
    for n in (1, 2, 5, 160, 1000):
        x = (RNG.normal(0, 100, n) if dtype == np.float64 else RNG.integers(-10**9, 10**9, n)).astype(dtype)
        for w in (1, 2, 3, 20, 41, 160):
            for origin in {0, (w - 1) // 2, (w - 1) // 2 - 3, -(w // 2)}:
                if not (w // 2 + origin >= 0 and w // 2 + origin < w):
                    continue
                for mode in ("nearest", "reflect", "constant"):
                    for name in ("maximum_filter1d", "minimum_filter1d"):
                        want = getattr(scipy.ndimage, name)(x, w, origin=origin, mode=mode)
                        got = getattr(_scipy.ndimage, name)(x, w, origin=origin, mode=mode)
                        assert got.dtype == want.dtype and np.array_equal(got, want), (n, w, origin, mode, name)


def test_min_max_filter_bad_arguments_raise_as_scipy() -> None:
    x = np.arange(10.0)
    for kw in ({"size": 0}, {"size": 3, "origin": 5}, {"size": 3, "mode": "nope"}):
        with pytest.raises((RuntimeError, ValueError)) as want:
            scipy.ndimage.maximum_filter1d(x, **kw)
        with pytest.raises(want.type):
            _scipy.ndimage.maximum_filter1d(x, **kw)


def test_other_names_come_from_scipy() -> None:
    assert _scipy.sps.butter is scipy.signal.butter
    assert _scipy.ndimage.median_filter is scipy.ndimage.median_filter


def test_a_kernel_with_other_arguments_falls_back_to_the_public_function(monkeypatch: pytest.MonkeyPatch) -> None:
    """A newer scipy may change its private kernels' arguments: rollsignal must then run the public
    functions (same results), not fail with a TypeError."""
    import rollsignal.filters as filters

    def changed(*_args: object) -> None:
        raise TypeError("takes other arguments")

    monkeypatch.setattr(filters, "_sosfilt_kernel", changed)
    monkeypatch.setattr(_scipy, "_linear_filter", changed)
    monkeypatch.setattr(_scipy, "_min_or_max_filter1d", changed)
    x = RNG.normal(size=500)
    sos = butter_sos(2, 2.0)
    zi = scipy.signal.sosfilt_zi(sos) * x[0]
    y, z = sosfilt_state(sos, x, zi)
    y_ref, z_ref = scipy.signal.sosfilt(sos, x, zi=zi)
    assert np.array_equal(y, y_ref) and np.array_equal(z, z_ref)
    b, a = [0.2], [1.0, -0.8]
    zi1 = np.array([0.3])
    got, zf = _scipy.sps.lfilter(b, a, x, zi=zi1)
    ref, zf_ref = scipy.signal.lfilter(b, a, x, zi=zi1)
    assert np.array_equal(got, ref) and np.array_equal(zf, zf_ref)
    for name in ("minimum_filter1d", "maximum_filter1d"):
        assert np.array_equal(getattr(_scipy.ndimage, name)(x, 9, mode="nearest", origin=2),
                              getattr(scipy.ndimage, name)(x, 9, mode="nearest", origin=2))
