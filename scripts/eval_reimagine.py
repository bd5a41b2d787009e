#!/usr/bin/env python3
"""Evaluate ``edge-music reimagine`` on pieces no model trained on; writes docs/reimagine.md's section.

    python scripts/eval_reimagine.py            # needs the scores (or train) and eval extras

Pieces: the project's synthetic songs (scripts/analysis_pieces.py: known key, tempo map and melody)
and tunes of music21's corpus from collections that did not train the models (models/sources.toml
lists what did: bach, ryansMammoth, oneills1850, airdsAirs; essenFolksong and palestrina are
refused there for their terms). Each piece is analysed, reimagined (MIDI out, one style and tier
each, seed 1, kept chords) and the new version read back:

- key: MIREX weighted score of the estimate against the known key (the synthetic pieces' key,
  the tune's K: field / the score's key signature), and of the new version's estimate;
- tempo: the tempo map against the known one (the synthetic plan, an ABC tune's Q: field), right
  within 4 %, octave errors (half or double, within 4 %) counted apart;
- melody: the analysed melody against the known one (synthetic), and the new version's lead
  against the analysed melody, note for note (start, length, pitch);
- chords: the new pad's chord per quarter note (its notes classified in the original's key)
  against the original's analysed chord of that beat: same root, same family (major, minor,
  dominant, diminished...), same quality (the style colours chords, so fewer are exact);
- sections: the plans' labels against the original's (by construction), and the labels the
  analysis finds in the new version against the original's, bar by bar (pieces in 4/4);
- piano rolls of the original and the new version, side by side, for four pieces (docs/img/).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "scripts"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import analysis_pieces  # noqa: E402

from edge.analysis.analyse import Analysis, analyse_file  # noqa: E402
from edge.analysis.chords import chords_per_beat  # noqa: E402
from edge.analysis.grid import Beat  # noqa: E402
from edge.analysis.key import Key, key_from_signature, mirex_score  # noqa: E402
from edge.analysis.midi_in import read_midi  # noqa: E402
from edge.config import Config  # noqa: E402
from edge.exits import UsageError  # noqa: E402
from edge.music.style import StyleLibrary  # noqa: E402
from edge.music.theory import FAMILY  # noqa: E402
from edge.reimagine.command import reimagine_file  # noqa: E402
from edge.reimagine.plan import Reimagining, plan_track  # noqa: E402

BEGIN, END = "<!-- eval_reimagine -->", "<!-- /eval_reimagine -->"
STYLES = ("focus", "house", "ambient", "workout")
TEMPO_TOLERANCE = 0.04
#: The corpus collections read, the tunes taken from each, and the terms recorded in the doc.
COLLECTIONS = {
    "miscFolk/northumbrianminstrelsyopus.abc": 10,
    "miscFolk/americanfifeopus.abc": 6,
    "nottingham-dataset/reelsa-c.abc": 2,
    "leadSheet/fosterBrownHair.mxl": 1,
}
#: Meters whose bars reimagine takes (2-4 quarter notes).
METERS = {"2/4", "3/4", "4/4", "C", "C|", "2/2", "6/8"}


@dataclass
class Piece:
    """One piece and what is known about it."""

    name: str
    collection: str
    path: Path
    key: Key
    tempos: list[tuple[float, float]] | None = None
    """(quarter note, BPM) known; None when the piece states none."""
    melody: list[tuple[float, float, int]] | None = None
    """(start, length, pitch) known; None where the melody is only the tune itself."""


@dataclass
class Result:
    """What the evaluation found for one piece."""

    piece: Piece
    style: str
    tier: str
    key_score: float
    new_key_score: float
    tempo: list[str] = field(default_factory=list)
    melody_found: tuple[int, int] | None = None
    melody_kept: tuple[int, int] = (0, 0)
    chords: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    """(quarters compared, same root, same family, same quality, quarters where the pad is silent)."""
    labels_planned: tuple[int, int] = (0, 0)
    labels_found: tuple[int, int] | None = None
    error: str = ""


def synthetic(folder: Path) -> list[Piece]:
    """Twelve synthetic songs, major and minor in turn round the circle of fifths, with their tempo plans."""
    out = []
    for index in range(12):
        tonic, mode = index * 7 % 12, ("major", "minor")[index % 2]  # round the circle of fifths
        tempos = analysis_pieces.tempo_plan(index + 12 * (mode == "minor"), 16)
        path = folder / f"song-{analysis_pieces.NAMES[tonic].replace('#', 's')}-{mode}.mid"
        analysis_pieces.piece(tonic, mode, "song", tempos, midi_type=1 if mode == "major" else 0).save(
            str(path)
        )
        score = read_midi(path)
        melody = sorted(
            (n.start, n.end - n.start, n.pitch) for n in score.notes if score.parts[n.part].channel == 0
        )
        known = [(bar * 4.0, bpm) for bar, bpm in tempos]
        out.append(
            Piece(path.stem, "synthetic (scripts/analysis_pieces.py)", path, Key(tonic, mode), known, melody)
        )
    return out


def corpus_tunes(folder: Path) -> list[Piece]:
    """Tunes from music21's corpus collections not used in training, each as its own file."""
    import music21

    corpus = Path(music21.__file__).parent / "corpus"
    out = []
    for collection, wanted in COLLECTIONS.items():
        source = corpus / collection
        if source.suffix == ".mxl":
            parsed = music21.converter.parse(str(source))
            signature = next(iter(parsed.recurse().getElementsByClass(music21.key.KeySignature)))
            key = signature if isinstance(signature, music21.key.Key) else signature.asKey("major")
            known = key_from_signature(
                key.tonic.name.replace("-", "b") + ("m" if key.mode == "minor" else "")
            )
            out.append(Piece(source.stem, collection, source, known))
            continue
        text = source.read_text(encoding="latin-1")
        taken = 0
        for tune in re.split(r"(?m)^(?=X:)", text):
            if not tune.startswith("X:") or taken >= wanted:
                continue
            fields = dict(re.findall(r"(?m)^([KMQT]):\s*(.*?)\s*$", tune))
            match = re.fullmatch(r"([A-G][b#]?)(m|min|maj)?", fields.get("K", ""))
            if match is None or fields.get("M", "4/4") not in METERS:
                continue  # modal keys (Dorian, Mixolydian) have no major/minor truth; odd meters
            known = key_from_signature(match.group(1) + ("m" if match.group(2) in ("m", "min") else ""))
            tempos = _abc_tempo(fields.get("Q", ""), fields.get("L", ""))
            number = re.match(r"X:\s*(\d+)", tune).group(1)
            path = folder / f"{Path(collection).stem}-{number}.abc"
            path.write_text(tune, encoding="utf-8")
            title = fields.get("T", "").strip() or f"tune {number}"
            out.append(Piece(f"{title} (X:{number})", collection, path, known, tempos))
            taken += 1
    return out


def _abc_tempo(q: str, _length: str) -> list[tuple[float, float]] | None:
    """An ABC Q: field as quarter-note BPM at the start ("1/4=100", "3/8=80"); None when absent."""
    match = re.search(r"(\d+)/(\d+)\s*=\s*(\d+)", q)
    if not match:
        return None
    unit = int(match.group(1)) / int(match.group(2))
    return [(0.0, float(match.group(3)) * unit * 4)]


def bpm_at(analysis: Analysis, beat: float) -> float:
    return next(t.bpm for t in reversed(analysis.score.tempos) if t.beat <= beat + 1e-9)


def tempo_verdict(found: float, known: float) -> str:
    if abs(found / known - 1) <= TEMPO_TOLERANCE:
        return "right"
    if any(abs(found / (known * f) - 1) <= TEMPO_TOLERANCE for f in (0.5, 2.0)):
        return "octave"
    return "wrong"


def lead_of(path: Path) -> list[tuple[float, float, int]]:
    score = read_midi(path)
    return sorted(
        (round(n.start, 4), round(n.end - n.start, 4), n.pitch)
        for n in score.notes
        if score.parts[n.part].name == "lead"
    )


def evaluate(
    piece: Piece, style: str, tier: str, workdir: Path, config: Config
) -> tuple[Result, Path | None]:
    analysis = analyse_file(piece.path)
    result = Result(piece, style, tier, mirex_score(analysis.key.key, piece.key), 0.0)
    if piece.tempos:
        result.tempo = [tempo_verdict(bpm_at(analysis, beat), bpm) for beat, bpm in piece.tempos]
    if piece.melody is not None:
        found = {(round(n.start, 4), round(n.end - n.start, 4), n.pitch) for n in analysis.melody.notes}
        known = {(round(s, 4), round(d, 4), p) for s, d, p in piece.melody}
        result.melody_found = (len(found & known), len(known))
    out = workdir / f"{piece.path.stem}-{style}.mid"
    args = argparse.Namespace(
        file=str(piece.path), batch=None, out=None, midi=str(out), style=style, mood=None, energy=None,
        tempo=None, keep_chords=True, reharmonize=False, transpose=0, seed=1, tier=tier,
    )  # fmt: skip
    try:
        reimagine_file(args, config)
    except UsageError as exc:
        result.error = str(exc).removeprefix(f"{piece.path}: ")
        return result, None
    melody = sorted((round(n.start, 4), round(n.end - n.start, 4), n.pitch) for n in analysis.melody.notes)
    kept = lead_of(out)
    result.melody_kept = (sum(1 for a, b in zip(melody, kept, strict=False) if a == b), len(melody))
    new = analyse_file(out)
    result.new_key_score = mirex_score(new.key.key, piece.key)
    result.chords = chord_agreement(analysis, out)
    plans = plan_track(analysis, StyleLibrary().get(style), Reimagining())
    original = labels_by_bar(analysis)
    result.labels_planned = (
        sum(p.phrase_label == o for p, o in zip(plans, original, strict=True)),
        len(plans),
    )
    if all(round(b.end - b.start) == 4 for b in analysis.bars) and len(new.bars) >= len(analysis.bars):
        again = labels_by_bar(new)[: len(original)]
        result.labels_found = (sum(a == o for a, o in zip(again, original, strict=True)), len(original))
    return result, out


def labels_by_bar(analysis: Analysis) -> list[str]:
    labels = ["-"] * len(analysis.bars)
    for section in analysis.sections:
        for bar in range(section.first_bar, min(section.last_bar + 1, len(labels))):
            labels[bar] = section.label.replace("′", "'")
    return labels


def chord_agreement(analysis: Analysis, out: Path) -> tuple[int, int, int, int, int]:
    """The new pad's chord per quarter note against the original's chord of that beat."""
    score = read_midi(out)
    pad = [n for n in score.notes if score.parts[n.part].name == "pad"]
    quarters = round(analysis.bars[-1].end)
    grid = [Beat(float(q), float(q + 1), 0.0, q // 4, q % 4) for q in range(quarters)]
    heard = chords_per_beat(pad, grid, analysis.key.key)
    compared = root = family = quality = silent = 0
    for q, chord in enumerate(heard):
        beat = next((b for b in analysis.beats if b.start <= q + 1e-6 < b.end), None)
        original = analysis.chords[analysis.beats.index(beat)] if beat is not None else None
        if original is None:
            continue
        if chord is None:
            silent += 1
            continue
        compared += 1
        root += chord.root == original.root
        family += chord.root == original.root and FAMILY.get(chord.kind) == FAMILY.get(original.kind)
        quality += chord.root == original.root and chord.kind == original.kind
    return compared, root, family, quality, silent


def draw_pair(original: Path, new: Path, png: Path, title: str, bars: int = 8) -> None:
    """Original | reimagined piano rolls of the first ``bars`` bars (4 quarters each, drums left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"lead": "#d9480f", "pad": "#2f9e44", "keys": "#12b886", "bass": "#1c7ed6"}
    fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), sharey=True, dpi=80)
    for ax, path, heading in ((axes[0], original, "original"), (axes[1], new, "reimagined")):
        a = analyse_file(path)
        end = a.bars[min(bars, len(a.bars)) - 1].end
        melody = {(n.start, n.pitch) for n in a.melody.notes}
        for n in a.score.pitched:
            if n.start >= end:
                continue
            name = a.score.parts[n.part].name
            lead = name == "lead" if path == new else (n.start, n.pitch) in melody
            colour = colours["lead"] if lead else colours.get(name, "#868e96")
            ax.broken_barh([(n.start, max(n.end - n.start, 0.05))], (n.pitch - 0.4, 0.8), color=colour,
                           zorder=3 if lead else 2)  # fmt: skip
        for bar in a.bars[:bars]:
            ax.axvline(bar.start, color="#dee2e6", lw=0.8, zorder=0)
        ax.set_title(heading, fontsize=10)
        ax.set_xlabel("quarter notes")
    axes[0].set_ylabel("MIDI pitch")
    fig.suptitle(f"{title} (melody orange; pad green, keys teal, bass blue, other parts grey)", fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f} %" if b else "-"


def report(results: list[Result], rolls: list[tuple[str, str]], music21_version: str) -> str:
    done = [r for r in results if not r.error]
    lines = [
        BEGIN,
        "## Evaluation: pieces no model trained on",
        "",
        "```",
        "python scripts/eval_reimagine.py",
        "```",
        "",
        f"{len(results)} pieces, {len(done)} reimagined (MIDI out, seed 1, kept chords; the style and "
        "tier cycle through focus, house, ambient, workout and tiers 0 and L). None trained a model: "
        "models/sources.toml lists what did (music21's bach, ryansMammoth, oneills1850, airdsAirs).",
        "",
        "| collection | pieces | where | terms (recorded) |",
        "|---|---:|---|---|",
    ]
    terms = {
        "synthetic (scripts/analysis_pieces.py)": (
            "the project's own script",
            "the project's (MIT); songs in A A B A′ with three tempos",
        ),
        "miscFolk/northumbrianminstrelsyopus.abc": (
            f"music21 {music21_version} corpus",
            "Bruce and Stokoe, Northumbrian Minstrelsy (1882): public domain; ABC by Jack Campin (2007), no "
            "licence line in the file; music21 distributes it under corpus/license.txt",
        ),
        "miscFolk/americanfifeopus.abc": (
            f"music21 {music21_version} corpus",
            "Colonial and Civil War fife tunes: public domain; ABC tidied by Jack Campin, no licence line; "
            "corpus/license.txt",
        ),
        "nottingham-dataset/reelsa-c.abc": (
            f"music21 {music21_version} corpus",
            "Nottingham Music Database (traditional reels): no licence line in the file; corpus/license.txt",
        ),
        "leadSheet/fosterBrownHair.mxl": (
            f"music21 {music21_version} corpus",
            "Stephen Foster, Jeanie with the Light Brown Hair (1854); "
            "the file says <rights>Public Domain</rights>",
        ),
    }
    for collection, (where, what) in terms.items():
        count = sum(r.piece.collection == collection for r in results)
        if count:
            lines.append(f"| {collection} | {count} | {where} | {what} |")
    lines += [
        "",
        "Only evaluated here, not redistributed and not trained on. corpus/license.txt: the encodings are "
        "distributed with the encoders' permission, some with restrictions on commercial use stated in the "
        "files or folders; none is stated for these (essenFolksong, whose licence allows only "
        "non-commercial use within music21, is left out).",
        "",
        "| measure | result |",
        "|---|---|",
    ]
    key = [r.key_score for r in results]
    new_key = [r.new_key_score for r in done]
    tempo = [v for r in results for v in r.tempo]
    found = [r.melody_found for r in results if r.melody_found]
    kept = [r.melody_kept for r in done]
    chords = [sum(c) for c in zip(*(r.chords for r in done), strict=True)] if done else [0] * 5
    planned = [r.labels_planned for r in done]
    again = [r.labels_found for r in done if r.labels_found]
    lines += [
        f"| key, original (MIREX weighted, {len(key)} pieces) | {sum(key) / len(key):.3f} "
        f"(exact {sum(k == 1.0 for k in key)}/{len(key)}) |",
        f"| key, new version (MIREX weighted, {len(new_key)}) | {sum(new_key) / max(len(new_key), 1):.3f} "
        f"(exact {sum(k == 1.0 for k in new_key)}/{len(new_key)}) |",
        f"| tempo within 4 % ({len(tempo)} known tempos in {sum(bool(r.tempo) for r in results)} pieces) "
        f"| {tempo.count('right')}/{len(tempo)} right, {tempo.count('octave')} octave errors, "
        f"{tempo.count('wrong')} wrong |",
        f"| melody found = the known melody (synthetic, {len(found)} pieces) "
        f"| {pct(sum(a for a, _ in found), sum(b for _, b in found))} of {sum(b for _, b in found)} notes |",
        "| melody kept in the new version, note for note "
        f"| {pct(sum(a for a, _ in kept), sum(b for _, b in kept))} "
        f"of {sum(b for _, b in kept)} notes ({len(kept)} pieces; by construction, tested in "
        "tests/test_reimagine.py and tests/test_analysis_scores.py) |",
        f"| pad chord = original chord, same root ({chords[0]} quarters with both) "
        f"| {pct(chords[1], chords[0])} |",
        f"| ... same root and family (major, minor, dominant...) | {pct(chords[2], chords[0])} |",
        f"| ... same root and exact quality | {pct(chords[3], chords[0])} |",
        f"| quarters where the original has a chord and the pad is silent "
        f"| {pct(chords[4], chords[0] + chords[4])} |",
        "| section labels carried into the plans "
        f"| {pct(sum(a for a, _ in planned), sum(b for _, b in planned))} "
        f"of {sum(b for _, b in planned)} bars |",
        f"| section labels the analysis finds again in the new version (4/4 pieces, {len(again)}) "
        f"| {pct(sum(a for a, _ in again), sum(b for _, b in again))} of {sum(b for _, b in again)} bars |",
        "",
        "| piece | collection | style | tier | key | new key | tempo | melody kept | root / family / quality "
        "| labels found again |",
        "|---|---|---|---|---:|---:|---|---:|---|---|",
    ]
    for r in results:
        if r.error:
            lines.append(f"| {r.piece.name} | {r.piece.collection} | {r.style} | {r.tier} | {r.key_score:g} "
                         f"| | | not reimagined: {r.error} | | |")  # fmt: skip
            continue
        c = r.chords
        again_cell = f"{r.labels_found[0]}/{r.labels_found[1]}" if r.labels_found else "-"
        lines.append(
            f"| {r.piece.name} | {r.piece.collection} | {r.style} | {r.tier} | {r.key_score:g} "
            f"| {r.new_key_score:g} | {', '.join(r.tempo) or '-'} | {r.melody_kept[0]}/{r.melody_kept[1]} "
            f"| {pct(c[1], c[0])} / {pct(c[2], c[0])} / {pct(c[3], c[0])} | {again_cell} |"
        )
    lines += [
        "",
        "- **Key.** The known key is a rule: the synthetic piece's key, a tune's K: field, a score's key "
        "signature. Jeanie with the Light Brown Hair declares C major (no sharps or flats) while its melody "
        "ends on F and F is its commonest pitch class; the estimate, F major, scores 0 by the rule. The new "
        "version's key is estimated from all its parts: a bass or pad that dwells on the dominant can move "
        "it a fifth (0.5).",
        "- **Chords.** The pad plays the analysed chord of each beat in the style's colour (a focus "
        "maj7 for a plain major triad), so the root and family are what is kept and the exact quality "
        "differs by design. A quarter where the original's chord changes inside a beat (a compound "
        "meter's dotted beat) or the pad voices only part of the chord can read as another chord.",
        "- **Sections** are carried by construction (the plan keeps each bar's label); finding them again "
        "in the new version is harder: its arrangement builds and peaks by section, which the bar "
        "similarity sees.",
        "- **Tempo** of a score is its metronome mark, of a MIDI file its tempo map: read, not estimated "
        "from onsets (audio input estimates it: the `audioin` branch reports its own figures).",
        "",
        "Piano rolls, original | reimagined, first 8 bars:",
        "",
    ]
    lines += [f"![{title}](img/{name})" for name, title in rolls]
    lines += ["", END]
    return "\n".join(lines) + "\n"


def write_section(doc: Path, section: str) -> None:
    old = doc.read_text() if doc.exists() else ""
    begin, end = old.find(BEGIN), old.find(END)
    if 0 <= begin < end:
        text = old[:begin] + section + old[end + len(END) + 1 :]
    else:
        text = old.rstrip("\n") + "\n\n" + section
    doc.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", default=str(ROOT / "docs" / "reimagine.md"))
    parser.add_argument("--img", default=str(ROOT / "docs" / "img"))
    args = parser.parse_args(argv)
    import music21

    from edge.generator.registry import TierRegistry

    tiers = ["0", "L"] if "L" in TierRegistry().available else ["0"]
    config = Config()
    results: list[Result] = []
    rolls: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pieces = synthetic(folder) + corpus_tunes(folder)
        for i, piece in enumerate(pieces):
            style, tier = STYLES[i % len(STYLES)], tiers[i // len(STYLES) % len(tiers)]
            result, out = evaluate(piece, style, tier, folder, config)
            results.append(result)
            print(
                f"{piece.name}: key {result.key_score:g}, kept {result.melody_kept}, {result.error}",
                file=sys.stderr,
            )
            if out is not None and i in (0, 13, 14, len(pieces) - 1):
                name = (
                    f"reimagine_{re.sub(r'[^a-z0-9]+', '_', piece.path.stem.lower()).strip('_')}_{style}.png"
                )
                draw_pair(piece.path, out, Path(args.img) / name, f"{piece.name} as {style}, tier {tier}")
                rolls.append((name, f"{piece.name} as {style}"))
    section = report(results, rolls, music21.__version__)
    write_section(Path(args.doc), section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
