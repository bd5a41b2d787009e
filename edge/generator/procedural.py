"""Tier 0: the procedural generator, the zero-cost fallback that is always there."""

from __future__ import annotations

import numpy as np

from edge.generator.base import keep_given_melody
from edge.generator.harmony import Harmony
from edge.generator.melody import MelodyWriter
from edge.music.events import Bar, BarPlan, Chord, Note
from edge.music.style import StylePack
from edge.music.theory import fold_into


class ProceduralGenerator:
    """Chord progressions, a developing motif for the lead, and a bass line from the style's rhythm."""

    name = "0"

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._harmony = Harmony(rng)
        self._melody = MelodyWriter(rng)
        self._started = False

    def generate(self, plan: BarPlan, style: StylePack) -> Bar:
        """The next bar for ``plan``."""
        if plan.new_phrase or not self._started or _phrase_boundary(plan):
            self._harmony.new_progression(style)
            self._melody.start_phrase(plan.phrase_label, forget=plan.new_phrase)
            self._started = True
        # The conductor's plan carries the harmony; a plan without one (a test's, an evaluation
        # sweep's) gets a progression of the style's own.
        chords = plan.chords or self._harmony.chords_for(plan, style)
        notes = self._melody.bar(plan, style, chords)
        notes += bass_line(plan, style, chords, self._rng)
        notes = keep_given_melody(notes, plan)
        notes.sort(key=lambda n: (n.onset, n.track, n.pitch))
        return Bar(plan=plan, notes=tuple(notes), chords=chords, source="tier0")


def _phrase_boundary(plan: BarPlan) -> bool:
    # The plan's phrases (4 or 8 bars, aligned to the section); without chords, four bars.
    return plan.phrase_bar == 0 if plan.chords else plan.bar_in_section % 4 == 0


def bass_line(
    plan: BarPlan, style: StylePack, chords: tuple[Chord, ...], rng: np.random.Generator
) -> list[Note]:
    """Bass notes on the style's step probabilities, rooted in the chords."""
    part = style.bass
    if part is None:
        return []
    steps = len(part.steps) * plan.beats // 4
    draws = rng.random(steps)
    hits = [
        s
        for s in range(steps)
        if part.steps[s] >= 1.0 or draws[s] < part.steps[s] * (0.3 + 0.7 * plan.energy)
    ]
    if not hits:
        return []
    low, high = style.bass_register
    vel_low, vel_high = part.velocity
    notes: list[Note] = []
    for i, step in enumerate(hits):
        onset = step / 4
        chord = next((c for c in chords if c.onset <= onset < c.onset + c.duration), chords[-1])
        interval = 7 if rng.random() < part.fifth else 0
        # The lowest octave of the register that has the note (ranges narrower than an octave
        # must not clamp: that would put a wrong note under the chord).
        pitch = low + (chord.root + interval - low) % 12
        if pitch > high:
            pitch = fold_into(pitch, low, high)
        if rng.random() < part.octave and pitch + 12 <= high:
            pitch += 12
        end = hits[i + 1] / 4 if i + 1 < len(hits) else plan.beats
        length = max(0.125, (end - onset) * part.length)
        velocity = vel_low + (vel_high - vel_low) * plan.energy + rng.normal(0, 3)
        notes.append(Note(onset, round(length, 4), pitch, int(np.clip(velocity, 1, 127)), "bass"))
    return notes
