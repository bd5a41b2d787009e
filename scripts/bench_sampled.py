#!/usr/bin/env python3
"""Sampled instruments: FluidSynth against a numpy sampler, side by side on the same notes.

Both routes play one SoundFont preset for the notes a pack's sampled track plays
(its chords, velocities and gates, taken from the engine):

- ``fluidsynth``: ``edge.render.sampled``, the route the synth takes: libfluidsynth through
  pyfluidsynth, offline, one chord at a time from silence to silence.
- ``trimmed``: the same, from the SoundFont's copy holding only that preset (``edge.render.fontcache``),
  as the daemon plays it: the same bytes as ``fluidsynth``, less memory.
- ``numpy``: a sampler written here for the comparison only: sf2utils parses the SoundFont,
  the preset's samples are decoded once, a note is its sample resampled by linear
  interpolation (``np.interp``, looped where the SoundFont loops it) times a volume envelope
  (attack, hold, decay, sustain, release). No filter, modulators or LFOs, no SF3.

Each route runs in a fresh process (so its RSS is its own) twice (so determinism is seen
across processes); no note cache on either side. Then the whole pipeline (tier L, the pack
with its sampled track against the same pack on its synth patch) shows what playback costs,
and memory_curve.py's daemon loop (styles switching) what the daemon's RSS becomes.
Results replace the marked section of docs/benchmarks.md.

    python scripts/bench_sampled.py [--styles focus,house] [--seconds 120] [--daemon-minutes 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))  # memory_curve, the daemon's memory loop

ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
RATE = 48000
SECTION = "bench_sampled"
"""Its marked section of docs/benchmarks.md (bench_sections.py)."""


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mib() -> float:
    """This process's peak RSS since its exec (VmHWM; ru_maxrss would carry over the parent's peak)."""
    with open("/proc/self/status") as fh:
        line = next(x for x in fh if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


# --- the notes -----------------------------------------------------------------------------------


def sampled_chords(style: str, seconds: float, seed: int) -> dict:
    """The chords of ``style``'s sampled tracks as the synth schedules them (tier 0 writes them)."""
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.music.style import StyleLibrary

    library = StyleLibrary()
    pack = library.get(style)
    tracks = {t: p for t, p in pack.instruments.items() if p.sampled is not None}
    if not tracks:
        raise SystemExit(f"bench_sampled: style {style!r} has no sampled track")
    engine = Engine(library, lambda: Context(style=style), seed, sample_rate=RATE)
    chords: list[tuple[int, int, list[tuple[int, int]]]] = []
    schedule = engine.synth.schedule

    def recording(bar, start):
        per_beat = 60.0 * RATE / bar.plan.tempo
        groups: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for note in bar.notes:
            if note.track in tracks:
                at = start + round(note.onset * per_beat)
                gate = max(1, round(note.duration * per_beat))
                shift = 12 * tracks[note.track].octave
                groups.setdefault((at, gate), []).append((note.pitch + shift, note.velocity))
        chords.extend((at, gate, notes) for (at, gate), notes in groups.items())
        return schedule(bar, start)

    engine.synth.schedule = recording
    for _ in range(round(seconds * RATE / 1024)):
        engine.render_block(1024)
    spec = next(iter(tracks.values())).sampled
    from edge.render.soundfonts import find_soundfont

    font = find_soundfont(spec.soundfont)
    if font is None:
        raise SystemExit(f"bench_sampled: none of {', '.join(spec.soundfont)} is installed")
    return {
        "font": str(font),
        "bank": spec.bank,
        "program": spec.program,
        "seconds": seconds,
        "chords": chords,
    }


# --- the numpy route -----------------------------------------------------------------------------


class NumpySampler:
    """One preset of an SF2 file: zones parsed by sf2utils, samples decoded once, notes by np.interp."""

    def __init__(self, path: str, bank: int, program: int, rate: int) -> None:
        from sf2utils.generator import Sf2Gen
        from sf2utils.sf2parse import Sf2File

        self.rate = rate
        self.zones = []
        decoded: dict[int, np.ndarray] = {}
        with open(path, "rb") as fh:
            sf2 = Sf2File(fh)
            preset = next(p for p in sf2.presets if getattr(p, "bank", None) == bank and p.preset == program)
            for pbag in preset.bags:
                instrument = pbag.instrument
                if instrument is None:
                    continue
                pkeys = pbag.key_range or (0, 127)
                pvels = pbag.velocity_range or (0, 127)
                for ibag in instrument.bags:
                    sample = ibag.sample
                    if sample is None:
                        continue
                    keys = ibag.key_range or (0, 127)
                    vels = ibag.velocity_range or (0, 127)
                    if id(sample) not in decoded:  # only this preset's samples are read
                        raw = np.frombuffer(sample.raw_sample_data, dtype="<i2")
                        decoded[id(sample)] = raw.astype(np.float32) / 32768.0
                    root = ibag.base_note if ibag.base_note is not None else sample.original_pitch
                    cents = 100 * ((ibag.tuning or 0) + (pbag.tuning or 0))
                    cents += (ibag.fine_tuning or 0) + (pbag.fine_tuning or 0) + sample.pitch_correction
                    try:
                        attenuation = ibag[Sf2Gen.OPER_INITIAL_ATTENUATION].word
                    except KeyError:
                        attenuation = 0
                    self.zones.append(
                        {
                            "keys": (max(keys[0], pkeys[0]), min(keys[1], pkeys[1])),
                            "vels": (max(vels[0], pvels[0]), min(vels[1], pvels[1])),
                            "data": decoded[id(sample)],
                            "rate": sample.sample_rate,
                            "root": root,
                            "cents": cents,
                            "loop": bool(ibag.sample_loop) and ibag.cooked_loop_end > ibag.cooked_loop_start,
                            "loop_start": ibag.cooked_loop_start,
                            "loop_end": ibag.cooked_loop_end,
                            "gain": 10 ** (-0.4 * attenuation / 200),  # FluidSynth's EMU factor 0.4
                            "pan": ibag.pan or 0.0,
                            "attack": ibag.volume_envelope_attack or 0.001,
                            "hold": ibag.volume_envelope_hold or 0.001,
                            "decay": ibag.volume_envelope_decay or 0.001,
                            "sustain_db": ibag.volume_envelope_sustain or 0.0,
                            "release": min(4.0, ibag.volume_envelope_release or 0.001),
                        }
                    )

    def render(self, notes: list[tuple[int, int]], gate: int) -> np.ndarray:
        """(2, frames) float32: every matching zone of every note, resampled and enveloped."""
        zones = [
            (z, pitch, velocity)
            for pitch, velocity in notes
            for z in self.zones
            if z["keys"][0] <= pitch <= z["keys"][1] and z["vels"][0] <= velocity <= z["vels"][1]
        ]
        length = gate + round(max((z["release"] for z, _, _ in zones), default=0.01) * self.rate)
        out = np.zeros((2, length), dtype=np.float32)
        for zone, pitch, velocity in zones:
            data = zone["data"]
            step = 2 ** ((pitch - zone["root"]) / 12 + zone["cents"] / 1200) * zone["rate"] / self.rate
            position = np.arange(length, dtype=np.float64) * step
            if zone["loop"]:
                start, end = zone["loop_start"], zone["loop_end"]
                past = position >= end
                position[past] = start + np.mod(position[past] - start, end - start)
            else:
                position = position[position < len(data) - 1]
            n = len(position)
            wave = np.interp(position, np.arange(len(data), dtype=np.float64), data).astype(np.float32)
            envelope = self._envelope(zone, gate, n)
            amp = zone["gain"] * (velocity / 127.0) ** 2
            pan = (zone["pan"] + 0.5) * np.pi / 2
            out[0, :n] += wave * envelope * np.float32(amp * np.cos(pan))
            out[1, :n] += wave * envelope * np.float32(amp * np.sin(pan))
        return out

    def _envelope(self, zone: dict, gate: int, n: int) -> np.ndarray:
        rate = self.rate
        attack = max(1, round(zone["attack"] * rate))
        hold = round(zone["hold"] * rate)
        sustain = 10 ** (-zone["sustain_db"] / 20)
        t = np.arange(n, dtype=np.float32)
        env = np.minimum(1.0, (t + 1) / attack)
        decaying = t >= attack + hold
        tau = max(1.0, zone["decay"] * rate / 11.5)  # 100 dB over the decay time
        env[decaying] = sustain + (1 - sustain) * np.exp(-(t[decaying] - attack - hold) / tau)
        if gate < n:
            level = env[min(gate, n - 1)]
            tau = max(1.0, zone["release"] * rate / 11.5)
            env[gate:] = level * np.exp(-(t[gate:] - gate) / tau)
        return env


# --- one route, in its own process ---------------------------------------------------------------


def run_route(route: str, notes_path: str) -> dict:
    spec = json.loads(Path(notes_path).read_text())
    path = Path(spec["font"])
    if route == "trimmed":  # written beforehand, as the daemon does when it loads the packs
        from edge.render.fontcache import prepare

        path = prepare(path, {(spec["bank"], spec["program"])}, Path(notes_path).parent / "cache")
        if path is None:
            raise SystemExit(f"bench_sampled: {spec['font']} could not be trimmed")
    base = rss_mib()
    started = time.process_time()
    if route in ("fluidsynth", "trimmed"):
        import fluidsynth

        from edge.render.soundfonts import FontSynth

        font = FontSynth(fluidsynth, path, RATE)
        channel = font.channel(spec["bank"], spec["program"])

        def render(notes, gate):
            return font.render(channel, notes, gate)
    else:
        sampler = NumpySampler(spec["font"], spec["bank"], spec["program"], RATE)
        render = sampler.render
    load_cpu = time.process_time() - started
    loaded = rss_mib()
    frames = round(spec["seconds"] * RATE)
    mix = np.zeros((2, frames + 10 * RATE), dtype=np.float32)
    started = time.process_time()
    for at, gate, notes in spec["chords"]:
        data = render([tuple(n) for n in notes], gate)
        mix[:, at : at + data.shape[1]] += data[:, : mix.shape[1] - at]
    render_cpu = time.process_time() - started
    single = render([(69, 100)], RATE)
    spectrum = np.abs(np.fft.rfft(single[0, : RATE // 2] * np.hanning(RATE // 2)))
    return {
        "route": route,
        "load_cpu": load_cpu,
        "render_cpu": render_cpu,
        "audio_s": spec["seconds"],
        "chords": len(spec["chords"]),
        "rss_base": base,
        "rss_loaded": loaded,
        "sha256": hashlib.sha256(mix.tobytes()).hexdigest(),
        "rms": float(np.sqrt(np.mean(np.square(mix[:, :frames], dtype=np.float64)))),
        "a4_hz": float(np.argmax(spectrum) * RATE / (RATE // 2)),
    }


def pipeline(style: str, seconds: float, sampled: bool) -> dict:
    """The engine at tier L (or the best there is) for ``seconds``: loop CPU-s and peak RSS."""
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.generator.registry import TierRegistry
    from edge.music.style import StyleLibrary

    library = StyleLibrary()
    if not sampled:
        for pack in library.packs.values():
            for track, patch in pack.instruments.items():
                pack.instruments[track] = dataclasses.replace(patch, sampled=None)
    registry = TierRegistry()
    tier = registry.best_at_most("L")
    engine = Engine(library, lambda: Context(style=style), 1, sample_rate=RATE, registry=registry, tier=tier)
    started = time.process_time()
    for _ in range(round(seconds * RATE / 1024)):
        engine.render_block(1024)
    cpu = time.process_time() - started
    return {
        "tier": tier,
        "sampled_tracks": list(engine.synth.sampled_tracks),
        "loop_cpu_per_s": cpu / seconds,
        "peak_rss": peak_rss_mib(),
    }


def child(*args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    result = subprocess.run(
        [sys.executable, __file__, *args],
        capture_output=True,
        text=True,
        env={**env, **ONE_THREAD},
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"bench_sampled: {' '.join(args)} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


# --- the report ----------------------------------------------------------------------------------


def report(runs: list[tuple[str, dict, dict, dict]], daemon: dict[str, dict], command: str) -> str:
    seconds = runs[0][1]["seconds"]
    lines = [
        f"## Sampled instruments: FluidSynth against a numpy sampler ({seconds:g} s per pack, seed 1)",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} cores, one "
        "thread. Per pack, the chords its sampled track plays, rendered by both routes from the same "
        "SoundFont preset with no note cache, each route in a fresh process, twice.",
        "",
        "| pack | preset | chords | route | load CPU-s | render CPU-s per audio-s | RSS added (MiB) | "
        "same bytes in both runs | A4 peak (Hz) | mix RMS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for style, spec, routes, _ in runs:
        preset = f"{Path(spec['font']).name} {spec['bank']}:{spec['program']}"
        for name, results in routes.items():
            first = results[0]
            same = "yes" if all(r["sha256"] == first["sha256"] for r in results) else "no"
            if name == "trimmed":  # and the same bytes as the whole font's
                whole = routes["fluidsynth"][0]["sha256"]
                same += ", same as the whole font" if first["sha256"] == whole else ", NOT the whole font's"
            added = first["rss_loaded"] - first["rss_base"]
            lines.append(
                f"| {style} | {preset} | {first['chords']} | {name} | {first['load_cpu']:.3f} | "
                f"{first['render_cpu'] / seconds:.4f} | {added:.1f} | {same} | {first['a4_hz']:.0f} | "
                f"{first['rms']:.4f} |"
            )
    lines += [
        "",
        "RSS added: after importing and loading the route, before rendering (FluidSynth's includes "
        "libfluidsynth and the libraries it links, the numpy route's the decoded float32 samples). "
        "`trimmed` is FluidSynth playing the copy of the SoundFont holding only that preset "
        "(`edge/render/sf2trim.py`), as the daemon does. "
        "Both routes hand the synth a stereo float32 chord that goes through the track's pan, reverb "
        "and delay sends and the master like a synth note (FluidSynth's own reverb and chorus are off); "
        "the numpy route has no filter, modulators, LFOs or velocity curves (hence its louder mix), "
        "and cannot read SF3.",
        "",
        f"### Playback with the sampled tracks ({seconds:g} s, in-process engine, one thread)",
        "",
        "| pack | sound | tier | sampled tracks | loop CPU-s per audio-s | peak RSS (MiB) |",
        "|---|---|---|---|---|---|",
    ]
    for style, _, _, pipes in runs:
        for name, pipe in pipes.items():
            tracks = ", ".join(pipe["sampled_tracks"]) or "none"
            lines.append(
                f"| {style} | {name} | {pipe['tier']} | {tracks} | {pipe['loop_cpu_per_s']:.4f} | "
                f"{pipe['peak_rss']:.1f} |"
            )
    if daemon:
        minutes = next(iter(daemon.values()))["minutes"]
        lines += [
            "",
            f"### Daemon memory ({minutes:g} minutes of audio, `scripts/memory_curve.py`'s loop)",
            "",
            "The daemon's engine and player with tier L and M loaded, the style switched every 2-5 s "
            "(so the SoundFont is opened and closed again and again), RSS sampled every 30 s of audio. "
            "The sampled run then plays a library track (a 16-bar test piece reimagined in house at "
            "tier L, repeating) on a deck through the stage, as reimagine live does: two more synths, "
            "the engine idle with its caches given back (`Synth.rest`); the audio run plays the same "
            "piece as a 2-minute audio file (analysed beforehand, its decoded samples spooled to a "
            "file, `edge/library/original_audio.py`) on the reimagined synth and its audio. The "
            "synths in a thread share one set of note work arrays, effects hold lines only while "
            "they ring, and the timeline ring is a private map whose played pages are freed. "
            "SoundFonts play from copies "
            "trimmed to each pack's presets (`edge/render/fontcache.py`), the timeline ring holds only "
            "what is scheduled ahead, a style change drops the old style's cached loops and envelopes, "
            "and the delay line is as long as the pack's echo at 40 bpm (docs/architecture.md).",
            "",
            "| sound | RSS mean (MiB) | RSS max (MiB) |",
            "|---|---|---|",
        ]
        lines += [
            f"| {name} | {d['mean']:.1f} | {d['max']:.1f} |"
            for name, d in daemon.items()
            if name != "sampled-audio"
        ]
        kinds = {
            "sampled": "a library track ({:g} min",
            "sampled-audio": "an audio track ({:g} min of a 2-minute file",
        }
        lines += [
            f"| sampled, then {kinds[name].format(d['track']['minutes'])}, house deck) | "
            f"{d['track']['mean']:.1f} | {d['track']['max']:.1f} |"
            for name, d in daemon.items()
            if "track" in d
        ]
    lines += [
        "",
        "Targets: at most 0.03 CPU-s per audio-s at tier L with sampled instruments; "
        "daemon RSS at most 150 MB (143 MiB).",
    ]
    return "\n".join(lines)


def daemon_memory(minutes: float, sampled: bool, audio_minutes: float = 0.0) -> dict:
    """RSS while the daemon's engine and player play, switching styles (memory_curve.py's loop);
    with ``audio_minutes``, the library track is an audio file that long."""
    import memory_curve

    from edge.music import style as style_module

    if not sampled:  # every pack on its synth patches: the same daemon without sampled instruments
        original = style_module.StyleLibrary.__init__

        def plain(self, *args, **kwargs):
            original(self, *args, **kwargs)
            for pack in self.packs.values():
                for track, patch in pack.instruments.items():
                    pack.instruments[track] = dataclasses.replace(patch, sampled=None)

        style_module.StyleLibrary.__init__ = plain
    track_minutes = minutes / 2 if sampled else 0.0
    with tempfile.TemporaryDirectory() as folder:
        audio = Path(folder) if audio_minutes > 0 else None
        if audio is not None:
            memory_curve.prepare_audio(audio, audio_minutes)
        samples = memory_curve.curve(minutes, "L", True, 30.0, track_minutes=track_minutes, audio=audio)
    styles = [rss for at, rss in samples if at < minutes]
    result = {"minutes": minutes, "mean": sum(styles) / len(styles), "max": max(styles)}
    track = [rss for at, rss in samples if at >= minutes + 0.25]  # the deck playing
    if track:
        result["track"] = {"minutes": track_minutes, "mean": sum(track) / len(track), "max": max(track)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--styles", default="focus,house", help="packs with sampled tracks, comma-separated")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--daemon-minutes", type=float, default=4.0, help="0 leaves the daemon memory out")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--route", choices=("fluidsynth", "trimmed", "numpy"), help=argparse.SUPPRESS)
    parser.add_argument("--notes", help=argparse.SUPPRESS)
    parser.add_argument("--pipeline", choices=("sampled", "synth"), help=argparse.SUPPRESS)
    parser.add_argument("--daemon", choices=("sampled", "synth", "sampled-audio"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    styles = [s for s in args.styles.split(",") if s]
    if args.route:
        print(json.dumps(run_route(args.route, args.notes)))
        return 0
    if args.pipeline:
        print(json.dumps(pipeline(styles[0], args.seconds, args.pipeline == "sampled")))
        return 0
    if args.daemon:
        audio_minutes = 2.0 if args.daemon == "sampled-audio" else 0.0
        print(json.dumps(daemon_memory(args.daemon_minutes, args.daemon != "synth", audio_minutes)))
        return 0
    runs = []
    for style in styles:
        spec = sampled_chords(style, args.seconds, 1)
        routes: dict[str, list[dict]] = {}
        with tempfile.TemporaryDirectory() as tmp:
            notes = Path(tmp) / "notes.json"
            notes.write_text(json.dumps(spec))
            for route in ("fluidsynth", "trimmed", "numpy"):
                routes[route] = [child("--route", route, "--notes", str(notes)) for _ in range(2)]
        pipes = {
            name: child("--pipeline", name, "--styles", style, "--seconds", str(args.seconds))
            for name in ("sampled", "synth")
        }
        runs.append((style, spec, routes, pipes))
    daemon = {}
    if args.daemon_minutes > 0:
        daemon = {
            name: child("--daemon", name, "--daemon-minutes", str(args.daemon_minutes))
            for name in ("sampled", "synth", "sampled-audio")
        }
    command = (
        f"python scripts/bench_sampled.py --styles {args.styles} --seconds {args.seconds:g} "
        f"--daemon-minutes {args.daemon_minutes:g}"
    )
    section = report(runs, daemon, command)
    from bench_sections import write_section

    write_section(Path(args.out), SECTION, section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
