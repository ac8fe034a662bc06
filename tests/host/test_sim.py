"""The session simulator: determinism, ground truth, what each family claims, sensor models, CLI."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from holdsense.io.recording import read_recording
from holdsense.sim import (ADC_MAX, ADC_MIN, G_M_S2, Body, Encoder, LoadCell, ScenarioError, corpus, family_names,
                           force_from_counts, labels_path_for, load_scenario, simulate)
from rollsignal import FLAG_GAP, FLAG_SAT

FAMILIES = ["fast", "gaps", "limb", "long", "mixed", "reposition", "slow", "standard"]
_CACHE: dict[tuple, object] = {}


def sim(fam: str, seed: int, **kw):
    key = (fam, seed, tuple(sorted(kw.items())))
    if key not in _CACHE:
        _CACHE[key] = simulate(fam, seed, **kw)
    return _CACHE[key]


def segs(res, kind: str) -> list[dict]:
    return [s for s in res.labels["segments"] if s["kind"] == kind]


def reversal_intervals_s(body: Body, seg: dict) -> np.ndarray:
    """Durations of the complete strokes (moving one way, between stops) inside a segment."""
    t = np.arange(seg["start_s"], seg["end_s"], 0.01)
    v = np.diff(body.position_cm(t)) / 0.01
    sign = np.where(np.abs(v) > 0.02, np.sign(v), 0)  # cm/s; 0 = stopped at a reversal
    edges = np.flatnonzero(np.diff(sign) != 0) + 1
    runs = np.split(sign, edges)
    starts = np.concatenate([[0], edges])
    out = [len(r) * 0.01 for r, i in zip(runs, starts) if r[0] != 0 and i > 0 and i + len(r) < len(sign)]
    return np.array(out[1:])  # the first stroke starts from wherever the roller was


def test_families_listed() -> None:
    assert family_names() == FAMILIES


def test_deterministic_by_seed() -> None:
    a, b, c = simulate("mixed", 4), simulate("mixed", 4), simulate("mixed", 5)
    np.testing.assert_array_equal(a.samples.t_s, b.samples.t_s)
    np.testing.assert_array_equal(a.samples.force_n, b.samples.force_n)
    np.testing.assert_array_equal(a.samples.angle_deg, b.samples.angle_deg)
    np.testing.assert_array_equal(a.samples.raw_counts, b.samples.raw_counts)
    assert a.labels == b.labels and a.metadata == b.metadata
    assert a.labels["segments"] != c.labels["segments"]
    # families differ for the same seed (the name is mixed into the seed)
    assert simulate("standard", 4).body.body_mass_kg != simulate("long", 4).body.body_mass_kg


def test_overrides_change_only_what_they_name() -> None:
    base = sim("standard", 2)
    slow_rate = simulate("standard", 2, rate_hz=10, encoder=False, body_mass_kg=100)
    assert slow_rate.samples.angle_deg is None and slow_rate.metadata["encoder"] is False
    assert slow_rate.metadata["sample_rate_hz"] == 10 and slow_rate.metadata["body_mass_kg"] == 100
    rate = len(slow_rate.samples) / slow_rate.samples.t_s[-1]
    assert 9.5 <= rate <= 11.7
    assert [(s["kind"], s["start_s"], s["end_s"]) for s in base.labels["segments"]] == \
           [(s["kind"], s["start_s"], s["end_s"]) for s in slow_rate.labels["segments"]]


@pytest.mark.parametrize("fam", FAMILIES)
@pytest.mark.parametrize("seed", [0, 1])
def test_labels_tile_the_session(fam: str, seed: int) -> None:
    res = sim(fam, seed)
    lab = res.labels
    assert lab["format"] == "holdsense-labels/1" and lab["scenario"]["name"] == fam and lab["scenario"]["seed"] == seed
    sg = lab["segments"]
    assert sg[0]["start_s"] == 0.0 and sg[-1]["end_s"] == pytest.approx(res.duration_s, abs=1e-3)
    for a, b in zip(sg, sg[1:]):
        assert a["end_s"] == b["start_s"] and a["kind"] != b["kind"]
    for s in sg:
        assert s["kind"] in ("off", "roll", "hold") and s["end_s"] > s["start_s"]
        if s["kind"] == "hold":
            assert s["end_s"] - s["start_s"] >= 5.0
    assert sg[0]["kind"] == "off" and sg[-1]["kind"] == "off"
    t = res.samples.t_s
    assert t[0] == 0.0 and np.all(np.diff(t) >= 0) and t[-1] <= res.duration_s
    json.dumps(lab)  # serialisable as is


@pytest.mark.parametrize("fam", FAMILIES)
def test_forces_follow_domain_figures(fam: str) -> None:
    """Rolling at 25-40 % BW, holds at 10-50 % BW, ~0 N off; body mass 45-120 kg."""
    res = sim(fam, 0)
    body = res.body
    assert 45 <= body.body_mass_kg <= 120
    w = body.weight_n
    for s in segs(res, "hold"):
        assert 0.08 <= s["mean_force_n"] / w <= 0.55, s
    for s in segs(res, "roll"):
        if s["end_s"] - s["start_s"] < 8:
            continue  # short re-positioning moves
        t = np.arange(s["start_s"] + 1.5, s["end_s"] - 1.5, 0.05)
        assert 0.2 <= np.mean(body.force_n(t)) / w <= 0.46, s
    for s in segs(res, "off"):
        t = np.arange(s["start_s"] + 1e-3, s["end_s"] - 1e-3, 0.05)  # labels are rounded to 0.1 ms
        assert np.all(body.force_n(t) == 0.0)
    assert np.max(body.force_n(np.arange(0, res.duration_s, 0.02))) < 0.7 * w


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_standard_has_long_short_holds_and_a_step_off(seed: int) -> None:
    res = sim("standard", seed)
    holds = [s["end_s"] - s["start_s"] for s in segs(res, "hold")]
    assert len(holds) >= 3 and max(holds) > 30 and min(holds) < 30
    inner_off = res.labels["segments"][1:-1]
    assert any(s["kind"] == "off" for s in inner_off)
    iv = np.concatenate([reversal_intervals_s(res.body, s) for s in segs(res, "roll")])
    assert 1.2 <= np.median(iv) <= 4.5


# family pace 4-8 s (slow) and 0.6-1.3 s (fast) per direction; per-stroke jitter spreads around it
@pytest.mark.parametrize("fam,lo,hi", [("slow", 3.2, 8.8), ("fast", 0.45, 1.45)])
def test_stroke_periods(fam: str, lo: float, hi: float) -> None:
    for seed in (0, 1):
        res = sim(fam, seed)
        for s in segs(res, "roll"):
            iv = reversal_intervals_s(res.body, s)
            if len(iv) >= 3:
                assert lo <= np.median(iv) <= hi, (seed, s, iv)
                travel = np.ptp(res.body.position_cm(np.arange(s["start_s"], s["end_s"], 0.05)))
                assert 6.0 <= travel <= 30.0


def _hold_stats(res, s: dict) -> tuple[float, float, float]:
    """(relative force std at 0.1-1 Hz band-ish, encoder travel cm, mean force) inside a hold (edges trimmed)."""
    smp = res.samples
    m = (smp.t_s > s["start_s"] + 3) & (smp.t_s < s["end_s"] - 1) & (smp.flags == 0)
    f = smp.force_n[m]
    f = f[np.abs(f - np.median(f)) < 0.6 * np.median(f)]  # drop spurious codes
    # remove slow trend (sinking) with a 10 s moving mean
    k = max(int(10 * 80), 1)
    trend = np.convolve(f, np.ones(k) / k, mode="same") if len(f) > 2 * k else np.full_like(f, np.mean(f))
    resid = (f - trend)[k // 2: len(f) - k // 2] if len(f) > 2 * k else f - trend
    travel = np.ptp(smp.angle_deg[m]) * np.pi / 180 * 7.5 if smp.angle_deg is not None else 0.0
    return float(np.std(resid) / np.mean(f)), float(travel), float(np.mean(f))


def test_limb_movement_modulates_holds_without_travel() -> None:
    limb_rel, plain_rel = [], []
    for seed in (0, 1, 2):
        for s in segs(sim("limb", seed), "hold"):
            rel, travel, _ = _hold_stats(sim("limb", seed), s)
            limb_rel.append(rel)
            assert travel < 1.0, (seed, s)
        for s in segs(sim("long", seed), "hold"):
            rel, travel, _ = _hold_stats(sim("long", seed), s)
            plain_rel.append(rel)
            assert travel < 1.0
    # knee bends shift the load far more than breathing alone
    assert np.median(limb_rel) > 2.0 * np.median(plain_rel)
    assert np.median(limb_rel) > 0.025
    # and the scenario recorded knee-bend frequencies in the 0.1-1 Hz band
    hz = [p["limb_hz"] for p in sim("limb", 0).labels["scenario"]["phases"] if p["kind"] == "hold"]
    assert hz and all(0.1 <= f <= 1.0 for f in hz)


def test_long_holds_and_reposition_moves() -> None:
    for seed in (0, 1):
        holds = segs(sim("long", seed), "hold")
        assert holds and all(s["end_s"] - s["start_s"] >= 120 for s in holds)
        res = sim("reposition", seed)
        sg = res.labels["segments"]
        moves = [b for a, b, c in zip(sg, sg[1:], sg[2:]) if a["kind"] == "hold" and c["kind"] == "hold"]
        assert len(moves) >= 3
        for mv in moves:
            assert 1.0 <= mv["end_s"] - mv["start_s"] <= 4.0 and mv["kind"] == "roll"
            x = res.body.position_cm(np.arange(mv["start_s"], mv["end_s"], 0.02))
            assert np.ptp(x) > 1.0  # it moved
            assert np.min(res.body.force_n(np.arange(mv["start_s"], mv["end_s"], 0.05))) > 0  # loaded


def test_gaps_flagged() -> None:
    res = sim("gaps", 0)
    smp = res.samples
    gap = (smp.flags & FLAG_GAP) > 0
    assert gap.sum() >= 3
    dt = np.diff(smp.t_s)
    med = np.median(dt)
    big = np.flatnonzero(dt > 1.5 * med) + 1
    assert set(big.tolist()) <= set(np.flatnonzero(gap).tolist())  # every hole in time is flagged
    assert np.max(dt) > 0.25  # at least one link gap, not only single dropouts
    assert ((smp.flags & FLAG_SAT) > 0).any()
    sat = (smp.flags & FLAG_SAT) > 0
    assert np.all((smp.raw_counts[sat] == ADC_MAX) | (smp.raw_counts[sat] == ADC_MIN))
    # clean families have neither
    assert not sim("standard", 0).samples.flags.any()


def test_body_matches_simulate_at_arbitrary_times() -> None:
    res = sim("standard", 1)
    smp = res.samples
    body = Body("standard", 1)  # an independent Body, as the virtual device builds it
    truth = body.force_n(smp.t_s)
    err = smp.force_n - truth
    clean = np.abs(err) < 50  # spurious codes aside
    assert clean.mean() > 0.995
    assert np.median(np.abs(err[clean])) < 2.5
    assert np.corrcoef(smp.force_n[clean], truth[clean])[0, 1] > 0.999
    np.testing.assert_allclose(smp.angle_deg, body.angle_deg(smp.t_s) - body.angle_deg(0.0), atol=0.35)
    # any order, any shape, scalars; after the end: stepped off, angle frozen
    t = np.array([[300.0, 12.5], [0.01, 100.0]])
    np.testing.assert_array_equal(body.force_n(t)[0, 1], body.force_n(np.array([12.5]))[0])
    assert body.force_n(body.duration_s + 5).item() == 0.0 and body.force_n(-1.0).item() == 0.0
    assert body.angle_deg(body.duration_s + 100).item() == pytest.approx(body.angle_deg(body.duration_s - 1e-6).item(), abs=1e-6)
    # continuity: no jumps in true force anywhere (phase boundaries included)
    tt = np.arange(0, body.duration_s, 0.002)
    assert np.max(np.abs(np.diff(body.force_n(tt)))) < 0.02 * body.weight_n


def test_loop_repeats_force_and_keeps_angle_continuous() -> None:
    body = Body("fast", 2)
    d = body.duration_s
    t = np.array([3.0, 100.0, d - 0.5])
    np.testing.assert_allclose(body.force_n(t + 2 * d, loop=True), body.force_n(t), atol=1e-9)
    end = body.angle_deg(d - 1e-9)
    np.testing.assert_allclose(body.angle_deg(t + d, loop=True), body.angle_deg(t) + end, atol=1e-6)
    tt = np.arange(d - 5, d + 5, 0.01)
    assert np.max(np.abs(np.diff(body.angle_deg(tt, loop=True)))) < 1.0  # no spin-back at the wrap


def test_extra_load() -> None:
    idle = Body.idle(10.0, load_kg=2.0)
    np.testing.assert_allclose(idle.force_n(np.linspace(0, 20, 11)), 2.0 * G_M_S2)
    body = Body("standard", 0)
    t = np.linspace(0, body.duration_s, 500)
    before = body.force_n(t)
    body.load_kg = 5.0
    np.testing.assert_allclose(body.force_n(t) - before, 5.0 * G_M_S2)


def test_loadcell_round_trip() -> None:
    cell = LoadCell(noise_n=0.5, offset_drift_counts=0.0, seed=3)
    cal = cell.calibration()
    assert cal["tare_counts"] == 84210 and cal["counts_to_n"][1] == pytest.approx(0.0123, rel=0.01)
    f = np.linspace(0.0, 1200.0, 4001)
    c = cell.counts(f, np.zeros_like(f))
    assert c.dtype == np.int64
    back = force_from_counts(c, cal)
    assert np.std(back - f) == pytest.approx(0.5, rel=0.15)  # the noise, nothing more
    assert abs(np.mean(back - f)) < 0.05
    # non-linearity is real and the quadratic calibration removes it
    lin = dict(cal, counts_to_n=[0.0, 1 / 81.3])
    assert abs(np.mean((force_from_counts(c, lin) - f)[-200:])) > 0.3
    # saturation at the 24-bit rails, flagged
    big = cell.counts(np.array([2e5, -2e5]), np.zeros(2))
    assert big.tolist() == [ADC_MAX, ADC_MIN] and LoadCell.saturated(big).all()
    # drift moves the zero slowly (tens to hundreds of counts over minutes), noise-free part
    drifting = LoadCell(offset_drift_counts=300.0, seed=1)
    z = drifting.ideal_counts(np.zeros(3), np.array([0.0, 1.0, 900.0])) - 84210
    assert z[0] == 0.0 and abs(z[1]) < 5 and 20 < abs(z[2]) < 1500
    # spurious codes: low bits all ones
    spiky = LoadCell(spike_rate_hz=8.0, rate_hz=80.0, seed=2)
    s = spiky.counts(np.full(8000, 100.0), np.zeros(8000))
    odd = np.abs(s - np.median(s)) > 200
    assert 0.05 < odd.mean() < 0.15
    assert all((int(v) & 0xFF) == 0xFF for v in s[odd])


def test_encoder_codes_and_unwrap() -> None:
    enc = Encoder(noise_deg=0.03, seed=5)
    t = np.linspace(0, 10, 801)
    angle = 400.0 * np.sin(t) + 30 * t  # several turns both ways
    raw = enc.raw_counts(angle)
    assert raw.min() >= 0 and raw.max() <= 4095 and raw.dtype == np.int64
    back = Encoder.unwrap_deg(raw)
    np.testing.assert_allclose(back, angle - angle[0], atol=0.3)
    still = Encoder(noise_deg=0.0, zero_deg=0.0).raw_counts(np.array([0.0, 0.05, 0.1, 360.0]))
    assert still.tolist() == [0, 1, 1, 0]  # 12-bit quantisation, wraps at a turn


def test_duration_override() -> None:
    short = simulate("standard", 0, duration_s=60)
    assert short.duration_s == pytest.approx(60.0) and short.samples.t_s[-1] <= 60.0
    long = simulate("standard", 0, duration_s=1500)
    assert long.duration_s == pytest.approx(1500.0)
    assert len(segs(long, "hold")) > len(segs(sim("standard", 0), "hold"))


def test_scenario_validation(tmp_path: Path) -> None:
    base = {"phases": [{"kind": "off", "duration_s": 2}, {"kind": "hold", "duration_s": [10, 20]}]}
    load_scenario(base)
    bad = [
        ({"phases": [{"kind": "sit", "duration_s": 2}]}, "phase kind"),
        ({"phases": [{"kind": "hold", "duration_s": [20, 10]}]}, "low > high"),
        ({"phases": [{"kind": "hold", "duration_s": 5, "limb_hz": 9}]}, "limb_hz"),
        ({"phases": [{"kind": "hold", "duration_s": 5, "speed": 1}]}, "unknown field"),
        ({"phases": [{"kind": "hold"}]}, "needs duration_s"),
        ({"rate_hz": 1000, **base}, "rate_hz"),
        ({"sensor": {"noise": 1}, **base}, "sensor"),
        ({"phases": []}, "empty"),
        ({"format": "holdsense-scenario/9", **base}, "format"),
    ]
    for spec, word in bad:
        with pytest.raises(ScenarioError, match=word):
            load_scenario(spec)
    p = tmp_path / "mine.json"
    p.write_text(json.dumps({"name": "mine", **base}))
    res = simulate(str(p), 1)
    assert res.metadata["scenario"] == "mine" and len(segs(res, "hold")) == 1


def test_corpus_covers_rates_and_encoders() -> None:
    items = list(corpus(["fast"], n_per_family=4, seed0=10, duration_s=40))
    names = [n for n, _ in items]
    assert names == ["fast-s10-10hz-enc", "fast-s11-10hz-force", "fast-s12-80hz-enc", "fast-s13-80hz-force"]
    for name, res in items:
        assert (res.samples.angle_deg is not None) == name.endswith("enc")


# --- CLI, as a subprocess ----------------------------------------------------------------

def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def test_cli_writes_recording_and_labels(tmp_path: Path) -> None:
    r = _cli("simulate", "--scenario", "limb", "--seed", "3", "--duration", "90", "--rate", "10",
             "--no-encoder", "--body-mass", "80", "-o", "out.csv.gz", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    rec = read_recording(tmp_path / "out.csv.gz")
    labels = json.loads((tmp_path / "out.labels.json").read_text())
    assert rec.samples.angle_deg is None and rec.body_mass_kg == 80 and rec.metadata["scenario"] == "limb"
    assert rec.metadata["sample_rate_hz"] == 10 and rec.metadata["calibration"]["counts_to_n"][0] == 0.0
    assert labels["segments"][-1]["end_s"] == pytest.approx(90.0)
    same = simulate("limb", 3, duration_s=90, rate_hz=10, encoder=False, body_mass_kg=80)
    np.testing.assert_allclose(rec.samples.force_n, same.samples.force_n, atol=1e-3)
    assert labels["segments"] == same.labels["segments"]

    r = _cli("simulate", "-o", "plain.csv", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "plain.labels.json").exists()
    assert read_recording(tmp_path / "plain.csv").samples.angle_deg is not None
    assert labels_path_for("a/b.csv") == Path("a/b.labels.json")


def test_cli_refuses_an_existing_recording_or_labels_file_without_overwrite(tmp_path: Path) -> None:
    """Like record/report/label: an existing OUT.csv or OUT.labels.json is one line, exit 2, both untouched;
    --overwrite replaces both."""
    rec, lab = tmp_path / "s.csv", tmp_path / "s.labels.json"
    for existing in (rec, lab):
        rec.unlink(missing_ok=True)
        lab.unlink(missing_ok=True)
        existing.write_text("precious\n")
        r = _cli("simulate", "--duration", "5", "-o", "s.csv", cwd=tmp_path)
        assert r.returncode == 2 and r.stderr == f"holdsense: error: {existing.name}: exists already (use --overwrite to replace it)\n"
        assert existing.read_text() == "precious\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == [existing.name], "nothing written beside it"
    r = _cli("simulate", "--generator", "trajsim", "--scenario", "limb", "-o", "s.csv", cwd=tmp_path)
    assert r.returncode == 2 and "s.labels.json: exists already" in r.stderr and lab.read_text() == "precious\n"
    rec.write_text("precious\n")
    r = _cli("simulate", "--duration", "5", "-o", "s.csv", "--overwrite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert len(read_recording(rec).samples) > 0 and json.loads(lab.read_text())["segments"]


BAD_INPUT = [
    (["--scenario", "nope"], "unknown scenario 'nope'"),
    (["--rate", "80"], "needs -o"),
    (["--scenario", "bad.json"], "bad JSON"),
    (["--rate", "500"], "--rate"),
    (["--body-mass", "5"], "--body-mass"),
    (["--duration", "0"], "--duration"),
    (["--seed", "x"], "not a whole number"),
]


@pytest.mark.parametrize("args,word", [BAD_INPUT[0], BAD_INPUT[3]])
def test_cli_bad_input_exit_2(tmp_path: Path, args: list[str], word: str) -> None:
    r = _cli("simulate", *args, "-o", "x.csv", cwd=tmp_path)
    assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.parametrize("args,word", BAD_INPUT)
def test_cli_bad_input_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture,
                                  args: list[str], word: str) -> None:
    """Every bad input through the real CLI entry point (in-process: a subprocess costs seconds here)."""
    from holdsense.cli import main

    (tmp_path / "bad.json").write_text('{"phases": [')
    monkeypatch.chdir(tmp_path)
    try:
        rc = main(["simulate", *args] + ([] if "needs -o" == word else ["-o", "x.csv"]))
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2 and word in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.csv").exists()


def test_cli_list(tmp_path: Path) -> None:
    r = _cli("simulate", "--list", cwd=tmp_path)
    assert r.returncode == 0
    lines = r.stdout.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == FAMILIES and all(len(ln.split()) > 3 for ln in lines)


def test_bundled_recordings_match_the_simulator() -> None:
    """recordings/ holds what bench/make_recordings.py makes today (run `make recordings` after sim changes)."""
    spec = importlib.util.spec_from_file_location(
        "make_recordings", Path(__file__).resolve().parents[2] / "bench" / "make_recordings.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    root = Path(__file__).resolve().parents[2] / "recordings"
    for name, (family, seed, overrides, _) in mod.RECORDINGS.items():
        rec = read_recording(root / f"{name}.csv")
        labels = json.loads((root / f"{name}.labels.json").read_text())
        res = simulate(family, seed, **overrides)
        assert labels["segments"] == res.labels["segments"], name
        assert len(rec.samples) == len(res.samples)
        np.testing.assert_allclose(rec.samples.force_n, res.samples.force_n, atol=1e-3)
        assert (rec.samples.angle_deg is None) == (res.samples.angle_deg is None)
        assert (root / f"{name}.csv").stat().st_size < mod.MAX_BYTES


def test_documented_example_scenario_is_valid() -> None:
    """The example in docs/scenarios.md loads and runs (docs and code stay in step)."""
    import re
    text = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    block = re.search(r"## Scenario file format.*?```json\n(.*?)```", text, re.S).group(1)
    res = simulate(json.loads(block), 2)
    assert res.metadata["scenario"] == "my-session" and len(segs(res, "hold")) >= 2
