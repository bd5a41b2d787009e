"""The ledger's SQLite file: seconds played per day and per contributor.

WAL mode with ``synchronous = FULL``: each batch is one transaction, synced to the
disk when it commits, so a power cut or a killed process loses at most the batch
being written, and a torn write at the end of the WAL is recognised by its
checksums and ignored (the database opens as of the last whole transaction).

Tables (integers are milliseconds, so sums never drift):

- ``contributor``: kind, name, credit, terms (one row each, made on first use);
- ``played``: day (local date, YYYY-MM-DD), contributor, ms;
- ``daily``: day, ms of music played, batches committed. Every batch adds the same
  ms to ``daily`` as to the style packs it credits, in the same transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from edge.ledger.contributors import Contributor

SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS contributor (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    credit TEXT NOT NULL,
    terms TEXT NOT NULL,
    UNIQUE (kind, name, credit, terms)
);
CREATE TABLE IF NOT EXISTS played (
    day TEXT NOT NULL,
    contributor INTEGER NOT NULL REFERENCES contributor (id),
    ms INTEGER NOT NULL,
    PRIMARY KEY (day, contributor)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily (
    day TEXT PRIMARY KEY,
    ms INTEGER NOT NULL,
    batches INTEGER NOT NULL
) WITHOUT ROWID;
"""


class LedgerError(Exception):
    """The ledger file cannot be opened, read or written; ``str()`` is one line naming it."""


@dataclass(frozen=True)
class Row:
    """One contributor's played time over some days."""

    contributor: Contributor
    """Who."""
    ms: int
    """Milliseconds credited."""


def _fail(path: Path, doing: str, exc: BaseException) -> LedgerError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LedgerError(f"ledger {path}: cannot {doing}: {reason}")


class Store:
    """One connection to the ledger file. Not shared between threads."""

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        """Open (and for writing, create) the ledger; raises LedgerError."""
        self.path = Path(path)
        self.readonly = readonly
        self._ids: dict[Contributor, int] = {}
        try:
            if readonly:
                if not self.path.is_file():
                    raise LedgerError(f"ledger {self.path}: no such file (nothing has been played yet)")
                self._db = self._open_readonly()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        except (OSError, sqlite3.Error) as exc:
            raise _fail(self.path, "open it", exc) from None
        try:
            self._setup()
        except sqlite3.Error as exc:
            self._db.close()
            raise _fail(self.path, "read it", exc) from None

    def _open_readonly(self) -> sqlite3.Connection:
        """A reader that never writes, also for a user who may not write the ledger's folder.

        Reading a WAL database needs its ``-shm`` index: while the daemon runs it exists
        and ``mode=ro`` reads everything committed. With no writer left (no ``-shm``, and
        a folder this user cannot write) the file is opened as immutable: after a clean
        stop the WAL is already folded into it.
        """
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
            return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

    def _setup(self) -> None:
        db = self._db
        db.execute("PRAGMA busy_timeout = 5000")
        if self.readonly:
            db.execute("SELECT count(*) FROM daily").fetchone()  # "file is not a database" shows here
            return
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"journal mode {mode}, WAL needed")
        db.execute("PRAGMA synchronous = FULL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"written by a newer edge-music (schema {version})")
        db.executescript(SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        """Close the connection (the last writer to close also checkpoints the WAL)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -----------------------------------------------------------------

    def _contributor_id(self, who: Contributor) -> int:
        found = self._ids.get(who)
        if found is None:
            key = (who.kind, who.name, who.credit, who.terms)
            self._db.execute(
                "INSERT OR IGNORE INTO contributor (kind, name, credit, terms) VALUES (?, ?, ?, ?)", key
            )
            found = self._db.execute(
                "SELECT id FROM contributor WHERE kind = ? AND name = ? AND credit = ? AND terms = ?", key
            ).fetchone()[0]
            self._ids[who] = found
        return found

    def add(self, batch: Mapping[str, Mapping[Contributor, int]]) -> None:
        """Add one batch, ``day -> contributor -> ms``, in one transaction; raises LedgerError.

        The day's music time grows by the ms credited to its style packs.
        """
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for day, credited in batch.items():
                    for who, ms in credited.items():
                        self._db.execute(
                            "INSERT INTO played (day, contributor, ms) VALUES (?, ?, ?) "
                            "ON CONFLICT (day, contributor) DO UPDATE SET ms = ms + excluded.ms",
                            (day, self._contributor_id(who), int(ms)),
                        )
                    music = sum(int(ms) for who, ms in credited.items() if who.kind == "style")
                    self._db.execute(
                        "INSERT INTO daily (day, ms, batches) VALUES (?, ?, 1) ON CONFLICT (day) "
                        "DO UPDATE SET ms = ms + excluded.ms, batches = batches + 1",
                        (day, music),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._ids.clear()  # ids made in the rolled-back transaction are gone
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise _fail(self.path, "write it", exc) from None

    # -- reading -----------------------------------------------------------------

    def _query(self, sql: str, args: Iterable[object] = ()) -> list[tuple]:
        try:
            return self._db.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise _fail(self.path, "read it", exc) from None

    def rows(self, since: str = "", until: str = "") -> list[Row]:
        """Each contributor's ms on days from ``since`` to ``until`` (YYYY-MM-DD, inclusive), most first."""
        found = self._query(
            "SELECT c.kind, c.name, c.credit, c.terms, SUM(p.ms) AS total FROM played p "
            "JOIN contributor c ON c.id = p.contributor WHERE p.day >= ? AND (? = '' OR p.day <= ?) "
            "GROUP BY c.id ORDER BY total DESC, c.kind, c.name, c.credit",
            (since, until, until),
        )
        return [
            Row(Contributor(kind, name, credit, terms), int(ms)) for kind, name, credit, terms, ms in found
        ]

    def music_ms(self, since: str = "", until: str = "") -> int:
        """Milliseconds of music played on those days."""
        found = self._query(
            "SELECT COALESCE(SUM(ms), 0) FROM daily WHERE day >= ? AND (? = '' OR day <= ?)",
            (since, until, until),
        )
        return int(found[0][0])

    def days(self) -> list[tuple[str, int, int]]:
        """(day, ms of music, batches) for every day recorded, oldest first."""
        return [
            (d, int(ms), int(b))
            for d, ms, b in self._query("SELECT day, ms, batches FROM daily ORDER BY day")
        ]

    def integrity(self) -> str:
        """``PRAGMA integrity_check``: "ok" for an intact file."""
        return "; ".join(str(r[0]) for r in self._query("PRAGMA integrity_check"))
