"""The files and streams an offline command writes: checked before any work, failures reported.

``check_writable`` answers up front whether a path can be created or
overwritten, so a render to a missing folder stops before rendering (and
creates nothing). ``write_stdout`` turns a full disk or a closed pipe on
standard output into an ``OutputError`` instead of a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys

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
