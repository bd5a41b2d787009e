"""The key and mode: a duration-weighted pitch-class profile correlated with key profiles.

Each of the 24 major and minor keys has a profile (how much each pitch class belongs to it);
the key whose rotated profile correlates best with how long each pitch class sounds wins
(Krumhansl and Schmuckler's method). Profiles: Krumhansl-Kessler's probe-tone ratings, Temperley's
from the Kostka-Payne textbook corpus, Aarden-Essen's from folk melodies. ``mirex_score`` grades an
estimate against a known key as MIREX and mir_eval do.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from edge.context.context import NOTE_NAMES

PROFILES: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "krumhansl": (
        (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88),
        (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17),
    ),
    "temperley": (
        (0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400),
        (0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330),
    ),
    "aarden": (
        (17.7661, 0.145624, 14.9265, 0.160186, 19.8049, 11.3587, 0.291248, 22.062, 0.145624, 8.15494,
         0.232998, 4.95122),
        (18.2648, 0.737619, 14.0499, 16.8599, 0.702494, 14.4362, 0.702494, 18.6161, 4.56621, 1.93186,
         7.37619, 1.75623),
    ),
}  # fmt: skip
"""Profile name -> (major, minor) weights from the tonic up, as music21 lists them."""
DEFAULT_PROFILE = "temperley"
"""The profile ``analyze`` uses (see docs/reimagine.md for how each one scores)."""
MODES = ("major", "minor")
_SHORT_NOTE = 0.05
"""Quarter notes a zero-length note counts for (a hit still names its pitch class)."""


@dataclass(frozen=True)
class Key:
    """A tonic and a mode."""

    tonic: int
    """Pitch class 0..11 (0 = C)."""
    mode: str
    """"major" or "minor"."""

    @property
    def name(self) -> str:
        """Such as "F# minor"."""
        return f"{NOTE_NAMES[self.tonic]} {self.mode}"


@dataclass(frozen=True)
class KeyEstimate:
    """The best key and how sure of it the profiles are."""

    key: Key
    """The key whose profile correlates best."""
    correlation: float
    """Its correlation with the music, -1..1 (above 0.8: clearly tonal)."""
    runner_up: Key
    """The second best key (often the relative or the dominant)."""
    margin: float
    """Best correlation minus the second best: how clearly the key wins."""


def pitch_class_profile(spans: Iterable[tuple[int, float]]) -> list[float]:
    """Quarter notes each pitch class sounds, from (pitch, duration) pairs."""
    weights = [0.0] * 12
    for pitch, duration in spans:
        weights[pitch % 12] += max(duration, _SHORT_NOTE)
    return weights


def rank_keys(weights: list[float], profile: str = DEFAULT_PROFILE) -> list[tuple[float, Key]]:
    """All 24 keys by correlation with ``weights``, best first (ties: C before C#, major first)."""
    major, minor = PROFILES[profile]
    ranked = []
    for m, weights_of_mode in enumerate((major, minor)):
        for tonic in range(12):
            rotated = [weights_of_mode[(pc - tonic) % 12] for pc in range(12)]
            ranked.append((_correlation(weights, rotated), m, tonic))
    ranked.sort(key=lambda r: (-r[0], r[1], r[2]))
    return [(r, Key(tonic, MODES[m])) for r, m, tonic in ranked]


def estimate_key(weights: list[float], profile: str = DEFAULT_PROFILE) -> KeyEstimate | None:
    """The best key for a pitch-class profile; None when nothing sounds."""
    if sum(weights) <= 0:
        return None
    (best, key), (second, runner_up) = rank_keys(weights, profile)[:2]
    return KeyEstimate(key, round(best, 6), runner_up, round(best - second, 6))


def mirex_score(estimate: Key, truth: Key) -> float:
    """MIREX weighted key score: 1 the same key, 0.5 a fifth above, 0.3 the relative, 0.2 the parallel."""
    interval = (estimate.tonic - truth.tonic) % 12
    if estimate.mode == truth.mode:
        return 1.0 if interval == 0 else 0.5 if interval == 7 else 0.0
    if interval == 0:
        return 0.2
    relative = 9 if truth.mode == "major" else 3
    return 0.3 if interval == relative else 0.0


def key_from_signature(name: str) -> Key | None:
    """mido's key signature name ("Bb", "F#m") as a Key; None when it is not one."""
    text = name.strip()
    mode = "minor" if text.endswith("m") else "major"
    tonic = text[:-1] if mode == "minor" else text
    flats = {"Db": 1, "Eb": 3, "Gb": 6, "Ab": 8, "Bb": 10, "Cb": 11, "Fb": 4}
    sharps = {"E#": 5, "B#": 0}
    if tonic in NOTE_NAMES:
        return Key(NOTE_NAMES.index(tonic), mode)
    if tonic in flats or tonic in sharps:
        return Key({**flats, **sharps}[tonic], mode)
    return None


def _correlation(a: list[float], b: list[float]) -> float:
    mean_a, mean_b = sum(a) / 12, sum(b) / 12
    da = [x - mean_a for x in a]
    db = [x - mean_b for x in b]
    norm = math.sqrt(sum(x * x for x in da) * sum(x * x for x in db))
    return sum(x * y for x, y in zip(da, db, strict=True)) / norm if norm else 0.0
