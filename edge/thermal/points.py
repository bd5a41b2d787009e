"""Operating points, their measured costs and the fan curve: the governor's vocabulary."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edge.thermal.power import SYNTH_LEVELS, TIERS, BoardProfile, CostTable, default_costs, point_quality

COST_EMA_ALPHA = 0.05
"""Weight of each new observe() interval in the per-point cost average (~20 observations)."""

# Raspberry Pi 5 firmware fan curve: (switch-on temperature, speed), 5 C hysteresis.
PI5_FAN_CURVE: tuple[tuple[float, float], ...] = ((50.0, 0.3), (60.0, 0.5), (67.5, 0.7), (75.0, 1.0))
PI5_FAN_HYSTERESIS_C = 5.0


@dataclass(frozen=True)
class OperatingPoint:
    """One thing the daemon can run: a generator tier with a synth level."""

    tier: str
    """Generator tier: "L", "M", "S" or "0"."""
    synth_level: int
    """Synth load level, 2 (full) .. 0 (lightest)."""
    quality: float
    """Quality score, higher is better (edge.thermal.power.TIER_QUALITY x SYNTH_QUALITY)."""
    cost: float
    """Prior CPU-seconds per audio-second on this board; measured costs replace it while running."""

    @property
    def label(self) -> str:
        """Short name such as "L/2"."""
        return f"{self.tier}/{self.synth_level}"


def default_operating_points(
    tiers: Sequence[str] = ("0",),
    synth_levels: Sequence[int] = SYNTH_LEVELS,
    board: BoardProfile | None = None,
    costs: CostTable | None = None,
    ladder: Mapping[str, float] | None = None,
) -> list[OperatingPoint]:
    """Points for the AVAILABLE tiers (the registry's usable ones), best quality first.

    Costs come from ``costs`` (default: the measured Pi 4 table, ``default_costs``) converted
    to ``board``'s cores; quality from ``ladder`` (the measured one, ``measured_ladder``), else
    the preference TIER_QUALITY in edge.thermal.power. Points of equal quality go cheapest first.
    """
    table = costs or default_costs()
    points = []
    for tier in tiers:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}")
        for level in synth_levels:
            cost = table.cost(tier, level, board)
            points.append(OperatingPoint(tier, int(level), point_quality(tier, level, ladder), cost))
    return sorted(points, key=lambda p: (-p.quality, p.cost))


class FanCurve:
    """Stepped fan curve with hysteresis, like the Pi 5 firmware's."""

    def __init__(
        self,
        steps: Sequence[tuple[float, float]] = PI5_FAN_CURVE,
        hysteresis_c: float = PI5_FAN_HYSTERESIS_C,
    ) -> None:
        self.steps = tuple(sorted(steps))
        self.hysteresis_c = hysteresis_c
        self._level = 0  # number of steps switched on

    def update(self, temperature_c: float) -> float:
        """Fan speed 0..1 for this temperature (steps up at a threshold, down 5 C below it)."""
        while self._level < len(self.steps) and temperature_c >= self.steps[self._level][0]:
            self._level += 1
        while self._level > 0 and temperature_c < self.steps[self._level - 1][0] - self.hysteresis_c:
            self._level -= 1
        return self.steps[self._level - 1][1] if self._level else 0.0


class CostTracker:
    """Moving average of the measured cost of each operating point.

    Points not measured yet are predicted from their prior scaled by how far
    off the priors have been so far (one calibration factor for the board).
    """

    def __init__(self, alpha: float = COST_EMA_ALPHA, min_samples: int = 3) -> None:
        self.alpha = alpha
        self.min_samples = min_samples
        self._ema: dict[OperatingPoint, float] = {}
        self._count: dict[OperatingPoint, int] = {}
        self._calibration = 1.0

    def add(self, point: OperatingPoint, cost: float) -> None:
        """One measured interval: ``cost`` CPU-s per audio-s while ``point`` played."""
        if not math.isfinite(cost) or cost < 0:
            return
        n = self._count.get(point, 0)
        old = self._ema.get(point, cost)
        self._ema[point] = cost if n == 0 else old + self.alpha * (cost - old)
        self._count[point] = n + 1
        if point.cost > 0:
            # Starts at 1 (trust the priors) and moves slowly: one noisy bar must not re-rate the board.
            self._calibration += self.alpha * (cost / point.cost - self._calibration)

    def estimate(self, point: OperatingPoint) -> float:
        """Best current guess of ``point``'s CPU-s per audio-s."""
        if self._count.get(point, 0) >= self.min_samples:
            return self._ema[point]
        return point.cost * self._calibration

    def measured(self, point: OperatingPoint) -> float | None:
        """The moving average, or None before ``min_samples`` intervals."""
        return self._ema[point] if self._count.get(point, 0) >= self.min_samples else None

    @property
    def calibration(self) -> float:
        """Measured / prior cost, averaged over everything observed."""
        return self._calibration
