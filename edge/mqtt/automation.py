"""The automation: context inputs in, context changes and play/pause out.

It holds the inputs (``InputStore``), asks ``behaviour.derive`` for targets
and writes them to the LiveState. Two rules keep it from fighting the
listener:

* A target is written only when it moved by more than a dead band since the
  automation last wrote it, so a /set command holds until the sensor moves.
* When an input goes away (stale, decayed), the field returns to the value it
  had before the automation took it over, unless someone changed it since.

Room behaviour: no occupancy for ``vacancy_pause_s`` pauses (the audio side
fades out on "playing" becoming false); occupancy returning plays again, but
only if the automation was the one that paused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from edge.context.control import Command, LiveState
from edge.mqtt import behaviour
from edge.mqtt.inputs import InputStore
from edge.mqtt.mappings import Ema, Mapping
from edge.mqtt.payloads import SOURCE

log = logging.getLogger("edge.mqtt")

#: Field -> (dead band, low, high, decimals) for the context fields the automation drives.
FIELDS: dict[str, tuple[float, float, float, int]] = {
    "tempo": (1.0, *behaviour.TEMPO_RANGE, 1),
    "energy": (0.03, 0.0, 1.0, 3),
    "attention": (0.03, 0.0, 1.0, 3),
}


class Automation:
    """Inputs -> LiveState. Thread-safe: MQTT callbacks feed it, a timer ticks it."""

    def __init__(self, state: LiveState, clock: Callable[[], float], vacancy_pause_s: float = 0.0) -> None:
        self._state = state
        self._clock = clock
        self._lock = threading.RLock()
        self._store = InputStore(clock)
        self._vacancy_pause_s = vacancy_pause_s
        self._owned: dict[str, tuple[Any, Any]] = {}  # field -> (value before takeover, value written)
        self._smoothers: dict[int, Ema] = {}
        self._last_command: dict[tuple[int, str], Any] = {}
        self._vacant_since: float | None = None
        self._paused_for_vacancy = False

    def feed(self, values: dict[str, Any], stale_s: float | None = None) -> None:
        """Record validated input values (from /context or a mapping) and act on them."""
        with self._lock:
            for name, value in values.items():
                self._store.set(name, value, stale_s)
            self.tick()

    def smooth(self, mapping: Mapping, value: float) -> float:
        """The mapping's EMA after this sample (the sample itself without smoothing)."""
        with self._lock:
            ema = self._smoothers.get(id(mapping))
            if ema is None:
                ema = self._smoothers[id(mapping)] = Ema(mapping.smoothing_s, mapping.effective_stale_s)
            return round(ema.update(value, self._clock()), 4)

    def changed_command(self, mapping: Mapping, value: Any) -> bool:
        """True the first time a mapping produces this mood/activity value (edge-triggered)."""
        with self._lock:
            key = (id(mapping), mapping.target)
            if key in self._last_command and self._last_command[key] == value:
                return False
            self._last_command[key] = value
            return True

    def inputs(self) -> dict[str, Any]:
        """Current input values (None where unknown), for the state message."""
        with self._lock:
            return self._store.values()

    def tick(self) -> None:
        """Re-evaluate staleness, targets and the vacancy timer; cheap, call it often."""
        with self._lock:
            values = self._store.values()
            snap = self._state.snapshot()
            ctx = snap.context
            targets = behaviour.derive(values, ctx.activity, ctx.energy)
            changes: dict[str, Any] = {}
            for field in FIELDS:
                change = self._decide(field, getattr(targets, field), getattr(ctx, field))
                if change is not None:
                    changes[field] = change[0]
            if changes:
                self._state.update_context(**changes)
            self._vacancy(values.get("occupancy"), snap.playing)

    def _decide(self, field: str, want: float | None, current: Any) -> tuple[Any] | None:
        """(new value,) to write, or None to leave the field alone."""
        band, low, high, decimals = FIELDS[field]
        if want is None:
            if field not in self._owned:
                return None
            before, written = self._owned.pop(field)
            return (before,) if current == written else None  # hand back only what is still ours
        want = round(min(high, max(low, want)), decimals)
        if field not in self._owned:
            self._owned[field] = (current, None)
        before, written = self._owned[field]
        if written is not None and abs(want - written) <= band:
            return None
        self._owned[field] = (before, want)
        return (want,) if want != current else None

    def _vacancy(self, occupied: bool | None, playing: bool) -> None:
        if occupied is None:
            self._vacant_since = None
            return
        if occupied:
            self._vacant_since = None
            if self._paused_for_vacancy:
                self._paused_for_vacancy = False
                if not playing:
                    log.info("MQTT: room occupied again; playing")
                    self._state.apply(Command("play", None, SOURCE))
            return
        now = self._clock()
        if self._vacant_since is None:
            self._vacant_since = now
        due = self._vacancy_pause_s > 0 and now - self._vacant_since >= self._vacancy_pause_s
        if due and playing and not self._paused_for_vacancy:
            log.info("MQTT: room empty for %.0f min; pausing", self._vacancy_pause_s / 60)
            self._paused_for_vacancy = True
            self._state.apply(Command("pause", None, SOURCE))
