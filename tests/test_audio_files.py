"""WavSink, FifoSink and NullSink: real files, real pipes, real failures."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import struct
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.audio.fifo import FifoSink
from edge.audio.sinks import NullSink
from edge.audio.wav import WavSink
from tests.alsa_env import wait_until

RATE = 48000


def ramp_block(frames: int, channels: int = 2) -> np.ndarray:
    x = np.linspace(-1.0, 1.0, frames, dtype=np.float32)
    return np.repeat(x[:, None], channels, axis=1)


# -- WAV ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "width", "channels"), [("S16_LE", 2, 2), ("S32_LE", 4, 1)])
def test_wav_is_readable_by_the_wave_module(tmp_path: Path, fmt: str, width: int, channels: int) -> None:
    path = tmp_path / "out.wav"
    sink = WavSink(path, 44100, channels, fmt)
    sink.open()
    for _ in range(10):
        sink.write(ramp_block(1000, 2))  # stereo in; a mono file averages it
    sink.close()
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()) == (
            44100, channels, width, 10_000)
        frames = w.readframes(w.getnframes())
    data = np.frombuffer(frames, dtype="<i2" if width == 2 else "<i4").reshape(-1, channels)
    full = 32767 if width == 2 else 2147483647
    assert data[0, 0] == -full and data[999, 0] == full
    assert sink.description == f"WAV {path}"


def test_float_wav_has_ieee_float_header(tmp_path: Path) -> None:
    # Python 3.11's wave module reads PCM only, so the header is parsed by hand.
    path = tmp_path / "f.wav"
    sink = WavSink(path, RATE, 2, "FLOAT_LE")
    sink.write(ramp_block(480))
    sink.close()
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE"
    assert struct.unpack_from("<I", raw, 4)[0] == len(raw) - 8
    assert raw[12:16] == b"fmt " and struct.unpack_from("<I", raw, 16)[0] == 18
    tag, ch, rate, byte_rate, align, bits, cb = struct.unpack_from("<HHIIHHH", raw, 20)
    assert (tag, ch, rate, byte_rate, align, bits, cb) == (3, 2, RATE, RATE * 8, 8, 32, 0)
    assert raw[38:42] == b"fact" and struct.unpack_from("<II", raw, 42) == (4, 480)
    assert raw[50:54] == b"data" and struct.unpack_from("<I", raw, 54)[0] == 480 * 8
    samples = np.frombuffer(raw[58:], dtype="<f4").reshape(-1, 2)
    assert np.array_equal(samples, ramp_block(480))


def test_wav_header_is_patched_while_writing(tmp_path: Path) -> None:
    """A killed daemon leaves a readable file: sizes are patched every second of audio."""
    path = tmp_path / "live.wav"
    sink = WavSink(path, RATE, 2, "S16_LE", patch_every_s=1.0)
    for _ in range(120):  # 2.56 s of audio, file still open (as if the process died now)
        sink.write(ramp_block(1024))
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() >= 2 * RATE
    sink.close()
    with wave.open(str(path), "rb") as w:
        assert w.getnframes() == 120 * 1024


def _unwritable_dir(tmp_path: Path) -> Path:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):  # root ignores permission bits: use procfs, where nobody creates files
        return Path("/proc")  # (not /sys: a chroot, like scripts/check-arm64.sh's, may not mount it)
    return ro


def test_read_only_directory_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _unwritable_dir(tmp_path) / "edge-music-test.wav"
    sink = WavSink(path, RATE, 2, "S16_LE")
    with caplog.at_level(logging.ERROR, logger="edge.audio"):
        sink.open()
        for _ in range(20):
            sink.write(ramp_block(1024))
        sink.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and str(path) in errors[0].getMessage()
    assert sink.failed and sink.dropped_blocks == 20 and not path.exists()


def test_disk_full_is_logged_once_and_blocks_are_dropped(caplog: pytest.LogCaptureFixture) -> None:
    """/dev/full fails every write with ENOSPC, like a full SD card."""
    sink = WavSink("/dev/full", RATE, 2, "S16_LE")
    with caplog.at_level(logging.ERROR, logger="edge.audio"):
        for _ in range(10):
            sink.write(ramp_block(1024))
        sink.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert sink.dropped_blocks == 10


def test_realtime_wav_takes_about_as_long_as_the_audio(tmp_path: Path) -> None:
    sink = WavSink(tmp_path / "rt.wav", RATE, 2, "S16_LE", 1024, realtime=True)
    t0 = time.monotonic()
    for _ in range(24):  # 0.51 s of audio
        sink.write(ramp_block(1024))
    elapsed = time.monotonic() - t0
    sink.close()
    assert elapsed >= 0.4  # sleeps never return early; an unpaced sink takes a few ms


# -- FIFO -----------------------------------------------------------------------------


def marked_block(index: int, frames: int = 1024) -> np.ndarray:
    """A stereo block whose every sample is ``index`` in S16 counts, so a reader can tell blocks apart."""
    return np.full((frames, 2), index / 32767, dtype=np.float32)


def block_indices(data: bytes) -> list[int]:
    """The ``marked_block`` indices in ``data``, one per whole block (1024 frames)."""
    x = np.frombuffer(data, dtype="<i2").reshape(-1, 2048)
    assert (x == x[:, :1]).all(), "blocks arrived torn or misaligned"
    return [int(v) for v in x[:, 0]]


def read_all(fd: int) -> bytes:
    got = bytearray()
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 1 << 16):
            got += chunk
    return bytes(got)


def test_fifo_without_reader_keeps_only_the_newest_audio_and_never_blocks(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # snapserver holds the pipe open only while it runs, and treats "no writer" as end of file.
    # The sink holds it read-write, so with nobody reading it must bound what waits there itself.
    path = tmp_path / "snapfifo"
    sink = FifoSink(path, backlog_s=0.1)
    done = threading.Event()
    old_umask = os.umask(0o077)  # the service's UMask: the pipe must still be readable by snapserver
    try:
        sink.open()
    finally:
        os.umask(old_umask)

    def run() -> None:
        for i in range(1, 41):  # 0.85 s of audio, paced
            sink.write(marked_block(i))
        done.set()

    with caplog.at_level(logging.INFO, logger="edge.audio"):
        threading.Thread(target=run, daemon=True).start()
        assert done.wait(5), "FifoSink blocked with no reader"
    assert stat.S_ISFIFO(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o644
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # snapserver comes (back)
    try:
        waiting = block_indices(read_all(reader))
    finally:
        os.close(reader)
        sink.close()
    # At most 0.1 s = 5 whole blocks, at least the 0.05 s lead = 2 + the newest block: the newest
    # ones, in order, and every older one was dropped and counted.
    assert 3 <= len(waiting) <= 5 and waiting == list(range(41 - len(waiting), 41))
    assert sink.dropped_blocks == 40 - len(waiting) and sink.frames_written == 40 * 1024
    assert sum("no reader" in r.getMessage() for r in caplog.records) == 1


def test_fifo_delivers_s16_to_a_reader_and_survives_it_leaving(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "snapfifo"
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    got = bytearray()
    sink = FifoSink(path)
    caplog.set_level(logging.INFO, logger="edge.audio")
    sink.open()
    block = ramp_block(1024)
    for _ in range(5):
        sink.write(block)
        got += os.read(reader, 1 << 16)
    assert bytes(got) == np.rint(block * 32767).astype("<i2").tobytes() * 5
    assert sink.flowing and sink.dropped_blocks == 0
    os.close(reader)  # snapserver stops
    for i in range(40):  # 0.85 s: no EPIPE (the sink is a reader too), the backlog stays bounded
        sink.write(marked_block(i))
    assert not sink.flowing and sink.dropped_blocks >= 30
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # snapserver is back: at once, no reconnect
    try:
        waiting = block_indices(read_all(reader))  # recent audio, not a stale fragment
        assert 3 <= len(waiting) <= 9 and waiting == list(range(40 - len(waiting), 40))
        sink.write(marked_block(1000))
        assert block_indices(read_all(reader)) == [1000]
        sink.write(marked_block(1001))
        assert block_indices(read_all(reader)) == [1001] and sink.flowing
    finally:
        os.close(reader)
        sink.close()
    said = [r.getMessage() for r in caplog.records if r.name == "edge.audio.fifo"]
    assert sum("a reader is taking audio" in line for line in said) == 2, said  # one line per change
    assert sum("no reader" in line for line in said) == 1, said


def test_fifo_follows_a_pipe_that_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "snapfifo"
    sink = FifoSink(path, retry_s=0.05)
    sink.open()
    sink.write(marked_block(1))
    path.unlink()  # e.g. a tmpfiles clean-up, or snapserver's runtime directory made anew
    os.mkfifo(path)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        got = bytearray()

        def delivered() -> bool:
            sink.write(marked_block(2))
            got.extend(read_all(reader))
            return len(got) > 0

        assert wait_until(delivered, timeout=5)
        assert set(block_indices(bytes(got))) == {2}
    finally:
        os.close(reader)
        sink.close()


def test_fifo_path_that_is_not_a_pipe_drops_audio_and_says_so_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "snapfifo"
    path.write_text("not a pipe")
    sink = FifoSink(path, retry_s=0.01)
    with caplog.at_level(logging.INFO, logger="edge.audio"):
        for _ in range(10):
            sink.write(ramp_block(1024))
        sink.close()
    assert sink.dropped_blocks == 10 and path.read_text() == "not a pipe"
    assert sum("not a named pipe" in r.getMessage() for r in caplog.records) == 1


# -- null -----------------------------------------------------------------------------


def test_null_sink_discards_and_optionally_paces() -> None:
    fast = NullSink(realtime=False)

    def never(frames: int) -> float:
        raise AssertionError("a sink that is not real time paced a write")

    fast._pacer.pace = never  # "never waits", checked without a stopwatch
    for _ in range(100):
        fast.write(ramp_block(1024))
    assert fast.frames_written == 102400
    slow = NullSink(realtime=True)
    slow.open()
    t0 = time.monotonic()
    for _ in range(12):  # 0.256 s of audio
        slow.write(ramp_block(1024))
    # A lower bound holds on any CPU: sleeps never end early and a slower CPU only adds time.
    assert time.monotonic() - t0 >= 0.2
