"""Player: a producer thread renders ahead, a sink thread applies gain and writes.

The master gain (volume x fade) is applied in the sink thread just before each
write, so volume and pause act within the device buffer, not after the
render-ahead buffer has played out. Values crossing threads live in a small
lock-protected state; no lock is held while rendering or writing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.audio.buffer import BlockBuffer, buffer_capacity
from edge.audio.bursts import BurstLog
from edge.audio.gain import Ramp, apply_gain
from edge.audio.pacing import Pacer
from edge.audio.pcm import as_channels
from edge.audio.sinks import Sink

log = logging.getLogger(__name__)

_POLL_S = 0.05  # how often a waiting sink thread re-reads the shared state
_STOP_GRACE_S = 0.15  # extra time a stop may take beyond the fade before giving up on it


@dataclass(frozen=True)
class PlayerStats:
    """Counters of a Player, read at one moment."""

    blocks_written: int
    """Blocks handed to the sink, music and pause silence alike."""
    frames_written: int
    """Frames handed to the sink."""
    silent_blocks: int
    """Blocks of silence written while paused."""
    underruns: int
    """The sink's underrun count."""
    render_errors: int
    """Blocks whose render raised (or returned nonsense) and became silence."""
    buffered_blocks: int
    """Blocks rendered and waiting for the sink."""


class Player:
    """Plays ``render_block`` through ``sink`` with volume, pause, resume and fades.

    ``render_block(frames)`` returns float32 (frames, 2) stereo; it is mixed
    to mono for a one-channel sink. Gain changes glide linearly over
    ``fade_ms``. ``on_block()``, if given, is called from the sink thread
    after every write (meant for watchdog pings).
    """

    def __init__(
        self,
        sink: Sink,
        render_block: Callable[[int], np.ndarray],
        period_frames: int,
        rate: int,
        buffer_seconds: float,
        fade_ms: float,
        volume: float = 0.7,
        on_block: Callable[[], None] | None = None,
    ) -> None:
        self.sink = sink
        self.render_block = render_block
        self.period_frames = int(period_frames)
        self.rate = int(rate)
        self.fade_ms = float(fade_ms)
        self.on_block = on_block
        self.on_gain: Callable[[int, float, float], None] | None = None
        """Called from the sink thread with (blocks written, volume, fade target) whenever the
        gain it is about to steer towards changes: enough to apply the same gain again (replay)."""
        self._buffer = BlockBuffer(buffer_capacity(buffer_seconds, rate, period_frames))
        fade_frames = max(1, round(self.fade_ms * self.rate / 1000.0))
        self._vol = Ramp(_clamp(volume), fade_frames)
        self._fade = Ramp(0.0, fade_frames)  # starts silent: playback fades in
        self._silence = np.zeros((self.period_frames, sink.channels), dtype=np.float32)
        self._pause_pacer = Pacer(self.rate, lead_frames=self.period_frames)
        self._render_log = BurstLog(log, "render_block failed; playing silence instead")
        self._hook_log = BurstLog(log, "on_block callback failed")
        # Shared state: written by control calls, read by the sink thread.
        self._lock = threading.Lock()
        self._volume = _clamp(volume)
        self._paused = False
        self._stopping = False
        self._fade_on_stop = True
        self._stop_deadline = 0.0
        self._started = False
        self._stopped = False
        # Counters: written by one thread each, read anywhere (ints are atomic to read).
        self._blocks = 0
        self._frames = 0
        self._silent_blocks = 0
        self._render_errors = 0
        self._first_block = threading.Event()
        self._first_block_at: float | None = None
        self._producer = threading.Thread(target=self._produce, name="edge-audio-render", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="edge-audio-sink", daemon=True)

    # -- control (any thread) -----------------------------------------------------

    def start(self) -> None:
        """Open the sink and start both threads; playback fades in."""
        with self._lock:
            if self._stopped:
                raise RuntimeError("a stopped Player cannot be started again; make a new one")
            if self._started:
                return
            self._started = True
        self.sink.open()
        self._producer.start()
        self._writer.start()

    def set_volume(self, volume: float) -> None:
        """Glide the master volume (0..1, linear amplitude) to ``volume`` over fade_ms."""
        with self._lock:
            self._volume = _clamp(volume)

    @property
    def volume(self) -> float:
        """The volume last asked for."""
        with self._lock:
            return self._volume

    def pause(self) -> None:
        """Fade out, then hold: silence keeps the device fed and the music does not advance."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Fade back in from where the music was paused."""
        with self._lock:
            self._paused = False

    @property
    def playing(self) -> bool:
        """True when started, not paused and not stopped."""
        with self._lock:
            return self._started and not self._paused and not self._stopping

    def stop(self, fade: bool = True, timeout: float = 2.0) -> None:
        """Fade out (unless ``fade`` is False), drain and close the sink, join both threads."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._stopping = True
            self._fade_on_stop = fade
            self._stop_deadline = time.monotonic() + self.fade_ms / 1000.0 + _STOP_GRACE_S
            started = self._started
        if not started:
            self.sink.close()
            return
        self._writer.join(timeout)
        self._buffer.close()  # wakes a producer blocked on a full buffer
        self._producer.join(timeout)
        if self._writer.is_alive() or self._producer.is_alive():
            log.warning("audio threads did not stop within %.1f s", timeout)

    def wait_first_block(self, timeout: float | None = None) -> float | None:
        """time.monotonic() when the first block reached the sink, or None on timeout."""
        if not self._first_block.wait(timeout):
            return None
        return self._first_block_at

    @property
    def stats(self) -> PlayerStats:
        """The counters right now."""
        return PlayerStats(
            blocks_written=self._blocks,
            frames_written=self._frames,
            silent_blocks=self._silent_blocks,
            underruns=self.sink.underruns,
            render_errors=self._render_errors,
            buffered_blocks=len(self._buffer),
        )

    # -- producer thread ----------------------------------------------------------

    def _produce(self) -> None:
        while not self._buffer.closed:
            block = self._render_safely()
            if not self._buffer.put(block):
                break

    def _render_safely(self) -> np.ndarray:
        """One block from render_block, or silence if it raised or returned the wrong thing."""
        try:
            out = np.asarray(self.render_block(self.period_frames), dtype=np.float32)
            if out.shape[0] != self.period_frames or out.ndim not in (1, 2):
                raise ValueError(f"render_block returned shape {out.shape}, "
                                 f"expected ({self.period_frames}, 2)")
            block = as_channels(out, self.sink.channels)
        except Exception as exc:  # the music must go on: any bug here becomes one silent block
            self._render_errors += 1
            self._render_log.hit(f"{type(exc).__name__}: {exc}", exc_info=exc)
            return self._silence
        self._render_log.ok()
        return block

    # -- sink thread --------------------------------------------------------------

    def _write_loop(self) -> None:
        try:
            self._run_sink()
        except Exception:  # pragma: no cover - a bug in this module; keep it visible
            log.exception("audio sink thread crashed")
        finally:
            try:
                self.sink.close()
            except Exception:  # pragma: no cover - sinks do not raise, but never hang stop()
                log.exception("closing %s failed", self.sink.description)

    def _run_sink(self) -> None:
        holding = False
        steering: tuple[float, float] | None = None
        while True:
            with self._lock:
                volume, paused = self._volume, self._paused
                stopping, fade_on_stop, deadline = self._stopping, self._fade_on_stop, self._stop_deadline
            if stopping and (not fade_on_stop or time.monotonic() > deadline):
                return
            fade_target = 0.0 if paused or stopping else 1.0
            if (volume, fade_target) != steering:
                steering = (volume, fade_target)
                self._report_gain(volume, fade_target)
            self._vol.set_target(volume)
            self._fade.set_target(fade_target)
            if self._fade.settled and self._fade.value == 0.0 and (paused or stopping):
                if stopping:
                    return  # faded out: stop() closes after the last block is out
                if not holding:
                    holding = True
                    self._pause_pacer.reset()
                self._emit(self._silence, silent=True)
                # A device paces these writes itself; pace them for sinks that do not.
                self._pause_pacer.pace(self.period_frames)
                continue
            holding = False
            block = self._buffer.get(timeout=_POLL_S)
            if block is None:
                continue  # producer behind (or shutting down): look at the state again
            frames = len(block)
            gain = self._vol.envelope(frames)
            fade = self._fade.envelope(frames)
            self._emit(apply_gain(block, gain * fade), silent=False)

    def _report_gain(self, volume: float, fade_target: float) -> None:
        if self.on_gain is None:
            return
        try:
            self.on_gain(self._blocks, volume, fade_target)
        except Exception as exc:
            self._hook_log.hit(f"{type(exc).__name__}: {exc}", exc_info=exc)

    def _emit(self, block: np.ndarray, silent: bool) -> None:
        self.sink.write(block)
        self._blocks += 1
        self._frames += len(block)
        if silent:
            self._silent_blocks += 1
        if not self._first_block.is_set():
            self._first_block_at = time.monotonic()
            self._first_block.set()
        if self.on_block is not None:
            try:
                self.on_block()
            except Exception as exc:
                self._hook_log.hit(f"{type(exc).__name__}: {exc}", exc_info=exc)


def _clamp(volume: float) -> float:
    return min(1.0, max(0.0, float(volume)))
