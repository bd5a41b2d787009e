"""What the daemon records: each bar's inputs where they changed, the sink's gain, and the rest.

Threads: the producer calls ``watch``'s callable and ``bar`` (one bar ahead),
the sink thread ``gain``, paho's thread ``command``, the control loop
``governor`` and ``telemetry``. One lock orders them in the file. Nothing here
raises into the music: a log that cannot be written is logged once and ends.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge import __version__
from edge.context.context import Context
from edge.context.control import Command
from edge.session.format import (
    FORMAT,
    FORMAT_VERSION,
    context_changes,
    context_fields,
    model_hashes,
    style_hashes,
)
from edge.session.log import SessionLog
from edge.state import state_path


class SessionRecorder:
    """Records one daemon session into ``[session] dir`` (a ``SessionConfig``)."""

    def __init__(self, config: Any) -> None:
        self._log = SessionLog(state_path("sessions", config.dir), config.max_bytes, config.keep)
        self._telemetry_s = float(config.telemetry_s)
        self._lock = threading.Lock()
        self._consumed: Context | None = None  # the context the engine read last
        self._first: Context | None = None  # the one it started from
        self._state: dict[str, Any] = {}  # the inputs recorded so far, to write only changes
        self._reseed: int | None = None
        self._bars_seen = 0
        self._governed: tuple[str, int] | None = None
        self._styles: dict[str, str] = {}
        self._next_telemetry = 0.0
        self._started = time.monotonic()
        self.blocks_written: Callable[[], int] = lambda: 0
        """How many blocks the sink has written (set by the daemon once the player exists)."""

    @property
    def path(self) -> Path | None:
        """This session's file, once started."""
        return self._log.path

    def watch(self, context: Callable[[], Context]) -> Callable[[], Context]:
        """Wrap the engine's context source so the context each bar consumed is known."""

        def read() -> Context:
            value = context()
            if self._first is None:
                self._first = value
            self._consumed = value
            return value

        return read

    def start(
        self, engine: Any, registry: Any, styles: Any, audio: Any, volume: float, session_id: str
    ) -> Path | None:
        """Create the file and write the header (call after the engine exists, before it plays)."""
        if self._log.start(engine.seed) is None:
            return None
        assert self._first is not None, "the engine reads its first context through watch()"
        first = context_fields(self._first)
        self._state = {"context": first, "tier": engine.tier, "synth_level": engine.synth.level}
        header = {
            "kind": "header",
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "version": __version__,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "session_id": session_id,
            "seed": engine.seed,
            "rate": audio.rate,
            "block_frames": audio.period_frames,
            "channels": audio.channels,
            "sample_format": audio.format,
            "sampling": list(engine.sampling),
            "volume": volume,
            "fade_ms": audio.fade_ms,
            "loudness_lufs": audio.loudness_lufs,
            "models": model_hashes(registry, styles),
            "styles": style_hashes(styles),
            "context": first,
            "tier": engine.tier,
            "synth_level": engine.synth.level,
        }
        self._styles = header["styles"]
        with self._lock:
            self._write(header)
        return self._log.path

    def styles(self, library: Any, bar: int) -> None:
        """A reload changed the style packs: their fingerprints from ``bar`` on, if any changed."""
        hashes = style_hashes(library)
        with self._lock:
            if hashes == self._styles:
                return
            self._styles = hashes
            self._write({"kind": "styles", "bar": bar, "styles": hashes})

    # -- the music's inputs (producer thread) ----------------------------------

    def bar(self, index: int, tier: str, synth_level: int) -> None:
        """Bar ``index`` was just scheduled with the last context read, ``tier`` and ``synth_level``."""
        with self._lock:
            if not self._log.open:
                return
            record: dict[str, Any] = {"kind": "bar", "bar": index}
            if self._reseed is not None:
                record["seed"], self._reseed = self._reseed, None
            if self._consumed is not None:
                now = context_fields(self._consumed)
                changes = context_changes(self._state["context"], now)
                if changes:
                    record["context"] = changes
                    self._state["context"] = now
            for name, value in (("tier", tier), ("synth_level", synth_level)):
                if self._state[name] != value:
                    record[name] = self._state[name] = value
            if len(record) > 2 and not self._write(record):
                return
            self._bars_seen = index + 1

    def reseed(self, seed: int) -> None:
        """The engine was reseeded after the last bar: the next bar's record carries it."""
        with self._lock:
            self._reseed = seed

    # -- library tracks (producer thread) ----------------------------------------

    def track(self, frame: int, recipe: dict[str, Any] | None, ended: bool = False) -> None:
        """From output frame ``frame`` a library track's deck fades in (``recipe``: how it was
        built), or, with None, endless generation comes back (``ended``: the track was over)."""
        record: dict[str, Any] = {"kind": "track", "frame": frame}
        record.update(recipe if recipe is not None else {"track": None, "ended": ended})
        with self._lock:
            self._write(record)

    def version(self, track: str, frame: int, version: str) -> None:
        """The deck of ``track`` heard ``version`` asked for from its own frame ``frame`` on."""
        with self._lock:
            self._write({"kind": "version", "track": track, "frame": frame, "version": version})

    # -- the sink (sink thread) ------------------------------------------------

    def gain(self, block: int, volume: float, fade_target: float) -> None:
        """From sink block ``block`` on, the sink steers towards this volume and fade."""
        with self._lock:
            self._write({"kind": "gain", "block": block, "volume": volume, "fade": fade_target})

    # -- what happened (other threads) -----------------------------------------

    def command(self, command: Command, changed: set[str], bar: int) -> None:
        """An accepted command; ``bar`` is the first bar it can change."""
        value = command.value if _jsonable(command.value) else repr(command.value)
        with self._lock:
            self._write({"kind": "command", "bar": bar, "name": command.name, "value": value,
                         "source": command.source, "changed": sorted(changed)})  # fmt: skip

    def governor(self, decision: Any, bar: int) -> None:
        """The governor's decision, recorded when its tier or synth level differs from the last one."""
        point = (decision.point.tier, decision.point.synth_level)
        with self._lock:
            if point == self._governed:
                return
            self._governed = point
            self._write({
                "kind": "governor", "bar": bar, "tier": point[0], "synth_level": point[1],
                "reason": decision.reason, "temperature_c": _finite(decision.temperature_c, 1),
                "power_w": _finite(decision.power_w, 2),
            })  # fmt: skip

    def telemetry(self, snapshot: Any) -> None:
        """A telemetry line every ``telemetry_s`` seconds (the control loop calls this each tick)."""
        now = time.monotonic()
        if now < self._next_telemetry:
            return
        self._next_telemetry = now + self._telemetry_s
        t = snapshot.telemetry
        record = {
            "kind": "telemetry",
            "t": round(now - self._started, 2),
            "bar": t.get("bar"),
            "tempo": t.get("tempo"),
            "energy": t.get("energy_now"),
            "mood": snapshot.context.mood,
            "style": t.get("style_now", snapshot.context.style),
            "tier": t.get("tier"),
            "synth_level": t.get("synth_level"),
            "temperature_c": t.get("temperature_c"),
            "power_w": t.get("power_w"),
            "playing": snapshot.playing,
            "volume": snapshot.volume,
        }
        with self._lock:
            self._write({k: v for k, v in record.items() if _jsonable(v)})

    def finish(self, bars: int, blocks: int) -> None:
        """The session ended: ``bars`` planned, ``blocks`` written by the sink."""
        with self._lock:
            if self._log.open:
                self._log.finish({"kind": "end", "bars": bars, "blocks": blocks})
            self._log.close()

    def _write(self, record: dict[str, Any]) -> bool:
        """Append under the lock; at the cap, end the log with what a replay can still trust."""
        if self._log.write(record):
            return True
        if self._log.capped and self._log.path is not None:
            self._log.finish({"kind": "end", "bars": self._bars_seen, "blocks": self.blocks_written(),
                              "capped": True})  # fmt: skip
        return False


def _finite(value: Any, digits: int) -> float | None:
    """``value`` rounded, or None when it is not a finite number (JSON has no NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return round(number, digits) if math.isfinite(number) else None


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | str):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False
