"""What an audio track in the library costs: the scan's analysis (transcription included) in CPU-s
per minute of audio, loading it for the deck (decode, resample to 48 kHz, loudness), the deck's
CPU with the audio as its original against the engine alone, and the memory each step adds.

The track is the 16-bar test piece (scripts/analysis_pieces.py) rendered by the project's synth at
44.1 kHz stereo, repeated to ``--minutes``. Each step runs in a fresh process so its peak RSS is
its own. Writes its marked section of docs/benchmarks.md with ``--out``.

    python scripts/bench_audio_track.py [--minutes 2] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import threading
import time
import wave
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))

RATE, BLOCK = 48000, 1024


class PeakRss:
    """The highest RSS (MiB) seen every 2 ms while the ``with`` block runs, above the RSS at its start."""

    def __enter__(self) -> PeakRss:
        import psutil

        self._process = psutil.Process()
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _rss(self) -> float:
        return self._process.memory_info().rss / 2**20

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def added(self) -> float:
        return self.peak - self.start


def make_track(folder: Path, minutes: float) -> Path:
    from tests.test_library_audio import render_song

    song = render_song(folder / "one.wav")
    with wave.open(str(song)) as w:
        rate, pcm = w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2")
    song.unlink()
    import analysis_pieces as pieces

    pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(folder / "song.mid"))  # the same piece, MIDI
    frames = round(minutes * 60 * rate) * 2
    path = folder / "track.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.resize(pcm, frames).astype("<i2").tobytes())
    return path


def step(name: str, folder: Path) -> dict:
    """One measurement in this process (run by ``main`` in a child)."""
    import psutil

    from edge import malloc
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.library.cache import AnalysisCache
    from edge.library.deck import build_deck
    from edge.library.original_audio import decode_original
    from edge.library.scan import scan
    from edge.music.style import StyleLibrary

    styles = StyleLibrary()
    cache = AnalysisCache(folder / "cache")
    started = time.process_time()
    with PeakRss() as scanning:
        library = scan(folder / "library", styles.get("house"), cache=cache)
    track = library.tracks["track"]
    out = {"seconds": track.analysis.audio.seconds, "scan_cpu": time.process_time() - started}
    if name == "scan":
        return out | {"peak_added": scanning.added}
    context = Context(style="house")
    malloc.give_back()
    if name == "midi":  # the same piece as a MIDI track: its original through a second synth
        base = psutil.Process().memory_info().rss / 2**20
        deck = build_deck("song", library.tracks["song"].analysis, styles, context, 1, rate=RATE,
                          block=BLOCK, registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0,
                          repeat=False)  # fmt: skip
        for _ in range(deck.end_frame // BLOCK):
            deck.render_block(BLOCK)
        malloc.give_back()
        return {"rss_playing_added": psutil.Process().memory_info().rss / 2**20 - base}
    base = psutil.Process().memory_info().rss / 2**20
    started = time.process_time()
    with PeakRss() as loading:
        audio = decode_original(track.path, track.sha256, RATE, -16.0, 900.0, spool_dir=folder / "cache")
    out |= {"decode_cpu": time.process_time() - started, "held": audio.samples.nbytes / 2**20,
            "decode_peak_added": loading.added}  # fmt: skip
    deck = build_deck("track", track.analysis, styles, context, 1, rate=RATE, block=BLOCK,
                      registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False,
                      audio=audio)  # fmt: skip
    deck.select("original")
    frames = deck.end_frame
    started = time.process_time()
    for _ in range(frames // BLOCK):
        deck.render_block(BLOCK)
    out["deck"] = (time.process_time() - started) / (frames / RATE)
    malloc.give_back()
    out["rss_playing_added"] = psutil.Process().memory_info().rss / 2**20 - base
    engine = Engine(styles, lambda: context, 1, sample_rate=RATE, block_frames=BLOCK)
    started = time.process_time()
    for _ in range(frames // BLOCK):
        engine.render_block(BLOCK)
    out["engine"] = (time.process_time() - started) / (frames / RATE)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--out", help="write the figures into this file's bench_audio_track section")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(step(args.step, Path(args.folder))))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "library").mkdir()
        make_track(Path(folder) / "library", args.minutes)

        def child(name: str) -> dict:
            done = subprocess.run([sys.executable, __file__, "--step", name, "--folder", folder],
                                  capture_output=True, text=True, check=True)  # fmt: skip
            return json.loads(done.stdout.splitlines()[-1])

        scanned = child("scan")  # analyses and caches
        played = child("play")  # finds the analysis in the cache
        midi = child("midi")
    minutes = scanned["seconds"] / 60
    body = "\n".join([
        f"## Reimagine live: an audio track ({scanned['seconds']:.0f} s WAV, 44.1 kHz stereo, house, tier 0)",
        "",
        f"`python scripts/bench_audio_track.py --minutes {args.minutes:g}` on {date.today()}, "
        f"{platform.machine()}: each step in a fresh process; CPU-s of the process (onnxruntime's threads "
        "included).",
        "",
        "| what | figure | unit |",
        "|---|---|---|",
        f"| the scan's analysis (decode, beats, key, transcription), once per file | "
        f"{scanned['scan_cpu'] / minutes:.2f} | CPU-s per minute of audio |",
        f"| peak memory the analysis adds (the loader thread) | {scanned['peak_added']:.0f} | MiB |",
        f"| a restart's scan, the analysis found in the cache | {played['scan_cpu'] * 1000:.0f} | CPU-ms |",
        f"| loading it for the deck (decode, resample to 48 kHz, loudness) | "
        f"{played['decode_cpu'] / minutes:.2f} | CPU-s per minute of audio |",
        f"| peak memory loading adds | {played['decode_peak_added']:.0f} | MiB |",
        f"| the decoded audio (int16 stereo 48 kHz), spooled to a nameless file in the cache folder and "
        f"read a span at a time while it plays | {played['held']:.1f} | MiB |",
        f"| RSS added while the deck plays (its audio, the reimagined engine) | "
        f"{played['rss_playing_added']:.0f} | MiB |",
        f"| RSS added while the same piece plays as a MIDI track (two synths) | "
        f"{midi['rss_playing_added']:.0f} | MiB |",
        f"| the deck: reimagined rendered, audio original laid, mixed | {played['deck']:.4f} | "
        "CPU-s per audio-s |",
        f"| the endless engine alone, same style and blocks | {played['engine']:.4f} | CPU-s per audio-s |",
    ])  # fmt: skip
    print(body)
    if args.out:
        from bench_sections import write_section

        write_section(Path(args.out), "bench_audio_track", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
