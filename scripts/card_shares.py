#!/usr/bin/env python3
"""Record each training source's share of the training data in existing model cards, without retraining.

    python scripts/card_shares.py models/edge-S.onnx.json models/edge-M.onnx.json models/edge-L.onnx.json
    python scripts/card_shares.py --author edge-music models/edge-*.onnx.json

The shares are the sources' training tokens (every transposition counted, as trained),
counted from the data the card says it was trained on: the data folder's
``pieces_sha256`` must equal the card's ``training.data_sha256``, or the card is left
alone. Only the card changes: the ONNX file and models/manifest.json stay as they are.
New models get the shares from ``scripts/train_model.py`` directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.training.dataset import load_splits, source_shares  # noqa: E402
from edge.training.export import card_collections  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cards", nargs="+", type=Path, help="model cards (<model>.onnx.json)")
    parser.add_argument("--data", type=Path, default=ROOT / ".cache/data/default")
    parser.add_argument("--author", default="", help="also record who trained the models")
    args = parser.parse_args(argv)
    try:
        train, _, build = load_splits(args.data)
    except (FileNotFoundError, ValueError) as exc:
        print(f"card_shares: {exc}", file=sys.stderr)
        return 2
    shares = source_shares(train.per_source)
    status = 0
    for path in args.cards:
        card = json.loads(path.read_text())
        trained_on = card.get("training", {}).get("data_sha256")
        if trained_on != build.get("pieces_sha256"):
            print(f"card_shares: {path}: trained on data {trained_on}, not {args.data} "
                  f"({build.get('pieces_sha256')}); left alone", file=sys.stderr)  # fmt: skip
            status = 1
            continue
        card["collections"] = card_collections(card.get("collections", []), shares)
        if args.author:
            card = {**{k: v for k, v in card.items() if k in ("name", "tier")}, "author": args.author,
                    **{k: v for k, v in card.items() if k not in ("name", "tier", "author")}}  # fmt: skip
        path.write_text(json.dumps(card, indent=2) + "\n")
        print(f"{path}: " + ", ".join(f"{n} {s['share']:.1%}" for n, s in shares.items()))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
