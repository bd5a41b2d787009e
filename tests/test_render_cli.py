"""`edge-music render` end to end: real files, checked as a listener's tools would read them."""

import subprocess
import sys
import wave

import mido
import numpy as np
import pytest


def render(tmp_path, *args):
    result = subprocess.run(
        [sys.executable, "-m", "edge", "render", "--quiet", *args],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    return result


def read_wav(path):
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 48000 and wav.getnchannels() == 2 and wav.getsampwidth() == 2
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    return data


def test_render_is_deterministic_and_never_clips(tmp_path):
    first, second, other = tmp_path / "a.wav", tmp_path / "b.wav", tmp_path / "c.wav"
    for out, seed in ((first, "1"), (second, "1"), (other, "2")):
        result = render(tmp_path, "--seconds", "60", "--style", "workout", "--seed", seed, "--out", str(out))
        assert result.returncode == 0, result.stderr
    # The same seed gives the same audio, sample for sample (the files differ in their signed
    # manifests: each render is a new session, signed at a new time).
    audio = read_wav(first)
    assert np.array_equal(audio, read_wav(second))
    assert not np.array_equal(audio, read_wav(other))
    assert len(audio) == 60 * 48000
    peak = np.abs(audio.astype(np.int32)).max()
    assert peak < 32767  # the limiter keeps headroom: nothing reaches full scale
    assert np.mean(np.abs(audio.astype(np.int32)) >= 32700) < 1e-5
    rms = np.sqrt(np.mean((audio.astype(np.float64) / 32768) ** 2))
    assert rms > 0.02  # it is music, not silence


def test_midi_export_holds_the_rendered_notes(tmp_path):
    result = render(tmp_path, "--seconds", "20", "--style", "house", "--seed", "4", "--midi", "x.mid")
    assert result.returncode == 0, result.stderr
    midi = mido.MidiFile(tmp_path / "x.mid")
    names = {t.name for t in midi.tracks}
    assert {"lead", "bass", "pad", "drums"} <= names
    ons = [m for t in midi.tracks for m in t if m.type == "note_on" and m.velocity > 0]
    assert len(ons) > 40
    assert all(m.channel == 9 for t in midi.tracks if t.name == "drums" for m in t if m.type == "note_on")
    assert 15 < midi.length < 25


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--style", "jazz", "--null"], "unknown style 'jazz'"),
        (["--mood", "grumpy", "--null"], "mood 'grumpy'"),
        (["--energy", "3", "--null"], "energy 3.0 is outside 0..1"),
        (["--seconds", "10"], "render needs --out"),
        (["--tempo", "900", "--null"], "tempo 900.0 is outside 40..240"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(tmp_path, args, fragment):
    result = render(tmp_path, *args)
    assert result.returncode == 2
    assert fragment in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.strip().count("\n") == 0
