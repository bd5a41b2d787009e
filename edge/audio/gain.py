"""Click-free gain changes: linear ramps computed per block with numpy."""

from __future__ import annotations

import numpy as np


class Ramp:
    """A gain that glides linearly to its target over ``ramp_frames`` frames.

    Every change of target takes the same number of frames, starting from the
    value reached so far, so a retarget mid-ramp never jumps.
    """

    def __init__(self, value: float, ramp_frames: int) -> None:
        self.value = float(value)
        self.target = float(value)
        self.ramp_frames = max(1, int(ramp_frames))
        self._step = 0.0
        self._left = 0

    @property
    def settled(self) -> bool:
        """True when the gain has reached its target."""
        return self._left == 0

    def set_target(self, target: float) -> None:
        """Start gliding towards ``target`` (a no-op if it is already the target)."""
        target = float(target)
        if target == self.target:
            return
        self.target = target
        if target == self.value:
            self._left = 0
            return
        self._step = (target - self.value) / self.ramp_frames
        self._left = self.ramp_frames

    def jump(self, value: float) -> None:
        """Set value and target at once, without a ramp."""
        self.value = self.target = float(value)
        self._left = 0

    def envelope(self, frames: int) -> float | np.ndarray:
        """Gains for the next ``frames`` frames: a float while settled, else a float32 array."""
        if self._left == 0:
            return self.value
        env = np.full(frames, self.target, dtype=np.float32)
        k = min(frames, self._left)
        env[:k] = self.value + self._step * np.arange(1, k + 1, dtype=np.float64)
        self._left -= k
        if self._left == 0:
            env[k - 1] = self.target
            self.value = self.target
        else:
            self.value += self._step * k  # in float64, so long ramps do not drift
        return env


def apply_gain(block: np.ndarray, gain: float | np.ndarray) -> np.ndarray:
    """``block`` (frames, channels) times a scalar or per-frame gain; never modifies ``block``."""
    if isinstance(gain, np.ndarray):
        return block * gain[:, None]
    if gain == 1.0:
        return block
    return block * np.float32(gain)
