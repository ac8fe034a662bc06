"""`holdsense history`: stored sessions and per-region trends (hold time per week, scores, before/after).

One person at a time: the default profile's sessions (stored without --client), or one client's
(`--client NAME` / $HOLDSENSE_CLIENT); `--all-clients` lists everyone's, with who, and keeps their trends
apart."""
from __future__ import annotations

import argparse
import math
import json
import sys
from pathlib import Path
from typing import Any

from ..coaching.flow import compare_tests, find_region
from ..errors import UserError
from ..coaching.history import ALL_CLIENTS, History, SessionRecord, WeekTrend, default_db_path, weekly_trends
from ._options import add_client_option, current_client, plot_path


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "history", help="list stored sessions and per-region trends",
        description="List the sessions stored by `holdsense session` and, per body region and week, the time "
                    "spent holding, the mean session score and the before/after change. One person at a time: "
                    "your own sessions, or a client's (--client NAME); --all-clients lists everyone's.")
    add_db_option(p)
    add_client_option(p, help="this client's sessions (default: $HOLDSENSE_CLIENT, else your own: the sessions "
                              "stored without --client)")
    p.add_argument("--all-clients", action="store_true",
                   help="everyone's sessions, with whose each is; trends stay per client (not with --plot)")
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


def _selected_client(args: argparse.Namespace) -> Any:
    """Whose sessions: ALL_CLIENTS (--all-clients), a client's name (as their profile spells it, when they
    have one), or None for the default profile's."""
    if args.all_clients:
        if args.client is not None:
            raise UserError("--client and --all-clients: choose one")
        if args.plot:
            raise UserError("--plot draws one person's sessions: give --client NAME (or none, for your own) "
                            "instead of --all-clients")
        return ALL_CLIENTS
    name = current_client(args)
    if name is None:
        return None
    from .. import userprofile

    prof = userprofile.load_client(name)  # a client without a profile may still have sessions
    if prof is None and userprofile.renamed_client(name) is not None:
        # their sessions moved with the rename: "no sessions of client OLD" read as lost history
        raise userprofile.unknown_client_error(name, advice=False)
    return prof.name if prof is not None and prof.name else name


def run(args: argparse.Namespace) -> int:
    path = default_db_path(args.db)
    region = find_region(args.region).key if args.region else None
    client = _selected_client(args)
    whose = "" if client is None or client is ALL_CLIENTS else f" of client {client}"
    others: list[tuple[str | None, int]] = []
    if not path.exists():
        sessions: list[SessionRecord] = []
        note = f"no sessions stored yet (history: {path})"
    else:
        with History.open(path) as h:
            if h.migrated_from is not None:
                print(f"holdsense: history migrated from schema v{h.migrated_from} to v{h.version}; "
                      f"backup kept at {h.backup_path}", file=sys.stderr)
            sessions = h.sessions(region, client=client)
            if client is not ALL_CLIENTS:  # say that others' sessions exist, so none seem lost
                others = [(c, n) for c, n in h.clients()
                          if not (c is None and client is None or c is not None and client and _same(c, client))]
        if sessions:
            note = f"history: {path}" + (f" (sessions of client {client})" if whose else "")
        else:
            note = f"no sessions{whose}{' for ' + region if region else ''} (history: {path})"
        if others and not args.json:
            who = ", ".join(f"{c if c is not None else 'yours (no --client)'}: {n}" for c, n in others)
            note += f"\nnot shown, other people's sessions ({who}): --client NAME or --all-clients"
    trends = weekly_trends(sessions)
    if args.json:
        print(json.dumps({"format": "holdsense-history/1", "db": str(path),
                          "client": None if client is ALL_CLIENTS else client,
                          "all_clients": client is ALL_CLIENTS,
                          "sessions": [_session_json(s) for s in sessions],
                          "trends": [t.to_dict() for t in trends]}))
    else:
        print(format_history(sessions, trends, note, show_client=client is ALL_CLIENTS))
    if args.plot:
        if not sessions:
            raise UserError(f"{args.plot}: nothing to plot: {note.splitlines()[0]}")
        if client is None:
            from ._options import user_profile

            name = user_profile(args).name  # your own sessions: your profile's name
        else:
            name = client
        plot_sessions(sessions, Path(args.plot), name=name)
        if not args.json:
            print(f"trend plot written to {args.plot}")
    return 0


def _same(a: str, b: str) -> bool:
    from ..userprofile import same_person

    return same_person(a, b)


def _session_json(s: SessionRecord) -> dict[str, Any]:
    ch = compare_tests(s.before, s.after) if s.before and s.after else None
    return {"id": s.id, "started_utc": s.started_utc, "client": s.client, "region": s.region, "source": s.source,
            "recording_path": s.recording_path, "summary": s.summary,
            "session_score": s.session_score, "scored_with": s.scored_with,
            "recording_stopped": s.recording_stopped,
            "hold_scores": [h.get("score") for h in s.holds], "mean_hold_score": s.mean_hold_score,
            "before": s.before.to_dict() if s.before else None, "after": s.after.to_dict() if s.after else None,
            "change": ch.to_dict() if ch else None}


def _fmt(v: float | None, fmt: str = "{:.0f}", none: str = "-") -> str:
    return none if v is None else fmt.format(v)


def _who(client: str | None, width: int) -> str:
    from ..userprofile import fit  # in terminal columns: a CJK name takes two per character

    return fit(client if client is not None else "-", width) + " "


def format_history(sessions: list[SessionRecord], trends: list[WeekTrend], note: str, *,
                   show_client: bool = False) -> str:
    """The plain-text listing: sessions, then trends per region and week (per client first, with
    `show_client`: a client column, '-' for the sessions stored without a client)."""
    lines = [note]
    if not sessions:
        return "\n".join(lines)
    from ..userprofile import display_width

    cw = min(20, max([len("client")] + [display_width(s.client or "-") for s in sessions])) if show_client else 0
    chead = "client".ljust(cw) + " " if show_client else ""
    lines += ["", "Sessions" + (" (client '-': stored without --client, your own)" if show_client else ""),
              f"{'id':>4}  {'date (local time)':<22}  {chead}{'region':<11} {'length':>7} {'holding':>8} {'holds':>5} "
              f"{'≥30s':>4} {'score':>5}  {'pain before→after':<18} recording"]
    for s in sessions:
        sm = s.summary
        pain = "-"
        if s.before and s.after and s.before.pain_0_10 is not None and s.after.pain_0_10 is not None:
            pain = f"{s.before.pain_0_10} → {s.after.pain_0_10}"
        lines.append(
            f"{s.id:>4}  {_local(s.started):<22}  {_who(s.client, cw) if show_client else ''}{(s.region or '?'):<11} "
            f"{_mmss(sm.get('duration_s')):>7} {_mmss(sm.get('hold_s')):>8} {len(s.holds):>5} "
            f"{_fmt(sm.get('holds_over_30s')):>4} {_fmt(s.session_score):>5}  {pain:<18} "
            f"{Path(s.recording_path).name if s.recording_path else '-'}"
            + (" (stopped early: could not be written)" if s.recording_stopped else ""))
    lines += ["", "Trends per " + ("client, " if show_client else "")
              + "region and week (hold time, mean session score, mean change after - before)",
              f"{chead}{'region':<11} {'week of':<10} {'sessions':>8} {'holding':>8} {'≥30s':>4} {'score':>5} "
              f"{'pain Δ':>6} {'ease Δ':>6} {'range Δ':>8}"]
    for t in trends:
        lines.append(
            f"{_who(t.client, cw) if show_client else ''}{t.region:<11} {t.week_start.isoformat():<10} {t.sessions:>8} {_mmss(t.hold_s):>8} "
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
    holds), the session score (points with the value, joined by one line per region) and pain before →
    after (arrows). Readable from one session on; with many sessions the tick labels thin out.

    One person's sessions: `name` is theirs, in the title. Sessions of several people are refused."""
    from ..userprofile import client_key

    people = {None if s.client is None else client_key(s.client) for s in sessions}
    if len(people) > 1:
        raise UserError("a history plot shows one person's sessions; these are of "
                        f"{len(people)} people (choose one with --client NAME)")
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
    from ..verdict import GOOD_FROM, TONE_TEXT_COLOURS

    axes[1].axhspan(GOOD_FROM, 100, color=TONE_TEXT_COLOURS["good"], alpha=0.07, lw=0)  # the green score band
    for r in regions:  # one line per region: a quads score is not followed by a calves score
        idx = [i for i, s in enumerate(sessions) if (s.region or "unknown") == r]
        if len(idx) > 1:
            axes[1].plot(x[idx], [ys[i] for i in idx], color=colour[r], lw=1, alpha=0.6, zorder=1,
                         gid=f"score-line-{r}")
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
