#!/usr/bin/env python3
"""CPU time of ``edge-music analyze`` (``analyse_file``) on small, real and worst-case MIDI files.

    python scripts/bench_analysis.py

Files: the synthetic song (scripts/analysis_pieces.py), two of music21's test files when music21
is installed (the train extra), 120 000 seeded random notes (near the event cap) and 348 000 tiny
events (refused at the cap after mido's parse). Prints a Markdown table (docs/reimagine.md).
"""

from __future__ import annotations

import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import analysis_pieces  # noqa: E402

from edge.analysis.analyse import analyse_file  # noqa: E402
from edge.analysis.midi_in import AnalysisError  # noqa: E402


def one_track(body: bytes) -> bytes:
    body += bytes([0x00, 0xFF, 0x2F, 0x00])
    return b"MThd" + struct.pack(">LHHh", 6, 1, 1, 480) + b"MTrk" + struct.pack(">L", len(body)) + body


def random_notes(count: int, seed: int = 1) -> bytes:
    """``count`` eighth notes of seeded random pitches on 16 channels."""
    rng = np.random.default_rng(seed)
    body = bytearray()
    for pitch, channel in zip(rng.integers(30, 100, count), rng.integers(0, 16, count), strict=True):
        body += bytes([0x00, 0x90 | int(channel), int(pitch), 80, 0x3C, 0x80 | int(channel), int(pitch), 0])
    return one_track(bytes(body))


def tiny_events(count: int) -> bytes:
    """A note on, then ``count`` running-status note on/off pairs at delta 0."""
    return one_track(bytes([0x00, 0x90, 60, 90]) + bytes([0x00, 60, 0, 0x00, 60, 90]) * (count // 2))


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {"the synthetic song": folder / "song.mid"}
        analysis_pieces.piece(9, "minor", "song", ((0, 100.0), (8, 80.0))).save(
            str(files["the synthetic song"])
        )
        try:
            import music21

            base = Path(music21.__file__).parent
            files["music21's omr/k525MIDIMvt1.mid"] = base / "omr/k525MIDIMvt1.mid"
            files["music21's midi/testPrimitive/test04.mid"] = base / "midi/testPrimitive/test04.mid"
        except ImportError:
            pass
        files["120 000 random notes on 16 channels"] = folder / "random.mid"
        files["120 000 random notes on 16 channels"].write_bytes(random_notes(120_000))
        files["348 000 tiny events"] = folder / "tiny.mid"
        files["348 000 tiny events"].write_bytes(tiny_events(348_000))
        print("| file | size | notes | bars | CPU s |")
        print("|---|---:|---:|---:|---:|")
        for name, path in files.items():
            started = time.process_time()
            try:
                analysis = analyse_file(path)
                notes, bars = f"{len(analysis.score.notes):,}", f"{len(analysis.bars):,}"
            except AnalysisError:
                notes, bars = "refused", ""
            spent = time.process_time() - started
            print(f"| {name} | {path.stat().st_size / 1000:.1f} kB | {notes} | {bars} | {spent:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
