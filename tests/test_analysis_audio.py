"""edge-music analyze and reimagine on audio: tempo, key and notes on audio whose answer is known by
construction, every sample format read alike, and bad audio refused in one line (exit 2).

The audio is made here with numpy: clicks at a known tempo, tones of a known key, a known melody.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.audio.chroma import chroma_profile, loudness_db
from edge.analysis.audio.notes import TranscribedNote, join_split_notes, snap_to_attacks, top_line
from edge.analysis.audio.read import MIN_SECONDS, RATE, read_audio
from edge.analysis.audio.tempo import estimate_tempo, onset_strength, track_beats
from edge.analysis.audio.transcribe import transcribe
from edge.analysis.key import Key, estimate_key
from edge.analysis.midi_in import AnalysisError
from edge.cli import main
from tests.test_analysis_inputs import analyze_refuses

ROOT = Path(__file__).resolve().parent.parent
SR = 44100


def tone(pitch: int, seconds: float, rate: int = RATE, level: float = 0.25) -> np.ndarray:
    """A plucked tone with three harmonics."""
    t = np.arange(int(seconds * rate)) / rate
    f = 440.0 * 2 ** ((pitch - 69) / 12)
    envelope = np.minimum(1.0, t / 0.005) * np.exp(-2.5 * t)
    return level * envelope * (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(4 * np.pi * f * t)
                               + 0.25 * np.sin(6 * np.pi * f * t))  # fmt: skip


def clicks(bpm: float, seconds: float, rate: int = RATE, offset: float = 0.25) -> np.ndarray:
    """A noise burst on every beat."""
    x = np.zeros(int(seconds * rate))
    burst = np.random.default_rng(0).standard_normal(400) * np.exp(-np.arange(400) / 80)
    for k in range(int((seconds - offset) * bpm / 60)):
        at = int((offset + k * 60 / bpm) * rate)
        x[at : at + 400] += burst[: len(x) - at]
    return 0.5 * x


G_MAJOR_TUNE = (67, 71, 74, 72, 71, 69, 67, 66, 67, 74, 71, 67)
"""A tune in G major (G B D C B A G F# G D B G), one note a beat."""


def song(bpm: float = 112.0, rate: int = SR) -> np.ndarray:
    """The G major tune over a G-C-D-G bass, one note a beat, clicks on every beat, 3 times."""
    beat = 60 / bpm
    out = []
    bass = (43, 43, 43, 43, 48, 48, 48, 48, 50, 50, 43, 43)
    for _ in range(3):
        for melody, low in zip(G_MAJOR_TUNE, bass, strict=True):
            out.append(tone(melody, beat, rate) + tone(low, beat, rate, 0.2))
    x = np.concatenate([*out, np.zeros(rate // 2)])
    return (x + 0.5 * clicks(bpm, len(x) / rate, rate, offset=0.0)).astype(np.float32)


def write_wav(path: Path, x: np.ndarray, rate: int = SR, channels: int = 2) -> Path:
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def riff(fmt: bytes, data: bytes, declared: int | None = None) -> bytes:
    size = len(data) if declared is None else declared
    body = b"WAVE" + b"fmt " + struct.pack("<L", len(fmt)) + fmt + b"data" + struct.pack("<L", size) + data
    return b"RIFF" + struct.pack("<L", len(body)) + body


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    block = (channels * bits // 8) & 0xFFFF
    return struct.pack("<HHLLHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)


@pytest.mark.parametrize("bpm", [84.0, 110.0, 136.0])
def test_the_tempo_of_clicks_is_found_within_4_percent_and_the_beats_on_them(bpm):
    x = clicks(bpm, 12.0).astype(np.float32)
    envelope = onset_strength(x)
    found = estimate_tempo(envelope)
    assert abs(found / bpm - 1) < 0.04
    beats = track_beats(envelope, found)
    period = 60 / bpm
    assert len(beats) >= 12 / period - 4
    assert np.all(np.abs(((beats - 0.25) / period + 0.5) % 1 - 0.5) * period < 0.035)  # on the clicks


@pytest.mark.parametrize(("tonic", "mode"), [(7, "major"), (2, "minor"), (10, "major")])
def test_the_key_of_a_tune_is_found_from_its_chroma(tonic, mode):
    steps = (
        (0, 4, 7, 12, 11, 7, 5, 2, 0, 7, 4, 0) if mode == "major" else (0, 3, 7, 12, 11, 7, 5, 2, 0, 7, 3, 0)
    )
    x = np.concatenate([tone(60 + tonic + s, 0.4) + tone(48 + tonic, 0.4, level=0.15) for s in steps])
    estimate = estimate_key(chroma_profile(x.astype(np.float32)))
    assert estimate is not None and estimate.key == Key(tonic, mode)


def test_the_transcriber_finds_the_notes_of_a_tune():
    x = np.concatenate([tone(p, 0.5) for p in G_MAJOR_TUNE[:8]] + [np.zeros(RATE)]).astype(np.float32)
    line = top_line(transcribe(x))
    found = {(n.pitch, round(n.start / 0.5)) for n in line if abs(n.start / 0.5 - round(n.start / 0.5)) < 0.1}
    expected = {(p, i) for i, p in enumerate(G_MAJOR_TUNE[:8])}
    assert len(found & expected) >= 6  # each onset within 50 ms, the pitch exact


def test_a_late_soft_attack_starts_with_the_note_struck_before_it_and_a_split_note_is_joined():
    chord = [TranscribedNote(p, 1.0, 1.5, 0.6) for p in (60, 64, 67)]
    late = TranscribedNote(76, 1.07, 1.3, 0.5)  # a flute heard 70 ms behind the piano
    split = TranscribedNote(76, 1.31, 1.5, 0.4)  # the same flute note, a swell heard as an onset
    notes = snap_to_attacks([*chord, late, split])
    line = join_split_notes(top_line(notes), notes)
    assert [(n.pitch, n.start, n.end) for n in line] == [(76, 1.0, 1.5)]
    struck = TranscribedNote(76, 1.5, 2.0, 0.5)  # struck again with the chord: a new note
    notes = snap_to_attacks([*chord, late, *(TranscribedNote(p, 1.5, 2.0, 0.6) for p in (60, 64)), struck])
    assert [(n.pitch, n.start) for n in join_split_notes(top_line(notes), notes)] == [(76, 1.0), (76, 1.5)]


def test_loudness_per_span_is_rms_in_dbfs():
    x = np.concatenate([np.full(RATE, 0.5), np.zeros(RATE), np.full(RATE, 0.05)]).astype(np.float32)
    assert loudness_db(x, np.array([0.0, 1.0, 2.0, 3.0])) == [-6.02, -120.0, -26.02]


@pytest.mark.parametrize(("tag", "bits"), [(1, 8), (1, 16), (1, 24), (1, 32), (3, 32), (3, 64), (0xFFFE, 16)])
def test_every_sample_format_reads_the_same_signal(tmp_path, tag, bits):
    rate = 32000
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * rate) / rate)
    stereo = np.repeat(x, 2)
    if tag == 3:
        data = stereo.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        data = np.round(stereo * 127 + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        v = np.round(stereo * (2**23 - 1)).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3]
        data = v.tobytes()
    else:
        data = np.round(stereo * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    fmt = fmt_chunk(tag if tag != 0xFFFE else 1, 2, rate, bits)
    if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE, PCM sub-format
        fmt = (
            struct.pack("<H", 0xFFFE)
            + fmt[2:]
            + struct.pack("<HHL", 22, bits, 3)
            + struct.pack("<H", 1)
            + bytes(14)
        )
    path = tmp_path / "tone.wav"
    path.write_bytes(riff(fmt, data))
    audio = read_audio(path)
    assert audio.source_rate == rate and audio.channels == 2
    assert len(audio.samples) == 3 * RATE
    spectrum = np.abs(np.fft.rfft(audio.samples))
    assert np.argmax(spectrum) * RATE / len(audio.samples) == pytest.approx(440, abs=1)
    assert np.abs(audio.samples[RATE:-RATE]).max() == pytest.approx(0.5, abs=0.02)


def test_analyze_reads_a_wav_song_tempo_key_and_melody(tmp_path, capsys):
    path = write_wav(tmp_path / "song.wav", song(112.0))
    assert main(["analyze", str(path), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == {"type": "audio", "format": "WAV PCM 16-bit", "sample_rate": SR, "channels": 2,
                                "seconds": result["format"]["seconds"]}  # fmt: skip
    assert abs(result["tempo"]["bpm"] / 112.0 - 1) < 0.04
    assert result["key"]["name"] == "G major"
    assert "melody" in result["estimated"] and "key" in result["estimated"]
    assert len(result["loudness_db_per_beat"]) == len(result["beats"])
    assert {p % 12 for p, _, _ in result["melody"]["notes"]} <= {7, 9, 11, 0, 2, 4, 6}  # in G major


def test_reimagine_plays_a_wav_song_anew_and_says_what_was_estimated(tmp_path):
    path = write_wav(tmp_path / "song.wav", song(112.0))
    result = subprocess.run(
        [sys.executable, "-m", "edge", "reimagine", str(path), "--style", "focus", "--tier", "0",
         "--seed", "3", "--midi", str(tmp_path / "new.mid")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "is audio: its tempo, beats" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "new.mid").stat().st_size > 0


def _no_decoder() -> bool:
    try:
        import soundfile  # noqa: F401
    except ImportError:
        return not (shutil.which("ffmpeg") or shutil.which("flac"))
    return False


ONE_SECOND = riff(fmt_chunk(1, 1, 22050, 16), bytes(2 * 22050))
BAD = {
    "empty.wav": (b"", "empty file (0 bytes), not an audio file"),
    "cut-header.wav": (ONE_SECOND[:30], "corrupt WAV: the format chunk is cut short"),
    "no-data.wav": (ONE_SECOND[:36], "corrupt WAV: no data chunk"),
    "huge-declared.wav": (
        riff(fmt_chunk(1, 1, 22050, 16), bytes(4410), declared=0xFFFFFFF0),
        "audio too short",
    ),
    "many-channels.wav": (riff(fmt_chunk(1, 60000, 22050, 16), bytes(4410)), "60000 channels"),
    "zero-rate.wav": (riff(fmt_chunk(1, 1, 0, 16), bytes(4410)), "sample rate 0 Hz"),
    "one-second.wav": (ONE_SECOND, f"audio too short (1.00 s; at least {MIN_SECONDS:g} s is analysed)"),
    "nan.wav": (riff(fmt_chunk(3, 1, 8000, 32), np.full(8000 * 3, np.nan, "<f4").tobytes()), "not numbers"),
    "adpcm.wav": (riff(fmt_chunk(2, 1, 8000, 4), bytes(40000)), "WAV ADPCM 4-bit is not supported"),
    "text.wav": (b"these are not the samples you are looking for\n" * 20, "not a WAV file"),
    "silence.wav": (riff(fmt_chunk(1, 1, 8000, 16), bytes(2 * 8000 * 3)), "the audio is silent"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_audio_gets_one_line_exit_2_and_changes_nothing(tmp_path, capsys, name):
    data, problem = BAD[name]
    analyze_refuses(tmp_path / name, data, problem, capsys)


def test_mutated_wav_headers_read_or_are_refused_in_one_line(tmp_path):
    good = riff(
        fmt_chunk(1, 2, 44100, 16), (np.sin(np.arange(44100 * 3 * 2) / 9) * 9000).astype("<i2").tobytes()
    )
    rng = np.random.default_rng(14)
    path = tmp_path / "mutant.wav"
    for _ in range(200):
        data = bytearray(good)
        for at in rng.integers(0, 48, size=rng.integers(1, 4)):
            data[at] = int(rng.integers(0, 256))
        path.write_bytes(bytes(data[: int(rng.integers(8, len(data) + 1))]))
        try:
            audio = read_audio(path)
        except AnalysisError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{path}: ")
        else:
            assert audio.samples.dtype == np.float32 and np.isfinite(audio.samples).all()


def test_a_wav_of_empty_chunks_is_refused_without_walking_them_all(tmp_path, capsys):
    path = tmp_path / "chunks.wav"
    path.write_bytes(b"RIFF\xff\xff\xff\xffWAVE" + b"junk\x00\x00\x00\x00" * 100_000)
    assert main(["analyze", str(path)]) == 2
    assert "corrupt WAV: more than 4096 chunks" in capsys.readouterr().err


@pytest.mark.skipif(not _no_decoder(), reason="a decoder (soundfile, ffmpeg or flac) is installed here")
@pytest.mark.parametrize(("name", "data", "what"), [
    ("song.mp3", b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(2000), "MP3"),
    ("song.flac", b"fLaC\x00\x00\x00\x22" + bytes(2000), "FLAC"),
])  # fmt: skip
def test_compressed_audio_without_a_decoder_names_the_extra(tmp_path, capsys, name, data, what):
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert f"{what} audio needs a decoder: pip install 'edge-music[audio]'" in err


def test_reimagine_refuses_bad_audio_in_one_line_without_writing(tmp_path):
    path = tmp_path / "short.wav"
    path.write_bytes(ONE_SECOND)
    result = subprocess.run(
        [sys.executable, "-m", "edge", "reimagine", str(path), "--style", "focus", "--out", "x.wav"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "audio too short" in result.stderr
    assert not (tmp_path / "x.wav").exists()


def test_flac_and_mp3_read_through_soundfile_like_the_wav(tmp_path, capsys):
    soundfile = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
    x = 0.5 * np.sin(2 * np.pi * 440 * np.arange(3 * SR) / SR)
    soundfile.write(str(tmp_path / "tone.flac"), np.stack([x, x], axis=1), SR)
    audio = read_audio(tmp_path / "tone.flac")
    assert audio.format == "FLAC (libsndfile)" and audio.channels == 2 and len(audio.samples) == 3 * RATE
    assert np.abs(audio.samples[RATE:-RATE]).max() == pytest.approx(0.5, abs=0.02)
    cut = tmp_path / "cut.flac"
    cut.write_bytes((tmp_path / "tone.flac").read_bytes()[:2000])
    assert main(["analyze", str(cut)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{cut}: " in err


def compressed(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    """The G major song as a 16-bit WAV and the same samples as ``kind`` ("FLAC" or "MP3"), written by
    libsndfile (the audio extra); skipped where this libsndfile cannot write ``kind``."""
    soundfile = pytest.importorskip("soundfile", reason="the audio extra (soundfile) is not installed")
    if kind not in soundfile.available_formats():
        version = soundfile.__libsndfile_version__
        pytest.skip(f"libsndfile {version} here cannot write {kind} (MP3 needs libsndfile 1.1+)")
    wav = write_wav(tmp_path / "song.wav", song(112.0))
    samples, rate = soundfile.read(str(wav), dtype="int16")
    path = tmp_path / f"song.{kind.lower()}"
    soundfile.write(str(path), samples, rate, format=kind, subtype="PCM_16" if kind == "FLAC" else None)
    return wav, path


def analysed(path: Path, capsys) -> dict:
    assert main(["analyze", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_analyze_reads_a_flac_as_the_wav_it_was_made_from(tmp_path, capsys):
    """FLAC is lossless: the same samples, so the same analysis, only the format named differently."""
    wav, flac = compressed(tmp_path, "FLAC")
    from_wav, from_flac = analysed(wav, capsys), analysed(flac, capsys)
    assert from_flac["format"]["format"] == "FLAC (libsndfile)"
    for result in (from_wav, from_flac):
        result["format"].pop("format")
        result.pop("file", None)
    assert from_flac == from_wav


def test_analyze_reads_an_mp3(tmp_path, capsys):
    """MP3 is lossy (and the encoder pads the start and the end), so its analysis is its own; what
    holds is the file read whole: the format, rate, channels and length up to the padding."""
    wav, mp3 = compressed(tmp_path, "MP3")
    from_wav, from_mp3 = analysed(wav, capsys), analysed(mp3, capsys)
    assert from_mp3["format"]["format"] == "MP3 (libsndfile)"
    assert (from_mp3["format"]["sample_rate"], from_mp3["format"]["channels"]) == (SR, 2)
    padding = 2 * 1152 / SR  # an MP3 frame of encoder delay and one of padding, at most
    assert abs(from_mp3["format"]["seconds"] - from_wav["format"]["seconds"]) <= padding
    assert from_mp3["beats"] and from_mp3["melody"]["notes"]


_WITHOUT_SOUNDFILE = (
    "import sys; sys.modules['soundfile'] = None; "  # as an install without the audio extra has it
    "from edge.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("kind", ["FLAC", "MP3"])
def test_a_compressed_file_without_the_audio_extra_gets_one_line_naming_it_and_the_extra(tmp_path, kind):
    """However this machine is set up: the command runs with soundfile out of reach and a PATH that has
    neither the flac nor the ffmpeg command."""
    _, path = compressed(tmp_path, kind)
    before = path.read_bytes()
    (tmp_path / "bin").mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _WITHOUT_SOUNDFILE, "analyze", str(path)], capture_output=True, text=True,
        cwd=tmp_path, timeout=120, env={**os.environ, "PATH": str(tmp_path / "bin")},
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    command = "flac" if kind == "FLAC" else "ffmpeg"
    assert done.stderr == (
        f"edge-music: error: {path}: {kind} audio needs a decoder: pip install 'edge-music[audio]' "
        f"(soundfile) or install the {command} command; WAV is read without one\n"
    )
    assert path.read_bytes() == before


def test_a_batch_reimagines_a_wav_beside_midi_files(tmp_path, capsys):
    from edge.config import Config
    from edge.reimagine.batch import batch_command

    folder = tmp_path / "in"
    folder.mkdir()
    write_wav(folder / "song.wav", song(112.0))
    (folder / "cut.wav").write_bytes(ONE_SECOND)
    args = argparse.Namespace(
        file=None, batch=str(folder), out=None, midi=str(tmp_path / "mid"), style="focus", mood=None,
        energy=None, tempo=None, keep_chords=False, reharmonize=False, transpose=0, seed=3, tier="0",
    )  # fmt: skip
    assert batch_command(args, Config()) == 1  # one skipped
    err = capsys.readouterr().err
    assert "done" in err and "audio too short" in err
    assert sorted(p.name for p in (tmp_path / "mid").iterdir()) == ["song.mid"]
