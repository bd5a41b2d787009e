"""Sampled instruments: a pack's track plays a SoundFont preset through FluidSynth, byte for byte
the same every run, or its synth patch (one log line) when the SoundFont or FluidSynth is missing."""

from __future__ import annotations

import dataclasses
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.music.events import Note
from edge.music.style import StyleError, StyleLibrary, load_pack
from edge.render.patch import DEFAULT_PATCHES, Mix, parse_patch
from edge.render.sampled import SampledBank, parse_sampled
from edge.render.soundfonts import find_soundfont, installed_soundfonts, load_fluidsynth
from tests.test_synth import RATE, bar, play, synth_with

GM_FONTS = ("FluidR3_GM.sf2", "TimGM6mb.sf2", "MuseScore_General.sf3")
ROOT = Path(__file__).resolve().parent.parent
FONT = find_soundfont(GM_FONTS)
FLUIDSYNTH, WHY = load_fluidsynth()
needs_soundfont = pytest.mark.skipif(
    FONT is None or FLUIDSYNTH is None,
    reason=WHY or "no General MIDI SoundFont installed (scripts/install-deps.sh test installs TimGM6mb)",
)
DRY = Mix(reverb_level=0.0, delay_level=0.0)


def keys(soundfont=GM_FONTS, program: int = 4, **patch):
    """An electric piano patch for the keys track that plays a SoundFont preset when it can."""
    table = {
        "voice": "keys",
        "reverb": 0.0,
        **patch,
        "sampled": {"soundfont": list(soundfont), "program": program},
    }
    return parse_patch(table, "instruments.keys", folder=str(ROOT))


def chord_bars(count: int = 4):
    """Bars of three-note chords on every beat, louder beat by beat, moving I-IV-V-I."""
    steps = (0, 5, 7, 0)
    return [
        bar(
            *(Note(b, 0.9, p + steps[i % 4], 70 + 10 * b, "keys") for b in range(4) for p in (60, 64, 67)),
            index=i,
        )
        for i in range(count)
    ]


def test_a_pack_names_a_soundfont_preset_relative_to_its_folder(tmp_path):
    source = (ROOT / "edge" / "styles" / "focus.toml").read_text()
    pack = tmp_path / "focus.toml"
    pack.write_text(
        source.replace('soundfont = ["FluidR3_GM.sf2"', 'soundfont = ["samples/ep.sf2", "FluidR3_GM.sf2"')
    )
    sampled = load_pack(pack).instruments["keys"].sampled
    assert sampled.soundfont[0] == str(tmp_path / "samples" / "ep.sf2")
    assert sampled.soundfont[1] == "FluidR3_GM.sf2"  # a bare name is searched in the SoundFont folders
    assert sampled.program == 4


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"program": 4}, "sampled: needs one of soundfont, sfz or samples (got none)"),
        ({"soundfont": "x.sf2", "program": 128}, "sampled.program: 128 is outside 0..127"),
        ({"soundfont": "x.sf2", "preset": 1}, "sampled.preset: unknown key"),
        ({"soundfont": 3}, "sampled.soundfont: expected a file name or a list of them"),
    ],
)
def test_a_bad_sampled_table_is_one_line_naming_the_pack_and_key(tmp_path, table, message):
    source = (ROOT / "edge" / "styles" / "house.toml").read_text()
    start = source.index("[instruments.keys.sampled]")
    end = source.index("\n[", start + 5)
    body = "\n".join(f"{k} = {v!r}".replace("'", '"') for k, v in table.items())
    pack = tmp_path / "house.toml"
    pack.write_text(source[:start] + "[instruments.keys.sampled]\n" + body + "\n" + source[end:])
    with pytest.raises(StyleError) as error:
        load_pack(pack)
    text = str(error.value)
    assert "\n" not in text
    assert f"style 'house' ({pack}): instruments.keys: {message}" in text


def test_a_missing_soundfont_plays_the_synth_patch_with_one_log_line(tmp_path, caplog):
    missing = keys(soundfont=(str(tmp_path / "gone.sf2"),))
    plain = dataclasses.replace(missing, sampled=None)
    with caplog.at_level(logging.WARNING, logger="edge.render.sampled"):
        synth = synth_with({"keys": missing}, kit=None, mix=DRY)
        synth.set_sound({"keys": missing}, None, DRY, "focus")  # a later style change says nothing new
        fallback = play(synth, chord_bars(), 6)
    assert synth.sampled_tracks == ()
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.render.sampled"]
    assert len(lines) == 1, lines
    assert "keys: sampled instrument off: no SoundFont found" in lines[0]
    assert str(tmp_path / "gone.sf2") in lines[0] and "playing its synth patch" in lines[0]
    assert np.array_equal(fallback, play(synth_with({"keys": plain}, kit=None, mix=DRY), chord_bars(), 6))


@needs_soundfont
def test_a_sampled_track_renders_the_same_bytes_every_time():
    def run():
        return play(synth_with({"keys": keys(), "bass": DEFAULT_PATCHES["bass"]}, kit=None), chord_bars(), 8)

    first, second = run(), run()
    assert np.abs(first).max() > 0.05
    assert np.array_equal(first, second)
    plain = play(synth_with({"keys": dataclasses.replace(keys(), sampled=None)}, kit=None), chord_bars(), 8)
    assert not np.array_equal(first, plain)  # the preset plays, not the patch


@needs_soundfont
def test_a_note_sounds_the_same_whatever_was_rendered_before_it():
    for tail in (4.0, 0.05):  # the whole release, or a release cut (and faded) after 50 ms
        bank = SampledBank(RATE, tail_s=tail)
        voice = bank.voices({"keys": keys().sampled})["keys"]
        alone = SampledBank(RATE, tail_s=tail)
        alone_voice = alone.voices({"keys": keys().sampled})["keys"]
        bank.render(voice, [(40, 127), (47, 90)], 30000)  # other notes first
        bank.render(voice, [(90, 20)], 5 * RATE)
        after = bank.render(voice, [(69, 100)], 12345)
        assert np.array_equal(after, alone.render(alone_voice, [(69, 100)], 12345))
        if tail < 1:
            assert after.shape[1] < 12345 + 0.05 * RATE + 64 and np.abs(after[:, -1]).max() == 0.0


@needs_soundfont
def test_only_the_presets_the_current_sound_uses_are_loaded():
    bank = SampledBank(RATE)
    piano = dataclasses.replace(keys().sampled, program=0)
    bank.voices({"keys": keys().sampled, "lead": piano})
    assert bank.loaded == {FONT: [(0, 0), (0, 4)]}
    bank.voices({"keys": keys().sampled})  # the next style has no sampled piano
    assert bank.loaded == {FONT: [(0, 4)]}
    bank.voices({})  # nor any sampled track: the SoundFont is closed
    assert bank.loaded == {}
    voice = bank.voices({"keys": keys().sampled})["keys"]  # and opened again when a style wants it
    again = bank.render(voice, [(60, 100)], RATE)
    assert np.abs(again).max() > 0.01
    fresh = SampledBank(RATE)
    assert np.array_equal(
        again, fresh.render(fresh.voices({"keys": keys().sampled})["keys"], [(60, 100)], RATE)
    )


@needs_soundfont
@pytest.mark.parametrize("pitch", [57, 69, 81])
def test_a_sampled_note_sounds_at_its_pitch(pitch):
    bank = SampledBank(RATE)
    voice = bank.voices({"keys": keys().sampled})["keys"]
    note = bank.render(voice, [(pitch, 100)], RATE)[0, :RATE].astype(np.float64)
    assert np.abs(note).max() > 0.01
    spectrum = np.abs(np.fft.rfft(note * np.hanning(len(note))))  # 1 Hz bins
    peak = float(np.argmax(spectrum))
    f0 = 440.0 * 2 ** ((pitch - 69) / 12)
    harmonic = max(1, round(peak / f0))  # the strongest partial may be the octave of an electric piano
    assert abs(1200 * np.log2(peak / (harmonic * f0))) < 25  # cents; a semitone off is 100


@needs_soundfont
def test_the_built_in_packs_play_sampled_pianos_through_their_effects():
    library = StyleLibrary()
    sampled = {
        name: [t for t, p in pack.instruments.items() if p.sampled] for name, pack in library.packs.items()
    }
    assert sampled["focus"] == ["keys"] and sampled["house"] == ["keys"]
    pack = library.get("focus")
    synth = synth_with(pack.instruments, kit=None, mix=pack.mix)
    assert synth.sampled_tracks == ("keys",)


@needs_soundfont
def test_render_with_a_sampled_track_is_byte_identical_run_to_run(tmp_path):
    def render(name):
        out = tmp_path / name
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
        cmd = [sys.executable, "-m", "edge", "render", "--seconds", "8", "--style", "house", "--seed", "3",
               "--tier", "0", "--quiet", "--out", str(out)]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                                env={**env, "EDGE_MUSIC_CREDENTIALS_ENABLED": "false"})  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "sampled instrument off" not in result.stderr
        return out.read_bytes()

    assert render("a.wav") == render("b.wav")


def test_soundfonts_are_found_by_name_in_the_search_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "Piano.sf2").write_bytes(b"RIFF")
    (tmp_path / "b" / "notes.txt").write_text("not a soundfont")
    dirs = [tmp_path / "a", tmp_path / "b", tmp_path / "missing"]
    assert find_soundfont(["Nope.sf2", "Piano.sf2"], dirs) == tmp_path / "b" / "Piano.sf2"
    assert find_soundfont(["Nope.sf2"], dirs) is None
    assert installed_soundfonts(dirs) == [tmp_path / "b" / "Piano.sf2"]


def test_doctor_lists_the_soundfonts_it_found(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "edge", "doctor"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")},
    )  # fmt: skip
    line = next(x for x in result.stdout.splitlines() if "  soundfonts  " in x)
    fonts = installed_soundfonts()
    if not fonts:
        assert line.startswith("WARN") and "none found" in line
        return
    for font in fonts:
        assert str(font) in line
    assert line.startswith("OK" if FLUIDSYNTH is not None else "WARN")
    if FLUIDSYNTH is not None and FONT is not None:
        sampled = next(x for x in result.stdout.splitlines() if "  sampled tracks  " in x)
        assert f"focus keys: {FONT.name} bank 0 program 4" in sampled


def test_a_sampled_table_accepts_one_file_or_a_list():
    assert parse_sampled({"soundfont": "a.sf2"}, "x").soundfont == ("a.sf2",)
    assert parse_sampled({"soundfont": ["a.sf2", "/abs/b.sf3"], "gain": 2}, "x").gain == 2.0


@needs_soundfont
def test_loading_fluidsynth_prints_nothing_even_on_ci(tmp_path):
    code = "from edge.render.sampled import SampledBank, Sampled\n"
    code += f"SampledBank(48000).voices({{'k': Sampled(soundfont=({str(FONT)!r},), bank=5, program=120)}})"
    env = {**os.environ, "CI": "true", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0 and result.stdout == ""
    assert "fluidsynth:" not in result.stderr  # FluidSynth's own log is off: our one line says what matters


def test_without_pyfluidsynth_a_render_plays_the_synth_patches_and_says_so_once(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "fluidsynth.py").write_text('raise ImportError("No module named fluidsynth")\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(PYTHONPATH=f"{shadow}:{ROOT}", EDGE_MUSIC_CREDENTIALS_ENABLED="false")
    cmd = [sys.executable, "-m", "edge", "render", "--seconds", "6", "--style", "focus", "--seed", "2",
           "--tier", "0", "--quiet", "--out", str(tmp_path / "a.wav")]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    lines = [x for x in result.stderr.splitlines() if "sampled instrument off" in x]
    assert lines == [
        "style 'focus' keys: sampled instrument off: pyfluidsynth is not installed (No module named "
        "fluidsynth); pip install 'edge-music[sampled]'; playing its synth patch"
    ]
    assert (tmp_path / "a.wav").stat().st_size > 6 * 48000 * 4


def test_every_soundfont_is_brought_to_one_level_so_a_packs_loudness_holds_on_any_machine():
    from edge.render.sampled import _REFERENCE_NOTE, _REFERENCE_SECONDS, REFERENCE_RMS

    fonts = [f for f in installed_soundfonts() if f.suffix == ".sf2"][:2]
    if FLUIDSYNTH is None or len(fonts) < 2:
        pytest.skip("needs FluidSynth and two SoundFonts (scripts/install-deps.sh test installs both)")
    gate = round(_REFERENCE_SECONDS * RATE)
    levels = []
    for font in fonts:
        bank = SampledBank(RATE)
        table = {"soundfont": [str(font)], "program": 4, "gain": 1.0}
        voice = bank.voices({"keys": parse_sampled(table, "keys", "")})["keys"]
        held = bank.render(voice, [_REFERENCE_NOTE], gate)[:, :gate].astype(np.float64) * voice.gain
        levels.append(float(np.sqrt(np.mean(held**2))))
        bank.close()
    # Raw, TimGM6mb's electric piano is ~4 dB under FluidR3's; brought to the reference, both match.
    assert levels == pytest.approx([REFERENCE_RMS] * 2, rel=1e-3), (fonts, levels)
