"""The flags of ``edge-music reimagine`` (kept apart so the parser loads nothing heavy)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``reimagine`` subcommand's flags."""
    parser.add_argument(
        "file", metavar="FILE", nargs="?", help="the track: MIDI, MusicXML (.musicxml/.mxl) or ABC"
    )
    parser.add_argument(
        "--batch", metavar="DIR", help="reimagine every file in DIR (--out and --midi name folders then)"
    )
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="TOML config file")
    parser.add_argument("--style", help="style pack of the new version (default from the config)")
    parser.add_argument("--mood", help="named mood or 'valence,arousal': sets the energy of the arc")
    parser.add_argument("--energy", type=float, help="0..1 (default from the mood and the config)")
    parser.add_argument(
        "--tempo", type=float, help="BPM of the new version (default: the original's, in the style's range)"
    )
    harmony = parser.add_mutually_exclusive_group()
    harmony.add_argument("--keep-chords", action="store_true", help="keep the analysed harmony (the default)")
    harmony.add_argument(
        "--reharmonize", action="store_true", help="choose chords that fit the melody and the style"
    )
    parser.add_argument(
        "--transpose", type=int, default=0, help="semitones to move the melody (default 0: as written)"
    )
    parser.add_argument("--seed", type=int, help="seed: the same seed gives the same audio")
    parser.add_argument(
        "--tier", choices=("auto", "0", "S", "M", "L"), help="generator tier (default generator.tier)"
    )
    parser.add_argument("--out", metavar="FILE.wav", help="WAV file to write (with --batch: a folder)")
    parser.add_argument(
        "--midi", metavar="FILE.mid", help="also write the new version as MIDI (with --batch: a folder)"
    )
