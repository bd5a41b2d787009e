"""docs/models.md: the evaluation's report, its targets table and the run's host and commit.

One document: ``write_report`` is its template, the sections in the order they appear, which is
why this module is longer than most.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from edge.generator import tokens as T
from edge.training.evaluate import (
    DENSITY_MID,
    MOODS_USED,
    REGISTER_CENTRE,
    REGISTER_HALF,
    SESSIONS,
    TIERS,
    Sizes,
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
        "pip install -e '.[dev,train]'",
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
        "NeuralGenerator as shipped (scale and register masks, density steer, a pull towards the "
        "tonic chord on each bar's first beat, top-p for rhythm and chords, every allowed pitch for "
        "notes); *model alone* samples with the grammar only (every pitch and chord token allowed, no "
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
        f"sessions ({', '.join(f'{s}/{a}' for s, a in SESSIONS)} x moods {', '.join(MOODS_USED)}). "
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
    lines += [
        "",
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
        "ms per bar: the whole `generate()` call (controls, masked sampling, decoding) over every bar of "
        "the focus session. Tokens per bar/s: tokens the model sampled (the 8 control tokens are fed, not "
        "counted). RSS: a fresh `python -c` that imports numpy, psutil, onnxruntime and the registry "
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
    lines += _table(["target", "figure", "verdict"], [list(r) for r in targets(results, tier0)])
    lines += [
        "",
        "## Sample sizes",
        "",
        f"- held-out NLL: up to {sizes.nll_windows} windows, evenly spread over the held-out stream",
        f"- adherence: 2 modes x 4 density x 4 register buckets x {sizes.sweep_runs} run(s) x "
        f"{sizes.sweep_bars} bars = {2 * 16 * sizes.sweep_runs * sizes.sweep_bars} bars per variant",
        f"- closeness: {8 * sizes.session_segments} generated 8-bar segments per tier, "
        f"{reference['segments']} held-out and {reference['train_segments']} train segments",
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
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
