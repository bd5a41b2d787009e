#!/usr/bin/env python3
"""Evaluate the shipped neural tiers against tier 0 and real music; write docs/models.md and the cards.

    python scripts/eval_models.py                      # full run (about 10 min for S, M, L on one thread)
    python scripts/eval_models.py --quick              # small samples: a smoke check in seconds
    python scripts/eval_models.py --tiers L --out /tmp/models.md

Per tier (and tier 0 wherever a metric applies): held-out NLL of the int8
model (and of the fp32 checkpoint), control adherence (mode, density,
register) with and without the runtime's masks, scale consistency, MGEval
overlap with held-out music (pitch classes, inter-onset intervals), the
repeated-phrase rate of a 30-minute session, ms per bar, tokens per second,
RSS, and int8 vs fp32 vs PyTorch eager on the same KV step. Everything runs
on one thread. The key figures go into each card's ``metrics``; the ONNX
files and manifest.json are never touched.
"""

from __future__ import annotations

# ruff: noqa: E402  (the thread variables must be set before numpy loads)
import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy loads: one thread for everything

import argparse
import itertools
import json
import math
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge.config import GeneratorConfig
from edge.context.context import MOODS, Context
from edge.generator import tokens as T
from edge.generator.neural import NeuralGenerator, mode_token
from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry, session_options
from edge.music.conductor import Conductor
from edge.music.events import Bar, BarPlan
from edge.music.style import StyleLibrary, StylePack
from edge.training import metrics as M

TIERS = ("S", "M", "L")
SEGMENT_BARS = 8
#: The middle of each density bucket (melody notes per beat) and the centre of each register bucket.
DENSITY_MID = (0.3, 0.85, 1.5, 2.5)
REGISTER_CENTRE = (57, 66, 72, 80)
REGISTER_HALF = 6  # the sweep's melody range is the centre +- 6 semitones
#: The sessions the MGEval samples come from: each style with its activity, a bright and a dark mood.
SESSIONS = (("ambient", "relax"), ("focus", "focus"), ("workout", "workout"), ("house", "party"))
MOODS_USED = ("happy", "sad")
TEMPERATURE, TOP_P = GeneratorConfig.temperature, GeneratorConfig.top_p  # as the daemon plays by default


@dataclass(frozen=True)
class Sizes:
    """How much of everything one run measures."""

    nll_windows: int
    """Held-out windows (of the model's context) scored, evenly spread over the held-out stream."""
    sweep_runs: int
    """Runs per (mode, density, register) request; run r uses style r mod 4."""
    sweep_bars: int
    """Bars per run (the first opens a phrase)."""
    session_segments: int
    """8-bar segments per (style, mood) session for scale consistency and MGEval."""
    reference_segments: int
    """Held-out (and train) 8-bar segments drawn as the real-music reference."""
    step_repeats: int
    """Timed repeats of the single-token KV step per backend."""
    full_repeats: int
    """Timed repeats of the full-context forward per backend."""
    minutes: float
    """Minutes of music in the focus session (repetition and ms per bar)."""


FULL = Sizes(400, 4, 8, 13, 200, 200, 30, 30.0)
QUICK = Sizes(8, 1, 2, 1, 16, 10, 3, 2.0)


# -- generators -------------------------------------------------------------------------------------


class EvalNeural(NeuralGenerator):
    """NeuralGenerator as shipped, counting the tokens it writes; ``open_masks`` drops the scale masks."""

    def __init__(self, *args: Any, open_masks: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, constrained=not open_masks, **kwargs)
        self.sampled = 0

    def write_bar(self, plan: BarPlan, style: StylePack, controls: T.Controls) -> list[int]:
        tokens = super().write_bar(plan, style, controls)
        self.sampled = len(tokens) - len(controls.tokens())
        return tokens


class Player:
    """A generator behind the Engine's safety net: a bar it fails on is played by tier 0, and counted."""

    def __init__(self, generator: Any, rng: np.random.Generator) -> None:
        self.generator = generator
        self.fallback = None if isinstance(generator, ProceduralGenerator) else ProceduralGenerator(rng)
        self.bars = 0
        self.failed = 0
        self.sampled = 0
        """Tokens the model sampled for the last bar (0 for tier 0 and for a failed bar)."""

    def play(self, plan: BarPlan, style: StylePack) -> tuple[Bar, bool]:
        """The bar for ``plan`` and whether the generator failed on it."""
        self.bars += 1
        try:
            bar = self.generator.generate(plan, style)
        except Exception:  # as the Engine does: the neural tier failing must never cost a bar
            if self.fallback is None:
                raise
            self.failed += 1
            self.sampled = 0
            return self.fallback.generate(plan, style), True
        self.sampled = getattr(self.generator, "sampled", 0)
        return bar, False


def sweep_plan(index: int, bars: int, key: int, mode: str, density: int, register: int, style) -> BarPlan:
    """A plan asking for one density bucket and one register bucket, at medium energy."""
    centre = REGISTER_CENTRE[register]
    return BarPlan(
        index=index,
        tempo=sum(style.tempo) / 2,
        beats=4,
        key=key,
        mode=mode,
        density=DENSITY_MID[density],
        register=(centre - REGISTER_HALF, centre + REGISTER_HALF),
        energy=0.5,
        section="build",
        bar_in_section=index,
        section_length=bars,
        style=style.name,
        new_phrase=index == 0,
    )


def sweep(make, styles: list[StylePack], sizes: Sizes, seed: int) -> dict:
    """Control adherence: every mode x density x register request, measured on what comes out."""
    keys = np.random.default_rng(seed)
    player = make(np.random.default_rng(seed + 1))
    records = []
    for mode in ("major", "aeolian"):
        for density in range(T.BUCKETS):
            for register in range(T.BUCKETS):
                for run in range(sizes.sweep_runs):
                    style = styles[run % len(styles)]
                    key = int(keys.integers(12))
                    for i in range(sizes.sweep_bars):
                        plan = sweep_plan(i, sizes.sweep_bars, key, mode, density, register, style)
                        assert T.bucket(plan.density, T.DENSITY_EDGES) == density
                        bar, failed = player.play(plan, style)
                        events = M.bar_events(bar)
                        mean = T.register_of(events)
                        measured = (
                            M.mode_of(events, key),
                            T.bucket(T.density_of(events), T.DENSITY_EDGES),
                            None if mean is None else T.bucket(mean, T.REGISTER_EDGES),
                        )
                        # A bar the model failed on misses everything (tier 0 wrote what is heard).
                        records.append(
                            (mode_token(mode), density, register, *((None,) * 3 if failed else measured))
                        )
    return {**adherence(records), "failed": player.failed}


def adherence(records: list[tuple]) -> dict:
    """Shares of the bars whose measured mode, density and register buckets equal the requested ones."""
    hits = np.array([[r[0] == r[3], r[1] == r[4], r[2] == r[5]] for r in records], dtype=float)
    requested = np.array([[r[1], r[2]] for r in records])
    out = {"bars": len(records), "mode": hits[:, 0].mean(), "density": hits[:, 1].mean()}
    out["register"] = hits[:, 2].mean()
    out["density_by_bucket"] = [hits[requested[:, 0] == b, 1].mean() for b in range(T.BUCKETS)]
    out["register_by_bucket"] = [hits[requested[:, 1] == b, 2].mean() for b in range(T.BUCKETS)]
    out["silent"] = float(np.mean([r[3] is None for r in records]))
    return out


def session_segments(
    make, styles: StyleLibrary, sizes: Sizes, seed: int
) -> tuple[list[tuple[int, list]], int]:
    """8-bar segments from conductor-driven sessions in every style, a bright and a dark mood each.

    Also returns how many bars the generator failed on (tier 0's bars stand in for them, as at run time).
    """
    segments, failed = [], 0
    for j, ((name, activity), mood) in enumerate((s, m) for s in SESSIONS for m in MOODS_USED):
        valence, arousal = MOODS[mood]
        context = Context(valence=valence, arousal=arousal, mood=mood, activity=activity, style=name)
        style = styles.get(name)
        conductor = Conductor(np.random.default_rng([seed, j]), context, style)
        player = make(np.random.default_rng([seed, j, 1]))
        bars, key = [], 0
        for _ in range(sizes.session_segments * SEGMENT_BARS):
            plan = conductor.next_plan(context, style)
            key = plan.key
            bars.append(M.bar_events(player.play(plan, style)[0]))
        segments += [(key, bars[i : i + SEGMENT_BARS]) for i in range(0, len(bars), SEGMENT_BARS)]
        failed += player.failed
    return segments, failed


def focus_session(make, styles: StyleLibrary, minutes: float, seed: int) -> dict:
    """``minutes`` of the focus style as the daemon would plan it: repetition, ms per bar, tokens/s."""
    context = Context(style="focus", activity="focus")
    style = styles.get("focus")
    conductor = Conductor(np.random.default_rng(seed), context, style)
    player = make(np.random.default_rng(seed + 1))
    bars, times, sampled, seconds = [], [], [], 0.0
    while seconds < minutes * 60:
        plan = conductor.next_plan(context, style)
        start = time.perf_counter()
        bar, _ = player.play(plan, style)
        times.append(time.perf_counter() - start)
        sampled.append(player.sampled)
        seconds += bar.seconds
        bars.append(M.bar_events(bar))
    phrases = M.melody_phrases(bars)
    ms = np.array(times) * 1000
    return {
        "bars": len(bars),
        "failed": player.failed,
        "minutes": seconds / 60,
        "phrases": len(phrases),
        "repeated": M.repeated_phrase_rate(phrases),
        "ms_mean": float(ms.mean()),
        "ms_p95": float(np.percentile(ms, 95)),
        "tokens_per_bar": float(np.sum(sampled) / max(1, len(bars) - player.failed)),
        "tokens_per_s": float(np.sum(sampled) / np.sum(times)) if np.sum(sampled) else math.nan,
    }


def evaluate_generator(make, styles: StyleLibrary, sizes: Sizes, reference: dict, open_make=None) -> dict:
    """Every generation metric for one generator (a factory taking an rng)."""
    packs = [styles.get(name) for name, _ in SESSIONS]
    started = time.perf_counter()
    result: dict[str, Any] = {"adherence": sweep(make, packs, sizes, seed=11)}
    if open_make is not None:
        result["adherence_open"] = sweep(open_make, packs, sizes, seed=11)
    segments, failed = session_segments(make, styles, sizes, seed=21)
    result["segments"] = len(segments)
    result["scale_consistency"] = _nanmean([M.scale_consistency(M.segment_pitches(s)) for _, s in segments])
    pc = np.stack([M.pitch_class_histogram(s, key) for key, s in segments])
    ioi = np.stack([M.ioi_histogram(s) for _, s in segments])
    result["overlap_pitch_class"] = M.mgeval_overlap(pc, reference["pc"])
    result["overlap_ioi"] = M.mgeval_overlap(ioi, reference["ioi"])
    result["session"] = focus_session(make, styles, sizes.minutes, seed=31)
    sweeps = [result["adherence"], result.get("adherence_open", {})]
    result["failed"] = failed + result["session"]["failed"] + sum(a.get("failed", 0) for a in sweeps)
    result["generated"] = len(segments) * SEGMENT_BARS + result["session"]["bars"]
    result["generated"] += sum(a.get("bars", 0) for a in sweeps)
    result["seconds"] = time.perf_counter() - started
    return result


# -- the real-music reference ---------------------------------------------------------------------


def reference_set(data: Path, sizes: Sizes) -> dict:
    """Held-out (and train) 8-bar segments, their features, and the real-music reference rows."""
    with (data / "pieces.jsonl").open() as fh:
        pieces = [json.loads(line) for line in fh if line.strip()]
    held = [p for p in pieces if p["split"] != "train"]
    train = [p for p in pieces if p["split"] == "train"]
    rng = np.random.default_rng(5)

    def draw(group: list[dict], count: int) -> list[tuple[dict, list[T.BarEvents]]]:
        places = [(i, s) for i, p in enumerate(group) for s in range(0, len(p["bars"]) - SEGMENT_BARS + 1, 8)]
        if len(places) > count:
            places = [places[k] for k in sorted(rng.choice(len(places), size=count, replace=False))]
        return [
            (group[i], [T.BarEvents.from_json(b) for b in group[i]["bars"][s : s + SEGMENT_BARS]])
            for i, s in places
        ]

    held_segments = draw(held, sizes.reference_segments)
    train_segments = draw(train, sizes.reference_segments)

    def features(segments):
        pc = np.stack([M.pitch_class_histogram(s, int(p["key"])) for p, s in segments])
        return pc, np.stack([M.ioi_histogram(s) for _, s in segments])

    pc, ioi = features(held_segments)
    train_pc, train_ioi = features(train_segments)
    modes = [M.mode_of(bar, int(p["key"])) == p["mode"] for p, s in held_segments for bar in s]
    repeats = phrases = 0
    for piece in held:
        found = M.melody_phrases([T.BarEvents.from_json(b) for b in piece["bars"]])
        repeats += M.repeated_phrases(found)
        phrases += len(found)
    return {
        "pc": pc,
        "ioi": ioi,
        "held_pieces": len(held),
        "segments": len(held_segments),
        "train_segments": len(train_segments),
        "held_scale": _nanmean([M.scale_consistency(M.segment_pitches(s)) for _, s in held_segments]),
        "train_scale": _nanmean([M.scale_consistency(M.segment_pitches(s)) for _, s in train_segments]),
        "train_overlap_pitch_class": M.mgeval_overlap(train_pc, pc),
        "train_overlap_ioi": M.mgeval_overlap(train_ioi, ioi),
        "held_mode_agreement": float(np.mean(modes)) if modes else math.nan,
        "held_mode_bars": len(modes),
        "held_phrases": phrases,
        "held_repeated": repeats / phrases if phrases else math.nan,
    }


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


# -- likelihood and speed -------------------------------------------------------------------------


def _empty_past(shape: dict) -> np.ndarray:
    heads = int(shape["heads"])
    return np.zeros((int(shape["layers"]), 2, 1, heads, 0, int(shape["width"]) // heads), dtype=np.float32)


def nll_onnx(session: Any, windows: np.ndarray, shape: dict) -> float:
    """Mean NLL per token (nats) of an ONNX model over full-context windows with an empty past."""
    past = _empty_past(shape)
    total, count = 0.0, 0
    for window in windows:
        logits, _ = session.run(None, {"input_ids": window[None, :-1], "past": past})
        z = logits[0].astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= float(logp[np.arange(len(window) - 1), window[1:]].sum())
        count += len(window) - 1
    return total / max(1, count)


def nll_torch(model: Any, windows: np.ndarray, batch: int = 8) -> float:
    """The same figure from the fp32 checkpoint in PyTorch."""
    import torch
    from torch.nn import functional as F

    total, count = 0.0, 0
    with torch.inference_mode():
        for i in range(0, len(windows), batch):
            x = torch.from_numpy(windows[i : i + batch])
            logits, _ = model(x[:, :-1], model.empty_past(len(x)))
            total += float(
                F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1), reduction="sum")
            )
            count += x[:, 1:].numel()
    return total / max(1, count)


def find_checkpoint(folder: Path, tier: str, card: dict) -> tuple[Path, Any] | None:
    """The finished checkpoint the card was exported from (same shape, steps and data), with its model."""
    if not folder.is_dir():
        return None
    candidates = [folder / f"{tier}.pt", *sorted(p for p in folder.glob("*.pt") if p.name != f"{tier}.pt")]
    if not any(p.is_file() for p in candidates):
        return None
    try:
        from edge.training.export import load_checkpoint
    except ImportError:  # no torch: the fp32 and eager columns stay empty
        return None
    for path in candidates:
        if not path.is_file():
            continue
        model, state = load_checkpoint(path)
        training = card.get("training", {})
        same = state.get("shape") == card["shape"] and state.get("step") == training.get("steps")
        same = same and state.get("data", {}).get("sha256") == training.get("data_sha256")
        if state.get("done") and same:
            return path, model
    return None


def _median_ms(calls: dict[str, Any], repeats: int) -> dict[str, float]:
    """Median wall time of each call, run round-robin so load changes hit every backend alike."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(3):
            call()
    for _ in range(repeats):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t) * 1000) for name, t in times.items()}


def speed_table(int8: Any, fp32: Any, model: Any, shape: dict, stream: np.ndarray, sizes: Sizes) -> dict:
    """int8 ORT vs fp32 ORT vs PyTorch eager: one KV step after context-1 tokens, and a full forward."""
    context = int(shape["context"])
    ids = np.resize(stream.astype(np.int64), context)[None, :]
    empty = _empty_past(shape)
    _, past = int8.run(None, {"input_ids": ids[:, : context - 1], "past": empty})
    step = ids[:, context - 1 :]
    backends: dict[str, Any] = {"int8": int8}
    if fp32 is not None:
        backends["fp32"] = fp32
    step_calls = {
        n: (lambda s=s: s.run(None, {"input_ids": step, "past": past})) for n, s in backends.items()
    }
    full_calls = {
        n: (lambda s=s: s.run(None, {"input_ids": ids, "past": empty})) for n, s in backends.items()
    }
    if model is not None:
        import torch

        t_step, t_past, t_ids = torch.from_numpy(step), torch.from_numpy(past), torch.from_numpy(ids)
        t_empty = torch.from_numpy(empty)

        def eager(x, p):
            with torch.inference_mode():
                model(x, p)

        step_calls["eager"] = lambda: eager(t_step, t_past)
        full_calls["eager"] = lambda: eager(t_ids, t_empty)
    return {
        "context": context,
        "step": _median_ms(step_calls, sizes.step_repeats),
        "full": _median_ms(full_calls, sizes.full_repeats),
    }


RSS_PROBE = """
import json, sys
import numpy as np, onnxruntime as ort, psutil
from edge.generator.registry import session_options
proc = psutil.Process()
base = proc.memory_info().rss
cpu = ["CPUExecutionProvider"]
session = ort.InferenceSession(sys.argv[1], sess_options=session_options(), providers=cpu)
loaded = proc.memory_info().rss
layers, heads, head_dim, context = map(int, sys.argv[2:6])
past = np.zeros((layers, 2, 1, heads, 0, head_dim), np.float32)
session.run(None, {"input_ids": np.zeros((1, context), np.int64), "past": past})
print(json.dumps({"base": base, "loaded": loaded, "ran": proc.memory_info().rss}))
"""


def rss(path: Path, shape: dict) -> dict:
    """RSS (MiB) of a fresh process: bare imports, after creating the session, after a full forward."""
    heads = int(shape["heads"])
    args = [str(v) for v in (shape["layers"], heads, int(shape["width"]) // heads, shape["context"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(path), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    return {k: v / 2**20 for k, v in json.loads(out.stdout.strip().splitlines()[-1]).items()}


# -- one tier ---------------------------------------------------------------------------------------


def evaluate_tier(tier: str, registry: TierRegistry, args, sizes: Sizes, styles, reference, held) -> dict:
    """Likelihood, generation metrics and speed of one shipped tier."""
    entry = registry.entries[tier]
    card = registry.card(tier)
    shape = card["shape"]
    session = registry.session(tier)
    if session is None:
        raise RuntimeError(f"tier {tier}: {registry.disabled.get(tier)}")
    out: dict[str, Any] = {"card": card, "path": entry.path, "size_mb": entry.path.stat().st_size / 2**20}
    from edge.training.dataset import heldout_windows

    context = int(shape["context"])
    windows = heldout_windows(held, context) if len(held.stream) > context + 1 else np.zeros((0, context + 1))
    pick = np.linspace(0, len(windows) - 1, min(len(windows), sizes.nll_windows)).round().astype(int)
    windows = windows[np.unique(pick)].astype(np.int64)
    out["nll_windows"] = len(windows)
    out["nll_int8"] = nll_onnx(session, windows, shape) if len(windows) else math.nan
    found = find_checkpoint(args.checkpoints, tier, card)
    model = fp32 = None
    if found is not None:
        path, model = found
        out["checkpoint"] = path
        out["nll_fp32"] = nll_torch(model, windows) if len(windows) else math.nan
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as scratch:
            onnx_fp32 = path.with_suffix(".fp32.onnx")
            if not onnx_fp32.is_file():  # export.py leaves it there; re-export if it was removed
                from edge.training.export import export_fp32

                onnx_fp32 = export_fp32(model, Path(scratch) / f"{tier}.fp32.onnx")
            cpu = ["CPUExecutionProvider"]
            fp32 = ort.InferenceSession(str(onnx_fp32), sess_options=session_options(), providers=cpu)

    def make(rng, open_masks=False):
        model_rng, fallback_rng = rng.spawn(2)
        generator = EvalNeural(tier, session, card, model_rng, TEMPERATURE, TOP_P, open_masks=open_masks)
        return Player(generator, fallback_rng)

    out.update(evaluate_generator(make, styles, sizes, reference, lambda rng: make(rng, True)))
    out["speed"] = speed_table(session, fp32, model, shape, held.stream, sizes)
    out["rss"] = rss(entry.path, shape)
    return out


def card_metrics(result: dict, quick: bool, commit: str) -> dict:
    """The key figures written into the card's ``metrics``."""
    session = result["session"]
    figures = {
        "heldout_nll_int8": result["nll_int8"],
        "heldout_nll_fp32": result.get("nll_fp32"),
        "mode_adherence": result["adherence"]["mode"],
        "density_adherence": result["adherence"]["density"],
        "register_adherence": result["adherence"]["register"],
        "mode_adherence_unmasked": result["adherence_open"]["mode"],
        "scale_consistency": result["scale_consistency"],
        "overlap_pitch_class": result["overlap_pitch_class"],
        "overlap_ioi": result["overlap_ioi"],
        "repeated_phrase_rate": session["repeated"],
        "ms_per_bar": session["ms_mean"],
        "ms_per_bar_p95": session["ms_p95"],
        "tokens_per_s": session["tokens_per_s"],
        "rss_mb": result["rss"]["loaded"],
        "failed_bar_rate": result["failed"] / max(1, result["generated"]),
        "int8_vs_fp32_speedup": _ratio(result["speed"]["step"], "fp32"),
        "int8_vs_eager_speedup": _ratio(result["speed"]["step"], "eager"),
    }
    rounded: dict[str, Any] = {}
    for key, value in figures.items():
        if value is not None and not math.isnan(value):
            rounded[key] = round(float(value), 1 if key in ("tokens_per_s", "rss_mb") else 4)
    rounded["eval"] = f"scripts/eval_models.py{' --quick' if quick else ''} at {commit}"
    return rounded


def _ratio(times: dict[str, float], other: str) -> float | None:
    return times[other] / times["int8"] if other in times else None


def update_card(path: Path, figures: dict) -> None:
    """Merge the figures into the card's metrics (training's heldout_nll and anything else stay)."""
    card_path = path.with_name(path.name + ".json")
    card = json.loads(card_path.read_text())
    card["metrics"] = {**card.get("metrics", {}), **figures}
    card_path.write_text(json.dumps(card, indent=2) + "\n")


# -- the report -------------------------------------------------------------------------------------


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


def _host() -> str:
    model = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} logical CPUs"


def _git(*args: str) -> str:
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
            ratio = _ratio(step, other)
            figure = "—" if ratio is None else f"{ratio:.2f}x ({step['int8']:.3f} vs {step[other]:.3f} ms)"
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
    lines += ["", "Tier 0 is the procedural generator (no model file, no training).", ""]

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
        "NeuralGenerator as shipped; *model alone* samples with the grammar only (every pitch and chord "
        "token allowed). The held-out row is how often the per-bar mode measure agrees with the piece's "
        "labelled mode in real music.",
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
                _f(_ratio(step, "fp32"), 2),
                _f(_ratio(step, "eager"), 2),
                _f(full["int8"], 2),
                _f(full.get("fp32"), 2),
                _f(full.get("eager"), 2),
                _f(_ratio(full, "fp32"), 2),
                _f(_ratio(full, "eager"), 2),
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
        f"forward: {context} tokens with an empty past. Median of {sizes.step_repeats} (step) and "
        f"{sizes.full_repeats} (forward) repeats after 3 warm-ups, the backends interleaved round-robin. "
        "fp32 is the ONNX graph exported next to the checkpoint, eager the checkpoint in PyTorch "
        "(`torch.inference_mode`). Timings on a shared machine are noisy: compare ratios from the same run.",
        "",
        "## Targets",
        "",
    ]
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


# -- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--checkpoints", type=Path, default=ROOT / ".cache/train")
    parser.add_argument("--data", type=Path, default=ROOT / ".cache/data/default")
    parser.add_argument("--minutes", type=float, help="minutes of music per session (30; 2 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs/models.md")
    parser.add_argument(
        "--tiers", default=",".join(TIERS), help="comma-separated, of S, M, L (tier 0 always)"
    )
    parser.add_argument(
        "--quick", action="store_true", help="small samples: a fast check, not figures to quote"
    )
    parser.add_argument("--no-cards", action="store_true", help="don't write the metrics into the cards")
    args = parser.parse_args(argv)
    wanted = [t.strip() for t in args.tiers.split(",") if t.strip()]
    if unknown := [t for t in wanted if t not in TIERS]:
        parser.error(f"unknown tier(s) {', '.join(unknown)}; choose from {', '.join(TIERS)}")
    sizes = QUICK if args.quick else FULL
    if args.minutes is not None:
        sizes = Sizes(**{**sizes.__dict__, "minutes": args.minutes})
    started = time.perf_counter()
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    try:
        import torch

        torch.set_num_threads(1)
        torch_version = torch.__version__
    except ImportError:
        torch_version = None

    from edge.training.dataset import load_splits

    try:
        _, held, _ = load_splits(args.data)
    except FileNotFoundError as exc:
        print(f"eval_models: {exc}", file=sys.stderr)
        return 2
    styles = StyleLibrary()
    reference = reference_set(args.data, sizes)
    registry = TierRegistry(args.models)
    missing = {t: registry.disabled.get(t, f"no model in {args.models}/manifest.json") for t in wanted}
    missing = {t: why for t, why in missing.items() if t not in registry.entries}
    results: dict[str, dict] = {}
    for tier in (t for t in TIERS if t in wanted and t in registry.entries):
        begun = time.perf_counter()
        results[tier] = evaluate_tier(tier, registry, args, sizes, styles, reference, held)
        results[tier]["wall"] = time.perf_counter() - begun
        print(f"eval_models: tier {tier} took {results[tier]['wall']:.0f} s", file=sys.stderr)
    begun = time.perf_counter()
    tier0 = evaluate_generator(lambda rng: Player(ProceduralGenerator(rng), rng), styles, sizes, reference)
    tier0["wall"] = time.perf_counter() - begun
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "--", "edge", "scripts"))
    import onnxruntime

    info = {
        "quick": args.quick,
        "commit": commit,
        "dirty": dirty,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "host": _host(),
        "ort": onnxruntime.__version__,
        "torch": torch_version,
        "load": load,
        "sizes": sizes,
        "missing": missing,
        "minutes": (time.perf_counter() - started) / 60,
    }
    write_report(args.out, results, tier0, reference, info)
    if not args.no_cards:
        for result in results.values():
            update_card(result["path"], card_metrics(result, args.quick, commit))
    print(f"wrote {args.out} in {info['minutes']:.1f} min", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
