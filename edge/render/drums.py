"""Synthesised drums, rendered once per kit into a few seeded variants.

Everything expensive (sweeps, filtering in the frequency domain, saturation,
bit reduction) happens here, once; mixing a hit is then a scaled slice-add,
so a 16th-note hi-hat line costs almost nothing. Variants (small pitch,
length and noise differences) keep repeated hits from sounding machine-gunned.
"""

from __future__ import annotations

import numpy as np

from edge.music.events import CLAP, CLOSED_HAT, KICK, OPEN_HAT, SNARE
from edge.render.patch import DrumKit

HATS = (CLOSED_HAT, OPEN_HAT)
FADE_IN_S = 0.0005
FADE_OUT_S = 0.005
#: Fundamentals of the six square waves of an analogue hi-hat's metal, scaled by hat_tone / 7000.
_METAL_HZ = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _fast(n: int) -> int:
    """Smallest FFT length >= n with only factors 2, 3 and 5 (other lengths can be 10x slower)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p235 = p35
            while p235 < n:
                p235 *= 2
            best = min(best, p235)
            p35 *= 3
        p5 *= 5
    return best


def _filtered_noise(rng: np.random.Generator, n: int, sr: int, low: float, high: float) -> np.ndarray:
    """n samples of white noise band-passed low..high Hz (by weighting its spectrum), peak 1."""
    size = _fast(n)
    freqs = np.fft.rfftfreq(size, 1 / sr)
    noise = np.fft.irfft(np.fft.rfft(rng.standard_normal(size)) * _band(freqs, low, high), size)[:n]
    return _normalise(noise)


def _band(freqs: np.ndarray, low: float, high: float) -> np.ndarray:
    """Magnitude of a 24 dB/oct high-pass at ``low`` times a 24 dB/oct low-pass at ``high``."""
    f = np.maximum(freqs, 1.0)
    return 1.0 / np.sqrt(1.0 + (low / f) ** 8) / np.sqrt(1.0 + (f / high) ** 8)


def _decay(t: np.ndarray, seconds: float) -> np.ndarray:
    """Exponential fall to -40 dB after ``seconds``."""
    return np.exp(-t * (4.6 / seconds))


def _normalise(x: np.ndarray) -> np.ndarray:
    peak = np.abs(x).max()
    return x / peak if peak > 0 else x


def _kick(kit: DrumKit, sr: int, rng: np.random.Generator, jitter: np.ndarray) -> np.ndarray:
    decay = kit.kick_decay * jitter[1]
    n = int(decay * sr * 1.1)
    t = np.arange(n) / sr
    # Pitch falls from sweep x the end frequency within ~30 ms: the thump.
    freq = kit.kick_pitch * jitter[0] * (1.0 + (kit.kick_sweep - 1.0) * np.exp(-t / 0.03))
    body = np.sin(2 * np.pi * np.cumsum(freq) / sr) * _decay(t, decay)
    click = _filtered_noise(rng, n, sr, 1500, 9000) * _decay(t, 0.012) * kit.kick_click * 0.6
    return body + click


def _snare(kit: DrumKit, sr: int, rng: np.random.Generator, jitter: np.ndarray) -> np.ndarray:
    decay = kit.snare_decay * jitter[1]
    n = int(decay * sr * 1.2)
    t = np.arange(n) / sr
    tone_hz = kit.snare_tone * jitter[0]
    tone = np.sin(2 * np.pi * tone_hz * t) + 0.5 * np.sin(2 * np.pi * tone_hz * 1.62 * t)
    tone *= _decay(t, decay * 0.45)
    wires = _filtered_noise(rng, n, sr, 1200, 11000) * _decay(t, decay)
    return (1.0 - kit.snare_snappy) * _normalise(tone) + kit.snare_snappy * wires


def _clap(kit: DrumKit, sr: int, rng: np.random.Generator, jitter: np.ndarray) -> np.ndarray:
    n = int((0.035 + kit.clap_decay) * sr)
    t = np.arange(n) / sr
    noise = _filtered_noise(rng, n, sr, 800 * jitter[0], 6000)
    # Four hands that don't quite land together, then the room.
    starts = np.array([0.0, 0.010, 0.021, 0.031]) + rng.uniform(-0.002, 0.002, 4) * (np.arange(4) > 0)
    shape = sum(np.where(t >= s, np.exp(-(t - s) / 0.0035), 0.0) for s in starts)
    tail = np.where(t >= starts[-1], _decay(np.maximum(t - starts[-1], 0.0), kit.clap_decay * jitter[1]), 0.0)
    return noise * (0.8 * shape + tail)


def _hat(kit: DrumKit, sr: int, rng: np.random.Generator, jitter: np.ndarray, seconds: float) -> np.ndarray:
    seconds *= jitter[1]
    n = _fast(int(seconds * sr * 1.05))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spectrum = np.fft.rfft(rng.standard_normal(n)) / np.sqrt(n)
    # The metal: odd harmonics of six detuned squares, each written into its nearest bin (band-limited).
    scale = kit.hat_tone / 7000.0 * jitter[0]
    metal = np.zeros(len(freqs), dtype=np.complex128)
    for hz in _METAL_HZ:
        harmonics = np.arange(1, int(0.45 * sr / (hz * scale)), 2)
        bins = np.round(harmonics * hz * scale * n / sr).astype(int)
        phases = np.exp(2j * np.pi * rng.random(len(bins)))
        np.add.at(metal, bins, phases / harmonics)
    metal *= np.abs(spectrum).mean() * 3.0 / max(np.abs(metal).max(), 1e-9)
    hat = np.fft.irfft((spectrum + metal) * _band(freqs, kit.hat_tone, 16500), n)
    return _normalise(hat) * _decay(np.arange(n) / sr, seconds)


def _finish(x: np.ndarray, kit: DrumKit, sr: int) -> np.ndarray:
    """Drive, bit reduction, fades at both ends; peak 1."""
    x = _normalise(x)
    if kit.drive > 0:
        gain = 1.0 + 5.0 * kit.drive
        x = np.tanh(x * gain) / np.tanh(gain)
    if kit.lofi > 0:
        hold = 1 + round(5 * kit.lofi)  # sample-and-hold: 48 kHz down to 8 kHz at full lofi
        x = np.repeat(x[::hold], hold)[: len(x)]
        levels = 2.0 ** (16 - 12 * kit.lofi)  # 16 bits down to 4
        x = np.round(x * levels) / levels
    fade_in = max(1, int(FADE_IN_S * sr))
    x[:fade_in] *= np.linspace(0.0, 1.0, fade_in, endpoint=False)
    fade_out = min(len(x), int(FADE_OUT_S * sr))
    x[-fade_out:] *= np.linspace(1.0, 0.0, fade_out)
    return x.astype(np.float32)


class DrumSamples:
    """Every drum of one kit, in ``kit.variants`` seeded versions, as float32 arrays at peak 1."""

    def __init__(self, kit: DrumKit, sample_rate: int, seed: int) -> None:
        self.kit = kit
        makers = {
            KICK: (_kick, kit.kick_level),
            SNARE: (_snare, kit.snare_level),
            CLAP: (_clap, kit.clap_level),
            CLOSED_HAT: (lambda k, sr, r, j: _hat(k, sr, r, j, kit.hat_decay), kit.hat_level),
            OPEN_HAT: (lambda k, sr, r, j: _hat(k, sr, r, j, kit.open_hat_decay), kit.hat_level * 0.8),
        }
        #: GM pitch -> variants, each already at its level within the kit.
        self.samples: dict[int, list[np.ndarray]] = {}
        for pitch, (make, level) in makers.items():
            variants = []
            for v in range(kit.variants):
                rng = np.random.default_rng([seed, 11, pitch, v])
                jitter = 1.0 + rng.uniform(-0.02, 0.02, 2) * (v > 0)  # variant 0 is the kit as written
                sound = _finish(make(kit, sample_rate, rng, jitter), kit, sample_rate)
                variants.append(sound * np.float32(level))
            self.samples[pitch] = variants
        hats = float(np.clip(kit.pan + kit.hat_pan, -1.0, 1.0))
        #: GM pitch -> stereo position.
        clap = float(np.clip(kit.pan - 0.1, -1, 1))
        self.pan = {KICK: kit.pan, SNARE: kit.pan, CLAP: clap, CLOSED_HAT: hats, OPEN_HAT: hats}

    def hit(self, pitch: int, variant: int) -> np.ndarray | None:
        """The sample for a GM drum pitch (None for drums the kit lacks); do not modify it."""
        variants = self.samples.get(pitch)
        return None if variants is None else variants[variant % len(variants)]
