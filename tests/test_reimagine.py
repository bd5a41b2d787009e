"""edge-music reimagine: the melody comes out note for note, the form and (kept) harmony too."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path

import mido
import numpy as np
import pytest

from edge.analysis.analyse import analyse_file
from edge.music.style import StyleLibrary
from edge.music.theory import chord_pitch_classes, scale_pitch_classes
from edge.reimagine.plan import Reimagining, plan_track

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402


def edge_music(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """A 16-bar A A B A' song in E minor with tempo changes (126, 150, 114 BPM), type 0."""
    path = tmp_path_factory.mktemp("song") / "song.mid"
    pieces.piece(4, "minor", "song", ((0, 126.0), (5, 150.0), (10, 114.0)), midi_type=0).save(str(path))
    return path


def lead_notes(path: Path) -> list[tuple[float, float, int]]:
    """(start, length, pitch) in quarter notes of the MIDI file's lead track."""
    midi = mido.MidiFile(str(path))
    track = next(t for t in midi.tracks if t.name == "lead")
    now, started, out = 0, {}, []
    for message in track:
        now += message.time
        if message.type == "note_on" and message.velocity > 0:
            started[message.note] = now
        elif message.type in ("note_off", "note_on") and message.note in started:
            on = started.pop(message.note)
            out.append((on / midi.ticks_per_beat, (now - on) / midi.ticks_per_beat, message.note))
    return sorted(out)


@pytest.mark.parametrize("tier", ["0", "L"])
@pytest.mark.parametrize("harmony", ["--keep-chords", "--reharmonize"])
def test_the_melody_comes_out_note_for_note(song: Path, tmp_path: Path, tier: str, harmony: str) -> None:
    result = edge_music(
        tmp_path, "reimagine", str(song), "--style", "house", "--tier", tier, harmony, "--seed", "5",
        "--midi", "new.mid",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    original = sorted(
        (round(n.start, 4), round(n.end - n.start, 4), n.pitch) for n in analyse_file(song).melody.notes
    )
    kept = [(round(s, 4), round(d, 4), p) for s, d, p in lead_notes(tmp_path / "new.mid")]
    assert kept == original
    assert f"tier {tier}: 16" in result.stderr  # that tier wrote every bar around it


def test_form_key_and_kept_harmony_carry_over_and_reharmonizing_fits_the_key(song: Path) -> None:
    analysis = analyse_file(song)
    house = StyleLibrary().get("house")
    kept = plan_track(analysis, house, Reimagining(keep_chords=True))
    assert [p.phrase_label for p in kept[::4]] == ["A", "A", "B", "A'"]  # an A' stays an A'
    assert {p.section for p in kept[8:12]} == {"peak"} and {p.section for p in kept[:8]} == {"build"}
    assert all(p.key == 4 and p.mode == "aeolian" for p in kept)
    for plan in kept:  # the analysed chord of every beat, in the style's colour of the same root
        for beat in range(plan.beats):
            chord = next(c for c in plan.chords if c.onset <= beat < c.onset + c.duration)
            found = analysis.chords[analysis.bars[plan.index].first_beat + beat]
            if found is not None:
                assert chord.root == found.root
    new = plan_track(analysis, house, Reimagining(keep_chords=False))
    scale = set(scale_pitch_classes(4, "aeolian"))
    for plan in new:
        assert all(set(chord_pitch_classes(c.root, c.quality)[:3]) <= scale for c in plan.chords)
    assert sum(len(p.chords) for p in new) >= 16  # the harmony moves at least once a bar
    assert new[-1].chords[-1].root == 4  # and the piece ends home


def test_tempo_is_the_originals_in_the_styles_range_unless_asked(song: Path) -> None:
    analysis = analyse_file(song)
    ambient = StyleLibrary().get("ambient")
    assert ambient.tempo == (50, 72)
    plans = plan_track(analysis, ambient, Reimagining())
    # Halved into the style's range (a half-time feel keeps the beat), clamped where halving overshoots.
    assert [round(p.tempo) for p in plans[::5]] == [63, 72, 57, 57]
    assert {p.tempo for p in plan_track(analysis, ambient, Reimagining(tempo=88.0))} == {88.0}


def test_the_same_seed_gives_the_same_audio(song: Path, tmp_path: Path) -> None:
    def audio(name: str, seed: str) -> np.ndarray:
        result = edge_music(
            tmp_path, "reimagine", str(song), "--style", "focus", "--seed", seed, "--out", name
        )
        assert result.returncode == 0, result.stderr
        with wave.open(str(tmp_path / name)) as wav:
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")

    first = audio("a.wav", "1")
    assert np.array_equal(first, audio("b.wav", "1"))
    assert not np.array_equal(first, audio("c.wav", "2"))
    assert np.abs(first.astype(np.int32)).max() > 1000  # music, not silence


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "empty"),
        (b"MThd\x00\x00\x00\x06\x00\x01", ""),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", "corrupt WAV"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "in.mid"
    path.write_bytes(content)
    result = edge_music(tmp_path, "reimagine", str(path), "--style", "focus", "--out", "x.wav")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert str(path) in result.stderr and problem in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_the_output_may_not_overwrite_the_input(song: Path, tmp_path: Path) -> None:
    result = edge_music(tmp_path, "reimagine", str(song), "--midi", str(song))
    assert result.returncode == 2 and "is the input" in result.stderr
