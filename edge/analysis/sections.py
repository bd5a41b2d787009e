"""Sections from the repetition structure: bars grouped into phrases, phrases labelled A, B, A′.

Each bar is described by its harmony (how long each pitch class sounds) and its melody (the
melody's pitch at every sixteenth). Two bars are as similar as the cosine of their harmony and
the share of sixteenths where their melodies agree. Phrases start after a pickup (a first bar
shorter than the second), which is shown with the first phrase. The phrase length (8, 4 or 2 bars) is the
longest one whose phrases repeat about as often as the best one's (``LONGER``); a phrase then
takes the label of an earlier one it matches (SAME), that label primed when it matches only
loosely (VARIED, a varied repeat), else the next letter.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from edge.analysis.grid import Bar
from edge.analysis.score import Note

SAME = 0.9
"""Phrase similarity (0..1) at which a phrase repeats an earlier one."""
VARIED = 0.65
"""Phrase similarity at which it is a varied repeat (labelled with a prime: A′)."""
PHRASE_LENGTHS = (8, 4, 2)
"""Phrase lengths tried, in bars."""
LONGER = 0.2
"""A longer phrase length wins when the share of its phrases that repeat is at most this much below
the best length's (short phrases find repeats more easily)."""
HARMONY_SHARE = 0.4
"""Weight of harmony in a bar's similarity; the melody has the rest."""
MAX_BARS = 1000
"""The most bars compared (a matrix of MAX_BARS squared similarities)."""
_MAX_STEPS = 64
"""Sixteenths of melody compared per bar (a 16/4 bar at most)."""


@dataclass(frozen=True)
class Section:
    """A phrase and its label."""

    label: str
    """"A", "B", "A′"..."""
    first_bar: int
    """Index of its first bar, from 0."""
    last_bar: int
    """Index of its last bar."""
    seconds: float
    """Where it starts, in seconds."""


def sections_of(bars: list[Bar], bar_harmony: np.ndarray, melody: tuple[Note, ...]) -> list[Section]:
    """Label the phrases of the piece; ``bar_harmony`` is bars x 12 (quarter notes a pitch class sounds).

    At most ``MAX_BARS`` bars are compared; the phrases of a longer piece cover its first
    ``MAX_BARS`` bars.
    """
    bars = bars[:MAX_BARS]
    if not bars:
        return []
    similar = bar_similarity(bar_harmony[: len(bars)], _melody_steps(bars, melody))
    count = len(bars)
    pickup = int(count > 2 and bars[0].end - bars[0].start < bars[1].end - bars[1].start)
    options = [length for length in PHRASE_LENGTHS if 2 * length <= count - pickup] or [count - pickup]
    labelled = []
    for length in options:
        phrases = [(first + pickup, last + pickup) for first, last in _phrases(count - pickup, length)]
        labels = _labels(phrases, similar)
        repeated = sum(1 for i, label in enumerate(labels) if (i and label in labels[:i]) or "′" in label)
        labelled.append((repeated / max(1, len(labels) - 1), phrases, labels))
    best = max(share for share, _, _ in labelled)
    _, phrases, labels = next(item for item in labelled if item[0] >= best - LONGER)  # longest first
    if pickup:  # a short first bar leads into the first phrase and is shown with it
        phrases[0] = (0, phrases[0][1])
    return [Section(label, p[0], p[1], bars[p[0]].seconds) for p, label in zip(phrases, labels, strict=True)]


def bar_similarity(harmony: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Bars x bars similarity 0..1 from harmony (bars x 12) and melody (bars x 64 steps: -1 a rest, -2 past
    the bar's end)."""
    norms = np.linalg.norm(harmony, axis=1)
    unit = np.divide(harmony, norms[:, None], out=np.zeros_like(harmony), where=norms[:, None] > 0)
    cosine = unit @ unit.T
    silent = norms == 0
    cosine[np.ix_(silent, silent)] = 1.0
    agree = np.zeros(cosine.shape)
    counted = np.zeros(cosine.shape)
    for k in range(steps.shape[1]):
        column = steps[:, k]
        either = (column[:, None] >= 0) | (column[None, :] >= 0)
        inside = (column[:, None] >= -1) | (column[None, :] >= -1)  # a step that is in either bar
        agree += (column[:, None] == column[None, :]) & either
        counted += either | (inside & (column[:, None] != column[None, :]))
    melody = np.divide(agree, counted, out=np.ones_like(agree), where=counted > 0)
    return HARMONY_SHARE * cosine + (1 - HARMONY_SHARE) * melody


def _labels(phrases: list[tuple[int, int]], similar: np.ndarray) -> list[str]:
    """A, B, A′...: each phrase compared with the first phrase of every label so far."""

    def similarity(p: tuple[int, int], q: tuple[int, int]) -> float:
        span = min(p[1] - p[0], q[1] - q[0]) + 1
        total = sum(similar[p[0] + k, q[0] + k] for k in range(span))
        return float(total) / (max(p[1] - p[0], q[1] - q[0]) + 1)

    firsts: dict[str, tuple[int, int]] = {}
    labels = []
    for phrase in phrases:
        label = None
        if firsts:
            score, name = max((similarity(phrase, first), name) for name, first in firsts.items())
            if score >= SAME:
                label = name
            elif score >= VARIED:
                label = name + "′"
        if label is None:
            label = _letter(len(firsts))
            firsts[label] = phrase
        labels.append(label)
    return labels


def _letter(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"{letters[index % 26]}{index // 26 + 1}"


def _phrases(count: int, length: int) -> list[tuple[int, int]]:
    """(first, last) bars of consecutive phrases; a tail shorter than half a phrase joins the last one."""
    phrases = [(start, min(start + length, count) - 1) for start in range(0, count, length)]
    if len(phrases) > 1 and phrases[-1][1] - phrases[-1][0] + 1 < length / 2:
        tail = phrases.pop()
        phrases[-1] = (phrases[-1][0], tail[1])
    return phrases


def _melody_steps(bars: list[Bar], melody: tuple[Note, ...]) -> np.ndarray:
    """Bars x 64: the melody's pitch at each sixteenth of each bar (-1 a rest, -2 past the bar's end)."""
    total = round(bars[-1].end * 4) + 1
    line = np.full(total + _MAX_STEPS, -1, dtype=np.int64)
    for note in melody:
        first = round(note.start * 4)
        if first < total:
            line[first : max(first + 1, min(total, round(note.end * 4)))] = note.pitch
    out = np.full((len(bars), _MAX_STEPS), -2, dtype=np.int64)
    for i, bar in enumerate(bars):
        first = round(bar.start * 4)
        length = min(_MAX_STEPS, max(1, round(bar.end * 4) - first))
        out[i, :length] = line[first : first + length]
    return out
