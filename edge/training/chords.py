"""Chords of the training corpus: written chord symbols, and no beat with notes left without one.

``symbol_chord`` reads a written chord symbol (ABC ``"Am"``); ``fill_chords`` leaves no beat with
notes without a chord. Naming a chord from the notes that sound (``classify``, ``melody_chord``)
lives below both training and the runtime, in ``edge.music.chords``. music21 is imported only by
``symbol_chord``, which receives music21 objects.
"""

from __future__ import annotations

from edge.music.chords import Chord, classify

_SYMBOL_KINDS = {
    "major": "maj",
    "minor": "min",
    "diminished": "dim",
    "augmented": "aug",
    "suspended-fourth": "sus4",
    "dominant-seventh": "dom7",
    "minor-seventh": "min7",
    "major-seventh": "maj7",
}


def symbol_chord(cs, tonic: int, mode: str) -> Chord:
    """A music21 ChordSymbol as (root, kind); None for 'N.C.'."""
    from music21 import harmony

    if isinstance(cs, harmony.NoChord) or not cs.pitches:
        return None
    root = cs.root().pitchClass
    kind = _SYMBOL_KINDS.get(cs.chordKind)
    if kind is not None:
        return (root, kind)
    weights = [0.0] * 12
    for p in cs.pitches:
        weights[p.pitchClass] += 1.0
    return classify(weights, root, tonic, mode)


def fill_chords(bars: list[dict], tonic: int, mode: str) -> None:
    """No beat of a bar with notes is left without a chord: the previous chord carries on
    (else the next one in the bar, else the tonic triad). Bars without notes keep nulls."""
    prev: Chord = None
    for bar in bars:
        chords = bar["chords"]
        if bar["melody"] or bar["bass"]:
            for b, c in enumerate(chords):
                if c is None:
                    nxt = next((x for x in chords[b + 1 :] if x is not None), None)
                    chords[b] = prev or nxt or (tonic, "maj" if mode == "major" else "min")
                prev = chords[b]
        bar["chords"] = [list(c) if c is not None else None for c in chords]
