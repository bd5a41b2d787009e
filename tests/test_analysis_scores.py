"""MusicXML and ABC input (through music21, the scores extra): analysed and reimagined like MIDI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.analysis.analyse import analyse_file
from edge.cli import main

music21 = pytest.importorskip("music21")  # the scores (and train) extra

# G major, 3/4 at 100 BPM, a one-beat pickup, eight bars: the same four-bar phrase twice.
TUNE = """X:1
T:Test tune
M:3/4
L:1/8
Q:1/4=100
K:G
D2|G2 B2 d2|c2 A2 F2|G2 B2 d2|e4 d2|G2 B2 d2|c2 A2 F2|G2 B2 d2|e4 d2|
"""
PITCHES = [62] + [67, 71, 74, 72, 69, 66, 67, 71, 74, 76, 74] * 2


def edge_music(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture
def tune(tmp_path: Path) -> Path:
    path = tmp_path / "tune.abc"
    path.write_text(TUNE)
    return path


def test_an_abc_tune_gives_its_key_tempo_meter_and_melody(tune: Path) -> None:
    a = analyse_file(tune)
    assert a.score.source == "abc"
    assert (a.key.key.tonic, a.key.key.mode) == (7, "major")
    assert a.declared_key is not None and a.declared_key.tonic == 7
    assert [t.bpm for t in a.score.tempos] == [100.0] and a.score.tempo_declared
    assert [(m.numerator, m.denominator) for m in a.score.meters] == [(3, 4)]
    assert [n.pitch for n in a.melody.notes] == PITCHES
    # The pickup is padded to a full bar: the first G falls on the second downbeat.
    assert a.melody.notes[0].start == 2.0 and a.melody.notes[1].start == 3.0
    assert len(a.bars) == 9


def test_a_musicxml_score_reads_like_the_same_tune(tune: Path, tmp_path: Path) -> None:
    xml = tmp_path / "tune.musicxml"
    music21.converter.parse(str(tune)).write("musicxml", fp=str(xml))
    a, b = analyse_file(tune), analyse_file(xml)
    assert b.score.source == "musicxml"

    def notes(x):
        return [(n.start, n.end, n.pitch) for n in x.melody.notes]

    assert notes(b) == notes(a)
    assert (b.key.key, [t.bpm for t in b.score.tempos]) == (a.key.key, [100.0])


def test_a_tune_is_reimagined_with_its_melody_note_for_note(tune: Path, tmp_path: Path) -> None:
    from tests.test_reimagine import lead_notes

    result = edge_music(
        tmp_path, "reimagine", str(tune), "--style", "focus", "--tier", "0", "--midi", "new.mid"
    )
    assert result.returncode == 0, result.stderr
    melody = analyse_file(tune).melody.notes
    original = sorted((round(n.start, 4), round(n.end - n.start, 4), n.pitch) for n in melody)
    assert [(round(s, 4), round(d, 4), p) for s, d, p in lead_notes(tmp_path / "new.mid")] == original


def test_the_summary_names_the_format(tune: Path, capsys) -> None:
    assert main(["analyze", str(tune)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"{tune}: ABC tune, 1 pitched part, 9 bars")


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.abc", b"", "empty file (0 bytes), not ABC notation"),
        ("broken.musicxml", b"<?xml version='1.0'?><score-partwise><part", "cannot read it as MusicXML"),
        ("silent.abc", b"X:1\nT:rests\nM:4/4\nL:1/4\nK:C\nz4|z4|\n", "empty score: no notes"),
        (
            "no parts.musicxml",
            b'<?xml version="1.0"?><score-partwise version="3.1"><part-list/></score-partwise>',
            "empty score: no notes",
        ),
        ("zip.mxl", b"PK\x03\x04garbage", "cannot read it as MusicXML"),
        ("fast.abc", b"X:1\nM:4/4\nL:1/4\nQ:1/4=5000\nK:C\nCDEF|\n", "outside 10-1000 BPM"),
    ],
)
def test_a_bad_score_gets_one_line_and_exit_2(tmp_path: Path, capsys, name, data, problem) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"edge-music: error: {path}: ") and problem in err, err


def test_without_music21_one_line_names_the_extra(tune: Path) -> None:
    code = (
        "import sys; sys.modules['music21'] = None\n"  # as if the extra were not installed
        "from edge.cli import main; sys.exit(main(['analyze', sys.argv[1]]))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(tune)], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == (
        f"edge-music: error: {tune}: reading ABC notation needs music21: pip install 'edge-music[scores]'\n"
    )


def test_the_daemon_and_midi_analysis_never_import_music21(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import analysis_pieces

    song = tmp_path / "song.mid"
    analysis_pieces.piece(0, "major", "song", ((0, 120.0),)).save(str(song))
    code = (
        "import sys, edge.daemon, edge.cli\n"
        "from edge.analysis.analyse import analyse_file\n"
        "analyse_file(sys.argv[1])\n"
        "print('music21' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(song)], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr
