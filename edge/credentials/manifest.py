"""The C2PA manifest of one piece of music: who made it, with what, and on what terms.

The manifest definition (JSON for ``c2pa.Builder``) holds:

- the claim generator: edge-music and its version;
- a ``c2pa.actions`` assertion with one ``c2pa.created`` action whose IPTC digital
  source type is ``trainedAlgorithmicMedia`` when a neural model wrote any of the
  notes (``algorithmicMedia`` when only the procedural tier 0 played);
- a ``c2pa.training-mining`` assertion, set by ``[credentials] training_mining``;
- ``org.edge-music.provenance``: the seed, the session id, the style pack (name,
  author and licence where the pack declares them, else "unattributed"), and
  each model used with its sha256, its card and its training collections with
  their terms (from the model card, itself built from models/sources.toml; a pack's
  artist model from its own card, with the pack it came in).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edge import __version__
from edge.digest import sha256_of

GENERATOR = "edge-music"
IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED = IPTC + "trainedAlgorithmicMedia"
COMPOSITE = IPTC + "compositeWithTrainedAlgorithmicMedia"
ALGORITHMIC = IPTC + "algorithmicMedia"
PROVENANCE_LABEL = "org.edge-music.provenance"
UNATTRIBUTED = "unattributed"
# The uses the c2pa.training-mining assertion names; each gets the configured answer.
MINING_USES = ("c2pa.ai_generative_training", "c2pa.ai_inference", "c2pa.ai_training", "c2pa.data_mining")
# Card fields worth carrying (the rest, such as the graph's input names, says nothing about provenance).
CARD_FIELDS = ("name", "tier", "author", "licence", "parameters", "quantization", "training", "metrics")
# What each training collection carries; the optional ones only when the card records them.
COLLECTION_FIELDS = ("name", "kind", "licence", "consent", "terms_checked")
COLLECTION_OPTIONAL = ("artist", "share", "train_tokens")


def new_session_id() -> str:
    """A random id for one run of the daemon or one render."""
    return str(uuid.uuid4())


def style_attribution(pack: Any, name: str = "") -> dict[str, str]:
    """A style pack's name, author, licence and version for the record (``pack`` is a
    ``StylePack``, or None for a pack that cannot be found); what it leaves out is "unattributed"."""
    if pack is None:
        return {"name": name, "author": UNATTRIBUTED, "licence": UNATTRIBUTED}
    record = {
        "name": pack.name,
        "author": pack.author or UNATTRIBUTED,
        "licence": pack.licence or UNATTRIBUTED,
    }
    if pack.version:
        record["version"] = pack.version
    return record


def _file_sha256(path: Path) -> str | None:
    try:
        return sha256_of(path)
    except OSError:
        return None


def model_records(registry: Any, tiers: Iterable[str]) -> list[dict[str, Any]]:
    """One record per neural tier in ``tiers`` that the registry knows: file, sha256, card, collections.

    A tier written ``S@<pack>`` is that installed pack's artist model, credited by its own card
    (its author, licence, and its sources with their artist); the record names the pack.

    Each collection carries its terms and, where the card records them, its artist and its
    share of the training data (the ledger weights its credits by that share).
    """
    records = []
    sources = _file_sha256(Path(registry.folder) / "sources.toml")
    for tier in sorted(set(tiers)):
        pack = None
        entry = registry.entries.get(tier)
        if "@" in tier:  # S@rainy-window: the artist model of an installed pack (edge/packs/models.py)
            entry = registry.packs.by_source(tier)
            pack = tier.partition("@")[2]
        if entry is None:
            continue
        card = dict(entry.card)
        record: dict[str, Any] = {
            "tier": str(card.get("tier", tier)) if pack else tier,
            "file": entry.path.name,
            "sha256": entry.sha256,
            "card_file": entry.path.name + ".json",
            "card": {k: card[k] for k in CARD_FIELDS if k in card},
            "collections": [
                {
                    **{k: c.get(k, "") for k in COLLECTION_FIELDS},
                    **{k: c[k] for k in COLLECTION_OPTIONAL if k in c},
                }
                for c in card.get("collections", [])
                if isinstance(c, dict)
            ],
        }
        if pack is not None:
            record["pack"] = pack  # its card names its sources; the shipped sources.toml is not theirs
        elif sources is not None:
            record["sources_toml_sha256"] = sources
        records.append(record)
    return records


def build(
    *,
    title: str,
    seed: int,
    session: str,
    style: Mapping[str, str] | Sequence[Mapping[str, str]],
    models: list[dict[str, Any]],
    training_mining: str = "notAllowed",
    parameters: Mapping[str, Any] | None = None,
    derived: bool = False,
) -> dict[str, Any]:
    """The manifest definition for ``c2pa.Builder`` (a dict; ``json.dumps`` it).

    ``style``: the pack that played, or every pack a session played, the first being the one it
    started with (``style_attribution``). ``derived``: a work made from another one (a reimagined
    track, its original an ingredient): ``compositeWithTrainedAlgorithmicMedia``.
    """
    source_type = COMPOSITE if derived else TRAINED if models else ALGORITHMIC
    agent = {"name": GENERATOR, "version": __version__}
    styles = [dict(style)] if isinstance(style, Mapping) else [dict(s) for s in style]
    style = styles[0] if styles else {"name": "", "author": UNATTRIBUTED, "licence": UNATTRIBUTED}
    provenance: dict[str, Any] = {
        "seed": seed,
        "session": session,
        "style": style,
        "models": models,
        "procedural_only": not models,
    }
    if len(styles) > 1:
        provenance["styles"] = styles
    if parameters:
        provenance["parameters"] = dict(parameters)
    return {
        "claim_generator_info": [agent],
        "title": title,
        "format": "audio/wav",
        "assertions": [
            {
                "label": "c2pa.actions",
                "data": {
                    "actions": [
                        {
                            "action": "c2pa.created",
                            "digitalSourceType": source_type,
                            "softwareAgent": agent,
                            "parameters": {"seed": seed, "session": session, "style": style.get("name", "")},
                        }
                    ]
                },
            },
            {
                "label": "c2pa.training-mining",
                "data": {"entries": {use: {"use": training_mining} for use in MINING_USES}},
            },
            {"label": PROVENANCE_LABEL, "data": provenance},
        ],
    }


def info_tags(title: str, comment: str) -> dict[str, str]:
    """RIFF LIST/INFO tags for players that show only those: software, title, comment."""
    return {"ISFT": f"{GENERATOR} {__version__}", "INAM": title, "ICMT": comment}
