"""Bus effects, a chunk at a time, with no per-sample Python loop.

The trick shared by the reverb and the delay: every feedback path is at least
one chunk long, so a whole chunk of outputs can be read from the delay lines
before the chunk's inputs are written. Recursion happens between chunks;
inside a chunk everything is array arithmetic (one gather, one matrix
product, one slice write for the whole reverb).

Both effects go idle once their tail has died away (-80 dB) and their input is
silent, so a sparse piece or a dry style does not pay for them: no work, and no memory for
their lines, which are made at the first input and let go when they fall idle.
"""

from __future__ import annotations

import functools

import numpy as np

from edge.render.patch import Mix

#: FDN delay-line lengths at 48 kHz for reverb_size 0 (mutually prime, 21..44 ms); size 1 triples them.
_FDN_LENGTHS = (1031, 1171, 1303, 1459, 1607, 1777, 1949, 2111)
_LINES = len(_FDN_LENGTHS)


@functools.lru_cache(maxsize=256)  # bounded: chunk lengths vary, and a daemon runs for months
def unit_ramp(n: int) -> np.ndarray:
    """(1..n)/n as float32, cached: ends exactly at 1 so a ramped chunk joins the next one."""
    ramp = (np.arange(1, n + 1, dtype=np.float32) / np.float32(n)).astype(np.float32)
    ramp.flags.writeable = False  # shared between callers
    return ramp


def _hadamard(n: int) -> np.ndarray:
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


class Reverb:
    """8-line feedback delay network: Hadamard mixing, per-line decay gains, damping in the loop.

    Each line is stored pre-delayed: what enters line j at time t is written ``length_j`` columns
    ahead, so all eight outputs for a chunk are one contiguous (8, n) view at a shared read
    column, and the writes are eight plain slices. The buffer is linear, not a ring: when the
    write position nears its end, the still-unread part is copied back to the start (every
    ``SPARE`` frames: a few chunks), so no read or write ever wraps. The buffer exists only while
    the reverb rings: it is made on the first input and let go when the tail has died.
    """

    SPARE = 1 << 13
    """Columns past the longest line: the unread part moves back to the start every SPARE frames.
    Measured (house's reverb, 2048-frame chunks): 1 << 15 held 1.14 MiB, 1 << 13 0.39 MiB for
    0.64 instead of 0.58 ms CPU per audio-s; the output is the same whatever SPARE is."""
    max_chunk = 1 << 30
    """Longest chunk process() accepts: any (it runs a long one in pieces)."""

    def __init__(self, sample_rate: int, mix: Mix) -> None:
        scale = (1.0 + 2.0 * mix.reverb_size) * sample_rate / 48000.0
        lengths = [max(64, round(n * scale)) for n in _FDN_LENGTHS]
        #: Longest piece one pass computes (the shortest line); longer chunks run as several.
        self.piece = min(lengths)
        self._lengths = lengths
        self._longest = max(lengths)
        self._lines: np.ndarray | None = None  # (8, longest + 1 + SPARE) while the reverb rings
        self._read = 1  # column of the next output; column read-1 holds the previous one (damping)
        gains = 10.0 ** (-3.0 * np.array(lengths) / (mix.reverb_decay * sample_rate))  # RT60 per line
        self._damping = np.float32(0.5 * mix.reverb_damping)
        # One matrix does it all: rows 0-1 the stereo outputs, rows 2-9 the feedback, and the last
        # column injects the input (alternating signs, scaled so the tail's loudness barely
        # depends on its length).
        signs = np.array([1, -1, 1, 1, -1, 1, -1, -1], dtype=np.float64)
        taps = np.stack((np.array([1, 1, -1, 1, -1, -1, 1, -1]), np.array([1, -1, 1, 1, 1, -1, -1, 1])))
        inject = signs * np.sqrt(1.0 - float(np.mean(gains)) ** 2) * 1.6
        self._matrix = np.zeros((2 + _LINES, _LINES + 1), dtype=np.float32)
        self._taps = (taps / np.sqrt(_LINES)).astype(np.float32)
        self._out_gain = 1.0
        self._matrix[:2, :_LINES] = self._taps
        self._matrix[2:, :_LINES] = _hadamard(_LINES) * gains[None, :]
        self._matrix[2:, _LINES] = inject
        # Work arrays for one piece, made with the lines: (9, piece) lines and input, (8, piece) scratch.
        self._stack: np.ndarray | None = None
        self._scratch: np.ndarray | None = None
        self._tail = int(mix.reverb_decay * 80.0 / 60.0 * sample_rate)  # samples until -80 dB
        self._quiet = self._tail  # starts idle

    @property
    def idle(self) -> bool:
        """True when the tail has died and no input has come since."""
        return self._quiet >= self._tail

    def reset(self) -> None:
        """Silence the lines (used before restarting after a pause): their memory goes until the
        next input."""
        self._lines = self._stack = self._scratch = None
        self._read = 1
        self._quiet = self._tail

    def process(
        self, mono_in: np.ndarray | None, n: int, gain: tuple[float, float] = (1.0, 1.0)
    ) -> np.ndarray | None:
        """Wet stereo (2, n) for ``n`` samples of send (None: silence), scaled by a gain going
        linearly from ``gain[0]`` to ``gain[1]`` over the chunk.

        A chunk longer than the shortest line runs as pieces of at most that length (the feedback
        of one piece feeds the next), so the caller's chunks need not follow the lines.
        Returns None, having done no work, while the tail has died and nothing comes in.
        """
        step = self.piece
        if n <= step:
            return self._piece(mono_in, n, gain)
        out: np.ndarray | None = None
        g0, g1 = gain
        for at in range(0, n, step):
            m = min(step, n - at)
            span = (g0 + (g1 - g0) * at / n, g0 + (g1 - g0) * (at + m) / n) if g0 != g1 else gain
            wet = self._piece(None if mono_in is None else mono_in[at : at + m], m, span)
            if wet is not None:
                if out is None:
                    out = np.zeros((2, n), dtype=np.float32)
                out[:, at : at + m] = wet
        return out

    def _piece(self, mono_in: np.ndarray | None, n: int, gain: tuple[float, float]) -> np.ndarray | None:
        fed = mono_in is not None and bool(mono_in.any())
        if fed:
            self._quiet = 0
        else:
            if self.idle:
                return None
            self._quiet += n
            if self.idle:
                self.reset()
                return None
        if self._lines is None:  # fed after silence: the lines start from zero
            self._lines = np.zeros((_LINES, self._longest + 1 + self.SPARE), dtype=np.float32)
            self._stack = np.empty((_LINES + 1, self.piece), dtype=np.float32)
            self._scratch = np.empty((_LINES, self.piece), dtype=np.float32)
        assert self._stack is not None and self._scratch is not None
        read = self._read
        if read + n + self._longest > self._lines.shape[1]:
            # Move the written-but-unread part (and the one sample before it) back to the start.
            keep = self._longest + 1
            self._lines[:, :keep] = self._lines[:, read - 1 : read - 1 + keep]
            read = 1
        stack, scratch = self._stack[:, :n], self._scratch[:, :n]  # a piece is never longer
        lines = stack[:_LINES]
        window = self._lines[:, read - 1 : read + n]  # (8, n + 1): each line's output, in place
        # One-zero low-pass on every pass round the loop: highs die faster than lows.
        np.multiply(window[:, 1:], np.float32(1.0) - self._damping, out=lines)
        if self._damping > 0:
            np.multiply(window[:, :-1], self._damping, out=scratch)
            lines += scratch
        stack[_LINES] = mono_in if fed else 0.0
        steady = gain[0] == gain[1]
        out_gain = gain[1] if steady else 1.0
        if out_gain != self._out_gain:  # a constant output level rides in the matrix: no extra pass
            self._matrix[:2, :_LINES] = self._taps * np.float32(out_gain)
            self._out_gain = out_gain
        result = self._matrix @ stack
        for j, length in enumerate(self._lengths):
            self._lines[j, read + length : read + length + n] = result[2 + j]
        self._read = read + n
        if not steady:
            return result[:2] * (np.float32(gain[0]) + np.float32(gain[1] - gain[0]) * unit_ramp(n))
        return result[:2]


class Delay:
    """Tempo-synced stereo ping-pong delay; when the tempo moves, the read tap crossfades."""

    MAX_SECONDS = 5.0
    MIN_TEMPO = 40.0
    """The slowest tempo anything plays at (style packs' ranges and the listener's tempo are checked
    against 40..240 bpm): the buffer holds ``delay_beats`` at it, not MAX_SECONDS (2 MiB)."""

    def __init__(self, sample_rate: int, mix: Mix, tempo: float) -> None:
        self.sample_rate = sample_rate
        self.beats = mix.delay_beats
        self._longest = round(min(self.MAX_SECONDS, self.beats * 60.0 / self.MIN_TEMPO) * sample_rate)
        size = 1 << int(np.ceil(np.log2(self._longest + 8192)))
        self._size = size
        self._buffer: np.ndarray | None = None  # (2, size) while echoes ring: made on the first input
        self._write = 0
        pingpong = mix.delay_pingpong
        feedback = mix.delay_feedback * np.array([[1 - pingpong, pingpong], [pingpong, 1 - pingpong]])
        # Rows 0-1 feed the lines back, rows 2-3 are the output at its level: one product for both.
        self._matrix = np.zeros((4, 2), dtype=np.float32)
        self._matrix[:2] = feedback
        self._out_gain = 0.0
        self._inject = np.array([[1.0], [1.0 - pingpong]], dtype=np.float32)  # the send enters on the left
        self._damping = np.float32(0.5 * mix.delay_damping)
        self.delay = self._samples(tempo)
        self.target = self.delay
        repeats = np.log(1e-4) / np.log(max(mix.delay_feedback, 1e-3))  # echoes until -80 dB
        self._tail_repeats = max(1.0, float(repeats)) + 1.0
        self._quiet = 1 << 62  # starts idle

    def _samples(self, tempo: float) -> int:
        seconds = self.beats * 60.0 / max(tempo, 1.0)
        return int(min(self._longest, max(1024, round(seconds * self.sample_rate))))

    def set_tempo(self, tempo: float) -> None:
        """Follow a new tempo: the delay time moves to ``delay_beats`` at it, with a crossfade."""
        self.target = self._samples(tempo)

    @property
    def max_chunk(self) -> int:
        """Longest chunk process() accepts (the shorter of the old and new delay times)."""
        return min(self.delay, self.target)

    @property
    def idle(self) -> bool:
        """True when the echoes have died and no input has come since."""
        return self._quiet >= self._tail_repeats * self.delay

    def _read(self, start: int, n: int) -> np.ndarray:
        assert self._buffer is not None
        start &= self._size - 1
        end = start + n
        if end <= self._size:
            return self._buffer[:, start:end]
        return np.concatenate((self._buffer[:, start:], self._buffer[:, : end - self._size]), axis=1)

    def _tap(self, delay: int, n: int) -> np.ndarray:
        window = self._read(self._write - delay - 1, n + 1)
        if self._damping == 0:
            return window[:, 1:].copy()
        # One-zero low-pass: each repeat is a little darker than the last.
        out = window[:, 1:] * (np.float32(1.0) - self._damping)
        out += self._damping * window[:, :-1]
        return out

    def process(
        self, mono_in: np.ndarray | None, n: int, gain: tuple[float, float] = (1.0, 1.0)
    ) -> np.ndarray | None:
        """Wet stereo (2, n) for ``n`` <= max_chunk samples of send (None: silence), scaled by a
        gain going linearly from ``gain[0]`` to ``gain[1]`` over the chunk.

        Returns None, having done no work, while the echoes have died and nothing comes in.
        """
        fed = mono_in is not None and bool(mono_in.any())
        if not fed and self.idle:
            self.delay = self.target
            return None
        self._quiet = 0 if fed else self._quiet + n
        if self._buffer is None:  # fed after silence: the line starts from zero
            self._buffer = np.zeros((2, self._size), dtype=np.float32)
        wet = self._tap(self.delay, n)
        if self.target != self.delay:
            moved = self._tap(self.target, n)
            wet += unit_ramp(n) * (moved - wet)
            self.delay = self.target
        steady = gain[0] == gain[1]
        out_gain = gain[1] if steady else 1.0
        if out_gain != self._out_gain:
            self._matrix[2:] = np.eye(2, dtype=np.float32) * np.float32(out_gain)
            self._out_gain = out_gain
        both = self._matrix @ wet
        feed = both[:2]
        if fed:
            assert mono_in is not None
            feed += self._inject * mono_in
        start = self._write
        end = start + n
        if end <= self._size:
            self._buffer[:, start:end] = feed
        else:
            split = self._size - start
            self._buffer[:, start:] = feed[:, :split]
            self._buffer[:, : end - self._size] = feed[:, split:]
        self._write = end & (self._size - 1)
        if self.idle:  # the echoes have died: the line's memory goes until the next input
            self._buffer = None
        if not steady:
            return wet * (np.float32(gain[0]) + np.float32(gain[1] - gain[0]) * unit_ramp(n))
        return both[2:]
