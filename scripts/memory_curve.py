#!/usr/bin/env python3
"""The daemon's memory over hours of music, in minutes: RSS against minutes of audio played.

The real engine and player render into a null sink as fast as the CPU allows, with the model
tier loaded as the daemon loads it and the style switched every 2-5 s of audio (like the soak's
MQTT commands). ``make soak`` is the real-time test; this shows the shape of the curve over far
longer than a soak can run, and what edge.malloc changes (``--glibc-defaults`` leaves it out).

    python scripts/memory_curve.py --minutes 120 --tier L [--track-minutes 10 [--audio-minutes 2]]

``--audio-minutes``: the library track is an audio file that long (bench_audio_track.py's: the test
piece rendered and repeated), analysed beforehand in a child process as the scan would (so the
transcriber's memory is not counted), then decoded and played as its deck's original.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))  # analysis_pieces, the library track's test piece

from edge import malloc  # noqa: E402

STYLES = ("focus", "workout", "ambient", "house")


def curve(
    minutes: float,
    tier: str,
    tuned: bool,
    every_s: float,
    seed: int = 1,
    track_minutes: float = 0.0,
    audio: Path | None = None,
) -> list[tuple[float, float]]:
    """(minutes of audio, RSS MiB) samples while ``minutes`` of audio play; then, with
    ``track_minutes``, a library track (house, repeating) plays that long on a deck, as the
    daemon's reimagine-live stage plays one, while the engine rests. ``audio``: a folder made by
    ``prepare_audio``, whose audio track plays instead of the MIDI one."""
    if tuned:
        malloc.tune()
    from edge.audio.player import Player
    from edge.audio.sinks import NullSink
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.generator.registry import TierRegistry
    from edge.library.stage import Stage
    from edge.music.style import StyleLibrary
    from edge.render.sampled import prepare_soundfonts

    library = StyleLibrary()
    # As the daemon does when it loads the packs: their SoundFonts trimmed to what they play.
    packs = library.packs.values()
    prepare_soundfonts([p.sampled for p in pack.instruments.values() if p.sampled] for pack in packs)
    registry = TierRegistry()
    if tier != "0":  # as the daemon's governor loads a tier: it and the one below
        registry.session(tier)
        registry.session(registry.below(tier))
    context = {"now": Context(style="focus")}
    engine = Engine(library, lambda: context["now"], seed=seed, registry=registry, tier=tier)
    # What the daemon's player plays: the engine, then a library track (edge/library/live.py's wiring).
    stage = Stage(engine.render_block, 48000, on_engine_idle=lambda: engine.synth.rest())
    # An audio track is decoded first (seconds of CPU, in which the null sink would play on far past
    # where the track should start); the daemon's loader thread decodes it while the engine plays.
    track = audio_track(library, audio) if audio is not None and track_minutes > 0 else None
    player = Player(
        NullSink(), stage.render_block, period_frames=1024, rate=48000, buffer_seconds=0.5, fade_ms=20
    )
    process = psutil.Process()
    rng = random.Random(seed)
    samples: list[tuple[float, float]] = []
    switch_at = last_trim = 0.0
    player.start()
    try:
        while (played := player.stats.frames_written / 48000) < (minutes + track_minutes) * 60:
            if played >= minutes * 60 and stage.deck is None:
                stage.play(library_track(library, registry, tier, seed, track))  # as the loader thread does
                time.sleep(0.1)
            elif played >= switch_at and played < minutes * 60:
                context["now"] = Context(style=rng.choice(STYLES))
                switch_at = played + rng.uniform(2.0, 5.0)
            if tuned and time.monotonic() - last_trim >= 0.2:  # the daemon trims every 10 s of wall time
                malloc.give_back()
                last_trim = time.monotonic()
            if not samples or played - samples[-1][0] * 60 >= every_s:
                samples.append((played / 60, process.memory_info().rss / 2**20))
            time.sleep(0.005)
    finally:
        player.stop(fade=False)
    return samples


def library_track(library, registry, tier: str, seed: int, audio: tuple | None = None):
    """A deck playing a 16-bar test piece (scripts/analysis_pieces.py) reimagined in house; with
    ``audio`` (``audio_track``'s analysis and decoded samples), its audio rendition."""
    import analysis_pieces

    from edge.context.context import Context
    from edge.library.deck import build_deck
    from edge.library.scan import scan

    if audio is not None:
        analysis, decoded = audio
    else:
        decoded = None
        with tempfile.TemporaryDirectory() as folder:
            analysis_pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(Path(folder) / "song.mid"))
            analysis = scan(Path(folder), library.get("house")).tracks["song"].analysis
    return build_deck(
        "song", analysis, library, Context(style="house"), seed, rate=48000, block=1024,
        registry=registry, tier=tier, sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=True, audio=decoded,
    )  # fmt: skip


def audio_track(library, folder: Path) -> tuple:
    """The analysis (from the cache ``prepare_audio`` filled) and the decoded samples of its track,
    spooled to ``folder`` as the daemon's loader thread spools them to its cache folder."""
    from edge.library.cache import AnalysisCache
    from edge.library.original_audio import decode_original
    from edge.library.scan import scan
    from edge.render.master import REFERENCE_LUFS

    cache = AnalysisCache(folder / "cache")
    track = scan(folder / "library", library.get("house"), cache=cache).tracks["track"]
    decoded = decode_original(track.path, track.sha256, 48000, REFERENCE_LUFS, 900.0, spool_dir=folder)
    return track.analysis, decoded


def prepare_audio(folder: Path, minutes: float) -> None:
    """``folder``/library/track.wav (bench_audio_track.py's track, ``minutes`` long) and its analysis
    in ``folder``/cache, in a child process: the scan's transcriber never runs in the measured one."""
    command = [sys.executable, __file__, "--prepare-audio", str(folder), "--audio-minutes", str(minutes)]
    subprocess.run(command, check=True)


def _prepare_audio_here(folder: Path, minutes: float) -> None:
    from bench_audio_track import make_track

    from edge.library.cache import AnalysisCache
    from edge.library.scan import scan
    from edge.music.style import StyleLibrary

    (folder / "library").mkdir(parents=True, exist_ok=True)
    make_track(folder / "library", minutes)
    (folder / "library" / "song.mid").unlink()
    scan(folder / "library", StyleLibrary().get("house"), cache=AnalysisCache(folder / "cache"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=120.0, help="minutes of audio to play")
    parser.add_argument("--tier", default="L", choices=("0", "S", "M", "L"))
    parser.add_argument("--every", type=float, default=30.0, help="seconds of audio between samples")
    parser.add_argument("--glibc-defaults", action="store_true", help="leave edge.malloc out")
    parser.add_argument(
        "--track-minutes", type=float, default=0.0, help="then a library track plays this long on a deck"
    )
    parser.add_argument(
        "--audio-minutes", type=float, default=0.0, help="the track is an audio file this long (0: MIDI)"
    )
    parser.add_argument("--prepare-audio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_audio:
        _prepare_audio_here(Path(args.prepare_audio), args.audio_minutes)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        audio = None
        if args.track_minutes > 0 and args.audio_minutes > 0:
            audio = Path(folder)
            prepare_audio(audio, args.audio_minutes)
        samples = curve(
            args.minutes, args.tier, not args.glibc_defaults, args.every, track_minutes=args.track_minutes,
            audio=audio,
        )  # fmt: skip
    rss = np.array([r for m, r in samples])
    minutes = np.array([m for m, r in samples])
    print(f"tier {args.tier}, {'glibc defaults' if args.glibc_defaults else 'edge.malloc'}:")
    if args.track_minutes > 0:
        track = rss[minutes >= args.minutes + 0.25]
        kind = f"an audio track ({args.audio_minutes:g} min)" if args.audio_minutes > 0 else "a library track"
        if len(track):
            print(f"  {kind} playing: RSS mean {track.mean():6.1f} MiB, max {track.max():6.1f}")
        rss, minutes = rss[minutes < args.minutes], minutes[minutes < args.minutes]
    for a, b in ((1, 10), (10, 30), (30, 60), (60, 120), (120, 240)):
        window = rss[(minutes >= a) & (minutes < b)]
        if len(window):
            print(
                f"  minutes {a:>3}-{b:<3} RSS mean {window.mean():6.1f} MiB,"
                f" min {window.min():6.1f}, max {window.max():6.1f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
