"""``edge-music credits`` (the ledger's split) and ``edge-music about`` (what the music is made of).

Live streams (ALSA, Snapcast) cannot carry a manifest, so ``about`` is their credit:
it says the music is AI-generated, and names every style pack, every model and every
training source with its share and its terms, from the same model cards and records
as the content credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
from typing import Any

from edge import __version__
from edge.config import Config
from edge.exits import EXIT_FAILED, EXIT_OK, UsageError
from edge.ledger.contributors import OWN_AUTHOR, OWN_TERMS, UNATTRIBUTED, source_weights
from edge.ledger.report import format_split, split
from edge.ledger.store import LedgerError, Store
from edge.outputs import write_stdout
from edge.state import state_path


def ledger_path(config: Config) -> str:
    """The ledger file for this config."""
    return str(state_path("ledger.db", config.ledger.path))


def parse_day(flag: str, value: str | None) -> str:
    """A YYYY-MM-DD date (or "today"), else UsageError naming the flag."""
    if value is None:
        return ""
    if value.strip().lower() == "today":
        return dt.date.today().isoformat()
    try:
        return dt.date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise UsageError(f"{flag} {value!r}: expected a date such as 2026-01-31, or 'today'") from None


def credits_command(args: Any, config: Config) -> int:
    """Print the split of played time since ``--since`` (all of it by default)."""
    since = parse_day("--since", getattr(args, "since", None))
    path = ledger_path(config)
    try:
        with Store(path, readonly=True) as store:
            summary = split(store, since)
    except LedgerError as exc:
        if "no such file" not in str(exc):
            print(f"edge-music: error: {exc}", file=sys.stderr)
            return EXIT_FAILED
        summary = {"since": since or None, "until": None, "seconds": 0.0, "top": None, "contributors": []}
    if args.json:
        write_stdout(json.dumps({"ledger": path, **summary}, indent=2) + "\n")
    else:
        write_stdout(format_split(summary, path))
    return EXIT_OK


def about_record(config: Config) -> dict[str, Any]:
    """Everything ``about`` says, as a dict: the generator, style packs, models and their sources."""
    from edge.credentials.manifest import TRAINED, model_records
    from edge.generator.registry import TierRegistry
    from edge.music.style import StyleLibrary

    styles = StyleLibrary(installed=state_path("packs", config.packs.dir))  # as the daemon loads them
    registry = TierRegistry(config.generator.models_dir or None)
    artists = registry.packs.hashes(styles.packs.values())  # installed packs' own models
    models = sorted(model_records(registry, [*registry.entries, *artists]),
                    key=lambda r: ("SML".find(r["tier"]), r.get("pack", "")))  # fmt: skip
    for record in models:
        weights = source_weights(record["collections"])
        for collection, weight in zip(record["collections"], weights, strict=True):
            collection["credited_share"] = round(weight, 4)
    return {
        "generator": f"edge-music {__version__}",
        "ai_generated": True,
        "digital_source_type": TRAINED,
        "statement": (
            "This music is AI-generated on this device by edge-music: a conductor plans the harmony, "
            "a small transformer trained on the sources below (or edge-music's own procedural "
            "generator) writes the notes, and a synthesizer plays them. Live streams carry no "
            "manifest; this is their credit."
        ),
        "procedural": {"name": "procedural", "author": OWN_AUTHOR, "licence": OWN_TERMS},
        "styles": [
            {
                "name": pack.name,
                "author": pack.credit,
                "licence": pack.licence or UNATTRIBUTED,
                "version": pack.version,
                "contact": pack.contact,
            }
            for pack in styles.packs.values()
        ],
        "models": models,
    }


def _wrap(label: str, text: str, indent: int) -> list[str]:
    pad = " " * indent
    return textwrap.wrap(f"{label}: {text}", width=100, initial_indent=pad, subsequent_indent=pad + "  ")


def format_about(record: dict[str, Any]) -> str:
    """The text of ``edge-music about``."""
    lines = [record["generator"], ""]
    lines += textwrap.wrap(record["statement"], width=100)
    lines += ["", "style packs"]
    for pack in record["styles"]:
        extra = "".join(f", {k} {pack[k]}" for k in ("version", "contact") if pack[k])
        lines.append(f"  {pack['name']}: author {pack['author']}, licence {pack['licence']}{extra}")
    lines += ["", "models"]
    proc = record["procedural"]
    lines.append(
        f"  tier 0 ({proc['name']}): author {proc['author']}, licence {proc['licence']}, no training data"
    )
    for model in record["models"]:
        card = model["card"]
        author = card.get("author") or UNATTRIBUTED
        licence = card.get("licence") or UNATTRIBUTED
        name = card.get("name", model["file"])
        pack = f", from pack {model['pack']}" if model.get("pack") else ""
        lines.append(f"  tier {model['tier']} ({name}{pack}): author {author}, licence {licence}")
        recorded = all("share" in c for c in model["collections"])
        if model["collections"] and not recorded:
            lines.append("    (the card records no shares of the training data: credited in equal parts)")
        if not model["collections"]:
            lines.append("    trained on: unknown (the card names no sources; credited as unattributed)")
        for source in model["collections"]:
            credit = source.get("artist") or source["name"]
            share = 100 * source["credited_share"]
            lines.append(f"    {source['name']}: {share:.1f} % of the training data, credited to {credit}")
            for key, label in (("licence", "licence"), ("consent", "consent"), ("terms_checked", "checked")):
                lines += _wrap(label, source.get(key) or UNATTRIBUTED, 6)
    return "\n".join(lines) + "\n"


def about_command(args: Any, config: Config) -> int:
    """Print what the music is made of and whom it credits."""
    record = about_record(config)
    if args.json:
        write_stdout(json.dumps(record, indent=2) + "\n")
    else:
        write_stdout(format_about(record))
    return EXIT_OK
