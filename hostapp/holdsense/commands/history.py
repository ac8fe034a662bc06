"""`holdsense history`: stored sessions and per-region trends (hold time per week, scores, before/after)."""
from __future__ import annotations

import argparse
import math
import json
import sys
from pathlib import Path
from typing import Any

from ..coaching.flow import compare_tests, find_region
from ..errors import UserError
from ..coaching.history import History, SessionRecord, WeekTrend, default_db_path, weekly_trends
from ._options import plot_path


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "history", help="list stored sessions and per-region trends",
        description="List the sessions stored by `holdsense session` and, per body region and week, the time "
                    "spent holding, the mean session score and the before/after change.")
    add_db_option(p)
    p.add_argument("--region", help="only this body region (e.g. quads, calves)")
    p.add_argument("--plot", type=plot_path, metavar="OUT.png",
                   help="draw every session (time holding, session score, pain before → after) to an image "
                        "(png, pdf, svg)")
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
        if not sessions:
            raise UserError(f"{args.plot}: nothing to plot: {note}")
        from ._options import user_profile

        plot_sessions(sessions, Path(args.plot), name=user_profile(args).name)
        if not args.json:
            print(f"trend plot written to {args.plot}")
    return 0


def _session_json(s: SessionRecord) -> dict[str, Any]:
    ch = compare_tests(s.before, s.after) if s.before and s.after else None
    return {"id": s.id, "started_utc": s.started_utc, "region": s.region, "source": s.source,
            "recording_path": s.recording_path, "summary": s.summary,
            "session_score": s.session_score, "scored_with": s.scored_with,
            "recording_stopped": s.recording_stopped,
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
              f"{'id':>4}  {'date (local time)':<22}  {'region':<11} {'length':>7} {'holding':>8} {'holds':>5} "
              f"{'≥30s':>4} {'score':>5}  {'pain before→after':<18} recording"]
    for s in sessions:
        sm = s.summary
        pain = "-"
        if s.before and s.after and s.before.pain_0_10 is not None and s.after.pain_0_10 is not None:
            pain = f"{s.before.pain_0_10} → {s.after.pain_0_10}"
        lines.append(
            f"{s.id:>4}  {_local(s.started):<22}  {(s.region or '?'):<11} "
            f"{_mmss(sm.get('duration_s')):>7} {_mmss(sm.get('hold_s')):>8} {len(s.holds):>5} "
            f"{_fmt(sm.get('holds_over_30s')):>4} {_fmt(s.session_score):>5}  {pain:<18} "
            f"{Path(s.recording_path).name if s.recording_path else '-'}"
            + (" (stopped early: could not be written)" if s.recording_stopped else ""))
    lines += ["", "Trends per region and week (hold time, mean session score, mean change after - before)",
              f"{'region':<11} {'week of':<10} {'sessions':>8} {'holding':>8} {'≥30s':>4} {'score':>5} "
              f"{'pain Δ':>6} {'ease Δ':>6} {'range Δ':>8}"]
    for t in trends:
        lines.append(
            f"{t.region:<11} {t.week_start.isoformat():<10} {t.sessions:>8} {_mmss(t.hold_s):>8} "
            f"{t.holds_over_30s:>4} {_fmt(t.mean_session_score):>5} {_fmt(t.mean_pain_change, '{:+.1f}'):>6} "
            f"{_fmt(t.mean_ease_change, '{:+.1f}'):>6} {_fmt(t.mean_rom_change_deg, '{:+.0f}°'):>8}")
    lines.append("Pain Δ below zero and ease/range Δ above zero mean the rolling helped.")
    return "\n".join(lines)


def _local(t: Any) -> str:
    """An aware datetime as local time with the zone's name: '2026-11-24 11:00 CET'."""
    loc = t.astimezone()
    return f"{loc.strftime('%Y-%m-%d %H:%M')} {loc.tzname() or loc.strftime('%z')}"


def _mmss(v: float | None) -> str:
    """m:ss, rounded to the whole second first (419.6 s is 7:00, never 6:60); hours from an hour on."""
    if v is None:
        return "-"
    t = int(round(float(v)))
    return f"{t // 60}:{t % 60:02d}" if t < 3600 else f"{t / 3600:.1f} h"


def plot_sessions(sessions: list[SessionRecord], out: Path, *, name: str | None = None) -> None:
    """`sessions_figure` written to `out` (png, pdf, svg by the suffix)."""
    from ..plots import save_figure

    save_figure(sessions_figure(sessions, name=name), out, dpi=120)


def sessions_figure(sessions: list[SessionRecord], *, name: str | None = None) -> Any:
    """One column per session, oldest left, coloured by region: minutes holding (bars, with the number of
    holds), the session score (points, with the value) and pain before → after (arrows). Readable from
    one session on; with many sessions the tick labels thin out."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    regions = sorted({s.region or "unknown" for s in sessions})
    colour = {r: f"C{k % 10}" for k, r in enumerate(regions)}
    n = len(sessions)
    x = np.arange(n)
    cols = [colour[s.region or "unknown"] for s in sessions]
    width_in = min(14.0, max(6.5, 1.6 + 0.45 * n))
    fig, axes = plt.subplots(3, 1, figsize=(width_in, 8), sharex=True, layout="constrained",
                             height_ratios=[1.1, 1.0, 1.0])
    hold_min = [float(s.summary.get("hold_s") or 0.0) / 60 for s in sessions]
    bars = axes[0].bar(x, hold_min, width=0.6, color=cols, gid="hold-bars")
    if n <= 20:
        labels = [f"{len(s.holds)} hold{'' if len(s.holds) == 1 else 's'}" for s in sessions]
        axes[0].bar_label(bars, labels=labels, padding=2, fontsize=8)
    axes[0].set_ylabel("holding (min)")
    axes[0].set_ylim(0, max(1.0, max(hold_min)) * 1.25)
    title = "holdsense history" + (f": {name}" if name else "") + f" — {n} session{'' if n == 1 else 's'}"
    axes[0].set_title(title, loc="left")

    scores = [s.session_score for s in sessions]
    ys = [np.nan if v is None else float(v) for v in scores]
    axes[1].axhspan(75, 100, color="#1e7d45", alpha=0.07, lw=0)
    if n > 1:
        axes[1].plot(x, ys, color="0.6", lw=1, zorder=1)
    axes[1].scatter(x, ys, c=cols, s=60, zorder=2, gid="session-scores")
    if n <= 20:
        for xi, v in zip(x, scores):
            if v is not None:
                axes[1].annotate(str(v), (xi, v), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    axes[1].set_ylabel("session score")
    axes[1].set_ylim(0, 108)

    ax = axes[2]
    any_pain = False
    for xi, s in zip(x, sessions):
        b = s.before.pain_0_10 if s.before else None
        a = s.after.pain_0_10 if s.after else None
        if b is not None:
            ax.plot([xi], [b], "o", mfc="white", mec=colour[s.region or "unknown"], ms=7, gid="pain-before")
            any_pain = True
        if a is not None:
            ax.plot([xi], [a], "o", color=colour[s.region or "unknown"], ms=7, gid="pain-after")
            any_pain = True
        if a is not None and b is not None and a != b:
            ax.annotate("", (xi, a), (xi, b), arrowprops=dict(arrowstyle="->", color="0.35", lw=1.2))
    if not any_pain:
        ax.text(0.5, 0.5, "no before/after pain ratings yet (a guided session asks for them)",
                transform=ax.transAxes, ha="center", va="center", color="0.45")
    ax.set_ylabel("pain 0–10\n(○ before → ● after)")
    ax.set_ylim(-0.5, 10.5)
    step = max(1, int(math.ceil(n / 16)))  # at most ~16 tick labels
    ax.set_xticks(x[::step])
    ax.set_xticklabels([_tick(s) for s in sessions][::step], fontsize=8)
    pad = max(0.7, (4 - n) / 2 + 0.2)  # a few sessions keep narrow bars in the middle, not page-wide slabs
    ax.set_xlim(-pad, n - 1 + pad)
    for a_ in axes:
        a_.grid(axis="y", alpha=0.3)
        for side in ("top", "right"):
            a_.spines[side].set_visible(False)
    axes[0].legend(handles=[Patch(color=colour[r], label=r) for r in regions], loc="lower right",
                   bbox_to_anchor=(1.0, 1.0), fontsize="small", ncols=min(6, len(regions)), frameon=False)
    return fig


def _tick(s: SessionRecord) -> str:
    loc = s.started.astimezone()
    return f"{loc.strftime('%d %b')}\n{loc.strftime('%H:%M')}\n#{s.id}"
