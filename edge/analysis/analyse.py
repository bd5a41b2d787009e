"""One MIDI, MusicXML or ABC file analysed: the grid, key, melody, chords, sections and emotion."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.analysis.audio.facts import AudioFacts
from edge.analysis.chords import BeatChord, beat_weights, chords_per_beat
from edge.analysis.emotion import Emotion, emotion_of
from edge.analysis.grid import Bar, Beat, beat_grid
from edge.analysis.key import DEFAULT_PROFILE, Key, KeyEstimate, estimate_key, key_from_signature
from edge.analysis.melody import Melody, melody_of
from edge.analysis.midi_in import read_midi
from edge.analysis.notation_in import is_notation
from edge.analysis.score import Score
from edge.analysis.sections import MAX_BARS, Section, sections_of


@dataclass(frozen=True)
class Analysis:
    """Everything ``edge-music analyze`` reports about one file."""

    score: Score
    """The notes, parts, tempo map and signatures as read."""
    bars: list[Bar]
    """Every bar (its downbeat, meter and beats)."""
    beats: list[Beat]
    """Every beat."""
    key: KeyEstimate | None
    """The estimated key (None when only drums play)."""
    declared_key: Key | None
    """The file's first key signature, when it has one."""
    melody: Melody
    """The melody line."""
    chords: list[BeatChord | None]
    """One per beat."""
    sections: list[Section]
    """Phrases labelled by repetition."""
    emotion: Emotion
    """Valence, arousal and the nearest mood."""
    notes: tuple[str, ...]
    """Things the reader should know (ignored events, limits reached)."""
    audio: AudioFacts | None = None
    """How an audio file was read and what was estimated (None for MIDI)."""


def analyse_file(path: str | Path, profile: str = DEFAULT_PROFILE) -> Analysis:
    """Read and analyse ``path`` (MIDI, MusicXML/ABC, or audio by its suffix or first bytes);
    raises AnalysisError (one line) for input it cannot analyse."""
    if is_notation(path):
        from edge.analysis.notation_in import read_notation  # music21 is imported there, lazily

        return analyse_score(read_notation(path), profile)
    if _is_audio(path):
        from edge.analysis.audio.analyse import analyse_audio  # onnxruntime and the model: only for audio

        return analyse_audio(path, profile)
    return analyse_score(read_midi(path), profile)


def analyse_score(
    score: Score, profile: str = DEFAULT_PROFILE, key_weights: list[float] | None = None
) -> Analysis:
    """Analyse a score already read; ``key_weights`` (a pitch-class profile, C first) replaces the
    notes' durations for the key (audio gives its chroma)."""
    bars, beats = beat_grid(score)
    pitched = score.pitched
    notes = list(score.warnings)
    weights, _ = beat_weights(pitched, beats)
    profile_weights = weights.sum(axis=0).tolist() if pitched else [0.0] * 12
    if key_weights is not None:
        profile_weights = list(key_weights)
    estimate = estimate_key(profile_weights, profile)
    if estimate is None:
        notes.append("only drums: no key, melody or chords")
    declared = next((k for k in (key_from_signature(s.name) for s in score.key_signatures) if k), None)
    melody = melody_of(score)
    chords = chords_per_beat(pitched, beats, estimate.key) if estimate else [None] * len(beats)
    sections = sections_of(bars, _sum_by_bar(weights, bars), melody.notes)
    if len(bars) > MAX_BARS:
        notes.append(f"sections cover the first {MAX_BARS} of {len(bars)} bars")
    duration = max(score.duration, 1e-9)
    felt_bpm = len(beats) * 60.0 / max(score.seconds_at(beats[-1].end), 1e-9)  # beats of the meter a minute
    onsets = len({round(n.start, 4) for n in score.notes})
    velocity = sum(n.velocity for n in score.notes) / len(score.notes)
    emotion = emotion_of(estimate, chords, felt_bpm, onsets / duration, velocity)
    return Analysis(score, bars, beats, estimate, declared, melody, chords, sections, emotion, tuple(notes))


def _is_audio(path: str | Path) -> bool:
    from edge.analysis.audio.read import is_audio

    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except (OSError, ValueError):
        head = b""  # read_midi names the problem
    return is_audio(path, head)


def _sum_by_bar(per_beat: np.ndarray, bars: list[Bar]) -> np.ndarray:
    out = np.zeros((len(bars), 12))
    for i, bar in enumerate(bars):
        out[i] = per_beat[bar.first_beat : bar.first_beat + bar.beats].sum(axis=0)
    return out
