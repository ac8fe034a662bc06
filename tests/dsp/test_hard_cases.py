"""Force-only hard cases (domain.md) on holdsense.sim sessions scripted for each case, several seeds.

Each case is one the force-only detector used to get wrong (bench/accuracy.py: limb, slow, reposition
families): a hold with knee bends almost as heavy as the rolling, a 1-2 s re-positioning between two
light holds, slow rolling with a small lever swing. Short sessions, 10 and 80 Hz, five seeds each.
Each test counts the sessions (seed x rate) handled right and asserts a minimum share: force alone
cannot get every realisation right (a re-positioning whose travel happens in under a second puts
almost no texture on the load, docs/detector.md), and a rate is what the detector can promise.
Before this round the detector got 2, 5 and 2 of 10 right (knee bends, re-positioning, slow); the
state machine then 9, 6, 10; the fitted segmenters fewer on the first two (strict xfails below).
"""
from __future__ import annotations

from typing import Any

import pytest

from rollsignal import analyze

sim = pytest.importorskip("holdsense.sim")

SEEDS = (1, 2, 3, 4, 5)
RATES_HZ = (10.0, 80.0)


def _share(check) -> tuple[int, list[str]]:
    """Run check(seed, rate_hz) -> None | str (what went wrong) over SEEDS x RATES_HZ."""
    bad = []
    for seed in SEEDS:
        for rate_hz in RATES_HZ:
            msg = check(seed, rate_hz)
            if msg:
                bad.append(f"seed {seed} {rate_hz:g} Hz: {msg}")
    return len(SEEDS) * len(RATES_HZ) - len(bad), bad


def _scenario(name: str, phases: list[dict[str, Any]], rate_hz: float) -> dict[str, Any]:
    return {"format": "holdsense-scenario/1", "name": name, "description": f"test: {name}",
            "body_mass_kg": 75.0, "rate_hz": rate_hz, "encoder": False, "phases": phases}


def _roll(duration_s: float, **kw: Any) -> dict[str, Any]:
    return {"kind": "roll", "duration_s": duration_s, "force_frac": 0.32, "stroke_s": 2.0, "pause_prob": 0.0, **kw}


def _holds(res) -> list[tuple[float, float]]:
    return [(h["start_s"], h["end_s"]) for h in res.holds]


def _true_holds(sr) -> list[tuple[float, float]]:
    return [(s["start_s"], s["end_s"]) for s in sr.labels["segments"] if s["kind"] == "hold"]


def _knee(seed: int, rate_hz: float) -> str | None:
    # hold at 24 % BW after rolling at 32 %, knee bends adding up to 15 % of the load at 0.5 Hz: its
    # level (mid-range) is ~0.82 x the rolling load, too heavy for the light path, and it swings ~25 %
    # in 8 s, too much for the steady one; the roller does not travel: it is one hold
    sc = _scenario("knee-bends-heavy", [
        {"kind": "off", "duration_s": 4}, _roll(30),
        {"kind": "hold", "duration_s": 45, "force_frac": 0.24, "limb_hz": 0.5, "limb_frac": 0.15},
        _roll(12), {"kind": "off", "duration_s": 4}], rate_hz)
    sr = sim.simulate(sc, seed)
    res = analyze(sr.samples)
    (t0, t1), = _true_holds(sr)
    if len(res.holds) != 1:
        return f"holds {_holds(res)}, true {(t0, t1)}"
    h0, h1 = _holds(res)[0]
    if abs(h0 - t0) >= 2.5 or abs(h1 - t1) >= 2.5:
        return f"hold {(h0, h1)}, true {(t0, t1)}"
    return None


@pytest.mark.xfail(strict=True, reason="fitted segmenter (v1, v2 and v3): the hold is found but its start is placed 6-10 s late "
                   "or it is cut short while the knee bends go on (v2: 2 right) (docs/detector.md, what force alone cannot tell apart)")
def test_knee_bends_in_a_hold_near_the_rolling_load_keep_one_hold() -> None:
    ok, bad = _share(_knee)
    assert ok >= 9, bad


def _reposition(seed: int, rate_hz: float) -> str | None:
    # 2 s of loaded motion to a spot 6 cm away, between two light holds at nearly the same load: the
    # load swings less than a knee bend, only the texture of the travelling ribs tells it
    sc = _scenario("short-reposition", [
        {"kind": "off", "duration_s": 4}, _roll(25),
        {"kind": "hold", "duration_s": 25, "force_frac": 0.18},
        {"kind": "reposition", "duration_s": 2.0, "travel_cm": 6.0, "force_frac": 0.2},
        {"kind": "hold", "duration_s": 25, "force_frac": 0.17},
        _roll(10), {"kind": "off", "duration_s": 4}], rate_hz)
    sr = sim.simulate(sc, seed)
    res = analyze(sr.samples)
    true_h = _true_holds(sr)
    assert len(true_h) == 2
    if len(res.holds) != 2:
        return f"holds {_holds(res)}, true {true_h}"
    for (t0, t1), (h0, h1) in zip(true_h, _holds(res)):
        if abs(h0 - t0) >= 2.5 or abs(h1 - t1) >= 2.5:
            return f"holds {_holds(res)}, true {true_h}"
    # the move between them is rolling (movement), not a hold or a fidget inside one
    if not [s for s in res.segments if s["kind"] == "roll" and true_h[0][1] - 1.5 < s["start_s"] < true_h[1][0]]:
        return f"no roll between the holds: {res.segments}"
    return None


@pytest.mark.xfail(strict=True, reason="fitted segmenter (v1, v2 and v3): a 2 s move at the holds' load between two holds is "
                   "bridged (the two holds merge); only the rib texture showed it, which the model does not use")
def test_short_repositioning_between_light_holds_splits_them() -> None:
    ok, bad = _share(_reposition)
    assert ok >= 6, bad


def _slow(seed: int, rate_hz: float) -> str | None:
    # 6-8 s per direction with an 8 % lever swing and tiny reversal bumps, first at the rolling load and
    # then lighter than the session's rolling so far: every 8 s window still sees the stroke's swing
    sc = _scenario("slow-small-lever", [
        {"kind": "off", "duration_s": 4}, _roll(25, force_frac=0.34),
        _roll(60, force_frac=0.32, stroke_s=7.0, lever_frac=0.08, bump_frac=0.02),
        {"kind": "off", "duration_s": 4}], rate_hz)
    res = analyze(sim.simulate(sc, seed).samples)
    if not res.holds:
        return None
    conf = [h["confidence"] for h in res.holds]
    return f"{'confident ' if max(conf) >= 0.5 else ''}false holds {_holds(res)}, confidence {conf}"


def test_slow_rolling_with_a_small_lever_swing_is_not_a_hold() -> None:
    """No false hold in at least 8 of the 10 sessions, and none anywhere with a confidence of 0.5 or more:
    the model fitted on 24 sessions per family (better on every generator held out) calls 5 s of one
    seed's last strokes a hold, at both rates, with confidence 0.17 (every earlier model: 10 of 10)."""
    ok, bad = _share(_slow)
    assert ok >= 8, bad
    assert not [b for b in bad if "confident" in b], bad
