"""pytest plugin shipped with holdsense (entry point `pytest11`: `holdsense`), for any project's tests.

Installed with holdsense, it is active in every pytest run of that
environment, so it costs nothing until used: no autouse fixtures, no hooks,
and holdsense itself is imported only inside the fixtures.

Fixtures (each a factory; everything it starts is stopped at teardown):

- `holdsense_device(scenario="standard", *, seed=0, speed=10.0, encoder=True, loop=False, tcp=False,
  ble=False)` → `RollerHandle`: a virtual roller (the firmware's own code, the simulator
  behind fake sensors) on a pseudo-terminal (`.port`, stable across its
  simulated unplugs), on 127.0.0.1 (`tcp=True`: a `socket://` URL), or as a
  BLE peripheral on a fake BlueZ (`ble=True`: `.ble_address`, `.ble_name`);
  `.control({...})` drives it (`{"load_kg": 5}`, `{"unplug_s": 3}`,
  `{"reboot": true}`, `{"garbage_bytes": 200}`, `{"speed": 1}`); `.expected_holds()` gives the
  scenario's scripted holds.
- `holdsense_replay(capture, *, speed=10.0, tcp=False, ble=False)` → `RollerHandle`
  replaying a raw wire capture (`holdsense record --capture`) byte for byte.
- `holdsense_session(roller_or_port, duration_s, *, body_mass_kg=None)` →
  `Session`: records through holdsense's own host path (in this process) and
  analyses it: `.samples`, `.holds`, `.analysis`, `.gaps`, `.stats`.
- `holdsense_assert_holds` → `assert_holds(actual, expected, *, start_tol_s=3,
  duration_tol_s=5, force_tol_frac=None)`: also importable from this module, as is
  `assert_same_samples(actual, expected, *, t_atol_s=0)` (column-by-column sample identity).

BLE (`ble=True`, needs `dbus-daemon`, Debian package `dbus`): the roller
serves a fake `org.bluez` on its own private D-Bus; for the test's duration
`DBUS_SYSTEM_BUS_ADDRESS` points there, so bleak (holdsense's or your code's)
finds it by `.ble_address` or `.ble_name`. One BLE roller per test.

Example (docs/capture.md):

    def test_my_app_sees_the_hold(holdsense_device, holdsense_session, holdsense_assert_holds):
        roller = holdsense_device("standard", speed=10)
        session = holdsense_session(roller, duration_s=120)      # or run your own code on roller.port
        holdsense_assert_holds(session, roller.expected_holds(session), start_tol_s=4)
"""
from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import pytest


# --------------------------------------------------------------------------------------- handles
class RollerHandle:
    """A running virtual roller (simulated or replayed): `port`, `control(obj)`, `query()`, `stop()`."""

    def __init__(self, proc: Any, port: str | None, *, scenario: str | None = None, seed: int = 0,
                 capture: str | None = None, speed: float = 1.0) -> None:
        self._proc = proc  # holdsense.virtual.VirtualDeviceProcess
        self.port = port  # None for a BLE roller
        self.scenario = scenario
        self.seed = seed
        self.capture = capture
        self.speed = speed
        self.ble_address: str | None = getattr(proc, "ble_address", None)
        self.ble_name: str | None = getattr(proc, "ble_name", None)
        self.bus_address: str | None = getattr(proc, "bus_address", None)

    def control(self, obj: dict[str, Any], timeout_s: float = 10.0) -> dict[str, Any]:
        """Send one JSON object to the device's control socket; returns its reply."""
        return self._proc.control(obj, timeout_s)

    def query(self) -> dict[str, Any]:
        """The device's state (device time `device_s`; for a replay: progress, `done`)."""
        return self.control({"query": True})

    def device_s(self) -> float:
        """The virtual device's clock (seconds since it booted): scenario time for simulated rollers."""
        return float(self.query()["device_s"])

    def wait_replayed(self, timeout_s: float = 60.0) -> None:
        """Block until a replayed capture has been played to its end."""
        deadline = time.monotonic() + timeout_s
        while not self.query().get("done"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"capture {self.capture} not replayed within {timeout_s:g} s")
            time.sleep(0.05)

    def expected_holds(self, session: "Session | None" = None) -> list[dict[str, Any]]:
        """The scenario's scripted holds (ground truth). With a `Session`, shifted to its time base
        (t_s = 0 at its first sample) and cut to the part it recorded."""
        if self.scenario is None:
            raise ValueError("expected_holds: this roller replays a capture; give the expected holds yourself")
        from holdsense.sim import Body

        holds = [dict(h) for h in Body(self.scenario, self.seed).holds()]
        if session is None or session.device_t0_s is None:
            return holds
        t0, t1 = session.device_t0_s, session.device_t0_s + session.duration_s
        out = []
        for h in holds:
            a, b = max(h["start_s"], t0), min(h["end_s"], t1)
            if b - a >= 5.0:  # a hold needs 5 s to count (contracts.md §3)
                h.update(start_s=round(a - t0, 3), end_s=round(b - t0, 3), duration_s=round(b - a, 3))
                out.append(h)
        return out

    def stop(self) -> int:
        return self._proc.stop()

    def __repr__(self) -> str:
        what = f"capture {self.capture}" if self.capture else f"scenario {self.scenario}"
        where = self.port or f"ble {self.ble_name} {self.ble_address}"
        return f"<holdsense roller {where} ({what}, speed {self.speed:g})>"


@dataclass
class Session:
    """A session recorded through holdsense's host path: samples, analysis, holds, gaps, link counters."""

    samples: Any  # rollsignal.SampleChunk
    analysis: dict[str, Any]
    gaps: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    device_t0_s: float | None = None  # virtual roller's clock at the first sample (None: not known)

    @property
    def holds(self) -> list[dict[str, Any]]:
        return list(self.analysis.get("holds", []))

    @property
    def duration_s(self) -> float:
        t = self.samples.t_s
        return float(t[-1] - t[0]) if len(t) else 0.0


# --------------------------------------------------------------------------------------- helpers
def record_session(roller: "RollerHandle | str", duration_s: float, *, body_mass_kg: float | None = None,
                   timeout_s: float | None = None, profile: str | None = None) -> Session:
    """Record `duration_s` seconds of session (device) time from a roller and analyse it.

    Runs holdsense's own host path in this process: `Device` (handshake,
    decoder, gaps, reconnects), `Notifier`, and `rollsignal.analyze` on what
    arrived. `roller` is a `RollerHandle` (serial or BLE) or a port / pyserial URL. Raises
    TimeoutError if the session time is not reached within `timeout_s` host
    seconds (default: generous for the roller's speed), or, from a replayed
    capture, as soon as the capture has played out short of `duration_s`.
    """
    import rollsignal

    from holdsense.link.device import Device
    from holdsense.messages import Listener
    from holdsense.listeners.notifier import Notifier
    from holdsense.listeners.recorder import Until

    handle = roller if isinstance(roller, RollerHandle) else None
    port = (handle.port or f"ble {handle.ble_address}") if handle else str(roller)
    speed = handle.speed if handle else 1.0
    limit = timeout_s if timeout_s is not None else 90.0 + 4.0 * duration_s / max(speed, 1e-3)  # busy CI
    chunks: list[Any] = []
    gaps: list[dict[str, Any]] = []
    infos: list[dict[str, Any]] = []

    class _Collect(Listener):
        def on_info(self, info: dict[str, Any]) -> None:
            infos.append(info)

        def on_samples(self, chunk: Any) -> None:
            chunks.append(chunk)

        def on_gap(self, t_s: float, reason: str, lost_samples: int | None = None) -> None:
            gaps.append({"t_s": t_s, "reason": reason, "lost_samples": lost_samples})

    until = Until([_Collect()], duration_s)
    if handle is not None and handle.port is None and handle.ble_address:
        from holdsense.link.ble import open_ble_device

        dev = open_ble_device(handle.ble_address, timeout_s=10.0, handshake_timeout_s=10.0)
    else:
        dev = Device.open(port, handshake_timeout_s=10.0)
    t0_dev: float | None = None
    try:
        dev.start()
        if handle is not None and handle.scenario is not None:
            with contextlib.suppress(Exception):
                t0_dev = handle.device_s()
        notifier = Notifier(dev, [until])
        try:
            if handle is not None and handle.capture is not None:
                _wait_replayed_session(handle, until, chunks, duration_s, limit)
            elif not until.done.wait(limit):
                raise TimeoutError(f"{port}: {duration_s:g} s of session not recorded within {limit:g} s")
        finally:
            notifier.stop()
    finally:
        dev.close()
    if not chunks:
        raise AssertionError(f"{port}: no samples received")
    samples = rollsignal.SampleChunk.concat(chunks)
    prof = rollsignal.load_profile(profile) if profile else None
    analysis = rollsignal.analyze(samples, body_mass_kg=body_mass_kg, profile=prof).to_dict(source=port)
    return Session(samples, analysis, gaps, dev.stats(), infos[0] if infos else {}, t0_dev)


def _wait_replayed_session(handle: RollerHandle, until: Any, chunks: list[Any], duration_s: float,
                           limit_s: float, settle_s: float = 2.0) -> None:
    """Wait until `until` has `duration_s` of session from a replayed capture.

    Raises TimeoutError once the capture has played out short of it (the replay then stays connected and
    silent, so waiting for `limit_s` would only delay the same failure), or after `limit_s` host seconds.
    """
    deadline = time.monotonic() + limit_s
    seen, quiet_since = -1, 0.0
    while not until.done.wait(0.2):
        now = time.monotonic()
        if now > deadline:
            raise TimeoutError(f"{handle.port}: {duration_s:g} s of session not recorded within {limit_s:g} s")
        if not handle.query().get("done"):
            continue
        if len(chunks) != seen:  # played out, but the host may still be reading what it was sent
            seen, quiet_since = len(chunks), now
            continue
        if now - quiet_since >= settle_s:
            got = float(chunks[-1].t_s[-1] - chunks[0].t_s[0]) if chunks else 0.0
            raise TimeoutError(f"capture {os.path.basename(handle.capture or '')} ends after {got:.1f} s of "
                               f"session, {duration_s:g} s asked: ask for at most that")


def _holds_of(actual: Any) -> list[dict[str, Any]]:
    if isinstance(actual, Session):
        return actual.holds
    if isinstance(actual, dict):
        return list(actual.get("holds", []))
    if isinstance(actual, (str, os.PathLike)):
        from holdsense.analysis import analyze_recording, load_for_analysis

        return list(analyze_recording(load_for_analysis(os.fspath(actual)))["holds"])
    return list(actual)


def _span(h: dict[str, Any]) -> tuple[float, float]:
    start = float(h["start_s"])
    if "duration_s" in h and h["duration_s"] is not None:
        return start, float(h["duration_s"])
    return start, float(h["end_s"]) - start


def assert_holds(actual: Any, expected: Sequence[dict[str, Any]], *, start_tol_s: float = 3.0,
                 duration_tol_s: float = 5.0, force_tol_frac: float | None = None) -> None:
    """Assert that a session's holds match the expected ones, in order, within tolerances.

    `actual` (and `expected`): a `Session`, a holdsense-analysis/1 dict, a list of hold dicts
    (`start_s` and `duration_s` or `end_s`; `mean_force_n` optional), or the
    path of a recording or capture (analysed). `expected`: hold dicts of the
    same shape (e.g. `RollerHandle.expected_holds(session)` or a labels
    file's holds). Start and duration must agree within `start_tol_s` /
    `duration_tol_s` seconds; with `force_tol_frac`, the mean force within that
    fraction. The failure message lists every hold, expected and found.
    """
    got = _holds_of(actual)
    exp = _holds_of(expected)
    problems: list[str] = []
    if len(got) != len(exp):
        problems.append(f"expected {len(exp)} hold{'' if len(exp) == 1 else 's'}, found {len(got)}")
    for i, (g, e) in enumerate(zip(got, exp), 1):
        (gs, gd), (es, ed) = _span(g), _span(e)
        if abs(gs - es) > start_tol_s:
            problems.append(f"hold {i}: starts at {gs:.1f} s, expected {es:.1f} ± {start_tol_s:g} s")
        if abs(gd - ed) > duration_tol_s:
            problems.append(f"hold {i}: lasts {gd:.1f} s, expected {ed:.1f} ± {duration_tol_s:g} s")
        if force_tol_frac is not None and e.get("mean_force_n") is not None and g.get("mean_force_n") is not None:
            gf, ef = float(g["mean_force_n"]), float(e["mean_force_n"])
            if not math.isclose(gf, ef, rel_tol=force_tol_frac):
                problems.append(f"hold {i}: mean force {gf:.0f} N, expected {ef:.0f} N ± {force_tol_frac:.0%}")
    if problems:
        def fmt(hs: list[dict[str, Any]]) -> str:
            rows = []
            for h in hs:
                s, d = _span(h)
                f = h.get("mean_force_n")
                rows.append(f"{s:7.1f} s for {d:5.1f} s" + (f", {float(f):.0f} N" if f is not None else ""))
            return "\n    ".join(rows) or "(none)"
        raise AssertionError("holds differ: " + "; ".join(problems)
                             + f"\n  expected:\n    {fmt(exp)}\n  found:\n    {fmt(got)}")


SAMPLE_COLUMNS = ("t_s", "force_n", "angle_deg", "raw_counts", "flags")


def assert_same_samples(actual: Any, expected: Any, *, t_atol_s: float = 0.0) -> None:
    """Assert two sample streams are the same, column by column (t_s, force_n, angle_deg, raw_counts,
    flags): e.g. a capture replayed and recorded again against the original recording.

    `actual`/`expected`: a `rollsignal.SampleChunk`, or anything with `.samples` (a `Session`, a
    `holdsense.io.recording.Recording`). Exact equality (NaN equals NaN) except `t_s`, which may differ
    by `t_atol_s` seconds (a replayed reboot restarts the device clock at a slightly other moment).
    """
    import numpy as np

    a = getattr(actual, "samples", actual)
    b = getattr(expected, "samples", expected)
    if len(a) != len(b):
        n = min(len(a), len(b))
        end = (f"; the first {n} agree in t_s" if np.array_equal(a.t_s[:n], b.t_s[:n])
               else "") if n else ""
        raise AssertionError(f"{len(a)} samples, expected {len(b)}{end}")
    for col in SAMPLE_COLUMNS:
        x, y = getattr(a, col), getattr(b, col)
        if (x is None) != (y is None):
            raise AssertionError(f"{col}: present in only one of them "
                                 f"({'expected' if x is None else 'actual'} has it)")
        if x is None:
            continue
        tol = t_atol_s if col == "t_s" else 0.0
        if x.dtype.kind == "f":
            with np.errstate(invalid="ignore"):
                same = (np.abs(x - y) <= tol) | (np.isnan(x) & np.isnan(y))
        else:
            same = x == y
        bad = np.flatnonzero(~same)
        if len(bad):
            raise AssertionError(_sample_diff(col, x, y, bad, a.t_s, tol))


def _sample_diff(col: str, x: Any, y: Any, bad: Any, t_s: Any, tol: float) -> str:
    """The failure message of assert_same_samples: how many samples differ, the first few with both values,
    and for floats the largest difference (a rounding to the recording's decimals shows as a tiny one)."""
    import numpy as np

    i = int(bad[0])
    rows = ", ".join(f"#{int(k)} (t_s {t_s[k]:.6f}): {x[k].item()!r} != {y[k].item()!r}" for k in bad[:3])
    msg = f"{col} differs in {len(bad)} of {len(x)} samples" + (f" (t_atol_s {tol:g})" if tol else "")
    msg += f", first at sample {i}: {rows}" + (" ..." if len(bad) > 3 else "")
    if x.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            d = np.abs(x[bad] - y[bad])
        if np.isfinite(d).any():
            msg += f"; largest difference {np.nanmax(d):.3g}"
        if np.isnan(d).any():
            msg += f"; {int(np.isnan(d).sum())} missing (NaN) on one side only"
    return msg


# --------------------------------------------------------------------------------------- fixtures
@contextlib.contextmanager
def _spawned(**kwargs: Any) -> Iterator[tuple[Any, str | None]]:
    from holdsense.virtual import spawn

    tmp = tempfile.mkdtemp(prefix="holdsense-pytest-")
    link = None if kwargs.get("tcp") is not None or kwargs.get("ble") else os.path.join(tmp, "roller")
    try:
        with spawn(link=link, **kwargs) as proc:
            if kwargs.get("ble"):
                with _system_bus(proc.bus_address):
                    yield proc, None
            else:
                yield proc, (link or proc.port)
    finally:
        with contextlib.suppress(OSError):
            if link and os.path.lexists(link):
                os.unlink(link)
            os.rmdir(tmp)


_ble_in_use: list[str] = []


@contextlib.contextmanager
def _system_bus(address: str) -> Iterator[None]:
    """DBUS_SYSTEM_BUS_ADDRESS → the BLE roller's private bus for the test (bleak only talks to the system
    bus); afterwards the previous value, and holdsense's bleak loop is reset so the next test's bleak
    does not keep talking to a bus that is gone."""
    import sys

    if _ble_in_use:
        raise RuntimeError("one BLE roller per test: bleak talks to one (fake) system bus at a time")
    old = os.environ.get("DBUS_SYSTEM_BUS_ADDRESS")
    os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = address
    _ble_in_use.append(address)
    try:
        yield
    finally:
        _ble_in_use.clear()
        if "holdsense.link.ble" in sys.modules:
            sys.modules["holdsense.link.ble"].BleLoop.shutdown()
        if old is None:
            os.environ.pop("DBUS_SYSTEM_BUS_ADDRESS", None)
        else:
            os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = old


@pytest.fixture
def holdsense_device() -> Iterator[Callable[..., RollerHandle]]:
    """Factory: `holdsense_device(scenario="standard", *, seed=0, speed=10.0, encoder=True, loop=False,
    tcp=False, ble=False)` starts a virtual roller and returns its `RollerHandle` (stopped at teardown)."""
    with contextlib.ExitStack() as stack:
        def start(scenario: str = "standard", *, seed: int = 0, speed: float = 10.0, encoder: bool = True,
                  loop: bool = False, tcp: bool = False, rate_hz: int = 80, ble: bool = False) -> RollerHandle:
            proc, port = stack.enter_context(_spawned(scenario=os.fspath(scenario), seed=seed, speed=speed,
                                                      encoder=encoder, loop=loop, rate_hz=rate_hz,
                                                      tcp=0 if tcp else None, ble=ble))
            return RollerHandle(proc, port, scenario=os.fspath(scenario), seed=seed, speed=speed)

        yield start


@pytest.fixture
def holdsense_replay() -> Iterator[Callable[..., RollerHandle]]:
    """Factory: `holdsense_replay(capture, *, speed=10.0, tcp=False, ble=False)` replays a `.hscap` capture
    on a virtual roller's port (or BLE peripheral) and returns its `RollerHandle` (stopped at teardown)."""
    with contextlib.ExitStack() as stack:
        def start(capture: str | os.PathLike[str], *, speed: float = 10.0, tcp: bool = False,
                  ble: bool = False) -> RollerHandle:
            path = os.path.abspath(os.fspath(capture))
            if not os.path.isfile(path):
                raise FileNotFoundError(f"capture {path} not found")
            proc, port = stack.enter_context(_spawned(speed=speed, tcp=0 if tcp else None, ble=ble,
                                                      extra_args=["--replay-capture", path]))
            return RollerHandle(proc, port, capture=path, speed=speed)

        yield start


@pytest.fixture
def holdsense_session() -> Callable[..., Session]:
    """`holdsense_session(roller_or_port, duration_s, *, body_mass_kg=None, timeout_s=None, profile=None)`:
    record and analyse (see `record_session`)."""
    return record_session


@pytest.fixture
def holdsense_assert_holds() -> Callable[..., None]:
    """`holdsense_assert_holds(actual, expected, *, start_tol_s=3, duration_tol_s=5, force_tol_frac=None)`."""
    return assert_holds
