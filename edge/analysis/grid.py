"""Bars and beats from the time signatures: where each beat and each downbeat falls.

A bar lasts its time signature's numerator in units of its denominator; the felt beat is the
unit, or three of them in a compound meter (6/8 has two dotted-quarter beats). A time signature
takes effect where the file puts it; a bar it interrupts ends there.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.analysis.midi_in import MAX_BEATS, AnalysisError
from edge.analysis.score import Meter, Score

_EPSILON = 1e-9
MAX_GRID_BEATS = 4 * MAX_BEATS
"""The most beats in the grid (a 4/32 meter has eight beats a quarter note)."""


@dataclass(frozen=True)
class Beat:
    """One beat of the grid."""

    start: float
    """Quarter notes from the start."""
    end: float
    """Where the next beat starts."""
    seconds: float
    """Seconds from the start."""
    bar: int
    """Index of its bar, from 0."""
    index: int
    """Position in the bar, from 0 (the downbeat)."""


@dataclass(frozen=True)
class Bar:
    """One bar of the grid."""

    start: float
    """Quarter notes from the start."""
    end: float
    """Where the next bar starts."""
    seconds: float
    """Seconds from the start (the downbeat)."""
    meter: Meter
    """Its time signature."""
    first_beat: int
    """Index of its downbeat in the beat list."""
    beats: int
    """Beats in the bar."""


def beat_grid(score: Score) -> tuple[list[Bar], list[Beat]]:
    """Every bar and every beat from the first downbeat to the last release."""
    bars: list[Bar] = []
    beats: list[Beat] = []
    meters = [m for i, m in enumerate(score.meters) if i == 0 or m.beat < score.end]
    for i, meter in enumerate(meters):
        segment_end = meters[i + 1].beat if i + 1 < len(meters) else score.end
        start = meter.beat
        while start < segment_end - _EPSILON or not bars:
            end = (
                min(start + meter.bar_length, meters[i + 1].beat)
                if i + 1 < len(meters)
                else start + meter.bar_length
            )
            first = len(beats)
            beat = start
            while beat < end - _EPSILON:
                beat_end = min(beat + meter.beat_length, end)
                beats.append(Beat(beat, beat_end, score.seconds_at(beat), len(bars), len(beats) - first))
                beat = beat_end
                if len(beats) > MAX_GRID_BEATS:
                    raise AnalysisError(
                        f"{score.path}: more than {MAX_GRID_BEATS} beats, more than the analysis takes"
                    )
            bars.append(Bar(start, end, score.seconds_at(start), meter, first, len(beats) - first))
            start = end
    return bars, beats
