"""A given melody (a reimagined track's) is played note for note; the tiers write the band around it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.context.context import Context
from edge.generator import tokens as T
from edge.generator.grammar import GivenMelody, given_notes
from edge.generator.neural import NeuralGenerator
from edge.generator.procedural import ProceduralGenerator
from edge.generator.registry import TierRegistry
from edge.music.arranger import Arranger
from edge.music.conductor import Conductor
from edge.music.events import Note
from edge.music.style import StyleLibrary

# Off the 16th grid, chromatic to any key, one below the tokens' range, one held past the bar line.
TUNE = (
    Note(0.0, 1.0, 67, 90, "lead"),
    Note(1.0, 0.5, 66, 80, "lead"),
    Note(1.5, 0.5, 64, 80, "lead"),
    Note(2.1, 0.4, 30, 70, "lead"),
    Note(3.0, 2.5, 72, 100, "lead"),
)


def plans(style_name: str, bars: int, seed: int = 3):
    styles = StyleLibrary()
    style = styles.get(style_name)
    context = Context(style=style_name, mood="happy")
    conductor = Conductor(np.random.default_rng(seed), context, style)
    for _ in range(bars):
        plan = conductor.next_plan(context, style)
        yield style, dataclasses.replace(plan, melody=TUNE[: 1 + plan.index % len(TUNE)])


def tiers():
    registry = TierRegistry(None)
    yield "0", lambda: ProceduralGenerator(np.random.default_rng(1))
    for tier in registry.available:
        if tier != "0":
            yield (
                tier,
                lambda t=tier: NeuralGenerator(
                    t, registry.session(t), registry.card(t), np.random.default_rng(2)
                ),
            )


@pytest.mark.parametrize("style_name", ["focus", "house", "ambient"])
@pytest.mark.parametrize(("tier", "make"), list(tiers()), ids=lambda v: v if isinstance(v, str) else "")
def test_the_given_melody_is_played_note_for_note_in_every_section(style_name, tier, make) -> None:
    generator, arranger = make(), Arranger(np.random.default_rng(4))
    sections, bass = set(), 0
    for style, plan in plans(style_name, 24):
        bar = arranger.arrange(generator.generate(plan, style), style)
        assert sorted(bar.track("lead"), key=lambda n: n.onset) == list(plan.melody), (tier, plan.section)
        assert bar.source == ("tier0" if tier == "0" else tier)  # the tier wrote it, no fallback
        sections.add(plan.section)
        bass += len(bar.track("bass"))
    assert "intro" in sections  # where the band alone would have no lead
    if StyleLibrary().get(style_name).bass is not None:
        assert bass > 0  # the tier wrote a bass around the tune


def test_the_grammar_allows_only_the_given_note_at_its_onset_and_ends_after_the_last() -> None:
    notes = given_notes(TUNE, 16)
    assert [(n.step, n.length) for n in notes] == [(0, 4), (4, 2), (6, 2), (8, 2), (12, 4)]
    assert notes[3].pitch == 42 and T.MELODY_RANGE[0] <= notes[3].pitch  # 30 folded up by octaves

    class Masks:
        bass = np.zeros(len(T.VOCAB), dtype=bool)

    Masks.bass[[T.ID[f"BAS_{p}"] for p in range(36, 48)]] = True
    grammar = GivenMelody(16, True, notes)
    allowed = grammar.allowed(Masks)
    assert allowed[T.ID["POS_0"]] and not allowed[T.BAR] and allowed.sum() == 1  # nothing before the tune
    for due in notes:
        grammar.take(T.ID[f"POS_{due.step}"])
        allowed = grammar.allowed(Masks)
        melody = [t for t in np.flatnonzero(allowed) if T.VOCAB[t].startswith("MEL_")]
        assert melody == [T.ID[f"MEL_{due.pitch}"]]  # the given pitch and no other
        grammar.take(T.ID["BAS_40"])  # a bass first, then the tune is owed
        grammar.take(T.ID["DUR_2"])
        assert np.flatnonzero(grammar.allowed(Masks)).tolist() == [T.ID[f"MEL_{due.pitch}"]]
        grammar.take(T.ID[f"MEL_{due.pitch}"])
        assert np.flatnonzero(grammar.allowed(Masks)).tolist() == [T.ID[f"DUR_{due.length}"]]
        grammar.take(T.ID[f"DUR_{due.length}"])
        allowed = grammar.allowed(Masks)
        assert allowed[T.BAR] == (due is notes[-1])  # the bar ends only after the last given note
        assert not any(allowed[T.MEL_IDS])
