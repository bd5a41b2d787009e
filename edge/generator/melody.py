"""Motif-based melody: a short idea, stated, varied and answered within a phrase.

A motif is a one-bar rhythm plus a contour of scale steps. Each bar of a
phrase plays the motif through one variation (literal, sequenced, inverted,
re-rhythmed, ornamented, or a fresh answer), then the notes are placed on the
scale with strong beats pulled onto chord tones. That keeps a phrase
recognisable while never playing the same bars twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.music.events import BarPlan, Chord, Note
from edge.music.style import StylePack
from edge.music.theory import chord_pitch_classes, scale_pitch_classes

#: Phrase forms over four bars: letters are motifs, a prime is a variation.
FORMS = (("A", "A'", "B", "A''"), ("A", "B", "A'", "C"), ("A", "A'", "B", "B'"), ("A", "B", "A", "B'"))
VARIATIONS = ("sequence", "invert", "rhythm", "ornament", "literal", "truncate")


@dataclass(frozen=True)
class Motif:
    """Onsets and lengths in beats, plus the scale step taken before each note."""

    onsets: tuple[float, ...]
    lengths: tuple[float, ...]
    steps: tuple[int, ...]


class MelodyWriter:
    """Writes the lead line bar by bar; deterministic for a seed."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._motifs: dict[str, Motif] = {}
        self._form: tuple[str, ...] = FORMS[0]
        self._bar_in_phrase = 0
        self._last_pitch: int | None = None
        self._themes: dict[str, tuple[dict[str, Motif], tuple[str, ...]]] = {}
        self._label = "A"

    def start_phrase(self, label: str = "A", forget: bool = True) -> None:
        """Begin a phrase. A primed label (``A'``) brings back what its letter stated earlier in
        the section, to be varied; any other states a new idea. ``forget`` starts a new section."""
        if forget:
            self._themes: dict[str, tuple[dict[str, Motif], tuple[str, ...]]] = {}
        letter = label.rstrip("'")
        self._label = label
        if label.endswith("'") and letter in self._themes:
            motifs, self._form = self._themes[letter]
            self._motifs = dict(motifs)
        else:
            self._motifs = {}
            self._form = FORMS[int(self._rng.integers(len(FORMS)))]
            self._themes[letter] = (self._motifs, self._form)  # filled as the phrase states its motifs
        self._bar_in_phrase = 0

    def bar(self, plan: BarPlan, style: StylePack, chords: tuple[Chord, ...]) -> list[Note]:
        """The lead notes for one bar."""
        if self._bar_in_phrase >= len(self._form):
            self.start_phrase(self._label.rstrip("'") + "'", forget=False)  # an 8-bar phrase's second half
        label = self._form[self._bar_in_phrase]
        self._bar_in_phrase += 1
        name = label.rstrip("'")
        if name not in self._motifs:
            self._motifs[name] = self._new_motif(plan, style)
        motif = self._motifs[name]
        if label.endswith("'") or self._rng.random() < 0.35:
            motif = self._vary(motif, plan, style)
        # The plan's cadence bar ends the phrase; a plan without harmony ends one every four bars.
        cadence = bool(plan.cadence) if plan.chords else self._bar_in_phrase == len(self._form)
        return self._place(motif, plan, style, chords, cadence)

    # -- motifs ----------------------------------------------------------------

    def _new_motif(self, plan: BarPlan, style: StylePack) -> Motif:
        grid = style.melody_grid if plan.simplicity < 0.5 else max(style.melody_grid, 0.5)
        slots = np.arange(0.0, plan.beats, grid)
        wanted = plan.density * plan.beats
        # Keep each slot with the probability that yields the planned density, minus rests.
        keep = min(1.0, wanted / len(slots)) * (1.0 - 0.5 * style.melody_rest)
        chosen = slots[self._rng.random(len(slots)) < keep]
        if len(chosen) == 0:
            chosen = slots[[int(self._rng.integers(len(slots)))]]
        ends = np.append(chosen[1:], plan.beats)
        lengths = (ends - chosen) * self._rng.choice([0.5, 0.8, 1.0], size=len(chosen), p=[0.2, 0.4, 0.4])
        leaps = self._rng.random(len(chosen)) < style.melody_leap
        sizes = np.where(leaps, self._rng.integers(2, 5, len(chosen)), self._rng.integers(1, 3, len(chosen)))
        signs = self._rng.choice([-1, 1], size=len(chosen))
        steps = sizes * signs
        steps[0] = int(self._rng.integers(-2, 3))
        return Motif(tuple(chosen.tolist()), tuple(np.maximum(lengths, grid * 0.5).tolist()), tuple(steps))

    def _vary(self, motif: Motif, plan: BarPlan, style: StylePack) -> Motif:
        kind = VARIATIONS[int(self._rng.integers(len(VARIATIONS)))]
        onsets, lengths, steps = list(motif.onsets), list(motif.lengths), list(motif.steps)
        if kind == "sequence":
            steps[0] += int(self._rng.choice([-2, -1, 1, 2]))
        elif kind == "invert":
            steps = [steps[0]] + [-s for s in steps[1:]]
        elif kind == "rhythm" and len(onsets) > 1:
            i = int(self._rng.integers(len(onsets)))
            grid = style.melody_grid
            shifted = onsets[i] + float(self._rng.choice([-grid, grid]))
            if 0 <= shifted < plan.beats and shifted not in onsets:
                onsets[i] = shifted
        elif kind == "ornament":
            i = int(self._rng.integers(len(onsets)))
            half = lengths[i] / 2
            if half >= 0.25:
                onsets.insert(i + 1, onsets[i] + half)
                lengths[i] = half
                lengths.insert(i + 1, half)
                steps.insert(i + 1, int(self._rng.choice([-1, 1])))
        elif kind == "truncate" and len(onsets) > 2:
            onsets, lengths, steps = onsets[:-1], lengths[:-1], steps[:-1]
            lengths[-1] = plan.beats - onsets[-1]
        # "literal" and variations that did not apply change nothing but the steps' colour:
        steps = [s + int(self._rng.integers(-1, 2)) if self._rng.random() < 0.25 else s for s in steps]
        order = np.argsort(onsets, kind="stable")
        return Motif(
            tuple(onsets[i] for i in order), tuple(lengths[i] for i in order), tuple(steps[i] for i in order)
        )

    # -- placing notes on the scale ------------------------------------------

    def _place(
        self, motif: Motif, plan: BarPlan, style: StylePack, chords: tuple[Chord, ...], cadence: bool
    ) -> list[Note]:
        low, high = plan.register
        scale = [p for p in range(low, high + 1) if p % 12 in set(scale_pitch_classes(plan.key, plan.mode))]
        if self._last_pitch is None or not low <= self._last_pitch <= high:
            self._last_pitch = scale[len(scale) // 2]
        index = int(np.argmin([abs(p - self._last_pitch) for p in scale]))
        vel_low, vel_high = style.melody_velocity
        notes: list[Note] = []
        count = len(motif.onsets)
        for n, (onset, length, step) in enumerate(zip(motif.onsets, motif.lengths, motif.steps, strict=True)):
            index += step
            # Reflect off the register edges instead of clamping, so lines keep moving.
            if index < 0:
                index = -index
            if index >= len(scale):
                index = max(0, 2 * (len(scale) - 1) - index)
            pitch = scale[index]
            chord = _chord_at(chords, onset)
            strong = onset % 1.0 == 0.0 and (onset == 0 or plan.beats % 2 == 1 or onset % 2 == 0)
            if chord is not None and (strong or (cadence and n == count - 1)):
                pitch = _nearest_chord_tone(pitch, chord, scale)
                index = scale.index(pitch) if pitch in scale else index
            if cadence and n == count - 1:
                length = max(length, plan.beats - onset)
            accent = 1.0 if onset % 1.0 == 0.0 else 0.85
            velocity = vel_low + (vel_high - vel_low) * (0.35 + 0.65 * plan.energy) * accent
            velocity += self._rng.normal(0, 4)
            notes.append(Note(onset, round(length, 4), pitch, int(np.clip(velocity, 1, 127)), "lead"))
        if notes:
            self._last_pitch = notes[-1].pitch
        return notes


def _chord_at(chords: tuple[Chord, ...], beat: float) -> Chord | None:
    for chord in chords:
        if chord.onset <= beat < chord.onset + chord.duration:
            return chord
    return chords[-1] if chords else None


def _nearest_chord_tone(pitch: int, chord: Chord, scale: list[int]) -> int:
    tones = set(chord_pitch_classes(chord.root, chord.quality))
    candidates = [p for p in scale if p % 12 in tones]
    if not candidates:
        return pitch
    return min(candidates, key=lambda p: (abs(p - pitch), p))
