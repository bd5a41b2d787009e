"""The sources manifest: which music the data builder may read, under what licence and whose consent.

A manifest is a TOML file of ``[[source]]`` tables::

    [[source]]
    name = "my-tunes"                 # unique; becomes the ``source`` field of each piece
    kind = "midi"                     # "music21" (a folder of music21's corpus) or "midi" (a folder)
    path = "~/music/my-tunes"         # corpus folder name, or a folder of .mid/.midi files
    tag = "user"                      # one of TAGS; the style tag the model is conditioned on
    licence = "my own compositions, all rights mine"
    consent = "I wrote these and agree to train on them (J. Doe, 2025-01-01)"
    terms_checked = "n/a: my own work"
    artist = "J. Doe"                 # optional: whom the ledger credits (else the source's name)

Every source must carry a non-empty ``licence``, ``consent`` and ``terms_checked``; the
builder refuses the whole manifest otherwise (nothing is read or written). A relative
``midi`` path is taken from the manifest file's folder.

This module only reads TOML: it does not import music21, so checking a manifest is cheap.
"""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

KINDS = ("music21", "midi")
TAGS = ("bach", "ryans", "oneills", "airds", "user")
FIELDS = ("name", "kind", "path", "tag", "licence", "consent", "terms_checked")
OPTIONAL = ("artist",)
"""Fields a source may leave out: ``artist`` is whom the attribution ledger credits."""

REFUSED_MUSIC21: dict[str, str] = {
    "essenfolksong": (
        "essenFolksong/license.txt: permission covers non-commercial distribution and use in music21 only"
    ),
    "palestrina": (
        "palestrina/*.krn: 'Copyright 2000, John Miller ... Rights to all derivative electronic formats"
        " reserved'"
    ),
}
"""music21 corpus folders whose own terms rule out redistributing models trained on them."""

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "models" / "sources.toml"


class ManifestError(ValueError):
    """The manifest cannot be used; the message is one line naming the source and the problem."""


@dataclass(frozen=True)
class Source:
    """One ``[[source]]`` entry, validated."""

    name: str
    kind: str
    path: str
    tag: str
    licence: str
    consent: str
    terms_checked: str
    base_dir: str = "."
    """Folder of the manifest file; relative ``midi`` paths are taken from here."""
    artist: str = ""
    """The artist behind the source (an artist model): credited in the ledger; "" = the source's name."""

    def folder(self) -> Path:
        """The folder holding this source's files."""
        if self.kind == "music21":
            return music21_corpus_dir() / self.path
        p = Path(self.path).expanduser()
        return p if p.is_absolute() else Path(self.base_dir) / p

    def record(self) -> dict:
        """What ``build.json`` says about this source (no machine-specific paths)."""
        d = asdict(self)
        del d["base_dir"]
        if not d["artist"]:
            del d["artist"]  # only an artist source says so (older records stay the same)
        return d


def music21_corpus_dir() -> Path:
    """The installed music21 core corpus folder, found without importing music21."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise ManifestError("music21 is not installed: pip install -e '.[train]'")
    return Path(next(iter(spec.submodule_search_locations))) / "corpus"


def _label(entry: dict, index: int) -> str:
    name = entry.get("name")
    return repr(name) if isinstance(name, str) and name.strip() else f"#{index + 1}"


def parse_manifest(data: dict, base_dir: Path | str = ".", check_paths: bool = True) -> list[Source]:
    """Validate the ``[[source]]`` tables of a parsed manifest; raises ManifestError on the first problem."""
    entries = data.get("source")
    if not isinstance(entries, list) or not entries:
        raise ManifestError("manifest has no [[source]] entries")
    sources: list[Source] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        label = _label(entry, i)
        if not isinstance(entry, dict):
            raise ManifestError(f"source {label}: not a table")
        unknown = sorted(set(entry) - set(FIELDS) - set(OPTIONAL))
        if unknown:
            raise ManifestError(f"source {label}: unknown field {unknown[0]!r}")
        for field in FIELDS:
            value = entry.get(field)
            if not isinstance(value, str) or not value.strip():
                what = "no" if value is None else "an empty"
                raise ManifestError(f"source {label}: refused, {what} {field!r} entry (required, non-empty)")
        artist = entry.get("artist", "")
        if not isinstance(artist, str) or len(artist) > 200 or any(ord(c) < 32 for c in artist):
            raise ManifestError(f"source {label}: 'artist' must be one line of text (at most 200 characters)")
        src = Source(**{f: entry[f].strip() for f in FIELDS}, base_dir=str(base_dir), artist=artist.strip())
        if src.name in seen:
            raise ManifestError(f"source {label}: duplicate name")
        seen.add(src.name)
        if src.kind not in KINDS:
            raise ManifestError(f"source {label}: kind {src.kind!r} is not one of {', '.join(KINDS)}")
        if src.tag not in TAGS:
            raise ManifestError(f"source {label}: tag {src.tag!r} is not one of {', '.join(TAGS)}")
        if src.kind == "music21":
            top = Path(src.path).parts[0] if Path(src.path).parts else ""
            if top.lower() in REFUSED_MUSIC21 or ".." in Path(src.path).parts:
                reason = REFUSED_MUSIC21.get(top.lower(), "path must stay inside the music21 corpus")
                raise ManifestError(f"source {label}: refused music21 folder {src.path!r} ({reason})")
        if check_paths and not src.folder().is_dir():
            raise ManifestError(f"source {label}: folder not found: {src.folder()}")
        sources.append(src)
    return sources


def load_manifest(path: Path | str = DEFAULT_MANIFEST, check_paths: bool = True) -> list[Source]:
    """Read and validate a manifest file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ManifestError(f"manifest not found: {path}") from e
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"manifest {path} is not valid TOML: {e}") from e
    return parse_manifest(data, path.resolve().parent, check_paths=check_paths)
