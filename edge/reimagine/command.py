"""``edge-music reimagine FILE --style S --out new.wav [--midi new.mid]``: a track's second life.

The melody is kept note for note (transposed only with ``--transpose``); the style pack and the
generator tier write the rest: bass, pads, keys, drums and the mix. The same seed gives the same
audio. The output is signed as a composite of the original (its ingredient) and generated parts.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from edge.config import Config
from edge.context.from_config import context_from
from edge.exits import EXIT_OK, UsageError
from edge.generator.registry import TierRegistry
from edge.music.events import Bar
from edge.music.style import StyleLibrary
from edge.outputs import check_writable, quiet_logger, raise_if_failed, write_midi_output
from edge.reimagine.plan import Reimagining, plan_track
from edge.reimagine.render import TAIL_SECONDS, blocks_at_once, piece_frames, scripted_engine, stream
from edge.render.synth import OFFLINE_CHUNK
from edge.state import state_path

#: Blocks rendered between two looks at the temperature in a batch (a few seconds of audio).
CHECK_EVERY_BLOCKS = 256


def reimagine_command(args: argparse.Namespace, config: Config) -> int:
    """Analyse ``args.file``, plan it in the style, render it; returns the exit code."""
    if getattr(args, "batch", None):
        from edge.reimagine.batch import batch_command

        return batch_command(args, config)
    if not args.file:
        raise UsageError("reimagine needs a FILE (or --batch DIR --out OUTDIR)")
    print(reimagine_file(args, config), file=sys.stderr)
    return EXIT_OK


def reimagine_file(
    args: argparse.Namespace, config: Config, check: Callable[[], object] | None = None
) -> str:
    """Reimagine one file as ``args`` say; returns the summary line. ``check`` is called between chunks."""
    from edge.analysis.analyse import analyse_file

    if not (args.out or args.midi):
        raise UsageError("reimagine needs --out FILE.wav and/or --midi FILE.mid")
    if not -24 <= args.transpose <= 24:
        raise UsageError(f"--transpose {args.transpose} must be between -24 and 24")
    if args.tempo is not None and not 40 <= args.tempo <= 240:
        raise UsageError(f"--tempo {args.tempo:g} must be between 40 and 240")
    outputs = [p for p in (args.out, args.midi) if p]
    for path in outputs:
        check_writable(path)
    if len(outputs) == 2 and os.path.realpath(args.out) == os.path.realpath(args.midi):
        raise UsageError(f"--out and --midi both name {args.out}; give them different files")
    if any(os.path.realpath(p) == os.path.realpath(args.file) for p in outputs):
        raise UsageError(f"{args.file} is the input; write the new version to another file")
    started = time.process_time()
    analysis = analyse_file(args.file)
    styles = StyleLibrary(installed=state_path("packs", config.packs.dir))
    context = context_from(config, style=args.style, mood=args.mood, energy=args.energy)
    style = styles.get(context.style)
    how = Reimagining(
        energy=context.energy, tempo=args.tempo, keep_chords=not args.reharmonize, transpose=args.transpose
    )
    plans = plan_track(analysis, style, how)
    registry = TierRegistry(config.generator.models_dir or None)
    tier = registry.resolve(args.tier or config.generator.tier)
    seed = args.seed if args.seed is not None else config.music.seed
    if seed < 0:
        seed = random.SystemRandom().randrange(2**32)
        print(f"edge-music: seed {seed}", file=sys.stderr)
    bars: list[Bar] = []
    rate, block = config.audio.rate, config.audio.period_frames
    engine = scripted_engine(
        plans, styles, context, seed, rate=rate, block=block, registry=registry, tier=tier,
        sampling=(config.generator.temperature, config.generator.top_p), on_bar=bars.append,
        effect_chunk=OFFLINE_CHUNK,
    )  # fmt: skip
    total = piece_frames(plans, rate)
    if args.out:
        title = f"{Path(args.file).name} reimagined as {style.name}"
        at_once = blocks_at_once(plans, style, rate, block)
        _write_wav(args.out, engine, total, config, title, check, at_once)
    else:  # MIDI only: the notes come from scheduling the bars; nothing renders their effects or mix
        every = block * CHECK_EVERY_BLOCKS
        while not engine.conductor.finished:
            done = engine.scheduled_until
            engine.schedule_next_bar()
            if check is not None and _crossed(done, engine.scheduled_until - done, every):
                check()
    if args.midi:
        write_midi_output(bars, args.midi)
    cpu = time.process_time() - started
    if args.out and config.credentials.enabled:
        from edge.credentials.sign import sign_render

        why = sign_render(
            args.out, config, styles=[style], seed=seed, registry=registry,
            tiers=[b.source.removeprefix("tier") for b in bars], original=Path(args.file),
            parameters={"reimagined": Path(args.file).name, "keep_chords": how.keep_chords,
                        "transpose": how.transpose, "tempo": round(plans[0].tempo, 2),
                        **({"estimated": list(analysis.audio.estimated)} if analysis.audio else {})},
        )  # fmt: skip
        if why:
            print(f"edge-music: warning: {args.out} not signed: {why}", file=sys.stderr)
    sources = Counter(b.source.removeprefix("tier") for b in bars)
    by_tier = ", ".join(f"tier {t}: {n}" for t, n in sorted(sources.items()))
    written, chords = ", ".join(outputs), "kept" if how.keep_chords else "new"
    estimated = ""
    if analysis.audio is not None:
        estimated = (
            f"; {args.file} is audio: its {', '.join(analysis.audio.estimated)} are estimated "
            f"({analysis.audio.transcribed_notes} notes transcribed, "
            f"{len(analysis.melody.notes)} in the melody)"
        )
    return (
        f"edge-music: reimagined {args.file} as {style.name} ({len(plans)} bars at {plans[0].tempo:.0f} "
        f"BPM, {chords} chords, seed {seed}; {by_tier}) to {written} in {cpu:.2f} CPU-s{estimated}"
    )


def _write_wav(
    path: str, engine, total: int, config: Config, title: str, check=None, at_once: int = 1
) -> None:
    from edge.audio import WavSink
    from edge.credentials.manifest import info_tags

    audio = config.audio
    sink = WavSink(path, rate=audio.rate, channels=audio.channels, format=audio.format,
                   info=info_tags(title, "AI-generated music over the original's melody"))  # fmt: skip
    with quiet_logger(type(sink).__module__):
        try:
            sink.open()
            raise_if_failed(sink)
            period = audio.period_frames
            for done, block in stream(engine, total, period, round(TAIL_SECONDS * audio.rate), at_once):
                if check is not None and _crossed(done, len(block), period * CHECK_EVERY_BLOCKS):
                    check()
                sink.write(block if audio.channels == 2 else block.mean(axis=1, keepdims=True))
                raise_if_failed(sink)
        finally:
            sink.close()
        raise_if_failed(sink)


def _crossed(done: int, frames: int, every: int) -> bool:
    """True when the block of ``frames`` from ``done`` reaches a multiple of ``every`` (not at 0)."""
    return (done + frames) // every > done // every
