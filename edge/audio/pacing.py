"""Wall-clock pacing for sinks that would otherwise take audio as fast as it comes."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Sleeps so that frames are consumed at ``rate`` per second, like a sound card would.

    ``lead_frames`` is how far ahead of the clock a writer may run (a card's
    buffer); after a stall longer than ``max_lag_s`` the clock restarts rather
    than letting the writer burst to catch up.
    """

    def __init__(
        self,
        rate: int,
        lead_frames: int = 0,
        max_lag_s: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.lead_frames = lead_frames
        self.max_lag_s = max_lag_s
        self._clock = clock
        self._sleep = sleep
        self._t0: float | None = None
        self._frames = 0

    def reset(self) -> None:
        """Forget the past: the next call starts a new timeline."""
        self._t0 = None
        self._frames = 0

    def pace(self, frames: int) -> float:
        """Account for ``frames`` just written; sleep if ahead. Returns the seconds slept."""
        now = self._clock()
        if self._t0 is None:
            self._t0 = now
            self._frames = 0
        self._frames += frames
        due = self._t0 + (self._frames - self.lead_frames) / self.rate
        delay = due - now
        if delay > 0:
            self._sleep(delay)
            return delay
        if delay < -self.max_lag_s:
            # Too far behind (suspend, overload): restart the timeline here.
            self._t0 = now
            self._frames = self.lead_frames
        return 0.0
