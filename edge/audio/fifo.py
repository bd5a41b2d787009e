"""FifoSink: raw S16_LE into a named pipe for Snapcast's pipe source.

Why the pipe is opened read-write: snapserver (0.26) opens its pipe with
O_RDONLY|O_NONBLOCK, reads at once, and treats "no writer" as end of file:
it closes the pipe and reopens it 100 ms later, open only for microseconds
each time. A writer that waits for a reader (O_WRONLY|O_NONBLOCK fails with
ENXIO until one is there) therefore almost never gets in. Holding the pipe
O_RDWR makes this process a writer and a reader at once: the open never
fails, and snapserver always finds a writer, whichever of the two starts
first and however often snapserver restarts.

The price is that nobody tells us when the reader goes away: writes keep
succeeding until the pipe buffer is full. So the sink watches the pipe's fill
level instead. A reader is "there" while the level keeps going down between
writes. The writer stays ``lead_s`` ahead of the clock, so a reader pacing
itself in real time (snapserver reads 20 ms every 20 ms and pads whatever is
missing with silence) always finds audio waiting. The pipe never holds more
than ``backlog_s``: when a new block would pass that, the oldest audio is read
out and dropped (counted in ``dropped_blocks``) until only ``lead_s`` is left.
A returning reader thus hears recent audio, never a minute-old fragment, and
the daemon never blocks.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import select
import stat
import struct
import termios
import time
from pathlib import Path

import numpy as np

from edge.audio.pacing import Pacer
from edge.audio.pcm import as_channels, to_bytes
from edge.audio.sinks import Sink

log = logging.getLogger(__name__)

_STALL_S = 0.5  # nothing read for this long while audio waits: the reader has gone


class FifoSink(Sink):
    """Writes interleaved S16_LE (Snapcast's default 48000:16:2) into a named pipe.

    The pipe is created when missing (mode 0644, so a snapserver running as
    another user can read it) and held open read-write and non-blocking. Every
    ``retry_s`` seconds the sink checks that the path is still the pipe it
    holds, and reopens it if it was removed or replaced. Writes are paced to
    wall-clock, since a pipe would otherwise take audio far faster than real
    time. One log line says when a reader starts taking audio and one when it
    stops; never one per block.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int = 48000,
        channels: int = 2,
        period_frames: int = 1024,
        retry_s: float = 0.5,
        backlog_s: float = 0.2,
        lead_s: float = 0.05,
    ) -> None:
        self.path = Path(path).absolute()
        """Absolute path of the pipe."""
        super().__init__(rate, channels, period_frames, f"FIFO {self.path} (Snapcast {rate}:16:{channels})")
        self.format = "S16_LE"
        self.retry_s = retry_s
        self.backlog_s = backlog_s
        self.frames_written = 0
        """Frames put into the pipe (whole blocks only)."""
        self.dropped_blocks = 0
        """Blocks' worth of audio dropped: the pipe could not be used, or nobody read it in time."""
        self.flowing = False
        """Whether a reader is taking audio (it read something within the last 0.5 s)."""
        self._said_stalled = False  # the "nothing has read" line was logged for this stall
        self._frame_bytes = 2 * self.channels
        self._block_bytes = self.period_frames * self._frame_bytes
        self._lead_blocks = max(1, round(lead_s * self.rate / self.period_frames))
        # Pieces of at most PIPE_BUF bytes are written atomically: all of a piece or nothing,
        # so the pipe only ever holds whole frames, whatever a reader does meanwhile.
        self._piece = max(self._frame_bytes, select.PIPE_BUF // self._frame_bytes * self._frame_bytes)
        self._fd: int | None = None
        self._ident: tuple[int, int] | None = None  # (st_dev, st_ino) of the pipe held open
        self._max_bytes = 0  # backlog bound in bytes, set on open from the pipe's capacity
        self._keep_bytes = 0  # what is left when the bound is hit: the newest lead_s
        self._queued_after = 0  # bytes in the pipe right after our last write
        self._last_read = 0.0  # monotonic time a reader last took audio (or the pipe was opened)
        self._next_check = 0.0
        self._problem: str | None = None  # the last open problem logged, so it is logged once
        self._opened = False
        self._pacer = Pacer(self.rate, lead_frames=self._lead_blocks * self.period_frames)

    def open(self) -> None:
        """Create the pipe if needed and hold it open; calling it on an open sink does nothing."""
        if self._opened:
            return
        self._opened = True
        self._pacer.reset()
        self._check(time.monotonic())

    # -- the pipe -----------------------------------------------------------------------

    def _check(self, now: float) -> None:
        """(Re)open the pipe unless the path still names the one held open."""
        self._next_check = now + self.retry_s
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if self._fd is not None and st is not None and (st.st_dev, st.st_ino) == self._ident:
            return
        if self._fd is not None:
            log.info("%s was removed or replaced; reopening it", self.path)
            self._release()
        if st is not None and not stat.S_ISFIFO(st.st_mode):
            self._give_up("exists and is not a named pipe")
            return
        try:
            if st is None:
                with contextlib.suppress(FileExistsError):  # snapserver made it meanwhile: fine
                    os.mkfifo(self.path)
                    os.chmod(self.path, 0o644)  # whatever the umask: snapserver must be able to read it
            fd = os.open(self.path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as exc:
            self._give_up(exc.strerror or str(exc))
            return
        st = os.fstat(fd)
        if not stat.S_ISFIFO(st.st_mode):  # swapped for something else between stat and open
            os.close(fd)
            self._give_up("exists and is not a named pipe")
            return
        self._fd, self._ident = fd, (st.st_dev, st.st_ino)
        capacity = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
        # Both bounds in whole blocks: the backlog above the lead, and room left for one more block.
        block = self._block_bytes
        blocks = max(self._lead_blocks + 2, round(self.backlog_s * self.rate / self.period_frames))
        self._max_bytes = max(self._piece, min(blocks, capacity // block - 1) * block)
        self._keep_bytes = max(0, min(self._lead_blocks * block, self._max_bytes - block))
        self._queued_after = self._queued()
        self._last_read = now
        self._problem = None
        log.info("writing to %s; audio flows once snapserver reads it", self.path)

    def _give_up(self, why: str) -> None:
        if why != self._problem:
            log.error("cannot use %s: %s; dropping audio, will retry", self.path, why)
            self._problem = why

    def _release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self._ident = None
        self.flowing = self._said_stalled = False

    def _queued(self) -> int:
        """Bytes waiting in the pipe."""
        assert self._fd is not None
        return struct.unpack("i", fcntl.ioctl(self._fd, termios.FIONREAD, b"\0\0\0\0"))[0]

    def _discard(self, nbytes: int) -> int:
        """Read out and drop the oldest ``nbytes`` (whole frames); returns how many went."""
        assert self._fd is not None
        nbytes = -(-max(0, nbytes) // self._frame_bytes) * self._frame_bytes
        gone = 0
        while gone < nbytes:
            try:
                chunk = os.read(self._fd, min(nbytes - gone, 1 << 16))
            except BlockingIOError:
                break  # a reader took the rest meanwhile
            if not chunk:
                break
            gone += len(chunk)
        return gone

    def _put(self, data: bytes) -> int:
        """Write ``data`` in atomic pieces until done or the pipe is full; returns bytes written."""
        assert self._fd is not None
        done = 0
        while done < len(data):
            try:
                done += os.write(self._fd, data[done : done + self._piece])
            except BlockingIOError:
                break
        return done

    # -- the sink -----------------------------------------------------------------------

    def write(self, block: np.ndarray) -> None:
        """Put one block into the pipe, dropping the oldest audio past the backlog; paced."""
        if not self._opened:
            self.open()
        frames = len(block)
        now = time.monotonic()
        if now >= self._next_check:
            self._check(now)
        sent = False
        if self._fd is not None:
            try:
                sent = self._send(to_bytes(as_channels(block, self.channels), "S16_LE"), now)
            except OSError as exc:  # not expected from a pipe we hold open; never stop the music
                self._give_up(exc.strerror or str(exc))
                self._release()
        if sent:
            self.frames_written += frames
        else:
            self.dropped_blocks += 1
        self._pacer.pace(frames)

    def _send(self, data: bytes, now: float) -> bool:
        queued = self._queued()
        if queued < self._queued_after:  # someone read since our last write
            self._last_read = now
            if not self.flowing:
                self.flowing, self._said_stalled = True, False
                log.info("a reader is taking audio from %s", self.path)
        elif not self._said_stalled and queued and now - self._last_read >= _STALL_S:
            self.flowing, self._said_stalled = False, True
            log.info("no reader on %s for %.1f s (is snapserver running?); keeping only the newest "
                     "%.2f s there", self.path, _STALL_S, self._max_bytes / self._frame_bytes / self.rate)
        if queued + len(data) > self._max_bytes:  # the reader is away or far behind
            gone = self._discard(queued - self._keep_bytes)  # the oldest audio, down to the lead
            queued -= gone
            self.dropped_blocks += -(-gone // self._block_bytes)
        written = self._put(data)
        self._queued_after = queued + written
        return written == len(data)

    def close(self) -> None:
        """Let go of the pipe (the pipe itself stays for the next run); safe to call twice."""
        self._release()
        self._opened = False
