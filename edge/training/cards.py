"""The key figures of an evaluation, written into each model card's ``metrics``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from edge.training.inference import speedup


def card_metrics(result: dict, quick: bool, commit: str) -> dict:
    """The key figures written into the card's ``metrics``."""
    session = result["session"]
    figures = {
        "heldout_nll_int8": result["nll_int8"],
        "heldout_nll_fp32": result.get("nll_fp32"),
        "mode_adherence": result["adherence"]["mode"],
        "density_adherence": result["adherence"]["density"],
        "register_adherence": result["adherence"]["register"],
        "mode_adherence_unmasked": result["adherence_open"]["mode"],
        "scale_consistency": result["scale_consistency"],
        "overlap_pitch_class": result["overlap_pitch_class"],
        "overlap_ioi": result["overlap_ioi"],
        "repeated_phrase_rate": session["repeated"],
        "ms_per_bar": session["ms_mean"],
        "ms_per_bar_p95": session["ms_p95"],
        "tokens_per_s": session["tokens_per_s"],
        "rss_mb": result["rss"]["loaded"],
        "failed_bar_rate": result["failed"] / max(1, result["generated"]),
        "int8_vs_fp32_speedup": speedup(result["speed"]["step"], "fp32"),
        "int8_vs_eager_speedup": speedup(result["speed"]["step"], "eager"),
    }
    rounded: dict[str, Any] = {}
    for key, value in figures.items():
        if value is not None and not math.isnan(value):
            rounded[key] = round(float(value), 1 if key in ("tokens_per_s", "rss_mb") else 4)
    rounded["eval"] = f"scripts/eval_models.py{' --quick' if quick else ''} at {commit}"
    return rounded


def update_card(path: Path, figures: dict) -> None:
    """Merge the figures into the card's metrics (training's heldout_nll and anything else stay)."""
    card_path = path.with_name(path.name + ".json")
    card = json.loads(card_path.read_text())
    card["metrics"] = {**card.get("metrics", {}), **figures}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
