"""The maths of ``scripts/eval_models.py``: mode, scale consistency, MGEval overlap, repetition.

Everything works on :class:`edge.generator.tokens.BarEvents` (the token
language's view of a bar: melody, bass and one chord per beat on the
sixteenth grid), so generated bars and held-out pieces are measured by the
same code. Pure numpy: no scipy, no torch.

References: Krumhansl & Kessler 1982 (key profiles); Dong et al. 2020,
MusPy (scale consistency); Yang & Lerch 2018, "On the evaluation of
generative models in music" (intra/inter-set distances, KDE, overlap area).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from edge.generator import tokens as T
from edge.music.events import Bar
from edge.music.theory import CHORD_QUALITIES

#: Krumhansl-Kessler probe-tone profiles, tonic first.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
#: MusPy's 24 scales: major and natural minor on every tonic (as pitch-class masks).
_MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
_MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)
SCALE_MASKS = np.array(
    [
        [(pc - tonic) % 12 in steps for pc in range(12)]
        for steps in (_MAJOR_STEPS, _MINOR_STEPS)
        for tonic in range(12)
    ]
).astype(np.int64)
#: Inter-onset intervals are histogrammed in sixteenths 1..IOI_BINS; longer ones land in the last bin.
IOI_BINS = 16


# -- from the event model to the token view ------------------------------------------------------


def bar_events(bar: Bar) -> T.BarEvents:
    """The lead, bass and per-beat chords of a generated bar on the sixteenth grid."""
    beats = bar.plan.beats
    steps = beats * 4

    def notes(track: str) -> tuple[T.NoteEvent, ...]:
        events = []
        for note in bar.track(track):
            step = round(note.onset * 4)
            if 0 <= step < steps:
                length = max(1, min(math.ceil(note.duration * 4 - 1e-6), steps - step))
                events.append(T.NoteEvent(step, note.pitch, length))
        return tuple(events)

    chords: list[T.Chord] = []
    for beat in range(beats):
        chord = next((c for c in bar.chords if c.onset <= beat < c.onset + c.duration), None)
        chords.append(None if chord is None else (chord.root, chord.quality))
    return T.BarEvents("3/4" if beats == 3 else "4/4", notes("lead"), notes("bass"), tuple(chords))


# -- mode -----------------------------------------------------------------------------------------


def pitch_class_weights(bar: T.BarEvents) -> np.ndarray:
    """Duration-weighted pitch classes of the melody, the bass and the chords.

    Notes count their length in sixteenths; each chord counts as one more voice
    held for its beat, its length shared among its tones, so the harmony weighs
    about as much as the tune or the bass, never more.
    """
    weights = np.zeros(12)
    for note in (*bar.melody, *bar.bass):
        weights[note.pitch % 12] += note.length
    beat = T.METERS[bar.meter][1]
    for chord in bar.chords:
        steps = () if chord is None else CHORD_QUALITIES.get(chord[1], T.CHORD_KINDS.get(chord[1], ()))
        for step in steps:
            weights[(chord[0] + step) % 12] += beat / len(steps)
    return weights


def mode_of(bar: T.BarEvents, tonic: int) -> str | None:
    """The bar's mode at ``tonic``: the Krumhansl-Kessler profile (major, minor) it correlates best with.

    None for a bar without melody or bass notes (it has no mode of its own).
    """
    if not bar.melody and not bar.bass:
        return None
    weights = np.roll(pitch_class_weights(bar), -tonic)
    if np.ptp(weights) == 0:
        return None
    major = float(np.corrcoef(weights, KK_MAJOR)[0, 1])
    minor = float(np.corrcoef(weights, KK_MINOR)[0, 1])
    return "major" if major >= minor else "minor"


# -- scale consistency (MusPy) ------------------------------------------------------------------


def scale_consistency(pitches: Iterable[int]) -> float:
    """Largest share of the notes that fit one of the 24 major/minor scales (MusPy); nan if none."""
    counts = np.bincount(np.asarray(list(pitches), dtype=np.int64) % 12, minlength=12)
    total = counts.sum()
    if total == 0:
        return math.nan
    return float((SCALE_MASKS @ counts).max() / total)


def segment_pitches(segment: Sequence[T.BarEvents]) -> list[int]:
    """Every melody and bass pitch of a segment."""
    return [n.pitch for bar in segment for n in (*bar.melody, *bar.bass)]


# -- MGEval features ----------------------------------------------------------------------------


def pitch_class_histogram(segment: Sequence[T.BarEvents], tonic: int) -> np.ndarray:
    """Share of the melody's notes on each pitch class, counted from the tonic (all zero if none)."""
    counts = np.zeros(12)
    for bar in segment:
        for note in bar.melody:
            counts[(note.pitch - tonic) % 12] += 1
    return counts / counts.sum() if counts.sum() else counts


def ioi_histogram(segment: Sequence[T.BarEvents]) -> np.ndarray:
    """Share of the melody's inter-onset intervals of 1..16 sixteenths (longer ones in the last bin)."""
    onsets: list[int] = []
    start = 0
    for bar in segment:
        onsets += sorted({start + n.step for n in bar.melody})
        start += bar.steps
    counts = np.zeros(IOI_BINS)
    for gap in np.diff(onsets):
        counts[min(int(gap), IOI_BINS) - 1] += 1
    return counts / counts.sum() if counts.sum() else counts


def intra_distances(features: np.ndarray) -> np.ndarray:
    """Euclidean distances between every pair of samples of one set (each pair once)."""
    features = np.asarray(features, dtype=np.float64)
    rows, cols = np.triu_indices(len(features), k=1)
    return np.linalg.norm(features[rows] - features[cols], axis=1)


def inter_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between every sample of ``a`` and every sample of ``b``."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=2).ravel()


def _bandwidth(samples: np.ndarray) -> float:
    """Scott's rule, as scipy's gaussian_kde; a floor keeps a set of equal values a narrow bump."""
    spread = float(np.std(samples, ddof=1)) if len(samples) > 1 else 0.0
    return max(spread * len(samples) ** (-1 / 5), 1e-3)


def kde(samples: np.ndarray, grid: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Gaussian kernel density estimate of ``samples`` evaluated on ``grid``."""
    samples = np.asarray(samples, dtype=np.float64)
    width = _bandwidth(samples)
    density = np.zeros(len(grid))
    for i in range(0, len(samples), chunk):
        z = (grid[None, :] - samples[i : i + chunk, None]) / width
        density += np.exp(-0.5 * z * z).sum(axis=0)
    return density / (len(samples) * width * math.sqrt(2 * math.pi))


def overlap_area(a: np.ndarray, b: np.ndarray, points: int = 1024) -> float:
    """Area under the smaller of the two KDE curves: 1 for the same distribution, 0 for disjoint."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    pad = 4 * max(_bandwidth(a), _bandwidth(b))
    grid = np.linspace(min(a.min(), b.min()) - pad, max(a.max(), b.max()) + pad, points)
    pa, pb = kde(a, grid), kde(b, grid)
    pa /= np.trapezoid(pa, grid)
    pb /= np.trapezoid(pb, grid)
    return float(np.clip(np.trapezoid(np.minimum(pa, pb), grid), 0.0, 1.0))


def mgeval_overlap(generated: np.ndarray, reference: np.ndarray) -> float:
    """Yang & Lerch's overlap area of the reference's intra-set and the generated-to-reference distances.

    nan when a set is too small to give distances (under 2 reference samples, or none generated).
    """
    if len(reference) < 2 or len(generated) < 1:
        return math.nan
    return overlap_area(intra_distances(reference), inter_distances(generated, reference))


# -- repetition -----------------------------------------------------------------------------------


Phrase = tuple[tuple[int, int, int], ...]


def melody_phrases(bars: Sequence[T.BarEvents], length: int = 2) -> list[Phrase]:
    """Consecutive ``length``-bar melody phrases as (bar in phrase, onset, pitch); silent ones dropped."""
    phrases = []
    for start in range(0, len(bars) - length + 1, length):
        phrase = tuple(
            (i, n.step, n.pitch) for i, bar in enumerate(bars[start : start + length]) for n in bar.melody
        )
        if phrase:
            phrases.append(phrase)
    return phrases


def repeated_phrases(phrases: Sequence[Phrase]) -> int:
    """How many of the phrases repeat an earlier one exactly (same onsets, same pitches)."""
    seen: set[Phrase] = set()
    repeats = 0
    for phrase in phrases:
        repeats += phrase in seen
        seen.add(phrase)
    return repeats


def repeated_phrase_rate(phrases: Sequence[Phrase]) -> float:
    """Share of the phrases that repeat an earlier one exactly; nan if there are none."""
    return repeated_phrases(phrases) / len(phrases) if phrases else math.nan
