"""What a live library track costs: CPU seconds per audio second of the deck (both versions
rendered in lock-step and mixed) against the endless engine alone, tier 0, 48 kHz, 1024-frame
blocks, on a 16-bar test piece (scripts/analysis_pieces.py). Writes its marked section of
docs/benchmarks.md with ``--out``.

    python scripts/bench_deck.py [--style house] [--repeats 3] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

import analysis_pieces as pieces  # noqa: E402
from bench_sections import write_section  # noqa: E402

from edge.config import Config  # noqa: E402
from edge.context.from_config import context_from  # noqa: E402
from edge.engine import Engine  # noqa: E402
from edge.library.deck import build_deck  # noqa: E402
from edge.library.scan import scan  # noqa: E402
from edge.music.style import StyleLibrary  # noqa: E402

RATE, BLOCK = 48000, 1024


def cpu_per_second(render, frames: int) -> float:
    started = time.process_time()
    for _ in range(frames // BLOCK):
        render(BLOCK)
    return (time.process_time() - started) / (frames / RATE)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--style", default="house")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="write the figures into this file's bench_deck section")
    args = parser.parse_args()
    styles = StyleLibrary()
    context = dataclasses.replace(context_from(Config()), style=args.style)
    with tempfile.TemporaryDirectory() as folder:
        pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(Path(folder) / "song.mid"))
        analysis = scan(Path(folder), styles.get(args.style)).tracks["song"].analysis
    built, both, alone = [], [], []
    for seed in range(1, args.repeats + 1):
        started = time.process_time()
        deck = build_deck("song", analysis, styles, context, seed, rate=RATE, block=BLOCK, registry=None,
                          tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False)  # fmt: skip
        built.append(time.process_time() - started)
        both.append(cpu_per_second(deck.render_block, deck.end_frame))
        engine = Engine(styles, lambda: context, seed, sample_rate=RATE, block_frames=BLOCK)
        alone.append(cpu_per_second(engine.render_block, deck.end_frame))
    seconds = deck.end_frame / RATE

    def row(name: str, values: list[float], unit: str) -> str:
        low, mid, high = min(values), statistics.median(values), max(values)
        return f"| {name} | {mid:.4f} | {low:.4f} | {high:.4f} | {unit} |"

    body = "\n".join([
        f"## Reimagine live: a library track's deck ({args.style}, tier 0, {seconds:.1f} s track)",
        "",
        f"`python scripts/bench_deck.py --repeats {args.repeats}` on {date.today()}, {platform.machine()}: "
        "seeds 1..N, CPU-s of the calling thread.",
        "",
        "| what | median | min | max | unit |",
        "|---|---|---|---|---|",
        row("planning the track, setting up both versions (the loader thread)", built, "CPU-s"),
        row("the deck: reimagined and original rendered in lock-step, mixed", both, "CPU-s per audio-s"),
        row("the endless engine alone, same style and blocks", alone, "CPU-s per audio-s"),
        "",
        "A deck also holds two synths (the reimagined engine's and the original's), each with a",
        "timeline ring of float32 (16 MiB long) whose memory is only what is scheduled ahead of playback.",
    ])  # fmt: skip
    print(body)
    if args.out:
        write_section(Path(args.out), "bench_deck", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
