"""The shipped training recipes: what ``scripts/train_model.py --tier X`` runs by default.

Step counts are sized for about 90 minutes or less per tier on 2 CPU cores
(see docs/models.md for the measured times).
"""

from __future__ import annotations

RECIPES: dict[str, dict] = {
    "S": {"steps": 700, "lr": 3e-3, "batch": 32, "context": 256, "seed": 1},
    "M": {"steps": 600, "lr": 2e-3, "batch": 32, "context": 256, "seed": 1},
    "L": {"steps": 450, "lr": 1e-3, "batch": 32, "context": 256, "seed": 1},
    # CI smoke test: a few steps of a 30k-parameter model.
    "tiny": {
        "steps": 6,
        "lr": 3e-3,
        "batch": 4,
        "context": 64,
        "seed": 1,
        "warmup": 2,
        "checkpoint_every": 3,
    },
}
