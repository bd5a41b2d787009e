"""Commands and the one lock-protected object every thread shares.

A command from MQTT, a GPIO button or the CLI becomes the same ``Command``;
``LiveState.apply`` validates it and changes the state atomically, or raises
``CommandError`` and changes nothing. Readers get immutable snapshots.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from edge.context.context import (
    Context,
    ContextError,
    check_activity,
    check_unit,
    parse_key,
    parse_mood,
)

TIERS = ("auto", "0", "S", "M", "L")
VERSIONS = ("reimagined", "original")
"""The versions of a library track; ``{"version": "toggle"}`` switches between them."""
NO_TRACK = ("none", "")
"""What ``{"track": ...}`` takes for "no track: endless generation"."""
MAX_TRACK_CHARS = 64
SECTION_COMMANDS = {"build": "build", "drop": "peak", "peak": "peak", "break": "break", "calm": "calm"}
INTENSITY_STEP = 0.25


class CommandError(ValueError):
    """A command was rejected; ``str()`` is a one-line reason naming the field."""


@dataclass(frozen=True)
class Command:
    """One request to change what plays, whichever way it arrived."""

    name: str
    """What to change: one of ``COMMANDS``."""
    value: Any = None
    """The new value; ``None`` for commands that take none (skip, toggle, ...)."""
    source: str = "api"
    """Where it came from (mqtt, gpio, cli), for the log."""


COMMANDS = (
    "play", "pause", "toggle", "volume", "style", "mood", "activity", "energy", "tempo",
    "intensity", "section", "skip", "seed", "more_like_this", "less_like_this", "tier", "key",
    "attention", "track", "version",
)  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """Everything a reader needs, copied out under the lock."""

    context: Context
    """The listening context."""
    playing: bool
    """False while paused."""
    volume: int
    """0..100."""
    seed: int
    """The session seed."""
    seed_generation: int
    """Bumped whenever a "seed" command asks for a reseed."""
    tier: str
    """Requested tier: auto, 0, S, M or L."""
    telemetry: dict[str, Any]
    """What the engine reports: tempo, key, section, tier in use, temperature, ..."""
    track: str | None = None
    """The library track playing (its id), None for endless generation."""
    version: str = "reimagined"
    """Which version of the track: reimagined or original."""


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise CommandError(f"{name} must be a number in {low:g}..{high:g}, got {value!r}") from None
    try:
        return check_unit(name, value, low, high)
    except ContextError as exc:
        raise CommandError(str(exc)) from None


def check_track_name(value: Any, known: Sequence[str]) -> str | None:
    """A library track id from a command (None for "none"); CommandError names what is wrong."""
    if not isinstance(value, str):
        raise CommandError(f"track must be a library id (a string), got {value!r}"[:200])
    name = value.strip()
    if name.lower() in NO_TRACK:
        return None
    shown = repr(name[:40]) + ("…" if len(name) > 40 else "")
    if "\0" in name:
        raise CommandError(f"track {shown} contains a NUL character; name a library id")
    if "/" in name or "\\" in name:
        raise CommandError(f"track {shown} contains a path separator; name a library id, not a path")
    if ".." in name:
        raise CommandError(f"track {shown} contains '..'; name a library id, not a path")
    if len(name) > MAX_TRACK_CHARS:
        raise CommandError(f"track name of {len(name)} characters is over the {MAX_TRACK_CHARS} limit")
    if name not in known:
        listed = ", ".join(known[:20]) + (", …" if len(known) > 20 else "")
        listed = listed or "the library is empty"
        raise CommandError(f"track {shown} is not in the library ({listed})")
    return name


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise CommandError(f"{name} must be a string, got {value!r}")
    return value


class LiveState:
    """The daemon's shared state: context, transport, volume, seed and telemetry.

    All access goes through one lock. Listeners are called after the lock is
    released, with the set of names that changed, so they may read freely.
    """

    def __init__(
        self,
        context: Context,
        styles: Sequence[str],
        volume: int = 70,
        seed: int = 0,
        tier: str = "auto",
        playing: bool = True,
        tracks: Sequence[str] = (),
    ) -> None:
        self._lock = threading.Lock()
        self._context = context
        self._styles = tuple(styles)
        self._volume = volume
        self._seed = seed
        self._seed_generation = 0
        self._tier = tier
        self._playing = playing
        self._tracks = tuple(tracks)
        self._track: str | None = None
        self._version = "reimagined"
        self._telemetry: dict[str, Any] = {}
        self._listeners: list[Callable[[set[str]], None]] = []
        self._command_listeners: list[Callable[[Command, set[str]], None]] = []
        self.started = time.monotonic()

    @property
    def styles(self) -> tuple[str, ...]:
        """Style packs the listener may choose."""
        return self._styles

    def set_styles(self, styles: Sequence[str], fallback: str) -> set[str]:
        """Replace the packs the listener may choose (installed or removed); when the current style
        is gone, ``fallback`` (one of ``styles``) takes over. Returns the names that changed."""

        def mutate() -> set[str]:
            self._styles = tuple(styles)
            if self._context.style in self._styles:
                return set()
            return self._set_context(style=fallback)

        return self._change(mutate)

    def scratch(self) -> LiveState:
        """A copy with no listeners, to try commands on (all-or-nothing messages)."""
        snap = self.snapshot()
        copy = LiveState(snap.context, self._styles, volume=snap.volume, seed=snap.seed, tier=snap.tier,
                         playing=snap.playing, tracks=self._tracks)  # fmt: skip
        copy._seed_generation = snap.seed_generation
        copy._track, copy._version = snap.track, snap.version
        copy._telemetry = dict(snap.telemetry)
        return copy

    @property
    def tracks(self) -> tuple[str, ...]:
        """The library's track ids."""
        return self._tracks

    def set_tracks(self, tracks: Sequence[str]) -> None:
        """Replace the library's ids (a rescan); a track playing plays on even if its file is gone."""
        with self._lock:
            self._tracks = tuple(tracks)

    def track_finished(self, track: str) -> set[str]:
        """The daemon's word that ``track`` stopped (it ended, or failed to load): back to none."""

        def mutate() -> set[str]:
            if self._track != track:
                return set()  # another track was chosen meanwhile
            self._track, self._version = None, "reimagined"
            return {"track", "version"}

        return self._change(mutate)

    def subscribe(self, listener: Callable[[set[str]], None]) -> None:
        """Call ``listener(changed_names)`` after every change."""
        with self._lock:
            self._listeners.append(listener)

    def on_command(self, listener: Callable[[Command, set[str]], None]) -> None:
        """Call ``listener(command, changed_names)`` after every accepted command (the session log)."""
        with self._lock:
            self._command_listeners.append(listener)

    def snapshot(self) -> Snapshot:
        """A consistent copy of the whole state."""
        with self._lock:
            return Snapshot(
                self._context,
                self._playing,
                self._volume,
                self._seed,
                self._seed_generation,
                self._tier,
                dict(self._telemetry),
                self._track,
                self._version,
            )

    @property
    def context(self) -> Context:
        """The current context snapshot."""
        with self._lock:
            return self._context

    def update_context(self, **changes: Any) -> None:
        """Replace context fields (already validated by the caller, e.g. context mappings)."""
        self._change(lambda: self._set_context(**changes))

    def update_telemetry(self, **values: Any) -> None:
        """Record engine figures; listeners hear only about values that really changed."""
        changed: set[str] = set()
        with self._lock:
            for name, value in values.items():
                if self._telemetry.get(name) != value:
                    self._telemetry[name] = value
                    changed.add(name)
            listeners = list(self._listeners)
        self._notify(listeners, changed)

    def apply(self, command: Command) -> set[str]:
        """Validate and apply one command; return the names that changed.

        Raises CommandError (and changes nothing) when the command is invalid.
        """
        handler = getattr(self, f"_cmd_{command.name}", None)
        if command.name not in COMMANDS or handler is None:
            raise CommandError(f"unknown command {command.name!r}")
        changed = self._change(lambda: handler(command.value))
        with self._lock:
            listeners = list(self._command_listeners)
        for listener in listeners:
            listener(command, changed)
        return changed

    # -- internals -------------------------------------------------------------

    def _change(self, mutate: Callable[[], set[str]]) -> set[str]:
        with self._lock:
            changed = mutate()
            listeners = list(self._listeners)
        self._notify(listeners, changed)
        return changed

    @staticmethod
    def _notify(listeners: list[Callable[[set[str]], None]], changed: set[str]) -> None:
        if not changed:
            return
        for listener in listeners:
            listener(changed)

    def _set_context(self, **changes: Any) -> set[str]:
        new = dataclasses.replace(self._context, **changes)
        changed = {k for k in changes if getattr(new, k) != getattr(self._context, k)}
        self._context = new
        return changed

    def _cmd_play(self, value: Any) -> set[str]:
        return self._set_playing(True)

    def _cmd_pause(self, value: Any) -> set[str]:
        return self._set_playing(False)

    def _cmd_toggle(self, value: Any) -> set[str]:
        return self._set_playing(not self._playing)

    def _set_playing(self, playing: bool) -> set[str]:
        if self._playing == playing:
            return set()
        self._playing = playing
        return {"playing"}

    def _cmd_volume(self, value: Any) -> set[str]:
        volume = round(_number("volume", value, 0, 100))
        if volume == self._volume:
            return set()
        self._volume = volume
        return {"volume"}

    def _cmd_style(self, value: Any) -> set[str]:
        name = _text("style", value).strip().lower()
        if name not in self._styles:
            raise CommandError(f"style {value!r} is not one of {', '.join(self._styles)}")
        return self._set_context(style=name)

    def _cmd_mood(self, value: Any) -> set[str]:
        if isinstance(value, dict):
            unknown = set(value) - {"valence", "arousal"}
            if unknown or len(value) != 2:
                raise CommandError("mood object needs exactly 'valence' and 'arousal'")
            valence = _number("valence", value["valence"], -1, 1)
            arousal = _number("arousal", value["arousal"], -1, 1)
            return self._set_context(mood="custom", valence=valence, arousal=arousal)
        try:
            name, valence, arousal = parse_mood(_text("mood", value))
        except ContextError as exc:
            raise CommandError(str(exc)) from None
        return self._set_context(mood=name, valence=valence, arousal=arousal)

    def _cmd_activity(self, value: Any) -> set[str]:
        try:
            return self._set_context(activity=check_activity(_text("activity", value)))
        except ContextError as exc:
            raise CommandError(str(exc)) from None

    def _cmd_energy(self, value: Any) -> set[str]:
        return self._set_context(energy=_number("energy", value, 0, 1))

    def _cmd_attention(self, value: Any) -> set[str]:
        return self._set_context(attention=_number("attention", value, 0, 1))

    def _cmd_tempo(self, value: Any) -> set[str]:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return self._set_context(tempo=None)
        return self._set_context(tempo=_number("tempo", value, 40, 240))

    def _cmd_key(self, value: Any) -> set[str]:
        try:
            return self._set_context(key=parse_key(_text("key", value)))
        except ContextError as exc:
            raise CommandError(str(exc)) from None

    def _cmd_intensity(self, value: Any) -> set[str]:
        step = {"up": INTENSITY_STEP, "down": -INTENSITY_STEP}.get(str(value).strip().lower())
        if step is None:
            raise CommandError(f"intensity must be 'up' or 'down', got {value!r}")
        level = min(1.0, max(-1.0, self._context.intensity + step))
        return self._set_context(intensity=level)

    def _cmd_section(self, value: Any) -> set[str]:
        name = _text("section", value).strip().lower()
        if name not in SECTION_COMMANDS:
            raise CommandError(f"section {value!r} is not one of {', '.join(SECTION_COMMANDS)}")
        # A repeated request still counts: bump skip so the conductor re-enters the section.
        return self._set_context(section=SECTION_COMMANDS[name], skip=self._context.skip + 1)

    def _cmd_skip(self, value: Any) -> set[str]:
        return self._set_context(skip=self._context.skip + 1)

    def _cmd_seed(self, value: Any) -> set[str]:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise CommandError(f"seed must be an integer 0..2**32-1, got {value!r}")
        try:
            seed = int(value)
        except ValueError:
            raise CommandError(f"seed must be an integer 0..2**32-1, got {value!r}") from None
        if not 0 <= seed < 2**32:
            raise CommandError(f"seed {seed} is outside 0..2**32-1")
        self._seed = seed
        self._seed_generation += 1
        return {"seed"}

    def _cmd_more_like_this(self, value: Any) -> set[str]:
        return self._steer(+1.0)

    def _cmd_less_like_this(self, value: Any) -> set[str]:
        changed = self._steer(-1.0)
        return changed | self._set_context(skip=self._context.skip + 1)

    def _steer(self, sign: float) -> set[str]:
        """Pull the energy toward (or push it away from) what is playing now."""
        heard = self._telemetry.get("energy_now")
        if not isinstance(heard, float) or not math.isfinite(heard):
            heard = self._context.energy
        target = heard if sign > 0 else 1.0 - heard
        energy = min(1.0, max(0.0, 0.5 * self._context.energy + 0.5 * target))
        return self._set_context(energy=round(energy, 3))

    def _cmd_tier(self, value: Any) -> set[str]:
        tier = _text("tier", value).strip()
        tier = tier.upper() if tier.lower() in ("s", "m", "l") else tier.lower()
        if tier not in TIERS:
            raise CommandError(f"tier {value!r} is not one of {', '.join(TIERS)}")
        if tier == self._tier:
            return set()
        self._tier = tier
        return {"tier"}

    def _cmd_track(self, value: Any) -> set[str]:
        track = check_track_name(value, self._tracks)
        if track == self._track:
            return set()
        changed = {"track"} | ({"version"} if self._version != "reimagined" else set())
        self._track, self._version = track, "reimagined"
        return changed

    def _cmd_version(self, value: Any) -> set[str]:
        word = _text("version", value).strip().lower()
        if word not in (*VERSIONS, "toggle"):
            raise CommandError(f"version {value!r} is not one of {', '.join(VERSIONS)}, toggle"[:200])
        if self._track is None:
            raise CommandError('version: no track is playing; choose one first with {"track": "<id>"}')
        if word == "toggle":
            word = "original" if self._version == "reimagined" else "reimagined"
        if word == self._version:
            return set()
        self._version = word
        return {"version"}
