"""Lab Streaming Layer outlets: the roller's force (and angle) and its hold markers.

Two outlets per roller, as labs expect (docs/lab.md):

- `LslForceOutlet`, a Listener: a regular numeric stream of type `Force`,
  channels `force_n` (and `angle_deg` when the roller has an encoder) with
  labels, units and types in `desc/channels`, the nominal rate, and device
  information in `desc/acquisition`.
- `LslMarkerOutlet`: an irregular string stream of type `Markers` with one
  compact JSON object per detector event (state changes, hold started, hold
  ended with score and duration, warnings, gaps); fields in docs/lab.md.

Both stamp samples from the device clock, not from arrival time: one
`LslClock` per roller maps session time `t_s` onto the LSL clock with an
offset fixed when the stream starts (so the device's sample spacing reaches
the recording unchanged, free of USB/BLE delivery jitter), re-anchored only
when the link reconnects or the device's time base restarts. Source ids come
from the device id, so LabRecorder re-attaches to a restarted holdsense.

pylsl is imported lazily (see `holdsense.lab.require`).
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import asdict, is_dataclass
from typing import Any, Callable, Iterable

import numpy as np

from rollsignal import SampleChunk

from ..messages import Listener
from ..lab import require

MARKER_FORMAT = "holdsense-markers/1"
DEFAULT_RATE_HZ = 80.0
# on_gap reasons after which the device clock may have restarted or the link was re-established.
_REANCHOR_REASONS = ("reconnect", "reboot", "reset", "restart", "time base", "timebase", "clock")


def _lsl() -> Any:
    return require("pylsl")


def local_clock() -> float:
    """The LSL clock (seconds), the time base every LSL stamp refers to."""
    return float(_lsl().local_clock())


# --------------------------------------------------------------------------- identity

def device_id_from_info(info: dict[str, Any]) -> str | None:
    """The device id in device/recording info: `device_id`/`id` keys, or `id=` inside a `device` text.

    A recording's metadata has `device: holdsense-roller fw=0.3.0 id=7C:DF:A1:00:11:22`;
    a live connection's info dict may carry the id directly.
    """
    for key in ("device_id", "id", "address", "serial_number"):
        v = info.get(key)
        if v not in (None, ""):
            return str(v)
    dev = info.get("device")
    if isinstance(dev, dict):
        return device_id_from_info(dev)
    if isinstance(dev, str):
        m = re.search(r"\bid=(\S+)", dev)
        if m:
            return m.group(1)
    return None


def _device_text_field(info: dict[str, Any], key: str) -> str | None:
    """A `key=value` field of the header's device line (`holdsense-roller fw=0.3.0 id=...`), e.g. `fw`."""
    dev = info.get("device")
    if isinstance(dev, str):
        m = re.search(rf"\b{re.escape(key)}=(\S+)", dev)
        if m:
            return m.group(1)
    return None


def source_ids(device_id: str | None, *, fallback: str = "unknown", replay: bool = False) -> tuple[str, str, str]:
    """(stream name, force source id, marker source id) derived from a device id.

    Stable for one roller across reconnects and restarts of holdsense, so
    LabRecorder re-attaches; different rollers get different ids. The name
    carries the id's last 4 hex digits so two rollers are told apart at a
    glance. A replay gets ids of its own (`-replay`), so a recording played
    back beside the live roller it came from is never mistaken for it.
    """
    ident = re.sub(r"[^0-9A-Za-z]+", "", device_id or "") or re.sub(r"[^0-9A-Za-z_-]+", "-", fallback)
    short = ident[-4:].upper() if device_id else ident[:16]
    tag = "replay-" if replay else ""
    name = f"holdsense-{tag}{short}"
    return name, f"holdsense-force-{tag}{ident}", f"holdsense-markers-{tag}{ident}"


# --------------------------------------------------------------------------- clock

class LslClock:
    """Maps device session time `t_s` onto the LSL clock: `lsl_s = t_s + offset_s`.

    One offset for long stretches, so stamps keep the device's own sample
    spacing (no USB/BLE delivery jitter, no replay speed-up in them):

    - anchor: at the first chunk, offset = LSL now − device time of the chunk's
      newest sample (the moment it arrived);
    - settle (`refine=True`, live links): over the next `settle_s` of device
      time the smallest such difference is kept (the chunk that arrived with
      the least delay; a burst of buffered samples arrives late, never early)
      and, if it differs by more than `min_step_s`, becomes the offset once;
    - `reanchor()` (the link was re-established, the device rebooted) starts
      another settle window, so a reconnect corrects the offset without
      trusting the backlog that arrives first; device time running backwards
      (a new time base) anchors again at once.

    Stamps never go backwards: an offset that decreases is reached over a few
    chunks, each chunk starting just after the previous one. Shared by the
    force and marker outlets of one roller so both streams agree exactly.
    A replay (`refine=False`) runs faster or slower than real time on purpose:
    its offset is taken once and kept.
    """

    def __init__(self, now: Callable[[], float] | None = None, *, refine: bool = True, settle_s: float = 2.0,
                 min_step_s: float = 0.002) -> None:
        self._now = now or local_clock
        self.refine = refine
        self.settle_s = settle_s
        self.min_step_s = min_step_s
        self.offset_s: float | None = None
        self.anchors = 0  # how many offsets were taken (first anchor, settled corrections, new time bases)
        self._target: float | None = None  # an offset being reached without stamps going backwards
        self._pending = False
        self._settle_from_t: float | None = None  # device time the current settle window started at
        self._settle_best: float = math.inf
        self._last_t_s = -math.inf
        self._last_lsl_s = -math.inf
        self._lock = threading.Lock()

    def reanchor(self) -> None:
        """Re-estimate the offset over the next settle window (link re-established, device rebooted)."""
        with self._lock:
            self._pending = True

    def stamps(self, t_s: np.ndarray) -> np.ndarray:
        """LSL stamps for a chunk of device times (anchoring or refining the offset when due)."""
        t = np.asarray(t_s, dtype=np.float64)
        if not len(t):
            return t.copy()
        with self._lock:
            t_first, t_last = float(t[0]), float(t[-1])
            now = self._now()
            if self.offset_s is None or t_first < self._last_t_s:
                self._set(now - t_last, t_first)
                self.anchors += 1
                self._start_settle(t_first, now - t_last)
            elif self._pending and self.refine:
                self._start_settle(t_first, now - t_last)
            elif self._target is not None:
                self._set(self._target, t_first)
            self._pending = False
            out = t + self.offset_s
            self._last_t_s = t_last
            self._last_lsl_s = float(out[-1])
            if self._settle_from_t is not None:
                self._settle_best = min(self._settle_best, now - t_last)
                if t_last - self._settle_from_t >= self.settle_s:
                    best = self._settle_best
                    self._settle_from_t = None
                    if abs(best - self.offset_s) > self.min_step_s:
                        self._target = best  # applied from the next chunk on
                        self.anchors += 1
        return out

    def stamp(self, t_s: float) -> float:
        """The LSL stamp of one device time (markers). Anchors on it if nothing was stamped yet."""
        with self._lock:
            if self.offset_s is None:
                self._set(self._now() - t_s, t_s)
                self.anchors += 1
            return float(t_s + self.offset_s)

    def _start_settle(self, t_first: float, candidate: float) -> None:
        if self.refine:
            self._settle_from_t = t_first
            self._settle_best = candidate

    def _set(self, offset: float, t_first: float) -> None:
        """Make `offset` current, or get as close as the stamps already pushed allow."""
        floor = self._last_lsl_s - t_first + 1e-6  # the chunk must start after the last stamp
        if offset < floor:
            self._target = offset
            offset = floor
        else:
            self._target = None
        self.offset_s = offset


# --------------------------------------------------------------------------- force outlet

class LslForceOutlet(Listener):
    """A Listener that publishes the sample stream as an LSL `Force` outlet.

    Created lazily at the first chunk (or by `open()`), when it is known
    whether the roller has an encoder. Kept open across reconnects of the same
    roller (inlets and LabRecorder stay attached); re-created only when a
    different roller or channel layout shows up in `on_info`.
    """

    def __init__(self, *, clock: LslClock | None = None, info: dict[str, Any] | None = None,
                 has_angle: bool | None = None, rate_hz: float | None = None, name: str | None = None,
                 source_id: str | None = None, fallback_id: str = "unknown", linger_s: float = 1.0) -> None:
        self.clock = clock or LslClock()
        self.info: dict[str, Any] = dict(info or {})
        self.has_angle = has_angle
        self.rate_hz = rate_hz
        self._name = name
        self._source_id = source_id
        self.fallback_id = fallback_id
        self.linger_s = linger_s
        self.outlet: Any = None
        self.samples_pushed = 0
        self._seen_samples = False
        self._stopped = False
        self._lock = threading.Lock()

    # identity -------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name or source_ids(device_id_from_info(self.info), fallback=self.fallback_id)[0]

    @property
    def source_id(self) -> str:
        return self._source_id or source_ids(device_id_from_info(self.info), fallback=self.fallback_id)[1]

    def _rate(self) -> float:
        if self.rate_hz:
            return float(self.rate_hz)
        for key in ("sample_rate_hz", "rate_hz"):
            v = self.info.get(key)
            try:
                if v not in (None, "") and float(v) > 0:
                    return float(v)
            except (TypeError, ValueError):
                pass
        return DEFAULT_RATE_HZ

    # lifecycle ------------------------------------------------------------
    def open(self, has_angle: bool | None = None) -> None:
        """Create the outlet now (e.g. before a replay starts, so inlets can connect first)."""
        with self._lock:
            if has_angle is not None:
                self.has_angle = has_angle
            if self.outlet is None:
                self.outlet = self._make_outlet()

    def _make_outlet(self) -> Any:
        pylsl = _lsl()
        channels = [("force_n", "newtons", "Force")]
        if self.has_angle:
            channels.append(("angle_deg", "degrees", "Angle"))
        # double64: the XDF then holds the same numbers as the CSV recording (analyses agree exactly).
        si = pylsl.StreamInfo(self.name, "Force", len(channels), self._rate(), pylsl.cf_double64, self.source_id)
        desc = si.desc()
        chs = desc.append_child("channels")
        for label, unit, kind in channels:
            ch = chs.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", kind)
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "holdsense")
        acq.append_child_value("model", str(self.info.get("model") or "holdsense-roller"))
        dev_id = device_id_from_info(self.info)
        if dev_id:
            acq.append_child_value("serial_number", dev_id)
        firmware = self.info.get("fw") or self.info.get("firmware") or _device_text_field(self.info, "fw")
        if firmware:
            acq.append_child_value("firmware", str(firmware))
        hs = desc.append_child("holdsense")
        from .. import __version__

        hs.append_child_value("host_version", __version__)
        hs.append_child_value("marker_format", MARKER_FORMAT)
        hs.append_child_value("time_base", "device clock, offset fixed at stream start (docs/lab.md)")
        if isinstance(self.info.get("device"), str) and self.info["device"]:
            # the recording header's device line verbatim: an XDF's session row then names the device
            # as the CSV recorded beside it does (acquisition/* above is the standard, parsed form)
            hs.append_child_value("device", self.info["device"])
        for key in ("region", "body_mass_kg", "started_utc", "source"):
            v = self.info.get(key)
            if v not in (None, ""):
                hs.append_child_value(key, str(v))
        if self.info.get("calibration") not in (None, ""):
            cal = self.info["calibration"]
            hs.append_child_value("calibration", json.dumps(cal) if not isinstance(cal, str) else cal)
        # chunk_size 0, max_buffered 360 s: liblsl's defaults; pushthrough per chunk keeps latency low.
        return pylsl.StreamOutlet(si)

    def on_info(self, info: dict[str, Any]) -> None:
        new = dict(info)
        with self._lock:
            old_id = device_id_from_info(self.info)
            new_id = device_id_from_info(new)
            has_angle = _info_has_angle(new)
            merged = {**self.info, **new}
            if self.outlet is not None and ((new_id and old_id and new_id != old_id)
                                            or (has_angle is not None and self.has_angle is not None
                                                and has_angle != self.has_angle)):
                # A different roller (or build) on this pipeline: a new stream, not a mislabelled old one.
                self._close_outlet()
            self.info = merged
            if has_angle is not None and self.outlet is None:
                self.has_angle = has_angle
        if self._seen_samples:
            self.clock.reanchor()  # info after samples = the link was re-established

    def on_samples(self, chunk: SampleChunk) -> None:
        n = len(chunk)
        if n == 0:
            return
        self._seen_samples = True
        with self._lock:
            if self._stopped:
                return  # after stop(): the stream has ended; never re-create the outlet
            if self.outlet is None:
                if self.has_angle is None:
                    self.has_angle = chunk.angle_deg is not None
                self.outlet = self._make_outlet()
            outlet = self.outlet
            ch = 2 if self.has_angle else 1
        data = np.empty((n, ch), dtype=np.float64)
        data[:, 0] = chunk.force_n
        if ch == 2:
            data[:, 1] = chunk.angle_deg if chunk.angle_deg is not None else np.nan
        stamps = self.clock.stamps(chunk.t_s)
        outlet.push_chunk(data, stamps.tolist())
        self.samples_pushed += n

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        if any(k in (reason or "").lower() for k in _REANCHOR_REASONS):
            self.clock.reanchor()

    def have_consumers(self) -> bool:
        return bool(self.outlet is not None and self.outlet.have_consumers())

    def _close_outlet(self) -> None:
        if self.outlet is not None:
            _linger(self.outlet, self.linger_s)
            self.outlet = None

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._close_outlet()


def _info_has_angle(info: dict[str, Any]) -> bool | None:
    for key in ("has_angle", "encoder", "has_encoder"):
        if key in info and info[key] is not None:
            return bool(info[key])
    sensors = info.get("sensors")  # a live roller's INFO: sensor names ("as5600" = the shell encoder)
    if isinstance(sensors, (list, tuple)):
        return "as5600" in sensors or "encoder" in sensors
    cols = info.get("columns")
    if isinstance(cols, (list, tuple)):
        return "angle_deg" in cols
    return None


def _linger(outlet: Any, linger_s: float) -> None:
    """Give connected inlets a moment to drain the last chunks before the outlet goes away.

    liblsl sends from a background thread; destroying an outlet right after a
    push can drop the tail for a slow consumer. Only waits when someone listens.
    """
    try:
        if linger_s > 0 and outlet.have_consumers():
            time.sleep(min(linger_s, 0.25))
    except Exception:  # noqa: BLE001 - teardown must not fail the session
        pass


# --------------------------------------------------------------------------- markers

def _get(ev: Any, key: str, default: Any = None) -> Any:
    if isinstance(ev, dict):
        return ev.get(key, default)
    return getattr(ev, key, default)


def _r(x: Any, nd: int = 3) -> Any:
    """Round for compact JSON; None and non-finite stay None."""
    if x is None:
        return None
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    if not math.isfinite(f):
        return None
    return round(f, nd)


def marker_for_event(ev: Any, hold_no: int) -> tuple[float, dict[str, Any]] | None:
    """(device time to stamp it at, marker object) for a rollsignal Detector event, or None to skip.

    `hold_no` numbers holds from 1 (pairs hold_started with hold_ended). Fields
    are documented in docs/lab.md ("Marker stream").
    """
    kind = _get(ev, "kind")
    t_s = _get(ev, "t_s")
    if kind == "state":
        start = _get(ev, "start_s", t_s)
        return float(start), {"event": "state", "state": _get(ev, "state"), "previous": _get(ev, "previous"),
                              "start_s": _r(start), "t_s": _r(t_s)}
    if kind == "hold_started":
        start = _get(ev, "start_s", t_s)
        return float(start), {"event": "hold_started", "hold": hold_no, "start_s": _r(start),
                              "confirmed_s": _r(t_s)}
    if kind == "hold_ended":
        h = _get(ev, "hold") or {}
        if is_dataclass(h) and not isinstance(h, type):
            h = asdict(h)
        end = h.get("end_s", t_s)
        m = {"event": "hold_ended", "hold": hold_no, "start_s": _r(h.get("start_s")), "end_s": _r(end),
             "duration_s": _r(h.get("duration_s")), "score": h.get("score"), "grade": h.get("grade"),
             "mean_force_n": _r(h.get("mean_force_n"), 2), "force_cv": _r(h.get("force_cv"), 4),
             "travel_cm": _r(h.get("travel_cm"), 2), "spot_cm": _r(h.get("spot_cm"), 2), "t_s": _r(t_s)}
        return float(end), m
    if kind == "warning":
        return float(t_s), {"event": "warning", "message": _get(ev, "message"), "t_s": _r(t_s)}
    return None  # hold_progress and anything newer: not a marker (a 1 Hz tick is data, not an event)


class LslMarkerOutlet(Listener):
    """An LSL `Markers` outlet fed with rollsignal Detector events (`on_event`) and stream gaps.

    Each marker is one compact JSON object (docs/lab.md), stamped on the LSL
    clock at the time the event refers to: a hold's back-dated start, a hold's
    end, a state's back-dated start. Those can precede the moment the marker
    is pushed (a hold is confirmed 5 s after it began), which LSL and XDF allow
    for irregular streams; readers sort by stamp when they need order.
    """

    def __init__(self, *, clock: LslClock, name: str, source_id: str, info: dict[str, Any] | None = None,
                 linger_s: float = 1.0) -> None:
        self.clock = clock
        self.name = name
        self.source_id = source_id
        self.info = dict(info or {})
        self.linger_s = linger_s
        self.outlet: Any = None
        self.markers_pushed = 0
        self.sent: list[tuple[float, str]] = []  # (LSL stamp, JSON) of every marker, for the session log
        self._holds = 0
        self._stopped = False
        self._lock = threading.Lock()

    def open(self) -> None:
        with self._lock:
            if self.outlet is None and not self._stopped:
                pylsl = _lsl()
                si = pylsl.StreamInfo(self.name + "-markers", "Markers", 1, pylsl.IRREGULAR_RATE,
                                      pylsl.cf_string, self.source_id)
                desc = si.desc()
                ch = desc.append_child("channels").append_child("channel")
                ch.append_child_value("label", "event")
                ch.append_child_value("type", "Marker")
                ch.append_child_value("format", "application/json")
                desc.append_child("acquisition").append_child_value("manufacturer", "holdsense")
                hs = desc.append_child("holdsense")
                hs.append_child_value("marker_format", MARKER_FORMAT)
                hs.append_child_value("force_stream", self.name)
                self.outlet = pylsl.StreamOutlet(si)

    def push(self, t_s: float, marker: dict[str, Any]) -> None:
        """Push one marker object, stamped at device time `t_s` (fields that are None are left out)."""
        self.open()
        if self.outlet is None:
            return  # after stop(): dropped, not re-announced
        marker = {k: v for k, v in marker.items() if v is not None}
        text = json.dumps(marker, separators=(",", ":"), ensure_ascii=False)
        stamp = self.clock.stamp(t_s)
        self.outlet.push_sample([text], stamp)
        self.markers_pushed += 1
        self.sent.append((stamp, text))

    def on_event(self, ev: Any) -> None:
        """A Detector event (dataclass or dict with `kind`)."""
        if _get(ev, "kind") == "hold_started":
            self._holds += 1
            hold_no = self._holds
        elif _get(ev, "kind") == "hold_ended":
            hold_no = self._holds if self._holds else 1
        else:
            hold_no = self._holds
        m = marker_for_event(ev, hold_no)
        if m is not None:
            self.push(*m)

    __call__ = on_event

    def on_events(self, events: Iterable[Any]) -> None:
        for ev in events:
            self.on_event(ev)

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        self.push(t_s, {"event": "gap", "t_s": _r(t_s), "reason": reason, "lost_samples": lost_samples})

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self.outlet is not None:
                _linger(self.outlet, self.linger_s)
                self.outlet = None


# --------------------------------------------------------------------------- detector feed

class DetectorFeed(Listener):
    """Runs a rollsignal Detector on the sample stream and hands its events to subscribers.

    For pipelines that have no detector of their own (e.g. `record --lsl`);
    where a DetectorListener already runs, subscribe the marker outlet to it
    instead so one detector serves the live view and LSL.
    """

    def __init__(self, subscribers: Iterable[Callable[[Any], None]], *, body_mass_kg: float | None = None,
                 profile: Any = None) -> None:
        import rollsignal

        self.detector = rollsignal.Detector(profile=profile, body_mass_kg=body_mass_kg)
        self.subscribers = list(subscribers)
        self._stopped = False

    def _emit(self, events: Iterable[Any]) -> None:
        for ev in events:
            for fn in self.subscribers:
                fn(ev)

    def on_samples(self, chunk: SampleChunk) -> None:
        self._emit(self.detector.process(chunk))

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._emit(self.detector.finish())


# --------------------------------------------------------------------------- one roller

class LslRoller(Listener):
    """Force outlet + marker outlet of one roller, sharing one clock; a Listener for a pipeline.

    `on_event` takes Detector events (subscribe it to the pipeline's detector).
    Stopping stops the force outlet after the markers, so the last hold's
    marker is out before inlets see the stream end.
    """

    def __init__(self, info: dict[str, Any] | None = None, *, has_angle: bool | None = None,
                 fallback_id: str = "unknown", replay: bool = False, linger_s: float = 1.0,
                 clock: LslClock | None = None) -> None:
        self.clock = clock or LslClock(refine=not replay)
        info = dict(info or {})
        name, force_id, marker_id = source_ids(device_id_from_info(info), fallback=fallback_id, replay=replay)
        self.force = LslForceOutlet(clock=self.clock, info=info, has_angle=has_angle, name=name,
                                    source_id=force_id, linger_s=linger_s)
        self.markers = LslMarkerOutlet(clock=self.clock, name=name, source_id=marker_id, info=info,
                                       linger_s=linger_s)

    @property
    def name(self) -> str:
        return self.force.name

    def open(self) -> None:
        """Create both outlets now (inlets can connect before the first sample)."""
        self.force.open()
        self.markers.open()

    def wait_for_consumers(self, timeout_s: float) -> bool:
        """Block until something (LabRecorder, an inlet) is connected to both outlets, or timeout."""
        self.open()
        deadline = time.monotonic() + timeout_s
        ok = True
        for outlet in (self.force.outlet, self.markers.outlet):
            left = max(0.0, deadline - time.monotonic())
            ok = bool(outlet.wait_for_consumers(left)) and ok
        return ok

    def on_info(self, info: dict[str, Any]) -> None:
        self.force.on_info(info)

    def on_samples(self, chunk: SampleChunk) -> None:
        self.force.on_samples(chunk)

    def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
        self.force.on_gap(t_s, reason, lost_samples)
        self.markers.on_gap(t_s, reason, lost_samples)

    def on_event(self, ev: Any) -> None:
        self.markers.on_event(ev)

    __call__ = on_event

    def on_mark(self, t_s: float, kind: str, text: str = "") -> None:
        """A person's marker (hold starts / hold ends / note, holdsense.listeners.markers) as a `mark` event."""
        self.markers.push(t_s, {"event": "mark", "mark": kind, "text": text or None, "t_s": _r(t_s)})

    def stop(self) -> None:
        self.markers.stop()
        self.force.stop()
