"""Sample conversion between float32 blocks and the byte formats the sinks write.

Blocks everywhere in edge.audio are float32 arrays shaped (frames, channels)
with full scale at +-1.0. Conversion clips to full scale and rounds to the
nearest integer without dither: the synth's own noise floor is far above the
16-bit quantisation step, and dither would make round trips untestable.
"""

from __future__ import annotations

import numpy as np

FORMATS = ("S16_LE", "S32_LE", "FLOAT_LE")
"""Sample formats every sink understands (the names ALSA uses)."""

_WIDTH = {"S16_LE": 2, "S32_LE": 4, "FLOAT_LE": 4}
# Symmetric scaling: +1.0 -> max, -1.0 -> -max, so a full-scale sine never wraps.
_S16_MAX = 32767.0
_S32_MAX = 2147483647.0


def sample_width(fmt: str) -> int:
    """Bytes per sample of ``fmt``; raises ValueError for an unknown format."""
    try:
        return _WIDTH[fmt]
    except KeyError:
        raise ValueError(f"unknown sample format {fmt!r} (known: {', '.join(FORMATS)})") from None


def as_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """``block`` as float32 (frames, channels): mono is averaged down or copied up.

    A 1-D block counts as mono. Going from more to fewer than two channels
    averages; going up copies mono to every channel, or fills extra channels
    of a multichannel device with silence.
    """
    x = np.asarray(block, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"expected a (frames, channels) block, got shape {x.shape}")
    have = x.shape[1]
    if have == channels:
        return x
    if channels == 1:
        return x.mean(axis=1, keepdims=True, dtype=np.float32)
    if have == 1:
        return np.repeat(x, channels, axis=1)
    out = np.zeros((x.shape[0], channels), dtype=np.float32)
    keep = min(have, channels)
    out[:, :keep] = x[:, :keep]
    return out


def to_bytes(block: np.ndarray, fmt: str) -> bytes:
    """Interleaved little-endian bytes of ``block`` in ``fmt``, clipped to full scale.

    NaN becomes silence and +-inf full scale: a synth bug must not turn into
    integer garbage at the speaker.
    """
    sample_width(fmt)  # validates fmt before any work
    # One new array, worked on in place (temporaries the size of a long block fall out of the cache).
    x = np.clip(np.asarray(block, dtype=np.float32), np.float32(-1.0), np.float32(1.0))  # +-inf: full scale
    if np.isnan(x.max()):  # NaN survives clip and max: one fast pass finds it
        x[np.isnan(x)] = 0.0
    if fmt == "S16_LE":
        np.multiply(x, np.float32(_S16_MAX), out=x)
        data = np.rint(x, out=x).astype("<i2")
    elif fmt == "S32_LE":
        # float64: float32 cannot hold 2**31 - 1, and 1.0 must not wrap to -2**31.
        data = np.rint(x.astype(np.float64) * _S32_MAX).astype("<i4")
    else:
        data = x.astype("<f4", copy=False)
    return data.tobytes()


def from_bytes(data: bytes, fmt: str, channels: int) -> np.ndarray:
    """The inverse of :func:`to_bytes`: float32 (frames, channels)."""
    width = sample_width(fmt)
    usable = len(data) - len(data) % (width * channels)
    raw = memoryview(data)[:usable]
    if fmt == "S16_LE":
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / np.float32(_S16_MAX)
    elif fmt == "S32_LE":
        x = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / _S32_MAX).astype(np.float32)
    else:
        x = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    return x.reshape(-1, channels)
