"""The ``edge-music`` command line: run, render, reimagine, analyze, replay, report, doctor,
verify, credentials, credits, about, config, pack.

Errors a user can cause (a bad flag value, a broken config or style pack, an
output that cannot be written) print one line and exit 2 before any work; an
output that fails while being written prints one line and exits 1. Neither
shows a traceback. The codes live in ``edge.exits``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from edge import __version__
from edge.config import Config, ConfigError, load, to_toml
from edge.context.context import ACTIVITIES, MOODS, ContextError
from edge.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, OutputError, UsageError
from edge.music.style import StyleError
from edge.outputs import write_stdout


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-music",
        description="Endless, context-adaptive generative music for Raspberry Pi-class boards.",
    )
    parser.add_argument("--version", action="version", version=f"edge-music {__version__}")
    parser.add_argument("--config", metavar="PATH", help="TOML config (default /etc/edge-music/config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the daemon: play, listen to MQTT and GPIO")
    run.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")

    render = sub.add_parser("render", help="render music offline to a WAV and/or MIDI file")
    render.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    render.add_argument("--seconds", type=float, default=30.0, help="length in seconds (default 30)")
    render.add_argument("--style", help="style pack (default from the config)")
    render.add_argument("--mood", help=f"named mood ({', '.join(MOODS)}) or 'valence,arousal' in -1..1")
    render.add_argument("--activity", help=f"one of {', '.join(ACTIVITIES)}")
    render.add_argument("--energy", type=float, help="0..1")
    render.add_argument("--tempo", type=float, help="target BPM (default: chosen by activity and mood)")
    render.add_argument("--key", help="tonic such as D or F#, or auto")
    render.add_argument(
        "--seed", type=int, help="seed: the same seed gives the same audio, sample for sample"
    )
    render.add_argument(
        "--tier",
        choices=("auto", "0", "S", "M", "L"),
        help="generator tier: 0 = procedural, S/M/L = neural (default: generator.tier, auto = the best)",
    )
    render.add_argument("--out", metavar="FILE.wav", help="WAV file to write")
    render.add_argument("--midi", metavar="FILE.mid", help="also write the notes as a MIDI file")
    render.add_argument("--null", action="store_true", help="render into the null sink (benchmarks)")
    render.add_argument("--quiet", action="store_true", help="no progress bar")

    from edge.reimagine.arguments import add_arguments as reimagine_arguments

    reimagine_arguments(sub.add_parser("reimagine", help="re-produce a track in a style, keeping its melody"))

    doctor = sub.add_parser("doctor", help="check sound devices, sensors, broker, models and GPIO")
    doctor.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")

    verify = sub.add_parser("verify", help="check a WAV file's content credentials (C2PA manifest)")
    verify.add_argument("file", metavar="FILE", help="WAV file to check")

    creds = sub.add_parser(
        "credentials", help="show the signing certificate (--init creates the device's own)"
    )
    creds.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    creds.add_argument("--init", action="store_true", help="create the device CA and signing key if missing")

    analyze = sub.add_parser(
        "analyze", help="analyse a MIDI, MusicXML, ABC or audio file: tempo, key, melody, chords, sections"
    )
    analyze.add_argument(
        "file",
        metavar="FILE",
        help="MIDI (.mid), MusicXML (.musicxml/.mxl/.xml), ABC (.abc) or audio (.wav, .flac, .mp3)",
    )
    analyze.add_argument("--json", action="store_true", help="print JSON instead of a summary")
    credits = sub.add_parser("credits", help="print who the music played so far credits (the ledger)")
    credits.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    credits.add_argument("--since", metavar="DATE", help="from this day on (YYYY-MM-DD or today)")
    credits.add_argument("--json", action="store_true", help="print JSON")

    about = sub.add_parser("about", help="say what the music is made of: AI, style packs, models, sources")
    about.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    about.add_argument("--json", action="store_true", help="print JSON")

    replay = sub.add_parser("replay", help="play a session log again, bit for bit, to WAV and/or MIDI")
    replay.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    replay.add_argument("session", metavar="SESSION.jsonl", help="a session log (see [session] dir)")
    replay.add_argument("--out", metavar="FILE.wav", help="WAV file to write")
    replay.add_argument("--midi", metavar="FILE.mid", help="write the notes as a MIDI file")
    replay.add_argument("--from-bar", type=int, metavar="A", help="first bar (bars count from 0)")
    replay.add_argument("--to-bar", type=int, metavar="B", help="last bar, included")
    replay.add_argument("--quiet", action="store_true", help="no progress bar")

    report = sub.add_parser("report", help="draw a session log's timeline (needs the eval extra)")
    report.add_argument("session", metavar="SESSION.jsonl", help="a session log (see [session] dir)")
    report.add_argument("--png", metavar="FILE.png", required=True, help="picture to write")

    config = sub.add_parser("config", help="print the effective config")
    config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    config.add_argument("--example", action="store_true", help="print a commented example config")

    pack = sub.add_parser("pack", help="install, list, remove or check sound-world packs")
    pack.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    packs = pack.add_subparsers(dest="pack_command", metavar="ACTION", required=True)
    install = packs.add_parser("install", help="check a pack (folder, .tar.gz or .zip) and install it")
    install.add_argument("source", metavar="PATH|ARCHIVE", help="the pack's folder, .tar.gz or .zip")
    install.add_argument("--force", action="store_true", help="replace an installed pack of the same name")
    packs.add_parser("list", help="the installed packs")
    remove = packs.add_parser("remove", help="remove an installed pack")
    remove.add_argument("name", metavar="NAME", help="the pack's name")
    check = packs.add_parser("check", help="check a pack without installing it: one line per problem")
    check.add_argument("source", metavar="PATH", help="the pack's folder, .tar.gz or .zip")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "verify":  # needs no config: it reads only the file
            from edge.credentials.verify import verify_command

            return verify_command(args.file)
        if args.command == "analyze":  # needs no config either
            from edge.analysis.command import analyze_command

            return analyze_command(args.file, args.json)
        if args.command == "report":  # needs no config: it reads only the log
            from edge.session.report import report_command

            return report_command(args.session, args.png)
        if args.command == "config" and args.example:
            write_stdout(to_toml(Config(), commented=True))
            return EXIT_OK
        config = load(args.config)
        if args.command == "config":
            write_stdout(to_toml(config))
            return EXIT_OK
        if args.command == "render":
            from edge.render_cli import render_command

            return render_command(args, config)
        if args.command == "reimagine":
            from edge.reimagine.command import reimagine_command

            return reimagine_command(args, config)
        if args.command == "credentials":
            from edge.credentials.command import credentials_command

            return credentials_command(config, args.init)
        if args.command == "replay":
            from edge.session.replay_cli import replay_command

            return replay_command(args, config)
        if args.command == "pack":
            from edge.packs.command import pack_command

            return pack_command(args, config)
        if args.command in ("credits", "about"):
            from edge.ledger import commands

            command = commands.credits_command if args.command == "credits" else commands.about_command
            return command(args, config)
        if args.command == "doctor":
            from edge.doctor import doctor_command

            return doctor_command(config)
        from edge.daemon import run_daemon

        return run_daemon(config, args.config)
    except (ConfigError, StyleError, ContextError, UsageError) as exc:
        print(f"edge-music: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except OutputError as exc:
        if str(exc):
            print(f"edge-music: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
