"""The loudness part of ``make bench``: each pack's BS.1770 figures, for docs/benchmarks.md.

    python scripts/bench_loudness.py     # this section alone, in place (about 2 min)

Renders go through the real engine at tier 0 (the same on every CPU; edge/loudness.py), seed 1,
which the calibration (scripts/calibrate_loudness.py, seeds 1-3) saw: the tests check other seeds.
Needs pyloudnorm and scipy (the eval extra); without them the section says so.
"""

from __future__ import annotations

import time

import numpy as np

SEED = 1
ARC_SECONDS = 240.0
"""Seconds of the render, from the start, whose sections are measured."""
SECTIONS = ("intro", "build", "peak", "break")


def bench_loudness() -> dict | None:
    """Per pack and activity: integrated LUFS, true peak, LRA, short-term range; per pack and section:
    short-term loudness. None when the meter is not installed."""
    from edge import loudness
    from edge.music.style import StyleLibrary

    try:
        loudness.measure(np.zeros((4 * loudness.RATE, 2)) + 1e-3)
    except loudness.MeterMissing:
        return None
    library = StyleLibrary()
    levels, arcs = [], []
    for name in library.names:
        pack = library.get(name)
        for activity in loudness.activities_for(pack):
            audio = loudness.render_pack(pack, SEED, 0.5, activity=activity).audio  # one pass of the arc
            figures = loudness.measure(audio)
            short = np.array([v for v in figures.short_term if np.isfinite(v)])
            low, high = np.percentile(short, [5, 95])
            seconds = len(audio) / loudness.RATE
            levels.append(
                (name, activity, seconds, figures.integrated, figures.true_peak, figures.lra, low, high)
            )
        whole = loudness.render_pack(pack, SEED, 0.5, ARC_SECONDS, skip_intro=False)
        arcs.append((name, loudness.short_term_by_section(whole)))
    return {"levels": levels, "arcs": arcs, "renders": bench_renders()}


def bench_renders(seconds: tuple[float, ...] = (60.0, 300.0), seed: int = 4) -> list[tuple]:
    """The issue's own measure: `edge-music render --seconds S --style P --seed 4` (the default tier,
    intro and closing fade included) read back and metered; (pack, seconds, LUFS, dBTP) rows."""
    import subprocess
    import sys
    import tempfile
    import wave
    from pathlib import Path

    from edge import loudness
    from edge.music.style import StyleLibrary

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in StyleLibrary().names:
            for length in seconds:
                out = Path(tmp) / f"{name}.wav"
                cmd = [sys.executable, "-m", "edge", "render", "--quiet", "--seconds", f"{length:g}",
                       "--style", name, "--seed", str(seed), "--out", str(out)]  # fmt: skip
                subprocess.run(cmd, check=True, capture_output=True)
                with wave.open(str(out)) as wav:
                    frames = wav.readframes(wav.getnframes())
                audio = np.frombuffer(frames, dtype="<i2").reshape(-1, 2) / 32768.0
                rows.append((name, length, *loudness.measure_level(audio)))
    return rows


def loudness_section(result: dict | None, target: float = -16.0, ceiling: float = -1.0) -> list[str]:
    """The markdown lines of the loudness section."""
    if result is None:
        return ["## Loudness per pack", "", "pyloudnorm or scipy not installed (eval extra): skipped.", ""]
    lines = [
        f"## Loudness per pack (tier 0, seed {SEED}, energy 0.5, one pass of the arc)",
        "",
        f"`python scripts/bench_loudness.py` (part of `make bench`), {time.strftime('%Y-%m-%d')}.",
        "",
        "One pass of the arc: from the end of the intro to the next build (build, peak, break). "
        "ITU-R BS.1770-4 through pyloudnorm (integrated loudness, loudness range per EBU Tech 3342); "
        "true peak from a 4x oversampled copy; short-term loudness on 3 s windows, one a second. Each "
        "pack with its own activity and with the default one (`focus`). Targets: "
        f"{target:g} LUFS +-1 LU (`audio.loudness_lufs`), true peak at most {ceiling:g} dBTP; the "
        "loudness range is the arc's own dynamics (no target).",
        "",
        "| pack | activity | seconds | integrated LUFS | true peak dBTP | LRA (LU) "
        "| short-term 5th-95th pct (LUFS) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, activity, seconds, integrated, peak, lra, low, high in result["levels"]:
        flag = "" if abs(integrated - target) <= 1.0 and peak <= ceiling else " (off target)"
        cells = (name, activity, f"{seconds:.0f}", f"{integrated:.2f}{flag}", f"{peak:.2f}", f"{lra:.1f}",
                 f"{low:.1f} .. {high:.1f}")  # fmt: skip
        lines.append(f"| {' | '.join(cells)} |")
    lines += [
        "",
        f"### Short-term loudness per section (the first {ARC_SECONDS:g} s, the pack's own activity)",
        "",
        "Median of the 3 s windows wholly inside each kind of section, and their range (min..max). "
        "The intro (pads and keys) and the break (no kick, no bass) are meant to be quieter; the master's "
        "leveller halves the distance (before it, the spreads were ambient 1.4, focus 2.8, house 4.7, "
        "workout 6.7 LU).",
        "",
        f"| pack | {' | '.join(SECTIONS)} | spread of the medians (LU) |",
        "|---|" + "---|" * (len(SECTIONS) + 1),
    ]
    for name, by_section in result["arcs"]:
        cells, medians = [], []
        for section in SECTIONS:
            values = by_section.get(section)
            if not values:
                cells.append("-")
                continue
            median = float(np.median(values))
            medians.append(median)
            cells.append(f"{median:.1f} ({min(values):.1f}..{max(values):.1f})")
        spread = max(medians) - min(medians) if medians else float("nan")
        lines.append(f"| {name} | {' | '.join(cells)} | {spread:.1f} |")
    lengths = sorted({row[1] for row in result["renders"]})
    lines += [
        "",
        "### As the issue measured it: `edge-music render --seconds S --style P --seed 4`",
        "",
        "The default tier, from the first bar (the intro) to the closing fade, written to WAV (16 bit) and "
        "metered. Before (issue #16, 60 s): ambient -19.0, focus -22.3, house -14.8, workout -16.7 LUFS, "
        "7.6 LU apart. Up to a third of a minute is the intro, which is meant to be quieter; the master's "
        "leveller (edge/render/leveller.py) makes up half of the distance. Before the leveller, 60 s: "
        "ambient -17.67, focus -17.73, house -16.69, workout -17.48 LUFS.",
        "",
        f"| pack | {' | '.join(f'{s:g} s: LUFS, dBTP' for s in lengths)} |",
        "|---|" + "---|" * len(lengths),
    ]
    by_pack: dict[str, list[str]] = {}
    for name, _, level, peak in result["renders"]:
        by_pack.setdefault(name, []).append(f"{level:.2f}, {peak:.2f}")
    lines += [f"| {name} | {' | '.join(cells)} |" for name, cells in by_pack.items()]
    spreads = []
    for length in lengths:
        levels = [row[2] for row in result["renders"] if row[1] == length]
        spreads.append(f"{length:g} s {max(levels) - min(levels):.1f} LU")
    lines += ["", f"Spread between the packs: {', '.join(spreads)}.", ""]
    return lines


def main() -> int:
    """Measure and put the loudness section into docs/benchmarks.md (or --out), keeping the rest."""
    import argparse
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    parser = argparse.ArgumentParser(description="the loudness section of docs/benchmarks.md alone")
    parser.add_argument("--out", type=Path, default=root / "docs" / "benchmarks.md")
    args = parser.parse_args()
    section = "\n".join(loudness_section(bench_loudness()))
    text = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    head = text.split("## Loudness per pack")[0].rstrip("\n")
    args.out.write_text(f"{head}\n\n{section}")
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
