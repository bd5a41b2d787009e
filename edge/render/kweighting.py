"""BS.1770's K-weighting as a power response: what loudness meters weight a spectrum with.

The standard's two biquads (a +4 dB shelf from about 1.7 kHz, and a 38 Hz high-pass) designed at
any rate (pyloudnorm's derivation), evaluated at the bins of a real FFT: the master's leveller and
the library's meter for an audio track weight a chunk's power spectrum with it instead of running
IIR filters sample by sample.
"""

from __future__ import annotations

import math

import numpy as np


def k_weighting(n: int, sample_rate: int) -> np.ndarray:
    """|H|^2 of BS.1770's K-weighting (a +4 dB shelf from ~1.7 kHz and a 38 Hz high-pass) at the
    bins of an ``n``-point real FFT, computed from the standard's two biquads at this rate."""
    z = np.exp(-1j * 2.0 * np.pi * np.fft.rfftfreq(n, 1.0 / sample_rate) / sample_rate)
    response = np.ones_like(z)
    for b, a in _biquads(sample_rate):
        response *= np.polyval(b[::-1], z) / np.polyval(a[::-1], z)
    return (np.abs(response) ** 2).astype(np.float64)


def power_weights(n: int, sample_rate: int) -> np.ndarray:
    """``k_weighting`` ready for Parseval: ``(abs(rfft(x, n)) ** 2 @ weights) / (n * len(x))`` is the
    K-weighted mean square of ``x`` (zero-padded to ``n`` frames, or exactly ``n`` long), the bins
    between DC and Nyquist standing for two of the full spectrum."""
    weights = k_weighting(n, sample_rate)
    weights[1 : n // 2 + (n % 2)] *= 2.0
    return weights


def _biquads(rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The shelf and the high-pass as (b, a), in powers of z^-1 (pyloudnorm's derivation)."""
    shelf_gain, shelf_q, shelf_fc = 4.0, 1.0 / math.sqrt(2.0), 1681.974450955533
    pass_q, pass_fc = 0.5003270373238773, 38.13547087602444
    A = 10.0 ** (shelf_gain / 40.0)
    w0 = 2.0 * math.pi * shelf_fc / rate
    alpha = math.sin(w0) / (2.0 * shelf_q)
    cos, root = math.cos(w0), 2.0 * math.sqrt(A) * alpha
    shelf_b = np.array([A * ((A + 1) + (A - 1) * cos + root), -2 * A * ((A - 1) + (A + 1) * cos),
                        A * ((A + 1) + (A - 1) * cos - root)])  # fmt: skip
    shelf_a = np.array([(A + 1) - (A - 1) * cos + root, 2 * ((A - 1) - (A + 1) * cos),
                        (A + 1) - (A - 1) * cos - root])  # fmt: skip
    w0 = 2.0 * math.pi * pass_fc / rate
    alpha, cos = math.sin(w0) / (2.0 * pass_q), math.cos(w0)
    pass_b = np.array([(1 + cos) / 2, -(1 + cos), (1 + cos) / 2])
    pass_a = np.array([1 + alpha, -2 * cos, 1 - alpha])
    return [(shelf_b / shelf_a[0], shelf_a / shelf_a[0]), (pass_b / pass_a[0], pass_a / pass_a[0])]
