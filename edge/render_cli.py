"""``edge-music render``: the engine run offline as fast as the CPU allows."""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter

import numpy as np

from edge.config import Config
from edge.context.from_config import context_from
from edge.engine import Engine
from edge.exits import UsageError
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary

FADE_OUT_SECONDS = 1.0


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
    registry = TierRegistry(config.generator.models_dir or None)
    tier = args.tier or config.generator.tier
    if tier == "auto":
        tier = registry.best_at_most("L")
    elif tier not in registry.available:
        why = registry.disabled.get(tier, "not in the models' manifest")
        raise UsageError(f"--tier {tier}: {why} (usable tiers: {', '.join(registry.available)})")
    styles = StyleLibrary()
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
    )  # fmt: skip

    sink = None
    if args.out:
        from edge.audio import WavSink

        sink = WavSink(args.out, rate=rate, channels=config.audio.channels, format=config.audio.format)
        sink.open()
    total = round(args.seconds * rate)
    fade_frames = min(total, int(FADE_OUT_SECONDS * rate))
    progress = Progress(args.seconds, enabled=not args.quiet)
    started = time.process_time()
    done = 0
    try:
        while done < total:
            frames = min(block, total - done)
            remaining = (total - done) / rate
            last = engine.last_bar
            engine.ending = last is not None and remaining < 3 * last.seconds
            audio = engine.render_block(frames)
            audio = _fade_tail(audio, done, total, fade_frames)
            if sink is not None:
                sink.write(audio if config.audio.channels == 2 else audio.mean(axis=1, keepdims=True))
            done += frames
            progress.update(done / rate)
    finally:
        progress.close()
        if sink is not None:
            sink.close()
    cpu = time.process_time() - started
    if args.midi:
        from edge.music.midi import write_midi

        write_midi(bars, args.midi)
    outputs = ", ".join(p for p in (args.out, args.midi) if p) or "null sink"
    sources = Counter(bar.source.removeprefix("tier") for bar in bars)
    by_tier = ", ".join(f"tier {t}: {n}" for t, n in sorted(sources.items()))
    print(
        f"edge-music: rendered {args.seconds:g} s of {context.style} (seed {seed}, {len(bars)} bars; "
        f"{by_tier}) to {outputs} in {cpu:.2f} CPU-s",
        file=sys.stderr,
    )
    return 0


def _fade_tail(audio: np.ndarray, start: int, total: int, fade_frames: int) -> np.ndarray:
    """Fade the last ``fade_frames`` of the render so the file never ends on a click."""
    fade_start = total - fade_frames
    end = start + len(audio)
    if end <= fade_start or fade_frames == 0:
        return audio
    positions = np.arange(start, end, dtype=np.float32)
    gain = np.clip((total - positions) / fade_frames, 0.0, 1.0).astype(np.float32)
    return audio * gain[:, None]
