"""A hold cut off by a lost link or by the end of the recording (Ctrl-C while holding) is not the person's
short hold: its feedback says what cut it off, not "be patient", and its length is not judged. `ended_by`
(contracts.md §3) says what ended every hold, the same whatever the chunking."""
from __future__ import annotations

import numpy as np
import pytest

import dsp_synth
from rollsignal import Detector, analyze


def _chunked(ch, seed: int = 5):
    rng = np.random.default_rng(seed)
    sizes, tot = [], 0
    while tot < len(ch):
        s = int(rng.choice([1, 2, 8, int(rng.integers(1, 400))]))
        sizes.append(s)
        tot += s
    det = Detector(batch_s=0.0)
    for c in ch.split(sizes):
        det.process(c)
    det.finish()
    return det.result()


def _check(ch, ended_by: str, why: str) -> dict:
    res = analyze(ch)
    assert _chunked(ch).to_dict("x") == res.to_dict("x")  # streaming equals batch, ended_by included
    cut = [h for h in res.holds if h["ended_by"] == ended_by]
    assert len(cut) == 1, [h["ended_by"] for h in res.holds]
    h = cut[0]
    assert 10 < h["duration_s"] < 30
    text = " ".join(h["feedback"])
    assert "be patient" not in text and "too short" not in h["grade"]
    assert h["feedback"][0] == f"Cut off at {h['duration_s']:.0f} s when {why}: its length is not judged."
    assert h["grade"] == "cut off: length not judged"
    # not counted among the holds the person ended early
    assert not any("ended before" in a for a in res.summary["advice"]), res.summary["advice"]
    return h


@pytest.mark.parametrize("encoder", [True, False])
def test_a_hold_cut_off_by_a_lost_link_is_not_blamed_on_the_client(encoder: bool) -> None:
    # hold from 33 s; the link is lost at 52 s for 25 s (too long to bridge), rolling when it comes back
    ch, _ = dsp_synth.session([("off", 3), ("roll", 30), ("hold", 44), ("roll", 20), ("off", 3)],
                              gaps=[(52.0, 77.0)], encoder=encoder, seed=4)
    h = _check(ch, "link lost", "the link to the roller was lost")
    assert h["end_s"] == pytest.approx(52.0, abs=0.5)


@pytest.mark.parametrize("encoder", [True, False])
def test_a_hold_cut_off_by_the_end_of_the_recording_is_not_blamed_on_the_client(encoder: bool) -> None:
    ch, _ = dsp_synth.session([("off", 3), ("roll", 30), ("hold", 20)], encoder=encoder, seed=6)
    _check(ch, "end", "the session ended")


@pytest.mark.parametrize("encoder", [True, False])
def test_a_hold_cut_off_by_the_end_ends_at_the_last_sample_as_its_segment(encoder: bool) -> None:
    """The hold's end_s was the frame after its last one (53.0 s for a recording ending at 52.993 s): past the
    recording's last sample and 7 ms off the hold segment's end_s, so `holds` and `segments` (and --table
    against the recording) disagreed."""
    ch, _ = dsp_synth.session([("off", 3), ("roll", 30), ("hold", 20)], encoder=encoder, seed=0)
    t_last = float(ch.t_s[-1])
    assert round(t_last, 2) != round(t_last, 3)  # (not on the 0.05 s grid: the case that went wrong)
    for res in (analyze(ch), _chunked(ch)):
        h, seg = res.holds[-1], res.segments[-1]
        assert h["ended_by"] == "end" and seg["kind"] == "hold"
        assert (h["start_s"], h["end_s"]) == (seg["start_s"], seg["end_s"]) == (h["start_s"], round(t_last, 3))
        assert h["duration_s"] == round(h["end_s"] - h["start_s"], 3)  # to 1 ms, as its ends (contracts.md §3)
        assert res.summary["hold_s"] == pytest.approx(h["duration_s"], abs=0.005)  # the summary's totals: 0.01 s


def test_holds_the_person_ended_say_so_and_are_still_judged() -> None:
    ch, _ = dsp_synth.session([("off", 3), ("roll", 30), ("hold", 15), ("roll", 20), ("hold", 15), ("off", 5)],
                              seed=2)
    res = analyze(ch)
    assert [h["ended_by"] for h in res.holds] == ["rolling", "off"]
    for h in res.holds:
        assert "be patient" in h["feedback"][0] and h["grade"] == "too short for a release"
    assert any(a.startswith("2 of 2 holds ended before 30 s") for a in res.summary["advice"])


def test_the_length_of_a_short_cut_off_hold_earns_and_costs_nothing() -> None:
    """The score of a hold cut off under 30 s is its other criteria's (no duration credit, the weight left
    out as for stillness without an encoder); past 30 s the time held counts as usual."""
    from rollsignal.profile import load_profile
    from rollsignal.scoring import Scorer

    sc = Scorer(load_profile())
    st = {"start_s": 0.0, "end_s": 18.0, "duration_s": 18.0, "mean_force_n": 120.0, "force_cv": 0.02,
          "slow_cv": float("nan"), "travel_cm": 0.2, "spot_cm": 0.0, "rolling_load_n": 230.0, "body_mass_kg": 72.0}
    ended = sc.score_hold(dict(st, ended_by="rolling"))
    cut = sc.score_hold(dict(st, ended_by="end"))
    assert cut["score"] == 100 and ended["score"] < 80
    long = dict(st, end_s=45.0, duration_s=45.0)
    a, b = sc.score_hold(dict(long, ended_by="rolling")), sc.score_hold(dict(long, ended_by="link lost"))
    assert a["score"] == b["score"] and a["grade"] == b["grade"] == "release window reached"
    assert b["feedback"][0] == "Held 45 s until the link to the roller was lost: past the 30 s release window."


def test_a_short_cut_off_hold_stays_out_of_the_session_scores_mean() -> None:
    """Its score is not judged on length (a 24 s hold cut off by Ctrl-C scored 100 and lifted the session
    score above what the holds the person ended earned): the session score's hold mean leaves it out, unless
    it is the only hold. The time it was held still counts in the holding share."""
    from rollsignal.profile import load_profile
    from rollsignal.scoring import Scorer

    sc = Scorer(load_profile())
    base = {"start_s": 0.0, "end_s": 60.0, "duration_s": 60.0, "mean_force_n": 230.0, "force_cv": 0.02,
            "slow_cv": 0.02, "travel_cm": None, "spot_cm": None, "rolling_load_n": 230.0, "body_mass_kg": 72.0}
    hard = sc.score_hold(dict(base, ended_by="rolling"))  # too hard: a low score
    cut = sc.score_hold(dict(base, start_s=100.0, end_s=124.0, duration_s=24.0, mean_force_n=120.0,
                             ended_by="end"))
    segs = [{"kind": "roll", "start_s": -60.0, "end_s": 0.0}, {"kind": "hold", "start_s": 0.0, "end_s": 60.0},
            {"kind": "roll", "start_s": 60.0, "end_s": 100.0}, {"kind": "hold", "start_s": 100.0, "end_s": 124.0}]
    both = sc.summarize(segs, [hard, cut])["session_score"]
    share = 84.0 / 184.0
    ss = sc.p.session
    expect = round(ss["hold_weight"] * hard["score"]
                   + 100 * (1 - ss["hold_weight"]) * min(1.0, share / ss["hold_share_target"]))
    assert cut["score"] > hard["score"] and both == expect
    alone = sc.summarize(segs[:2] + segs[3:], [cut])["session_score"]
    assert alone > 0  # the only hold: its score is what there is
