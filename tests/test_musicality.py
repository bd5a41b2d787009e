"""edge/training/musicality.py: every figure on bars whose answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.generator import tokens as T
from edge.training import musicality as MU
from tests.music_helpers import token_bar as bar

C, AM, F, G7 = (0, "maj"), (9, "min"), (5, "maj"), (7, "dom7")


def held(chord, bars=8) -> list[T.BarEvents]:
    return [bar(chords=[chord] * 4) for _ in range(bars)]


def loop(bars=8, chords=(C, AM, F, G7)) -> list[T.BarEvents]:
    """I-vi-IV-V in C, a chord per bar."""
    return [bar(chords=[chords[i % len(chords)]] * 4) for i in range(bars)]


def entropy(counts) -> float:
    p = np.array(counts, dtype=float) / sum(counts)
    return float(-(p * np.log2(p)).sum())


# -- harmony --------------------------------------------------------------------------------------


def test_a_one_chord_vamp_never_moves() -> None:
    vamp = held(C)
    assert MU.chord_changes(vamp, before=C) == 0
    assert MU.chord_changes(vamp) == 0
    assert MU.longest_hold(vamp) == 8.0
    assert MU.transition_entropy(vamp, key=0) == 0
    assert MU.irregularity(vamp) == 0
    assert MU.tonic_opening(vamp, key=0) == 1.0
    assert MU.tonic_opening(vamp, key=7) == 0.0


def test_a_i_vi_iv_v_loop_changes_on_every_bar_line() -> None:
    bars = loop()
    assert MU.chord_changes(bars, before=G7) == 8  # the lead-in makes the first bar line count
    assert MU.chord_changes(bars) == pytest.approx(7 / 31 * 32)  # 31 beats compared, scaled to 32
    assert MU.longest_hold(bars) == 1.0
    # I->vi, vi->IV, IV->V twice each, V->I once.
    assert MU.transition_entropy(bars, key=0) == pytest.approx(entropy([2, 2, 2, 1]))
    assert MU.transition_entropy(loop(9), key=0) == pytest.approx(2.0)  # every move twice: 2 bits
    assert MU.irregularity(bars) == pytest.approx(4 / 6)  # 6 trigrams, 4 of them unique
    assert MU.tonic_opening(bars, key=0) == 0.25


def test_harmony_is_measured_relative_to_the_key_and_by_family() -> None:
    in_d = [bar(chords=[((r + 2) % 12, q)] * 4) for r, q in (C, AM, F, G7)] * 2
    assert MU.transition_entropy(in_d, key=2) == MU.transition_entropy(loop(), key=0)
    assert MU.tonic_opening(in_d, key=2) == 0.25
    # A new colour on the same chord (Cmaj7, Cadd9, Csus4) is not a change of harmony.
    colours = [bar(chords=[(0, "maj7"), (0, "add9"), (0, "sus4"), (0, "maj")]) for _ in range(8)]
    assert MU.chord_changes(colours, before=C) == 0 and MU.longest_hold(colours) == 8.0
    # Beats without a chord keep the harmony before them.
    gaps = [bar(chords=[C, None, None, None]), bar(chords=[None, None, G7, None])]
    assert MU.chord_changes(gaps, before=C) == 4  # one change in two bars
    assert MU.longest_hold(gaps) == 1.5
    assert math.isnan(MU.chord_changes([bar()]))
    assert math.isnan(MU.longest_hold([bar()])) and math.isnan(MU.irregularity([bar()]))


def test_chords_inside_the_bar_count() -> None:
    two_a_bar = [bar(chords=[C, C, G7, G7]) for _ in range(8)]
    assert MU.chord_changes(two_a_bar, before=G7) == 16
    assert MU.longest_hold(two_a_bar) == 0.5
    waltz = [bar(chords=[C, C, C], meter="3/4"), bar(chords=[F, F, F], meter="3/4")]
    assert MU.chord_changes(waltz, before=G7) == 8  # a chord per 3/4 bar: 8 per 8 bars
    assert MU.longest_hold(waltz) == 1.0


def test_pedal_bars_break_and_leave_the_longest_hold() -> None:
    bars = held(C, 10) + loop(6)
    assert MU.longest_hold(bars) == 11.0  # ten bars of C, then the loop's C bar
    skip = [True] * 10 + [False] * 6
    assert MU.longest_hold(bars, skip=skip) == 1.0


def test_irregularity_counts_unique_trigrams_after_merging_repeats() -> None:
    never_again = [bar(chords=[(r, "maj")] * 4) for r in (0, 2, 4, 5, 7, 9, 11, 1)]
    assert MU.irregularity(never_again) == 1.0
    two_chords = [bar(chords=[C, C, G7, G7])] * 4  # C G C G ...: trigrams CGC and GCG
    assert MU.irregularity(two_chords) == pytest.approx(2 / 6)
    assert MU.irregularity([bar(chords=[C, C, G7, G7])]) == 0  # two chords: no trigram


# -- melody ---------------------------------------------------------------------------------------


def test_pitch_class_figures_are_judged_on_windows_of_equal_note_count() -> None:
    tune = [60, 62, 64, 65, 67, 69, 71] * 5  # 35 notes of an even diatonic line
    windows = MU.pitch_windows(tune, 16)
    assert [len(w) for w in windows] == [16, 16]  # the 3-note tail is dropped, not judged on 3 notes
    figures = MU.window_metrics(tune, 16)
    assert len(figures["pitch_class_entropy"]) == 2 and len(figures["top_pitch_class"]) == 2
    assert figures["top_pitch_class"][0] == pytest.approx(3 / 16)  # 16 notes of 7 classes: one thrice
    assert MU.pitches_entropy(tune[:14]) == pytest.approx(math.log2(7))
    assert MU.window_metrics(tune[:15], 16) == {"pitch_class_entropy": [], "top_pitch_class": []}


def test_pitch_class_entropy_and_top_share() -> None:
    scale = [bar([(4 * i, p, 4) for i, p in enumerate(ps)]) for ps in ((60, 62, 64, 65), (67, 69, 71))]
    assert MU.pitch_class_entropy(scale) == pytest.approx(math.log2(7))
    assert MU.top_pitch_class(scale) == pytest.approx(1 / 7)
    drone = [bar([(0, 60, 4), (4, 72, 4), (8, 48, 4)])]
    assert MU.pitch_class_entropy(drone) == 0 and MU.top_pitch_class(drone) == 1.0
    assert math.isnan(MU.pitch_class_entropy([bar()])) and math.isnan(MU.top_pitch_class([bar()]))


def test_interval_shares_cross_bar_lines() -> None:
    bars = [bar([(0, 60, 4), (8, 60, 4)]), bar([(0, 62, 4), (4, 65, 4), (12, 72, 4)])]
    # Moves 0, 2, 3, 7: one of each class.
    assert MU.interval_shares(bars).tolist() == [0.25, 0.25, 0.25, 0.25]
    assert np.isnan(MU.interval_shares([bar([(0, 60, 4)])])).all()
    assert MU.notes_per_bar(bars) == 2.5


# -- structure ------------------------------------------------------------------------------------


def unique_bar(i: int) -> T.BarEvents:
    """A bar whose rhythm and intervals no other index shares."""
    return bar([(0, 60, 2), (1 + i, 60 + i + 1, 2), (15, 50, 1)])


def test_a_transposed_motif_counts_as_a_recurrence() -> None:
    motif = [bar([(0, 60, 4), (4, 62, 4), (8, 64, 8)]), bar([(0, 67, 8), (8, 65, 8)])]
    up = [bar([(n.step, n.pitch + 5, n.length) for n in b.melody]) for b in motif]
    bars = [*motif, unique_bar(1), unique_bar(2), *up, unique_bar(3), unique_bar(4)]
    assert MU.motif_recurrence(bars) == pytest.approx(2 / 7)  # windows at bars 1 and 5 of 7
    exact = [*motif, unique_bar(1), unique_bar(2), *motif, unique_bar(3), unique_bar(4)]
    assert MU.motif_recurrence(exact) == pytest.approx(2 / 7)
    assert MU.motif_recurrence([unique_bar(i) for i in range(8)]) == 0
    assert MU.motif_recurrence([motif[0]] * 8) == 1.0  # the same bar throughout: every window recurs
    assert math.isnan(MU.motif_recurrence([bar()] * 8))  # no window with two notes


def test_self_similarity_and_structureness() -> None:
    a = bar([(0, 60, 4), (4, 64, 4), (8, 67, 4)])
    a_up = bar([(0, 62, 4), (4, 66, 4), (8, 69, 4)])
    other = bar([(2, 60, 4), (6, 59, 4)])
    ssm = MU.self_similarity([a, a_up, other, bar()])
    assert ssm[0, 1] == 1.0  # the same shape a step higher
    assert ssm[0, 2] == 0.0  # no shared onset, no shared shape
    assert ssm[2, 3] == 0.0 and np.allclose(ssm, ssm.T) and np.allclose(np.diag(ssm), 1)
    half = bar([(0, 60, 4), (4, 65, 4)])  # onsets {0, 4} of {0, 4, 8}; shapes (0,0) shared of 4
    assert MU.self_similarity([a, half])[0, 1] == pytest.approx(0.5 * 2 / 3 + 0.5 * 1 / 4)
    assert MU.structureness(MU.self_similarity([a, a_up] * 4)) == 1.0
    # Every other bar alike: lag 2 is the best stripe.
    alternating = [a, other] * 4
    assert MU.structureness(MU.self_similarity(alternating)) == 1.0
    assert MU.structureness(MU.self_similarity(alternating), max_lag=1) == 0.0
    assert math.isnan(MU.structureness(MU.self_similarity([a])))


# -- rhythm ---------------------------------------------------------------------------------------


def test_grooving_pattern_similarity() -> None:
    groove = bar([(0, 60, 2), (6, 62, 2), (10, 64, 2)], bass=[(0, 36, 4), (8, 36, 4)])
    assert MU.groove_similarity([groove] * 8) == 1.0
    quarters, halves = bar([(s, 60, 4) for s in (0, 4, 8, 12)]), bar([(0, 60, 8), (8, 60, 8)])
    assert MU.groove_similarity([quarters, halves]) == 1 - 2 / 16
    assert MU.groove_similarity([quarters, halves, halves]) == pytest.approx(1 - (2 + 2 + 0) / 3 / 16)
    assert math.isnan(MU.groove_similarity([quarters]))


# -- all of it, the declared harmony, the comparison ----------------------------------------------------


def test_segment_metrics_names_every_metric() -> None:
    figures = MU.segment_metrics(loop(), key=0, before=G7)
    assert list(figures) == [m.key for m in MU.METRICS]
    assert figures["chord_changes"] == 8 and figures["notes_per_bar"] == 0
    assert MU.last_chord(bar(chords=[C, G7, None, None])) == G7 and MU.last_chord(bar()) is None


def test_declared_harmony_lays_out_the_progressions() -> None:
    rng = np.random.default_rng(0)
    bars = MU.declared_bars(
        [(1, 6, 4, 5)], chord_beats=4, phrase_bars=4, bars=9, key=0, mode="major", rng=rng
    )
    assert [b.chords[0] for b in bars[:4]] == [C, AM, F, (7, "maj")]
    assert MU.chord_changes(bars[1:], before=bars[0].chords[-1]) == 8
    assert MU.irregularity(bars[:8]) == pytest.approx(4 / 6)
    slow = MU.declared_bars([(1, 4)], chord_beats=8, phrase_bars=8, bars=9, key=0, mode="major", rng=rng)
    assert MU.chord_changes(slow[1:], before=slow[0].chords[-1]) == 4 and MU.longest_hold(slow) == 2.0
    minor = MU.declared_bars([(1, 2)], chord_beats=2, phrase_bars=2, bars=2, key=9, mode="aeolian", rng=rng)
    assert minor[0].chords == ((9, "min"), (9, "min"), (11, "dim"), (11, "dim"))


def test_compare_reports_the_reference_range_the_median_and_the_overlap() -> None:
    reference = np.arange(101, dtype=float)
    same = MU.compare(reference, reference)
    assert (same.low, same.high, same.reference_median) == (5.0, 95.0, 50.0)
    assert same.median == 50.0 and same.overlap == pytest.approx(1.0) and same.inside and same.count == 101
    far = MU.compare([500.0, 501.0, np.nan], reference)
    assert far.overlap < 1e-6 and far.inside is False and far.count == 2
    assert MU.compare([], reference).inside is None and math.isnan(MU.compare([], reference).overlap)
    constant = MU.compare([8.0] * 5, [8.0] * 20)
    assert constant.inside and constant.overlap == pytest.approx(1.0)


def test_overlap_smooths_both_sets_alike() -> None:
    # Values that pile up on one exact figure (no motif recurs) still overlap a reference that
    # has most of its mass there: both sets take the wider bandwidth.
    reference = np.array([0.0] * 12 + [0.14, 0.29, 0.43, 0.57])
    assert MU.overlap([0.0] * 6, reference) > 0.5
    assert MU.overlap([0.0] * 6, [0.0] * 9) == pytest.approx(1.0)
    assert MU.overlap([1.0] * 6, [0.0] * 9) == pytest.approx(0.0, abs=1e-9)
    rng = np.random.default_rng(3)
    a = rng.normal(0, 1, 400)
    # Over 200 seeds: 0.950 +- 0.015 (SD) for two draws of N(0, 1), 6.8 SD above 0.85; 0.0037 +- 0.0020
    # against N(6, 1) (exactly 2 Phi(-3) = 0.0027 without the smoothing), as high as 0.0099, so the
    # bound is 0.02, 8 SD above.
    assert MU.overlap(a, rng.normal(0, 1, 400)) > 0.85 and MU.overlap(a, rng.normal(6, 1, 400)) < 0.02
    assert math.isnan(MU.overlap([], a))
