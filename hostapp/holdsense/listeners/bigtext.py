"""Big block letters for the terminal view on the floor: 5 rows high, readable from 3 m.

Own glyphs (a figlet-style library would add a dependency and dozens of fonts for the few words the
view shows: the state words and a clock). `big_lines("0:42")` returns 5 strings of equal width.
"""
from __future__ import annotations

GLYPH_ROWS = 5
_FONT: dict[str, tuple[str, ...]] = {
    "0": ("█████", "█   █", "█   █", "█   █", "█████"),
    "1": ("  ██ ", " ███ ", "  ██ ", "  ██ ", " ████"),
    "2": ("█████", "    █", "█████", "█    ", "█████"),
    "3": ("█████", "    █", " ████", "    █", "█████"),
    "4": ("█   █", "█   █", "█████", "    █", "    █"),
    "5": ("█████", "█    ", "█████", "    █", "█████"),
    "6": ("█████", "█    ", "█████", "█   █", "█████"),
    "7": ("█████", "    █", "   █ ", "  █  ", "  █  "),
    "8": ("█████", "█   █", "█████", "█   █", "█████"),
    "9": ("█████", "█   █", "█████", "    █", "█████"),
    ":": ("   ", " █ ", "   ", " █ ", "   "),
    ".": ("  ", "  ", "  ", "  ", "█ "),
    "-": ("     ", "     ", "█████", "     ", "     "),
    "–": ("     ", "     ", "█████", "     ", "     "),
    " ": ("   ", "   ", "   ", "   ", "   "),
    "A": (" ███ ", "█   █", "█████", "█   █", "█   █"),
    "D": ("████ ", "█   █", "█   █", "█   █", "████ "),
    "E": ("█████", "█    ", "████ ", "█    ", "█████"),
    "F": ("█████", "█    ", "████ ", "█    ", "█    "),
    "G": (" ████", "█    ", "█  ██", "█   █", " ████"),
    "H": ("█   █", "█   █", "█████", "█   █", "█   █"),
    "I": ("███", " █ ", " █ ", " █ ", "███"),
    "K": ("█   █", "█  █ ", "███  ", "█  █ ", "█   █"),
    "L": ("█    ", "█    ", "█    ", "█    ", "█████"),
    "N": ("█   █", "██  █", "█ █ █", "█  ██", "█   █"),
    "O": (" ███ ", "█   █", "█   █", "█   █", " ███ "),
    "R": ("████ ", "█   █", "████ ", "█  █ ", "█   █"),
    "S": (" ████", "█    ", " ███ ", "    █", "████ "),
    "T": ("█████", "  █  ", "  █  ", "  █  ", "  █  "),
    "W": ("█   █", "█   █", "█ █ █", "██ ██", "█   █"),
}


def big_width(text: str) -> int:
    """Columns `big_lines(text)` takes (glyphs plus one column between them)."""
    glyphs = [_FONT.get(ch, _FONT[" "]) for ch in text.upper()]
    return sum(len(g[0]) for g in glyphs) + max(0, len(glyphs) - 1)


def big_lines(text: str) -> list[str]:
    """`text` in 5-row block letters (unknown characters as blanks); every line the same width."""
    glyphs = [_FONT.get(ch, _FONT[" "]) for ch in text.upper()]
    return [" ".join(g[row] for g in glyphs) for row in range(GLYPH_ROWS)]
