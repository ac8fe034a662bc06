"""Markers made while rolling: "hold starts", "hold ends", free-text notes (docs/contracts.md §1, `marker`).

A marker is stored in a recording's optional `marker` column, on the first
sample written after the key press. The cell holds tokens joined by `|`:
`hold_start`, `hold_end`, `note:<text>`; the note text is percent-encoded
(`,` `|` `%`, control characters), so the CSV stays one field per column
and old readers, which ignore unknown columns, read the file unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import quote, unquote

#: The kinds of marker a person makes while rolling.
MARKER_KINDS = ("hold_start", "hold_end", "note")
MARKER_COLUMN = "marker"
_SAFE = " !#$'()*+-./:;<=>?@[]^_`{}~&\"\\"  # printable ASCII except , | % (they would split the cell)


@dataclass(frozen=True)
class Marker:
    """One marker: session time `t_s` (s, the recording's time base), `kind` in MARKER_KINDS, `text` for notes."""

    t_s: float
    kind: str
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t_s": round(self.t_s, 4), "kind": self.kind}
        if self.text:
            d["text"] = self.text
        return d


def marker_token(kind: str, text: str = "") -> str:
    """The cell token of one marker (`hold_start`, `hold_end`, `note:<percent-encoded text>`)."""
    if kind not in MARKER_KINDS:
        raise ValueError(f"unknown marker kind {kind!r} (one of {', '.join(MARKER_KINDS)})")
    if kind == "note":
        return "note:" + quote(" ".join(text.split()), safe=_SAFE)
    return kind


def encode_cell(markers: Iterable[tuple[str, str]]) -> str:
    """Tokens of several (kind, text) markers joined into one cell."""
    return "|".join(marker_token(k, t) for k, t in markers)


def decode_cell(cell: str, t_s: float) -> list[Marker]:
    """Markers in one `marker` cell at time `t_s`; unknown tokens are kept as notes (a newer writer's kinds)."""
    out: list[Marker] = []
    for tok in cell.strip().split("|"):
        tok = tok.strip()
        if not tok:
            continue
        kind, sep, rest = tok.partition(":")
        if kind == "note" and sep:
            out.append(Marker(t_s, "note", unquote(rest)))
        elif tok in ("hold_start", "hold_end"):
            out.append(Marker(t_s, tok))
        else:
            out.append(Marker(t_s, "note", unquote(tok)))
    return out


def markers_of(rec: Any) -> list[Marker]:
    """Markers of a Recording (its `marker` column), in time order; [] when it has none."""
    col = getattr(rec, "extra_columns", {}).get(MARKER_COLUMN)
    if not col:
        return list(getattr(rec, "markers", []) or [])
    t = rec.samples.t_s
    out: list[Marker] = []
    for k, cell in enumerate(col):
        if cell:
            out.extend(decode_cell(cell, float(t[k])))
    return out


# Words a lab's own marker tools send (LabRecorder keyboard/marker apps, OpenBCI-style "start"/"stop"):
# normalised (lower case, spaces/dashes to "_") and mapped onto our two kinds. Others become notes.
START_WORDS = {"hold_start", "hold_starts", "start_hold", "hold_begin", "begin_hold", "hold_on", "hold"}
END_WORDS = {"hold_end", "hold_ends", "end_hold", "stop_hold", "hold_stop", "hold_off", "release"}


def marker_from_word(text: str, t_s: float) -> Marker:
    """A marker from a free string (an XDF marker stream, a markers file line)."""
    w = "_".join(text.strip().lower().replace("-", " ").split())
    if w in START_WORDS:
        return Marker(t_s, "hold_start")
    if w in END_WORDS:
        return Marker(t_s, "hold_end")
    return Marker(t_s, "note", text.strip())
