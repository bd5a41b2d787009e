"""An audio file analysed: beats and tempo, downbeats, notes, then the MIDI path's analysis.

The audio becomes a ``Score`` the rest of the analysis (and ``reimagine``) takes unchanged:

- the tempo map from the tracked beats: one tempo when a straight line through the beat times
  misses none by more than a tenth of a beat, else one tempo a bar through the downbeats;
- 4/4 bars (the meter is not estimated), the downbeat the beat phase on which the transcribed
  notes that start there sound longest, bass notes counted twice; the grid starts a whole bar at
  or before the audio's start, so every note has a place;
- two parts: "Melody", the transcription's top line (``notes.top_line``), and "Accompaniment",
  every other transcribed note; a note heard up to 100 ms after another's onset is moved to it
  (``notes.snap_to_attacks``: the model hears soft attacks late);
- the key from the audio's chroma (``chroma.py``), not from the transcribed notes.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from edge.analysis.analyse import Analysis, analyse_score
from edge.analysis.audio.chroma import chroma_profile, loudness_db
from edge.analysis.audio.facts import AudioFacts
from edge.analysis.audio.notes import TranscribedNote, join_split_notes, snap_to_attacks, top_line
from edge.analysis.audio.read import read_audio
from edge.analysis.audio.tempo import estimate_tempo, onset_strength, track_beats, with_note_onsets
from edge.analysis.audio.transcribe import transcribe
from edge.analysis.key import DEFAULT_PROFILE
from edge.analysis.midi_in import AnalysisError
from edge.analysis.score import Meter, Note, Part, Score, Tempo

BEATS_PER_BAR = 4
"""The meter assumed for audio."""
STEADY = 0.1
"""Largest miss, in beats, of a straight line through the beat times for one tempo to stand."""
SILENT = 1e-4
"""Peak level under which audio counts as silence."""
ESTIMATED = ("tempo", "beats", "downbeats", "meter (4/4 assumed)", "key", "notes", "melody", "chords",
             "sections")  # fmt: skip
"""What an audio analysis estimates (all of it: nothing is declared in audio)."""


def analyse_audio(path: str | Path, profile: str = DEFAULT_PROFILE) -> Analysis:
    """Read and analyse the audio file ``path``; AnalysisError (one line) for what it cannot."""
    return analyse_audio_parts(path, profile)[0]


def analyse_audio_parts(path: str | Path, profile: str = DEFAULT_PROFILE) -> tuple[Analysis, list[float]]:
    """``analyse_audio`` and the chroma key weights it used: ``analysis_from(analysis.score, weights,
    analysis.audio, profile)`` gives the same analysis again without the audio (a cache keeps those)."""
    audio = read_audio(path)
    name = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
    x = audio.samples
    if float(np.abs(x).max()) < SILENT:
        raise AnalysisError(f"{name}: the audio is silent")
    notes = transcribe(x)
    if not notes:
        raise AnalysisError(f"{name}: no pitched notes heard (nothing to take a melody or chords from)")
    envelope = with_note_onsets(onset_strength(x), [(n.start, n.amplitude) for n in notes])
    bpm = estimate_tempo(envelope)
    beats = track_beats(envelope, bpm)
    if len(beats) < 2 * BEATS_PER_BAR:
        raise AnalysisError(f"{name}: no steady beat found ({len(beats)} beats in {audio.seconds:.1f} s)")
    times, steady = _beat_times(beats, audio.seconds)
    grid = _from_downbeat(times, _downbeat_phase(times, notes))
    score = _score(name, grid, notes, steady)
    weights = chroma_profile(x)
    analysis = analyse_score(score, profile, key_weights=weights)
    edges = np.array([b.seconds for b in analysis.beats] + [score.seconds_at(analysis.beats[-1].end)])
    facts = AudioFacts(
        format=audio.format, source_rate=audio.source_rate, channels=audio.channels,
        seconds=round(audio.seconds, 3), tempo_bpm=round(bpm, 2), steady_tempo=steady,
        beat_loudness_db=tuple(loudness_db(x, edges)), transcribed_notes=len(notes), estimated=ESTIMATED,
    )  # fmt: skip
    return replace(analysis, audio=facts), weights


def analysis_from(
    score: Score, weights: list[float], facts: AudioFacts, profile: str = DEFAULT_PROFILE
) -> Analysis:
    """The analysis of an audio file from what ``analyse_audio_parts`` gave (no audio read)."""
    return replace(analyse_score(score, profile, key_weights=weights), audio=facts)


def _beat_times(beats: np.ndarray, seconds: float) -> tuple[np.ndarray, bool]:
    """Beats from before 0 s to past the end: a straight line when it fits every tracked beat
    (steady), else the tracked beats extended at their first and last periods."""
    index = np.arange(len(beats), dtype=np.float64)
    slope, intercept = np.polyfit(index, beats, 1)
    steady = bool(np.abs(beats - (slope * index + intercept)).max() <= STEADY * slope)
    first = -int(np.ceil(intercept / slope)) - 1
    last = len(beats) + int(np.ceil((seconds - beats[-1]) / slope)) + 1
    if steady:
        return intercept + slope * np.arange(first, last), True
    head = beats[0] + (beats[1] - beats[0]) * np.arange(first, 0)
    tail = beats[-1] + (beats[-1] - beats[-2]) * np.arange(1, last - len(beats) + 1)
    return np.concatenate([head, beats, tail]), False


def _downbeat_phase(times: np.ndarray, notes: list[TranscribedNote]) -> int:
    """Which of every BEATS_PER_BAR beats is the downbeat: where the harmony changes most (the
    sounding pitch classes of a beat against the beat before, bass notes counted twice), and
    where notes that start hold longest."""
    count = len(times) - 1
    classes = np.zeros((count, 12))
    held = np.zeros(count)
    for n in notes:
        weight = 2.0 if n.pitch < 55 else 1.0
        first = max(int(np.searchsorted(times, n.start, "right")) - 1, 0)
        last = min(int(np.searchsorted(times, n.end, "left")), count)
        for beat in range(first, max(last, first + 1)):
            if beat < count:
                overlap = min(n.end, times[beat + 1]) - max(n.start, times[beat])
                classes[beat, n.pitch % 12] += weight * max(overlap, 0.0)
        nearest = int(np.argmin(np.abs(times[first : first + 2] - n.start))) + first
        if nearest < count and abs(times[nearest] - n.start) < 0.07:
            held[nearest] += weight * (n.end - n.start)
    norms = np.linalg.norm(classes, axis=1) + 1e-9
    similarity = (classes[1:] * classes[:-1]).sum(axis=1) / (norms[1:] * norms[:-1])
    change = np.concatenate([[0.0], 1.0 - similarity])
    cues = change / (change.sum() + 1e-9) + held / (held.sum() + 1e-9)
    return int(np.argmax([cues[p::BEATS_PER_BAR].sum() for p in range(BEATS_PER_BAR)]))


def _from_downbeat(times: np.ndarray, phase: int) -> np.ndarray:
    """The beat times from a downbeat at or before 0 s, or just after it (whole bars added in front
    when needed)."""
    grid = times[phase:]
    period = grid[1] - grid[0]
    late = max(grid[0] - STEADY * period, 0.0)  # a downbeat a tenth of a beat in counts as on time
    bars_before = int(np.ceil(late / (BEATS_PER_BAR * period)))
    front = grid[0] - period * np.arange(BEATS_PER_BAR * bars_before, 0, -1)
    return np.concatenate([front, grid])


def _score(name: str, grid: np.ndarray, notes: list[TranscribedNote], steady: bool) -> Score:
    """The transcription as a Score on the beat grid (quarter note = beat)."""
    if steady:
        tempos = (Tempo(0.0, float(grid[0]), 60.0 / float(grid[1] - grid[0])),)
    else:  # a tempo a bar, through the downbeats
        bars = grid[::BEATS_PER_BAR]
        tempos = tuple(
            Tempo(
                float(BEATS_PER_BAR * i), float(bars[i]), 60.0 * BEATS_PER_BAR / float(bars[i + 1] - bars[i])
            )
            for i in range(len(bars) - 1)
        )
    starts = np.array([t.seconds for t in tempos])

    def beat_of(seconds: float) -> float:
        tempo = tempos[max(0, int(np.searchsorted(starts, seconds, "right")) - 1)]
        return max(0.0, tempo.beat + (seconds - tempo.seconds) * tempo.bpm / 60.0)

    notes = snap_to_attacks(notes)
    line = join_split_notes(top_line(notes), notes)
    in_line = {(n.pitch, n.start) for n in line}
    others = [n for n in notes if (n.pitch, n.start) not in in_line]
    placed = [
        Note(n.pitch, int(np.clip(round(1 + 126 * n.amplitude), 1, 127)), beat_of(n.start), beat_of(n.end),
             n.start, n.end, part)
        for part, group in ((0, line), (1, others))
        for n in group
    ]  # fmt: skip
    placed.sort(key=lambda n: (n.start, n.pitch, n.end, n.part))
    return Score(
        path=name, midi_type=0, tracks=1, ticks_per_beat=1,
        parts=(Part("Melody", 0, 0, 0), Part("Accompaniment", 0, 1, 0)),
        notes=tuple(placed), tempos=tempos, meters=(Meter(0.0, BEATS_PER_BAR, 4),), key_signatures=(),
        end=max(n.end for n in placed), tempo_declared=False,
        warnings=("audio: every part of this analysis is estimated (4/4 assumed)",),
        source="audio",
    )  # fmt: skip
