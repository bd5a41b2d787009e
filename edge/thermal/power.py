"""Board profiles, the board power model and the cost of each operating point.

Power of the whole board (at the wall, i.e. at the USB supply) is modelled as

    P = idle_w + w_per_core * busy_cores

where ``busy_cores`` is the CPU load in cores (CPU % / 100 * cores). This is a
deliberately simple linear model: it is what the published idle/full-load pairs
support, and the governor corrects its thermal consequences with the measured
temperature anyway. The thermal figures (R, C, ambient) only feed the
temperature predictor and the simulator; they are estimates for a board inside
a closed box and are labelled as such below.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIERS = ("L", "M", "S", "0")
"""Generator tiers, highest quality first."""

SYNTH_LEVELS = (2, 1, 0)
"""Synth load levels, richest first (edge.render.synth.Synth.set_level)."""

# Quality ladder: the ORDER L > M > S > 0 and "a lighter synth sounds a bit worse" is what is meant;
# the spacing is a judgement. The evaluation (scripts/eval_models.py -> docs/models.md and the cards'
# metrics, 2026-11-21) supports only part of it. MGEval overlap with held-out music, pitch classes /
# inter-onset intervals, conductor-driven sessions: L 0.642 / 0.781, M 0.666 / 0.688, S 0.604 / 0.670,
# tier 0 0.641 / 0.716; with the held-out music's own controls: L 0.908 / 0.865, M 0.886 / 0.766,
# S 0.844 / 0.743, tier 0 0.918 / 0.824. Held-out NLL (int8, nats per token) S 0.911 > M 0.873 >
# L 0.867. So L > M > S holds among the neural tiers (means of both overlaps, and NLL), and L is the
# only tier that beats tier 0 on both features of the first set; M > 0 and S > 0 are NOT supported and
# are kept as a PREFERENCE until a listening test decides. With the measured costs below the governor
# rarely leaves L anyway.
TIER_QUALITY: dict[str, float] = {"L": 1.0, "M": 0.85, "S": 0.7, "0": 0.5}
"""Quality per tier (0..1): L's place is supported by the evaluation, the rest is a preference."""
SYNTH_QUALITY: dict[int, float] = {2: 1.0, 1: 0.9, 0: 0.75}
"""Quality factor per synth level (an ordering, not a listening test)."""

# Default CPU costs in CPU-seconds per audio-second on ONE Raspberry Pi 4 core (Cortex-A72); a point
# costs TIER_COST[tier] + SYNTH_COST[level]. MEASURED with the real engine and the trained int8 models
# (S 0.27M, M 1.0M, L 4.1M parameters) by `python scripts/thermal_sim.py --measure-only --seconds 60
# --save-costs docs/thermal_costs.json` at commit 6df9e1e: one thread, 60 s of audio per style pack
# and point, on an x86 VM ("AMD EPYC"), then multiplied by an ASSUMED host / Pi 4 core speed ratio
# of 5x (not measured on a Pi). The generator figure is the time spent writing bars (conductor +
# generator + arranger, mean over the synth levels), the synth figure the rest of each point (mean
# over the tiers); docs/thermal_costs.json has the per-point figures. Repeat runs on the shared VM
# differ by up to ~20 %. A `--host-speed 1` run on a real board replaces them, and the governor
# corrects them online from what the daemon actually spends.
TIER_COST: dict[str, float] = {"0": 0.0013, "S": 0.0139, "M": 0.0198, "L": 0.0370}
"""Generator cost per tier, CPU-s per audio-s on a Pi 4 core (measured on x86, x 5 assumed)."""
SYNTH_COST: dict[int, float] = {2: 0.0278, 1: 0.0242, 0: 0.0141}
"""Synth cost per level, CPU-s per audio-s on a Pi 4 core (measured on x86, x 5 assumed)."""

# The project's planning figures from before the neural tiers existed. Far costlier tiers than the
# measured ones, so the tests and the report's second opinion use them to exercise the control logic.
PLANNING_TIER_COST: dict[str, float] = {"0": 0.02, "S": 0.05, "M": 0.10, "L": 0.25}
"""Planning generator cost per tier, CPU-s per audio-s on a Pi 4 core (not a measurement)."""
PLANNING_SYNTH_COST: dict[int, float] = {2: 0.15, 1: 0.08, 0: 0.04}
"""Planning synth cost per level, CPU-s per audio-s on a Pi 4 core (not a measurement)."""


@dataclass(frozen=True)
class BoardProfile:
    """What the governor and the simulator assume about one kind of board."""

    name: str
    """Profile key: pi4, pi5, zero2w or generic."""
    idle_w: float
    """Whole-board power at idle, W."""
    w_per_core: float
    """Extra power per fully loaded core, W ((full - idle) / cores)."""
    cores: int
    """CPU cores."""
    core_speed: float
    """Speed of one core relative to a Pi 4 Cortex-A72 core; divides the Pi 4 cost figures."""
    thermal_r: float
    """Thermal resistance SoC sensor -> room air, in a closed box, K/W (estimate)."""
    thermal_c: float
    """Lumped heat capacity of SoC, board and box air, J/K (estimate; tau = R*C)."""
    ambient_c: float
    """Room temperature assumed when nothing better is known, deg C."""
    throttle_c: float
    """Firmware starts capping the ARM clock here, deg C."""
    hard_throttle_c: float
    """Firmware throttles hard here, deg C."""
    fan_gain: float
    """Share of thermal_r a fan at 100 % removes (in a closed box only the SoC-to-box-air part)."""
    sources: str
    """Where the numbers come from."""

    @property
    def full_w(self) -> float:
        """Whole-board power with every core busy, W."""
        return self.idle_w + self.w_per_core * self.cores

    @property
    def tau_s(self) -> float:
        """Thermal time constant R*C, seconds."""
        return self.thermal_r * self.thermal_c

    def power(self, busy_cores: float) -> float:
        """Modelled whole-board power for a CPU load of ``busy_cores`` cores."""
        busy = min(float(self.cores), max(0.0, busy_cores))
        return self.idle_w + self.w_per_core * busy

    def fan_r(self, fan: float) -> float:
        """Effective thermal resistance with the fan at ``fan`` (0..1)."""
        return self.thermal_r * (1.0 - self.fan_gain * min(1.0, max(0.0, fan)))


PI4 = BoardProfile(
    name="pi4",
    idle_w=2.2,
    w_per_core=(5.7 - 2.2) / 4,
    cores=4,
    core_speed=1.0,
    thermal_r=14.0,
    thermal_c=43.0,
    ambient_c=25.0,
    throttle_c=80.0,
    hard_throttle_c=85.0,
    fan_gain=0.3,
    sources=(
        "Power: project field notes, idle 1.6-2.7 W and full load 5.0 W (stress-ng) to 6.4 W at the "
        "wall; chipwired.com/raspberry-pi-power-use measured 2.2-3.0 W idle and 5.1-6.3 W high load "
        "on a Pi 4. Midpoints used: idle 2.2 W, full 5.7 W. Throttling from 80 C, hard at 85 C "
        "(Raspberry Pi firmware). Thermal R and C are ESTIMATES for a Pi 4 in a closed plastic box "
        "(idle ~56 C in a 25 C room, throttling under sustained full load, time constant ~10 min), "
        "not measurements: fit them from a logged heat-up curve when one exists."
    ),
)

PI5 = BoardProfile(
    name="pi5",
    idle_w=2.4,
    w_per_core=(8.5 - 2.4) / 4,
    cores=4,
    core_speed=2.0,
    thermal_r=11.0,
    thermal_c=50.0,
    ambient_c=25.0,
    throttle_c=80.0,
    hard_throttle_c=85.0,
    fan_gain=0.35,
    sources=(
        "Power: project field notes, idle ~2.4 W, full ~8.5 W at the wall. Core speed 2.0x a Pi 4 "
        "core is a conservative reading of Raspberry Pi's '2-3x' CPU claim (Cortex-A76 at 2.4 GHz). "
        "Fan curve (firmware): off below 50 C, 30 % at 50, 50 % at 60, 70 % at 67.5, 100 % at 75, "
        "5 C hysteresis. Thermal R, C and fan_gain are ESTIMATES for a Pi 5 with a heatsink in a "
        "closed box."
    ),
)

ZERO2W = BoardProfile(
    name="zero2w",
    idle_w=0.6,
    w_per_core=(3.0 - 0.6) / 4,
    cores=4,
    core_speed=0.35,
    thermal_r=22.0,
    thermal_c=14.0,
    ambient_c=25.0,
    throttle_c=80.0,
    hard_throttle_c=85.0,
    fan_gain=0.3,
    sources=(
        "Power: idle ~0.6 W (120 mA at 5 V, cnx-software.com 2021-12-09, Raspberry Pi OS Bullseye); "
        "full load ~3 W is a commonly cited figure, not verified here. Core speed 0.35x a Pi 4 core "
        "(Cortex-A53 at 1 GHz vs A72 at 1.5-1.8 GHz) is an estimate. Thermal R and C are ESTIMATES "
        "for a bare Zero 2 W in a closed box."
    ),
)

GENERIC = BoardProfile(
    name="generic",
    idle_w=3.0,
    w_per_core=1.25,
    cores=4,
    core_speed=1.0,
    thermal_r=10.0,
    thermal_c=40.0,
    ambient_c=25.0,
    throttle_c=90.0,
    hard_throttle_c=100.0,
    fan_gain=0.3,
    sources="Neutral guesses for an unknown board (Pi-4-like power, a little more thermal headroom).",
)

PROFILES: dict[str, BoardProfile] = {p.name: p for p in (PI4, PI5, ZERO2W, GENERIC)}
"""Board profiles by name."""

# Substrings of /proc/device-tree/model -> profile; first match wins.
_MODEL_MATCH = (
    ("Raspberry Pi 5", "pi5"),
    ("Compute Module 5", "pi5"),
    ("Raspberry Pi 4", "pi4"),
    ("Raspberry Pi Compute Module 4", "pi4"),
    ("Raspberry Pi 400", "pi4"),
    ("Raspberry Pi Zero 2", "zero2w"),
)


def detect_board(model_path: str | Path = "/proc/device-tree/model") -> tuple[str, str]:
    """(profile name, model string) from the device-tree model file; ("generic", "") if unknown."""
    try:
        model = Path(model_path).read_bytes().rstrip(b"\x00\n").decode("utf-8", "replace").strip()
    except OSError:
        return "generic", ""
    for needle, name in _MODEL_MATCH:
        if needle in model:
            return name, model
    return "generic", model


def profile_for(config: Any) -> BoardProfile:
    """The profile a ThermalConfig asks for; ``board = "auto"`` reads the model file."""
    board = getattr(config, "board", "auto")
    if board == "auto":
        board, _ = detect_board(getattr(config, "model_path", "/proc/device-tree/model"))
    return PROFILES.get(board, GENERIC)


def point_quality(tier: str, synth_level: int, ladder: Mapping[str, float] | None = None) -> float:
    """Quality score of (tier, synth level), 0..1: the tier's place on ``ladder`` (default
    TIER_QUALITY) x SYNTH_QUALITY."""
    return (ladder or TIER_QUALITY).get(tier, 0.5) * SYNTH_QUALITY.get(synth_level, 0.75)


def measured_ladder(path: str | Path) -> dict[str, float] | None:
    """The quality ladder measured by scripts/eval_models.py (``models/quality.json``), or None.

    Each tier's quality is its closeness to real music divided by the best tier's, so the best
    measured tier scores 1.0 and a bigger tier that is not closer scores no higher than a smaller
    one: the governor then never spends power on it. None when the file is missing or malformed
    (the governor keeps TIER_QUALITY's order).
    """
    try:
        data = json.loads(Path(path).read_text())
        closeness = {str(t): float(v) for t, v in data["closeness"].items() if str(t) in TIERS}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    best = max(closeness.values(), default=0.0)
    if best <= 0 or "0" not in closeness:
        return None
    return {tier: round(value / best, 4) for tier, value in closeness.items()}


@dataclass(frozen=True)
class CostTable:
    """CPU-seconds per audio-second of each (tier, synth level), on one core of ``board``."""

    costs: Mapping[tuple[str, int], float]
    """(tier, synth level) -> CPU-s per audio-s."""
    board: str = "pi4"
    """The board the figures were taken on."""
    origin: str = "measured (host x 5)"
    """Where the figures come from ("planning", "measured on <host>", a file name), for reports."""

    def cost(self, tier: str, synth_level: int, board: BoardProfile | None = None) -> float:
        """Cost of a point, converted to ``board``'s cores by the profiles' core speeds."""
        value = self.costs[(tier, synth_level)]
        if board is None or board.name == self.board:
            return value
        source = PROFILES.get(self.board, PI4)
        return value * source.core_speed / board.core_speed

    def points(self) -> list[tuple[str, int]]:
        """The (tier, level) pairs this table covers."""
        return list(self.costs)


def _additive(
    tier_cost: Mapping[str, float], synth_cost: Mapping[int, float], origin: str,
    tiers: tuple[str, ...], synth_levels: tuple[int, ...],
) -> CostTable:
    costs = {(t, s): tier_cost[t] + synth_cost[s] for t in tiers for s in synth_levels}
    return CostTable(costs, "pi4", origin)


def default_costs(tiers: tuple[str, ...] = TIERS, synth_levels: tuple[int, ...] = SYNTH_LEVELS) -> CostTable:
    """The measured figures for a Pi 4 core (TIER_COST + SYNTH_COST): what the daemon starts from."""
    return _additive(TIER_COST, SYNTH_COST, "measured (host x 5)", tiers, synth_levels)


def planning_costs(tiers: tuple[str, ...] = TIERS, synth_levels: tuple[int, ...] = SYNTH_LEVELS) -> CostTable:
    """The old planning figures for a Pi 4 core: a wider spread between tiers, for tests and what-ifs."""
    return _additive(PLANNING_TIER_COST, PLANNING_SYNTH_COST, "planning", tiers, synth_levels)


def load_costs(path: str | Path) -> CostTable:
    """Read measured costs from JSON.

    Either per point ``{"board": "pi4", "points": {"0/2": 0.19, "0/1": 0.11, ...}}`` or
    per part ``{"board": "pi4", "tiers": {"0": 0.02, ...}, "synth_levels": {"2": 0.15, ...}}``
    (a point then costs tier + level). Points missing from ``points`` fall back
    to the built-in figures (``default_costs``), so a file with tier 0 only still covers the ladder.
    """
    data = json.loads(Path(path).read_text())
    board = str(data.get("board", "pi4"))
    if board not in PROFILES:
        raise ValueError(f"{path}: unknown board {board!r} (known: {', '.join(PROFILES)})")
    base = default_costs()
    scale = PROFILES["pi4"].core_speed / PROFILES[board].core_speed
    costs = {k: v * scale for k, v in base.costs.items()}  # built-in figures expressed on `board`
    tiers = {str(k): float(v) for k, v in data.get("tiers", {}).items()}
    levels = {int(k): float(v) for k, v in data.get("synth_levels", {}).items()}
    for (tier, level) in list(costs):
        if tier in tiers or level in levels:
            t = tiers.get(tier, TIER_COST[tier] * scale)
            s = levels.get(level, SYNTH_COST[level] * scale)
            costs[(tier, level)] = t + s
    for key, value in data.get("points", {}).items():
        tier, _, level = str(key).partition("/")
        costs[(tier, int(level))] = float(value)
    for key, value in costs.items():
        if not value > 0:
            raise ValueError(f"{path}: cost of {key[0]}/{key[1]} must be > 0, got {value!r}")
    return CostTable(costs, board, str(path))
