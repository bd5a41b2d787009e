"""AlsaSink and probe_alsa against real ALSA (pyalsaaudio + alsa-lib's file/null plugins).

The PCMs come from the private config in tests/alsa_env.py; nothing here
mocks ALSA, except the one EPIPE test that says so in its docstring.
"""

from __future__ import annotations

import errno
import logging
import threading
import time

import alsaaudio
import numpy as np
import pytest

from edge.audio import alsa as alsa_mod
from edge.audio.alsa import AlsaSink, probe_alsa
from tests.alsa_env import AlsaEnv, alsa_env, fifo_device, wait_until

__all__ = ["alsa_env"]  # the fixture is used by name

RATE = 48000


def sine(frames: int, freq: float = 440.0, amp: float = 0.5, channels: int = 2, start: int = 0) -> np.ndarray:
    t = (np.arange(frames) + start) / RATE
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(x[:, None], channels, axis=1)


def test_known_block_arrives_bit_exact(alsa_env: AlsaEnv) -> None:
    block = np.array([[0.0, 0.25], [-0.25, 1.0], [-1.0, 2.0], [np.nan, -3.0]] * 256, dtype=np.float32)
    expected = np.array([[0, 8192], [-8192, 32767], [-32767, 32767], [0, -32767]] * 256, dtype="<i2")
    sink = AlsaSink("default", RATE, 2, "S16_LE", 1024, 4)
    sink.open()
    assert sink.connected and sink.description == "ALSA default"
    for _ in range(10):
        sink.write(block)
    sink.close()
    raw = alsa_env.raw_path.read_bytes()
    assert raw == expected.tobytes() * 10
    assert sink.frames_written == 10 * 1024 and sink.underruns == 0


def test_duration_and_signal_of_a_sine(alsa_env: AlsaEnv) -> None:
    sink = AlsaSink("default", RATE, 2, "S16_LE", 1024, 4)
    sink.open()
    for i in range(47):  # 47 * 1024 frames, about one second
        sink.write(sine(1024, amp=1.0, start=i * 1024))
    sink.close()
    out = alsa_env.raw()
    assert out.shape == (47 * 1024, 2)
    assert np.abs(out).max() == 32767  # full scale reached, nothing wrapped past it
    # A wrapped sample would jump by ~65535; a 440 Hz sine moves < 2000 per sample.
    assert np.abs(np.diff(out[:, 0].astype(np.int32))).max() < 2000


@pytest.mark.parametrize(("fmt", "dtype"), [("S32_LE", "<i4"), ("FLOAT_LE", "<f4")])
def test_other_formats_and_mono(alsa_env: AlsaEnv, fmt: str, dtype: str) -> None:
    sink = AlsaSink("default", 44100, 1, fmt, 512, 3)
    sink.open()
    assert sink.granted["format_name"] == fmt and sink.granted["channels"] == 1
    sink.write(np.full((512, 2), 0.5, np.float32))  # stereo in: averaged to the mono device
    sink.close()
    out = alsa_env.raw(dtype, channels=1)
    assert out.shape == (512, 1)
    expected = 0.5 if fmt == "FLOAT_LE" else 1073741824
    assert np.all(out == expected)


def test_probe_is_one_clean_line(alsa_env: AlsaEnv, capfd: pytest.CaptureFixture[str]) -> None:
    assert probe_alsa("default") is None
    reason = probe_alsa("edge-no-such-dac")
    captured = capfd.readouterr()
    assert reason is not None and "\n" not in reason and reason.strip() == reason
    assert "No such file or directory" in reason
    # alsa-lib normally prints "Unknown PCM edge-no-such-dac" and more on stderr.
    assert "ALSA lib" not in captured.err and captured.err == ""


def open_attempts(monkeypatch: pytest.MonkeyPatch) -> list[bool | None]:
    """Every snd_pcm_open the sinks try from now on, in the order they start: True if it opened
    (None while it runs). Recovery is judged by these, not by a stopwatch: the sink tries again
    on its capped back-off (test_backoff_is_capped_below_two_seconds), and the first try after
    the device is back must succeed, however slow the CPU."""
    outcomes: list[bool | None] = []
    try_open = alsa_mod._try_open

    def spy(*args):
        index = len(outcomes)
        outcomes.append(None)
        pcm, reason = try_open(*args)
        outcomes[index] = pcm is not None
        return pcm, reason

    monkeypatch.setattr(alsa_mod, "_try_open", spy)
    return outcomes


def test_missing_device_at_open_waits_without_spinning_and_recovers(
    alsa_env: AlsaEnv, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mechanism: the PCM name "latedac" does not exist until the test defines it in the
    private config; alsa-lib notices the replaced config file on the next snd_pcm_open."""
    attempts = open_attempts(monkeypatch)
    with fifo_device(alsa_env, "latedac") as dev, caplog.at_level(logging.INFO, logger="edge.audio"):
        sink = AlsaSink("latedac", RATE, 2, "S16_LE", 1024, 4)
        sink.open()  # must not raise
        assert not sink.connected
        t0 = time.monotonic()
        n = 0
        while time.monotonic() - t0 < 0.5:
            sink.write(sine(1024))  # must not raise either; paced while the device is away
            n += 1
        # 0.5 s of 21 ms blocks is ~24 writes; a spinning loop would make thousands. (A slower
        # CPU can only make fewer; the pacer sleeps rather than spins, see test_audio_units.)
        assert n < 60
        assert attempts and not any(attempts)
        dev.plug()
        plugged = len(attempts)
        block = sine(1024)
        assert wait_until(lambda: (sink.write(block), sink.connected)[1], timeout=5)
        assert attempts[plugged:] == [True]  # back at the first try after the plug
        for _ in range(8):
            sink.write(block)
        assert wait_until(lambda: dev.received > 0)
        sink.close()
    waiting = [r for r in caplog.records if "waiting for it" in r.getMessage()]
    back = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(waiting) == 1 and "latedac" in waiting[0].getMessage()
    assert len(back) == 1


def test_device_vanishes_mid_play_and_returns(
    alsa_env: AlsaEnv, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mechanism (real ALSA, no mock): "usbdac" is a file plugin writing into a FIFO this test
    reads. Unplugging removes the PCM from the config and closes the reader, so alsa-lib's
    next write into the pipe fails (EPIPE -> -EIO) and PCM.write raises ALSAAudioError
    mid-play, and reopening fails until the PCM is defined again, as with a USB DAC."""
    errors: list[BaseException] = []
    writes = [0]
    stop = threading.Event()
    attempts = open_attempts(monkeypatch)
    with fifo_device(alsa_env, "usbdac") as dev, caplog.at_level(logging.INFO, logger="edge.audio"):
        dev.plug()
        sink = AlsaSink("usbdac", RATE, 2, "S16_LE", 1024, 4)
        sink.open()
        assert sink.connected

        def play() -> None:
            i = 0
            while not stop.is_set():
                try:
                    sink.write(sine(1024, start=i * 1024))
                except BaseException as exc:  # the point: nothing may escape write()
                    errors.append(exc)
                    return
                writes[0] += 1
                i += 1
                time.sleep(0.002)  # the null plugin never blocks; keep the data rate sane

        player = threading.Thread(target=play, daemon=True)
        player.start()
        try:
            assert wait_until(lambda: dev.received > 64 * 1024)
            dev.unplug()
            assert wait_until(lambda: not sink.connected)
            writes_before = writes[0]
            time.sleep(1.0)
            # Away for 1 s: paced drops (~47 blocks of 21 ms), not a spinning loop (a slower CPU
            # can only drop fewer).
            assert writes[0] - writes_before < 90
            received_while_away = dev.received
            dev.plug()
            plugged = len(attempts)  # tries that start from here on see the device
            assert wait_until(lambda: sink.connected, timeout=5)
            assert wait_until(lambda: dev.received > received_while_away + 64 * 1024)
        finally:
            stop.set()
            player.join(5)
        sink.close()
    assert errors == []
    assert False not in attempts[plugged:]  # back at the first try after the plug (or one on its way)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("lost playback device 'usbdac'" in m for m in messages) == 1
    assert sum("playback device 'usbdac' is back" in m for m in messages) == 1
    assert sink.dropped_blocks > 0


class _EpipeInjector:
    """Wraps a REAL alsaaudio.PCM and makes chosen writes return -EPIPE without writing.

    Honest label: this is injected. alsa-lib's null and file plugins cannot underrun
    (pcm_null's avail_update always reports a free buffer, so the stream never enters
    XRUN), and there is no sound card here. -EPIPE with the block unwritten is exactly
    what pyalsaaudio 0.11's PCM.write returns after an underrun (it has already called
    snd_pcm_prepare). Every other write goes to the real PCM and on into the raw file.
    """

    def __init__(self, pcm: alsaaudio.PCM, fail_on: set[int]) -> None:
        self.pcm = pcm
        self.fail_on = fail_on
        self.calls = 0

    def write(self, data: memoryview) -> int:
        self.calls += 1
        if self.calls in self.fail_on:
            return -errno.EPIPE
        return self.pcm.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self.pcm, name)


def test_underrun_is_counted_logged_once_per_burst_and_written_again(
    alsa_env: AlsaEnv, caplog: pytest.LogCaptureFixture
) -> None:
    sink = AlsaSink("default", RATE, 2, "S16_LE", 1024, 4)
    sink.open()
    # Calls 2, 3 and 5 underrun: one burst (they come within the quiet time).
    sink._pcm = _EpipeInjector(sink._pcm, {2, 3, 5})
    with caplog.at_level(logging.INFO, logger="edge.audio"):
        for i in range(6):
            sink.write(sine(1024, start=i * 1024))
    sink.close()
    assert sink.underruns == 3
    warnings = [r for r in caplog.records if "underrun" in r.getMessage()]
    assert len(warnings) == 1
    # Every block was written again after its underrun: nothing lost, nothing doubled.
    out = alsa_env.raw()
    assert out.shape == (6 * 1024, 2)
    expected = np.rint(sine(6 * 1024) * 32767).astype(np.int16)
    assert np.array_equal(out, expected)


def test_backoff_is_capped_below_two_seconds() -> None:
    assert alsa_mod.BACKOFF_START_S == 0.1 and alsa_mod.BACKOFF_MAX_S < 2.0
