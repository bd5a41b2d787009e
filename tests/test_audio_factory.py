"""open_sink: the daemon's choice of sink, including the WAV fallback when no device opens."""

from __future__ import annotations

import logging
import re
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.audio import AlsaSink, FifoSink, NullSink, WavSink, open_sink, probe_alsa
from edge.config import AudioConfig
from tests.alsa_env import AlsaEnv, alsa_env

__all__ = ["alsa_env"]  # the fixture is used by name


def test_missing_device_falls_back_to_wav_in_cwd(
    alsa_env: AlsaEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    audio = AudioConfig(sink="alsa", device="edge-no-such-dac", fallback_to_wav=True)
    with caplog.at_level(logging.INFO, logger="edge.audio"):
        sink = open_sink(audio, realtime=True)
    assert isinstance(sink, WavSink) and sink.realtime
    assert sink.path.parent == workdir and sink.path.is_absolute()
    assert re.fullmatch(r"edge-music-\d{8}-\d{6}\.wav", sink.path.name)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"no playback device 'edge-no-such-dac' (No such file or directory); writing to {sink.path} instead"
    ]
    assert "ALSA lib" not in capfd.readouterr().err  # alsa-lib's chatter was kept off stderr
    for _ in range(5):
        sink.write(np.full((1024, 2), 0.5, np.float32))
    sink.close()
    with wave.open(str(sink.path), "rb") as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (2, 48000, 5 * 1024)


def test_probe_reason_is_one_line(alsa_env: AlsaEnv) -> None:
    reason = probe_alsa("edge-no-such-dac")
    assert reason is not None and len(reason.splitlines()) == 1


def test_working_device_gives_an_alsa_sink(alsa_env: AlsaEnv) -> None:
    sink = open_sink(AudioConfig(sink="alsa", device="default"), realtime=True)
    try:
        assert isinstance(sink, AlsaSink) and sink.connected
    finally:
        sink.close()


def test_without_fallback_the_alsa_sink_waits(alsa_env: AlsaEnv, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.audio"):
        sink = open_sink(AudioConfig(device="edge-no-such-dac", fallback_to_wav=False), realtime=True)
    assert isinstance(sink, AlsaSink) and not sink.connected
    assert any("waiting for it" in r.getMessage() for r in caplog.records)
    sink.close()


def test_other_sink_kinds(tmp_path: Path) -> None:
    wav = open_sink(AudioConfig(sink="wav", wav_path=str(tmp_path / "x.wav")), realtime=False)
    assert isinstance(wav, WavSink) and not wav.realtime
    wav.close()
    fifo = open_sink(AudioConfig(sink="fifo", fifo_path=str(tmp_path / "snapfifo")), realtime=True)
    assert isinstance(fifo, FifoSink) and (tmp_path / "snapfifo").is_fifo()
    fifo.close()
    null = open_sink(AudioConfig(sink="null"), realtime=True)
    assert isinstance(null, NullSink) and null.realtime
