"""Generation metrics of a tier: control adherence, closeness to real music, musicality, repetition, speed.

What scripts/eval_models.py measures for each generator (the neural tiers and tier 0): the sweep
of every control request, conductor-driven sessions in every style (with the harmony, melody,
structure and rhythm figures of each style), a long focus session, a few arranged bars per style
for the piano rolls, and the references they are compared with: held-out real music, and for the
harmony each style pack's own declared progressions. The metric maths live in
``edge.training.metrics`` and ``edge.training.musicality``; likelihood and backend speed in
``edge.training.inference``; the report in ``edge.training.report``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.config import GeneratorConfig
from edge.context.context import MOODS, Context
from edge.generator import tokens as T
from edge.generator.neural import STYLE_TAGS, NeuralGenerator, mode_token
from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry
from edge.music.arranger import Arranger, playing
from edge.music.conductor import Conductor
from edge.music.events import Bar, BarPlan
from edge.music.style import StyleLibrary, StylePack
from edge.training import metrics as M
from edge.training import musicality as MU
from edge.training.inference import (
    find_checkpoint,
    matmul_bound,
    nll_onnx,
    nll_torch,
    ort_session,
    rss,
    speed_table,
)

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
#: Bars per piano roll, and the most bars played while waiting for the first section change.
PIANOROLL_BARS = 16
PIANOROLL_SEARCH = 64


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
    style_segments: int = 256
    """8-bar segments of each style's declared harmony laid out (the harmonic reference)."""


FULL = Sizes(400, 4, 8, 52, 800, 200, 30, 30.0)
QUICK = Sizes(8, 1, 2, 1, 16, 10, 3, 2.0, 64)


@dataclass(frozen=True)
class Segment:
    """8 consecutive bars of a conductor-driven session, with what the musicality figures need."""

    key: int
    bars: list[T.BarEvents]
    style: str
    before: T.Chord = None
    """The chord sounding just before the segment (None at the session's start)."""
    pedal: bool = False
    """Whether a bar of it lies in a section the style holds on a drone on purpose."""


def is_pedal(plan: BarPlan, style: StylePack) -> bool:
    """Whether the plan's bar lies in a pedal section (a held harmony intended)."""
    return bool(getattr(plan, "pedal", False)) or plan.section in getattr(style, "pedal_sections", ())


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


def heard(bar: Bar) -> Bar:
    """The bar as a listener hears it: lead and bass only where its section plays them (an intro
    has no lead, a break no bass; ``edge.music.arranger.playing``)."""
    band = playing(bar.plan)
    return dataclasses.replace(bar, notes=tuple(n for n in bar.notes if n.track in band))


def session_segments(
    make, styles: StyleLibrary, sizes: Sizes, seed: int
) -> tuple[list[Segment], int, list[dict]]:
    """8-bar segments from conductor-driven sessions in every style, a bright and a dark mood each.

    Also returns how many bars the generator failed on (tier 0's bars stand in for them, as at run
    time) and per session its style, mood, chord changes per 8 bars and longest held harmony over
    the whole session, both outside pedal sections.
    """
    segments, failed, sessions = [], 0, []
    for j, ((name, activity), mood) in enumerate((s, m) for s in SESSIONS for m in MOODS_USED):
        valence, arousal = MOODS[mood]
        context = Context(valence=valence, arousal=arousal, mood=mood, activity=activity, style=name)
        style = styles.get(name)
        conductor = Conductor(np.random.default_rng([seed, j]), context, style)
        player = make(np.random.default_rng([seed, j, 1]))
        bars, keys, pedal = [], [], []
        for _ in range(sizes.session_segments * SEGMENT_BARS):
            plan = conductor.next_plan(context, style)
            keys.append(plan.key)
            pedal.append(is_pedal(plan, style))
            bars.append(M.bar_events(heard(player.play(plan, style)[0])))
        for i in range(0, len(bars), SEGMENT_BARS):
            before = MU.last_chord(bars[i - 1]) if i else None
            part = slice(i, i + SEGMENT_BARS)
            segments.append(Segment(keys[i], bars[part], name, before, any(pedal[part])))
        moving = [bar for bar, held in zip(bars, pedal, strict=True) if not held]
        sessions.append(
            {
                "pitch_windows": MU.window_metrics([p for _, p in MU.melody_line(bars)]),
                "style": name,
                "mood": mood,
                "bars": len(bars),
                "pedal_bars": sum(pedal),
                "chord_changes": MU.chord_changes(moving) if moving else math.nan,
                "longest_hold": MU.longest_hold(bars, skip=pedal),
            }
        )
        failed += player.failed
    return segments, failed, sessions


def musicality(segments: list[Segment], sessions: list[dict] = ()) -> dict[str, dict[str, list[float]]]:
    """Per style, each musicality figure of every segment (harmony figures skip pedal segments);
    the pitch-class figures come from the sessions' ``PITCH_WINDOW``-note windows where given."""
    out: dict[str, dict[str, list[float]]] = {}
    for segment in segments:
        figures = MU.segment_metrics(segment.bars, segment.key, segment.before)
        per = out.setdefault(segment.style, {m.key: [] for m in MU.METRICS})
        for name, value in figures.items():
            if not (segment.pedal and name in MU.HARMONY):
                per[name].append(value)
    windowed = [s for s in sessions if "pitch_windows" in s]
    for style in {s["style"] for s in windowed}:
        per = out.setdefault(style, {m.key: [] for m in MU.METRICS})
        for name in MU.PITCH_FIGURES:
            per[name] = [v for s in windowed if s["style"] == style for v in s["pitch_windows"][name]]
    return out


def pianoroll_bars(make, styles: StyleLibrary, seed: int, bars: int = PIANOROLL_BARS) -> dict[str, list[Bar]]:
    """Per style, ``bars`` arranged bars (the full band) around the session's first section change.

    The style's session with a bright mood, through the generator and the arranger as the Engine
    plays them; the window opens 4 bars before the first new section so the picture shows one.
    """
    out: dict[str, list[Bar]] = {}
    for j, (name, activity) in enumerate(SESSIONS):
        mood = MOODS_USED[0]
        valence, arousal = MOODS[mood]
        context = Context(valence=valence, arousal=arousal, mood=mood, activity=activity, style=name)
        style = styles.get(name)
        conductor = Conductor(np.random.default_rng([seed, j]), context, style)
        player = make(np.random.default_rng([seed, j, 1]))
        arranger = Arranger(np.random.default_rng([seed, j, 2]))
        made: list[Bar] = []
        change = None
        while len(made) < PIANOROLL_SEARCH:
            plan = conductor.next_plan(context, style)
            made.append(arranger.arrange(player.play(plan, style)[0], style))
            if change is None and len(made) > 1 and plan.section != made[-2].plan.section:
                change = len(made) - 1
            if len(made) >= max(bars, (change or PIANOROLL_SEARCH) + bars - 4):
                break
        start = max(0, min((change or 4) - 4, len(made) - bars))
        out[name] = made[start : start + bars]
    return out


def matched_segments(make, styles: StyleLibrary, reference: dict, seed: int) -> list[tuple[int, list]]:
    """8-bar segments written to the held-out segments' own controls, bar by bar.

    Each real bar becomes a plan with its piece's key and mode, its own melody density and a
    melody range around its own notes, in the style whose tag is the piece's source; so the
    overlap measures the generator, not the conductor's choices. 2/4 and 6/8 segments are skipped
    (the runtime plays 4/4 and 3/4).
    """
    by_tag = {tag: name for name, tag in STYLE_TAGS.items()}
    segments = []
    for j, (piece, bars) in enumerate(reference["held_segments"]):
        if any(b.meter not in ("4/4", "3/4") for b in bars) or piece["tag"] not in by_tag:
            continue
        style = styles.get(by_tag[piece["tag"]])
        player = make(np.random.default_rng([seed, j]))
        mode = "major" if piece["mode"] == "major" else "aeolian"
        written = []
        for i, real in enumerate(bars):
            pitches = [n.pitch for n in real.melody] or [66]
            low, high = min(pitches), max(pitches)
            pad = max(0, 12 - (high - low)) / 2
            plan = BarPlan(
                index=i, tempo=sum(style.tempo) / 2, beats=real.beats, key=int(piece["key"]), mode=mode,
                density=T.density_of(real), register=(int(low - pad), int(high + pad + 0.5)), energy=0.5,
                section="build", bar_in_section=i, section_length=SEGMENT_BARS, style=style.name,
                new_phrase=i == 0,
            )  # fmt: skip
            written.append(M.bar_events(player.play(plan, style)[0]))
        segments.append((int(piece["key"]), written))
    return segments


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
    segments, failed, sessions = session_segments(make, styles, sizes, seed=21)
    result["segments"] = len(segments)
    result["scale_consistency"] = _nanmean([M.scale_consistency(M.segment_pitches(s.bars)) for s in segments])
    pc = np.stack([M.pitch_class_histogram(s.bars, s.key) for s in segments])
    ioi = np.stack([M.ioi_histogram(s.bars) for s in segments])
    result["musicality"] = musicality(segments, sessions)
    result["sessions"] = sessions
    result["pianoroll"] = pianoroll_bars(make, styles, seed=51)
    result["overlap_pitch_class"] = M.mgeval_overlap(pc, reference["pc"])
    result["overlap_ioi"] = M.mgeval_overlap(ioi, reference["ioi"])
    matched = matched_segments(make, styles, reference, seed=41)
    result["matched_segments"] = len(matched)
    pc = np.stack([M.pitch_class_histogram(s, key) for key, s in matched])
    ioi = np.stack([M.ioi_histogram(s) for _, s in matched])
    result["matched_overlap_pitch_class"] = M.mgeval_overlap(pc, reference["pc"])
    result["matched_overlap_ioi"] = M.mgeval_overlap(ioi, reference["ioi"])
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

    def draw(group: list[dict], count: int) -> list[tuple[dict, list[T.BarEvents], T.Chord]]:
        """(piece, 8 bars, the chord sounding before them) for up to ``count`` places."""
        places = [(i, s) for i, p in enumerate(group) for s in range(0, len(p["bars"]) - SEGMENT_BARS + 1, 8)]
        if len(places) > count:
            places = [places[k] for k in sorted(rng.choice(len(places), size=count, replace=False))]
        out = []
        for i, s in places:
            bars = [T.BarEvents.from_json(b) for b in group[i]["bars"][max(0, s - 1) : s + SEGMENT_BARS]]
            before = MU.last_chord(bars.pop(0)) if s else None
            out.append((group[i], bars, before))
        return out

    held_drawn = draw(held, sizes.reference_segments)
    held_segments = [(piece, bars) for piece, bars, _ in held_drawn]
    train_segments = [(piece, bars) for piece, bars, _ in draw(train, sizes.reference_segments)]
    real: dict[str, list[float]] = {m.key: [] for m in MU.METRICS}
    for piece, bars, before in held_drawn:
        for name, value in MU.segment_metrics(bars, int(piece["key"]), before).items():
            real[name].append(value)
    # The pitch-class figures per window of as many notes as a generated line's (MU.PITCH_WINDOW).
    windows: dict[str, list[float]] = {name: [] for name in MU.PITCH_FIGURES}
    for piece in held:
        line = [p for _, p in MU.melody_line([T.BarEvents.from_json(b) for b in piece["bars"]])]
        for name, values in MU.window_metrics(line).items():
            windows[name].extend(values)
    for name, values in windows.items():
        if len(values) > sizes.reference_segments:
            values = [
                values[k] for k in sorted(rng.choice(len(values), sizes.reference_segments, replace=False))
            ]
        real[name] = values

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
        "held_segments": held_segments,
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
        "musicality": {name: np.asarray(values) for name, values in real.items()},
    }


def style_reference(styles: StyleLibrary, sizes: Sizes, seed: int = 7) -> dict[str, dict]:
    """Per style, the harmony figures of its own declared progressions in its harmonic rhythm.

    The corpus has no house or lo-fi, so the harmony of a style is judged against what its pack
    declares: ``sizes.style_segments`` 8-bar segments of ``musicality.declared_bars`` (phrases of
    the pack's length, each looping one declared progression, a chord every ``chord_beats``
    beats), segment i in the pack's scale i mod n, each after a phrase of lead-in. Also the pack's
    harmonic rhythm and pedal sections, which the targets read.
    """
    out = {}
    for j, (name, _) in enumerate(SESSIONS):
        style = styles.get(name)
        rng = np.random.default_rng([seed, j])
        values: dict[str, list[float]] = {key: [] for key in MU.HARMONY}
        for i in range(sizes.style_segments):
            mode = style.scales[i % len(style.scales)]
            lead = style.phrase_bars
            bars = MU.declared_bars(
                style.progressions, style.chord_beats, style.phrase_bars, lead + SEGMENT_BARS, 0, mode, rng
            )
            for key, value in MU.harmony_metrics(bars[lead:], 0, MU.last_chord(bars[lead - 1])).items():
                values[key].append(value)
        out[name] = {
            "musicality": {key: np.asarray(v) for key, v in values.items()},
            "chord_beats": style.chord_beats,
            "progressions": [list(p) for p in style.progressions],
            "pedal_sections": tuple(getattr(style, "pedal_sections", ())),
            "segments": sizes.style_segments,
        }
    return out


def musicality_summary(rows: dict[str, dict], reference: dict) -> dict:
    """Every tier's musicality figures against their references, and each tier's closeness score.

    ``rows``: tier -> evaluate_generator's result; ``reference``: reference_set's, with
    ``style_reference``'s under ``"styles"``. Harmony figures are judged against the style's
    declared harmony (the held-out corpus's are kept for comparison), every other figure against
    the held-out corpus. A tier's closeness is the mean overlap over every (style, figure).
    """
    compared: dict[tuple[str, str], dict[str, MU.Comparison]] = {}
    corpus: dict[str, MU.Comparison] = {}
    for metric in MU.METRICS:
        corpus[metric.key] = MU.compare([], reference["musicality"][metric.key])
        for name, _ in SESSIONS:
            harmony = metric.family == "harmony"
            ref = (reference["styles"][name] if harmony else reference)["musicality"][metric.key]
            compared[(name, metric.key)] = {
                tier: MU.compare(row["musicality"].get(name, {}).get(metric.key, []), ref)
                for tier, row in rows.items()
            }
    closeness = {tier: _nanmean([c[tier].overlap for c in compared.values()]) for tier in rows}
    return {"compared": compared, "corpus": corpus, "closeness": closeness}


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


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
        with tempfile.TemporaryDirectory() as scratch:
            onnx_fp32 = path.with_suffix(".fp32.onnx")
            if not onnx_fp32.is_file():  # export.py leaves it there; re-export if it was removed
                from edge.training.graph import build_graph

                onnx_fp32 = build_graph(model, Path(scratch) / f"{tier}.fp32.onnx")
            fp32 = ort_session(onnx_fp32)

    def make(rng, open_masks=False):
        model_rng, fallback_rng = rng.spawn(2)
        generator = EvalNeural(tier, session, card, model_rng, TEMPERATURE, TOP_P, open_masks=open_masks)
        return Player(generator, fallback_rng)

    out.update(evaluate_generator(make, styles, sizes, reference, lambda rng: make(rng, True)))
    out["speed"] = speed_table(session, fp32, model, shape, held.stream, sizes)
    with tempfile.TemporaryDirectory() as scratch:
        out["speed"]["matmuls"] = matmul_bound(shape, Path(scratch), sizes.step_repeats)
    out["rss"] = rss(entry.path, shape)
    return out
