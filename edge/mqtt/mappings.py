"""Context mappings: any MQTT topic can feed a context input.

A mapping names a topic (wildcards allowed), where the value is (a JSON path
or the plain payload), how to transform it (a linear range, thresholds or a
named map), how much to smooth it (EMA time constant) and when it goes stale.
Mappings come from a TOML file of ``[[mapping]]`` tables named by
``mqtt.mappings_file``::

    [[mapping]]
    topic = "zigbee2mqtt/living_room_sensor"
    path = "illuminance_lux"
    target = "illuminance"
    smoothing_s = 30

    [[mapping]]
    topic = "fitness/hr"             # plain payload such as "128"
    target = "heart_rate"
    smoothing_s = 5
    stale_s = 20
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import ConfigError
from edge.mqtt.inputs import COMMAND_INPUTS, INPUTS, to_number
from edge.mqtt.payloads import PayloadError, decode_text, loads_strict

TARGETS = (*INPUTS, *COMMAND_INPUTS)
_KEYS = ("topic", "target", "path", "range", "thresholds", "map", "smoothing_s", "stale_s")
_PATH_PART = re.compile(r"^([^.\[\]]*)((?:\[\d+\])*)$")


class Missing:
    """Returned by ``Mapping.extract`` when the payload does not hold the path."""


MISSING = Missing()


def _check_filter(topic: str) -> None:
    levels = topic.split("/")
    bad = not topic or "\0" in topic or len(topic) > 1024
    for i, level in enumerate(levels):
        if ("#" in level and (level != "#" or i != len(levels) - 1)) or ("+" in level and level != "+"):
            bad = True
    if bad:
        raise ConfigError(f"mapping topic {topic!r} is not a valid MQTT topic filter")


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_path(path: str) -> tuple[str | int, ...]:
    """``"a.b[0].c"`` (or ``"a.b.0.c"``) -> ("a", "b", 0, "c")."""
    if not path:
        return ()
    parts: list[str | int] = []
    for piece in path.split("."):
        match = _PATH_PART.match(piece)
        if not match or (not match[1] and not match[2]):
            raise ConfigError(f"mapping path {path!r} is not like 'a.b[0].c'")
        if match[1]:
            parts.append(int(match[1]) if match[1].isdigit() else match[1])
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", match[2])]
    return tuple(parts)


def _key(value: Any) -> str:
    """The text a named map matches: lower-case, booleans as true/false, 1.0 as 1."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


@dataclass(frozen=True)
class Mapping:
    """One topic feeding one context input."""

    topic: str
    """MQTT topic filter to subscribe to (``+`` and ``#`` allowed)."""
    target: str
    """The input it feeds: one of TARGETS."""
    path: str = ""
    """JSON path such as ``illuminance_lux`` or ``data.hr[0]``; empty for a plain payload."""
    linear: tuple[float, float, float, float] | None = None
    """(in_low, in_high, out_low, out_high): linear and clamped. TOML key ``range``."""
    thresholds: tuple[tuple[float, Any], ...] = ()
    """((at, output), ...) ascending: the output of the last threshold <= value (below all: the first)."""
    names: tuple[tuple[str, Any], ...] = ()
    """((payload text, output), ...), matched case-insensitively. TOML key ``map``."""
    smoothing_s: float = 0.0
    """EMA time constant in seconds for numeric targets; 0 is no smoothing."""
    stale_s: float | None = None
    """Seconds without a message before the value decays to its default; None: the target's default."""

    def __post_init__(self) -> None:
        _check_filter(self.topic)
        if self.target not in TARGETS:
            raise ConfigError(f"mapping target {self.target!r} is not one of {', '.join(TARGETS)}")
        _parse_path(self.path)
        if sum(bool(x) for x in (self.linear, self.thresholds, self.names)) > 1:
            raise ConfigError(f"mapping for {self.topic!r}: use one of range, thresholds or map")
        numbers = list(self.linear or ()) + [at for at, _ in self.thresholds] + [self.smoothing_s]
        if self.stale_s is not None:
            numbers.append(self.stale_s)
        if not all(_finite(n) for n in numbers):
            raise ConfigError(f"mapping for {self.topic!r}: numbers must be finite")
        if self.linear is not None and (len(self.linear) != 4 or self.linear[0] == self.linear[1]):
            raise ConfigError(f"mapping for {self.topic!r}: range is [in_low, in_high, out_low, out_high]")
        if [at for at, _ in self.thresholds] != sorted(at for at, _ in self.thresholds):
            raise ConfigError(f"mapping for {self.topic!r}: thresholds must be in ascending order")
        if self.smoothing_s < 0 or (self.stale_s is not None and self.stale_s < 0):
            raise ConfigError(f"mapping for {self.topic!r}: smoothing_s and stale_s must be >= 0")
        if self.smoothing_s and not self.numeric:
            raise ConfigError(f"mapping for {self.topic!r}: only numeric targets can be smoothed")

    @property
    def numeric(self) -> bool:
        """True when the target is a number (and may be smoothed)."""
        spec = INPUTS.get(self.target)
        return spec is not None and spec.kind == "number"

    @property
    def effective_stale_s(self) -> float:
        """The staleness timeout in force: the mapping's own, else the target's default."""
        if self.stale_s is not None:
            return self.stale_s
        spec = INPUTS.get(self.target)
        return spec.stale_s if spec is not None else 0.0

    def extract(self, payload: bytes, limit: int) -> Any:
        """The raw value: the plain payload text, or the value at ``path`` (MISSING if absent)."""
        text = decode_text(payload, limit)
        parts = _parse_path(self.path)
        if not parts:
            return text.strip()
        value: Any = loads_strict(text)
        for part in parts:
            if isinstance(part, int) and isinstance(value, list) and part < len(value):
                value = value[part]
            elif isinstance(value, dict) and str(part) in value:
                value = value[str(part)]
            else:
                return MISSING
        return MISSING if value is None else value  # zigbee2mqtt sends null for "not known yet"

    def transform(self, raw: Any) -> Any:
        """Apply the transform; the caller validates the result with ``check_input``."""
        if self.names:
            key = _key(raw)
            for name, output in self.names:
                if _key(name) == key:
                    return output
            raise PayloadError(f"{str(raw)[:40]!r} is not in the map for {self.target}")
        if self.thresholds:
            value = to_number(self.target, raw)
            output = self.thresholds[0][1]
            for at, out in self.thresholds:
                if value >= at:
                    output = out
            return output
        if self.linear is not None:
            in_low, in_high, out_low, out_high = self.linear
            share = (to_number(self.target, raw) - in_low) / (in_high - in_low)
            return out_low + (out_high - out_low) * min(1.0, max(0.0, share))
        return raw


def mapping_from_table(table: dict[str, Any], where: str) -> Mapping:
    """One ``[[mapping]]`` table -> Mapping; raises ConfigError naming ``where``."""
    try:
        unknown = [k for k in table if k not in _KEYS]
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r} (known: {', '.join(_KEYS)})")
        for key in ("topic", "target"):
            if not isinstance(table.get(key), str):
                raise ConfigError(f"{key} must be a string")
        if not isinstance(table.get("path", ""), str):
            raise ConfigError("path must be a string")
        linear = table.get("range")
        if linear is not None and (not isinstance(linear, list) or len(linear) != 4):
            raise ConfigError("range must be [in_low, in_high, out_low, out_high]")
        thresholds = table.get("thresholds", [])
        if not isinstance(thresholds, list) or not all(
            isinstance(t, list) and len(t) == 2 for t in thresholds
        ):
            raise ConfigError("thresholds must be a list of [at, output] pairs")
        names = table.get("map", {})
        if not isinstance(names, dict):
            raise ConfigError("map must be a table of payload = output")
        for key in ("smoothing_s", "stale_s"):
            value = table.get(key, 0.0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{key} must be a number")
        return Mapping(
            topic=table["topic"],
            target=table["target"],
            path=table.get("path", ""),
            linear=tuple(linear) if linear is not None else None,
            thresholds=tuple((at, out) for at, out in thresholds),
            names=tuple(names.items()),
            smoothing_s=float(table.get("smoothing_s", 0.0)),
            stale_s=float(table["stale_s"]) if "stale_s" in table else None,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def load_mappings(path: str | Path) -> tuple[Mapping, ...]:
    """Read ``[[mapping]]`` tables from a TOML file; raises ConfigError with a one-line message."""
    origin = str(path)
    try:
        with Path(path).open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{origin}: file not found") from None
    except (PermissionError, IsADirectoryError) as exc:
        raise ConfigError(f"{origin}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
    unknown = [k for k in data if k != "mapping"]
    if unknown:
        raise ConfigError(f"{origin}: unknown key {unknown[0]!r}; mappings are [[mapping]] tables")
    tables = data.get("mapping", [])
    if not isinstance(tables, list):
        raise ConfigError(f"{origin}: mappings are [[mapping]] tables")
    return tuple(mapping_from_table(t, f"{origin}: mapping {i + 1}") for i, t in enumerate(tables))


class Ema:
    """Exponential moving average in continuous time (time constant ``tau`` seconds)."""

    def __init__(self, tau: float, restart_after: float | None = None) -> None:
        self.tau = tau
        self.restart_after = restart_after
        self.value: float | None = None
        self.at = 0.0

    def update(self, sample: float, now: float) -> float:
        """Blend in a sample; the first one (or one after a stale gap) is taken as is."""
        gap = now - self.at
        if self.value is None or self.tau <= 0 or (self.restart_after and gap > self.restart_after):
            self.value = sample
        else:
            alpha = 1.0 - math.exp(-max(0.0, gap) / self.tau)
            self.value += alpha * (sample - self.value)
        self.at = now
        return self.value
