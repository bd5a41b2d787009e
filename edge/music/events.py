"""The event model shared by every generator, the arranger, the synth and MIDI export.

Time inside a bar is measured in beats from the bar line, so a bar can be
generated before its tempo is final and rendered at whatever tempo the
conductor settles on. Absolute time only appears in the synth.
"""

from __future__ import annotations

from dataclasses import dataclass

#: General MIDI drum pitches used for the ``drums`` track.
KICK = 36
SNARE = 38
CLAP = 39
CLOSED_HAT = 42
OPEN_HAT = 46
DRUM_PITCHES = (KICK, SNARE, CLAP, CLOSED_HAT, OPEN_HAT)

#: Tracks a generator or the arranger may emit. A style pack maps each to a synth patch.
TRACKS = ("lead", "keys", "pad", "bass", "drums")

SECTIONS = ("intro", "build", "peak", "break", "outro")


@dataclass(frozen=True, slots=True)
class Note:
    """One note: where it starts in the bar, how long it lasts, and what plays it."""

    onset: float
    """Start, in beats from the bar line (0 <= onset < beats_per_bar)."""
    duration: float
    """Length in beats; it may ring past the bar line."""
    pitch: int
    """MIDI pitch 0..127. On the ``drums`` track it names the drum (see DRUM_PITCHES)."""
    velocity: int
    """MIDI velocity 1..127."""
    track: str
    """The track (one of TRACKS) whose instrument plays the note."""


@dataclass(frozen=True, slots=True)
class Chord:
    """A chord held from ``onset`` for ``duration`` beats."""

    onset: float
    """Start, in beats from the bar line."""
    duration: float
    """Length in beats."""
    root: int
    """Pitch class of the root, 0 = C."""
    quality: str
    """Quality name from ``edge.music.theory.CHORD_QUALITIES`` (``maj``, ``min7``, ...)."""


@dataclass(frozen=True, slots=True)
class BarPlan:
    """What the conductor wants from the next bar; generators must follow it."""

    index: int
    """Bar number since the session started."""
    tempo: float
    """Beats per minute for this bar."""
    beats: int
    """Beats in the bar (4 for 4/4, 3 for 3/4)."""
    key: int
    """Tonic pitch class, 0 = C."""
    mode: str
    """Scale name from ``edge.music.theory.SCALES``."""
    density: float
    """Melody notes per beat wanted, already clamped to the style's range."""
    register: tuple[int, int]
    """Lowest and highest MIDI pitch for the melody."""
    energy: float
    """0..1 after the section arc; drives drums, velocity and brightness."""
    section: str
    """One of SECTIONS."""
    bar_in_section: int
    """0-based position of this bar inside its section."""
    section_length: int
    """How many bars the current section lasts."""
    style: str
    """Name of the style pack in force for this bar."""
    simplicity: float = 0.0
    """0..1; high values ask for fewer, more repetitive notes (low attention)."""
    new_phrase: bool = False
    """True when the generator should start a fresh motif (section change or skip)."""
    chords: tuple[Chord, ...] = ()
    """The planned harmony (``edge.music.phrases``); empty when a generator is free to choose."""
    phrase_bar: int = 0
    """0-based bar inside the current phrase."""
    phrase_length: int = 4
    """Bars in the current phrase."""
    phrase_label: str = "A"
    """The phrase's letter in its section's form (``A``, ``A'``, ``B`` ...): a prime returns a theme."""
    cadence: str = ""
    """On a phrase's last bar, its cadence (``authentic``, ``plagal``, ``half``, ``deceptive``)."""
    pedal: bool = False
    """True in a section the style holds on a tonic drone on purpose."""
    melody: tuple[Note, ...] = ()
    """A given lead (a reimagined track's melody), played note for note: the generators write
    the other parts around it. Empty: the generator writes the melody."""
    listener_energy: float = 0.5
    """0..1, the energy the listener asked for (energy, activity, intensity, mood) before the section
    arc shapes it; the master levels its loudness out (edge/render/master.py)."""


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of music: the plan it was made for, its notes and its harmony."""

    plan: BarPlan
    """The plan this bar answers."""
    notes: tuple[Note, ...] = ()
    """Every note of every track, sorted by onset."""
    chords: tuple[Chord, ...] = ()
    """The harmony, one chord per beat or longer."""
    source: str = "tier0"
    """Which generator produced it (``tier0``, ``S``, ``M``, ``L``)."""

    @property
    def seconds(self) -> float:
        """Duration of the bar at its planned tempo."""
        return self.plan.beats * 60.0 / self.plan.tempo

    def track(self, name: str) -> list[Note]:
        """The notes of one track, in onset order."""
        return [n for n in self.notes if n.track == name]
