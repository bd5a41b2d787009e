"""The harmonic plan: harmony that moves, phrases that cadence, sections a listener can tell apart.

Everything here holds by construction of the plan, the masks and the arranger, on any CPU: the
neural tier is the shipped tier L, but what is asserted is what the plan makes it play.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
import pytest

from edge.context.context import MOODS, Context
from edge.generator.neural import NeuralGenerator
from edge.generator.phrasing import PhraseMemory, planned_chord_tokens
from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry
from edge.music.arranger import Arranger
from edge.music.conductor import Conductor
from edge.music.events import KICK, BarPlan
from edge.music.phrases import CADENCES, CLOSING
from edge.music.style import StyleError, StyleLibrary
from edge.music.theory import SCALES, diatonic_triad
from tests.music_helpers import STYLE_ACTIVITY

ROOT = Path(__file__).resolve().parent.parent
STYLES = StyleLibrary()
CHORD_PER_BAR = ("focus", "house", "workout")


def session(style: str, bars: int, seed: int, mood: str = "neutral", tier: str = "0"):
    """``bars`` planned, generated and arranged bars, as the engine plays them."""
    valence, arousal = MOODS[mood]
    context = Context(
        style=style, activity=STYLE_ACTIVITY[style], mood=mood, valence=valence, arousal=arousal
    )
    pack = STYLES.get(style)
    conductor = Conductor(np.random.default_rng([seed, 0]), context, pack)
    if tier == "0":
        generator = ProceduralGenerator(np.random.default_rng([seed, 1]))
    else:
        registry = TierRegistry(ROOT / "models")
        generator = NeuralGenerator(
            tier, registry.session(tier), registry.card(tier), np.random.default_rng(seed)
        )
    arranger = Arranger(np.random.default_rng([seed, 2]))
    return [
        arranger.arrange(generator.generate(conductor.next_plan(context, pack), pack), pack)
        for _ in range(bars)
    ]


def harmony_per_bar(bars) -> list[tuple]:
    """Each bar's chords as (root, quality) pairs in order."""
    return [tuple((c.root, c.quality) for c in bar.chords) for bar in bars]


def degree_of(plan: BarPlan, root: int) -> set[int]:
    """The scale degrees whose diatonic triad has ``root`` in the plan's key and mode."""
    return {d for d in range(1, 8) if diatonic_triad(plan.key, plan.mode, d)[0] == root}


@pytest.fixture(scope="module")
def tier_l() -> bool:
    if "L" not in TierRegistry(ROOT / "models").available:
        pytest.skip("the shipped tier L model is not in models/")
    return True


@pytest.mark.parametrize("style", CHORD_PER_BAR)
@pytest.mark.parametrize("mood", ["happy", "sad", "calm"])
def test_a_tier_l_session_changes_harmony_at_least_every_four_bars(tier_l, style, mood) -> None:
    bars = session(style, 64, seed=3, mood=mood, tier="L")
    assert {bar.source for bar in bars} == {"L"}
    harmony = harmony_per_bar(bars)
    longest = max(
        len(list(run))
        for _, run in itertools.groupby(h for h, bar in zip(harmony, bars, strict=True) if not bar.plan.pedal)
    )
    assert longest <= 4, (style, mood, longest)
    changes = sum(a[-1] != b[0] or len(set(a)) > 1 for a, b in itertools.pairwise(harmony))
    assert changes >= 3 * 63 / 8  # at least 3 changes per 8 bars
    assert all(bar.chords == bar.plan.chords for bar in bars)  # the model played the plan


@pytest.mark.parametrize("tier", ["0", "L"])
@pytest.mark.parametrize("style", ["focus", "house", "workout", "ambient"])
def test_every_phrase_ends_on_its_cadence(tier_l, tier, style) -> None:
    bars = session(style, 64, seed=5, tier=tier)
    ends = [bar for bar in bars if bar.plan.cadence]
    assert len(ends) >= 64 // (2 * STYLES.get(style).phrase_bars)
    for bar in ends:
        plan = bar.plan
        final = CADENCES[plan.cadence][-1]
        assert final in degree_of(plan, bar.chords[-1].root), (plan.cadence, bar.chords)
        lead = bar.track("lead")
        if plan.cadence in CLOSING and lead and tier == "L":
            # The last melody note lands on the tonic and is held to the bar line.
            assert lead[-1].pitch % 12 == plan.key and lead[-1].onset + lead[-1].duration >= plan.beats - 1e-6
    # Phrases are the style's length, aligned with the sections, and each has one cadence bar.
    for bar in bars:
        assert bar.plan.phrase_length <= STYLES.get(style).phrase_bars
        assert bool(bar.plan.cadence) == (
            bar.plan.phrase_bar == bar.plan.phrase_length - 1 and not bar.plan.pedal
        )


def test_every_planned_chord_is_diatonic_and_from_the_style() -> None:
    for style, mood, seed in itertools.product(STYLES.names, ("happy", "sad", "tense"), range(3)):
        pack = STYLES.get(style)
        for bar in session(style, 48, seed=seed, mood=mood):
            plan = bar.plan
            assert plan.chords and sum(c.duration for c in plan.chords) == plan.beats
            for chord in plan.chords:
                assert chord.quality in pack.chords
                assert degree_of(plan, chord.root), (style, plan.mode, chord)


def test_a_returning_phrase_brings_its_harmony_back() -> None:
    """Within a section, A' plays A's progression (one chord may be a substitute), with its own ending."""
    returns = 0
    for seed in range(6):
        bars = session("focus", 96, seed=seed)
        stated: dict[tuple[int, str], list] = {}
        for bar in bars:
            plan = bar.plan
            key = (plan.index - plan.bar_in_section, plan.phrase_label.rstrip("'"))
            if not plan.phrase_label.endswith("'"):
                stated.setdefault(key, []).append(bar)
            elif key in stated and plan.phrase_bar < len(stated[key]) and not plan.cadence:
                first = stated[key][plan.phrase_bar]
                if plan.phrase_bar + 2 < plan.phrase_length and plan.key == first.plan.key:
                    returns += 1
                    same = first.plan.chords == plan.chords
                    near = len(plan.chords) == len(first.plan.chords)
                    assert same or near
    assert returns > 10


def test_pedal_sections_hold_the_tonic_only_where_the_style_says() -> None:
    ambient = STYLES.get("ambient")
    assert ambient.pedal_sections == ("intro",)
    for bar in session("ambient", 96, seed=2):
        plan = bar.plan
        assert plan.pedal == (plan.section in ambient.pedal_sections)
        if plan.pedal:
            assert {c.root for c in plan.chords} == {plan.key}
    for style in CHORD_PER_BAR:
        assert not any(bar.plan.pedal for bar in session(style, 48, seed=2))


def test_sections_change_the_band() -> None:
    """An intro without drums or lead, a break without kick and bass, a peak with everything."""
    seen = set()
    for seed in range(4):
        for bar in session("house", 160, seed=seed):
            plan, tracks = bar.plan, {n.track for n in bar.notes}
            seen.add(plan.section)
            if plan.section == "intro":
                assert not tracks & {"drums", "lead"}
                if plan.bar_in_section < plan.section_length // 2:
                    assert "bass" not in tracks
            if plan.section == "break":
                assert "bass" not in tracks and KICK not in {n.pitch for n in bar.track("drums")}
            if plan.section == "peak":
                assert {"drums", "pad"} <= tracks
    assert {"intro", "build", "peak", "break"} <= seen


def test_the_phrase_memory_replays_only_the_first_half_of_a_return() -> None:
    memory = PhraseMemory()
    base = session("focus", 1, seed=0)[0].plan
    import dataclasses

    def plan(label: str, bar: int, cadence: str = "") -> BarPlan:
        return dataclasses.replace(base, phrase_label=label, phrase_bar=bar, phrase_length=4, cadence=cadence)

    for bar in range(4):
        memory.remember(plan("A", bar, "half" if bar == 3 else ""), [100 + bar])
    assert memory.recall(plan("A'", 0)) == [100] and memory.recall(plan("A'", 1)) == [101]
    assert memory.recall(plan("A'", 2)) is None and memory.recall(plan("A'", 3, "authentic")) is None
    assert memory.recall(plan("B'", 0)) is None and memory.recall(plan("A", 0)) is None
    memory.clear()
    assert memory.recall(plan("A'", 0)) is None


def test_a_line_that_harps_on_one_note_is_nudged_off_it() -> None:
    import dataclasses

    from edge.generator import tokens as T
    from edge.generator.phrasing import BALANCE_NOTES, BALANCE_WEIGHT
    from edge.music.theory import scale_pitch_classes

    plan = dataclasses.replace(session("ambient", 1, seed=0)[0].plan, key=2, mode="major_pentatonic")
    scale = scale_pitch_classes(2, "major_pentatonic")
    memory = PhraseMemory()
    memory.hear([62] * (BALANCE_NOTES // 2 - 1))
    assert memory.balance(plan) is None  # too little heard to judge
    memory.hear([62 + 12 * (i % 2) for i in range(BALANCE_NOTES)])  # every note a D
    bias = memory.balance(plan)
    # A D is at len(scale) even shares, so every D gives up (len(scale) - 1) weights; nothing else moves.
    assert bias[T.ID["MEL_74"]] == pytest.approx(-BALANCE_WEIGHT * (len(scale) - 1))
    assert bias[T.ID["MEL_62"]] == bias[T.ID["MEL_74"]]
    assert not bias[[T.ID[f"MEL_{p}"] for p in range(63, 74)]].any()
    assert not bias[T.ID["BAS_38"]] and not bias[T.BAR]
    handed_on = memory.copy()  # a tier switch hands the ear on
    assert np.array_equal(handed_on.balance(plan), bias)
    even = PhraseMemory()
    even.hear([60 + scale[i % len(scale)] for i in range(BALANCE_NOTES)])
    nudge = even.balance(plan)  # 24 notes over 5 classes: as even as it gets, barely touched
    assert nudge is None or np.abs(nudge).max() <= BALANCE_WEIGHT * (5 * 5 / 24 - 1) + 1e-6


def test_planned_chords_become_one_token_per_beat() -> None:
    for bar in session("focus", 8, seed=1):
        assert len(planned_chord_tokens(bar.plan)) == bar.plan.beats


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("phrase_bars = 5", "harmony.phrase_bars"),
        ('cadences = ["perfect"]', "harmony.cadences"),
        ('pedal_sections = ["chorus"]', "harmony.pedal_sections"),
    ],
)
def test_a_pack_with_a_bad_phrase_setting_is_refused_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    source = (
        (ROOT / "edge/styles/focus.toml")
        .read_text()
        .replace("chord_beats = 4", f"chord_beats = 4\n{text}", 1)
    )
    source = source.replace("phrase_bars = 4\n", "", 1) if "phrase_bars" in text else source
    source = (
        source.replace('cadences = ["authentic", "half", "deceptive"]\n', "", 1)
        if "cadences" in text
        else source
    )
    (tmp_path / "focus.toml").write_text(source)
    with pytest.raises(StyleError, match=key):
        StyleLibrary(tmp_path).get("focus")


def test_every_mode_has_a_cadence_chord_for_every_degree() -> None:
    for mode, degree in itertools.product(SCALES, range(1, 8)):
        root, family = diatonic_triad(0, mode, degree)
        assert 0 <= root < 12 and family in ("maj", "min", "dim")


def test_a_tier_switch_hands_the_stated_motifs_on(tier_l) -> None:
    registry = TierRegistry(ROOT / "models")
    pack = STYLES.get("focus")
    context = Context(style="focus", activity="focus")
    conductor = Conductor(np.random.default_rng(9), context, pack)
    small = NeuralGenerator("S", registry.session("S"), registry.card("S"), np.random.default_rng(1))
    plans = [conductor.next_plan(context, pack) for _ in range(8)]
    for plan in plans[:4]:
        small.generate(plan, pack)
    large = NeuralGenerator("L", registry.session("L"), registry.card("L"), np.random.default_rng(2))
    large.adopt(small.history, small.motifs)
    returning = dataclasses.replace(plans[0], phrase_label=plans[0].phrase_label + "'", new_phrase=False)
    assert large.motifs.recall(returning) == small.motifs.recall(returning) is not None
