"""`holdsense simulate [--scenario NAME|FILE] [--seed N] -o OUT.csv [--overwrite]`: a synthetic session with ground truth.

Writes a `holdsense-recording/1` file (CSV or .csv.gz) and `OUT.labels.json`
(contracts.md §2) beside it. Scenario families and the file format:
docs/scenarios.md.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import UserError
from ._options import number, output_path, seed

#: the independently designed generators with built-in families (no scenario files)
BUILTIN = ("quasistatic", "controlsim", "tissuesim", "trajsim")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("simulate", help="simulate a labelled roller session (no hardware needed)",
                       description="Simulate a roller session from a scenario (a built-in family or a JSON "
                                   "file): writes the recording and a labels file with the ground truth.")
    p.add_argument("--scenario", default="standard", metavar="NAME|FILE",
                   help="built-in family (see --list) or scenario JSON file (default: standard)")
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="random seed: same seed, same session (default 0)")
    p.add_argument("--duration", type=number(1.0, 48 * 3600.0, unit="s", what="a session length"), metavar="S", dest="duration_s",
                   help="session length in seconds (cuts the scenario, or repeats it with new draws)")
    p.add_argument("--rate", type=number(5.0, 100.0, unit="Hz", what="a simulated sample rate"), metavar="HZ", dest="rate_hz",
                   help="nominal sample rate, 5-100 Hz (HX711: 10 or 80; actual rate runs 0.975-1.15x)")
    p.add_argument("--no-encoder", action="store_true", help="force-only roller: no angle_deg column")
    p.add_argument("--body-mass", type=number(20.0, 250.0, unit="kg", what="a body mass the simulator models"), metavar="KG", dest="body_mass_kg", help="body mass, 20-250 kg")
    p.add_argument("-o", "--output", type=output_path, metavar="OUT.csv", help="recording to write (.csv or .csv.gz)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT.csv and OUT.labels.json if they exist")
    p.add_argument("--list", action="store_true", help="list the built-in scenario families and exit")
    p.add_argument("--generator", choices=("sim",) + BUILTIN, default="sim",
                   help="session generator: sim (scenario files, default), quasistatic (the independent "
                        "body-on-roller statics model), controlsim (the person as a delayed feedback "
                        "controller), tissuesim (posture-controlled sinking onto viscoelastic tissue and "
                        "foam) or trajsim (human-like stroke trajectories over a load profile along the limb); "
                        "all but sim have built-in families only (docs/scenarios.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if getattr(args, "generator", "sim") in BUILTIN:
        return _run_builtin(args, args.generator)
    from ..sim import list_families, load_scenario, simulate

    if args.list:
        fams = list_families()
        width = max(len(n) for n, _ in fams)
        for name, desc in fams:
            print(f"{name:<{width}}  {desc}")
        return 0
    if not args.output:
        raise UserError("simulate needs -o OUT.csv (or --list)")
    out = _checked_output(args.output, args.overwrite)
    scenario = load_scenario(args.scenario)
    res = simulate(scenario, args.seed, rate_hz=args.rate_hz, encoder=False if args.no_encoder else None,
                   body_mass_kg=args.body_mass_kg, duration_s=args.duration_s)
    rec_path, lab_path = _write(res, out)
    holds = [s for s in res.labels["segments"] if s["kind"] == "hold"]
    s = res.samples
    print(f"{rec_path}: {res.metadata['scenario']} seed {args.seed}, {res.duration_s:.1f} s, {len(s)} samples "
          f"at ~{res.metadata['sample_rate_hz']} Hz, {'encoder' if s.has_angle else 'force only'}, "
          f"body {res.metadata['body_mass_kg']} kg, {len(holds)} hold{'' if len(holds) == 1 else 's'}", file=sys.stdout)
    print(f"{lab_path}: ground truth ({len(res.labels['segments'])} segments)")
    return 0


def _checked_output(out: str, overwrite: bool) -> str:
    """The -o path, refused (exit 2) unless it names a recording file; an existing recording or labels file
    (OUT.labels.json) is refused without `overwrite`, as `record` does, before anything is written."""
    from ..io.labels import labels_path_for
    from .record import check_output

    if not (out.endswith(".csv") or out.endswith(".csv.gz")):
        raise UserError(f"-o {out}: the recording must be a .csv or .csv.gz file")
    check_output(out, overwrite)
    check_output(str(labels_path_for(out)), overwrite)  # the ground truth is data too (hand-corrected, maybe)
    return out


def _write(session: Any, out: str) -> tuple[Any, Any]:
    """Write a generated session (either generator: both have `.write`) and its labels; exit 2 on OS errors."""
    try:
        return session.write(out)
    except OSError as exc:
        raise UserError(f"-o {out}: cannot write ({exc.strerror or exc})") from None


def _run_builtin(args: argparse.Namespace, name: str) -> int:
    """`--generator quasistatic|controlsim|tissuesim|trajsim`: a built-in family of that generator (no scenario files)."""
    if name == "trajsim":
        from ..trajsim import FAMILIES, FAMILY_DESCRIPTIONS, generate  # type: ignore[no-redef]
    elif name == "controlsim":
        from ..controlsim import FAMILIES, FAMILY_DESCRIPTIONS, generate
    elif name == "tissuesim":
        from ..tissuesim import FAMILIES, FAMILY_DESCRIPTIONS, generate  # type: ignore[no-redef]
    else:
        from ..quasistatic import FAMILIES, FAMILY_DESCRIPTIONS, generate  # type: ignore[no-redef]

    if args.list:
        width = max(len(n) for n in FAMILIES)
        for name in FAMILIES:
            print(f"{name:<{width}}  {FAMILY_DESCRIPTIONS[name]}")
        return 0
    if not args.output:
        raise UserError("simulate needs -o OUT.csv (or --list)")
    out = _checked_output(args.output, args.overwrite)
    if args.scenario not in FAMILIES:
        raise UserError(f"--scenario {args.scenario}: the {name} generator has the families "
                        f"{', '.join(FAMILIES)} (no scenario files)")
    for opt, val in (("--duration", args.duration_s), ("--body-mass", args.body_mass_kg)):
        if val is not None:
            raise UserError(f"{opt}: not supported by the {name} generator (it draws every value per seed)")
    if args.rate_hz is not None and not (5.0 <= args.rate_hz <= 100.0):
        raise UserError(f"--rate {args.rate_hz:g}: must be 5-100 Hz (the HX711 offers 10 or 80)")
    if args.seed < 0:
        raise UserError(f"--seed {args.seed}: must be 0 or more")
    try:
        s = generate(args.scenario, args.seed, rate_hz=args.rate_hz, encoder=False if args.no_encoder else None)
    except ValueError as exc:  # a value this generator does not model (trajsim: only 10 or 80 Hz)
        raise UserError(f"--generator {name}: {exc}") from None
    rec_path, lab_path = _write(s, out)
    holds = [x for x in s.labels["segments"] if x["kind"] == "hold"]
    md = s.metadata
    foam = f", {md['foam']} foam" if "foam" in md else ""
    print(f"{rec_path}: {name} {args.scenario} seed {args.seed}, {s.duration_s:.1f} s, {len(s.t_s)} samples "
          f"at ~{md['sample_rate_hz']} Hz, {'encoder' if s.angle_deg is not None else 'force only'}, "
          f"{md['shell']} shell{foam}, body {md['body_mass_kg']} kg, {len(holds)} hold{'' if len(holds) == 1 else 's'}")
    print(f"{lab_path}: ground truth ({len(s.labels['segments'])} segments)")
    return 0
