"""`holdsense history`: stored sessions and per-region trends (hold time per week, scores, before/after)."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..coaching.flow import compare_tests, find_region
from ..errors import UserError
from ..coaching.history import History, SessionRecord, WeekTrend, default_db_path, weekly_trends


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "history", help="list stored sessions and per-region trends",
        description="List the sessions stored by `holdsense session` and, per body region and week, the time "
                    "spent holding, the mean hold score and the before/after change.")
    add_db_option(p)
    p.add_argument("--region", help="only this body region (e.g. quads, calves)")
    p.add_argument("--plot", metavar="OUT.png", help="draw the weekly trends to an image (png, pdf, svg)")
    p.add_argument("--json", action="store_true", help="sessions and trends as one JSON object on stdout")
    p.set_defaults(func=run)


def add_db_option(p: argparse.ArgumentParser) -> None:
    """--db, shared by session/history/report."""
    p.add_argument("--db", metavar="PATH",
                   help="history database (default: $HOLDSENSE_HISTORY, else history.sqlite3 in the user's data "
                        "directory)")


def run(args: argparse.Namespace) -> int:
    path = default_db_path(args.db)
    region = find_region(args.region).key if args.region else None
    if not path.exists():
        sessions: list[SessionRecord] = []
        note = f"no sessions stored yet (history: {path})"
    else:
        with History.open(path) as h:
            if h.migrated_from is not None:
                print(f"holdsense: history migrated from schema v{h.migrated_from} to v{h.version}; "
                      f"backup kept at {h.backup_path}", file=sys.stderr)
            sessions = h.sessions(region)
        note = f"history: {path}" if sessions else f"no sessions{' for ' + region if region else ''} (history: {path})"
    trends = weekly_trends(sessions)
    if args.json:
        print(json.dumps({"format": "holdsense-history/1", "db": str(path),
                          "sessions": [_session_json(s) for s in sessions],
                          "trends": [t.to_dict() for t in trends]}))
    else:
        print(format_history(sessions, trends, note))
    if args.plot:
        if not trends:
            raise UserError(f"{args.plot}: nothing to plot: {note}")
        plot_trends(trends, Path(args.plot))
        if not args.json:
            print(f"trend plot written to {args.plot}")
    return 0


def _session_json(s: SessionRecord) -> dict[str, Any]:
    ch = compare_tests(s.before, s.after) if s.before and s.after else None
    return {"id": s.id, "started_utc": s.started_utc, "region": s.region, "source": s.source,
            "recording_path": s.recording_path, "summary": s.summary,
            "hold_scores": [h.get("score") for h in s.holds], "mean_hold_score": s.mean_hold_score,
            "before": s.before.to_dict() if s.before else None, "after": s.after.to_dict() if s.after else None,
            "change": ch.to_dict() if ch else None}


def _fmt(v: float | None, fmt: str = "{:.0f}", none: str = "-") -> str:
    return none if v is None else fmt.format(v)


def format_history(sessions: list[SessionRecord], trends: list[WeekTrend], note: str) -> str:
    """The plain-text listing: sessions, then trends per region and week."""
    lines = [note]
    if not sessions:
        return "\n".join(lines)
    lines += ["", "Sessions",
              f"{'id':>4}  {'date (UTC)':<16}  {'region':<11} {'length':>7} {'holding':>8} {'holds':>5} "
              f"{'≥30s':>4} {'score':>5}  {'pain before→after':<18} recording"]
    for s in sessions:
        sm = s.summary
        pain = "-"
        if s.before and s.after and s.before.pain_0_10 is not None and s.after.pain_0_10 is not None:
            pain = f"{s.before.pain_0_10} → {s.after.pain_0_10}"
        lines.append(
            f"{s.id:>4}  {s.started.strftime('%Y-%m-%d %H:%M'):<16}  {(s.region or '?'):<11} "
            f"{_mmss(sm.get('duration_s')):>7} {_mmss(sm.get('hold_s')):>8} {len(s.holds):>5} "
            f"{_fmt(sm.get('holds_over_30s')):>4} {_fmt(s.mean_hold_score):>5}  {pain:<18} "
            f"{Path(s.recording_path).name if s.recording_path else '-'}")
    lines += ["", "Trends per region and week (hold time, mean hold score, mean change after - before)",
              f"{'region':<11} {'week of':<10} {'sessions':>8} {'holding':>8} {'≥30s':>4} {'score':>5} "
              f"{'pain Δ':>6} {'ease Δ':>6} {'range Δ':>8}"]
    for t in trends:
        lines.append(
            f"{t.region:<11} {t.week_start.isoformat():<10} {t.sessions:>8} {_mmss(t.hold_s):>8} "
            f"{t.holds_over_30s:>4} {_fmt(t.mean_hold_score):>5} {_fmt(t.mean_pain_change, '{:+.1f}'):>6} "
            f"{_fmt(t.mean_ease_change, '{:+.1f}'):>6} {_fmt(t.mean_rom_change_deg, '{:+.0f}°'):>8}")
    lines.append("Pain Δ below zero and ease/range Δ above zero mean the rolling helped.")
    return "\n".join(lines)


def _mmss(v: float | None) -> str:
    if v is None:
        return "-"
    v = float(v)
    return f"{int(v // 60)}:{int(round(v % 60)):02d}" if v < 3600 else f"{v / 3600:.1f} h"


def plot_trends(trends: list[WeekTrend], out: Path) -> None:
    """Three panels over weeks, one colour per region: minutes holding (bars), mean hold score, pain change."""
    import datetime as dt

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    regions = sorted({t.region for t in trends})
    fig, axes = plt.subplots(3, 1, figsize=(8.5, 8), sharex=True, layout="constrained")
    width_d = 6.0 / max(1, len(regions))  # bars of one week side by side, one per region
    for k, r in enumerate(regions):
        ts = [t for t in trends if t.region == r]
        color = f"C{k % 10}"
        x = [t.week_start for t in ts]
        offset = dt.timedelta(days=0.5 + width_d * (k + 0.5))
        axes[0].bar([d + offset for d in x], [t.hold_s / 60 for t in ts], width=width_d * 0.9, color=color,
                    label=r)
        mid = [d + dt.timedelta(days=3.5) for d in x]
        axes[1].plot(mid, [t.mean_hold_score if t.mean_hold_score is not None else float("nan") for t in ts],
                     marker="o", color=color, label=r)
        axes[2].plot(mid, [t.mean_pain_change if t.mean_pain_change is not None else float("nan") for t in ts],
                     marker="o", color=color, label=r)
    axes[0].set_ylabel("holding\n(min per week)")
    axes[0].set_ylim(bottom=0)
    axes[0].set_title("holdsense history: trends per body region", loc="left")
    axes[1].set_ylabel("mean hold score")
    axes[1].set_ylim(0, 100)
    axes[2].set_ylabel("pain change\n(after − before)")
    axes[2].axhline(0, color="0.6", lw=0.8)
    axes[2].set_xlabel("week (ticks on Mondays, UTC)")
    n_weeks = (max(t.week_start for t in trends) - min(t.week_start for t in trends)).days // 7 + 1
    axes[2].xaxis.set_major_locator(mdates.WeekdayLocator(byweekday=mdates.MO, interval=max(1, n_weeks // 10)))
    axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%d %b\n%Y"))
    for ax in axes:
        ax.grid(alpha=0.3)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize="small", ncols=min(6, len(regions)),
                   frameon=False)
    try:
        fig.savefig(out, dpi=120)
    except (OSError, ValueError) as exc:
        raise UserError(f"{out}: cannot write plot ({exc})") from None
    finally:
        plt.close(fig)
