"""The pure parts of edge.audio: sample conversion, buffer, ramps, burst logging, pacing.

These need no ALSA; the clocks of BurstLog and Pacer are injected so their
logic is checked without timing anything.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import pytest

from edge.audio.buffer import BlockBuffer, buffer_capacity
from edge.audio.bursts import BurstLog
from edge.audio.gain import Ramp, apply_gain
from edge.audio.pacing import Pacer
from edge.audio.pcm import as_channels, from_bytes, sample_width, to_bytes

# -- pcm --------------------------------------------------------------------------------


def test_s16_conversion_of_a_known_block() -> None:
    block = np.array(
        [[0.0, 0.25], [-0.25, 1.0], [-1.0, 2.0], [-3.0, 1e-5], [np.nan, np.inf], [-np.inf, 0.5]],
        dtype=np.float32,
    )
    expected = np.array(
        [[0, 8192], [-8192, 32767], [-32767, 32767], [-32767, 0], [0, 32767], [-32767, 16384]],
        dtype="<i2",
    )
    assert to_bytes(block, "S16_LE") == expected.tobytes()


def test_s32_and_float_conversion_clip_and_round() -> None:
    block = np.array([[1.0, -1.0], [2.0, -2.0], [0.5, 0.0]], dtype=np.float32)
    s32 = np.frombuffer(to_bytes(block, "S32_LE"), dtype="<i4")
    assert s32.tolist() == [2147483647, -2147483647, 2147483647, -2147483647, 1073741824, 0]
    f32 = np.frombuffer(to_bytes(block, "FLOAT_LE"), dtype="<f4")
    assert f32.tolist() == [1.0, -1.0, 1.0, -1.0, 0.5, 0.0]


@pytest.mark.parametrize("fmt", ["S16_LE", "S32_LE", "FLOAT_LE"])
def test_round_trip_is_within_one_step(fmt: str) -> None:
    rng = np.random.default_rng(1)
    block = rng.uniform(-1, 1, size=(1024, 2)).astype(np.float32)
    back = from_bytes(to_bytes(block, fmt), fmt, 2)
    assert back.shape == block.shape
    step = {"S16_LE": 1 / 32767, "S32_LE": 1e-7, "FLOAT_LE": 0.0}[fmt]
    assert np.max(np.abs(back - block)) <= step / 2 + 1e-9
    assert sample_width(fmt) == len(to_bytes(block, fmt)) // block.size


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="S24_LE"):
        to_bytes(np.zeros((4, 2), np.float32), "S24_LE")


def test_channel_adaptation() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5]], dtype=np.float32)
    assert as_channels(stereo, 1).tolist() == [[0.5], [0.0]]
    mono = np.array([0.25, -0.25], dtype=np.float32)
    assert as_channels(mono, 2).tolist() == [[0.25, 0.25], [-0.25, -0.25]]
    four = as_channels(stereo, 4)
    assert four.shape == (2, 4) and four[:, 2:].tolist() == [[0, 0], [0, 0]]
    assert as_channels(stereo, 2) is stereo  # already right: no copy


# -- buffer -----------------------------------------------------------------------------


def test_buffer_capacity_rounds_up() -> None:
    # 0.5 s at 48 kHz in 1024-frame blocks is 23.4 blocks -> 24.
    assert buffer_capacity(0.5, 48000, 1024) == 24
    assert buffer_capacity(0.001, 48000, 1024) == 1


def test_buffer_is_bounded_fifo_and_close_wakes_waiters() -> None:
    buf = BlockBuffer(2)
    a, b, c = (np.full((4, 2), v, np.float32) for v in (1, 2, 3))
    assert buf.put(a) and buf.put(b)
    assert not buf.put(c, timeout=0.01)  # full
    assert buf.get() is a and buf.get() is b
    assert buf.get(timeout=0.01) is None  # empty

    results: list[object] = []
    waiter = threading.Thread(target=lambda: results.append(buf.get()))
    waiter.start()
    buf.close()
    waiter.join(2)
    assert not waiter.is_alive() and results == [None]
    assert not buf.put(a)


# -- ramps ------------------------------------------------------------------------------


def test_ramp_is_linear_continuous_and_lands_exactly() -> None:
    ramp = Ramp(1.0, 100)
    assert ramp.envelope(64) == 1.0  # settled: a scalar, no array work
    ramp.set_target(0.0)
    env = np.concatenate([ramp.envelope(64), ramp.envelope(64)])
    assert np.all(np.diff(env[:100]) < 0)
    assert np.allclose(np.diff(env[:100]), -0.01, atol=1e-6)
    assert env[99] == 0.0 and np.all(env[100:] == 0.0)
    assert ramp.settled and ramp.value == 0.0


def test_ramp_retarget_mid_way_does_not_jump() -> None:
    ramp = Ramp(0.0, 100)
    ramp.set_target(1.0)
    first = ramp.envelope(50)
    ramp.set_target(0.0)
    second = ramp.envelope(200)
    joined = np.concatenate([[0.0], first, second])
    assert np.max(np.abs(np.diff(joined))) <= 0.0101  # never more than one ramp step
    assert second[-1] == 0.0


def test_apply_gain_does_not_modify_the_block() -> None:
    block = np.ones((4, 2), np.float32)
    out = apply_gain(block, np.array([0.0, 0.5, 1.0, 1.0], np.float32))
    assert out[:, 0].tolist() == [0.0, 0.5, 1.0, 1.0] and block.min() == 1.0
    assert apply_gain(block, 1.0) is block


# -- burst logging (isolated: injected clock) -------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_burst_log_logs_once_per_burst(caplog: pytest.LogCaptureFixture) -> None:
    """The counter logic behind "underruns logged once per burst", with a fake clock."""
    clock = FakeClock()
    burst = BurstLog(logging.getLogger("t.burst"), "underrun", quiet_s=5.0, repeat_s=60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="t.burst"):
        for _ in range(50):  # a burst: 50 underruns within a second
            burst.hit()
            clock.now += 0.02
        burst.ok()  # too soon after the last hit: the burst goes on
        clock.now += 6.0
        assert burst.ok()  # quiet long enough: ends, with one line
        burst.hit("again")  # a new burst
    messages = [r.getMessage() for r in caplog.records]
    assert burst.total == 51 and burst.bursts == 2
    assert messages == [
        "underrun; repeats are counted, not logged",
        "underrun: stopped after 50 in a row",
        "underrun (again); repeats are counted, not logged",
    ]


def test_burst_log_reminds_during_an_endless_burst(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    burst = BurstLog(logging.getLogger("t.burst2"), "xrun", quiet_s=5.0, repeat_s=60.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="t.burst2"):
        for _ in range(130):  # one every second for 130 s: never quiet for 5 s
            burst.hit()
            clock.now += 1.0
    assert len(caplog.records) == 3  # the start, then a reminder at 60 s and 120 s


# -- pacing (injected clock and sleep) ---------------------------------------------------


def test_pacer_sleeps_to_wall_clock_and_restarts_after_a_stall() -> None:
    clock = FakeClock()
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock.now += s

    pacer = Pacer(1000, lead_frames=100, max_lag_s=0.25, clock=clock, sleep=sleep)
    pacer.pace(100)  # within the lead: no wait
    assert slept == []
    pacer.pace(100)  # 200 frames = 0.2 s, minus 0.1 s lead
    assert slept == [pytest.approx(0.1)]
    clock.now += 5.0  # a stall
    assert pacer.pace(100) == 0.0
    pacer.pace(100)  # the timeline restarted: no burst of catch-up, normal waits again
    assert slept[-1] == pytest.approx(0.1)
