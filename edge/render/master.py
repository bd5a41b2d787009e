"""The master section: click-free gain glides, a soft limiter, lo-fi hiss, interleaved output.

The master gain is the pack's ``master_gain`` times its measured loudness calibration
(``loudness_gain_db``, which brings the pack to -16 LUFS) times the listener's loudness target
(``audio.loudness_lufs`` - (-16) dB); a style change glides from one pack's gain to the next.
A levelling gain takes out what the listener's energy adds in loudness (LEVELLING_DB), gliding
from the bar line where it changes. A slow leveller (edge/render/leveller.py) then makes up half of
the distance between the music's short-term loudness and the target, so a quiet intro or break
comes up and a peak goes down while the section arc (intro, build, peak, break) keeps half its dynamics.

The limiter computes one gain per chunk from the chunk's true peak (the peak of a 4x oversampled
estimate, as BS.1770 measures it): reductions land within 1.3 ms (a ramp, never a step), recoveries
glide exponentially over ``limiter_release``. Whatever a ramp lets through above the threshold is
bent by a tanh knee that stays under KNEE_TOP, so the output's true peak stays at or under
CEILING_DBTP and loud music is limited, not flattened.
"""

from __future__ import annotations

import math

import numpy as np

from edge.render.effects import unit_ramp
from edge.render.leveller import Leveller
from edge.render.patch import Mix

ATTACK_S = 0.0013
"""Gain reductions reach their target this fast."""
REFERENCE_LUFS = -16.0
"""The loudness a pack's ``loudness_gain_db`` is calibrated to."""
CEILING_DBTP = -1.0
"""The master's true peak stays at or under this (EBU R 128's streaming ceiling)."""
THRESHOLD_MAX = 10.0 ** (-2.0 / 20.0)
"""The highest true peak the limiter holds the music to (-2 dBTP): 1 dB under the ceiling, the knee's room."""
KNEE_TOP = 10.0 ** (-1.4 / 20.0)
"""No sample goes above this (-1.4 dBFS): what the knee lets through keeps its true peak under the ceiling."""
LEVELLING_DB = 4.5
"""dB the master takes off per unit of the listener's energy (above 0.5; adds below): a higher energy
plays busier, not louder. Measured: the packs' tier-0 renders rise 3.4-7 LU per unit of energy."""
LEVELLING_GLIDE_S = 2.0
"""A change of the listener's energy is levelled over this long, from the bar line it lands on."""
_HISS_FRAMES = 1 << 16
_TAPS = 8
"""Taps per phase of the oversampling filter (a Kaiser-windowed sinc, 32 taps at 4x)."""


def _oversampling_phases() -> np.ndarray:
    """(taps, 3) FIR of the three in-between phases of 4x oversampling (phase 0 is the sample itself)."""
    n = np.arange(4 * _TAPS) - (4 * _TAPS) // 2
    h = np.sinc(n / 4.0) * np.kaiser(4 * _TAPS, 6.0)
    phases = np.stack([h[k::4][::-1] for k in (1, 2, 3)], axis=1)
    return (phases / phases.sum(axis=0)).astype(np.float32)


_PHASES = _oversampling_phases()
_GAIN_BOUND = float(np.abs(_PHASES.astype(np.float64)).sum(axis=0).max()) * (1.0 + 1e-4)
"""No point between samples is louder than this times the loudest sample its filter reads (the
largest sum of a phase's |taps|, with room for float32 rounding)."""


def db_to_gain(db: float) -> float:
    """Amplitude factor of a gain in dB."""
    return 10.0 ** (db / 20.0)


class TruePeak:
    """Estimates the peak between samples too (4x oversampled), chunk after chunk."""

    def __init__(self) -> None:
        self._history = np.zeros((2, _TAPS - 1), dtype=np.float32)

    def peak(self, x: np.ndarray) -> float:
        """The largest magnitude of ``x`` (2, n) and of the points between its samples.

        Only points next to a sample of at least half the chunk's sample peak are computed: going
        more than 6 dB above both neighbours takes a contrived signal, not music."""
        joined = np.concatenate((self._history, x), axis=1)
        self._history = joined[:, -(_TAPS - 1) :].copy()
        sample_peak = float(np.abs(x).max())
        magnitude = np.abs(joined)
        half = _TAPS // 2
        # Window j (samples j .. j+7) interpolates between samples j+3 and j+4.
        near = np.maximum(magnitude[:, half - 1 : -half], magnitude[:, half : 1 - half])
        channel, start = np.nonzero(near >= 0.5 * sample_peak)
        # (candidates, taps): the rows of a strided view of every window, copied in one gather
        every = np.lib.stride_tricks.as_strided(
            joined,
            (2, joined.shape[1] - _TAPS + 1, _TAPS),
            (joined.strides[0], *joined.strides[1:] * 2),
            writeable=False,
        )
        windows = every[channel, start]
        between = windows @ _PHASES  # (candidates, 3)
        return max(sample_peak, float(np.abs(between).max())) if len(between) else sample_peak

    def bound(self, sample_peak: float) -> float:
        """An upper bound on ``peak(x)`` from ``x``'s sample peak, computing nothing between samples."""
        return _GAIN_BOUND * max(sample_peak, float(np.abs(self._history).max()))

    def skip(self, x: np.ndarray) -> None:
        """Keep the history of a chunk whose peak was not needed."""
        n = min(x.shape[1], _TAPS - 1)
        self._history = np.concatenate((self._history[:, n:], x[:, -n:]), axis=1)


class Glide:
    """A value that moves linearly to new targets over a given number of samples."""

    def __init__(self, value: float) -> None:
        self.value = float(value)
        self.target = float(value)
        self._left = 0

    def to(self, target: float, samples: int) -> None:
        """Head for ``target``, arriving after ``samples`` (0: jump)."""
        self.target = float(target)
        self._left = max(0, int(samples))
        if self._left == 0:
            self.value = self.target

    def step(self, n: int) -> tuple[float, float]:
        """(value at the start, value at the end) of the next ``n`` samples, and advance."""
        start = self.value
        if self._left > 0:
            take = min(n, self._left)
            self.value += (self.target - self.value) * take / self._left
            self._left -= take
            if self._left == 0:
                self.value = self.target
        return start, self.value


def gain_curve(start: float, end: float, n: int) -> np.ndarray | np.float32:
    """A scalar when constant, else a linear ramp (n,) from ``start`` to ``end``."""
    if start == end:
        return np.float32(end)
    return np.float32(start) + np.float32(end - start) * unit_ramp(n)


def levelling_gain(listener_energy: float) -> float:
    """The gain that levels out the loudness of the listener's energy (1.0 at 0.5)."""
    return db_to_gain(-LEVELLING_DB * (listener_energy - 0.5))


def mix_gain(mix: Mix, loudness_lufs: float = REFERENCE_LUFS) -> float:
    """The master gain for ``mix`` at the loudness target ``loudness_lufs``."""
    return mix.master_gain * db_to_gain(mix.loudness_gain_db + loudness_lufs - REFERENCE_LUFS)


class Master:
    """Master gain, soft limiter and hiss; writes interleaved float32 frames."""

    def __init__(self, sample_rate: int, seed: int, mix: Mix, loudness_lufs: float = REFERENCE_LUFS) -> None:
        self.sample_rate = sample_rate
        self.loudness_lufs = float(loudness_lufs)
        self.gain = Glide(mix_gain(mix, self.loudness_lufs))
        self.hiss = Glide(mix.hiss)
        self.threshold = min(mix.limiter_threshold, THRESHOLD_MAX)
        self.release = mix.limiter_release
        self._true_peak = TruePeak()
        self.levelling = Glide(1.0)
        self.leveller = Leveller(sample_rate, self.loudness_lufs)
        self._levelled = False
        self._limit = 1.0
        self._attack = max(1, round(ATTACK_S * sample_rate))
        self._attack_ramps: dict[int, np.ndarray] = {}
        self._noise: np.ndarray | None = None
        self._seed = seed
        self._hiss_pos = 0

    def configure(self, mix: Mix, glide: int) -> None:
        """A new mix: gains glide over ``glide`` samples; limiter settings apply at once."""
        self.gain.to(mix_gain(mix, self.loudness_lufs), glide)
        self.hiss.to(mix.hiss, glide)
        self.threshold = min(mix.limiter_threshold, THRESHOLD_MAX)
        self.release = mix.limiter_release

    def level(self, listener_energy: float) -> None:
        """Level out the listener's energy from now on: over LEVELLING_GLIDE_S, at once the first time."""
        glide = round(LEVELLING_GLIDE_S * self.sample_rate) if self._levelled else 0
        self._levelled = True
        self.levelling.to(levelling_gain(listener_energy), glide)

    def _attack_ramp(self, n: int) -> np.ndarray:
        ramp = self._attack_ramps.get(n)
        if ramp is None:
            ramp = np.minimum(np.arange(1, n + 1, dtype=np.float32) / np.float32(self._attack), 1.0)
            ramp = self._attack_ramps[n] = ramp.astype(np.float32)
        return ramp

    def rest(self) -> None:
        """Nothing is rendered for a while: let the hiss loop go (made again, the same, when needed)."""
        self._noise = None

    def _hiss_noise(self, n: int) -> np.ndarray:
        if self._noise is None:
            # Tape-like hiss: white noise tilted down 3 dB/oct above 1 kHz, generated once, looped.
            rng = np.random.default_rng([self._seed, 23])
            spectrum = np.fft.rfft(rng.standard_normal((2, _HISS_FRAMES)), axis=1)
            freqs = np.fft.rfftfreq(_HISS_FRAMES, 1.0 / self.sample_rate)
            spectrum *= 1.0 / np.sqrt(1.0 + freqs / 1000.0)
            noise = np.fft.irfft(spectrum, _HISS_FRAMES, axis=1)
            self._noise = (noise / noise.std()).astype(np.float32)
        start = self._hiss_pos
        self._hiss_pos = (start + n) % _HISS_FRAMES
        if start + n <= _HISS_FRAMES:
            return self._noise[:, start : start + n]
        return np.concatenate((self._noise[:, start:], self._noise[:, : start + n - _HISS_FRAMES]), axis=1)

    def process(self, x: np.ndarray, out: np.ndarray) -> None:
        """Gain, limit and soft-clip ``x`` (2, n; modified) into ``out`` (n, 2)."""
        n = x.shape[1]
        hiss0, hiss1 = self.hiss.step(n)
        if hiss0 > 0 or hiss1 > 0:
            x += gain_curve(hiss0, hiss1, n) * self._hiss_noise(n)
        gain0, gain1 = self.gain.step(n)
        level0, level1 = self.levelling.step(n)
        gain0, gain1 = gain0 * level0, gain1 * level1
        lift0, lift1 = self.leveller.step(x, 0.5 * (gain0 + gain1))
        gain0, gain1 = gain0 * lift0, gain1 * lift1
        threshold = self.threshold
        gain = max(gain0, gain1)
        sample_peak = float(np.abs(x).max())
        peak = sample_peak * gain
        # Intersample peaks rise a few dB above the samples at most; and where even their bound
        # stays under the threshold, the limiter does nothing whatever their exact value.
        if peak > 0.5 * threshold and self._true_peak.bound(sample_peak) * gain > threshold:
            peak = self._true_peak.peak(x) * gain
        else:
            self._true_peak.skip(x)
        wanted = 1.0 if peak <= threshold else threshold / peak
        before = self._limit
        limit: np.ndarray | np.float32
        if wanted < before:
            after = wanted  # reduce within ATTACK_S
            limit = np.float32(before) + np.float32(after - before) * self._attack_ramp(n)
        else:
            after = before + (wanted - before) * (1.0 - math.exp(-n / (self.release * self.sample_rate)))
            limit = gain_curve(before, after, n)
        self._limit = after
        total = gain_curve(gain0, gain1, n) * limit
        if not (isinstance(total, np.float32) and total == 1.0):
            x *= total
        if peak * max(before, after) > threshold:
            # Only where a ramp let a peak through: a tanh knee from the threshold toward KNEE_TOP.
            over = np.abs(x) > threshold
            if over.any():
                magnitude = np.abs(x[over])
                room = KNEE_TOP - threshold
                bent = threshold + room * np.tanh((magnitude - threshold) / room)
                x[over] = np.copysign(np.minimum(bent, KNEE_TOP), x[over])
        out[:, 0] = x[0]
        out[:, 1] = x[1]
