"""The model's activations as notes, and the melody as their top line.

A numpy port of basic-pitch 0.4.0's ``note_creation.py`` with its defaults (``inference.predict``):
onset threshold 0.5, frame threshold 0.3, minimum note 127.7 ms (11 frames), energy tolerance 11
frames, onsets inferred from jumps in the frame activations (``get_infered_onsets``), peaks of
the onset activations in time (``scipy.signal.argrelmax``, here a comparison with both
neighbours), each note followed until its frame activation stays under the threshold, and the
"melodia trick" (notes grown both ways from the strongest remaining activation). Frame times as
``model_frames_to_time`` gives them (its per-window alignment offset included). Pitch bends are
not used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ONSET_THRESHOLD = 0.5
"""Onset activation a note needs to start (basic-pitch's default)."""
FRAME_THRESHOLD = 0.3
"""Frame activation that keeps a note sounding."""
MIN_NOTE_FRAMES = 11
"""Notes this long or shorter are dropped (round(127.70 ms x 86 frames a second))."""
ENERGY_TOLERANCE = 11
"""Frames under the threshold that end a note."""
MIDI_OFFSET = 21
"""MIDI pitch of the first column (A0)."""
MAX_MELODIA_NOTES = 20_000
"""The most notes the melodia pass adds (bounds the work on noise)."""
SNAP_SECONDS = 0.1
"""How late after another note's onset a note is taken to start with it (``snap_to_attacks``)."""
JOIN_GAP = 0.03
"""Seconds between a note's end and the next of its pitch under which they may be one note."""
LINE_SPAN = 12
"""Semitones under the top line's median pitch below which a note is accompaniment."""
_HOP_SECONDS = 256 / 22050
_WINDOW_FRAMES = 172
_WINDOW_OFFSET = _HOP_SECONDS * (_WINDOW_FRAMES - 43844 / 256) + 0.0018  # basic-pitch's alignment


@dataclass(frozen=True)
class TranscribedNote:
    """One note heard."""

    pitch: int
    """MIDI pitch 21..108."""
    start: float
    """Onset in seconds."""
    end: float
    """Release in seconds."""
    amplitude: float
    """Mean frame activation 0..1 over the note."""


def frame_times(count: int) -> np.ndarray:
    """Seconds of each frame (basic-pitch's ``model_frames_to_time``)."""
    index = np.arange(count)
    return index * _HOP_SECONDS - _WINDOW_OFFSET * np.floor(index / _WINDOW_FRAMES)


def notes_from_activations(frames: np.ndarray, onsets: np.ndarray) -> list[TranscribedNote]:
    """basic-pitch's ``output_to_notes_polyphonic`` with its defaults; notes by onset then pitch."""
    frames = frames.astype(np.float64)
    count = frames.shape[0]
    if count < 3:
        return []
    onsets = _inferred_onsets(onsets.astype(np.float64), frames)
    peaks = np.zeros_like(onsets)
    inner = (onsets[1:-1] > onsets[:-2]) & (onsets[1:-1] > onsets[2:])
    peaks[1:-1][inner] = onsets[1:-1][inner]
    times, pitches = np.nonzero(peaks >= ONSET_THRESHOLD)
    remaining = frames.copy()
    events: list[tuple[int, int, int, float]] = []
    top = frames.shape[1] - 1
    for start, pitch in zip(times[::-1], pitches[::-1], strict=True):  # backwards in time
        if start >= count - 1:
            continue
        i, k = start + 1, 0
        while i < count - 1 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining[i, pitch] < FRAME_THRESHOLD else 0
            i += 1
        i -= k
        if i - start <= MIN_NOTE_FRAMES:
            continue
        remaining[start:i, max(pitch - 1, 0) : min(pitch + 1, top) + 1] = 0
        events.append((int(start), int(i), int(pitch), float(frames[start:i, pitch].mean())))
    events.extend(_melodia(frames, remaining, count, top))
    times_s = frame_times(count)
    notes = [
        TranscribedNote(p + MIDI_OFFSET, float(times_s[s]), float(times_s[e]), a) for s, e, p, a in events
    ]
    return sorted(notes, key=lambda n: (n.start, n.pitch))


def _inferred_onsets(onsets: np.ndarray, frames: np.ndarray, n_diff: int = 2) -> np.ndarray:
    diffs = []
    for n in range(1, n_diff + 1):
        shifted = np.concatenate([np.zeros((n, frames.shape[1])), frames])
        diffs.append(shifted[n:] - shifted[:-n])
    frame_diff = np.maximum(np.min(diffs, axis=0), 0)
    frame_diff[:n_diff] = 0
    peak = frame_diff.max()
    if peak > 0:
        frame_diff = onsets.max() * frame_diff / peak
    return np.maximum(onsets, frame_diff)


def _melodia(
    frames: np.ndarray, remaining: np.ndarray, count: int, top: int
) -> list[tuple[int, int, int, float]]:
    """Notes grown forwards and backwards from the strongest activation no note explains yet."""
    events = []
    for _ in range(MAX_MELODIA_NOTES):
        flat = int(np.argmax(remaining))
        middle, pitch = divmod(flat, remaining.shape[1])
        if remaining[middle, pitch] <= FRAME_THRESHOLD:
            break
        remaining[middle, pitch] = 0
        band = slice(max(pitch - 1, 0), min(pitch + 1, top) + 1)
        i, k = middle + 1, 0
        while i < count - 1 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining[i, pitch] < FRAME_THRESHOLD else 0
            remaining[i, band] = 0
            i += 1
        end = i - 1 - k
        i, k = middle - 1, 0
        while i > 0 and k < ENERGY_TOLERANCE:
            k = k + 1 if remaining[i, pitch] < FRAME_THRESHOLD else 0
            remaining[i, band] = 0
            i -= 1
        start = i + 1 + k
        if end - start <= MIN_NOTE_FRAMES:
            continue
        events.append((start, end, int(pitch), float(frames[start:end, pitch].mean())))
    return events


def snap_to_attacks(notes: list[TranscribedNote], window: float = SNAP_SECONDS) -> list[TranscribedNote]:
    """Each note starting up to ``window`` seconds after another note's onset, moved to the earliest
    such onset: the model hears a soft attack (a flute, strings, a pad) late, behind the struck
    notes it sounds with. Runs faster than ``window`` merge: a known limit."""
    starts = np.array(sorted({n.start for n in notes}))
    out = []
    for n in notes:
        first = int(np.searchsorted(starts, n.start - window - 1e-9))
        start = float(starts[first]) if first < len(starts) and starts[first] < n.start else n.start
        out.append(TranscribedNote(n.pitch, start, n.end, n.amplitude) if start != n.start else n)
    return out


def join_split_notes(line: list[TranscribedNote], notes: list[TranscribedNote]) -> list[TranscribedNote]:
    """A line's note joined to the one before when both have its pitch, it starts within
    ``JOIN_GAP`` of that one's end, and no other note starts with it: a tremolo or a swell the model
    hears as a new onset. A repeated note struck alone (no other part's attack with it) is joined
    too: a known limit of an unaccompanied line."""
    counts: dict[float, int] = {}
    for n in notes:
        counts[n.start] = counts.get(n.start, 0) + 1
    out: list[TranscribedNote] = []
    for note in line:
        if out:
            last = out[-1]
            alone = counts.get(note.start, 0) <= 1
            if note.pitch == last.pitch and note.start - last.end <= JOIN_GAP and alone:
                out[-1] = TranscribedNote(
                    last.pitch, last.start, note.end, max(last.amplitude, note.amplitude)
                )
                continue
        out.append(note)
    return out


def top_line(notes: list[TranscribedNote], min_amplitude: float = 0.0) -> list[TranscribedNote]:
    """The melody: the highest note sounding at each onset, each cut where the next one starts.

    Of notes starting within 50 ms of each other the highest stays; a note starting under a
    sounding higher one is left out (the skyline of ``edge.analysis.melody``); notes more than
    LINE_SPAN semitones under the line's median pitch are left out too (the bass or the chords,
    heard where the melody rests).
    """
    ordered = sorted((n for n in notes if n.amplitude >= min_amplitude), key=lambda n: (n.start, -n.pitch))
    line: list[TranscribedNote] = []
    for note in ordered:
        if line:
            last = line[-1]
            if note.start - last.start < 0.05:
                if note.pitch > last.pitch:
                    line[-1] = note
                continue
            if last.end > note.start + 0.05 and last.pitch > note.pitch:
                continue
            if last.end > note.start:
                line[-1] = TranscribedNote(last.pitch, last.start, note.start, last.amplitude)
        line.append(note)
    if len(line) > 2:  # an accompaniment note heard where the tune rests is not the tune
        floor = float(np.median([n.pitch for n in line])) - LINE_SPAN
        line = [n for n in line if n.pitch >= floor]
    return line
