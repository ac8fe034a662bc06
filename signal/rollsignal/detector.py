"""The streaming Detector and the batch `analyze()`: one chain of stage objects.

    samples -> Despiker -> Resampler -> LowPass -> AutoZero -> Contact -> Segmenter -> StateMachine -> events
                                                                                           |-> Scorer (profile)

`analyze(chunk)` is literally `Detector` fed the whole chunk plus `finish()`;
every stage streams exactly, so feeding the same samples in chunks of any size
gives the same events, segments, holds and scores.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .autozero import AutoZero
from .contact import Contact
from .despike import Despiker
from .events import Event, HoldProgress
from .filters import LowPass
from .frames import Frames
from .profile import Profile, load_profile
from .resample import AngleUnwrap, Resampler
from .segmenter import Segmenter, SegmenterModel, load_model
from .scoring import Scorer, plural
from .statemachine import StateConfig, StateMachine
from .timeguard import TimeGuard
from .types import SampleChunk

ANALYSIS_FORMAT = "holdsense-analysis/1"


@dataclass
class AnalysisResult:
    """What the detector found in a session (contracts.md §3 without `source`)."""

    segments: list[dict[str, Any]]
    holds: list[dict[str, Any]]
    summary: dict[str, Any]
    quality: dict[str, Any]
    profile: str = "be-patient/1"
    #: milestone events in time order (state changes, hold started/ended, warnings; not hold_progress)
    events: list[Event] = field(default_factory=list)

    def to_dict(self, source: str | None = None) -> dict[str, Any]:
        """The holdsense-analysis/1 JSON object."""
        return {
            "format": ANALYSIS_FORMAT,
            "source": source,
            "segments": [dict(s) for s in self.segments],
            "holds": [dict(h, feedback=list(h["feedback"])) for h in self.holds],
            "summary": dict(self.summary, advice=list(self.summary["advice"])),
            "quality": dict(self.quality, warnings=list(self.quality["warnings"])),
        }


class Detector:
    """Streaming hold/roll detector: `process(chunk) -> events`, `finish() -> events`, `result()`.

    `profile`: a Profile, a profile name, or None for "be-patient" v1.
    `body_mass_kg`: the person's mass in kg, for judging pressure against body weight
    (None or 0: judged against the rolling load seen so far; a negative or non-finite mass is a
    ValueError, since every pressure judgement and feedback line would be computed from it).
    `batch_s`: tiny chunks (a BLE notification carries a few samples) are gathered
    until they span this much device time before the stages run, which cuts
    per-call overhead; results are identical for any value (every stage streams
    exactly), only wall-clock latency changes. None (default): 0.25 s with the encoder
    (labels 0.45 s after the data), 1 s force only (the segmenter decides ~6 s after the data).
    `progress_events`: False skips making the 1 Hz hold_progress events (analyze() keeps none; the
    safety check still runs at each tick, so every other event and the result are the same).
    `record_candidates`: keep every still run of min_hold_s or more with its peak confidence in
    `sm.candidates` (for choosing the model's reporting threshold, bench/fit_segmenter.py).
    """

    def __init__(self, profile: Profile | str | None = None, body_mass_kg: float | None = None,
                 config: StateConfig | None = None, batch_s: float | None = None, progress_events: bool = True,
                 model: SegmenterModel | str | None = None, record_candidates: bool = False) -> None:
        if profile is None or isinstance(profile, str):
            profile = load_profile(profile or "be-patient")
        self.profile = profile
        self.body_mass_kg = _body_mass(body_mass_kg)
        self.config = config or StateConfig(min_hold_s=profile.min_hold_s)
        self.scorer = Scorer(profile)
        self.despiker = Despiker()
        self.unwrap = AngleUnwrap()
        self.resampler = Resampler()
        self.lowpass = LowPass()
        self.autozero = AutoZero()
        self.contact = Contact()
        self.model = model if isinstance(model, SegmenterModel) else load_model(model)
        self.record_candidates = record_candidates
        self.seg: Segmenter | None = None
        self.sm: StateMachine | None = None
        # milestones (state changes, hold start/end, warnings) -- not the 1 Hz hold_progress ticks, which
        # process() returns but nobody needs afterwards: a day of holding would keep 40 k of them (~9 MB)
        self.events: list[Event] = []
        self.batch_s = batch_s  # None: chosen at the first chunk (see the docstring)
        self.progress_events = progress_events
        self._queue: list[SampleChunk] = []
        self._finished = False
        self._t_first: float | None = None
        self._t_last: float | None = None
        #: which samples are in device-time order: drops the NaN and backwards ones, holds a jump ahead
        #: back until the samples after it confirm it (timeguard.py; quality warnings)
        self.time_guard = TimeGuard()

    @property
    def out_of_order(self) -> int:
        """Samples dropped because their device time was missing or went backwards (quality warning)."""
        return self.time_guard.dropped

    @property
    def time_outliers(self) -> int:
        """Samples dropped because their device time jumped ahead and was not confirmed by the samples
        after it (a corrupt time stamp; quality warning)."""
        return self.time_guard.outliers

    def _machine(self, has_encoder: bool) -> StateMachine:
        if self.sm is None:
            self.seg = Segmenter(has_encoder, self.model, min_hold_s=self.config.min_hold_s,
                                 enc_still_cm=self.config.enc_still_cm)
            mode = "enc" if has_encoder else "force"
            self.sm = StateMachine(
                has_encoder, self.body_mass_kg, self.config,
                score_hold=lambda st: self.scorer.score_hold(st, self.body_mass_kg),
                check_hold=lambda f, r: self.scorer.safety_message(f, r, self.body_mass_kg),
                contact_on_n=self.contact.on_n, progress_events=self.progress_events,
                hold_limit=lambda r: self.scorer.safety_limit_n(r, self.body_mass_kg),
                confidence=lambda z, d: self.model.hold_confidence(z, d, mode),
                min_confidence=self.model.min_confidence(mode), record_candidates=self.record_candidates,
                approach=self.model.approach, end_back_s=self.model.end_back_s)
        return self.sm

    def _frames(self, fr: Frames) -> list[Event]:
        if len(fr) == 0:
            return []
        fr = self.contact.process(self.autozero.process(self.lowpass.process(fr)))
        sm = self._machine(fr.x_cm is not None)
        ev = sm.process(self.seg.process(fr))
        sm.note_time(float(fr.t_s[-1]))
        return ev

    def process(self, chunk: SampleChunk) -> list[Event]:
        """Feed samples; returns the events they caused, in time order.

        `chunk.t_s` is device time in seconds, finite and never decreasing within and across chunks (a
        recording's `t_s`, contracts.md §1). A sample whose time is not finite, or earlier than a sample
        already taken, is dropped and counted in `quality.warnings` (the rest of the stream is analysed as
        if it had never come: the same whatever the chunking); `holdsense analyze` refuses such a file
        instead (`holdsense.inputcheck.check_times`). A jump of more than 1 s ahead is held back until 8
        samples after it continued from it (a link gap: kept), or time came back to before it (a corrupt
        time stamp: the jump's samples are dropped and counted, the rest analysed); timeguard.py.
        """
        if self._finished:
            raise RuntimeError("Detector.process() after finish()")
        if len(chunk) == 0:
            return []
        self._queue.append(chunk)
        if self.batch_s is None:
            # with the encoder labels come 0.45 s after the data, force only ~6 s after (segmenter lag):
            # gathering 1 s there adds little to that wait and cuts the per-call work fourfold
            self.batch_s = 0.25 if chunk.angle_deg is not None else 1.0
        # (a NaN time runs the queue at once, where the time guard drops it; time going backwards waits)
        if float(chunk.t_s[-1]) - float(self._queue[0].t_s[0]) < self.batch_s:
            return []
        return self._run_queue()

    def _run_queue(self) -> list[Event]:
        if not self._queue:
            return []
        chunk = self._queue[0] if len(self._queue) == 1 else SampleChunk.concat(self._queue)
        self._queue = []
        # the time guard and the angle's unwrap run per gathered batch, not per call: a few numpy calls cost
        # ~15 us whatever the length, which per 8-sample chunk took a third off the streaming speed
        return self._run(self.time_guard.process(chunk))

    def _run(self, chunk: SampleChunk) -> list[Event]:
        """Samples in device-time order through the stages."""
        chunk = self.unwrap.process(chunk)
        if len(chunk) == 0:
            return []
        if self._t_first is None:
            self._t_first = float(chunk.t_s[0])
        self._t_last = float(chunk.t_s[-1])
        ev = self._frames(self.resampler.process(self.despiker.process(chunk)))
        self._keep(ev)
        return ev

    def _keep(self, events: list[Event]) -> None:
        self.events.extend(e for e in events if not isinstance(e, HoldProgress))

    def finish(self) -> list[Event]:
        """End of stream: flush the stages, close the open segment and hold."""
        if self._finished:
            return []
        self._finished = True
        queued = self._run_queue()  # (already recorded in self.events)
        held = self.time_guard.finish()  # the stream's first samples when it was shorter than the holdback
        if held is not None:
            queued += self._run(held)
        ev = self._frames(self.resampler.process(self.despiker.finish()))
        ev += self._frames(self.resampler.finish())
        if self.sm is not None:
            t_last = self.sm.t_last_s
            ev += self.sm.process(self.seg.finish())
            self.sm.note_time(t_last)
            ev += self.sm.finish(self._t_last)
        self._keep(ev)
        return queued + ev

    def result(self) -> AnalysisResult:
        """Segments, holds, summary and quality (call after finish(); before it, the result so far)."""
        sm = self.sm
        t_end = self._t_last if self._t_last is not None else 0.0
        if sm is None:
            segs = [] if self._t_first is None else [{"kind": "off", "start_s": self._t_first, "end_s": t_end}]
            holds: list[dict[str, Any]] = []
        else:
            segs = sm.segment_list(t_end)
            if segs:
                segs[0]["start_s"] = self._t_first
            holds = list(sm.holds)
        for s in segs:
            s["start_s"] = round(s["start_s"], 3)
            s["end_s"] = round(s["end_s"], 3)
        summary = self.scorer.summarize(segs, holds)
        return AnalysisResult(segs, holds, summary, self._quality(), f"{self.profile.name}/{self.profile.version}",
                              list(self.events))

    def _quality(self) -> dict[str, Any]:
        n = self.resampler.samples
        span = (self._t_last or 0.0) - (self._t_first or 0.0)
        rate = round((n - 1) / span, 1) if n > 1 and span > 0 else None
        warnings: list[str] = []
        gaps = self.resampler.gaps
        sat = self.despiker.saturated
        if gaps:
            # the state machine's two limits (statemachine._segment): a longer gap was not always off
            c = self.config
            warnings.append(f"{plural(gaps, 'link gap or dropout', 'link gaps or dropouts')}: gaps up to {c.gap_bridge_s:g} s bridged, up to "
                            f"{c.long_gap_bridge_s:g} s when the same state resumed after them, longer ones "
                            "counted as off (link lost)")
        if sat:
            warnings.append(f"{plural(sat, 'saturated sample')} ignored: the load cell was over its range")
        if self.out_of_order:
            warnings.append(f"{plural(self.out_of_order, 'sample')} dropped: their device time was missing or went "
                            "backwards (t_s must be finite and never decrease)")
        if self.time_outliers:
            g = self.time_guard
            warnings.append(f"{plural(self.time_outliers, 'sample')} dropped: their device time jumped more than "
                            f"{g.jump_s:g} s ahead and the samples after them did not continue from there (a corrupt "
                            f"time stamp; a link gap is kept once {g.confirm_n} samples continue after it)")
        if self.unwrap.wraps:
            warnings.append(f"angle_deg wrapped at 360 degrees {plural(self.unwrap.wraps, 'time')} and was unwrapped "
                            "(a recording's angle should be cumulative)")
        if self.despiker.spikes:
            warnings.append(f"{plural(self.despiker.spikes, 'spurious ADC reading')} removed")
        if abs(self.autozero.max_abs_offset_n) > 5.0:
            warnings.append(f"load-cell zero drifted by up to {self.autozero.max_abs_offset_n:.1f} N "
                            "(followed automatically; tare when convenient)")
        if rate is not None and rate < 9.0:
            warnings.append(f"low sample rate ({rate} Hz): detection needs at least 10 Hz")
        return {"sample_rate_hz": rate, "gaps": gaps, "saturated_samples": sat, "warnings": warnings}


def _body_mass(body_mass_kg: float | None) -> float | None:
    """The Detector's body mass (kg): None for unknown (None or 0), else a positive finite number."""
    if not body_mass_kg:
        return None
    kg = float(body_mass_kg)
    if not (math.isfinite(kg) and kg > 0):
        raise ValueError(f"body_mass_kg must be a positive number of kilograms (or None), not {body_mass_kg!r}")
    return kg


def confirm_lag_s(has_encoder: bool, model: SegmenterModel | str | None = None, min_hold_s: float = 5.0) -> float:
    """How long after a hold's reported (back-dated) start the live detector confirms it, at most but
    for holds whose confidence is slow to reach the reporting threshold (s).

    Why: a live coach must not count that time as rolling ("you rolled 45 s without holding") while the
    hold waits to be confirmed. With the encoder: the minimum hold plus the 0.5 s still window. Force
    only: the minimum hold, the segmenter's feature look-ahead, decoder lag and one step, plus the
    longest walk back over the load's approach (the model's `approach` back_s). Measured on 4 x 8
    generated sessions with the packaged model: docs/coaching.md.
    """
    if has_encoder:
        return min_hold_s + 0.5
    m = model if isinstance(model, SegmenterModel) else load_model(model)
    back_s = float(m.approach["back_s"]) if m.approach else 0.0
    return min_hold_s + m.lookahead_s + m.lag_s + m.step_s + back_s


def analyze(chunk: SampleChunk, body_mass_kg: float | None = None,
            profile: Profile | str | None = None) -> AnalysisResult:
    """Analyse a whole recording: exactly what a Detector fed the same samples ends up reporting.

    `body_mass_kg` (kg) and `profile` as for `Detector`; samples as for `Detector.process`.
    """
    det = Detector(profile=profile, body_mass_kg=body_mass_kg, progress_events=False)
    det.process(chunk)
    det.finish()
    return det.result()
