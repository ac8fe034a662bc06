"""Each holdsense.sim family is detected: one seed per family, with encoder and force-only, short sessions.

The simulator is an independent rendering of domain.md's physics (tests/dsp/dsp_synth.py is the other);
bench/accuracy.py measures the same on a large corpus. Tolerances: with the encoder every true hold is
found (overlap >= half the longer) with both boundaries within 3 s and no extra hold (bench/accuracy.py
measures the median error: ~0.2 s); force-only (hard by
physics, see docs/detector.md) at most one hold missed or extra and hold frames F1 >= 0.8.
"""
from __future__ import annotations

import numpy as np
import pytest

from rollsignal import analyze

sim = pytest.importorskip("holdsense.sim")

FAMILIES = ["standard", "fast", "slow", "limb", "mixed", "long", "reposition", "gaps"]
DURATION_S = {"long": 420.0}  # long holds need room for two of them


def _holds(segs):
    return [(s["start_s"], s["end_s"]) for s in segs if s["kind"] == "hold"]


def _match(true_h, pred_h):
    used, pairs = set(), []
    for a0, a1 in true_h:
        for j, (b0, b1) in enumerate(pred_h):
            if j not in used and min(a1, b1) - max(a0, b0) >= 0.5 * max(a1 - a0, b1 - b0):
                used.add(j)
                pairs.append(((a0, a1), (b0, b1)))
                break
    return pairs


def _hold_f1(truth, segs, t_end):
    t = np.arange(0.025, t_end, 0.05)
    def mask(ss):
        m = np.zeros(len(t), bool)
        for a, b in _holds(ss):
            m |= (t >= a) & (t < b)
        return m
    a, b = mask(truth), mask(segs)
    return 2 * np.sum(a & b) / max(np.sum(a) + np.sum(b), 1)


# families a force-only build is known to get wrong on the test seed (strict xfail: fails loudly once fixed).
# None with the four-world model: the re-position family (seed 1) finds 4 of its 5 holds, each on its own
# (the 17 s hold after the third re-position is still not reported; the test allows one miss), where the
# three-world model merged the first two and missed that one.
KNOWN_FORCE_ONLY_MISSES: dict[str, str] = {}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("encoder", [True, False], ids=["enc", "force"])
def test_family_detected(family: str, encoder: bool, request: pytest.FixtureRequest) -> None:
    if not encoder and family in KNOWN_FORCE_ONLY_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_FORCE_ONLY_MISSES[family], strict=True))
    res = sim.simulate(family, 1, rate_hz=80 if encoder else 10, encoder=encoder,
                       duration_s=DURATION_S.get(family, 240.0))
    truth = res.labels["segments"]
    segs = analyze(res.samples).segments
    true_h, pred_h = _holds(truth), _holds(segs)
    assert true_h, "the scenario must contain a hold"
    pairs = _match(true_h, pred_h)
    if encoder:
        assert len(pairs) == len(true_h) == len(pred_h), (true_h, pred_h)
        for (a0, a1), (b0, b1) in pairs:
            assert abs(a0 - b0) <= 3.0 and abs(a1 - b1) <= 3.0, ((a0, a1), (b0, b1))
    else:
        assert len(true_h) - len(pairs) <= 1 and len(pred_h) - len(pairs) <= 1, (true_h, pred_h)
        assert _hold_f1(truth, segs, float(res.samples.t_s[-1])) >= 0.8
