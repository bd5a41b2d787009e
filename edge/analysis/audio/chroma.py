"""Pitch-class energy (chroma) and loudness from audio.

Chroma: each STFT bin between 55 Hz and 2 kHz is given to the nearest equal-tempered pitch (A4 =
440 Hz) when it lies within a third of a semitone of it, and its log-compressed magnitude added
to that pitch class: a constant-Q-like fold of the spectrum. Summed over the piece it is the
pitch-class profile ``edge.analysis.key`` correlates with the key profiles, as durations are
for MIDI. Loudness: RMS in dBFS per span (per beat in the analysis).
"""

from __future__ import annotations

import itertools

import numpy as np

from edge.analysis.audio.read import RATE
from edge.analysis.audio.spectrum import N_FFT, magnitudes

LOW_HZ, HIGH_HZ = 55.0, 2000.0
"""The band folded into chroma (A1 to about B6)."""
SILENCE_DB = -120.0
"""The level reported for digital silence."""


def _bin_classes() -> tuple[np.ndarray, np.ndarray]:
    """(bin indices used, the pitch class of each)."""
    freqs = np.arange(N_FFT // 2 + 1) * RATE / N_FFT
    with np.errstate(divide="ignore"):
        midi = 69 + 12 * np.log2(np.maximum(freqs, 1e-9) / 440.0)
    near = np.abs(midi - np.round(midi)) <= 1 / 3
    used = np.nonzero((freqs >= LOW_HZ) & (freqs <= HIGH_HZ) & near)[0]
    return used, np.round(midi[used]).astype(np.int64) % 12


def chroma_profile(x: np.ndarray) -> list[float]:
    """Twelve pitch-class weights (C first) summed over ``x`` (mono at RATE)."""
    used, classes = _bin_classes()
    fold = np.zeros((len(used), 12), np.float32)
    fold[np.arange(len(used)), classes] = 1.0
    total = np.zeros(12)
    for chunk in magnitudes(x):
        total += (np.log1p(chunk[:, used]) @ fold).sum(axis=0)
    return total.tolist()


def loudness_db(x: np.ndarray, edges_s: np.ndarray) -> list[float]:
    """RMS level in dBFS of ``x`` between consecutive times in ``edges_s`` (seconds)."""
    edges = np.clip(np.round(np.asarray(edges_s) * RATE).astype(np.int64), 0, len(x))
    squares = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
    out = []
    for a, b in itertools.pairwise(edges):
        mean = (squares[b] - squares[a]) / (b - a) if b > a else 0.0
        out.append(round(10 * np.log10(mean), 2) if mean > 1e-12 else SILENCE_DB)
    return out
