"""Standard MIDI file export of a run of bars (``render --midi``).

mido writes the file: it is small, pure Python and well kept, and reading
users' MIDI files for training needs it anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import mido

from edge.music.events import Bar

TICKS_PER_BEAT = 480
#: Track -> (MIDI channel, General MIDI program) so any GM synth renders something close.
GM_TRACKS = {
    "lead": (0, 81),  # lead 2 (sawtooth)
    "keys": (1, 4),  # electric piano 1
    "pad": (2, 89),  # pad 2 (warm)
    "bass": (3, 38),  # synth bass 1
    "drums": (9, 0),  # channel 10 is percussion in General MIDI
}


def bars_to_midi(bars: Iterable[Bar]) -> mido.MidiFile:
    """A type-1 MIDI file: a tempo track, then one track per instrument."""
    bars = list(bars)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor = mido.MidiTrack()
    conductor.append(mido.MetaMessage("track_name", name="edge-music", time=0))
    events: dict[str, list[tuple[int, int, mido.Message]]] = {name: [] for name in GM_TRACKS}
    tick = 0
    last_tempo: float | None = None
    last_beats: int | None = None
    tempo_events: list[tuple[int, mido.MetaMessage]] = []
    for bar in bars:
        if bar.plan.beats != last_beats:
            sig = mido.MetaMessage("time_signature", numerator=bar.plan.beats, denominator=4)
            tempo_events.append((tick, sig))
            last_beats = bar.plan.beats
        if bar.plan.tempo != last_tempo:
            tempo_events.append((tick, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bar.plan.tempo))))
            last_tempo = bar.plan.tempo
        for note in bar.notes:
            if note.track not in GM_TRACKS:
                continue
            channel = GM_TRACKS[note.track][0]
            start = tick + round(note.onset * TICKS_PER_BEAT)
            end = start + max(1, round(note.duration * TICKS_PER_BEAT))
            # Sort key puts note-offs before note-ons at the same tick, so repeated notes retrigger.
            events[note.track].append(
                (start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity, channel=channel))
            )
            events[note.track].append(
                (end, 0, mido.Message("note_off", note=note.pitch, velocity=0, channel=channel))
            )
        tick += bar.plan.beats * TICKS_PER_BEAT
    conductor.extend(delta_times([(t, 0, m) for t, m in tempo_events]))
    conductor.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.append(conductor)
    add_note_tracks(midi, events, GM_TRACKS)
    return midi


def add_note_tracks(
    midi: mido.MidiFile,
    events: dict[str, list[tuple[int, int, mido.Message]]],
    programs: dict[str, tuple[int, int]],
) -> None:
    """One MIDI track per non-empty entry of ``events`` ((absolute tick, 0 for an off or 1 for an
    on, message)), named after it, with its GM program from ``programs`` ((channel, program))."""
    for name, items in events.items():
        if not items:
            continue
        channel, program = programs[name]
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        if name != "drums":
            track.append(mido.Message("program_change", program=program, channel=channel, time=0))
        # Note-offs before note-ons at the same tick, so a repeated note retriggers.
        track.extend(delta_times(sorted(items, key=lambda e: (e[0], e[1]))))
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)


def delta_times(items: list[tuple[int, int, mido.Message | mido.MetaMessage]]) -> list:
    """Absolute ticks -> delta times."""
    out = []
    previous = 0
    for tick, _, message in items:
        out.append(message.copy(time=tick - previous))
        previous = tick
    return out


def write_midi(bars: Iterable[Bar], path: str | Path) -> None:
    """Write ``bars`` to a .mid file."""
    bars_to_midi(bars).save(str(path))
