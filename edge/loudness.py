"""How loud a style pack plays: ITU-R BS.1770 measurements of renders through the real engine.

Offline only: the calibration script (scripts/calibrate_loudness.py), ``make bench``, the tests
and pack checks use it; the daemon never imports it. The meter is pyloudnorm (integrated loudness,
short-term loudness, loudness range) and true peak is the sample peak of a 4x oversampled copy
(scipy's upfirdn), as BS.1770-4 Annex 2 describes. Both come with the ``eval`` and
``dev`` extras; ``MeterMissing`` says so in one line when they are absent.

Renders are at tier 0 (procedural float math, the same on every CPU), from the end of the intro:
the intro is pads and keys alone, a few bars that a listener hears once.
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
#: The activity each built-in pack is made for; a pack is measured with it and with the default
#: activity ("focus", what `render` and a fresh daemon use), since the activity moves the energy.
ACTIVITY_OF = {"ambient": "relax", "focus": "focus", "house": "party", "workout": "workout"}
DEFAULT_ACTIVITY = "focus"
CALIBRATION_SEEDS = (1, 2, 3)
"""Seeds the calibration renders (each one a different piece)."""
CALIBRATION_ENERGIES = (0.3, 0.5, 0.7)
"""Listener energies the calibration renders at: the gain fits the range a listener moves in."""
CALIBRATION_SECONDS = 60.0
"""Seconds measured per render, after the intro."""


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
    128-tap Kaiser-windowed low-pass, flat to 0.45 of the sample rate)."""
    _, signal = _meter_modules()
    channels = np.ascontiguousarray(np.asarray(audio, dtype=np.float64).T)
    lowpass = signal.firwin(128, 1.0 / OVERSAMPLING, window=("kaiser", 8.0)) * OVERSAMPLING
    up = signal.upfirdn(lowpass, channels, OVERSAMPLING, 1, axis=1)
    peak = max(float(np.abs(up).max()), float(np.abs(channels).max()))
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
    pack: StylePack, seed: int, energy: float = 0.5, seconds: float = CALIBRATION_SECONDS,
    activity: str | None = None, loudness_lufs: float = -16.0, skip_intro: bool = True,
) -> PackRender:  # fmt: skip
    """``seconds`` of ``pack`` at tier 0 from the end of the intro (``skip_intro``) or from the
    start, as the daemon plays it (``activity`` None: the pack's own)."""
    activity = activity or activities_for(pack)[0]
    context = Context(style=pack.name, activity=activity, energy=energy)
    bars: list[Bar] = []
    engine = Engine(_OnePack(pack), lambda: context, seed, on_bar=bars.append, sample_rate=RATE,
                    loudness_lufs=loudness_lufs)  # fmt: skip
    blocks: list[np.ndarray] = []
    frames = 0
    start = None if skip_intro else 0
    wanted = round(seconds * RATE)
    while start is None or frames < start + wanted:
        blocks.append(engine.render_block(BLOCK))
        frames += BLOCK
        if start is None:
            intro = 0
            for bar in bars:
                if bar.plan.section != "intro":
                    start = intro
                    break
                intro += round(bar.seconds * RATE)
    audio = np.concatenate(blocks)[start : start + wanted]
    starts, at = [], -start
    for bar in bars:
        if at < wanted:
            starts.append(at)
        at += round(bar.seconds * RATE)
    return PackRender(audio, bars[: len(starts)], starts)


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
