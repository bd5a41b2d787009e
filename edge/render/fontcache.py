"""SoundFonts trimmed to what each pack plays, kept in the state directory.

FluidSynth holds every preset header of a loaded SoundFont in memory (some 14 MiB for
FluidR3_GM's 189 presets); a pack plays one or two. ``prepare`` writes, once, a copy of the
source holding only the presets one sound uses (``edge.render.sf2trim``), named after the
source's path, size and modification time and the presets, so a changed source or another
preset list gets a file of its own. ``trimmed`` only looks: the synth asks it when a style's
sound is set (on the producer thread, so it never writes there) and plays the full source
whenever no trimmed copy is ready. The daemon prepares every pack's copies when it loads the
packs (before playing, and on a reload), off the audio path. A trimmed font plays the same
samples as its source (tests/test_fontcache.py), so whether a copy was ready never changes a
render.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path

from edge.render.sf2trim import trim
from edge.state import state_path

log = logging.getLogger(__name__)

FOLDER = "soundfont-cache"
"""The cache's folder in the state directory (not a SoundFont search folder: nothing in it is listed)."""
FORMAT = 1
"""Part of every key: a change to the trimming writes new copies."""

Presets = frozenset[tuple[int, int]]
_said: set[Path] = set()  # the trimmed copies whose failure was logged (once per process)


def cache_dir(configured: str = "") -> Path:
    """The folder trimmed copies are kept in."""
    return state_path(FOLDER, configured)


def cached_name(source: Path, presets: Iterable[tuple[int, int]]) -> str | None:
    """The trimmed copy's file name for ``source`` and ``presets``; None if the source is unreadable."""
    try:
        stat = source.stat()
    except OSError:
        return None
    listed = ",".join(f"{bank}:{program}" for bank, program in sorted(presets))
    key = f"{FORMAT}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{listed}"
    return f"{source.stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}{source.suffix.lower()}"


def trimmed(source: Path, presets: Iterable[tuple[int, int]], folder: Path | None = None) -> Path | None:
    """The trimmed copy of ``source`` holding ``presets``, if one was prepared (nothing is written)."""
    name = cached_name(source, presets)
    if name is None:
        return None
    path = (cache_dir() if folder is None else folder) / name
    return path if path.is_file() else None


def prepare(source: Path, presets: Iterable[tuple[int, int]], folder: Path | None = None) -> Path | None:
    """The trimmed copy of ``source`` holding ``presets``, written if missing; None (one log line
    per process, naming the source and why) when it cannot be: the full source plays then."""
    presets = frozenset(presets)
    folder = cache_dir() if folder is None else folder
    name = cached_name(source, presets)
    if name is None:
        return None  # the synth says the SoundFont is missing when a style wants it
    path = folder / name
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        kept = trim(source, presets, path)
    except Exception as exc:  # whatever a damaged font does, the whole font plays
        if path not in _said:
            _said.add(path)
            log.warning("SoundFont %s not trimmed (%s); the whole font plays, using more memory", source, exc)
        return None
    log.info("SoundFont %s trimmed to %d preset(s) for the packs: %s", source.name, kept, path)
    return path


def prepare_sounds(sounds: Iterable[dict[Path, Presets]], folder: Path | None = None) -> list[Path]:
    """Prepare a trimmed copy for every sound (each pack's SoundFonts and the presets it plays
    from each); copies no sound uses any more are removed. Returns the copies ready."""
    folder = cache_dir() if folder is None else folder
    ready = []
    for sound in sounds:
        for source, presets in sound.items():
            path = prepare(source, presets, folder)
            if path is not None:
                ready.append(path)
    if folder.is_dir():
        for old in folder.iterdir():
            if old.is_file() and old not in ready and not old.name.startswith("."):
                old.unlink(missing_ok=True)
    return ready
