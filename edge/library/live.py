"""Reimagine live in the daemon: the library, the loader thread and the stage, wired to LiveState.

A ``{"track": id}`` command (MQTT, Home Assistant) changes ``LiveState``; this object hears it and
hands the id to its loader thread, which plans the track and sets up both versions (no audio
rendered) off the audio path, then gives the deck to the stage, which fades it in at its next
block. ``{"version": ...}`` and the GPIO button reach the deck at once (a crossfade of at most
one beat). A track that cannot load is one log line and one ``/error``; the music goes on.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from edge.config import LibraryConfig
from edge.context.context import NOTE_NAMES
from edge.context.control import LiveState
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.library.deck import Deck, build_deck
from edge.library.scan import Library, scan
from edge.library.stage import Stage
from edge.music.events import Bar
from edge.music.style import StyleLibrary
from edge.state import state_path

log = logging.getLogger(__name__)

_STOP = object()


class LiveTracks:
    """The library as the daemon plays it; ``stage.render_block`` is what the player renders."""

    def __init__(
        self,
        config: LibraryConfig,
        state: LiveState,
        styles: Callable[[], StyleLibrary],
        engine: Engine,
        registry: TierRegistry | None,
        *,
        rate: int,
        block: int,
        sampling: tuple[float, float],
    ) -> None:
        self.config = config
        self.folder = state_path("library", config.dir)
        self.state = state
        self._styles = styles
        self.engine = engine
        self.registry = registry
        self.rate, self.block, self.sampling = rate, block, sampling
        if config.style != "current":
            styles().get(config.style)  # a pack that is not installed: StyleError, before any sound
        self.library = Library(self.folder)
        self.stage = Stage(
            engine.render_block, rate, on_track_end=self._ended, on_engine_idle=lambda: engine.synth.rest()
        )
        self.on_error: Callable[[str], None] | None = None
        """Called with a one-line reason when a chosen track cannot be loaded (MQTT's /error)."""
        self.on_tracks: Callable[[tuple[str, ...]], None] | None = None
        """Called with the library's ids after each scan (Home Assistant's track select)."""
        self._requests: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._load_loop, name="edge-library-loader", daemon=True)

    def rescan(self) -> Library:
        """Scan the folder again (start, SIGHUP); a track playing plays on."""
        styles = self._styles()
        self.library = scan(self.folder, styles.get(styles.names[0]), self.library)
        self.state.set_tracks(self.library.ids)
        if self.on_tracks is not None:
            self.on_tracks(self.library.ids)
        return self.library

    def start(self) -> None:
        """Listen to the state and start the loader thread."""
        self.state.subscribe(self._on_state)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loader thread."""
        if self._thread.is_alive():
            self._requests.put(_STOP)
            self._thread.join(5)

    def tick(self, buffered_frames: int) -> None:
        """Where the track is, as heard (``buffered_frames``: rendered, not yet at the sink)."""
        deck = self.stage.deck
        if deck is None:
            return
        bar, beat, seconds = deck.where(deck.frame - buffered_frames)
        self.state.update_telemetry(track_position=f"{bar}.{beat}", track_seconds=round(seconds, 2))

    # -- listeners ----------------------------------------------------------------

    def _on_state(self, changed: set[str]) -> None:
        if not changed & {"track", "version"}:
            return
        snap = self.state.snapshot()
        if "track" in changed:
            if snap.track is None:
                self.stage.back_to_generation()
            else:
                self._requests.put(snap.track)
                return
        deck = self.stage.deck
        if "version" in changed and deck is not None and deck.track_id == snap.track:
            deck.select(snap.version)

    def _ended(self, track_id: str) -> None:
        log.info("track %s ended: back to endless generation", track_id)
        self.state.track_finished(track_id)

    def _on_bar(self, bar: Bar) -> None:
        plan = bar.plan
        self.state.update_telemetry(tempo=round(plan.tempo, 1), key=NOTE_NAMES[plan.key], mode=plan.mode,
                                    section=plan.section, energy_now=float(plan.energy))  # fmt: skip

    # -- the loader thread ------------------------------------------------------------

    def _load_loop(self) -> None:
        while True:
            wanted = self._requests.get()
            while not self._requests.empty():  # only the last choice counts
                wanted = self._requests.get()
            if wanted is _STOP:
                return
            try:
                self._load(wanted)
            except Exception as exc:  # one line, one /error, and the music goes on
                reason = f"track {wanted!r} cannot be played: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.error("%s (%s)", reason, type(exc).__name__)
                self.state.track_finished(wanted)
                if self.on_error is not None:
                    self.on_error(reason)

    def _load(self, track_id: str) -> None:
        track = self.library.tracks.get(track_id)
        if track is None:
            raise LookupError("it left the library with the last rescan")
        snap = self.state.snapshot()
        if snap.track != track_id:
            return  # chosen and replaced before we got to it
        deck = self.deck_for(track_id, snap.context, snap.seed, self.engine.tier)
        now = self.state.snapshot()
        if now.track != track_id:
            return  # "none" or another track arrived while this one was being set up
        deck.select(now.version)
        self.stage.play(deck)
        plan = deck.plans[0]
        log.info("track %s: reimagined as %s, %d bars at %.0f BPM, seed %d, tier %s, energy %.3f",
                 track_id, plan.style, len(deck.plans), plan.tempo, snap.seed, self.engine.tier,
                 snap.context.energy)  # fmt: skip

    def deck_for(self, track_id: str, context: Any, seed: int, tier: str) -> Deck:
        """The deck of one track in the configured style (or ``context``'s), not yet playing."""
        styles = self._styles()
        style = context.style if self.config.style == "current" else self.config.style
        context = dataclasses.replace(context, style=style)
        return build_deck(
            track_id, self.library.tracks[track_id].analysis, styles, context,
            seed, rate=self.rate, block=self.block, registry=self.registry, tier=tier, sampling=self.sampling,
            crossfade_beats=self.config.crossfade_beats, repeat=self.config.repeat, on_bar=self._on_bar,
        )  # fmt: skip
