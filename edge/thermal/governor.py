"""The thermal governor: the best-sounding operating point the box can afford.

Modelled on Linux's power_allocator (ARM IPA, Documentation/driver-api/thermal/
power_allocator.rst): a PID controller turns the temperature error into a power
budget, ``P_max = SP + k_p*e + k_i*sum(e)`` with ``e = T_target - T``,
``k_pu = 2*SP/(T_target - T_on)`` below target, ``k_po = SP/(T_target - T_on)``
above it, ``k_d = 0`` (as IPA recommends), and the integral only accumulating
while above target. Unlike IPA our actor cannot set a frequency; it can only
choose one of a few *operating points* (generator tier x synth level), so on
top of the PID:

* a two-state observer (temperature and effective ambient, first-order RC
  model of the board profile) predicts where each point would take the
  temperature ``horizon_s`` ahead; a point must keep that below target;
* the sustainable power SP is the power that holds the target at the
  observed ambient, ``(T_target - T_amb) / R``, unless configured;
* hysteresis (going up needs ``hysteresis_c`` of margin) and a minimum dwell
  time between changes keep it from flapping; downward moves wait less, and
  not at all once the target is reached;
* above ``temp_critical_c`` it drops straight to the lightest point;
* a fan, if fitted, follows the Raspberry Pi 5 firmware curve, which starts
  at 50 C and so acts well before the tiers do.

The governor only *decides*; the daemon applies a changed point at the next
bar line and sets the fan.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.thermal.points import (
    CostTracker,
    FanCurve,
    OperatingPoint,
    default_operating_points,
)
from edge.thermal.power import BoardProfile, profile_for
from edge.thermal.sensors import Sensors, SensorSample

log = logging.getLogger(__name__)

__all__ = [
    "CostTracker", "Decision", "FanCurve", "Governor", "OperatingPoint", "default_operating_points",
]  # fmt: skip

SWITCH_ON_BELOW_TARGET_C = 15.0
"""IPA's switch-on trip: the PID starts this far below the target (below it, no PID limit)."""
INTEGRAL_TIME_S = 60.0
"""k_i = k_po / INTEGRAL_TIME_S: a 1 C overshoot held this long weighs as much as k_po."""
INTEGRAL_LEAK_PER_S = 0.01
"""Our deviation from IPA: below target the integral decays instead of being kept until switch-off."""
OBSERVER_GAIN_T = 0.3
"""Observer correction of the temperature estimate per second, per C of error."""
OBSERVER_AMBIENT_TIME_S = 120.0
"""Time constant with which the effective-ambient estimate follows a persistent model error."""
UP_CPU_MARGIN = 0.9
"""Going up needs the CPU estimate below 90 % of max_cpu_share (estimates are noisy)."""
POWER_SMOOTHING = 0.3
"""Per-step weight of a new power / CPU reading (CPU % is spiky, heat is not)."""
BUDGET_HYSTERESIS = 0.02
"""Stay while within budget +2 %, go up only below budget -2 %."""
PAUSED_AFTER_S = 5.0
"""No audio observed for this long: the daemon's own power counts as zero."""
MIN_AUDIO_PER_SAMPLE_S = 0.5
"""A point's CPU cost enters its moving average once per step, if it played at least this long."""


@dataclass(frozen=True)
class Decision:
    """What the governor wants now, and why."""

    point: OperatingPoint
    """Operating point to use from the next bar line."""
    fan: float
    """Fan speed 0..1 (for a fan on a GPIO PWM pin)."""
    reason: str
    """One line: why this point."""
    temperature_c: float
    """Temperature the decision used (measured and filtered, or modelled)."""
    power_w: float
    """Board power the decision used (measured or modelled), W."""
    budget_w: float
    """Power the board may draw now: min(power budget, PID budget, trajectory budget), W."""
    changed: bool = False
    """True when ``point`` differs from the previous decision."""
    critical: bool = False
    """Above temp_critical_c."""
    temperature_source: str = ""
    """Sensor the temperature came from, or "model"."""
    power_source: str = ""
    """Sensor the power came from, or "model"."""
    cpu_share: float | None = None
    """The daemon's own CPU-s per audio-s lately (1.0 = one core), None before observe()."""
    system_cpu_percent: float | None = None
    """Whole-system CPU use 0..100, None without psutil."""
    throttled: list[str] | None = None
    """Firmware throttle conditions active now; None without vcgencmd."""
    predicted_c: float | None = None
    """Temperature the chosen point is predicted to reach ``horizon_s`` ahead."""
    colour: str = "green"
    """Status colour: green (best point), amber (stepped down), red (at/over target or throttled)."""
    time: float = 0.0
    """Clock time of the decision."""
    details: dict[str, float] = field(default_factory=dict)
    """Internals for plots and logs (pid_w, trajectory_w, sustainable_w, ambient_c, ...)."""

    def telemetry(self) -> dict[str, Any]:
        """The keys the daemon publishes with ``state.update_telemetry(**decision.telemetry())``."""
        return {
            "temperature_c": round(self.temperature_c, 1),
            "power_w": round(self.power_w, 2),
            "cpu_percent": None if self.cpu_share is None else round(100.0 * self.cpu_share, 1),
            "throttled": self.throttled,
            "tier": self.point.tier,
            "synth_level": self.point.synth_level,
            "governor_reason": self.reason,
        }


class Governor:
    """Chooses the operating point and fan speed about once a second."""

    def __init__(
        self,
        config: Any,
        operating_points: Sequence[OperatingPoint],
        clock: Callable[[], float] = time.monotonic,
        sensors: Sensors | None = None,
        *,
        profile: BoardProfile | None = None,
        state: Any = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.profile = profile or profile_for(config)
        self.sensors = sensors or Sensors(config, clock=clock)
        self.state = state
        self.costs = CostTracker()
        self.fan_curve = FanCurve()
        self._points: list[OperatingPoint] = []
        self.set_points(operating_points)
        # Start at the best point the priors say the CPU can carry; the first steps correct it.
        self.current = next(
            (p for p in self._points if p.cost <= config.max_cpu_share),
            min(self._points, key=lambda p: p.cost),
        )
        self._last_change = -math.inf
        self._last_step: float | None = None
        self._t_hat: float | None = None
        self._ambient = self.profile.ambient_c
        self._integral = 0.0
        self._fan = 0.0
        self._power_s: float | None = None
        self._cpu_acc = 0.0
        self._audio_acc = 0.0
        self._last_audio: float = -math.inf
        self._daemon_cores = 0.0
        self._share: float | None = None
        self._lock = threading.Lock()
        self._per_point: dict[OperatingPoint, list[float]] = {}
        self.last: Decision | None = None

    # -- inputs ----------------------------------------------------------------

    @property
    def points(self) -> list[OperatingPoint]:
        """Available points, best quality first."""
        return list(self._points)

    def set_points(self, operating_points: Sequence[OperatingPoint]) -> None:
        """Replace the available points (a neural tier loaded, or the listener pinned a tier)."""
        points = sorted(operating_points, key=lambda p: (-p.quality, p.cost))
        if not points:
            raise ValueError("the governor needs at least one operating point")
        self._points = points
        if hasattr(self, "current") and self.current not in points:
            self.current = min(points, key=lambda p: p.cost)  # safest until the next step decides
            self._last_change = -math.inf

    def observe(self, cpu_seconds: float, audio_seconds: float, point: OperatingPoint | None = None) -> None:
        """The daemon spent ``cpu_seconds`` rendering ``audio_seconds`` of audio.

        Call it whenever convenient (per bar or per second) with the process
        CPU time since the last call; ``point`` is the point that actually
        played (default: the last one decided).
        """
        if not (cpu_seconds >= 0 and audio_seconds >= 0):  # also rejects NaN
            return
        with self._lock:  # the producer thread calls this while the control loop steps
            self._cpu_acc += cpu_seconds
            self._audio_acc += audio_seconds
            if audio_seconds > 0:
                self._last_audio = self.clock()
                acc = self._per_point.setdefault(point or self.current, [0.0, 0.0])
                acc[0] += cpu_seconds
                acc[1] += audio_seconds

    # -- the loop --------------------------------------------------------------

    def step(self, now: float | None = None) -> Decision:
        """Read the sensors and decide; call about once a second."""
        now = self.clock() if now is None else now
        dt = 1.0 if self._last_step is None else min(10.0, max(1e-3, now - self._last_step))
        self._last_step = now
        cfg = self.config
        profile = self.profile
        sample = self.sensors.read()

        # The daemon's own load since the last step, in cores, and one cost sample per point that played
        # (per step, not per observe() call, so the average spans the same time however often it is fed).
        with self._lock:
            cpu_acc, audio_acc, per_point = self._cpu_acc, self._audio_acc, self._per_point
            self._cpu_acc = self._audio_acc = 0.0
            self._per_point = {}
            last_audio = self._last_audio
        for point, (cpu_s, audio_s) in per_point.items():
            if audio_s >= MIN_AUDIO_PER_SAMPLE_S:
                self.costs.add(point, cpu_s / audio_s)
        if audio_acc > 0:
            self._share = cpu_acc / audio_acc
        cores = cpu_acc / dt if now - last_audio < PAUSED_AFTER_S else 0.0
        # Smoothed like the power below, so "power minus our share" does not carry our bar-to-bar jitter.
        if self._power_s is None:
            self._daemon_cores = cores
        self._daemon_cores += POWER_SMOOTHING * (cores - self._daemon_cores)

        power, power_source = self._power(sample)
        r_eff = profile.fan_r(self._fan)
        temperature, temp_source = self._observe_temperature(sample, power, r_eff, dt)

        # PID on the power budget (power_allocator), SP from the observed ambient.
        target = cfg.temp_target_c
        sp = getattr(cfg, "sustainable_power_w", 0.0) or max(0.05, (target - self._ambient) / r_eff)
        t_on = target - SWITCH_ON_BELOW_TARGET_C
        error = target - temperature
        if temperature < t_on:
            self._integral = 0.0
            pid_w = math.inf
        else:
            k_pu = 2.0 * sp / (target - t_on)
            k_po = sp / (target - t_on)
            k_i = k_po / INTEGRAL_TIME_S
            if error < 0:  # IPA's integral_cutoff = 0: accumulate only above target
                self._integral = max(self._integral + error * dt, -sp / k_i)
            else:
                self._integral *= math.exp(-INTEGRAL_LEAK_PER_S * dt)
            pid_w = sp + (k_pu if error > 0 else k_po) * error + k_i * self._integral

        # Trajectory: the highest board power whose forecast stays below a limit.
        tau = r_eff * profile.thermal_c
        decay = math.exp(-cfg.horizon_s / tau)

        def trajectory_w(limit_c: float) -> float:
            return ((limit_c - decay * temperature) / (1.0 - decay) - self._ambient) / r_eff

        # The daemon's share of that power: its *averaged* cost for the point playing (the per-step
        # CPU time jitters bar to bar and would make every prediction jitter with it).
        playing = now - last_audio < PAUSED_AFTER_S
        own_cores = self.costs.estimate(self.current) if playing else 0.0
        other_w = power - profile.w_per_core * own_cores

        def predicted_w(point: OperatingPoint) -> float:
            return other_w + profile.w_per_core * self.costs.estimate(point)

        def forecast_c(point: OperatingPoint) -> float:
            steady = self._ambient + r_eff * predicted_w(point)
            return steady + (temperature - steady) * decay

        budget = cfg.power_budget_w
        # Hysteresis in power too: noisy CPU % must not flip a point that sits at the budget.
        stay_w = min(budget * (1.0 + BUDGET_HYSTERESIS), pid_w, trajectory_w(target))
        up_w = min(budget * (1.0 - BUDGET_HYSTERESIS), pid_w, trajectory_w(target - cfg.hysteresis_c))
        guessing = profile.name == "generic" and temp_source == "model" and power_source == "model"
        if guessing:
            # A computer we can neither measure nor describe: its heat and power would be guesses
            # driven by other programs' load, so only the real-time CPU headroom limits the music.
            stay_w = up_w = math.inf
        throttle = sample.throttle
        if throttle is not None and (throttle.hot or throttle.under_voltage):
            # The firmware is already slowing us (or the supply sags): shed load below what runs now.
            stay_w = up_w = min(stay_w, predicted_w(self.current) - 1e-3)

        def fits(point: OperatingPoint, limit_w: float, cpu_margin: float = 1.0) -> bool:
            cpu_ok = self.costs.estimate(point) <= cfg.max_cpu_share * cpu_margin
            return cpu_ok and predicted_w(point) <= limit_w

        lightest = min(self._points, key=self.costs.estimate)
        raw_c = sample.temperature_c if sample.temperature_c is not None else temperature
        # ... and a guessed temperature is never an emergency (it once dropped a busy PC to tier 0).
        critical = raw_c >= cfg.temp_critical_c and not guessing
        since = now - self._last_change
        choice, reason = self.current, ""
        if critical:
            choice, reason = lightest, f"critical: {raw_c:.1f} C >= {cfg.temp_critical_c:g} C"
        elif not fits(self.current, stay_w):
            firmware = throttle is not None and (throttle.hot or throttle.under_voltage)
            urgent = temperature >= target or firmware
            if urgent or since >= cfg.min_dwell_s / 4:
                fitting = next((p for p in self._points if fits(p, stay_w)), None)
                choice = fitting or lightest
                reason = self._why_down(choice, stay_w, budget, pid_w, throttle)
                if fitting is None:
                    reason += " (nothing fits: lightest)"
            else:
                reason = f"over budget, holding {cfg.min_dwell_s / 4 - since:.0f} s more (dwell)"
        else:
            upgrades = (p for p in self._points if p.quality > self.current.quality)
            better = next((p for p in upgrades if fits(p, up_w, UP_CPU_MARGIN)), None)
            if better is not None and since >= cfg.min_dwell_s:
                choice = better
                reason = f"headroom: forecast {forecast_c(better):.1f} C, {predicted_w(better):.2f} W fits"
            elif better is not None:
                reason = f"holding (dwell {cfg.min_dwell_s - since:.0f} s) before {better.label}"
            elif self.current == self._points[0]:
                reason = "best available point fits"
            else:
                reason = f"holding {self.current.label}: nothing better fits"
        changed = choice != self.current
        if changed:
            log.info("thermal: %s -> %s (%s)", self.current.label, choice.label, reason)
            self.current = choice
            self._last_change = now
        else:
            log.debug("thermal: %s (%s)", choice.label, reason)

        fan = self.fan_curve.update(raw_c)
        if critical or (throttle is not None and throttle.hot):
            fan = 1.0
        self._fan = fan
        hot = critical or temperature >= target or (throttle is not None and throttle.hot)
        colour = "red" if hot else ("green" if choice == self._points[0] else "amber")
        decision = Decision(
            point=choice,
            fan=fan,
            reason=reason,
            temperature_c=temperature,
            power_w=power,
            budget_w=stay_w,
            changed=changed,
            critical=critical,
            temperature_source=temp_source,
            power_source=power_source,
            cpu_share=self._share,
            system_cpu_percent=sample.cpu_percent,
            throttled=None if throttle is None else throttle.now,
            predicted_c=forecast_c(choice),
            colour=colour,
            time=now,
            details={
                "pid_w": pid_w,
                "trajectory_w": trajectory_w(target),
                "sustainable_w": sp,
                "ambient_c": self._ambient,
                "predicted_w": predicted_w(choice),
                "integral": self._integral,
            },
        )
        self.last = decision
        if self.state is not None:
            self.state.update_telemetry(**decision.telemetry())
        return decision

    # -- internals -------------------------------------------------------------

    def _power(self, sample: SensorSample) -> tuple[float, str]:
        """Measured board power if a sensor exists, else modelled from CPU load (smoothed)."""
        if sample.power_w is not None:
            power, source = sample.power_w, sample.power_source
        else:
            if sample.cpu_percent is not None:
                busy = sample.cpu_percent / 100.0 * self.profile.cores
                busy = max(busy, self._daemon_cores)  # psutil's first reading can be 0
            else:
                busy = self._daemon_cores
            power, source = self.profile.power(busy), "model"
        # Light smoothing: CPU % and power sensors are spiky, heat is not.
        if self._power_s is None:
            self._power_s = power
        self._power_s += POWER_SMOOTHING * (power - self._power_s)
        return self._power_s, source

    def _observe_temperature(
        self, sample: SensorSample, power: float, r_eff: float, dt: float
    ) -> tuple[float, str]:
        """Advance the RC observer; correct it with the sensor when there is one."""
        tau = r_eff * self.profile.thermal_c
        if self._t_hat is None:
            self._t_hat = sample.temperature_c if sample.temperature_c is not None else self._ambient
            if sample.temperature_c is not None:
                # Start by assuming steady state: the ambient that explains this temperature.
                self._ambient = sample.temperature_c - r_eff * power
        steady = self._ambient + r_eff * power
        self._t_hat = steady + (self._t_hat - steady) * math.exp(-dt / tau)
        if sample.temperature_c is None:
            return self._t_hat, "model"
        innovation = sample.temperature_c - self._t_hat
        gain_t = 1.0 - math.exp(-OBSERVER_GAIN_T * dt)
        # Ambient gain chosen so a persistent error is absorbed in ~OBSERVER_AMBIENT_TIME_S.
        # (the ambient reaches the temperature only through dt/tau, hence the factor tau).
        gain_a = gain_t * tau / OBSERVER_AMBIENT_TIME_S
        self._t_hat += gain_t * innovation
        self._ambient += gain_a * innovation
        return self._t_hat, sample.temperature_source

    def _why_down(
        self, choice: OperatingPoint, stay_w: float, budget: float, pid_w: float, throttle: Any
    ) -> str:
        """One line naming the constraint that forced the step down."""
        cost = self.costs.estimate(self.current)
        if throttle is not None and throttle.under_voltage:
            cause = "under-voltage"
        elif throttle is not None and throttle.hot:
            cause = f"firmware throttling ({', '.join(throttle.now)})"
        elif cost > self.config.max_cpu_share:
            cause = f"CPU share {cost:.2f} > {self.config.max_cpu_share:g}"
        elif stay_w == budget * (1.0 + BUDGET_HYSTERESIS):
            cause = f"power budget {budget:g} W"
        elif stay_w == pid_w:
            cause = f"PID budget {pid_w:.2f} W"
        else:
            cause = f"forecast above {self.config.temp_target_c:g} C (allows {stay_w:.2f} W)"
        return f"{cause}: {self.current.label} -> {choice.label}"
