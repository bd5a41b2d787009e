#!/usr/bin/env python3
"""What ``edge-music reimagine`` costs: CPU-s per minute of music, peak RSS, energy on a Pi 4.

    python scripts/bench_reimagine.py          # prints the Markdown section
    python scripts/bench.py --reimagine-only   # the same, from make bench's script

Each row is one fresh process (its own peak RSS) that analyses a file (``analyse_file``: reading
and every analysis) and then reimagines it (``reimagine_file``: the analysis again, the plans, the
tier's bars, the arranger, the synth and the WAV), one thread, credentials off. Generation =
the second minus the first. Minutes of music = the original's length. The Pi 4 figures multiply
this machine's CPU-s by the same assumed host / Pi 4 core speed ratio as docs/thermal_costs.json
(5x, scripts/thermal_sim.py), and the board power model of edge/thermal/power.py: a batch keeps
one core busy, so a track costs ``PI4.power(1)`` watts for its Pi 4 CPU-seconds (whole board),
of which ``PI4.w_per_core`` is the work itself (marginal).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

HOST_SPEED = 5.0
"""This machine's core against a Pi 4 core (assumed, as scripts/thermal_sim.py's default)."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

# Run in a child: imports first (not counted), then the two timed calls; prints JSON.
CHILD = """
import argparse, json, resource, sys, time, wave
from edge.analysis.analyse import analyse_file
from edge.config import load
from edge.reimagine.command import reimagine_file
path, style, tier, out, config = sys.argv[1:6]
started = time.process_time()
analysis = analyse_file(path)
analysed = time.process_time() - started
args = argparse.Namespace(file=path, batch=None, out=out, midi=None, style=style, mood=None, energy=None,
    tempo=None, keep_chords=True, reharmonize=False, transpose=0, seed=1, tier=tier)
started = time.process_time()
reimagine_file(args, load(config))
total = time.process_time() - started
with wave.open(out) as wav:
    out_minutes = wav.getnframes() / wav.getframerate() / 60
print(json.dumps({"analysis": analysed, "total": total, "minutes": analysis.score.duration / 60,
                  "out_minutes": out_minutes,
                  "bars": len(analysis.bars), "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@dataclass(frozen=True)
class Row:
    """One file reimagined at one tier."""

    name: str
    tier: str
    minutes: float
    out_minutes: float
    bars: int
    analysis_cpu: float
    generation_cpu: float
    rss_mib: float


def inputs(folder: Path) -> list[tuple[str, Path]]:
    """The files measured: the synthetic song, and music21's Mozart MIDI and an ABC tune when present."""
    import analysis_pieces

    song = folder / "song.mid"
    analysis_pieces.piece(9, "minor", "song", ((0, 100.0), (8, 80.0))).save(str(song))
    files = [("synthetic song (MIDI, 4 parts)", song)]
    try:
        import music21
    except ImportError:
        return files
    corpus = Path(music21.__file__).parent / "corpus"
    mozart = corpus.parent / "omr" / "k525MIDIMvt1.mid"
    if mozart.exists():
        files.append(("Mozart K.525 i (MIDI, 5 parts, music21 omr/)", mozart))
    book = corpus / "miscFolk" / "northumbrianminstrelsyopus.abc"
    if book.exists():
        tune = folder / "tune.abc"
        text = book.read_text(encoding="latin-1")
        tune.write_text("X:" + text.split("\nX:")[1].split("\nX:")[0])  # the book's first tune
        files.append(("Northumbrian tune 1 (ABC, music21 corpus)", tune))
    return files


def bench_reimagine(workdir: Path, tiers: tuple[str, ...] = ("0", "L"), style: str = "focus") -> list[Row]:
    """One row per input and tier (tier L only where a model is installed)."""
    from edge.generator.registry import TierRegistry

    available = [t for t in tiers if t == "0" or t in TierRegistry().available]
    config = workdir / "bench-reimagine.toml"
    config.write_text("[credentials]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(ONE_THREAD, PYTHONPATH=str(ROOT))
    rows = []
    for name, path in inputs(workdir):
        for tier in available if path.suffix == ".mid" else available[:1]:
            cmd = [sys.executable, "-c", CHILD, str(path), style, tier, str(workdir / "out.wav"), str(config)]
            result = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, check=False)
            if result.returncode != 0:
                raise SystemExit(f"bench_reimagine: {name} (tier {tier}) failed:\n{result.stderr}")
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            generation = max(0.0, figures["total"] - figures["analysis"])
            rows.append(Row(name, tier, figures["minutes"], figures["out_minutes"], figures["bars"],
                            figures["analysis"], generation, figures["rss_kib"] / 1024))  # fmt: skip
    return rows


def reimagine_section(rows: list[Row]) -> list[str]:
    """The report's lines on reimagine."""
    from edge.thermal.power import PI4

    lines = [
        "## Reimagine (`edge-music reimagine`)",
        "",
        "One fresh process per row, one thread, style focus, seed 1, kept chords, WAV written, "
        "credentials off (`python scripts/bench.py --reimagine-only`, or scripts/bench_reimagine.py). "
        "Analysis = `analyse_file` (reading and every analysis); generation = plans, the tier's bars, "
        "arranger, synth (FluidSynth for the pack's sampled tracks) and the WAV. Per minute of the original "
        "(and of the new version, whose tempo the style sets, plus its 2 s tail). Peak RSS of the process. "
        f"Pi 4: this machine's CPU-s x {HOST_SPEED:g} (the assumed host / Pi 4 core ratio of "
        "docs/thermal_costs.json), one core busy: the whole board draws "
        f"{PI4.power(1):.2f} W, of which {PI4.w_per_core:.3f} W is the work (edge/thermal/power.py).",
        "",
        "| input | tier | minutes (original / new) | bars | analysis CPU-s / min | generation CPU-s / min "
        "(original / new) | peak RSS | Pi 4 s / track | Pi 4 J / track (board) | Pi 4 J / track (work) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        pi4_s = (r.analysis_cpu + r.generation_cpu) * HOST_SPEED
        lines.append(
            f"| {r.name} | {r.tier} | {r.minutes:.2f} / {r.out_minutes:.2f} | {r.bars} "
            f"| {r.analysis_cpu / r.minutes:.3f} | {r.generation_cpu / r.minutes:.2f} / "
            f"{r.generation_cpu / r.out_minutes:.2f} | {r.rss_mib:.0f} MiB | {pi4_s:.0f} "
            f"| {pi4_s * PI4.power(1):.0f} | {pi4_s * PI4.w_per_core:.0f} |"
        )
    midi = [r for r in rows if "MIDI" in r.name]
    worst = max((r.analysis_cpu / r.minutes for r in midi), default=0.0)
    whole = max(((r.analysis_cpu + r.generation_cpu) / r.minutes for r in midi), default=0.0)
    lines += [
        "",
        f"MIDI analysis takes at most {worst:.3f} CPU-s per minute of music here: within the target of "
        f"1 CPU-s (a Pi 4 core is 5-8x slower). Analysis and generation together take up to {whole:.2f} "
        "CPU-s per minute of the original: generation is the engine rendering the new version's audio "
        "(the render cost table above, plus the sampled tracks' FluidSynth and writing the WAV), "
        "which a minute of music costs wherever it comes from. "
        "Audio input (WAV/FLAC) is the `audioin` branch's, not on main when this was measured: no row. "
        "ABC and MusicXML go through music21: their analysis figure includes importing music21 (once a "
        "process, about half a CPU-second here) and its parse.",
    ]
    return [*lines, ""]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        print("\n".join(reimagine_section(bench_reimagine(Path(tmp)))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
