"""The terminal view for the floor: big block letters for the state and the hold timer, a fixed force
scale from body weight, the heavy-pressure warning as a full-width red line, an explicit LINK LOST,
forces in the profile's units; and it still fits an 80-column terminal."""
from __future__ import annotations

import io

import numpy as np
from rich.console import Console

from holdsense.listeners.bigtext import big_lines, big_width
from holdsense.listeners.live import LINK_STALE_S, LiveState, _force_bar, force_scale_n, render


def screen(state: LiveState, width: int = 100, **kw) -> tuple[str, str]:
    con = Console(file=io.StringIO(), width=width, record=True, color_system="truecolor")
    con.print(render(state, width, **kw))
    return con.export_text(clear=False), con.export_html(inline_styles=True)


def holding(mass: float | None = 70.0, force_n: float = 120.0) -> LiveState:
    st = LiveState(body_mass_kg=mass)
    if mass:
        st.light_band_n = (0.10 * mass * 9.80665, 0.25 * mass * 9.80665)
    st.state, st.state_start_s, st.hold_start_s, st.t_s = "hold", 10.0, 10.0, 52.0
    st.force_n, st.hold_mean_force_n, st.first_t_s = force_n, force_n, 0.0
    return st


def test_big_letters() -> None:
    lines = big_lines("0:42")
    assert len(lines) == 5 and len({len(x) for x in lines}) == 1 and len(lines[0]) == big_width("0:42")
    assert all(set(x) <= {"█", " "} for x in lines)
    assert big_lines("HOLDING") != big_lines("ROLLING")


def test_state_and_timer_in_big_letters() -> None:
    txt, _ = screen(holding())
    top = txt.splitlines()[:5]
    for want, got in zip(big_lines("HOLDING"), top):
        assert got.startswith(want)
    for want, got in zip(big_lines("0:42"), top):  # 42 s into the hold
        assert got.rstrip().endswith(want.rstrip())


def test_force_scale_is_fixed_by_body_weight() -> None:
    a, b = holding(force_n=50.0), holding(force_n=300.0)
    b.history.extend((t, 300.0) for t in np.arange(0, 10, 0.05))  # a heavy peak in the trace
    assert force_scale_n(a) == force_scale_n(b) == 0.5 * 70 * 9.80665
    _, full = _force_bar(b, 60)
    assert full == force_scale_n(b)
    assert force_scale_n(LiveState()) == force_scale_n(holding(mass=None))  # fixed without a mass too


def test_too_hard_is_a_full_width_red_line() -> None:
    st = holding(force_n=0.40 * 70 * 9.80665)  # above 33 % of body weight
    txt, html = screen(st, 100)
    assert txt.splitlines()[0].startswith(big_lines("TOO HARD")[0])
    line = next(ln for ln in txt.splitlines() if ln.lstrip().startswith("TOO HARD: ease off"))
    assert len(line) == 100  # padded across the whole width
    assert "background-color: #800000" in html  # rich's standard red behind the line


def test_link_lost_is_explicit_and_freezes_the_timer() -> None:
    st = holding()
    st.watch_stale, st.last_samples_wall = True, 1000.0
    txt, _ = screen(st, now=1000.0 + LINK_STALE_S + 2.0)
    assert txt.splitlines()[0].startswith(big_lines("LINK LOST")[0])
    assert "LINK LOST 0:02: no data from the roller" in txt
    assert "counts as lost, not as off" in txt


def test_units_and_80_columns() -> None:
    st = holding()
    txt, _ = screen(st, 80, units="kg")
    assert all(len(ln) <= 80 for ln in txt.splitlines())
    assert f"{120 / 9.80665:6.1f} kg" in txt and "light-pressure band 7.0–17.5 kg" in txt
    assert "17 % body weight" in txt
    txt_lb, _ = screen(st, 80, units="lb")
    assert f"{120 / 4.4482216:6.1f} lb" in txt_lb
    st.watch_stale, st.last_samples_wall = True, 0.0
    narrow, _ = screen(st, 60, now=100.0)  # LINK LOST and the clock do not fit side by side: stacked
    assert all(len(ln) <= 60 for ln in narrow.splitlines())
    assert narrow.splitlines()[5].startswith(big_lines("0:42")[0].rstrip()[:3])


def test_body_mass_is_shown_in_the_profiles_units() -> None:
    """A profile in lb (mass typed as 165lb, stored as 74.843 kg) showed '74.843 kg' under forces in lb."""
    txt, _ = screen(holding(mass=74.843), units="lb")
    assert "165 lb (74.8 kg)" in txt and "74.843" not in txt
    txt, _ = screen(holding(mass=74.843), units="kg")
    assert "74.8 kg" in txt and "74.843" not in txt


def test_no_color_and_60_columns_say_the_zone_in_words(monkeypatch) -> None:
    """NO_COLOR (no-color.org): the terminal view writes no colour escapes, and what colour said is in words:
    the force's zone while holding ("in the light band", "above the light band", "too hard"); and it fits a
    60-column terminal."""
    import re

    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    # as make_view's RichView console (Console(file=stream)), forced to be a terminal: NO_COLOR must still win
    console = Console(file=out, force_terminal=True, width=60)
    mass_w = 70 * 9.80665
    for force_n, words in ((0.17 * mass_w, "17 % body weight · in the light band"),
                           (0.29 * mass_w, "29 % body weight · above the light band"),
                           (0.40 * mass_w, "40 % body weight · too hard")):
        out.seek(0), out.truncate()
        console.print(render(holding(force_n=force_n), 60, units="kg"))
        raw = out.getvalue()
        assert "\x1b[" in raw  # a terminal: bold and the like stay
        colours = re.findall(r"\x1b\[[0-9;]*m", raw)
        assert not [c for c in colours if re.search(r"(^|;)(3[0-9]|4[0-9]|9[0-7]|10[0-7])(;|m)", c[2:])], colours
        text = re.sub(r"\x1b\[[0-9;]*m", "", raw)
        assert words in text, text
        assert all(len(ln) <= 60 for ln in text.splitlines())
    # rolling: 25-40 % of body weight is normal, no verdict on it
    st = holding(force_n=0.29 * mass_w)
    st.state, st.hold_start_s, st.hold_mean_force_n = "roll", None, None
    txt, _ = screen(st, 60)
    assert "29 % body weight" in txt and "above the light band" not in txt


def test_end_line_colours_the_session_score_by_its_band_not_by_rich() -> None:
    """The rich view's end line: rich's automatic highlighting coloured every number, the session score 84 cyan,
    where every other output colours a session score by its band (green from 75: holdsense.verdict)."""
    from holdsense.listeners.live import RichView

    out = io.StringIO()
    view = RichView(console=Console(file=out, force_terminal=True, color_system="standard", width=200))
    st = holding()
    st.result = {"summary": {"session_score": 84}}
    view.close(st)
    raw = out.getvalue()
    assert "session score 84" in raw.replace("\x1b[0m", "")
    assert "\x1b[36m" not in raw and "\x1b[1;36m" not in raw, repr(raw)  # no cyan
    assert "\x1b[1;32msession score 84" in raw, repr(raw)  # bold green, as TONE_STYLES["good"]
