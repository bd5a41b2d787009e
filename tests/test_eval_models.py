"""scripts/eval_models.py: the metric maths on inputs with known answers, and a quick run on a tiny model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.generator import tokens as T
from edge.generator.registry import sha256_of
from edge.music.events import Bar, BarPlan, Chord, Note
from edge.training import metrics as M

ROOT = Path(__file__).resolve().parent.parent


def bar(melody=(), bass=(), chords=(), meter="4/4") -> T.BarEvents:
    return T.BarEvents(
        meter,
        tuple(T.NoteEvent(*n) for n in melody),
        tuple(T.NoteEvent(*n) for n in bass),
        tuple(chords),
    )


# -- metric maths ---------------------------------------------------------------------------------


def test_overlap_is_one_for_the_same_distances_and_zero_for_disjoint_ones() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.2, 500)
    assert M.overlap_area(a, a) == pytest.approx(1.0, abs=1e-6)
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

    card = json.loads((tmp_path / "models/edge-S.onnx.json").read_text())
    metrics = card["metrics"]
    assert "heldout_nll" in metrics and metrics["heldout_nll_int8"] > 0
    for key in ("mode_adherence", "density_adherence", "register_adherence", "scale_consistency",
                "overlap_pitch_class", "overlap_ioi", "repeated_phrase_rate"):  # fmt: skip
        assert 0 <= metrics[key] <= 1, key
    assert metrics["ms_per_bar"] > 0 and metrics["tokens_per_s"] > 0 and metrics["rss_mb"] > 10
    assert "--quick" in metrics["eval"]
    assert (tmp_path / "models/manifest.json").read_text() == manifest  # the model files are untouched
    assert sha256_of(tmp_path / "models/edge-S.onnx") == digest == card["sha256"]
