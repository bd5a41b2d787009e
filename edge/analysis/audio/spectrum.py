"""The short-time spectrum, computed in chunks so a long file never holds it whole."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

N_FFT = 4096
"""Samples a frame (186 ms at 22050 Hz: 5.4 Hz bins, under a semitone above 90 Hz)."""
HOP = 256
"""Samples between frames (11.6 ms at 22050 Hz)."""
CHUNK_FRAMES = 256
"""Frames computed at once (256 x 4096 samples: the FFT's working arrays stay near 30 MiB)."""
ONSET_FFT = 1024
"""Samples a frame for onsets (46 ms: a short window places an onset to within a hop or two)."""


def frame_count(samples: int) -> int:
    """Frames of a signal of ``samples`` (centred frames, one per hop)."""
    return 1 + samples // HOP


def magnitudes(x: np.ndarray, n_fft: int = N_FFT) -> Iterator[np.ndarray]:
    """|STFT| of ``x`` in chunks of (frames, n_fft // 2 + 1), Hann window, frames centred on i x HOP."""
    padded = np.concatenate([np.zeros(n_fft // 2, np.float32), x, np.zeros(n_fft // 2, np.float32)])
    window = np.hanning(n_fft).astype(np.float32)
    total = frame_count(len(x))
    for first in range(0, total, CHUNK_FRAMES):
        starts = np.arange(first, min(first + CHUNK_FRAMES, total)) * HOP
        frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[starts]
        yield np.abs(np.fft.rfft(frames * window, axis=1)).astype(np.float32)
