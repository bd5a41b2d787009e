"""The ``<base>/state`` message, built from a LiveState snapshot.

Telemetry the engine has not reported yet is ``null``, never a guess.
"""

from __future__ import annotations

import json
import math
import numbers
from typing import Any

from edge.context.context import NOTE_NAMES
from edge.context.control import Snapshot

#: Telemetry keys the engine fills (``LiveState.update_telemetry``) and the state reports.
TELEMETRY_KEYS = (
    "tempo", "tempo_target", "key", "mode", "section", "tier", "temperature_c", "power_w",
    "cpu_percent", "underruns", "model", "energy_now", "ai_generated", "credits",
)  # fmt: skip

#: Telemetry that changes all the time (the daemon also reports bar, uptime_s and style_now);
#: on its own it is published at a slower pace. A library track's ``track_position`` is not:
#: while a track plays the state follows it bar by bar (the control loop updates it once a second).
NOISY = frozenset({
    "tempo", "temperature_c", "power_w", "cpu_percent", "energy_now", "underruns",
    "bar", "uptime_s", "style_now", "track_seconds",
})  # fmt: skip


def jsonable(value: Any) -> Any:
    """A JSON-safe copy: non-finite numbers become null, numpy scalars plain numbers."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)[:64]


def _key_name(value: Any) -> Any:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool) and 0 <= int(value) < 12:
        return NOTE_NAMES[int(value)]
    return value


def state_payload(snap: Snapshot, inputs: dict[str, Any], uptime_s: float) -> dict[str, Any]:
    """The state as a dict (see docs/mqtt.md for every field)."""
    ctx = snap.context
    tele = snap.telemetry
    state: dict[str, Any] = {
        "playing": snap.playing,
        "state": "ON" if snap.playing else "OFF",
        "volume": snap.volume,
        "style": ctx.style,
        "mood": ctx.mood,
        "valence": round(ctx.valence, 3),
        "arousal": round(ctx.arousal, 3),
        "activity": ctx.activity,
        "energy": round(ctx.energy, 3),
        "attention": round(ctx.attention, 3),
        "intensity": round(ctx.intensity, 3),
        "tempo": tele.get("tempo"),
        "tempo_target": tele.get("tempo_target"),
        "tempo_request": ctx.tempo,
        "key": _key_name(tele.get("key")),
        "mode": tele.get("mode"),
        "section": tele.get("section"),
        "tier": tele.get("tier"),
        "tier_request": snap.tier,
        "temperature_c": tele.get("temperature_c"),
        "power_w": tele.get("power_w"),
        "cpu_percent": tele.get("cpu_percent"),
        "underruns": tele.get("underruns"),
        "energy_now": tele.get("energy_now"),
        "model": tele.get("model"),
        # Live streams carry no manifest: the state says what the music is and whom it credits.
        "ai_generated": tele.get("ai_generated"),
        "credits": tele.get("credits"),
        # Reimagine live: the library track, its version and where it is ("bar.beat", seconds).
        "track": snap.track,
        "version": snap.version if snap.track is not None else None,
        "track_position": tele.get("track_position") if snap.track is not None else None,
        "track_seconds": tele.get("track_seconds") if snap.track is not None else None,
        "seed": snap.seed,
        "uptime": round(uptime_s),
        "inputs": inputs,
    }
    return jsonable(state)


def encode(payload: dict[str, Any]) -> bytes:
    """Compact JSON bytes (NaN can no longer occur after ``jsonable``)."""
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
