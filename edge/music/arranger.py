"""The arranger: turns a generated bar (lead, bass, chords) into a full band.

It voices the chords for the pad and the keys, plays the style's drum
patterns with their per-step probabilities, and applies the style's swing.
Every track it writes is one the style has an instrument for.

Sections change the band, not just the drums (``playing``): an intro is pad
and keys with the bass joining halfway, a build and a peak have everything, a
break drops the kick and the bass, and an outro lets the drums and the bass go
first. So a listener hears the arc as instruments enter and leave.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from edge.music.events import CLAP, CLOSED_HAT, KICK, OPEN_HAT, SNARE, Bar, BarPlan, Chord, Note
from edge.music.style import DrumPattern, StylePack
from edge.music.theory import chord_pitch_classes, voice_chord

_DRUMS = (("kick", KICK), ("snare", SNARE), ("clap", CLAP), ("hat", CLOSED_HAT), ("open_hat", OPEN_HAT))
#: Which drums each section keeps: breaks drop the kick, intros keep it light.
_SECTION_DRUMS = {
    "intro": set(),
    "build": {"kick", "snare", "clap", "hat", "open_hat"},
    "peak": {"kick", "snare", "clap", "hat", "open_hat"},
    "break": {"hat", "clap"},
    "outro": {"kick", "hat"},
}
_EVERYTHING = frozenset(("lead", "keys", "pad", "bass", "drums"))


def playing(plan: BarPlan) -> frozenset[str]:
    """The tracks a bar of ``plan``'s section plays (the style may have fewer); a given melody
    (a reimagined track's) plays in every section."""
    band = _section_band(plan)
    return band | {"lead"} if plan.melody else band


def _section_band(plan: BarPlan) -> frozenset[str]:
    second_half = plan.bar_in_section >= plan.section_length // 2
    if plan.section == "intro":
        return frozenset(("pad", "keys", "bass") if second_half else ("pad", "keys"))
    if plan.section == "break":
        return _EVERYTHING - {"bass"}  # the drums keep only hats and claps
    if plan.section == "outro":
        return frozenset(("pad", "keys", "lead") if second_half else ("pad", "keys", "lead", "bass", "drums"))
    return _EVERYTHING


class Arranger:
    """Adds pad, keys and drums to generated bars; deterministic for a seed."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._last_voicing: list[int] | None = None

    def arrange(self, bar: Bar, style: StylePack) -> Bar:
        """The bar with every track the style plays, sorted by onset."""
        band = playing(bar.plan)
        notes = [n for n in bar.notes if n.track in style.instruments and n.track in band]
        voicings = [self._voice(chord, style) for chord in bar.chords]
        if "pad" in style.instruments:
            notes += self._pad(bar, style, voicings)
        if "keys" in style.instruments and style.keys is not None:
            notes += self._keys(bar, style, voicings)
        if "drums" in style.tracks and "drums" in band:
            notes += self._drums(bar, style)
        # A given melody keeps its own timing, note for note; the band swings around it.
        notes = [n if bar.plan.melody and n.track == "lead" else self._swing(n, style.swing) for n in notes]
        notes.sort(key=lambda n: (n.onset, n.track, n.pitch))
        return dataclasses.replace(bar, notes=tuple(notes))

    def _voice(self, chord: Chord, style: StylePack) -> list[int]:
        low, high = style.chord_register
        classes = chord_pitch_classes(chord.root, chord.quality)[:4]
        voicing = voice_chord(classes, low, high, self._last_voicing)
        self._last_voicing = voicing
        return voicing

    def _pad(self, bar: Bar, style: StylePack, voicings: list[list[int]]) -> list[Note]:
        low, high = style.pad_velocity
        velocity = int(low + (high - low) * bar.plan.energy)
        return [
            Note(chord.onset, chord.duration, pitch, velocity, "pad")
            for chord, voicing in zip(bar.chords, voicings, strict=True)
            for pitch in voicing
        ]

    def _keys(self, bar: Bar, style: StylePack, voicings: list[list[int]]) -> list[Note]:
        part = style.keys
        assert part is not None
        steps = len(part.steps) * bar.plan.beats // 4
        draws = self._rng.random(steps)
        scale = 0.3 + 0.7 * bar.plan.energy
        hits = [s for s in range(steps) if part.steps[s] >= 1.0 or draws[s] < part.steps[s] * scale]
        vel_low, vel_high = part.velocity
        notes: list[Note] = []
        for i, step in enumerate(hits):
            onset = step / 4
            index = next((k for k, c in enumerate(bar.chords) if c.onset <= onset < c.onset + c.duration), -1)
            end = hits[i + 1] / 4 if i + 1 < len(hits) else bar.plan.beats
            length = max(0.2, (end - onset) * part.length)
            velocity = int(
                np.clip(vel_low + (vel_high - vel_low) * bar.plan.energy + self._rng.normal(0, 4), 1, 127)
            )
            notes += [Note(onset, round(length, 4), p, velocity, "keys") for p in voicings[index]]
        return notes

    def _drums(self, bar: Bar, style: StylePack) -> list[Note]:
        plan = bar.plan
        pattern = _pattern_for(style.drum_patterns, plan.energy)
        keep = _SECTION_DRUMS.get(plan.section, _SECTION_DRUMS["peak"])
        if plan.section == "build" and plan.bar_in_section < plan.section_length // 2:
            keep = {"kick", "hat"}  # a build thickens: the backbeat and the open hats join halfway
        steps = 16 * plan.beats // 4
        vel_low, vel_high = style.drum_velocity
        notes: list[Note] = []
        for name, pitch in _DRUMS:
            if name not in keep:
                continue
            probs = np.asarray(getattr(pattern, name)[:steps])
            draws = self._rng.random(steps)
            # Certain steps (p = 1) always play; the rest thin out at low energy.
            hit = (probs >= 1.0) | (draws < probs * (0.4 + 0.6 * plan.energy))
            for step in np.flatnonzero(hit):
                accent = 1.0 if step % 4 == 0 else 0.8
                velocity = (vel_low + (vel_high - vel_low) * plan.energy) * accent + self._rng.normal(0, 3)
                notes.append(Note(step / 4, 0.25, pitch, int(np.clip(velocity, 1, 127)), "drums"))
        if plan.section == "build" and plan.bar_in_section == plan.section_length - 1:
            notes += _snare_roll(plan.beats, vel_low, vel_high)
        return notes

    @staticmethod
    def _swing(note: Note, swing: float) -> Note:
        # Off-beat 8ths and 16ths land late: the laid-back feel of lo-fi and house.
        if swing <= 0:
            return note
        fraction = note.onset % 0.5
        if abs(fraction - 0.25) < 1e-9 or abs(note.onset % 1.0 - 0.5) < 1e-9:
            return dataclasses.replace(note, onset=note.onset + swing * 0.25)
        return note


def _pattern_for(patterns: tuple[DrumPattern, ...], energy: float) -> DrumPattern:
    for pattern in patterns:
        if pattern.energy[0] <= energy <= pattern.energy[1]:
            return pattern
    return min(patterns, key=lambda p: min(abs(energy - p.energy[0]), abs(energy - p.energy[1])))


def _snare_roll(beats: int, vel_low: int, vel_high: int) -> list[Note]:
    """Rising 16th snares over the last beat of a build: the cue that a peak is coming."""
    start = (beats - 1) * 4
    return [
        Note(step / 4, 0.25, SNARE, int(vel_low + (vel_high - vel_low) * (step - start + 1) / 4), "drums")
        for step in range(start, beats * 4)
    ]
