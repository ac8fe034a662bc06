"""hardware/: BOM, pinout consistency, force budget, and the generated drawings and README tables."""
from __future__ import annotations

import csv
import importlib.util
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib
import pytest

HW = Path(__file__).resolve().parents[2] / "hardware"
BOM_REQUIRED = ["item", "qty", "part_number", "description", "unit_price_usd", "alternatives"]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"hw_{name}", HW / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod           # dataclasses look their module up there
    sys.path.insert(0, str(HW))            # draw.py imports force_budget from its own folder
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(HW))
    return mod


def _pinout() -> list[dict[str, str]]:
    with open(HW / "pinout.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _svg_text(path: Path) -> str:
    """All text of an SVG (matplotlib with svg.fonttype=none keeps labels as <text>)."""
    root = ET.parse(path).getroot()
    return "\n".join("".join(el.itertext()) for el in root.iter() if el.tag.endswith("text"))


# --- BOM --------------------------------------------------------------------------------------

def test_bom_parses_with_required_columns_and_values() -> None:
    with open(HW / "bom.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert set(BOM_REQUIRED) <= set(reader.fieldnames or [])
    assert len(rows) >= 15
    for r in rows:
        assert r["item"].strip() and r["part_number"].strip() and r["description"].strip(), r
        assert int(r["qty"]) >= 1, r
        assert 0 < float(r["unit_price_usd"]) < 200, r
    text = " ".join(" ".join(r.values()) for r in rows).lower()
    # Everything issue 6 asks the BOM to cover.
    for needle in ("esp32-s3", "ble", "hx711", "rate", "load cell", "half-bridge", "full bridge", "as5600",
                   "diametric magnet", "bearing", "axle", "foam", "ribbed", "tread", "buzzer", "led", "lipo",
                   "charger", "divider", "enclosure"):
        assert needle in text, f"BOM does not mention {needle!r}"
    assert sum(int(r["qty"]) * float(r["unit_price_usd"]) for r in rows) < 400


def test_readme_tables_match_their_sources() -> None:
    draw = _load("draw")
    budget = _load("force_budget")
    readme = (HW / "README.md").read_text(encoding="utf-8")
    assert draw.bom_markdown(draw.read_bom()) in readme
    assert budget.markdown() in readme
    # One table row per BOM line (plus header, rule and total).
    block = readme.split("<!-- BEGIN BOM")[1].split("<!-- END BOM")[0]
    assert sum(1 for ln in block.splitlines() if ln.startswith("| ")) == len(draw.read_bom()) + 2


def _ohms(text: str) -> set[float]:
    """Every resistor value a text names ("4.7 kΩ", "330 Ω", "100k", "1 kOhm"), in ohms."""
    found = set()
    for num, kilo in re.findall(r"(\d+(?:\.\d+)?)\s*(k?)(?:Ω|Ohm|(?<=k))", text):
        found.add(float(num) * (1000 if kilo else 1))
    return found


def test_bom_has_every_resistor_the_wiring_uses() -> None:
    """A builder buys from the BOM and wires from wiring.svg: every resistor value drawn there is in it
    (the I2C pull-ups and the RATE pull-down were drawn but not listed)."""
    draw = _load("draw")
    drawn = " ".join([pin for _, pin in draw.SIGNAL_TARGETS.values()]
                     + [e for _, _, extra in draw.COMPONENTS.values() for e in extra])
    bom = " ".join(" ".join((r["part_number"], r["description"])) for r in draw.read_bom())
    assert _ohms(drawn) >= {4700.0, 10000.0, 1000.0, 330.0, 100000.0}, _ohms(drawn)  # the parser sees them
    assert _ohms(drawn) <= _ohms(bom), f"drawn but not in bom.csv: {sorted(_ohms(drawn) - _ohms(bom))} ohm"


# --- pinout -----------------------------------------------------------------------------------

def test_pinout_is_consistent() -> None:
    rows = _pinout()
    with open(HW / "pinout.csv", newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["board", "signal", "gpio", "direction", "notes"]
    boards = sorted({r["board"] for r in rows})
    assert {"esp32s3", "esp32c3"} <= set(boards)
    signals = {r["signal"] for r in rows}
    for b in boards:
        mine = [r for r in rows if r["board"] == b]
        names = [r["signal"] for r in mine]
        assert len(names) == len(set(names)), f"{b}: a signal is listed twice"
        assert set(names) == signals, f"{b}: missing {signals - set(names)}"
        gpios = [int(r["gpio"]) for r in mine if int(r["gpio"]) >= 0]
        dup = {g for g in gpios if gpios.count(g) > 1}
        assert not dup, f"{b}: GPIO(s) {dup} used twice"
        for r in mine:
            assert r["direction"] in ("in", "out", "io"), r
            assert r["notes"].strip(), r


# Facts about the chips (Espressif / Raspberry Pi datasheets): pins a design must not use for
# these signals, and the ADC pins the battery divider needs.
CHIP_RULES = {
    "esp32s3": {"forbidden": set(range(26, 33)) | {0, 3, 45, 46}, "adc": set(range(1, 11))},
    "esp32c3": {"forbidden": set(range(11, 18)) | {2, 8, 9}, "adc": set(range(0, 5))},
    "picow": {"forbidden": {23, 24, 25, 29}, "adc": {26, 27, 28}},
}


@pytest.mark.parametrize("board", sorted(CHIP_RULES))
def test_pinout_respects_the_chips(board: str) -> None:
    mine = {r["signal"]: int(r["gpio"]) for r in _pinout() if r["board"] == board}
    rules = CHIP_RULES[board]
    for sig, g in mine.items():
        assert g not in rules["forbidden"], f"{board}: {sig} on GPIO{g} (flash, strapping or internal pin)"
    assert mine["VBAT_ADC"] in rules["adc"], f"{board}: VBAT_ADC must be an ADC pin"


# --- force budget -----------------------------------------------------------------------------

def test_force_budget_figures() -> None:
    fb = _load("force_budget")
    ref = fb.budget(fb.BUILDS[0])
    assert ref["rated_full_scale_n"] >= 1000
    # counts/N = S·2^24·gain / F_rated (ratiometric): 2 mV/V over 200 kg.
    assert ref["counts_per_n"] == pytest.approx(2e-3 * 2 ** 24 * 128 / (200 * 9.80665), rel=1e-9)
    assert ref["adc_clip_n"] > ref["safe_overload_n"] > ref["rated_full_scale_n"]
    # Datasheet noise ratio 90/50 between 80 and 10 SPS.
    assert ref["noise_80sps_n_rms"] / ref["noise_10sps_n_rms"] == pytest.approx(1.8)
    assert ref["noise_80sps_n_rms"] < 0.1


# --- drawings ---------------------------------------------------------------------------------

def test_draw_runs_and_labels_everything(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(HW / "draw.py"), "--out", str(tmp_path)], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    wiring = _svg_text(tmp_path / "wiring.svg")
    rows = _pinout()
    for row in rows:
        assert row["signal"] in wiring
        if int(row["gpio"]) >= 0:
            assert f"GPIO{row['gpio']}" in wiring
        assert row["board"] in wiring
    # Each ESP32-S3 line carries its GPIO number from pinout.csv.
    for row in (x for x in rows if x["board"] == "esp32s3"):
        assert f"{row['signal']} = GPIO{row['gpio']}" in wiring
    mech = _svg_text(tmp_path / "mechanics.svg")
    for label in ("fixed hollow axle", "load cell A", "load cell B", "bearing A", "end cap B", "AS5600",
                  "diametric magnet", "ribbed", "electronics box", "F = F_A + F_B", "foot A", "foot B"):
        assert label in mech, label


def test_wiring_is_drawn_from_pinout(tmp_path: Path) -> None:
    """Change pinout.csv and the drawing changes; an unknown signal is an error, not a silent gap."""
    draw = _load("draw")
    rows = draw.read_pinout()
    moved = [dict(r, gpio="21") if (r["board"], r["signal"]) == ("esp32s3", "LED") else r for r in rows]
    draw.draw_wiring(tmp_path / "w.svg", moved)
    assert "LED = GPIO21" in _svg_text(tmp_path / "w.svg")
    with pytest.raises(SystemExit, match="no wiring target"):
        draw.draw_wiring(tmp_path / "x.svg", rows + [dict(rows[0], signal="MYSTERY")])


def test_committed_drawings_are_up_to_date(tmp_path: Path) -> None:
    """The committed SVGs and README tables equal what the generator makes now.

    Byte-for-byte when this matplotlib is the one that drew them (its version is in the SVG);
    with another matplotlib the bytes may differ harmlessly, so compare every label instead.
    """
    committed = (HW / "mechanics.svg").read_text(encoding="utf-8")
    m = re.search(r"matplotlib (\d+\.\d+\.\d+)", committed)
    assert m, "mechanics.svg lacks the generator's matplotlib version"
    if m.group(1) == matplotlib.__version__:
        r = subprocess.run([sys.executable, str(HW / "draw.py"), "--check"], capture_output=True, text=True,
                           timeout=120, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr
    else:
        subprocess.run([sys.executable, str(HW / "draw.py"), "--out", str(tmp_path)], check=True, timeout=120,
                       capture_output=True, stdin=subprocess.DEVNULL)
        for name in ("mechanics.svg", "wiring.svg"):
            assert _svg_text(tmp_path / name) == _svg_text(HW / name), f"{name} is stale: run hardware/draw.py"
        assert (tmp_path / "README.md").read_text() == (HW / "README.md").read_text()


# --- figures stated twice -----------------------------------------------------------------------

ROOT = HW.parent
#: The ESP32-S3 pins as the prose states them (firmware/README.md §2, hardware/README.md §2), by signal.
PROSE_PINS = [
    ("firmware/README.md", r"DOUT→GPIO(\d+)", "HX711_DOUT"),
    ("firmware/README.md", r"PD_SCK→GPIO(\d+)", "HX711_SCK"),
    ("firmware/README.md", r"RATE→GPIO(\d+)", "HX711_RATE"),
    ("firmware/README.md", r"SDA→GPIO(\d+)", "I2C_SDA"),
    ("firmware/README.md", r"SCL→GPIO(\d+)", "I2C_SCL"),
    ("firmware/README.md", r"buzzer\s+GPIO(\d+)", "BUZZER"),
    ("firmware/README.md", r"LED GPIO(\d+)", "LED"),
    ("firmware/README.md", r"\(100k/100k\) GPIO(\d+)", "VBAT_ADC"),
    ("hardware/README.md", r"\(GPIO(\d+) on the ESP32-S3\)", "HX711_RATE"),
]


def _doc(rel: str) -> str:
    return re.sub(r"\s+", " ", (ROOT / rel).read_text(encoding="utf-8"))


@pytest.mark.parametrize("rel,pattern,signal", PROSE_PINS)
def test_pins_in_the_prose_are_pinout_csv(rel: str, pattern: str, signal: str) -> None:
    """pinout.csv is the single source of truth: a pin the docs repeat in words must be its pin."""
    pins = {r["signal"]: int(r["gpio"]) for r in _pinout() if r["board"] == "esp32s3"}
    found = [int(g) for g in re.findall(pattern, _doc(rel))]
    assert found, f"{rel}: {pattern!r} not found (reworded? update PROSE_PINS)"
    assert set(found) == {pins[signal]}, f"{rel} says {signal} on GPIO{found}, pinout.csv GPIO{pins[signal]}"


def test_firmware_figures_repeated_in_the_docs_agree() -> None:
    """The firmware's constants that the docs and the BOM state again, in their words."""
    from holdsense_fw import config

    d = config.DEFAULTS
    proto, fw = _doc("docs/protocol.md"), _doc("firmware/README.md")
    assert f"battery low (< {config.BATTERY_LOW_MV / 1000:g} V" in proto
    # under BATTERY_MIN_MV no cell is on the divider (USB power): "not measured", never low
    assert f"A reading under {config.BATTERY_MIN_MV / 1000:g} V (`BATTERY_MIN_MV`)" in proto
    assert f"any reading under {config.BATTERY_MIN_MV / 1000:g} V as \"no battery\"" in _doc("hardware/README.md")
    thousands = f"{d['load_counts']:,}".replace(",", " ")  # "43 800"
    assert f"Defaults: {d['idle_after_s']} s, {d['idle_decimation']}, {thousands} counts" in proto
    assert f"{round(config.REFERENCE_COUNTS_PER_N)} counts/N" in proto
    assert f"| {d['idle_after_s']}, {d['idle_decimation']}, {d['load_counts']} (" in fw
    assert f"| `auto_tare_after_s` | {d['auto_tare_after_s']} |" in fw
    assert f"the `tare_samples` setting, {d['tare_samples']})" in proto
    for text in (proto, fw, _doc("docs/ble.md")):
        assert f"queue of {d['queue_len']} samples" in text or f"({d['queue_len']} samples" in text
    # the BOM's divider is the one the firmware scales the battery ADC by
    bom = {r["item"]: r for r in csv.DictReader((HW / "bom.csv").read_text(encoding="utf-8").splitlines())}
    assert "2 x 100 kOhm" in bom["Battery divider"]["part_number"] and config.VBAT_DIVIDER == 2.0
    # the force budget's reference build is the firmware's nominal scale and the host's "% FS" figure
    from holdsense.calibration import DESIGN_FULL_SCALE_N

    ref = _load("force_budget").budget(_load("force_budget").BUILDS[0])
    assert DESIGN_FULL_SCALE_N == pytest.approx(ref["rated_full_scale_n"], rel=1e-6)
    assert f"{ref['rated_full_scale_n']:,.0f} N full scale" in _doc("docs/calibration.md")
