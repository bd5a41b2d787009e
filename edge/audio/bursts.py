"""Logging for failures that repeat: one line when they start, one when they stop.

An underrun or a failing render call can happen dozens of times a second;
logging each one would flood the journal and cost more CPU than the audio.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class BurstLog:
    """Counts repeated failures and logs each burst of them once.

    A burst starts with the first :meth:`hit` after a quiet spell and ends when
    :meth:`ok` is called ``quiet_s`` seconds after the last hit. A burst that
    never ends gets a reminder line every ``repeat_s`` seconds.
    """

    def __init__(
        self,
        logger: logging.Logger,
        what: str,
        quiet_s: float = 5.0,
        repeat_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.what = what
        self.quiet_s = quiet_s
        self.repeat_s = repeat_s
        self._clock = clock
        self.total = 0
        """Every hit ever counted."""
        self.bursts = 0
        """How many bursts have started."""
        self.in_burst = 0
        """Hits in the current burst (0 when there is none)."""
        self._last_hit = 0.0
        self._last_log = 0.0

    def hit(self, detail: str = "", exc_info: BaseException | None = None) -> bool:
        """Count one failure; returns True when this call wrote a log line."""
        now = self._clock()
        self.total += 1
        self._last_hit = now
        if self.in_burst == 0:
            self.in_burst = 1
            self.bursts += 1
            self._last_log = now
            suffix = f" ({detail})" if detail else ""
            self.logger.warning(
                "%s%s; repeats are counted, not logged", self.what, suffix, exc_info=exc_info
            )
            return True
        self.in_burst += 1
        if now - self._last_log >= self.repeat_s:
            self._last_log = now
            self.logger.warning("%s: still happening, %d times in this burst", self.what, self.in_burst)
            return True
        return False

    def ok(self) -> bool:
        """Note a success; ends the burst (with one log line) once it has been quiet."""
        if self.in_burst == 0 or self._clock() - self._last_hit < self.quiet_s:
            return False
        self.logger.info("%s: stopped after %d in a row", self.what, self.in_burst)
        self.in_burst = 0
        return True
