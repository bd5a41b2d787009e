"""What a running daemon owes for what it played: credits and content credentials.

Each scheduled bar names its style pack and who wrote it (a tier, or a pack's model); the control
loop credits the seconds that reached the sink since its last tick to their contributors, in the
attribution ledger (edge/ledger, batched in its own thread) and in the state's one-line credit, and
the ledger's batches publish today's summary over MQTT. When the daemon stops, a WAV it wrote gets
content credentials naming every pack and tier the session played.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from edge.config import Config
from edge.context.control import LiveState
from edge.ledger.contributors import Attribution, credit_line
from edge.state import state_path

log = logging.getLogger("edge.daemon")


class Accounts:
    """The session's credits: who played, for how long, and the recording's credentials."""

    def __init__(self, config: Config, state: LiveState, styles: Any, registry: Any, seed: int,
                 session_id: str) -> None:  # fmt: skip
        self.config, self.state, self.registry = config, state, registry
        self.seed, self.session_id = seed, session_id
        self.styles = styles
        self.attribution = Attribution(styles, registry)
        """Who a bar credits (style pack, model, its sources)."""
        self.ledger: Any = None
        self.publish: Callable[[dict], None] | None = None
        """Where today's summary goes after each ledger batch (MQTT), if anywhere."""
        self._styles_played: dict[str, None] = {}  # in order of first play (the manifest's)
        self._tiers_played: set[str] = set()
        self._now_playing: tuple[str, str] | None = None
        self._music_mark = 0

    def bar(self, style: str, source: str) -> None:
        """A bar of ``style`` written by ``source`` was scheduled (the producer thread)."""
        self._styles_played.setdefault(style)
        self._tiers_played.add(source.removeprefix("tier"))  # S@pack: a pack's model, by its card
        self._now_playing = (style, source)  # credited by the control loop, off the audio path

    def restyle(self, styles: Any) -> None:
        """The packs changed: an installed pack credits its author from now on."""
        self.styles = styles
        self.attribution = Attribution(styles, self.registry)

    def start_ledger(self) -> None:
        """Open the ledger (``[ledger] enabled``) and start its batching thread."""
        if not self.config.ledger.enabled:
            return
        from edge.ledger.recorder import Recorder

        path = state_path("ledger.db", self.config.ledger.path)
        self.ledger = Recorder(path, self.config.ledger.flush_seconds, on_flush=self._ledger_written)
        self.ledger.start()
        log.info("counting what plays in the ledger %s", path)

    def _ledger_written(self, store: Any) -> None:
        """After each ledger batch (the ledger's thread): today's summary to MQTT."""
        if self.publish is None:
            return
        from edge.ledger.recorder import local_day
        from edge.ledger.report import daily_summary

        self.publish(daily_summary(store, local_day(time.time())))

    def credit(self, music_frames: int) -> None:
        """Credit the music that reached the sink since the last call: ``music_frames`` is every
        frame of music written so far (silence while paused not counted)."""
        seconds = (music_frames - self._music_mark) / self.config.audio.rate
        self._music_mark = music_frames
        playing = self._now_playing
        if playing is None:
            return
        shares = self.attribution(*playing)
        self.state.update_telemetry(ai_generated=True, credits=credit_line(shares))
        if self.ledger is not None:
            self.ledger.played(shares, seconds)

    def stop_ledger(self) -> None:
        """Write the last batch (and publish it while MQTT is still up)."""
        if self.ledger is not None:
            self.ledger.stop()

    def sign_recording(self, sink: Any) -> None:
        """A WAV the session wrote (``audio.sink = "wav"``, or the stand-in for a missing sound
        card) gets its content credentials once it is closed; a failure is one log line."""
        from edge.audio.wav import WavSink

        if not isinstance(sink, WavSink) or not self.config.credentials.enabled or not sink.path.is_file():
            return
        from edge.credentials.sign import sign_render

        path = sink.path
        styles = [self.styles.packs[name] for name in self._styles_played if name in self.styles.packs]
        why = sign_render(
            path, self.config, styles=styles, seed=self.seed, tiers=self._tiers_played,
            registry=self.registry, session=self.session_id,
        )  # fmt: skip
        if why:
            log.warning("%s not signed (it carries LIST/INFO tags only): %s", path, why)
        else:
            log.info("signed %s (content credentials)", path)
