"""A chord for every beat: template matching over the analysed key.

What sounds in each beat (how long each pitch class sounds in it, and the lowest pitch) goes to
``edge.music.chords.classify``, the classifier that labelled the training corpus, so the
analysis names chords as the models learnt them. Beats where nothing pitched sounds get None.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.analysis.grid import Beat
from edge.analysis.key import Key
from edge.analysis.score import Note
from edge.context.context import NOTE_NAMES
from edge.music.chords import classify

SUFFIX = {
    "maj": "",
    "min": "m",
    "dim": "dim",
    "aug": "aug",
    "sus4": "sus4",
    "dom7": "7",
    "min7": "m7",
    "maj7": "maj7",
}
"""Chord kind -> the symbol's suffix after the root ("Am", "G7")."""
_NUMERALS = {
    "major": ("I", "bII", "II", "bIII", "III", "IV", "#IV", "V", "bVI", "VI", "bVII", "VII"),
    "minor": ("I", "bII", "II", "III", "#III", "IV", "#IV", "V", "VI", "#VI", "VII", "#VII"),
}
_NUMERAL_SUFFIX = {
    "maj": "",
    "min": "",
    "dim": "°",
    "aug": "+",
    "sus4": "sus4",
    "dom7": "7",
    "min7": "7",
    "maj7": "maj7",
}
_LOWER = {"min", "dim", "min7"}


@dataclass(frozen=True)
class BeatChord:
    """The chord of one beat."""

    root: int
    """Pitch class of the root."""
    kind: str
    """One of ``edge.music.chords.CHORD_KINDS``."""

    @property
    def symbol(self) -> str:
        """Such as "F#m" or "G7"."""
        return NOTE_NAMES[self.root] + SUFFIX[self.kind]

    def numeral(self, key: Key) -> str:
        """Roman numeral in ``key``: "V7", "ii", "bVII"."""
        text = _NUMERALS[key.mode][(self.root - key.tonic) % 12]
        if self.kind in _LOWER:
            text = text.replace("I", "i").replace("V", "v")
        return text + _NUMERAL_SUFFIX[self.kind]


def beat_weights(notes: list[Note], beats: list[Beat]) -> tuple[np.ndarray, np.ndarray]:
    """(beats x 12 quarter notes each pitch class sounds in each beat, lowest pitch per beat or -1).

    Work is linear in notes plus beats, however long the notes are: a note's whole beats go
    through a difference array.
    """
    count = len(beats)
    weights = np.zeros((count + 1, 12))
    lowest = np.full(count, -1, dtype=np.int64)
    if not notes or not count:
        return weights[:count], lowest
    edges = np.array([b.start for b in beats] + [beats[-1].end])
    start = np.array([n.start for n in notes])
    end = np.array([max(n.end, n.start + 1e-6) for n in notes])
    pitch = np.array([n.pitch for n in notes], dtype=np.int64)
    pc = pitch % 12
    first = np.clip(np.searchsorted(edges, start, "right") - 1, 0, count - 1)
    last = np.clip(np.searchsorted(edges, end, "left") - 1, first, count - 1)
    single = first == last
    np.add.at(weights, (first[single], pc[single]), (end - start)[single])
    many = ~single
    np.add.at(weights, (first[many], pc[many]), (edges[first + 1] - start)[many])
    np.add.at(weights, (last[many], pc[many]), (end - edges[last])[many])
    whole = np.zeros((count + 1, 12))
    np.add.at(whole, (first[many] + 1, pc[many]), 1.0)
    np.add.at(whole, (last[many], pc[many]), -1.0)
    lengths = np.diff(edges)
    weights[:count] += np.cumsum(whole, axis=0)[:count] * lengths[:, None]
    sounding = np.zeros((count + 1, 128), dtype=np.int32)
    np.add.at(sounding, (first, pitch), 1)
    np.add.at(sounding, (last + 1, pitch), -1)
    present = np.cumsum(sounding, axis=0)[:count] > 0
    any_sounding = present.any(axis=1)
    lowest[any_sounding] = np.argmax(present[any_sounding], axis=1)
    return weights[:count], lowest


def chords_per_beat(notes: list[Note], beats: list[Beat], key: Key) -> list[BeatChord | None]:
    """The chord of every beat (None where nothing pitched sounds)."""
    weights, lowest = beat_weights(notes, beats)
    chords: list[BeatChord | None] = []
    for row, bass in zip(weights.tolist(), lowest.tolist(), strict=True):
        found = classify(row, bass % 12 if bass >= 0 else None, key.tonic, key.mode)
        chords.append(None if found is None else BeatChord(*found))
    return chords
