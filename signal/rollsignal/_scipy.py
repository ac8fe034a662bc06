"""The few scipy filters rollsignal runs, without importing `scipy.signal` / `scipy.ndimage` as packages.

Why: `import scipy.signal` executes the package's `__init__`, which pulls in scipy.stats, special,
optimize, interpolate, spatial and linalg: 0.6-0.7 s on an idle core (several seconds on a loaded
one), five times what `holdsense analyze` then spends analysing a 2-hour recording. rollsignal
needs four compiled routines of it: the IIR kernels behind `lfilter` and `sosfilt` and the running
min/max of `ndimage.minimum_filter1d` / `maximum_filter1d`. This module loads those compiled
extension modules straight from scipy's installation (tens of ms) and calls them as the public
functions do, so results are bit-identical (tests/dsp/test_scipy_kernels.py compares them with
the public functions on random inputs); the filter designs the detector uses are stored
precomputed in designs.py for the same reason.

`sps` and `ndimage` stand in for the `scipy.signal` and `scipy.ndimage` modules: the functions
above run on the kernels, any other name (or an argument form the kernels do not take, or a scipy
without these files) goes to the real module, imported on first use. If `scipy.signal` is already
imported, its own modules are used.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import Any

import numpy as np

from .designs import stored_sosfilt_zi


def _extension(package: str, name: str) -> ModuleType | None:
    """The compiled module `package.name` (e.g. scipy.signal._sosfilt), loaded without running
    `package`'s __init__; None when it is not there (another scipy layout: callers fall back)."""
    full = f"{package}.{name}"
    if full in sys.modules:
        return sys.modules[full]
    if package in sys.modules:  # the package is imported anyway: the ordinary import costs nothing more
        try:
            return importlib.import_module(full)
        except ImportError:
            return None
    try:
        import scipy  # the top-level package is light (its submodules load lazily)

        folder = os.path.join(os.path.dirname(scipy.__file__), *package.split(".")[1:])
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, name + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader(full, path)
                spec = importlib.util.spec_from_file_location(full, path, loader=loader)
                if spec is None:
                    return None
                module = importlib.util.module_from_spec(spec)
                # registered under its own name, so a later `import scipy.signal` reuses it, not a second copy
                sys.modules[full] = module
                try:
                    loader.exec_module(module)
                except BaseException:
                    del sys.modules[full]
                    raise
                return module
    except Exception:  # any surprise: the public functions below are always correct, only slower to import
        return None
    return None


class _Fallback:
    """A module stand-in: attributes not defined here come from the real module (imported on first use)."""

    _module_name = ""

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._module_name), attr)


def _real(module_name: str) -> ModuleType:
    return importlib.import_module(module_name)


_sigtools = _extension("scipy.signal", "_sigtools")
_sosfilt_mod = _extension("scipy.signal", "_sosfilt")
_nd_image = _extension("scipy.ndimage", "_nd_image")

#: scipy.signal._sosfilt._sosfilt(sos, x, zi): sosfilt's C kernel, filtering `x` (2-D, C order) and `zi` in place
sosfilt_kernel = getattr(_sosfilt_mod, "_sosfilt", None)
_linear_filter = getattr(_sigtools, "_linear_filter", None)
_min_or_max_filter1d = getattr(_nd_image, "min_or_max_filter1d", None)


class _Signal(_Fallback):
    """`scipy.signal` for rollsignal: `lfilter` on its C kernel, `sosfilt_zi` of the stored designs."""

    _module_name = "scipy.signal"

    @staticmethod
    def lfilter(b: Any, a: Any, x: Any, axis: int = -1, zi: Any = None) -> Any:
        """`scipy.signal.lfilter`: for a recursive filter (len(a) > 1) of numpy inputs it runs
        `_sigtools._linear_filter` exactly as scipy's own code does (same conversions, same call)."""
        b1, a1 = np.atleast_1d(b), np.atleast_1d(a)
        if (_linear_filter is None or b1.ndim != 1 or a1.ndim != 1 or b1.size == 0 or a1.size <= 1
                or not all(isinstance(v, (np.ndarray, list, tuple, float, int)) for v in (x, zi) if v is not None)):
            return _real("scipy.signal").lfilter(b, a, x, axis=axis, zi=zi)
        try:
            if zi is None:
                return _linear_filter(b1, a1, np.asarray(x), axis)
            return _linear_filter(b1, a1, np.asarray(x), axis, np.asarray(zi))
        except TypeError:  # a scipy whose private kernel takes other arguments: the public function
            return _real("scipy.signal").lfilter(b, a, x, axis=axis, zi=zi)

    @staticmethod
    def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
        """`scipy.signal.sosfilt_zi`: the stored result for the designs in designs.py, else scipy's."""
        zi = stored_sosfilt_zi(sos)
        return zi if zi is not None else _real("scipy.signal").sosfilt_zi(sos)


_MODES = {"nearest": 0, "wrap": 1, "reflect": 2, "grid-mirror": 2, "mirror": 3, "constant": 4}


class _Ndimage(_Fallback):
    """`scipy.ndimage` for rollsignal: the 1-D running minimum / maximum on their C kernel."""

    _module_name = "scipy.ndimage"

    @staticmethod
    def _min_or_max(input: Any, size: int, axis: int, output: Any, mode: str, cval: float, origin: int,
                    minimum: int) -> Any:
        arr = np.asarray(input)
        if (_min_or_max_filter1d is None or output is not None or mode not in _MODES or arr.dtype.kind not in "biuf"
                or arr.ndim == 0 or not -arr.ndim <= axis < arr.ndim or size < 1
                or size // 2 + origin < 0 or size // 2 + origin >= size):
            func = "minimum_filter1d" if minimum else "maximum_filter1d"
            return getattr(_real("scipy.ndimage"), func)(input, size, axis=axis, output=output, mode=mode,
                                                         cval=cval, origin=origin)
        # as scipy.ndimage._filters.minimum_filter1d / maximum_filter1d do after checking their arguments
        out = np.zeros(arr.shape, dtype=arr.dtype.name)
        try:
            _min_or_max_filter1d(arr, size, axis % arr.ndim, out, _MODES[mode], cval, origin, minimum)
        except TypeError:  # a scipy whose private kernel takes other arguments: the public function
            func = "minimum_filter1d" if minimum else "maximum_filter1d"
            return getattr(_real("scipy.ndimage"), func)(input, size, axis=axis, mode=mode, cval=cval,
                                                         origin=origin)
        return out

    def maximum_filter1d(self, input: Any, size: int, axis: int = -1, output: Any = None, mode: str = "reflect",
                         cval: float = 0.0, origin: int = 0) -> Any:
        """`scipy.ndimage.maximum_filter1d` (real, 1-D or n-D numpy input; `output` not given)."""
        return self._min_or_max(input, size, axis, output, mode, cval, origin, 0)

    def minimum_filter1d(self, input: Any, size: int, axis: int = -1, output: Any = None, mode: str = "reflect",
                         cval: float = 0.0, origin: int = 0) -> Any:
        """`scipy.ndimage.minimum_filter1d` (real, 1-D or n-D numpy input; `output` not given)."""
        return self._min_or_max(input, size, axis, output, mode, cval, origin, 1)


sps = _Signal()
ndimage = _Ndimage()
