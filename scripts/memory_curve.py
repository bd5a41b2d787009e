#!/usr/bin/env python3
"""The daemon's memory over hours of music, in minutes: RSS against minutes of audio played.

The real engine and player render into a null sink as fast as the CPU allows, with the model
tier loaded as the daemon loads it and the style switched every 2-5 s of audio (like the soak's
MQTT commands). ``make soak`` is the real-time test; this shows the shape of the curve over far
longer than a soak can run, and what edge.malloc changes (``--glibc-defaults`` leaves it out).

    python scripts/memory_curve.py --minutes 120 --tier L
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge import malloc  # noqa: E402

STYLES = ("focus", "workout", "ambient", "house")


def curve(minutes: float, tier: str, tuned: bool, every_s: float, seed: int = 1) -> list[tuple[float, float]]:
    """(minutes of audio, RSS MiB) samples while ``minutes`` of audio play."""
    if tuned:
        malloc.tune()
    from edge.audio.player import Player
    from edge.audio.sinks import NullSink
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.generator.registry import TierRegistry
    from edge.music.style import StyleLibrary
    from edge.render.sampled import prepare_soundfonts

    library = StyleLibrary()
    # As the daemon does when it loads the packs: their SoundFonts trimmed to what they play.
    packs = library.packs.values()
    prepare_soundfonts([p.sampled for p in pack.instruments.values() if p.sampled] for pack in packs)
    registry = TierRegistry()
    if tier != "0":  # as the daemon's governor loads a tier: it and the one below
        registry.session(tier)
        registry.session(registry.below(tier))
    context = {"now": Context(style="focus")}
    engine = Engine(library, lambda: context["now"], seed=seed, registry=registry, tier=tier)
    player = Player(
        NullSink(), engine.render_block, period_frames=1024, rate=48000, buffer_seconds=0.5, fade_ms=20
    )
    process = psutil.Process()
    rng = random.Random(seed)
    samples: list[tuple[float, float]] = []
    switch_at = last_trim = 0.0
    player.start()
    try:
        while (played := player.stats.frames_written / 48000) < minutes * 60:
            if played >= switch_at:
                context["now"] = Context(style=rng.choice(STYLES))
                switch_at = played + rng.uniform(2.0, 5.0)
            if tuned and time.monotonic() - last_trim >= 0.2:  # the daemon trims every 10 s of wall time
                malloc.give_back()
                last_trim = time.monotonic()
            if not samples or played - samples[-1][0] * 60 >= every_s:
                samples.append((played / 60, process.memory_info().rss / 2**20))
            time.sleep(0.005)
    finally:
        player.stop(fade=False)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="minutes of audio to play")
    parser.add_argument("--tier", default="L", choices=("0", "S", "M", "L"))
    parser.add_argument("--every", type=float, default=30.0, help="seconds of audio between samples")
    parser.add_argument("--glibc-defaults", action="store_true", help="leave edge.malloc out")
    args = parser.parse_args()
    samples = curve(args.minutes, args.tier, not args.glibc_defaults, args.every)
    rss = np.array([r for m, r in samples])
    minutes = np.array([m for m, r in samples])
    print(f"tier {args.tier}, {'glibc defaults' if args.glibc_defaults else 'edge.malloc'}:")
    for a, b in ((1, 10), (10, 30), (30, 60), (60, 120), (120, 240)):
        window = rss[(minutes >= a) & (minutes < b)]
        if len(window):
            print(
                f"  minutes {a:>3}-{b:<3} RSS mean {window.mean():6.1f} MiB,"
                f" min {window.min():6.1f}, max {window.max():6.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
