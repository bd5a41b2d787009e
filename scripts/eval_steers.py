#!/usr/bin/env python3
"""The figures the neural tiers' steers move, on more bars than eval_models.py (a minute a tier and seed).

    python scripts/eval_steers.py --tiers S,M --seeds 4      # mode adherence over 4 sweeps, melody figures
    python scripts/eval_steers.py --tiers M --styles ambient --seeds 2

Mode adherence: eval_models.py's sweep (every mode x density x register request, 1024 bars) once per
seed, with its standard error. Melody: the conductor-driven sessions of eval_models.py (52 8-bar
segments per mood, 2 moods per style) once per seed, each interval figure's median over the
segments and the pitch-class figures' over 16-note windows, a "!" after a median outside real
music's 5-95 % range (when the data, .cache/data/default, is there). Seed 0 is eval_models.py's.
For tuning a steer: eval_models.py stays the run that writes docs/models.md.
"""

from __future__ import annotations

# ruff: noqa: E402  (the thread variables must be set before numpy loads)
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary
from edge.training import evaluate as E

#: The melody figures shown (not notes per bar: each style declares its own density, the conductor asks it).
FIGURES = ("repeats", "steps", "small_leaps", "leaps", "pitch_class_entropy", "top_pitch_class")


def maker(tier: str, registry: TierRegistry):
    """A factory of players for ``tier`` (0: the procedural generator), as eval_models.py makes them."""
    if tier == "0":
        return lambda rng: E.Player(ProceduralGenerator(rng), rng)
    card, session = registry.card(tier), registry.session(tier)

    def make(rng):
        model_rng, fallback_rng = rng.spawn(2)
        generator = E.EvalNeural(tier, session, card, model_rng, E.TEMPERATURE, E.TOP_P)
        return E.Player(generator, fallback_rng)

    return make


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--data", type=Path, default=ROOT / ".cache/data/default")
    parser.add_argument("--tiers", default="S,M,L", help="comma-separated, of S, M, L, 0")
    parser.add_argument("--styles", default=",".join(n for n, _ in E.SESSIONS))
    parser.add_argument("--seeds", type=int, default=2, help="sweeps and sessions per tier (each a new seed)")
    parser.add_argument("--no-sweep", action="store_true", help="melody figures only")
    args = parser.parse_args(argv)
    registry, styles = TierRegistry(args.models), StyleLibrary()
    tiers = [t.strip() for t in args.tiers.split(",") if t.strip()]
    wanted = [s.strip() for s in args.styles.split(",") if s.strip()]
    if bad := [t for t in tiers if t != "0" and t not in registry.entries]:
        print(f"eval_steers: no model for tier(s) {', '.join(bad)} in {args.models}", file=sys.stderr)
        return 2
    if bad := [s for s in wanted if s not in dict(E.SESSIONS)]:
        print(
            f"eval_steers: unknown style(s) {', '.join(bad)}; choose from {', '.join(dict(E.SESSIONS))}",
            file=sys.stderr,
        )
        return 2
    ranges = {}
    if (args.data / "pieces.jsonl").is_file():
        reference = E.reference_set(args.data, E.FULL)["musicality"]
        ranges = {k: np.percentile(reference[k][np.isfinite(reference[k])], [5, 95]) for k in FIGURES}
    seeds = range(args.seeds)
    for tier in tiers:
        make = maker(tier, registry)
        if not args.no_sweep:
            sweeps = [
                E.sweep(make, [styles.get(n) for n, _ in E.SESSIONS], E.FULL, seed=11 + 100 * s)
                for s in seeds
            ]
            bars = sum(s["bars"] for s in sweeps)
            share = sum(s["mode"] * s["bars"] for s in sweeps) / bars
            se = np.sqrt(share * (1 - share) / bars)
            print(f"tier {tier}: mode adherence {100 * share:.2f} % (SE {100 * se:.2f}) over {bars} bars")
        figures: dict[str, dict[str, list[float]]] = {}
        for s in seeds:
            segments, _, sessions = E.session_segments(make, styles, E.FULL, seed=21 + 100 * s)
            for style, values in E.musicality(segments, sessions).items():
                for key in FIGURES:
                    figures.setdefault(style, {}).setdefault(key, []).extend(values[key])
        for style in wanted:
            cells = []
            for key in FIGURES:
                values = np.asarray(figures[style][key], dtype=float)
                median = float(np.median(values[np.isfinite(values)]))
                low, high = ranges.get(key, (np.nan, np.nan))
                outside = "" if np.isnan(low) or low <= median <= high else "!"
                cells.append(f"{key} {median:.2f}{outside}")
            print(f"tier {tier} {style}: " + ", ".join(cells))
    if ranges:
        print("real music 5-95 %: " + ", ".join(f"{k} {lo:.2f}-{hi:.2f}" for k, (lo, hi) in ranges.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
