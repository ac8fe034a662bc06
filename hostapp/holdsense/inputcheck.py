"""Physical sanity of samples before the detector sees them (offline `analyze` and every live/replay path alike).

A force a body on a foam roller cannot produce (beyond FORCE_LIMIT_N either
way: a 400 kg person standing on it is ~4 kN; the load cells saturate far
below 100 kN) is a corrupt cell, not a measurement: it is treated as missing
(NaN, as an empty cell) and counted, so the analysis says how many it dropped
instead of numpy printing overflow warnings and the detector scoring garbage.
The same function runs in `analyze_recording` and in `DetectorListener`, so live
and offline still agree sample for sample.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from rollsignal import FLAG_SAT, SampleChunk
from rollsignal.timeguard import TimeGuard

from .errors import UserError
from .fmt import plural

FORCE_LIMIT_N = 1.0e5
# Longest stretch of device time one analysis covers. The detector works on a fixed 20 Hz frame grid across
# the whole span (gaps included), so a corrupt time stamp (an XDF clock jump, a flipped exponent) would
# otherwise ask for billions of frames; no roller session lasts a day.
MAX_SPAN_S = 24 * 3600.0
# Angles beyond this (about 280 000 turns of the shell) are corrupt cells too; the encoder's cumulative
# angle of a 2-hour session stays far below it.
ANGLE_LIMIT_DEG = 1.0e8


def clean_samples(chunk: SampleChunk) -> tuple[SampleChunk, int]:
    """(chunk with impossible force/angle values set to NaN, how many samples were touched).

    The chunk is returned unchanged (same object) when nothing is out of range: the common case costs one
    comparison per sample and no copy. A sample flagged `sat` (the ADC at its rail, often converted to an
    absurd force) is cleaned but not counted: the analysis already counts it as saturated, and one sample
    should not be reported twice.
    """
    f = chunk.force_n
    with np.errstate(invalid="ignore"):  # NaN (an empty cell) compares False: it is already "missing"
        bad_f = np.abs(f) > FORCE_LIMIT_N
        a = chunk.angle_deg
        bad_a = (np.abs(a) > ANGLE_LIMIT_DEG) if a is not None else None
    n_f = int(np.count_nonzero(bad_f))
    n_a = int(np.count_nonzero(bad_a)) if bad_a is not None else 0
    if not n_f and not n_a:
        return chunk, 0
    changes = {}
    if n_f:
        changes["force_n"] = np.where(bad_f, np.nan, f)
    if n_a:
        changes["angle_deg"] = np.where(bad_a, np.nan, a)
    touched = bad_f | bad_a if bad_a is not None else bad_f
    if n_f and chunk.flags.any():
        touched = touched & ~(((chunk.flags & FLAG_SAT) != 0) & ~(bad_a if bad_a is not None else False))
    return replace(chunk, **changes), int(np.count_nonzero(touched))


def check_times(chunk: SampleChunk, source: str) -> None:
    """Raise UserError (one line, naming `source`) for device times `analyze` cannot work on: not finite,
    going backwards, or spanning more than MAX_SPAN_S.

    Judged by the detector's own time guard (rollsignal.timeguard): a time stamp that jumps ahead and is
    not confirmed by the samples after it (one corrupt stamp, 100.0 -> 9e6 -> 100.0125) is not refused,
    since the detector drops that sample and says so in `quality.warnings`; the time after it going
    "backwards" is then no error, and the span is that of the samples the detector takes.
    """
    if not len(chunk.t_s):
        return
    guard = TimeGuard()
    guard.process(SampleChunk(t_s=chunk.t_s, force_n=np.zeros(len(chunk))))
    _refuse(guard, source)
    guard.finish()
    _refuse(guard, source)


def _refuse(guard: TimeGuard, source: str) -> None:
    """check_times' refusals from what `guard` has seen so far (sample numbers from the first sample fed)."""
    if guard.first_nonfinite is not None:
        raise UserError(f"{source}: sample {guard.first_nonfinite[0] + 1}: device time is not a finite number")
    if guard.first_backwards is not None:
        k, t_k, t_before = guard.first_backwards
        raise UserError(f"{source}: sample {k + 1}: device time goes backwards ({t_k:g} s after {t_before:g} s)")
    if guard.t_first is not None and guard.t_max - guard.t_first > MAX_SPAN_S:
        span = guard.t_max - guard.t_first
        raise UserError(f"{source}: the samples span {span:.3g} s of device time, more than the "
                        f"{MAX_SPAN_S / 3600:g} h one analysis covers (a corrupt time stamp?)")


def in_time_order(chunk: SampleChunk) -> SampleChunk:
    """The samples the detector's time guard takes (rollsignal.timeguard), for drawing a recording as it
    was analysed: one corrupt time stamp 9e6 s ahead would otherwise stretch the time axis to 9e6 s and
    hatch all of it as a gap. The chunk itself when every sample is taken."""
    guard = TimeGuard()
    kept = guard.process(chunk)
    tail = guard.finish()
    if tail is not None:
        kept = SampleChunk.concat((kept, tail))
    return kept


class StreamChecks:
    """`check_times` + `clean_samples` + `input_warnings` for a recording fed block by block (streamed
    analysis): the same refusals and the same notes as on the whole recording."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.guard = TimeGuard()  # the same judgement as check_times, decided as the blocks come
        self.n = 0
        self.n_impossible = 0
        self.any_force = False

    def feed(self, chunk: SampleChunk) -> SampleChunk:
        if not len(chunk):
            return chunk
        self.guard.process(SampleChunk(t_s=chunk.t_s, force_n=np.zeros(len(chunk))))
        _refuse(self.guard, self.source)
        self.n += len(chunk)
        chunk, bad = clean_samples(chunk)
        self.n_impossible += bad
        self.any_force = self.any_force or bool(np.isfinite(chunk.force_n).any())
        return chunk

    def finish(self) -> None:
        """End of the recording: a held first stretch is taken now (and counts for the span)."""
        self.guard.finish()
        _refuse(self.guard, self.source)

    def warnings(self) -> list[str]:
        out = []
        if self.n_impossible:
            out.append(f"{plural(self.n_impossible, 'sample')} with an impossible force (beyond ±{FORCE_LIMIT_N:g} N) or "
                       f"angle treated as missing")
        if self.n and not self.any_force:
            out.append("no usable force value in the recording (every force_n cell is empty or impossible)")
        return out


def input_warnings(chunk: SampleChunk, n_impossible: int) -> list[str]:
    """Plain-words data-quality notes on a whole recording's samples (for `quality.warnings`)."""
    out = []
    if n_impossible:
        out.append(f"{plural(n_impossible, 'sample')} with an impossible force (beyond ±{FORCE_LIMIT_N:g} N) or angle "
                   f"treated as missing")
    n = len(chunk)
    if n and not np.isfinite(chunk.force_n).any():
        out.append("no usable force value in the recording (every force_n cell is empty or impossible)")
    return out
