#!/usr/bin/env python3
"""Simulate the thermal governor against fixed tiers; write docs/thermal.md and PNG plots.

    python scripts/thermal_sim.py                      # measure every installed tier here, then simulate
    python scripts/thermal_sim.py --measure-only --save-costs docs/thermal_costs.json   # measure, save
    python scripts/thermal_sim.py --costs docs/thermal_costs.json   # simulate with saved costs (the docs)
    python scripts/thermal_sim.py --measure-only --host-speed 1 --save-costs costs.json   # on a Pi 4

Measuring runs the real engine on one thread for each installed tier (0 and
whichever of S/M/L models/ holds) x synth level; tiers that are not installed
get the measured tier-0 point plus the built-in generator figures
(edge/thermal/power.py TIER_COST), and the note says so.

The REAL Governor class drives a first-order RC model of each board profile
(edge/thermal/simulator.py), in simulated time. Plots are PNGs drawn with
numpy and zlib (edge/thermal/plot.py), so no plotting library is needed. The
daemon never imports this script.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from edge.thermal.governor import OperatingPoint, default_operating_points  # noqa: E402
from edge.thermal.plot import BLUE, GREEN, GREY, ORANGE, PURPLE, RED, Panel, Series, line_chart  # noqa: E402
from edge.thermal.power import (  # noqa: E402
    PROFILES,
    SYNTH_LEVELS,
    TIER_COST,
    TIERS,
    CostTable,
    default_costs,
    load_costs,
    planning_costs,
)
from edge.thermal.simulator import (  # noqa: E402
    SCENARIOS,
    Metrics,
    Scenario,
    Trace,
    admissible,
    check_requirements,
    compare,
    shortened,
)

DEFAULT_HOST_SPEED = 5.0
"""ASSUMED speed of one core of the machine running --measure, relative to a Pi 4 core."""


@dataclass
class Measurement:
    """What ``measure_engine`` found on this host: CPU-s per audio-s, one thread."""

    points: dict[tuple[str, int], float]
    """(tier, synth level) -> whole engine (generator + arranger + synth), CPU-s per audio-s."""
    generator: dict[tuple[str, int], float]
    """(tier, synth level) -> the part of ``points`` spent writing bars (conductor, generator, arranger)."""
    missing: dict[str, str] = field(default_factory=dict)
    """Tiers not measured -> why (not installed, did not load, fell back to tier 0)."""
    seconds: float = 20.0
    """Audio seconds timed per style and point."""

    @property
    def tiers(self) -> tuple[str, ...]:
        """The measured tiers, best first."""
        return tuple(t for t in TIERS if any(k[0] == t for k in self.points))

    def generator_cost(self, tier: str) -> float:
        """Mean cost of writing the bars of ``tier`` over the synth levels (it does not depend on them)."""
        values = [v for (t, _), v in self.generator.items() if t == tier]
        return sum(values) / len(values)

    def synth_cost(self, level: int) -> float:
        """Mean cost of the synth at ``level`` over the measured tiers (the rest of each point)."""
        values = [self.points[k] - self.generator[k] for k in self.points if k[1] == level]
        return sum(values) / len(values)


class _Errors(logging.Handler):
    """Counts the engine's error lines (a neural bar that failed and was played by tier 0)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def measure_engine(
    seconds: float = 20.0, models_dir: str | Path | None = None, tiers: tuple[str, ...] = TIERS
) -> Measurement:
    """CPU-s per audio-s of the real engine for every installed tier x synth level, on this host.

    One thread (OMP_NUM_THREADS=1; onnxruntime sessions are single-threaded by the registry's
    options). Per point and style pack: a fresh engine, 20 blocks of warm-up (wavetables, drum
    samples, the model's session and first bar), then ``seconds`` of audio timed with
    ``time.process_time``; the point's figure is the mean over the style packs. The time spent in
    ``Engine.next_bar`` (conductor + generator + arranger) is recorded as the generator's share.
    """
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from edge.context.context import Context
    from edge.engine import Engine
    from edge.generator.registry import TierRegistry
    from edge.music.style import StyleLibrary

    library = StyleLibrary()
    registry = TierRegistry(models_dir)
    errors = _Errors()
    logging.getLogger("edge").addHandler(errors)
    result = Measurement({}, {}, {}, seconds)
    for tier, why in registry.disabled.items():
        result.missing[tier] = why
    try:
        for tier in tiers:
            if tier != "0" and tier not in registry.available:
                result.missing.setdefault(tier, "not installed")
                continue
            for level in SYNTH_LEVELS:
                total, writing = [], []
                for style in library.names:
                    context = Context(style=style)
                    engine = Engine(library, lambda c=context: c, seed=1, registry=registry, tier=tier)
                    engine.synth.set_level(level)
                    spent = [0.0]
                    next_bar = engine.next_bar

                    def timed(next_bar=next_bar, spent=spent):
                        started = time.process_time()
                        try:
                            return next_bar()
                        finally:
                            spent[0] += time.process_time() - started

                    engine.next_bar = timed  # type: ignore[method-assign]
                    failed = errors.count
                    for _ in range(20):  # warm caches (and load the model) before timing
                        engine.render_block(1024)
                    if engine.tier != tier:
                        break  # the tier failed to load: the registry disabled it
                    frames, spent[0] = 0, 0.0
                    started = time.process_time()
                    while frames < seconds * engine.sample_rate:
                        engine.render_block(1024)
                        frames += 1024
                    elapsed = time.process_time() - started
                    if errors.count != failed or engine.tier != tier:
                        raise RuntimeError(f"tier {tier} failed while it was measured ({style})")
                    audio = frames / engine.sample_rate
                    total.append(elapsed / audio)
                    writing.append(spent[0] / audio)
                if len(total) != len(library.names):
                    result.missing[tier] = registry.disabled.get(tier, "fell back to a lower tier")
                    break
                result.points[(tier, level)] = sum(total) / len(total)
                result.generator[(tier, level)] = sum(writing) / len(writing)
    finally:
        logging.getLogger("edge").removeHandler(errors)
    return result


def cpu_model() -> str:
    """The host CPU's name, for the report."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """Short commit, "+dirty" when the engine's code differs (edge/ but edge/thermal and edge/training)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=True).stdout.strip()
        engine = ["edge", ":!edge/thermal", ":!edge/training"]
        dirty = subprocess.run(["git", "status", "--porcelain", "--", *engine], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def costs_from_measurement(measured: Measurement, host_speed: float) -> CostTable:
    """Every measured point as measured (scaled to a Pi 4 core); the rest from the built-in figures.

    A tier that is not installed here gets the measured tier-0 point at the same synth level
    plus ``TIER_COST[tier] - TIER_COST["0"]`` (the built-in generator figures of edge.thermal.power).
    """
    table: dict[tuple[str, int], float] = {}
    for tier in TIERS:
        for level in SYNTH_LEVELS:
            if (tier, level) in measured.points:
                table[(tier, level)] = measured.points[(tier, level)] * host_speed
            else:
                base = measured.points[("0", level)] * host_speed
                table[(tier, level)] = base + TIER_COST[tier] - TIER_COST["0"]
    where = platform.node() or "this host"
    return CostTable(table, "pi4", f"tiers {', '.join(measured.tiers)} measured on {where}")


def measurement_note(measured: Measurement, host_speed: float) -> str:
    """What was measured, where and how, for the costs file and the report."""
    host = "; ".join(
        f"{t}: " + ", ".join(f"level {lvl} {measured.points[(t, lvl)]:.4f}" for lvl in SYNTH_LEVELS)
        for t in measured.tiers
    )
    generator = ", ".join(f"{t} {measured.generator_cost(t):.4f}" for t in measured.tiers)
    note = (
        f"{'Tiers' if len(measured.tiers) > 1 else 'Tier'} {', '.join(measured.tiers)} MEASURED from the "
        f"real engine "
        f"(`python scripts/thermal_sim.py --save-costs ...`, commit {git_commit()}) on this host "
        f"({cpu_model()}, one thread, {measured.seconds:g} s of audio per style pack and point, mean "
        f"over the style packs). Host CPU-s per audio-s, whole engine: {host}. Of that, writing the bars "
        f"(conductor + generator + arranger): {generator}. Converted to a Pi 4 core with an ASSUMED "
        f"speed ratio of {host_speed:g}x."
    )
    absent = [t for t in TIERS if t not in measured.tiers]
    if absent:
        why = "; ".join(f"{t}: {measured.missing.get(t, 'not installed')}" for t in absent)
        note += (
            f" NOT measured ({why}): those points are the measured tier-0 point plus the built-in "
            f"generator figures of edge/thermal/power.py TIER_COST, "
            + ", ".join(f"{t} {TIER_COST[t] - TIER_COST['0']:+.3f}" for t in absent)
            + " CPU-s per audio-s on a Pi 4 core."
        )
    return note


def plot(scenario: Scenario, traces: dict[str, Trace], path: Path) -> bool:
    """Temperature, operating point / fan, and power for the governor against fixed L and the lightest."""
    gov = traces["governor"]
    minutes = gov.t / 60.0
    lightest = next((k for k in traces if k.startswith("lightest")), None)
    target = scenario.temp_target_c
    temps = [Series(minutes, np.full_like(minutes, target), RED, "target"),
             Series(minutes, np.full_like(minutes, target + 2.0), RED, "+2 C", dashed=True)]
    if "fixed L" in traces:
        temps.append(Series(minutes, traces["fixed L"].temperature, ORANGE, "fixed L", dashed=True))
    if lightest is not None:
        temps.append(Series(minutes, traces[lightest].temperature, GREEN, lightest, dashed=True))
    temps.append(Series(minutes, gov.temperature, BLUE, "governor", width=2))
    # One label per change, at most a dozen, so the middle panel stays readable.
    changes = [(t / 60.0, float(gov.quality[min(len(gov.quality) - 1, int(t))]) + 0.04, label)
               for t, label, _ in gov.reasons[:12]]
    panels = [
        Panel(temps, "SoC C"),
        Panel([Series(minutes, gov.fan, GREY, "fan 0..1"),
               Series(minutes, gov.quality, BLUE, "quality", width=2)],
              "governor", y_range=(-0.05, 1.15), labels=changes),
        Panel([Series(minutes, np.full_like(minutes, scenario.power_budget_w), RED, "budget"),
               Series(minutes, np.minimum(gov.budget, 2 * scenario.power_budget_w), PURPLE, "allowance"),
               *([Series(minutes, traces["fixed L"].power, ORANGE, "fixed L", dashed=True)]
                 if "fixed L" in traces else []),
               Series(minutes, gov.power, BLUE, "governor", width=2)],
              "wall W"),
    ]
    line_chart(path, panels, title=f"{scenario.name}: {scenario.title}", x_label="simulated minutes")
    return True


def _costs_arg(path: str | None) -> str:
    """" --costs PATH" for the report's command line (relative to the repository when inside it)."""
    if not path:
        return ""
    full = Path(path).resolve()
    return f" --costs {full.relative_to(ROOT) if full.is_relative_to(ROOT) else path}"


def tier_shares(m: Metrics) -> str:
    return " ".join(f"{t}:{m.tier_share[t] * 100:.0f}%" for t in TIERS if m.tier_share.get(t, 0) >= 0.005)


def scenario_table(results: dict[str, Metrics], scenario: Scenario) -> list[str]:
    lines = [
        "| policy | max C | time > target | time per tier | Wh per h (board) | Wh per h (daemon) "
        "| quality-h | switches/h | power / budget | throttled | CPU short |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, m in results.items():
        label = f"**{name}**" if name == "governor" else name
        lines.append(
            f"| {label} | {m.max_c:.1f} | {m.above_target_s / 60:.0f} min | {tier_shares(m)} "
            f"| {m.wh_per_h:.2f} | {m.daemon_wh_per_h:.3f} | {m.quality_hours:.3f} | {m.switches_per_h:.1f} "
            f"| {m.power_ratio * 100:.0f} % | {m.throttled_s / 60:.0f} min | {m.underrun_s / 60:.0f} min |"
        )
    return lines


def cost_table(points: list[OperatingPoint], table: CostTable) -> list[str]:
    lines = ["| point | quality | CPU-s per audio-s, Pi 4 core | Pi 5 | Zero 2 W |",
             "|---|---|---|---|---|"]
    for p in points:
        row = [table.cost(p.tier, p.synth_level, PROFILES[b]) for b in ("pi4", "pi5", "zero2w")]
        lines.append(f"| {p.label} | {p.quality:.3f} | {row[0]:.3f} | {row[1]:.3f} | {row[2]:.3f} |")
    return lines


def overlaps(models_dir: str | None = None) -> dict[str, tuple[float, float]]:
    """MGEval overlap with held-out music (pitch classes, IOI) per tier, from the model cards.

    Tier 0 has no card: its figures come from the evaluation's table in docs/models.md, if
    there is one (scripts/eval_models.py writes both).
    """
    from edge.generator.registry import TierRegistry

    registry = TierRegistry(models_dir)
    found: dict[str, tuple[float, float]] = {}
    for tier in ("L", "M", "S"):
        metrics = registry.card(tier).get("metrics", {}) if tier in registry.entries else {}
        if "overlap_pitch_class" in metrics and "overlap_ioi" in metrics:
            found[tier] = (float(metrics["overlap_pitch_class"]), float(metrics["overlap_ioi"]))
    try:
        lines = (ROOT / "docs" / "models.md").read_text().splitlines()
        header = next(i for i, line in enumerate(lines) if "overlap: pitch classes" in line)
        columns = [c.strip() for c in lines[header].strip("|").split("|")]
        pc, ioi = columns.index("overlap: pitch classes"), columns.index("overlap: IOI")
        for line in lines[header + 2:]:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not line.startswith("|"):
                break
            if cells[0] == "0":
                found["0"] = (float(cells[pc]), float(cells[ioi]))
    except (OSError, StopIteration, ValueError, IndexError):
        pass
    return found


def quality_evidence(models_dir: str | None = None) -> str:
    """What the evaluation's MGEval overlaps say about the ladder, for the report."""
    found = overlaps(models_dir)
    if not any(t in found for t in ("S", "M", "L")):
        return ("only their order means anything: the model cards carry no evaluation metrics (MGEval "
                "overlap) yet.")
    shown = ", ".join(f"{t} {pc:.3f} / {ioi:.3f}" for t, (pc, ioi) in found.items())
    text = (f"the evaluation (`docs/models.md`, and the model cards) measured the MGEval overlap with "
            f"held-out music, pitch classes / inter-onset intervals: {shown}. ")
    ranked = [t for t in TIERS if t in found]
    means = [sum(found[t]) / 2 for t in ranked]
    if all(a > b for a, b in itertools.pairwise(means)):
        return text + "Their means fall in the ladder's order; the spacing is a judgement, not a measurement."
    neural = [t for t in ranked if t != "0"]
    neural_means = [sum(found[t]) / 2 for t in neural]
    zero = found.get("0")
    beaten = [t for t in neural if zero and all(x > y for x, y in zip(found[t], zero, strict=True))]
    unsupported = [t for t in neural if t not in beaten] if "0" in found else []
    text += "Those figures do NOT support the whole ladder: "
    if all(a > b for a, b in itertools.pairwise(neural_means)):
        text += f"among the neural tiers the mean of the two follows the ladder ({' > '.join(neural)}), "
    text += (f"but only {', '.join(beaten)} beats tier 0 on both features" if beaten
             else "but no neural tier beats tier 0 on both features")
    if unsupported:
        verb = "are" if len(unsupported) > 1 else "is"
        text += f", so {' and '.join(f'{t} > 0' for t in unsupported)} {verb} a preference, not a finding"
    nll = _nll(models_dir)
    return (text + (f" (held-out NLL, nats per token: {nll})" if nll else "")
            + "; kept until a listening test or a fuller evaluation decides it. `docs/models.md` also "
            "compares the tiers under the held-out music's own controls.")


def _nll(models_dir: str | None) -> str:
    from edge.generator.registry import TierRegistry

    registry = TierRegistry(models_dir)
    cards = {t: registry.card(t).get("metrics", {}) for t in ("L", "M", "S") if t in registry.entries}
    shown = []
    for tier, metrics in cards.items():
        key = next((k for k in ("heldout_nll_int8", "heldout_nll") if k in metrics), None)
        if key:
            shown.append(f"{tier} {metrics[key]:.3f}")
    return ", ".join(shown)


def verdict(overshoots: list[str], infeasible: list[str], moved: list[str], total: int) -> str:
    """One paragraph on whether these costs give requirement 1 anything to test."""
    hot = ""
    if infeasible:
        hot = (f" In {', '.join(infeasible)} even the lightest point overshoots: only a fan or the "
               "firmware's throttling helps there.")
    if overshoots:
        return (f"With these costs fixed L overshoots the target in {len(overshoots)} of {total} scenarios "
                f"where the lightest point does not: {'; '.join(overshoots)}.{hot}")
    kept = ("the governor keeps L/2 throughout there and ties fixed L on quality-hours"
            if not moved else f"the governor still leaves L/2 in {', '.join(moved)}")
    return (f"With these costs fixed L never overshoots the target where the lightest point stays under "
            f"it, so requirement 1 has nothing to test: the whole ladder costs so little that {kept}. "
            f"The control logic is exercised by the planning figures (the last table, and the tests).{hot}")


def pi4_range(table: CostTable) -> str:
    """How far the daemon's own choice moves a board's power, for the report's limits."""
    spans = {}
    for name in ("pi4", "zero2w"):
        board = PROFILES[name]
        costs = [table.cost(t, lvl, board) for t, lvl in table.points()]
        watts = (max(costs) - min(costs)) * board.w_per_core
        spans[name] = f"{watts:.2f} W ({watts * board.thermal_r:.1f} C in the modelled closed box)"
    return (f"With these costs the daemon's whole range (lightest point to the costliest) moves a Pi 4 "
            f"by only about {spans['pi4']}, a Zero 2 W by {spans['zero2w']}.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--costs", help="JSON of measured costs (see edge.thermal.power.load_costs)")
    parser.add_argument("--planning", "--placeholder", dest="planning", action="store_true",
                        help="the planning figures for every point (edge.thermal.power.planning_costs); "
                             "measure nothing")
    parser.add_argument("--host-speed", type=float, default=DEFAULT_HOST_SPEED,
                        help="this machine's core speed relative to a Pi 4 core (an assumption; default 5)")
    parser.add_argument("--models", help="models folder to measure (default: the shipped models/)")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="audio seconds timed per style pack and point (default 20)")
    parser.add_argument("--note", default="", help="a sentence to add to the measurement's note")
    parser.add_argument("--measure-only", action="store_true", help="measure the installed tiers and stop")
    parser.add_argument("--save-costs", help="write the measured costs to this JSON file")
    parser.add_argument("--scenarios", help="comma-separated scenario names (default: all)")
    parser.add_argument("--minutes", type=float, help="cut every scenario to this many simulated minutes")
    parser.add_argument("--out", default=str(ROOT / "docs" / "thermal.md"))
    parser.add_argument("--img", default=str(ROOT / "docs" / "img"))
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args(argv)

    note = ""
    if args.costs:
        table = load_costs(args.costs)
        extra_note = json.loads(Path(args.costs).read_text()).get("note", "")
        note = f"Costs from `{Path(args.costs).name}` (board {table.board}). {extra_note}".strip()
        # The file itself goes into the report, so the run can be repeated from the report alone.
        shown = {k: v for k, v in json.loads(Path(args.costs).read_text()).items() if k != "note"}
        note += f"\n\n```json\n{json.dumps(shown, indent=2)}\n```"
    elif args.planning:
        table = planning_costs()
        note = "PLANNING figures for every point (edge.thermal.power.planning_costs; nothing measured)."
    else:
        try:
            measured = measure_engine(args.seconds, args.models)
            if ("0", SYNTH_LEVELS[0]) not in measured.points:
                raise RuntimeError("tier 0 was not measured")
        except Exception as exc:  # the engine is optional here: fall back, and say so
            print(f"thermal_sim: cannot measure the engine ({type(exc).__name__}: {exc}); "
                  "built-in figures used")
            table = default_costs()
            note = (f"The BUILT-IN figures of edge/thermal/power.py for every point: measuring the engine "
                    f"failed ({type(exc).__name__}: {exc}).")
        else:
            table = costs_from_measurement(measured, args.host_speed)
            note = f"{measurement_note(measured, args.host_speed)} {args.note}".strip()
            if args.save_costs:
                # Stored as Pi 4 core figures (host figures x the assumed speed ratio; 1 on a Pi 4).
                speed, tiers = args.host_speed, measured.tiers
                saved = {
                    "note": note,
                    "board": "pi4",
                    "host": platform.node(),
                    "host_cpu": cpu_model(),
                    "commit": git_commit(),
                    "host_speed_assumed": speed,
                    "measured_tiers": list(measured.tiers),
                    "points": {f"{t}/{lvl}": round(v, 4) for (t, lvl), v in table.costs.items()},
                    "host_points": {f"{t}/{lvl}": round(v, 5) for (t, lvl), v in measured.points.items()},
                    "generator_pi4": {t: round(measured.generator_cost(t) * speed, 4) for t in tiers},
                    "synth_pi4": {str(v): round(measured.synth_cost(v) * speed, 4) for v in SYNTH_LEVELS},
                }
                Path(args.save_costs).write_text(json.dumps(saved, indent=2) + "\n")
    print(note)
    if args.measure_only:
        return 0

    scenarios = list(SCENARIOS)
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        scenarios = [s for s in scenarios if s.name in wanted]
    if args.minutes:
        scenarios = [shortened(s, args.minutes * 60.0) for s in scenarios]

    img = Path(args.img)
    sections: list[str] = []
    summary = ["| scenario | requirement | result | detail |", "|---|---|---|---|"]
    started = time.perf_counter()
    simulated = 0.0
    all_ok = True
    overshoots: list[str] = []  # scenarios where fixed L overshoots the target and the lightest does not
    infeasible: list[str] = []
    moved: list[str] = []  # feasible scenarios where the governor left the best point
    for scenario in scenarios:
        points = default_operating_points(TIERS, board=PROFILES[scenario.board], costs=table)
        results, traces = compare(scenario, points)
        simulated += scenario.duration_s * len(results)
        checks = check_requirements(scenario, results)
        lightest_c = next(m.max_c for k, m in results.items() if k.startswith("lightest"))
        if lightest_c > scenario.temp_target_c + 2.0:
            infeasible.append(scenario.name)
        else:
            if results["fixed L"].max_c > scenario.temp_target_c:
                overshoots.append(f"{scenario.name} (fixed L {results['fixed L'].max_c:.1f} C, governor "
                                  f"{results['governor'].max_c:.1f} C, target {scenario.temp_target_c:g} C)")
            if results["governor"].tier_share.get("L", 0.0) < 1.0 or traces["governor"].reasons:
                moved.append(scenario.name)
        for name, ok, detail in checks:
            all_ok &= ok
            summary.append(f"| {scenario.name} | {name} | {'PASS' if ok else 'FAIL'} | {detail} |")
        png = img / f"thermal_{scenario.name}.png"
        drawn = not args.no_plots and plot(scenario, traces, png)
        rel = os.path.relpath(png, Path(args.out).parent)
        gov = traces["governor"]
        changes = "; ".join(f"{t / 60:.0f} min -> {label} ({why})" for t, label, why in gov.reasons[:6])
        more = f" (+{len(gov.reasons) - 6} more)" if len(gov.reasons) > 6 else ""
        sections += [
            f"### {scenario.name}: {scenario.title}",
            "",
            f"Board {scenario.board}, room {scenario.ambient_c:g} C, budget {scenario.power_budget_w:g} W, "
            f"target {scenario.temp_target_c:g} C, {scenario.duration_s / 3600:g} h simulated"
            + (f", thermal R x{scenario.r_scale:g}" if scenario.r_scale != 1 else "")
            + (f", real costs x{scenario.cost_scale:g} the priors" if scenario.cost_scale != 1 else "")
            + ".",
            "",
            *scenario_table(results, scenario),
            "",
            f"Governor changes: {changes or 'none'}{more}.",
            "",
        ]
        if drawn:
            sections += [f"![{scenario.name}]({rel})", ""]
        print(f"{scenario.name}: " + "; ".join(f"{n}: {'ok' if ok else 'FAIL'}" for n, ok, _ in checks))

    # The same scenarios with the planning figures, which make the tiers far costlier: a second
    # opinion on the control logic (the tests use them too). Not counted in the exit status.
    planning = [
        "| scenario | governor max C | fixed L max C | governor quality-h | best admissible fixed "
        "| governor switches/h | requirements |",
        "|---|---|---|---|---|---|---|",
    ]
    if not args.planning:
        for scenario in scenarios:
            points = default_operating_points(TIERS, board=PROFILES[scenario.board], costs=planning_costs())
            results, _ = compare(scenario, points)
            simulated += scenario.duration_s * len(results)
            checks = check_requirements(scenario, results)
            fair = {k: m for k, m in results.items() if k != "governor" and admissible(m, scenario)}
            best = max(fair.items(), key=lambda kv: kv[1].quality_hours) if fair else None
            gov = results["governor"]
            failed = [n for n, ok, _ in checks if not ok]
            best_text = f"{best[0]} {best[1].quality_hours:.3f}" if best else "none"
            planning.append(
                f"| {scenario.name} | {gov.max_c:.1f} | {results['fixed L'].max_c:.1f} "
                f"| {gov.quality_hours:.3f} | {best_text} | {gov.switches_per_h:.1f} "
                f"| {'FAIL: ' + ', '.join(failed) if failed else 'all pass'} |"
            )
    wall = time.perf_counter() - started

    cost_points = default_operating_points(TIERS, board=PROFILES["pi4"], costs=table)
    doc = TEMPLATE.format(
        note=note,
        costs="\n".join(cost_table(cost_points, table)),
        summary="\n".join(summary),
        verdict=verdict(overshoots, infeasible, moved, len(scenarios)),
        planning="\n".join(planning) if len(planning) > 2 else "(this run used the planning figures)",
        sections="\n".join(sections),
        speed=f"{simulated / 3600:.0f} simulated hours in {wall:.0f} s of wall time "
              f"({simulated / max(wall, 1e-9):.0f}x real time)",
        profiles="\n".join(
            f"| {p.name} | {p.idle_w:g} | {p.w_per_core:.3f} | {p.cores} | {p.core_speed:g} "
            f"| {p.thermal_r:g} | {p.thermal_c:g} | {p.tau_s / 60:.0f} | {p.ambient_c:g} | {p.fan_gain:g} |"
            for p in PROFILES.values()
        ),
        sources="\n".join(f"- **{p.name}**: {p.sources}" for p in PROFILES.values()),
        command=f"python scripts/thermal_sim.py{_costs_arg(args.costs)}",
        quality=quality_evidence(args.models),
        pi4_range=pi4_range(table),
    )
    Path(args.out).write_text(doc)
    print(f"wrote {args.out} ({'all requirements pass' if all_ok else 'SOME REQUIREMENTS FAIL'})")
    return 0 if all_ok else 1


TEMPLATE = """\
# Staying cool: the thermal governor

*Generated by `{command}`; edit the script, not this file.*

edge-music runs in closed boxes. The governor (`edge/thermal/governor.py`) picks,
about once a second, the best-sounding **operating point** (generator tier x synth
level) whose predicted power fits `thermal.power_budget_w` and whose forecast
temperature stays below `thermal.temp_target_c`; the daemon applies a change at the
next bar line. Above `temp_critical_c` it drops straight to the lightest point.

## How it decides

- **Sensors, all optional** (`edge/thermal/sensors.py`): SoC temperature from the
  `thermal_zone*` whose `type` is the CPU (cpu-thermal, x86_pkg_temp, ...), else
  psutil; firmware flags from `vcgencmd get_throttled`; power from hwmon `power*_input`
  or, on a Pi 5, `vcgencmd pmic_read_adc` (rail sum scaled to a wall estimate); CPU %
  and frequency from psutil; the daemon's own CPU-seconds per audio-second from
  `governor.observe()`. `edge-music doctor` lists what is missing (`sensor_report`).
  With no temperature sensor the governor runs its RC model open-loop; with no power
  sensor it models power as `idle_w + w_per_core * busy_cores`.
- **PID on a power budget**, as Linux's power_allocator (ARM IPA): `P_max = SP + k_p*e +
  k_i*sum(e)`, `e = T_target - T`, `k_pu = 2*SP/(T_target - T_on)` below target,
  `k_po = SP/(T_target - T_on)` above, `k_d = 0`, integral only above target (ours leaks
  slowly below it), `T_on = T_target - 15 C`. The sustainable power SP is
  `(T_target - T_ambient) / R` with the ambient estimated online (or
  `thermal.sustainable_power_w`).
- **Trajectory**: a two-state observer (temperature, effective ambient) of the
  board's first-order RC model forecasts each point `thermal.horizon_s` ahead; the
  point must keep the forecast below the target.
- **No flapping**: a better point needs `thermal.hysteresis_c` of forecast margin (and
  2 % of power-budget margin, 10 % of CPU margin) and `thermal.min_dwell_s` since the
  last change; steps down wait a quarter of that, and not at all at or above the
  target, when the firmware throttles, or when the supply sags.
- **CPU**: a point may not need more than `thermal.max_cpu_share` CPU-s per audio-s;
  costs are a moving average per point, and unmeasured points are predicted from
  their prior times the measured/prior ratio seen so far.
- **Fan**: a fan on a GPIO PWM pin follows the Pi 5 firmware curve (off below 50 C,
  30 % at 50, 50 % at 60, 70 % at 67.5, 100 % at 75, 5 C hysteresis), so it acts well
  before the tiers do; 100 % when critical or throttled.

## Operating points and their costs

{note}

The quality scores are the ladder of `edge/thermal/power.py` (`TIER_QUALITY` L 1.0,
M 0.85, S 0.7, 0 0.5, times `SYNTH_QUALITY` 1.0 / 0.9 / 0.75 for synth level 2 / 1 / 0);
{quality} The daemon passes the governor the points of the tiers the registry can
load (`usable_tiers`: installed, up to `generator.tier`); the simulation always uses
the whole ladder. The daemon starts from the built-in costs (`TIER_COST` + `SYNTH_COST`
in `edge/thermal/power.py`, taken from `docs/thermal_costs.json`) and corrects them
online from what it actually spends. On a board, `python scripts/thermal_sim.py
--measure-only --host-speed 1 --save-costs costs.json` measures every installed tier
there, and `--costs costs.json` (per point, `{{"board": "pi4", "points": {{"0/2": 0.19,
...}}}}`) re-runs this report with it.

{costs}

## Board profiles

| board | idle W | W/core | cores | speed vs Pi 4 | R K/W | C J/K | tau min | ambient C | fan share of R |
|---|---|---|---|---|---|---|---|---|---|
{profiles}

{sources}

## Simulation

`edge/thermal/simulator.py`: first-order RC plant per board profile
(`C dT/dt = P - (T - T_amb)/R`, R lowered by the fan), heat = idle board +
background load + the daemon's work, firmware throttling from 80 C (the clock drops
to 60 % at 85 C, so background work draws less and the daemon needs more CPU per
audio-second). Sensor noise 0.25 C, bar-to-bar cost noise 15 %, CPU % noise 1 %.
The REAL `Governor` reads the temperature from a `thermal_zone0/temp` file the
simulator writes, CPU % and throttle flags through the `Sensors` hooks and its own
cost through `observe()`; changes land on the next bar line (2.4 s). The plant and
the governor share the power model, so this tests the control logic and its
robustness to the thermal and cost errors a scenario sets, not the power model.
Fixed policies: each tier at synth level 2, and the lightest point; they get the
same fan curve. {speed}.

What the columns mean: *Wh per h* is the mean wall power, i.e. energy per hour of
music (board; and the daemon's modelled share); *quality-h* is the time integral of
the point's quality in hours; *throttled* is time the firmware capped the clock;
*CPU short* is time the daemon needed more than one core (it could not keep up).

### Requirements

1. where fixed L overshoots the target, the governor stays <= target + 2 C (if even
   the lightest point overshoots by more than 2 C the row says *infeasible*: the
   governor can only shed its own load; it passes if it is no hotter than the lightest);
2. mean wall power within 10 % of the budget;
3. at least the quality-hours of every *admissible* fixed policy (never above target,
   mean power within budget, never short of CPU), strictly more unless it is the same point.

{summary}

{verdict}

{sections}
### The same scenarios with the planning figures

A second opinion on the control logic: the project's planning figures from before the
neural tiers existed (tier 0 0.02, S 0.05, M 0.10, L 0.25 plus synth level 0 / 1 / 2
0.04 / 0.08 / 0.15 CPU-s per audio-s on a Pi 4 core; `planning_costs()`) make the tiers
differ far more than the measured ones, so the governor has more to do; the tests in
`tests/test_thermal_sim.py` use these figures.

{planning}

## What the daemon does with it

`edge/daemon.py` (`Daemon._govern`, once per ~1 s control tick):

```python
tiers = usable_tiers(registry, config.generator.tier)   # e.g. ("L", "M", "S", "0")
points = default_operating_points(tiers, board=profile_for(config.thermal))   # x synth 2/1/0
governor = Governor(config.thermal, points)
# each tick: the process's CPU time and the audio written since the last tick
governor.observe(cpu_seconds, audio_seconds)
decision = governor.step()
engine.pending_synth_level = decision.point.synth_level   # lands on the next bar line
if decision.point.tier != engine.tier:                     # load the session off the audio path,
    registry.session(decision.point.tier)                  # switch at the next bar line
    engine.pending_tier = decision.point.tier
live_state.update_telemetry(**decision.telemetry())        # temperature_c, power_w, ..., governor_reason
gpio_panel.apply(decision, mqtt_connected=...)             # fan speed + status LED colour
```

## Limits

- R, C, ambient and fan effect of the profiles are estimates for closed boxes, not
  measurements; fit them from a logged heat-up curve of the real box.
- The governor can only shed its own load. When other software heats the board past
  the target even at the lightest point (scenario *overload*), only a fan or the
  firmware's throttling helps; the governor then sits at the lightest point.
- A fixed tier that happens to stay just under the target can out-score the governor,
  which needs a forecast margin (`hysteresis_c`) and cannot know a background job
  will stop.
- {pi4_range}
- The measured costs come from an x86 host scaled by an ASSUMED 5x Pi 4 core speed; the
  daemon corrects its priors online (`model_error` runs costs 30 % above them), but only
  `--measure-only --host-speed 1` on the board itself replaces the assumption.
"""

if __name__ == "__main__":
    raise SystemExit(main())
