"""bench/accuracy.py's evaluation: force-only intervals over the sessions drawn, printed with the figures."""
from __future__ import annotations

import pytest

from bench_import import bench_module


def test_evaluation_carries_intervals_that_bracket_its_figures(capsys: pytest.CaptureFixture[str]) -> None:
    accuracy = bench_module("accuracy")
    ev = accuracy.evaluate("sim", None, per_family=1, seed0=100)
    ci = ev["intervals_force"]
    f = ev["rows"]["ALL/force"]
    for k in ("hold", "roll", "event", "start", "end", "fp_per_10min_roll"):
        lo, hi = ci[k]
        assert lo <= f[k] + 1e-12 and f[k] - 1e-12 <= hi, k
    fam_event = [r["event"] for key, r in ev["rows"].items()
                 if key.endswith("/force") and not key.startswith(("@", "ALL"))]
    # one session per family: every draw takes each family's only session, so the worst family is exact
    assert ci["worst_event"] == pytest.approx((min(fam_event), min(fam_event)))
    accuracy.print_eval("test", ev)
    row = dict(accuracy.summary_row(ev), evaluated_on="sim", fitted_on=["packaged"], kind="packaged")
    accuracy.print_summary([row])
    out = capsys.readouterr().out
    assert "95 % intervals" in out and f"event F1 {ci['event'][0]:.3f}-{ci['event'][1]:.3f}" in out
    assert f"{ci['event'][0]:.3f}-{ci['event'][1]:.3f}" in out.split("summary")[-1]
