"""edge-music analyze on bad input: one line naming the file and the problem, exit 2, nothing changed.

Empty, truncated, corrupt and hostile MIDI files (huge declared lengths, absurd tempos, a million
tiny events, running-status abuse, deltas that last years), other formats, and a few hundred
seeded mutations of a good file, which must each analyse or be refused in one line.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.analyse import analyse_file
from edge.analysis.midi_in import MAX_FILE_BYTES, AnalysisError
from edge.cli import main

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402


def header(tracks: int = 1, midi_type: int = 1, division: int = 480) -> bytes:
    return b"MThd" + struct.pack(">LHHh", 6, midi_type, tracks, division)


def track(body: bytes, declared: int | None = None) -> bytes:
    return b"MTrk" + struct.pack(">L", len(body) if declared is None else declared) + body


NOTE = bytes([0x00, 0x90, 60, 90, 0x83, 0x60, 0x80, 60, 0])  # a quarter note at 480 ticks a beat
END = bytes([0x00, 0xFF, 0x2F, 0x00])


def tempo_event(microseconds: int) -> bytes:
    return bytes([0x00, 0xFF, 0x51, 0x03]) + microseconds.to_bytes(3, "big")


def good_song() -> bytes:
    import io

    buffer = io.BytesIO()
    pieces.piece(9, "minor", "song", ((0, 100.0), (8, 80.0))).save(file=buffer)
    return buffer.getvalue()


HOSTILE: dict[str, tuple[bytes, str]] = {
    "empty": (b"", "empty file (0 bytes)"),
    "text": (b"hello, this is not music\n", "not a MIDI file"),
    "header only": (b"MThd", "the header is cut short"),
    "no tracks": (header(0), "empty MIDI: no tracks"),
    "no notes": (header() + track(tempo_event(500_000) + END), "empty MIDI: no notes"),
    "truncated track": (
        header() + track(NOTE + END)[:-5],
        "truncated MIDI: track 1 declares 13 bytes, 8 remain",
    ),
    "huge declared length": (header() + track(NOTE + END, declared=0xFFFFFFFF), "declares 4294967295 bytes"),
    "huge header length": (b"MThd" + struct.pack(">L", 0x7FFFFFFF) + bytes(6), "the header declares"),
    "message past its track": (
        header() + track(NOTE[:-1]) + track(NOTE + END),
        "track 1 ends inside a message",
    ),
    "tempo 0": (header() + track(tempo_event(0) + NOTE + END), "tempo 0 µs per beat"),
    "tempo 2^24-1": (
        header() + track(tempo_event(2**24 - 1) + NOTE + END),
        "(3.58 BPM) is outside 10-1000 BPM",
    ),
    "running status first": (
        header() + track(bytes([0x00, 60, 90]) + END),
        "corrupt MIDI: track 1: running status",
    ),
    "data byte over 127": (
        header() + track(bytes([0x00, 0x90, 200, 90]) + END),
        "data byte must be in range",
    ),
    "undefined status": (header() + track(bytes([0x00, 0xF4]) + END), "undefined status byte 0xf4"),
    "deltas lasting years": (
        header() + track(NOTE + bytes([0xFF, 0xFF, 0xFF, 0x7F, 0x90, 62, 90]) + END),
        "longer than 20000 beats",
    ),
    "smpte": (header(division=-(25 << 8) | 40) + track(NOTE + END), "SMPTE frames are not supported"),
    "type 2": (header(midi_type=2) + track(NOTE + END), "MIDI type 2"),
    "zero division": (header(division=0) + track(NOTE + END), "0 ticks per beat"),
    "a million tiny events": (
        header() + track(bytes([0x00, 0x90, 60, 90]) + bytes([0x00, 60, 0, 0x00, 60, 90]) * 500_000 + END),
        f"larger than the {MAX_FILE_BYTES // 1024} kB",
    ),
    "wave": (b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(24), "corrupt WAV"),
    "flac": (b"fLaC" + bytes(40), "FLAC"),
    "musicxml": (b'<?xml version="1.0"?><score-partwise/>', "MusicXML, not MIDI: name the file .musicxml"),
    "abc": (b"X:1\nT:tune\nK:D\nABc|\n", "ABC notation, not MIDI: name the file .abc"),
}


def analyze_refuses(path: Path, data: bytes, problem: str, capsys) -> None:
    """``analyze`` on ``data`` written to ``path``: exit 2, one line naming the file and ``problem``,
    nothing written beside it and the file untouched."""
    path.write_bytes(data)
    before = sorted(os.listdir(path.parent))
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith(f"edge-music: error: {path}: "), err
    assert problem in err, err
    assert sorted(os.listdir(path.parent)) == before and path.read_bytes() == data


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_bad_input_gets_one_line_and_exit_2(tmp_path, capsys, case):
    data, problem = HOSTILE[case]
    analyze_refuses(tmp_path / "in.mid", data, problem, capsys)


@pytest.mark.parametrize(("name", "what"), [("a.m4a", "AAC audio"), ("a.aiff", "AIFF audio")])
def test_inputs_not_supported_yet_are_named_by_their_suffix(tmp_path, capsys, name, what):
    path = tmp_path / name
    path.write_bytes(good_song())  # whatever is inside: the suffix says what the user meant
    assert main(["analyze", str(path)]) == 2
    assert (
        capsys.readouterr().err
        == f"edge-music: error: {path}: {what} input is not supported yet (MIDI files only for now)\n"
    )


@pytest.mark.parametrize(("name", "what"), [("a.wav", "WAV"), ("a.flac", "FLAC"), ("a.mp3", "MP3")])
def test_a_midi_file_named_as_audio_is_refused_as_not_that_audio(tmp_path, capsys, name, what):
    path = tmp_path / name
    path.write_bytes(good_song())  # the suffix says what the user meant
    assert main(["analyze", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"edge-music: error: {path}: not a {what} file (its first bytes are not a {what} header)\n"
    )


def test_more_events_than_the_cap_are_refused_after_the_track_that_passes_it(tmp_path, capsys, monkeypatch):
    from edge.analysis import midi_in

    monkeypatch.setattr(midi_in, "MAX_EVENTS", 1000)  # the real cap, 250 000, costs seconds of parsing
    path = tmp_path / "many.mid"
    path.write_bytes(
        header(2) + track(NOTE * 300 + END) + track(bytes([0x00, 0xC0, 1]) + bytes([0x00, 2]) * 800)
    )
    assert main(["analyze", str(path)]) == 2
    assert (
        capsys.readouterr().err
        == f"edge-music: error: {path}: more than 1000 MIDI events, more than the analysis takes\n"
    )


def test_a_missing_file_or_a_folder_is_one_line(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.mid")]) == 2
    assert (
        capsys.readouterr().err
        == f"edge-music: error: {tmp_path / 'nope.mid'}: cannot read: No such file or directory\n"
    )
    assert main(["analyze", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"edge-music: error: {tmp_path}: cannot read: Is a directory\n"


def test_seeded_mutations_of_a_good_file_analyse_or_get_one_line(tmp_path):
    good = good_song()
    rng = np.random.default_rng(14)
    path = tmp_path / "mutant.mid"
    refused = 0
    for _ in range(300):
        data = bytearray(good)
        action = rng.integers(4)
        if action == 0:  # flip bytes
            for at in rng.integers(0, len(data), size=rng.integers(1, 8)):
                data[at] = int(rng.integers(256))
        elif action == 1:  # cut it short
            del data[int(rng.integers(1, len(data))) :]
        elif action == 2:  # insert junk
            at = int(rng.integers(0, len(data)))
            data[at:at] = rng.integers(0, 256, size=int(rng.integers(1, 16))).astype(np.uint8).tobytes()
        else:  # delete a run
            at = int(rng.integers(0, len(data)))
            del data[at : at + int(rng.integers(1, 16))]
        path.write_bytes(bytes(data))
        try:
            analysis = analyse_file(path)
        except AnalysisError as exc:
            refused += 1
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
        else:
            assert len(analysis.chords) == len(analysis.beats)
    assert 0 < refused < 300


def analyze(*args) -> subprocess.CompletedProcess:
    """A real ``edge-music analyze`` process."""
    command = [sys.executable, "-m", "edge", "analyze", *map(str, args)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def test_the_real_command_prints_a_summary_or_json(tmp_path):
    path = tmp_path / "song.mid"
    path.write_bytes(good_song())
    text = analyze(path).stdout
    assert "key       A minor" in text and "tempo     100 BPM, then bar 9 80" in text
    assert "sections  A(1-4) A(5-8) B(9-12) A′(13-16)" in text
    result = analyze(path, "--json")
    data = json.loads(result.stdout)
    assert result.stderr == ""
    assert data["key"]["name"] == "A minor"
    assert [(c["bar"], c["bpm"]) for c in data["tempo"]["changes"]] == [(1, 100.0), (9, 80.0)]
    assert len(data["beats"]) == len(data["chords"]) == 64 and len(data["downbeats"]) == 16
    assert [s["label"] for s in data["sections"]] == ["A", "A", "B", "A′"]
    assert data["melody"]["source"].endswith("(named)") and data["emotion"]["valence"] < 0


def test_the_real_command_on_a_truncated_file_shows_no_traceback(tmp_path):
    path = tmp_path / "cut.mid"
    path.write_bytes(good_song()[:300])
    result = analyze(path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"edge-music: error: {path}: truncated MIDI: track 2 declares ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_a_file_name_that_is_not_utf8_is_printed_escaped(tmp_path):
    name = os.fsdecode(b"song-\xff.mid")
    (tmp_path / name).write_bytes(good_song())
    result = analyze(tmp_path / name)
    assert result.returncode == 0 and result.stdout.startswith(f"{tmp_path}/song-\\udcff.mid: MIDI type 1")
    result = analyze(tmp_path / os.fsdecode(b"missing-\xff.mid"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        result.stderr
        == f"edge-music: error: {tmp_path}/missing-\\udcff.mid: cannot read: No such file or directory\n"
    )
