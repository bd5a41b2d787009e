"""Synthesised drums, rendered once per kit into a few seeded variants.

Mixing a hit is then a scaled slice-add, so a 16th-note hi-hat line costs
almost nothing. Variants keep repeated hits from sounding machine-gunned.
"""

from __future__ import annotations

import numpy as np

from edge.music.events import CLAP, CLOSED_HAT, KICK, OPEN_HAT, SNARE
from edge.render.patch import DrumKit

VARIANTS = 4


def _shaped_noise(rng: np.random.Generator, n: int, sample_rate: int, low: float, high: float) -> np.ndarray:
    """White noise band-limited to low..high Hz, by weighting its spectrum (done once per kit)."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1.0 / sample_rate)
    weight = 1.0 / np.sqrt(1 + (low / np.maximum(freqs, 1.0)) ** 4) / np.sqrt(1 + (freqs / high) ** 4)
    noise = np.fft.irfft(spectrum * weight, n)
    return noise / (np.abs(noise).max() + 1e-9)


def _decay(n: int, sample_rate: int, seconds: float) -> np.ndarray:
    t = np.arange(n) / sample_rate
    return np.exp(-t / (seconds / 4.0)) * np.clip(t / 0.001, 0, 1)  # ~-35 dB at ``seconds``


def _fade_tail(x: np.ndarray, sample_rate: int) -> np.ndarray:
    tail = min(len(x), int(0.005 * sample_rate))
    x[-tail:] *= np.linspace(1.0, 0.0, tail)
    return x


def _kick(kit: DrumKit, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(kit.kick_decay * sr * 1.3)
    t = np.arange(n) / sr
    freq = kit.kick_pitch * (1 + (kit.kick_sweep - 1) * np.exp(-t / 0.03))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    body = np.sin(phase) * _decay(n, sr, kit.kick_decay)
    click = _shaped_noise(rng, n, sr, 1500, 8000) * _decay(n, sr, 0.01) * 0.3
    return body + click


def _snare(kit: DrumKit, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(kit.snare_decay * sr * 1.5)
    t = np.arange(n) / sr
    tone = np.sin(2 * np.pi * kit.snare_tone * t) * _decay(n, sr, kit.snare_decay * 0.6)
    noise = _shaped_noise(rng, n, sr, 1200, 9000) * _decay(n, sr, kit.snare_decay)
    return 0.5 * tone + 0.8 * noise


def _clap(kit: DrumKit, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    noise = _shaped_noise(rng, n, sr, 900, 5000)
    # Three quick bursts and a tail: hands that don't quite land together.
    bursts = sum(np.where(t >= d, np.exp(-(t - d) / 0.004), 0.0) for d in (0.0, 0.011, 0.023))
    tail = np.where(t >= 0.023, np.exp(-(t - 0.023) / 0.06), 0.0)
    return noise * (0.6 * bursts + tail)


def _hat(kit: DrumKit, sr: int, rng: np.random.Generator, seconds: float) -> np.ndarray:
    n = int(seconds * sr * 1.4)
    return _shaped_noise(rng, n, sr, kit.hat_tone, 16000) * _decay(n, sr, seconds)


class DrumSamples:
    """Every drum of one kit, in VARIANTS versions, as float32 arrays."""

    def __init__(self, kit: DrumKit, sample_rate: int, rng: np.random.Generator) -> None:
        self.kit = kit
        makers = {
            KICK: (lambda r: _kick(kit, sample_rate, r), kit.kick_level),
            SNARE: (lambda r: _snare(kit, sample_rate, r), kit.snare_level),
            CLAP: (lambda r: _clap(kit, sample_rate, r), kit.clap_level),
            CLOSED_HAT: (lambda r: _hat(kit, sample_rate, r, kit.hat_decay), kit.hat_level),
            OPEN_HAT: (lambda r: _hat(kit, sample_rate, r, kit.open_hat_decay), kit.hat_level * 0.8),
        }
        self.samples: dict[int, list[np.ndarray]] = {}
        for pitch, (make, level) in makers.items():
            variants = []
            for _ in range(VARIANTS):
                x = make(rng)
                if kit.drive > 0:
                    gain = 1 + 6 * kit.drive
                    x = np.tanh(x * gain) / np.tanh(gain)
                variants.append(_fade_tail(x * level, sample_rate).astype(np.float32))
            self.samples[pitch] = variants
        #: Hats sit a little right, everything else centred, as on most records.
        self.pan = {CLOSED_HAT: 0.25, OPEN_HAT: 0.25, CLAP: -0.1}

    def hit(self, pitch: int, variant: int) -> np.ndarray | None:
        """The sample for a GM drum pitch, or None for drums the kit lacks."""
        variants = self.samples.get(pitch)
        return None if variants is None else variants[variant % VARIANTS]
