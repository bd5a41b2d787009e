"""The neural tiers' soft steers, by construction: which logits each one moves, and by how much."""

from __future__ import annotations

import numpy as np
import pytest

from edge.generator import tokens as T
from edge.generator.steering import (
    MODE_CHORD_PULL,
    REPEAT_PENALTY,
    STEP_PULL,
    keep_melody_mass,
    mode_chord_pull,
    note_steer,
)

MEL = np.array(T.MEL_IDS)


def test_the_step_pull_lifts_exactly_the_steps_from_the_last_note() -> None:
    line = np.zeros(len(T.VOCAB), dtype=np.float32)
    steer = note_steer(line, None, T.ID["MEL_64"])
    lifted = {T.VOCAB[i] for i in np.flatnonzero(steer > 0)}
    assert lifted == {"MEL_62", "MEL_63", "MEL_65", "MEL_66"}
    assert steer[T.ID["MEL_65"]] == pytest.approx(STEP_PULL)
    assert steer[T.ID["MEL_64"]] == pytest.approx(-REPEAT_PENALTY)  # the repeat, and nothing else, is down
    assert np.flatnonzero(steer < 0).tolist() == [T.ID["MEL_64"]]
    assert not note_steer(line, None, None).any()  # no note before: nothing to measure a step from
    assert not line.any()  # the phrase's line is not written into


def test_on_a_beat_the_chord_tones_add_to_the_line_and_the_step() -> None:
    line = np.zeros(len(T.VOCAB), dtype=np.float32)
    line[MEL] = -0.25
    tones = np.zeros(len(T.VOCAB), dtype=np.float32)
    tones[[T.ID["MEL_64"], T.ID["MEL_67"]]] = 1.5
    steer = note_steer(line, tones, T.ID["MEL_65"])
    assert steer[T.ID["MEL_67"]] == pytest.approx(-0.25 + 1.5 + STEP_PULL)  # a chord tone a step away
    assert steer[T.ID["MEL_64"]] == pytest.approx(-0.25 + 1.5 + STEP_PULL)
    assert steer[T.ID["MEL_65"]] == pytest.approx(-0.25 - REPEAT_PENALTY)
    assert steer[T.ID["MEL_72"]] == pytest.approx(-0.25)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_after_the_bass_the_steer_picks_the_pitch_never_whether_a_note_comes(temperature: float) -> None:
    """At the bass's onset a melody pitch competes with the next POS and with ending the bar: the
    steer may reorder the pitches, but their summed chance (a note here or not) stays as it was."""
    rng = np.random.default_rng(3)
    base = rng.normal(0, 2, len(T.VOCAB)).astype(np.float32)
    melody = np.zeros(len(T.VOCAB), dtype=bool)
    melody[[T.ID[f"MEL_{p}"] for p in (60, 62, 64, 65, 67, 69, 71)]] = True
    allowed = melody.copy()
    allowed[[T.BAR, *T.POS_IDS[1:]]] = True
    steer = np.zeros(len(T.VOCAB), dtype=np.float32)
    steer[T.ID["MEL_62"]], steer[T.ID["MEL_71"]] = 3.0, -2.0

    def probabilities(logits: np.ndarray) -> np.ndarray:
        scores = np.where(allowed, logits.astype(np.float64) / temperature, -np.inf)
        p = np.exp(scores - scores.max())
        return p / p.sum()

    before = probabilities(base)
    kept = keep_melody_mass(base, steer, melody, temperature)
    after = probabilities(base + kept)
    assert after[melody].sum() == pytest.approx(before[melody].sum(), rel=1e-5)
    assert np.allclose(after[~melody], before[~melody], rtol=1e-5)  # the rhythm's tokens as they were
    up, other = T.ID["MEL_62"], T.ID["MEL_64"]
    ratio = (after[up] / after[other]) / (before[up] / before[other])
    assert ratio == pytest.approx(np.exp(3.0 / temperature), rel=1e-4)  # the steer itself, between pitches
    assert np.array_equal(kept[~melody], steer[~melody])
    assert np.array_equal(keep_melody_mass(base, steer, np.zeros_like(melody), temperature), steer)


def test_a_chord_the_model_picks_leans_to_those_with_the_modes_third() -> None:
    minor = mode_chord_pull(0, major=False)  # C minor: the third is E flat
    pulled = {T.VOCAB[i] for i in np.flatnonzero(minor)}
    assert {"CH_0_min", "CH_3_maj", "CH_8_maj", "CH_5_min7"} <= pulled  # i, III, VI, and iv7 (its 7th)
    assert not pulled & {"CH_5_min", "CH_7_min", "CH_10_maj", "CH_0_maj"}  # iv, v, VII, and C major
    assert all(name.startswith("CH_") for name in pulled)  # only chord tokens move
    assert set(minor[minor != 0]) == {np.float32(MODE_CHORD_PULL)}
    major = mode_chord_pull(7, major=True)  # G major: the third is B
    pulled = {T.VOCAB[i] for i in np.flatnonzero(major)}
    assert {"CH_7_maj", "CH_11_min", "CH_4_min"} <= pulled  # I, iii, vi
    assert not pulled & {"CH_0_maj", "CH_2_maj", "CH_7_min"}  # IV, V, and G minor
