"""The library folder: every file a track with an id, analysed once; what cannot be read, listed.

A track's id is its file name's stem made safe (lower-case letters, digits, ``-`` and ``_``):
MQTT and Home Assistant name tracks by id, never by path. Each input kind has a reader
(``READERS``, by suffix) that turns a file into an ``Analysis``. A file that cannot be used is
listed with the reason and skipped, one log line each. Analyses are kept by the file's sha256, so
a rescan (SIGHUP) reads only what changed.

Audio (WAV, FLAC, MP3) costs a transcription, seconds of CPU a minute of audio, so the scan only
checks what is cheap (the header, the length a WAV declares, a decoder for FLAC/MP3) and lists an
audio file without a cached analysis as ``pending``; ``analyse_pending`` does one (the library's
loader thread calls it between track loads) and keeps the result in the ``AnalysisCache`` by
sha256, where the next scan, after a restart too, finds it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edge.analysis.analyse import Analysis, analyse_score
from edge.analysis.audio import read as audio_read
from edge.analysis.midi_in import read_midi
from edge.digest import sha256_of
from edge.exits import UsageError
from edge.library.cache import AnalysisCache
from edge.music.style import StylePack
from edge.reimagine.plan import Reimagining, plan_track

log = logging.getLogger(__name__)

MAX_ID_CHARS = 64
"""The longest track id (longer stems are cut)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""MIDI files larger than this are listed as too large, unread (audio: the audio reader's limit)."""
AUDIO_KIND = "audio"
"""The input kind of WAV, FLAC and MP3 tracks."""
DEFAULT_MAX_SECONDS = 300.0
"""The longest audio track when the caller names no limit (``[library] max_audio_seconds``)."""

_UNSAFE = re.compile(r"[^a-z0-9_-]+")


def _midi(path: Path) -> Analysis:
    """A MIDI file, as MIDI only: audio bytes under a .mid name are refused, not transcribed here."""
    return analyse_score(read_midi(path))


def _audio(path: Path) -> tuple[Analysis, list[float]]:
    """An audio file: beats, key and the transcription (costly: see ``analyse_pending``)."""
    from edge.analysis.audio.analyse import analyse_audio_parts  # onnxruntime's model: only for audio

    return analyse_audio_parts(path)


READERS: dict[str, tuple[str, Callable[[Path], Analysis]]] = {
    ".mid": ("midi", _midi),
    ".midi": ("midi", _midi),
    ".kar": ("midi", _midi),
    ".wav": (AUDIO_KIND, _audio),  # type: ignore[dict-item]
    ".wave": (AUDIO_KIND, _audio),  # type: ignore[dict-item]
    ".flac": (AUDIO_KIND, _audio),  # type: ignore[dict-item]
    ".mp3": (AUDIO_KIND, _audio),  # type: ignore[dict-item]
}
"""Suffix -> (input kind, reader). A reader raises UsageError (one line) for what it cannot use."""

_MAGIC = {".wav": (b"RIFF",), ".wave": (b"RIFF",), ".flac": (b"fLaC",), ".mp3": (b"ID3", b"\xff")}
_DECODERS = {".flac": ("FLAC", ("flac",)), ".mp3": ("MP3", ("ffmpeg",))}


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
    """Its input kind (``midi`` or ``audio``)."""
    sha256: str
    """The hex digest of its bytes (the analysis cache key)."""
    analysis: Analysis
    """What ``edge-music analyze`` says about it."""


@dataclass(frozen=True)
class Pending:
    """An audio file waiting for its analysis (the scan checked what is cheap to check)."""

    id: str
    """The id it will have."""
    path: Path
    """Where it is."""
    sha256: str
    """The hex digest of its bytes."""


@dataclass(frozen=True)
class Library:
    """A scan of the folder: the tracks by id and the files left out, with the reason."""

    folder: Path
    """The folder scanned."""
    tracks: Mapping[str, Track] = field(default_factory=dict)
    """id -> track, in file name order."""
    skipped: tuple[tuple[str, str], ...] = ()
    """(file name, one-line reason) for each file that could not be used."""
    pending: tuple[Pending, ...] = ()
    """Audio files whose analysis has not been made yet (not offered until it is)."""

    @property
    def ids(self) -> tuple[str, ...]:
        """The track ids, in file name order."""
        return tuple(self.tracks)


def scan(
    folder: Path,
    check_style: StylePack,
    previous: Library | None = None,
    *,
    cache: AnalysisCache | None = None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    analyse_audio: bool = True,
) -> Library:
    """Read every file of ``folder`` (not below it); a missing folder is an empty library.

    ``check_style`` is any style pack: each track is planned once with it, so a file the live
    reimagining could not play (no melody, bars of 5 quarters) is listed now, not when chosen.
    An audio file with no analysis in ``previous`` or ``cache`` is analysed here when
    ``analyse_audio``, else listed in ``pending`` (the daemon's loader thread analyses those).
    """
    memory = {t.sha256: t.analysis for t in previous.tracks.values()} if previous else {}
    tracks: dict[str, Track] = {}
    skipped: list[tuple[str, str]] = []
    pending: list[Pending] = []
    try:
        entries = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    except FileNotFoundError:
        return Library(folder)
    except OSError as exc:
        log.error("library %s cannot be listed: %s", folder, exc.strerror or exc)
        return Library(folder, {}, ((str(folder), f"cannot list: {exc.strerror or exc}"),))
    for path in entries:
        try:
            found = _read(path, check_style, memory, cache, max_seconds)
            if isinstance(found, Pending) and analyse_audio:
                found = analyse_audio_file(found, check_style, cache, max_seconds)
        except UsageError as exc:
            _skip(skipped, path.name, str(exc).removeprefix(f"{path}: "))
            continue
        if found is None:
            continue
        taken = tracks.get(found.id) or next((p for p in pending if p.id == found.id), None)
        if taken is not None:
            _skip(skipped, path.name, f"its id {found.id!r} is already {taken.path.name}'s")
            continue
        if isinstance(found, Pending):
            pending.append(found)
        else:
            tracks[found.id] = found
    log.info("library %s: %d tracks%s%s", folder, len(tracks), f", {len(pending)} to analyse" if pending
             else "", f", {len(skipped)} skipped" if skipped else "")  # fmt: skip
    return Library(folder, tracks, tuple(skipped), tuple(pending))


def _skip(skipped: list[tuple[str, str]], name: str, reason: str) -> None:
    skipped.append((name, reason))
    log.warning("library: %s skipped: %s", name, reason)


def analyse_pending(
    library: Library, item: Pending, check_style: StylePack, cache: AnalysisCache | None,
    max_seconds: float = DEFAULT_MAX_SECONDS,
) -> Library:  # fmt: skip
    """``library`` with ``item`` analysed: a track (in file name order), or a file skipped."""
    pending = tuple(p for p in library.pending if p != item)
    try:
        analysis = cache.get(item.sha256) if cache is not None else None
        if analysis is not None:
            track = Track(item.id, item.path, AUDIO_KIND, item.sha256, analysis)
        else:
            track = analyse_audio_file(item, check_style, cache, max_seconds)
    except Exception as exc:  # a hostile file costs its place in the library, never the daemon
        why = str(exc).splitlines()[0] if str(exc) else ""
        reason = why.removeprefix(f"{item.path}: ") if isinstance(exc, UsageError) else (
            f"cannot be analysed: {type(exc).__name__}{': ' + why if why else ''}")  # fmt: skip
        skipped = [*library.skipped]
        _skip(skipped, item.path.name, reason)
        return Library(library.folder, library.tracks, tuple(skipped), pending)
    tracks = sorted([*library.tracks.values(), track], key=lambda t: t.path.name)
    return Library(library.folder, {t.id: t for t in tracks}, library.skipped, pending)


def analyse_audio_file(
    item: Pending, check_style: StylePack, cache: AnalysisCache | None, max_seconds: float
) -> Track:
    """Transcribe and analyse one audio file (seconds of CPU); UsageError (one line) when it cannot."""
    analysis, weights = _audio(item.path)
    seconds = analysis.audio.seconds if analysis.audio is not None else 0.0
    if seconds > max_seconds:
        raise UsageError(_too_long(seconds, max_seconds))
    plan_track(analysis, check_style, Reimagining())  # raises for what live reimagining cannot play
    if cache is not None:
        cache.put(item.sha256, analysis, weights)
    log.info("library: %s analysed (%.1f s of audio, %d notes heard)", item.path.name, seconds,
             analysis.audio.transcribed_notes if analysis.audio else 0)  # fmt: skip
    return Track(item.id, item.path, AUDIO_KIND, item.sha256, analysis)


def _too_long(seconds: float, limit: float) -> str:
    return f"{seconds:.0f} s of audio is over library.max_audio_seconds ({limit:g} s)"


def _read(
    path: Path, style: StylePack, memory: dict[str, Analysis], cache: AnalysisCache | None, max_seconds: float
) -> Track | Pending | None:
    if path.is_dir():
        return None
    suffix = path.suffix.lower()
    kind, reader = READERS.get(suffix, (None, None))
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise UsageError(f"not a kind the library reads (suffix {path.suffix or 'none'!r}; reads {known})")
    ident = track_id(path.stem)
    if not ident:
        raise UsageError("its name has no letter or digit to make an id of")
    limit = audio_read.MAX_FILE_BYTES if kind == AUDIO_KIND else MAX_FILE_BYTES
    try:
        size = path.stat().st_size
        if size > limit:
            raise UsageError(f"{size} bytes is over the {limit}-byte limit")
        if kind == AUDIO_KIND:
            _check_audio(path, suffix, size, max_seconds)
        digest = sha256_of(path)
    except OSError as exc:
        raise UsageError(f"cannot read: {exc.strerror or exc}") from None
    analysis = memory.get(digest)
    if analysis is None and kind == AUDIO_KIND:
        analysis = cache.get(digest) if cache is not None else None
        if analysis is None:
            return Pending(ident, path, digest)
        if analysis.audio is not None and analysis.audio.seconds > max_seconds:
            raise UsageError(_too_long(analysis.audio.seconds, max_seconds))
    if analysis is None:
        analysis = reader(path)
        plan_track(analysis, style, Reimagining())  # raises for what live reimagining cannot play
    return Track(ident, path, kind, digest, analysis)


def _check_audio(path: Path, suffix: str, size: int, max_seconds: float) -> None:
    """What an audio file shows without decoding it: bytes, its header, a WAV's length, a decoder."""
    if size == 0:
        raise UsageError("empty file (0 bytes), not an audio file")
    with open(path, "rb") as handle:
        head = handle.read(12)
    kind = suffix.lstrip(".").upper().replace("WAVE", "WAV")
    if not head.startswith(_MAGIC[suffix]) or (kind == "WAV" and head[8:12] != b"WAVE"):
        raise UsageError(f"not a {kind} file (its first bytes are not a {kind} header)")
    if kind == "WAV":
        seconds = audio_read.wav_seconds(path)
        if seconds is None:
            raise UsageError("corrupt WAV: no format chunk before its data")
        if seconds > max_seconds:
            raise UsageError(_too_long(seconds, max_seconds))
        if seconds < audio_read.MIN_SECONDS:
            raise UsageError(f"audio too short ({seconds:.2f} s; at least {audio_read.MIN_SECONDS:g} s)")
        return
    what, commands = _DECODERS[suffix]
    if not _has_decoder(commands):
        raise UsageError(f"{what} audio needs a decoder: pip install 'edge-music[audio]' (soundfile) or "
                         f"install the {' or '.join(commands)} command")  # fmt: skip


def _has_decoder(commands: tuple[str, ...]) -> bool:
    import importlib.util
    import shutil

    return importlib.util.find_spec("soundfile") is not None or any(shutil.which(c) for c in commands)
