"""Play a session log again: the same engine, fed the logged inputs at the logged bars.

The engine is built with the session's seed, audio settings and sampling; before
each bar it gets the context, tier, synth level and reseed the daemon's engine
consumed for that bar. The sink's gain (start volume, volume changes, pause,
the fades) is applied the way the player applied it, block by block from the
logged ``gain`` records, and pause silence is written where the sink wrote it,
so the replay is, sample for sample, what the daemon handed to its sink. A session that
played library tracks renders through a stage like the daemon's, which takes each track's
deck at the logged frame (``tracks.py``); bars count the endless engine's bars, placed where
they were heard. The replay notes which source the stage played from which frame, and where the
sink held pause silence, so that ``heard.py`` can write what was heard as MIDI.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edge.audio.gain import Ramp, apply_gain
from edge.audio.pcm import as_channels
from edge.context.context import Context
from edge.engine import Engine
from edge.exits import UsageError
from edge.library.cache import AnalysisCache
from edge.library.stage import Stage
from edge.music.events import Bar
from edge.music.style import StyleLibrary
from edge.session.format import style_hashes
from edge.session.read import Session
from edge.session.tracks import TrackDecks


class ReplayError(UsageError):
    """This installation cannot replay the log (a model or style pack changed or is missing)."""


def check_fingerprints(session: Session, styles: StyleLibrary, registry: Any) -> None:
    """Refuse, naming it, a style pack or model that played and is not the same here."""
    here = style_hashes(styles)
    artists = {k.partition("@")[2]: (k, v) for k, v in session.header["models"].items() if "@" in k}
    for name in session.styles_used():
        if name in artists and name in styles.packs:  # the pack's own model, named before its pack
            check_artist_model(session, styles.packs[name], *artists[name], registry)
        if name not in here:
            raise ReplayError(f"{session.path}: style pack {name!r} played in the session "
                              f"and is not installed here")  # fmt: skip
        for logged in session.style_hashes(name) or ["(none recorded)"]:
            if logged != here[name]:
                raise ReplayError(f"{session.path}: style pack {name!r} changed since the session "
                                  f"(sha256 {logged[:12]}... then, {here[name][:12]}... now)")  # fmt: skip
    for tier in session.tiers_used():
        logged = session.header["models"].get(tier)
        entry = registry.entries.get(tier)
        if entry is None:
            why = registry.disabled.get(tier, "not in the models' manifest")
            raise ReplayError(f"{session.path}: model tier {tier} played in the session "
                              f"and is not usable here: {why}")  # fmt: skip
        if logged != entry.sha256:
            raise ReplayError(f"{session.path}: model tier {tier} changed since the session ({entry.path}: "
                              f"sha256 {str(logged)[:12]}... then, {entry.sha256[:12]}... now)")


def check_artist_model(session: Session, pack: Any, source: str, logged: str, registry: Any) -> None:
    """Refuse when the artist model pack ``pack`` held in the session (``source``, ``S@<pack>``,
    sha256 ``logged``) is not the one it holds here."""
    from edge.packs.models import check

    entry, problem = check(pack)
    if entry is None:
        raise ReplayError(f"{session.path}: the artist model of pack {pack.name!r} was in the session "
                          f"and cannot play here: {problem or 'it is gone'}")  # fmt: skip
    if entry.sha256 != logged or entry.source != source:
        then, now = logged[:12], entry.sha256[:12]
        raise ReplayError(f"{session.path}: the artist model of pack {pack.name!r} changed since the "
                          f"session ({entry.path}: sha256 {then}... then, {now}... now)")  # fmt: skip


class Replayer:
    """The session's engine and sink gain, run again."""

    def __init__(
        self, session: Session, styles: StyleLibrary, registry: Any, library: Path | None = None,
        cache: AnalysisCache | None = None,
    ) -> None:  # fmt: skip
        """``library``: the folder of the tracks the session played (checked by ``check_tracks``);
        ``cache``: the audio analyses the daemon kept."""
        header = session.header
        self.session = session
        self.rate = int(header["rate"])
        self.block_frames = int(header["block_frames"])
        self.channels = int(header["channels"])
        self._context = Context(**header["context"])
        self._tier = str(header["tier"])
        self._level = int(header["synth_level"])
        self._start = 0
        self.bars: list[Bar] = []
        """Every bar planned so far, by index."""
        self.bar_frames: list[tuple[int, int]] = []
        """Engine frames (start, end) of each bar planned so far."""
        self.position = 0
        """Engine frames played so far."""
        self.engine = Engine(
            styles, lambda: self._context, session.seed, sample_rate=self.rate,
            block_frames=self.block_frames, on_bar=self._planned, registry=registry, tier="0",
            sampling=tuple(header["sampling"]), loudness_lufs=float(header["loudness_lufs"]),
        )
        self.engine.before_bar = self._inputs
        self.stage = Stage(self._engine_block, self.rate)
        self.switches: list[tuple[int, Any]] = [(0, None)]
        """(output frame, the deck or, None, the engine) from which each faded in."""
        self.stage.on_switch = lambda frame, deck, _ended: self.switches.append((frame, deck))
        self.pauses: list[tuple[int, int]] = []
        """(output frame, frames of pause silence the sink wrote before it), in order."""
        self._decks = None
        if session.decks:
            self._decks = TrackDecks(session, styles, registry, library or Path("."),
                                     cache or AnalysisCache(Path(".")), self.stage)  # fmt: skip
        self._engine_frames = 0  # engine frames rendered so far
        self._runs: list[tuple[int, int]] = [(0, 0)]  # (engine frame, output - engine frame) from there

    def _engine_block(self, frames: int) -> np.ndarray:
        """The engine's next block, noting which output frame its first frame is."""
        offset = self.stage.produced - self._engine_frames
        if offset != self._runs[-1][1]:
            self._runs.append((self._engine_frames, offset))
        self._engine_frames += frames
        return self.engine.render_block(frames)

    def output_frame(self, engine_frame: float) -> float:
        """Where engine frame ``engine_frame`` was (or, not rendered yet, would next be) heard."""
        if engine_frame >= self._engine_frames:
            return engine_frame - self._engine_frames + self.stage.produced
        starts = [start for start, _ in self._runs]
        return engine_frame + self._runs[bisect.bisect_right(starts, engine_frame) - 1][1]

    def _inputs(self, index: int) -> None:
        """Give the engine what the daemon's engine consumed for bar ``index``."""
        record = self.session.bars.get(index)
        if record is not None:
            if "seed" in record:
                self.engine.reseed(record["seed"])
            if "context" in record:
                self._context = dataclasses.replace(self._context, **record["context"])
            self._tier = record.get("tier", self._tier)
            self._level = record.get("synth_level", self._level)
        self.engine.pending_tier = self._tier
        self.engine.pending_synth_level = self._level
        self._start = self.engine.scheduled_until

    def _planned(self, bar: Bar) -> None:
        if self.engine.tier != self._tier:
            raise ReplayError(f"{self.session.path}: bar {len(self.bars)} needs tier {self._tier}, "
                              f"which did not load here (tier {self.engine.tier} would play)")  # fmt: skip
        self.bars.append(bar)
        self.bar_frames.append((self._start, self.engine.scheduled_until))

    def blocks(self) -> Iterator[tuple[int, np.ndarray, bool]]:
        """(engine frame, block, silent) for every block the sink wrote, as the player made it."""
        header = self.session.header
        fade_frames = max(1, round(float(header["fade_ms"]) * self.rate / 1000.0))
        volume = Ramp(float(header["volume"]), fade_frames)
        fade = Ramp(0.0, fade_frames)  # playback fades in, as Player starts it
        silence = np.zeros((self.block_frames, self.channels), dtype=np.float32)
        gains = self.session.gains
        next_gain = 0
        position = 0
        for n in range(self.session.blocks):
            while next_gain < len(gains) and gains[next_gain][0] <= n:
                _, level, target = gains[next_gain]
                volume.set_target(level)
                fade.set_target(target)
                next_gain += 1
            if fade.settled and fade.value == 0.0 and fade.target == 0.0:
                if self.pauses and self.pauses[-1][0] == position:
                    self.pauses[-1] = (position, self.pauses[-1][1] + self.block_frames)
                else:
                    self.pauses.append((position, self.block_frames))
                yield position, silence, True  # paused: the sink held with silence
                continue
            if self._decks is not None:
                self._decks.before_block(position)
            out = np.asarray(self.stage.render_block(self.block_frames), dtype=np.float32)
            block = as_channels(out, self.channels)
            gain = volume.envelope(self.block_frames)
            envelope = fade.envelope(self.block_frames)
            yield position, apply_gain(block, gain * envelope), False
            position += self.block_frames
            self.position = position

    def segment(self, first: int | None, last: int | None) -> Iterator[tuple[int, np.ndarray]]:
        """(output frame of the full replay, audio) of bars ``first``..``last`` (None: from the start,
        to the end). Everything before is rendered too, silently: the engine's state depends on it.
        Pause silence belongs to the bar it interrupted."""
        heard = 0
        for position, block, silent in self.blocks():
            low = self._bar_start(first) if first is not None else 0
            high = self._bar_end(last) if last is not None else math.inf
            if position >= high:
                return
            if silent:
                if position >= low:
                    yield heard, block
            else:
                begin = max(low, position) - position
                end = min(high, position + len(block)) - position
                if begin < end:
                    yield heard + begin, block[begin:end]
            heard += len(block)

    def _bar_start(self, index: int) -> float:
        return self.output_frame(self.bar_frames[index][0]) if index < len(self.bar_frames) else math.inf

    def _bar_end(self, index: int) -> float:
        return self.output_frame(self.bar_frames[index][1]) if index < len(self.bar_frames) else math.inf

    @property
    def decks_played(self) -> dict[int, Any]:
        """What each deck played (``tracks.PlayedDeck`` by ``id(deck)``); empty without tracks."""
        return self._decks.played if self._decks is not None else {}

    def heard_bars(self, first: int, last: int) -> list[Bar]:
        """Bars ``first``..``last`` that the replay reached (a bar planned ahead and never heard is not)."""
        return [bar for (start, _), bar in zip(self.bar_frames, self.bars, strict=True)
                if start < self._engine_frames][first : last + 1]  # fmt: skip
