"""Live feedback: the detector as a listener, and the terminal views it drives.

`DetectorListener` wraps `rollsignal.Detector`: every chunk from the receive
loop (device or `Player`) goes through `process()`, the events update a
`LiveState` (force, state, current hold, last hold's score, session totals,
battery, link health), and views render that state:

- `RichView` (a terminal): a `rich.live.Live` display refreshed 12 times a
  second — force bar with the light-pressure band, state, the current hold's
  timer with the 30 s release window marked, the last hold's score and
  feedback, session totals, warnings (low battery, too much force, link).
- `PlainView` (a pipe, a log, CI): one line per event and a status line
  each second. It never reads stdin, so it never blocks on a non-TTY.

Live and offline agree: the totals shown at the end come from the same
Detector that `holdsense analyze` runs in batch.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Protocol

import numpy as np

from rollsignal import FLAG_GAP, SampleChunk

from ..fmt import fmt_clock as round_clock, plural
from ..inputcheck import clean_samples
from ..messages import LINK_STALE_S, Listener  # (LINK_STALE_S: importable from here as before)
from ..verdict import TONE_STYLES, hold_tone, shown_score

G_MPS2 = 9.80665
#: Light, sustained pressure: roughly 10–25 % of body weight (docs/domain facts; the profile may override).
LIGHT_BAND_FRAC_BW = (0.10, 0.25)
#: The seed guidance: hold 30 s to a few minutes for the tissue to release.
RELEASE_WINDOW_S = 30.0
LOW_BATTERY_PCT = 15.0
WARNING_SHOWN_S = 15.0  # a detector warning stays on screen this long (session time)
STATE_WORDS = {"off": "off", "roll": "rolling", "hold": "holding", None: "waiting"}
#: Pressure at which a hold is "too hard" (rollsignal's be-patient profile: 33 % of body weight, or the
#: rolling load itself); the profile may override both.
TOO_HARD_FRAC_BW = 0.33
TOO_HARD_FRAC_ROLLING = 1.0
#: What a view shows as the state, in priority order (display_state()).
DISPLAY_WORDS = {"link_lost": "LINK LOST", "too_hard": "TOO HARD", "hold": "HOLDING", "roll": "ROLLING",
                 "off": "OFF", "waiting": "WAITING", "ended": "ENDED"}


def _profile_value(profile: Any, names: Iterable[str]) -> Any:
    """A value from a rollsignal profile (object or dict) under any of `names`, else None."""
    if profile is None:
        return None
    for name in names:
        cur: Any = profile
        for part in name.split("."):
            if isinstance(cur, dict):
                cur = cur.get(part)
            else:
                cur = getattr(cur, part, None)
            if cur is None:
                break
        if cur is not None:
            return cur
    return None


def release_window_s(profile: Any = None) -> float:
    v = _profile_value(profile, ("criteria.duration.release_s", "release_window_s"))
    try:
        return float(v) if v is not None else RELEASE_WINDOW_S
    except (TypeError, ValueError):
        return RELEASE_WINDOW_S


def light_band_n(body_mass_kg: float | None, profile: Any = None) -> tuple[float, float] | None:
    """The light-pressure band in newtons for this person, or None without a body mass."""
    if not body_mass_kg:
        return None
    lo, hi = LIGHT_BAND_FRAC_BW
    top = _profile_value(profile, ("criteria.pressure.light_max_of_body",))  # rollsignal's be-patient profile
    try:
        if top is not None and 0 < float(top) <= 1:
            hi = float(top)
    except (TypeError, ValueError):
        pass
    w = body_mass_kg * G_MPS2
    return lo * w, hi * w


def too_hard_fracs(profile: Any = None) -> tuple[float, float]:
    """(fraction of body weight, fraction of the rolling load) at which a hold is too hard."""
    out = []
    for name, default in (("criteria.pressure.too_hard_of_body", TOO_HARD_FRAC_BW),
                          ("criteria.pressure.too_hard_of_rolling", TOO_HARD_FRAC_ROLLING)):
        v = _profile_value(profile, (name,))
        try:
            out.append(float(v) if v is not None and float(v) > 0 else default)
        except (TypeError, ValueError):
            out.append(default)
    return out[0], out[1]


@dataclass
class LiveState:
    """What the views show; updated by DetectorListener on the receive thread."""

    body_mass_kg: float | None = None
    region: str | None = None
    light_band_n: tuple[float, float] | None = None
    release_window_s: float = RELEASE_WINDOW_S
    device: str | None = None
    t_s: float = 0.0  # latest sample time, session time base
    first_t_s: float | None = None  # the first sample's time
    force_n: float = math.nan  # latest force (mean of the last ~0.25 s, readable at 12 Hz)
    samples: int = 0
    state: str | None = None
    state_start_s: float = 0.0
    hold_start_s: float | None = None  # the current hold (back-dated true start)
    hold_mean_force_n: float | None = None
    last_hold: dict[str, Any] | None = None
    holds: list[dict[str, Any]] = field(default_factory=list)
    totals_s: dict[str, float] = field(default_factory=lambda: {"off": 0.0, "roll": 0.0, "hold": 0.0})
    warnings: deque = field(default_factory=lambda: deque(maxlen=3))
    battery_pct: float | None = None
    battery_low: bool = False
    gaps: int = 0
    lost_samples: int = 0
    link: dict[str, Any] = field(default_factory=dict)  # lost/corrupt frame counters, link state
    history: deque = field(default_factory=lambda: deque(maxlen=15 * 20))  # (t_s, force_n) ~20/s, 15 s
    ended: bool = False
    result: dict[str, Any] | None = None
    marks: deque = field(default_factory=lambda: deque(maxlen=3))  # (t_s, text) of the person's markers
    mark_keys: str | None = None  # the key hint, when marker keys are read
    typing: str = ""  # a note being typed
    marks_on: bool = False  # markers are taken (keys, --markers-from, the web page's buttons)
    # link loss: lost intervals in session time (excluded from every state's total, counted as 'lost'),
    # the link layer's word for the link, and when (monotonic wall time) the last samples arrived
    lost_intervals: list[tuple[float, float]] = field(default_factory=list)
    link_down_since: float | None = None  # monotonic wall time the link layer reported the loss
    last_samples_wall: float | None = None
    watch_stale: bool = False  # a live roller: silence longer than LINK_STALE_S means the link is lost
    rolling_load_n: float | None = None  # the detector's rolling load (the "too hard" reference without a mass)
    # the detector's unloaded threshold (rollsignal's Contact.off_n, N): below it the detector says nobody is
    # on the roller; None before a detector exists (then a view only keeps its force from going negative)
    unloaded_n: float | None = None
    too_hard_fracs: tuple[float, float] = (TOO_HARD_FRAC_BW, TOO_HARD_FRAC_ROLLING)

    @property
    def hold_duration_s(self) -> float | None:
        return None if self.hold_start_s is None else max(0.0, self.t_s - self.hold_start_s)

    def totals_now(self) -> dict[str, float]:
        """Time in each state so far, including the running state, and 'lost': time the link was down
        (never counted as off, rolling or holding: nobody knows what happened then)."""
        out = dict(self.totals_s)
        if self.state in out:
            out[self.state] += self.span_without_lost(self.state_start_s, self.t_s)
        out["lost"] = sum(b - a for a, b in self.lost_intervals)
        return out

    def totals_final(self) -> dict[str, float] | None:
        """The session's analysis totals once it has ended (s): hold, roll, off (without the lost link),
        lost, and the session's duration; None before. Why: the running totals count every link gap as
        lost and floor the clock; at the end every view says what `holdsense analyze` says."""
        summ = (self.result or {}).get("summary") or {}
        if summ.get("duration_s") is None:
            return None
        lost = summ.get("lost_s") or 0.0
        return {"hold": summ["hold_s"], "roll": summ["roll_s"], "off": (summ.get("off_s") or 0.0) - lost,
                "lost": lost, "duration": summ["duration_s"]}

    def span_without_lost(self, a_s: float, b_s: float) -> float:
        """Seconds from a_s to b_s (session time) that were not inside a link loss."""
        span = max(0.0, b_s - a_s)
        for lo, hi in self.lost_intervals:
            span -= max(0.0, min(hi, b_s) - max(lo, a_s))
        return max(0.0, span)

    def too_hard_n(self) -> float | None:
        """The force (N) above which holding is too hard: the least of the body-weight and rolling-load limits."""
        frac_bw, frac_roll = self.too_hard_fracs
        lims = []
        if self.body_mass_kg:
            lims.append(frac_bw * self.body_mass_kg * G_MPS2)
        if self.rolling_load_n:
            lims.append(frac_roll * self.rolling_load_n)
        return min(lims) if lims else None

    def link_lost(self, now: float | None = None) -> bool:
        """The link is down: the link layer says so, or (a live roller) no samples for LINK_STALE_S."""
        if self.ended:
            return False
        if self.link_down_since is not None:
            return True
        if self.watch_stale and self.last_samples_wall is not None:
            now = time.monotonic() if now is None else now
            return now - self.last_samples_wall > LINK_STALE_S
        return False

    def link_lost_for_s(self, now: float | None = None) -> float:
        """Wall seconds since the link went down (0 when it is up)."""
        if not self.link_lost(now):
            return 0.0
        now = time.monotonic() if now is None else now
        since = [x for x in (self.link_down_since, self.last_samples_wall) if x is not None]
        return max(0.0, now - min(since)) if since else 0.0


#: Force scale without a body mass: fixed, so the gauge never rescales under the person.
DEFAULT_SCALE_N = 400.0


def force_scale_n(state: LiveState) -> float:
    """Full scale (N) of the force gauges: half of body weight when the mass is known (the light band,
    10–25 %, sits in its lower half and the too-hard zone, from 33 %, stays visible), else a fixed
    DEFAULT_SCALE_N. Fixed for a session: no autoscale jumps."""
    if state.body_mass_kg:
        return 0.5 * state.body_mass_kg * G_MPS2
    return DEFAULT_SCALE_N


def shown_force_n(state: LiveState) -> float:
    """The force a view shows (N; NaN while there is no reading): the latest reading, never negative, and 0
    while the detector says nobody is on the roller (off, or no state yet) and the reading is under the
    detector's own unloaded threshold (`state.unloaded_n`, rollsignal's Contact.off_n).

    Why: the load cells only take compression; what an empty roller reads is the tare's residue and the
    zero's noise and drift (a few newtons either way, the auto-zero follows it), not a load. Shown as it
    is, an empty roller read "-0.1 kg" beside OFF."""
    f = state.force_n
    if not math.isfinite(f):
        return f
    if state.state in (None, "off") and state.unloaded_n is not None and f < state.unloaded_n:
        return 0.0
    return max(0.0, f)


def display_state(state: LiveState, now: float | None = None) -> str:
    """What every view shows as the state: 'link_lost', 'too_hard', 'hold', 'roll', 'off', 'waiting' or
    'ended' (keys of DISPLAY_WORDS). One function, so the terminal and the web page never disagree."""
    if state.ended:
        return "ended"
    if state.link_lost(now):
        return "link_lost"
    if state.state is None:
        return "waiting"
    if state.state == "hold":
        recent_warning = any(state.hold_start_s is not None and t >= state.hold_start_s for t, _ in state.warnings)
        if recent_warning or hold_too_hard(state) is not None:
            return "too_hard"
    return state.state


def hold_too_hard(state: LiveState) -> str | None:
    """How the current hold is too hard by the profile's rule (the hold's mean force so far at or above
    `too_hard_of_rolling` x the rolling load, or `too_hard_of_body` x body weight: what its score will call
    "too hard"), in words for the person; None when it is not (or there is no hold). The live page's and
    the terminal's TOO HARD and the guided session's ease-off cue all use this one rule."""
    if state.state != "hold":
        return None
    limit = state.too_hard_n()
    f = state.hold_mean_force_n if state.hold_mean_force_n is not None else state.force_n
    if limit is None or not math.isfinite(f) or f < limit:
        return None
    frac_bw, frac_roll = state.too_hard_fracs
    if state.rolling_load_n and f >= frac_roll * state.rolling_load_n:
        rel = 100 * f / state.rolling_load_n
        return f"as hard as you roll ({rel:.0f} % of your rolling load)" if rel < 150 else \
            f"harder than you roll ({rel:.0f} % of your rolling load)"
    return f"with {100 * f / (state.body_mass_kg * G_MPS2):.0f} % of your body weight"


#: A hold too hard for this long (session time) earns the ease-off cue, once per hold.
TOO_HARD_CUE_S = 3.0


class TooHardCue:
    """The ease-off cue: once per hold, when the hold has been too hard (`hold_too_hard`) for TOO_HARD_CUE_S
    of session time without a break. Why: the guidance is light, sustained pressure, and a person on the
    floor does not watch a screen; the detector's own warning comes only far above the rolling load."""

    def __init__(self, after_s: float = TOO_HARD_CUE_S) -> None:
        self.after_s = after_s
        self._hold: float | None = None  # the hold (its start) being watched
        self._since: float | None = None
        self._done = False

    def update(self, state: LiveState) -> str | None:
        """The cue's text when it is due now, else None (call after each chunk)."""
        if state.hold_start_s != self._hold:
            self._hold, self._since, self._done = state.hold_start_s, None, False
        why = hold_too_hard(state) if state.hold_start_s is not None else None
        if why is None or self._done:
            self._since = None
            return None
        if self._since is None:
            self._since = state.t_s
        if state.t_s - self._since < self.after_s - 1e-9:
            return None
        self._done = True
        return (f"Ease off: you are pressing {why}. Take weight off with your hands or the other leg: "
                "light, sustained pressure releases the tissue better than force.")


class View(Protocol):
    def start(self, state: LiveState) -> None: ...
    def update(self, state: LiveState, events: list[Any]) -> None: ...
    def close(self, state: LiveState) -> None: ...


class DetectorListener(Listener):
    """Runs rollsignal's Detector on the stream and keeps a LiveState for views.

    The Detector is made at the first samples (not at construction), so a
    replayed recording's `body_mass_kg` from its header can still be used when
    none was given. `events` collects every event; `result` is the detector's
    final `to_dict()` after `stop()`.
    """

    def __init__(self, *, body_mass_kg: float | None = None, region: str | None = None, profile: Any = None,
                 views: Iterable[View] = (), detector_factory: Callable[..., Any] | None = None,
                 default_body_mass_kg: float | None = None) -> None:
        self.profile = profile
        # the athlete's profile mass: used only when neither the option nor the stream's header gives one
        self.default_body_mass_kg = default_body_mass_kg
        self.state = LiveState(body_mass_kg=body_mass_kg, region=region)
        self.views: list[View] = list(views)
        self.events: list[Any] = []
        if detector_factory is None:
            # rollsignal imports its scipy-backed Detector on first use: seconds on a busy machine. Do it
            # here, before any sample arrives, never on the receive thread, where a stall of that length
            # overflows the roller's queue (samples dropped, a gap in the recording).
            from rollsignal import Detector

            detector_factory = Detector
        self._factory = detector_factory
        self.detector: Any = None
        self._lock = threading.Lock()
        self._recent: deque = deque(maxlen=64)  # (t_s, force_n) for the displayed force
        self._started_views = False
        self._stopped = False
        self._subscribers: list[Callable[[Any], None]] = []

    @property
    def lock(self) -> threading.Lock:
        """Held while the receive thread changes `state`: a view on another thread (the web page's
        broadcaster) takes it to read a consistent snapshot."""
        return self._lock

    def subscribe(self, fn: Callable[[Any], None]) -> None:
        """Call `fn(event)` for every detector event (e.g. an LSL marker outlet, a cue on the roller),
        on the receive thread, so one detector serves the live view and everything else."""
        self._subscribers.append(fn)

    def _keep(self, events: list[Any]) -> None:
        # milestones only: the 1 Hz hold_progress ticks would grow without bound over a long session
        self.events.extend(e for e in events if getattr(e, "kind", None) != "hold_progress")

    def _publish(self, events: list[Any]) -> None:
        for ev in events:
            for fn in self._subscribers:
                fn(ev)

    # -- Listener -----------------------------------------------------------------------------
    def on_info(self, info: dict[str, Any]) -> None:
        st = self.state
        if st.body_mass_kg is None:  # (a replayed file's header: checked as `analyze` checks it)
            from ..userprofile import plausible_body_mass_kg

            st.body_mass_kg = plausible_body_mass_kg(info.get("body_mass_kg"))
        if st.region is None and info.get("region"):
            st.region = str(info["region"])
        name = info.get("device") or info.get("board") or info.get("source")
        fw = info.get("fw") or info.get("firmware") or info.get("fw_version")
        if name:
            st.device = f"{name}" + (f" fw {fw}" if fw and f"fw={fw}" not in str(name) else "")
        self._status(info)

    def on_samples(self, chunk: SampleChunk) -> None:
        if len(chunk) == 0:
            return
        self._ensure_started()
        chunk, _ = clean_samples(chunk)  # impossible values are missing, exactly as `analyze` treats them
        events = list(self.detector.process(chunk))
        with self._lock:
            self._update_samples(chunk)
            for ev in events:
                self._apply(ev)
        self._keep(events)
        self._publish(events)
        for v in self.views:
            v.update(self.state, events)

    def on_mark(self, t_s: float, kind: str, text: str = "") -> None:
        """A person's marker (holdsense.listeners.markers): shown by the views, kept in `state.marks`."""
        words = {"hold_start": "hold starts", "hold_end": "hold ends"}.get(kind, "note")
        line = words + (f": {text}" if text else "")
        with self._lock:
            self.state.marks.append((t_s, line))
        for v in self.views:
            v.update(self.state, [_MarkEvent(t_s, line)])

    def on_mark_refused(self, kind: str, text: str, why: str) -> None:
        """A marker pressed while the link was lost, not recorded (holdsense.listeners.markers): listed with the
        marks, at the last sample's time, saying so, so the person knows to press again once the link is back."""
        words = {"hold_start": "hold starts", "hold_end": "hold ends"}.get(kind, "note")
        line = f"not recorded ({why.split(':')[0]}): {words}" + (f": {text}" if text else "")  # short: a list row
        with self._lock:
            t_s = self.state.t_s
            self.state.marks.append((t_s, line))
        for v in self.views:
            v.update(self.state, [_MarkEvent(t_s, line)])

    def typing(self, text: str) -> None:
        """The note being typed (empty: none), shown by the full-screen view."""
        self.state.typing = text

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        with self._lock:
            self.state.gaps += 1
            self.state.lost_samples += int(lost_samples or 0)
            if self.state.first_t_s is not None and t_s > self.state.t_s:
                # from the last sample before the gap to the first after it: lost, not off
                self.state.lost_intervals.append((self.state.t_s, float(t_s)))
        ev = _GapEvent(t_s=t_s, reason=reason, lost_samples=lost_samples)
        for v in self.views:
            v.update(self.state, [ev])

    def on_status(self, status: dict[str, Any]) -> None:
        with self._lock:
            self._status(status)
        for v in self.views:
            v.update(self.state, [])

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        events: list[Any] = []
        if self.detector is not None:
            events = list(self.detector.finish())
            with self._lock:
                for ev in events:
                    self._apply(ev)
                self.state.result = self.detector.result().to_dict(source="live")
            self._keep(events)
            self._publish(events)
        self.state.ended = True
        for v in self.views:
            if events:
                v.update(self.state, events)
            v.close(self.state)

    @property
    def result(self) -> dict[str, Any] | None:
        return self.state.result

    # -- internals ----------------------------------------------------------------------------
    def _ensure_started(self) -> None:
        if self.detector is not None:
            return
        st = self.state
        if st.body_mass_kg is None:
            st.body_mass_kg = self.default_body_mass_kg
        self.detector = self._factory(profile=self.profile, body_mass_kg=st.body_mass_kg)
        prof = getattr(self.detector, "profile", None) or self.profile
        st.release_window_s = release_window_s(prof)
        st.light_band_n = light_band_n(st.body_mass_kg, prof)
        st.too_hard_fracs = too_hard_fracs(prof)
        off_n = getattr(getattr(self.detector, "contact", None), "off_n", None)  # the detector's "nobody on it"
        st.unloaded_n = float(off_n) if isinstance(off_n, (int, float)) and math.isfinite(off_n) else None
        if not self._started_views:
            self._started_views = True
            for v in self.views:
                v.start(st)

    def start_views(self) -> None:
        """Show the views before the first sample arrives (a 'connecting…' screen)."""
        if not self._started_views:
            self._started_views = True
            for v in self.views:
                v.start(self.state)

    def _update_samples(self, chunk: SampleChunk) -> None:
        st = self.state
        t, f = chunk.t_s, chunk.force_n
        ok = np.isfinite(f)
        for ti, fi in zip(t[ok][-8:], f[ok][-8:]):
            self._recent.append((float(ti), float(fi)))
        st.t_s = float(t[-1])
        st.last_samples_wall = time.monotonic()
        sm = getattr(self.detector, "sm", None)
        roll = getattr(sm, "rolling_load_n", None)
        st.rolling_load_n = float(roll) if isinstance(roll, (int, float)) and roll == roll and roll > 0 else None
        if st.first_t_s is None:
            st.first_t_s = float(t[0])
        st.samples += len(chunk)
        if self._recent:
            cut = st.t_s - 0.25
            vals = [fv for tv, fv in self._recent if tv >= cut]
            if vals:
                st.force_n = float(np.mean(vals))
        # ~20 points a second for the trace, whatever the sample rate
        if not st.history or st.t_s - st.history[-1][0] >= 0.05:
            st.history.append((st.t_s, st.force_n))
        if chunk.flags.size and (chunk.flags & FLAG_GAP).any() and st.state is not None:
            pass  # gaps are counted in on_gap; the flag travels with the samples to the detector

    def _apply(self, ev: Any) -> None:
        st = self.state
        kind = getattr(ev, "kind", None)
        if kind == "state":
            new = getattr(ev, "state", None)
            start = float(getattr(ev, "start_s", getattr(ev, "t_s", st.t_s)))
            if st.state in st.totals_s:
                st.totals_s[st.state] += st.span_without_lost(st.state_start_s, start)
            elif st.first_t_s is not None and getattr(ev, "previous", None) in st.totals_s:
                # the detector starts in a state without announcing it (e.g. off): count from the first sample
                st.totals_s[ev.previous] += st.span_without_lost(st.first_t_s, start)
            st.state, st.state_start_s = new, start
            if new != "hold":
                st.hold_start_s = None
                st.hold_mean_force_n = None
        elif kind == "hold_started":
            st.hold_start_s = float(getattr(ev, "start_s", ev.t_s))
            st.hold_mean_force_n = None
        elif kind == "hold_progress":
            st.hold_start_s = float(getattr(ev, "start_s", st.hold_start_s or ev.t_s))
            st.hold_mean_force_n = getattr(ev, "mean_force_n", None)
        elif kind == "hold_ended":
            hold = dict(getattr(ev, "hold", {}) or {})
            st.last_hold = hold
            st.holds.append(hold)
            st.hold_start_s = None
            st.hold_mean_force_n = None
        elif kind == "warning":
            st.warnings.append((float(getattr(ev, "t_s", st.t_s)), str(getattr(ev, "message", ev))))

    def _status(self, status: dict[str, Any]) -> None:
        st = self.state
        pct = status.get("battery_pct")
        if pct is not None:
            try:
                st.battery_pct = float(pct)
            except (TypeError, ValueError):
                pass
        low = status.get("battery_low")
        st.battery_low = bool(low) if low is not None else (st.battery_pct is not None and st.battery_pct <= LOW_BATTERY_PCT)
        for key in ("lost_frames", "corrupt_frames", "dropped_samples", "reconnects", "link"):
            if key in status:
                st.link[key] = status[key]
        word = status.get("link")
        if isinstance(word, str):
            if word in ("ok", "connected"):
                st.link_down_since = None
            elif word != "closed" and st.link_down_since is None:
                st.link_down_since = time.monotonic()


@dataclass
class _GapEvent:
    """A gap shown to views like a detector event (kind 'gap')."""

    t_s: float
    reason: str
    lost_samples: int | None
    kind: str = "gap"


@dataclass
class _MarkEvent:
    """A person's marker shown to views like a detector event (kind 'mark')."""

    t_s: float
    text: str
    kind: str = "mark"


# ----------------------------------------------------------------------------------------------
# Formatting helpers shared by both views


def fmt_clock(t_s: float) -> str:
    if not math.isfinite(t_s):
        return "–:––"
    t = max(0, int(t_s))
    return f"{t // 60:d}:{t % 60:02d}"


def session_summary(state: LiveState) -> str:
    """One line of session totals: time in each state, holds, holds past the release window, score."""
    tot = state.totals_now()
    t_s = state.t_s
    clock = fmt_clock  # a running clock floors (whole seconds elapsed)
    summ = (state.result or {}).get("summary") or {}
    final = state.totals_final()
    if final is not None:  # the session's analysis: the end line says what analyze says
        tot, t_s = final, final["duration"]
        clock = round_clock  # finished durations round, as analyze and the report do
    holds = state.holds
    over = sum(1 for h in holds if (h.get("duration_s") or 0) >= state.release_window_s)
    text = (f"session {clock(t_s)}: holding {clock(tot['hold'])}, rolling {clock(tot['roll'])}, "
            f"off {clock(tot['off'])}" + (f", link lost {clock(tot['lost'])}" if tot["lost"] >= 0.5 else "")
            + f"; holds {len(holds)} ({over} past {state.release_window_s:g} s)")
    # One number, one name: the session score (the analysis summary's, the one the session summary, history
    # and report show) once the session has ended, as on the web page. The mean of the hold scores shown
    # before under "mean hold score" was another number in the same place; each hold's own score is in
    # the last-hold line.
    if summ.get("session_score") is not None:
        text += f"; session score {summ['session_score']}"
    return text


def describe_event(ev: Any, units: str = "N") -> str | None:
    """One plain line for an event (None for events not worth a line, e.g. hold_progress); forces in `units`
    (the profile's: N, kg or lb), as the status lines give them."""
    kind = getattr(ev, "kind", None)
    if kind == "state":
        return f"now {STATE_WORDS.get(ev.state, ev.state)} (since {getattr(ev, 'start_s', ev.t_s):.1f} s)"
    if kind == "hold_started":
        return f"hold started at {getattr(ev, 'start_s', ev.t_s):.1f} s" + (f" (confidence {c:.2f})" if (c := getattr(ev, "confidence", None)) is not None else "")
    if kind == "hold_ended":
        h = getattr(ev, "hold", {}) or {}
        parts = [f"hold ended: {h.get('duration_s', 0):.0f} s"]
        if h.get("mean_force_n") is not None:
            parts.append(f"mean {_fmt_force(h['mean_force_n'], units)}")
        if h.get("score") is not None:  # (no number for a hold cut off short: holdsense.verdict)
            score = shown_score(h)
            parts.append((f"score {score}" if score != "–" else "no score")
                         + (f" ({h['grade']})" if h.get("grade") else ""))
        line = ", ".join(parts)
        fb = h.get("feedback") or []
        if fb:
            line += " — " + " ".join(str(x) for x in fb)
        return line
    if kind == "warning":
        return f"warning: {getattr(ev, 'message', ev)}"
    if kind == "gap":
        lost = f", {plural(ev.lost_samples, 'sample')} lost" if ev.lost_samples else ""
        return f"gap: {ev.reason}{lost}"
    if kind == "mark":
        return f"marker at {ev.t_s:.1f} s: {ev.text}"
    return None


#: The plain view's line when the link goes down: the rich view's LINK LOST line, without the running clock.
LINK_LOST_LINE = ("LINK LOST: no data from the roller, reconnecting (check the cable, or move the roller closer). "
                  "This time counts as lost, not as off.")


class PlainView:
    """Plain text lines for pipes and logs: each event, a status line each second, a summary at the end.

    A lost link is one line when the view sees it go down and one when samples flow again, saying how long it
    was down (the rich view's LINK LOST clock) and how much session time had no samples (counted as lost).
    """

    def __init__(self, out: IO[str] | None = None, *, status_interval_s: float = 1.0,
                 clock: Callable[[], float] | None = None, units: str = "N") -> None:
        self.units = units
        self.out = out if out is not None else sys.stdout
        self.status_interval_s = status_interval_s
        self._clock = clock or time.monotonic
        self._last_status: float | None = None
        # the link loss being shown: (monotonic time it went down, lost intervals known then), or None
        self._down: tuple[float, int] | None = None
        self._too_hard = TooHardCue()  # one line per hold held too hard (the rich view's red TOO HARD line)

    def _print(self, state: LiveState, text: str) -> None:
        try:
            print(f"[{state.t_s:8.2f} s] {text}", file=self.out, flush=True)
        except (BrokenPipeError, ValueError):
            pass  # reader went away: keep receiving (the recording matters more than the screen)

    def start(self, state: LiveState) -> None:
        self._last_status = self._clock()

    def update(self, state: LiveState, events: list[Any]) -> None:
        for ev in events:
            line = describe_event(ev, self.units)
            if line:
                self._print(state, line)
        self._link_lines(state)
        ease = self._too_hard.update(state)
        if ease:
            self._print(state, "TOO HARD — " + ease)
        now = self._clock()
        if self._last_status is None:
            self._last_status = now
        if now - self._last_status >= self.status_interval_s:
            self._last_status = now
            self._print(state, status_line(state, self.units))

    def _link_lines(self, state: LiveState) -> None:
        """One line when the link goes down, one when it is back. Wall time (monotonic), as LiveState
        judges the link: the link layer's report, or a live roller silent for LINK_STALE_S."""
        now = time.monotonic()
        lost = state.link_lost(now)
        if lost and self._down is None:
            self._down = (now - state.link_lost_for_s(now), len(state.lost_intervals))
            self._print(state, LINK_LOST_LINE)
        elif not lost and self._down is not None and not state.ended:
            since, known = self._down
            self._down = None
            # the session time without samples across the loss (the gaps reported since it went down): what the
            # totals count as link lost; none when the samples only came late (a stall, nothing missing)
            gone_s = sum(b - a for a, b in state.lost_intervals[known:])
            line = f"link back after {now - since:.1f} s"
            line += (f": {gone_s:.1f} s of the session without samples, counted as link lost" if gone_s > 0
                     else ": no samples missing")
            self._print(state, line)

    def close(self, state: LiveState) -> None:
        self._print(state, "end: " + session_summary(state))


def status_line(state: LiveState, units: str = "N") -> str:
    f = shown_force_n(state)  # never a negative load, 0 on an empty roller
    if math.isfinite(f):
        from ..userprofile import force_in_units

        force = f"force {force_in_units(f, units):6.1f} {units}"
    else:
        force = f"force    –  {units}"
    key = display_state(state)
    word = STATE_WORDS.get(state.state, state.state) if key not in ("link_lost", "too_hard") else key.replace("_", " ")
    parts = [force, f"state {word}"]
    d = state.hold_duration_s
    if d is not None:
        parts.append(f"hold {d:5.1f} s" + (" (release window reached)" if d >= state.release_window_s else ""))
    parts.append(f"holds {len(state.holds)}")
    if state.battery_pct is not None:
        parts.append(f"battery {state.battery_pct:.0f}%" + (" LOW" if state.battery_low else ""))
    for key in ("lost_frames", "corrupt_frames"):
        if state.link.get(key):
            parts.append(f"{key.replace('_', ' ')} {state.link[key]}")
    if state.gaps:
        parts.append(f"gaps {state.gaps}")
    if isinstance(state.link.get("link"), str) and state.link["link"] != "ok":
        parts.append(f"link {state.link['link']}")
    return ", ".join(parts)


class RichView:
    """The full-screen terminal view (rich.live.Live), refreshed `refresh_hz` times a second."""

    def __init__(self, console: Any = None, *, refresh_hz: float = 12.0, title: str = "holdsense live",
                 units: str = "N") -> None:
        from rich.console import Console

        self.units = units
        self.console = console or Console()
        self.refresh_hz = refresh_hz
        self.title = title
        self._live: Any = None
        self._state: LiveState | None = None

    def start(self, state: LiveState) -> None:
        from rich.live import Live

        self._state = state
        if self._live is None:
            self._live = Live(get_renderable=self._renderable, console=self.console,
                              refresh_per_second=self.refresh_hz, transient=False, redirect_stderr=False)
            self._live.start()

    def _renderable(self) -> Any:
        return render(self._state, self.console.width, units=self.units) if self._state is not None else ""

    def update(self, state: LiveState, events: list[Any]) -> None:
        self._state = state  # the Live thread re-renders at refresh_hz; nothing to do per chunk

    def close(self, state: LiveState) -> None:
        self._state = state
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
        self.console.print(_summary_text(state))


def _summary_text(state: LiveState) -> Any:
    """The end line as rich Text: no automatic highlighting (rich coloured every number, the session score
    cyan), the session score in its band's colour as everywhere else (holdsense.verdict)."""
    from rich.text import Text

    from ..verdict import TONE_STYLES, score_tone

    text = Text(session_summary(state))
    score = ((state.result or {}).get("summary") or {}).get("session_score")
    tone = score_tone(score)
    if tone is not None:
        text.highlight_regex(rf"session score {score}\b", TONE_STYLES[tone])
    return text


def _force_bar(state: LiveState, width: int) -> Any:
    """A horizontal force gauge with the light-pressure band shaded and the current force marked."""
    from rich.text import Text

    band = state.light_band_n
    full = force_scale_n(state)  # fixed for the session: the mark moves, the scale never does
    f = state.force_n if math.isfinite(state.force_n) else 0.0
    pos = int(round(min(max(f, 0.0), full) / full * (width - 1)))
    lo_i = int(band[0] / full * (width - 1)) if band else -1
    hi_i = int(band[1] / full * (width - 1)) if band else -1
    bar = Text()
    for i in range(width):
        in_band = lo_i <= i <= hi_i
        if i == pos:
            bar.append("█", style="bold white")
        elif i < pos:
            bar.append("█" if not in_band else "▓", style="green" if in_band else ("cyan" if i < lo_i or not band else "yellow"))
        else:
            bar.append("░" if in_band else "·", style="green" if in_band else "grey50")
    return bar, full


TRACE_S = 15.0  # the trace shows the last 15 s: a few rolling strokes, or a hold settling
TRACE_MIN_SPAN_N = 40.0  # at least this many newtons top to bottom: a still hold's breathing stays calm


def _sparkline(state: LiveState, width: int) -> tuple[str, float, float]:
    """The last TRACE_S of force as a strip chart `width` characters wide (newest on the right).

    Returns (chart, bottom_n, top_n). The vertical scale follows the trace (so a rolling stroke's
    ±20 N wave is visible, not lost on a 0–350 N scale) but never spans less than
    TRACE_MIN_SPAN_N, so a still hold draws as a calm line instead of magnified noise.
    """
    pts = [(t, f) for t, f in list(state.history) if math.isfinite(f)]
    if not pts or width < 2:
        return "", 0.0, 0.0
    t_end = pts[-1][0]
    t0 = t_end - TRACE_S
    sums = [0.0] * width
    counts = [0] * width
    for t, f in pts:
        if t < t0:
            continue
        i = min(width - 1, int((t - t0) / TRACE_S * width))
        sums[i] += f
        counts[i] += 1
    vals = [sums[i] / counts[i] if counts[i] else math.nan for i in range(width)]
    # a bucket with no point between two with points (fewer points than columns): carry the last value
    first = next(i for i, c in enumerate(counts) if c)
    for i in range(first + 1, width):
        if not counts[i]:
            vals[i] = vals[i - 1]
    finite = [v for v in vals if math.isfinite(v)]
    lo, hi = min(finite), max(finite)
    span = max(hi - lo, TRACE_MIN_SPAN_N)
    bottom = (lo + hi) / 2 - span / 2
    if bottom < 0 <= lo:
        bottom = 0.0  # nothing below 0 N to show
    top = bottom + span
    ticks = "▁▂▃▄▅▆▇█"
    chart = "".join(ticks[min(7, max(0, int((v - bottom) / span * 8)))] if math.isfinite(v) else " " for v in vals)
    return chart, bottom, top


def _hold_timer(state: LiveState, width: int) -> Any:
    """The current hold's timer: a bar with the release window (30 s) marked by '|'."""
    from rich.text import Text

    d = state.hold_duration_s or 0.0
    win = state.release_window_s
    span = max(2 * win, d * 1.1 + 5)
    mark = int(win / span * (width - 1))
    pos = int(min(d, span) / span * (width - 1))
    t = Text()
    for i in range(width):
        if i == mark:
            t.append("┃", style="bold magenta")
        elif i <= pos and state.hold_start_s is not None:
            t.append("━", style="bold green" if d >= win else "bold yellow")
        else:
            t.append("─", style="grey42")
    return t


#: The force's zone while holding, in words (by its style in render()): the web page's #zone says the same.
ZONE_WORDS = {"bold red": "too hard", "bold yellow": "above the light band", "bold green": "in the light band",
              "bold": "below the light band"}
STATE_STYLES = {"hold": "bold green", "roll": "bold yellow", "too_hard": "bold red", "off": "grey62",
                "link_lost": "bold magenta", "waiting": "grey62", "ended": "grey62"}


def _fmt_force(force_n: float, units: str) -> str:
    from ..userprofile import format_force

    return format_force(force_n, units)


def _floor_header(state: LiveState, key: str, screen_width: int, now: float | None, units: str) -> list[Any]:
    """What a person on the floor reads from 3 m: the state and the hold timer in big block letters, and
    full-width coloured lines for too much pressure and a lost link."""
    from rich.padding import Padding
    from rich.text import Text

    from .bigtext import big_lines, big_width

    out: list[Any] = []
    word = DISPLAY_WORDS[key]
    style = STATE_STYLES.get(key, "grey62")
    d = state.hold_duration_s if key in ("hold", "too_hard", "link_lost") else None
    clock = fmt_clock(d) if d is not None else "0:00"
    if d is None or key == "link_lost":
        clock_style = "grey35"  # no hold, or frozen while the link is down
    else:
        clock_style = "bold green" if d >= state.release_window_s else "bold yellow"
    gap = 4
    if big_width(word) + gap + big_width(clock) <= screen_width:
        for a, b in zip(big_lines(word), big_lines(clock)):
            pad = screen_width - len(a) - len(b)
            out.append(Text(a, style=style, no_wrap=True) + Text(" " * max(gap, pad)) + Text(b, style=clock_style))
    elif big_width(word) <= screen_width:  # narrow: stacked
        out += [Text(line, style=style, no_wrap=True) for line in big_lines(word)]
        out += [Text(line, style=clock_style, no_wrap=True) for line in big_lines(clock)]
    else:  # very narrow: plain words
        out.append(Text(f"{word}   {clock}", style=style))
    if key == "link_lost":
        lost = state.link_lost_for_s(now)
        out.append(Padding(Text(f"LINK LOST {fmt_clock(lost)}: no data from the roller, reconnecting (check the "
                                "cable, or move the roller closer). This time counts as lost, not as off.",
                                style="bold white"), (0, 1), style="on dark_magenta", expand=True))
    # the detector's heavy-pressure warning (old news after WARNING_SHOWN_S: the plain view keeps it)
    warn = [msg for t_warn, msg in state.warnings if state.t_s - t_warn <= WARNING_SHOWN_S]
    if key == "too_hard" or warn:
        parts = []
        if key == "too_hard":
            lim = state.too_hard_n()
            parts.append("TOO HARD: ease off, take weight off with your hands or the other leg"
                         + (f" (too hard from {_fmt_force(lim, units)})" if lim else ""))
        parts += [f"⚠ {msg}" for msg in warn[-1:]]
        for part in parts:  # one full-width red line each: impossible to miss from the floor
            out.append(Padding(Text(part, style="bold white"), (0, 1), style="on red", expand=True))
    return out


def render(state: LiveState, screen_width: int = 100, *, units: str = "N", now: float | None = None) -> Any:
    """The whole live screen as a rich renderable (pure: tests render it to text).

    screen_width: the terminal's width in columns; the gauges and the trace use what the labels and
    the panel leave (so the view fills a wide terminal and still fits an 80-column one).
    units: forces shown in N, kg or lb (the athlete's profile). now: monotonic wall time (link loss).
    """
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    key = display_state(state, now)
    header = _floor_header(state, key, screen_width, now, units)

    # panel borders and padding (4) + label column and gap (10) + the force value in front of the bar (9)
    width = max(20, min(110, screen_width - 24))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", width=9, min_width=9, no_wrap=True)
    grid.add_column(overflow="fold")  # feedback lines wrap; the gauges are sized to fit

    style = STATE_STYLES.get(key, "grey62")
    since = f"  for {fmt_clock(state.t_s - state.state_start_s)}" if state.state and key != "link_lost" else ""
    grid.add_row("state", Text(DISPLAY_WORDS[key], style=style) + Text(since))

    bar, full = _force_bar(state, width)
    shown_n = shown_force_n(state)  # never a negative load, 0 on an empty roller (as the page shows it)
    if math.isfinite(shown_n):
        from ..userprofile import force_in_units

        fval = f"{force_in_units(shown_n, units):6.1f} {units}"
    else:
        fval = f"    –  {units}"
    mass_w = state.body_mass_kg * G_MPS2 if state.body_mass_kg else None
    pct = f"  {100 * shown_n / mass_w:3.0f} % body weight" if mass_w and math.isfinite(shown_n) else ""
    grid.add_row("force", Text(fval.ljust(9) + " ") + bar)
    if state.light_band_n:
        lo, hi = state.light_band_n
        lo_s, hi_s = _fmt_force(lo, units).rsplit(" ", 1)[0], _fmt_force(hi, units)
        grid.add_row("", Text(f"light-pressure band {lo_s}–{hi_s} (▓/░), fixed scale 0–{_fmt_force(full, units)}",
                              style="green"))
        if pct:
            lim = state.too_hard_n()
            zone = ("bold red" if lim and state.force_n >= lim else "bold yellow" if state.force_n > hi
                    else "bold green" if state.force_n >= lo else "bold")
            # while holding the zone in words too: its colour alone says nothing under NO_COLOR, on a
            # monochrome terminal or to a red-green colour-blind reader (as on the web page)
            words = ZONE_WORDS[zone] if key in ("hold", "too_hard") else ""
            grid.add_row("", Text(pct.strip() + (f" · {words}" if words else ""), style=zone))
    else:
        grid.add_row("", Text("light-pressure band: give --body-mass KG (or set it once: holdsense profile "
                              "--body-mass KG)", style="grey50"))
    chart, bottom, top = _sparkline(state, width - 14)
    if chart:
        grid.add_row("trace", Text(chart, style="cyan", no_wrap=True)
                     + Text(f" {_fmt_force(bottom, units).rsplit(' ', 1)[0]}–{_fmt_force(top, units)}, "
                                                           f"last {TRACE_S:g} s", style="grey50"))

    d = state.hold_duration_s
    if d is not None:
        label = Text(f"{d:5.1f} s ", style="bold")
        if d >= state.release_window_s:
            label.append(f"release window reached ({state.release_window_s:g} s) ", style="bold green")
        else:
            label.append(f"{state.release_window_s - d:4.1f} s to the release window ", style="yellow")
        grid.add_row("hold", label)
        grid.add_row("", _hold_timer(state, width))
        if state.hold_mean_force_n is not None:
            grid.add_row("", Text(f"mean force {_fmt_force(state.hold_mean_force_n, units)}"))
    else:
        grid.add_row("hold", Text("—  settle on a tender spot and stay", style="grey50"))

    if state.last_hold:
        h = state.last_hold
        head = Text(f"last hold {h.get('duration_s', 0):.0f} s", style="bold")
        tone = hold_tone(h, state.release_window_s)
        if tone is not None:  # in its verdict's colour, as on the page: "–" for a hold cut off short
            head.append(f"  score {shown_score(h, state.release_window_s)}", style=TONE_STYLES[tone])
        if h.get("grade"):
            head.append(f"  {h['grade']}")
        grid.add_row("score", head)
        for line in (h.get("feedback") or [])[:3]:
            grid.add_row("", Text(f"• {line}"))

    grid.add_row("session", Text(session_summary(state).split(": ", 1)[1]))

    alerts: list[Text] = []
    if state.battery_low:
        pct = f" ({state.battery_pct:.0f}%)" if state.battery_pct is not None else ""
        alerts.append(Text(f"LOW BATTERY{pct}: charge the roller soon", style="bold red"))
    # detector warnings (heavy pressure) are the full-width red line above the panel
    link_state = state.link.get("link")
    if isinstance(link_state, str) and link_state not in ("ok", "connected"):
        alerts.append(Text(f"link: {link_state}", style="bold red"))
    link_bits = []
    if state.battery_pct is not None and not state.battery_low:
        link_bits.append(f"battery {state.battery_pct:.0f}%")
    for key in ("lost_frames", "corrupt_frames", "dropped_samples"):
        if state.link.get(key):
            link_bits.append(f"{key.replace('_', ' ')} {state.link[key]}")
    if state.gaps:
        link_bits.append(f"gaps {state.gaps}" + (f" ({plural(state.lost_samples, 'sample')})" if state.lost_samples else ""))
    if link_bits:
        grid.add_row("link", Text(", ".join(link_bits), style="grey62"))
    for a in alerts:
        grid.add_row("", a)
    if state.marks or state.mark_keys or state.typing:
        bits = [f"{fmt_clock(t)} {text}" for t, text in state.marks]
        grid.add_row("markers", Text(" · ".join(bits) or "none yet", style="magenta"))
        if state.typing:
            grid.add_row("", Text(state.typing + "▏", style="bold magenta"))
        elif state.mark_keys:
            grid.add_row("", Text(state.mark_keys, style="grey50"))

    sub = []
    if state.device:
        sub.append(state.device)
    if state.region:
        sub.append(state.region)
    if state.body_mass_kg:
        from ..userprofile import format_body_mass

        sub.append(format_body_mass(state.body_mass_kg, units))
    sub.append(f"t {fmt_clock(state.t_s)}")
    title = "holdsense" + (" — session ended" if state.ended else "")
    return Group(*header, Panel(grid, title=title, subtitle=" · ".join(sub), border_style="blue"))


def make_view(*, plain: bool | None = None, out: IO[str] | None = None, units: str = "N") -> View:
    """RichView on a terminal, PlainView otherwise (or when `plain` is True)."""
    stream = out if out is not None else sys.stdout
    if plain is None:
        plain = not (hasattr(stream, "isatty") and stream.isatty())
    if plain:
        return PlainView(stream, units=units)
    from rich.console import Console

    return RichView(Console(file=stream), units=units)
