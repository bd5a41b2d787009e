"""edge-music analyze on MIDI files whose answers are known by construction (scripts/analysis_pieces.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import mido
import pytest

from edge.analysis.analyse import analyse_file
from edge.analysis.key import Key, mirex_score
from edge.analysis.midi_in import read_midi
from edge.analysis.summary import to_json, to_text
from edge.context.context import MOODS, NOTE_NAMES

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

KEYS = [(tonic, mode) for mode in ("major", "minor") for tonic in range(12)]


def write(tmp_path: Path, midi: mido.MidiFile, name: str = "piece.mid") -> Path:
    path = tmp_path / name
    midi.save(str(path))
    return path


@pytest.mark.parametrize("kind", pieces.KINDS)
@pytest.mark.parametrize(("tonic", "mode"), KEYS)
def test_the_key_of_every_synthetic_piece_is_found(tmp_path, kind, tonic, mode):
    path = write(tmp_path, pieces.piece(tonic, mode, kind))
    assert analyse_file(path).key.key == Key(tonic, mode)


def test_the_tempo_map_gives_every_beat_its_time(tmp_path):
    plan = ((0, 90.0), (5, 120.0), (11, 60.0))
    analysis = analyse_file(write(tmp_path, pieces.piece(2, "major", "song", plan)))
    assert [(t.beat, round(t.bpm, 2)) for t in analysis.score.tempos] == [
        (0.0, 90.0),
        (20.0, 120.0),
        (44.0, 60.0),
    ]
    assert len(analysis.bars) == 16 and len(analysis.beats) == 64
    expected, seconds = [], 0.0
    for beat in range(64):
        expected.append(seconds)
        bpm = 90.0 if beat < 20 else 120.0 if beat < 44 else 60.0
        seconds += 60.0 / bpm
    assert [b.seconds for b in analysis.beats] == pytest.approx(expected, abs=1e-4)  # µs a beat in the file
    assert [b.seconds for b in analysis.beats if b.index == 0] == [bar.seconds for bar in analysis.bars]
    assert analysis.score.duration == pytest.approx(seconds, abs=1e-3)


def test_a_file_without_tempo_plays_at_120_bpm(tmp_path):
    midi = pieces.piece(0, "major", "cadence")
    midi.tracks[0] = mido.MidiTrack(m for m in midi.tracks[0] if m.type != "set_tempo")
    analysis = analyse_file(write(tmp_path, midi))
    assert not analysis.score.tempo_declared
    assert [t.bpm for t in analysis.score.tempos] == [120.0]
    assert analysis.beats[4].seconds == pytest.approx(2.0)


def test_type_0_and_type_1_files_read_the_same(tmp_path):
    plan = ((0, 100.0), (8, 80.0))
    one = analyse_file(write(tmp_path, pieces.piece(9, "minor", "song", plan, midi_type=1), "one.mid"))
    zero = analyse_file(write(tmp_path, pieces.piece(9, "minor", "song", plan, midi_type=0), "zero.mid"))
    assert (one.score.midi_type, zero.score.midi_type) == (1, 0)
    assert [(n.pitch, n.start, n.end) for n in one.score.notes] == [
        (n.pitch, n.start, n.end) for n in zero.score.notes
    ]
    assert one.key == zero.key and one.chords == zero.chords and one.sections == zero.sections
    assert [n.pitch for n in one.melody.notes] == [n.pitch for n in zero.melody.notes]


@pytest.mark.parametrize(
    ("meter", "bars", "beats_per_bar", "beat_length"),
    [((3, 4), 8, 3, 1.0), ((6, 8), 8, 2, 1.5), ((2, 2), 6, 2, 2.0), ((7, 8), 4, 7, 0.5)],
)
def test_meters_set_the_downbeats_and_the_felt_beat(tmp_path, meter, bars, beats_per_bar, beat_length):
    bar_length = 4 * meter[0] / meter[1]
    notes = [(bar * bar_length, bar_length, 60 + bar % 5) for bar in range(bars)]
    midi = pieces.build(((0, 120.0),), [("Piano", 0, 0, notes)], meter=meter)
    analysis = analyse_file(write(tmp_path, midi))
    assert len(analysis.bars) == bars
    assert all(bar.beats == beats_per_bar for bar in analysis.bars)
    assert [b.start for b in analysis.beats] == pytest.approx(
        [i * beat_length for i in range(bars * beats_per_bar)]
    )
    assert [bar.start for bar in analysis.bars] == pytest.approx([i * bar_length for i in range(bars)])


def test_a_meter_change_starts_new_bars_where_it_stands(tmp_path):
    notes = [(float(q), 1.0, 60) for q in range(8 + 9)]  # two bars of 4/4, then three of 3/4
    midi = pieces.build(((0, 120.0),), [("Piano", 0, 0, notes)])
    midi.tracks[0].append(
        mido.MetaMessage("time_signature", numerator=3, denominator=4, time=8 * pieces.TICKS)
    )
    analysis = analyse_file(write(tmp_path, midi))
    assert [str(bar.meter) for bar in analysis.bars] == ["4/4", "4/4", "3/4", "3/4", "3/4"]
    assert [bar.start for bar in analysis.bars] == [0.0, 4.0, 8.0, 11.0, 14.0]


@pytest.mark.parametrize(
    ("tonic", "mode", "symbols", "numerals"),
    [
        (0, "major", ["C", "F", "G", "C"], ["I", "IV", "V", "I"]),
        (9, "minor", ["Am", "Dm", "E", "Am"], ["i", "iv", "V", "i"]),
        (6, "major", ["F#", "B", "C#", "F#"], ["I", "IV", "V", "I"]),
    ],
)
def test_every_beat_of_a_cadence_gets_its_chord(tmp_path, tonic, mode, symbols, numerals):
    analysis = analyse_file(write(tmp_path, pieces.piece(tonic, mode, "cadence")))
    assert len(analysis.chords) == len(analysis.beats) == 32
    per_beat = [c.symbol for c in analysis.chords]
    assert per_beat == [s for s in symbols * 2 for _ in range(4)]
    assert [c.numeral(analysis.key.key) for c in analysis.chords[::4]] == numerals * 2


def test_the_song_chords_follow_its_harmony(tmp_path):
    analysis = analyse_file(write(tmp_path, pieces.piece(7, "major", "song")))
    roots = [
        pieces.scale_of(7, "major")[d] for d in (*pieces.HARMONY_A * 2, *pieces.HARMONY_B, *pieces.HARMONY_A)
    ]
    assert [c.root for c in analysis.chords[::4]] == roots


def test_the_named_melody_track_is_the_melody(tmp_path):
    analysis = analyse_file(write(tmp_path, pieces.piece(4, "minor", "song")))
    melody = analysis.melody
    assert "Melody" in melody.source and "named" in melody.source
    written = [n for n in analysis.score.notes if analysis.score.parts[n.part].name == "Melody"]
    assert [(n.pitch, n.start) for n in melody.notes] == [(n.pitch, n.start) for n in written]


def test_an_unnamed_line_above_the_rest_is_the_melody(tmp_path):
    midi = pieces.piece(0, "major", "song")
    for track in midi.tracks:
        for message in track:
            if message.type == "track_name":
                message.name = ""
    analysis = analyse_file(write(tmp_path, midi))
    assert "highest line" in analysis.melody.source
    assert len(analysis.melody.notes) == sum(len(bar) for phrase in
                                             (pieces.PHRASE_A, pieces.PHRASE_A, pieces.PHRASE_B,
                                              pieces.PHRASE_A_VARIED) for bar in phrase)  # fmt: skip


def test_one_piano_part_gives_its_skyline(tmp_path):
    tune = [(0.0, 2.0, 76), (2.0, 1.0, 74), (3.0, 1.0, 72), (4.0, 4.0, 79)]
    under = [(0.0, 4.0, 60), (0.0, 4.0, 64), (1.0, 1.0, 67), (4.0, 4.0, 59), (4.0, 4.0, 62), (6.0, 2.0, 74)]
    midi = pieces.build(((0, 100.0),), [("Piano", 0, 0, tune + under)])
    analysis = analyse_file(write(tmp_path, midi))
    assert analysis.melody.source.startswith("skyline")
    assert [(n.pitch, n.start, n.end) for n in analysis.melody.notes] == [
        (76, 0.0, 2.0), (74, 2.0, 3.0), (72, 3.0, 4.0), (79, 4.0, 8.0)
    ]  # fmt: skip


def test_the_song_form_is_a_a_b_a_varied(tmp_path):
    analysis = analyse_file(write(tmp_path, pieces.piece(3, "major", "song")))
    assert [(s.label, s.first_bar, s.last_bar) for s in analysis.sections] == [
        ("A", 0, 3), ("A", 4, 7), ("B", 8, 11), ("A′", 12, 15)
    ]  # fmt: skip


def test_emotion_follows_mode_and_tempo(tmp_path):
    fast_major = analyse_file(
        write(tmp_path, pieces.piece(0, "major", "song", ((0, 160.0),)), "a.mid")
    ).emotion
    slow_major = analyse_file(
        write(tmp_path, pieces.piece(0, "major", "song", ((0, 60.0),)), "b.mid")
    ).emotion
    slow_minor = analyse_file(
        write(tmp_path, pieces.piece(0, "minor", "song", ((0, 60.0),)), "c.mid")
    ).emotion
    assert fast_major.valence > 0 > slow_minor.valence
    assert fast_major.arousal > slow_major.arousal
    assert slow_major.valence == fast_major.valence
    for emotion in (fast_major, slow_major, slow_minor):
        assert -1 <= emotion.valence <= 1 and -1 <= emotion.arousal <= 1 and emotion.mood in MOODS


def test_mirex_weighted_key_scores():
    c, g, f, a_minor, c_minor = (
        Key(0, "major"),
        Key(7, "major"),
        Key(5, "major"),
        Key(9, "minor"),
        Key(0, "minor"),
    )
    assert mirex_score(c, c) == 1.0
    assert mirex_score(g, c) == 0.5  # a fifth above the truth
    assert mirex_score(f, c) == 0.0
    assert mirex_score(a_minor, c) == 0.3 and mirex_score(c, a_minor) == 0.3
    assert mirex_score(c_minor, c) == 0.2
    assert mirex_score(Key(4, "minor"), a_minor) == 0.5


def test_a_declared_key_signature_is_reported_beside_the_estimate(tmp_path):
    midi = pieces.piece(2, "minor", "cadence")
    midi.tracks[0].insert(0, mido.MetaMessage("key_signature", key="Dm", time=0))
    analysis = analyse_file(write(tmp_path, midi))
    assert analysis.declared_key == Key(2, "minor") == analysis.key.key


def test_drums_only_has_a_grid_but_no_key_claim(tmp_path):
    hits = [(b * 0.5, 0.25, 36 + (b % 3)) for b in range(32)]
    analysis = analyse_file(write(tmp_path, pieces.build(((0, 128.0),), [("Kit", 9, 0, hits)])))
    assert len(analysis.bars) == 4 and not analysis.melody.notes
    assert all(c is None for c in analysis.chords) and analysis.key is None
    assert any("only drums" in note for note in analysis.notes)
    data = json.loads(to_json(analysis))
    assert data["key"] is None and len(data["beats"]) == 16
    assert "key       none (nothing pitched plays)" in to_text(analysis)


def test_notes_never_released_last_to_the_end_of_their_track(tmp_path):
    track = mido.MidiTrack([mido.Message("note_on", note=60, velocity=90, time=0),
                            mido.Message("note_on", note=64, velocity=90, time=480),
                            mido.Message("note_off", note=64, velocity=0, time=480),
                            mido.MetaMessage("end_of_track", time=960)])  # fmt: skip
    midi = mido.MidiFile(type=0, ticks_per_beat=480)
    midi.tracks.append(track)
    score = read_midi(write(tmp_path, midi))
    assert [(n.pitch, n.start, n.end) for n in score.notes] == [(60, 0.0, 4.0), (64, 1.0, 2.0)]
    assert NOTE_NAMES[score.notes[0].pitch % 12] == "C"


def test_a_pickup_bar_leads_into_the_first_phrase(tmp_path):
    scale = pieces.scale_of(2, "major")
    notes = [(0.0, 1.0, 69)]  # the pickup: one quarter note in a 1/4 bar
    for repeat in range(2):
        for bar, tune in enumerate(pieces.PHRASE_A):
            at = 1.0 + 16 * repeat + 4 * bar
            for degree, length in tune:
                notes.append((at, length, 62 + (scale[degree % 7] - 2) % 12 + 12 * (degree // 7)))
                at += length
    midi = pieces.build(((0, 100.0),), [("Melody", 0, 0, notes)], meter=(1, 4))
    midi.tracks[0].append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=pieces.TICKS))
    analysis = analyse_file(write(tmp_path, midi))
    assert [str(bar.meter) for bar in analysis.bars[:2]] == ["1/4", "4/4"]
    assert [(s.label, s.first_bar, s.last_bar) for s in analysis.sections] == [("A", 0, 4), ("A", 5, 8)]


def test_a_named_melody_that_plays_chords_gives_its_top_voice(tmp_path):
    tune = [(0.0, 1.0, 76), (1.0, 1.0, 77), (2.0, 2.0, 79), (4.0, 4.0, 72)]
    thirds = [(start, length, pitch - 4) for start, length, pitch in tune]
    bass = [(0.0, 4.0, 48), (4.0, 4.0, 43)]
    midi = pieces.build(((0, 100.0),), [("Lead", 0, 0, tune + thirds), ("Bass", 1, 32, bass)])
    melody = analyse_file(write(tmp_path, midi)).melody
    assert melody.source == 'track 2 "Lead" (named; its top voice)'
    assert [(n.pitch, n.start, n.end) for n in melody.notes] == [(p, s, s + d) for s, d, p in tune]
