"""Can a listener follow the form? Which tracks play when, and how loud and busy each section is.

What scripts/eval_form.py measures on long renders through the real engine (conductor, a tier,
arranger, synth): per 4-bar block the tracks that sound, how many tracks enter and leave per
32 bars, and per section its short-term loudness (ITU-R BS.1770 through pyloudnorm, an outside
meter) and its note density, beside what the arranger intends for that section.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge.context.context import Context
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.music.arranger import playing
from edge.music.events import TRACKS, Bar
from edge.music.style import StyleLibrary

RATE = 48000
BLOCK_BARS = 4
#: Short-term loudness: 3 s windows (EBU R 128), one every second.
WINDOW_S, HOP_S = 3.0, 1.0


@dataclass
class Render:
    """A render and the bars it played, with each bar's first frame."""

    audio: np.ndarray
    bars: list[Bar]
    starts: list[int]
    tiers: dict[str, int] = field(default_factory=dict)


def render(style: str, activity: str, tier: str, minutes: float, seed: int, models=None) -> Render:
    """``minutes`` of ``style`` at ``tier`` through the engine, as the daemon would play it."""
    context = Context(style=style, activity=activity)
    registry = TierRegistry(models) if tier != "0" else None
    bars: list[Bar] = []
    engine = Engine(
        StyleLibrary(), lambda: context, seed, on_bar=bars.append, registry=registry, tier=tier,
        sample_rate=RATE,
    )  # fmt: skip
    frames = int(minutes * 60 * RATE)
    blocks = [engine.render_block(4096) for _ in range(frames // 4096)]
    audio = np.concatenate(blocks)
    starts = [0, *itertools.accumulate(round(b.seconds * RATE) for b in bars)][: len(bars)]
    kept = [(b, s) for b, s in zip(bars, starts, strict=True) if s < len(audio)]
    tiers: dict[str, int] = {}
    for bar, _ in kept:
        tiers[bar.source] = tiers.get(bar.source, 0) + 1
    return Render(audio, [b for b, _ in kept], [s for _, s in kept], tiers)


def tracks_of(bars: list[Bar]) -> frozenset[str]:
    """Tracks with at least one note in ``bars``."""
    return frozenset(n.track for bar in bars for n in bar.notes)


def block_tracks(bars: list[Bar]) -> list[frozenset[str]]:
    """The tracks sounding in each 4-bar block."""
    return [tracks_of(bars[i : i + BLOCK_BARS]) for i in range(0, len(bars) - BLOCK_BARS + 1, BLOCK_BARS)]


def entries_exits_per_32(blocks: list[frozenset[str]]) -> tuple[float, float]:
    """Tracks entering and leaving between consecutive 4-bar blocks, per 32 bars."""
    entries = sum(len(b - a) for a, b in itertools.pairwise(blocks))
    exits = sum(len(a - b) for a, b in itertools.pairwise(blocks))
    scale = 32 / (BLOCK_BARS * max(1, len(blocks) - 1))
    return entries * scale, exits * scale


def short_term_loudness(audio: np.ndarray) -> np.ndarray:
    """LUFS of each 3 s window, one per second (pyloudnorm's BS.1770 meter)."""
    import pyloudnorm

    meter = pyloudnorm.Meter(RATE, block_size=0.4)
    width, hop = int(WINDOW_S * RATE), int(HOP_S * RATE)
    return np.array(
        [meter.integrated_loudness(audio[i : i + width]) for i in range(0, len(audio) - width + 1, hop)]
    )


def sections(result: Render) -> list[dict[str, Any]]:
    """Each section as played: its name, bars, tracks (intended and heard), loudness and density."""
    loud = short_term_loudness(result.audio)
    out = []
    groups = itertools.groupby(
        zip(result.bars, result.starts, strict=True),
        key=lambda pair: (pair[0].plan.section, pair[0].plan.index - pair[0].plan.bar_in_section),
    )
    for (name, _), members in groups:
        members = list(members)
        bars = [b for b, _ in members]
        first, last = members[0][1], members[-1][1] + round(members[-1][0].seconds * RATE)
        lo = int(first / RATE / HOP_S)
        windows = loud[lo : max(lo + 1, int((last / RATE - WINDOW_S) / HOP_S) + 1)]
        windows = windows[np.isfinite(windows)]
        seconds = (last - first) / RATE
        pitched = sum(1 for b in bars for n in b.notes if n.track != "drums")
        drums = sum(1 for b in bars for n in b.notes if n.track == "drums")
        out.append(
            {
                "section": name,
                "bars": len(bars),
                "intended": sorted(set().union(*(playing(b.plan) for b in bars)) & set(TRACKS)),
                "tracks": sorted(tracks_of(bars)),
                "lufs": float(np.median(windows)) if len(windows) else float("nan"),
                "notes_per_s": pitched / seconds,
                "drums_per_s": drums / seconds,
                "energy": float(np.mean([b.plan.energy for b in bars])),
            }
        )
    return out


def summary(result: Render) -> dict[str, Any]:
    """The form figures of one render."""
    blocks = block_tracks(result.bars)
    entries, exits = entries_exits_per_32(blocks)
    every = max((len(b) for b in blocks), default=0)
    per_section = sections(result)
    by_name: dict[str, list[float]] = {}
    for s in per_section:
        if np.isfinite(s["lufs"]):
            by_name.setdefault(s["section"], []).append(s["lufs"])
    medians = {k: float(np.median(v)) for k, v in by_name.items()}
    return {
        "bars": len(result.bars),
        "tiers": result.tiers,
        "blocks": len(blocks),
        "full_blocks": sum(len(b) == every for b in blocks) / max(1, len(blocks)),
        "entries_per_32": entries,
        "exits_per_32": exits,
        "sections": per_section,
        "lufs_by_section": medians,
        "lufs_spread": (max(medians.values()) - min(medians.values())) if medians else float("nan"),
    }
