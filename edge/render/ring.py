"""The timeline: a ring of four buses (left, right, reverb send, delay send) that notes are mixed into.

Buses are rows of one (4, frames) float32 array, so adding a note is one
small matrix product per contiguous span: (buses x note channels) @ (note
channels x samples). Frames are absolute sample numbers; the ring holds the
``size`` frames from the playback position on.

The ring is long enough for the slowest pack's longest note (``edge.render.synth.RING_FRAMES``)
but only what lies between the playback position and the last note written needs memory: the
buses are anonymous memory that the kernel hands out page by page as notes are written, and
``consumed`` gives played pages back (``madvise(MADV_DONTNEED)``), so the ring costs the
seconds scheduled ahead, not its whole length (16 MiB). The map is private: a shared anonymous
map (Python's default) is shared memory, whose pages MADV_DONTNEED only unmaps; they stayed the
ring's, out of the RSS's sight (16 MiB per synth after one lap of the ring, in /proc/meminfo's Shmem).
"""

from __future__ import annotations

import mmap

import numpy as np

from edge.render.scratch import work_array

BUSES = 4
LEFT, RIGHT, REVERB, DELAY = range(BUSES)
CUT_FADE = 256
"""Samples of fade where a note has to be cut (scheduled late, or beyond the ring)."""
PIECE = 1 << 15
"""Notes are added in pieces this long: a small scratch stays in cache and costs no memory."""
RELEASE = 1 << 14
"""Played frames are given back to the kernel in spans at least this long (a few calls a second)."""


def _ramp(n: int) -> np.ndarray:
    """(1..n)/n as float32."""
    return (np.arange(1, n + 1, dtype=np.float32) / np.float32(n)).astype(np.float32)


class Timeline:
    """Scheduled audio not yet played, on four buses."""

    def __init__(self, size: int) -> None:
        self.size = size
        # Zero pages, resident once written. Private: Python's default (MAP_SHARED) backs an anonymous
        # map with shared memory, from which MADV_DONTNEED only unmaps pages (they stay the ring's).
        self._memory = mmap.mmap(-1, BUSES * size * 4, flags=mmap.MAP_PRIVATE)
        self._page = mmap.PAGESIZE // 4  # frames per page
        if hasattr(mmap, "MADV_NOHUGEPAGE"):  # 2 MiB pages could not be given back piece by piece
            self._memory.madvise(mmap.MADV_NOHUGEPAGE)
        self.buses = np.frombuffer(self._memory, dtype=np.float32).reshape(BUSES, size)
        #: One past the last frame anything was written to.
        self.written_end = 0
        self._released = 0  # frames before this (a page boundary) were given back
        #: Buses anything was ever written to, from the first (a dry sound never touches the send
        #: buses' pages, not even to clear them).
        self.rows = 2

    def _spans(self, start: int, n: int) -> list[tuple[int, int, int]]:
        """(ring begin, ring end, offset into the data) for the one or two pieces of a span."""
        begin = start % self.size
        if begin + n <= self.size:
            return [(begin, begin + n, 0)]
        first = self.size - begin
        return [(begin, self.size, 0), (0, n - first, first)]

    def add(self, start: int, now: int, data: np.ndarray, gains: np.ndarray) -> None:
        """Mix ``data`` (channels, n) from frame ``start`` through ``gains`` (4, channels).

        Whatever falls before ``now`` (already played: a late caller) or beyond the ring is
        dropped, with a short fade at the cut so it does not click. Buses whose gains are all
        zero are skipped (a dry bass touches two rows, not four).
        """
        n = data.shape[1]
        fade_in = fade_out = 0
        if start < now:
            data = data[:, now - start :]
            n -= now - start
            start = now
            fade_in = min(CUT_FADE, n)
        if n > now + self.size - start:
            n = now + self.size - start
            fade_out = min(CUT_FADE, max(n, 0))
        if n <= 0:
            return
        rows = BUSES
        while rows > 2 and not gains[rows - 1].any():
            rows -= 1
        gains = gains[:rows]
        self.rows = max(self.rows, rows)
        work = work_array("timeline piece", BUSES, PIECE)  # the thread's: every synth's notes use it
        mono = data.shape[0] == 1
        done = 0
        for begin, end, offset in self._spans(start, n):
            for at in range(begin, end, PIECE):
                size = min(PIECE, end - at)
                piece = data[:, offset + at - begin : offset + at - begin + size]
                scaled = work[:rows, :size]  # reused: fresh temporaries cost page faults
                # A (rows, 1) @ (1, n) product is 5x slower than broadcasting; stereo uses the BLAS.
                if mono:
                    np.multiply(gains, piece, out=scaled)
                else:
                    np.matmul(gains, piece, out=scaled)
                if fade_in > done:
                    head = min(size, fade_in - done)
                    scaled[:, :head] *= _ramp(fade_in)[done : done + head]
                fading_from = n - fade_out  # position in the note where the fade-out starts
                if fade_out and done + size > fading_from:
                    low = max(done, fading_from)
                    down = _ramp(fade_out)[::-1]
                    scaled[:, low - done :] *= down[low - fading_from : done + size - fading_from]
                self.buses[:rows, at : at + size] += scaled
                done += size
        self.written_end = max(self.written_end, start + n)

    def consumed(self, upto: int) -> None:
        """Frames before ``upto`` were played and cleared to zero: give their whole pages back to the
        kernel (they read as zero when written again, a lap of the ring later)."""
        end = upto - upto % self._page
        if end - self._released < RELEASE or self.size % self._page or not hasattr(mmap, "MADV_DONTNEED"):
            return
        stride = self.size * 4
        start = max(self._released, end - self.size)  # at most one lap of the ring
        for begin, stop, _ in self._spans(start, end - start):
            for bus in range(BUSES):
                self._memory.madvise(mmap.MADV_DONTNEED, bus * stride + 4 * begin, 4 * (stop - begin))
        self._released = end

    def clear(self, start: int, n: int) -> None:
        """Zero ``n`` played frames from ``start`` (as ``view``) on the buses ever written."""
        begin = start % self.size
        self.buses[: self.rows, begin : begin + n] = 0.0

    def view(self, start: int, n: int) -> np.ndarray:
        """The buses for ``n`` frames from ``start`` (must not cross the ring's end): a view."""
        begin = start % self.size
        assert begin + n <= self.size, "chunks are split at the ring's end"
        return self.buses[:, begin : begin + n]

    def frames_to_wrap(self, start: int) -> int:
        """Frames from ``start`` to the ring's end."""
        return self.size - start % self.size

    def fade_out(self, start: int, length: int, now: int) -> None:
        """Fade everything scheduled from ``start`` to silence over ``length`` frames (a cosine),
        and clear what lies beyond: the old sound's tail on a style change."""
        start = max(start, now)
        end = self.written_end
        if end <= start:
            return
        length = max(1, length)
        fade = min(length, end - start)
        curve = (0.5 + 0.5 * np.cos(np.pi * np.arange(1, fade + 1) / length)).astype(np.float32)
        rows = self.rows
        for begin, stop, offset in self._spans(start, fade):
            self.buses[:rows, begin:stop] *= curve[offset : offset + stop - begin]
        if end > start + fade:
            for begin, stop, _ in self._spans(start + fade, end - start - fade):
                self.buses[:rows, begin:stop] = 0.0
        self.written_end = start + fade
