"""Validation of incoming command payloads: bytes in, ``Command`` objects out.

Nothing here touches the live state. Every function raises ``PayloadError``
with a one-line reason for anything it cannot accept, so the client can
publish that reason on ``<base>/error`` and change nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from edge.context.control import COMMANDS, Command, LiveState

SOURCE = "mqtt"

#: Fields accepted on ``<base>/set`` (JSON) and ``<base>/set/<field>`` (plain payload).
SET_FIELDS = ("state", *COMMANDS)

#: Commands that take no value (a Home Assistant button sends "PRESS").
TRIGGERS = ("toggle", "skip", "more_like_this", "less_like_this")

_TRIGGER_WORDS = ("", "press", "on", "true", "1", "go")
_ON_WORDS = ("on", "true", "1", "play", "yes")
_OFF_WORDS = ("off", "false", "0", "pause", "no")
#: A bare word sent to ``<base>/set`` instead of a JSON object.
_BARE_WORDS = {
    "on": "play", "off": "pause", "toggle": "toggle", "play": "play", "pause": "pause",
    "skip": "skip", "more_like_this": "more_like_this", "less_like_this": "less_like_this",
}  # fmt: skip

#: Fields whose text values are stripped of surrounding blanks.
_TEXT_FIELDS = ("intensity", "tempo", "key", "style", "activity", "section", "tier", "track", "version")

EXCERPT_CHARS = 120


class PayloadError(ValueError):
    """A message was rejected; ``str()`` is a one-line reason."""


def excerpt(payload: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The start of a payload as printable text, for error reports."""
    text = payload[: limit * 4].decode("utf-8", errors="replace")
    text = "".join(c if c.isprintable() else "\ufffd" for c in text)
    return text if len(text) <= limit else text[:limit] + "…"


def check_size(payload: bytes, limit: int) -> None:
    """Reject payloads over the configured cap before anything parses them."""
    if len(payload) > limit:
        raise PayloadError(f"payload of {len(payload)} bytes is over the {limit}-byte limit")


def decode_text(payload: bytes, limit: int) -> str:
    """Strict UTF-8 text of a payload within the size cap."""
    check_size(payload, limit)
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("payload is not valid UTF-8") from None


def _reject_constant(name: str) -> Any:
    raise PayloadError(f"{name} is not allowed in JSON (numbers must be finite)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # "1e999" parses to inf without passing parse_constant
        raise PayloadError(f"number {text[:20]} is not finite")
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise PayloadError(f"field {key!r} appears twice")
        result[key] = value
    return result


def loads_strict(text: str) -> Any:
    """``json.loads`` without NaN/Infinity, huge floats or duplicate keys."""
    try:
        return json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_keys,
        )
    except PayloadError:
        raise
    except RecursionError:
        raise PayloadError("JSON is nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, and int() beyond the digit limit
        raise PayloadError(f"invalid JSON: {str(exc).splitlines()[0][:100]}") from None


def json_object(payload: bytes, limit: int) -> dict[str, Any]:
    """Parse a payload that must be a non-empty JSON object."""
    value = loads_strict(decode_text(payload, limit))
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {type(value).__name__}")
    if not value:
        raise PayloadError("empty JSON object: nothing to do")
    return value


def _word(value: Any) -> str | None:
    """Lower-cased text of a string or bool, None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, int) and value in (0, 1):
        return str(value)
    return None


def _trigger(name: str, value: Any) -> list[Command]:
    word = "" if value is None else _word(value)
    if word not in _TRIGGER_WORDS and word != name:
        raise PayloadError(f'{name} takes no value: send true, null, "PRESS" or an empty payload')
    return [Command(name, None, SOURCE)]


def _switch(name: str, value: Any) -> list[Command]:
    """``state``/``play``/``pause`` with ON/OFF/TOGGLE or a boolean."""
    word = "" if value is None else _word(value)
    if name == "state" and word == "toggle":
        return [Command("toggle", None, SOURCE)]
    on = name != "pause"  # what "ON" means for this field
    if word in _ON_WORDS or (word in _TRIGGER_WORDS and name != "state"):
        return [Command("play" if on else "pause", None, SOURCE)]
    if word in _OFF_WORDS:
        return [Command("pause" if on else "play", None, SOURCE)]
    raise PayloadError(f"{name} must be ON, OFF or TOGGLE (or true/false), got {value!r}"[:200])


def command_for(field: str, value: Any) -> list[Command]:
    """One field of a set message -> the commands it stands for (not yet validated by LiveState)."""
    if field not in SET_FIELDS:
        raise PayloadError(f"unknown field {field[:40]!r} (known: {', '.join(SET_FIELDS)})")
    if field in ("state", "play", "pause"):
        return _switch(field, value)
    if field in TRIGGERS:
        return _trigger(field, value)
    if value is None:
        raise PayloadError(f"{field} needs a value")
    if isinstance(value, list):
        raise PayloadError(f"{field} must not be a list")
    if isinstance(value, dict) and field != "mood":
        raise PayloadError(f"{field} must not be an object")
    if field == "tier" and isinstance(value, int) and not isinstance(value, bool) and value == 0:
        value = "0"  # {"tier": 0} is the natural spelling of the procedural tier
    if field in _TEXT_FIELDS and isinstance(value, str):
        value = value.strip()
    return [Command(field, value, SOURCE)]


def parse_set(payload: bytes, limit: int) -> list[Command]:
    """``<base>/set``: a JSON object of fields, or a bare word such as ``skip`` or ``ON``."""
    text = decode_text(payload, limit).strip()
    if text and text[0] not in '{["' and not text[0].isdigit() and text[0] != "-":
        name = _BARE_WORDS.get(text.lower())
        if name is None:
            raise PayloadError('expected a JSON object such as {"volume": 40}')
        return [Command(name, None, SOURCE)]
    value = loads_strict(text)
    if not isinstance(value, dict):
        raise PayloadError(f"expected a JSON object, got {type(value).__name__}")
    if not value:
        raise PayloadError("empty JSON object: nothing to do")
    commands: list[Command] = []
    for field, field_value in value.items():
        commands += command_for(field, field_value)
    return commands


def plain_value(text: str) -> Any:
    """A plain payload's value: JSON objects and quoted strings are parsed, the rest is text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[", '"'):
        return loads_strict(stripped)
    return stripped


def parse_set_field(field: str, payload: bytes, limit: int) -> list[Command]:
    """``<base>/set/<field>`` with a plain payload such as ``40``, ``workout`` or ``PRESS``."""
    if field not in SET_FIELDS:
        raise PayloadError(f"unknown field {field[:40]!r} (known: {', '.join(SET_FIELDS)})")
    value = plain_value(decode_text(payload, limit))
    if value == "" and field not in TRIGGERS:
        if field in ("play", "pause"):
            value = None
        else:
            raise PayloadError(f"{field} needs a value; the payload is empty")
    return command_for(field, value)


def dry_run(state: LiveState, commands: Iterable[Command]) -> None:
    """Apply ``commands`` to a scratch copy of ``state``; raises CommandError if any is invalid.

    This is what makes a multi-field message all-or-nothing with LiveState's own rules.
    """
    scratch = state.scratch()
    for command in commands:
        scratch.apply(command)
