"""scripts/eval_models.py: the metric maths on inputs with known answers, and a quick run on a tiny model."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.generator import tokens as T
from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import sha256_of
from edge.music.events import Bar, BarPlan, Chord, Note
from edge.music.style import StyleLibrary
from edge.training import evaluate as E
from edge.training import metrics as M
from edge.training import musicality as MU
from tests.music_helpers import token_bar as bar

ROOT = Path(__file__).resolve().parent.parent


# -- metric maths ---------------------------------------------------------------------------------


def test_overlap_is_one_for_the_same_distances_and_zero_for_disjoint_ones() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.2, 500)
    assert M.overlap_area(a, a) == pytest.approx(1.0, abs=1e-6)
    # Two draws of one distribution: 0.951 +- 0.014 (SD over 200 seeds), 7.5 SD above 0.85.
    assert M.overlap_area(a, rng.normal(1.0, 0.2, 500)) > 0.85
    assert M.overlap_area(a, rng.normal(5.0, 0.2, 500)) < 0.01
    same = np.full(50, 0.3)
    assert M.overlap_area(same, same) == pytest.approx(1.0, abs=1e-6)  # zero spread: a narrow bump


def test_mgeval_overlap_separates_a_set_like_the_reference_from_one_unlike_it() -> None:
    rng = np.random.default_rng(1)

    def histograms(centre: int, count: int) -> np.ndarray:
        rows = rng.dirichlet(np.full(12, 0.5), count) * 0.3
        rows[:, centre] += 0.7
        return rows

    reference = histograms(0, 60)
    # Alike: 0.953 +- 0.018 (SD over 200 seeds), 8.7 SD above 0.8; unlike: 0.0000 in every seed.
    assert M.mgeval_overlap(histograms(0, 60), reference) > 0.8
    assert M.mgeval_overlap(histograms(6, 60), reference) < 0.1
    assert len(M.intra_distances(reference)) == 60 * 59 // 2
    assert len(M.inter_distances(reference[:5], reference)) == 5 * 60


def test_kde_integrates_to_one() -> None:
    samples = np.random.default_rng(2).normal(0, 1, 300)
    grid = np.linspace(-8, 8, 2001)
    assert np.trapezoid(M.kde(samples, grid), grid) == pytest.approx(1.0, abs=1e-3)


def test_scale_consistency() -> None:
    assert M.scale_consistency([60, 62, 64, 65, 67, 69, 71, 72]) == 1.0  # C major
    assert M.scale_consistency([57, 59, 60, 62, 64, 65, 67]) == 1.0  # A natural minor
    assert M.scale_consistency(range(60, 72)) == pytest.approx(7 / 12)  # chromatic
    assert M.scale_consistency([60, 61]) == 1.0  # C# major holds both (B#, C#)
    assert np.isnan(M.scale_consistency([]))


def test_mode_of_a_bar_at_its_tonic() -> None:
    major = bar([(0, 60, 4), (4, 64, 4), (8, 67, 4), (12, 72, 4)], chords=[(0, "maj")] * 4)
    minor = bar([(0, 60, 4), (4, 63, 4), (8, 67, 4), (12, 72, 4)], chords=[(0, "min")] * 4)
    assert M.mode_of(major, 0) == "major"
    assert M.mode_of(minor, 0) == "minor"
    # A minor melody over its chords, measured at its tonic A (9).
    a_minor = bar(
        [(0, 69, 4), (4, 72, 4), (8, 76, 4), (12, 74, 4)], bass=[(0, 45, 16)], chords=[(9, "min")] * 4
    )
    assert M.mode_of(a_minor, 9) == "minor"
    assert M.mode_of(bar(chords=[(0, "maj")] * 4), 0) is None  # no notes: no mode of its own
    weights = M.pitch_class_weights(bar([(0, 60, 4)], bass=[(0, 48, 8)], chords=[(7, "dom7")]))
    assert weights[0] == 12 and weights[7] == weights[11] == weights[2] == weights[5] == 1  # a beat of G7


def test_pitch_class_histogram_counts_from_the_tonic() -> None:
    c = [bar([(0, 60, 4), (4, 64, 4), (8, 67, 4), (12, 67, 4)])]
    d = [bar([(0, 62, 4), (4, 66, 4), (8, 69, 4), (12, 69, 4)])]
    assert np.allclose(M.pitch_class_histogram(c, 0), M.pitch_class_histogram(d, 2))
    assert M.pitch_class_histogram(c, 0)[7] == 0.5
    assert not M.pitch_class_histogram([bar()], 0).any()


def test_ioi_histogram_in_sixteenths_across_bar_lines() -> None:
    quarters = [bar([(s, 60, 4) for s in (0, 4, 8, 12)])] * 2
    hist = M.ioi_histogram(quarters)
    assert hist[3] == 1.0 and hist.sum() == 1.0  # seven gaps of 4, the bar line included
    sparse = [bar([(0, 60, 4)]), bar(), bar([(0, 62, 4)])]
    assert M.ioi_histogram(sparse)[M.IOI_BINS - 1] == 1.0  # 32 sixteenths: the last bin
    waltz = [bar([(0, 60, 4), (8, 62, 4)], meter="3/4"), bar([(0, 64, 4)], meter="3/4")]
    assert M.ioi_histogram(waltz)[7] == 0.5 and M.ioi_histogram(waltz)[3] == 0.5


def test_repeated_phrases() -> None:
    a = bar([(0, 60, 4)])
    b = bar([(0, 62, 4)])
    bars = [a, b, a, a, a, b, bar(), bar(), b, a]
    phrases = M.melody_phrases(bars)
    assert len(phrases) == 4  # the silent phrase is dropped
    assert M.repeated_phrases(phrases) == 1 and M.repeated_phrase_rate(phrases) == 0.25
    assert np.isnan(M.repeated_phrase_rate([]))


def test_bar_events_puts_a_generated_bar_on_the_sixteenth_grid() -> None:
    plan = BarPlan(0, 90.0, 3, 0, "major", 1.0, (60, 80), 0.5, "build", 0, 8, "focus")
    notes = (
        Note(0.0, 0.95, 64, 80, "lead"),
        Note(0.5, 0.475, 62, 80, "lead"),
        Note(0.0, 2.85, 36, 80, "bass"),
        Note(1.0, 1.0, 42, 80, "drums"),
    )
    chords = (Chord(0.0, 2.0, 0, "maj7"), Chord(2.0, 1.0, 7, "dom7"))
    events = M.bar_events(Bar(plan, notes, chords))
    assert events.meter == "3/4"
    assert events.melody == (T.NoteEvent(0, 64, 4), T.NoteEvent(2, 62, 2))
    assert events.bass == (T.NoteEvent(0, 36, 12),)
    assert events.chords == ((0, "maj7"), (0, "maj7"), (7, "dom7"))


# -- musicality in the evaluation -----------------------------------------------------------------


def tier0(rng: np.random.Generator) -> E.Player:
    return E.Player(ProceduralGenerator(rng), rng)


def test_session_segments_keep_the_style_the_lead_in_and_the_pedal() -> None:
    styles = StyleLibrary()
    sizes = dataclasses.replace(E.QUICK, session_segments=2)
    segments, failed, sessions = E.session_segments(tier0, styles, sizes, seed=21)
    assert failed == 0 and len(segments) == 2 * 8 and len(sessions) == 8
    assert [s.style for s in segments[::4]] == [name for name, _ in E.SESSIONS]
    for first, second in zip(segments[::2], segments[1::2], strict=True):
        assert first.before is None and second.before == MU.last_chord(first.bars[-1])
        assert len(first.bars) == len(second.bars) == E.SEGMENT_BARS
    for segment in segments:  # only a style that declares pedal sections has pedal bars
        assert not segment.pedal or getattr(styles.get(segment.style), "pedal_sections", ())
    assert {s["style"] for s in sessions} == {name for name, _ in E.SESSIONS}
    figures = E.musicality(segments)
    assert set(figures) == {name for name, _ in E.SESSIONS}
    assert all(len(figures["focus"][m.key]) == 4 for m in MU.METRICS)


class OneStyle:
    """A style library whose every style is one pack (with a progression of our choosing)."""

    def __init__(self, **changes) -> None:
        self.pack = dataclasses.replace(StyleLibrary().get("house"), **changes)

    def get(self, name: str):
        return self.pack


def test_style_reference_lays_out_the_declared_progressions() -> None:
    sizes = dataclasses.replace(E.QUICK, style_segments=6)
    reference = E.style_reference(OneStyle(progressions=((1, 6, 4, 5),), chord_beats=4, phrase_bars=4), sizes)
    figures = reference["house"]["musicality"]
    assert figures["chord_changes"].tolist() == [8.0] * 6  # a chord a bar, every one new
    assert figures["longest_hold"].tolist() == [1.0] * 6
    assert np.allclose(figures["irregularity"], 4 / 6)  # the loop twice: 4 unique trigrams of 6
    assert reference["house"]["chord_beats"] == 4 and reference["house"]["segments"] == 6
    slow = E.style_reference(OneStyle(progressions=((1, 4),), chord_beats=8, phrase_bars=8), sizes)
    assert slow["house"]["musicality"]["chord_changes"].tolist() == [4.0] * 6


def test_musicality_summary_scores_the_reference_itself_as_closest() -> None:
    rng = np.random.default_rng(0)
    names = [name for name, _ in E.SESSIONS]
    real = {m.key: rng.normal(1.0, 0.2, 40) for m in MU.METRICS}
    declared = {k: rng.normal(5.0, 1.0, 40) for k in MU.HARMONY}
    reference = {"musicality": real, "styles": {n: {"musicality": declared} for n in names}}

    def tier(shift: float) -> dict:
        own = {k: list(v + shift) for k, v in real.items()} | {
            k: list(v + shift) for k, v in declared.items()
        }
        return {"musicality": {n: own for n in names}}

    summary = E.musicality_summary({"S": tier(0.0), "0": tier(10.0)}, reference)
    assert summary["closeness"]["S"] == pytest.approx(1.0) and summary["closeness"]["0"] < 0.01
    assert len(summary["compared"]) == len(MU.METRICS) * len(names)
    chords = summary["compared"][("focus", "chord_changes")]
    assert chords["S"].inside and not chords["0"].inside  # judged by the style's declared harmony
    assert summary["corpus"]["chord_changes"].reference_median == pytest.approx(
        np.median(real["chord_changes"])
    )


def test_pianoroll_of_sixteen_arranged_bars(tmp_path: Path) -> None:
    from edge.training.pianoroll import chord_name, draw_pianoroll

    assert (chord_name(9, "min"), chord_name(0, "maj7"), chord_name(7, "dom7")) == ("Am", "Cmaj7", "G7")
    bars = E.pianoroll_bars(tier0, StyleLibrary(), seed=51)
    assert all(len(b) == E.PIANOROLL_BARS for b in bars.values())
    for styled in bars.values():  # the window shows the session's first section change
        assert len({b.plan.section for b in styled}) > 1
        assert {n.track for b in styled for n in b.notes} >= {"lead", "bass", "pad"}
    if importlib.util.find_spec("matplotlib") is None:
        pytest.skip("matplotlib is not installed (the eval extra)")
    path = draw_pianoroll(bars["focus"], tmp_path / "img/roll.png", "focus, tier 0")
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")) == (800, 240)
    assert path.stat().st_size < 100_000


# -- a quick run on a tiny model ------------------------------------------------------------------


def write_pieces(folder: Path) -> None:
    """Major and minor pieces over I-V-I with a bass, every fifth one held out."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(20):
        key, minor = int(rng.integers(12)), index % 2 == 1
        scale = (0, 2, 3, 5, 7, 8, 10) if minor else (0, 2, 4, 5, 7, 9, 11)
        quality = "min" if minor else "maj"
        bars = []
        for _ in range(16):
            steps = sorted(rng.choice(16, size=int(rng.choice([2, 4, 8])), replace=False).tolist())
            melody = [[int(s), 60 + key % 7 + int(rng.choice(scale)), 2] for s in steps]
            chords = [[key, quality], [key, quality], [(key + 7) % 12, "dom7"], [key, quality]]
            bars.append({"meter": "4/4", "melody": melody, "bass": [[0, 36 + key, 8]], "chords": chords})
        split = "heldout" if index % 5 == 0 else "train"
        piece = {"id": f"t/{index}", "source": "bach", "tag": "bach", "split": split, "key": key,
                 "mode": "minor" if minor else "major", "bars": bars}  # fmt: skip
        lines.append(json.dumps(piece))
    (folder / "pieces.jsonl").write_text("\n".join(lines) + "\n")
    (folder / "build.json").write_text(json.dumps({"sha256": "test", "sources": []}))


def section(doc: str, title: str) -> str:
    return doc.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def cells(text: str, first: str) -> list[str]:
    """The cells after the first of the first table row that starts with ``first``."""
    line = next(line for line in text.splitlines() if line.startswith(f"| {first} |"))
    return [c.strip() for c in line.strip("|").split("|")][1:]


def number(cell: str) -> float:
    value = float(re.match(r"-?[\d.]+", cell.replace(",", "")).group())  # type: ignore[union-attr]
    return value / 100 if cell.endswith("%") else value


@pytest.mark.slow
def test_quick_eval_of_a_tiny_model_writes_the_doc_and_the_card(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    write_pieces(tmp_path / "data")
    common = ["--data", str(tmp_path / "data"), "--models", str(tmp_path / "models")]
    train = [sys.executable, str(ROOT / "scripts/train_model.py"), "--tier", "tiny", "--threads", "1",
             "--out", str(tmp_path / "ckpt"), *common]  # fmt: skip
    result = subprocess.run(train, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = (tmp_path / "models/manifest.json").read_text()
    digest = sha256_of(tmp_path / "models/edge-S.onnx")

    out = tmp_path / "models.md"
    evaluate = [sys.executable, str(ROOT / "scripts/eval_models.py"), "--quick", "--tiers", "S,M,L",
                "--checkpoints", str(tmp_path / "ckpt"), "--out", str(out), *common]  # fmt: skip
    result = subprocess.run(evaluate, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    doc = out.read_text()
    assert "Tier M was not evaluated" in doc and "Tier L was not evaluated" in doc

    nll = cells(section(doc, "Held-out likelihood"), "S")
    assert 0 < number(nll[0]) < 10 and 0 < number(nll[1]) < 10  # int8, and fp32 from the found checkpoint
    adherence = section(doc, "Control adherence")
    for tier in ("S", "0"):
        row = cells(adherence, tier)
        assert all(0 <= number(c) <= 1 for c in row[:3])
    assert all(0 <= number(c) <= 1 for c in cells(adherence, "S")[3:6])  # the model alone
    real = section(doc, "Closeness to real music")
    for tier in ("S", "0"):
        scale, pitch, ioi = (number(c) for c in cells(real, tier)[:3])
        assert 0.5 <= scale <= 1 and 0 <= pitch <= 1 and 0 <= ioi <= 1
    repetition = section(doc, "Repetition over a session")
    for tier in ("S", "0"):
        assert 0 <= number(cells(repetition, tier)[3]) <= 1
    speed, side, bound = section(doc, "Speed and memory (one thread)").split("\n### ")
    assert number(cells(speed, "S")[0]) > 0 and number(cells(speed, "0")[0]) > 0
    assert number(cells(speed, "S")[5]) > number(cells(speed, "S")[4]) > 10  # RSS: loaded > bare
    int8, fp32, eager = (number(c) for c in cells(side, "S")[:3])  # KV step, ms
    assert int8 > 0 and fp32 > 0 and eager > 0
    assert "How much int8 can gain" in bound
    assert all(number(c) > 0 for c in cells(bound, "S")[:4])  # matmuls alone int8, fp32, ratio; the step's
    goals = [line for line in section(doc, "Targets").splitlines() if line.startswith("| tier S ")]
    assert len(goals) >= 5 and all(line.endswith(("| met |", "| **not met** |")) for line in goals)
    assert any(line.startswith("| tier S makes >= 3 chord changes per 8 bars") for line in goals)
    assert any(line.startswith("| tier S holds no harmony over 8 bars") for line in goals)
    assert any("closer to real music than tier 0" in line for line in goals)

    harmony = section(doc, "Musicality: harmony")
    assert "style's declared harmony" in harmony and "held-out music" in harmony
    changes = cells(harmony, "chord changes per 8 bars | focus (4 beats a chord)")[1:]  # after the style
    low, high = (float(v) for v in re.match(r"([\d.]+)-([\d.]+)", changes[0]).groups())  # type: ignore[union-attr]
    assert 0 <= low <= high <= 32
    for cell in changes[2:4]:  # S and 0: the median (the overlap)
        median, overlap = (float(v) for v in re.findall(r"[\d.]+", cell))
        assert 0 <= median <= 32 and 0 <= overlap <= 1
    assert "changes / longest hold" in harmony
    melody, structure = section(doc, "Musicality: melody"), section(doc, "Musicality: structure and rhythm")
    assert "| pitch-class entropy (bits, per 16 notes) | house |" in melody
    assert "| intervals: leaps (6+) | focus |" in melody
    assert "| 2-bar motifs that recur | workout |" in structure and "grooving pattern similarity" in structure
    scores = section(doc, "Musicality: closeness score")
    closeness = {tier: number(cells(scores, tier)[0]) for tier in ("S", "0")}
    assert all(0 <= v <= 1 for v in closeness.values())
    ladder = json.loads((tmp_path / "quality_ladder.json").read_text())
    assert {k: ladder[k] for k in ("S", "0")} == pytest.approx(closeness, abs=6e-4)
    assert "--quick" in ladder["command"] and ladder["commit"]
    assert not (tmp_path / "models/quality.json").exists()  # the governor's ladder: full runs only
    rolls = section(doc, "Piano rolls")
    if importlib.util.find_spec("matplotlib") is not None:
        for style in ("ambient", "focus", "workout", "house"):
            for tier in ("S", "0"):
                assert f"![{style}, tier {tier}](img/pianoroll_{style}_{tier}.png)" in rolls
                assert (tmp_path / f"img/pianoroll_{style}_{tier}.png").stat().st_size > 1000

    card = json.loads((tmp_path / "models/edge-S.onnx.json").read_text())
    metrics = card["metrics"]
    assert "heldout_nll" in metrics and metrics["heldout_nll_int8"] > 0
    for key in ("mode_adherence", "density_adherence", "register_adherence", "scale_consistency",
                "overlap_pitch_class", "overlap_ioi", "repeated_phrase_rate"):  # fmt: skip
        assert 0 <= metrics[key] <= 1, key
    assert metrics["ms_per_bar"] > 0 and metrics["tokens_per_s"] > 0 and metrics["rss_mb"] > 10
    assert metrics["closeness"] == pytest.approx(ladder["S"])
    assert "--quick" in metrics["eval"]
    assert (tmp_path / "models/manifest.json").read_text() == manifest  # the model files are untouched
    assert sha256_of(tmp_path / "models/edge-S.onnx") == digest == card["sha256"]
