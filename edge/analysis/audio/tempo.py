"""Tempo and beats from audio: an onset-strength envelope, its autocorrelation, Ellis's tracker.

- Onset strength: spectral flux, the half-wave rectified rise of the log-compressed magnitude
  spectrum from one frame to the next, summed over 30 Hz-8 kHz, with its slow trend removed.
- Tempo: the peaks of the envelope's autocorrelation over lags of 40-240 BPM, weighted by a
  log-normal prior centred on 120 BPM with a spread of one octave (as librosa's ``beat.tempo``
  does), the best peak refined by a parabola through its neighbours; 120 BPM when no lag in range
  is a peak.
- The transcribed notes' onsets are added to the envelope (``with_note_onsets``): on soft attacks
  the flux alone found the tempo of 10 of 24 flute scales, with them all 24.
- Beats: dynamic programming (D. Ellis, "Beat Tracking by Dynamic Programming", JNMR 2007): each
  frame's score is its onset strength plus the best earlier beat's score less a penalty growing
  with the squared log of how far the gap strays from the tempo's period (tightness 100); the best
  path is traced back from the strongest beat of the last period. Weak beats at either end (under
  half the median beat strength, mostly silence) are trimmed.
"""

from __future__ import annotations

import numpy as np

from edge.analysis.audio.read import RATE
from edge.analysis.audio.spectrum import HOP, ONSET_FFT, magnitudes

FPS = RATE / HOP
"""Envelope frames a second (about 86)."""
MIN_BPM, MAX_BPM = 40.0, 240.0
"""Tempos considered."""
PRIOR_BPM, PRIOR_OCTAVES = 120.0, 1.0
"""The log-normal tempo prior's centre and spread."""
TIGHTNESS = 100.0
"""How strongly the tracker holds the period (Ellis's and librosa's default)."""


def onset_strength(x: np.ndarray) -> np.ndarray:
    """Spectral flux of ``x`` (mono at RATE), one value a HOP, mean-free and non-negative."""
    low, high = int(30 * ONSET_FFT / RATE), int(8000 * ONSET_FFT / RATE)
    parts = []
    previous = None
    for chunk in magnitudes(x, ONSET_FFT):
        band = np.log1p(100.0 * chunk[:, low:high])
        start = band[:1] if previous is None else previous
        rise = np.diff(np.concatenate([start, band]), axis=0)
        parts.append(np.maximum(rise, 0).sum(axis=1))
        previous = band[-1:]
    flux = np.concatenate(parts)
    width = int(FPS)  # a second's running mean removes the slow trend
    trend = np.convolve(flux, np.ones(width) / width, mode="same")
    return np.maximum(flux - trend, 0)


def with_note_onsets(envelope: np.ndarray, onsets: list[tuple[float, float]]) -> np.ndarray:
    """The envelope plus the transcribed notes' onsets ((seconds, weight) pairs, each a Gaussian
    of 2 frames), both scaled to unit spread: a soft attack (a flute, strings) barely moves the
    spectral flux, but the transcriber still hears the note start."""
    pulses = np.zeros(len(envelope))
    for seconds, weight in onsets:
        frame = round(seconds * FPS)
        if 0 <= frame < len(pulses):
            pulses[frame] += weight
    kernel = np.exp(-0.5 * (np.arange(-6, 7) / 2.0) ** 2)
    pulses = np.convolve(pulses, kernel, mode="same")
    spread_e, spread_p = envelope.std(), pulses.std()
    return (envelope / spread_e if spread_e > 0 else envelope) + (
        pulses / spread_p if spread_p > 0 else pulses
    )


def estimate_tempo(envelope: np.ndarray) -> float:
    """The dominant tempo in BPM (the prior-weighted autocorrelation peak)."""
    smooth = np.exp(-0.5 * (np.arange(-4, 5) / 1.5) ** 2)  # onsets between frames share a lag
    e = np.convolve(envelope, smooth / smooth.sum(), mode="same")
    e = e - e.mean()
    size = 1 << int(np.ceil(np.log2(2 * len(e) + 1)))
    spectrum = np.fft.rfft(e, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[: len(e)]
    lags = np.arange(len(acf), dtype=np.float64)
    lo, hi = int(np.floor(60 * FPS / MAX_BPM)), min(int(np.ceil(60 * FPS / MIN_BPM)), len(acf) - 2)
    if hi <= lo + 2 or acf[0] <= 0:
        return PRIOR_BPM
    bpm = 60 * FPS / np.maximum(lags[lo : hi + 1], 1)
    prior = np.exp(-0.5 * (np.log2(bpm / PRIOR_BPM) / PRIOR_OCTAVES) ** 2)
    window = acf[lo - 1 : hi + 2]
    peaks = (window[1:-1] > window[:-2]) & (window[1:-1] >= window[2:]) & (window[1:-1] > 0)
    if not peaks.any():  # no periodicity in range (onsets a bar apart, or none): the prior's tempo
        return PRIOR_BPM
    weighted = np.where(peaks, acf[lo : hi + 1] * prior, -np.inf)
    best = lo + int(np.argmax(weighted))
    a, b, c = acf[best - 1], acf[best], acf[best + 1]
    shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) < 0 else 0.0
    return float(60 * FPS / (best + float(np.clip(shift, -0.5, 0.5))))


def track_beats(envelope: np.ndarray, bpm: float) -> np.ndarray:
    """Beat times in seconds (Ellis 2007's dynamic programme at the period of ``bpm``)."""
    count = len(envelope)
    period = 60 * FPS / bpm
    if count < 2 * period or envelope.max() <= 0:
        return np.zeros(0)
    sigma = period / 32
    kernel = np.exp(-0.5 * (np.arange(-int(4 * sigma), int(4 * sigma) + 1) / max(sigma, 1e-9)) ** 2)
    local = np.convolve(envelope / envelope.std(), kernel, mode="same")
    gaps = np.arange(round(period / 2), round(2 * period) + 1)
    penalty = -TIGHTNESS * np.log(gaps / period) ** 2
    score = local.copy()
    back = np.full(count, -1, dtype=np.int64)
    for i in range(gaps[0], count):
        usable = gaps[gaps <= i]
        candidates = score[i - usable] + penalty[: len(usable)]
        best = int(np.argmax(candidates))
        if candidates[best] > 0:
            score[i] += candidates[best]
            back[i] = i - usable[best]
    tail = score[max(count - round(period), 0) :]
    last = count - len(tail) + int(np.argmax(tail))
    beats = [last]
    while back[beats[-1]] >= 0:
        beats.append(int(back[beats[-1]]))
    frames = np.array(beats[::-1])
    strength = local[frames]
    strong = np.nonzero(strength >= 0.5 * np.median(strength))[0]
    frames = frames[strong[0] : strong[-1] + 1] if len(strong) else frames
    return frames / FPS
