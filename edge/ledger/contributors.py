"""Who is credited for a second of music, from the style pack and the model card.

Every second played credits:

- the style pack, to its author (``StylePack.author``);
- the model that wrote the notes, to the card's ``author`` (tier 0 is edge-music's own
  procedural generator);
- each training collection behind that model, weighted by its share of the training
  data as the card records it (``collections[].share``), to its ``artist`` when the
  source names one, else to the collection itself.

Anything that declares no author or terms is credited as "unattributed", never dropped;
a model whose card names no collections credits one "unknown" source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edge import __version__
from edge.credentials.manifest import ALGORITHMIC, TRAINED, UNATTRIBUTED, model_records, style_attribution

KINDS = ("style", "model", "source")
"""The kinds of contributor, in the order reports list them."""
PROCEDURAL = "procedural"
"""The model name of tier 0, edge-music's own generator (no training data)."""
OWN_AUTHOR = "edge-music"
OWN_TERMS = "MIT"
"""The procedural tier is edge-music's own code, under the project's licence."""


@dataclass(frozen=True)
class Contributor:
    """One party the ledger credits."""

    kind: str
    """"style", "model" or "source"."""
    name: str
    """The pack's name, the model's name (edge-S, procedural) or the collection's name."""
    credit: str
    """Who is credited: the author or artist, the collection itself, or "unattributed"."""
    terms: str
    """The licence it is used under, or "unattributed"."""


Shares = tuple[tuple[Contributor, float], ...]
"""Contributors with the fraction of each played second credited to each."""


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) and value.strip() else ""


def style_contributor(style: Mapping[str, str]) -> Contributor:
    """From ``edge.credentials.manifest.style_attribution`` (name, author, licence)."""
    return Contributor(
        "style",
        style.get("name", "") or UNATTRIBUTED,
        _text(style.get("author")) or UNATTRIBUTED,
        _text(style.get("licence")) or UNATTRIBUTED,
    )


def source_weights(collections: Sequence[Mapping[str, Any]]) -> list[float]:
    """Each collection's share of the training data: as recorded, else equal parts.

    Recorded shares are normalised (they are rounded in the card); a card that records no
    share for some collection gets equal parts for all, so no collection is dropped.
    """
    if not collections:
        return []
    shares = [c.get("share") for c in collections]
    if all(isinstance(s, int | float) and not isinstance(s, bool) and s >= 0 for s in shares):
        total = float(sum(shares))  # type: ignore[arg-type]
        if total > 0:
            return [float(s) / total for s in shares]  # type: ignore[arg-type]
    return [1.0 / len(collections)] * len(collections)


def model_shares(record: Mapping[str, Any] | None) -> Shares:
    """The model and its sources, from one ``edge.credentials.manifest.model_records`` entry.

    ``None`` is tier 0, the procedural generator: credited to edge-music, no sources.
    """
    if record is None:
        return ((Contributor("model", PROCEDURAL, OWN_AUTHOR, OWN_TERMS), 1.0),)
    card = record.get("card", {})
    name = _text(card.get("name")) or _text(record.get("file")) or f"tier {record.get('tier', '?')}"
    if record.get("pack"):  # an installed pack's artist model: its card may well say "edge-S" too
        name = f"{name} (pack {_text(record['pack'])})"
    model = Contributor("model", name, _text(card.get("author")) or UNATTRIBUTED,
                        _text(card.get("licence")) or UNATTRIBUTED)  # fmt: skip
    collections = [c for c in record.get("collections", []) if isinstance(c, Mapping)]
    if not collections:
        return ((model, 1.0), (Contributor("source", "unknown", UNATTRIBUTED, UNATTRIBUTED), 1.0))
    sources = []
    for collection, weight in zip(collections, source_weights(collections), strict=True):
        name = _text(collection.get("name")) or "unknown"
        credit = _text(collection.get("artist")) or name
        sources.append((Contributor("source", name, credit, _text(collection.get("licence")) or UNATTRIBUTED),
                        weight))  # fmt: skip
    return ((model, 1.0), *sources)


def shares_for(style: Mapping[str, str], record: Mapping[str, Any] | None) -> Shares:
    """Everyone credited for a second of ``style`` played by the model of ``record``."""
    return ((style_contributor(style), 1.0), *model_shares(record))


def source_type(record: Mapping[str, Any] | None) -> str:
    """The IPTC digital source type: trained (a neural model) or algorithmic (tier 0)."""
    return ALGORITHMIC if record is None else TRAINED


def credit_line(shares: Shares) -> str:
    """One line for live streams (MQTT state, logs): what is playing and whom it credits."""
    parts = []
    for contributor, _ in shares:
        if contributor.kind == "style":
            parts.append(f"style {contributor.name} by {contributor.credit}")
        elif contributor.name == PROCEDURAL:
            parts.append("edge-music's procedural generator (no trained model)")
        elif contributor.kind == "model":
            parts.append(f"model {contributor.name} by {contributor.credit}")
    sources = [f"{c.credit} {weight:.0%}" for c, weight in shares if c.kind == "source"]
    line = f"AI-generated music by edge-music {__version__}: " + "; ".join(parts)
    if sources:
        line += "; trained on " + ", ".join(sources)
    return line


class Attribution:
    """(style, bar source) -> Shares for a running speaker, each pair worked out once.

    ``styles`` is the style library (``edge.music.style.StyleLibrary``) and ``registry`` the
    model registry (``edge.generator.registry.TierRegistry``), both read through
    ``edge.credentials.manifest`` (``style_attribution``, ``model_records``) like the content
    credentials.
    """

    def __init__(self, styles: Any, registry: Any) -> None:
        self._styles = styles
        self._registry = registry
        self._known: dict[tuple[str, str], Shares] = {}

    def __call__(self, style: str, source: str) -> Shares:
        """Who is credited for ``style`` played by ``source`` ("tier0", "tierS", "S" ...)."""
        key = (style, source)
        found = self._known.get(key)
        if found is None:
            tier = source.removeprefix("tier")
            records = [] if tier == "0" else model_records(self._registry, [tier])
            record = records[0] if records else None
            if tier != "0" and record is None:  # a tier the registry does not know: still credited
                record = {"tier": tier, "file": f"tier {tier}", "card": {}, "collections": []}
            pack = self._styles.packs.get(style)
            found = self._known[key] = shares_for(style_attribution(pack, style), record)
        return found
