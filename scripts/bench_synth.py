#!/usr/bin/env python3
"""Synth cost in CPU-seconds per audio-second, on a busy workout bar and a sparse ambient one.

Usage: ``python scripts/bench_synth.py [--segments 6] [--level 2] [--kind both] [--profile]``

Each run schedules bars one ahead of playback (as the engine does) and renders
1024-frame blocks; ``time.process_time()`` brackets segments of 8 whole bars,
so note rendering and block processing are both counted. The minimum over the
segments is reported (other processes on a shared machine only ever add
time) with the median beside it. The first few seconds are
rendered before the clock starts, so that the table caches are warm, as they
are a minute into a real session. Single-threaded BLAS, as on the Pi.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from edge.music.events import CLAP, CLOSED_HAT, KICK, OPEN_HAT, Bar, BarPlan, Note  # noqa: E402
from edge.render.patch import DEFAULT_PATCHES, DrumKit, Mix  # noqa: E402
from edge.render.synth import Synth  # noqa: E402

RATE = 48000
BLOCK = 1024
SEGMENT_BARS = 8


def _plan(index: int, tempo: float, energy: float) -> BarPlan:
    return BarPlan(
        index=index, tempo=tempo, beats=4, key=0, mode="aeolian", density=2.0, register=(60, 84),
        energy=energy, section="peak", bar_in_section=index % 8, section_length=8, style="bench",
    )  # fmt: skip


def workout_bar(index: int) -> Bar:
    """4 on the floor, 16th hats with open hats on the off-beats, claps, bass and lead 8ths,
    a 4-note pad chord and 3-note keys stabs on every beat."""
    root = (0, 8, 3, 10)[index % 4]
    notes = [Note(b, 0.25, KICK, 120, "drums") for b in range(4)]
    notes += [Note(b / 4, 0.2, CLOSED_HAT, 90 + 20 * (b % 2 == 0), "drums") for b in range(16) if b % 4 != 2]
    notes += [Note(b + 0.5, 0.4, OPEN_HAT, 100, "drums") for b in range(4)]
    notes += [Note(b, 0.25, CLAP, 110, "drums") for b in (1, 3)]
    notes += [Note(b / 2, 0.45, 36 + root + 12 * (b % 2), 110, "bass") for b in range(8)]
    notes += [Note(b / 2, 0.45, 72 + root + (0, 3, 7, 10, 12, 7, 3, 5)[b], 105, "lead") for b in range(8)]
    notes += [Note(0, 4, 60 + root + i, 80, "pad") for i in (0, 3, 7, 10)]
    notes += [Note(b, 0.5, 64 + root + i, 90, "keys") for b in range(4) for i in (0, 4, 7)]
    return Bar(_plan(index, 128.0, 0.85), tuple(sorted(notes, key=lambda n: n.onset)))


def ambient_bar(index: int) -> Bar:
    """A whole-bar 4-note pad chord, a bass note and two slow keys notes at 68 BPM."""
    root = (0, 5, 9, 7)[index % 4]
    notes = [Note(0, 4, 55 + root + i, 70, "pad") for i in (0, 4, 7, 11)]
    notes += [Note(0, 4, 36 + root, 70, "bass")]
    notes += [Note(b, 1.5, 72 + root + i, 75, "lead") for b, i in ((0.0, 7), (2.0, 4))]
    return Bar(_plan(index, 68.0, 0.25), tuple(sorted(notes, key=lambda n: n.onset)))


def make_synth(kind: str, level: int) -> Synth:
    synth = Synth(RATE, seed=1, block_frames=BLOCK)
    if kind == "workout":
        patches = {t: DEFAULT_PATCHES[t] for t in ("lead", "pad", "bass", "keys")}
        synth.set_sound(patches, DrumKit(), Mix())
    else:
        patches = {t: DEFAULT_PATCHES[t] for t in ("pad", "bass")}
        patches["lead"] = DEFAULT_PATCHES["keys"]
        synth.set_sound(patches, DrumKit(), Mix())
    synth.set_level(level)
    return synth


def run(kind: str, segments: int, level: int, warmup: float = 8.0) -> tuple[float, float, float]:
    """(min, median CPU-s per audio-s over ``segments`` segments of 8 bars each, peak |sample|).

    On a shared machine other processes inflate some segments; the minimum is the closest to
    the synth's own cost, the median says how noisy the run was.
    """
    synth = make_synth(kind, level)
    make = workout_bar if kind == "workout" else ambient_bar
    lookahead = getattr(synth, "lookahead_frames", 0)
    state = {"end": 0, "index": 0}

    def block() -> np.ndarray:
        while state["end"] < synth.frame + BLOCK + lookahead:
            state["end"] = synth.schedule(make(state["index"]), state["end"])
            state["index"] += 1
        return synth.render(BLOCK)

    for _ in range(int(warmup * RATE / BLOCK)):
        block()
    bar_seconds = make(0).seconds
    per_segment = round(SEGMENT_BARS * bar_seconds * RATE / BLOCK)  # whole bars: equal work per segment
    costs = []
    peak = 0.0
    for _ in range(segments):
        start = time.process_time()
        for _ in range(per_segment):
            peak = max(peak, float(np.abs(block()).max()))
        costs.append((time.process_time() - start) / (per_segment * BLOCK / RATE))
    costs.sort()
    return costs[0], costs[len(costs) // 2], peak


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=6, help="timed segments of 8 bars each")
    parser.add_argument("--level", type=int, default=2, help="synth load level 0..2")
    parser.add_argument("--kind", choices=("workout", "ambient", "both"), default="both")
    parser.add_argument("--profile", action="store_true", help="profile with cProfile instead of timing")
    args = parser.parse_args()
    kinds = ("workout", "ambient") if args.kind == "both" else (args.kind,)
    if args.profile:
        import cProfile
        import pstats

        for kind in kinds:
            profiler = cProfile.Profile()
            profiler.runcall(run, kind, args.segments, args.level)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        return 0
    for kind in kinds:
        best, median, peak = run(kind, args.segments, args.level)
        print(f"{kind:8s} level {args.level}: {best:.4f} CPU-s per audio-s", end=" ")
        print(f"(median {median:.4f}, peak {peak:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
