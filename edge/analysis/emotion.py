"""An emotional estimate in the conductor's terms: valence and arousal in -1..1, and a named mood.

Valence comes from the mode (major bright, minor dark, as sure as the key is) and the harmony (the
share of beats on major-family chords minus those on minor and diminished ones). Arousal comes from
the tempo of the felt beat, the density (onsets a second, drums included) and the loudness (mean
note-on velocity). The named mood is the one of ``edge.context.context.MOODS`` nearest the point,
so a reimagined piece can be played with the mood the conductor already knows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from edge.analysis.chords import BeatChord
from edge.analysis.key import KeyEstimate
from edge.context.context import MOODS

MODE_SHARE = 0.6
"""Weight of the mode in valence; the harmony has the rest."""
TEMPO_SHARE, DENSITY_SHARE, LOUDNESS_SHARE = 0.5, 0.3, 0.2
"""Weights of the felt tempo, the density and the loudness in arousal."""
CALM_BPM, SPAN_BPM = 100.0, 60.0
"""A felt tempo of CALM_BPM is neutral; CALM_BPM ± SPAN_BPM reaches ±1."""
NEUTRAL_ONSETS, SPAN_ONSETS = 4.0, 4.0
"""Onsets a second that are neutral, and the span to ±1."""
NEUTRAL_VELOCITY, SPAN_VELOCITY = 80.0, 40.0
"""Mean velocity that is neutral, and the span to ±1."""
_BRIGHT = {"maj", "dom7", "maj7", "sus4"}
_DARK = {"min", "min7", "dim"}


@dataclass(frozen=True)
class Emotion:
    """Where the piece sits on the conductor's valence/arousal plane."""

    valence: float
    """-1 (sad, dark) .. 1 (happy, bright)."""
    arousal: float
    """-1 (sleepy, calm) .. 1 (excited, intense)."""
    mood: str
    """The nearest named mood."""
    terms: dict[str, float]
    """Each term before weighting, -1..1: mode, harmony, tempo, density, loudness."""


def emotion_of(
    key: KeyEstimate | None,
    chords: Sequence[BeatChord | None],
    felt_bpm: float,
    onsets_per_second: float,
    mean_velocity: float,
) -> Emotion:
    """The estimate from what the analysis measured."""
    mode = 0.0
    if key is not None:
        mode = (1.0 if key.key.mode == "major" else -1.0) * max(0.0, min(1.0, key.correlation))
    named = [c for c in chords if c is not None]
    harmony = 0.0
    if named:
        harmony = (sum(c.kind in _BRIGHT for c in named) - sum(c.kind in _DARK for c in named)) / len(named)
    terms = {
        "mode": mode,
        "harmony": harmony,
        "tempo": _clip((felt_bpm - CALM_BPM) / SPAN_BPM),
        "density": _clip((onsets_per_second - NEUTRAL_ONSETS) / SPAN_ONSETS),
        "loudness": _clip((mean_velocity - NEUTRAL_VELOCITY) / SPAN_VELOCITY),
    }
    valence = _clip(MODE_SHARE * terms["mode"] + (1 - MODE_SHARE) * terms["harmony"])
    arousal = _clip(
        TEMPO_SHARE * terms["tempo"] + DENSITY_SHARE * terms["density"] + LOUDNESS_SHARE * terms["loudness"]
    )
    mood = min(MOODS, key=lambda name: math.dist(MOODS[name], (valence, arousal)))
    return Emotion(round(valence, 3), round(arousal, 3), mood, {k: round(v, 3) for k, v in terms.items()})


def _clip(value: float) -> float:
    return max(-1.0, min(1.0, value))
