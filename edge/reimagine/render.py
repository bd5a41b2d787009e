"""A reimagined track rendered: the plans through the engine's tiers, arranger and synth."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edge.context.context import Context
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.music.events import Bar, BarPlan
from edge.music.style import StyleLibrary, StylePack
from edge.render.master import REFERENCE_LUFS
from edge.render.synth import EFFECT_CHUNK, OFFLINE_CHUNK

#: Seconds the last bar's notes and the reverb ring after the piece's end, faded to silence.
TAIL_SECONDS = 2.0
#: Periods an offline render takes at once where the bars they need are scheduled (same bytes, less
#: Python per second of audio; 16 x 1024 frames is a third of a second at 48 kHz).
BLOCKS_AT_ONCE = 16


class ScriptedConductor:
    """Hands the engine a fixed list of plans, in order (the conductor's interface)."""

    def __init__(self, plans: Sequence[BarPlan]) -> None:
        self._plans = list(plans)
        self._next = 0

    @property
    def finished(self) -> bool:
        """True once every plan has been handed out."""
        return self._next >= len(self._plans)

    def next_plan(self, context: Context, style: StylePack, ending: bool = False) -> BarPlan:
        """The next plan as written (``context`` and ``ending`` change nothing: the piece is fixed)."""
        plan = self._plans[self._next]
        self._next += 1
        return plan

    def target_tempo(self, context: Context, style: StylePack) -> float:
        """The tempo of the bar about to play."""
        return self._plans[min(self._next, len(self._plans) - 1)].tempo


def scripted_engine(
    plans: Sequence[BarPlan],
    styles: StyleLibrary,
    context: Context,
    seed: int,
    *,
    rate: int,
    block: int,
    registry: TierRegistry | None,
    tier: str,
    sampling: tuple[float, float],
    on_bar: Callable[[Bar], None] | None = None,
    loudness_lufs: float = REFERENCE_LUFS,
    effect_chunk: int = EFFECT_CHUNK,
) -> Engine:
    """An engine that plays ``plans`` and then stops scheduling (same seed, same audio).

    ``effect_chunk``: EFFECT_CHUNK for a deck the daemon plays, OFFLINE_CHUNK for a file."""
    engine = Engine(
        styles, lambda: context, seed, sample_rate=rate, block_frames=block, on_bar=on_bar,
        registry=registry, tier=tier, sampling=sampling, loudness_lufs=loudness_lufs,
        effect_chunk=effect_chunk,
    )  # fmt: skip
    engine.conductor = ScriptedConductor(plans)  # type: ignore[assignment]
    return engine


def piece_frames(plans: Sequence[BarPlan], rate: int) -> int:
    """Frames from the first bar line to the end of the tail."""
    seconds = sum(p.beats * 60.0 / p.tempo for p in plans) + TAIL_SECONDS
    return round(seconds * rate)


def blocks_at_once(plans: Sequence[BarPlan], style: StylePack, rate: int, block: int) -> int:
    """BLOCKS_AT_ONCE where every note of the piece ends inside the synth's timeline however far
    ahead its bar is scheduled, else 1 (period by period, as the daemon renders).

    The timeline holds RING_FRAMES from the playback position; a note reaching past it is cut
    where it ends when its bar is scheduled, and a larger block schedules earlier. A note reaches
    at most: the lead (the block and the synth's lookahead), two bars or the longest melody note
    from its bar line, whichever is longer (the kept melody can hold a note for bars), and the
    longest release (a patch's, or a SoundFont chord's tail).
    """
    from edge.render.soundfonts import FADE_S, TAIL_S
    from edge.render.synth import RING_FRAMES

    bar = max((p.beats * 60.0 / p.tempo for p in plans), default=0.0)
    melody = max(((n.onset + n.duration) * 60.0 / p.tempo for p in plans for n in p.melody), default=0.0)
    release = max((patch.release for patch in style.instruments.values()), default=0.0)
    release = max(release, TAIL_S + FADE_S)
    lead = (BLOCKS_AT_ONCE * block + OFFLINE_CHUNK) / rate
    reach = lead + max(2.0 * bar, melody) + release
    return BLOCKS_AT_ONCE if reach * rate < RING_FRAMES else 1


def stream(engine: Engine, total: int, block: int, fade: int, at_once: int = BLOCKS_AT_ONCE):
    """The piece as (frames done, stereo float32 block) pairs, faded out over its last ``fade`` frames.

    Blocks come ``at_once`` periods of ``block`` frames long wherever every bar they need is
    scheduled, else one period long (the piece's last bars and its tail): the same bytes as
    rendering period by period, in fewer, larger calls. The synth's effect chunks depend on the
    schedule, not on the block, once the schedule reaches a chunk past the block's end; only
    there does a block end cut a chunk short, and there the periods are kept.
    """
    from edge.outputs import fade_tail

    done = 0
    while done < total:
        frames = min(block, total - done)
        many = min(at_once, (total - done) // block) * block
        if many > frames and engine.schedule_ahead(many):
            frames = many
        audio = fade_tail(engine.render_block(frames), done, total, fade)
        yield done, audio
        done += frames
