"""The bounded queue of rendered blocks between the producer and the sink thread."""

from __future__ import annotations

import math
import threading
from collections import deque

import numpy as np


def buffer_capacity(buffer_seconds: float, rate: int, period_frames: int) -> int:
    """Blocks needed to hold ``buffer_seconds`` of audio: ceil(seconds * rate / period), at least 1."""
    return max(1, math.ceil(buffer_seconds * rate / period_frames))


class BlockBuffer:
    """A bounded FIFO of float32 blocks.

    ``put`` blocks while full and ``get`` while empty, each with an optional
    timeout; ``close`` wakes every waiter so threads can shut down promptly.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._items: deque[np.ndarray] = deque()
        self._cond = threading.Condition()
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has been called."""
        return self._closed

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, block: np.ndarray, timeout: float | None = None) -> bool:
        """Append ``block``, waiting while full. False if closed or timed out."""
        with self._cond:
            if not self._cond.wait_for(
                lambda: self._closed or len(self._items) < self.capacity, timeout
            ):
                return False
            if self._closed:
                return False
            self._items.append(block)
            self._cond.notify_all()
            return True

    def get(self, timeout: float | None = None) -> np.ndarray | None:
        """The oldest block, waiting while empty. None if closed and empty, or timed out."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._closed or self._items, timeout):
                return None
            if not self._items:
                return None
            block = self._items.popleft()
            self._cond.notify_all()
            return block

    def clear(self) -> int:
        """Drop every queued block; returns how many were dropped."""
        with self._cond:
            dropped = len(self._items)
            self._items.clear()
            self._cond.notify_all()
            return dropped

    def close(self) -> None:
        """Refuse further puts and wake every waiting thread."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
