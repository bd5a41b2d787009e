"""Player end to end: render thread -> buffer -> gain -> AlsaSink -> real ALSA -> raw file.

Most tests render a constant (DC) signal, so every sample of the raw file is
the master gain times a known level: fades, clicks and silence can be read
straight off the samples. The file plugin does not pace, so the renderers
sleep a little per block only to keep the amount of data small.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest

from edge.audio.alsa import AlsaSink
from edge.audio.buffer import buffer_capacity
from edge.audio.player import Player
from edge.audio.sinks import NullSink
from tests.alsa_env import AlsaEnv, alsa_env, wait_until

__all__ = ["alsa_env"]  # the fixture is used by name

RATE = 48000
PERIOD = 1024
FADE_MS = 60.0
FADE_FRAMES = round(FADE_MS * RATE / 1000)  # 2880
LEVEL = 16384  # DC level in S16 counts at gain 1
MAX_STEP = LEVEL / FADE_FRAMES + 1  # one ramp step plus rounding: anything bigger is a click


class Renderer:
    """A render_block that counts its calls; DC by default, optionally failing."""

    def __init__(self, level: float = LEVEL / 32767, delay: float = 0.002,
                 fail: set[int] | None = None, right: float | None = None) -> None:
        self.level = level
        self.right = level if right is None else right
        self.delay = delay
        self.fail = fail or set()
        self.calls = 0

    def __call__(self, frames: int) -> np.ndarray:
        self.calls += 1
        time.sleep(self.delay)
        if self.calls in self.fail:
            raise RuntimeError(f"synth bug in call {self.calls}")
        out = np.empty((frames, 2), np.float32)
        out[:, 0] = self.level
        out[:, 1] = self.right
        return out


def make_player(render: Renderer, volume: float = 1.0, channels: int = 2) -> Player:
    sink = AlsaSink("default", RATE, channels, "S16_LE", PERIOD, 4)
    return Player(sink, render, PERIOD, RATE, buffer_seconds=0.5, fade_ms=FADE_MS, volume=volume)


def ramps(x: np.ndarray, lo: int, hi: int) -> list[tuple[int, int]]:
    """(start, length) of every run of samples strictly between lo and hi."""
    inside = ((x > lo) & (x < hi)).astype(np.int8)
    edges = np.diff(np.concatenate([[0], inside, [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def test_pause_resume_and_stop_ramp_without_clicks(alsa_env: AlsaEnv) -> None:
    render = Renderer()
    player = make_player(render)
    player.start()
    assert wait_until(lambda: player.stats.blocks_written >= 20)
    player.pause()
    assert not player.playing
    # Paused, the music does not advance: the producer tops up the render-ahead buffer (on a busy
    # machine it may still be catching up when the silence starts), then waits for room.
    capacity = buffer_capacity(0.5, RATE, PERIOD)
    assert wait_until(lambda: player.stats.silent_blocks >= 5 and player.stats.buffered_blocks >= capacity)
    calls_paused, silent = render.calls, player.stats.silent_blocks
    assert wait_until(lambda: player.stats.silent_blocks >= silent + 10)
    assert render.calls == calls_paused
    written_before = player.stats.blocks_written
    player.resume()
    assert player.playing
    assert wait_until(lambda: player.stats.blocks_written >= written_before + 20)
    player.stop()
    x = alsa_env.raw()[:, 0].astype(np.int32)
    assert player.stats.frames_written == len(x)
    # No clicks anywhere: every sample-to-sample change is at most one ramp step.
    assert np.abs(np.diff(x)).max() <= MAX_STEP
    runs = ramps(x, 0, LEVEL)
    # Fade-in at start, pause fade-out, resume fade-in, stop fade-out: each exactly fade_ms long.
    assert [length for _, length in runs] == [FADE_FRAMES - 1] * 4
    (_, _), (down, _), (up, _), (end, _) = runs
    assert np.all(np.diff(x[down: down + FADE_FRAMES]) < 0)  # monotonic down
    assert np.all(np.diff(x[up: up + FADE_FRAMES]) > 0)  # monotonic up
    assert np.all(np.diff(x[end: end + FADE_FRAMES]) < 0)
    assert np.all(x[down + FADE_FRAMES: up] == 0) and up - down > 15 * PERIOD  # silence while paused
    assert np.all(x[end + FADE_FRAMES - 1:] == 0)  # stop faded all the way out
    assert x.max() == LEVEL  # non-silent, at the expected level


def test_volume_change_ramps(alsa_env: AlsaEnv) -> None:
    player = make_player(Renderer(), volume=1.0)
    player.start()
    assert wait_until(lambda: player.stats.blocks_written >= 10)
    player.set_volume(0.25)
    assert player.volume == 0.25
    start = player.stats.blocks_written
    assert wait_until(lambda: player.stats.blocks_written >= start + 10)
    player.stop()
    x = alsa_env.raw()[:, 0].astype(np.int32)
    assert np.abs(np.diff(x)).max() <= MAX_STEP
    quarter = LEVEL // 4
    down = [r for r in ramps(x, quarter, LEVEL) if r[0] > FADE_FRAMES]
    assert len(down) == 1 and down[0][1] == FADE_FRAMES - 1
    s = down[0][0]
    assert np.all(np.diff(x[s - 1: s + FADE_FRAMES]) < 0)
    assert np.count_nonzero(x == quarter) > 5 * PERIOD  # settled at the new volume


def test_full_scale_sine_at_volume_one_does_not_clip(alsa_env: AlsaEnv) -> None:
    phase = [0]

    def sine(frames: int) -> np.ndarray:
        t = np.arange(phase[0], phase[0] + frames) / RATE
        phase[0] += frames
        time.sleep(0.002)
        x = np.sin(2 * np.pi * 441.0 * t).astype(np.float32)
        return np.stack([x, x], axis=1)

    player = Player(AlsaSink("default", RATE, 2, "S16_LE", PERIOD, 4), sine, PERIOD, RATE, 0.5, FADE_MS, 1.0)
    player.start()
    assert wait_until(lambda: player.stats.blocks_written >= 30)
    player.stop()
    x = alsa_env.raw()[:, 0].astype(np.int32)
    assert len(x) == player.stats.frames_written and len(x) >= 30 * PERIOD
    assert x.max() == 32767 and x.min() == -32767  # full scale, within int16
    assert np.abs(np.diff(x)).max() < 2000  # no wrap-around anywhere


def test_render_exceptions_become_silence_logged_once(
    alsa_env: AlsaEnv, caplog: pytest.LogCaptureFixture
) -> None:
    render = Renderer(fail={5, 6, 7, 8, 9})
    player = make_player(render)
    with caplog.at_level(logging.WARNING, logger="edge.audio"):
        player.start()
        assert wait_until(lambda: player.stats.blocks_written >= 25)
        player.stop()
    assert player.stats.render_errors == 5
    failures = [r for r in caplog.records if "render_block failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].exc_info is not None  # once, with the traceback
    x = alsa_env.raw()[:, 0]
    blocks = x[: len(x) - len(x) % PERIOD].reshape(-1, PERIOD)
    silent = [i for i, b in enumerate(blocks) if not b.any()]
    assert silent[:5] == [4, 5, 6, 7, 8]  # calls 5..9 are blocks 4..8
    assert blocks[9:20].min() == LEVEL  # and the music came back after the burst


def test_mono_sink_gets_the_average(alsa_env: AlsaEnv) -> None:
    player = make_player(Renderer(level=LEVEL * 2 / 32767, right=0.0), channels=1)
    player.start()
    assert wait_until(lambda: player.stats.blocks_written >= 10)
    player.stop()
    x = alsa_env.raw(channels=1)[:, 0]
    assert x.max() == LEVEL  # (2 * LEVEL + 0) / 2


def test_first_block_on_block_and_stats(alsa_env: AlsaEnv) -> None:
    pings = []
    player = make_player(Renderer())
    player.on_block = lambda: pings.append(threading.current_thread().name)
    before = time.monotonic()
    player.start()
    first = player.wait_first_block(timeout=5)
    assert first is not None and first >= before
    assert wait_until(lambda: len(pings) >= 5)
    player.stop()
    assert set(pings) == {"edge-audio-sink"}  # called from the sink thread
    stats = player.stats
    assert stats.blocks_written == len(pings) and stats.frames_written == stats.blocks_written * PERIOD
    assert stats.underruns == 0
    player.stop()  # a second stop is harmless


def test_stop_is_prompt_on_a_device_paced_sink() -> None:
    """A NullSink in real time stands in for a card's pacing. stop() writes only the fade-out (60 ms:
    three 1024-frame blocks, and one that may be on its way), then returns: 0.1 s at the card's pace,
    not the 0.5 s of audio still buffered. Counted in blocks, so a slow CPU cannot change it."""
    sink = NullSink(realtime=True, rate=RATE, channels=2, period_frames=PERIOD)
    player = Player(sink, Renderer(delay=0.0), PERIOD, RATE, 0.5, FADE_MS, 0.7)
    player.start()
    assert player.wait_first_block(timeout=5) is not None
    assert wait_until(lambda: player.stats.buffered_blocks >= 10)  # the buffer holds 0.5 s ahead
    before = player.stats.blocks_written
    player.stop()
    assert not player._writer.is_alive() and not player._producer.is_alive()
    assert player.stats.blocks_written - before <= -(-FADE_FRAMES // PERIOD) + 1


def test_stop_before_start_closes_the_sink() -> None:
    sink = NullSink()
    player = Player(sink, Renderer(), PERIOD, RATE, 0.5, FADE_MS)
    player.stop()
    assert player.stats.blocks_written == 0
    with pytest.raises(RuntimeError):
        player.start()
