"""A slow loudness leveller for the master: quiet sections come up, loud ones go down, by half.

The arc's sections differ by up to 7 LU (a pads-only intro against a peak with everything), so a
listener who starts a session, or a 60 s render, heard the music well under the pack's calibrated
loudness. The leveller follows the master's short-term loudness (BS.1770's K-weighting, applied
in the frequency domain to each chunk: no per-sample loop, no IIR state) over about three
seconds, and glides its gain toward ``RATIO`` of the distance to the target: an intro 8 LU under
the target comes up 4 dB, a peak 2 LU over goes down 1 dB. The arc keeps half its dynamics (the
loudness range in docs/benchmarks.md says how much), the boost and the cut are capped, and
whatever is more than ``GATE_LU`` under the target (a pause, a fade, silence) leaves the gain
where it is, so the leveller never pumps noise up. At the target it does nothing: a pack's
``loudness_gain_db`` is calibrated with it on.
"""

from __future__ import annotations

import math

import numpy as np

from edge.render.kweighting import power_weights

RATIO = 0.5
"""Share of the distance to the target loudness the gain makes up."""
MAX_BOOST_DB = 6.0
"""The most a quiet section is raised."""
MAX_CUT_DB = 3.0
"""The most a loud section is lowered (the limiter holds the peaks)."""
WINDOW_S = 1.5
"""Time constant of the loudness it follows (an exponential window close to EBU's 3 s short term)."""
GLIDE_S = 2.0
"""Time constant of the gain moving toward its new value: slow enough not to pump within a bar."""
GATE_LU = 20.0
"""Loudness this far under the target holds the gain (silence and fades are not levelled)."""
SETTLE_S = 3.0
"""For this long after the first sound, the follower is the plain mean of what it heard and the gain
moves four times faster: the music starts near its levelled loudness instead of gliding up to it."""


class Leveller:
    """The master's slow gain toward the target loudness; one per master, fed every chunk."""

    def __init__(self, sample_rate: int, target_lufs: float) -> None:
        self.sample_rate = sample_rate
        self.target_lufs = float(target_lufs)
        self.gain_db = 0.0
        """The gain applied at the end of the last chunk, dB."""
        self._power = 0.0  # the followed K-weighted mean square (sum over channels)
        self._heard = 0  # frames of sound followed so far (up to SETTLE_S)
        self._weights: dict[int, np.ndarray] = {}

    @property
    def loudness(self) -> float:
        """The short-term loudness it follows (the master's, before the leveller), LUFS; -inf before
        any sound."""
        return -0.691 + 10.0 * math.log10(self._power) if self._power > 0 else -math.inf

    def _weighted_power(self, x: np.ndarray) -> float:
        # Zero-padded to a power of two: the effects' chunks are often a prime number of frames
        # long (a comb's length), where an FFT of the chunk itself costs ten times more.
        n = x.shape[1]
        size = 1 << (n - 1).bit_length()
        weights = self._weights.get(size)
        if weights is None:
            weights = self._weights[size] = power_weights(size, self.sample_rate)
        spectrum = np.fft.rfft(x, size, axis=1)
        power = spectrum.real**2 + spectrum.imag**2
        return float((power @ weights).sum()) / (size * n)

    def step(self, x: np.ndarray, gain: float) -> tuple[float, float]:
        """Follow the chunk ``x`` (2, n) as heard at ``gain``; return the leveller's linear gain at
        the chunk's start and end (the caller ramps between them)."""
        n = x.shape[1]
        start = self.gain_db
        if n == 0:
            return _linear(start), _linear(start)
        heard = self._weighted_power(x) * gain * gain  # before the leveller: no feedback loop
        settling = self._heard < SETTLE_S * self.sample_rate
        follow = 1.0 - math.exp(-n / (WINDOW_S * self.sample_rate))
        if settling and heard > 0.0:
            self._heard += n
            follow = max(follow, n / self._heard)  # the mean of everything so far
        self._power += (heard - self._power) * follow
        loudness = self.loudness
        if loudness > self.target_lufs - GATE_LU:
            wanted = min(MAX_BOOST_DB, max(-MAX_CUT_DB, RATIO * (self.target_lufs - loudness)))
            glide = 1.0 - math.exp(-n / ((GLIDE_S / 4 if settling else GLIDE_S) * self.sample_rate))
            self.gain_db = start + (wanted - start) * glide
        return _linear(start), _linear(self.gain_db)


def _linear(db: float) -> float:
    return 10.0 ** (db / 20.0)
