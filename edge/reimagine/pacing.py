"""Offline work paced by the SoC temperature: full speed when cool, slower when warm, paused when hot.

``reimagine --batch`` renders file after file as fast as the CPU allows, which on a boxed Pi
heats the board towards the firmware's throttle. Between files, and every few seconds of audio
inside a file, it asks the ``Pacer``, which reads the same sensors as the daemon's governor
(``edge.thermal.sensors.Sensors``: the CPU thermal zone, else psutil) and the same thresholds
(``[thermal] temp_target_c`` and ``hysteresis_c``):

- below ``target - hysteresis``: go on at full speed;
- from ``target - hysteresis`` up to ``target`` (warm): slow down, resting as long as the work
  since the last check took (half duty);
- at or above ``target`` (hot): pause, reading the sensor every ``POLL_S`` seconds, until the
  board has cooled to ``target - hysteresis``; then resume.

Without a temperature sensor it never waits. The sleep and the clock are parameters, so tests
drive it with a sensor file and a sleep that cools it, and assert the decisions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.thermal.sensors import Sensors

GO, SLOW, PAUSE = "go", "slow", "pause"
POLL_S = 5.0
"""Seconds between temperature readings while paused."""
MAX_REST_S = 30.0
"""The longest single rest while warm, in seconds."""


def decide(celsius: float | None, target_c: float, hysteresis_c: float) -> str:
    """GO, SLOW or PAUSE for a temperature (None: no sensor, GO)."""
    if celsius is None or celsius < target_c - hysteresis_c:
        return GO
    return PAUSE if celsius >= target_c else SLOW


@dataclass
class Pause:
    """One wait: why and how long."""

    decision: str
    """SLOW or PAUSE."""
    celsius: float
    """The temperature that started it."""
    seconds: float
    """Seconds spent waiting."""
    resumed_at_c: float | None
    """The temperature when work resumed (after a PAUSE)."""


class Pacer:
    """Waits as the temperature asks; ``check()`` between pieces of work."""

    def __init__(
        self,
        thermal,
        *,
        sensors: Sensors | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.process_time,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.target_c = thermal.temp_target_c
        self.resume_c = thermal.temp_target_c - thermal.hysteresis_c
        self._sensors = sensors or Sensors(thermal, cpu_percent=lambda: None, cpu_freq=lambda: None)
        self._sleep = sleep
        self._clock = clock
        self._report = report
        self._since = clock()
        self.pauses: list[Pause] = []
        """Every wait so far, in order."""

    def temperature(self) -> float | None:
        """The SoC temperature now, deg C (None without a sensor)."""
        return self._sensors.temperature()[0]

    def check(self) -> str:
        """Read the sensor and wait as it says; returns the decision taken."""
        celsius = self.temperature()
        decision = decide(celsius, self.target_c, self.target_c - self.resume_c)
        worked = max(0.0, self._clock() - self._since)
        if decision == SLOW:
            rest = min(worked, MAX_REST_S)
            self._sleep(rest)
            self.pauses.append(Pause(SLOW, celsius, rest, None))
        elif decision == PAUSE:
            self._say(f"paused: SoC at {celsius:.1f} C (target {self.target_c:g} C)")
            waited, now = 0.0, celsius
            while now is not None and now > self.resume_c:
                self._sleep(POLL_S)
                waited += POLL_S
                now = self.temperature()
            self.pauses.append(Pause(PAUSE, celsius, waited, now))
            cooled = f"{now:.1f} C" if now is not None else "no reading"
            self._say(f"resumed: SoC at {cooled} after {waited:.0f} s")
        self._since = self._clock()
        return decision

    def _say(self, line: str) -> None:
        if self._report is not None:
            self._report(line)
