"""``edge-music reimagine --batch DIR --out OUTDIR [--midi MIDIDIR]``: a folder, paced by the temperature.

Every MIDI, MusicXML and ABC file directly in DIR, in name order, is reimagined with the other
flags (style, tempo, mood, seed...) to ``OUTDIR/<name>.wav`` (and ``MIDIDIR/<name>.mid``). One line
a file: done, skipped with the reason (it could not be reimagined), or ignored (not a track: a
README, a cover image). Between files and every few seconds of audio the ``Pacer`` slows or
pauses while the SoC is warm (``edge.reimagine.pacing``). Exit 0 when every track was done, 1
when any was skipped; 2 when DIR or OUTDIR is wrong (then nothing is done).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import Config
from edge.exits import EXIT_FAILED, EXIT_OK, OutputError, UsageError
from edge.reimagine.pacing import Pacer

INPUTS = (".mid", ".midi", ".kar", ".rmi", ".musicxml", ".xml", ".mxl", ".abc", ".wav", ".flac", ".mp3")
"""The suffixes a batch reimagines (other files are listed as skipped)."""


def batch_files(folder: Path) -> list[Path]:
    """The regular, non-hidden files directly in ``folder``, in a stable (name) order."""
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    return sorted(files, key=lambda p: p.name)


def batch_command(args: argparse.Namespace, config: Config, pacer: Pacer | None = None) -> int:
    """Reimagine every file of ``args.batch``; returns 0 when all were done, else 1."""
    folder = Path(args.batch)
    if args.file:
        raise UsageError(f"give either FILE ({args.file}) or --batch {args.batch}, not both")
    if not folder.is_dir():
        raise UsageError(f"--batch {args.batch}: not a folder")
    if not (args.out or args.midi):
        raise UsageError("reimagine --batch needs --out OUTDIR (WAV files) and/or --midi MIDIDIR")
    files = batch_files(folder)
    if not files:
        raise UsageError(f"--batch {args.batch}: no files in the folder")
    wanted = {flag: value for flag, value in (("--out", args.out), ("--midi", args.midi)) if value}
    if any(Path(v).resolve() == folder.resolve() for v in wanted.values()):
        raise UsageError(f"--batch {args.batch} is also an output folder; write the new versions elsewhere")
    outs = {flag: _out_dir(flag, value) for flag, value in wanted.items()}
    from edge.reimagine.command import reimagine_file

    pacer = pacer or Pacer(config.thermal, report=lambda line: print(f"edge-music: {line}", file=sys.stderr))
    failed = ignored = 0
    for path in files:
        if path.suffix.lower() not in INPUTS:
            print(f"edge-music: ignored {path}: not a MIDI, MusicXML or ABC file", file=sys.stderr)
            ignored += 1
            continue
        pacer.check()
        one = argparse.Namespace(**vars(args))
        one.file, one.batch = str(path), None
        one.out = str(outs["--out"] / f"{path.stem}.wav") if "--out" in outs else None
        one.midi = str(outs["--midi"] / f"{path.stem}.mid") if "--midi" in outs else None
        try:
            line = reimagine_file(one, config, pacer.check)
            print(line.replace("edge-music: reimagined", "edge-music: done", 1), file=sys.stderr)
        except (UsageError, OutputError) as exc:
            print(f"edge-music: skipped {path}: {_without_path(str(exc), path)}", file=sys.stderr)
            failed += 1
    done = len(files) - failed - ignored
    print(f"edge-music: batch: {done} of {done + failed} tracks done, {failed} skipped", file=sys.stderr)
    return EXIT_OK if not failed else EXIT_FAILED


def _out_dir(flag: str, value: str) -> Path:
    path = Path(value)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {value}: cannot create the folder: {exc.strerror or exc}") from None
    if not path.is_dir():
        raise UsageError(f"{flag} {value}: not a folder")
    return path


def _without_path(message: str, path: Path) -> str:
    """An analysis error names the file first; the batch line already does."""
    return message.removeprefix(f"{path}: ")
