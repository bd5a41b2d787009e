"""The library folder: every file a track with an id, analysed once; what cannot be read, listed.

A track's id is its file name's stem made safe (lower-case letters, digits, ``-`` and ``_``):
MQTT and Home Assistant name tracks by id, never by path. Each input kind has a reader
(``READERS``, by suffix) that turns a file into an ``Analysis``; a new kind (audio) plugs in
there. A file that cannot be used is listed with the reason and skipped, one log line each.
Analyses are kept by the file's sha256, so a rescan (SIGHUP) reads only what changed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.analysis.analyse import Analysis, analyse_score
from edge.analysis.midi_in import read_midi
from edge.digest import sha256_of
from edge.exits import UsageError
from edge.music.style import StylePack
from edge.reimagine.plan import Reimagining, plan_track

log = logging.getLogger(__name__)

MAX_ID_CHARS = 64
"""The longest track id (longer stems are cut)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Files larger than this are listed as too large, unread."""

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def _midi(path: Path) -> Analysis:
    """A MIDI file, as MIDI only: audio bytes under a .mid name are refused, not transcribed here."""
    return analyse_score(read_midi(path))


READERS: dict[str, tuple[str, Callable[[Path], Analysis]]] = {
    ".mid": ("midi", _midi),
    ".midi": ("midi", _midi),
    ".kar": ("midi", _midi),
}
"""Suffix -> (input kind, reader). A reader raises UsageError (one line) for what it cannot use."""


def track_id(stem: str) -> str:
    """The id of a file stem: lower-case, runs of anything but ``a-z0-9_-`` become ``-``."""
    return _UNSAFE.sub("-", stem.lower()).strip("-")[:MAX_ID_CHARS].strip("-")


@dataclass(frozen=True)
class Track:
    """One usable file of the library."""

    id: str
    """Its name on MQTT and in Home Assistant."""
    path: Path
    """Where it is."""
    kind: str
    """Its input kind (``midi``)."""
    sha256: str
    """The hex digest of its bytes (the analysis cache key)."""
    analysis: Analysis
    """What ``edge-music analyze`` says about it."""


@dataclass(frozen=True)
class Library:
    """A scan of the folder: the tracks by id and the files left out, with the reason."""

    folder: Path
    """The folder scanned."""
    tracks: Mapping[str, Track] = field(default_factory=dict)
    """id -> track, in file name order."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(file name, one-line reason) for each file that could not be used."""

    @property
    def ids(self) -> tuple[str, ...]:
        """The track ids, in file name order."""
        return tuple(self.tracks)


def scan(folder: Path, check_style: StylePack, previous: Library | None = None) -> Library:
    """Read every file of ``folder`` (not below it); a missing folder is an empty library.

    ``check_style`` is any style pack: each track is planned once with it, so a file the live
    reimagining could not play (no melody, bars of 5 quarters) is listed now, not when chosen.
    """
    cache = {t.sha256: t.analysis for t in previous.tracks.values()} if previous else {}
    tracks: dict[str, Track] = {}
    skipped: list[tuple[str, str]] = []
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return Library(folder)
    except OSError as exc:
        log.error("library %s cannot be listed: %s", folder, exc.strerror or exc)
        return Library(folder, {}, ((str(folder), f"cannot list: {exc.strerror or exc}"),))
    for path in entries:
        try:
            track = _read(path, check_style, cache)
        except UsageError as exc:
            reason = str(exc).removeprefix(f"{path}: ")
            skipped.append((path.name, reason))
            log.warning("library: %s skipped: %s", path.name, reason)
            continue
        if track is None:
            continue
        if track.id in tracks:
            reason = f"its id {track.id!r} is already {tracks[track.id].path.name}'s"
            skipped.append((path.name, reason))
            log.warning("library: %s skipped: %s", path.name, reason)
            continue
        tracks[track.id] = track
    log.info("library %s: %d tracks%s", folder, len(tracks), f", {len(skipped)} skipped" if skipped else "")
    return Library(folder, tracks, tuple(skipped))


def _read(path: Path, style: StylePack, cache: dict[str, Analysis]) -> Track | None:
    if path.is_dir():
        return None
    kind, reader = READERS.get(path.suffix.lower(), (None, None))
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise UsageError(f"not a kind the library reads (suffix {path.suffix or 'none'!r}; reads {known})")
    ident = track_id(path.stem)
    if not ident:
        raise UsageError("its name has no letter or digit to make an id of")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise UsageError(f"{size} bytes is over the {MAX_FILE_BYTES}-byte limit")
        digest = sha256_of(path)
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror or exc}") from None
    analysis = cache.get(digest)
    if analysis is None:
        analysis = reader(path)
        plan_track(analysis, style, Reimagining())  # raises for what live reimagining cannot play
    return Track(ident, path, kind, digest, analysis)
