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


@pytest.fixture(scope="module")
def by_style():
    return {name: render(default_context(name)) for name in ("ambient", "focus", "workout")}


def test_brightness_orders_sleepy_to_driving(by_style):
    assert centroid(by_style["ambient"]) < centroid(by_style["focus"]) < centroid(by_style["workout"])


def test_onset_density_orders_sleepy_to_driving(by_style):
    assert onset_rate(by_style["ambient"]) < onset_rate(by_style["focus"]) < onset_rate(by_style["workout"])


def test_excited_mood_is_faster_and_brighter_than_calm():
    calm_context = default_context("focus")
    valence, arousal = MOODS["excited"]
    excited = dataclasses.replace(calm_context, mood="excited", valence=valence, arousal=arousal)
    tempos: list[float] = []
    # A minute each (past the intro): brightness follows energy over the arc, so a short window
    # can land on a quiet bar of one and a loud bar of the other. Seeds 3-5 gave margins of 150-340 Hz.
    calm, busy = render(calm_context, seconds=60, tempos=tempos), render(excited, seconds=60, tempos=tempos)
    assert tempos[1] > tempos[0]
    assert centroid(busy) > centroid(calm)
