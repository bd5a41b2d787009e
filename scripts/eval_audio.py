#!/usr/bin/env python3
"""How well ``edge-music analyze`` reads audio: key, tempo and melody of pieces whose answers are known.

    python scripts/eval_audio.py [--soundfont /usr/share/sounds/sf2/FluidR3_GM.sf2] [--kinds song,scale]

Every piece of ``scripts/analysis_pieces.py`` (3 kinds x 24 keys), at a steady tempo (the first
tempo of its plan, 72-138 BPM), is rendered to a 44.1 kHz WAV by FluidSynth's command line (a
real synthesizer, outside this project) and analysed. Reported:

- key: the MIREX weighted score (``edge.analysis.key.mirex_score``), from the chroma (what
  ``analyze`` uses) and, for comparison, from the transcribed notes' durations;
- tempo: right within 4 %; an octave error (half, double, a third or three times, within 4 %)
  is counted apart; else wrong;
- melody: note F1 of the analysis' melody against the piece's Melody track, a match being the same
  MIDI pitch with onsets within 50 ms, each note matched once (mir_eval's onset-only note
  F-measure); also with the pitch taken modulo the octave, and the transcription's F1 against
  every pitched note of the piece (all parts), to show what limits the melody.

Needs the ``fluidsynth`` command and a General MIDI SoundFont (scripts/install-deps.sh bench).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

from edge.analysis.analyse import analyse_file  # noqa: E402
from edge.analysis.key import Key, estimate_key, mirex_score, pitch_class_profile  # noqa: E402
from edge.analysis.midi_in import read_midi  # noqa: E402

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2")  # fmt: skip
ONSET_TOLERANCE = 0.05
"""Seconds an onset may miss by (mir_eval's default)."""


def render(midi: Path, wav: Path, soundfont: str) -> None:
    """``midi`` to a 44.1 kHz stereo WAV through FluidSynth's command line."""
    subprocess.run(
        ["fluidsynth", "-ni", "-q", "-g", "0.6", "-r", "44100", "-F", str(wav), soundfont, str(midi)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def note_f1(
    reference: list[tuple[int, float]], estimate: list[tuple[int, float]], octave: bool = False
) -> tuple:
    """(precision, recall, F1, matches): same pitch (or pitch class), onsets within 50 ms, one-to-one.

    Greedy by onset distance, which equals the maximum matching here: a note's candidates lie
    within 50 ms and notes of one pitch in a melody are further apart than 100 ms."""
    pairs = []
    for i, (p, t) in enumerate(reference):
        for j, (q, u) in enumerate(estimate):
            same = (p - q) % 12 == 0 if octave else p == q
            if same and abs(t - u) <= ONSET_TOLERANCE:
                pairs.append((abs(t - u), i, j))
    used_i, used_j = set(), set()
    for _, i, j in sorted(pairs):
        if i not in used_i and j not in used_j:
            used_i.add(i)
            used_j.add(j)
    matches = len(used_i)
    precision = matches / len(estimate) if estimate else 0.0
    recall = matches / len(reference) if reference else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1, matches


def tempo_verdict(found: float, truth: float) -> str:
    if abs(found / truth - 1) <= 0.04:
        return "right"
    if any(abs(found / (truth * r) - 1) <= 0.04 for r in (0.5, 2.0, 1 / 3, 3.0)):
        return "octave"
    return "wrong"


def measure(kind: str, tonic: int, mode: str, folder: Path, soundfont: str) -> dict:
    """Render one piece, analyse it and score the analysis (one line printed)."""
    index = tonic + 12 * (mode == "minor")
    bpm = pieces.tempo_plan(index, pieces.bars_of(kind))[0][1]
    name = f"{kind}-{pieces.NAMES[tonic].replace('#', 's')}-{mode}"
    midi, wav = folder / f"{name}.mid", folder / f"{name}.wav"
    pieces.piece(tonic, mode, kind, ((0, bpm),)).save(str(midi))
    render(midi, wav, soundfont)
    started = time.process_time()
    a = analyse_file(wav)
    cpu = time.process_time() - started
    truth = read_midi(midi)
    melody_part = next((i for i, p in enumerate(truth.parts) if p.name == "Melody"), None)
    reference = [(n.pitch, n.start_s) for n in truth.notes if n.part == melody_part]
    found = [(n.pitch, n.start_s) for n in a.melody.notes]
    every = [(n.pitch, n.start_s) for n in truth.pitched]
    heard = [(n.pitch, n.start_s) for n in a.score.notes]
    note_key = estimate_key(pitch_class_profile((n.pitch, n.end - n.start) for n in a.score.notes))
    truth_key = Key(tonic, mode)
    r = {
        "kind": kind, "name": name, "bpm": bpm, "seconds": a.audio.seconds, "cpu": cpu,
        "key": mirex_score(a.key.key, truth_key),
        "note_key": mirex_score(note_key.key, truth_key) if note_key else 0.0,
        "found_bpm": a.score.tempos[0].bpm, "tempo": tempo_verdict(a.score.tempos[0].bpm, bpm),
        "melody": note_f1(reference, found) if reference else None,
        "melody_pc": note_f1(reference, found, octave=True) if reference else None,
        "all": note_f1(every, heard),
    }  # fmt: skip
    melody = f"melody F1 {r['melody'][2]:.2f}" if r["melody"] else "no melody"
    print(
        f"{name:22s} key {a.key.key.name:9s} {r['key']:.1f}  tempo {r['found_bpm']:6.1f}/{bpm:5.1f} "
        f"{r['tempo']:6s} {melody}  all-notes F1 {r['all'][2]:.2f}  {cpu:.1f} CPU-s",
        flush=True,
    )
    return r


def mean(values) -> str:
    values = list(values)
    return f"{sum(values) / len(values):.3f}" if values else "-"


def table(rows: list[dict], kinds: list[str]) -> list[str]:
    """The markdown table docs/reimagine.md shows."""
    lines = [
        "| set | pieces | key MIREX (chroma) | key exact | key MIREX (notes) | tempo right | octave errors "
        "| wrong | melody P | melody R | melody F1 | F1, any octave | all-notes F1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, group in [*((k, [r for r in rows if r["kind"] == k]) for k in kinds), ("all", rows)]:
        if not group:
            continue
        n = len(group)
        with_melody = [r for r in group if r["melody"]]
        right, octave = sum(r["tempo"] == "right" for r in group), sum(r["tempo"] == "octave" for r in group)
        cells = [
            label, str(n), mean(r["key"] for r in group), mean(r["key"] == 1.0 for r in group),
            mean(r["note_key"] for r in group), f"{right}/{n}", str(octave), str(n - right - octave),
            *(mean(r["melody"][i] for r in with_melody) for i in range(3)),
            mean(r["melody_pc"][2] for r in with_melody), mean(r["all"][2] for r in group),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--soundfont", default=next((s for s in SOUNDFONTS if Path(s).exists()), None))
    parser.add_argument("--kinds", default=",".join(pieces.KINDS))
    parser.add_argument("--keep", type=Path, help="keep the rendered WAVs in this folder")
    args = parser.parse_args(argv)
    if not shutil.which("fluidsynth") or not args.soundfont:
        print("eval_audio: needs the fluidsynth command and a SoundFont (scripts/install-deps.sh bench)")
        return 1
    kinds = args.kinds.split(",")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for kind in kinds:
            for mode in ("major", "minor"):
                for tonic in range(12):
                    rows.append(measure(kind, tonic, mode, folder, args.soundfont))
    print("\n" + "\n".join(table(rows, kinds)))
    audio = sum(r["seconds"] for r in rows)
    cpu = sum(r["cpu"] for r in rows)
    print(
        f"\n{len(rows)} pieces, {audio:.0f} s of audio analysed in {cpu:.1f} CPU-s "
        f"({cpu / audio:.3f} CPU-s per audio second; soundfont {Path(args.soundfont).name})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
