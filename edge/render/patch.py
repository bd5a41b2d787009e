"""Synth parameters as a style pack writes them: instrument patches, the drum kit and the mix.

Every field has a default and a docstring. ``parse_patch``, ``parse_drum_kit``
and ``parse_mix`` validate one TOML table and raise
``ValueError("<where>: <key>: <what is wrong>")`` for the first unknown key,
wrong type or out-of-range value.

A ``[instruments.<track>]`` table starts from ``DEFAULT_PATCHES[voice]`` and
overrides single keys, so ``voice = "pad"`` alone is a complete, good-sounding
instrument.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from edge.render.sampled import Sampled, parse_sampled

VOICES = ("pad", "keys", "pluck", "bass", "lead", "chip", "bell", "organ")
"""Voice kinds: each names a set of defaults in DEFAULT_PATCHES."""
WAVES = ("saw", "square", "pulse", "triangle", "sine", "fm", "pluck", "organ")
"""Oscillator spectra; every one is band-limited exactly (no aliasing at any pitch)."""


@dataclass(frozen=True)
class Patch:
    """One instrument: a band-limited oscillator stack, its envelopes and filter, and its mix sends.

    The filter is a resonant 24 dB/octave low-pass. A filter sweep is a crossfade between a
    "dark" spectrum (at ``cutoff``) and a "bright" one (``filter_env`` octaves higher; for the
    ``fm`` wave also the full ``fm_index``), driven by the filter envelope and the bar's energy.
    """

    voice: str = "keys"
    """Voice kind (pad, keys, pluck, bass, lead, chip, bell, organ): picks the defaults."""
    wave: str = "fm"
    """Oscillator: saw, square, pulse, triangle, sine, fm (2-operator), pluck or organ."""
    level: float = 0.45
    """Mix level, 0..2."""
    pan: float = 0.0
    """Stereo position, -1 (left) .. 1 (right)."""
    reverb: float = 0.3
    """Reverb send, 0..1."""
    delay: float = 0.0
    """Tempo-synced delay send, 0..1."""
    octave: int = 0
    """Octaves to shift every note by, -3..3."""
    attack: float = 0.004
    """Attack time in seconds (at least 3 ms is always used, so notes never click on)."""
    decay: float = 1.2
    """Seconds for the level to fall 95% of the way from the peak to ``sustain``."""
    sustain: float = 0.25
    """Sustain level, 0..1 of the peak."""
    release: float = 0.4
    """Seconds from note-off to silence (at least 8 ms is always used)."""
    cutoff: float = 5000.0
    """Low-pass cutoff in Hz for middle C (see ``keytrack``)."""
    resonance: float = 0.1
    """Filter resonance, 0..1 (1 is a strong peak, never self-oscillation)."""
    keytrack: float = 0.5
    """How far the cutoff follows the note's pitch, 0 (fixed) .. 1 (fully)."""
    filter_env: float = 1.0
    """How many octaves above ``cutoff`` the bright spectrum sits, 0..6."""
    filter_attack: float = 0.0
    """Seconds for the filter envelope to rise to the bright spectrum (0: bright at once)."""
    filter_decay: float = 0.6
    """Seconds for the filter envelope to fall 95% of the way to ``filter_sustain``."""
    filter_sustain: float = 0.1
    """Filter envelope level while held, 0 (dark) .. 1 (bright)."""
    brightness: float = 0.45
    """How much the bar's energy opens the filter toward the bright spectrum, 0..1."""
    unison: int = 1
    """Detuned oscillator copies per note, 1..7 (fewer at light synth levels)."""
    detune: float = 0.0
    """Spread between the outermost unison copies, in cents, 0..100."""
    width: float = 0.5
    """Stereo spread of the unison copies, 0 (mono) .. 1 (full)."""
    sub: float = 0.0
    """Level of a sine one octave below, 0..1."""
    pulse_width: float = 0.5
    """Duty cycle of the ``pulse`` wave, 0.05..0.5."""
    fm_ratio: int = 1
    """``fm`` wave: modulator frequency as a whole multiple of the note, 1..16 (3+: bell-like)."""
    fm_index: float = 2.0
    """``fm`` wave: modulation index of the bright spectrum, 0..10 (the dark one has a fifth)."""
    velocity_sens: float = 0.7
    """How much velocity changes loudness, 0 (not at all) .. 1 (fully)."""
    sampled: Sampled | None = None
    """A SoundFont preset that plays instead when one is installed (``[instruments.<track>.sampled]``);
    the patch's ``level``, ``pan``, sends and ``octave`` apply to it, the rest is the fallback."""


@dataclass(frozen=True)
class DrumKit:
    """Synthesised drums: sine-sweep kick, tone-and-noise snare, clap bursts, metallic hats.

    Each drum is rendered once per kit into a few seeded variants; a hit mixes a variant.
    """

    level: float = 0.7
    """Kit level, 0..2."""
    pan: float = 0.0
    """Kit position, -1..1 (hats add ``hat_pan``)."""
    reverb: float = 0.08
    """Reverb send, 0..1."""
    delay: float = 0.0
    """Delay send, 0..1."""
    kick_level: float = 1.0
    """Kick level within the kit, 0..2."""
    kick_pitch: float = 50.0
    """Kick end frequency in Hz, 25..150."""
    kick_sweep: float = 3.5
    """How many times higher the kick's pitch starts than it ends, 1..10."""
    kick_decay: float = 0.4
    """Kick length in seconds, 0.05..2."""
    kick_click: float = 0.3
    """Beater click on the kick, 0..1."""
    snare_level: float = 0.7
    """Snare level within the kit, 0..2."""
    snare_tone: float = 190.0
    """Snare body frequency in Hz, 80..600."""
    snare_decay: float = 0.18
    """Snare length in seconds, 0.03..1."""
    snare_snappy: float = 0.7
    """Snare wires (noise) against body (tone), 0..1."""
    clap_level: float = 0.6
    """Clap level within the kit, 0..2."""
    clap_decay: float = 0.2
    """Clap tail in seconds, 0.05..1."""
    hat_level: float = 0.35
    """Hi-hat level within the kit, 0..2."""
    hat_decay: float = 0.05
    """Closed hat length in seconds, 0.01..0.5."""
    open_hat_decay: float = 0.35
    """Open hat length in seconds, 0.05..2 (a closed hat chokes it)."""
    hat_tone: float = 7000.0
    """Hat brightness: its high-pass frequency in Hz, 1000..16000."""
    hat_pan: float = 0.25
    """Hats' offset from the kit position, -1..1."""
    drive: float = 0.0
    """Saturation on every drum, 0..1."""
    lofi: float = 0.0
    """Bit and sample-rate reduction, 0 (clean) .. 1 (8-bit console)."""
    humanize: float = 0.15
    """Random variation of each hit's level, 0..1."""
    variants: int = 4
    """Seeded variants rendered per drum, 1..8."""


@dataclass(frozen=True)
class Mix:
    """Bus effects and master: reverb, tempo-synced delay, limiter."""

    reverb_size: float = 0.5
    """Room size, 0 (small room) .. 1 (hall): scales the reverb's delay lines."""
    reverb_decay: float = 2.0
    """Reverb decay time (RT60) in seconds, 0.1..30."""
    reverb_damping: float = 0.4
    """How much faster the highs die in the reverb, 0..1."""
    reverb_level: float = 0.4
    """Reverb return level, 0..2."""
    delay_beats: float = 0.75
    """Delay time in beats, 0.125..4 (0.75 = dotted eighth); follows the tempo."""
    delay_feedback: float = 0.35
    """Echo repeats: feedback gain, 0..0.95."""
    delay_damping: float = 0.3
    """How much darker each repeat gets, 0..1."""
    delay_pingpong: float = 0.8
    """How much echoes bounce between left and right, 0..1."""
    delay_level: float = 0.35
    """Delay return level, 0..2."""
    drum_level: float = 1.0
    """Drum kit level in this mix, 0..2 (multiplies the kit's own level)."""
    master_gain: float = 0.8
    """Gain before the limiter, 0..4."""
    loudness_gain_db: float = 0.0
    """Calibration gain in dB, -24..24, that brings this pack to -16 LUFS (BS.1770) at
    ``audio.loudness_lufs = -16``; written by scripts/calibrate_loudness.py from measured renders."""
    limiter_threshold: float = 0.9
    """True peak the limiter holds the master to, 0.25..0.98 (never above -2 dBTP, 0.794, whatever
    the pack says, so the output's true peak stays at or under -1 dBTP)."""
    limiter_release: float = 0.3
    """Seconds for the limiter to recover after a peak, 0.02..5."""
    hiss: float = 0.0
    """Lo-fi noise floor level, 0..0.05."""
    crossfade: float = 1.0
    """Seconds the old sound takes to fade out on a style change, 0.05..8."""


_RANGES: dict[str, tuple[float, float]] = {
    # Patch
    "level": (0, 2), "pan": (-1, 1), "reverb": (0, 1), "delay": (0, 1), "octave": (-3, 3),
    "attack": (0, 10), "decay": (0, 20), "sustain": (0, 1), "release": (0, 20), "cutoff": (20, 20000),
    "resonance": (0, 1), "keytrack": (0, 1), "filter_env": (0, 6), "filter_attack": (0, 10),
    "filter_decay": (0, 20), "filter_sustain": (0, 1), "brightness": (0, 1), "unison": (1, 7),
    "detune": (0, 100), "width": (0, 1), "sub": (0, 1), "pulse_width": (0.05, 0.5), "fm_ratio": (1, 16),
    "fm_index": (0, 10), "velocity_sens": (0, 1),
    # DrumKit
    "kick_level": (0, 2), "kick_pitch": (25, 150), "kick_sweep": (1, 10), "kick_decay": (0.05, 2),
    "kick_click": (0, 1), "snare_level": (0, 2), "snare_tone": (80, 600), "snare_decay": (0.03, 1),
    "snare_snappy": (0, 1), "clap_level": (0, 2), "clap_decay": (0.05, 1), "hat_level": (0, 2),
    "hat_decay": (0.01, 0.5), "open_hat_decay": (0.05, 2), "hat_tone": (1000, 16000), "hat_pan": (-1, 1),
    "drive": (0, 1), "lofi": (0, 1), "humanize": (0, 1), "variants": (1, 8),
    # Mix
    "reverb_size": (0, 1), "reverb_decay": (0.1, 30), "reverb_damping": (0, 1), "reverb_level": (0, 2),
    "delay_beats": (0.125, 4), "delay_feedback": (0, 0.95), "delay_damping": (0, 1),
    "delay_pingpong": (0, 1), "delay_level": (0, 2), "drum_level": (0, 2), "master_gain": (0, 4),
    "loudness_gain_db": (-24, 24), "limiter_threshold": (0.25, 0.98), "limiter_release": (0.02, 5),
    "hiss": (0, 0.05),
    "crossfade": (0.05, 8),
}  # fmt: skip
_CHOICES: dict[str, tuple[str, ...]] = {"voice": VOICES, "wave": WAVES}


def _check(cls: type, key: str, value: Any, where: str) -> Any:
    """The validated value of one key, or ValueError naming it."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if key not in fields:
        raise ValueError(f"{where}: {key}: unknown key (known: {', '.join(fields)})")
    kind = type(fields[key].default)
    if kind is str:
        if not isinstance(value, str) or value not in _CHOICES[key]:
            raise ValueError(f"{where}: {key}: {value!r} is not one of {', '.join(_CHOICES[key])}")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{where}: {key}: expected an integer, got {value!r}")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: {key}: expected a number, got {value!r}")
    low, high = _RANGES[key]
    if not low <= value <= high:
        raise ValueError(f"{where}: {key}: {value!r} is outside {low:g}..{high:g}")
    return value if kind is int else float(value)


def _parse(cls: type, table: Any, where: str, base: Any) -> Any:
    if table is None:
        table = {}
    if not isinstance(table, dict):
        raise ValueError(f"{where}: expected a table, got {type(table).__name__}")
    values = {key: _check(cls, key, value, where) for key, value in table.items()}
    return dataclasses.replace(base, **values)


def parse_patch(table: dict[str, Any], where: str, folder: str = "") -> Patch:
    """A patch from a TOML table: ``DEFAULT_PATCHES[voice]`` with the table's keys overriding.

    A ``sampled`` sub-table names a SoundFont preset (``edge.render.sampled``); file paths in it
    are relative to ``folder``, the pack's own folder.
    """
    voice = table.get("voice", Patch.voice) if isinstance(table, dict) else Patch.voice
    base = DEFAULT_PATCHES[_check(Patch, "voice", voice, where)]
    if isinstance(table, dict) and "sampled" in table:
        table = dict(table)
        sampled = parse_sampled(table.pop("sampled"), where, folder)
        base = dataclasses.replace(base, sampled=sampled)
    return _parse(Patch, table, where, base)


def parse_drum_kit(table: dict[str, Any], where: str) -> DrumKit:
    """A drum kit from a TOML table (an empty table is the default kit)."""
    return _parse(DrumKit, table, where, DrumKit())


def parse_mix(table: dict[str, Any], where: str) -> Mix:
    """The mix from a TOML table (an empty table is the default mix)."""
    return _parse(Mix, table, where, Mix())


DEFAULT_PATCHES: dict[str, Patch] = {
    # Three detuned saws, slow swell, the filter opening over the first seconds.
    "pad": Patch(
        voice="pad", wave="saw", level=0.3, reverb=0.5, attack=0.8, decay=2.0, sustain=0.85, release=2.0,
        cutoff=1100.0, resonance=0.15, keytrack=0.3, filter_env=2.0, filter_attack=1.5, filter_decay=4.0,
        filter_sustain=0.3, brightness=0.6, unison=3, detune=16.0, width=0.8,
    ),
    # Electric piano: 1:1 FM whose index falls after the strike.
    "keys": Patch(voice="keys"),
    # Plucked string: bright pick, the highs die first, no sustain.
    "pluck": Patch(
        voice="pluck", wave="pluck", level=0.4, reverb=0.25, delay=0.3, attack=0.002, decay=0.7, sustain=0.0,
        release=0.15, cutoff=1500.0, keytrack=0.7, filter_env=2.5, filter_decay=0.25, filter_sustain=0.0,
        brightness=0.5,
    ),
    # Filtered saw with a sine sub; a short filter blip on every note.
    "bass": Patch(
        voice="bass", wave="saw", level=0.5, reverb=0.0, attack=0.004, decay=0.3, sustain=0.7, release=0.06,
        cutoff=380.0, resonance=0.3, keytrack=0.2, filter_env=2.0, filter_decay=0.2, filter_sustain=0.15,
        brightness=0.5, sub=0.5,
    ),
    # Two detuned saws, bright and resonant, for melodies that must cut through.
    "lead": Patch(
        voice="lead", wave="saw", level=0.3, reverb=0.2, delay=0.25, attack=0.008, decay=0.3, sustain=0.7,
        release=0.15, cutoff=2600.0, resonance=0.3, keytrack=0.6, filter_env=1.5, filter_decay=0.3,
        filter_sustain=0.3, brightness=0.5, unison=2, detune=14.0, width=0.4,
    ),
    # 8-bit console square: no filter, no detune, clipped envelope.
    "chip": Patch(
        voice="chip", wave="pulse", pulse_width=0.25, level=0.25, reverb=0.1, delay=0.2, attack=0.002,
        decay=0.15, sustain=0.6, release=0.04, cutoff=16000.0, resonance=0.0, keytrack=0.0, filter_env=0.0,
        brightness=0.0, velocity_sens=0.3,
    ),
    # FM bell: inharmonic-sounding 1:3 ratio, long ring.
    "bell": Patch(
        voice="bell", wave="fm", fm_ratio=3, fm_index=3.0, level=0.3, reverb=0.45, delay=0.2, attack=0.002,
        decay=3.0, sustain=0.0, release=1.5, cutoff=9000.0, filter_env=0.5, filter_decay=1.0,
        filter_sustain=0.2,
    ),
    # Drawbar organ: steady, no envelope movement.
    "organ": Patch(
        voice="organ", wave="organ", level=0.3, reverb=0.3, attack=0.01, decay=0.1, sustain=1.0, release=0.08,
        cutoff=6000.0, keytrack=0.3, filter_env=0.5, filter_decay=0.1, filter_sustain=0.0, brightness=0.4,
        unison=2, detune=6.0, width=0.6,
    ),
}  # fmt: skip
"""A good-sounding starting point per voice kind."""

#: What each track plays when a caller gives no patches at all.
DEFAULT_TRACK_PATCHES: dict[str, Patch] = {t: DEFAULT_PATCHES[t] for t in ("lead", "keys", "pad", "bass")}
