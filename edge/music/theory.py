"""Scales, chords and the small amount of harmony the generators need."""

from __future__ import annotations

#: Scale name -> semitone offsets from the tonic.
SCALES: dict[str, tuple[int, ...]] = {
    "major": (0, 2, 4, 5, 7, 9, 11),
    "lydian": (0, 2, 4, 6, 7, 9, 11),
    "mixolydian": (0, 2, 4, 5, 7, 9, 10),
    "dorian": (0, 2, 3, 5, 7, 9, 10),
    "aeolian": (0, 2, 3, 5, 7, 8, 10),
    "phrygian": (0, 1, 3, 5, 7, 8, 10),
    "harmonic_minor": (0, 2, 3, 5, 7, 8, 11),
    "major_pentatonic": (0, 2, 4, 7, 9),
    "minor_pentatonic": (0, 3, 5, 7, 10),
}

#: How bright each scale sounds, -1 (darkest) .. 1 (brightest); valence picks by this.
BRIGHTNESS: dict[str, float] = {
    "lydian": 1.0,
    "major": 0.75,
    "major_pentatonic": 0.7,
    "mixolydian": 0.4,
    "dorian": 0.0,
    "minor_pentatonic": -0.2,
    "aeolian": -0.5,
    "harmonic_minor": -0.7,
    "phrygian": -0.9,
}

#: Chord quality -> semitone offsets from the root.
CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "dom7": (0, 4, 7, 10),
    "m7b5": (0, 3, 6, 10),
    "add9": (0, 4, 7, 14),
    "madd9": (0, 3, 7, 14),
    "maj9": (0, 4, 7, 11, 14),
    "min9": (0, 3, 7, 10, 14),
    "power": (0, 7, 12),
}

#: The triad family of each quality, used to pick richer colours from a style's vocabulary.
FAMILY: dict[str, str] = {
    "maj": "maj", "maj7": "maj", "add9": "maj", "maj9": "maj", "dom7": "maj", "sus2": "maj",
    "sus4": "maj", "power": "maj", "aug": "maj",
    "min": "min", "min7": "min", "madd9": "min", "min9": "min",
    "dim": "dim", "m7b5": "dim",
}  # fmt: skip


def scale_pitch_classes(key: int, mode: str) -> list[int]:
    """Pitch classes of ``mode`` on tonic ``key``, tonic first."""
    return [(key + step) % 12 for step in SCALES[mode]]


def scale_mask(key: int, mode: str) -> list[bool]:
    """12 booleans: which pitch classes belong to the scale."""
    members = set(scale_pitch_classes(key, mode))
    return [pc in members for pc in range(12)]


def diatonic_triad(key: int, mode: str, degree: int) -> tuple[int, str]:
    """Root pitch class and triad family (maj/min/dim) on a 1-based scale degree.

    Pentatonic scales have no stable thirds, so their chords come from the
    parent heptatonic scale (major or aeolian).
    """
    if mode == "major_pentatonic":
        mode = "major"
    elif mode == "minor_pentatonic":
        mode = "aeolian"
    steps = SCALES[mode]
    index = (degree - 1) % len(steps)
    root = steps[index]
    third = (steps[(index + 2) % 7] - root) % 12
    fifth = (steps[(index + 4) % 7] - root) % 12
    if third == 4:
        family = "maj"
    elif fifth == 6:
        family = "dim"
    else:
        family = "min"
    return (key + root) % 12, family


def chord_pitch_classes(root: int, quality: str) -> list[int]:
    """Pitch classes of a chord, root first."""
    return [(root + step) % 12 for step in CHORD_QUALITIES[quality]]


def fold_into(pitch: int, low: int, high: int) -> int:
    """Move ``pitch`` by octaves until it lies in low..high (the range must span an octave)."""
    while pitch < low:
        pitch += 12
    while pitch > high:
        pitch -= 12
    return max(low, pitch) if pitch < low else pitch


def nearest_in(pitch: int, allowed: set[int] | list[int]) -> int:
    """The MIDI pitch nearest ``pitch`` whose pitch class is in ``allowed`` (ties go down)."""
    classes = set(allowed)
    for distance in range(12):
        for candidate in (pitch - distance, pitch + distance):
            if candidate % 12 in classes:
                return candidate
    return pitch


def voice_chord(pitch_classes: list[int], low: int, high: int, previous: list[int] | None) -> list[int]:
    """Voice a chord inside low..high, staying close to the previous voicing.

    Tries every inversion and keeps the one whose pitches move least from the
    last chord: smooth voice leading is what makes pads sound intentional.
    """
    candidates: list[list[int]] = []
    for inversion in range(len(pitch_classes)):
        order = pitch_classes[inversion:] + pitch_classes[:inversion]
        base = low + ((order[0] - low) % 12)
        voicing = [base]
        for pc in order[1:]:
            nxt = voicing[-1] + ((pc - voicing[-1]) % 12 or 12)
            voicing.append(nxt)
        while voicing[-1] > high and voicing[0] - 12 >= low:
            voicing = [p - 12 for p in voicing]
        if voicing[-1] <= high + 2:
            candidates.append(voicing)
    if not candidates:
        return sorted(fold_into(low + pc, low, high) for pc in pitch_classes)
    if not previous:
        return min(candidates, key=lambda v: abs(sum(v) / len(v) - (low + high) / 2))
    centre = sum(previous) / len(previous)
    return min(candidates, key=lambda v: abs(sum(v) / len(v) - centre) + 0.1 * (v[-1] - v[0]))
