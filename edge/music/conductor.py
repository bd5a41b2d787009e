"""The conductor turns the listening context into a plan for the next bar.

It owns the slow musical decisions: tempo (which glides, never jumps), key
and mode, density, register, the section arc (intro, build, peak, break,
outro) and, through ``edge.music.phrases``, the harmony: phrases with a
progression and a cadence, laid out in a form. It is asked once per bar, so
any context change lands on the next bar line.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edge.context.context import Context
from edge.music.events import BarPlan
from edge.music.phrases import PhrasePlanner
from edge.music.style import StylePack
from edge.music.theory import BRIGHTNESS

#: Largest tempo change from one bar to the next, as a share of the tempo. Below the ~4 %
#: a listener notices (Van Dyck et al. 2015), so a glide is heard as a drift, never a jump.
MAX_TEMPO_STEP = 0.03


@dataclass(frozen=True)
class ActivityPreset:
    """How an activity shapes the music."""

    tempo: float
    """Preferred tempo in BPM, before mood and energy move it."""
    energy: float
    """Added to the listener's energy."""
    register_shift: int
    """Semitones the melody register moves."""
    section_bars: tuple[int, ...]
    """Section lengths to choose from, in bars; calm activities evolve in slower arcs."""


ACTIVITY_PRESETS: dict[str, ActivityPreset] = {
    "workout": ActivityPreset(tempo=138, energy=0.25, register_shift=2, section_bars=(8, 16)),
    "party": ActivityPreset(tempo=124, energy=0.2, register_shift=0, section_bars=(8, 16)),
    "focus": ActivityPreset(tempo=84, energy=-0.1, register_shift=0, section_bars=(16, 32)),
    "relax": ActivityPreset(tempo=72, energy=-0.2, register_shift=-1, section_bars=(16, 24)),
    "sleep": ActivityPreset(tempo=58, energy=-0.4, register_shift=-3, section_bars=(24, 32)),
}

#: (start, end) share of the energy through a section: the arc's shape.
SECTION_SHAPE: dict[str, tuple[float, float]] = {
    "intro": (0.35, 0.6),
    "build": (0.55, 0.95),
    "peak": (1.0, 1.0),
    "break": (0.35, 0.4),
    "calm": (0.15, 0.15),
    "outro": (0.5, 0.05),
}
ARC = ("build", "peak", "break")


class Conductor:
    """Plans bar after bar; deterministic for a given seed and sequence of contexts."""

    finished = False
    """Never: endless music (a scripted conductor, ``edge.reimagine.render``, runs out)."""

    def __init__(self, rng: np.random.Generator, context: Context, style: StylePack) -> None:
        self._rng = rng
        self._index = 0
        self._tempo: float | None = None
        self._key = context.key if context.key is not None else int(rng.integers(12))
        self._section = "intro"
        self._shape = "intro"
        self._section_bar = 0
        self._section_length = 8
        self._arc_position = -1
        self._skip_seen = context.skip
        self._style_name = style.name
        self._meter = context.meter
        self._phrases = PhrasePlanner(np.random.default_rng(int(rng.integers(2**62))))

    def reseed(self, rng: np.random.Generator) -> None:
        """Use a new random stream from the next bar on."""
        self._rng = rng
        self._phrases.reseed(np.random.default_rng(int(rng.integers(2**62))))

    @property
    def tempo(self) -> float | None:
        """The tempo of the last planned bar."""
        return self._tempo

    def target_tempo(self, context: Context, style: StylePack) -> float:
        """Where the tempo is heading: the listener's tempo, or one from activity, mood and style."""
        if context.tempo is not None:
            return float(context.tempo)
        preset = ACTIVITY_PRESETS[context.activity]
        low, high = style.tempo
        wanted = preset.tempo + 10.0 * context.arousal + 12.0 * (context.energy - 0.5) + 6 * context.intensity
        return float(min(high, max(low, wanted)))

    def next_plan(self, context: Context, style: StylePack, ending: bool = False) -> BarPlan:
        """The plan for the next bar. ``ending`` starts (or continues) the outro."""
        new_phrase = self._advance_section(context, ending)
        if style.name != self._style_name:
            self._style_name = style.name
            new_phrase = True
        if context.key is not None and context.key != self._key:
            self._key = context.key
            new_phrase = True
        if context.meter != self._meter:
            self._meter = context.meter
            new_phrase = True

        target = self.target_tempo(context, style)
        if self._tempo is None:
            self._tempo = round(target, 3)
        else:
            step = self._tempo * MAX_TEMPO_STEP
            self._tempo = round(self._tempo + float(np.clip(target - self._tempo, -step, step)), 3)

        energy = self._energy(context)
        preset = ACTIVITY_PRESETS[context.activity]
        simplicity = 1.0 - context.attention
        low, high = style.density
        density = (low + (high - low) * energy) * (1.0 - 0.5 * simplicity)

        shift = preset.register_shift + round(2 * context.arousal)
        reg_low, reg_high = style.melody_register
        register = (max(21, reg_low + shift), min(108, reg_high + shift))

        mode = self._mode(context, style)
        phrase = self._phrases.bar(
            style, self._section, self._section_bar, self._section_length, self._key, mode, context.meter,
            new_section=new_phrase,
        )  # fmt: skip
        plan = BarPlan(
            index=self._index,
            tempo=self._tempo,
            beats=context.meter,
            key=self._key,
            mode=mode,
            density=round(max(low * 0.5, density), 4),
            register=register,
            energy=round(energy, 4),
            section=self._section,
            bar_in_section=self._section_bar,
            section_length=self._section_length,
            style=style.name,
            simplicity=round(simplicity, 4),
            new_phrase=new_phrase,
            chords=phrase.chords,
            phrase_bar=phrase.bar,
            phrase_length=phrase.length,
            phrase_label=phrase.label,
            cadence=phrase.cadence,
            pedal=phrase.pedal,
            listener_energy=round(self.listener_energy(context), 4),
        )
        self._index += 1
        self._section_bar += 1
        return plan

    # -- internals -------------------------------------------------------------

    def _mode(self, context: Context, style: StylePack) -> str:
        """The allowed scale whose brightness best matches the valence."""
        return min(style.scales, key=lambda s: (abs(BRIGHTNESS[s] - context.valence), s))

    @staticmethod
    def listener_energy(context: Context) -> float:
        """The energy the listener asks for, before the section arc: 0..1."""
        preset = ACTIVITY_PRESETS[context.activity]
        base = context.energy + preset.energy + 0.25 * context.intensity + 0.15 * context.arousal
        return min(1.0, max(0.0, base))

    def _energy(self, context: Context) -> float:
        base = self.listener_energy(context)
        start, end = SECTION_SHAPE[self._shape]
        share = self._section_bar / max(1, self._section_length - 1)
        shape = start + (end - start) * share
        return min(1.0, max(0.0, base * (0.45 + 0.55 * shape)))

    def _advance_section(self, context: Context, ending: bool) -> bool:
        """Move along the arc; return True when this bar opens a new section."""
        if ending:
            if self._section != "outro":
                self._enter("outro", 4)
                return True
            return False
        if context.skip != self._skip_seen:
            self._skip_seen = context.skip
            if context.section == "calm":
                self._enter("break", 16, shape="calm")  # a long, quiet break
            elif context.section is not None:
                self._enter(context.section, 8)
            else:
                self._section_bar = 0  # a skip restarts the phrase in the same section
            return True
        if self._index == 0:
            self._section_length = int(self._rng.choice(ACTIVITY_PRESETS[context.activity].section_bars)) // 2
            return True
        if self._section_bar < self._section_length:
            return False
        self._arc_position = (self._arc_position + 1) % len(ARC)
        lengths = ACTIVITY_PRESETS[context.activity].section_bars
        length = int(self._rng.choice(lengths))
        if ARC[self._arc_position] != "peak":
            length = max(4, length // 2)
        self._enter(ARC[self._arc_position], length)
        return True

    def _enter(self, section: str, length: int, shape: str | None = None) -> None:
        self._section = section
        self._shape = shape or section
        self._section_bar = 0
        self._section_length = length
