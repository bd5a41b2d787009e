"""What a live library track costs: CPU seconds per audio second of the deck (both versions
rendered in lock-step) against the endless engine alone, at tier 0, 48 kHz, 1024-frame blocks.

    PYTHONPATH=. python scripts/bench_deck.py [--style house]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import analysis_pieces as pieces

from edge.config import Config
from edge.context.from_config import context_from
from edge.engine import Engine
from edge.library.deck import build_deck
from edge.library.scan import scan
from edge.music.style import StyleLibrary

RATE, BLOCK = 48000, 1024


def cpu_per_second(render, frames: int) -> float:
    started = time.process_time()
    for _ in range(frames // BLOCK):
        render(BLOCK)
    return (time.process_time() - started) / (frames / RATE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="house")
    args = parser.parse_args()
    styles = StyleLibrary()
    context = dataclasses.replace(context_from(Config()), style=args.style)
    with tempfile.TemporaryDirectory() as folder:
        pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(Path(folder) / "song.mid"))
        library = scan(Path(folder), styles.get(args.style))
    analysis = library.tracks["song"].analysis
    started = time.process_time()
    deck = build_deck("song", analysis, styles, context, 1, rate=RATE, block=BLOCK, registry=None, tier="0",
                      sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False)  # fmt: skip
    built = time.process_time() - started
    frames = deck.end_frame
    both = cpu_per_second(deck.render_block, frames)
    engine = Engine(styles, lambda: context, 1, sample_rate=RATE, block_frames=BLOCK)
    alone = cpu_per_second(engine.render_block, frames)
    print(f"track of {frames / RATE:.1f} s in {args.style}: deck built in {built:.3f} CPU-s; "
          f"deck (both versions) {both:.4f} CPU-s per audio-s; engine alone {alone:.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
