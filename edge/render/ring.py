"""Wrap-around reads and writes on ring buffers with plain slices (fancy indexing is ~10x slower)."""

from __future__ import annotations

import numpy as np


def spans(start: int, n: int, size: int) -> tuple[tuple[int, int], tuple[int, int] | None]:
    """The one or two (begin, end) slices that ``n`` items from ``start`` occupy in a ring of ``size``."""
    start %= size
    end = start + n
    if end <= size:
        return (start, end), None
    return (start, size), (0, end - size)


def read(ring: np.ndarray, start: int, n: int) -> np.ndarray:
    """A copy of ``n`` items from ``start`` along the last axis."""
    (a, b), second = spans(start, n, ring.shape[-1])
    if second is None:
        return ring[..., a:b].copy()
    return np.concatenate((ring[..., a:b], ring[..., : second[1]]), axis=-1)


def take(ring: np.ndarray, start: int, n: int) -> np.ndarray:
    """Read ``n`` items from ``start`` along the last axis and clear them."""
    data = read(ring, start, n)
    (a, b), second = spans(start, n, ring.shape[-1])
    ring[..., a:b] = 0.0
    if second is not None:
        ring[..., : second[1]] = 0.0
    return data


def write(ring: np.ndarray, start: int, data: np.ndarray) -> None:
    """Overwrite along the last axis from ``start``."""
    n = data.shape[-1]
    (a, b), second = spans(start, n, ring.shape[-1])
    ring[..., a:b] = data[..., : b - a]
    if second is not None:
        ring[..., : second[1]] = data[..., b - a :]


def add(ring: np.ndarray, start: int, data: np.ndarray) -> None:
    """Mix into the ring along the last axis from ``start``."""
    n = data.shape[-1]
    (a, b), second = spans(start, n, ring.shape[-1])
    ring[..., a:b] += data[..., : b - a]
    if second is not None:
        ring[..., : second[1]] += data[..., b - a :]
