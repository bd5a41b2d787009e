"""How loud a style pack plays: ITU-R BS.1770 measurements of renders through the real engine.

Offline only: the calibration script (scripts/calibrate_loudness.py), ``make bench``, the tests
and pack checks use it; the daemon never imports it. The meter is pyloudnorm (integrated loudness,
short-term loudness, loudness range) and true peak is the sample peak of a 4x oversampled copy
(scipy's upfirdn), as BS.1770-4 Annex 2 describes. Both come with the ``eval`` and
``dev`` extras; ``MeterMissing`` says so in one line when they are absent.

Renders are at tier 0 (procedural float math, the same on every CPU) over one pass of the arc:
from the end of the intro (pads and keys alone, a few bars a listener hears once) to the next
build, so a measure holds a build, a peak and a break whatever the tempo and section lengths.
``pack_problems`` is what a pack check reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edge.context.context import Context
from edge.engine import Engine
from edge.music.events import Bar
from edge.music.style import StylePack

RATE = 48000
BLOCK = 4096
SHORT_TERM_S = 3.0
"""Short-term loudness window (EBU R 128)."""
SHORT_TERM_HOP_S = 1.0
"""One short-term value per second."""
OVERSAMPLING = 4
"""True peak: the sample peak of a copy at four times the rate."""
_TP_TAPS = 129
_TP_BLOCK = 1 << 16
#: The activity each built-in pack is made for; a pack is measured with it and with the default
#: activity ("focus", what `render` and a fresh daemon use), since the activity moves the energy.
ACTIVITY_OF = {"ambient": "relax", "focus": "focus", "house": "party", "workout": "workout"}
DEFAULT_ACTIVITY = "focus"
CALIBRATION_SEEDS = (1, 2, 3)
"""Seeds the calibration renders (each one a different piece)."""
CALIBRATION_ENERGIES = (0.3, 0.5, 0.7)
"""Listener energies the calibration renders at: the gain fits the range a listener moves in."""
CALIBRATION_SECONDS: float | None = None
"""Seconds measured per render, after the intro; None: one pass of the arc (build, peak, break)."""


class MeterMissing(RuntimeError):
    """pyloudnorm or scipy is not installed. ``str()`` is one line saying how to install them."""


def _meter_modules():
    try:
        import pyloudnorm
        import scipy.signal
    except ImportError:
        raise MeterMissing(
            "measuring loudness needs pyloudnorm and scipy: pip install -e '.[eval]'"
        ) from None
    return pyloudnorm, scipy.signal


@dataclass(frozen=True)
class Loudness:
    """BS.1770 figures of one piece of audio."""

    integrated: float
    """Integrated loudness, LUFS (gated, BS.1770-4)."""
    true_peak: float
    """True peak, dBTP (4x oversampled)."""
    lra: float
    """Loudness range, LU (EBU Tech 3342)."""
    short_term: tuple[float, ...]
    """Short-term loudness (3 s windows, ungated), one value per second, LUFS."""


def measure(audio: np.ndarray, rate: int = RATE) -> Loudness:
    """Integrated loudness, true peak, loudness range and short-term loudness of (frames, 2) audio."""
    pyloudnorm, _ = _meter_modules()
    data = np.asarray(audio, dtype=np.float64)
    meter = pyloudnorm.Meter(rate)
    integrated = float(meter.integrated_loudness(data))
    lra = float(meter.loudness_range(data))
    return Loudness(integrated, true_peak(data, rate), lra, tuple(short_term(data, rate)))


def measure_level(audio: np.ndarray, rate: int = RATE) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBTP): the two figures a calibration needs."""
    pyloudnorm, _ = _meter_modules()
    data = np.asarray(audio, dtype=np.float64)
    return float(pyloudnorm.Meter(rate).integrated_loudness(data)), true_peak(data, rate)


def true_peak(audio: np.ndarray, rate: int = RATE) -> float:
    """True peak in dBTP: the largest magnitude of a 4x oversampled copy (BS.1770-4 Annex 2; here a
    129-tap Kaiser-windowed low-pass, flat to 0.45 of the sample rate), a few seconds at a time."""
    _, signal = _meter_modules()
    channels = np.ascontiguousarray(np.asarray(audio, dtype=np.float64).T)
    lowpass = signal.firwin(_TP_TAPS, 1.0 / OVERSAMPLING, window=("kaiser", 8.0)) * OVERSAMPLING
    peak = float(np.abs(channels).max()) if channels.size else 0.0
    frames = channels.shape[1]
    for start in range(0, frames, _TP_BLOCK):
        # Each block with the neighbours the filter reaches; only its own span of the output counts.
        lo, hi = max(0, start - _TP_TAPS), min(frames, start + _TP_BLOCK + _TP_TAPS)
        up = signal.upfirdn(lowpass, channels[:, lo:hi], OVERSAMPLING, 1, axis=1)
        delay = (_TP_TAPS - 1) // 2
        first = (start - lo) * OVERSAMPLING + delay
        last = (min(frames, start + _TP_BLOCK) - lo) * OVERSAMPLING + delay
        peak = max(peak, float(np.abs(up[:, first:last]).max()))
    return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def short_term(audio: np.ndarray, rate: int = RATE) -> np.ndarray:
    """Short-term loudness (BS.1770 K-weighted, 3 s windows, no gate), one value per second."""
    pyloudnorm, _ = _meter_modules()
    data = np.asarray(audio, dtype=np.float64)
    if len(data) < SHORT_TERM_S * rate:
        return np.zeros(0)
    meter = pyloudnorm.Meter(rate, block_size=SHORT_TERM_S, overlap=1.0 - SHORT_TERM_HOP_S / SHORT_TERM_S)
    meter.integrated_loudness(data)  # fills blockwise_loudness: the ungated loudness of each window
    return np.array(meter.blockwise_loudness, dtype=np.float64)


class _OnePack:
    """The part of a StyleLibrary the engine uses, holding one pack."""

    def __init__(self, pack: StylePack) -> None:
        self.pack = pack
        self.names = (pack.name,)
        self.packs = {pack.name: pack}

    def get(self, name: str) -> StylePack:
        return self.pack


@dataclass
class PackRender:
    """A render of one pack from the end of its intro, with the bars that played."""

    audio: np.ndarray
    bars: list[Bar]
    starts: list[int]
    """Each bar's first frame in ``audio`` (negative: before the measured part)."""


def activities_for(pack: StylePack) -> tuple[str, ...]:
    """The activities a pack is measured with: its own (built-in packs) and the default."""
    own = ACTIVITY_OF.get(pack.name, DEFAULT_ACTIVITY)
    return (own,) if own == DEFAULT_ACTIVITY else (own, DEFAULT_ACTIVITY)


def render_pack(
    pack: StylePack, seed: int, energy: float = 0.5, seconds: float | None = None,
    activity: str | None = None, loudness_lufs: float = -16.0, skip_intro: bool = True,
) -> PackRender:  # fmt: skip
    """``pack`` at tier 0 through the engine, as the daemon plays it, from the end of the intro
    (``skip_intro``) or from the start: ``seconds`` of it, or with None one pass of the arc (build,
    peak, break: what a listener hears again and again). ``activity`` None: the pack's own."""
    activity = activity or activities_for(pack)[0]
    context = Context(style=pack.name, activity=activity, energy=energy)
    bars: list[Bar] = []
    engine = Engine(_OnePack(pack), lambda: context, seed, on_bar=bars.append, sample_rate=RATE,
                    loudness_lufs=loudness_lufs)  # fmt: skip
    blocks: list[np.ndarray] = []
    frames = 0
    wanted = None if seconds is None else round(seconds * RATE)
    while True:
        start, arc_end = _marks(bars)
        if not skip_intro:
            start = 0
        if start is not None:
            if wanted is None and arc_end is not None:
                wanted = arc_end - start
            if wanted is not None and frames >= start + wanted:
                break
        blocks.append(engine.render_block(BLOCK))
        frames += BLOCK
    audio = np.concatenate(blocks)[start : start + wanted]
    starts, at = [], -start
    for bar in bars:
        if at < wanted:
            starts.append(at)
        at += round(bar.seconds * RATE)
    return PackRender(audio, bars[: len(starts)], starts)


def _marks(bars: list[Bar]) -> tuple[int | None, int | None]:
    """(first frame after the intro, first frame of the second build) once the bars reach them."""
    at, start, builds = 0, None, 0
    for bar in bars:
        if start is None and bar.plan.section != "intro":
            start = at
        if bar.plan.section == "build" and bar.plan.bar_in_section == 0:
            builds += 1
            if builds == 2:
                return start, at
        at += round(bar.seconds * RATE)
    return start, None


def short_term_by_section(render: PackRender, rate: int = RATE) -> dict[str, list[float]]:
    """Short-term loudness values (LUFS) per section name, from the 3 s windows that lie wholly
    inside one section."""
    values = short_term(render.audio, rate)
    spans: list[tuple[str, int, int]] = []
    for bar, start in zip(render.bars, render.starts, strict=True):
        end = start + round(bar.seconds * rate)
        if spans and spans[-1][0] == bar.plan.section and bar.plan.bar_in_section > 0:
            spans[-1] = (spans[-1][0], spans[-1][1], end)
        else:
            spans.append((bar.plan.section, start, end))
    out: dict[str, list[float]] = {}
    width, hop = round(SHORT_TERM_S * rate), round(SHORT_TERM_HOP_S * rate)
    for i, value in enumerate(values):
        first = i * hop
        for name, start, end in spans:
            if start <= first and first + width <= end and math.isfinite(value):
                out.setdefault(name, []).append(float(value))
    return out


def pack_problems(
    pack: StylePack, target: float = -16.0, tolerance: float = 1.0, activities: tuple[str, ...] | None = None
) -> list[str]:
    """One line per loudness problem of ``pack`` (empty: it plays at ``target`` +- ``tolerance`` LU
    with its true peak at or under -1 dBTP), from one pass of its arc at seed 1 per activity (default:
    its own and the default one): what `pack check` reports. Raises MeterMissing without the meter."""
    from edge.render.master import CEILING_DBTP

    problems = []
    for activity in activities or activities_for(pack):
        level, peak = measure_level(render_pack(pack, 1, 0.5, activity=activity).audio)
        where = f"style {pack.name!r}: [mix] loudness_gain_db"
        if abs(level - target) > tolerance:
            problems.append(
                f"{where}: plays at {level:.1f} LUFS with the {activity} activity, {level - target:+.1f} LU "
                f"from {target:g}; run scripts/calibrate_loudness.py on the pack"
            )
        if peak > CEILING_DBTP:
            problems.append(f"style {pack.name!r}: true peak {peak:.1f} dBTP is over {CEILING_DBTP:g} dBTP")
    return problems
