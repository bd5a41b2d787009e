"""Context inputs: sensor-like values from ``<base>/context`` and from mappings.

Inputs are not commands. Heart rate, cadence, occupancy and the like are kept
here with a timestamp; the automation (``automation.py``) turns them into
context changes. An input that is not refreshed within its staleness timeout
decays back to its default, so a sensor that dies does not pin the music.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.context.control import Command
from edge.mqtt.payloads import SOURCE, PayloadError, json_object


@dataclass(frozen=True)
class InputSpec:
    """What one input accepts and how it ages."""

    kind: str
    """"number", "bool", "period" (time of day) or "word"."""
    low: float = 0.0
    """Smallest accepted number."""
    high: float = 0.0
    """Largest accepted number."""
    default: Any = None
    """Where a stale number glides back to before it is forgotten; None: forget it at once."""
    stale_s: float = 0.0
    """Seconds without news before the value decays to the default; 0 keeps it forever."""
    unit: str = ""
    """For messages and the docs."""


INPUTS: dict[str, InputSpec] = {
    "heart_rate": InputSpec("number", 25, 250, stale_s=60, unit="BPM"),
    "cadence": InputSpec("number", 0, 300, stale_s=30, unit="steps/min"),
    "attention": InputSpec("number", 0, 1, default=1.0, stale_s=600),
    "illuminance": InputSpec("number", 0, 200_000, unit="lx"),
    "energy": InputSpec("number", 0, 1),
    "occupancy": InputSpec("bool"),
    "time_of_day": InputSpec("period"),
    "weather": InputSpec("word"),
}

#: Context fields that are commands to LiveState rather than inputs.
COMMAND_INPUTS = ("mood", "activity")

#: Every field ``<base>/context`` accepts.
CONTEXT_FIELDS = (*COMMAND_INPUTS, *INPUTS)

PERIODS = ("morning", "day", "evening", "night")
_PERIOD_ALIASES = {"afternoon": "day", "noon": "day", "midday": "day", "dawn": "morning", "dusk": "evening"}
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::\d{2})?$")
_WORD = re.compile(r"^[a-z0-9][a-z0-9 _.-]{0,39}$")
_TRUE = ("on", "true", "1", "yes", "occupied", "detected", "present", "home")
_FALSE = ("off", "false", "0", "no", "vacant", "clear", "unoccupied", "away", "not_home")

#: After staleness, a numeric value moves to its default with this time constant.
DECAY_S = 20.0


def to_number(name: str, value: Any) -> float:
    """A finite number from a JSON number or numeric text; bools are not numbers."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise PayloadError(f"{name} must be a number, got {value[:40]!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PayloadError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise PayloadError(f"{name} must be finite")
    return float(value)


def period_of_hour(hour: float) -> str:
    """Hour 0..24 -> morning (6-12), day (12-18), evening (18-22) or night."""
    if 6 <= hour < 12:
        return "morning"
    if 12 <= hour < 18:
        return "day"
    if 18 <= hour < 22:
        return "evening"
    return "night"


def _period(value: Any) -> str:
    if isinstance(value, str):
        text = value.strip().lower()
        text = _PERIOD_ALIASES.get(text, text)
        if text in PERIODS:
            return text
        match = _CLOCK.match(text)
        if match and int(match[1]) < 24 and int(match[2]) < 60:
            return period_of_hour(int(match[1]) + int(match[2]) / 60)
        raise PayloadError(
            f"time_of_day {value[:40]!r} is not one of {', '.join(PERIODS)} nor a time such as '21:30'"
        )
    hour = to_number("time_of_day", value)
    if not 0 <= hour < 24:
        raise PayloadError(f"time_of_day hour {hour:g} is outside 0..24")
    return period_of_hour(hour)


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise PayloadError(f"{name} must be true/false (or ON/OFF), got {str(value)[:40]!r}")


def check_input(name: str, value: Any) -> Any:
    """Validate and normalise one input value; raises PayloadError."""
    spec = INPUTS.get(name)
    if spec is None:
        raise PayloadError(f"unknown context field {name[:40]!r} (known: {', '.join(CONTEXT_FIELDS)})")
    if spec.kind == "number":
        number = to_number(name, value)
        if not spec.low <= number <= spec.high:
            reason = f"{name} {number:g} is outside {spec.low:g}..{spec.high:g} {spec.unit}"
            raise PayloadError(reason.rstrip())
        return number
    if spec.kind == "bool":
        return _bool(name, value)
    if spec.kind == "period":
        return _period(value)
    if not isinstance(value, str) or not _WORD.match(value.strip().lower()):
        raise PayloadError(f"{name} must be a short word such as 'rainy', got {str(value)[:40]!r}")
    return value.strip().lower()


def parse_context(payload: bytes, limit: int) -> tuple[list[Command], dict[str, Any]]:
    """``<base>/context`` -> (mood/activity commands, validated inputs). Raises PayloadError."""
    data = json_object(payload, limit)
    commands: list[Command] = []
    values: dict[str, Any] = {}
    for name, value in data.items():
        if name in COMMAND_INPUTS:
            if not isinstance(value, str) and not (name == "mood" and isinstance(value, dict)):
                raise PayloadError(f"{name} must be a string, got {type(value).__name__}")
            commands.append(Command(name, value, SOURCE))
        else:
            values[name] = check_input(name, value)
    return commands, values


@dataclass
class _Entry:
    value: Any
    at: float
    stale_s: float


class InputStore:
    """Latest value of each input with its age; not thread-safe (the automation locks)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[str, _Entry] = {}

    def set(self, name: str, value: Any, stale_s: float | None = None) -> None:
        """Record a validated value; ``stale_s`` None uses the input's default timeout."""
        spec = INPUTS[name]
        self._entries[name] = _Entry(value, self._clock(), spec.stale_s if stale_s is None else stale_s)

    def age(self, name: str) -> float | None:
        """Seconds since the input was last set, None if it is not known."""
        entry = self._entries.get(name)
        return None if entry is None else self._clock() - entry.at

    def values(self) -> dict[str, Any]:
        """Every input's current value; None where unknown or fully decayed (no opinion)."""
        now = self._clock()
        result: dict[str, Any] = dict.fromkeys(INPUTS)
        for name, entry in list(self._entries.items()):
            value = self._aged(name, entry, now)
            if value is None:
                del self._entries[name]  # fully decayed: forget it
            else:
                result[name] = value
        return result

    @staticmethod
    def _aged(name: str, entry: _Entry, now: float) -> Any:
        """The value after staleness; None once it is back at the default."""
        spec = INPUTS[name]
        late = now - entry.at - entry.stale_s
        if entry.stale_s <= 0 or late <= 0:
            return entry.value
        if spec.kind != "number" or spec.default is None:
            return None  # nothing to glide towards: the input is simply unknown again
        # Glide back rather than jump, so a dropped sensor fades out of the music.
        value = spec.default + (entry.value - spec.default) * math.exp(-late / DECAY_S)
        if abs(value - spec.default) <= 0.01 * (spec.high - spec.low):
            return None
        return value
