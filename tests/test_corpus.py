"""The training-data builder: manifest refusals, extraction of real pieces, user MIDI, determinism."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edge.training.sources import DEFAULT_MANIFEST, ManifestError, load_manifest, parse_manifest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

GOOD = {
    "name": "bach",
    "kind": "music21",
    "path": "bach",
    "tag": "bach",
    "licence": "public domain music; encodings used by permission",
    "consent": "encoder's permission to music21",
    "terms_checked": "corpus/license.txt",
}


def _manifest(tmp_path: Path, *entries: dict) -> Path:
    lines = []
    for e in entries:
        lines.append("[[source]]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in e.items()]
        lines.append("")
    path = tmp_path / "sources.toml"
    path.write_text("\n".join(lines))
    return path


# ----------------------------------------------------------------------------------------------
# Manifest (no music21 needed)


@pytest.mark.parametrize("field", ["licence", "consent"])
@pytest.mark.parametrize("value", [None, "", "   "])
def test_manifest_refuses_missing_licence_or_consent(tmp_path, field, value):
    entry = dict(GOOD, name="nolicence")
    if value is None:
        del entry[field]
    else:
        entry[field] = value
    with pytest.raises(ManifestError) as err:
        load_manifest(_manifest(tmp_path, GOOD, entry), check_paths=False)
    msg = str(err.value)
    assert "'nolicence'" in msg and repr(field) in msg and "\n" not in msg


@pytest.mark.parametrize("folder", ["essenFolksong", "palestrina", "essenFolksong/europa"])
def test_manifest_refuses_non_redistributable_music21_folders(tmp_path, folder):
    entry = dict(GOOD, name="x", path=folder)
    with pytest.raises(ManifestError, match=r"refused music21 folder .*(non-commercial|Copyright)"):
        load_manifest(_manifest(tmp_path, entry), check_paths=False)


def test_manifest_refuses_bad_kind_tag_and_duplicates(tmp_path):
    for bad in (dict(GOOD, kind="wav"), dict(GOOD, tag="jazz")):
        with pytest.raises(ManifestError):
            parse_manifest({"source": [bad]}, check_paths=False)
    with pytest.raises(ManifestError, match="duplicate"):
        parse_manifest({"source": [GOOD, GOOD]}, check_paths=False)


def test_cli_refusal_exits_2_and_writes_nothing(tmp_path, capsys):
    import build_data

    entry = dict(GOOD)
    del entry["consent"]
    out, cache = tmp_path / "out", tmp_path / "cache"
    rc = build_data.main(
        ["--sources", str(_manifest(tmp_path, entry)), "--out", str(out), "--cache", str(cache)]
    )
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'bach'" in err and "'consent'" in err
    assert not out.exists() and not cache.exists()


def test_shipped_manifest_and_no_music21_import():
    names = [s.name for s in load_manifest(DEFAULT_MANIFEST, check_paths=False)]
    assert names == ["bach", "ryansMammoth", "oneills1850", "airdsAirs"]
    code = "import sys, edge.training.sources; assert 'music21' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_split_is_by_piece_and_about_a_tenth():
    from edge.training.build import split_of

    ids = [f"src/piece{i}" for i in range(2000)]
    held = [i for i in ids if split_of(i) == "heldout"]
    assert 140 < len(held) < 260
    assert [split_of(i) for i in ids] == [split_of(i) for i in ids]


# ----------------------------------------------------------------------------------------------
# Extraction (music21)


@pytest.fixture(scope="module")
def m21(tmp_path_factory):
    pytest.importorskip("music21")
    from edge.training import corpus as C

    C.configure_music21(tmp_path_factory.mktemp("cache"))
    return C


def _check_bar_shapes(bar: dict) -> None:
    steps, beats = {"4/4": (16, 4), "3/4": (12, 3), "2/4": (8, 2), "6/8": (12, 2)}[bar["meter"]]
    assert len(bar["chords"]) == beats
    for track in ("melody", "bass"):
        notes = bar[track]
        for i, (step, pitch, length) in enumerate(notes):
            assert 0 <= step < steps and length >= 1 and step + length <= steps and 0 <= pitch < 128
            if i + 1 < len(notes):
                assert step + length <= notes[i + 1][0]  # monophonic
    if bar["melody"] or bar["bass"]:
        assert all(c is not None for c in bar["chords"])
    for c in bar["chords"]:
        if c is not None:
            assert 0 <= c[0] < 12 and c[1] in ("maj", "min", "dim", "aug", "sus4", "dom7", "min7", "maj7")


def test_bach_chorale(m21):
    from music21 import corpus

    score = corpus.parse("bach/bwv66.6")
    piece, skipped = m21.extract_score(score, "satb")
    assert (piece["key"], piece["mode"]) == (6, "minor") and not skipped
    bars = piece["bars"]
    assert len(bars) == 10 and all(b["meter"] == "4/4" for b in bars)
    for b in bars:
        _check_bar_shapes(b)
    soprano = [n.pitch.midi for n in score.parts[0].recurse().notes]
    bass = [n.pitch.midi for n in score.parts[3].recurse().notes]
    assert [n[1] for b in bars for n in b["melody"]] == soprano
    assert [n[1] for b in bars for n in b["bass"]] == bass
    # The pickup (C#5 B4 over A3 G#3) sits on the last beat of the first bar.
    assert bars[0]["melody"] == [[12, 73, 2], [14, 71, 2]]
    assert bars[0]["bass"] == [[12, 57, 2], [14, 56, 2]]
    # Bass under melody at every shared onset.
    for b in bars:
        mel = dict((s, p) for s, p, _ in b["melody"])
        assert all(p <= mel[s] for s, p, _ in b["bass"] if s in mel)
    assert bars[1]["chords"][0] == [6, "min"]  # F#3 / A4 on the first downbeat
    assert bars[-1]["chords"][2] == [6, "maj"]  # the Picardy third
    roots = [c[0] for b in bars for c in b["chords"]]
    assert max(set(roots), key=roots.count) in (6, 1, 9)  # tonic, dominant or relative major


def test_abc_tune_from_ryans_mammoth(m21):
    from music21 import corpus

    score = corpus.parse("ryansMammoth/AcaciaReel.abc")
    piece, _ = m21.extract_score(score, "tune")
    assert (piece["key"], piece["mode"]) == (7, "major")  # written K:G, ends on G
    bars = piece["bars"]
    assert all(b["meter"] == "2/4" and b["bass"] == [] for b in bars)
    for b in bars:
        _check_bar_shapes(b)
    # Pickup triplet D E F# at the end of the bar (the E falls off the sixteenth grid).
    assert bars[0]["melody"] == [[6, 62, 1], [7, 66, 1]]
    assert bars[1]["melody"][0] == [0, 67, 2]
    tonic_triads = {(7, "maj"), (0, "maj"), (2, "maj"), (4, "min"), (9, "min"), (11, "min"), (6, "dim")}
    assert all(tuple(c) in tonic_triads for b in bars for c in b["chords"])
    notes = [n for n in score.parts[0].recurse().notes if not n.duration.isGrace]
    assert len([n for b in bars for n in b["melody"]]) >= 0.9 * len(notes)


def test_abc_chord_symbols_are_used(m21):
    from music21 import converter

    abc = textwrap.dedent(
        """\
        X:1
        T:Chords
        M:4/4
        L:1/4
        K:C
        "Am"A c "G7"B d|"C"c4|]
        """
    )
    piece, _ = m21.extract_score(converter.parse(abc, format="abc"), "tune")
    assert piece["bars"][0]["chords"] == [[9, "min"], [9, "min"], [7, "dom7"], [7, "dom7"]]
    assert piece["bars"][1]["chords"] == [[0, "maj"]] * 4


def _write_midi(path: Path) -> None:
    mido = pytest.importorskip("mido")
    mid = mido.MidiFile(ticks_per_beat=480)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    mid.tracks.append(meta)
    for channel, notes in ((0, [(72, 1), (74, 1), (76, 1), (77, 1), (79, 4)]), (1, [(48, 4), (43, 4)])):
        tr = mido.MidiTrack()
        tr.append(mido.Message("program_change", program=0, channel=channel, time=0))
        for pitch, beats in notes:
            tr.append(mido.Message("note_on", note=pitch, velocity=80, channel=channel, time=0))
            tr.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=480 * beats))
        mid.tracks.append(tr)
    mid.save(path)


def _build(manifest: Path, out: Path, cache: Path, limit=None, workers=1) -> bytes:
    from edge.training.build import build

    build(load_manifest(manifest), out, cache, limit=limit, workers=workers, echo=lambda _: None)
    return (out / "pieces.jsonl").read_bytes()


def test_user_midi_folder(m21, tmp_path):
    (tmp_path / "midi" / "set").mkdir(parents=True)
    _write_midi(tmp_path / "midi" / "set" / "song.mid")
    entry = {
        "name": "mine",
        "kind": "midi",
        "path": "midi",
        "tag": "user",
        "licence": "my own composition",
        "consent": "I (the composer) agree to train on this, 2025-01-01",
        "terms_checked": "n/a: my own work",
    }
    _build(_manifest(tmp_path, entry), tmp_path / "out", tmp_path / "cache")
    lines = (tmp_path / "out" / "pieces.jsonl").read_text().splitlines()
    assert len(lines) == 1
    piece = json.loads(lines[0])
    assert piece["id"] == "mine/set/song" and piece["source"] == "mine" and piece["tag"] == "user"
    assert piece["split"] in ("train", "heldout")
    bars = piece["bars"]
    assert len(bars) == 2 and all(b["meter"] == "4/4" for b in bars)
    assert bars[0]["melody"] == [[0, 72, 4], [4, 74, 4], [8, 76, 4], [12, 77, 4]]
    assert bars[1]["melody"] == [[0, 79, 16]]
    assert bars[0]["bass"] == [[0, 48, 16]] and bars[1]["bass"] == [[0, 43, 16]]
    assert bars[0]["chords"][0] == [0, "maj"]
    for b in bars:
        _check_bar_shapes(b)
    report = json.loads((tmp_path / "out" / "build.json").read_text())
    assert report["sources"][0]["consent"].startswith("I (the composer)")


def test_build_is_deterministic_and_cached(m21, tmp_path):
    entries = [dict(GOOD), dict(GOOD, name="ryansMammoth", path="ryansMammoth", tag="ryans")]
    manifest = _manifest(tmp_path, *entries)
    a = _build(manifest, tmp_path / "a", tmp_path / "cache_a", limit=3, workers=1)
    b = _build(manifest, tmp_path / "b", tmp_path / "cache_b", limit=3, workers=2)
    c = _build(manifest, tmp_path / "c", tmp_path / "cache_a", limit=3, workers=1)  # from the cache
    assert a == b == c
    assert (tmp_path / "a" / "build.json").read_bytes() == (tmp_path / "c" / "build.json").read_bytes()
    pieces = [json.loads(line) for line in a.decode().splitlines()]
    ids = [p["id"] for p in pieces]
    assert ids == sorted(ids) and len(ids) == 6
    assert {p["tag"] for p in pieces} == {"bach", "ryans"}
    assert list(pieces[0]) == ["id", "source", "tag", "split", "key", "mode", "bars"]
    assert len(list((tmp_path / "cache_a" / "files").glob("*.json"))) == 6
