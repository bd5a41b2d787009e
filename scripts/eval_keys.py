#!/usr/bin/env python3
"""MIREX weighted key accuracy of ``edge-music analyze`` on pieces whose keys are known.

    python scripts/eval_keys.py                  # the 72 synthetic pieces (scripts/analysis_pieces.py)
    python scripts/eval_keys.py --chorales 0     # and every Bach chorale of music21's corpus (train extra)

Synthetic pieces: scale, cadence and song in all 24 keys, keys and tempo maps known by
construction. Chorales: the four-part Bach chorales of music21's corpus (MusicXML), written to MIDI by
music21; the known key is the one whose tonic is the final bass note among the two its key
signature allows (major, or the relative minor). A chorale whose last bass note is neither (a
modal ending) is left out. Prints a Markdown table per profile: the MIREX weighted score (1 the
key, 0.5 a fifth above, 0.3 the relative, 0.2 the parallel) and the share exactly right.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import analysis_pieces  # noqa: E402

from edge.analysis.chords import beat_weights  # noqa: E402
from edge.analysis.grid import beat_grid  # noqa: E402
from edge.analysis.key import PROFILES, Key, estimate_key, mirex_score  # noqa: E402
from edge.analysis.midi_in import AnalysisError, read_midi  # noqa: E402


def profile_weights(path: Path) -> list[float]:
    """Quarter notes each pitch class sounds in a MIDI file, as ``analyze`` weighs them."""
    score = read_midi(path)
    _, beats = beat_grid(score)
    weights, _ = beat_weights(score.pitched, beats)
    return weights.sum(axis=0).tolist()


def tempo_map_right(path: Path, tempos: tuple[tuple[int, float], ...]) -> bool:
    """Whether the tempo map read back is the plan the piece was written with (to 0.01 BPM: MIDI
    stores whole microseconds a beat) at the planned bar lines."""
    score = read_midi(path)
    read = [(t.beat, round(t.bpm, 2)) for t in score.tempos]
    return read == [(4.0 * bar, round(bpm, 2)) for bar, bpm in tempos]


def chorales(folder: Path, limit: int) -> list[tuple[Path, int, str]]:
    """Bach chorales as MIDI files with their known keys: (path, tonic, mode)."""
    from music21 import corpus

    warnings.filterwarnings("ignore")
    found = []
    for source in corpus.getComposer("bach"):
        if limit and len(found) >= limit:
            break
        if source.suffix not in (".mxl", ".xml"):
            continue  # the three Humdrum chorales have MusicXML twins (see docs/data.md)
        score = corpus.parse(source)
        if len(score.parts) != 4:
            continue
        signatures = score.recurse().getElementsByClass("KeySignature")
        bass = score.parts[-1].flatten().notes
        if not signatures or not bass:
            continue
        major = (7 * signatures[0].sharps) % 12
        last = bass[-1].pitches[0].pitchClass
        if last == major:
            mode = "major"
        elif last == (major + 9) % 12:
            mode = "minor"
        else:
            continue  # a modal ending: the key is not known this way
        path = folder / f"{source.stem}.mid"
        score.write("midi", fp=str(path))
        found.append((path, last, mode))
    return found


def table(rows: dict[str, list[tuple[list[float], Key]]], title: str) -> list[str]:
    """Markdown: one row per set, one column pair per profile."""
    lines = [f"| {title} | pieces | " + " | ".join(f"{p} MIREX | {p} exact" for p in PROFILES) + " |"]
    lines.append("|---|---:|" + "---:|---:|" * len(PROFILES))
    for name, items in rows.items():
        cells = []
        for profile in PROFILES:
            scores = [mirex_score(estimate_key(w, profile).key, truth) for w, truth in items]
            exact = sum(s == 1.0 for s in scores) / len(scores)
            cells.append(f"{sum(scores) / len(scores):.3f} | {exact:.3f}")
        lines.append(f"| {name} | {len(items)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chorales", type=int, default=-1, help="also N Bach chorales (0 = all; -1 = none)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        written = analysis_pieces.write_set(Path(tmp) / "pieces")
        rows: dict[str, list[tuple[list[float], Key]]] = {}
        tempo_right = 0
        for path, tonic, mode, tempos in written:
            rows.setdefault(path.name.split("-")[0], []).append((profile_weights(path), Key(tonic, mode)))
            tempo_right += tempo_map_right(path, tempos)
        rows["all synthetic"] = [item for kind in analysis_pieces.KINDS for item in rows[kind]]
        lines = table(rows, "synthetic set")
        lines.append("")
        lines.append(f"Tempo maps read back exactly: {tempo_right}/{len(written)}.")
        if args.chorales >= 0:
            folder = Path(tmp) / "chorales"
            folder.mkdir()
            known = []
            for path, tonic, mode in chorales(folder, args.chorales):
                try:
                    known.append((profile_weights(path), Key(tonic, mode)))
                except AnalysisError as exc:
                    print(f"skipped: {exc}", file=sys.stderr)
            by_mode = {
                "chorales, all": known,
                "chorales in major": [k for k in known if k[1].mode == "major"],
                "chorales in minor": [k for k in known if k[1].mode == "minor"],
            }
            lines.append("")
            lines.extend(table(by_mode, "Bach chorales (music21)"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
