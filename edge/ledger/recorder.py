"""The recorder: counts what plays in memory and writes it to the ledger in batches.

Two threads touch it, and the audio threads never do:

- the daemon's control loop calls ``played(shares, seconds)`` about once a second with
  the music that reached the sink since its last call (nothing while paused) and who is
  credited for it: a dict update under a lock held for microseconds;
- the recorder's own thread writes what was counted as one transaction every
  ``flush_seconds`` (and once more on ``stop``).

A batch that cannot be written (a full disk, a locked or broken file) goes back into
the counts and is tried again next time, with one log line; the music never stops
for the ledger.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections.abc import Callable
from pathlib import Path

from edge.ledger.contributors import Contributor, Shares
from edge.ledger.store import LedgerError, Store

log = logging.getLogger("edge.ledger")


def local_day(timestamp: float) -> str:
    """The local date of a Unix time, as YYYY-MM-DD."""
    return dt.date.fromtimestamp(timestamp).isoformat()


class Recorder:
    """Counts played seconds per contributor and writes them to ``path`` in batches."""

    def __init__(
        self,
        path: str | Path,
        flush_seconds: float = 30.0,
        clock: Callable[[], float] = time.time,
        on_flush: Callable[[Store], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.flush_seconds = flush_seconds
        self._clock = clock
        self._on_flush = on_flush
        self._lock = threading.Lock()
        self._pending: dict[str, dict[Contributor, float]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._store: Store | None = None
        self._failing = False
        self.committed: tuple[int, int] = (0, 0)
        """(batches, ms of music) this recorder has committed so far; replaced whole, never torn."""

    # -- called by the daemon ----------------------------------------------------

    def played(self, shares: Shares, seconds: float) -> None:
        """``seconds`` of music reached the listener; credit them to ``shares``."""
        if not seconds > 0:
            return
        day = local_day(self._clock())
        with self._lock:
            credited = self._pending.setdefault(day, {})
            for who, weight in shares:
                credited[who] = credited.get(who, 0.0) + seconds * weight

    # -- the writer thread ---------------------------------------------------------

    def start(self) -> None:
        """Start the writer thread (it opens the file on its first batch)."""
        self._thread = threading.Thread(target=self._run, name="edge-ledger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is left and close the file."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        else:
            self.flush()
        if self._store is not None:
            self._store.close()
            self._store = None

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()
        self.flush()

    def _take(self) -> dict[str, dict[Contributor, int]]:
        """Whole milliseconds out of the counts; the fractions stay for the next batch."""
        with self._lock:
            pending, self._pending = self._pending, {}
        batch: dict[str, dict[Contributor, int]] = {}
        rest: dict[str, dict[Contributor, float]] = {}
        for day, credited in pending.items():
            for who, seconds in credited.items():
                ms = math.floor(seconds * 1000)
                if ms > 0:
                    batch.setdefault(day, {})[who] = ms
                if seconds - ms / 1000 > 0:
                    rest.setdefault(day, {})[who] = seconds - ms / 1000
        if rest:
            self._give_back(rest)
        return batch

    def _give_back(self, pending: dict[str, dict[Contributor, float]]) -> None:
        with self._lock:
            for day, credited in pending.items():
                mine = self._pending.setdefault(day, {})
                for who, seconds in credited.items():
                    mine[who] = mine.get(who, 0.0) + seconds

    def flush(self) -> bool:
        """Write what was counted as one transaction; True when something was committed."""
        batch = self._take()
        if not batch:
            return False
        try:
            if self._store is None:
                self._store = Store(self.path)
            self._store.add(batch)
        except LedgerError as exc:
            self._give_back({d: {w: ms / 1000 for w, ms in c.items()} for d, c in batch.items()})
            if not self._failing:
                log.error("%s; the counts are kept in memory and written when it works again", exc)
            self._failing = True
            if self._store is not None:
                self._store.close()
                self._store = None
            return False
        if self._failing:
            log.info("ledger %s: writing again", self.path)
            self._failing = False
        music = sum(ms for credited in batch.values() for who, ms in credited.items() if who.kind == "style")
        self.committed = (self.committed[0] + 1, self.committed[1] + music)
        if self._on_flush is not None:
            try:
                self._on_flush(self._store)
            except Exception:
                log.exception("ledger: the after-write hook failed")
        return True
