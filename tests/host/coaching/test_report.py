"""Session report: the HTML is parsed and checked by content; the PDF is one real A4 page."""
from __future__ import annotations

import base64
import io
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from holdsense.coaching.flow import MovementTest
from holdsense.errors import UserError
from holdsense.coaching.report import ReportInput, mmss, render_html, write_report
from rollsignal import SampleChunk

SEGMENTS = [("off", 0, 5), ("roll", 5, 40), ("hold", 40, 95), ("roll", 95, 120), ("hold", 120, 132),
            ("roll", 132, 150), ("hold", 150, 260), ("off", 260, 275), ("roll", 275, 300), ("hold", 300, 400),
            ("off", 400, 420)]
SCORES = [63, 37, 95, 90]


def _session(n_holds_extra: int = 0) -> tuple[SampleChunk, dict]:
    """A 7-minute trace shaped like contracts.md §3's example, with its analysis object."""
    rng = np.random.default_rng(3)
    t = np.arange(0, 420, 1 / 80)
    f = np.zeros_like(t)
    for kind, a, b in SEGMENTS:
        m = (t >= a) & (t < b)
        if kind == "roll":
            f[m] = 230 + 70 * np.sin(2 * np.pi * (t[m] - a) / 3.0)
        elif kind == "hold":
            f[m] = 140 * (1 + 0.03 * np.sin(2 * np.pi * 0.25 * t[m]))
    f += rng.normal(0, 2, len(t))
    holds = []
    for (kind, a, b) in [s for s in SEGMENTS if s[0] == "hold"]:
        d = b - a
        holds.append({"start_s": float(a), "end_s": float(b), "duration_s": float(d), "mean_force_n": 140.0,
                      "force_cv": 0.04, "travel_cm": None, "spot_cm": None, "score": SCORES[len(holds)],
                      "grade": "release window reached" if d >= 30 else "too short",
                      "feedback": [f"Held {d} s.", "Light pressure: good."]})
    for k in range(n_holds_extra):
        holds.append(dict(holds[0], start_s=400.0 + k, end_s=401.0 + k, score=50 + k,
                          feedback=[f"extra {k} first", f"extra {k} second"]))
    analysis = {"format": "holdsense-analysis/1", "source": "/some/where/demo.csv",
                "segments": [{"kind": k, "start_s": float(a), "end_s": float(b)} for k, a, b in SEGMENTS],
                "holds": holds,
                "summary": {"duration_s": 420.0, "hold_s": 277.0, "roll_s": 98.0, "off_s": 45.0,
                            "holds": len(holds), "holds_over_30s": 3, "session_score": 78,
                            "advice": ["Hold 2 was short: stay 30 s or more on each spot."]},
                "quality": {"sample_rate_hz": 80.0, "gaps": 1, "saturated_samples": 0,
                            "warnings": ["link gap of 0.4 s at 3:10"]}}
    return SampleChunk(t, f), analysis


class _Page(HTMLParser):
    """Collects what the tests look at: text per element class/id, table rows, images."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.hold_rows: list[list[str]] = []
        self.test_rows: dict[str, list[str]] = {}
        self.totals: dict[str, str] = {}
        self.images: list[str] = []
        self.external: list[str] = []
        self.sections: dict[str, str] = {}
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._total: str | None = None
        self._total_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.stack.append((tag, a))
        if tag == "img":
            self.images.append(a.get("src", ""))
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.external.append(a.get("href") or a.get("src"))
        if tag == "tr" and (a.get("class") == "hold" or "data-test" in a):
            self._row = []
        if tag == "td" and self._row is not None:
            self._cell = []
        if tag == "div" and "data-key" in a:
            self._total, self._total_text = a["data-key"], []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tr" and self._row is not None:
            attrs = next((a for t, a in reversed(self.stack) if t == "tr"), {})
            if "data-test" in attrs:
                self.test_rows[attrs["data-test"]] = self._row
            else:
                self.hold_rows.append(self._row)
            self._row = None
        while self.stack:
            t, a = self.stack.pop()
            if t == "div" and "data-key" in a and self._total == a["data-key"]:
                self.totals[self._total] = " ".join(self._total_text)
                self._total = None
            if t == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._total is not None and data.strip():
            self._total_text.append(data.strip())
        for t, a in self.stack:
            if t == "section" and a.get("id"):
                self.sections[a["id"]] = self.sections.get(a["id"], "") + data


def _parse(html_text: str) -> _Page:
    p = _Page()
    p.feed(html_text)
    p.close()
    return p


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _input(**kw) -> ReportInput:
    samples, analysis = _session()
    base = dict(analysis=analysis, samples=samples,
                metadata={"started_utc": "2026-11-24T10:00:00Z", "body_mass_kg": 72, "region": "quads"},
                before=MovementTest(5, 40.0, None, 4, "standing quad stretch"),
                after=MovementTest(3, 52.0, None, 7, "standing quad stretch"))
    base.update(kw)
    return ReportInput(**base)


def test_html_lists_each_hold_with_score_and_feedback() -> None:
    page = _parse(render_html(_input()))
    assert len(page.hold_rows) == 4
    for i, (row, score) in enumerate(zip(page.hold_rows, SCORES), 1):
        assert row[0] == str(i)
        assert row[4] == str(score)  # columns: #, start, held, force, score, grade + feedback (no spot: no encoder)
        assert row[1] == mmss([s for s in SEGMENTS if s[0] == "hold"][i - 1][1])
        assert "Light pressure: good." in row[5]
    assert page.hold_rows[1][2] == "12 s" and page.hold_rows[1][5].startswith("too short") and "Held 12 s." in page.hold_rows[1][5]
    assert page.hold_rows[0][3] == "140 N (20 % BW)"  # 140 N / (72 kg * 9.81)


def test_body_mass_in_the_header_follows_the_units() -> None:
    """A mass typed in lb is stored as 74.843 kg: the header said 'body mass 74.843 kg' above forces in lb."""
    md = {"started_utc": "2026-11-24T10:00:00Z", "body_mass_kg": 74.843, "region": "quads"}
    html_lb = render_html(_input(metadata=md, units="lb"))
    assert "body mass 165 lb (74.8 kg)" in html_lb and "74.843" not in html_lb
    assert "body mass 72 kg" in render_html(_input(units="kg"))


def test_html_totals_and_before_after() -> None:
    page = _parse(render_html(_input()))
    # each total reads "<label> <value> <note>"
    assert page.totals["Session score"] == "Session score 78 of 100"
    assert page.totals["Duration"] == "Duration 7:00 whole recording"
    assert page.totals["Holding"] == "Holding 4:37 66 % of session"
    assert page.totals["Rolling"] == "Rolling 1:38 23 % of session"
    assert page.totals["Holds"].startswith("Holds 4 ") and page.totals["Holds ≥ 30 s"].startswith("Holds ≥ 30 s 3 ")
    assert page.totals["Longest hold"] == "Longest hold 1:50 min:s"
    assert page.test_rows["Pain (0–10)"] == ["Pain (0–10)", "5", "3", "-2"]
    assert page.test_rows["Range of motion"] == ["Range of motion", "40°", "52°", "+12°"]
    assert page.test_rows["Ease (0–10)"] == ["Ease (0–10)", "4", "7", "+3"]
    ba = page.sections["before-after"]
    assert "reduced pain" in ba and "greater range of motion" in ba and "standing quad stretch" in ba
    assert "Hold 2 was short" in page.sections["advice"]
    assert "quadriceps" in render_html(_input())
    # a measure not given before nor after is left out rather than shown as dashes
    page = _parse(render_html(_input(before=MovementTest(5), after=MovementTest(3))))
    assert list(page.test_rows) == ["Pain (0–10)"]


def test_html_is_self_contained_with_a_real_plot() -> None:
    page = _parse(render_html(_input()))
    assert page.external == []
    (src,) = page.images
    assert src.startswith("data:image/png;base64,")
    png = base64.b64decode(src.split(",", 1)[1])
    w, h = _png_size(png)
    assert w >= 1200 and 300 <= h < w
    # the plot is drawn, not blank: the image has the force line's dark blue and the hold shading's green
    import matplotlib.image as mpimg
    img = mpimg.imread(io.BytesIO(png), format="png")[..., :3]
    dark = (img[..., 2] > img[..., 0] + 0.1) & (img.sum(axis=2) < 1.0)
    greenish = (img[..., 1] > img[..., 0] + 0.04) & (img[..., 1] > img[..., 2])
    assert dark.mean() > 0.005 and greenish.mean() > 0.05


def test_html_without_tests_or_samples_still_reads() -> None:
    page_html = render_html(_input(before=None, after=None, samples=None))
    page = _parse(page_html)
    assert "No before/after test recorded" in page.sections["before-after"]
    assert page.test_rows == {}
    assert len(page.hold_rows) == 4 and page.images  # segments still drawn
    assert "trace not available" not in page.sections.get("holds", "")


def test_html_escapes_and_keeps_one_page_with_many_holds() -> None:
    samples, analysis = _session(n_holds_extra=12)
    analysis["holds"][0]["feedback"] = ["<script>alert(1)</script> & more"]
    page_html = render_html(ReportInput(analysis=analysis, samples=samples))
    assert "<script>alert" not in page_html and "&lt;script&gt;" in page_html
    page = _parse(page_html)
    assert len(page.hold_rows) == 16
    # many holds: only the first feedback line each, to stay on one page
    assert "extra 3 first" in page.hold_rows[7][-1] and "extra 3 second" not in page_html


def test_layout_tightens_with_content() -> None:
    light = render_html(_input())
    assert "<body>" in light  # 4 holds with short feedback: the roomy layout
    samples, analysis = _session()
    for h in analysis["holds"]:
        h["feedback"] = ["A long line of feedback that a person reads and acts on, about pressure and time. " * 2] * 5
    crowded = render_html(ReportInput(analysis=analysis, samples=samples))
    assert '<body class="dense">' in crowded
    page = _parse(crowded)  # past ~44 printed lines: the first two feedback lines per hold and a pointer
    assert all(r[-1].count("A long line") == 2 * 2 and "(+3 more: holdsense analyze)" in r[-1] for r in page.hold_rows)


def test_no_holds_message() -> None:
    samples, analysis = _session()
    analysis["holds"] = []
    page = _parse(render_html(ReportInput(analysis=analysis, samples=samples)))
    assert page.hold_rows == [] and "No holds in this session" in page.sections["holds"]


def _pdf_pages(data: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page\b", data))


def test_pdf_is_a4_and_lists_every_hold_on_as_many_pages_as_needed(tmp_path: Path) -> None:
    out = tmp_path / "r.pdf"
    assert write_report(_input(), out) == "pdf"
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and _pdf_pages(data) == 1
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box and abs(float(box.group(1)) - 595.4) < 1.5 and abs(float(box.group(2)) - 841.7) < 1.5
    assert len(data) > 20_000  # the trace and the text are in it
    # many holds: more pages, and every hold with all its feedback is on one of them
    samples, analysis = _session(n_holds_extra=30)
    write_report(ReportInput(analysis=analysis, samples=samples), out)
    assert _pdf_pages(out.read_bytes()) >= 2
    text = _pdftotext(out)
    assert "more hold" not in text and "… and" not in text
    for k in range(30):
        assert f"extra {k} first" in text and f"extra {k} second" in text
    assert "page 1 of " in text and "Holds (continued, from #" in text


def test_pdf_has_no_literal_backticks(tmp_path: Path) -> None:
    """The HTML renders `holdsense session` as code; the PDF must not print the backticks."""
    out = tmp_path / "r.pdf"
    write_report(_input(before=None, after=None), out)
    text = _pdftotext(out)
    assert "No before/after test recorded" in text and "holdsense session" in text
    assert "`" not in text


def _pdftotext(path: Path, *args: str) -> str:
    import shutil
    import subprocess

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext not found: install poppler-utils (Debian) to check the PDF's text")
    return subprocess.run(["pdftotext", *args, str(path), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout


def _words(path: Path) -> list[tuple[float, float, list[tuple[float, float, float, float, str]]]]:
    """Per page: width, height (pt) and every word's box (pdftotext -bbox)."""
    out = _pdftotext(path, "-bbox")
    pages = []
    for pg in re.finditer(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', out, re.S):
        words = [(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', pg.group(3))]
        pages.append((float(pg.group(1)), float(pg.group(2)), words))
    return pages


def _crowded() -> ReportInput:
    """Long feedback on every hold, many holds, a long advice list and a before/after test."""
    samples, analysis = _session(n_holds_extra=14)
    for h in analysis["holds"]:
        h["feedback"] = ["A long line of feedback that a person reads and acts on, about pressure, time and where "
                         "the roller was. " * 2] * 3
    analysis["summary"]["advice"] = [f"Advice number {k}: " + "hold longer and lighter on the spots you find. " * 3
                                     for k in range(8)]
    return _input(analysis=analysis, samples=samples, client="Alex Example-Longname")


def _every_verdict() -> ReportInput:
    """A fairly firm, a too-short, a too-hard hold and one cut off by the recording's end (the trace's legend
    takes three rows, and the last hold's label sits at the trace's right edge)."""
    samples, analysis = _session()
    for h, kw in zip(analysis["holds"], [dict(pressure="fairly firm", score=90),
                                         dict(grade="too short for a release", score=67),
                                         dict(grade="too hard: ease off", score=50),
                                         dict(grade="cut off: length not judged", score=100, start_s=400.0,
                                              end_s=420.0, duration_s=20.0, ended_by="end")]):
        h.update(kw)
    analysis["segments"][-1] = {"kind": "hold", "start_s": 400.0, "end_s": 420.0}
    return _input(analysis=analysis, samples=samples)


@pytest.mark.parametrize("case", ["light", "crowded", "verdicts"])
def test_pdf_text_never_overlaps_and_stays_on_the_page(tmp_path: Path, case: str) -> None:
    """Every word's box (pdftotext -bbox) is clear of every other word's and inside the margins; the
    pages rendered to PNG (pdftoppm) have no ink past the right margin."""
    import shutil
    import subprocess

    out = tmp_path / "r.pdf"
    write_report({"light": lambda: _input(client="Alex Example"), "crowded": _crowded,
                  "verdicts": _every_verdict}[case](), out)
    pages = _words(out)
    assert pages and (case != "crowded") == (len(pages) == 1)
    for W, H, words in pages:
        assert len(words) > 40
        for i, a in enumerate(words):
            assert a[0] >= 0.5 * 72 - 1 and a[2] <= W - 0.5 * 72 + 1 and a[3] <= H - 0.5 * 72 + 1, a
            for b in words[i + 1:]:
                ix = min(a[2], b[2]) - max(a[0], b[0])
                iy = min(a[3], b[3]) - max(a[1], b[1])
                assert not (ix > 0.5 and iy > 0.5), (a, b)
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not found: install poppler-utils (Debian) to render the PDF")
    subprocess.run(["pdftoppm", "-r", "72", "-png", str(out), str(tmp_path / "page")], check=True, timeout=120)
    import matplotlib.image as mpimg

    pngs = sorted(tmp_path.glob("page-*.png"))
    assert len(pngs) == len(pages)
    for png in pngs:
        img = mpimg.imread(png)[..., :3]
        ink = img.sum(axis=2) < 2.4  # anything clearly darker than the white page
        w = img.shape[1]
        assert ink[:, : int(w * 0.9)].mean() > 0.01  # text is there
        assert not ink[:, int(w - 0.45 * 72):].any()  # and nothing runs into the right margin
        # the footer (guidance, safety, page n of N) stands alone: a blank band above it
        rows = np.flatnonzero(ink.any(axis=1))
        foot_top = rows[rows > img.shape[0] - 1.4 * 72].min()
        assert not ink[foot_top - 8:foot_top - 1].any()


def test_local_time_with_zone_and_client_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from holdsense.coaching.report import local_time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert local_time("2026-11-24T10:00:00Z") == "2026-11-24 11:00 CET (UTC+01:00)"
        assert local_time("2026-07-01T10:00:00Z") == "2026-07-01 12:00 CEST (UTC+02:00)"
        assert local_time("not a time") == "not a time"
        page_html = render_html(_input(client="Alex <Example>"))
        assert "2026-11-24 11:00 CET (UTC+01:00)" in page_html and "2026-11-24T10:00:00Z" not in page_html
        assert 'Client <b class="client">Alex &lt;Example&gt;</b>' in page_html
        out = tmp_path / "r.pdf"
        write_report(_input(client="Alex Example"), out)
        text = _pdftotext(out)
        assert "started 2026-11-24 11:00 CET (UTC+01:00)" in text and "Client: Alex Example" in text
        assert "T10:00:00Z" not in text
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_unknown_suffix_and_unwritable(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="use .html or .pdf"):
        write_report(_input(), tmp_path / "r.docx")
    with pytest.raises(UserError, match="cannot write"):
        write_report(_input(), tmp_path / "no" / "such" / "dir" / "r.html")


def test_report_cli_client_from_option_or_recording(tmp_path: Path) -> None:
    """`--client` names the client; without it the recording's `client` header does, and a recording that names
    nobody gets no name: never the current profile's, which may be someone else's (private config dir:
    tests/conftest.py). The profile's units still apply. An existing OUT is refused without --overwrite."""
    import subprocess
    import sys

    demo = Path(__file__).resolve().parents[3] / "recordings" / "demo-standard.csv"

    def hs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "holdsense.cli", *args], capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)

    assert hs("profile", "--name", "Alex Example", "--units", "kg").returncode == 0
    out = tmp_path / "r.html"
    p = hs("report", str(demo), "-o", str(out), "--db", str(tmp_path / "none.sqlite3"))
    assert p.returncode == 0, p.stderr
    page = out.read_text(encoding="utf-8")
    assert 'class="client"' not in page and "Alex Example" not in page  # the demo recording names nobody
    assert re.search(r"<td class=\"num\">\d+\.\d kg \(\d+ % BW\)</td>", page)  # the profile's units
    named = tmp_path / "alex.csv"  # the same recording, made by Alex: its header says so
    named.write_text(demo.read_text(encoding="utf-8").replace("# region:", "# client: Alex Example\n# region:", 1),
                     encoding="utf-8")
    p = hs("report", str(named), "-o", str(tmp_path / "alex.html"), "--db", str(tmp_path / "none.sqlite3"))
    assert p.returncode == 0, p.stderr
    assert 'Client <b class="client">Alex Example</b>' in (tmp_path / "alex.html").read_text(encoding="utf-8")
    assert hs("profile", "--client", "Sam").returncode == 0  # (an unknown --client is refused, as by analyze)
    p = hs("report", str(demo), "-o", str(out), "--client", "Sam", "--db", str(tmp_path / "none.sqlite3"))
    assert p.returncode == 2 and "--overwrite" in p.stderr
    p = hs("report", str(demo), "-o", str(out), "--client", "Sam", "--overwrite", "--db", str(tmp_path / "none.sqlite3"))
    assert p.returncode == 0 and 'Client <b class="client">Sam</b>' in out.read_text(encoding="utf-8")


def test_trace_text_is_readable_and_the_legend_fits() -> None:
    """Legend and '#n score' labels at 8 pt or more (readable on A4), the legend inside the figure's width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from holdsense.coaching.report import draw_trace

    fig, ax = plt.subplots(figsize=(7.1, 2.2), layout="constrained")
    try:
        fig.canvas.draw()
        draw_trace(ax, _input(), compact=True)
        fig.canvas.draw()
        leg = ax.get_legend()
        assert leg is not None and min(t.get_fontsize() for t in leg.get_texts()) >= 8
        labels = [t for t in ax.texts if t.get_gid() == "hold-label"]
        assert labels and min(t.get_fontsize() for t in labels) >= 8
        assert leg.get_window_extent().x1 <= fig.bbox.width + 0.5
    finally:
        plt.close(fig)


def test_trace_scale_ignores_impossible_values() -> None:
    """A saturated reading through the calibration (about -1.1e5 N, as in a `gaps` session) is left out of the
    trace as the analysis and `analyze --plot` leave it out: it used to set the scale to -100 000 N, and the
    session itself was a flat line at the top of the plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from holdsense.coaching.report import draw_trace

    samples, analysis = _session()
    f = samples.force_n.copy()
    f[20000:20006] = 97276.887  # within the limit: drawn clipped at the top edge
    # beyond the limit; then a saturated code below zero within it (the virtual roller's calibration puts the
    # rail near -3 800 N), drawn clipped at the bottom edge as a spike at the top is
    for low in (-109488.535, -3800.0):
        f[16000:16007] = low
        fig, ax = plt.subplots(figsize=(7.1, 2.2), layout="constrained")
        try:
            fig.canvas.draw()
            draw_trace(ax, _input(samples=SampleChunk(samples.t_s, f), analysis=analysis), compact=True)
            lo, hi = ax.get_ylim()
            assert -20 < lo <= 0 and 300 < hi < 600, (low, lo, hi)
        finally:
            plt.close(fig)


def test_data_quality_warnings_are_separated(tmp_path: Path) -> None:
    """Several warnings read as a list ('a; b; c.'), in the HTML and the PDF: they used to run together
    ('... counted as off (link lost) 13 saturated samples ignored ...')."""
    warnings = ["53 link gaps or dropouts: longer ones counted as off (link lost)",
                "13 saturated samples ignored", "29 spurious ADC readings removed"]
    inp = _input(before=None, after=None)
    inp.analysis["quality"]["warnings"] = warnings
    html_text = re.sub(r"<[^>]+>", "", re.search(r'<p class="note" id="quality">(.*?)</p>', render_html(inp),
                                                 re.S).group(1))
    assert html_text.endswith("; ".join(warnings) + ".")
    out = tmp_path / "r.pdf"
    write_report(inp, out)
    assert ("; ".join(warnings) + ".") in " ".join(_pdftotext(out).split())


def test_html_names_link_lost_time_within_off_time() -> None:
    """Off time that was a lost link (summary `lost_s`, contracts.md §3) is named in the card's note."""
    inp = _input()
    assert _parse(render_html(inp)).totals["Off the roller"].endswith("of session")
    summary = dict(inp.analysis["summary"], lost_s=20.4)
    page = _parse(render_html(_input(analysis=dict(inp.analysis, summary=summary))))
    assert page.totals["Off the roller"].endswith("; link lost 0:20")


def test_no_advice_to_test_before_and_after_when_both_tests_were_done() -> None:
    """The detector's advice ends with "Test the area by moving it before and after": after a guided session
    whose before- and after-test were both answered, the report does not ask for what was done."""
    from rollsignal import analyze

    t = np.arange(0.0, 60.0, 0.0125)
    f = np.where(t < 20, 230 + 60 * np.sin(2 * np.pi * t / 3.0), 140.0)
    ask = [a for a in analyze(SampleChunk(t, f)).summary["advice"] if a.startswith("Test the area")]
    assert ask == ["Test the area by moving it before and after: less pain and more ease or range of motion "
                   "mean the release worked."]
    inp = _input()
    inp.analysis["summary"]["advice"] = ["Hold 2 was short.", ask[0]]
    sections = _parse(render_html(inp)).sections
    assert "Hold 2 was short." in sections["advice"] and "Test the area" not in sections["advice"]
    for missing in (dict(before=None), dict(after=MovementTest(movement="standing quad stretch"))):
        inp = _input(**missing)
        inp.analysis["summary"]["advice"] = ["Hold 2 was short.", ask[0]]
        assert "Test the area by moving it before and after" in _parse(render_html(inp)).sections["advice"]


def test_a_holds_spot_is_said_in_plain_words_not_as_cm_along_the_roll_path() -> None:
    """"-8 cm along the roll path" (from the first contact) means nothing to a client: the advice names the
    holds on the same spot and the report's column says "as #1"; the data keeps spot_cm."""
    from rollsignal import load_profile
    from rollsignal.scoring import Scorer

    inp = _input()
    for h, x in zip(inp.analysis["holds"], (-8.2, 12.0, -7.6, 30.0)):
        h["spot_cm"] = x
    summ = Scorer(load_profile()).summarize(inp.analysis["segments"], inp.analysis["holds"])
    assert "You held the same spot 2 times (holds 1 and 3)." in summ["advice"], summ["advice"]
    assert not any("roll path" in a or " cm" in a for a in summ["advice"]), summ["advice"]
    page = _parse(render_html(inp))
    assert [r[4] for r in page.hold_rows] == ["new", "new", "as #1", "new"]  # "–" read as a missing value
    assert not any("cm" in c for r in page.hold_rows for c in r[:5])
    assert inp.holds[0]["spot_cm"] == -8.2


def test_no_spot_column_when_no_spot_was_held_twice() -> None:
    inp = _input()
    for h, x in zip(inp.analysis["holds"], (-8.2, 12.0, 20.0, 30.0)):
        h["spot_cm"] = x
    assert all(len(r) == 6 for r in _parse(render_html(inp)).hold_rows)
