"""The third session generator (holdsense.controlsim): determinism, truth labels against the simulated
roller, physical ranges from the domain figures, each family's defining property, sensor timing and
faults, the files it writes, and the angle path finding its holds."""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest

from holdsense.controlsim import FAMILIES, FAMILY_DESCRIPTIONS, corpus, generate, labels_path
from holdsense.controlsim.params import RANGES, STROKE_STYLES, ranges_table_md
from holdsense.io.labels import read_labels, validate
from holdsense.io.recording import read_recording
from rollsignal import analyze
from rollsignal.metrics import score_session, summarise
from rollsignal.types import FLAG_GAP, FLAG_SAT

REPO = Path(__file__).resolve().parents[2]
SEEDS = (0, 1, 2)


@functools.lru_cache(maxsize=None)
def sess(family: str, seed: int, rate_hz: float | None = None, encoder: bool | None = None,
         shell: str | None = None):
    return generate(family, seed, rate_hz=rate_hz, encoder=encoder, shell=shell)


def weight(s) -> float:
    return float(s.truth["weight_n"][0])


def mask(s, kind: str, margin_s: float = 0.0) -> np.ndarray:
    t = s.t_s
    m = np.zeros(len(t), bool)
    for seg in s.labels["segments"]:
        if seg["kind"] == kind:
            m |= (t >= seg["start_s"] + margin_s) & (t < seg["end_s"] - margin_s)
    return m


def grid_in(s, t0: float, t1: float) -> np.ndarray:
    """Truth-grid mask for a span given on the recording's clock."""
    tg = s.truth_grid.t_s * (1.0 + s.sensed.ppm) - s.sensed.t0_dev_s
    return (tg >= t0) & (tg < t1)


def test_same_seed_same_session_and_seeds_differ():
    a, b = generate("mixed", 11), generate("mixed", 11)
    for x, y in ((a.t_s, b.t_s), (a.force_n, b.force_n), (a.raw_counts, b.raw_counts), (a.flags, b.flags)):
        np.testing.assert_array_equal(x, y)
    assert json.dumps(a.labels, sort_keys=True) == json.dumps(b.labels, sort_keys=True)
    assert a.metadata == b.metadata
    c = generate("mixed", 12)
    assert c.labels["segments"] != a.labels["segments"]
    assert c.metadata["body_mass_kg"] != a.metadata["body_mass_kg"]
    d = generate("limb", 11)  # the family is part of the seed: another person
    assert d.metadata["body_mass_kg"] != a.metadata["body_mass_kg"]


def test_overrides_change_only_what_they_name():
    base = sess("standard", 4, 80.0, True, "smooth")
    slow = sess("standard", 4, 10.0, True, "smooth")
    no_enc = sess("standard", 4, 80.0, False, "smooth")
    rib = sess("standard", 4, 80.0, True, "ribbed")
    # same person, same session: the same segments (times on the recording's clock, which starts at its
    # first sample: that moves by up to one sample period with the rate)
    for other in (slow, no_enc, rib):
        a, b = base.labels["segments"], other.labels["segments"]
        assert [x["kind"] for x in a] == [x["kind"] for x in b]
        np.testing.assert_allclose([x["end_s"] for x in a], [x["end_s"] for x in b], atol=0.15)
    np.testing.assert_array_equal(no_enc.force_n, base.force_n)
    assert no_enc.angle_deg is None and base.angle_deg is not None
    assert base.metadata["body_mass_kg"] == slow.metadata["body_mass_kg"] == rib.metadata["body_mass_kg"]


@pytest.mark.parametrize("family", FAMILIES)
def test_labels_valid_and_true_to_the_roller(family):
    for seed in SEEDS:
        s = sess(family, seed)
        lab = validate(json.loads(json.dumps(s.labels)), "controlsim")
        segs = lab["segments"]
        assert lab["format"] == "holdsense-labels/1" and lab["labeller"]["how"] == "simulator"
        assert segs[0]["start_s"] == 0.0 and segs[-1]["end_s"] == pytest.approx(lab["duration_s"])
        assert segs[0]["kind"] == "off" and segs[-1]["kind"] == "off"
        for x, y in zip(segs, segs[1:]):
            assert x["end_s"] == y["start_s"]
        assert s.t_s[0] == 0.0 and np.all(np.diff(s.t_s) > 0) and s.t_s[-1] <= lab["duration_s"]
        holds = [x for x in segs if x["kind"] == "hold"]
        assert len(holds) >= 2 and any(x["kind"] == "roll" for x in segs)
        shell = s.truth_grid.shell_cm
        for x in segs:
            g = grid_in(s, x["start_s"], x["end_s"])
            if x["kind"] == "hold":
                # a hold: >= 5 s without the roller travelling (sub-millimetre rocking only), loaded
                assert x["end_s"] - x["start_s"] >= 5.0
                assert np.ptp(shell[g]) < 1.0 and x["travel_cm"] < 1.0
                assert np.min(s.truth_grid.force_n[g]) > 0.02 * weight(s)
            elif x["kind"] == "roll":
                # rolling and re-positions move the roller (>= 2 cm); step-on/off ramps are part of them
                assert np.ptp(shell[g]) >= 1.5, x
            else:
                assert np.max(s.truth_grid.force_n[g]) == 0.0  # nobody on the roller
        sc = lab["scenario"]
        assert sc["generator"] == "controlsim" and sc["family"] == family and sc["seed"] == seed


@pytest.mark.parametrize("family", FAMILIES)
def test_forces_in_the_domain_ranges(family):
    for seed in SEEDS:
        s = sess(family, seed)
        W = weight(s)
        assert 45.0 <= s.metadata["body_mass_kg"] <= 120.0
        f = s.truth["force_n"]
        assert f.min() >= 0.0 and f.max() < 0.8 * W and f.max() < 900.0
        roll = mask(s, "roll", 1.0) & (s.truth["contact"] >= 1.0)
        assert 0.2 <= np.median(f[roll]) / W <= 0.45  # rolling ~25-40 % BW (less on tender spots)
        for h in s.labels["scenario"]["holds"]:
            lo, hi = (0.30, 0.50) if h["heavy"] else (0.10, 0.25)
            assert lo <= h["load_frac_bw"] <= hi
            m = (s.t_s >= h["start_s"] + 3.0) & (s.t_s < h["end_s"] - 2.0)
            if m.sum() > 10:
                frac = float(np.mean(f[m])) / W
                # creep, posture shifts, the loop's residual and knee bends move it around the intended level
                assert 0.6 * h["load_frac_bw"] - 0.02 <= frac <= 1.35 * h["load_frac_bw"] + 0.05, (h, frac)
        # the recorded force follows the true conversions within noise, drift and calibration error
        ok = (s.flags & FLAG_SAT) == 0
        sp = np.isin(np.round(s.t_s, 6), np.round(s.labels["scenario"]["events"]["spurious_t_s"], 6))
        err = np.abs(s.force_n - f)[ok & ~sp]
        assert np.percentile(err, 99) < 0.012 * f.max() + 12.0


@pytest.mark.parametrize("rate", (10.0, 80.0))
def test_rate_and_jittered_device_time(rate):
    for seed in SEEDS:
        s = sess("standard", seed, rate, False, "smooth")
        dt = np.diff(s.t_s)
        nominal = 1.0 / rate
        rate_meas = 1.0 / float(np.median(dt))
        assert 0.97 * rate <= rate_meas <= 1.16 * rate  # real '80 SPS' parts run 78-92
        assert np.std(dt[dt < 1.5 * np.median(dt)]) > 1e-5  # timestamps jitter (polling latency)
        assert len(np.unique(np.round(dt, 6))) > 10
        # the samples keep their device times: a lost sample leaves a hole, flagged on the next one
        big = np.flatnonzero(dt > 1.6 * np.median(dt)) + 1
        assert np.all(s.flags[big] & FLAG_GAP)
        assert abs(float(np.median(dt)) - nominal / s.labels["scenario"]["device"]["rate_factor"]) < 0.01 * nominal


def test_limb_holds_swing_the_load():
    for seed in SEEDS:
        s = sess("limb", seed)
        W = weight(s)
        holds = s.labels["scenario"]["holds"]
        assert holds and all(h["knee_bouts"] for h in holds)
        for h in holds:
            for b in h["knee_bouts"]:
                assert 0.1 <= b["hz"] <= 1.0 and 0.03 <= b["swing_frac_bw"] <= 0.15
                g = grid_in(s, b["t0_s"], b["t1_s"])
                swing = np.ptp(s.truth_grid.knee_n[g]) / W
                # the drawn swing, give or take the leg's acceleration
                assert 0.8 * b["swing_frac_bw"] <= swing <= 1.2 * b["swing_frac_bw"] + 0.01, (b, swing)
            # the roller does not travel while the leg moves: a hold
            g = grid_in(s, h["start_s"], h["end_s"])
            assert np.ptp(s.truth_grid.shell_cm[g]) < 1.0
        lab_holds = [x for x in s.labels["segments"] if x["kind"] == "hold"]
        assert len(lab_holds) == len(holds) and all(x.get("note") == "knee bends" for x in lab_holds)


def test_slow_strokes_take_4_to_8_s_and_fast_under_1_3():
    for fam, (lo, hi) in (("slow", STROKE_STYLES["slow"]["stroke_s"]), ("fast", STROKE_STYLES["fast"]["stroke_s"])):
        for seed in SEEDS:
            strokes = [x for x in sess(fam, seed).labels["scenario"]["strokes"] if not x["hesitation"]]
            assert len(strokes) >= 10
            d = np.array([x["dur_s"] for x in strokes])
            assert d.min() >= lo - 1e-9 and d.max() <= hi + 1e-9
            assert np.median(np.abs([x["dx_cm"] for x in strokes])) >= 5.0


def test_repositions_join_holds():
    for seed in SEEDS:
        s = sess("reposition", seed)
        reps = s.labels["scenario"]["repositions"]
        assert len(reps) >= 1
        segs = s.labels["segments"]
        for r in reps:
            assert 1.0 <= r["t1_s"] - r["t0_s"] <= 4.0 + 1e-6 and 2.0 <= abs(r["dx_cm"]) <= 8.0
            i = next(k for k, x in enumerate(segs) if x["kind"] == "roll" and abs(x["start_s"] - r["t0_s"]) < 0.01)
            # hold | re-position (roll) | hold: two holds, not one
            assert segs[i - 1]["kind"] == "hold" and segs[i + 1]["kind"] == "hold"
            assert segs[i]["end_s"] == pytest.approx(r["t1_s"], abs=0.01)


def test_long_holds_and_posture_shifts():
    for seed in SEEDS:
        holds = sess("long", seed).labels["scenario"]["holds"]
        assert all(60.0 <= h["end_s"] - h["start_s"] <= 181.0 for h in holds)
        assert all(1 <= len(h["posture_shifts"]) <= 3 for h in holds)
        assert all(0.02 <= abs(p["frac"]) <= 0.10 for h in holds for p in h["posture_shifts"])


def test_dropouts_lose_samples_and_flag_faults():
    lost, sat = 0, 0
    for seed in SEEDS:
        s = sess("dropouts", seed)
        ev = s.labels["scenario"]["events"]
        lost += ev["lost_samples"]
        assert ev["reconnects"]
        gaps = np.flatnonzero(s.flags & FLAG_GAP)
        assert len(gaps) >= 3
        dt = np.diff(s.t_s)
        assert np.all(dt[gaps - 1] > 1.3 * np.median(dt))  # a flagged gap is a hole in device time
        sat += int(np.sum(s.flags & FLAG_SAT))
        assert len(ev["spurious_t_s"]) >= 1
    assert lost > 50 and sat >= 1
    # the standard family's link is much better
    std_lost = sum(sess("standard", sd).labels["scenario"]["events"]["lost_samples"] for sd in SEEDS)
    assert std_lost < lost / 5


def test_ribbed_shell_texture_only_while_the_shell_turns():
    """Same person and session with either shell: the load differs by the rib ripple, a function of the
    shell's angle -- present while rolling (a few Hz), absent while the shell stands still."""
    from scipy import signal as sps

    for seed in SEEDS:
        rib, smo = sess("fast", seed, 80.0, True, "ribbed"), sess("fast", seed, 80.0, True, "smooth")
        diff = rib.truth_grid.force_n - smo.truth_grid.force_n
        tg = rib.truth_grid.t_s * (1.0 + rib.sensed.ppm) - rib.sensed.t0_dev_s
        roll = np.zeros(len(tg), bool)
        hold_sd = []
        for x in rib.labels["segments"]:
            m = (tg >= x["start_s"] + 1.0) & (tg < x["end_s"] - 1.0)
            roll |= m if x["kind"] == "roll" else False
            if x["kind"] == "hold":  # a still shell: at most a constant offset (the rib it stopped on), fading
                hold_sd.append(float(np.std(np.diff(diff[(tg >= x["start_s"] + 3.0) & (tg < x["end_s"])]))))
        rms_roll = float(np.sqrt(np.mean(diff[roll] ** 2)))
        step_roll = float(np.std(np.diff(diff[roll])))
        assert rms_roll > 0.3
        assert max(hold_sd) < 0.05 * step_roll
        f, p = sps.welch(diff[roll], fs=200.0, nperseg=1024)
        # rib pitch 1.5-3.5 cm at rolling speed: mostly a few Hz (slower near the stroke reversals)
        assert p[(f >= 1.0) & (f <= 12.0)].sum() > 0.4 * p.sum()


def test_the_angle_path_finds_the_labelled_holds():
    """With the angle the packaged detector agrees with the labels: they mark what the roller did."""
    scores = []
    for fam, seed, rate in (("limb", 30, 10.0), ("slow", 31, 80.0), ("reposition", 32, 80.0), ("mixed", 33, 10.0)):
        s = sess(fam, seed, rate, True, "smooth")
        scores.append(score_session(s.labels["segments"], analyze(s.chunk).segments, float(s.t_s[-1])))
    r = summarise(scores)
    assert r["event"] >= 0.95 and r["hold"] >= 0.97, r


def test_written_files_read_back(tmp_path):
    for fam, seed, kw, name in (("dropouts", 1, dict(encoder=True, rate_hz=80.0), "d.csv"),
                                ("limb", 2, dict(encoder=False, rate_hz=10.0), "l.csv.gz")):
        s = generate(fam, seed, **kw)
        rec_path, lab_path = s.write(tmp_path / name)
        assert lab_path == labels_path(rec_path)
        rec = read_recording(rec_path, warn=None)
        r = rec.samples
        np.testing.assert_allclose(r.t_s, s.t_s, atol=1e-6)
        np.testing.assert_allclose(r.force_n, s.force_n, atol=1e-2)
        np.testing.assert_array_equal(r.flags, s.flags)
        assert (r.angle_deg is None) == (s.angle_deg is None)
        cal = rec.metadata["calibration"]
        np.testing.assert_allclose((r.raw_counts - cal["tare_counts"]) * cal["counts_to_n"][1], r.force_n, atol=2e-2)
        assert rec.metadata["generator"] == "controlsim" and rec.metadata["family"] == fam
        lab = read_labels(lab_path)
        assert lab["segments"] == json.loads(json.dumps(s.labels["segments"]))


def test_corpus_and_bad_arguments():
    got = [(x.family, x.seed, x.metadata["sample_rate_hz"], x.metadata["encoder"])
           for x in corpus(2, seed0=40, families=("fast",))]
    assert got == [("fast", 40, 10.0, True), ("fast", 41, 10.0, True)]
    assert set(FAMILY_DESCRIPTIONS) == set(FAMILIES)
    for bad in (dict(family="nope"), dict(family="fast", shell="knobbly"), dict(family="fast", rate_hz=0.0)):
        with pytest.raises(ValueError):
            generate(bad.pop("family"), 0, **bad)


def test_ranges_documented():
    doc = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    sec = doc[doc.index("## Third generator: controlsim"):]
    assert ranges_table_md() in sec, "docs/scenarios.md: the controlsim ranges table is stale"
    for fam in FAMILIES:
        assert f"`{fam}`" in sec
    assert all(src for (_lo, _hi, _u, src, _n) in RANGES.values())
