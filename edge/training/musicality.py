"""Musicality: does the music move? Harmony, melody, structure and rhythm over a run of bars.

The figures a listener can hear and that pitch-class histograms cannot see: harmony that never
moves, a melody with no shape, no motif that ever comes back. Every function takes a sequence of
:class:`edge.generator.tokens.BarEvents` (melody, bass and one chord per beat on the sixteenth
grid; ``edge.training.metrics.bar_events`` turns a generated :class:`~edge.music.events.Bar`
into one), usually an 8-bar segment, sometimes a whole session, so generated bars and held-out
pieces are measured by the same code. Pure numpy and the standard library.

Chords are compared as *harmonies*: (root pitch class, triad family) with the family from
``edge.music.theory.FAMILY`` (``maj7``, ``add9``, ``dom7`` are all ``maj``; ``min7``, ``min9``
are ``min``), so a new colour on the same chord is not a change of harmony.

References: Wu & Yang 2020, "The Jazz Transformer on the front line" (chord progression
irregularity, grooving pattern similarity, structureness); Yang & Lerch 2018, "On the evaluation
of generative models in music" (comparing a generated set with a reference by the overlap of
their distributions).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge.generator import tokens as T
from edge.music.theory import FAMILY, diatonic_triad

Harmony = tuple[int, str]
"""(root pitch class, triad family): what a listener hears as "the chord"."""

#: Melody interval classes in semitones (absolute): repeats, steps, small leaps, leaps.
INTERVAL_CLASSES = (("repeats", 0, 0), ("steps", 1, 2), ("small_leaps", 3, 5), ("leaps", 6, 127))
MOTIF_BARS = 2


@dataclass(frozen=True)
class Metric:
    """One figure: its key, how the report names it, its family and the reference it is judged by."""

    key: str
    label: str
    family: str
    """``harmony``, ``melody``, ``structure`` or ``rhythm``."""
    unit: str = ""
    digits: int = 2


#: Every figure of ``segment_metrics``, in report order.
METRICS: tuple[Metric, ...] = (
    Metric("chord_changes", "chord changes per 8 bars", "harmony", digits=1),
    Metric("longest_hold", "longest held harmony (bars)", "harmony", digits=1),
    Metric("transition_entropy", "chord-transition entropy (bits)", "harmony"),
    Metric("irregularity", "chord progression irregularity", "harmony"),
    Metric("tonic_opening", "bars opening on the tonic chord", "harmony"),
    Metric("pitch_class_entropy", "pitch-class entropy (bits, per 16 notes)", "melody"),
    Metric("top_pitch_class", "top pitch-class share (per 16 notes)", "melody"),
    Metric("repeats", "intervals: repeats (0)", "melody"),
    Metric("steps", "intervals: steps (1-2)", "melody"),
    Metric("small_leaps", "intervals: small leaps (3-5)", "melody"),
    Metric("leaps", "intervals: leaps (6+)", "melody"),
    Metric("notes_per_bar", "melody notes per bar", "melody", digits=1),
    Metric("motif_recurrence", "2-bar motifs that recur", "structure"),
    Metric("structureness", "structureness (best SSM stripe)", "structure"),
    Metric("groove_similarity", "grooving pattern similarity", "rhythm"),
)
METRIC = {m.key: m for m in METRICS}
HARMONY = tuple(m.key for m in METRICS if m.family == "harmony")

#: Melody notes in each window the pitch-class figures are measured on. Entropy and the top share
#: estimated from few notes read low whatever the tune (a uniform pentatonic line of 13 notes has
#: a median plug-in entropy of 2.13 bits, of 40 notes 2.28), so a sparse style's 8 bars (ten notes)
#: and a folk tune's (forty) are not comparable; every line is judged on the same number of notes.
PITCH_WINDOW = 16
#: The figures measured per window of ``PITCH_WINDOW`` notes rather than per 8-bar segment.
PITCH_FIGURES = ("pitch_class_entropy", "top_pitch_class")


# -- harmony --------------------------------------------------------------------------------------


def harmony(chord: T.Chord) -> Harmony | None:
    """A chord as the harmony it sounds: (root, family); None for no chord."""
    if chord is None:
        return None
    root, quality = chord
    return int(root) % 12, FAMILY.get(quality, quality)


def beat_harmonies(bars: Sequence[T.BarEvents]) -> list[list[Harmony | None]]:
    """Per bar, the harmony of each beat (None where the bar names no chord)."""
    out = []
    for bar in bars:
        chords = list(bar.chords[: bar.beats]) + [None] * max(0, bar.beats - len(bar.chords))
        out.append([harmony(c) for c in chords])
    return out


def _sequence(bars: Sequence[T.BarEvents]) -> list[Harmony]:
    """The harmonies one after another with consecutive repeats merged (beats without a chord dropped)."""
    merged: list[Harmony] = []
    for beats in beat_harmonies(bars):
        for h in beats:
            if h is not None and (not merged or merged[-1] != h):
                merged.append(h)
    return merged


def chord_changes(bars: Sequence[T.BarEvents], before: T.Chord = None) -> float:
    """Chord changes per 8 bars: how often the listener hears the harmony move.

    A change is a beat whose harmony differs from the one sounding on the beat before, at a bar
    line or inside a bar; a beat without a chord keeps the previous one. ``before`` is the chord
    sounding just before the first bar (the segment's lead-in): when given, the first bar line
    counts too. The count is scaled from the beats compared to 8 bars, so a chord a bar gives 8
    (7.2 without the lead-in: the first bar line cannot be judged), a one-chord vamp 0. nan when
    no bar carries a chord, or nothing follows the first one.
    """
    previous = harmony(before)
    changes = compared = beats = 0
    for bar_beats in beat_harmonies(bars):
        beats += len(bar_beats)
        for h in bar_beats:
            if previous is not None:
                compared += 1
                changes += h is not None and h != previous
            previous = h if h is not None else previous
    if compared == 0 or not any(h for beats in beat_harmonies(bars) for h in beats):
        return math.nan
    return changes / compared * beats / len(bars) * 8


def longest_hold(bars: Sequence[T.BarEvents], skip: Sequence[bool] | None = None) -> float:
    """The longest stretch, in bars, over which the harmony does not move: a vamp is heard as stuck.

    Beats without a chord extend the harmony before them. Bars flagged in ``skip`` (pedal
    sections, where a held harmony is intended) are left out and break a stretch. nan when no bar
    carries a chord.
    """
    best = run = 0.0
    current: Harmony | None = None
    seen = False
    for i, (bar, beats) in enumerate(zip(bars, beat_harmonies(bars), strict=True)):
        if skip is not None and skip[i]:
            current, run = None, 0.0
            continue
        for h in beats:
            if h is not None:
                seen = True
                if h != current:
                    current, run = h, 0.0
            if current is not None:
                run += 1 / bar.beats
                best = max(best, run)
    return round(best, 6) if seen else math.nan


def transition_entropy(bars: Sequence[T.BarEvents], key: int) -> float:
    """Entropy in bits of the moves between consecutive distinct harmonies, relative to the key.

    Each move is (from, to) with each harmony written as (root - key) % 12 and its family, so a
    piece in D and one in F with the same progression score alike. 0 when the harmony never moves
    (or only ever makes the same move); a loop of four chords gives 2 bits; a progression that
    goes somewhere new each time gives more. nan when no bar carries a chord.
    """
    merged = _sequence(bars)
    if not merged:
        return math.nan
    relative = [((root - key) % 12, family) for root, family in merged]
    counts = np.array(list(Counter(itertools.pairwise(relative)).values()), dtype=float)
    if counts.size == 0:
        return 0.0
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)


def irregularity(bars: Sequence[T.BarEvents]) -> float:
    """Chord progression irregularity (Wu & Yang 2020): unique chord trigrams / all chord trigrams.

    Over the harmonies with consecutive repeats merged. A short loop says the same thing again
    and again (I-vi-IV-V over 8 bars: 4 unique of 6 trigrams, 0.67); a progression that never
    repeats itself scores 1. Fewer than three chords make no trigram and score 0 (nothing
    irregular: the harmony barely moves); nan when no bar carries a chord.
    """
    merged = _sequence(bars)
    if not merged:
        return math.nan
    trigrams = list(zip(merged, merged[1:], merged[2:], strict=False))
    return len(set(trigrams)) / len(trigrams) if trigrams else 0.0


def tonic_opening(bars: Sequence[T.BarEvents], key: int) -> float:
    """Share of the bars whose first beat sounds the tonic chord (root on the key's tonic).

    Real music leaves home and comes back; a piece that opens nearly every bar on the tonic
    never leaves. Bars without a chord on their first beat are left out; nan if none has one.
    """
    firsts = [beats[0] for beats in beat_harmonies(bars) if beats and beats[0] is not None]
    if not firsts:
        return math.nan
    return sum(root == key % 12 for root, _ in firsts) / len(firsts)


# -- melody ---------------------------------------------------------------------------------------


def melody_line(bars: Sequence[T.BarEvents]) -> list[tuple[int, int]]:
    """The tune as (sixteenths from the first bar line, pitch), the highest note where two start together."""
    line: dict[int, int] = {}
    start = 0
    for bar in bars:
        for note in bar.melody:
            at = start + note.step
            line[at] = max(line.get(at, note.pitch), note.pitch)
        start += bar.steps
    return sorted(line.items())


def pitch_class_entropy(bars: Sequence[T.BarEvents]) -> float:
    """Entropy in bits of the melody's pitch classes (notes counted, not weighted by length).

    0 for a one-note tune, log2(7) = 2.81 for a tune that uses a diatonic scale evenly; a tune
    that circles its tonic scores low. nan without melody notes.
    """
    return pitches_entropy([p for _, p in melody_line(bars)])


def top_pitch_class(bars: Sequence[T.BarEvents]) -> float:
    """Share of the melody's notes on its most used pitch class: how much it harps on one note."""
    return pitches_top_share([p for _, p in melody_line(bars)])


def pitches_entropy(pitches: Sequence[int]) -> float:
    """``pitch_class_entropy`` of a list of MIDI pitches."""
    counts = np.bincount([p % 12 for p in pitches], minlength=12).astype(float)
    if counts.sum() == 0:
        return math.nan
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum() + 0.0)


def pitches_top_share(pitches: Sequence[int]) -> float:
    """``top_pitch_class`` of a list of MIDI pitches."""
    counts = np.bincount([p % 12 for p in pitches], minlength=12)
    return float(counts.max() / counts.sum()) if counts.sum() else math.nan


def pitch_windows(pitches: Sequence[int], size: int = PITCH_WINDOW) -> list[Sequence[int]]:
    """A tune cut into consecutive windows of ``size`` notes (a shorter tail is dropped)."""
    return [pitches[i : i + size] for i in range(0, len(pitches) - size + 1, size)]


def window_metrics(pitches: Sequence[int], size: int = PITCH_WINDOW) -> dict[str, list[float]]:
    """The ``PITCH_FIGURES`` of every ``size``-note window of one tune."""
    windows = pitch_windows(pitches, size)
    return {
        "pitch_class_entropy": [pitches_entropy(w) for w in windows],
        "top_pitch_class": [pitches_top_share(w) for w in windows],
    }


def interval_shares(bars: Sequence[T.BarEvents]) -> np.ndarray:
    """Shares of the melody's moves that are repeats (0), steps (1-2), small leaps (3-5), leaps (6+).

    Between consecutive melody notes, across rests and bar lines, in absolute semitones. Real
    tunes move mostly by step with a few leaps; all repeats is a drone, all leaps a random walk.
    nan (all four) with fewer than two notes.
    """
    pitches = np.array([p for _, p in melody_line(bars)])
    if len(pitches) < 2:
        return np.full(len(INTERVAL_CLASSES), math.nan)
    moves = np.abs(np.diff(pitches))
    return np.array([np.mean((moves >= lo) & (moves <= hi)) for _, lo, hi in INTERVAL_CLASSES])


def notes_per_bar(bars: Sequence[T.BarEvents]) -> float:
    """Melody notes per bar (onsets: two notes starting together count once)."""
    return len(melody_line(bars)) / len(bars) if bars else math.nan


# -- structure ------------------------------------------------------------------------------------


def _motif(bars: Sequence[T.BarEvents]) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """A window's rhythm and intervals (onsets from its first bar line, pitch steps); None under 2 notes."""
    line = melody_line(bars)
    if len(line) < 2:
        return None
    onsets = tuple(at for at, _ in line)
    pitches = [p for _, p in line]
    return onsets, tuple(b - a for a, b in itertools.pairwise(pitches))


def motif_recurrence(bars: Sequence[T.BarEvents], length: int = MOTIF_BARS) -> float:
    """Share of the ``length``-bar melody windows whose motif comes back elsewhere in the run.

    A window starts on every bar line; its motif is its rhythm (onsets from the window's first
    bar line) and its interval sequence, so a motif played again exactly or transposed counts as
    the same. A window recurs when another window that does not overlap it has the same motif.
    Windows with fewer than two notes are left out; nan when none is left. Real tunes state a
    motif and bring it back; a melody drawn note by note almost never does.
    """
    motifs = [_motif(bars[i : i + length]) for i in range(len(bars) - length + 1)]
    eligible = [i for i, m in enumerate(motifs) if m is not None]
    if not eligible:
        return math.nan
    recurring = sum(any(abs(i - j) >= length and motifs[j] == motifs[i] for j in eligible) for i in eligible)
    return recurring / len(eligible)


def _jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def self_similarity(bars: Sequence[T.BarEvents]) -> np.ndarray:
    """Bar-by-bar similarity of the melody, 0..1 (1 on the diagonal).

    Two bars are compared by their onset grids (Jaccard: shared onsets over onsets in either) and
    their shapes (Jaccard of the (onset, pitch - the bar's first pitch) pairs, so a bar played
    again a step higher is the same shape); the mean of the two. Two silent bars are alike; a
    silent and a sounding one are not.
    """
    onsets, shapes = [], []
    for bar in bars:
        line = sorted({n.step: n.pitch for n in sorted(bar.melody, key=lambda n: n.pitch)}.items())
        onsets.append({step for step, _ in line})
        first = line[0][1] if line else 0
        shapes.append({(step, pitch - first) for step, pitch in line})
    n = len(bars)
    ssm = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            rhythm, shape = _jaccard(onsets[i], onsets[j]), _jaccard(shapes[i], shapes[j])
            ssm[i, j] = ssm[j, i] = 0.5 * rhythm + 0.5 * shape
    return ssm


def structureness(ssm: np.ndarray, max_lag: int | None = None) -> float:
    """How strongly the melody repeats itself at one distance: the best off-diagonal stripe of the SSM.

    A simplification of Wu & Yang's structureness indicator (which looks for the most repeated
    stretch in a fitness scape plot of an audio SSM): for each lag k = 1..``max_lag`` (default
    half the bars, so every stripe averages at least as many pairs as it skips), the mean
    similarity of every bar with the bar k later; the largest of those means. 1 when the melody
    repeats exactly every k bars (transposed or not), near 0 when no bar resembles another.
    nan under two bars.
    """
    n = len(ssm)
    if n < 2:
        return math.nan
    lags = range(1, max(1, max_lag if max_lag is not None else n // 2) + 1)
    return float(max(np.diagonal(ssm, offset=k).mean() for k in lags if k < n))


# -- rhythm ---------------------------------------------------------------------------------------


def onset_grid(bar: T.BarEvents, steps: int = T.MAX_STEPS) -> np.ndarray:
    """0/1 per sixteenth of the bar: whether the melody or the bass starts a note there."""
    grid = np.zeros(steps, dtype=np.int8)
    for note in (*bar.melody, *bar.bass):
        if 0 <= note.step < steps:
            grid[note.step] = 1
    return grid


def groove_similarity(bars: Sequence[T.BarEvents]) -> float:
    """Grooving pattern similarity (Wu & Yang 2020): how alike the bars' rhythms are.

    1 - Hamming distance / 16 between two bars' onset grids (melody and bass, sixteenths; a 3/4
    bar's last four are empty), averaged over every pair of bars. 1.0 when every bar has the same
    rhythm; a steady groove scores high, a rhythm drawn at random each bar lower. nan under two bars.
    """
    if len(bars) < 2:
        return math.nan
    grids = np.stack([onset_grid(bar) for bar in bars])
    rows, cols = np.triu_indices(len(bars), k=1)
    return float(1 - np.mean(np.abs(grids[rows] - grids[cols]).sum(axis=1) / T.MAX_STEPS))


# -- all of it ------------------------------------------------------------------------------------


def harmony_metrics(bars: Sequence[T.BarEvents], key: int, before: T.Chord = None) -> dict[str, float]:
    """The harmony figures of ``METRICS`` for one run of bars in ``key`` (``before``: the chord before it)."""
    return {
        "chord_changes": chord_changes(bars, before),
        "longest_hold": longest_hold(bars),
        "transition_entropy": transition_entropy(bars, key),
        "irregularity": irregularity(bars),
        "tonic_opening": tonic_opening(bars, key),
    }


def segment_metrics(bars: Sequence[T.BarEvents], key: int, before: T.Chord = None) -> dict[str, float]:
    """Every figure of ``METRICS`` for one run of bars in ``key`` (``before``: the chord before it)."""
    shares = interval_shares(bars)
    return {
        **harmony_metrics(bars, key, before),
        "pitch_class_entropy": pitch_class_entropy(bars),
        "top_pitch_class": top_pitch_class(bars),
        **{name: float(v) for (name, _, _), v in zip(INTERVAL_CLASSES, shares, strict=True)},
        "notes_per_bar": notes_per_bar(bars),
        "motif_recurrence": motif_recurrence(bars),
        "structureness": structureness(self_similarity(bars)),
        "groove_similarity": groove_similarity(bars),
    }


def last_chord(bar: T.BarEvents) -> T.Chord:
    """The chord sounding at the end of a bar (the last beat that names one), or None."""
    return next((c for c in reversed(bar.chords[: bar.beats]) if c is not None), None)


# -- the style's declared harmony -----------------------------------------------------------------


def declared_bars(
    progressions: Sequence[Sequence[int]],
    chord_beats: int,
    phrase_bars: int,
    bars: int,
    key: int,
    mode: str,
    rng: np.random.Generator,
) -> list[T.BarEvents]:
    """A style's declared harmony laid out as 4/4 bars of chords (no notes): the harmonic reference.

    Phrase after phrase of ``phrase_bars`` bars, each loops one of the declared progressions
    (scale degrees, picked at random) from its first chord, a chord every ``chord_beats`` beats,
    each degree realised as the diatonic triad of ``key`` and ``mode``. What the pack says its
    music should do, before the conductor adds cadences and forms.
    """
    out: list[T.BarEvents] = []
    while len(out) < bars:
        degrees = progressions[int(rng.integers(len(progressions)))]
        for bar in range(phrase_bars):
            chords = []
            for beat in range(4):
                slot = (bar * 4 + beat) // chord_beats
                root, family = diatonic_triad(key, mode, degrees[slot % len(degrees)])
                chords.append((root, family))
            out.append(T.BarEvents("4/4", chords=tuple(chords)))
    return out[:bars]


# -- comparing with a reference (MGEval style) ------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A metric's generated values against a reference's."""

    low: float
    """The reference's 5th percentile."""
    high: float
    """The reference's 95th percentile."""
    reference_median: float
    median: float
    """The generated values' median."""
    overlap: float
    """Overlap of the two value distributions (Gaussian KDEs): 1 alike, 0 disjoint; nan if a set is empty."""
    count: int
    """Generated values compared (nan ones left out)."""

    @property
    def inside(self) -> bool | None:
        """Whether the generated median lies in the reference's 5-95 % range (None without figures)."""
        if math.isnan(self.median) or math.isnan(self.low):
            return None
        return bool(self.low - 1e-9 <= self.median <= self.high + 1e-9)


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    return array[np.isfinite(array)]


def _scott(samples: np.ndarray) -> float:
    return float(np.std(samples, ddof=1)) * len(samples) ** (-1 / 5) if len(samples) > 1 else 0.0


def overlap(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray, points: int = 2048) -> float:
    """Area under the smaller of the two Gaussian KDEs of ``a`` and ``b``, both with the wider bandwidth.

    As ``edge.training.metrics.overlap_area`` (MGEval), except that both sets are smoothed alike
    (the larger of their Scott's-rule bandwidths): many figures here take a few exact values (0
    motifs recur, an irregularity of 1), and a set of equal values smoothed by its own, near-zero
    bandwidth would be a spike that overlaps nothing. 1 for the same values, 0 for disjoint ones;
    nan when a set is empty.
    """
    a, b = _finite(a), _finite(b)
    if not a.size or not b.size:
        return math.nan
    width = max(_scott(a), _scott(b), 1e-3)
    grid = np.linspace(min(a.min(), b.min()) - 4 * width, max(a.max(), b.max()) + 4 * width, points)
    pa, pb = (_kde_at(x, grid, width) for x in (a, b))
    return float(np.clip(np.trapezoid(np.minimum(pa, pb), grid), 0.0, 1.0))


def _kde_at(samples: np.ndarray, grid: np.ndarray, width: float) -> np.ndarray:
    """Gaussian KDE of ``samples`` on ``grid`` with bandwidth ``width``, normalised to area 1 on the grid."""
    z = (grid[None, :] - samples[:, None]) / width
    density = np.exp(-0.5 * z * z).sum(axis=0)
    area = np.trapezoid(density, grid)
    return density / area if area > 0 else density


def compare(generated: Sequence[float] | np.ndarray, reference: Sequence[float] | np.ndarray) -> Comparison:
    """The reference's 5-95 % range and median, the generated median, and the overlap of the two.

    As in MGEval (Yang & Lerch 2018) the overlap is the area under the smaller of the two
    Gaussian KDE curves (``overlap``: both with the wider Scott's-rule bandwidth), here of the
    per-segment values themselves: how much of the generated music's spread is also real music's.
    """
    gen, ref = _finite(generated), _finite(reference)
    nan = math.nan
    low, high, ref_median = (
        (float(np.percentile(ref, 5)), float(np.percentile(ref, 95)), float(np.median(ref)))
        if ref.size
        else (nan, nan, nan)
    )
    median = float(np.median(gen)) if gen.size else nan
    return Comparison(low, high, ref_median, median, overlap(gen, ref), int(gen.size))
