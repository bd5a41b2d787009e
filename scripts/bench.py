#!/usr/bin/env python3
"""``make bench``: measure the engine and write docs/benchmarks.md.

Every figure comes from one run on this machine, single-threaded. Figures that
compare two things (us against FluidSynth) are ratios taken in the same run,
because absolute timings on shared machines are noisy. Nothing here is
asserted: the numbers are for people to read.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOUNDFONT = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
SECONDS = 120.0


def child_run(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run a command; return it with its CPU seconds (user + system) and peak RSS in KiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(cmd)} failed:\n{result.stderr}")
    return result, cpu, after.ru_maxrss


def edge(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


def env_one_thread(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    return {**env, **ONE_THREAD, **extra}


def loop_cpu(stderr: str) -> float:
    """The render loop's own CPU-s, as ``render`` reports it."""
    match = re.search(r"in ([0-9.]+) CPU-s", stderr)
    if not match:
        raise SystemExit(f"bench: unexpected render output: {stderr}")
    return float(match.group(1))


def bench_styles(styles: list[str]) -> list[tuple[str, float, float, float]]:
    """(style, loop CPU-s per audio-s, process CPU-s per audio-s, peak RSS MiB) per pack."""
    rows = []
    for style in styles:
        # A fresh process per pack so each peak RSS is its own (ru_maxrss of children is a max).
        code = (
            "import resource, subprocess, sys; "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stderr.write(r.stderr); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        cmd = edge("render", "--null", "--quiet", "--seconds", str(SECONDS), "--style", style, "--seed", "1")
        result, cpu, _ = child_run([sys.executable, "-c", code, *cmd], env=env_one_thread())
        rss_kib = int(result.stdout.strip().splitlines()[-1])
        rows.append((style, loop_cpu(result.stderr) / SECONDS, cpu / SECONDS, rss_kib / 1024))
    return rows


def bench_fluidsynth(workdir: Path) -> dict[str, float] | None:
    """Our CPU against FluidSynth's on the same note stream."""
    if shutil.which("fluidsynth") is None or not SOUNDFONT.exists():
        return None
    midi = workdir / "notes.mid"
    ours_wav = workdir / "ours.wav"
    theirs_wav = workdir / "fluid.wav"
    result, ours_process, _ = child_run(
        edge("render", "--quiet", "--seconds", str(SECONDS), "--style", "workout", "--seed", "1",
             "--out", str(ours_wav), "--midi", str(midi)),
        env=env_one_thread(),
    )  # fmt: skip
    ours_loop = loop_cpu(result.stderr)
    fluid = ["fluidsynth", "-ni", "-q", "-F", str(theirs_wav), "-r", "48000", str(SOUNDFONT), str(midi)]
    _, theirs, _ = child_run(fluid, env=env_one_thread())
    # FluidSynth's fixed start-up (loading the soundfont) measured on an empty song, to compare loops.
    empty = workdir / "empty.mid"
    _make_empty_midi(empty)
    _, theirs_startup, _ = child_run(
        ["fluidsynth", "-ni", "-q", "-F", str(workdir / "e.wav"), "-r", "48000", str(SOUNDFONT), str(empty)],
        env=env_one_thread(),
    )
    return {
        "ours_loop": ours_loop,
        "ours_process": ours_process,
        "theirs_process": theirs,
        "theirs_loop": max(1e-6, theirs - theirs_startup),
    }


def _make_empty_midi(path: Path) -> None:
    import mido

    midi = mido.MidiFile()
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi.tracks.append(track)
    midi.save(str(path))


def bench_first_audio(workdir: Path, repeats: int = 5) -> list[float]:
    """Seconds from process start to the first block at the sink (null sink, real-time paced)."""
    times = []
    for _ in range(repeats):
        env = env_one_thread(
            EDGE_MUSIC_AUDIO_SINK="null",
            EDGE_MUSIC_MQTT_ENABLED="false",
            EDGE_MUSIC_GPIO_ENABLED="false",
            EDGE_MUSIC_STOP_AFTER="1.0",
        )
        started = time.time()
        result = subprocess.run(
            edge("run"), capture_output=True, text=True, env=env, cwd=workdir, timeout=60, check=False
        )
        match = re.search(r"first audio ([0-9.]+) s after process start", result.stderr)
        if result.returncode != 0 or not match:
            raise SystemExit(f"bench: daemon run failed ({result.returncode}):\n{result.stderr}")
        times.append(float(match.group(1)))
        del started
    return times


def write_report(path: Path, styles, fluid, first_audio) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`python scripts/bench.py --out {path.relative_to(ROOT)}`) on "
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, one thread (OMP/BLAS threads = 1). Timings on shared machines "
        "are noisy: compare ratios from the same run, not absolute figures across runs.",
        "",
        f"## Render cost per style pack ({SECONDS:g} s of audio, `render --null`, seed 1)",
        "",
        "| style | loop CPU-s per audio-s | whole process CPU-s per audio-s | peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for style, loop, process, rss in styles:
        lines.append(f"| {style} | {loop:.4f} | {process:.4f} | {rss:.1f} |")
    lines += [
        "",
        "Loop = generator, arranger and synth (what playback costs); whole process adds Python start-up "
        "and imports. Target: at most 0.03 CPU-s per audio-s, peak RSS at most 80 MB.",
        "",
    ]
    if fluid:
        lines += [
            f"## Against FluidSynth on the same notes ({SECONDS:g} s, workout, seed 1)",
            "",
            "Our `render --out x.wav --midi x.mid` against "
            "`fluidsynth -ni -q -F out.wav -r 48000 /usr/share/sounds/sf2/TimGM6mb.sf2 x.mid`.",
            "",
            "| measure | edge-music | FluidSynth | ratio |",
            "|---|---|---|---|",
            f"| render loop CPU-s | {fluid['ours_loop']:.3f} | {fluid['theirs_loop']:.3f} | "
            f"{fluid['ours_loop'] / fluid['theirs_loop']:.2f} |",
            f"| whole process CPU-s | {fluid['ours_process']:.3f} | {fluid['theirs_process']:.3f} | "
            f"{fluid['ours_process'] / fluid['theirs_process']:.2f} |",
            "",
            "FluidSynth's loop time is its whole run minus a run on an empty MIDI file (soundfont loading). "
            "Our loop includes generating the notes and writing the WAV; FluidSynth only synthesises. "
            "Target: ratio at most 1.5.",
            "",
        ]
    else:
        lines += ["## Against FluidSynth", "", "FluidSynth or TimGM6mb.sf2 not installed: skipped.", ""]
    if first_audio:
        ordered = sorted(first_audio)
        lines += [
            "## Start-up",
            "",
            f"`edge-music run` with the null sink, no broker, no GPIO; {len(first_audio)} runs. Time from "
            "process start (kernel start time) to the first block written to the sink.",
            "",
            "| min | median | max |",
            "|---|---|---|",
            f"| {ordered[0]:.3f} s | {ordered[len(ordered) // 2]:.3f} s | {ordered[-1]:.3f} s |",
            "",
            "Target: at most 1.0 s.",
            "",
        ]
    text = "\n".join(lines)
    path.write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from edge.music.style import StyleLibrary

    styles = list(StyleLibrary().names)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        style_rows = bench_styles(styles)
        fluid = bench_fluidsynth(workdir)
        first_audio = bench_first_audio(workdir)
    print(write_report(Path(args.out).resolve(), style_rows, fluid, first_audio))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
