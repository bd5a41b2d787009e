"""The notes of one bar of one part, on the sixteenth grid: ties joined, quantized, made monophonic."""

from __future__ import annotations

import math
from dataclasses import dataclass


def snap(x: float) -> int:
    """Round to the sixteenth grid (halves up)."""
    return math.floor(x + 0.5 + 1e-9)


@dataclass
class _Raw:
    start: float  # sixteenths from the bar line (after a pickup's shift)
    end: float
    pitch: int


def note_events(measure, shift: float) -> list[tuple[float, float, int, str | None]]:
    """(start, end, pitch, tie type) of a measure's sounding notes in sixteenths; grace notes dropped."""
    from music21 import chord, harmony, note

    out = []
    for el in measure.flatten().notes:
        if isinstance(el, harmony.Harmony):
            continue
        ql = float(el.duration.quarterLength)
        if el.duration.isGrace or ql <= 0:
            continue
        start = (float(el.offset) + shift) * 4
        end = start + ql * 4
        if isinstance(el, note.Note):
            out.append((start, end, el.pitch.midi, el.tie.type if el.tie else None))
        elif isinstance(el, chord.Chord):
            for n in el.notes:
                tie = n.tie or el.tie
                out.append((start, end, n.pitch.midi, tie.type if tie else None))
    out.sort(key=lambda e: (e[0], e[2]))
    return out


def merge_ties(events: list[tuple[float, float, int, str | None]]) -> list[_Raw]:
    """Join tie continuations onto the note they continue in this bar; a continuation that
    opens the bar (its note began in an earlier bar) becomes a note of its own."""
    kept: list[_Raw] = []
    for start, end, pitch, tie in events:
        if tie in ("continue", "stop"):
            prev = next((r for r in kept if r.pitch == pitch and abs(r.end - start) < 1e-6), None)
            if prev is not None:
                prev.end = max(prev.end, end)
                continue
        kept.append(_Raw(start, end, pitch))
    return kept


def quantize(raw: list[_Raw], steps: int) -> list[tuple[int, int, int]]:
    """(start, end, pitch) on the sixteenth grid, clipped to the bar; zero-length notes dropped."""
    out = []
    for r in raw:
        s, e = max(0, snap(r.start)), min(steps, snap(r.end))
        if s < steps and e > s:
            out.append((s, e, r.pitch))
    return out


def monophonic(notes: list[tuple[int, int, int]], highest: bool) -> list[list[int]]:
    """One note per onset step (the highest, or the lowest for a bass), each cut at the next onset."""
    by_step: dict[int, tuple[int, int, int]] = {}
    for s, e, p in notes:
        cur = by_step.get(s)
        if cur is None or (p > cur[2] if highest else p < cur[2]) or (p == cur[2] and e > cur[1]):
            by_step[s] = (s, e, p)
    starts = sorted(by_step)
    out = []
    for i, s in enumerate(starts):
        _, e, p = by_step[s]
        if i + 1 < len(starts):
            e = min(e, starts[i + 1])
        out.append([s, p, e - s])
    return out
