"""Key-mapped samples: a pack's own WAV files or an SFZ instrument, played at the notes' pitches,
through the synth's effects, byte for byte the same every run, or the synth patch when unreadable."""

from __future__ import annotations

import dataclasses
import logging
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.music.events import Note
from edge.music.style import StyleError, load_pack
from edge.render.keymap import KeymapError, KeymapInstrument, parse_sfz, read_wav, regions_from_samples
from edge.render.patch import Mix, parse_patch
from edge.render.sampled import SampledBank, what_plays
from tests.test_synth import RATE, bar, play, synth_with

ROOT = Path(__file__).resolve().parent.parent
DRY = Mix(reverb_level=0.0, delay_level=0.0)


def write_wav(path: Path, hz: float, seconds: float = 1.0, channels: int = 1, width: int = 2) -> Path:
    """A sine at ``hz``, 0.5 full scale, as a PCM WAV file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(round(seconds * RATE)) / RATE
    tone = 0.5 * np.sin(2 * np.pi * hz * t)
    frames = np.repeat(tone[:, None], channels, axis=1)
    scaled = np.round(frames * (2 ** (8 * width - 1) - 1)).astype(np.int64)
    if width == 2:
        raw = scaled.astype("<i2").tobytes()
    else:  # 24-bit little endian
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in scaled.ravel())
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(channels)
        fh.setsampwidth(width)
        fh.setframerate(RATE)
        fh.writeframes(raw)
    return path


def pitch_of(audio: np.ndarray) -> float:
    """The dominant frequency of one second of a channel, to a fraction of a hertz."""
    mono = audio[:RATE].astype(np.float64)
    power = np.abs(np.fft.rfft(mono * np.hanning(len(mono)))) ** 2
    peak = int(np.argmax(power))
    a, b, c = power[peak - 1 : peak + 2]
    return peak + 0.5 * (a - c) / (a - 2 * b + c)


def cents(measured: float, wanted: float) -> float:
    return abs(1200 * np.log2(measured / wanted))


def test_a_packs_own_samples_play_each_key_from_the_nearest_root(tmp_path):
    regions = regions_from_samples(
        [(57, str(write_wav(tmp_path / "a3.wav", 220.0))), (69, str(write_wav(tmp_path / "a4.wav", 440.0)))],
        attack=0.0,
        release=0.2,
    )
    assert [(r.lokey, r.hikey, r.root) for r in regions] == [(0, 63, 57), (64, 127, 69)]
    keymap = KeymapInstrument(regions, RATE)
    for pitch in (57, 60, 64, 69, 81):
        note = keymap.render([(pitch, 100)], RATE // 2 + RATE)
        assert cents(pitch_of(note[0]), 440.0 * 2 ** ((pitch - 69) / 12)) < 5


def test_an_sfz_instrument_reads_layers_loops_and_inherited_opcodes(tmp_path):
    write_wav(tmp_path / "wav" / "soft.wav", 440.0)
    write_wav(tmp_path / "wav" / "loud.wav", 660.0)  # a loud layer told apart by its pitch
    write_wav(tmp_path / "wav" / "short.wav", 300.0, seconds=0.2)
    sfz = tmp_path / "keys.sfz"
    sfz.write_text(
        "// a test instrument\n"
        "<control> default_path=wav/\n"
        "<group> ampeg_release=0.1 pitch_keycenter=a4 lokey=c4 hikey=b5\n"
        "<region> sample=soft.wav hivel=63\n"
        "<region> sample=loud.wav lovel=64 volume=-6\n"
        "<group> key=c3 pitch_keycenter=c3 loop_mode=loop_continuous loop_start=0 loop_end=9600 cutoff=300\n"
        "<region> sample=short.wav\n"
    )
    regions = parse_sfz(sfz)
    assert [(r.sample.name, r.lokey, r.hikey, r.lovel, r.hivel) for r in regions] == [
        ("soft.wav", 60, 83, 1, 63), ("loud.wav", 60, 83, 64, 127), ("short.wav", 48, 48, 1, 127),
    ]  # fmt: skip
    assert regions[0].release == pytest.approx(0.1) and regions[1].volume == -6.0
    keymap = KeymapInstrument(regions, RATE)
    assert cents(pitch_of(keymap.render([(69, 40)], RATE)[0]), 440.0) < 5
    assert cents(pitch_of(keymap.render([(69, 100)], RATE)[0]), 660.0) < 5
    held = keymap.render([(48, 100)], 2 * RATE)  # a 0.2 s sample looped through a 2 s note
    assert np.abs(held[0, int(1.5 * RATE) : 2 * RATE]).max() > 0.1
    assert keymap.render([(30, 100)], RATE).any() == False  # noqa: E712  (no region: silence)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<region> sample=a.wav lokey=z9\n", "keys.sfz:1: lokey: 'z9' is not a MIDI key"),
        (
            "<region> sample=a.wav\n<region> sample=a.wav volume=loud\n",
            "keys.sfz:2: volume: 'loud' is not a number",
        ),
        ("<group> lokey=10\n", "keys.sfz: no <region> with a sample"),
    ],
)
def test_an_unreadable_sfz_is_one_line_naming_the_file_line_and_opcode(tmp_path, text, message):
    (tmp_path / "keys.sfz").write_text(text)
    with pytest.raises(KeymapError) as error:
        parse_sfz(tmp_path / "keys.sfz")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_wav_files_of_24_bits_and_two_channels_decode_to_the_same_tone(tmp_path):
    mono16, _ = read_wav(write_wav(tmp_path / "a.wav", 440.0))
    stereo24, rate = read_wav(write_wav(tmp_path / "b.wav", 440.0, channels=2, width=3))
    assert rate == RATE and stereo24.shape == (2, RATE)
    assert np.abs(stereo24[1] - mono16[0]).max() < 1e-4


def keys_patch(tmp_path: Path, **sampled):
    table = {"voice": "keys", "reverb": 0.0, "sampled": sampled}
    return parse_patch(table, "instruments.keys", folder=str(tmp_path))


def chords():
    return [
        bar(*(Note(b, 0.9, p, 90, "keys") for b in range(4) for p in (60, 64, 67)), index=i) for i in range(3)
    ]


def test_key_mapped_samples_render_the_same_bytes_every_time(tmp_path):
    write_wav(tmp_path / "samples" / "c4.wav", 261.63)
    patch = keys_patch(tmp_path, samples={"c4": "samples/c4.wav"}, gain=2.0)
    first = play(synth_with({"keys": patch}, kit=None), chords(), 6)
    assert np.abs(first).max() > 0.05
    assert np.array_equal(first, play(synth_with({"keys": patch}, kit=None), chords(), 6))
    plain = play(synth_with({"keys": dataclasses.replace(patch, sampled=None)}, kit=None), chords(), 6)
    assert not np.array_equal(first, plain)


def test_a_missing_sample_plays_the_synth_patch_with_one_log_line(tmp_path, caplog):
    patch = keys_patch(tmp_path, samples={"c4": "samples/gone.wav"})
    with caplog.at_level(logging.WARNING, logger="edge.render.sampled"):
        synth = synth_with({"keys": patch}, kit=None, mix=DRY)
        synth.set_sound({"keys": patch}, None, DRY, "mine")
        audio = play(synth, chords(), 4)
    lines = [r.getMessage() for r in caplog.records if r.name == "edge.render.sampled"]
    assert lines == [f"keys: sampled instrument off: {tmp_path / 'samples' / 'gone.wav'}: no such sample; "
                     "playing its synth patch"]  # fmt: skip
    assert np.array_equal(audio, play(synth_with({"keys": dataclasses.replace(patch, sampled=None)},
                                                 kit=None, mix=DRY), chords(), 4))  # fmt: skip


def test_samples_leave_memory_with_the_pack_that_uses_them(tmp_path):
    write_wav(tmp_path / "c4.wav", 261.63)
    spec = keys_patch(tmp_path, samples={"60": "c4.wav"}).sampled
    bank = SampledBank(RATE)
    bank.voices({"keys": spec})
    assert bank.loaded == {tmp_path: []}
    bank.voices({})
    assert bank.loaded == {}


def pack_with(tmp_path: Path, sampled: str) -> Path:
    source = (ROOT / "edge" / "styles" / "house.toml").read_text()
    start = source.index("[instruments.keys.sampled]")
    end = source.index("\n[", start + 5)
    pack = tmp_path / "house.toml"
    pack.write_text(source[:start] + "[instruments.keys.sampled]\n" + sampled + "\n" + source[end:])
    return pack


def test_a_pack_maps_its_samples_relative_to_its_folder(tmp_path):
    pack = load_pack(pack_with(tmp_path, 'samples = { c4 = "samples/c4.wav", "72" = "samples/c5.wav" }'))
    assert pack.instruments["keys"].sampled.samples == (
        (60, str(tmp_path / "samples" / "c4.wav")), (72, str(tmp_path / "samples" / "c5.wav")),
    )  # fmt: skip
    pack = load_pack(pack_with(tmp_path, 'sfz = "instruments/ep.sfz"'))
    assert pack.instruments["keys"].sampled.sfz == str(tmp_path / "instruments" / "ep.sfz")


@pytest.mark.parametrize(
    ("sampled", "message"),
    [
        (
            'sfz = "a.sfz"\nsoundfont = "b.sf2"',
            "sampled: needs one of soundfont, sfz or samples (got soundfont and sfz)",
        ),
        ("gain = 2.0", "sampled: needs one of soundfont, sfz or samples (got none)"),
        ('samples = { h4 = "a.wav" }', "sampled.samples: 'h4' is not a MIDI key"),
        ('samples = { c4 = "a.wav", "60" = "b.wav" }', "sampled.samples.60: key 60 is mapped twice"),
    ],
)
def test_a_bad_key_map_is_one_line_naming_the_pack_and_key(tmp_path, sampled, message):
    pack = pack_with(tmp_path, sampled)
    with pytest.raises(StyleError) as error:
        load_pack(pack)
    assert f"style 'house' ({pack}): instruments.keys: {message}" in str(error.value)


def test_doctor_says_what_a_key_mapped_track_would_play(tmp_path):
    write_wav(tmp_path / "c4.wav", 261.63)
    assert what_plays(keys_patch(tmp_path, samples={"c4": "c4.wav", "c5": "c5.wav"}).sampled) == (
        f"synth patch ({tmp_path / 'c5.wav'}: no such sample)"
    )
    write_wav(tmp_path / "c5.wav", 523.25)
    assert what_plays(keys_patch(tmp_path, samples={"c4": "c4.wav", "c5": "c5.wav"}).sampled) == "2 samples"
    (tmp_path / "ep.sfz").write_text("<region> sample=c4.wav key=c4\n")
    assert what_plays(keys_patch(tmp_path, sfz="ep.sfz").sampled) == "ep.sfz"
    (tmp_path / "ep.sfz").write_text("<region> sample=gone.wav\n")
    assert what_plays(keys_patch(tmp_path, sfz="ep.sfz").sampled) == (
        f"synth patch ({tmp_path / 'gone.wav'}: no such sample)"
    )
