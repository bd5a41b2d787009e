"""Built-in behaviour: what body and room sensors ask of the music. Pure functions only.

Each function maps input values to a *target*; none of them steps over time.
The conductor glides towards a target tempo by at most ``MAX_TEMPO_STEP``
(3 %) per bar, so a target may jump without the music jumping.

Grounding, briefly:

* Cadence: people synchronise steps to a beat they can hear (Van Dyck et al.
  2015, "Spontaneous entrainment of running cadence to music tempo"). Running
  cadences (~150-190 steps/min) would be frantic as BPM, so above
  ``CADENCE_HALF_TIME`` the beat falls on every second step (half time).
* Heart rate while exercising: preferred music tempo rises with exercise
  intensity but plateaus at roughly 120-140 BPM from moderate intensity on
  (Karageorghis et al. 2011, Res Q Exerc Sport 82(2), "Revisiting the
  relationship between exercise heart rate and music tempo preference").
  Intensity is heart rate reserve (Karvonen): (HR - rest) / (max - rest).
* Heart rate while calm: adaptive soundscapes such as Endel slow down when
  the heart rate is above its normal resting range, to invite it down again.
* Light: perceived brightness is roughly logarithmic in illuminance, so the
  energy follows log10(lux) between a dim room (~3 lx) and daylight indoors
  (~1000 lx).
* Night: calmer music (lower energy cap) late in the day and at night.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TEMPO_RANGE = (40.0, 240.0)
#: Cadence above this (steps/min) sets the beat at half the step rate.
CADENCE_HALF_TIME = 150.0
#: Below this the listener is standing still: cadence gives no tempo.
CADENCE_MIN = 40.0

#: Resting and maximal heart rate used for heart rate reserve (no age is known).
HR_REST = 60.0
HR_MAX = 190.0
#: Upper end of the normal resting range; calm activities slow down above it.
HR_NORMAL_HIGH = 90.0

#: Exercise activities: (tempo at low intensity, plateau tempo), in BPM.
EXERCISE_CURVES: dict[str, tuple[float, float]] = {
    "workout": (100.0, 135.0),
    "party": (100.0, 128.0),
}
#: Heart-rate-reserve share where the curve starts to rise and where it reaches the plateau.
RISE_START, PLATEAU_START = 0.2, 0.7

#: Calm activities: tempo when the heart rate is normal (the conductor's activity presets).
CALM_TEMPI: dict[str, float] = {"focus": 84.0, "relax": 72.0, "sleep": 58.0}
#: How far a calm tempo drops at most, and over how many BPM above normal it gets there.
CALM_DROP, CALM_DROP_SPAN = 0.2, 40.0

#: Illuminance (lx) mapped to the energy range below, on a log scale.
LUX_DIM, LUX_BRIGHT = 3.0, 1000.0
ENERGY_DIM, ENERGY_BRIGHT = 0.25, 0.75
#: Energy caps by time of day; periods not listed leave energy alone.
PERIOD_ENERGY_CAP: dict[str, float] = {"evening": 0.5, "night": 0.3}


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _smoothstep(x: float) -> float:
    x = _clamp(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def cadence_tempo(cadence: float | None) -> float | None:
    """Steps per minute -> BPM: the step rate, or half of it above CADENCE_HALF_TIME."""
    if cadence is None or cadence < CADENCE_MIN:
        return None
    bpm = cadence / 2.0 if cadence > CADENCE_HALF_TIME else cadence
    return _clamp(bpm, *TEMPO_RANGE)


def heart_rate_reserve(heart_rate: float, rest: float = HR_REST, maximum: float = HR_MAX) -> float:
    """Exercise intensity 0..1 as a share of heart rate reserve (Karvonen)."""
    return _clamp((heart_rate - rest) / (maximum - rest), 0.0, 1.0)


def heart_rate_tempo(
    heart_rate: float | None, activity: str, rest: float = HR_REST, maximum: float = HR_MAX
) -> float | None:
    """Target BPM for a heart rate in an activity; None when the heart rate is unknown.

    Exercise: rises from the low tempo with intensity and plateaus (smoothstep
    between RISE_START and PLATEAU_START of heart rate reserve). Calm
    activities: the activity's tempo while the heart rate is normal, up to
    CALM_DROP slower as it climbs CALM_DROP_SPAN above the normal range.
    """
    if heart_rate is None:
        return None
    if activity in EXERCISE_CURVES:
        low, plateau = EXERCISE_CURVES[activity]
        share = heart_rate_reserve(heart_rate, rest, maximum)
        rise = _smoothstep((share - RISE_START) / (PLATEAU_START - RISE_START))
        return round(low + (plateau - low) * rise, 1)
    base = CALM_TEMPI.get(activity)
    if base is None:
        return None
    over = _clamp((heart_rate - HR_NORMAL_HIGH) / CALM_DROP_SPAN, 0.0, 1.0)
    return round(base * (1.0 - CALM_DROP * over), 1)


def target_tempo(inputs: Mapping[str, Any], activity: str) -> float | None:
    """Cadence sets the beat when it is known; otherwise the heart rate curve; else None."""
    tempo = cadence_tempo(inputs.get("cadence"))
    if tempo is not None:
        return tempo
    return heart_rate_tempo(inputs.get("heart_rate"), activity)


def illuminance_energy(lux: float | None) -> float | None:
    """Illuminance -> energy on a log scale; None when unknown."""
    if lux is None:
        return None
    span = math.log10(LUX_BRIGHT) - math.log10(LUX_DIM)
    share = (math.log10(max(lux, 0.01)) - math.log10(LUX_DIM)) / span
    return round(ENERGY_DIM + (ENERGY_BRIGHT - ENERGY_DIM) * _clamp(share, 0.0, 1.0), 3)


def target_energy(inputs: Mapping[str, Any], current: float) -> float | None:
    """Energy from an explicit input or the light, capped by the time of day; None for no opinion."""
    energy = inputs.get("energy")
    if energy is None:
        energy = illuminance_energy(inputs.get("illuminance"))
    cap = PERIOD_ENERGY_CAP.get(inputs.get("time_of_day") or "")
    if cap is None:
        return energy
    return min(current if energy is None else energy, cap)


def target_attention(inputs: Mapping[str, Any]) -> float | None:
    """Attention passes through: the conductor simplifies the music as it drops."""
    value = inputs.get("attention")
    return None if value is None else _clamp(float(value), 0.0, 1.0)


@dataclass(frozen=True)
class Targets:
    """Context values the inputs ask for; None means "no opinion"."""

    tempo: float | None = None
    """Target BPM."""
    energy: float | None = None
    """Target energy 0..1."""
    attention: float | None = None
    """Listener attention 0..1."""


def derive(inputs: Mapping[str, Any], activity: str, energy: float) -> Targets:
    """All targets for the current inputs, activity and energy."""
    return Targets(
        tempo=target_tempo(inputs, activity),
        energy=target_energy(inputs, energy),
        attention=target_attention(inputs),
    )
