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
from edge.generator.registry import TierRegistry
from edge.music.arranger import Arranger
from edge.music.conductor import Conductor
from edge.music.events import Bar
from edge.music.style import StyleLibrary, StylePack
from edge.render.master import REFERENCE_LUFS
from edge.render.synth import EFFECT_CHUNK, Synth

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
        registry: TierRegistry | None = None,
        tier: str = "0",
        sampling: tuple[float, float] = (1.0, 0.9),
        loudness_lufs: float = REFERENCE_LUFS,
        effect_chunk: int = EFFECT_CHUNK,
    ) -> None:
        """``loudness_lufs``: the integrated loudness (BS.1770) every pack plays at (audio.loudness_lufs);
        ``effect_chunk``: the synth's longest chunk of effects (larger for a file rendered offline)."""
        self.styles = styles
        self.seed = seed
        self.sample_rate = sample_rate
        self._context = context
        self._on_bar = on_bar
        conductor_seed, generator_seed, arranger_seed, synth_seed, neural_seed = _streams(seed)
        first = context()
        self._style = styles.get(first.style)
        self.conductor = Conductor(np.random.default_rng(conductor_seed), first, self._style)
        self.registry = registry
        self.sampling = sampling  # temperature, top-p of the neural tiers
        self._neural: dict[str, Generator] = {}
        self._seed_generators(generator_seed, neural_seed)
        self.pending_tier: str | None = tier if tier != "0" else None  # applied at the next bar line
        self.arranger = Arranger(np.random.default_rng(arranger_seed))
        self.synth = Synth(
            sample_rate=sample_rate, seed=int(synth_seed.generate_state(1)[0]), block_frames=block_frames,
            loudness_lufs=loudness_lufs, effect_chunk=effect_chunk,
        )
        self._apply_sound(self._style)
        self._scheduled_until = 0
        self.ending = False
        self.pending_synth_level: int | None = None  # set by the governor, applied at the next bar
        self.bars_played = 0
        self.last_bar: Bar | None = None
        self.before_bar: Callable[[int], None] | None = None
        """Called with the bar's index just before each bar is planned (a replay sets its inputs here)."""

    def reseed(self, seed: int) -> None:
        """New random streams for the notes from the next bar; tempo, key and sound carry on."""
        self.seed = seed
        conductor_seed, generator_seed, arranger_seed, _, neural_seed = _streams(seed)
        self.conductor.reseed(np.random.default_rng(conductor_seed))
        tier = self.generator.name
        self._seed_generators(generator_seed, neural_seed)
        if tier != "0":
            self.pending_tier = tier
        self.arranger = Arranger(np.random.default_rng(arranger_seed))

    def _seed_generators(
        self, procedural_seed: np.random.SeedSequence, neural_seed: np.random.SeedSequence
    ) -> None:
        self.fallback: Generator = ProceduralGenerator(np.random.default_rng(procedural_seed))
        self.generator: Generator = self.fallback
        self._writer: Generator = self.fallback  # who wrote the last bar (a pack's model, or the tier)
        self._neural_rng = np.random.default_rng(neural_seed)  # shared by the tiers: one stream
        self._neural = {}
        self._artists: dict[tuple[str, str], Generator] = {}  # (source, sha256) -> a pack's model

    @property
    def tier(self) -> str:
        """The tier writing the notes now ("0", "S", "M" or "L"; a pack's model may stand in for it)."""
        return self.generator.name

    def _switch_tier(self, wanted: str) -> None:
        """Take ``wanted`` (or the best usable tier under it) from this bar on."""
        registry = self.registry
        tier = registry.best_at_most(wanted) if registry is not None else "0"
        while tier != "0" and tier not in self._neural:
            generator = self._make_neural(tier)
            if generator is not None:
                self._neural[tier] = generator
                break
            tier = registry.best_at_most(tier)  # it failed to load and is now disabled
        new = self._neural.get(tier, self.fallback)
        if new is self.generator:
            return
        old = self._writer  # the tier's generator, or a pack's model standing in for it
        if hasattr(new, "adopt"):
            # The new size continues the same music, and its phrases' motifs.
            new.adopt(getattr(old, "history", ()), getattr(old, "motifs", None))
        self.generator = self._writer = new
        log.info("generator tier %s from bar %d", tier, self.bars_played)

    def _make_neural(self, tier: str) -> Generator | None:
        from edge.generator.neural import NeuralGenerator

        assert self.registry is not None
        session = self.registry.session(tier)
        if session is None:
            return None
        temperature, top_p = self.sampling
        card = self.registry.card(tier)
        return NeuralGenerator(tier, session, card, self._neural_rng, temperature=temperature, top_p=top_p)

    def _writer_for(self, style: StylePack) -> Generator:
        """Who writes a bar of ``style``: the tier's generator, or the pack's artist model standing
        in for it (edge/packs/models.py), which continues the music the other wrote."""
        if self._artists:  # a removed pack's model goes once its style stops playing
            keep = {*self.styles.packs, style.name}
            if any(k[0].partition("@")[2] not in keep for k in self._artists):
                self._artists = {k: g for k, g in self._artists.items() if k[0].partition("@")[2] in keep}
        chosen = self.generator
        if chosen is not self.fallback and self.registry is not None:
            chosen = self._artist_for(style, chosen.name) or chosen
        last = self._writer
        if chosen is not last and hasattr(chosen, "adopt"):
            chosen.adopt(getattr(last, "history", ()), getattr(last, "motifs", None))
        self._writer = chosen
        return chosen

    def _artist_for(self, style: StylePack, tier: str) -> Generator | None:
        """The pack's own model if it holds one that may stand in at ``tier`` and loads."""
        from edge.generator.neural import NeuralGenerator
        from edge.packs.models import plays_at

        assert self.registry is not None
        models = self.registry.packs
        entry = models.entry(style)
        if entry is None or not plays_at(entry.tier, tier):
            return None
        key = (entry.source, entry.sha256)
        generator = self._artists.get(key)
        if generator is None:
            session = models.session(entry)  # the daemon loaded it off the audio path; offline, here
            if session is None:
                return None
            temperature, top_p = self.sampling
            generator = NeuralGenerator(entry.source, session, entry.card, self._neural_rng,
                                        temperature=temperature, top_p=top_p)  # fmt: skip
            # A replaced pack's old model goes.
            self._artists = {k: g for k, g in self._artists.items() if k[0] != entry.source}
            self._artists[key] = generator
        return generator

    @property
    def style(self) -> StylePack:
        """The style of the last scheduled bar."""
        return self._style

    def _apply_sound(self, style: StylePack) -> None:
        self.synth.set_sound(style.instruments, style.kit, style.mix, style.name)

    def next_bar(self) -> Bar:
        """Plan, generate and arrange the next bar (without rendering it)."""
        context = self._context()
        # The library's own object: a pack replaced on reload sounds new; one removed plays on
        # until the context names another.
        style = self.styles.packs.get(context.style, self._style)
        plan = self.conductor.next_plan(context, style, ending=self.ending)
        writer = self._writer_for(style)
        try:
            bar = writer.generate(plan, style)
        except Exception as exc:  # a neural tier failing must never cost audio: tier 0 plays the bar
            log.error(
                "tier %s failed on bar %d (%s: %s); tier 0 plays it",
                writer.name, plan.index, type(exc).__name__, exc,
            )  # fmt: skip
            bar = self.fallback.generate(plan, style)
        bar = self.arranger.arrange(bar, style)
        if style is not self._style:
            self._style = style
            self._apply_sound(style)
        return bar

    @property
    def scheduled_until(self) -> int:
        """The frame where the last scheduled bar ends (where the next one starts)."""
        return self._scheduled_until

    def schedule_next_bar(self) -> Bar:
        """Generate the next bar and hand it to the synth, back to back with the last."""
        if self.before_bar is not None:
            self.before_bar(self.bars_played)
        level = self.pending_synth_level
        if level is not None and level != self.synth.level:
            self.synth.set_level(level)  # on a bar line: the change is inaudible as a change
        tier, self.pending_tier = self.pending_tier, None
        if tier is not None and tier != self.generator.name:
            self._switch_tier(tier)
        bar = self.next_bar()
        self._scheduled_until = self.synth.schedule(bar, self._scheduled_until)
        self.bars_played += 1
        self.last_bar = bar
        if self._on_bar is not None:
            self._on_bar(bar)
        return bar

    def schedule_ahead(self, frames: int) -> bool:
        """Schedule bars until the next ``frames`` frames (and the synth's lookahead) are covered;
        False when the piece ends before that (a scripted conductor ran out of bars)."""
        # One bar ahead: a bar is written only when playback is about to reach the end of the
        # last one, so context changes land on the next bar line.
        while self._scheduled_until < self.synth.frame + frames + self.synth.lookahead_frames:
            if self.conductor.finished:
                return False  # a scripted piece (a reimagined track) has no bars left: its tail rings out
            self.schedule_next_bar()
        return True

    def render_block(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of stereo float32, generating bars as they are needed."""
        self.schedule_ahead(frames)
        return self.synth.render(frames)


def _streams(seed: int) -> list[np.random.SeedSequence]:
    """Independent seeds for conductor, tier 0, arranger, synth and the neural tiers.

    The neural stream is the fifth child, so the first four (and tier 0's music)
    are what they were before the neural tiers existed.
    """
    return np.random.SeedSequence(seed).spawn(5)
