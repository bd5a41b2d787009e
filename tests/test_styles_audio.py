"""Styles and moods are measurably distinct in the audio itself, and move the expected way."""

import dataclasses
import itertools

import numpy as np
import pytest

from edge.context.context import MOODS
from edge.engine import Engine
from edge.music.style import StyleLibrary
from tests.music_helpers import default_context

RATE = 48000
STYLES = StyleLibrary()


def render(context, seconds=20.0, seed=3, tempos=None):
    """``seconds`` of music from the end of the intro (an intro is pads and keys, no drums or lead)."""
    bars = []
    engine = Engine(STYLES, lambda: context, seed, on_bar=bars.append)
    blocks, frames = [], 0
    while True:
        intro = [b for b in itertools.takewhile(lambda b: b.plan.section == "intro", bars)]
        start = round(sum(b.seconds for b in intro) * RATE)
        if len(intro) < len(bars) and frames >= start + seconds * RATE:
            break
        blocks.append(engine.render_block(1024))
        frames += 1024
    if tempos is not None:
        tempos.append(engine.last_bar.plan.tempo)
    audio = np.concatenate(blocks).mean(axis=1)
    return audio[start : start + int(seconds * RATE)]


def centroid(audio):
    spectrum = np.abs(np.fft.rfft(audio))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


def onset_rate(audio):
    """Onsets per second: peaks of band-wise rises in level (dB) of at least 20 dB in 11 ms.

    Slow swells (pads) rise a few dB per frame and do not count; struck notes and drums do.
    """
    hop = 512
    frames = np.lib.stride_tricks.sliding_window_view(audio, 1024)[::hop] * np.hanning(1024)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    edges = np.geomspace(2, 513, 9).astype(int)
    bands = np.stack([power[:, a:b].sum(axis=1) for a, b in itertools.pairwise(edges)], axis=1)
    flux = np.maximum(np.diff(10 * np.log10(bands + 1e-9), axis=0), 0).sum(axis=1)
    peaks = (flux[1:-1] > flux[:-2]) & (flux[1:-1] >= flux[2:]) & (flux[1:-1] > 20)
    return peaks.sum() / (len(audio) / RATE)


#: Seeds per style. Tier 0 draws from numpy's seeded streams, the same on every CPU, but one seed
#: is one draw of the music: the margins below are in standard errors of a mean over these seeds.
SEEDS = (3, 4, 5)


@pytest.fixture(scope="module")
def by_style():
    return {
        name: [render(default_context(name), seed=s) for s in SEEDS]
        for name in ("ambient", "focus", "workout")
    }


def mean_of(measure, renders) -> float:
    return float(np.mean([measure(audio) for audio in renders]))


def test_brightness_orders_sleepy_to_driving(by_style):
    # One 20 s window, 40 seeds: focus - ambient 1236 +- 288 Hz (SD), workout - focus 2379 +- 145 Hz.
    # A mean of 3 seeds: SE 166 and 84 Hz, so 0 Hz is 7.4 and 28 SE away.
    ambient, focus, workout = (mean_of(centroid, by_style[name]) for name in ("ambient", "focus", "workout"))
    assert ambient < focus < workout


def test_onset_density_orders_sleepy_to_driving(by_style):
    # 40 seeds: focus - ambient 1.65 +- 0.32 onsets/s (SD), workout - focus 7.4 +- 0.97; a mean of
    # 3 seeds: 9 and 13 SE above 0.
    ambient, focus, workout = (
        mean_of(onset_rate, by_style[name]) for name in ("ambient", "focus", "workout")
    )
    assert ambient < focus < workout


def test_excited_mood_is_faster_and_brighter_than_calm():
    calm_context = default_context("focus")
    valence, arousal = MOODS["excited"]
    excited = dataclasses.replace(calm_context, mood="excited", valence=valence, arousal=arousal)
    # A minute each (past the intro): brightness follows energy over the arc, so a window can land
    # on a quiet stretch of one and a loud one of the other. Over 40 seeds the excited minute is
    # 183 +- 84 Hz (SD) brighter, as little as 12 Hz: one seed is 2.2 SD from 0. The mean of 6 seeds
    # (SE 34 Hz) is 5.3 SE from 0.
    differences = []
    for seed in range(3, 9):
        tempos: list[float] = []
        calm = render(calm_context, seconds=60, seed=seed, tempos=tempos)
        busy = render(excited, seconds=60, seed=seed, tempos=tempos)
        assert tempos[1] > tempos[0]  # the tempo follows arousal: no dice
        differences.append(centroid(busy) - centroid(calm))
    assert np.mean(differences) > 0, differences
