"""trajsim, the fifth session generator: determinism, label tiling, sensor/link shape, and each
family's defining property measured from its ground truth."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from holdsense import trajsim
from holdsense.io.labels import read_labels, validate
from holdsense.io.recording import read_recording
from rollsignal.types import FLAG_GAP, FLAG_SAT

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
SEEDS = (0, 1, 2)

_cache: dict[tuple, trajsim.Session] = {}


def gen(family: str, seed: int, **kw) -> trajsim.Session:
    key = (family, seed, tuple(sorted(kw.items())))
    if key not in _cache:
        _cache[key] = trajsim.generate(family, seed, **kw)
    return _cache[key]


def holds(s: trajsim.Session) -> list[dict]:
    return [g for g in s.labels["segments"] if g["kind"] == "hold"]


def test_public_api() -> None:
    assert trajsim.FAMILIES == ("standard", "fast", "slow", "limb", "reposition", "mixed", "long", "dropouts")
    assert set(trajsim.FAMILY_DESCRIPTIONS) == set(trajsim.FAMILIES)
    for name, (lo, hi, unit, source, what) in trajsim.RANGES.items():
        assert lo <= hi and unit and source and what, name
    sessions = list(trajsim.corpus(["fast", "long"], n_per_family=2, seed0=7))
    assert [(s.family, s.seed) for s in sessions] == [("fast", 7), ("fast", 8), ("long", 7), ("long", 8)]


def test_deterministic_per_seed() -> None:
    a = trajsim.generate("limb", 11, rate_hz=80, encoder=True, shell="ribbed")
    b = trajsim.generate("limb", 11, rate_hz=80, encoder=True, shell="ribbed")
    for k in ("t_s", "force_n", "angle_deg", "flags", "raw_counts"):
        np.testing.assert_array_equal(getattr(a.chunk, k), getattr(b.chunk, k))
    assert a.labels == b.labels and a.metadata == b.metadata
    c = trajsim.generate("limb", 12, rate_hz=80, encoder=True, shell="ribbed")
    assert c.labels["segments"] != a.labels["segments"]
    # the sensor choices do not change the behaviour: same person, same session at 10 Hz
    d = trajsim.generate("limb", 11, rate_hz=10, encoder=False, shell="smooth")
    assert d.labels["segments"] == a.labels["segments"]
    assert d.chunk.angle_deg is None and 9.5 < len(d.chunk) / d.duration_s < 11.6


@pytest.mark.parametrize("family", trajsim.FAMILIES)
def test_labels_tile_and_holds_are_long_enough(family: str) -> None:
    for seed in SEEDS:
        s = gen(family, seed)
        lab = validate(s.labels, "trajsim")
        segs = lab["segments"]
        assert segs[0]["start_s"] == 0.0 and segs[-1]["end_s"] == pytest.approx(s.duration_s)
        for x, y in zip(segs, segs[1:]):
            assert y["start_s"] == pytest.approx(x["end_s"], abs=1e-6) and x["kind"] != y["kind"]
        assert segs[0]["kind"] == "off" and segs[-1]["kind"] == "off"
        assert holds(s), f"{family} seed {seed} has no hold"
        assert all(h["end_s"] - h["start_s"] >= 5.0 for h in holds(s))
        assert 200.0 <= s.duration_s <= 520.0
        assert 45.0 <= s.metadata["body_mass_kg"] <= 120.0
        assert s.chunk.t_s[-1] <= s.duration_s + 1e-6
        # no still stretch of >= 5 s inside rolling: every gap between moves outside holds/off is < 5 s
        tr = s.truth
        moves = tr["strokes"]
        hold_spans = [(h["start_s"], h["end_s"]) for h in tr["holds"]]
        for m0, m1 in zip(moves, moves[1:]):
            gap = (m0["end_s"], m1["start_s"])
            if m0["kind"] == "step_off" or any(abs(a - gap[0]) < 1e-6 for a, _ in hold_spans):
                continue
            assert gap[1] - gap[0] < 5.0, (family, seed, gap)
        # truth state agrees with the labels; loaded time has load, off time none
        st = tr["state"]
        assert np.median(tr["load_n"][st == 0]) < 1.0
        assert np.all(tr["load_n"][st == 2] > 0.02 * tr["body_weight_n"])


def test_chunk_shape_flags_and_timestamps() -> None:
    s = gen("standard", 4, rate_hz=80, encoder=True)
    c = s.chunk
    n = len(c)
    assert c.force_n.shape == c.flags.shape == c.raw_counts.shape == c.angle_deg.shape == (n,)
    assert c.flags.dtype == np.uint8
    dt = np.diff(c.t_s)
    assert np.all(dt >= 0)
    rate = 1.0 / np.median(dt)
    assert 77.0 < rate < 93.0
    assert np.std(dt[dt < 2.0 / rate]) > 1e-6  # jitter
    # the device calibration in the header turns raw counts into the reported force
    cal = s.metadata["calibration"]
    u = c.raw_counts - cal["tare_counts"]
    f = sum(k * u ** i for i, k in enumerate(cal["counts_to_n"]))
    np.testing.assert_allclose(f, c.force_n, rtol=1e-9, atol=1e-9)
    for key in ("sample_rate_hz", "body_mass_kg", "encoder", "shell", "generator", "family", "seed"):
        assert key in s.metadata
    assert s.metadata["generator"] == "trajsim" and s.metadata["sample_rate_hz"] == 80
    s10 = gen("standard", 4, rate_hz=10)
    assert 9.5 < 1.0 / np.median(np.diff(s10.t_s)) < 11.6


def test_dropouts_have_gaps_spurious_codes_and_saturation() -> None:
    for seed in SEEDS:
        s = gen("dropouts", seed, rate_hz=80)
        c, tr = s.chunk, s.truth
        dt = np.diff(c.t_s)
        assert np.all(dt >= 0)
        assert np.count_nonzero(c.flags & FLAG_GAP) >= 1
        assert dt.max() >= 0.5  # a reconnect gap
        big = np.flatnonzero(dt > 3.0 / tr["rate_actual_hz"]) + 1
        assert np.all(c.flags[big] & FLAG_GAP)
        sat = (c.flags & FLAG_SAT) > 0
        assert sat.any()
        assert np.all(np.isin(c.raw_counts[sat], [(1 << 23) - 1, -(1 << 23)]))
        assert tr["adc"]["spurious_samples"] >= 0 and tr["lost_samples"] > 0
    clean = gen("standard", 0, rate_hz=80)
    assert not (clean.chunk.flags & FLAG_SAT).any()


@pytest.mark.parametrize("family", ["standard", "limb", "slow"])
def test_encoder_moves_in_roll_not_in_hold(family: str) -> None:
    s = gen(family, 5, encoder=True)
    a, t = s.chunk.angle_deg, s.chunk.t_s
    for seg in s.labels["segments"]:
        m = (t > seg["start_s"] + 0.3) & (t < seg["end_s"] - 0.3)
        span = np.nanmax(a[m]) - np.nanmin(a[m]) if m.sum() > 2 else 0.0
        if seg["kind"] == "hold":
            assert span < 2.0, seg
        elif seg["kind"] == "roll" and seg["end_s"] - seg["start_s"] > 8.0:
            assert span > 40.0, seg
    assert gen(family, 5, encoder=False).chunk.angle_deg is None


def _stroke_durs(s: trajsim.Session) -> list[float]:
    return [m["end_s"] - m["start_s"] for m in s.truth["strokes"] if m["kind"] == "stroke"]


def test_family_standard_and_fast_strokes() -> None:
    for seed in SEEDS:
        st = gen("standard", seed)
        d = _stroke_durs(st)
        assert d and min(d) >= 1.5 - 1e-9 and max(d) <= 4.0 + 1e-9
        assert all(20.0 <= h["duration_s"] <= 120.0 for h in st.truth["holds"])
        fa = gen("fast", seed)
        d = _stroke_durs(fa)
        assert len(d) >= 10 and min(d) >= 0.6 - 1e-9 and max(d) <= 1.3 + 1e-9
        assert all(10.0 <= h["duration_s"] <= 90.0 for h in fa.truth["holds"])
        travel = [abs(m["to_cm"] - m["from_cm"]) for m in fa.truth["strokes"] if m["kind"] == "stroke"]
        assert min(travel) >= 7.5 - 1e-9 and max(travel) <= 17.5 + 1e-9


def test_family_slow_strokes_and_reversal_pauses() -> None:
    for seed in SEEDS:
        s = gen("slow", seed)
        d = _stroke_durs(s)
        assert d and min(d) >= 4.0 - 1e-9 and max(d) <= 8.0 + 1e-9
        allm = s.truth["strokes"]
        pairs = [(a, b) for a, b in zip(allm, allm[1:]) if a["kind"] == b["kind"] == "stroke"]
        pauses = [b["start_s"] - a["end_s"] for a, b in pairs]
        assert pauses and min(pauses) >= 0.5 - 1e-9 and max(pauses) < 5.0
        # reversal pauses sit inside roll segments
        for a, b in pairs:
            mid = 0.5 * (a["end_s"] + b["start_s"])
            seg = next(g for g in s.labels["segments"] if g["start_s"] <= mid < g["end_s"])
            if b["start_s"] - a["end_s"] < 5.0:
                assert seg["kind"] == "roll"


def test_rolling_is_never_still_for_five_seconds() -> None:
    """A hold is a still stretch of 5 s (contracts): inside rolling, a reversal pause and the slow ends of
    the min-jerk moves either side (speed under 1 mm/s) stay shorter, or the labels would call a hold
    rolling (found with the encoder: 4.5 s pauses after 8 s strokes were still for 5-7 s)."""
    from holdsense.trajsim.behaviour import still_tail_s
    assert still_tail_s(8.0, -10.0) == still_tail_s(8.0, 10.0) == pytest.approx(0.44, abs=0.01)
    assert still_tail_s(10.0, 0.1) == 5.0  # never faster than 1 mm/s: still throughout
    for fam, seeds in (("slow", range(6)), ("mixed", range(3))):
        for seed in seeds:
            s = gen(fam, seed)
            g = s.truth["grid"]
            t, x = g["t_s"], g["position_cm"]
            still = np.abs(np.gradient(x, t)) < 0.1
            roll = np.zeros(len(t), bool)
            for seg in s.labels["segments"]:
                if seg["kind"] == "roll":
                    roll |= (t >= seg["start_s"]) & (t < seg["end_s"])
            d = np.diff(np.concatenate(([0], (roll & still).astype(int), [0])))
            runs_s = (np.flatnonzero(d == -1) - np.flatnonzero(d == 1)) * (t[1] - t[0])
            assert runs_s.max() < 4.6, (fam, seed, runs_s.max())


def test_family_limb_every_hold_has_bouts_with_the_stated_swing() -> None:
    for seed in SEEDS:
        s = gen("limb", seed)
        tr = s.truth
        w = tr["body_weight_n"]
        for k, h in enumerate(tr["holds"]):
            bouts = [b for b in tr["limb_bouts"] if b["hold"] == k]
            assert bouts, f"hold {k} of limb seed {seed} has no limb bout"
            for b in bouts:
                assert 0.1 - 1e-9 <= b["f_hz"] <= 0.5 + 1e-9
                g = tr["grid"]
                m = (g["t_s"] >= b["start_s"]) & (g["t_s"] <= b["end_s"])
                pp = np.ptp(g["limb_n"][m]) / w
                assert 0.03 <= pp <= 0.15 + 1e-9, pp
                assert b["start_s"] >= h["start_s"] and b["end_s"] <= h["end_s"]
            # the roller does not travel during the bouts
            m = (tr["t_true_s"] > h["start_s"] + 0.2) & (tr["t_true_s"] < h["end_s"] - 0.2)
            assert np.ptp(tr["position_cm"][m]) < 0.11
            # the measured force swings with the knee bends
            f = s.chunk.force_n[m]
            assert np.percentile(f, 95) - np.percentile(f, 5) > 0.02 * w


def test_family_reposition_groups() -> None:
    for seed in SEEDS:
        s = gen("reposition", seed)
        segs = s.labels["segments"]
        groups, cur = [], 1
        for a, b, c in zip(segs, segs[1:], segs[2:]):
            if a["kind"] == "hold" and b["kind"] == "roll" and c["kind"] == "hold":
                gap = b["end_s"] - b["start_s"]
                assert 1.0 - 1e-3 <= gap <= 4.0 + 1e-3
                cur += 1
            elif a["kind"] == "hold":
                groups.append(cur)
                cur = 1
        if segs[-2]["kind"] == "hold":
            groups.append(cur)
        assert groups and all(2 <= g <= 4 for g in groups), groups
        tr = s.truth
        for h0, h1 in zip(tr["holds"], tr["holds"][1:]):
            if h1["start_s"] - h0["end_s"] <= 4.0 + 1e-6:
                assert 2.0 - 1e-6 <= abs(h1["spot_cm"] - h0["spot_cm"]) <= 8.0 + 1e-6


def test_family_long_holds() -> None:
    for seed in SEEDS:
        s = gen("long", seed)
        for k, h in enumerate(s.truth["holds"]):
            assert 60.0 <= h["duration_s"] <= 180.0
            shifts = [x for x in s.truth["shifts"] if x["hold"] == k and x["kind"] == "shift"]
            assert 1 <= len(shifts) <= 2
            assert all(0.03 <= abs(x["frac"]) <= 0.10 for x in shifts)
            assert h["creep"]["drift_per_s"] != 0.0


def test_family_mixed_mixes_styles() -> None:
    styles = set()
    for seed in range(6):
        styles |= {x.replace("-rollonly", "") for x in gen("mixed", seed).labels["scenario"]["styles"]}
    assert len(styles) >= 3


def test_loads_follow_the_domain_figures() -> None:
    ratios = []
    for fam in ("standard", "limb"):
        for seed in SEEDS:
            tr = gen(fam, seed).truth
            w = tr["body_weight_n"]
            roll = np.median(tr["load_n"][tr["state"] == 1]) / w
            assert 0.18 <= roll <= 0.50, roll
            light = [h for h in tr["holds"] if not h["heavy"]]
            assert all(0.07 <= h["felt_share"] <= 0.32 for h in light)
            ratios.append(roll / (np.median(tr["load_n"][tr["state"] == 2]) / w))
    assert np.median(ratios) > 1.2  # holds are usually lighter than rolling


def test_bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError, match="unknown trajsim family 'nope'.*standard"):
        trajsim.generate("nope", 1)
    with pytest.raises(ValueError, match="shell 'bumpy'.*ribbed.*smooth"):
        trajsim.generate("standard", 1, shell="bumpy")
    with pytest.raises(ValueError, match="rate_hz"):
        trajsim.generate("standard", 1, rate_hz=40)
    with pytest.raises(ValueError, match="seed"):
        trajsim.generate("standard", -1)


def test_write_round_trip(tmp_path: Path) -> None:
    s = gen("dropouts", 1, encoder=True)
    rec_path, lab_path = s.write(tmp_path / "x.csv")
    rec = read_recording(rec_path, warn=None)
    assert len(rec.samples) == len(s.chunk)
    np.testing.assert_allclose(rec.samples.t_s, s.chunk.t_s, atol=1e-4)
    assert rec.metadata["generator"] == "trajsim" and rec.metadata["family"] == "dropouts"
    assert np.count_nonzero(rec.samples.flags & FLAG_GAP) == np.count_nonzero(s.chunk.flags & FLAG_GAP)
    lab = read_labels(lab_path)
    assert lab["segments"] == validate(s.labels, "x")["segments"] and lab["source"] == "x.csv"


def test_ranges_table_in_docs_in_step() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "## Fifth generator: trajsim" in text
    section = text.split("## Fifth generator: trajsim", 1)[1]
    assert trajsim.ranges_table_md().strip() in section
    assert "Designed without reading the other generators' code or documentation sections." in section

