"""The daemon as systemd runs it: sd_notify, watchdog pings, SIGHUP, SIGTERM, a late sound card."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.alsa_env import alsa_env, wait_until  # noqa: F401  (pytest fixture)

QUIET = {"EDGE_MUSIC_MQTT_ENABLED": "false", "EDGE_MUSIC_GPIO_ENABLED": "false"}


class NotifySocket:
    """A datagram socket standing in for systemd's notify socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.setblocking(False)
        self.messages: list[str] = []

    def poll(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def has(self, text):
        return any(text in m for m in self.poll())


def start(tmp_path, config_text="", **env):
    config = tmp_path / "config.toml"
    config.write_text(config_text)
    full = {**os.environ, **QUIET, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=tmp_path, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    return process, config


def test_ready_status_watchdog_reload_and_stop(alsa_env, tmp_path):  # noqa: F811
    notify = NotifySocket(tmp_path / "notify")
    daemon, config = start(
        tmp_path, '[music]\nstyle = "focus"\n', NOTIFY_SOCKET=str(tmp_path / "notify"), WATCHDOG_USEC="400000"
    )
    try:
        assert wait_until(lambda: notify.has("READY=1"), 20)
        assert wait_until(lambda: notify.has("STATUS=") and notify.has("focus"), 10)
        pings = sum(m.count("WATCHDOG=1") for m in notify.poll())
        assert wait_until(lambda: sum(m.count("WATCHDOG=1") for m in notify.poll()) >= pings + 3, 10)
        # An invalid config on SIGHUP is refused and the old one kept; the music plays on.
        config.write_text("[music]\nstyle = 42\n")
        daemon.send_signal(signal.SIGHUP)
        assert wait_until(lambda: notify.has("RELOADING=1"), 10)
        size = alsa_env.raw_path.stat().st_size
        assert wait_until(lambda: alsa_env.raw_path.stat().st_size > size + 100_000, 10)
        # A valid one is applied.
        config.write_text('[music]\nstyle = "workout"\n')
        daemon.send_signal(signal.SIGHUP)
        assert wait_until(lambda: sum(m.count("RELOADING=1") for m in notify.poll()) >= 2, 10)
        assert wait_until(lambda: notify.has("workout"), 15)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert notify.has("STOPPING=1")
    assert "reload refused" in err and "music.style" in err
    assert "Traceback" not in err


def test_waits_for_a_missing_sound_card_then_plays(alsa_env, tmp_path):  # noqa: F811
    daemon, _ = start(tmp_path, '[audio]\ndevice = "later"\nfallback_to_wav = false\n')
    try:
        time.sleep(2.0)
        assert not alsa_env.raw_path.exists() or alsa_env.raw_path.stat().st_size == 0
        alsa_env.define("later", 'type plug slave.pcm "rawfile"')
        raw = alsa_env.raw_path
        assert wait_until(lambda: raw.exists() and raw.stat().st_size > 200_000, 15)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "later" in err  # the log names the device it waits for
    audio = alsa_env.raw().astype(np.float64)
    assert np.abs(audio).max() > 1000


def test_a_corrupt_model_is_disabled_and_the_next_tier_plays(alsa_env, tmp_path):  # noqa: F811
    shipped = Path(__file__).resolve().parent.parent / "models"
    manifest = shipped / "manifest.json"
    if not manifest.exists() or '"L"' not in manifest.read_text():
        pytest.skip("no shipped models")
    models = tmp_path / "models"
    shutil.copytree(shipped, models)
    damaged = bytearray((models / "edge-L.onnx").read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte: the sha256 no longer matches
    (models / "edge-L.onnx").write_bytes(bytes(damaged))
    daemon, _ = start(tmp_path, f'[generator]\nmodels_dir = "{models}"\n')
    try:
        raw = alsa_env.raw_path
        assert wait_until(lambda: raw.exists() and raw.stat().st_size > 400_000, 20)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "model tier L disabled" in err and "sha256" in err
    assert "generator tier S from bar 0" in err  # the small tier is loaded before the first audio
    assert "Traceback" not in err
    assert np.abs(alsa_env.raw().astype(np.float64)).max() > 1000


def test_the_governor_follows_the_measured_quality_ladder(tmp_path):
    """With quality.json saying M sounds closest to real music, the daemon never plans to climb to L."""
    import json

    from edge.config import load
    from edge.daemon import Daemon

    shipped = Path(__file__).resolve().parent.parent / "models"
    if '"L"' not in (shipped / "manifest.json").read_text():
        pytest.skip("no shipped models")
    models = tmp_path / "models"
    shutil.copytree(shipped, models)
    (models / "quality.json").write_text(json.dumps({"closeness": {"L": 0.7, "M": 0.8, "S": 0.6, "0": 0.5}}))
    config = tmp_path / "config.toml"
    config.write_text(f'[generator]\nmodels_dir = "{models}"\n[gpio]\nenabled = false\n')
    daemon = Daemon(load(config, env={}), str(config))
    best = daemon.governor.points[0]
    assert (best.tier, best.synth_level) == ("M", 2)
    assert [p.tier for p in daemon.governor.points if p.synth_level == 2] == ["M", "L", "S", "0"]
