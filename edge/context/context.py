"""The listening context: what the music should fit right now.

A Context is an immutable snapshot. Whatever changes it (MQTT, GPIO, the CLI)
builds a new one with ``dataclasses.replace``; the conductor reads it once per
bar, so a change lands on the next bar line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

ACTIVITIES = ("workout", "focus", "relax", "sleep", "party")

#: Named moods as (valence, arousal), both in -1..1 (Russell's circumplex).
MOODS: dict[str, tuple[float, float]] = {
    "happy": (0.8, 0.5),
    "excited": (0.7, 0.9),
    "energetic": (0.4, 0.9),
    "calm": (0.4, -0.6),
    "relaxed": (0.6, -0.4),
    "peaceful": (0.5, -0.8),
    "dreamy": (0.2, -0.5),
    "neutral": (0.0, 0.0),
    "focused": (0.1, 0.1),
    "melancholic": (-0.5, -0.4),
    "sad": (-0.7, -0.5),
    "tense": (-0.5, 0.6),
    "dark": (-0.6, 0.2),
    "angry": (-0.8, 0.8),
}

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FLATS = {"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10}


class ContextError(ValueError):
    """A context value is invalid. ``str()`` is a one-line message naming the value."""


@dataclass(frozen=True)
class Context:
    """A snapshot of everything the conductor adapts to."""

    valence: float = 0.4
    """-1 (sad, dark) .. 1 (happy, bright)."""
    arousal: float = -0.6
    """-1 (sleepy, calm) .. 1 (excited, intense)."""
    mood: str = "calm"
    """The mood's name, or "custom" when given as valence and arousal."""
    activity: str = "focus"
    """One of ACTIVITIES."""
    energy: float = 0.5
    """0..1, how busy and loud."""
    tempo: float | None = None
    """Target BPM, or None to let activity, mood and style choose."""
    key: int | None = None
    """Tonic pitch class 0..11, or None for the style's choice."""
    style: str = "focus"
    """Style pack name."""
    attention: float = 1.0
    """0..1; low attention asks for simpler, less distracting music."""
    intensity: float = 0.0
    """-1..1 offset the listener added with "intensity up/down"."""
    section: str | None = None
    """A section the listener asked for (build, peak, break, outro), or None to follow the arc."""
    skip: int = 0
    """Bumped by each "skip": the generator starts a new phrase."""
    meter: int = 4
    """Beats per bar: 3 or 4."""


def parse_mood(value: str) -> tuple[str, float, float]:
    """A named mood or ``"valence,arousal"`` -> (name, valence, arousal)."""
    text = value.strip().lower()
    if text in MOODS:
        valence, arousal = MOODS[text]
        return text, valence, arousal
    parts = text.split(",")
    if len(parts) == 2:
        try:
            valence, arousal = float(parts[0]), float(parts[1])
        except ValueError:
            pass
        else:
            check_unit("valence", valence, -1.0, 1.0)
            check_unit("arousal", arousal, -1.0, 1.0)
            return "custom", valence, arousal
    raise ContextError(f"mood {value!r} is not one of {', '.join(MOODS)} nor 'valence,arousal' in -1..1")


def parse_key(value: str) -> int | None:
    """ "auto" -> None; "C", "F#", "Bb" (an optional trailing "m" is ignored) -> pitch class."""
    text = value.strip()
    if text.lower() in ("auto", ""):
        return None
    name = text[:-1] if len(text) > 1 and text.endswith("m") else text
    name = name[:1].upper() + name[1:]
    if name in NOTE_NAMES:
        return NOTE_NAMES.index(name)
    if name in _FLATS:
        return _FLATS[name]
    raise ContextError(f"key {value!r} is not a note name such as C, F# or Bb, nor 'auto'")


def check_unit(name: str, value: float, low: float, high: float) -> float:
    """Return ``value`` if it is a finite number in low..high, else raise ContextError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ContextError(f"{name} must be a finite number, got {value!r}")
    if not low <= value <= high:
        raise ContextError(f"{name} {value!r} is outside {low:g}..{high:g}")
    return float(value)


def check_activity(value: str) -> str:
    """Return a valid activity name or raise ContextError."""
    text = str(value).strip().lower()
    if text not in ACTIVITIES:
        raise ContextError(f"activity {value!r} is not one of {', '.join(ACTIVITIES)}")
    return text
