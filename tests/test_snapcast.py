"""Multi-room through a real Snapcast server: snapserver + snapclient (file player), no sound card.

The pipe source is the README's example line (tests/snapcast.py reads it from
there). Each test checks what the client actually wrote: music, not silence,
and continuous while the server ran. One test runs the real `edge-music run`
with a config file; the others drive the Player and FifoSink in-process,
so they can also compare the client's samples with what was rendered.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

from edge.audio.fifo import FifoSink
from edge.audio.pcm import to_bytes
from edge.audio.player import Player
from edge.context.context import Context
from edge.engine import Engine
from edge.music.style import StyleLibrary
from tests.alsa_env import wait_until
from tests.snapcast import (
    RATE,
    ROOT,
    SNAPCLIENT,
    SNAPSERVER,
    Snapcast,
    gaps,
    readme_source,
    resyncs,
    sound,
    stretches,
    window_rms,
)

pytestmark = pytest.mark.skipif(
    SNAPSERVER is None or SNAPCLIENT is None,
    reason="snapserver/snapclient not installed (apt-get install snapserver snapclient; "
    "scripts/install-deps.sh test does it)",
)

STYLE = "workout"  # drums and bass from the first bar: no quiet 100 ms anywhere (RMS >= 0.02 at full volume)
MAX_GAP = 240  # frames (5 ms): the longest digital silence allowed inside music
RMS_FLOOR = 0.003  # per 100 ms window, full scale 1; the music at volume 0.7 stays above 0.01
BACK_WITHIN_S = 2.0  # the issue: audio back at the client within 2 s of snapserver's restart


def assert_music(audio: np.ndarray, seconds: float, snap: Snapcast) -> None:
    """At least ``seconds`` of sound, with no gap and no quiet 100 ms between its first and last frame.

    The only gaps forgiven are those snapserver makes itself: starved of CPU (a loaded CI machine),
    it skips its stream ahead and logs "onResync"; each such line excuses one gap of at most 0.3 s.
    """
    music = sound(audio)
    assert len(music) >= seconds * RATE, f"only {len(music) / RATE:.2f} s of sound"
    found = gaps(music, MAX_GAP)
    allowed = resyncs(snap.server_log())
    assert len(found) <= allowed and all(frames <= 0.3 * RATE for _, frames in found), (
        f"gaps (start, frames) {found} in the music; snapserver resynced {allowed} times")
    for begin, end in stretches(music, MAX_GAP):
        # The first window of a stretch holds a fade-in or a restart, the last one may be cut anywhere.
        rms = window_rms(music[begin:end])[1:-1]
        assert len(rms) == 0 or rms.min() > RMS_FLOOR, f"a quiet 100 ms window: RMS {rms.min():.4f}"


@pytest.fixture
def snap(tmp_path: Path) -> Iterator[Snapcast]:
    with Snapcast(tmp_path) as running:
        yield running


class Recorder:
    """Renders workout music through the Engine and keeps the S16 bytes of every block."""

    def __init__(self) -> None:
        self.engine = Engine(StyleLibrary(), lambda: Context(style=STYLE), seed=7)
        self.rendered = bytearray()

    def __call__(self, frames: int) -> np.ndarray:
        block = self.engine.render_block(frames)
        self.rendered += to_bytes(block, "S16_LE")
        return block


def start_player(snap: Snapcast) -> tuple[Player, FifoSink, Recorder]:
    """The daemon's audio path in-process: Engine -> Player (volume 1) -> FifoSink."""
    sink = FifoSink(snap.fifo)
    render = Recorder()
    player = Player(sink, render, period_frames=1024, rate=RATE, buffer_seconds=0.5, fade_ms=60, volume=1.0)
    player.start()
    return player, sink, render


def assert_rendered(audio: np.ndarray, render: Recorder) -> None:
    """The client's samples are edge-music's, bit for bit: 0.1 s of its music is found in the render."""
    music = sound(audio)
    begin, end = max(stretches(music, MAX_GAP), key=lambda stretch: stretch[1] - stretch[0])
    middle = (begin + end) // 2
    excerpt = music[middle : middle + RATE // 10].astype("<i2").tobytes()
    assert bytes(render.rendered).find(excerpt) >= 0, "the client played something edge-music did not render"


def test_the_readme_example_is_what_the_tests_run() -> None:
    source = readme_source()
    parts = urlsplit(source)
    assert parts.scheme == "pipe"
    options = parse_qs(parts.query)
    assert options["sampleformat"] == ["48000:16:2"]  # what FifoSink writes at the default audio.rate
    assert options["mode"] == ["create"]
    readme = (ROOT / "README.md").read_text()
    assert f'fifo_path = "{parts.path}"' in readme  # the same pipe on both sides
    # The household guide uses the same options, with a path both services can reach.
    (guide,) = [line for line in (ROOT / "docs/install.md").read_text().splitlines()
                if line.startswith("source = pipe://")]  # fmt: skip
    assert urlsplit(guide.removeprefix("source = ")).query == parts.query


def test_edge_music_run_plays_through_a_snapserver_that_was_there_first(
    snap: Snapcast, tmp_path: Path
) -> None:
    snap.start_server()
    snap.start_client()
    config = tmp_path / "edge.toml"
    config.write_text(
        f'[audio]\nsink = "fifo"\nfifo_path = "{snap.fifo}"\n'
        f'[music]\nstyle = "{STYLE}"\nseed = 7\n[generator]\ntier = "0"\n'
        "[mqtt]\nenabled = false\n[gpio]\nenabled = false\n"
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until(lambda: len(sound(snap.audio())) >= 3 * RATE, timeout=30), snap.server_log()
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    assert err.count("a reader is taking audio") == 1, err
    assert "no reader" not in err, err
    assert_music(snap.audio(), 3.0, snap)


def test_snapserver_started_after_edge_music(snap: Snapcast) -> None:
    player, sink, render = start_player(snap)
    try:
        assert player.wait_first_block(10) is not None
        time.sleep(1.0)  # edge-music plays into a pipe nobody reads (and made the pipe itself)
        assert snap.fifo.is_fifo() and sink.flowing is False
        snap.start_server()
        snap.start_client()
        assert wait_until(lambda: len(sound(snap.audio())) >= 2 * RATE, timeout=15), snap.server_log()
        assert sink.flowing
    finally:
        player.stop()
    assert_music(snap.audio(), 2.0, snap)
    assert_rendered(snap.audio(), render)


def test_a_snapserver_restart_mid_playback_is_heard_again_within_2_s(snap: Snapcast) -> None:
    snap.start_server()
    snap.start_client()
    player, _, render = start_player(snap)
    try:
        assert wait_until(lambda: len(sound(snap.audio())) >= RATE, timeout=15), snap.server_log()
        snap.stop_server()  # `systemctl restart snapserver`
        time.sleep(0.3)
        before = len(snap.audio())
        restarted = time.monotonic()
        snap.start_server()
        # Back: the client wrote silence after the outage, then sound again.
        assert wait_until(lambda: _back(snap.audio()[before:]), timeout=10), snap.server_log()
        took = time.monotonic() - restarted
        assert took < BACK_WITHIN_S, f"audio back {took:.2f} s after the restart"
        assert wait_until(lambda: len(sound(_after_gap(snap.audio()[before:]))) >= 1.5 * RATE, timeout=10)
    finally:
        player.stop()
    after = _after_gap(snap.audio()[before:])
    assert_music(after, 1.5, snap)
    assert_rendered(after, render)


def test_a_snapserver_gone_for_good_never_stalls_edge_music(
    snap: Snapcast, caplog: pytest.LogCaptureFixture
) -> None:
    snap.start_server()
    snap.start_client()
    with caplog.at_level(logging.INFO, logger="edge.audio"):
        player, sink, _ = start_player(snap)
        try:
            assert wait_until(lambda: sink.flowing, timeout=10)
            snap.stop_server()
            blocks, dropped, t0 = player.stats.blocks_written, sink.dropped_blocks, time.monotonic()
            time.sleep(2.0)
            elapsed = time.monotonic() - t0
            played = (player.stats.blocks_written - blocks) * 1024 / RATE
            # Neither blocked (it would stop at a full pipe) nor racing ahead (it would be far past).
            assert elapsed / 2 < played < elapsed + 0.3
            assert sink.dropped_blocks - dropped >= (played - 0.5) * RATE / 1024  # all but the backlog
            assert not sink.flowing
        finally:
            t_stop = time.monotonic()
            player.stop()
        assert time.monotonic() - t_stop < 1.0
    said = [r.getMessage() for r in caplog.records if r.name == "edge.audio.fifo"]
    assert sum("no reader" in line for line in said) == 1, said
    assert sum("a reader is taking audio" in line for line in said) == 1, said


def _back(audio: np.ndarray) -> bool:
    """Whether ``audio`` has a silent frame followed by 0.1 s of sound."""
    return len(sound(_after_gap(audio))) >= RATE // 10


def _after_gap(audio: np.ndarray) -> np.ndarray:
    """``audio`` from its first silent frame on (the outage) to the end."""
    silent = np.flatnonzero(~audio.any(axis=1))
    return audio[silent[0] :] if len(silent) else audio[:0]
