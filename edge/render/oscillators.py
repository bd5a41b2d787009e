"""Oscillators as exactly periodic, band-limited loops built by one inverse FFT.

A note of constant pitch is periodic, and so is a stack of detuned copies if
every copy completes a whole number of cycles in the same loop length M. So
each (patch, pitch) gets one loop of M samples per channel, built in the
frequency domain: every harmonic of every copy is a single FFT bin, the
low-pass filter (with resonance) is a weight on those bins, and harmonics above
20 kHz are simply not written, so nothing aliases. Playing a note is then
copying the loop (no per-sample phase or table arithmetic at all).

M is chosen so the centre copy's pitch is exact to a fraction of a cent and
the detuned copies sit a whole number of bins apart; the loop is as long as
one beat of the detune (at most ``MAX_LOOP`` samples). Loops are cached in a
byte-bounded LRU: a style uses a few dozen pitches, so after the first bars
almost every note is a cache hit.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from edge.render.patch import Patch

MIN_LOOP = 4096
"""Shortest loop in samples: whole cycles in 4096 samples tune within 0.4 cents."""
MAX_LOOP = 49152
"""Longest loop (~1 s at 48 kHz): bounds the memory of wide, slow-beating unison stacks."""
TOP_HZ = 20000.0
"""Highest partial written (also kept under 0.46 x the sample rate)."""
_SOURCE_POINTS = 4096  # one cycle sampled this finely gives FM spectra up to 2047 harmonics
_MIDDLE_C = 261.6256


def midi_to_hz(pitch: float) -> float:
    """Equal-tempered frequency, A4 = 440 Hz."""
    return 440.0 * 2.0 ** ((pitch - 69) / 12.0)


def _source(wave: str, patch: Patch, bright: bool) -> np.ndarray:
    """Complex amplitudes of harmonics 0.._SOURCE_POINTS/2 of one cycle (index = harmonic number).

    A harmonic c contributes Re(c * exp(i h theta)); peak amplitude about 1 for every wave.
    """
    h = np.arange(_SOURCE_POINTS // 2 + 1, dtype=np.float64)
    h[0] = 1.0  # harmonic 0 (DC) is zeroed below; 1 keeps the formulas finite
    sine = -1j  # Re(-i e^{i x}) = sin(x)
    if wave == "saw":
        amps = (2 / np.pi) / h * sine
    elif wave == "square":
        amps = np.where(h % 2 == 1, (4 / np.pi) / h, 0.0) * sine
    elif wave == "pulse":
        width = patch.pulse_width
        amps = (2 / np.pi) / h * np.sin(np.pi * h * width) * np.exp(-1j * np.pi * h * width) * sine
    elif wave == "triangle":
        amps = np.where(h % 2 == 1, (8 / np.pi**2) / h**2 * (-1.0) ** ((h - 1) // 2 % 2), 0.0) * sine
    elif wave == "pluck":
        # A string plucked a fifth of the way along: comb-shaped saw; the dark spectrum falls 12 dB/oct.
        shape = np.abs(np.sin(np.pi * h * 0.2)) / (h if bright else h**2) * 3.0
        amps = shape * sine
    elif wave == "organ":
        drawbars = {1: 1.0, 2: 0.6, 3: 0.45, 4: 0.35, 6: 0.2, 8: 0.18} if bright else {1: 1.0, 2: 0.5, 3: 0.3}
        amps = np.zeros(len(h), dtype=np.complex128)
        for harmonic, level in drawbars.items():
            amps[harmonic] = 0.45 * level * sine
    elif wave == "fm":
        # sin(theta + I sin(r theta)) is periodic in theta for a whole ratio r: sample one cycle.
        index = patch.fm_index * (1.0 if bright else 0.2)
        theta = np.arange(_SOURCE_POINTS) * (2 * np.pi / _SOURCE_POINTS)
        cycle = np.sin(theta + index * np.sin(patch.fm_ratio * theta))
        amps = np.fft.rfft(cycle) * (2.0 / _SOURCE_POINTS)
    else:  # sine
        amps = np.zeros(len(h), dtype=np.complex128)
        amps[1] = sine
    amps = np.asarray(amps, dtype=np.complex128)
    amps[0] = 0.0
    return amps


def _largest_factor(n: int) -> int:
    """Largest prime factor of n (trial division; n is at most a few hundred thousand)."""
    largest, d = 1, 2
    while d * d <= n:
        while n % d == 0:
            largest, n = d, n // d
        d += 1
    return max(largest, n)


def _cycles(freq: float, target: float, sample_rate: int, even: bool) -> int:
    """Whole cycles k per loop near ``target`` samples whose loop length is 5-smooth.

    The loop length round(k * rate / freq) keeps the pitch exact whatever k is; a length with
    only small prime factors keeps its inverse FFT fast (a large prime costs 10x or more).
    """
    centre = max(2, round(freq * target / sample_rate))
    span = range(max(2, int(centre * 0.8)), int(centre * 1.2) + 3)
    candidates = sorted(span, key=lambda c: abs(c - centre))
    if even:
        candidates = [c for c in candidates if c % 2 == 0]
    best, best_factor = candidates[0], 1 << 30
    for k in candidates:
        length = round(k * sample_rate / freq)
        if length > MAX_LOOP * 1.2:
            continue
        factor = _largest_factor(length)
        if factor <= 5:
            return k
        if factor < best_factor:
            best, best_factor = k, factor
    return best


def _lowpass(freqs: np.ndarray, cutoff: float, resonance: float) -> np.ndarray:
    """|H| of a 24 dB/oct low-pass: a resonant 2-pole section times a Butterworth 2-pole section."""
    r2 = (freqs / cutoff) ** 2
    q = 0.7071 + 5.0 * resonance
    resonant = 1.0 / np.sqrt((1.0 - r2) ** 2 + r2 / q**2)
    return resonant / np.sqrt(1.0 + r2 * r2)


@dataclass(frozen=True)
class Loops:
    """One note's oscillator loops: ``dark`` and ``bright - dark``, shape (channels, period)."""

    dark: np.ndarray
    """Loop at the filter's resting cutoff, float32 (channels, period)."""
    diff: np.ndarray | None
    """Bright loop minus dark loop (None when the patch has no bright spectrum)."""

    @property
    def period(self) -> int:
        """Loop length M in samples."""
        return self.dark.shape[1]

    @property
    def nbytes(self) -> int:
        """Memory held."""
        return self.dark.nbytes + (0 if self.diff is None else self.diff.nbytes)


class Voice:
    """A patch compiled for the loop builder: its dark and bright source spectra, and its uid (which
    keys the caches and seeds the phases). A synth keeps the Voice of every sound it has played;
    the spectra (64 KiB a voice) only while the voice plays (``forget``)."""

    def __init__(self, patch: Patch, uid: int) -> None:
        self.patch = patch
        self.uid = uid
        self._sources: tuple[np.ndarray, np.ndarray] | None = None
        dark, bright = self.sources()
        #: Whether there is a bright spectrum to crossfade toward at all.
        self.sweeps = patch.filter_env > 0 or not np.array_equal(dark, bright)

    def sources(self) -> tuple[np.ndarray, np.ndarray]:
        """The dark and bright source spectra (``_source``), computed again after ``forget``."""
        if self._sources is None:
            wave, patch = self.patch.wave, self.patch
            self._sources = (_source(wave, patch, bright=False), _source(wave, patch, bright=True))
        return self._sources

    def forget(self) -> None:
        """The voice stops playing for now: let its spectra go (the same ones come back)."""
        self._sources = None


class LoopBank:
    """Builds loops and keeps recent ones in an LRU bounded by bytes.

    The default budget holds a style's whole working set (measured 8-14 MB for the shipped
    packs over two minutes, mostly wide stereo pads), so after the first bars nothing is rebuilt.
    """

    def __init__(self, sample_rate: int, seed: int, budget_bytes: int = 16 << 20) -> None:
        self.sample_rate = sample_rate
        self.seed = seed
        self.budget = budget_bytes
        self._held = 0
        self._loops: OrderedDict[tuple[int, int, int, bool], Loops] = OrderedDict()
        #: Oscillator-samples computed by loop builds (a work counter for tests and the governor).
        self.built_samples = 0

    def get(self, voice: Voice, pitch: int, copies: int, stereo: bool) -> Loops:
        """The loops of ``voice`` for MIDI ``pitch`` (octave applied) with ``copies`` unison copies."""
        key = (voice.uid, pitch, copies, stereo)
        loops = self._loops.get(key)
        if loops is not None:
            self._loops.move_to_end(key)
            return loops
        loops = self._build(voice, pitch, copies, stereo)
        self._loops[key] = loops
        self._held += loops.nbytes
        while self._held > self.budget and len(self._loops) > 1:
            _, old = self._loops.popitem(last=False)
            self._held -= old.nbytes
        return loops

    def clear(self) -> None:
        """Forget every loop (a new sound world)."""
        self._loops.clear()
        self._held = 0

    def keep(self, uids: set[int]) -> None:
        """Forget the loops of every voice not in ``uids`` (they are built again, the same, if needed)."""
        for key in [key for key in self._loops if key[0] not in uids]:
            self._held -= self._loops.pop(key).nbytes

    def _period(self, freq: float, copies: int, detune: float, even_cycles: bool) -> tuple[int, int, int]:
        """(M, cycles of the centre copy k, bins between neighbouring copies' offsets q)."""
        sr = self.sample_rate
        spacing = 0.0
        if copies > 1 and detune > 0:
            spacing = freq * (2.0 ** (detune / 1200.0) - 1.0) / (copies - 1)  # Hz between neighbours
        target = MIN_LOOP if spacing <= 0 else min(MAX_LOOP, max(MIN_LOOP, sr / spacing))
        k = _cycles(freq, target, sr, even_cycles)
        period = max(8, round(k * sr / freq))
        step = spacing * period / sr  # neighbour spacing in bins
        q = max(1, round(step if copies % 2 else step / 2)) if spacing > 0 else 0
        return period, k, q

    def _build(self, voice: Voice, pitch: int, copies: int, stereo: bool) -> Loops:
        patch = voice.patch
        sr = self.sample_rate
        freq = midi_to_hz(pitch)
        period, k, q = self._period(freq, copies, patch.detune, patch.sub > 0)
        # Copy offsets in bins: odd stacks -q, 0, q...; even stacks -q, q, -3q, 3q ... (symmetric).
        centred = np.arange(copies) - (copies - 1) / 2.0
        offsets = np.round(centred * (q if copies % 2 else 2 * q)).astype(np.int64)
        base = np.maximum(1, k + offsets)  # cycles per loop of each copy
        top = min(TOP_HZ, 0.46 * sr) * period / sr  # highest bin written
        count = int(min(_SOURCE_POINTS // 2, top // base.min()))
        harmonics = np.arange(1, max(count, 1) + 1)
        bins = harmonics[None, :] * base[:, None]  # (copies, harmonics)
        valid = bins <= top
        hz = bins * (sr / period)
        cutoff = patch.cutoff * (freq / _MIDDLE_C) ** patch.keytrack
        cutoff = float(np.clip(cutoff, 20.0, 0.45 * sr))
        rng = np.random.default_rng([self.seed, 7, pitch, copies, int(stereo), voice.uid])
        # Free-running copies: each starts at its own random point of its cycle.
        phase = np.exp(1j * harmonics[None, :] * rng.uniform(0, 2 * np.pi, copies)[:, None])
        if copies == 1:
            phase[:] = 1.0
        if stereo and copies > 1:
            pans = patch.width * centred / max(1e-9, np.abs(centred).max())
            angle = (pans + 1.0) * np.pi / 4.0
            gains = np.stack((np.cos(angle), np.sin(angle))) * np.sqrt(2.0)  # (2, copies), centre = 1
        else:
            gains = np.ones((1, copies))
        gains = gains / np.sqrt(copies)
        dark_source, bright_source = voice.sources()
        tables = [(dark_source, cutoff)]
        if voice.sweeps:
            tables.append((bright_source, min(cutoff * 2.0**patch.filter_env, 0.45 * sr)))
        # complex64 makes the inverse FFT single precision: twice as fast, and exact enough for audio.
        spectra = np.zeros((len(tables), gains.shape[0], period // 2 + 1), dtype=np.complex64)
        flat_bins = bins[valid]
        for t, (source, fc) in enumerate(tables):
            amps = source[harmonics][None, :] * _lowpass(hz, fc, patch.resonance) * phase
            for ch in range(gains.shape[0]):
                values = (amps * gains[ch][:, None])[valid] * (period / 2.0)
                real = np.bincount(flat_bins, weights=values.real, minlength=period // 2 + 1)
                imag = np.bincount(flat_bins, weights=values.imag, minlength=period // 2 + 1)
                spectra[t, ch] = real + 1j * imag
            if patch.sub > 0:
                # Sine an octave down, in the middle of the stereo field, not detuned.
                sub = patch.sub * -1j * _lowpass(np.array([freq / 2]), fc, 0.0)[0] * (period / 2.0)
                spectra[t, :, k // 2] += sub * 0.8
        waves = np.fft.irfft(spectra, n=period, axis=-1).astype(np.float32, copy=False)
        self.built_samples += waves.size
        # A copy, not a view: a view would keep the whole two-table array alive behind the budget.
        dark = waves[0].copy()
        diff = waves[1] - waves[0] if voice.sweeps else None
        return Loops(dark, diff)


def fill(loop: np.ndarray, offset: int, n: int, out: np.ndarray | None = None) -> np.ndarray:
    """``n`` samples of a periodic ``loop`` (last axis) starting ``offset`` into it, by doubling copies."""
    period = loop.shape[-1]
    if out is None:
        out = np.empty((*loop.shape[:-1], n), dtype=loop.dtype)
    offset %= period
    first = min(n, period - offset)
    out[..., :first] = loop[..., offset : offset + first]
    if first < n:
        rest = min(period, n) - first
        out[..., first : first + rest] = loop[..., :rest]
        done = first + rest  # == period: out repeats with ``period``, so copy whole periods of itself
        while done < n:
            size = min(done, n - done)
            out[..., done : done + size] = out[..., :size]
            done += size
    return out


def multiply_loop(loop: np.ndarray, offset: int, env: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = periodic loop (from offset) * env`` in one pass, a period-long piece at a time."""
    period = loop.shape[-1]
    offset %= period
    n = env.shape[-1]
    done = 0
    while done < n:
        size = min(period - offset, n - done)
        piece = slice(done, done + size)
        np.multiply(loop[..., offset : offset + size], env[piece], out=out[..., piece])
        done += size
        offset = 0
    return out


def add_loop(loop: np.ndarray, offset: int, out: np.ndarray) -> np.ndarray:
    """``out += periodic loop (from offset)`` in place, a period-long piece at a time."""
    period = loop.shape[-1]
    offset %= period
    n = out.shape[-1]
    done = 0
    while done < n:
        size = min(period - offset, n - done)
        out[..., done : done + size] += loop[..., offset : offset + size]
        done += size
        offset = 0
    return out
