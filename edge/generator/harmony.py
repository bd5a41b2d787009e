"""Chord progressions from a style's vocabulary, laid out in time."""

from __future__ import annotations

import numpy as np

from edge.music.events import BarPlan, Chord
from edge.music.style import StylePack
from edge.music.theory import FAMILY, diatonic_triad


class Harmony:
    """Keeps the current progression and hands out the chords of each bar.

    A progression is picked at every new phrase and its chord colours are
    fixed then, so a repeated phrase repeats its harmony the way a song does.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._degrees: tuple[int, ...] = (1,)
        self._colours: list[dict[str, str]] = [{"maj": "maj", "min": "min", "dim": "dim"}]
        self._beat = 0.0  # beats since the progression started

    def new_progression(self, style: StylePack) -> None:
        """Choose a progression and the colour of each of its chords."""
        index = int(self._rng.integers(len(style.progressions)))
        self._degrees = style.progressions[index]
        # The mode (hence each chord's family) can change with the mood mid-progression,
        # so a colour is chosen for every family of every slot up front.
        self._colours = [
            {family: self._colour(style, family) for family in ("maj", "min", "dim")} for _ in self._degrees
        ]
        self._beat = 0.0

    def _colour(self, style: StylePack, family: str) -> str:
        options = [q for q in style.chords if FAMILY.get(q) == family]
        if not options:
            # No diminished colour in the vocabulary: a minor one is the closest stable sound.
            options = [q for q in style.chords if FAMILY.get(q) == "min"]
        return str(self._rng.choice(options))

    def chords_for(self, plan: BarPlan, style: StylePack) -> tuple[Chord, ...]:
        """The chords sounding in this bar, advancing through the progression."""
        span = style.chord_beats
        if span < plan.beats and plan.beats % span:
            span = plan.beats  # 3/4 with 2-beat chords: one chord per bar
        chords: list[Chord] = []
        position = 0.0
        while position < plan.beats - 1e-9:
            slot = int(self._beat // span) % len(self._degrees)
            offset = self._beat % span
            length = min(span - offset, plan.beats - position)
            degree = self._degrees[slot]
            root, family = diatonic_triad(plan.key, plan.mode, degree)
            quality = self._colours[slot][family]
            chords.append(Chord(onset=position, duration=length, root=root, quality=quality))
            position += length
            self._beat += length
        return tuple(chords)
