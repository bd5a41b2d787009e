"""What the player plays: the endless engine, or a library track's deck, with fades between.

The player's producer thread calls ``render_block``; other threads only hand over a deck to play
(``play``), ask for the engine back (``back_to_generation``), under a lock held for an assignment.
A change waits until the fade in progress is over, then the old source fades out and the new one
in, equal-power, both rendered meanwhile. The engine is not rendered while a track plays, so it
resumes exactly where it stopped. When a deck ends, its tail rings out over ``TAIL_SECONDS``
while the engine fades back in, and ``on_track_end(track_id)`` is called (producer thread).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import numpy as np

from edge.library.deck import Deck
from edge.reimagine.render import TAIL_SECONDS

log = logging.getLogger(__name__)

_KEEP = object()  # no change pending


class Stage:
    """The engine or a deck, faded; counts the frames it produced (the output's frame numbers)."""

    def __init__(
        self,
        engine_render: Callable[[int], np.ndarray],
        rate: int,
        on_track_end: Callable[[str], None] | None = None,
        on_engine_idle: Callable[[], None] | None = None,
    ) -> None:
        self._engine = engine_render
        self.rate = rate
        self.on_track_end = on_track_end
        self.on_engine_idle = on_engine_idle
        """Called (producer thread) once a track has fully replaced the engine: its caches can go."""
        self.on_switch: Callable[[int, Deck | None, bool], None] | None = None
        """Called (producer thread) with the output frame from which a deck (or, None, the engine)
        fades in, and whether it is because the deck ended; the session log records it."""
        self._lock = threading.Lock()
        self._pending: object = _KEEP
        self._deck: Deck | None = None
        self._leaving: Callable[[int], np.ndarray] | None = None
        self._fade_at = 0
        self._fade_frames = 1
        self.produced = 0
        """Frames handed to the player so far."""

    @property
    def deck(self) -> Deck | None:
        """The track playing (or fading in), None while the engine plays."""
        return self._deck

    def play(self, deck: Deck) -> None:
        """Fade ``deck`` in (any thread), replacing the engine or the track playing."""
        with self._lock:
            self._pending = deck

    def back_to_generation(self) -> None:
        """Fade the track out and the engine back in (any thread); nothing if no track plays."""
        with self._lock:
            self._pending = None

    def render_block(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of stereo float32 (the player's producer thread)."""
        if self._leaving is None:
            with self._lock:
                pending, self._pending = self._pending, _KEEP
            if pending is not _KEEP and pending is not self._deck:
                self._switch(pending)  # type: ignore[arg-type]
        deck = self._deck
        if deck is not None and deck.ended and self._leaving is None:
            self._switch(None, round(TAIL_SECONDS * self.rate), ended=True)
            if self.on_track_end is not None:
                self.on_track_end(deck.track_id)
        deck = self._deck
        block = deck.render_block(frames) if deck is not None else self._engine(frames)
        if self._leaving is not None:
            block = self._crossfade(block, self._leaving(frames), frames)
        self.produced += frames
        return block

    def _engine_source(self, frames: int) -> np.ndarray:
        return self._engine(frames)

    def _switch(self, deck: Deck | None, fade: int | None = None, ended: bool = False) -> None:
        if self.on_switch is not None:
            self.on_switch(self.produced, deck, ended)
        old = self._deck
        self._leaving = old.render_block if old is not None else self._engine_source
        self._deck = deck
        if fade is None:
            fade = (deck or old).crossfade_frames(0 if deck is not None else old.frame)  # type: ignore[union-attr]
        self._fade_at, self._fade_frames = 0, max(1, fade)
        if deck is not None:
            log.info("track %s from output frame %d", deck.track_id, self.produced)
        else:
            log.info("back to endless generation from output frame %d", self.produced)

    def _crossfade(self, entering: np.ndarray, leaving: np.ndarray, frames: int) -> np.ndarray:
        at = self._fade_at + np.arange(1, frames + 1)
        share = np.minimum(at / self._fade_frames, 1.0)
        self._fade_at += frames
        if self._fade_at >= self._fade_frames:
            if self._leaving == self._engine_source and self.on_engine_idle is not None:
                self.on_engine_idle()
            self._leaving = None
        angle = (share * (np.pi / 2)).astype(np.float32)[:, None]
        out = (entering * np.sin(angle) + leaving * np.cos(angle)).astype(np.float32)
        arrived = share >= 1.0  # from here on, exactly the entering source's samples
        out[arrived] = entering[arrived]
        return out
