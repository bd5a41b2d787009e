#!/usr/bin/env python3
"""Synthetic MIDI pieces whose answers are known, for testing and measuring ``edge-music analyze``.

    python scripts/analysis_pieces.py --out /tmp/pieces      # 72 files: 3 kinds x 24 keys

Every piece is built from a tonic, a mode and a tempo plan, so its key, tempo map, meter, bars
and chords are known by construction. Kinds:

- ``scale``: the scale up and down in quarter notes and the tonic held (minor: harmonic minor);
- ``cadence``: block chords I-IV-V-I twice (minor: i-iv-V-i) over a bass;
- ``song``: a melody over chords and a bass in the form A A B A′ (4-bar phrases: A on
  I-IV-V-I, B on vi-ii-V-I, A′ is A with its last two bars varied) with drums.

The files have no key signature (the analysis must find the key from the notes) and carry the
tempo plan as set_tempo events at bar lines. Also imported by tests/test_analysis*.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mido

TICKS = 480
KINDS = ("scale", "cadence", "song")
MAJOR = (0, 2, 4, 5, 7, 9, 11)
HARMONIC_MINOR = (0, 2, 3, 5, 7, 8, 11)
NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")

# Melody in scale degrees from 0 (7 = the tonic an octave up), one (degree, quarter notes) per note.
PHRASE_A = (
    ((0, 1), (2, 1), (4, 1), (2, 1)),
    ((3, 1), (5, 1), (7, 1), (5, 1)),
    ((4, 1), (6, 1), (8, 1), (6, 1)),
    ((7, 2), (4, 1), (0, 1)),
)
PHRASE_B = (
    ((9, 0.5), (8, 0.5), (7, 1), (5, 2)),
    ((8, 0.5), (7, 0.5), (5, 1), (3, 2)),
    ((6, 1.5), (4, 0.5), (1, 2)),
    ((2, 3), (0, 1)),
)
PHRASE_A_VARIED = (
    *PHRASE_A[:2],
    ((8, 0.5), (7, 0.5), (6, 0.5), (4, 0.5), (1, 2)),
    ((0, 1), (4, 1), (2, 2)),
)
# Chords as scale degrees (root) per bar.
HARMONY_A = (0, 3, 4, 0)
HARMONY_B = (5, 1, 4, 0)


def scale_of(tonic: int, mode: str) -> tuple[int, ...]:
    """Pitch classes from the tonic up (minor: harmonic minor, the leading tone raised)."""
    return tuple((tonic + s) % 12 for s in (MAJOR if mode == "major" else HARMONIC_MINOR))


def degree_pitch(tonic: int, mode: str, degree: int, base: int) -> int:
    """MIDI pitch of a scale degree (0 = tonic, 7 = tonic an octave up) above ``base`` (a C)."""
    steps = MAJOR if mode == "major" else HARMONIC_MINOR
    octave, index = divmod(degree, 7)
    return base + tonic + steps[index] + 12 * octave


def triad(tonic: int, mode: str, degree: int, base: int) -> list[int]:
    """The diatonic triad on a scale degree, root position above ``base``."""
    return [degree_pitch(tonic, mode, degree + step, base) for step in (0, 2, 4)]


def tempo_plan(index: int, bars: int) -> tuple[tuple[int, float], ...]:
    """A known tempo plan for piece ``index``: (bar from 0, BPM) with changes at a third and two thirds."""
    first = 72.0 + 6 * (index % 12)
    return ((0, first), (bars // 3, first + 24.0), (2 * bars // 3, first - 12.0))


def piece(
    tonic: int,
    mode: str,
    kind: str,
    tempos: tuple[tuple[int, float], ...] = ((0, 100.0),),
    midi_type: int = 1,
) -> mido.MidiFile:
    """A 4/4 piece of ``kind`` in ``tonic`` ``mode`` with the tempo plan ``tempos`` (bar, BPM)."""
    melody: list[tuple[float, float, int]] = []  # (start, length, pitch) in quarter notes
    chords: list[tuple[float, float, int]] = []
    bass: list[tuple[float, float, int]] = []
    drums: list[tuple[float, float, int]] = []
    if kind == "scale":
        degrees = [*range(8), *range(6, -1, -1)]
        melody = [(float(i), 1.0, degree_pitch(tonic, mode, d, 60)) for i, d in enumerate(degrees)]
        melody.append((float(len(degrees)), 4.0, degree_pitch(tonic, mode, 0, 60)))
    elif kind == "cadence":
        for bar, degree in enumerate((*HARMONY_A, *HARMONY_A)):
            chords += [(bar * 4.0, 4.0, p) for p in triad(tonic, mode, degree, 60)]
            bass.append((bar * 4.0, 4.0, degree_pitch(tonic, mode, degree, 36)))
    elif kind == "song":
        bar = 0
        for tune, harmony in ((PHRASE_A, HARMONY_A), (PHRASE_A, HARMONY_A), (PHRASE_B, HARMONY_B),
                              (PHRASE_A_VARIED, HARMONY_A)):  # fmt: skip
            for notes, degree in zip(tune, harmony, strict=True):
                at = bar * 4.0
                for step, length in notes:
                    melody.append((at, length, degree_pitch(tonic, mode, step, 72)))
                    at += length
                for beat in range(4):
                    chords += [(bar * 4.0 + beat, 1.0, p) for p in triad(tonic, mode, degree, 60)]
                bass += [(bar * 4.0, 2.0, degree_pitch(tonic, mode, degree, 36)),
                         (bar * 4.0 + 2, 2.0, degree_pitch(tonic, mode, degree + 4, 36))]  # fmt: skip
                drums += [(bar * 4.0 + b, 0.25, 36 if b % 2 == 0 else 38) for b in range(4)]
                bar += 1
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return build(tempos, [("Melody", 0, 73, melody), ("Chords", 1, 0, chords), ("Bass", 2, 32, bass),
                          ("Drums", 9, 0, drums)], midi_type)  # fmt: skip


def build(
    tempos: tuple[tuple[int, float], ...],
    parts: list[tuple[str, int, int, list[tuple[float, float, int]]]],
    midi_type: int = 1,
    meter: tuple[int, int] = (4, 4),
) -> mido.MidiFile:
    """A MIDI file from a tempo plan (bar, BPM) and parts (name, channel, program, notes)."""
    bar_ticks = TICKS * 4 * meter[0] // meter[1]
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("time_signature", numerator=meter[0], denominator=meter[1], time=0))
    tick = 0
    for bar, bpm in tempos:
        at = bar * bar_ticks
        conductor.append(mido.MetaMessage("set_tempo", tempo=round(60e6 / bpm), time=at - tick))
        tick = at
    tracks = [conductor]
    for name, channel, program, notes in parts:
        if not notes:
            continue
        events = []
        for start, length, pitch in notes:
            on, off = round(start * TICKS), round((start + length) * TICKS)
            events.append((on, 1, mido.Message("note_on", channel=channel, note=pitch, velocity=80)))
            events.append((off, 0, mido.Message("note_off", channel=channel, note=pitch, velocity=0)))
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
        if channel != 9:
            track.append(mido.Message("program_change", channel=channel, program=program, time=0))
        tick = 0
        for at, _, message in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(message.copy(time=at - tick))
            tick = at
        tracks.append(track)
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=TICKS)
    if midi_type == 0:
        midi.tracks.append(mido.merge_tracks(tracks))
    else:
        midi.tracks.extend(tracks)
    return midi


def bars_of(kind: str) -> int:
    """Bars a piece of ``kind`` lasts."""
    return {"scale": 5, "cadence": 8, "song": 16}[kind]


def write_set(folder: Path) -> list[tuple[Path, int, str, tuple[tuple[int, float], ...]]]:
    """Every kind in all 24 keys (type 1 in major, type 0 in minor): (path, tonic, mode, tempo plan)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        for m, mode in enumerate(("major", "minor")):
            for tonic in range(12):
                tempos = tempo_plan(tonic + 12 * m, bars_of(kind))
                path = folder / f"{kind}-{NAMES[tonic].replace('#', 's')}-{mode}.mid"
                piece(tonic, mode, kind, tempos, midi_type=1 if mode == "major" else 0).save(str(path))
                written.append((path, tonic, mode, tempos))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder to write the .mid files into")
    args = parser.parse_args(argv)
    written = write_set(args.out)
    print(f"wrote {len(written)} pieces to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
