"""The token language: what training writes is what the runtime reads back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from edge.generator import tokens as T


@st.composite
def bars(draw) -> T.BarEvents:
    meter = draw(st.sampled_from(sorted(T.METERS)))
    steps, beat = T.METERS[meter]

    def line(low: int, high: int) -> tuple[T.NoteEvent, ...]:
        onsets = sorted(draw(st.sets(st.integers(0, steps - 1), max_size=steps)))
        return tuple(
            T.NoteEvent(s, draw(st.integers(low, high)), draw(st.integers(1, steps - s))) for s in onsets
        )

    chord = st.one_of(st.none(), st.tuples(st.integers(0, 11), st.sampled_from(sorted(T.CHORD_KINDS))))
    chords = tuple(draw(st.lists(chord, min_size=steps // beat, max_size=steps // beat)))
    return T.BarEvents(meter, line(*T.MELODY_RANGE), line(*T.BASS_RANGE), chords)


@settings(max_examples=300, deadline=None)
@given(bars(), st.sampled_from(T.TAGS), st.integers(0, 11), st.sampled_from(T.MODES))
def test_a_bar_survives_encoding_and_decoding(bar: T.BarEvents, tag: str, key: int, mode: str) -> None:
    controls = T.measure(bar, tag, key, mode)
    decoded_controls, decoded = T.decode_bar(T.encode_bar(bar, controls))
    assert decoded_controls == controls
    assert decoded == bar


def test_controls_are_measured_from_the_music() -> None:
    busy = T.BarEvents("4/4", tuple(T.NoteEvent(s, 79, 2) for s in range(0, 16, 2)), (), ((7, "maj"),) * 4)
    calm = T.BarEvents("4/4", (T.NoteEvent(0, 57, 16),), (), ((9, "min"),) * 4)
    loud = T.measure(busy, "ryans", 7, "major")
    quiet = T.measure(calm, "bach", 9, "minor")
    assert (loud.density, loud.register, loud.rhythm) == (3, 3, 2)  # 2 notes a beat, high, half the steps
    assert (quiet.density, quiet.register, quiet.rhythm) == (0, 0, 0)


def test_transposition_moves_notes_key_and_chords_together() -> None:
    chords = ((0, "maj"), (7, "dom7"), None)
    bar = T.BarEvents("3/4", (T.NoteEvent(0, 60, 4),), (T.NoteEvent(0, 36, 12),), chords)
    up = T.transposed(bar, 2)
    assert up is not None
    assert [n.pitch for n in up.melody] == [62] and [n.pitch for n in up.bass] == [38]
    assert up.chords == ((2, "maj"), (9, "dom7"), None)
    tokens = T.encode_piece([bar], "bach", 0, "major", transpose=2)
    assert tokens is not None and T.ID["KEY_2"] in tokens
    assert T.transposed(bar, -20) is None  # the bass would fall off the token range


def test_a_garbled_sequence_decodes_without_raising() -> None:
    tokens = [T.BAR, T.ID["DUR_3"], T.ID["MEL_60"], T.ID["POS_20" if "POS_20" in T.ID else "POS_15"], 9999]
    controls, bar = T.decode_bar(tokens)
    assert controls is None and bar.meter == "4/4"


def test_the_vocabulary_hash_names_the_vocabulary() -> None:
    assert len(T.vocab_hash()) == 64
    assert len(set(T.VOCAB)) == len(T.VOCAB)
