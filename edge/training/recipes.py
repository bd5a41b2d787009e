"""The shipped training recipes: what ``scripts/train_model.py --tier X`` runs by default.

Step counts are sized for about 90 minutes or less per tier on this project's
2-core CPU machine, one thread per run (docs/models.md has the measured times):
S and M train one after the other on one core while L trains on the other.
L's 800 steps run about 5.9 s each on a core of their own (about 79 minutes).
A longer S (1500 steps) beat L's held-out NLL, which the tiers must not do.
"""

from __future__ import annotations

RECIPES: dict[str, dict] = {
    "S": {"steps": 800, "lr": 3e-3, "batch": 32, "context": 256, "seed": 1, "threads": 1},
    "M": {"steps": 700, "lr": 2e-3, "batch": 32, "context": 256, "seed": 1, "threads": 1},
    "L": {"steps": 800, "lr": 1.5e-3, "batch": 32, "context": 256, "seed": 1, "threads": 1},
    # CI smoke test: a few steps of a 30k-parameter model.
    "tiny": {"steps": 6, "lr": 3e-3, "batch": 4, "context": 64, "seed": 1, "warmup": 2, "threads": 1,
             "checkpoint_every": 3},
}  # fmt: skip
