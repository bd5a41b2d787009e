"""What the analysis reads from a MIDI file or a score: parts, notes, the tempo map and the signatures.

Times are counted in quarter notes ("beats" as MIDI counts them, from the file's ticks) and in
seconds through the tempo map. ``edge.analysis.midi_in`` builds a Score; the rest of the analysis
reads it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class Part:
    """One voice of the file: a track's notes on one channel."""

    name: str
    """The track's name ("" when it has none)."""
    track: int
    """Track index in the file, from 0."""
    channel: int
    """MIDI channel 0..15; 9 is General MIDI percussion."""
    program: int
    """The first General MIDI program set on the channel (0 when none is)."""

    @property
    def drums(self) -> bool:
        """Whether the part is General MIDI percussion (channel 10), which has no pitch."""
        return self.channel == 9


@dataclass(frozen=True)
class Note:
    """One sounding note."""

    pitch: int
    """MIDI pitch 0..127."""
    velocity: int
    """Note-on velocity 1..127."""
    start: float
    """Onset in quarter notes from the start."""
    end: float
    """Release in quarter notes (equal to ``start`` for a zero-length hit)."""
    start_s: float
    """Onset in seconds through the tempo map."""
    end_s: float
    """Release in seconds."""
    part: int
    """Index into ``Score.parts``."""


@dataclass(frozen=True)
class Tempo:
    """A tempo in force from ``beat`` on."""

    beat: float
    """Where it starts, in quarter notes."""
    seconds: float
    """Where it starts, in seconds."""
    bpm: float
    """Quarter notes a minute."""


@dataclass(frozen=True)
class Meter:
    """A time signature in force from ``beat`` on."""

    beat: float
    """Where it starts, in quarter notes."""
    numerator: int
    """Units a bar."""
    denominator: int
    """The unit: 4 = a quarter note, 8 = an eighth."""

    @property
    def compound(self) -> bool:
        """6/8, 9/8, 12/8 (and /16): the beat is a dotted unit, three units long."""
        return self.denominator >= 8 and self.numerator in (6, 9, 12)

    @property
    def bar_length(self) -> float:
        """Quarter notes a bar."""
        return self.numerator * 4 / self.denominator

    @property
    def beat_length(self) -> float:
        """Quarter notes a (felt) beat."""
        return (12 if self.compound else 4) / self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"


@dataclass(frozen=True)
class KeySignature:
    """A key signature as the file declares it."""

    beat: float
    """Where it starts, in quarter notes."""
    name: str
    """mido's name: "C", "F#m", "Bb"..."""


@dataclass(frozen=True)
class Score:
    """What the analysis reads from a MIDI file."""

    path: str
    """The file as the user named it."""
    midi_type: int
    """0 (one track) or 1 (parallel tracks)."""
    tracks: int
    """Tracks in the file."""
    ticks_per_beat: int
    """The file's resolution."""
    parts: tuple[Part, ...]
    """Every track and channel that plays notes."""
    notes: tuple[Note, ...]
    """All notes, by onset then pitch."""
    tempos: tuple[Tempo, ...]
    """The tempo map, first entry at beat 0."""
    meters: tuple[Meter, ...]
    """Time signatures, first entry at beat 0 (4/4 when the file declares none)."""
    key_signatures: tuple[KeySignature, ...]
    """Declared key signatures (often absent, sometimes wrong)."""
    end: float
    """The last release, in quarter notes."""
    tempo_declared: bool
    """Whether the file sets a tempo (else 120 BPM is assumed)."""
    warnings: tuple[str, ...] = field(default=())
    """Things ignored on the way (an invalid time signature, a wrong track count)."""
    source: str = "midi"
    """What was read: "midi", "musicxml", "abc" or "audio" (a score has no ticks: ``ticks_per_beat`` is 0)."""

    @cached_property
    def _tempo_starts(self) -> list[float]:
        return [t.beat for t in self.tempos]

    def seconds_at(self, beat: float) -> float:
        """Seconds from the start at ``beat`` quarter notes, through the tempo map."""
        index = max(0, bisect.bisect_right(self._tempo_starts, beat) - 1)
        tempo = self.tempos[index]
        return tempo.seconds + (beat - tempo.beat) * 60.0 / tempo.bpm

    @property
    def duration(self) -> float:
        """Seconds to the last release."""
        return self.seconds_at(self.end)

    @property
    def pitched(self) -> list[Note]:
        """Notes that have a pitch (not General MIDI percussion)."""
        return [n for n in self.notes if not self.parts[n.part].drums]
