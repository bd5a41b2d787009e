"""The session log's line format, shared by the writer and the reader.

One JSON object per line, each with a ``kind``:

- ``header`` (first line): format, software version, the session id (the one its credentials
  name), seed, audio rate/block/channels/format,
  sampling, start volume and fade length, the models' and style packs' sha256, the starting
  context and the engine's state before bar 0 (tier, synth level).
- ``bar``: the inputs the engine consumed for bar ``bar`` wherever they changed: ``context``
  (only the fields that changed), ``tier``, ``synth_level``, ``seed`` (a reseed before the bar).
- ``gain``: the sink's volume and fade target from sink block ``block`` on (volume and pause act
  after the engine, in the sink thread).
- ``command``, ``governor``, ``telemetry``: what happened, for people and ``report``.
- ``end`` (last line): ``bars`` planned and ``blocks`` written; ``capped`` when the log reached
  ``session.max_bytes`` and stopped recording there.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from edge.context.context import Context

FORMAT = "edge-music session"
FORMAT_VERSION = 1
KINDS = ("header", "bar", "gain", "command", "governor", "telemetry", "end")

CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(Context))


def context_fields(context: Context) -> dict[str, Any]:
    """A context as a JSON-ready dict (floats survive JSON exactly: repr round-trips)."""
    return {name: getattr(context, name) for name in CONTEXT_FIELDS}


def context_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old`` (type included: 1 and 1.0 differ)."""
    return {k: v for k, v in new.items() if k not in old or old[k] != v or type(old[k]) is not type(v)}


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def style_hashes(folder: Path) -> dict[str, str]:
    """Style pack name -> sha256 of its TOML file, for every pack in ``folder``."""
    return {path.stem: file_sha256(path) for path in sorted(folder.glob("*.toml"))}


def model_hashes(registry: Any) -> dict[str, str]:
    """Tier -> sha256 of each usable model (the manifest's, checked at load)."""
    return {tier: entry.sha256 for tier, entry in sorted(registry.entries.items())}
