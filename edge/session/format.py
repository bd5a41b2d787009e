"""The session log's line format, shared by the writer and the reader.

One JSON object per line, each with a ``kind``:

- ``header`` (first line): format, software version, the session id (the one its credentials
  name), seed, audio rate/block/channels/format, sampling, start volume and fade length, the
  loudness target (``loudness_lufs``), the models' sha256 (an installed pack's artist model as
  ``<tier>@<pack>``) and the style packs' fingerprints, the starting context and the engine's
  state before bar 0 (tier, synth level).
- ``bar``: the inputs the engine consumed for bar ``bar`` wherever they changed: ``context``
  (only the fields that changed), ``tier``, ``synth_level``, ``seed`` (a reseed before the bar).
- ``styles``: the packs' fingerprints again, from bar ``bar`` on, when a reload changed them.
- ``gain``: the sink's volume and fade target from sink block ``block`` on (volume and pause act
  after the engine, in the sink thread).
- ``track``: from output frame ``frame`` (frames the player rendered, pauses not counted) a library
  track's deck fades in: the track's id, ``file`` (its name in the library) and ``sha256``, its
  ``input`` kind, and how the deck was built (``style``, the whole ``context``, ``seed``, ``tier``,
  ``sampling``, ``crossfade_beats``, ``repeat``, ``loudness_lufs``); ``track`` null: endless
  generation fades back in (``ended``: because the track was over).
- ``version``: the deck of ``track`` heard ``version`` asked for from its own frame ``frame`` on.
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
from edge.digest import sha256_of
from edge.music.style import PACK_FILE

FORMAT = "edge-music session"
FORMAT_VERSION = 1
KINDS = ("header", "bar", "gain", "styles", "track", "version", "command", "governor", "telemetry", "end")

CONTEXT_FIELDS = tuple(f.name for f in dataclasses.fields(Context))


def context_fields(context: Context) -> dict[str, Any]:
    """A context as a JSON-ready dict (floats survive JSON exactly: repr round-trips)."""
    return {name: getattr(context, name) for name in CONTEXT_FIELDS}


def context_changes(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``new`` that differ from ``old`` (type included: 1 and 1.0 differ)."""
    return {k: v for k, v in new.items() if k not in old or old[k] != v or type(old[k]) is not type(v)}


def pack_sha256(pack: Any) -> str:
    """A style pack's fingerprint: its TOML file's sha256 for a built-in pack; for an installed
    one (a folder with ``pack.toml`` and perhaps samples), the sha256 of every file's relative
    path and sha256, in order."""
    path = Path(pack.path)
    if path.name != PACK_FILE:
        return sha256_of(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.parent.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path.parent).as_posix()}\0{sha256_of(item)}\n".encode())
    return digest.hexdigest()


def style_hashes(library: Any) -> dict[str, str]:
    """Pack name -> fingerprint, for every pack of a ``StyleLibrary`` (built-in and installed)."""
    return {name: pack_sha256(pack) for name, pack in sorted(library.packs.items())}


def model_hashes(registry: Any, library: Any = None) -> dict[str, str]:
    """Tier -> sha256 of each usable model (the manifest's, checked at load); with a ``StyleLibrary``,
    also ``<tier>@<pack>`` -> sha256 of each installed pack's artist model (checked against its card)."""
    hashes = {tier: entry.sha256 for tier, entry in sorted(registry.entries.items())}
    if library is not None:
        hashes.update(registry.packs.hashes(library.packs.values()))
    return hashes
