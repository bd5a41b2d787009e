"""SoundFonts trimmed to the presets the packs play: the same samples as the whole font, written
once into the state directory and reused, and the whole font (one log line) when trimming fails."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge.daemon import prepare_soundfonts
from edge.music.style import StyleLibrary
from edge.render import fontcache
from edge.render.sampled import SampledBank, parse_sampled
from edge.render.sf2trim import TrimError, trim
from edge.render.soundfonts import FontSynth, find_soundfont, load_fluidsynth
from tests.test_sampled import FLUIDSYNTH, FONT, GM_FONTS, RATE, needs_soundfont

EP, PIANO = (0, 4), (0, 0)
SF3 = find_soundfont(("MuseScore_General.sf3", "MuseScore_General_Lite.sf3"))


def chords(font: FontSynth, presets) -> list[np.ndarray]:
    """Notes across the keyboard and velocities, and a held chord, for each preset: copies."""
    out = []
    for bank, program in presets:
        channel = font.channel(bank, program)
        assert channel is not None
        for pitch in range(21, 109, 5):
            for velocity in (25, 90, 127):
                out.append(font.render(channel, [(pitch, velocity)], 3000 + 97 * pitch).copy())
        out.append(font.render(channel, [(43, 80), (55, 70), (64, 100)], 2 * RATE).copy())
    return out


def same_samples(source: Path, copy: Path, presets) -> bool:
    module, _ = load_fluidsynth()
    whole, trimmed = FontSynth(module, source, RATE), FontSynth(module, copy, RATE)
    try:
        a, b = chords(whole, presets), chords(trimmed, presets)
    finally:
        whole.synth.delete()
        trimmed.synth.delete()
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def headers(path: Path) -> list[tuple[int, int]]:
    """(bank, program) of every preset in a SoundFont, read by FluidSynth."""
    module, _ = load_fluidsynth()
    font = FontSynth(module, path, RATE)
    try:
        found = []
        for bank in (0, 128):
            for program in range(128):
                if font.synth.sfpreset_name(font.sfid, bank, program) is not None:
                    found.append((bank, program))
        return found
    finally:
        font.synth.delete()


def ep_spec(soundfont=GM_FONTS, program: int = 4):
    return parse_sampled({"soundfont": list(soundfont), "program": program}, "test")


@needs_soundfont
def test_a_trimmed_soundfont_plays_the_same_samples_as_the_whole_one(tmp_path):
    copy = tmp_path / "trimmed.sf2"
    assert trim(FONT, [EP, PIANO], copy) == 2
    assert copy.stat().st_size < FONT.stat().st_size
    assert headers(copy) == [PIANO, EP]  # only the presets asked for
    assert same_samples(FONT, copy, [EP, PIANO])
    whole, trimmed = FONT.read_bytes()[:4096], copy.read_bytes()[:4096]
    end = 20 + int.from_bytes(whole[16:20], "little")  # the INFO list (name, copyright) as it was
    assert whole[20:24] == b"INFO" and whole[12:end] == trimmed[12:end]


@pytest.mark.skipif(SF3 is None or FLUIDSYNTH is None, reason="no SF3 SoundFont (MuseScore_General)")
def test_a_trimmed_sf3_soundfont_plays_the_same_samples_too(tmp_path):
    copy = tmp_path / "trimmed.sf3"
    assert trim(SF3, [EP], copy) == 1
    assert headers(copy) == [EP]
    assert same_samples(SF3, copy, [EP])


@needs_soundfont
def test_the_bank_plays_the_prepared_copy_and_renders_what_the_whole_font_renders(tmp_path):
    spec = ep_spec()
    ready = fontcache.prepare(FONT, {EP})
    assert ready is not None and ready.parent == fontcache.cache_dir()
    bank = SampledBank(RATE)
    voice = bank.voices({"keys": spec})["keys"]
    assert voice.file == ready and voice.font == FONT
    assert bank.loaded == {FONT: [EP]}  # named by the SoundFont the pack asked for
    with_copy = [bank.render(voice, [(p, 100), (p + 4, 80)], RATE // 2).copy() for p in (48, 60, 72)]
    shutil.rmtree(fontcache.cache_dir())
    whole = SampledBank(RATE)
    voice = whole.voices({"keys": spec})["keys"]
    assert voice.file == FONT
    for pitch, data in zip((48, 60, 72), with_copy, strict=True):
        assert np.array_equal(data, whole.render(voice, [(pitch, 100), (pitch + 4, 80)], RATE // 2))


@needs_soundfont
def test_a_copy_is_written_once_and_reused_until_the_source_or_the_presets_change(tmp_path):
    source = tmp_path / FONT.name
    shutil.copyfile(FONT, source)
    folder = tmp_path / "cache"
    first = fontcache.prepare(source, {EP}, folder)
    assert first is not None
    stamp = first.stat().st_mtime_ns, first.stat().st_ino
    assert fontcache.prepare(source, {EP}, folder) == first
    assert (first.stat().st_mtime_ns, first.stat().st_ino) == stamp  # not written again
    assert fontcache.trimmed(source, {EP}, folder) == first
    assert fontcache.trimmed(source, {EP, PIANO}, folder) is None  # another sound: not prepared yet
    os.utime(source, ns=(source.stat().st_atime_ns, source.stat().st_mtime_ns + 10**9))  # a new font
    assert fontcache.trimmed(source, {EP}, folder) is None
    ready = fontcache.prepare_sounds([{source: frozenset({EP})}, {source: frozenset({PIANO})}], folder)
    assert len(ready) == 2 and first not in ready
    assert sorted(folder.iterdir()) == sorted(ready)  # the stale copy is gone


@needs_soundfont
def test_when_the_copy_cannot_be_written_the_whole_font_plays_with_one_log_line(tmp_path, caplog):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache folder would be")
    with caplog.at_level(logging.WARNING, logger="edge.render.fontcache"):
        assert fontcache.prepare(FONT, {EP}, blocked) is None
        assert fontcache.prepare(FONT, {EP}, blocked) is None  # said once
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.render.fontcache"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert f"SoundFont {FONT} not trimmed" in lines[0] and "the whole font plays" in lines[0]
    assert blocked.read_text().startswith("a file")  # nothing changed


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "ends inside a chunk header"),
        (b"RIFF\x04\x00\x00\x00WAVE", "not a SoundFont"),
        (b"RIFF\x10\x00\x00\x00sfbkLIST\x04\x00\x00\x00INFO", "no sdta list"),
    ],
)
def test_a_file_that_is_no_soundfont_is_refused_in_one_line(tmp_path, caplog, content, message):
    broken = tmp_path / "broken.sf2"
    broken.write_bytes(content)
    with pytest.raises(TrimError, match=message):
        trim(broken, [EP], tmp_path / "out.sf2")
    assert not (tmp_path / "out.sf2").exists()
    with caplog.at_level(logging.WARNING, logger="edge.render.fontcache"):
        assert fontcache.prepare(broken, {EP}, tmp_path / "cache") is None
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.render.fontcache"]
    assert len(lines) == 1 and str(broken) in lines[0] and message in lines[0]
    assert list((tmp_path / "cache").iterdir()) == []


@needs_soundfont
def test_damaged_soundfont_tables_never_crash_the_trimming(tmp_path):
    small = tmp_path / "small.sf2"
    trim(FONT, [EP], small)
    data = bytearray(small.read_bytes())
    pdta = data.rindex(b"pdta")  # the preset, instrument and sample tables
    rng = np.random.default_rng(7)
    for attempt in range(20):
        damaged = bytearray(data)
        for at in rng.integers(pdta, len(data), size=8):
            damaged[at] = int(rng.integers(256))
        source = tmp_path / f"damaged{attempt}.sf2"
        source.write_bytes(bytes(damaged))
        fontcache.prepare(source, {EP}, tmp_path / "cache")  # a copy or None, never an exception


@needs_soundfont
def test_a_damaged_copy_in_the_cache_plays_the_whole_font_with_one_log_line(caplog):
    copy = fontcache.prepare(FONT, {EP})
    assert copy is not None
    copy.write_bytes(b"RIFF")  # damaged on disk after it was written
    with caplog.at_level(logging.WARNING, logger="edge.render.sampled"):
        bank = SampledBank(RATE)
        voice = bank.voices({"keys": ep_spec()})["keys"]
    assert voice.file == FONT
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.render.sampled"]
    assert len(lines) == 1 and f"{copy} does not load" in lines[0]
    assert np.abs(bank.render(voice, [(60, 100)], RATE)).max() > 0.01
    shutil.rmtree(fontcache.cache_dir())


@needs_soundfont
def test_the_daemon_prepares_a_copy_for_each_pack_that_plays_a_soundfont():
    shutil.rmtree(fontcache.cache_dir(), ignore_errors=True)
    prepare_soundfonts(StyleLibrary())
    copies = sorted(fontcache.cache_dir().iterdir())
    assert len(copies) == 2  # focus's electric piano, house's grand piano
    assert {fontcache.trimmed(FONT, {EP}), fontcache.trimmed(FONT, {PIANO})} == set(copies)
    shutil.rmtree(fontcache.cache_dir())


@needs_soundfont
def test_a_change_of_sound_renders_the_same_with_or_without_the_trimmed_copies():
    """Each sound gets a FluidSynth instance of its own either way, so the notes after a change
    from the electric piano to the grand piano do not depend on whether copies were ready."""

    def play() -> list[np.ndarray]:
        bank, out = SampledBank(RATE), []
        for program in (4, 0, 4):
            voice = bank.voices({"keys": ep_spec(program=program)})["keys"]
            out += [bank.render(voice, [(p, 90), (p + 7, 70)], RATE // 3).copy() for p in (45, 57, 69)]
        return out

    shutil.rmtree(fontcache.cache_dir(), ignore_errors=True)
    whole = play()
    assert fontcache.prepare(FONT, {EP}) and fontcache.prepare(FONT, {PIANO})
    trimmed = play()
    assert all(np.array_equal(a, b) for a, b in zip(whole, trimmed, strict=True))
    shutil.rmtree(fontcache.cache_dir())


@needs_soundfont
def test_doctor_names_the_trimmed_copies_the_daemon_loads():
    from edge.doctor import soundfont_copies
    from edge.music.style import StyleLibrary

    assert soundfont_copies()[2].startswith("none yet in ")  # a fresh state directory (conftest)
    prepare_soundfonts(StyleLibrary())
    _, status, line = soundfont_copies()
    assert status == "OK" and " trimmed to the packs' presets in " in line
    assert int(line.split()[0]) >= 2  # focus's electric piano and house's grand piano
