"""The files and streams an offline command writes: checked before any work, failures reported.

``check_writable`` answers up front whether a path can be created or
overwritten, so a render to a missing folder stops before rendering (and
creates nothing). ``write_stdout`` turns a full disk or a closed pipe on
standard output into an ``OutputError`` instead of a traceback. ``raise_if_failed``,
``quiet_logger`` and ``fade_tail`` are what every offline render (render, reimagine, replay)
does around its WAV sink.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from edge.exits import EXIT_BROKEN_PIPE, OutputError, UsageError


def check_writable(path: str) -> None:
    """Raise UsageError("cannot write PATH: reason") unless ``path`` can be opened for writing.

    Nothing is created. Catches what is knowable without writing: a missing
    folder, a folder that is a file, a path that is a folder, no write
    permission, a read-only file system. A full disk shows up at write time.
    """
    problem = _why_not_writable(path)
    if problem is not None:
        raise UsageError(f"cannot write {path}: {os.strerror(problem)}")


def _why_not_writable(path: str) -> int | None:
    """The errno that opening ``path`` for writing would most likely fail with, or None."""
    if path.endswith(os.sep) or os.path.isdir(path):
        return errno.EISDIR
    folder = os.path.dirname(path) or os.curdir
    try:
        if not stat.S_ISDIR(os.stat(folder).st_mode):
            return errno.ENOTDIR
    except OSError as exc:
        return exc.errno or errno.ENOENT
    exists = os.path.exists(path)
    if os.access(path if exists else folder, os.W_OK if exists else os.W_OK | os.X_OK):
        return None
    with contextlib.suppress(OSError):
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return errno.EROFS
    return errno.EACCES


def write_stdout(text: str) -> None:
    """Write and flush ``text`` to standard output; raise OutputError if that fails."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        raise OutputError("", EXIT_BROKEN_PIPE) from None
    except OSError as exc:
        _silence_stdout()
        raise OutputError(f"cannot write standard output: {exc.strerror or exc}") from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's flush at exit cannot fail a second time."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def raise_if_failed(sink: object) -> None:
    """The WAV sink's recorded failure ("write PATH: reason") as an OutputError."""
    failed = getattr(sink, "failed", None)
    if failed:
        raise OutputError(f"cannot {failed}")


@contextlib.contextmanager
def quiet_logger(logger_name: str) -> Iterator[None]:
    """Silence one logger below CRITICAL for the block (its failures are reported otherwise)."""
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def fade_tail(audio: np.ndarray, start: int, total: int, fade_frames: int) -> np.ndarray:
    """Fade the last ``fade_frames`` of the render so the file never ends on a click."""
    fade_start = total - fade_frames
    end = start + len(audio)
    if end <= fade_start or fade_frames == 0:
        return audio
    positions = np.arange(start, end, dtype=np.float32)
    gain = np.clip((total - positions) / fade_frames, 0.0, 1.0).astype(np.float32)
    return audio * gain[:, None]


def write_midi_output(bars: Any, path: str) -> None:
    """Write ``bars`` as a MIDI file at ``path``; a failure is an ``OutputError`` (exit 1, one line)."""
    from edge.music.midi import write_midi

    try:
        write_midi(bars, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
