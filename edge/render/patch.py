"""Synth parameters, as a style pack writes them: patches, the drum kit and the mix.

Each dataclass field has a default and a docstring; ``parse_*`` validate a
TOML table and raise ``ValueError("<where>.<key>: <problem>")`` on the first
unknown key, wrong type or out-of-range value.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

VOICES = ("pad", "keys", "pluck", "bass", "lead")
WAVES = ("saw", "square", "triangle", "sine")


@dataclass(frozen=True)
class Patch:
    """One instrument: an oscillator voice, its envelope and filter, and its place in the mix."""

    voice: str = "pad"
    """Voice kind: pad, bass and lead are filtered wavetables; keys and pluck are 2-operator FM."""
    level: float = 0.5
    """Mix level, 0..1."""
    pan: float = 0.0
    """Stereo position, -1 (left) .. 1 (right)."""
    reverb: float = 0.2
    """Reverb send, 0..1."""
    delay: float = 0.0
    """Tempo-synced delay send, 0..1."""
    wave: str = "saw"
    """Wavetable shape: saw, square, triangle or sine."""
    attack: float = 0.01
    """Attack time in seconds."""
    decay: float = 0.3
    """Decay time in seconds."""
    sustain: float = 0.7
    """Sustain level, 0..1."""
    release: float = 0.3
    """Release time in seconds."""
    cutoff: float = 2400.0
    """Low-pass cutoff in Hz."""
    resonance: float = 0.2
    """Filter resonance, 0..1."""
    filter_env: float = 0.0
    """How far the filter opens on each note's attack, in octaves above the cutoff."""
    brightness: float = 0.5
    """How much the music's energy opens the filter, in octaves either way."""
    unison: int = 1
    """Detuned oscillator copies per note, 1..4."""
    detune: float = 8.0
    """Spread of the unison copies in cents."""
    vibrato: float = 0.0
    """Vibrato depth in cents (5 Hz)."""
    fm_ratio: float = 1.0
    """FM voices: modulator frequency as a multiple of the note."""
    fm_index: float = 1.5
    """FM voices: modulation index at the attack."""
    fm_decay: float = 0.4
    """FM voices: seconds for the modulation index to fall by two thirds."""
    octave: int = 0
    """Octaves to shift every note by."""


@dataclass(frozen=True)
class DrumKit:
    """Synthesised drums: a sine-sweep kick, tone-plus-noise snare, clap bursts and noise hats."""

    level: float = 0.6
    """Kit level, 0..1."""
    reverb: float = 0.1
    """Reverb send, 0..1."""
    delay: float = 0.0
    """Delay send, 0..1."""
    kick_pitch: float = 50.0
    """Kick end frequency in Hz."""
    kick_sweep: float = 3.0
    """How many times higher the kick starts than it ends."""
    kick_decay: float = 0.35
    """Kick length in seconds."""
    kick_level: float = 1.0
    """Kick level within the kit."""
    snare_tone: float = 190.0
    """Snare body frequency in Hz."""
    snare_decay: float = 0.18
    """Snare length in seconds."""
    snare_level: float = 0.7
    """Snare level within the kit."""
    clap_level: float = 0.6
    """Clap level within the kit."""
    hat_decay: float = 0.05
    """Closed hat length in seconds."""
    open_hat_decay: float = 0.3
    """Open hat length in seconds."""
    hat_level: float = 0.35
    """Hat level within the kit."""
    hat_tone: float = 7000.0
    """Hat high-pass frequency in Hz; lower is darker, lo-fi."""
    drive: float = 0.0
    """Saturation on the kit, 0..1."""


@dataclass(frozen=True)
class Mix:
    """Effects and master level for a style."""

    reverb_time: float = 2.0
    """Reverb decay time (RT60) in seconds."""
    reverb_size: float = 1.0
    """Room size: scales the reverb's delay lines, 0.5..2."""
    reverb_damping: float = 0.4
    """High-frequency damping in the reverb, 0..0.9."""
    reverb_level: float = 0.5
    """Reverb return level, 0..1."""
    delay_beats: float = 0.75
    """Delay time in beats (0.75 = dotted eighth)."""
    delay_feedback: float = 0.35
    """Delay feedback, 0..0.9."""
    delay_level: float = 0.4
    """Delay return level, 0..1."""
    master: float = 0.8
    """Master gain before the limiter, 0..2."""


_RANGES: dict[str, tuple[float, float]] = {
    "level": (0, 1), "pan": (-1, 1), "reverb": (0, 1), "delay": (0, 1), "attack": (0.001, 10),
    "decay": (0.005, 20), "sustain": (0, 1), "release": (0.01, 10), "cutoff": (40, 20000),
    "resonance": (0, 1), "filter_env": (0, 6), "brightness": (0, 3), "unison": (1, 4), "detune": (0, 50),
    "vibrato": (0, 100), "fm_ratio": (0.25, 16), "fm_index": (0, 12), "fm_decay": (0.01, 20),
    "octave": (-3, 3),
    "kick_pitch": (25, 150), "kick_sweep": (1, 10), "kick_decay": (0.05, 2), "kick_level": (0, 1),
    "snare_tone": (80, 600), "snare_decay": (0.03, 1), "snare_level": (0, 1), "clap_level": (0, 1),
    "hat_decay": (0.01, 0.5), "open_hat_decay": (0.05, 2), "hat_level": (0, 1), "hat_tone": (1000, 16000),
    "drive": (0, 1),
    "reverb_time": (0.1, 20), "reverb_size": (0.5, 2), "reverb_damping": (0, 0.9), "reverb_level": (0, 1),
    "delay_beats": (0.125, 4), "delay_feedback": (0, 0.9), "delay_level": (0, 1), "master": (0, 2),
}  # fmt: skip
_CHOICES: dict[str, tuple[str, ...]] = {"voice": VOICES, "wave": WAVES}


def _parse(cls: type, table: Any, where: str, base: Any = None) -> Any:
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table, got {type(table).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in fields:
            raise ValueError(f"{where}.{key}: unknown key")
        default = getattr(cls(), key)
        if isinstance(default, str):
            if value not in _CHOICES[key]:
                raise ValueError(f"{where}.{key}: {value!r} is not one of {', '.join(_CHOICES[key])}")
        elif isinstance(default, int):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{where}.{key}: expected an integer, got {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"{where}.{key}: expected a number, got {value!r}")
            value = float(value)
        if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
            low, high = _RANGES[key]
            raise ValueError(f"{where}.{key}: {value!r} is outside {low:g}..{high:g}")
        values[key] = value
    if base is not None:
        return dataclasses.replace(base, **values)
    return cls(**values)


def parse_patch(table: Any, where: str) -> Patch:
    """A patch from a TOML table; ``voice`` picks the defaults the other keys override."""
    voice = table.get("voice", "pad") if isinstance(table, dict) else "pad"
    base = DEFAULT_PATCHES.get(voice, Patch())
    return _parse(Patch, table, where, base)


def parse_drum_kit(table: Any, where: str) -> DrumKit:
    """A drum kit from a TOML table."""
    return _parse(DrumKit, table, where)


def parse_mix(table: Any, where: str) -> Mix:
    """The mix from a TOML table."""
    return _parse(Mix, table, where)


#: A good-sounding starting point per voice; a pack's table overrides single keys.
DEFAULT_PATCHES: dict[str, Patch] = {
    "pad": Patch(
        voice="pad", wave="saw", attack=0.6, decay=1.0, sustain=0.8, release=1.5, cutoff=1400, resonance=0.15,
        unison=2, detune=12, level=0.4, reverb=0.5,
    ),
    "keys": Patch(
        voice="keys", attack=0.004, decay=1.2, sustain=0.25, release=0.4, fm_ratio=1.0, fm_index=1.8,
        fm_decay=0.5, level=0.45, reverb=0.3,
    ),
    "pluck": Patch(
        voice="pluck", attack=0.002, decay=0.35, sustain=0.0, release=0.15, fm_ratio=3.0, fm_index=2.5,
        fm_decay=0.12, level=0.4, reverb=0.25, delay=0.3,
    ),
    "bass": Patch(
        voice="bass", wave="saw", attack=0.005, decay=0.25, sustain=0.7, release=0.08, cutoff=420,
        resonance=0.3, filter_env=1.5, brightness=0.5, level=0.5, reverb=0.0,
    ),
    "lead": Patch(
        voice="lead", wave="saw", attack=0.01, decay=0.2, sustain=0.6, release=0.2, cutoff=2600,
        resonance=0.35, filter_env=1.2, unison=2, detune=7, vibrato=8, level=0.35, reverb=0.25, delay=0.25,
    ),
}  # fmt: skip
