"""The library tracks of a session, played again: the same files, decks built the same way.

A ``track`` record names the file (in the library folder) and its sha256 and says how the deck
was built; the replay analyses the same file (an audio file's analysis from the library's cache
when it is there, as the daemon took it), builds the deck with the same recipe and hands it to
its stage at the logged output frame; each ``version`` record is handed to that deck before it
renders its logged frame. A file that is missing, or whose bytes changed, is refused in one line
naming the track before anything is written (``ReplayError``, exit 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.context.context import Context
from edge.digest import sha256_of
from edge.exits import UsageError
from edge.library.cache import AnalysisCache
from edge.library.deck import Deck, build_deck
from edge.library.stage import Stage
from edge.music.events import Bar
from edge.music.style import StyleLibrary
from edge.session.read import Session


class TrackFileError(UsageError):
    """A track the session played cannot be played the same way here."""


def check_tracks(session: Session, folder: Path) -> None:
    """Refuse, naming it, a track whose file is missing from ``folder`` or changed since."""
    seen: set[tuple[str, str]] = set()
    for record in session.tracks():
        key = (record["file"], record["sha256"])
        if key in seen:
            continue
        seen.add(key)
        path = folder / record["file"]
        try:
            digest = sha256_of(path)
        except OSError as exc:
            raise TrackFileError(f"{session.path}: track {record['track']!r} played in the session and its "
                                 f"file {path} cannot be read: {exc.strerror or exc}") from None  # fmt: skip
        if digest != record["sha256"]:
            raise TrackFileError(
                f"{session.path}: track {record['track']!r} changed since the session "
                f"({path}: sha256 {record['sha256'][:12]}... then, {digest[:12]}... now)"
            )


@dataclass
class PlayedDeck:
    """What one deck of the replay played: its reimagined bars as planned and the versions heard
    (the MIDI of what was heard is made from them, ``heard.py``)."""

    deck: Deck
    analysis: Any
    """The track's analysis (a MIDI file's notes, or an audio file's transcription)."""
    input: str
    """"midi" or "audio"."""
    bars: list[Bar] = field(default_factory=list)
    """The reimagined bars in the order the deck's engine planned them (bar n from deck frame
    ``deck_bar_start(deck, n)``)."""
    versions: list[tuple[int, str]] = field(default_factory=lambda: [(0, "reimagined")])
    """(deck frame, version heard from there), as the deck reported them."""


def deck_bar_start(deck: Deck, n: int) -> int:
    """The deck frame where its ``n``-th bar (from 0, counting repeats) starts."""
    laps, bar = divmod(n, len(deck.plans))
    return laps * deck.end_frame + deck.starts[bar]


class TrackDecks:
    """Hands the session's decks and version switches to a stage at the logged frames."""

    def __init__(
        self, session: Session, styles: StyleLibrary, registry: Any, folder: Path, cache: AnalysisCache,
        stage: Stage,
    ) -> None:  # fmt: skip
        header = session.header
        self.rate, self.block = int(header["rate"]), int(header["block_frames"])
        self.styles, self.registry, self.stage = styles, registry, stage
        self.folder, self.cache = folder, cache
        self._events = iter(session.decks)
        self._next: dict[str, Any] | None = next(self._events, None)
        self._decks: dict[str, list[tuple[Deck, list[tuple[int, str]]]]] = {}  # by track: (deck, versions)
        self._analyses: dict[str, Any] = {}
        self._audio: dict[str, Any] = {}
        self.played: dict[int, PlayedDeck] = {}
        """What each deck built so far played, by ``id(deck)``."""

    def before_block(self, frame: int) -> None:
        """Apply what the log says happened at output ``frame`` (call before the stage renders it)."""
        self._read_up_to(frame)
        for entries in self._decks.values():
            for deck, versions in entries:
                while versions and versions[0][0] <= deck.frame:
                    deck.select(versions.pop(0)[1])

    def _read_up_to(self, frame: int) -> None:
        """Consume the records up to the next track record after ``frame`` (versions attach to the
        track's last deck, so they are read ahead of it: the deck's own frames say when)."""
        while self._next is not None:
            record = self._next
            if record["kind"] == "track":
                if record["frame"] > frame:
                    return
                if record["track"] is None:
                    if not record.get("ended"):
                        self.stage.back_to_generation()
                else:
                    deck = self._deck(record)
                    self._decks.setdefault(record["track"], []).append((deck, []))
                    self.stage.play(deck)
            else:
                entries = self._decks.get(record["track"])
                if entries:
                    entries[-1][1].append((record["frame"], record["version"]))
            self._next = next(self._events, None)

    def _deck(self, record: dict[str, Any]) -> Deck:
        path = self.folder / record["file"]
        sha = record["sha256"]
        analysis = self._analyses.get(sha)
        if analysis is None:
            analysis = self._analyses[sha] = self._analyse(path, sha, record["input"])
        audio = None
        if record["input"] == "audio":
            from edge.library.original_audio import decode_original

            audio = self._audio.get(sha)
            if audio is None:
                audio = decode_original(path, sha, self.rate, record["loudness_lufs"], math.inf)
                self._audio[sha] = audio
        bars: list[Bar] = []
        deck = build_deck(
            record["track"], analysis, self.styles, Context(**record["context"]), record["seed"],
            rate=self.rate, block=self.block, registry=self.registry, tier=record["tier"],
            sampling=tuple(record["sampling"]), crossfade_beats=record["crossfade_beats"],
            repeat=record["repeat"], audio=audio, loudness_lufs=record["loudness_lufs"], on_bar=bars.append,
        )  # fmt: skip
        played = self.played[id(deck)] = PlayedDeck(deck, analysis, record["input"], bars)
        deck.on_version = lambda frame, version: played.versions.append((frame, version))
        return deck

    def _analyse(self, path: Path, sha: str, kind: str) -> Any:
        if kind == "midi":
            from edge.analysis.analyse import analyse_score
            from edge.analysis.midi_in import read_midi

            return analyse_score(read_midi(path))
        cached = self.cache.get(sha)
        if cached is not None:
            return cached
        from edge.analysis.audio.analyse import analyse_audio

        return analyse_audio(path)
