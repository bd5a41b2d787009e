"""The master's slow leveller: it follows loudness as BS.1770 measures it (checked against pyloudnorm,
an outside meter), makes up half of the distance to the target within its caps, leaves silence
alone, glides, and brings the start of a session (what a 60 s render holds) near the target.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge import loudness
from edge.music.style import StyleLibrary
from edge.render import leveller as L
from edge.render.leveller import Leveller

RATE = 48000
CHUNK = 2048
TARGET = -16.0


def _noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((2, round(seconds * RATE))).astype(np.float32)


def _feed(leveller: Leveller, audio: np.ndarray, gain: float) -> list[float]:
    """Feed ``audio`` (2, n) chunk by chunk; the gain in dB after each chunk."""
    gains = []
    for at in range(0, audio.shape[1], CHUNK):
        leveller.step(audio[:, at : at + CHUNK], gain)
        gains.append(leveller.gain_db)
    return gains


def _at_loudness(audio: np.ndarray, lufs: float) -> float:
    """The gain that puts ``audio`` at ``lufs``, as pyloudnorm measures it."""
    return 10.0 ** ((lufs - loudness.measure_level(audio.T.astype(np.float64))[0]) / 20.0)


@pytest.mark.parametrize("hz", [30.0, 100.0, 1000.0, 4000.0, 12000.0])
def test_it_follows_the_loudness_an_outside_bs1770_meter_measures(hz):
    """K-weighting in the frequency domain against pyloudnorm's filters: a steady tone at any pitch
    reads the same loudness (the 30 Hz tone is where the high-pass bites)."""
    t = np.arange(8 * RATE) / RATE
    tone = np.stack([np.sin(2 * np.pi * hz * t)] * 2).astype(np.float32) * 0.1
    meter = loudness.measure_level(tone.T.astype(np.float64))[0]
    follower = Leveller(RATE, TARGET)
    _feed(follower, tone, 1.0)
    assert follower.loudness == pytest.approx(meter, abs=0.3)


@pytest.mark.parametrize(("level", "made_up"), [(-24.0, 4.0), (-19.0, 1.5), (-16.0, 0.0), (-14.0, -1.0)])
def test_it_makes_up_half_the_distance_to_the_target(level, made_up):
    audio = _noise(20.0)
    follower = Leveller(RATE, TARGET)
    gains = _feed(follower, audio, _at_loudness(audio, level))
    assert gains[-1] == pytest.approx(made_up, abs=0.15)
    assert made_up == pytest.approx(L.RATIO * (TARGET - level))


@pytest.mark.parametrize(("level", "cap"), [(-30.0, L.MAX_BOOST_DB), (-6.0, -L.MAX_CUT_DB)])
def test_the_boost_and_the_cut_are_capped(level, cap):
    audio = _noise(20.0)
    gains = _feed(Leveller(RATE, TARGET), audio, _at_loudness(audio, level))
    assert gains[-1] == pytest.approx(cap, abs=0.05)
    assert max(abs(g) for g in gains) <= max(L.MAX_BOOST_DB, L.MAX_CUT_DB) + 1e-9


def test_silence_and_music_far_under_the_target_are_left_alone():
    audio = _noise(10.0)
    follower = Leveller(RATE, TARGET)
    gains = _feed(follower, np.zeros_like(audio), 1.0)
    gains += _feed(follower, audio, _at_loudness(audio, TARGET - L.GATE_LU - 3.0))
    assert gains == [0.0] * len(gains)  # nothing to level: the gain holds, noise is not pumped up


def test_after_the_first_seconds_the_gain_glides_it_does_not_jump():
    audio = _noise(40.0)
    quiet, loud = _at_loudness(audio, -24.0), _at_loudness(audio, -12.0)
    follower = Leveller(RATE, TARGET)
    _feed(follower, audio[:, : 20 * RATE], quiet)
    gains = _feed(follower, audio[:, 20 * RATE :], loud)  # 12 LU louder at once
    steps = np.abs(np.diff([4.0, *gains]))
    per_chunk = 1.0 - np.exp(-CHUNK / (L.GLIDE_S * RATE))  # the glide's share of the way per chunk
    assert steps.max() <= (4.0 + 2.0) * per_chunk + 1e-9  # from +4 dB toward -2 dB
    assert gains[-1] == pytest.approx(-2.0, abs=0.1)


@pytest.mark.parametrize("name", StyleLibrary().names)
def test_a_minute_from_the_first_bar_plays_at_the_target(name):
    """What the issue measured: a render from the intro on, 60 s (tier 0, the same on every CPU).
    Without the leveller the quiet intro held these 1.5-1.7 LU under the target."""
    pack = StyleLibrary().get(name)
    audio = loudness.render_pack(pack, 4, 0.5, 60.0, loudness.DEFAULT_ACTIVITY, skip_intro=False).audio
    level, _ = loudness.measure_level(audio)
    assert abs(level - TARGET) <= 1.0, f"{name}: {level:.2f} LUFS"
