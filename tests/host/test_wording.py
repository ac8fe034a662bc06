"""Counts a person reads say '1 hold' and '2 holds', never '1 hold(s)' or '0 gap(s)': advice, reports,
warnings and messages (a physiotherapist's audit). Checked on the detector's own output and on every string
literal in the code a person sees the output of."""
from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
COUNT_S = re.compile(r"[A-Za-z]\(s\)")


def _text_of(literal: str) -> str:
    """The literal text of a string token: an f-string's replacement fields ({...}, nested) left out."""
    prefix = re.match(r"[rbfuRBFU]*", literal).group(0)
    if "f" not in prefix.lower():
        return literal
    out, depth, i = [], 0, 0
    while i < len(literal):
        c = literal[i]
        if depth == 0 and literal.startswith(("{{", "}}"), i):
            out.append(c)
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}" and depth:
            depth -= 1
        elif depth == 0:
            out.append(c)
        i += 1
    return "".join(out)


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, text) of the string literals in `path` that are not docstrings or comments (f-string parts too)."""
    out = []
    toks = list(tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline))
    for i, tok in enumerate(toks):
        if tok.type == tokenize.STRING:
            if tok.string.lstrip("rbfRBF").startswith(('"""', "'''")):
                continue  # docstrings and long help texts of the code itself
            out.append((tok.start[0], _text_of(tok.string)))
        elif getattr(tokenize, "FSTRING_MIDDLE", None) == tok.type:
            out.append((tok.start[0], tok.string))
    return out


def test_no_count_with_an_s_in_brackets_in_what_a_person_reads() -> None:
    bad = []
    for base in ("hostapp/holdsense", "signal/rollsignal", "firmware"):
        for p in sorted((ROOT / base).rglob("*.py")):
            for line, text in _string_literals(p):
                if COUNT_S.search(text):
                    bad.append(f"{p.relative_to(ROOT)}:{line}: {text}")
    assert not bad, "\n".join(bad)


def test_the_detector_counts_in_words() -> None:
    from rollsignal import SampleChunk, analyze

    # rolling 30 s at about 230 N, one 40 s hold at 114 % of it, rolling; one link gap of 2 s in the rolling
    t = np.arange(0.0, 90.0, 1 / 80)
    f = np.where(t < 3, 0.0, 230.0 + 20.0 * np.sin(2 * np.pi * 0.5 * t))
    ang = np.where(t < 3, 0.0, 90.0 * (1 - np.cos(np.pi * (t - 3) / 2.0)))
    hold = (t >= 33) & (t < 73)
    f[hold] = 262.0 + np.random.default_rng(1).normal(0, 1.0, hold.sum())
    ang[hold] = ang[np.flatnonzero(hold)[0] - 1]
    after = t >= 73
    ang[after] = ang[np.flatnonzero(hold)[-1]] + 90.0 * (1 - np.cos(np.pi * (t[after] - 73) / 2.0))
    keep = ~((t >= 20) & (t < 22))
    res = analyze(SampleChunk(t[keep], f[keep], ang[keep], np.zeros(keep.sum(), np.uint8)))
    (h,) = res.holds
    assert h["grade"] == "too hard"
    text = " ".join(res.summary["advice"] + res.quality["warnings"])
    assert not COUNT_S.search(text), text
    assert "Your hold was too hard: use light, sustained pressure" in text, text
    assert any(w.startswith("1 link gap or dropout: ") for w in res.quality["warnings"]), res.quality["warnings"]


def test_link_counts_are_singular_for_one() -> None:
    """The lost-sample and lost-frame counts a person reads while recording or watching: '1 sample lost',
    'lost 1 frame/1 sample', never '1 samples' or '1 frames'."""
    from types import SimpleNamespace

    from holdsense.listeners.live import describe_event
    from holdsense.listeners.recorder import Progress

    assert describe_event(SimpleNamespace(kind="gap", t_s=3.0, reason="link lost", lost_samples=1)) == \
        "gap: link lost, 1 sample lost"
    assert describe_event(SimpleNamespace(kind="gap", t_s=3.0, reason="link lost", lost_samples=12)) == \
        "gap: link lost, 12 samples lost"
    line = Progress(io.StringIO(), stats=lambda: {"lost_frames": 1, "lost_samples": 1, "corrupt_frames": 0},
                    tty=False).line()
    assert "lost 1 frame/1 sample" in line and "0 samples" in line, line
    assert not re.search(r"\b1 (samples|frames)\b", line)
