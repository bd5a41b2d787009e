"""What a replay heard, as notes (``replay --midi``): the engine's bars and each library track's
version, at the times the WAV replay has them.

The stage plays one source from the output frame it fades in at (``Replayer.switches``): the
endless engine or a track's deck. The MIDI holds, at every moment, the notes of that source and,
for a deck, of the version heard from each switch's deck frame on: the reimagined bars as the
deck's engine planned them, or the original's notes, which for a MIDI track are the file's own
(every pitched part, as the deck plays them) and for an audio track its transcription (the notes
the analysis heard, which the reimagining kept its melody from: the audio itself is only in the
WAV). A note still sounding when its source or version hands over is cut there (the audio fades it
out within a beat), so two sources never overlap. Pause silence takes its time in the MIDI as in
the WAV. The tempo map follows the source playing: a tempo at each of its bar lines, a time
signature where the meter changes and again at its first bar line after a switch (a track starts
where it was chosen, rarely on the engine's bar line).
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from typing import Any

import mido

from edge.exits import OutputError
from edge.library.deck import original_bars
from edge.music.midi import GM_TRACKS, TICKS_PER_BEAT, add_note_tracks, delta_times
from edge.session.tracks import PlayedDeck, deck_bar_start

TRACKS = {**GM_TRACKS, "original": (4, 4)}
"""MIDI track -> (channel, General MIDI program): a track's original on an electric piano, as the deck
plays a MIDI track's original."""


@dataclass(frozen=True)
class Timed:
    """A note at output frames of the replay's stage (pause silence not counted)."""

    start: float
    end: float
    pitch: int
    velocity: int
    track: str


@dataclass(frozen=True)
class Anchor:
    """Where a source's tempo holds from: a bar line, or a switch in the middle of a bar."""

    frame: float
    tempo: float
    beats: int | None
    """The bar's beats at a bar line; None at a switch mid-bar."""
    first: bool = False
    """The source's first bar line after a switch: the time signature is stated again."""


def heard_midi(replayer: Any, begin: int, end: int) -> mido.MidiFile:
    """Frames ``begin``..``end`` of the full replay (pause silence counted, as in its WAV) as a
    type-1 MIDI file: a tempo track, then one track per instrument (and ``original``)."""
    notes: list[Timed] = []
    anchors: list[Anchor] = []
    switches = replayer.switches
    stops = [frame for frame, _ in switches[1:]] + [replayer.stage.produced]
    engine_starts = [replayer.output_frame(start) for start, _ in replayer.bar_frames]
    for (start, source), stop in zip(switches, stops, strict=True):
        if source is None:
            _engine(replayer, engine_starts, start, stop, notes, anchors)
        else:
            _deck(replayer.decks_played[id(source)], replayer.rate, start, stop, notes, anchors)
    heard = _Heard(replayer.pauses)
    timeline = _Timeline([(heard(a.frame), a) for a in anchors], begin, end, replayer.rate)
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(timeline.conductor())
    events: dict[str, list[tuple[int, int, mido.Message]]] = {name: [] for name in TRACKS}
    for note in notes:
        at = heard(note.start)
        if not begin <= at < end:
            continue
        channel = TRACKS[note.track][0]
        on = timeline.tick(at)
        off = max(on + 1, timeline.tick(heard(note.end)))
        pitch, velocity = note.pitch, note.velocity
        track = events[note.track]
        track.append((on, 1, mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)))
        track.append((off, 0, mido.Message("note_off", note=pitch, velocity=0, channel=channel)))
    add_note_tracks(midi, events, TRACKS)
    return midi


def write_heard_midi(replayer: Any, span: tuple[int, int], path: str) -> None:
    """``heard_midi`` of ``span`` written to ``path``; a failure is an ``OutputError`` (exit 1, one line)."""
    try:
        heard_midi(replayer, *span).save(path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _engine(
    replayer: Any, starts: list[float], start: float, stop: float, notes: list[Timed], anchors: list[Anchor]
) -> None:
    """The engine's notes and bar lines heard from output frame ``start`` to ``stop``."""
    bars = replayer.bars
    first = max(0, bisect.bisect_right(starts, start) - 1)  # the bar playing when the engine came in
    last = bisect.bisect_left(starts, stop)
    if first < len(bars) and starts[first] < start:
        anchors.append(Anchor(start, bars[first].plan.tempo, None))
    lines = 0
    for index in range(first, min(last, len(bars))):
        bar, at = bars[index], starts[index]
        if at >= start:
            anchors.append(Anchor(at, bar.plan.tempo, bar.plan.beats, first=lines == 0))
            lines += 1
        origin = replayer.bar_frames[index][0]
        per_beat = 60.0 * replayer.rate / bar.plan.tempo
        for note in bar.notes:
            if note.track not in GM_TRACKS:
                continue
            onset = replayer.output_frame(origin + note.onset * per_beat)
            if start <= onset < stop:
                until = replayer.output_frame(origin + (note.onset + note.duration) * per_beat)
                notes.append(Timed(onset, min(until, stop), note.pitch, note.velocity, note.track))


def _deck(
    played: PlayedDeck, rate: int, start: float, stop: float, notes: list[Timed], anchors: list[Anchor]
) -> None:
    """A deck's notes (the version heard at each note's onset) and bar lines from ``start`` to ``stop``;
    deck frame 0 is output frame ``start``."""
    deck = played.deck
    plans = deck.plans
    heard_for = stop - start  # deck frames
    count = 0  # bars begun while the deck was heard
    while deck.repeat or count < len(plans):
        at = deck_bar_start(deck, count)
        if at >= heard_for:
            break
        plan = plans[count % len(plans)]
        anchors.append(Anchor(start + at, plan.tempo, plan.beats, first=count == 0))
        count += 1
    switches = [frame for frame, _ in played.versions]
    originals = original_bars(played.analysis, plans)
    for version, bars in (
        ("reimagined", played.bars[:count]),
        ("original", [originals[n % len(plans)] for n in range(count)]),
    ):
        for n, bar in enumerate(bars):
            origin = deck_bar_start(deck, n)
            per_beat = 60.0 * rate / bar.plan.tempo
            for note in bar.notes:
                track = "original" if version == "original" else note.track
                if track not in TRACKS:
                    continue
                onset = origin + note.onset * per_beat
                which = bisect.bisect_right(switches, onset) - 1
                if onset >= heard_for or played.versions[which][1] != version:
                    continue
                handover = switches[which + 1] if which + 1 < len(switches) else math.inf
                until = min(origin + (note.onset + note.duration) * per_beat, handover, heard_for)
                notes.append(Timed(start + onset, start + until, note.pitch, note.velocity, track))


class _Heard:
    """Output frames of the stage -> frames of the full replay (pause silence counted)."""

    def __init__(self, pauses: list[tuple[int, int]]) -> None:
        self._at = [frame for frame, _ in pauses]
        self._before = list(itertools.accumulate(frames for _, frames in pauses))

    def __call__(self, frame: float) -> float:
        i = bisect.bisect_right(self._at, frame)
        return frame + (self._before[i - 1] if i else 0)


class _Timeline:
    """MIDI ticks of replay frames ``begin``..``end``: each anchor's tick is the last one's plus its
    span at the last one's tempo (a whole bar is exactly its beats), a note's its anchor's plus its
    distance from it."""

    def __init__(self, anchors: list[tuple[float, Anchor]], begin: int, end: int, rate: int) -> None:
        self._scale = TICKS_PER_BEAT * 1e6 / rate  # ticks a frame times microseconds a beat
        ordered = sorted(anchors, key=lambda x: (x[0], x[1].beats is not None))  # a bar line wins
        kept: list[tuple[float, Anchor]] = []
        for at, anchor in ordered:
            if kept and kept[-1][0] == at:
                kept.pop()
            kept.append((at, anchor))
        before = [(at, a) for at, a in kept if at <= begin]
        opening = before[-1][1] if before else (kept[0][1] if kept else Anchor(begin, 120.0, 4))
        if not before or before[-1][0] < begin:
            opening = Anchor(begin, opening.tempo, None)
        self.anchors = [(float(begin), opening)] + [(at, a) for at, a in kept if begin < at < end]
        self.frames = [at for at, _ in self.anchors]
        # The tempo as the file holds it (whole microseconds a beat), so ticks are the file's time.
        self.micros = [mido.bpm2tempo(anchor.tempo) for _, anchor in self.anchors]
        self.ticks = [0]
        for (at, _), (following, _), micros in zip(self.anchors, self.anchors[1:], self.micros, strict=False):
            self.ticks.append(self.ticks[-1] + round((following - at) * self._scale / micros))

    def tick(self, frame: float) -> int:
        """The tick of replay frame ``frame`` (at or after ``begin``)."""
        i = max(0, bisect.bisect_right(self.frames, frame) - 1)
        return self.ticks[i] + round((frame - self.frames[i]) * self._scale / self.micros[i])

    def conductor(self) -> mido.MidiTrack:
        """The tempo track: a time signature where the meter changes or a source starts its first
        bar after a switch, a tempo where it changes."""
        timed: list[tuple[int, int, mido.MetaMessage]] = []
        beats: int | None = None
        tempo: int | None = None
        for (_, anchor), tick, micros in zip(self.anchors, self.ticks, self.micros, strict=True):
            if anchor.beats is not None and (anchor.first or anchor.beats != beats):
                meter = mido.MetaMessage("time_signature", numerator=anchor.beats, denominator=4)
                timed.append((tick, 0, meter))
                beats = anchor.beats
            if micros != tempo:
                timed.append((tick, 0, mido.MetaMessage("set_tempo", tempo=micros)))
                tempo = micros
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name="edge-music", time=0))
        track.extend(delta_times(timed))
        track.append(mido.MetaMessage("end_of_track", time=0))
        return track
