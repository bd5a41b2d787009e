"""Naming a chord from what sounds: the chord kinds, and two ways to a chord.

``classify`` matches the pitch classes of several parts (chorales, MIDI) against chord
templates; ``melody_chord`` picks the key's diatonic triad that covers a lone melody best (folk
tunes). Pure Python on ``edge.music.theory``'s intervals, below both the runtime
(``edge.analysis``, the token language) and training (``edge.training.chords`` adds written
chord symbols and the corpus' gap filling).
"""

from __future__ import annotations

from edge.music.theory import CHORD_QUALITIES

#: Chord kinds the classifier names and the neural tiers' tokens write (a CH_ token each, in this
#: order), with their intervals from ``edge.music.theory.CHORD_QUALITIES``.
CHORD_KINDS: dict[str, tuple[int, ...]] = {
    kind: CHORD_QUALITIES[kind] for kind in ("maj", "min", "dim", "aug", "sus4", "dom7", "min7", "maj7")
}

_KIND_COST = {"maj": 0.0, "min": 0.0, "dim": 0.03, "sus4": 0.03, "aug": 0.06, "dom7": 0.04, "min7": 0.04}
_KIND_COST["maj7"] = 0.05
_KIND_ORDER = ("maj", "min", "dom7", "min7", "dim", "sus4", "maj7", "aug")
_PRESENT = 0.04  # share of a beat's weight for a pitch class to count as sounding
_STRONG = 0.12  # share a seventh or a suspended fourth needs before a 7th/sus4 chord is considered

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10, 11)  # natural minor plus the leading tone
# Diatonic triads in the order preferred when coverage ties (degree offset, kind).
_DIATONIC = {
    "major": ((0, "maj"), (7, "maj"), (5, "maj"), (9, "min"), (2, "min"), (4, "min"), (11, "dim")),
    "minor": (
        (0, "min"),
        (7, "maj"),
        (5, "min"),
        (10, "maj"),
        (3, "maj"),
        (8, "maj"),
        (7, "min"),
        (2, "dim"),
    ),
}


Chord = tuple[int, str] | None


def scale_of(tonic: int, mode: str) -> set[int]:
    """Pitch classes of the key (minor: natural minor plus the leading tone)."""
    return {(tonic + i) % 12 for i in (MAJOR_SCALE if mode == "major" else MINOR_SCALE)}


def classify(weights: list[float], bass_pc: int | None, tonic: int, mode: str) -> Chord:
    """The chord (root, kind) that best explains a weighted pitch-class set; None when silent.

    Template matching over 12 roots x 8 kinds: weight inside the chord minus weight outside,
    small costs for rarer kinds (triads win when in doubt), a bonus when the root is in the bass
    and a tie-breaking nudge for chords diatonic to the key. A seventh or a suspended fourth must
    carry a real share of the beat (not a passing note) for a 7th or sus4 chord to be considered.
    """
    total = sum(weights)
    if total <= 0:
        return None
    w = [x / total for x in weights]
    scale = scale_of(tonic, mode)
    best: tuple | None = None
    for root in range(12):
        if w[root] < _PRESENT:
            continue
        for kind, ivs in CHORD_KINDS.items():
            pcs = [(root + i) % 12 for i in ivs]
            third, fifth = w[pcs[1]], w[pcs[2]]
            if kind == "sus4":
                if third < _STRONG or w[(root + 3) % 12] >= _PRESENT or w[(root + 4) % 12] >= _PRESENT:
                    continue
            elif third < _PRESENT:
                continue
            if kind in ("dim", "aug") and fifth < _PRESENT:
                continue
            if len(pcs) == 4 and w[pcs[3]] < _STRONG:
                continue
            inside = sum(w[p] for p in set(pcs))
            score = 2 * inside - 1 - _KIND_COST[kind]
            if fifth < _PRESENT:
                score -= 0.05
            if bass_pc == root:
                score += 0.1
            if all(p in scale for p in pcs):
                score += 0.02
            cand = (round(score, 9), -_KIND_ORDER.index(kind), -((root - tonic) % 12), root, kind)
            if best is None or cand > best:
                best = cand
    if best is not None:
        return (best[3], best[4])
    # A single pitch class or an open fifth: the strongest pitch class (the bass when sounding).
    root = bass_pc if bass_pc is not None and w[bass_pc] >= _PRESENT else max(range(12), key=lambda p: w[p])
    if (root + 4) % 12 in scale:
        return (root, "maj")
    return (root, "min") if (root + 3) % 12 in scale else (root, "maj")


def melody_chord(beat: list[float], around: list[float], prev: Chord, tonic: int, mode: str) -> Chord:
    """The key's diatonic triad covering most of a beat's melody duration; None when silent.

    Ties keep the previous beat's chord when it is among them, then go to the triad covering
    most of the neighbouring beats, then to the order I, V, IV, vi, ii, iii, vii (minor: i, V,
    iv, VII, III, VI, v, ii).
    """
    if sum(beat) <= 0:
        return None
    cands = [((tonic + off) % 12, kind) for off, kind in _DIATONIC[mode]]

    def cover(weights: list[float], c: tuple[int, str]) -> float:
        return round(sum(weights[(c[0] + i) % 12] for i in CHORD_KINDS[c[1]]), 9)

    top = max(cover(beat, c) for c in cands)
    tied = [c for c in cands if cover(beat, c) == top]
    if len(tied) > 1 and prev in tied:
        return prev
    top2 = max(cover(around, c) for c in tied)
    return next(c for c in tied if cover(around, c) == top2)
