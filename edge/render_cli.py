"""``edge-music render``: the engine run offline as fast as the CPU allows."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import time
from collections import Counter

from edge.config import Config
from edge.context.from_config import context_from
from edge.engine import Engine
from edge.exits import EXIT_OK, UsageError
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary
from edge.outputs import check_writable, fade_tail, quiet_logger, raise_if_failed, write_midi_output
from edge.state import state_path

FADE_OUT_SECONDS = 1.0
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - 64
"""RIFF sizes are 32-bit: the most audio one WAV file holds (the WAV sink stops there too)."""


class Progress:
    """A one-line progress bar on a terminal; silent when stderr is not a TTY."""

    def __init__(self, total: float, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._last = -1

    def update(self, done: float) -> None:
        if not self.enabled:
            return
        percent = int(100 * min(1.0, done / self.total))
        if percent != self._last:
            self._last = percent
            filled = percent * 30 // 100
            sys.stderr.write(f"\rrendering [{'#' * filled}{'.' * (30 - filled)}] {percent:3d}% ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def render_command(args: argparse.Namespace, config: Config) -> int:
    """Render ``args.seconds`` of music to the requested outputs; returns the exit code."""
    if not (args.out or args.midi or args.null):
        raise UsageError("render needs --out FILE.wav, --midi FILE.mid or --null")
    if not math.isfinite(args.seconds) or not 0 < args.seconds <= 24 * 3600:
        raise UsageError(f"--seconds {args.seconds} must be between 0 and 86400")
    _check_outputs(args, config)  # before any work: a bad path creates nothing and renders nothing
    registry = TierRegistry(config.generator.models_dir or None)
    tier = registry.resolve(args.tier or config.generator.tier)
    styles = StyleLibrary(installed=state_path("packs", config.packs.dir))
    context = context_from(
        config,
        style=args.style,
        mood=args.mood,
        activity=args.activity,
        energy=args.energy,
        tempo=args.tempo,
        key=args.key,
    )
    styles.get(context.style)  # unknown style: one clear line before any work
    seed = args.seed if args.seed is not None else config.music.seed
    if seed < 0:
        seed = random.SystemRandom().randrange(2**32)
        print(f"edge-music: seed {seed}", file=sys.stderr)
    rate = config.audio.rate
    block = config.audio.period_frames
    bars = []
    engine = Engine(
        styles, lambda: context, seed, sample_rate=rate, block_frames=block, on_bar=bars.append,
        registry=registry, tier=tier, sampling=(config.generator.temperature, config.generator.top_p),
        loudness_lufs=config.audio.loudness_lufs,
    )  # fmt: skip

    sink = None
    if args.out:
        from edge.audio import WavSink
        from edge.credentials.manifest import info_tags

        tags = info_tags(f"edge-music {context.style}, seed {seed}", f"{args.seconds:g} s, tier {tier}")
        sink = WavSink(args.out, rate=rate, channels=config.audio.channels, format=config.audio.format,
                       info=tags)  # fmt: skip
    total = round(args.seconds * rate)
    fade_frames = min(total, int(FADE_OUT_SECONDS * rate))
    progress = Progress(args.seconds, enabled=not args.quiet)
    started = time.process_time()
    done = 0
    # The WAV sink logs a write failure and drops audio (the daemon must keep playing);
    # an offline render instead stops and reports it as its one error line.
    with contextlib.nullcontext() if sink is None else quiet_logger(type(sink).__module__):
        try:
            if sink is not None:
                sink.open()
                raise_if_failed(sink)
            while done < total:
                frames = min(block, total - done)
                remaining = (total - done) / rate
                last = engine.last_bar
                engine.ending = last is not None and remaining < 3 * last.seconds
                audio = engine.render_block(frames)
                audio = fade_tail(audio, done, total, fade_frames)
                if sink is not None:
                    sink.write(audio if config.audio.channels == 2 else audio.mean(axis=1, keepdims=True))
                    raise_if_failed(sink)
                done += frames
                progress.update(done / rate)
        finally:
            progress.close()
            if sink is not None:
                sink.close()
        if sink is not None:
            raise_if_failed(sink)  # the final header patch can fail too
    cpu = time.process_time() - started
    if sink is not None and config.credentials.enabled:
        from edge.credentials.sign import sign_render

        why = sign_render(
            args.out, config, styles=[styles.get(context.style)], seed=seed, registry=registry,
            tiers=[bar.source.removeprefix("tier") for bar in bars], parameters={"seconds": args.seconds},
        )  # fmt: skip
        if why:  # the music is written all the same; one line says why it carries LIST/INFO only
            print(f"edge-music: warning: {args.out} not signed: {why}", file=sys.stderr)
    if args.midi:
        write_midi_output(bars, args.midi)
    outputs = ", ".join(p for p in (args.out, args.midi) if p) or "null sink"
    sources = Counter(bar.source.removeprefix("tier") for bar in bars)
    by_tier = ", ".join(f"tier {t}: {n}" for t, n in sorted(sources.items()))
    print(
        f"edge-music: rendered {args.seconds:g} s of {context.style} (seed {seed}, {len(bars)} bars; "
        f"{by_tier}) to {outputs} in {cpu:.2f} CPU-s",
        file=sys.stderr,
    )
    return EXIT_OK


def _check_outputs(args: argparse.Namespace, config: Config) -> None:
    """Every output path can be written, the two are different files, the WAV fits its format."""
    paths = [path for path in (args.out, args.midi) if path]
    for path in paths:
        check_writable(path)
    if len(paths) == 2 and os.path.realpath(args.out) == os.path.realpath(args.midi):
        raise UsageError(f"--out and --midi both name {args.out}; give them different files")
    if args.out:
        from edge.audio.pcm import sample_width

        audio = config.audio
        frame_bytes = audio.channels * sample_width(audio.format)
        longest = WAV_MAX_DATA_BYTES // (audio.rate * frame_bytes)
        if round(args.seconds * audio.rate) * frame_bytes > WAV_MAX_DATA_BYTES:
            raise UsageError(
                f"--seconds {args.seconds:g}: a WAV file holds at most 4 GiB, {longest} s at "
                f"{audio.rate} Hz {audio.format} x {audio.channels}; render in parts or use --midi"
            )
