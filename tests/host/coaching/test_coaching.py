"""The guided flow driven by synthetic detector event sequences (rollsignal's documented event API),
regions, before/after tests and the cue outputs."""
from __future__ import annotations

import io
import os
import stat
import wave
from pathlib import Path

import numpy as np
import pytest
from rollsignal import SampleChunk

from holdsense.coaching.flow import (REGIONS, SAFETY_LINES, CoachingFlow, CoachSettings, Cue, FlowError, MovementTest,
                                     Phase, compare_tests, find_region, movement_test_from_answers, parse_rom)
from holdsense.coaching.cues import CueOutput, HostSound, RollerCues, TerminalCues, roller_pattern, spoken
from holdsense.errors import UserError


def _guided(region: str = "quads") -> CoachingFlow:
    f = CoachingFlow()
    f.start()
    f.choose_region(region)
    f.record_before(MovementTest(5, 40.0, None, 4))
    f.begin_guide(0.0)
    return f


def _state(t_s: float, state: str, previous: str, start_s: float | None = None) -> dict:
    return {"kind": "state", "t_s": t_s, "state": state, "previous": previous,
            "start_s": t_s if start_s is None else start_s}


def _run(f: CoachingFlow, script: list[tuple[float, dict | None]], t_end: float, step: float = 0.5) -> list[Cue]:
    """Feed events at their times and tick the clock every `step` s (as chunks would), up to t_end."""
    out: list[Cue] = []
    script = sorted(script, key=lambda x: x[0])
    t = 0.0
    i = 0
    while t <= t_end + 1e-9:
        while i < len(script) and script[i][0] <= t + 1e-9:
            if script[i][1] is not None:
                out += f.on_event(script[i][1])
            i += 1
        out += f.on_time(t)
        t = round(t + step, 6)
    return out


def _hold(start_s: float, end_s: float, score: int) -> dict:
    d = end_s - start_s
    return {"start_s": start_s, "end_s": end_s, "duration_s": d, "mean_force_n": 140.0, "score": score,
            "grade": "release window reached" if d >= 30 else "short",
            "feedback": [f"Held {d:.0f} s."]}


def test_safety_comes_first_and_phases_are_enforced() -> None:
    f = CoachingFlow()
    with pytest.raises(FlowError):
        f.choose_region("quads")
    cues = f.start()
    text = " ".join(c.text for c in cues).lower()
    assert [c.text for c in cues] == list(SAFETY_LINES) and 1 <= len(cues) <= 2
    for word in ("practitioner", "joints", "bones", "sharp"):
        assert word in text
    assert f.phase is Phase.REGION
    with pytest.raises(FlowError):
        f.begin_guide(0.0)
    cues = f.choose_region("quad")
    assert f.region.key == "quads" and "heel" in cues[1].text and "kneecap" in cues[0].text
    f.record_before(MovementTest(4))
    cues = f.begin_guide(0.0)
    assert "tight" in cues[0].text and "bend and straighten the knee" in cues[0].text
    with pytest.raises(FlowError):
        f.record_after(MovementTest(2))
    f.end_guide(10.0)
    out = f.record_after(MovementTest(2))
    assert f.phase is Phase.DONE and any("Pain 4 → 2/10" in c.text for c in out)


def test_regions_table() -> None:
    assert {"quads", "hamstrings", "calves", "glutes", "it-band", "upper-back", "lats", "adductors"} <= set(REGIONS)
    for r in REGIONS.values():
        assert r.test_movement and r.related_limb and r.avoid and r.rom_hint
    assert "knee" in REGIONS["quads"].related_limb  # the seed's own example
    assert find_region("IT band").key == "it-band" and find_region("  Upper_Back ").key == "upper-back"
    assert find_region("3").key == list(REGIONS)[2]
    with pytest.raises(UserError, match="quads, hamstrings"):
        find_region("elbow")


def test_hold_milestones_limb_prompt_and_end() -> None:
    f = _guided()
    script = [(2.0, _state(2.0, "roll", "off")),
              # the detector confirms the hold 5 s after its true start at 20 s, and back-dates it
              (25.0, _state(25.0, "hold", "roll", start_s=20.0)),
              (25.0, {"kind": "hold_started", "t_s": 25.0, "start_s": 20.0})]
    script += [(20.0 + d, {"kind": "hold_progress", "t_s": 20.0 + d, "start_s": 20.0, "duration_s": float(d),
                           "mean_force_n": 140.0}) for d in range(6, 150)]
    script += [(170.0, _state(170.0, "roll", "hold", start_s=170.0)),
               (170.5, {"kind": "hold_ended", "t_s": 170.5, "hold": _hold(20.0, 170.0, 93)})]
    cues = _run(f, script, 175.0)
    ms = [c for c in cues if c.kind == "milestone"]
    assert [c.milestone_s for c in ms] == [30, 60, 90, 120]  # each once, in order, 150 s hold: no 180 s cue
    assert [c.t_s for c in ms] == [50.0, 80.0, 110.0, 140.0]  # due at the hold's true start + milestone
    assert "release window reached" in ms[0].text
    limb = [c for c in cues if c.kind == "limb"]
    assert len(limb) == 1 and limb[0].t_s == 60.0 and "bend and straighten the knee" in limb[0].text
    starts = [c for c in cues if c.kind == "start"]
    assert len(starts) == 1 and starts[0].t_s == 25.0
    (ended,) = [c for c in cues if c.kind == "ended"]
    assert "150 s" in ended.text and "score 93" in ended.text and "Held 150 s." in ended.text
    assert not [c for c in cues if c.kind == "nudge"]  # 18 s of rolling before the hold
    assert len(f.stats.holds) == 1


def test_a_too_hard_hold_ends_with_the_pressure_advice_not_the_praise() -> None:
    """The hold-ended cue says the feedback line worth reading, as the live page does: for a long hold held too
    hard the first line is "Held 76 s: past the 30 s release window.", which said nothing about the pressure
    the grade ("too hard") blamed."""
    f = _guided()
    hold = dict(_hold(20.0, 96.0, 68), grade="too hard",
                feedback=["Held 76 s: past the 30 s release window.",
                          "Too hard: you held at 32 % of your body weight and 114 % of your rolling load.",
                          "Stayed on the spot (roller moved 0.3 cm)."])
    cues = f.on_event({"kind": "hold_ended", "t_s": 100.0, "hold": hold})
    (ended,) = [c for c in cues if c.kind == "ended"]
    assert "score 68 (too hard)" in ended.text and "Too hard: you held at 32 %" in ended.text, ended.text
    assert "past the 30 s release window" not in ended.text


@pytest.mark.parametrize("ended_by,why", [("link lost", "the link to the roller was lost"),
                                           ("end", "the session ended")])
def test_a_cut_off_hold_ends_without_blaming_the_client(ended_by: str, why: str) -> None:
    """A hold cut off at 18 s by a lost link or by Ctrl-C is not told to be patient: the cue says what cut it
    off (the scorer's line), or the line that asks for a change, and never "Next time stay 30 s"."""
    from rollsignal.profile import load_profile
    from rollsignal.scoring import Scorer

    from holdsense.plots import hold_kind

    st = {"start_s": 20.0, "end_s": 38.0, "duration_s": 18.0, "mean_force_n": 120.0, "force_cv": 0.02,
          "slow_cv": float("nan"), "travel_cm": 0.2, "spot_cm": 0.0, "rolling_load_n": 230.0, "body_mass_kg": 72.0,
          "ended_by": ended_by}
    hold = Scorer(load_profile()).score_hold(st)
    f = _guided()
    (ended,) = [c for c in f.on_event({"kind": "hold_ended", "t_s": 40.0, "hold": hold}) if c.kind == "ended"]
    assert f"Cut off at 18 s when {why}: its length is not judged." in ended.text, ended.text
    assert "be patient" not in ended.text and "Next time" not in ended.text
    assert hold_kind(hold) == "cut"  # plots and the report: not "too short"
    firm = Scorer(load_profile()).score_hold(dict(st, mean_force_n=200.0))
    (ended,) = [c for c in _guided().on_event({"kind": "hold_ended", "t_s": 40.0, "hold": firm}) if c.kind == "ended"]
    assert "Fairly firm pressure" in ended.text, ended.text  # the line that asks for a change


def test_long_hold_gets_a_cue_each_further_minute() -> None:
    f = _guided()
    script = [(1.0, _state(1.0, "roll", "off")), (10.0, {"kind": "hold_started", "t_s": 10.0, "start_s": 5.0})]
    cues = _run(f, script, 5.0 + 305.0)
    assert [c.milestone_s for c in cues if c.kind == "milestone"] == [30, 60, 90, 120, 180, 240, 300]


def test_nudge_after_long_rolling_not_while_off_and_reset_by_a_hold() -> None:
    f = _guided("calves")
    script = [(0.0, _state(0.0, "roll", "off")),
              (30.0, _state(30.0, "off", "roll")),  # steps off for a minute: not rolling
              (90.0, _state(90.0, "roll", "off"))]
    cues = _run(f, script, 201.0)
    nudges = [c for c in cues if c.kind == "nudge"]
    # 30 s + 15 s = 45 s of rolling at t = 105 s, given 5.5 s later (a hold may be awaiting confirmation)
    assert [c.t_s for c in nudges] == [110.5, 155.5, 200.5]
    assert "don't just roll" in nudges[0].text
    # a hold resets the count
    g = _guided("calves")
    script = [(0.0, _state(0.0, "roll", "off")),
              (35.0, {"kind": "hold_started", "t_s": 35.0, "start_s": 30.0}),
              (70.0, _state(70.0, "roll", "hold")),
              (70.0, {"kind": "hold_ended", "t_s": 70.0, "hold": _hold(30.0, 70.0, 80)})]
    cues = _run(g, script, 115.0)
    assert [c.t_s for c in cues if c.kind == "nudge"] == [] and g.stats.nudges == 0
    cues = _run(g, [], 125.0)
    assert [c.t_s for c in cues if c.kind == "nudge"] == [120.5]


def test_no_nudge_for_a_hold_awaiting_confirmation() -> None:
    f = _guided()
    # rolling from 0; a hold truly starts at 44 s and is confirmed (back-dated) at 49 s (within 5.5 s)
    script = [(0.0, _state(0.0, "roll", "off")), (49.0, {"kind": "hold_started", "t_s": 49.0, "start_s": 44.0})]
    cues = _run(f, script, 60.0)
    assert not [c for c in cues if c.kind == "nudge"]


def test_no_nudge_for_a_force_only_hold_awaiting_confirmation() -> None:
    """Force only the detector confirms a hold later (look-ahead, decoder lag, the approach walked back):
    the guide's lag comes from rollsignal, and with the encoder's 5.5 s this session would be nudged."""
    import rollsignal

    lag_s = rollsignal.confirm_lag_s(False)
    assert lag_s > rollsignal.confirm_lag_s(True) + 5.0
    # rolling from 0; a hold truly starts at 40 s and is confirmed (back-dated) lag_s - 0.5 s later
    script = [(0.0, _state(0.0, "roll", "off")),
              (40.0 + lag_s - 0.5, {"kind": "hold_started", "t_s": 40.0 + lag_s - 0.5, "start_s": 40.0})]
    f = _guided()
    f.settings.confirm_lag_s = lag_s
    assert not [c for c in _run(f, script, 70.0) if c.kind == "nudge"]
    g = _guided()  # the encoder's lag
    assert [c.t_s for c in _run(g, script, 70.0) if c.kind == "nudge"] == [50.5]


def test_joining_mid_hold_gives_one_milestone_not_a_storm() -> None:
    f = _guided()
    cues = f.on_event({"kind": "hold_progress", "t_s": 105.0, "start_s": 10.0, "duration_s": 95.0})
    assert [c.milestone_s for c in cues if c.kind == "milestone"] == [90]
    assert len([c for c in cues if c.kind == "limb"]) == 1
    assert f.on_time(106.0) == []


def test_warning_event_and_custom_settings() -> None:
    f = CoachingFlow(CoachSettings(milestones_s=(10.0,), repeat_after_last_s=0, limb_prompt_s=5.0))
    f.start()
    f.choose_region("glutes")
    f.record_before(MovementTest())
    f.begin_guide(0.0)
    cues = f.on_event({"kind": "warning", "t_s": 3.0, "message": "force far above your rolling load"})
    assert cues[0].kind == "warning" and "far above" in cues[0].text and f.stats.warnings
    cues = f.on_event({"kind": "hold_started", "t_s": 8.0, "start_s": 3.0})  # 5 s in: the limb prompt is due
    cues += f.on_time(30.0)
    assert [c.milestone_s for c in cues if c.kind == "milestone"] == [10.0]
    assert "knee" in [c for c in cues if c.kind == "limb"][0].text  # glutes: let the knee fall open and closed


def test_events_as_objects_work_too() -> None:
    from types import SimpleNamespace as NS

    f = _guided()
    f.on_event(NS(kind="state", t_s=1.0, state="roll", previous="off", start_s=1.0))
    f.on_event(NS(kind="hold_started", t_s=8.0, start_s=3.0))
    cues = f.on_event(NS(kind="hold_progress", t_s=33.5, start_s=3.0, duration_s=30.5, mean_force_n=120.0))
    assert [c.milestone_s for c in cues if c.kind == "milestone"] == [30]


def test_compare_tests_words_and_numbers() -> None:
    ch = compare_tests(MovementTest(6, 40.0, None, 3), MovementTest(3, 55.0, None, 6))
    assert (ch.pain_delta, ch.rom_delta_deg, ch.ease_delta) == (-3, 15.0, 3)
    assert ch.improved == ["reduced pain", "increased ease of motion", "greater range of motion"]
    ch = compare_tests(MovementTest(3, None, "fingers to shins"), MovementTest(4, None, "fingers to ankles"))
    assert ch.pain_delta == 1 and ch.improved == [] and ch.rom_delta_deg is None
    assert any('before "fingers to shins", after "fingers to ankles"' in ln for ln in ch.lines)
    assert "No clear change" in ch.lines[-1]
    assert compare_tests(None, MovementTest(2)).lines == ["No before/after test recorded."]


def test_a_distance_in_cm_is_compared_the_way_its_test_reads() -> None:
    """A range of motion typed in cm (the guided session asks for the unit) was compared as words, so 30 cm ->
    20 cm heel to buttock showed no change ("–" in the report). Which way is more range is the test's: heel to
    buttock shorter, toe to wall longer."""
    from holdsense.coaching.report import _rom_change

    quads, calves = REGIONS["quads"].test_movement, REGIONS["calves"].test_movement
    ch = compare_tests(MovementTest(3, None, "30 cm", 5, quads), MovementTest(3, None, "20 cm", 5, quads))
    assert ch.rom_delta_cm == -10 and ch.rom_delta_deg is None and ch.improved == ["greater range of motion"]
    assert "Range of motion 30 cm → 20 cm (-10 cm: more range)." in ch.lines and _rom_change(ch) == "-10 cm"
    ch = compare_tests(MovementTest(3, None, "8 cm", 5, calves), MovementTest(3, None, "6 cm", 5, calves))
    assert ch.rom_delta_cm == -2 and ch.improved == [] and "(-2 cm: less range)" in ch.lines[-2]
    ch = compare_tests(MovementTest(3, None, "8 cm", 5, calves), MovementTest(3, None, "12.5cm", 5, calves))
    assert ch.rom_delta_cm == 4.5 and ch.improved == ["greater range of motion"]
    # a test of unknown direction: the number, no verdict
    ch = compare_tests(MovementTest(3, None, "8 cm"), MovementTest(3, None, "10 cm"))
    assert ch.rom_delta_cm == 2 and ch.improved == [] and "(+2 cm)." in ch.lines[-2]


def test_answers_parsing() -> None:
    assert parse_rom("35 deg") == (35.0, None) and parse_rom("35°") == (35.0, None) and parse_rom(40) == (40.0, None)
    assert parse_rom("heel 10 cm from buttock") == (None, "heel 10 cm from buttock")
    t = movement_test_from_answers({"pain": "4", "rom": "35 deg", "ease": 6}, "before", "quad stretch")
    assert t == MovementTest(4, 35.0, None, 6, "quad stretch")
    with pytest.raises(UserError, match="before pain: '11'"):
        movement_test_from_answers({"pain": 11}, "before")
    with pytest.raises(UserError, match="whole number"):
        movement_test_from_answers({"ease": 2.5}, "after")
    with pytest.raises(UserError, match="unknown field"):
        movement_test_from_answers({"pian": 3}, "after")
    with pytest.raises(UserError, match="expected an object"):
        movement_test_from_answers([1, 2], "after")
    assert movement_test_from_answers(None, "after").is_empty()


def test_a_plain_number_for_a_distance_measured_test_is_asked_again_with_its_unit() -> None:
    """Quads offer "heel-to-buttock distance in cm, or knee bend in degrees": a plain "40" was stored as 40°, so
    12 -> 8 (cm, closer: better) read as 12° -> 8°, a loss of range, and 40 -> 52 (further: worse) as a gain."""
    from holdsense.commands.session import Asker

    answers = iter(["5", "40", "40 cm", "4"])
    out = io.StringIO()
    t = Asker(ask=lambda prompt: next(answers), out=out).test(REGIONS["quads"], "before")
    assert (t.pain_0_10, t.rom_deg, t.rom_text, t.ease_0_10) == (5, None, "40 cm", 4)
    assert "is 40 degrees or cm?" in out.getvalue()
    answers = iter(["5", "40 deg", "4"])  # with its unit it is taken at once
    t = Asker(ask=lambda prompt: next(answers), out=io.StringIO()).test(REGIONS["quads"], "before")
    assert t.rom_deg == 40.0
    answers = iter(["5", "60", "4"])  # the straight-leg raise is an angle only: a plain number is degrees
    t = Asker(ask=lambda prompt: next(answers), out=io.StringIO()).test(REGIONS["hamstrings"], "before")
    assert t.rom_deg == 60.0


def test_the_range_of_motion_prompt_says_to_type_the_unit_where_a_plain_number_is_refused() -> None:
    """A first-time user typed "30" three times for the quads' heel-to-buttock test and the session ended: the
    prompt itself now shows the answer's form; an angle-only test (hamstrings) keeps the plain prompt."""
    from holdsense.commands.session import Asker

    prompts: list[str] = []
    answers = iter(["5", "30 cm", "4", "5", "60", "4"])

    def ask(prompt: str) -> str:
        prompts.append(prompt)
        return next(answers)

    Asker(ask=ask, out=io.StringIO()).test(REGIONS["quads"], "before")
    Asker(ask=ask, out=io.StringIO()).test(REGIONS["hamstrings"], "before")
    rom = [p for p in prompts if "range of motion" in p]
    assert "e.g. 30 cm or 120 deg" in rom[0], rom
    assert "e.g." not in rom[1], rom


# --- cue outputs ----------------------------------------------------------------------------

def test_roller_patterns_and_speech() -> None:
    assert roller_pattern(Cue("milestone", "30 s: release window reached.", 30.0, 30.0)) == (4, 1)
    assert roller_pattern(Cue("milestone", "60 s", 60.0, 60.0)) == (2, 1)
    assert roller_pattern(Cue("nudge", "x")) == (3, 1) and roller_pattern(Cue("warning", "x")) == (3, 2)
    assert roller_pattern(Cue("info", "x")) is None
    assert spoken(Cue("milestone", "30 s: release window reached. Stay if it still feels tight.")) == \
        "30 seconds: release window reached"


def test_terminal_bell_only_on_a_terminal() -> None:
    buf = io.StringIO()
    TerminalCues(buf)(Cue("milestone", "30 s: release window reached.", 50.0, 30.0))
    assert buf.getvalue() == "[ 0:50] ⏱ 30 s: release window reached.\n"
    buf = io.StringIO()
    t = TerminalCues(buf, bell=True)
    t(Cue("nudge", "hold it", 5.0))
    t(Cue("info", "text only"))
    assert buf.getvalue() == "[ 0:05] → hold it\a\n   text only\n"


def test_cue_output_sends_roller_cues_off_the_calling_thread() -> None:
    import threading

    sent: list[tuple[int, int, str]] = []
    roller = RollerCues(lambda p, r: sent.append((p, r, threading.current_thread().name)))
    failing = RollerCues(lambda p, r: (_ for _ in ()).throw(OSError("link lost")))
    buf = io.StringIO()
    out = CueOutput(TerminalCues(buf), [roller, failing])
    out([Cue("info", "a"), Cue("milestone", "30 s", 30.0, 30.0), Cue("nudge", "n", 40.0)])
    out.close()
    assert [(p, r) for p, r, _ in sent] == [(4, 1), (3, 1)]
    assert all(name == "holdsense-cues" for _, _, name in sent)
    assert failing.failed == 2 and roller.sent == 2
    assert buf.getvalue().count("\n") == 3


def _fake_tool(folder: Path, name: str, log: Path) -> None:
    p = folder / name
    p.write_text(f"#!/bin/sh\necho \"$0 $@\" >> {log}\n")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)


@pytest.mark.skipif(os.name != "posix", reason="shell-script stand-ins for sound players")
def test_host_sound_plays_a_tone_where_a_device_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    bin_dir, snd, log = tmp_path / "bin", tmp_path / "snd", tmp_path / "played.log"
    bin_dir.mkdir()
    snd.mkdir()
    _fake_tool(bin_dir, "aplay", log)
    # no sound device: skipped silently, even with a player installed
    assert HostSound.detect(snd_dir=str(snd), path=str(bin_dir)) is None
    (snd / "pcmC0D0p").write_text("")
    hs = HostSound.detect(snd_dir=str(snd), path=str(bin_dir))
    assert hs is not None and hs.speaker is None
    hs(Cue("milestone", "30 s: release window reached.", 30.0, 30.0))
    hs(Cue("info", "not audible"))
    played = log.read_text().split()
    assert played[0].endswith("aplay") and played[1].endswith("rising.wav") and len(played) == 2
    with wave.open(played[1]) as w:  # a real, short 16-bit tone
        assert w.getframerate() == 22050 and w.getsampwidth() == 2 and 0.3 < w.getnframes() / 22050 < 1.0
    hs.close()
    assert not Path(played[1]).exists()
    # speech preferred where a speaker exists
    _fake_tool(bin_dir, "espeak-ng", log)
    hs = HostSound.detect(snd_dir=str(snd), path=str(bin_dir))
    hs(Cue("nudge", "You have rolled 45 s without holding: don't just roll around. Stop.", 45.0))
    assert "espeak-ng You have rolled 45 s without holding: don't just roll around" in log.read_text()
    # nothing to play with: None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert HostSound.detect(snd_dir=str(snd), path=str(empty)) is None


def _hard_hold_session(rate_hz: float = 80.0) -> SampleChunk:
    """Off 3 s, rolling 30 s at about 230 N, a 40 s hold at 114 % of that, rolling 15 s (with the encoder)."""
    t = np.arange(0.0, 88.0, 1.0 / rate_hz)
    f = np.where(t < 3, 0.0, 230.0 + 20.0 * np.sin(2 * np.pi * 0.5 * t))
    ang = np.where(t < 3, 0.0, 90.0 * (1 - np.cos(np.pi * (t - 3) / 2.0)))  # strokes back and forth
    hold = (t >= 33) & (t < 73)
    f[hold] = 1.14 * 230.0 + np.random.default_rng(1).normal(0, 1.0, hold.sum())
    ang[hold] = ang[np.flatnonzero(hold)[0] - 1]
    after = t >= 73
    ang[after] = ang[np.flatnonzero(hold)[-1]] + 90.0 * (1 - np.cos(np.pi * (t[after] - 73) / 2.0))
    return SampleChunk(t, f, ang, np.zeros(len(t), np.uint8))


def test_a_hold_too_hard_for_a_few_seconds_gets_one_ease_off_cue_in_the_guided_session() -> None:
    """The guidance is light, sustained pressure: a hold at 114 % of the rolling load is too hard by the profile
    (>= 100 %: the live page's TOO HARD, the hold's grade) but below the detector's safety warning (150 %, the
    tier above it), so the guided session said nothing about it until the hold ended. Now it cues once."""
    from holdsense.commands.session import _Ticker
    from holdsense.listeners.live import DetectorListener, PlainView

    ch = _hard_hold_session()
    f = _guided()
    out = CueOutput(None)
    plain = io.StringIO()
    det = DetectorListener(views=[PlainView(plain, status_interval_s=1e9)])
    det.subscribe(lambda ev: out(f.on_event(ev)))
    ticker = _Ticker(f, out, det)
    for c in ch.split([8] * (len(ch) // 8 + 1)):
        if len(c):
            det.on_samples(c)
            ticker.on_samples(c)
    det.stop()
    easy = [c for c in out.given if c.kind == "too_hard"]
    assert len(easy) == 1, [c.text for c in out.given]
    assert easy[0].text.startswith("Ease off: you are pressing as hard as you roll (11"), easy[0].text
    (h,) = f.stats.holds
    assert h["grade"] == "too hard" and easy[0].t_s < h["end_s"]  # while holding, not after
    assert not f.stats.warnings  # 114 %: below the safety tier (1.5 x), as the profile says
    assert roller_pattern(easy[0]) == (3, 1)
    lines = [ln for ln in plain.getvalue().splitlines() if "TOO HARD — Ease off" in ln]
    assert len(lines) == 1  # the plain live view says it once too


def test_the_safety_warning_is_the_tier_above_too_hard() -> None:
    """A profile whose warning would fire on a hold its score does not call too hard is refused."""
    import json

    from rollsignal.profile import ProfileError, _profile_text, check_tiers, load_profile

    p = load_profile()
    assert p.safety["rolling_factor"] >= p.criteria["pressure"]["too_hard_of_rolling"]
    data = json.loads(_profile_text("be-patient"))
    data["safety"]["rolling_factor"] = 0.9
    with pytest.raises(ProfileError, match="tier above too hard"):
        check_tiers("x", data)


def test_the_guided_session_says_ease_off_during_a_too_hard_hold(tmp_path: Path) -> None:
    """`holdsense session --replay` of that recording: the ease-off line comes before the hold's end line."""
    import json
    import subprocess
    import sys

    from holdsense.io.recording import write_recording

    rec = tmp_path / "hard.csv"
    write_recording(rec, _hard_hold_session(), {"region": "quads"})
    ans = tmp_path / "a.json"
    ans.write_text(json.dumps({"before": {"pain": 4}, "after": {"pain": 3}}))
    p = subprocess.run([sys.executable, "-m", "holdsense.cli", "session", "--replay", str(rec), "--speed", "max",
                        "--answers", str(ans), "--sound", "off"], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    ease = [i for i, ln in enumerate(lines) if "! Ease off: you are pressing as hard as you roll" in ln]
    ended = [i for i, ln in enumerate(lines) if "■ Hold ended" in ln]
    assert len(ease) == 1 and len(ended) == 1 and ease[0] < ended[0], p.stdout


def test_the_session_summary_does_not_ask_for_the_tests_the_client_just_did() -> None:
    from holdsense.coaching.history import SessionRecord
    from holdsense.commands.session import format_summary

    ask = "Test the area by moving it before and after: less pain and more ease or range of motion mean the release worked."
    analysis = {"summary": {"duration_s": 100.0, "hold_s": 40.0, "roll_s": 50.0, "off_s": 10.0, "holds": 1,
                            "holds_over_30s": 1, "session_score": 80, "advice": ["Roll less.", ask]},
                "holds": [_hold(10.0, 50.0, 80)]}
    before, after = MovementTest(5, 40.0, None, 4), MovementTest(3, 52.0, None, 7)
    for b, a, asked in ((before, after, False), (before, None, True), (None, None, True)):
        f = _guided()
        rec = SessionRecord(started_utc="2026-11-24T10:00:00Z", region="quads", analysis=analysis,
                            recording_path="/x.csv", recording_sha256="0", before=b, after=a, source="session")
        text = format_summary(rec, 1, Path("/h.sqlite3"), f, "end")
        assert "Roll less." in text and ("Test the area" in text) == asked, text


def test_the_guided_session_says_at_once_when_the_link_to_the_roller_is_lost_and_back() -> None:
    """A physiotherapist's audit: with the roller unplugged mid-session the guide just fell silent (a stderr
    warning came about 12 s later). The guide now says it at once, audibly, once per outage, and says when
    the link is back."""
    from holdsense.commands.session import _Ticker

    f = _guided()
    out = CueOutput(None)
    ticker = _Ticker(f, out)
    ticker.on_status({"link": "ok"})
    ticker.on_status({"link": "reconnecting", "link_error": "port gone"})
    ticker.on_status({"link": "reconnecting", "warning": "still trying"})
    ticker.on_status({"battery_pct": 50})
    ticker.on_status({"link": "ok"})
    ticker.on_status({"link": "ok"})
    said = [(c.kind, c.text) for c in out.given]
    assert len(said) == 2, said
    assert said[0][0] == "warning" and said[0][1].startswith("Link to the roller lost: stay where you are")
    assert roller_pattern(out.given[0]) is not None  # audible: a host sound when the roller cannot beep
    assert said[1][0] == "info" and said[1][1] == "Link to the roller back: the guide goes on."
