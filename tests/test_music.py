"""The musical core: conductor, tier 0, arranger and style packs, judged on the notes."""

import dataclasses
import hashlib
import itertools

import numpy as np
import pytest

from edge.context.context import MOODS, Context
from edge.music.conductor import MAX_TEMPO_STEP
from edge.music.events import SECTIONS
from edge.music.theory import scale_pitch_classes
from tests.music_helpers import default_context, library, play_bars

STYLES = library()


def onsets_per_second(bars):
    notes = sum(len({n.onset for n in b.notes}) for b in bars)
    return notes / sum(b.seconds for b in bars)


def test_four_distinct_packs_ship():
    assert {"ambient", "focus", "workout", "house"} <= set(STYLES.names)


def test_tempo_glides_and_never_jumps():
    context = default_context("workout")
    bars = play_bars(STYLES, context, 60, changes={10: {"tempo": 170.0}, 40: {"tempo": 120.0}})
    tempos = [b.plan.tempo for b in bars]
    steps = [abs(b - a) / a for a, b in itertools.pairwise(tempos)]
    assert max(steps) <= MAX_TEMPO_STEP + 1e-4  # tempos are kept to 3 decimals
    assert tempos[10] != 170.0 and abs(tempos[39] - 170.0) < 0.5  # glided there, did not jump
    assert tempos[40] > 160 and abs(tempos[-1] - 120.0) < 0.5


def test_context_change_lands_on_the_next_bar_line():
    context = dataclasses.replace(default_context("focus"), valence=-0.8, mood="sad")
    bars = play_bars(STYLES, context, 12, changes={6: {"valence": 0.9, "mood": "happy"}})
    assert {b.plan.mode for b in bars[:6]} == {"aeolian"}
    assert bars[6].plan.mode in ("major", "mixolydian")  # the very next bar is brighter


def test_section_arc_covers_the_sections():
    bars = play_bars(STYLES, default_context("workout"), 120)
    seen = [b.plan.section for b in bars]
    assert seen[0] == "intro"
    assert {"intro", "build", "peak", "break"} <= set(seen)
    assert set(seen) <= set(SECTIONS)
    peak = [b.plan.energy for b in bars if b.plan.section == "peak"]
    quiet = [b.plan.energy for b in bars if b.plan.section == "break"]
    assert min(peak) > max(quiet)


def test_requested_section_starts_next_bar():
    context = default_context("workout")
    bars = play_bars(STYLES, context, 8, changes={4: {"section": "break", "skip": 1}})
    assert bars[4].plan.section == "break" and bars[4].plan.new_phrase


@pytest.mark.parametrize("style", STYLES.names)
def test_notes_stay_in_key_and_in_range(style):
    pack = STYLES.get(style)
    bars = play_bars(STYLES, default_context(style), 64)
    for bar in bars:
        scale = set(scale_pitch_classes(bar.plan.key, bar.plan.mode))
        for note in bar.track("lead"):
            assert note.pitch % 12 in scale
            assert bar.plan.register[0] <= note.pitch <= bar.plan.register[1]
        for note in bar.track("bass"):
            assert pack.bass_register[0] <= note.pitch <= pack.bass_register[1]
        for note in bar.notes:
            assert 0 <= note.onset < bar.plan.beats and note.duration > 0 and 1 <= note.velocity <= 127


def test_same_seed_same_notes_other_seed_other_notes():
    context = default_context("focus")
    a = play_bars(STYLES, context, 16, seed=7)
    b = play_bars(STYLES, context, 16, seed=7)
    c = play_bars(STYLES, context, 16, seed=8)
    assert [x.notes for x in a] == [x.notes for x in b]
    assert [x.notes for x in a] != [x.notes for x in c]


@pytest.mark.parametrize("style", STYLES.names)
def test_no_eight_bars_repeat_within_an_hour(style):
    # Tier 0 draws only from numpy's seeded streams, the same on every CPU. ambient, the sparsest,
    # repeats 4 bars somewhere in an hour for 64 seeds of 100 and 6 bars for 7, 8 bars for none.
    context = default_context(style)
    # An hour of music at an unchanged context (the tempo settles in the first bars).
    probe = play_bars(STYLES, context, 200, seed=3)
    count = int(np.ceil(3600 / (sum(b.seconds for b in probe) / len(probe)))) + 2
    bars = play_bars(STYLES, context, count, seed=3)
    assert sum(b.seconds for b in bars) >= 3600
    # A bar's identity is its pitched notes: timing, pitch and length (velocity alone doesn't count).
    keys = [
        hashlib.sha1(
            repr([(n.onset, n.duration, n.pitch, n.track) for n in b.notes if n.track != "drums"]).encode()
        ).digest()
        for b in bars
    ]
    windows = {b"".join(keys[i : i + 8]) for i in range(len(keys) - 7)}
    assert len(windows) == len(keys) - 7


def test_styles_differ_in_tempo_and_density():
    # Tempo follows the context and the style's range (no dice). Onsets per second, 100 seeds of 48
    # bars: focus/ambient 4.7 (never under 3.75), workout/focus 4.0 (never under 3.49).
    results = {}
    for style in ("ambient", "focus", "workout"):
        bars = play_bars(STYLES, default_context(style), 48)
        results[style] = (np.mean([b.plan.tempo for b in bars]), onsets_per_second(bars))
    assert results["ambient"][0] < results["focus"][0] < results["workout"][0]
    assert results["ambient"][1] < results["focus"][1] < results["workout"][1]


def test_mood_moves_tempo_energy_and_brightness():
    calm = Context(
        style="focus", activity="focus", mood="calm", valence=MOODS["calm"][0], arousal=MOODS["calm"][1]
    )
    excited = dataclasses.replace(
        calm, mood="excited", valence=MOODS["excited"][0], arousal=MOODS["excited"][1]
    )
    sad = dataclasses.replace(calm, mood="sad", valence=MOODS["sad"][0], arousal=MOODS["sad"][1])
    calm_bars = play_bars(STYLES, calm, 32)
    excited_bars = play_bars(STYLES, excited, 32)
    sad_bars = play_bars(STYLES, sad, 32)
    # Tempo and mode follow valence and arousal (no dice). Onsets per second excited/calm over 100
    # seeds of 32 bars: 1.61 +- 0.09 (SD), so 1.0 is 6.7 SD away.
    assert np.mean([b.plan.tempo for b in excited_bars]) > np.mean([b.plan.tempo for b in calm_bars])
    assert onsets_per_second(excited_bars) > onsets_per_second(calm_bars)
    assert sad_bars[5].plan.mode in ("aeolian", "minor_pentatonic")
    assert excited_bars[5].plan.mode in ("major", "mixolydian")


def test_energy_drives_drums_and_density():
    low = dataclasses.replace(default_context("workout"), energy=0.0)
    high = dataclasses.replace(default_context("workout"), energy=1.0)
    low_bars, high_bars = play_bars(STYLES, low, 32), play_bars(STYLES, high, 32)
    # Over 100 seeds of 32 bars, high/low: drum hits 3.9 +- 0.2 (SD), onsets per second 1.63 +- 0.08,
    # so 1.0 is 14 and 7.9 SD away.
    drums = lambda bars: sum(len(b.track("drums")) for b in bars)  # noqa: E731
    assert drums(high_bars) > drums(low_bars)
    assert onsets_per_second(high_bars) > onsets_per_second(low_bars)


def test_low_attention_is_simpler():
    focused = default_context("focus")
    drifting = dataclasses.replace(focused, attention=0.0)
    a = play_bars(STYLES, focused, 256)
    b = play_bars(STYLES, drifting, 256)
    # By construction: the same arc, and every bar planned at half the density (the style's floor aside).
    floor = STYLES.get("focus").density[0] * 0.5
    for x, y in zip(a, b, strict=True):
        assert x.plan.section == y.plan.section and y.plan.simplicity == 1.0
        assert y.plan.density == pytest.approx(max(floor, 0.5 * x.plan.density), abs=1e-4)
    # And the melody follows: the lead-note ratio drifting/focused is 0.71 +- 0.044 (SD over 40
    # seeds) at 256 bars, so 1.0 is 6.6 SD away. (At 32 bars it was 0.75 +- 0.20: 12 seeds in 100
    # had more notes with low attention.)
    lead = lambda bars: sum(len(x.track("lead")) for x in bars)  # noqa: E731
    assert lead(b) < lead(a)


def test_three_four_meter():
    context = dataclasses.replace(default_context("focus"), meter=3)
    for bar in play_bars(STYLES, context, 16):
        assert bar.plan.beats == 3
        assert all(n.onset < 3 for n in bar.notes)
        assert sum(c.duration for c in bar.chords) == pytest.approx(3)
