"""The music engine: conductor -> generator -> arranger -> synth, one bar ahead.

The engine is single-threaded and deterministic: given a seed and the same
sequence of contexts per bar, it produces the same samples. The daemon calls
``render_block`` from its producer thread; ``render`` offline calls it in a
loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from edge.context.context import Context
from edge.generator.base import Generator
from edge.generator.procedural import ProceduralGenerator
from edge.music.arranger import Arranger
from edge.music.conductor import Conductor
from edge.music.events import Bar
from edge.music.style import StyleLibrary, StylePack
from edge.render.synth import Synth

log = logging.getLogger(__name__)


class Engine:
    """Plans, generates, arranges and renders bars just ahead of playback."""

    def __init__(
        self,
        styles: StyleLibrary,
        context: Callable[[], Context],
        seed: int,
        sample_rate: int = 48000,
        block_frames: int = 1024,
        on_bar: Callable[[Bar], None] | None = None,
    ) -> None:
        self.styles = styles
        self.seed = seed
        self.sample_rate = sample_rate
        self._context = context
        self._on_bar = on_bar
        conductor_seed, generator_seed, arranger_seed, synth_seed = np.random.SeedSequence(seed).spawn(4)
        first = context()
        self._style = styles.get(first.style)
        self.conductor = Conductor(np.random.default_rng(conductor_seed), first, self._style)
        self.fallback: Generator = ProceduralGenerator(np.random.default_rng(generator_seed))
        self.generator: Generator = self.fallback
        self.arranger = Arranger(np.random.default_rng(arranger_seed))
        self.synth = Synth(
            sample_rate=sample_rate, seed=int(synth_seed.generate_state(1)[0]), block_frames=block_frames
        )
        self._apply_sound(self._style)
        self._scheduled_until = 0
        self.ending = False
        self.pending_synth_level: int | None = None  # set by the governor, applied at the next bar
        self.bars_played = 0
        self.last_bar: Bar | None = None

    def reseed(self, seed: int) -> None:
        """New random streams for the notes from the next bar; tempo, key and sound carry on."""
        self.seed = seed
        conductor_seed, generator_seed, arranger_seed, _ = np.random.SeedSequence(seed).spawn(4)
        self.conductor.reseed(np.random.default_rng(conductor_seed))
        self.fallback = ProceduralGenerator(np.random.default_rng(generator_seed))
        self.generator = self.fallback
        self.arranger = Arranger(np.random.default_rng(arranger_seed))

    @property
    def style(self) -> StylePack:
        """The style of the last scheduled bar."""
        return self._style

    def _apply_sound(self, style: StylePack) -> None:
        self.synth.set_sound(style.instruments, style.kit, style.mix)

    def next_bar(self) -> Bar:
        """Plan, generate and arrange the next bar (without rendering it)."""
        context = self._context()
        style = self._style
        if context.style != style.name:
            style = self.styles.get(context.style)
        plan = self.conductor.next_plan(context, style, ending=self.ending)
        try:
            bar = self.generator.generate(plan, style)
        except Exception:  # a neural tier failing must never cost audio: tier 0 plays the bar
            log.exception("generator %s failed on bar %d; tier 0 plays it", self.generator.name, plan.index)
            bar = self.fallback.generate(plan, style)
        bar = self.arranger.arrange(bar, style)
        if style is not self._style:
            self._style = style
            self._apply_sound(style)
        return bar

    def schedule_next_bar(self) -> Bar:
        """Generate the next bar and hand it to the synth, back to back with the last."""
        level = self.pending_synth_level
        if level is not None and level != self.synth.level:
            self.synth.set_level(level)  # on a bar line: the change is inaudible as a change
        bar = self.next_bar()
        self._scheduled_until = self.synth.schedule(bar, self._scheduled_until)
        self.bars_played += 1
        self.last_bar = bar
        if self._on_bar is not None:
            self._on_bar(bar)
        return bar

    def render_block(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of stereo float32, generating bars as they are needed."""
        # One bar ahead: a bar is written only when playback is about to reach the end of the
        # last one, so context changes land on the next bar line.
        while self._scheduled_until < self.synth.frame + frames + self.synth.lookahead_frames:
            self.schedule_next_bar()
        return self.synth.render(frames)
