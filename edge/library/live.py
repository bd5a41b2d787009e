"""Reimagine live in the daemon: the library, the loader thread and the stage, wired to LiveState.

A ``{"track": id}`` command (MQTT, Home Assistant) changes ``LiveState``; this object hears it and
hands the id to its loader thread, which plans the track and sets up both versions (no audio
rendered) off the audio path, then gives the deck to the stage, which fades it in at its next
block. ``{"version": ...}`` and the GPIO button reach the deck at once (a crossfade of at most
one beat). A track that cannot load is one log line and one ``/error``; the music goes on.

The same thread analyses the library's new audio files (``Library.pending``) one at a time
whenever no track waits to load, caches each analysis by sha256, and offers the track (the ids
go to ``LiveState`` and Home Assistant) once it is ready. An audio track's decoded samples are
spooled once to a nameless file in the analysis cache's folder (a second deck of the same file
shares them; ``original_audio.spool``), which goes when no deck plays it.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from edge.config import LibraryConfig
from edge.context.context import NOTE_NAMES
from edge.context.control import LiveState
from edge.engine import Engine
from edge.generator.registry import TierRegistry
from edge.library.cache import AnalysisCache
from edge.library.deck import Deck, build_deck
from edge.library.original_audio import DecodedAudio, decode_original
from edge.library.scan import AUDIO_KIND, Library, analyse_pending, scan
from edge.library.stage import Stage
from edge.music.events import Bar
from edge.music.style import StyleLibrary
from edge.render.master import REFERENCE_LUFS
from edge.state import state_path

log = logging.getLogger(__name__)

_STOP = object()
_ANALYSE = object()  # wakes the loader to analyse the pending audio files


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
        loudness_lufs: float = REFERENCE_LUFS,
    ) -> None:
        self.config = config
        self.folder = state_path("library", config.dir)
        self.cache = AnalysisCache(state_path("library-cache", config.cache_dir))
        self.loudness_lufs = loudness_lufs
        self.state = state
        self._styles = styles
        self.engine = engine
        self.registry = registry
        self.rate, self.block, self.sampling = rate, block, sampling
        if config.style != "current":
            styles().get(config.style)  # a pack that is not installed: StyleError, before any sound
        self.library = Library(self.folder)
        self._library_lock = threading.Lock()  # the loader thread and rescan both replace the library
        self.stage = Stage(
            engine.render_block, rate, on_track_end=self._ended, on_engine_idle=lambda: engine.synth.rest()
        )
        self.stage.on_switch = self._switched
        self.session_log: Any = None
        """The session recorder (``track``, ``version``), set by the daemon when it records."""
        self._decoded: weakref.WeakValueDictionary[str, DecodedAudio] = weakref.WeakValueDictionary()
        self.on_error: Callable[[str], None] | None = None
        """Called with a one-line reason when a chosen track cannot be loaded (MQTT's /error)."""
        self.on_tracks: Callable[[tuple[str, ...]], None] | None = None
        """Called with the library's ids after each scan (Home Assistant's track select)."""
        self._requests: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._load_loop, name="edge-library-loader", daemon=True)

    def rescan(self) -> Library:
        """Scan the folder again (start, SIGHUP); a track playing plays on. New audio files are
        analysed by the loader thread afterwards (offered when ready)."""
        styles = self._styles()
        library = scan(self.folder, styles.get(styles.names[0]), self.library, cache=self.cache,
                       max_seconds=self.config.max_audio_seconds, analyse_audio=False)  # fmt: skip
        with self._library_lock:
            self.library = library
        self._publish(library)
        if library.pending:
            self._requests.put(_ANALYSE)
        return library

    def _publish(self, library: Library) -> None:
        self.state.set_tracks(library.ids)
        if self.on_tracks is not None:
            self.on_tracks(library.ids)

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
        if deck is None or deck.track_id != self.state.snapshot().track:
            return  # no track, or the one chosen is still loading: its position is not the last one's
        bar, beat, seconds = deck.where(deck.frame - buffered_frames)
        self.state.update_telemetry(track_position=f"{bar}.{beat}", track_seconds=round(seconds, 2))

    # -- listeners ----------------------------------------------------------------

    def _on_state(self, changed: set[str]) -> None:
        if not changed & {"track", "version"}:
            return
        snap = self.state.snapshot()
        if "track" in changed:
            # The last track's position is not the new one's: none until its deck plays.
            self.state.update_telemetry(track_position=None, track_seconds=None)
            if snap.track is None:
                self.stage.back_to_generation()
            else:
                self._requests.put(snap.track)
                return
        deck = self.stage.deck
        if "version" in changed and deck is not None and deck.track_id == snap.track:
            deck.select(snap.version)

    def _switched(self, frame: int, deck: Deck | None, ended: bool) -> None:
        """The stage took a deck (or went back to generation) from output ``frame`` (producer thread)."""
        if self.session_log is not None:
            self.session_log.track(frame, deck.recipe if deck is not None else None, ended)

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
            if self.library.pending and self._requests.empty():
                try:
                    self._analyse_next()
                except Exception as exc:  # never the loader thread's end: drop the file from the queue
                    log.error("library: analysis failed: %s (%s)", exc, type(exc).__name__)
                    with self._library_lock:
                        self.library = dataclasses.replace(self.library, pending=self.library.pending[1:])
                continue
            wanted: Any = None
            while wanted is None or not self._requests.empty():  # only the last choice counts
                request = self._requests.get()
                if request is _STOP:
                    return
                if request is not _ANALYSE:
                    wanted = request
                elif wanted is None and self._requests.empty():
                    break
            if wanted is None:
                continue
            try:
                self._load(wanted)
            except Exception as exc:  # one line, one /error, and the music goes on
                reason = f"track {wanted!r} cannot be played: {str(exc).splitlines()[0] if str(exc) else ''}"
                log.error("%s (%s)", reason, type(exc).__name__)
                self.state.track_finished(wanted)
                if self.on_error is not None:
                    self.on_error(reason)

    def _analyse_next(self) -> None:
        """Analyse the first pending audio file (seconds of CPU, in this thread) and offer it."""
        with self._library_lock:
            library = self.library
        styles = self._styles()
        done = analyse_pending(library, library.pending[0], styles.get(styles.names[0]), self.cache,
                               self.config.max_audio_seconds)  # fmt: skip
        with self._library_lock:
            if self.library is not library:
                return  # rescanned meanwhile: the new scan lists it again (its analysis is cached now)
            self.library = done
        if done.ids != library.ids:
            self._publish(done)
        if not done.pending:  # the last one: let the transcriber's session and its memory go
            from edge import malloc
            from edge.analysis.audio import transcribe

            transcribe.release()
            malloc.give_back()

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
        track = self.library.tracks[track_id]
        audio = self.decoded(track) if track.kind == AUDIO_KIND else None
        deck = build_deck(
            track_id, track.analysis, styles, context,
            seed, rate=self.rate, block=self.block, registry=self.registry, tier=tier, sampling=self.sampling,
            crossfade_beats=self.config.crossfade_beats, repeat=self.config.repeat, on_bar=self._on_bar,
            audio=audio, loudness_lufs=self.loudness_lufs,
        )  # fmt: skip
        deck.recipe = {
            "track": track_id, "file": track.path.name, "sha256": track.sha256, "input": track.kind,
            "style": style, "context": dataclasses.asdict(context), "seed": seed, "tier": tier,
            "sampling": list(self.sampling), "crossfade_beats": self.config.crossfade_beats,
            "repeat": self.config.repeat, "loudness_lufs": self.loudness_lufs,
        }  # fmt: skip
        deck.on_version = lambda frame, version: self._version_heard(track_id, frame, version)
        return deck

    def decoded(self, track: Any) -> DecodedAudio:
        """The track's audio at the daemon's rate, decoded once for every deck that plays it."""
        audio = self._decoded.get(track.sha256)
        if audio is None:
            audio = decode_original(track.path, track.sha256, self.rate, self.loudness_lufs,
                                    self.config.max_audio_seconds, spool_dir=self.cache.folder)  # fmt: skip
            self._decoded[track.sha256] = audio
        return audio

    def _version_heard(self, track_id: str, frame: int, version: str) -> None:
        if self.session_log is not None:
            self.session_log.version(track_id, frame, version)
