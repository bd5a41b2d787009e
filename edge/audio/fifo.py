"""FifoSink: raw S16_LE into a named pipe for Snapcast's pipe source."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import time
from pathlib import Path

import numpy as np

from edge.audio.pacing import Pacer
from edge.audio.pcm import as_channels, to_bytes
from edge.audio.sinks import Sink

log = logging.getLogger(__name__)


class FifoSink(Sink):
    """Writes interleaved S16_LE (Snapcast's default 48000:16:2) into a named pipe.

    The pipe is created when missing. It is opened non-blocking, so with no
    reader attached the sink drops audio and retries every ``retry_s`` seconds
    instead of blocking; a reader that stops reading makes blocks drop, not
    the player stall. Writes are paced to wall-clock, since a pipe would
    otherwise take audio far faster than real time.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int = 48000,
        channels: int = 2,
        period_frames: int = 1024,
        retry_s: float = 0.5,
    ) -> None:
        self.path = Path(path).absolute()
        """Absolute path of the pipe."""
        super().__init__(rate, channels, period_frames, f"FIFO {self.path} (Snapcast {rate}:16:{channels})")
        self.format = "S16_LE"
        self.retry_s = retry_s
        self.frames_written = 0
        """Frames a reader received (whole blocks only)."""
        self.dropped_blocks = 0
        """Blocks dropped because nobody was reading or the reader was behind."""
        self._fd: int | None = None
        self._pending = b""  # tail of a partial write, sent before anything new
        self._next_try = 0.0
        self._opened = False
        self._broken: str | None = None
        self._told_no_reader = False
        self._pacer = Pacer(self.rate, lead_frames=self.period_frames)

    def open(self) -> None:
        """Create the pipe if needed and try to attach to a reader."""
        if self._opened:
            return
        self._opened = True
        self._pacer.reset()
        try:
            if not self.path.exists():
                os.mkfifo(self.path, 0o660)
            elif not stat.S_ISFIFO(self.path.stat().st_mode):
                self._broken = "exists and is not a named pipe"
        except OSError as exc:
            self._broken = exc.strerror or str(exc)
        if self._broken:
            log.error("cannot use %s: %s; dropping audio", self.path, self._broken)
            return
        self._connect()

    def _connect(self) -> None:
        try:
            # O_NONBLOCK: open fails with ENXIO instead of waiting for a reader.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            self._next_try = time.monotonic() + self.retry_s
            if exc.errno != errno.ENXIO:
                log.error("cannot open %s: %s; will retry", self.path, exc.strerror or exc)
            elif not self._told_no_reader:
                log.info("no reader on %s yet (is snapserver running?); dropping audio until one attaches",
                         self.path)
            self._told_no_reader = True
            return
        self._pending = b""
        self._told_no_reader = False
        log.info("reader attached to %s", self.path)

    def _disconnect(self, why: str) -> None:
        assert self._fd is not None
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._fd = None
        self._pending = b""
        self._next_try = time.monotonic() + self.retry_s
        log.info("reader left %s (%s); dropping audio until one attaches", self.path, why)
        self._told_no_reader = True

    def _send(self, data: bytes) -> bool:
        """Write without blocking; returns False when the block had to be dropped."""
        assert self._fd is not None
        if self._pending:
            n = os.write(self._fd, self._pending)
            self._pending = self._pending[n:]
            if self._pending:
                return False  # reader still behind: drop the new block, keep frames aligned
        n = os.write(self._fd, data)
        # Pipes may take part of a write above PIPE_BUF; the rest goes out first next time.
        self._pending = data[n:]
        return True

    def write(self, block: np.ndarray) -> None:
        """Send one block if a reader is attached, else drop it; always paced to wall-clock."""
        if not self._opened:
            self.open()
        frames = len(block)
        if self._fd is None and not self._broken and time.monotonic() >= self._next_try:
            self._connect()
        sent = False
        if self._fd is not None:
            data = to_bytes(as_channels(block, self.channels), "S16_LE")
            try:
                sent = self._send(data)
            except BlockingIOError:
                sent = False
            except OSError as exc:  # EPIPE: the reader closed its end
                self._disconnect(exc.strerror or str(exc))
        if sent:
            self.frames_written += frames
        else:
            self.dropped_blocks += 1
        self._pacer.pace(frames)

    def close(self) -> None:
        """Detach from the pipe (the pipe itself stays for the next run)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        self._pending = b""
        self._opened = False
