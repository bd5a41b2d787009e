#!/usr/bin/env python3
"""Evaluate the shipped neural tiers against tier 0 and real music; write docs/models.md and the cards.

    python scripts/eval_models.py                      # full run (about 10 min for S, M, L on one thread)
    python scripts/eval_models.py --quick              # small samples: a smoke check in seconds
    python scripts/eval_models.py --tiers L --out /tmp/models.md

Per tier (and tier 0 wherever a metric applies): held-out NLL of the int8
model (and of the fp32 checkpoint), control adherence (mode, density,
register) with and without the runtime's masks, scale consistency, MGEval
overlap with held-out music (pitch classes, inter-onset intervals), the
repeated-phrase rate of a 30-minute session, ms per bar, tokens per second,
RSS, and int8 vs fp32 vs PyTorch eager on the same KV step; and per style the
musicality figures (harmony, melody, structure, rhythm) against real music and
the style's declared harmony, with a piano roll per style and tier
(docs/img/pianoroll_<style>_<tier>.png, next to --out; needs matplotlib, the
eval extra). Everything runs on one thread. The key figures go into each
card's ``metrics`` (``closeness``: the mean overlap with real music over every
musicality figure); the same closeness per tier goes into quality_ladder.json
next to --out and, on a full run, into <models>/quality.json, the ladder the
daemon's governor ranks tiers by. The ONNX files and manifest.json are never
touched.

The measuring lives in edge/training/evaluate.py (generation), musicality.py (the musicality
maths) and inference.py (likelihood, speed, memory), the writing in report.py (docs/models.md),
pianoroll.py (the pictures) and cards.py (the cards' metrics).
"""

from __future__ import annotations

# ruff: noqa: E402  (the thread variables must be set before numpy loads)
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads: one thread for everything

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary
from edge.training.cards import card_metrics, update_card
from edge.training.evaluate import (
    FULL,
    QUICK,
    TIERS,
    Player,
    Sizes,
    evaluate_generator,
    evaluate_tier,
    musicality_summary,
    reference_set,
    style_reference,
)
from edge.training.report import git, host, write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / ".cache/train")
    parser.add_argument("--data", type=Path, default=ROOT / ".cache/data/default")
    parser.add_argument("--minutes", type=float, help="minutes of music per session (30; 2 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/models.md")
    parser.add_argument(
        "--tiers", default=",".join(TIERS), help="comma-separated, of S, M, L (tier 0 always)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small samples: a fast check, not figures to quote"
    )
    parser.add_argument(
        "--no-cards", action="store_true", help="don't write the metrics into the cards nor quality.json"
    )
    parser.add_argument("--no-pianoroll", action="store_true", help="don't draw the piano rolls")
    args = parser.parse_args(argv)
    command = " ".join(["python scripts/eval_models.py", *(sys.argv[1:] if argv is None else argv)])
    wanted = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if unknown := [t for t in wanted if t not in TIERS]:
        parser.error(f"unknown tier(s) {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    sizes = QUICK if args.quick else FULL
    if args.minutes is not None:
        sizes = Sizes(**{**sizes.__dict__, "minutes": args.minutes})
    started = time.perf_counter()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    try:
        import torch

        torch.set_num_threads(1)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None

    from edge.training.dataset import load_splits

    try:
        _, held, _ = load_splits(args.data)
    except FileNotFoundError as exc:
        print(f"eval_models: {exc}", file=sys.stderr)
        return 2
    styles = StyleLibrary()
    reference = reference_set(args.data, sizes)
    reference["styles"] = style_reference(styles, sizes)
    registry = TierRegistry(args.models)
    missing = {t: registry.disabled.get(t, f"no model in {args.models}/manifest.json") for t in wanted}
    missing = {t: why for t, why in missing.items() if t not in registry.entries}
    results: dict[str, dict] = {}
    for tier in (t for t in TIERS if t in wanted and t in registry.entries):
        begun = time.perf_counter()
        results[tier] = evaluate_tier(tier, registry, args, sizes, styles, reference, held)
        results[tier]["wall"] = time.perf_counter() - begun
        print(f"eval_models: tier {tier} took {results[tier]['wall']:.0f} s", file=sys.stderr)
    begun = time.perf_counter()
    tier0 = evaluate_generator(lambda rng: Player(ProceduralGenerator(rng), rng), styles, sizes, reference)
    tier0["wall"] = time.perf_counter() - begun
    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", "edge", "scripts"))
    import onnxruntime

    info = {
        "quick": args.quick,
        "commit": commit,
        "dirty": dirty,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "host": host(),
        "ort": onnxruntime.__version__,
        "torch": torch_version,
        "load": load,
        "sizes": sizes,
        "missing": missing,
        "minutes": (time.perf_counter() - started) / 60,
    }
    row = {**results, "0": tier0}
    summary = musicality_summary(row, reference)
    closeness = {t: round(float(v), 4) for t, v in summary["closeness"].items()}
    ladder = args.out.parent / "quality_ladder.json"
    info["musicality"] = summary
    info["ladder"] = _shown(ladder)
    governor = args.models / "quality.json"
    if not args.no_cards and not args.quick:
        info["governor_ladder"] = _shown(governor)
    if args.no_pianoroll:
        info["pianoroll_note"] = "Not drawn (`--no-pianoroll`)."
    else:
        info["pianorolls"] = pianorolls(row, args.out.parent)
    info["minutes"] = (time.perf_counter() - started) / 60
    write_report(args.out, results, tier0, reference, info)
    ladder.write_text(json.dumps({**closeness, "command": command, "commit": commit}, indent=2) + "\n")
    if not args.no_cards:
        for tier, result in results.items():
            update_card(
                result["path"], {**card_metrics(result, args.quick, commit), "closeness": closeness[tier]}
            )
        if not args.quick:
            governor.write_text(
                json.dumps({"closeness": closeness, "command": command, "commit": commit}, indent=2) + "\n"
            )
    print(f"wrote {args.out} and {ladder} in {info['minutes']:.1f} min", file=sys.stderr)
    return 0


def _shown(path: Path) -> str:
    """A path as the report names it: relative to the repository when inside it."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def pianorolls(row: dict, folder: Path) -> dict[tuple[str, str], str]:
    """Draw each tier's piano roll per style into ``folder``/img; (style, tier) -> path from ``folder``."""
    try:
        import matplotlib  # noqa: F401

        from edge.training.pianoroll import draw_pianoroll
    except ImportError:
        print("eval_models: no matplotlib (pip install -e '.[eval]'): no piano rolls", file=sys.stderr)
        return {}
    drawn = {}
    for tier, result in row.items():
        for style, bars in result.get("pianoroll", {}).items():
            name = f"img/pianoroll_{style}_{tier}.png"
            draw_pianoroll(bars, folder / name, f"{style}, tier {tier}")
            drawn[(style, tier)] = name
    return drawn


if __name__ == "__main__":
    raise SystemExit(main())
