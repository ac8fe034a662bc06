#!/usr/bin/env python3
"""Generate the hardware drawings and README tables from the files that define them.

    python hardware/draw.py            # write mechanics.svg, wiring.svg, refresh README.md tables
    python hardware/draw.py --check    # exit 1 (naming what) when any generated file is stale

* mechanics.svg: the mechanical concept (side section + end view), drawn from the dimensions below.
* wiring.svg: the wiring, drawn FROM pinout.csv (the single source of truth for pins): every
  signal of every board in the file appears, and the ESP32-S3 connection lines carry the GPIO
  numbers read from it. A pinout signal this script does not know how to draw is an error.
* README.md: the BOM table (from bom.csv) and the force budget (from force_budget.py) between
  `<!-- BEGIN x -->` / `<!-- END x -->` markers.

Output is deterministic (fixed SVG hash salt, no date, text kept as text) so the committed
files can be checked against the generator.
"""
from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import patches  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import force_budget  # noqa: E402

PINOUT = HERE / "pinout.csv"
BOM = HERE / "bom.csv"
README = HERE / "README.md"
PRIMARY_BOARD = "esp32s3"
PINOUT_COLUMNS = ["board", "signal", "gpio", "direction", "notes"]
BOM_COLUMNS = ["item", "qty", "part_number", "description", "unit_price_usd", "supplier", "alternatives", "notes"]

plt.rcParams.update({
    "svg.hashsalt": "holdsense-hardware",   # stable ids in the SVG
    "svg.fonttype": "none",                 # text stays text: searchable, diffable, testable
    "font.family": "DejaVu Sans",
    "font.size": 8,
})
SVG_META = {"Date": None, "Creator": f"hardware/draw.py (matplotlib {matplotlib.__version__})"}


# ---------------------------------------------------------------------------------------------
# Source files
# ---------------------------------------------------------------------------------------------

def read_pinout(path: Path = PINOUT) -> list[dict[str, str]]:
    """Rows of pinout.csv, with a clear error for a malformed file."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != PINOUT_COLUMNS:
            raise SystemExit(f"{path}: columns must be {PINOUT_COLUMNS}, found {reader.fieldnames}")
        rows = list(reader)
    for i, r in enumerate(rows, 2):
        try:
            int(r["gpio"])
        except ValueError:
            raise SystemExit(f"{path}: line {i}: gpio {r['gpio']!r} is not an integer") from None
    return rows


def read_bom(path: Path = BOM) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames != BOM_COLUMNS:
            raise SystemExit(f"{path}: columns must be {BOM_COLUMNS}, found {reader.fieldnames}")
        return list(reader)


def bom_markdown(rows: list[dict[str, str]]) -> str:
    """The BOM as a Markdown table with a total (what README.md embeds)."""
    def cell(s: str) -> str:
        return s.replace("|", "\\|").strip()

    out = ["| # | Item | Qty | Part number | Description | Approx. price (USD) | Alternatives | Notes |",
           "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for i, r in enumerate(rows, 1):
        qty, price = float(r["qty"]), float(r["unit_price_usd"])
        total += qty * price
        out.append(f"| {i} | {cell(r['item'])} | {r['qty']} | {cell(r['part_number'])} | {cell(r['description'])} | "
                   f"{qty * price:.2f} | {cell(r['alternatives'])} | {cell(r['notes'])} |")
    out.append(f"| | **Total** | | | | **{total:.2f}** | | |")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Mechanics
# ---------------------------------------------------------------------------------------------

def _box(ax, x0, y0, x1, y1, label=None, fc="#dddddd", ec="black", lw=0.8, hatch=None, fontsize=7, **kw):
    ax.add_patch(patches.Rectangle((x0, y0), x1 - x0, y1 - y0, fc=fc, ec=ec, lw=lw, hatch=hatch, **kw))
    if label:
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, ha="center", va="center", fontsize=fontsize)


def _bearing(ax, xc, yc, w=12, r_in=10, r_out=21):
    for sgn in (1, -1):
        y0, y1 = yc + sgn * r_in, yc + sgn * r_out
        lo, hi = min(y0, y1), max(y0, y1)
        ax.add_patch(patches.Rectangle((xc - w / 2, lo), w, hi - lo, fc="#9ecae1", ec="black", lw=0.6))
        ax.plot([xc - w / 2, xc + w / 2], [lo, hi], color="black", lw=0.5)
        ax.plot([xc - w / 2, xc + w / 2], [hi, lo], color="black", lw=0.5)


def _callout(ax, text, xy, xytext, **kw):
    ax.annotate(text, xy=xy, xytext=xytext, fontsize=7, ha=kw.pop("ha", "center"),
                arrowprops=dict(arrowstyle="-", lw=0.5, color="#333333"), **kw)


def draw_mechanics(path: Path) -> None:
    """Side section and end view of the roller; dimensions in mm."""
    fig = plt.figure(figsize=(11.5, 6.2))
    ax = fig.add_axes([0.0, 0.02, 0.76, 0.9])
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_xlim(-150, 640)
    ax.set_ylim(-75, 300)
    fig.suptitle("holdsense roller: mechanical concept (side section, not to scale in detail)", fontsize=11)

    axle_y, r_shell, r_core = 120, 70, 50
    ax.plot([-150, 560], [0, 0], color="black", lw=1.2)
    ax.text(540, -8, "floor", ha="right", va="top", fontsize=7)
    _box(ax, 20, 0, 500, 18, "base rail (2020 extrusion): floor side, not weighed", fc="#eeeeee", fontsize=6.5)

    # Feet: base plate, bar load cell (cantilever), top block.
    for name, x0, x1, fixed_left in (("A", 20, 88, True), ("B", 432, 500, False)):
        _box(ax, x0, 18, x1, 24, fc="#bbbbbb")                                    # base plate
        fx = x0 + 4 if fixed_left else x1 - 16
        _box(ax, fx, 24, fx + 12, 40, fc="#bbbbbb")                               # spacer, fixed end
        _box(ax, x0 + 4, 40, x1 - 4, 56, f"load cell {name}", fc="#fdd0a2", fontsize=6.5)
        lx = x1 - 16 if fixed_left else x0 + 4
        _box(ax, lx, 56, lx + 12, 72, fc="#bbbbbb")                               # spacer, load end
        _box(ax, x0, 72, x1, 150, fc="#d9d9d9", alpha=0.9)                       # top block
        ax.text((x0 + x1) / 2, 158, f"foot {name}", ha="center", fontsize=8, weight="bold")

    # Shell: hollow core, foam with ribs (tread), end caps.
    sx0, sx1 = 95, 425
    _box(ax, sx0, axle_y + r_core, sx1, axle_y + r_shell - 8, fc="#c7e9c0", lw=0.6)
    _box(ax, sx0, axle_y - r_shell + 8, sx1, axle_y - r_core, fc="#c7e9c0", lw=0.6)
    for x in range(sx0 + 4, sx1 - 8, 16):                                          # ribs / tread
        _box(ax, x, axle_y + r_shell - 8, x + 8, axle_y + r_shell, fc="#74c476", lw=0.4)
        _box(ax, x, axle_y - r_shell, x + 8, axle_y - r_shell + 8, fc="#74c476", lw=0.4)
    _box(ax, sx0, axle_y + r_core - 4, sx1, axle_y + r_core, fc="#969696", lw=0.4)  # rigid core tube
    _box(ax, sx0, axle_y - r_core, sx1, axle_y - r_core + 4, fc="#969696", lw=0.4)
    # End cap A (ring around the axle) and end cap B (cup with hub).
    _box(ax, sx0, axle_y - r_core, sx0 + 18, axle_y + r_core, fc="#fee391", alpha=0.85)
    _box(ax, sx1 - 24, axle_y - r_core, sx1, axle_y + r_core, fc="#fee391", alpha=0.85)
    _box(ax, sx1, axle_y - 10, 452, axle_y + 10, fc="#fee391")                     # hub of cap B
    # Axle: fixed, hollow, clamped in foot A, tip inside cap B.
    _box(ax, 24, axle_y - 10, 402, axle_y + 10, fc="#737373")
    ax.plot([24, 402], [axle_y, axle_y], color="white", lw=0.8, ls="--")
    _bearing(ax, sx0 + 9, axle_y)                                                   # A
    _bearing(ax, 396, axle_y)                                                       # B1 (axle tip in cap B)
    _bearing(ax, 442, axle_y)                                                       # B2 (hub in foot B)
    _box(ax, 403, axle_y - 14, 406, axle_y + 14, fc="#3182bd")                      # AS5600 board
    ax.add_patch(patches.Rectangle((408.5, axle_y - 3), 2.5, 6, fc="#de2d26", ec="black", lw=0.4))
    ax.add_patch(patches.Rectangle((408.5, axle_y - 3), 2.5, 3, fc="#2171b5", ec="none"))

    # Electronics enclosure on foot A's floor side, cable through the axle.
    _box(ax, -140, 18, 14, 66, "electronics box:\nESP32-S3, HX711, LiPo,\ncharger, buzzer, LED", fc="#f2f0f7",
         fontsize=6.5)
    _box(ax, -64, 18, 14, 24, fc="#bbbbbb")
    ax.plot([24, 6, 6], [axle_y, axle_y, 66], color="#3182bd", lw=1.0)
    ax.plot([404, 404], [axle_y - 14, axle_y - 2], color="#3182bd", lw=1.0)
    ax.plot([8, 8, 36], [18, 10, 10], color="#e6550d", lw=0.8)
    ax.plot([440, 466, 466], [10, 10, 32], color="#e6550d", lw=0.8)
    ax.plot([36, 440], [10, 10], color="#e6550d", lw=0.8, ls=":")

    # Forces.
    ax.annotate("", xy=(250, axle_y + r_shell + 2), xytext=(250, axle_y + r_shell + 55),
                arrowprops=dict(arrowstyle="-|>", lw=2.0, color="#cb181d"))
    ax.text(244, axle_y + r_shell + 40, "body force F\n(anywhere along the shell)", color="#cb181d", fontsize=8, ha="right")
    for x, lbl in ((54, "F_A"), (466, "F_B")):
        ax.annotate("", xy=(x, 28), xytext=(x, -30), arrowprops=dict(arrowstyle="-|>", lw=1.6, color="#2171b5"))
        ax.text(x + 5, -30, lbl, color="#2171b5", fontsize=8)
    ax.text(250, -55, "F = F_A + F_B whatever the rotation and wherever the body presses:\n"
            "the two feet carry the whole vertical load; the two cells' bridges in parallel give the sum",
            ha="center", fontsize=7.5, color="#08306b")

    _callout(ax, "fixed hollow axle (steel tube 20 x 2 mm),\nclamped in foot A (flats), cables inside",
             (200, axle_y), (170, 262))
    _callout(ax, "foam shell with ribbed / tread-like surface\n(grid roller on a rigid hollow core)",
             (330, axle_y + r_shell), (360, 228))
    _callout(ax, "bearing A (6004-2RS)\nin end cap A", (sx0 + 9, axle_y + 21), (62, 215))
    _callout(ax, "end cap B (cup) turns\non bearing B1 (axle tip)\nand hub bearing B2 (foot B)",
             (sx1 - 12, axle_y + r_core), (505, 262))
    _callout(ax, "AS5600 on the axle tip", (404, axle_y - 14), (300, 88))
    _callout(ax, "diametric magnet in end cap B,\n0.5-3 mm air gap", (410, axle_y + 3), (300, 142))
    _callout(ax, "load cells in the end feet\n(bar cells, 100 kg each)", (490, 48), (515, 96), ha="left")
    _callout(ax, "cell B cable along the rail", (300, 10), (300, 30))

    # End view.
    ev = fig.add_axes([0.77, 0.3, 0.22, 0.55])
    ev.set_aspect("equal")
    ev.axis("off")
    ev.set_xlim(-110, 110)
    ev.set_ylim(-110, 125)
    ev.add_patch(patches.Circle((0, 0), r_shell - 8, fc="#c7e9c0", ec="black", lw=0.6))
    for k in range(24):
        ev.add_patch(patches.Rectangle((-4, r_shell - 8), 8, 8, fc="#74c476", ec="black", lw=0.4,
                                       transform=matplotlib.transforms.Affine2D().rotate_deg(k * 15) + ev.transData))
    ev.add_patch(patches.Circle((0, 0), r_core, fc="white", ec="#969696", lw=2.5))
    ev.add_patch(patches.Circle((0, 0), 10, fc="#737373", ec="black", lw=0.6))
    ev.add_patch(patches.Rectangle((-3, -1.25), 6, 2.5, fc="#de2d26", ec="black", lw=0.4))
    ev.add_patch(patches.FancyArrowPatch((r_shell + 12, 0), (0, r_shell + 12),
                                         connectionstyle="arc3,rad=0.4", arrowstyle="-|>", mutation_scale=10))
    ev.text(62, 62, "θ", fontsize=11)
    ev.text(0, 112, "end view (section at cap B)", ha="center", fontsize=8, weight="bold")
    ev.text(0, -96, "AS5600 reads θ of the magnet (shell) relative\nto the fixed axle; travel = θ x r, r ≈ 70 mm",
            ha="center", fontsize=7)

    ev2 = fig.add_axes([0.77, 0.02, 0.22, 0.26])
    ev2.axis("off")
    ev2.text(0, 1, "Load path\nbody → shell → end caps → bearings A, B2\n→ axle (A) / hub (B) → foot top blocks\n"
             "→ load cells A, B → base plates → floor\n\nOnly the load cells may join a foot's top\n"
             "block to its base: cables cross them in\nslack loops; no part of the shell may touch\n"
             "the rail or the floor (≥ 10 mm clearance).", va="top", fontsize=7, family="DejaVu Sans")
    fig.savefig(path, format="svg", metadata=SVG_META)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Wiring
# ---------------------------------------------------------------------------------------------

#: Where each pinout signal goes: (component, pin on that component). Knowledge of the circuit,
#: kept next to the drawing; the GPIO numbers come from pinout.csv only.
SIGNAL_TARGETS: dict[str, tuple[str, str]] = {
    "HX711_DOUT": ("HX711", "DOUT"),
    "HX711_SCK": ("HX711", "SCK"),
    "HX711_RATE": ("HX711", "RATE (pin 15, jumper opened)"),
    "I2C_SDA": ("AS5600", "SDA"),
    "I2C_SCL": ("AS5600", "SCL"),
    "BUZZER": ("BUZZER", "1 kΩ → 2N3904 base"),
    "LED": ("LED", "330 Ω → LED anode"),
    "VBAT_ADC": ("BATTERY", "divider midpoint (100k/100k)"),
}

COMPONENTS = {   # name: (title, unused, extra pins drawn on the box); stacked top-down in this order
    "HX711": ("HX711 board (SparkFun SEN-13879 or green module)", 300,
              ["VCC ← 3V3", "VDD ← 3V3", "GND", "10 kΩ RATE → GND (10 SPS until driven)"]),
    "AS5600": ("AS5600 module (I²C 0x36), on the axle tip", 215, ["VCC ← 3V3", "GND", "DIR → GND",
                                                                   "4.7 kΩ pull-ups SDA/SCL → 3V3"]),
    "BUZZER": ("Passive piezo buzzer (PS1240)", 150, ["piezo between 5V and collector", "emitter → GND"]),
    "LED": ("Cue LED", 100, ["cathode → GND"]),
    "BATTERY": ("LiPo 1S + PowerBoost 1000C", 40, ["BAT+ → 100k → midpoint → 100k → GND",
                                                   "100 nF midpoint → GND", "5V out → board 5V pin",
                                                   "switch in BAT+"]),
}


def draw_wiring(path: Path, rows: list[dict[str, str]]) -> None:
    """Wiring of the primary board, drawn from pinout.csv, plus the pin table of every board."""
    boards = list(dict.fromkeys(r["board"] for r in rows))
    signals = list(dict.fromkeys(r["signal"] for r in rows))
    unknown = [s for s in signals if s not in SIGNAL_TARGETS]
    if unknown:
        raise SystemExit(f"pinout.csv: signal(s) {unknown} have no wiring target in draw.py SIGNAL_TARGETS")
    primary = [r for r in rows if r["board"] == PRIMARY_BOARD]

    fig = plt.figure(figsize=(12, 11))
    ax = fig.add_axes([0.01, 0.27, 0.98, 0.69])
    ax.axis("off")
    ax.set_xlim(0, 1000)
    ax.set_ylim(0, 450)
    fig.suptitle(f"holdsense wiring ({PRIMARY_BOARD}), drawn from hardware/pinout.csv", fontsize=11)

    # The board, with one pin per pinout row plus power pins.
    n = len(primary)
    top, step = 420, 44
    _box(ax, 20, top - step * n - 10, 230, top + 25, fc="#f2f0f7")
    ax.text(125, top + 14, f"{PRIMARY_BOARD.upper()} board (ESP32-S3-DevKitC-1)", ha="center", fontsize=8,
            weight="bold")
    ax.text(125, top - step * n - 2, "3V3 → HX711, AS5600 · GND common · 5V ← PowerBoost", ha="center",
            fontsize=6.5)
    comp_pins: dict[str, list[tuple[str, float]]] = {}
    for i, r in enumerate(primary):
        y = top - 8 - i * step
        ax.text(226, y, f"GPIO{r['gpio']}", ha="right", va="center", fontsize=7.5, family="DejaVu Sans Mono")
        ax.text(30, y, r["signal"], ha="left", va="center", fontsize=7.5, weight="bold")
        comp, pin = SIGNAL_TARGETS[r["signal"]]
        comp_pins.setdefault(comp, []).append((r["signal"], y))

    # Components on the right, connection lines from the board pins.
    y_cursor = top + 25
    for name, (title, _, extra) in COMPONENTS.items():
        pins = comp_pins.get(name, [])
        h = 12 * (len(pins) + len(extra)) + 20
        y1 = y_cursor
        y0 = y1 - h
        y_cursor = y0 - 8
        _box(ax, 560, y0, 800, y1, fc="#fff7bc")
        ax.text(680, y1 - 7, title, ha="center", va="center", fontsize=7, weight="bold")
        k = 0
        for sig, y_from in pins:
            y_to = y1 - 20 - 12 * k
            label = SIGNAL_TARGETS[sig][1]
            gpio = next(r["gpio"] for r in primary if r["signal"] == sig)
            ax.text(566, y_to, label, va="center", fontsize=6.5)
            xm = 300 + 30 * (len(comp_pins) and list(COMPONENTS).index(name))
            ax.plot([230, xm, xm, 560], [y_from, y_from, y_to, y_to], lw=1.0,
                    color=plt.cm.tab10(list(SIGNAL_TARGETS).index(sig) % 10))
            ax.text(xm + 4, (y_to + 3) if abs(y_to - y_from) > 1 else y_to + 3, f"{sig} = GPIO{gpio}",
                    fontsize=5.5, va="bottom")
            k += 1
        for e in extra:
            ax.text(566, y1 - 20 - 12 * k, e, va="center", fontsize=6.5, color="#555555")
            k += 1

    # Load cells into the HX711.
    _box(ax, 850, 350, 998, 440, fc="#fdd0a2")
    ax.text(924, 431, "2 bar load cells,\nbridges in parallel", ha="center", va="top", fontsize=6.5, weight="bold")
    for k, (pin, col) in enumerate((("E+", "red"), ("E−", "black"), ("A+ (S+)", "green"), ("A− (S−)", "#888888"))):
        y = 405 - 14 * k
        ax.plot([800, 850], [y, y], color=col, lw=1.4)
        ax.text(805, y + 2, pin, fontsize=6.5)
        ax.text(856, y, f"cell A {pin.split()[0]} + cell B {pin.split()[0]}", fontsize=6, va="center")
    ax.text(924, 340, "wire colours vary by maker:\nread the cells' datasheet;\nforce negative → swap A+/A−",
            ha="center", va="top", fontsize=6)

    # Pin table of every board in pinout.csv.
    tab = fig.add_axes([0.03, 0.01, 0.94, 0.24])
    tab.axis("off")
    cells = []
    for s in signals:
        row = [s]
        for b in boards:
            hit = [r for r in rows if r["board"] == b and r["signal"] == s]
            row.append(", ".join(f"GPIO{h['gpio']}" if int(h["gpio"]) >= 0 else "not wired" for h in hit) or "—")
        row.append(next(r["notes"] for r in rows if r["signal"] == s))
        cells.append(row)
    t = tab.table(cellText=cells, colLabels=["signal"] + boards + ["notes (first board)"], loc="upper center",
                  cellLoc="left", colWidths=[0.12] + [0.08] * len(boards) + [0.64])
    t.auto_set_font_size(False)
    t.set_fontsize(6.5)
    t.scale(1, 1.25)
    tab.set_title("hardware/pinout.csv: every board (the firmware reads the same file's values)", fontsize=8)
    fig.savefig(path, format="svg", metadata=SVG_META)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------
# README blocks and the command line
# ---------------------------------------------------------------------------------------------

def replace_block(text: str, name: str, body: str) -> str:
    begin, end = f"<!-- BEGIN {name} (generated by hardware/draw.py) -->", f"<!-- END {name} -->"
    i, j = text.find(begin), text.find(end)
    if i < 0 or j < i:
        raise SystemExit(f"{README}: markers for block {name!r} missing ({begin} ... {end})")
    return text[: i + len(begin)] + "\n" + body + text[j:]


def generate() -> dict[str, bytes]:
    """Every generated file's content, keyed by file name (nothing written)."""
    rows = read_pinout()
    out: dict[str, bytes] = {}
    for name, fn in (("mechanics.svg", lambda p: draw_mechanics(p)), ("wiring.svg", lambda p: draw_wiring(p, rows))):
        buf = io.BytesIO()
        fn(buf)
        out[name] = buf.getvalue()
    readme = README.read_text(encoding="utf-8")
    readme = replace_block(readme, "BOM", bom_markdown(read_bom()))
    readme = replace_block(readme, "FORCE-BUDGET", force_budget.markdown())
    out["README.md"] = readme.encode("utf-8")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description="Generate hardware drawings and README tables.")
    ap.add_argument("--check", action="store_true", help="only check that the generated files are up to date")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="output folder (default: hardware/ itself); README.md goes there too")
    args = ap.parse_args()
    files = generate()
    if args.check:
        stale = [n for n, data in files.items() if not (HERE / n).exists() or (HERE / n).read_bytes() != data]
        if stale:
            print(f"stale generated file(s): {', '.join(stale)}: run python hardware/draw.py", file=sys.stderr)
            return 1
        print("hardware drawings and README tables are up to date")
        return 0
    for name, data in files.items():
        target = args.out / name
        target.write_bytes(data)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
