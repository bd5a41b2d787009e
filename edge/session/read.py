"""Read and check a session log; every problem is one line naming the line number.

A truncated file (cut mid-line, or without its ``end`` line), a corrupted line
(not JSON, a record of an unknown kind, a field of the wrong type), a foreign
file or a log written by another version raises ``SessionLogError`` (a
``UsageError``: the command exits 2 and writes nothing).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import __version__
from edge.context.context import Context
from edge.exits import UsageError
from edge.session.format import CONTEXT_FIELDS, FORMAT, FORMAT_VERSION, KINDS

SAMPLE_FORMATS = ("S16_LE", "S32_LE", "FLOAT_LE")


class SessionLogError(UsageError):
    """The log cannot be used; ``str()`` names the file, the line and the problem."""


@dataclass
class Session:
    """A checked session log."""

    path: Path
    header: dict[str, Any]
    bars: dict[int, dict[str, Any]] = field(default_factory=dict)
    """Bar index -> the inputs that changed before it (context fields, tier, synth_level, seed)."""
    gains: list[tuple[int, float, float]] = field(default_factory=list)
    """(sink block, volume, fade target), in the order the sink took them."""
    styles: list[dict[str, Any]] = field(default_factory=list)
    """Style pack fingerprints a reload changed, with the bar they applied from."""
    decks: list[dict[str, Any]] = field(default_factory=list)
    """The ``track`` and ``version`` records, in the order they were written."""
    commands: list[dict[str, Any]] = field(default_factory=list)
    governor: list[dict[str, Any]] = field(default_factory=list)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return int(self.header["seed"])

    @property
    def bar_count(self) -> int:
        """Bars the engine planned in the session."""
        return int(self.end["bars"])

    @property
    def blocks(self) -> int:
        """Blocks the sink wrote."""
        return int(self.end["blocks"])

    def styles_used(self) -> list[str]:
        """Every style pack that played, in order of first use."""
        names = [self.header["context"]["style"]]
        names += [r["context"]["style"] for r in self.bars.values() if "style" in r.get("context", {})]
        names += [r["style"] for r in self.tracks()]
        return list(dict.fromkeys(names))

    def tracks(self) -> list[dict[str, Any]]:
        """Every ``track`` record that started a library track, in order."""
        return [r for r in self.decks if r["kind"] == "track" and r["track"] is not None]

    def style_hashes(self, name: str) -> list[str]:
        """Every fingerprint the session recorded for pack ``name`` (it may have been reinstalled)."""
        found = [self.header["styles"].get(name)] + [r["styles"].get(name) for r in self.styles]
        return [sha for sha in dict.fromkeys(found) if sha is not None]

    def tiers_used(self) -> list[str]:
        """Every neural tier that wrote bars (tier 0 needs no model)."""
        tiers = [self.header["tier"]] + [r["tier"] for r in self.bars.values() if "tier" in r]
        tiers += [r["tier"] for r in self.tracks()]
        return [t for t in dict.fromkeys(tiers) if t != "0"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_pair(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))


def _is_hashes(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(x, str) for x in value.values())


_CONTEXT_TYPES: dict[str, tuple[str, Any]] = {
    "valence": ("a number in -1..1", lambda v: _is_number(v) and -1 <= v <= 1),
    "arousal": ("a number in -1..1", lambda v: _is_number(v) and -1 <= v <= 1),
    "mood": ("a string", lambda v: isinstance(v, str)),
    "activity": ("a string", lambda v: isinstance(v, str)),
    "energy": ("a number in 0..1", lambda v: _is_number(v) and 0 <= v <= 1),
    "tempo": ("null or a number in 40..240", lambda v: v is None or (_is_number(v) and 40 <= v <= 240)),
    "key": ("null or an integer 0..11", lambda v: v is None or (_is_int(v) and 0 <= v <= 11)),
    "style": ("a string", lambda v: isinstance(v, str)),
    "attention": ("a number in 0..1", lambda v: _is_number(v) and 0 <= v <= 1),
    "intensity": ("a number in -1..1", lambda v: _is_number(v) and -1 <= v <= 1),
    "section": ("null or a string", lambda v: v is None or isinstance(v, str)),
    "skip": ("an integer", _is_int),
    "meter": ("3 or 4", lambda v: v in (3, 4) and _is_int(v)),
}
assert set(_CONTEXT_TYPES) == set(CONTEXT_FIELDS), "every Context field needs a check here"

_HEADER: dict[str, tuple[str, Any]] = {
    "session_id": ("a string", lambda v: isinstance(v, str) and 0 < len(v) <= 200),
    "seed": ("an integer 0..2**32-1", lambda v: _is_int(v) and 0 <= v < 2**32),
    "rate": ("an integer 8000..192000", lambda v: _is_int(v) and 8000 <= v <= 192000),
    "block_frames": ("an integer 64..16384", lambda v: _is_int(v) and 64 <= v <= 16384),
    "channels": ("1 or 2", lambda v: _is_int(v) and v in (1, 2)),
    "sample_format": (f"one of {', '.join(SAMPLE_FORMATS)}", lambda v: v in SAMPLE_FORMATS),
    "sampling": ("[temperature, top_p]", _is_pair),
    "volume": ("a number in 0..1", lambda v: _is_number(v) and 0 <= v <= 1),
    "fade_ms": ("a positive number", lambda v: _is_number(v) and v > 0),
    "loudness_lufs": ("a number in -30..-12", lambda v: _is_number(v) and -30 <= v <= -12),
    "models": ("an object of tier -> sha256", _is_hashes),
    "styles": ("an object of pack -> sha256", _is_hashes),
    "context": ("an object", lambda v: isinstance(v, dict)),
    "tier": ("one of 0, S, M, L", lambda v: v in ("0", "S", "M", "L")),
    "synth_level": ("0, 1 or 2", lambda v: _is_int(v) and v in (0, 1, 2)),
}

_TIER = ("one of 0, S, M, L", lambda v: v in ("0", "S", "M", "L"))
_TRACK: dict[str, tuple[str, Any]] = {
    "file": ("a file name", lambda v: isinstance(v, str) and 0 < len(v) <= 255 and "/" not in v
             and v not in (".", "..")),
    "sha256": ("64 hex digits", lambda v: isinstance(v, str) and len(v) == 64
               and all(c in "0123456789abcdef" for c in v)),
    "input": ("midi or audio", lambda v: v in ("midi", "audio")),
    "style": ("a string", lambda v: isinstance(v, str)),
    "context": ("an object", lambda v: isinstance(v, dict)),
    "seed": ("an integer 0..2**32-1", lambda v: _is_int(v) and 0 <= v < 2**32),
    "tier": _TIER,
    "sampling": ("[temperature, top_p]", _is_pair),
    "crossfade_beats": ("a number in 0.05..1", lambda v: _is_number(v) and 0.05 <= v <= 1),
    "repeat": ("true or false", lambda v: isinstance(v, bool)),
    "loudness_lufs": ("a number in -30..-12", lambda v: _is_number(v) and -30 <= v <= -12),
}  # fmt: skip
_LEVEL = ("0, 1 or 2", lambda v: _is_int(v) and v in (0, 1, 2))
_COUNT = ("an integer >= 0", lambda v: _is_int(v) and v >= 0)
_GAIN = ("a number in 0..1", lambda v: _is_number(v) and 0 <= v <= 1)


def read_session(path: str | Path, same_version: bool = True) -> Session:
    """Parse and check ``path``; ``same_version`` refuses a log from another edge-music version."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SessionLogError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise SessionLogError(f"{path}: empty file, not an edge-music session log")
    lines = data.split(b"\n")
    complete = lines[-1] == b""
    if complete:
        lines.pop()
    session: Session | None = None
    for number, raw in enumerate(lines, start=1):
        where = f"{path} line {number}"
        last = number == len(lines)
        record = _decode(raw, where, cut=last and not complete, first=number == 1)
        if session is None:
            session = Session(path, _header(record, where, same_version))
            continue
        if session.end:
            raise SessionLogError(f"{where}: a record after the 'end' record (corrupted)")
        _add(session, record, where)
    assert session is not None
    if not session.end:
        raise SessionLogError(f"{path} line {len(lines)}: the log ends without its 'end' record (truncated)")
    return session


def _decode(raw: bytes, where: str, cut: bool, first: bool) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
        record = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        if first:
            raise SessionLogError(f"{where}: not an edge-music session log (not JSON)") from None
        if cut:
            raise SessionLogError(f"{where}: the line is cut short (truncated log)") from None
        reason = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else f"not JSON ({exc})"
        raise SessionLogError(f"{where}: {reason} (corrupted)") from None
    if not isinstance(record, dict):
        if first:
            raise SessionLogError(f"{where}: not an edge-music session log (not a JSON object)")
        raise SessionLogError(f"{where}: not a JSON object (corrupted)")
    return record


def _header(record: dict[str, Any], where: str, same_version: bool) -> dict[str, Any]:
    if record.get("kind") != "header" or record.get("format") != FORMAT:
        raise SessionLogError(f"{where}: not an edge-music session log (no session header)")
    if record.get("format_version") != FORMAT_VERSION:
        raise SessionLogError(
            f"{where}: session log format {record.get('format_version')!r}; "
            f"this edge-music {__version__} reads format {FORMAT_VERSION}"
        )
    version = record.get("version")
    if same_version and version != __version__:
        raise SessionLogError(
            f"{where}: written by edge-music {version}; this is edge-music {__version__}, "
            f"which cannot replay it bit for bit (use edge-music {version})"
        )
    _fields(record, _HEADER, "header", where)
    context = record["context"]
    if set(context) != set(CONTEXT_FIELDS):
        missing = sorted(set(CONTEXT_FIELDS) - set(context))
        extra = sorted(set(context) - set(CONTEXT_FIELDS))
        what = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(extra)}"
        raise SessionLogError(f"{where}: the header's context {what}")
    _context(context, "header", where)
    return record


def _fields(record: dict[str, Any], checks: dict[str, tuple[str, Any]], kind: str, where: str,
            optional: bool = False) -> None:  # fmt: skip
    for name, (expected, ok) in checks.items():
        if name not in record:
            if optional:
                continue
            raise SessionLogError(f"{where}: the {kind} record lacks {name!r}")
        if not ok(record[name]):
            raise SessionLogError(f"{where}: the {kind} record's {name!r} must be {expected}, "
                                  f"got {record[name]!r}")  # fmt: skip


def _context(values: Any, kind: str, where: str) -> None:
    if not isinstance(values, dict) or not values:
        raise SessionLogError(f"{where}: the {kind} record's 'context' must be a non-empty object")
    unknown = sorted(set(values) - set(CONTEXT_FIELDS))
    if unknown:
        raise SessionLogError(f"{where}: the {kind} record's context has unknown field {unknown[0]!r}")
    _fields(values, _CONTEXT_TYPES, f"{kind} record's context", where, optional=True)


def _add(session: Session, record: dict[str, Any], where: str) -> None:
    kind = record.get("kind")
    if kind not in KINDS or kind == "header":
        raise SessionLogError(f"{where}: unknown record kind {kind!r} (corrupted)")
    if kind == "bar":
        _fields(record, {"bar": _COUNT}, "bar", where)
        _fields(record, {"tier": _TIER, "synth_level": _LEVEL,
                         "seed": _HEADER["seed"]}, "bar", where, optional=True)  # fmt: skip
        if "context" in record:
            _context(record["context"], "bar", where)
        index = record["bar"]
        if session.bars and index <= max(session.bars):
            raise SessionLogError(f"{where}: bar {index} comes after bar {max(session.bars)} (corrupted)")
        session.bars[index] = record
    elif kind == "gain":
        _fields(record, {"block": _COUNT, "volume": _GAIN, "fade": _GAIN}, "gain", where)
        if session.gains and record["block"] < session.gains[-1][0]:
            raise SessionLogError(f"{where}: block {record['block']} comes after block "
                                  f"{session.gains[-1][0]} (corrupted)")  # fmt: skip
        session.gains.append((record["block"], float(record["volume"]), float(record["fade"])))
    elif kind in ("track", "version"):
        _deck_record(session, record, where)
    elif kind == "styles":
        _fields(record, {"bar": _COUNT, "styles": _HEADER["styles"]}, "styles", where)
        session.styles.append(record)
    elif kind == "end":
        _fields(record, {"bars": _COUNT, "blocks": _COUNT}, "end", where)
        if session.bars and max(session.bars) >= record["bars"]:
            raise SessionLogError(f"{where}: the end says {record['bars']} bars, but bar "
                                  f"{max(session.bars)} was recorded (corrupted)")  # fmt: skip
        session.end = record
    else:
        _fields(record, {"bar": ("an integer >= 0 or null", lambda v: v is None or _COUNT[1](v))},
                kind, where)  # fmt: skip
        getattr(session, "commands" if kind == "command" else kind).append(record)


def _deck_record(session: Session, record: dict[str, Any], where: str) -> None:
    kind = record["kind"]
    _fields(record, {"frame": _COUNT}, kind, where)
    track = record.get("track")
    if kind == "version":
        _fields(record, {"track": ("a track id", lambda v: isinstance(v, str) and v),
                         "version": ("reimagined or original", lambda v: v in ("reimagined", "original"))},
                kind, where)  # fmt: skip
    elif track is not None:
        if not isinstance(track, str) or not track:
            raise SessionLogError(f"{where}: the track record's 'track' must be a track id or null, "
                                  f"got {track!r}")  # fmt: skip
        _fields(record, _TRACK, kind, where)
        if set(record["context"]) != set(CONTEXT_FIELDS):
            raise SessionLogError(f"{where}: the track record's context must have every context field")
        _context(record["context"], kind, where)
    starts = [r["frame"] for r in session.decks if r["kind"] == "track"]
    if kind == "track" and starts and record["frame"] < starts[-1]:
        raise SessionLogError(f"{where}: frame {record['frame']} comes after frame {starts[-1]} (corrupted)")
    session.decks.append(record)


def context_at_start(session: Session) -> Context:
    """The context the engine started from."""
    return Context(**session.header["context"])
