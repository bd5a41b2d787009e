#!/usr/bin/env python3
"""``make bench``: measure the engine and write docs/benchmarks.md.

Every figure comes from one run on this machine, single-threaded. Figures that
compare two things (us against FluidSynth) are ratios taken in the same run,
because absolute timings on shared machines are noisy. Nothing here is
asserted: the numbers are for people to read.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))
from bench_loudness import bench_loudness, loudness_section  # noqa: E402

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


def bench_styles(styles: list[str], tiers: list[str]) -> list[tuple[str, str, float, float, float]]:
    """(style, tier, loop CPU-s per audio-s, process CPU-s per audio-s, peak RSS MiB) per pack and tier."""
    rows = []
    for style, tier in itertools.product(styles, tiers):
        # A fresh process per pack so each peak RSS is its own (ru_maxrss of children is a max).
        code = (
            "import resource, subprocess, sys; "
            "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
            "sys.stderr.write(r.stderr); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        cmd = edge("render", "--null", "--quiet", "--seconds", str(SECONDS), "--style", style, "--seed", "1",
                   "--tier", tier)  # fmt: skip
        result, cpu, _ = child_run([sys.executable, "-c", code, *cmd], env=env_one_thread())
        rss_kib = int(result.stdout.strip().splitlines()[-1])
        rows.append((style, tier, loop_cpu(result.stderr) / SECONDS, cpu / SECONDS, rss_kib / 1024))
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
             "--tier", "0", "--out", str(ours_wav), "--midi", str(midi)),
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


def bench_first_audio(workdir: Path, repeats: int = 5) -> tuple[list[float], str]:
    """Seconds from process start to the first block at the sink (null sink, real-time paced),
    and the tier the daemon had loaded for its first bar."""
    times = []
    tier = "0"
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
        loaded = re.search(r"generator tier (\S+) from bar 0\b", result.stderr)
        tier = loaded.group(1) if loaded else "0"
        del started
    return times, tier


def _percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return p50 * 1000, p99 * 1000


def bench_latency(workdir: Path, samples: int = 40) -> dict[str, tuple[float, float]] | None:
    """MQTT publish -> applied in LiveState, -> in the next bar's plan, -> out of the sink with the new gain.

    The daemon runs in-process with its real MQTT link, LiveState and Player on a real-time-paced
    null sink. For the gain path the music is replaced by a steady tone, so the first block written
    at the new level can be told apart; ALSA's own queue (periods x period_frames) comes on top and
    is added as a constant.
    """
    import json as _json
    import threading

    import numpy as np

    from edge.config import load
    from edge.daemon import Daemon
    from tests.broker import Mosquitto, Probe

    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        return None
    results: dict[str, tuple[float, float]] = {}
    with Mosquitto(workdir) as broker:
        config_path = workdir / "latency.toml"
        config_path.write_text(
            f'[audio]\nsink = "null"\n[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\n'
            'device_id = "bench"\ndiscovery = false\n[gpio]\nenabled = false\n[music]\nseed = 1\n'
        )
        config = load(config_path, env={})
        daemon = Daemon(config, str(config_path))
        applied: list[float] = []
        planned: list[tuple[float, float]] = []
        daemon.state.subscribe(
            lambda changed: applied.append(time.monotonic()) if "energy" in changed else None
        )
        original_on_bar = daemon._on_bar

        def on_bar(bar):
            planned.append((time.monotonic(), bar.plan.energy))
            original_on_bar(bar)

        daemon.engine._on_bar = on_bar
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        while daemon.mqtt is None or not daemon.mqtt.connected:
            time.sleep(0.05)
        to_state, to_plan = [], []
        with Probe(broker.port) as client:
            jitter = random.Random(1)
            for i in range(samples // 2):
                # A random moment within the bar, as real commands arrive.
                time.sleep(jitter.uniform(0.0, 3.0))
                energy = 0.2 if i % 2 else 0.9
                before_plan = len(planned)
                sent = time.monotonic()
                client.publish("edge-music/bench/set", _json.dumps({"energy": energy}))
                while not applied or applied[-1] < sent:
                    time.sleep(0.001)
                to_state.append(applied[-1] - sent)
                while len(planned) <= before_plan:
                    time.sleep(0.005)
                to_plan.append(planned[before_plan][0] - sent)
        results["publish -> applied (LiveState)"] = _percentiles(to_state)
        results["publish -> in the plan (next bar)"] = _percentiles(to_plan)
        daemon.request_stop()
        thread.join(10)

        # The gain path: a steady tone, so a block's level tells which gain it carries.
        daemon = Daemon(config, str(config_path))
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(1024) / 48000)).astype(np.float32)
        daemon.engine.render_block = lambda frames: np.repeat(tone[:frames, None], 2, axis=1)
        writes: list[tuple[float, float]] = []
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        while daemon.player is None or daemon.mqtt is None or not daemon.mqtt.connected:
            time.sleep(0.05)
        sink = daemon.player.sink
        real_write = sink.write

        def timed_write(block):
            real_write(block)
            writes.append((time.monotonic(), float(np.abs(block).max())))

        sink.write = timed_write
        time.sleep(0.5)
        volume_lat, pause_lat = [], []
        with Probe(broker.port) as client:
            for i in range(samples):
                kind = "volume" if i % 2 == 0 else "pause"
                level_before = writes[-1][1]
                mark = len(writes)
                sent = time.monotonic()
                if kind == "volume":
                    client.publish("edge-music/bench/set/volume", "20" if level_before > 0.2 else "90")
                else:
                    client.publish("edge-music/bench/set", _json.dumps({"state": "OFF"}))
                # The first block whose level moved by 5 %: the change starts to be heard.
                while True:
                    later = writes[mark:]
                    hit = next((t for t, lvl in later if abs(lvl - level_before) > 0.05 * level_before), None)
                    if hit is not None:
                        break
                    time.sleep(0.002)
                (volume_lat if kind == "volume" else pause_lat).append(hit - sent)
                if kind == "pause":
                    client.publish("edge-music/bench/set", _json.dumps({"state": "ON"}))
                time.sleep(0.4)
        alsa_queue = config.audio.periods * config.audio.period_frames / config.audio.rate
        results["publish -> audible, volume (+ALSA queue)"] = tuple(
            v + alsa_queue * 1000 for v in _percentiles(volume_lat)
        )
        results["publish -> audible, pause (+ALSA queue)"] = tuple(
            v + alsa_queue * 1000 for v in _percentiles(pause_lat)
        )
        daemon.request_stop()
        thread.join(10)
    return results


def _written_bytes() -> int:
    """Bytes this process has passed to write() so far (Linux /proc/self/io wchar; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


LedgerFigures = tuple[float, float, int, int]
"""flush_seconds, CPU-s per hour, bytes written per hour, bytes on disk."""


def bench_ledger(workdir: Path, hours: float = 1.0, flushes=(30.0, 5.0)) -> list[LedgerFigures]:
    """The ledger's cost per hour of playback: (flush_seconds, CPU-s, bytes written, bytes on disk).

    What the daemon does, without the waiting: each control tick (1 s of music) works out who
    is credited (tier S, focus) and counts it; every ``flush_seconds`` a batch is committed
    (synchronous = FULL) and today's summary is read back for MQTT. Measured in this process.
    """
    from edge.generator.registry import TierRegistry
    from edge.ledger.contributors import Attribution, credit_line
    from edge.ledger.recorder import Recorder, local_day
    from edge.ledger.report import daily_summary
    from edge.music.style import StyleLibrary

    results = []
    for flush in flushes:
        path = workdir / f"ledger-{flush:g}.db"
        attribution = Attribution(StyleLibrary(), TierRegistry())
        recorder = Recorder(path, flush, on_flush=lambda store: daily_summary(store, local_day(time.time())))
        ticks = round(hours * 3600)
        start, written = time.process_time(), _written_bytes()
        for tick in range(1, ticks + 1):
            shares = attribution("focus", "tierS")
            credit_line(shares)
            recorder.played(shares, 1.0)
            if tick % round(flush) == 0:
                recorder.flush()
        recorder.stop()
        cpu = (time.process_time() - start) / hours
        written = (_written_bytes() - written) / hours
        size = sum(p.stat().st_size for p in workdir.glob(f"ledger-{flush:g}.db*"))
        results.append((flush, cpu, round(written), size))
    return results


def ledger_section(ledger: list[LedgerFigures]) -> list[str]:
    """The report's lines on the ledger."""
    lines = [
        "## Attribution ledger",
        "",
        "One hour of playback as the daemon records it (`bench_ledger` in scripts/bench.py): 3600 "
        "control ticks, each crediting one second of tier S playing the focus pack (the pack, the "
        "model and its four training sources), a batch committed every `ledger.flush_seconds` "
        "(SQLite WAL, synchronous = FULL) and today's summary read back for MQTT after each. The "
        "audio threads never touch the ledger: the producer only notes which style and tier a bar "
        "is, the control loop counts, the ledger's own thread writes. "
        "`python scripts/bench.py --ledger-only` measures this part alone.",
        "",
        "| flush_seconds | CPU-s per hour of playback | batches per hour | written per hour | file size |",
        "|---|---|---|---|---|",
    ]
    for flush, cpu, written, size in ledger:
        mib, kib = written / 2**20, size / 1024
        lines.append(f"| {flush:g} | {cpu:.3f} | {3600 / flush:.0f} | {mib:.1f} MiB | {kib:.0f} KiB |")
    lines += [
        "",
        "Written = bytes handed to write() (the WAL frames of each commit and the checkpoints): what an "
        "SD card sees, and why the default is 30 s. File size = the database and its WAL after the hour.",
    ]
    return [*lines, ""]


def write_report(
    path: Path,
    styles,
    fluid,
    first_audio,
    latency=None,
    first_tier: str = "0",
    ledger=None,
    loud=None,
) -> str:
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
        "| style | tier | loop CPU-s per audio-s | whole process CPU-s per audio-s | peak RSS (MiB) |",
        "|---|---|---|---|---|",
    ]
    for style, tier, loop, process, rss in styles:
        lines.append(f"| {style} | {tier} | {loop:.4f} | {process:.4f} | {rss:.1f} |")
    lines += [
        "",
        "Loop = generator (tier 0 procedural, L the largest neural model, int8 onnxruntime on one thread), "
        "arranger and synth: what playback costs. Whole process adds Python start-up, imports and "
        "loading the model. Target: at most 0.03 CPU-s per audio-s, peak RSS at most 80 MB.",
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
            "Our loop (tier 0, so the synth is what is compared) includes generating the notes and writing "
            "the WAV; FluidSynth only synthesises. "
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
            f"`edge-music run` with the null sink, no broker, no GPIO; {len(first_audio)} runs, tier "
            f"{first_tier} loaded for the first bar. Time from process start (kernel start time) to the "
            "first block written to the sink (READY=1 follows it).",
            "",
            "| min | median | max |",
            "|---|---|---|",
            f"| {ordered[0]:.3f} s | {ordered[len(ordered) // 2]:.3f} s | {ordered[-1]:.3f} s |",
            "",
            "Target: at most 1.5 s with tier S loaded.",
            "",
        ]
    if latency:
        lines += [
            "## Control latency (MQTT)",
            "",
            "In-process daemon with its real MQTT link (local Mosquitto), LiveState and Player on a "
            "real-time-paced null sink; 40 commands each. The audible rows add ALSA's queue "
            "(periods x period_frames = 85 ms with the defaults), the worst case for a full device buffer.",
            "",
            "| path | p50 | p99 |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {p50:.1f} ms | {p99:.1f} ms |" for name, (p50, p99) in latency.items()]
        lines += [
            "",
            "Target: audible change for volume and pause at most 150 ms p99. A plan change lands on the "
            "next bar line by design, so its latency is up to one bar plus the render-ahead buffer.",
            "",
        ]
    if ledger:
        lines += ledger_section(ledger)
    if loud:
        lines += loudness_section(loud)
    text = "\n".join(lines)
    # The other bench scripts keep their own marked sections in the same file (bench_sections.py).
    from bench_sections import kept_sections

    for section in kept_sections(path):
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--ledger-only", action="store_true", help="print only the ledger's section")
    parser.add_argument("--reimagine-only", action="store_true", help="print only reimagine's section")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from edge.generator.registry import TierRegistry
    from edge.music.style import StyleLibrary

    if args.ledger_only:
        with tempfile.TemporaryDirectory() as tmp:
            print("\n".join(ledger_section(bench_ledger(Path(tmp)))))
        return 0
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_reimagine import bench_reimagine, reimagine_section

    if args.reimagine_only:
        with tempfile.TemporaryDirectory() as tmp:
            print("\n".join(reimagine_section(bench_reimagine(Path(tmp)))))
        return 0
    styles = list(StyleLibrary().names)
    tiers = ["0", *(t for t in ("L",) if t in TierRegistry().available)]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        style_rows = bench_styles(styles, tiers)
        fluid = bench_fluidsynth(workdir)
        first_audio, first_tier = bench_first_audio(workdir)
        latency = bench_latency(workdir)
        ledger = bench_ledger(workdir)
    loud = bench_loudness()
    # Reimagine's figures are scripts/bench_reimagine.py's own marked section (make bench runs it).
    print(write_report(Path(args.out).resolve(), style_rows, fluid, first_audio, latency, first_tier, ledger,
                       loud=loud))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
