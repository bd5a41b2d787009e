"""One session's JSONL file: created in the session folder, old ones pruned, size capped.

Not thread-safe on its own: ``SessionRecorder`` holds the lock. A failure to
write (a full disk, a vanished folder) is logged once and ends the log; the
music never depends on it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

PREFIX = "session-"
SUFFIX = ".jsonl"
END_RESERVE = 256
"""Bytes kept free under the cap for the end line."""


def session_files(folder: Path) -> list[Path]:
    """The session logs in ``folder``, oldest first (their names sort by start time)."""
    return sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))


class SessionLog:
    """Appends JSON lines to a new file until ``max_bytes``; ``finish`` writes the last one."""

    def __init__(self, folder: Path, max_bytes: int, keep: int) -> None:
        """``capped`` becomes True at ``max_bytes`` (or at a record that cannot be written as JSON):
        the recorder then ends the log with what a replay can still trust."""
        self.folder = folder
        self.max_bytes = max_bytes
        self.keep = keep
        self.path: Path | None = None
        self.capped = False
        self._file: IO[str] | None = None
        self._bytes = 0

    @property
    def open(self) -> bool:
        """True while lines are being recorded."""
        return self._file is not None and not self.capped

    def start(self, seed: int) -> Path | None:
        """Create this session's file (pruning the oldest beyond ``keep``); None (logged) if impossible."""
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o750)
            self._prune()
            for attempt in range(100):
                suffix = f"-{attempt}" if attempt else ""
                path = self.folder / f"{PREFIX}{stamp}-seed{seed}{suffix}{SUFFIX}"
                try:
                    self._file = path.open("x", encoding="utf-8")
                    break
                except FileExistsError:
                    continue
            else:
                raise FileExistsError(f"{self.folder}: too many sessions named {PREFIX}{stamp}")
        except OSError as exc:
            log.error("no session log: cannot write in %s: %s", self.folder, exc.strerror or exc)
            return None
        self.path = path
        return path

    def _prune(self) -> None:
        """Delete the oldest logs so that, with the new one, ``keep`` remain."""
        old = session_files(self.folder)
        for path in old[: max(0, len(old) - (self.keep - 1))]:
            try:
                path.unlink()
            except OSError as exc:
                log.warning("cannot delete old session log %s: %s", path, exc.strerror or exc)

    def write(self, record: dict[str, Any]) -> bool:
        """Append one line; False when the log is closed, failed or has just reached its cap."""
        if not self.open:
            return False
        try:
            line = json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:  # a bug upstream; a replay must not trust what follows
            kind = record.get("kind")
            log.error("session log %s stops here: a %s record is not JSON (%s)", self.path, kind, exc)
            self.capped = True
            return False
        if self._bytes + len(line.encode()) > self.max_bytes - END_RESERVE:
            self.capped = True
            return False
        return self._append(line)

    def finish(self, record: dict[str, Any]) -> None:
        """Write the end line (into the reserved room) and close the file."""
        if self._file is None:
            return
        self._append(json.dumps(record, separators=(",", ":"), allow_nan=False) + "\n")
        self.close()

    def close(self) -> None:
        """Close the file (no end line: a reader will call the log truncated)."""
        file, self._file = self._file, None
        if file is not None:
            try:
                file.close()
            except OSError as exc:
                log.error("session log %s: %s", self.path, exc.strerror or exc)

    def _append(self, line: str) -> bool:
        assert self._file is not None
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            log.error("session log %s stopped: %s", self.path, exc.strerror or exc)
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()
            return False
        self._bytes += len(line.encode())
        return True

