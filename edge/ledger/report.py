"""The ledger read back: the split of played time, for ``credits``, MQTT and Home Assistant.

Style packs and models are each credited with every second they played; the training
sources of a model share its seconds by their share of the training data. So within
each kind the shares add up to the whole (tier 0's seconds count as the procedural
model's, which has no sources).
"""

from __future__ import annotations

from typing import Any

from edge.ledger.contributors import KINDS
from edge.ledger.store import Row, Store

KIND_TITLES = {
    "style": "style packs",
    "model": "models",
    "source": "training sources (a model's seconds split by their share of its training data)",
}


def _entry(row: Row, music_ms: int, terms: bool) -> dict[str, Any]:
    who = row.contributor
    entry: dict[str, Any] = {"kind": who.kind, "name": who.name, "credit": who.credit}
    if terms:
        entry["terms"] = who.terms
    entry["seconds"] = round(row.ms / 1000, 3)
    entry["share"] = round(row.ms / music_ms, 4) if music_ms else 0.0
    return entry


def top_contributor(rows: list[Row]) -> Row | None:
    """Who the music drew on most: the training source credited the most time; when only
    the procedural tier played (no sources), the style pack played the most."""
    for kind in ("source", "style"):
        found = [r for r in rows if r.contributor.kind == kind]
        if found:
            return max(found, key=lambda r: r.ms)
    return None


def split(store: Store, since: str = "", until: str = "", terms: bool = True) -> dict[str, Any]:
    """The split over days ``since``..``until`` (YYYY-MM-DD, inclusive; empty: open)."""
    rows = store.rows(since, until)
    music = store.music_ms(since, until)
    days = [d for d, _, _ in store.days() if d >= since and (not until or d <= until)]
    order = {kind: i for i, kind in enumerate(KINDS)}
    rows_sorted = sorted(rows, key=lambda r: (order.get(r.contributor.kind, 9), -r.ms, r.contributor.name))
    top = top_contributor(rows)
    return {
        "since": days[0] if days else since or None,
        "until": days[-1] if days else until or None,
        "seconds": round(music / 1000, 3),
        "top": None if top is None else _entry(top, music, terms=False),
        "contributors": [_entry(r, music, terms) for r in rows_sorted],
    }


def daily_summary(store: Store, day: str) -> dict[str, Any]:
    """The retained MQTT summary of one day (terms are left to ``edge-music about``)."""
    summary = split(store, day, day, terms=False)
    return {
        "day": day,
        "ai_generated": True,
        **{k: v for k, v in summary.items() if k not in ("since", "until")},
    }


def duration(seconds: float) -> str:
    """``2 h 05 min``, ``12 min 30 s``, ``40 s``."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{seconds:.0f} s"


def format_split(summary: dict[str, Any], path: str) -> str:
    """The split as the text ``edge-music credits`` prints."""
    if not summary["contributors"]:
        return f"Nothing played in this period (ledger {path}).\n"
    period = (
        summary["since"]
        if summary["since"] == summary["until"]
        else f"{summary['since']} to {summary['until']}"
    )
    lines = [f"{duration(summary['seconds'])} of music, {period} (ledger {path})", ""]
    entries = summary["contributors"]
    name_w = max(len(e["name"]) for e in entries)
    credit_w = max(len(e["credit"]) for e in entries)
    for kind in KINDS:
        mine = [e for e in entries if e["kind"] == kind]
        if not mine:
            continue
        lines.append(KIND_TITLES[kind])
        for e in mine:
            lines.append(
                f"  {e['name']:<{name_w}}  {e['credit']:<{credit_w}}  {duration(e['seconds']):>13}"
                f"  {100 * e['share']:5.1f} %"
                + ("" if e.get("terms", "") != "unattributed" else "  (no terms declared)")
            )
        lines.append("")
    top = summary["top"]
    if top is not None:
        lines.append(f"top contributor: {top['credit']} ({top['kind']} {top['name']})")
    return "\n".join(lines).rstrip() + "\n"
