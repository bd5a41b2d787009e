"""Voices: each note is rendered once, whole, vectorised over its samples.

Wavetable voices (pad, bass, lead) read a band-limited single cycle built by
an inverse FFT of harmonic amplitudes; the low-pass filter is applied as a
weighting of those harmonics, so it costs nothing per sample, and a filter
sweep is a crossfade between a bright and a dark table. FM voices (keys,
pluck) are two sine operators with a decaying modulation index.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from edge.render.patch import Patch

TABLE_SIZE = 8192  # large enough that a nearest-sample read needs no interpolation
MAX_NOTE_SECONDS = 8.0
MIN_ATTACK = 0.003  # seconds: shorter starts click
MIN_RELEASE = 0.012


def midi_to_hz(pitch: float) -> float:
    """Equal-tempered frequency, A4 = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


class TableCache:
    """Band-limited, filtered single-cycle tables, kept in a small LRU."""

    def __init__(self, sample_rate: int, size: int = 128) -> None:
        self.sample_rate = sample_rate
        self.size = size
        self._tables: OrderedDict[tuple, np.ndarray] = OrderedDict()

    def get(self, wave: str, freq: float, cutoff: float, resonance: float) -> np.ndarray:
        """One cycle (plus a guard sample for interpolation) for a note of ``freq`` Hz."""
        # Quantise the keys so nearby notes share tables: a semitone and a sixth of an octave.
        key = (wave, round(12 * np.log2(freq)), round(6 * np.log2(max(cutoff, 20.0))), round(resonance, 2))
        table = self._tables.get(key)
        if table is not None:
            self._tables.move_to_end(key)
            return table
        table = self._build(wave, freq, cutoff, resonance)
        self._tables[key] = table
        if len(self._tables) > self.size:
            self._tables.popitem(last=False)
        return table

    def _build(self, wave: str, freq: float, cutoff: float, resonance: float) -> np.ndarray:
        harmonics = np.arange(1, 2048)
        # Drop everything at or above ~Nyquist (a semitone of margin for vibrato and detune).
        limit = int(0.45 * self.sample_rate / freq)
        k = harmonics[:limit] if limit > 0 else harmonics[:1]
        if wave == "saw":
            amps = 1.0 / k
        elif wave == "square":
            amps = np.where(k % 2 == 1, 1.0 / k, 0.0)
        elif wave == "triangle":
            amps = np.where(k % 2 == 1, ((-1.0) ** ((k - 1) // 2)) / k**2, 0.0)
        else:
            amps = np.where(k == 1, 1.0, 0.0)
        # A two-pole low-pass response evaluated at each harmonic; resonance raises the peak.
        ratio = k * freq / cutoff
        q = 0.7 + 3.5 * resonance
        response = 1.0 / np.sqrt((1 - ratio**2) ** 2 + (ratio / q) ** 2)
        spectrum = np.zeros(TABLE_SIZE // 2 + 1, dtype=np.complex128)
        spectrum[k] = amps * response * -1j  # sine phase: every table starts at zero
        cycle = np.fft.irfft(spectrum, TABLE_SIZE)
        peak = np.abs(cycle).max()
        cycle = cycle / peak if peak > 0 else cycle
        return np.append(cycle, cycle[0]).astype(np.float32)


class EnvelopeCache:
    """The attack-decay-sustain curve of each patch, computed once at full note length."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._curves: dict[tuple, np.ndarray] = {}

    def body(self, patch: Patch, decay_only: bool) -> np.ndarray:
        attack = max(MIN_ATTACK, patch.attack)
        sustain = 0.0 if decay_only else patch.sustain
        key = (attack, patch.decay, sustain)
        curve = self._curves.get(key)
        if curve is None:
            # Past six decay times the curve has reached its sustain level: store only the moving part.
            seconds = min(MAX_NOTE_SECONDS, attack + 6 * patch.decay)
            t = np.arange(int(seconds * self.sample_rate) + 1, dtype=np.float32) / self.sample_rate
            after = np.maximum(t - attack, 0.0)
            # Exponential decay toward the sustain level after a linear attack.
            curve = sustain + (1.0 - sustain) * np.exp(-after / np.float32(patch.decay))
            curve = np.where(t < attack, t / np.float32(attack), curve).astype(np.float32)
            if len(self._curves) > 64:
                self._curves.clear()
            self._curves[key] = curve
        return curve

    def envelope(self, patch: Patch, held: float, decay_only: bool = False) -> np.ndarray:
        """ADSR amplitude for a note held ``held`` seconds, including its release tail."""
        release = max(MIN_RELEASE, patch.release)
        held = max(held, max(MIN_ATTACK, patch.attack))
        n_held = min(int(held * self.sample_rate), int(MAX_NOTE_SECONDS * self.sample_rate) - 1)
        n = min(n_held + int(release * self.sample_rate), int(MAX_NOTE_SECONDS * self.sample_rate))
        body = self.body(patch, decay_only)
        env = np.empty(n, dtype=np.float32)
        moving = min(n, len(body))
        env[:moving] = body[:moving]
        env[moving:] = body[-1]
        # Release: a linear ramp to exactly zero from wherever the note was when released.
        tail = n - n_held
        if tail > 0:
            env[n_held:] *= np.linspace(1.0, 0.0, tail, dtype=np.float32)
        return env


_INDEX_SHIFT = 32 - 13  # the top 13 bits of the phase address the 2**13-entry table
_COUNT = np.arange(int(MAX_NOTE_SECONDS * 48000) + 1, dtype=np.uint32)


def _counter(n: int) -> np.ndarray:
    """0, 1, ... n-1 as uint32, sliced from a shared array (grown for higher sample rates)."""
    global _COUNT
    if n > len(_COUNT):
        _COUNT = np.arange(n, dtype=np.uint32)
    return _COUNT[:n]


def _phase(freq: float, n: int, sample_rate: int, start: float, vibrato_cents: float) -> np.ndarray:
    """Oscillator phase as a 32-bit fixed-point accumulator, wrapping like a hardware synth's.

    Integer phase is exact over any note length and cheaper than float64 arithmetic.
    """
    increment = np.uint32(round(freq / sample_rate * 2**32) % 2**32)
    phase = _counter(n) * increment + np.uint32(int(start * 2**32) % 2**32)
    if vibrato_cents > 0:
        # Vibrato fades in over 0.3 s, as players do; its phase is the integral of the frequency wobble.
        t = _counter(n).astype(np.float32)
        depth = freq * (2 ** (vibrato_cents / 1200.0) - 1.0) * np.minimum(t / (0.3 * sample_rate), 1.0)
        wobble = depth * np.sin(np.float32(2 * np.pi * 5.0 / sample_rate) * t) / np.float32(2 * np.pi * 5.0)
        phase += (wobble * 2**32).astype(np.int64).astype(np.uint32)
    return phase


def _lookup(table: np.ndarray, phase: np.ndarray) -> np.ndarray:
    # Nearest sample: with 8192 entries the phase error stays below -70 dB for the harmonics
    # that carry energy, and one gather is half the cost of interpolating.
    return table[phase >> _INDEX_SHIFT]


class VoiceRenderer:
    """Renders single notes for any patch; deterministic for its random generator."""

    def __init__(self, sample_rate: int, rng: np.random.Generator) -> None:
        self.sample_rate = sample_rate
        self.rng = rng
        self.tables = TableCache(sample_rate)
        self.envelopes = EnvelopeCache(sample_rate)

    def note(
        self, patch: Patch, pitch: int, velocity: int, held: float, energy: float, unison: int
    ) -> np.ndarray:
        """Mono float32 samples of one note, envelope and velocity applied."""
        freq = midi_to_hz(pitch + 12 * patch.octave)
        amplitude = np.float32((velocity / 127.0) ** 1.5)
        if patch.voice in ("keys", "pluck"):
            env = self.envelopes.envelope(patch, held, decay_only=patch.voice == "pluck")
            return self._fm(patch, freq, len(env), energy) * env * amplitude
        env = self.envelopes.envelope(patch, held)
        return self._wavetable(patch, freq, len(env), energy, unison) * env * amplitude

    def _wavetable(self, patch: Patch, freq: float, n: int, energy: float, unison: int) -> np.ndarray:
        cutoff = patch.cutoff * 2.0 ** (patch.brightness * 2 * (energy - 0.5))
        dark = self.tables.get(patch.wave, freq, cutoff, patch.resonance)
        bright = (
            self.tables.get(patch.wave, freq, cutoff * 2.0**patch.filter_env, patch.resonance)
            if patch.filter_env > 0
            else None
        )
        copies = max(1, min(unison, patch.unison))
        spread = np.linspace(-1.0, 1.0, copies) if copies > 1 else np.zeros(1)
        out = np.zeros(n, dtype=np.float32)
        sweep = None
        if bright is not None:
            # The filter opens on the attack and closes over the decay time.
            t = np.arange(n, dtype=np.float32) / np.float32(self.sample_rate)
            sweep = np.exp(-t / np.float32(max(patch.decay, 0.01)))
        starts = self.rng.random(copies)
        for offset, start in zip(spread, starts, strict=True):
            f = freq * 2.0 ** (offset * patch.detune / 1200.0)
            phase = _phase(f, n, self.sample_rate, start, patch.vibrato)
            wave = _lookup(dark, phase)
            if sweep is not None:
                wave = wave + sweep * (_lookup(bright, phase) - wave)
            out += wave
        return out * np.float32(1.0 / np.sqrt(copies))

    def _fm(self, patch: Patch, freq: float, n: int, energy: float) -> np.ndarray:
        t = np.arange(n, dtype=np.float32) / np.float32(self.sample_rate)
        index = patch.fm_index * (0.6 + 0.8 * energy)
        # The index decays to a third of its start over fm_decay: bright attack, mellow body.
        index_env = np.float32(index) * (0.25 + 0.75 * np.exp(-t / np.float32(patch.fm_decay)))
        modulator = np.sin(np.float32(2 * np.pi * freq * patch.fm_ratio) * t)
        return np.sin(np.float32(2 * np.pi * freq) * t + index_env * modulator).astype(np.float32)
