#!/usr/bin/env python3
"""Train one neural tier on the CPU (resumable), then export it to models/ as int8 ONNX with its card.

    python scripts/train_model.py --tier S                  # the shipped recipe for S
    python scripts/train_model.py --tier L --max-minutes 30 # stop after 30 min; run again to resume
    python scripts/train_model.py --tier tiny --steps 5 --models /tmp/m   # smoke test

Needs the train extra (pip install -e '.[train]') and the data from scripts/build_data.py.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.training.recipes import RECIPES  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", required=True, choices=sorted(RECIPES))
    parser.add_argument("--data", type=Path, default=ROOT / ".cache/data/default")
    parser.add_argument("--out", type=Path, default=ROOT / ".cache/train")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--steps", type=int, help="override the recipe's step count")
    parser.add_argument("--threads", type=int, help="torch threads (default: the recipe's)")
    parser.add_argument("--max-minutes", type=float, default=0.0, help="stop resumably after this long")
    parser.add_argument("--no-export", action="store_true", help="train only")
    parser.add_argument("--author", default="", help="who trained it: the card credits the model to them")
    parser.add_argument("--licence", default="", help="the terms of the weights (an SPDX id), in the card")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    from edge.training.export import export
    from edge.training.train import TrainConfig, train

    recipe = dict(RECIPES[args.tier])
    if args.steps:
        recipe["steps"] = args.steps
    if args.threads:
        recipe["threads"] = args.threads
    config = TrainConfig(tier=args.tier, data=args.data, out=args.out, max_minutes=args.max_minutes, **recipe)
    try:
        checkpoint = train(config)
    except (FileNotFoundError, ValueError) as exc:
        print(f"train_model: {exc}", file=sys.stderr)
        return 2
    if args.no_export:
        return 0
    import torch

    if not torch.load(checkpoint, weights_only=False).get("done"):
        return 0  # stopped by --max-minutes; the next run resumes
    tier = "S" if args.tier == "tiny" else args.tier
    command = "python scripts/train_model.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    export(checkpoint, args.models, command, tier=tier, author=args.author, licence=args.licence)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
