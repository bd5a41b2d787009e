"""A library track playing live: both versions rendered in lock-step on one beat grid.

The reimagined version is the track's bar plans through the engine (``scripted_engine``); the
original of a MIDI track is the same bars, at the same tempi, holding the track's own notes (every
pitched part), rendered plainly through a synth with a neutral keys patch and no drums. The
original of an audio track is the audio itself (``original_audio.py``): there the reimagined bars
take the original's tempo map (``follow_original``) and each bar of audio is laid from the
frame of its bar line, so both stay on the audio's own beat grid. Both render every block,
so they are always at the same frame of the same grid: a switch is an equal-power crossfade of at
most one beat between two streams that never lose their place, and keeps the bar and the beat by
construction. With ``repeat`` both loop the bars for ever; otherwise the deck ends after the last
bar (its tail rings on while the stage fades it out).
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from edge.context.context import Context
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.library.original_audio import AudioOriginal, DecodedAudio
from edge.music.events import Bar, BarPlan, Note
from edge.music.style import StyleLibrary, StylePack
from edge.reimagine.plan import Reimagining, plan_track
from edge.reimagine.render import ScriptedConductor, scripted_engine
from edge.render.master import REFERENCE_LUFS
from edge.render.patch import DEFAULT_TRACK_PATCHES, Mix, Patch
from edge.render.synth import Synth

log = logging.getLogger(__name__)

VERSIONS = ("reimagined", "original")
"""What a deck can play."""
NEUTRAL_PACK = "focus"
"""The pack whose lead patch (a plain electric piano) plays the original."""
SHORTEST_NOTE = 1 / 16
"""Beats: a zero-length note of the original still sounds this long."""


class LoopingConductor(ScriptedConductor):
    """The plans in order, then again from the first, for ever (``[library] repeat``)."""

    @property
    def finished(self) -> bool:
        """Never: the track repeats."""
        return False

    def next_plan(self, context: Context, style: StylePack, ending: bool = False) -> BarPlan:
        """The next plan, wrapping round after the last."""
        plan = self._plans[self._next % len(self._plans)]
        self._next += 1
        return plan


def neutral_patch(styles: StyleLibrary) -> Patch:
    """A plain keys patch: the neutral pack's lead, centred, dry of delay, never sampled, and never
    brightened by the bars' energy (``brightness`` 0): that energy is the reimagining's plan, not
    the original's, and a fixed brightness keeps the synth's loops as they are (none prepared)."""
    pack = styles.packs.get(NEUTRAL_PACK)
    patch = pack.instruments.get("lead") if pack is not None else None
    if not isinstance(patch, Patch):
        patch = DEFAULT_TRACK_PATCHES["keys"]
    return dataclasses.replace(patch, pan=0.0, delay=0.0, sampled=None, brightness=0.0)


def original_bars(analysis, plans: Sequence[BarPlan]) -> list[Bar]:
    """The track's own pitched notes, bar by bar, on ``plans`` (their tempi, their grid)."""
    bars = analysis.bars
    by_bar: list[list[Note]] = [[] for _ in bars]
    starts = [bar.start for bar in bars]
    for note in analysis.score.pitched:
        b = bisect.bisect_right(starts, note.start + 1e-9) - 1
        if not 0 <= b < len(bars):
            continue
        onset = max(0.0, round(note.start - starts[b], 6))
        length = round(max(note.end - note.start, SHORTEST_NOTE), 6)
        by_bar[b].append(Note(onset, length, min(127, max(0, note.pitch)), max(1, note.velocity), "keys"))
    return [
        Bar(plan, tuple(sorted(notes, key=lambda n: (n.onset, n.pitch))), (), "original")
        for plan, notes in zip(plans, by_bar, strict=True)
    ]


class OriginalVersion:
    """Schedules the original's bars one bar ahead, like the engine, into its own synth."""

    def __init__(self, bars: Sequence[Bar], synth: Synth, repeat: bool) -> None:
        self._bars = list(bars)
        self._synth = synth
        self._repeat = repeat
        self._next = 0
        self._scheduled_until = 0

    def render_block(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of stereo float32."""
        synth = self._synth
        while self._scheduled_until < synth.frame + frames + synth.lookahead_frames:
            if self._next >= len(self._bars) and not self._repeat:
                break
            bar = self._bars[self._next % len(self._bars)]
            self._scheduled_until = synth.schedule(bar, self._scheduled_until)
            self._next += 1
        return synth.render(frames)


def follow_original(plans: Sequence[BarPlan], analysis) -> list[BarPlan]:
    """``plans`` at the original's own tempo, bar by bar (its tempo map at each bar line), so bar b
    of the reimagined version starts where bar b of the audio does (the style's tempo range is
    not applied: a tempo folded by an octave would put the bars out of step with the audio)."""
    score = analysis.score
    out = []
    for plan, bar in zip(plans, analysis.bars, strict=True):
        quarters = bar.end - bar.start
        tempo = 60.0 * quarters / (score.seconds_at(bar.end) - score.seconds_at(bar.start))
        out.append(dataclasses.replace(plan, tempo=tempo))
    return out


def bar_starts(plans: Sequence[BarPlan], rate: int) -> list[int]:
    """The frame of every bar line, and the end of the last bar (the synth's own rounding)."""
    starts = [0]
    for plan in plans:
        per_beat = 60.0 * rate / plan.tempo
        starts.append(starts[-1] + round(plan.beats * per_beat))
    return starts


class Deck:
    """Both versions of one track, mixed: ``render_block`` is what the player plays."""

    def __init__(
        self,
        track_id: str,
        reimagined: Engine,
        original: OriginalVersion | AudioOriginal,
        plans: Sequence[BarPlan],
        rate: int,
        crossfade_beats: float,
        repeat: bool,
    ) -> None:
        self.track_id = track_id
        self.reimagined = reimagined
        self.original = original
        self.plans = list(plans)
        self.rate = rate
        self.crossfade_beats = crossfade_beats
        self.repeat = repeat
        self.starts = bar_starts(plans, rate)
        self.frame = 0
        """Frames rendered so far."""
        self.recipe: dict[str, Any] = {}
        """How it was built (the track, its file and digest, style, context, seed, tier...): the
        session log records it so a replay can build the same deck."""
        self.on_version: Callable[[int, str], None] | None = None
        """Called (producer thread) with the deck frame from which a newly asked version is heard."""
        self._wanted = "reimagined"
        self._heard = "reimagined"
        self._mix = 0.0  # 0: all reimagined .. 1: all original (equal-power in between)

    @property
    def version(self) -> str:
        """The version asked for last (the crossfade may still be moving towards it)."""
        return self._wanted

    def select(self, version: str) -> None:
        """Move to ``version`` (any thread): the crossfade starts at the next block."""
        if version not in VERSIONS:
            raise ValueError(f"version must be one of {', '.join(VERSIONS)}, got {version!r}")
        self._wanted = version

    @property
    def end_frame(self) -> int:
        """Where the last bar ends (one pass)."""
        return self.starts[-1]

    @property
    def ended(self) -> bool:
        """True once the last bar is over (never with repeat)."""
        return not self.repeat and self.frame >= self.end_frame

    def where(self, frame: int) -> tuple[int, int, float]:
        """(bar from 1, beat from 1, seconds into the track) of ``frame``."""
        frame = max(0, frame)
        seconds = frame / self.rate
        if self.repeat:
            frame %= self.end_frame
        frame = min(frame, self.end_frame - 1)
        i = bisect.bisect_right(self.starts, frame) - 1
        plan = self.plans[i]
        beat = int((frame - self.starts[i]) * plan.tempo / (60.0 * self.rate))
        return i + 1, min(beat, plan.beats - 1) + 1, seconds

    def crossfade_frames(self, frame: int) -> int:
        """``crossfade_beats`` at the tempo of the bar playing at ``frame``."""
        bar, _, _ = self.where(frame)
        return max(1, round(self.crossfade_beats * 60.0 * self.rate / self.plans[bar - 1].tempo))

    def render_block(self, frames: int) -> np.ndarray:
        """Both versions' next ``frames`` frames, mixed by where the crossfade stands."""
        new = self.reimagined.render_block(frames)
        old = self.original.render_block(frames)
        wanted = self._wanted
        if wanted != self._heard:
            self._heard = wanted
            if self.on_version is not None:
                self.on_version(self.frame, wanted)
        target = 1.0 if wanted == "original" else 0.0
        mix = self._mix
        if mix != target and mix in (0.0, 1.0):
            bar, beat, _ = self.where(self.frame)
            log.info("track %s: %s from bar %d beat %d (track frame %d)",
                     self.track_id, wanted, bar, beat, self.frame)  # fmt: skip
        self.frame += frames
        if mix == target:
            return old if target else new
        step = (1.0 if target > mix else -1.0) / self.crossfade_frames(self.frame - frames)
        ramp = np.clip(mix + step * np.arange(1, frames + 1), 0.0, 1.0)
        self._mix = float(ramp[-1])
        angle = (ramp * (np.pi / 2)).astype(np.float32)[:, None]
        out = (new * np.cos(angle) + old * np.sin(angle)).astype(np.float32)
        arrived = ramp == target  # from here on, exactly the one version's samples
        out[arrived] = (old if target else new)[arrived]
        return out


def build_deck(
    track_id: str,
    analysis,
    styles: StyleLibrary,
    context: Context,
    seed: int,
    *,
    rate: int,
    block: int,
    registry: TierRegistry | None,
    tier: str,
    sampling: tuple[float, float],
    crossfade_beats: float,
    repeat: bool,
    on_bar: Callable[[Bar], None] | None = None,
    audio: DecodedAudio | None = None,
    loudness_lufs: float = REFERENCE_LUFS,
) -> Deck:
    """Plan the track in ``context.style`` and set up both versions (no audio rendered yet).

    ``audio``: the track's decoded audio, which then plays as the original, the reimagined bars on
    its tempo map. Raises UsageError (one line) when the track cannot be planned in that style.
    """
    style = styles.get(context.style)
    plans = plan_track(analysis, style, Reimagining(energy=context.energy))
    if audio is not None:
        plans = follow_original(plans, analysis)
    reimagined = scripted_engine(
        plans, styles, context, seed, rate=rate, block=block, registry=registry, tier=tier,
        sampling=sampling, on_bar=on_bar, loudness_lufs=loudness_lufs,
    )  # fmt: skip
    if repeat:
        reimagined.conductor = LoopingConductor(plans)  # type: ignore[assignment]
    original: OriginalVersion | AudioOriginal
    if audio is not None:
        anchors = [analysis.score.seconds_at(bar.start) for bar in analysis.bars]
        original = AudioOriginal(audio, bar_starts(plans, rate), anchors, repeat)
    else:
        synth = Synth(sample_rate=rate, seed=seed, block_frames=block)
        synth.set_sound({"keys": neutral_patch(styles)}, None, Mix())
        original = OriginalVersion(original_bars(analysis, plans), synth, repeat)
    return Deck(track_id, reimagined, original, plans, rate, crossfade_beats, repeat)
