#!/usr/bin/env python3
"""What ``edge-music reimagine`` costs: CPU-s per minute of music, where it goes, peak RSS, energy on a Pi 4.

    python scripts/bench_reimagine.py                      # writes its section of docs/benchmarks.md
    python scripts/bench_reimagine.py --print              # prints it instead
    python scripts/bench_reimagine.py --before /tmp/base   # and the same rows for an older tree
    python scripts/bench.py --reimagine-only               # prints it, from make bench's script

Each row is one fresh process (its own peak RSS) that analyses a file twice (``analyse_file``:
reading and every analysis; the first time with what it loads on first use) and then reimagines it
(``reimagine_file``: the analysis again, the plans, the tier's bars, the arranger, the synth and the
WAV), one thread, credentials off; the median of ``--repeats`` processes. Analysis = the first;
generation = the reimagining minus the second, so the two add up to one cold run. Per minute of the
original and per minute of the new version (the style sets its tempo: a fast piece may come out
twice as long).
``--before TREE`` measures an export of an older commit (``git archive C | tar -x -C TREE``) in
turns with this one, so both see the same load. ``--where`` adds where the CPU goes (the
CPU-s per stage of one more reimagine, sampled every 2 ms of its CPU time).
The Pi 4 figures multiply this machine's CPU-s by the same assumed host / Pi 4 core speed ratio as
docs/thermal_costs.json (5x, scripts/thermal_sim.py), and the board power model of
edge/thermal/power.py: a batch keeps one core busy, so a track costs ``PI4.power(1)`` watts for its
Pi 4 CPU-seconds (whole board), of which ``PI4.w_per_core`` is the work itself (marginal).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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
import argparse, hashlib, json, resource, signal, sys, time, wave
from edge.analysis.analyse import analyse_file
from edge.config import load
from edge.reimagine.command import reimagine_file
path, style, tier, out, config, where = sys.argv[1:7]
started = time.process_time()
analysis = analyse_file(path)
analysed = time.process_time() - started  # with what it loads on first use (imports, the transcriber)
started = time.process_time()
analyse_file(path)
again = time.process_time() - started  # what reimagine_file's own analysis costs after it
args = argparse.Namespace(file=path, batch=None, out=out, midi=None, style=style, mood=None, energy=None,
    tempo=None, keep_chords=True, reharmonize=False, transpose=0, seed=1, tier=tier)
samples, stages = [0], {}
def sample(signum, frame):  # every 2 ms of CPU: which functions are on the stack
    samples[0] += 1
    seen = set()
    while frame is not None:
        seen.add(frame.f_code.co_filename.split("/edge/")[-1] + ":" + frame.f_code.co_name)
        frame = frame.f_back
    for key in seen:
        stages[key] = stages.get(key, 0) + 1
if where == "1":
    signal.signal(signal.SIGPROF, sample)
    signal.setitimer(signal.ITIMER_PROF, 0.002, 0.002)
started = time.process_time()
reimagine_file(args, load(config))
total = time.process_time() - started
signal.setitimer(signal.ITIMER_PROF, 0, 0)
stages = {key: n * total / max(1, samples[0]) for key, n in stages.items()}
with wave.open(out) as wav:
    out_minutes = wav.getnframes() / wav.getframerate() / 60
with open(out, "rb") as written:  # a piece at a time: the peak RSS is the render's, not the hash's
    sha256 = hashlib.file_digest(written, "sha256").hexdigest()
print(json.dumps({"analysis": analysed, "again": again, "total": total,
                  "minutes": analysis.score.duration / 60, "out_minutes": out_minutes, "stages": stages,
                  "sha256": sha256,
                  "bars": len(analysis.bars), "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""

STAGES = (
    ("the whole reimagine", "reimagine/command.py:reimagine_file"),
    ("analysis (read, beats, key, melody, chords, sections)", "analysis/analyse.py:analyse_file"),
    ("  of which transcribing audio (basic-pitch's model)", "analysis/audio/transcribe.py:transcribe"),
    ("plans (the melody, chords, form, tempo in the style)", "reimagine/plan.py:plan_track"),
    ("the tier's bars and the arranger", "engine.py:next_bar"),
    ("  of which the neural tier (onnxruntime, sampling)", "generator/neural.py:generate"),
    ("model session load", "generator/registry.py:session"),
    (
        "imports on first use (onnxruntime, pyfluidsynth, the sinks)",
        "<frozen importlib._bootstrap>:_find_and_load",
    ),
    ("notes into the timeline (synth.schedule)", "render/synth.py:schedule"),
    ("  of which sampled chords (FluidSynth)", "render/sampled.py:render"),
    ("  of which synth voices", "render/voices.py:render"),
    ("effects and master (synth.render)", "render/synth.py:render"),
    ("  of which the master (gain, limiter)", "render/master.py:process"),
    ("  of which the reverb and the delay", "render/effects.py:process"),
    ("  of which the leveller (K-weighted loudness)", "render/leveller.py:step"),
    ("WAV writing (conversion, file)", "audio/wav.py:write"),
)
"""(what, module:function) whose cumulative time ``--where`` reports; the reverb's and the delay's
process() share a name, so that row holds both."""


@dataclass(frozen=True)
class Row:
    """One file reimagined at one tier (medians over the repeats)."""

    name: str
    tier: str
    style: str
    minutes: float
    out_minutes: float
    bars: int
    analysis_cpu: float
    generation_cpu: float
    rss_mib: float
    before: tuple[float, float] | None = None
    """The older tree's (analysis, generation) CPU-s, when measured (``--before``)."""
    stages: dict[str, float] | None = None
    """CPU-s per ``module:function`` on the stack (``--where``)."""
    same_bytes: bool | None = None
    """Whether every run of both trees wrote the same WAV (``--before``)."""

    @property
    def per_minute(self) -> tuple[float, float]:
        """Analysis + generation CPU-s per minute of the original and per minute of the new version."""
        cpu = self.analysis_cpu + self.generation_cpu
        return cpu / self.minutes, cpu / self.out_minutes


def inputs(folder: Path) -> list[tuple[str, Path, str]]:
    """The files measured, each with the style it is reimagined in: the synthetic song, and music21's
    Mozart MIDI (in focus, which halves its tempo, and in workout, which keeps it) and an ABC tune
    when present."""
    import analysis_pieces

    song = folder / "song.mid"
    analysis_pieces.piece(9, "minor", "song", ((0, 100.0), (8, 80.0))).save(str(song))
    files = [("synthetic song (MIDI, 4 parts)", song, "focus")]
    recording = _recording(song, folder / "song.wav")
    if recording is not None:
        files.append(("the synthetic song as audio (WAV: its house version, tier 0)", recording, "focus"))
    try:
        import music21
    except ImportError:
        return files
    corpus = Path(music21.__file__).parent / "corpus"
    mozart = corpus.parent / "omr" / "k525MIDIMvt1.mid"
    if mozart.exists():
        files.append(("Mozart K.525 i (MIDI, 5 parts, music21 omr/)", mozart, "focus"))
        files.append(("Mozart K.525 i (MIDI, 5 parts, music21 omr/)", mozart, "workout"))
    book = corpus / "miscFolk" / "northumbrianminstrelsyopus.abc"
    if book.exists():
        tune = folder / "tune.abc"
        text = book.read_text(encoding="latin-1")
        tune.write_text("X:" + text.split("\nX:")[1].split("\nX:")[0])  # the book's first tune
        files.append(("Northumbrian tune 1 (ABC, music21 corpus)", tune, "focus"))
    return files


def _recording(song: Path, wav: Path) -> Path | None:
    """The song reimagined in house at tier 0 (drums, bass, the melody), as audio input; None when the
    transcriber (scripts/fetch_transcriber.py) is not installed."""
    import argparse
    import dataclasses

    from edge.analysis.audio.transcribe import MODEL_DIR
    from edge.config import Config
    from edge.reimagine.command import reimagine_file

    if not (MODEL_DIR / "nmp.onnx").is_file():
        return None
    config = Config()
    config = dataclasses.replace(config, credentials=dataclasses.replace(config.credentials, enabled=False))
    args = argparse.Namespace(
        file=str(song), batch=None, out=str(wav), midi=None, style="house", mood=None, energy=None,
        tempo=None, reharmonize=False, transpose=0, seed=1, tier="0",
    )  # fmt: skip
    reimagine_file(args, config)
    return wav


def bench_reimagine(
    workdir: Path,
    tiers: tuple[str, ...] = ("0", "L"),
    repeats: int = 1,
    before: Path | None = None,
    where: bool = False,
) -> list[Row]:
    """One row per input and tier (tier L only where a model is installed)."""
    from edge.generator.registry import TierRegistry

    available = [t for t in tiers if t == "0" or t in TierRegistry().available]
    config = workdir / "bench-reimagine.toml"
    config.write_text("[credentials]\nenabled = false\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(ONE_THREAD)

    def child(code: Path, path: Path, style: str, tier: str, name: str, profiled: bool = False) -> dict:
        cmd = [sys.executable, "-c", CHILD, str(path), style, tier, str(workdir / "out.wav"), str(config),
               "1" if profiled else "0"]  # fmt: skip
        result = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            env={**env, "PYTHONPATH": str(code)},
            cwd=workdir,
            check=False,
        )
        if result.returncode != 0:
            raise SystemExit(f"bench_reimagine: {name} (tier {tier}, {code}) failed:\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def median(runs: list[dict], key) -> float:
        return statistics.median(key(r) for r in runs)

    rows = []
    for name, path, style in inputs(workdir):
        for tier in available if path.suffix == ".mid" else available[:1]:
            runs, old = [], []
            for _ in range(repeats):  # in turns, so both trees see the same load
                runs.append(child(ROOT, path, style, tier, name))
                if before is not None:
                    old.append(child(before, path, style, tier, name))
            figures = runs[0]
            generation = median(runs, lambda r: max(0.0, r["total"] - r["again"]))
            was, same = None, None
            if old:
                same = len({r["sha256"] for r in runs + old}) == 1
                was = (
                    median(old, lambda r: r["analysis"]),
                    median(old, lambda r: max(0.0, r["total"] - r["again"])),
                )
            stages = child(ROOT, path, style, tier, name, profiled=True)["stages"] if where else None
            rows.append(Row(name, tier, style, figures["minutes"], figures["out_minutes"], figures["bars"],
                            median(runs, lambda r: r["analysis"]), generation,
                            median(runs, lambda r: r["rss_kib"]) / 1024, was, stages, same))  # fmt: skip
    return rows


def reimagine_section(
    rows: list[Row], command: str = "python scripts/bench_reimagine.py", before: str = "an older tree"
) -> list[str]:
    """The report's lines on reimagine."""
    import platform
    import time

    from edge.thermal.power import PI4

    compared = any(r.before for r in rows)
    lines = [
        "## Reimagine (`edge-music reimagine`)",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} shared cores. "
        "One fresh process per run, one thread, seed 1, kept chords, WAV written, "
        "credentials off; the median of the runs. Analysis = `analyse_file` (reading and every analysis, "
        "with what it loads on first use); generation = plans, the tier's bars, arranger, synth (FluidSynth "
        "for the pack's sampled tracks) and the WAV (`reimagine_file` less a second, warm analysis)."
        " Per minute of the original and per minute of the new version (whose tempo the "
        "style sets, plus its 2 s tail). Peak RSS of the process. "
        f"Pi 4: this machine's CPU-s x {HOST_SPEED:g} (the assumed host / Pi 4 core ratio of "
        "docs/thermal_costs.json), one core busy: the whole board draws "
        f"{PI4.power(1):.2f} W, of which {PI4.w_per_core:.3f} W is the work (edge/thermal/power.py)."
        + (
            f" Before: the same runs on {before}, in turns with these (so both saw the same load); "
            "same WAV: every run of both wrote the same bytes (sha256)."
            if compared
            else ""
        ),
        "",
        "| input | style | tier | minutes (original / new) | bars | analysis CPU-s / min "
        "| generation CPU-s / min (original / new) | all CPU-s / min (original / new) |"
        + (" before: all CPU-s / min (original / new) | same WAV before |" if compared else "")
        + " peak RSS | Pi 4 s / track | Pi 4 J / track (board) | Pi 4 J / track (work) |",
        "|---|---|---|---:|---:|---:|---:|---:|" + ("---:|---|" if compared else "") + "---:|---:|---:|---:|",
    ]
    for r in rows:
        pi4_s = (r.analysis_cpu + r.generation_cpu) * HOST_SPEED
        original, new = r.per_minute
        was = ""
        if compared:
            old = sum(r.before) if r.before else float("nan")
            same = {True: "yes", False: "no", None: "?"}[r.same_bytes]
            was = f" {old / r.minutes:.2f} / {old / r.out_minutes:.2f} | {same} |"
        lines.append(
            f"| {r.name} | {r.style} | {r.tier} | {r.minutes:.2f} / {r.out_minutes:.2f} | {r.bars} "
            f"| {r.analysis_cpu / r.minutes:.3f} | {r.generation_cpu / r.minutes:.2f} / "
            f"{r.generation_cpu / r.out_minutes:.2f} | {original:.2f} / {new:.2f} |{was} {r.rss_mib:.0f} MiB "
            f"| {pi4_s:.0f} | {pi4_s * PI4.power(1):.0f} | {pi4_s * PI4.w_per_core:.0f} |"
        )
    midi = [r for r in rows if "MIDI" in r.name]
    analysis = max((r.analysis_cpu / r.minutes for r in midi), default=0.0)
    new = max((r.per_minute[1] for r in midi), default=0.0)
    kept = [r for r in midi if r.out_minutes < 1.3 * r.minutes]  # the style keeps the tempo (and a tail)
    slowed = [r for r in midi if r not in kept]
    heard = [r.analysis_cpu / r.minutes for r in rows if "WAV" in r.name]
    audio = max(heard) if heard else None

    def verdict(value: float) -> str:
        return "within" if value <= 1.0 else "over"

    def most(group: list[Row]) -> str:
        worst = max(group, key=lambda r: r.per_minute[0])
        return f"{worst.per_minute[0]:.2f} ({worst.name.split(' (')[0]} in {worst.style}, tier {worst.tier})"

    lines += [
        "",
        "Target: at most 1 CPU-s per minute of MIDI music here (a Pi 4 core is 5-8x slower). A minute of "
        "music is a minute of the music reimagine makes: generation writes and renders the new version, "
        "its cost follows the new version's length, and the duty cycle the thermal governor sees while "
        "it is made is CPU-s per minute made. MIDI analysis takes at most "
        f"{analysis:.3f} CPU-s per minute. Analysis and generation together take up to {new:.2f} CPU-s "
        f"per minute of the new version ({verdict(new)} the target). Per minute of the original, the "
        "figure is the same where the style keeps the tempo"
        + (f": up to {most(kept)}" if kept else "")
        + "; where the style halves it, the new version is twice as long and so is the work"
        + (f": up to {most(slowed)} per minute of the original. " if slowed else ". ")
        + (
            f"Audio input: analysing it (basic-pitch's transcriber, beats, key) takes {audio:.2f} CPU-s per "
            "minute of audio, the rest as for MIDI. "
            if audio is not None
            else ""
        )
        + "Credentials (on by default) add about 0.07 CPU-s per minute of audio "
        "(the C2PA section below). ABC and MusicXML go through music21: their analysis figure includes "
        "importing music21 (once a process, about half a CPU-second here) and its parse.",
    ]
    profiled = [r for r in rows if r.stages]
    if profiled:
        lines += [
            "",
            "### Where the CPU goes (`--where`: one more run, sampled every 2 ms of its CPU time)",
            "",
            "CPU-s of the run during which the stage was on the stack (SIGPROF samples x the run's CPU-s / "
            "samples); the indented rows are part of the row above them.",
            "",
            "| stage | "
            + " | ".join(f"{r.name.split(' (')[0]}, {r.style}, tier {r.tier}" for r in profiled)
            + " |",
            "|---|" + "---:|" * len(profiled),
        ]
        whole = STAGES[0][1]
        for what, key in STAGES:
            cells = []
            for r in profiled:
                assert r.stages is not None
                seconds, total = r.stages.get(key, 0.0), r.stages.get(whole, 0.0) or 1.0
                cells.append(f"{seconds:.2f} ({100 * seconds / total:.0f}%)")
            lines.append(f"| {what} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "The rest is Python between the stages (the engine's loop, the arranger, the drums, fading the "
            "end) and setting up (the style library, the SoundFont, the credentials' tags).",
        ]
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="processes per row (the median is reported)")
    parser.add_argument("--before", type=Path, help="an older tree to measure in turns with this one")
    parser.add_argument("--before-label", default="an older tree", help="what --before is, for the text")
    parser.add_argument("--where", action="store_true", help="add where the CPU goes (one profiled run)")
    parser.add_argument("--print", action="store_true", help="print the section, do not write the file")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give 1 or more")
    if args.before is not None and not (args.before / "edge" / "__init__.py").is_file():
        parser.error(f"--before {args.before}: not a tree with edge/ in it")
    with tempfile.TemporaryDirectory() as tmp:
        rows = bench_reimagine(Path(tmp), repeats=args.repeats, before=args.before, where=args.where)
    flags = "".join(
        [
            f" --repeats {args.repeats}",
            " --before TREE" if args.before else "",
            " --where" if args.where else "",
        ]
    )
    body = "\n".join(reimagine_section(rows, f"python scripts/bench_reimagine.py{flags}", args.before_label))
    if args.print:
        print(body)
        return 0
    from bench_sections import write_section

    write_section(args.out, "bench_reimagine", body)
    print(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
