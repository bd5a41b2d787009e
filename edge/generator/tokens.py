"""The token language of the neural tiers, shared by training and the runtime.

A bar is written REMI-style, multi-track, controls first::

    BAR TS_4/4 TAG_bach KEY_9 MODE_minor DEN_1 REG_2 RHY_1     <- controls (forced at run time)
    CH_9_min CH_4_maj CH_9_min CH_2_min                        <- one chord per beat
    POS_0 BAS_45 DUR_4 MEL_69 DUR_4 POS_4 BAS_52 DUR_4 ...     <- notes by position, bass first

Positions and durations count sixteenth notes from the bar line. The controls
are computed from the data itself (attribute control as in FIGARO and
MuseMorphose), so at run time the conductor's plan is turned into the same
tokens and the model writes a bar that measures the same way.

This module is pure Python + numpy: the daemon imports it, torch never.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from edge.music.chords import CHORD_KINDS  # the chord kinds the model writes (a CH_ token each)

#: Meter -> (sixteenths in the bar, sixteenths per beat). 6/8 counts two dotted-quarter beats.
METERS: dict[str, tuple[int, int]] = {"4/4": (16, 4), "3/4": (12, 4), "2/4": (8, 4), "6/8": (12, 6)}
#: Source / style tags the model is conditioned on.
TAGS = ("bach", "ryans", "oneills", "airds", "user")
MODES = ("major", "minor")
MELODY_RANGE = (36, 96)  # inclusive MIDI pitches the MEL_ tokens cover
BASS_RANGE = (24, 64)
MAX_STEPS = 16
MAX_LENGTH = 16

#: Bucket edges. Density: melody onsets per beat. Register: mean melody pitch.
#: Rhythm: share of the bar's sixteenth positions that carry an onset (any track).
DENSITY_EDGES = (0.6, 1.1, 1.9)
REGISTER_EDGES = (62.0, 69.0, 76.0)
RHYTHM_EDGES = (0.2, 0.35, 0.55)
BUCKETS = 4


def _names() -> list[str]:
    names = ["PAD", "BOS", "BAR"]
    names += [f"TS_{m}" for m in METERS]
    names += [f"TAG_{t}" for t in TAGS]
    names += [f"KEY_{k}" for k in range(12)]
    names += [f"MODE_{m}" for m in MODES]
    names += [f"{kind}_{b}" for kind in ("DEN", "REG", "RHY") for b in range(BUCKETS)]
    names += ["CH_none"] + [f"CH_{r}_{q}" for r in range(12) for q in CHORD_KINDS]
    names += [f"POS_{p}" for p in range(MAX_STEPS)]
    names += [f"BAS_{p}" for p in range(BASS_RANGE[0], BASS_RANGE[1] + 1)]
    names += [f"MEL_{p}" for p in range(MELODY_RANGE[0], MELODY_RANGE[1] + 1)]
    names += [f"DUR_{d}" for d in range(1, MAX_LENGTH + 1)]
    return names


VOCAB: tuple[str, ...] = tuple(_names())
ID: dict[str, int] = {name: i for i, name in enumerate(VOCAB)}
PAD, BOS, BAR = ID["PAD"], ID["BOS"], ID["BAR"]
#: Controls that open every bar, in order, after BAR.
CONTROL_PREFIXES = ("TS_", "TAG_", "KEY_", "MODE_", "DEN_", "REG_", "RHY_")


def _ids(prefix: str) -> list[int]:
    return [i for i, name in enumerate(VOCAB) if name.startswith(prefix)]


CHORD_IDS = _ids("CH_")
POS_IDS = _ids("POS_")
BAS_IDS = _ids("BAS_")
MEL_IDS = _ids("MEL_")
DUR_IDS = _ids("DUR_")


def vocab_hash() -> str:
    """sha256 of the vocabulary: a model card names it so a model never meets the wrong tokenizer."""
    return hashlib.sha256("\n".join(VOCAB).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class NoteEvent:
    """One note on the sixteenth grid of its bar."""

    step: int
    """Onset in sixteenths from the bar line."""
    pitch: int
    """MIDI pitch."""
    length: int
    """Duration in sixteenths (>= 1), clipped at the bar end."""


Chord = tuple[int, str] | None  # (root pitch class, kind) or no chord


@dataclass(frozen=True, slots=True)
class BarEvents:
    """What one bar says, in the terms the tokens can express."""

    meter: str
    """One of METERS."""
    melody: tuple[NoteEvent, ...] = ()
    """The tune, at most one note per step."""
    bass: tuple[NoteEvent, ...] = ()
    """The lowest voice; empty when the source has none."""
    chords: tuple[Chord, ...] = ()
    """One chord per beat."""

    @property
    def steps(self) -> int:
        """Sixteenths in the bar."""
        return METERS[self.meter][0]

    @property
    def beats(self) -> int:
        """Beats (and chords) in the bar."""
        steps, beat = METERS[self.meter]
        return steps // beat

    @classmethod
    def from_json(cls, data: dict) -> BarEvents:
        """From the data builder's interchange format (``pieces.jsonl``)."""
        return cls(
            meter=data["meter"],
            melody=tuple(NoteEvent(*n) for n in data["melody"]),
            bass=tuple(NoteEvent(*n) for n in data["bass"]),
            chords=tuple(tuple(c) if c else None for c in data["chords"]),  # type: ignore[misc]
        )


@dataclass(frozen=True, slots=True)
class Controls:
    """The per-bar attributes a model is conditioned on."""

    meter: str
    tag: str
    key: int
    mode: str
    density: int
    """Bucket 0..3 of melody onsets per beat."""
    register: int
    """Bucket 0..3 of the mean melody pitch."""
    rhythm: int
    """Bucket 0..3 of the share of sixteenth positions with an onset."""

    def tokens(self) -> list[int]:
        """BAR followed by the control tokens."""
        return [
            BAR,
            ID[f"TS_{self.meter}"],
            ID[f"TAG_{self.tag}"],
            ID[f"KEY_{self.key % 12}"],
            ID[f"MODE_{self.mode}"],
            ID[f"DEN_{self.density}"],
            ID[f"REG_{self.register}"],
            ID[f"RHY_{self.rhythm}"],
        ]


def bucket(value: float, edges: Sequence[float]) -> int:
    """Index of the bucket ``value`` falls in (0..len(edges))."""
    return sum(value >= edge for edge in edges)


def density_of(bar: BarEvents) -> float:
    """Melody onsets per beat."""
    return len(bar.melody) / bar.beats


def register_of(bar: BarEvents) -> float | None:
    """Mean melody pitch, or None for a bar without melody."""
    return sum(n.pitch for n in bar.melody) / len(bar.melody) if bar.melody else None


def rhythm_of(bar: BarEvents) -> float:
    """Share of the bar's sixteenth positions that carry an onset in any track."""
    return len({n.step for n in bar.melody} | {n.step for n in bar.bass}) / bar.steps


def measure(bar: BarEvents, tag: str, key: int, mode: str, last_register: int = 1) -> Controls:
    """The controls that describe ``bar``; a bar with no melody keeps ``last_register``."""
    mean = register_of(bar)
    return Controls(
        meter=bar.meter,
        tag=tag,
        key=key,
        mode=mode,
        density=bucket(density_of(bar), DENSITY_EDGES),
        register=last_register if mean is None else bucket(mean, REGISTER_EDGES),
        rhythm=bucket(rhythm_of(bar), RHYTHM_EDGES),
    )


def chord_token(chord: Chord) -> int:
    """The CH_ token of a chord (CH_none for None)."""
    return ID["CH_none"] if chord is None else ID[f"CH_{chord[0] % 12}_{chord[1]}"]


def encode_bar(bar: BarEvents, controls: Controls) -> list[int]:
    """Tokens of one bar; notes outside the token ranges are dropped (the caller transposes first)."""
    tokens = controls.tokens()
    chords = list(bar.chords[: bar.beats]) + [None] * max(0, bar.beats - len(bar.chords))
    tokens += [chord_token(c) for c in chords]
    by_step: dict[int, list[int]] = {}
    for notes, prefix, (low, high) in (
        (bar.bass, "BAS", BASS_RANGE),
        (bar.melody, "MEL", MELODY_RANGE),
    ):
        for note in sorted(notes, key=lambda n: (n.step, n.pitch)):
            if low <= note.pitch <= high and 0 <= note.step < bar.steps:
                length = max(1, min(MAX_LENGTH, note.length, bar.steps - note.step))
                by_step.setdefault(note.step, []).extend([ID[f"{prefix}_{note.pitch}"], ID[f"DUR_{length}"]])
    for step in sorted(by_step):
        tokens.append(ID[f"POS_{step}"])
        tokens += by_step[step]
    return tokens


def encode_piece(
    bars: Iterable[BarEvents], tag: str, key: int, mode: str, transpose: int = 0
) -> list[int] | None:
    """BOS and every bar of a piece, optionally transposed; None if a note leaves the token ranges."""
    tokens = [BOS]
    register = 1
    for bar in bars:
        if transpose:
            bar = transposed(bar, transpose)
            if bar is None:
                return None
        controls = measure(bar, tag, (key + transpose) % 12, mode, register)
        register = controls.register
        tokens += encode_bar(bar, controls)
    return tokens


def transposed(bar: BarEvents, semitones: int) -> BarEvents | None:
    """The bar moved by ``semitones``, or None if a note would leave the token ranges."""
    melody = tuple(NoteEvent(n.step, n.pitch + semitones, n.length) for n in bar.melody)
    bass = tuple(NoteEvent(n.step, n.pitch + semitones, n.length) for n in bar.bass)
    if any(not MELODY_RANGE[0] <= n.pitch <= MELODY_RANGE[1] for n in melody):
        return None
    if any(not BASS_RANGE[0] <= n.pitch <= BASS_RANGE[1] for n in bass):
        return None
    chords = tuple(None if c is None else ((c[0] + semitones) % 12, c[1]) for c in bar.chords)
    return BarEvents(bar.meter, melody, bass, chords)


def decode_bar(tokens: Sequence[int]) -> tuple[Controls | None, BarEvents]:
    """The controls and events of one bar's tokens (starting at BAR); tolerant of bad sequences.

    Tokens that make no sense where they stand are skipped, so a model's
    mistakes cost notes, never an exception.
    """
    names = [VOCAB[t] for t in tokens if 0 <= t < len(VOCAB)]
    values: dict[str, str] = {}
    for name in names:
        for prefix in CONTROL_PREFIXES:
            if name.startswith(prefix) and prefix not in values:
                values[prefix] = name[len(prefix) :]
    meter = values.get("TS_", "4/4")
    steps, beat = METERS[meter]
    chords: list[Chord] = []
    melody: list[NoteEvent] = []
    bass: list[NoteEvent] = []
    step: int | None = None
    pending: tuple[str, int] | None = None
    for name in names:
        if name.startswith("CH_") and len(chords) < steps // beat and step is None:
            parts = name.split("_")
            chords.append(None if parts[1] == "none" else (int(parts[1]), parts[2]))
        elif name.startswith("POS_"):
            new = int(name[4:])
            step = new if new < steps and (step is None or new > step) else step
            pending = None
        elif (name.startswith("MEL_") or name.startswith("BAS_")) and step is not None:
            pending = (name[:3], int(name[4:]))
        elif name.startswith("DUR_") and pending is not None and step is not None:
            note = NoteEvent(step, pending[1], min(int(name[4:]), steps - step))
            (melody if pending[0] == "MEL" else bass).append(note)
            pending = None
    controls = None
    if all(p in values for p in CONTROL_PREFIXES):
        controls = Controls(
            meter=meter,
            tag=values["TAG_"],
            key=int(values["KEY_"]),
            mode=values["MODE_"],
            density=int(values["DEN_"]),
            register=int(values["REG_"]),
            rhythm=int(values["RHY_"]),
        )
    return controls, BarEvents(meter, tuple(melody), tuple(bass), tuple(chords))


def split_bars(tokens: Sequence[int]) -> list[list[int]]:
    """The token sequence cut at each BAR (anything before the first BAR is dropped)."""
    bars: list[list[int]] = []
    for token in tokens:
        if token == BAR:
            bars.append([token])
        elif bars:
            bars[-1].append(token)
    return bars
