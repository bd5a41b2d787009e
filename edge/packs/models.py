"""A pack's artist model: found in its ``model/`` folder, checked and loaded off the audio path.

Which model writes a bar of an installed pack's style: while that style plays at a neural tier at
or above the tier its card declares, the pack's model stands in for the shipped model of that
tier (an S model at S, M and L; an L model only at L). It never costs more than the tier the
governor chose, so the governor's cost ladder stays honest; below its tier the shipped model
plays the style, as it plays any pack without a model. Tier 0 and the built-in styles are
untouched. A bar it writes names it as its source, ``<card tier>@<pack>`` (``S@rainy-window``),
so the ledger, the content credentials and the MQTT state credit its card, not a shipped one.

The model's card and sha256 are checked as ``pack check`` checks them (``check_model``) once per
load of the pack (a ``StyleLibrary``, so again after a reload), and what passed is what plays
until the next reload, as with the pack's style and samples: a pack changed or removed on disk
is heard from the reload on, so a session log replays. A model that fails the check or does not
load is one log line, and the shipped tier plays the style.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.generator.registry import LADDER, load_session
from edge.music.style import PACK_FILE, StylePack
from edge.packs.check import check_model

log = logging.getLogger(__name__)

MODEL_FOLDER = "model"
SEPARATOR = "@"
"""Between the card's tier and the pack's name in a bar's source: ``S@rainy-window``."""


@dataclass(frozen=True)
class PackModel:
    """An artist model that passed its checks."""

    pack: str
    """The pack that holds it."""
    path: Path
    """Its ONNX file, in the pack's ``model/`` folder."""
    sha256: str
    """The file's digest, checked against its card."""
    card: dict
    """Its card (``<file>.json``): tier, shape, tags, author, licence, the sources with their artist."""

    @property
    def tier(self) -> str:
        """The tier its card declares (its size, hence its cost)."""
        return str(self.card["tier"])

    @property
    def source(self) -> str:
        """What a bar it wrote names as its source."""
        return f"{self.tier}{SEPARATOR}{self.pack}"

    @property
    def name(self) -> str:
        """The card's name, else the file's."""
        name = self.card.get("name")
        return name if isinstance(name, str) and name.strip() else self.path.stem


def split_source(source: str) -> tuple[str, str | None]:
    """A bar's source as (tier, pack): ("S", "rainy-window") for a pack's model, ("S", None) for a
    shipped one, ("0", None) for tier 0."""
    tier, _, pack = source.removeprefix("tier").partition(SEPARATOR)
    return tier, pack or None


def plays_at(model_tier: str, tier: str) -> bool:
    """True when a model of ``model_tier`` may stand in at ``tier`` (it costs no more)."""
    if tier not in LADDER[:-1] or model_tier not in LADDER[:-1]:
        return False
    return LADDER.index(model_tier) >= LADDER.index(tier)


def model_file(pack: StylePack) -> Path | None:
    """The artist model an installed pack holds (the first ``model/*.onnx`` by name), or None."""
    path = Path(pack.path)
    if path.name != PACK_FILE:  # a built-in style: a TOML file, no folder
        return None
    try:
        names = sorted(n for n in os.listdir(path.parent / MODEL_FOLDER) if n.endswith(".onnx"))
    except OSError:
        return None
    return path.parent / MODEL_FOLDER / names[0] if names else None


def check(pack: StylePack) -> tuple[PackModel | None, str]:
    """The pack's artist model if it holds one that passes ``pack check``'s checks, and the first
    problem (``<pack>/model/<file>: ...``) when it does not; nothing logged, nothing kept."""
    path = model_file(pack)
    if path is None:
        return None, ""
    problems: list[str] = []
    rel = f"{MODEL_FOLDER}/{path.name}"
    check_model(
        path.parent.parent, rel, lambda where, message: problems.append(f"{pack.name}/{where}: {message}")
    )
    card: Any = None
    if not problems:
        try:
            card = json.loads(path.with_name(path.name + ".json").read_text("utf-8"))
        except (OSError, ValueError) as exc:  # changed since check_model read it
            problems.append(f"{pack.name}/{rel}.json: unreadable ({type(exc).__name__})")
    if problems:
        return None, problems[0]
    return PackModel(pack.name, path, str(card["sha256"]).lower(), card), ""


class PackModels:
    """Every installed pack's artist model: checked once per loaded pack, one session each.

    Thread-safe: the daemon checks and loads in its control loop or a loader thread (``request``,
    ``prepare``); the producer then finds them ready (``entry``, ``session`` answer from memory
    once a model is checked and loaded, and only then).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one check or load at a time
        self._checked: dict[str, tuple[StylePack, PackModel | None]] = {}  # name -> (the pack, its model)
        self._sessions: dict[tuple[str, str], Any] = {}  # (pack, sha256) -> onnxruntime session
        self._broken: dict[tuple[str, str], str] = {}  # (pack, sha256) -> why it does not load
        self._loading: set[str] = set()

    def _known(self, pack: StylePack) -> tuple[bool, PackModel | None]:
        found = self._checked.get(pack.name)
        if found is not None and found[0] is pack:  # this very load of the pack
            return True, found[1]
        return False, None

    def entry(self, pack: StylePack) -> PackModel | None:
        """The pack's artist model if it holds one that passes its checks (one log line when it does
        not, once per load of the pack); None otherwise (a built-in style: at once, no file read)."""
        if Path(pack.path).name != PACK_FILE:
            return None
        known, entry = self._known(pack)
        if known:
            return entry
        with self._lock:
            known, entry = self._known(pack)
            if not known:
                entry, problem = check(pack)
                if problem:
                    log.error("artist model of pack %s cannot play: %s; the shipped tier plays its style",
                              pack.name, problem)  # fmt: skip
                self._checked[pack.name] = (pack, entry)
            return entry

    def session(self, entry: PackModel) -> Any | None:
        """The model's onnxruntime session, loaded on first use; None when it does not load (one log
        line, once: the shipped tier plays the style)."""
        key = (entry.pack, entry.sha256)
        found = self._sessions.get(key)
        if found is not None or key in self._broken:
            return found
        with self._lock:
            if key in self._sessions or key in self._broken:
                return self._sessions.get(key)
            session, problem = load_session(entry.path, entry.card)
            if session is None:
                self._broken[key] = str(problem)
                log.error("artist model of pack %s cannot play: %s; the shipped tier plays its style",
                          entry.pack, problem)  # fmt: skip
                return None
            for old in [k for k in self._sessions if k[0] == entry.pack]:  # a replaced pack's model
                del self._sessions[old]
            self._sessions[key] = session
            return session

    def prepare(self, pack: StylePack) -> None:
        """Check and load the pack's model, if it holds one (call it off the audio path)."""
        entry = self.entry(pack)
        if entry is not None:
            self.session(entry)

    def ready(self, pack: StylePack) -> bool:
        """True when the pack's style can play without waiting on a load: it holds no model, or its
        model is checked and loaded, or found broken."""
        if Path(pack.path).name != PACK_FILE:
            return True
        known, entry = self._known(pack)
        if not known:
            return False
        if entry is None:
            return True
        key = (entry.pack, entry.sha256)
        return key in self._sessions or key in self._broken

    def request(self, pack: StylePack) -> bool:
        """``ready``, else start checking and loading the model in a thread of its own (once)."""
        if self.ready(pack):
            return True
        with self._lock:
            if pack.name in self._loading:
                return False
            self._loading.add(pack.name)

        def load() -> None:
            try:
                self.prepare(pack)
            except Exception as exc:  # never leaves a style waiting: it is settled as broken
                log.error("artist model of pack %s cannot play: %s: %s", pack.name, type(exc).__name__, exc)
                with self._lock:
                    self._checked[pack.name] = (pack, None)
            finally:
                with self._lock:
                    self._loading.discard(pack.name)

        threading.Thread(target=load, name=f"pack-model-{pack.name}", daemon=True).start()
        return False

    def keep(self, names: set[str] | tuple[str, ...]) -> None:
        """Let go of the sessions of packs not in ``names`` (removed: their memory goes once the
        engine, which holds the one playing, moves on). What was checked stays known, so the music
        they already played is still credited to their cards."""
        with self._lock:
            for key in [k for k in self._sessions if k[0] not in names]:
                del self._sessions[key]

    @property
    def loaded(self) -> set[str]:
        """The packs whose models are loaded."""
        return {pack for pack, _ in self._sessions}

    def by_source(self, source: str) -> PackModel | None:
        """The checked model a bar's source (``S@rainy-window``) names, or None."""
        tier, pack = split_source(source)
        found = self._checked.get(pack) if pack else None
        entry = found[1] if found else None
        return entry if entry is not None and entry.tier == tier else None

    def hashes(self, packs: Any) -> dict[str, str]:
        """Source -> sha256 of every artist model among ``packs`` (StylePacks) that passes its checks
        (and, if it was loaded, loads)."""
        found = [e for e in map(self.entry, packs) if e and (e.pack, e.sha256) not in self._broken]
        return {e.source: e.sha256 for e in sorted(found, key=lambda e: e.pack)}
