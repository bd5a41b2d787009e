"""``edge-music replay SESSION.jsonl``: the session's audio again, bit for bit, as WAV, and/or what was
heard as MIDI (``heard.py``; MIDI carries no content credentials: C2PA has no MIDI format)."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import Counter

from edge.config import Config
from edge.exits import EXIT_OK, UsageError
from edge.generator.registry import TierRegistry
from edge.library.cache import AnalysisCache
from edge.music.style import StyleLibrary
from edge.outputs import check_writable, quiet_logger, raise_if_failed
from edge.render_cli import Progress
from edge.session.heard import write_heard_midi
from edge.session.read import Session, read_session
from edge.session.replay import Replayer, check_fingerprints
from edge.session.tracks import check_tracks
from edge.state import state_path


def replay_command(args: argparse.Namespace, config: Config) -> int:
    """Replay ``args.session`` (bars ``--from-bar``..``--to-bar``) to ``--out`` and/or ``--midi``."""
    if not (args.out or args.midi):
        raise UsageError("replay needs --out FILE.wav and/or --midi FILE.mid")
    paths = [path for path in (args.out, args.midi) if path]
    for path in paths:
        check_writable(path)
    if len(paths) == 2 and os.path.realpath(args.out) == os.path.realpath(args.midi):
        raise UsageError(f"--out and --midi both name {args.out}; give them different files")
    session = read_session(args.session)
    first, last = _bar_range(args, session)
    styles = StyleLibrary(installed=state_path("packs", config.packs.dir))  # as the daemon loads them
    registry = TierRegistry(config.generator.models_dir or None)
    check_fingerprints(session, styles, registry)
    library = state_path("library", config.library.dir)  # the tracks the session played, if any
    check_tracks(session, library)
    started = time.process_time()
    cache = AnalysisCache(state_path("library-cache", config.library.cache_dir))
    replayer = Replayer(session, styles, registry, library, cache)
    try:
        span = _write_audio(args, session, replayer, first, last)
    except UsageError:  # a model, a style or a track file that fails on the way: no partial WAV
        if args.out:
            with contextlib.suppress(OSError):
                os.unlink(args.out)
        raise
    bars = replayer.heard_bars(first, last)
    if not bars:
        if args.out:
            with contextlib.suppress(OSError):
                os.unlink(args.out)
        raise UsageError(f"--from-bar {first}: the session's audio stopped before that bar")
    tiers = [bar.source.removeprefix("tier") for bar in bars]
    label = os.path.basename(args.session)
    if args.out and config.credentials.enabled:
        from edge.credentials.sign import sign_render

        played = [styles.get(name) for name in dict.fromkeys(bar.plan.style for bar in bars)]
        why = sign_render(
            args.out, config, styles=played, seed=session.seed, registry=registry, tiers=tiers,
            parameters={"replay": label, "from_bar": first, "to_bar": first + len(bars) - 1},
            session=session.header["session_id"],
        )  # fmt: skip
        if why:
            print(f"edge-music: warning: {args.out} not signed: {why}", file=sys.stderr)
    if args.midi:  # what was heard in the same frames: the engine's bars and any track's version
        write_heard_midi(replayer, span, args.midi)
    begin, end = span
    by_tier = ", ".join(f"tier {t}: {n}" for t, n in sorted(Counter(tiers).items()))
    print(
        f"edge-music: replayed {label}: bars {first}-{first + len(bars) - 1} ({by_tier}), "
        f"frames {begin}-{end} of the full replay ({(end - begin) / session.header['rate']:.2f} s) to "
        f"{', '.join(paths)} in {time.process_time() - started:.2f} CPU-s",
        file=sys.stderr,
    )
    return EXIT_OK


def _bar_range(args: argparse.Namespace, session: Session) -> tuple[int, int]:
    """(first, last) bar, both included; checked against the bars the session planned."""
    count = session.bar_count
    first = 0 if args.from_bar is None else args.from_bar
    last = count - 1 if args.to_bar is None else args.to_bar
    for flag, value in (("--from-bar", first), ("--to-bar", last)):
        if not 0 <= value < count:
            raise UsageError(f"{flag} {value}: the session has bars 0-{count - 1}")
    if first > last:
        raise UsageError(f"--from-bar {first} is after --to-bar {last}")
    return first, last


def _write_audio(
    args: argparse.Namespace, session: Session, replayer: Replayer, first: int, last: int
) -> tuple[int, int]:
    """Render bars first..last (after everything before them) into ``--out``; their frame span."""
    header = session.header
    whole = args.from_bar is None and args.to_bar is None
    sink = None
    if args.out:
        from edge.audio import WavSink
        from edge.credentials.manifest import info_tags

        tags = info_tags(f"edge-music replay of {os.path.basename(args.session)}", f"bars {first}-{last}")
        sink = WavSink(args.out, rate=header["rate"], channels=header["channels"],
                       format=header["sample_format"], info=tags)  # fmt: skip
    begin = end = None
    progress = Progress(session.blocks * header["block_frames"], enabled=not args.quiet)
    with contextlib.nullcontext() if sink is None else quiet_logger(type(sink).__module__):
        try:
            if sink is not None:
                sink.open()
                raise_if_failed(sink)
            for at, audio in replayer.segment(None if whole else first, None if whole else last):
                begin = at if begin is None else begin
                end = at + len(audio)
                if sink is not None:
                    sink.write(audio)
                    raise_if_failed(sink)
                progress.update(end)
        finally:
            progress.close()
            if sink is not None:
                sink.close()
        if sink is not None:
            raise_if_failed(sink)
    return (begin or 0, end or 0)
