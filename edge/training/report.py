"""docs/models.md: the evaluation's report, its targets table and the run's host and commit.

One document: ``write_report`` is its template, the sections in the order they appear, which is
why this module is longer than most.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from edge.generator import tokens as T
from edge.music.style import StyleLibrary
from edge.training import musicality as MU
from edge.training.evaluate import (
    DENSITY_MID,
    MOODS_USED,
    PIANOROLL_BARS,
    REGISTER_CENTRE,
    REGISTER_HALF,
    SEGMENT_BARS,
    SESSIONS,
    TIERS,
    Sizes,
    musicality_summary,
)
from edge.training.inference import speedup

ROOT = Path(__file__).resolve().parents[2]


def _f(value: Any, digits: int = 3, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.1f} %" if pct else f"{value:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def host() -> str:
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def targets(results: dict, tier0: dict) -> list[tuple[str, str, str]]:
    """(target, figure, verdict) for each of the issue's targets."""
    rows = []
    neural = [t for t in TIERS if t in results]

    def verdict(ok: bool | None) -> str:
        return "n/a" if ok is None else "met" if ok else "**not met**"

    for t in neural:
        r = results[t]
        pc, ioi = r["overlap_pitch_class"], r["overlap_ioi"]
        ok = pc > tier0["overlap_pitch_class"] and ioi > tier0["overlap_ioi"]
        base_pc, base_ioi = _f(tier0["overlap_pitch_class"]), _f(tier0["overlap_ioi"])
        figure = f"pitch class {_f(pc)} vs {base_pc}, IOI {_f(ioi)} vs {base_ioi}"
        rows.append(
            (f"tier {t} beats tier 0 on overlap with held-out music (both features)", figure, verdict(ok))
        )
        if "matched_overlap_ioi" in r and "matched_overlap_ioi" in tier0:
            pc, ioi = r["matched_overlap_pitch_class"], r["matched_overlap_ioi"]
            base_pc, base_ioi = tier0["matched_overlap_pitch_class"], tier0["matched_overlap_ioi"]
            ok = pc > base_pc and ioi > base_ioi
            figure = f"pitch class {_f(pc)} vs {_f(base_pc)}, IOI {_f(ioi)} vs {_f(base_ioi)}"
            what = f"tier {t} beats tier 0 on overlap, given the held-out music's own controls"
            rows.append((what, figure, verdict(ok)))
    nlls = [(t, results[t]["nll_int8"]) for t in ("L", "M", "S") if t in results]
    order = " <= ".join(f"{t} {v:.3f}" for t, v in nlls)
    ok = all(a[1] <= b[1] for a, b in itertools.pairwise(nlls)) if len(nlls) > 1 else None
    rows.append(("held-out NLL (int8) orders L <= M <= S", order or "—", verdict(ok)))
    for t in neural:
        a = results[t]["adherence"]
        rows.append(
            (
                f"tier {t} mode adherence >= 95 % (with masks)",
                _f(a["mode"], pct=True),
                verdict(a["mode"] >= 0.95),
            )
        )
        rows.append(
            (
                f"tier {t} density adherence >= 80 % (with masks)",
                _f(a["density"], pct=True),
                verdict(a["density"] >= 0.8),
            )
        )
    for t in neural:
        step = results[t]["speed"]["step"]
        for other, goal in (("fp32", 1.5), ("eager", 5.0)):
            ratio = speedup(step, other)
            figure = "—" if ratio is None else f"{ratio:.2f}x ({step['int8']:.3f} vs {step[other]:.3f} ms)"
            bound = results[t]["speed"].get("matmuls")
            if other == "fp32" and ratio is not None and bound:
                figure += f"; its matmuls alone {speedup(bound, 'fp32'):.2f}x"
            rows.append(
                (
                    f"tier {t} int8 >= {goal:g}x {other} (KV step)",
                    figure,
                    verdict(None if ratio is None else ratio >= goal),
                )
            )
    if "L" in results:
        ms = results["L"]["session"]["ms_mean"]
        rows.append(
            ("tier L writes a bar in <= 15 ms on one thread (mean)", f"{ms:.1f} ms", verdict(ms <= 15))
        )
    return rows


#: Chord changes per 8 bars a style with a chord a bar must reach; the longest harmony outside pedal.
MIN_CHANGES = 3.0
MAX_HOLD_BARS = 8.0


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else "met" if ok else "**not met**"


def _session_figure(row: dict, style: str, key: str, worst=max) -> float:
    values = [s[key] for s in row.get("sessions", []) if s["style"] == style and not math.isnan(s[key])]
    return worst(values) if values else math.nan


def _declared_density(key: tuple[str, str], c: MU.Comparison) -> MU.Comparison:
    """Notes per bar judged against the style's own declared density (its pack's ``[density]
    range`` per 4/4 bar), the rest as compared: a sparse style is sparse by choice."""
    style, metric = key
    if metric != "notes_per_bar":
        return c
    low, high = StyleLibrary().get(style).density
    return dataclasses.replace(c, low=4 * low, high=4 * high)


def musicality_targets(summary: dict, row: dict, reference: dict) -> list[tuple[str, str, str]]:
    """(target, figure, verdict) for the musicality targets of issue 13 ("music that moves")."""
    rows = []
    compared = summary["compared"]
    judged = [m.key for m in MU.METRICS if m.family in ("harmony", "melody", "structure")]
    neural = [t for t in TIERS if t in row]
    for t in neural:
        judged_here = [(k, _declared_density(k, c[t])) for k, c in compared.items() if k[1] in judged]
        inside = [(k, c) for k, c in judged_here if c.inside is not None]
        outside = [(k, c) for k, c in inside if not c.inside]
        figure = f"{len(inside) - len(outside)} of {len(inside)} inside"
        if outside:
            shown = [
                f"{style} {MU.METRIC[key].label} {_f(c.median, MU.METRIC[key].digits)} "
                f"({_f(c.low, MU.METRIC[key].digits)}-{_f(c.high, MU.METRIC[key].digits)})"
                for (style, key), c in outside[:4]
            ]
            more = f" and {len(outside) - 4} more" if len(outside) > 4 else ""
            figure += "; outside: " + "; ".join(shown) + more
        what = f"tier {t} inside real music's 5-95 % range on every harmony, melody and structure figure"
        what += " (median, every style; notes per bar against the style's declared density)"
        rows.append((what, figure, _verdict(None if not inside else not outside)))
    every = [*neural, "0"] if "0" in row else neural
    per_bar = [name for name, _ in SESSIONS if reference["styles"][name]["chord_beats"] <= 4]
    for t in every:
        medians = {s: compared[(s, "chord_changes")][t].median for s in per_bar}
        known = {s: v for s, v in medians.items() if not math.isnan(v)}
        figure = ", ".join(f"{s} {_f(v, 1)}" for s, v in medians.items())
        ok = all(v >= MIN_CHANGES for v in known.values()) if known else None
        what = f"tier {t} makes >= {MIN_CHANGES:g} chord changes per 8 bars (median), every chord-a-bar style"
        rows.append((what, figure or "—", _verdict(ok)))
        holds = {name: _session_figure(row[t], name, "longest_hold") for name, _ in SESSIONS}
        known = {s: v for s, v in holds.items() if not math.isnan(v)}
        figure = ", ".join(f"{s} {_f(v, 1)}" for s, v in holds.items()) + " bars"
        ok = all(v <= MAX_HOLD_BARS for v in known.values()) if known else None
        what = f"tier {t} holds no harmony over {MAX_HOLD_BARS:g} bars outside pedal sections (every session)"
        rows.append((what, figure, _verdict(ok)))
    if "0" in row:
        for t in neural:
            pairs = [
                (c[t].overlap, c["0"].overlap)
                for c in compared.values()
                if not math.isnan(c[t].overlap) and not math.isnan(c["0"].overlap)
            ]
            closer = sum(a > b + 1e-9 for a, b in pairs)
            further = sum(a < b - 1e-9 for a, b in pairs)
            figure = (
                f"closer on {closer}, further on {further}, as close on {len(pairs) - closer - further} "
                f"of {len(pairs)} (style, figure) pairs"
            )
            what = f"tier {t} closer to real music than tier 0 on most musicality figures where they differ"
            rows.append((what, figure, _verdict(closer > further if pairs else None)))
    order = [(t, summary["closeness"][t]) for t in ("L", "M", "S") if t in summary["closeness"]]
    if len(order) > 1:
        ok = all(a[1] >= b[1] for a, b in itertools.pairwise(order))
        figure = " >= ".join(f"{t} {_f(v)}" for t, v in order)
        rows.append(("closeness to real music orders L >= M >= S", figure, _verdict(ok)))
    return rows


def _cell(c: MU.Comparison, digits: int) -> str:
    """A tier's median and its overlap with the reference; the median in bold outside the 5-95 % range."""
    if math.isnan(c.median):
        return "—"
    median = _f(c.median, digits)
    if c.inside is False:
        median = f"**{median}**"
    return f"{median} ({_f(c.overlap, 2)})"


def _range(c: MU.Comparison, digits: int) -> str:
    if math.isnan(c.low):
        return "—"
    return f"{_f(c.low, digits)}-{_f(c.high, digits)} ({_f(c.reference_median, digits)})"


def musicality_lines(summary: dict, row: dict, reference: dict, info: dict) -> list[str]:
    """The musicality sections of docs/models.md: harmony, melody, structure and rhythm, closeness."""
    every = [t for t in (*TIERS, "0") if t in row]
    styles = [name for name, _ in SESSIONS]
    compared, corpus = summary["compared"], summary["corpus"]
    sizes: Sizes = info["sizes"]
    lines = [
        "## Musicality: harmony",
        "",
        "Does the harmony move, and does it go somewhere? Each cell is a tier's median over its 8-bar "
        "segments of that style and, in brackets, the overlap of its values with the reference's (1 = "
        "the same spread, 0 = nothing alike); a median in **bold** lies outside the reference's 5-95 % "
        "range. Reference: the **style pack's own declared harmony** (its progressions looped phrase by "
        "phrase in its harmonic rhythm, `chord_beats`), since the corpus has no house or lo-fi; the "
        "held-out corpus (chorales and folk tunes, whose harmony moves on nearly every beat) is shown "
        "for comparison only. Segments with a bar in a pedal section (a drone the style intends: "
        + (
            ", ".join(
                f"{n} {'/'.join(reference['styles'][n]['pedal_sections'])}"
                for n in styles
                if reference["styles"][n]["pedal_sections"]
            )
            or "none"
        )
        + ") are left out of the harmony figures.",
        "",
    ]
    header = ["figure", "style", "style's declared harmony 5-95 % (median)", "held-out music 5-95 % (median)"]
    table = []
    for metric in (m for m in MU.METRICS if m.family == "harmony"):
        for name in styles:
            c = compared[(name, metric.key)]
            first = next(iter(c.values()))
            table.append(
                [
                    metric.label,
                    f"{name} ({reference['styles'][name]['chord_beats']} beats a chord)",
                    _range(first, metric.digits),
                    _range(corpus[metric.key], metric.digits),
                    *(_cell(c[t], metric.digits) for t in every),
                ]
            )
    lines += _table([*header, *every], table)
    lines += [
        "",
        "Over whole sessions (every bar of each style's two sessions outside pedal sections): chord "
        "changes per 8 bars (the lower of the two sessions) and the longest held harmony in bars (the "
        "longer of the two).",
        "",
    ]
    session_rows = []
    for name in styles:
        changes = [_f(_session_figure(row[t], name, "chord_changes", min), 1) for t in every]
        holds = [_f(_session_figure(row[t], name, "longest_hold", max), 1) for t in every]
        session_rows.append([name, *(f"{a} / {b}" for a, b in zip(changes, holds, strict=True))])
    lines += _table(["style", *(f"{t}: changes / longest hold" for t in every)], session_rows)
    lines.append("")
    for family, title, blurb in (
        ("melody", "Musicality: melody", "Does the tune have a shape?"),
        ("structure", "Musicality: structure and rhythm", "Does anything come back, and is there a groove?"),
    ):
        families = (family,) if family == "melody" else ("structure", "rhythm")
        lines += [
            f"## {title}",
            "",
            f"{blurb} Reference: the **held-out corpus** ({reference['segments']} 8-bar segments of "
            f"{reference['held_pieces']} pieces); cells as above: median (overlap), bold outside the "
            "5-95 % range.",
            "",
        ]
        table = []
        for metric in (m for m in MU.METRICS if m.family in families):
            for name in styles:
                c = compared[(name, metric.key)]
                table.append(
                    [
                        metric.label,
                        name,
                        _range(corpus[metric.key], metric.digits),
                        *(_cell(c[t], metric.digits) for t in every),
                    ]
                )
        lines += _table(["figure", "style", "held-out music 5-95 % (median)", *every], table)
        lines.append("")
        if family == "melody":
            declared = ", ".join(
                f"{name} {4 * low:.1f}-{4 * high:.1f}"
                for name in styles
                for low, high in [StyleLibrary().get(name).density]
            )
            lines += [
                "The corpus is folk tunes and chorales, a note or two a beat. A style's melody density is "
                "its own choice, declared in its pack (`[density] range`, notes per beat; per 4/4 bar: "
                f"{declared}), and the conductor asks for it: notes per bar are judged against that. "
                f"The pitch-class figures are measured on windows of {MU.PITCH_WINDOW} consecutive melody "
                "notes, for real music and every tier alike, not per 8-bar segment: an entropy or a top "
                "share estimated from few notes reads low whatever the tune, and a sparse style's 8 bars "
                "hold about ten notes where a folk tune's hold forty.",
                "",
            ]
    judged = [m.key for m in MU.METRICS if m.family in ("harmony", "melody", "structure")]
    score_rows = []
    for t in every:
        inside = [c[t].inside for k, c in compared.items() if k[1] in judged and c[t].inside is not None]
        score_rows.append([t, _f(summary["closeness"][t]), f"{sum(inside)} of {len(inside)}"])
    lines += [
        "## Musicality: closeness score",
        "",
        *_table(["tier", "closeness (mean overlap)", "medians inside the 5-95 % range"], score_rows),
        "",
        f"Closeness: the mean overlap over every (style, figure) pair of the three tables above "
        f"({len(MU.METRICS)} figures x {len(styles)} styles). It is written into each model card's "
        "metrics as `closeness`, and from the same run into "
        f"`{info.get('ladder', 'docs/quality_ladder.json')}`"
        + (
            f" and `{info['governor_ladder']}` (the governor's quality ladder)"
            if info.get("governor_ladder")
            else ""
        )
        + f". Generated: {sizes.session_segments} 8-bar segment(s) from each of the 8 sessions above "
        f"(2 per style); style references: {sizes.style_segments} declared-harmony segments per style.",
        "",
    ]
    pictures = info.get("pianorolls") or {}
    lines += ["## Piano rolls", ""]
    if pictures:
        lines += [
            f"{PIANOROLL_BARS} arranged bars per style and tier (the full band but drums: lead orange, bass "
            "blue, each chord's pad/keys voicing a green band), around the session's first section change "
            "(mood happy), chord names under each bar and section names over the bar they start on.",
            "",
        ]
        for name in styles:
            lines += [f"### {name}", ""]
            for t in every:
                if (name, t) in pictures:
                    lines += [f"![{name}, tier {t}]({pictures[(name, t)]})", ""]
    else:
        lines += [
            info.get("pianoroll_note", "Not drawn (matplotlib is not installed: pip install -e '.[eval]')."),
            "",
        ]
    return lines


MUSICALITY_DEFINITIONS = (
    "- **Musicality** (edge/training/musicality.py; per 8-bar segment of melody, bass and one chord per "
    "beat). A chord counts as its *harmony*: root and triad family (Cmaj7, Cadd9 and C are one harmony).",
    "  - **Chord changes per 8 bars**: beats whose harmony differs from the beat before (at bar lines and "
    "inside bars; the segment's first bar line against the chord before it), scaled to 8 bars: a chord a "
    "bar is 8, a vamp 0.",
    "  - **Longest held harmony**: the longest stretch, in bars, without a change (a beat without a chord "
    "extends the one before); over whole sessions, pedal sections are left out.",
    "  - **Chord-transition entropy**: bits of the distribution of moves between consecutive distinct "
    "harmonies, each written relative to the key; a four-chord loop is 2 bits.",
    "  - **Chord progression irregularity** (Wu & Yang 2020): unique chord trigrams / all trigrams over the "
    "harmonies with repeats merged; under three chords scores 0.",
    "  - **Bars opening on the tonic chord**: share of bars whose first beat's root is the key's tonic.",
    "  - **Pitch-class entropy / top pitch-class share**: bits of the melody's pitch-class counts; share of "
    "its notes on the most used pitch class.",
    "  - **Intervals**: shares of the moves between consecutive melody notes (across rests and bar lines) "
    "that are repeats (0 semitones), steps (1-2), small leaps (3-5) and leaps (6+).",
    "  - **Melody notes per bar**: onsets of the melody per bar.",
    "  - **2-bar motifs that recur**: of the 2-bar windows starting on each bar line with two notes or more, "
    "the share whose motif (rhythm from the window's bar line and interval sequence, so a transposed "
    "repeat counts) equals that of another window not overlapping it.",
    "  - **Structureness**: a bar-by-bar self-similarity matrix of the melody (mean of the Jaccard "
    "similarity of two bars' onsets and of their (onset, pitch above the bar's first note) shapes); the "
    "largest mean of an off-diagonal stripe (lag 1-4 bars). A simplification of Wu & Yang's structureness "
    "indicator: 1 when the melody repeats (or transposes) itself exactly at some lag.",
    "  - **Grooving pattern similarity** (Wu & Yang 2020): 1 - Hamming distance / 16 between two bars' onset "
    "grids (melody and bass, sixteenths), averaged over every pair of bars.",
    "  - **Range and overlap**: the reference's 5th-95th percentile of the per-segment values; the overlap "
    "area of the Gaussian KDEs of the generated and the reference values, both smoothed with the wider of "
    "their Scott's-rule bandwidths (many figures take a few exact values), as in MGEval but of the values "
    "themselves. Harmony is judged against the style's declared harmony, the rest against held-out music. "
    "*Closer than tier 0* compares the overlaps pair by pair and counts only the pairs where they differ "
    "(every tier plays the conductor's planned chords, so the harmony often ties).",
)


def write_report(path: Path, results: dict, tier0: dict, reference: dict, info: dict) -> None:
    """docs/models.md."""
    sizes: Sizes = info["sizes"]
    neural = [t for t in TIERS if t in results]
    every = [*neural, "0"]
    row = {**results, "0": tier0}
    lines = [
        "# Models: evaluation of the neural tiers",
        "",
        f"Produced by `python scripts/eval_models.py{' --quick' if info['quick'] else ''}` at commit "
        f"{info['commit']}{' (with uncommitted changes)' if info['dirty'] else ''} on {info['date']}, "
        f"{info['host']}, Python {platform.python_version()}, onnxruntime {info['ort']}, torch "
        f"{info['torch'] or 'not installed'}. Everything ran on **one thread** (onnxruntime intra/inter-op "
        f"1, torch.set_num_threads(1), OMP/BLAS threads 1); load average at the start {info['load']}. The "
        f"whole run took {info['minutes']:.1f} min ("
        + ", ".join(f"tier {t} {row[t]['wall']:.0f} s" for t in every)
        + ", the rest loading data and the real-music reference).",
        "",
    ]
    if info["quick"]:
        lines += ["**Quick run**: sample sizes are tiny; the figures only show that the pipeline works.", ""]
    for tier, reason in info["missing"].items():
        lines.append(f"Tier {tier} was not evaluated: {reason}.")
    if info["missing"]:
        lines.append("")
    lines += [
        "## Reproduce",
        "",
        "```sh",
        "pip install -e '.[dev,train,eval]'                # eval: matplotlib for the piano rolls",
        "python scripts/build_data.py                      # -> .cache/data/default/pieces.jsonl",
        "python scripts/train_model.py --tier S            # -> .cache/train/S.pt, models/edge-S.onnx",
        "python scripts/train_model.py --tier M",
        "python scripts/train_model.py --tier L",
        "python scripts/eval_models.py                     # -> docs/models.md, metrics in each card",
        "```",
        "",
        "`make models` runs the same steps. Training resumes where it stopped (`--max-minutes`); "
        "`eval_models.py --quick` runs the evaluation on tiny samples as a smoke check.",
        "",
        "## The models",
        "",
    ]
    model_rows = []
    for t in neural:
        card = results[t]["card"]
        s = card["shape"]
        training = card.get("training", {})
        model_rows.append(
            [
                t,
                f"{card['parameters']:,}",
                f"{s['layers']} x {s['width']}, {s['heads']} heads, context {s['context']}",
                f"{results[t]['size_mb']:.2f}",
                str(training.get("steps", "—")),
                _f(training.get("minutes"), 1),
            ]
        )
    lines += _table(
        ["tier", "parameters", "shape", "int8 file (MiB)", "training steps", "training min"], model_rows
    )
    lines += [
        "",
        "Tier 0 is the procedural generator (no model file, no training). The ONNX graph is written "
        "node by node from the checkpoint (edge/training/graph.py) with onnxruntime's fused kernels: per "
        "block a LayerNorm, the q/k/v projection, one GroupQueryAttention that appends to the cache and "
        "masks, the output projection with the residual and the next LayerNorm in one kernel, the "
        "feed-forward; tests/test_graph.py checks it against the PyTorch model.",
        "",
    ]

    lines += ["## Held-out likelihood", ""]
    nll_rows = []
    for t in neural:
        r = results[t]
        nll_rows.append(
            [
                t,
                _f(r["nll_int8"]),
                _f(r.get("nll_fp32")),
                _f(r["nll_int8"] - r["nll_fp32"]) if "nll_fp32" in r else "—",
                _f(r["card"].get("metrics", {}).get("heldout_nll")),
                str(r["nll_windows"]),
            ]
        )
    nll_rows.append(["0", "—", "—", "—", "—", "—"])
    lines += _table(
        [
            "tier",
            "NLL int8 (onnxruntime)",
            "NLL fp32 (checkpoint)",
            "int8 - fp32",
            "NLL at training (all windows)",
            "windows",
        ],
        nll_rows,
    )
    lines += [
        "",
        "Nats per token over held-out windows of the model's context (full forward, empty past), the same "
        "windows for int8 and fp32. Tier 0 has no probability model.",
        "",
        "## Control adherence",
        "",
    ]
    adh_rows = []
    for t in every:
        a = row[t]["adherence"]
        o = row[t].get("adherence_open")
        adh_rows.append(
            [
                t,
                _f(a["mode"], pct=True),
                _f(a["density"], pct=True),
                _f(a["register"], pct=True),
                _f(o["mode"], pct=True) if o else "—",
                _f(o["density"], pct=True) if o else "—",
                _f(o["register"], pct=True) if o else "—",
                _f(a["silent"], pct=True),
                f"{a['failed']}" + (f" / {o['failed']}" if o else ""),
                str(a["bars"]),
            ]
        )
    adh_rows.append(
        [
            "held-out music",
            _f(reference["held_mode_agreement"], pct=True),
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            "—",
            str(reference["held_mode_bars"]),
        ]
    )
    lines += _table(
        [
            "tier",
            "mode (masks)",
            "density (masks)",
            "register (masks)",
            "mode (model alone)",
            "density (model alone)",
            "register (model alone)",
            "bars without notes",
            "bars failed (masks / alone)",
            "bars",
        ],
        adh_rows,
    )
    lines += ["", "By requested bucket, with the masks (density / register):", ""]
    bucket_rows = [
        [
            t,
            *(
                f"{_f(row[t]['adherence']['density_by_bucket'][b], pct=True)} / "
                f"{_f(row[t]['adherence']['register_by_bucket'][b], pct=True)}"
                for b in range(T.BUCKETS)
            ),
        ]
        for t in every
    ]
    lines += _table(["tier", *(f"bucket {b}" for b in range(T.BUCKETS))], bucket_rows)
    lines += [
        "",
        f"Every request of mode (major, aeolian) x density bucket x register bucket, {sizes.sweep_runs} "
        f"run(s) of {sizes.sweep_bars} bars each (run r in style {', '.join(n for n, _ in SESSIONS)}[r mod "
        f"4], random key, energy 0.5); density asked at the bucket's middle {DENSITY_MID} notes per beat, "
        f"the melody range the bucket's centre {REGISTER_CENTRE} +- {REGISTER_HALF}. *Masks* is "
        "NeuralGenerator as shipped (scale and register masks, density steer, top-p for rhythm and "
        "chords, every allowed pitch for notes; the sweep's plans carry no chords, so the model picks "
        "them in the style's harmonic rhythm under the scale mask, leaning towards the chords that "
        "sound the requested mode's third); *model alone* samples with the "
        "grammar only (every pitch and chord token allowed, no "
        "steering, top-p for every token). The held-out row is how often the per-bar mode "
        "measure agrees with the piece's labelled mode in real music.",
        "",
        "## Closeness to real music",
        "",
    ]
    real_rows = [
        [
            "held-out music",
            _f(reference["held_scale"]),
            "1 (itself)",
            "1 (itself)",
            str(reference["segments"]),
        ],
        [
            "train music (reference)",
            _f(reference["train_scale"]),
            _f(reference["train_overlap_pitch_class"]),
            _f(reference["train_overlap_ioi"]),
            str(reference["train_segments"]),
        ],
    ]
    for t in every:
        r = row[t]
        real_rows.append(
            [
                t,
                _f(r["scale_consistency"]),
                _f(r["overlap_pitch_class"]),
                _f(r["overlap_ioi"]),
                str(r["segments"]),
            ]
        )
    lines += _table(
        ["set", "scale consistency", "overlap: pitch classes", "overlap: IOI", "8-bar segments"], real_rows
    )
    lines += [
        "",
        f"Generated samples: {sizes.session_segments} 8-bar segment(s) from each of 8 conductor-driven "
        f"sessions ({', '.join(f'{s}/{a}' for s, a in SESSIONS)} x moods {', '.join(MOODS_USED)}), "
        "as heard: lead and bass only where the arranger plays them (an intro has no lead, a break no "
        "bass). "
        f"Reference: {reference['segments']} 8-bar segments drawn from the {reference['held_pieces']} "
        "held-out pieces; the train row shows what real music outside the reference scores.",
        "",
    ]
    if all("matched_overlap_ioi" in row[t] for t in every):
        lines += [
            "With the real music's own controls (each held-out bar's key, mode, density and melody range as "
            "the plan, the style whose tag is the piece's source):",
            "",
        ]
        lines += _table(
            ["tier", "overlap: pitch classes", "overlap: IOI", "8-bar segments"],
            [
                [t, _f(row[t]["matched_overlap_pitch_class"]), _f(row[t]["matched_overlap_ioi"]),
                 str(row[t]["matched_segments"])]
                for t in every
            ],
        )  # fmt: skip
    summary = info.get("musicality") or musicality_summary(row, reference)
    lines += [""]
    lines += musicality_lines(summary, row, reference, info)
    lines += [
        "## Repetition over a session",
        "",
    ]
    rep_rows = []
    for t in every:
        s = row[t]["session"]
        rep_rows.append(
            [t, f"{s['minutes']:.1f}", str(s["bars"]), str(s["phrases"]), _f(s["repeated"], pct=True)]
        )
    rep_rows.append(
        [
            "held-out pieces",
            "—",
            "—",
            str(reference["held_phrases"]),
            _f(reference["held_repeated"], pct=True),
        ]
    )
    lines += _table(
        ["tier", "minutes of music", "bars", "2-bar phrases with notes", "repeated phrases"], rep_rows
    )
    lines += [
        "",
        "Style focus, activity focus, mood calm, conductor and generator seeded alike for every tier. The "
        "held-out row counts repeats within each piece.",
        "",
        "## Speed and memory (one thread)",
        "",
    ]
    speed_rows = []
    for t in every:
        s = row[t]["session"]
        mem = row[t].get("rss")
        speed_rows.append(
            [
                t,
                _f(s["ms_mean"], 2),
                _f(s["ms_p95"], 2),
                _f(s.get("tokens_per_bar"), 1) if t != "0" else "—",
                _f(s["tokens_per_s"], 0) if t != "0" else "—",
                _f(mem["base"], 1) if mem else "—",
                _f(mem["loaded"], 1) if mem else "—",
                _f(mem["ran"], 1) if mem else "—",
                f"{row[t]['failed']} of {row[t]['generated']}",
            ]
        )
    lines += _table(
        [
            "tier",
            "ms per bar (mean)",
            "ms per bar (p95)",
            "tokens per bar",
            "tokens/s",
            "RSS bare imports (MiB)",
            "RSS model loaded (MiB)",
            "RSS after a full forward (MiB)",
            "bars failed (all runs)",
        ],
        speed_rows,
    )
    lines += [
        "",
        "ms per bar: the CPU time of the whole `generate()` call (controls, masked sampling, decoding) over "
        "every bar of the focus session, on the one thread that runs it (so other work on the machine does "
        "not inflate it; the KV-step table is wall-clock). Tokens per bar/s: tokens the model sampled "
        "(the 8 control tokens are fed, not counted). RSS: a fresh `python -c` that imports numpy, psutil, "
        "onnxruntime and the registry "
        "(bare), then creates the session with `session_options()` (loaded), then runs one full-context "
        "forward. A failed bar is one where `generate()` raised: the Engine has tier 0 play it, and so does "
        "this evaluation (it counts as a miss for adherence).",
        "",
        "### int8 vs fp32 vs PyTorch eager (same model, same inputs)",
        "",
    ]
    side_rows = []
    for t in neural:
        sp = results[t]["speed"]
        step, full = sp["step"], sp["full"]
        side_rows.append(
            [
                t,
                _f(step["int8"]),
                _f(step.get("fp32")),
                _f(step.get("eager")),
                _f(speedup(step, "fp32"), 2),
                _f(speedup(step, "eager"), 2),
                _f(full["int8"], 2),
                _f(full.get("fp32"), 2),
                _f(full.get("eager"), 2),
                _f(speedup(full, "fp32"), 2),
                _f(speedup(full, "eager"), 2),
            ]
        )
    context = results[neural[0]]["speed"]["context"] if neural else 256
    lines += _table(
        [
            "tier",
            "KV step int8 (ms)",
            "KV step fp32 (ms)",
            "KV step eager (ms)",
            "int8 speed-up vs fp32",
            "int8 speed-up vs eager",
            f"{context}-token forward int8 (ms)",
            "fp32 (ms)",
            "eager (ms)",
            "speed-up vs fp32",
            "speed-up vs eager",
        ],
        side_rows,
    )
    lines += [
        "",
        f"KV step: one token with {context - 1} tokens of past (the runtime's per-token call); full "
        f"forward: {context} tokens with an empty past. Both ONNX backends run as the daemon runs them, "
        "through `Decoder` (edge/generator/neural.py): the cache is one context-long buffer per layer "
        "that the attention kernel appends to in place, and a step's inputs are bound once. fp32 is the "
        "same graph (edge/training/graph.py) before quantization, written next to the checkpoint; eager "
        "is the checkpoint's own forward in PyTorch (`torch.inference_mode`), whose cache grows by "
        f"`torch.cat` as in training. Median of {sizes.step_repeats} (step) and "
        f"{sizes.full_repeats} (forward) calls after 3 warm-ups, the backends taking turns in bursts "
        "of 10 consecutive calls (the daemon decodes a bar's tokens back to back; single alternating "
        "calls would time each backend with CPU caches just filled by another). "
        "Timings on a shared machine are noisy: compare ratios from the same run.",
        "",
    ]
    if any(results[t]["speed"]["step"].get("fp32") is None for t in neural):
        lines += [
            "A dash: the training checkpoints (`.cache/train`, written by `make models`) are not in this "
            "checkout, so there is no fp32 graph or PyTorch model to time. The last run that had them is "
            "docs/models.md at commit 9cb649d (`git show 9cb649d:docs/models.md`).",
            "",
        ]
    bound_rows = [
        [
            t,
            _f(results[t]["speed"]["matmuls"]["int8"]),
            _f(results[t]["speed"]["matmuls"]["fp32"]),
            _f(speedup(results[t]["speed"]["matmuls"], "fp32"), 2),
            _f(speedup(results[t]["speed"]["step"], "fp32"), 2),
        ]
        for t in neural
        if "matmuls" in results[t]["speed"]
    ]
    if bound_rows:
        lines += [
            "### How much int8 can gain at each size",
            "",
            *_table(
                ["tier", "matmuls alone int8 (ms)", "fp32 (ms)", "speed-up", "KV step speed-up (above)"],
                bound_rows,
            ),
            "",
            "Matmuls alone: one token's matrix products at the tier's sizes (per layer q/k/v, output, "
            "feed-forward in and out, then the output projection), random weights, nothing else in the "
            "graph, quantized like the model (`matmul_bound` in edge/training/inference.py). The rest of "
            "a step (attention over the cache, norms, the call itself) costs fp32 and int8 alike; the "
            "smaller the tier, the larger that share of its step, and the further the step's speed-up "
            "falls below its matmuls'.",
            "",
        ]
    lines += ["## Targets", ""]
    goals = targets(results, tier0) + musicality_targets(summary, row, reference)
    lines += _table(["target", "figure", "verdict"], [list(r) for r in goals])
    lines += [
        "",
        "## Sample sizes",
        "",
        f"- held-out NLL: up to {sizes.nll_windows} windows, evenly spread over the held-out stream",
        f"- adherence: 2 modes x 4 density x 4 register buckets x {sizes.sweep_runs} run(s) x "
        f"{sizes.sweep_bars} bars = {2 * 16 * sizes.sweep_runs * sizes.sweep_bars} bars per variant",
        f"- closeness: {8 * sizes.session_segments} generated 8-bar segments per tier, "
        f"{reference['segments']} held-out and {reference['train_segments']} train segments",
        f"- musicality: {SEGMENT_BARS * sizes.session_segments} bars per session, 2 sessions per style "
        f"and tier; references: {reference['segments']} held-out segments, {sizes.style_segments} "
        "declared-harmony segments per style",
        f"- repetition, ms per bar, tokens/s: {sizes.minutes:g} minutes of music per tier",
        f"- speed table: {sizes.step_repeats} KV steps and {sizes.full_repeats} full forwards per backend",
        "",
        "## Definitions",
        "",
        "- **Held-out NLL**: mean negative log-likelihood per token, in nats, of the held-out pieces (as "
        "written, not transposed) cut into consecutive windows of the model's context; lower is better.",
        "- **Mode adherence**: share of bars whose measured mode equals the requested one. A bar's mode at "
        "the requested tonic is the Krumhansl-Kessler profile (major or minor) that correlates best with "
        "its pitch classes, melody and bass weighted by duration plus each chord's tones held for the "
        "chord's length; a bar with no melody or bass note is a miss.",
        "- **Density / register adherence**: share of bars whose melody onsets per beat / mean melody "
        "pitch fall in the requested bucket (edges as in `edge/generator/tokens.py`: density "
        f"{T.DENSITY_EDGES}, register {T.REGISTER_EDGES}); a bar without melody misses the register.",
        "- **Scale consistency** (MusPy): per 8-bar segment, the largest share of its melody and bass "
        "notes that belong to one of the 24 major / natural minor scales; the mean over segments.",
        "- **Overlap** (MGEval, Yang & Lerch 2018): per feature (the melody's pitch-class histogram "
        "counted from the tonic, so keys don't matter; the histogram of inter-onset intervals of 1..16 "
        "sixteenths), the Euclidean distances within the held-out set and from each generated segment to "
        "each held-out segment are smoothed with a Gaussian KDE (Scott's bandwidth); the overlap area of "
        "the two curves, 1 = indistinguishable from held-out music, 0 = nothing like it.",
        "- **Repeated phrases**: the melody cut into consecutive 2-bar phrases (bars 1-2, 3-4, ...); the "
        "share of phrases with notes whose (bar, onset, pitch) sequence exactly repeats an earlier phrase "
        "of the session.",
        "- **Speed**: see the notes under the tables; the targets judge the KV step and the mean ms per bar.",
        *MUSICALITY_DEFINITIONS,
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
