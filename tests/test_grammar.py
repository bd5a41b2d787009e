"""The bar grammar's guarantees, by construction: what may follow what, and how many melody notes."""

from __future__ import annotations

import numpy as np

from edge.generator import tokens as T
from edge.generator.grammar import Grammar


class Masks:
    melody = np.zeros(len(T.VOCAB), dtype=bool)
    bass = np.zeros(len(T.VOCAB), dtype=bool)


Masks.melody[[T.ID[f"MEL_{p}"] for p in range(60, 72)]] = True
Masks.bass[[T.ID[f"BAS_{p}"] for p in range(36, 48)]] = True


def write_note(grammar: Grammar, step: int, pitch: str) -> None:
    for token in (f"POS_{step}", pitch, "DUR_1"):
        assert grammar.allowed(Masks)[T.ID[token]], token
        grammar.take(T.ID[token])


def test_past_the_styles_most_notes_a_bar_no_melody_note_is_allowed() -> None:
    grammar = Grammar(16, has_bass=True, budget=(1, 2), ceiling=2)
    write_note(grammar, 0, "MEL_60")
    write_note(grammar, 2, "MEL_62")
    grammar.take(T.ID["POS_4"])
    allowed = grammar.allowed(Masks)
    assert not allowed[T.MEL_IDS].any() and allowed[Masks.bass].all()  # the bass may go on
    grammar.take(T.ID["BAS_40"])
    grammar.take(T.ID["DUR_1"])
    assert not grammar.allowed(Masks)[T.MEL_IDS].any()  # not even after the bass at this step
    no_bass = Grammar(16, has_bass=False, budget=(1, 2), ceiling=2)
    write_note(no_bass, 0, "MEL_60")
    write_note(no_bass, 1, "MEL_61")
    assert np.flatnonzero(no_bass.allowed(Masks)).tolist() == [T.BAR]  # nothing left to write


def test_under_the_ceiling_the_budget_only_nudges() -> None:
    grammar = Grammar(16, has_bass=True, budget=(1, 1), ceiling=4)
    write_note(grammar, 0, "MEL_60")
    grammar.take(T.ID["POS_1"])
    assert grammar.allowed(Masks)[T.MEL_IDS].any()  # past the bucket's most: allowed...
    assert (grammar.bias(Masks)[Masks.melody] < 0).all()  # ...at a cost
