"""Bus effects processed a block at a time with no per-sample Python loop.

The trick shared by the reverb and the delay: every feedback path is at least
one block long, so a whole block of outputs can be read from the delay lines
before the block's inputs are written. Recursion happens between blocks, and
everything inside a block is array arithmetic.
"""

from __future__ import annotations

import numpy as np

from edge.render import ring
from edge.render.patch import Mix

#: Delay-line lengths at 48 kHz (mutually prime, 86..146 ms): every line is longer than a
#: processing chunk, so a chunk's outputs exist before its inputs are written.
_FDN_LENGTHS = (4111, 4523, 4933, 5347, 5741, 6173, 6607, 7027)
#: Early reflections (delay in ms, gain): they fill the gap before the first FDN echoes.
_EARLY = ((7.1, 0.8), (11.3, 0.7), (17.9, 0.62), (23.3, 0.55), (31.7, 0.5), (37.1, 0.45),
          (43.9, 0.4), (52.3, 0.36), (61.1, 0.3), (68.9, 0.27), (77.3, 0.22), (83.9, 0.2))  # fmt: skip
_LINES = len(_FDN_LENGTHS)
_RING = 1 << 15


def _hadamard(n: int) -> np.ndarray:
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return (h / np.sqrt(n)).astype(np.float32)


class Reverb:
    """Early reflections into an 8-line feedback delay network with Hadamard mixing and damping.

    It runs at half the output rate: a reverb tail has little above 10 kHz (the damping removes
    it), and half the samples is half the work.
    """

    def __init__(self, sample_rate: int) -> None:
        self.output_rate = sample_rate
        sample_rate = sample_rate // 2
        self.sample_rate = sample_rate
        self.previous_out = np.zeros(2, dtype=np.float32)
        self.matrix = _hadamard(_LINES)
        self.buffer = np.zeros((_LINES, _RING), dtype=np.float32)
        self.history = np.zeros(_RING, dtype=np.float32)
        self.position = 0
        self.signs = np.array([1, -1, 1, -1, -1, 1, -1, 1], dtype=np.float32)[:, None]
        self.early = [(int(ms * sample_rate / 1000), np.float32(gain)) for ms, gain in _EARLY]
        self.last = np.zeros(_LINES, dtype=np.float32)
        self.configure(Mix())

    def configure(self, mix: Mix) -> None:
        """Room size, decay time and damping. Changing them mid-tail is smooth: only gains move."""
        scale = mix.reverb_size * self.sample_rate / 48000 * 2  # the table is in 48 kHz samples
        self.lengths = [max(256, int(n * scale)) for n in _FDN_LENGTHS]
        self.max_block = min(self.lengths)
        lengths = np.array(self.lengths, dtype=np.float64)[:, None]
        self.gains = (10.0 ** (-3.0 * lengths / (mix.reverb_time * self.sample_rate))).astype(np.float32)
        self.damping = np.float32(mix.reverb_damping * 0.5)

    def process(self, mono_in: np.ndarray) -> np.ndarray:
        """Wet stereo output (n, 2) for a block of mono send (n even)."""
        half = (mono_in[0::2] + mono_in[1::2]) * np.float32(0.5)
        wet = np.empty((len(half), 2), dtype=np.float32)
        step = self.max_block
        for start in range(0, len(half), step):
            wet[start : start + step] = self._block(half[start : start + step])
        # Back to the output rate by linear interpolation.
        out = np.empty((len(mono_in), 2), dtype=np.float32)
        before = np.concatenate((self.previous_out[None, :], wet[:-1]))
        out[0::2] = (before + wet) * np.float32(0.5)
        out[1::2] = wet
        self.previous_out = wet[-1].copy()
        return out

    def _block(self, mono_in: np.ndarray) -> np.ndarray:
        n = len(mono_in)
        pos = self.position
        ring.write(self.history, pos, mono_in)
        taps = [ring.read(self.history, pos - delay, n) * gain for delay, gain in self.early]
        left = sum(taps[0::2])  # alternate reflections to each side: width without a stereo input
        right = sum(taps[1::2])
        outs = np.stack([ring.read(self.buffer[i], pos - length, n) for i, length in enumerate(self.lengths)])
        feedback = (self.matrix @ outs) * self.gains
        # One-zero low-pass (blend with the previous sample) damps the highs on every pass.
        previous = np.concatenate((self.last[:, None], feedback[:, :-1]), axis=1)
        self.last = feedback[:, -1].copy()
        damped = feedback + self.damping * (previous - feedback)
        diffused = (left + right) * np.float32(0.25)
        ring.write(self.buffer, pos, damped + self.signs * diffused)
        self.position = (pos + n) % _RING
        wet_left = outs[0::2].sum(axis=0) * np.float32(0.5) + left * np.float32(0.3)
        wet_right = outs[1::2].sum(axis=0) * np.float32(0.5) + right * np.float32(0.3)
        return np.stack((wet_left, wet_right), axis=1)


class Delay:
    """A tempo-synced ping-pong delay; time changes crossfade between read taps."""

    MAX_SECONDS = 4.0

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.size = int(self.MAX_SECONDS * sample_rate)
        self.buffer = np.zeros((2, self.size), dtype=np.float32)
        self.write_pos = 0
        self.delay = sample_rate // 2
        self.target = self.delay
        self.feedback = np.float32(0.35)
        self.last = np.zeros((2, 1), dtype=np.float32)

    def set_time(self, seconds: float) -> None:
        """New delay time; it takes effect with a crossfade on the next block."""
        self.target = int(min(self.MAX_SECONDS - 0.1, max(0.03, seconds)) * self.sample_rate)

    def process(self, mono_in: np.ndarray) -> np.ndarray:
        """Wet stereo output (n, 2) for a block of mono send."""
        out = np.empty((len(mono_in), 2), dtype=np.float32)
        step = max(1, min(self.delay, self.target))
        for start in range(0, len(mono_in), step):
            out[start : start + step] = self._block(mono_in[start : start + step]).T
        return out

    def _block(self, mono_in: np.ndarray) -> np.ndarray:
        n = len(mono_in)
        wet = ring.read(self.buffer, self.write_pos - self.delay, n)  # (2, n)
        if self.target != self.delay:
            moved = ring.read(self.buffer, self.write_pos - self.target, n)
            wet = wet + _unit_ramp(n) * (moved - wet)
            self.delay = self.target
        # Ping-pong: each side's echo feeds the other side, darkened a little each time round.
        crossed = wet[::-1]
        previous = np.concatenate((self.last, crossed[:, :-1]), axis=1)
        self.last = crossed[:, -1:].copy()
        feed = (0.7 * crossed + 0.3 * previous) * self.feedback
        feed[0] += mono_in  # the send enters on the left and bounces right
        ring.write(self.buffer, self.write_pos, feed)
        self.write_pos = (self.write_pos + n) % self.size
        return wet


_RAMPS: dict[int, np.ndarray] = {}


def _unit_ramp(n: int) -> np.ndarray:
    """0..1 over n samples, cached (linspace's Python overhead matters at block rate)."""
    ramp = _RAMPS.get(n)
    if ramp is None:
        ramp = _RAMPS[n] = np.linspace(0.0, 1.0, n, dtype=np.float32)
    return ramp


class Limiter:
    """Peak limiter: a smoothed gain per block, then a soft clip that never reaches full scale."""

    def __init__(self, sample_rate: int, threshold: float = 0.89, release_s: float = 0.4) -> None:
        self.threshold = np.float32(threshold)
        self.release_per_sample = np.float32(1.0 / (release_s * sample_rate))
        self.gain = np.float32(1.0)

    def process(self, x: np.ndarray) -> np.ndarray:
        """Limit a block in place and return it."""
        peak = np.float32(np.abs(x).max()) if len(x) else np.float32(0)
        target = np.float32(1.0) if peak <= self.threshold else self.threshold / peak
        # Attack reaches the new gain within the block; release recovers at a fixed rate.
        end = target if target < self.gain else min(target, self.gain + self.release_per_sample * len(x))
        ramp = (self.gain + (end - self.gain) * _unit_ramp(len(x)))[:, None]
        self.gain = np.float32(end)
        x *= ramp
        # Soft knee above 0.8: anything the ramp let through bends smoothly toward 0.98.
        over = np.abs(x) > 0.8
        if over.any():
            magnitude = np.abs(x[over])
            x[over] = np.sign(x[over]) * (0.8 + 0.18 * np.tanh((magnitude - 0.8) / 0.18))
        return x
