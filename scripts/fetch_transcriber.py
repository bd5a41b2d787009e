#!/usr/bin/env python3
"""Fetch basic-pitch's note-transcription model (ONNX) into ``models/transcriber/``, once, by hand.

    python scripts/fetch_transcriber.py [--wheel basic_pitch-0.4.0-py2.py3-none-any.whl]

Downloads Spotify's basic-pitch 0.4.0 wheel from PyPI with ``pip download --no-deps`` (none of its
dependencies: on Python 3.11+ they include tensorflow), takes ``nmp.onnx`` out of it, checks its
sha256 against the one recorded here, and writes the model, a JSON card (source, version, licence,
sha256, inputs and outputs, sample rate, hop) and the licence texts (LICENSE and NOTICE from the
wheel's metadata) beside it. The daemon and ``edge-music analyze`` never download anything: they
read what this script wrote, which is committed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

VERSION = "0.4.0"
WHEEL = f"basic_pitch-{VERSION}-py2.py3-none-any.whl"
MEMBER = "basic_pitch/saved_models/icassp_2022/nmp.onnx"
SHA256 = "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"
LICENCES = (f"basic_pitch-{VERSION}.dist-info/LICENSE", f"basic_pitch-{VERSION}.dist-info/NOTICE")
OUT = Path(__file__).resolve().parent.parent / "models" / "transcriber"


def card(sha: str) -> dict:
    """What the runtime (edge/analysis/audio/transcribe.py) and a reader need to know about the model."""
    return {
        "name": "basic-pitch (ICASSP 2022 model)",
        "file": "nmp.onnx",
        "source": f"https://pypi.org/project/basic-pitch/{VERSION}/ ({WHEEL}, {MEMBER})",
        "project": "https://github.com/spotify/basic-pitch",
        "paper": "Bittner et al., A Lightweight Instrument-Agnostic Model for Polyphonic Note "
        "Transcription and Multipitch Estimation, ICASSP 2022",
        "version": VERSION,
        "licence": "Apache-2.0",
        "licence_files": ["LICENSE", "NOTICE"],
        "copyright": "Copyright 2022 Spotify AB",
        "sha256": sha,
        "sample_rate": 22050,
        "hop": 256,
        "window_samples": 43844,
        "frames_per_window": 172,
        "input": {"name": "serving_default_input_2:0", "shape": ["batch", 43844, 1], "type": "float32",
                  "meaning": "mono audio at 22050 Hz, -1..1"},
        "outputs": {
            "note": {"name": "StatefulPartitionedCall:1", "shape": ["batch", 172, 88],
                     "meaning": "frame activations, MIDI pitch 21..108"},
            "onset": {"name": "StatefulPartitionedCall:2", "shape": ["batch", 172, 88],
                      "meaning": "onset activations, MIDI pitch 21..108"},
            "contour": {"name": "StatefulPartitionedCall:0", "shape": ["batch", 172, 264],
                        "meaning": "pitch contour, 3 bins a semitone from 27.5 Hz"},
        },
        "made_by": "scripts/fetch_transcriber.py",
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a basic-pitch wheel already downloaded")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        wheel = args.wheel
        if wheel is None:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", f"basic-pitch=={VERSION}", "--no-deps",
                 "--only-binary", ":all:", "-d", scratch, "-q"],
                check=True,
            )  # fmt: skip
            wheel = Path(scratch) / WHEEL
        with zipfile.ZipFile(wheel) as archive:
            model = archive.read(MEMBER)
            texts = {Path(name).name: archive.read(name) for name in LICENCES}
    sha = hashlib.sha256(model).hexdigest()
    if sha != SHA256:
        print(f"fetch_transcriber: {MEMBER} has sha256 {sha}, expected {SHA256}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "nmp.onnx").write_bytes(model)
    for name, text in texts.items():
        (args.out / name).write_bytes(text)
    (args.out / "nmp.onnx.json").write_text(json.dumps(card(sha), indent=2) + "\n")
    print(f"fetch_transcriber: wrote {args.out / 'nmp.onnx'} ({len(model)} bytes, sha256 {sha[:12]}...)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
