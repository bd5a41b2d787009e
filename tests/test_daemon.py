"""`edge-music run` as a user starts it: real ALSA (private file-plugin config), signals, fallback."""

import os
import signal
import subprocess
import sys
import time
import wave

import numpy as np

from tests.alsa_env import alsa_env, wait_until  # noqa: F401  (pytest fixture)

QUIET = {"EDGE_MUSIC_MQTT_ENABLED": "false", "EDGE_MUSIC_GPIO_ENABLED": "false", "EDGE_MUSIC_MUSIC_SEED": "7"}


def start(cwd, **env):
    full = {**os.environ, **QUIET, **env}
    return subprocess.Popen(
        [sys.executable, "-m", "edge", "run"], cwd=cwd, env=full, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_plays_to_the_default_device_and_ctrl_c_fades_out(alsa_env, tmp_path):  # noqa: F811
    daemon = start(tmp_path)
    assert wait_until(lambda: alsa_env.raw_path.exists() and alsa_env.raw_path.stat().st_size > 400_000, 20)
    daemon.send_signal(signal.SIGINT)
    _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    audio = alsa_env.raw().astype(np.float64) / 32768
    assert len(audio) > 48000
    assert np.sqrt(np.mean(audio**2)) > 0.01
    assert np.abs(audio).max() < 1.0
    # Ctrl-C fades out: the very last frames are near silence, the moments before were not.
    assert np.abs(audio[-200:]).max() < 0.02
    assert np.abs(audio[:-4800]).max() > 0.1


def test_no_playback_device_writes_a_wav_here_and_says_so_once(tmp_path):
    env = {"ALSA_CONFIG_PATH": "/usr/share/alsa/alsa.conf", "HOME": str(tmp_path)}
    daemon = start(tmp_path, **env)
    assert wait_until(lambda: any(tmp_path.glob("edge-music-*.wav")), 20)
    time.sleep(1.5)
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    lines = [line for line in err.splitlines() if "no playback device" in line]
    assert len(lines) == 1
    (path,) = tmp_path.glob("edge-music-*.wav")
    assert str(path) in lines[0]
    assert "cannot find card" not in err  # alsa-lib's own chatter is kept off the terminal
    with wave.open(str(path)) as wav:
        assert wav.getframerate() == 48000 and wav.getnchannels() == 2
        frames = wav.getnframes()
        data = np.frombuffer(wav.readframes(frames), dtype="<i2")
    assert frames > 48000 // 2  # paced in real time: about as long as it ran
    assert np.abs(data).max() > 1000


def test_invalid_config_at_start_exits_2_naming_key_and_file(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("[music]\nstyle = 3\n")
    result = subprocess.run(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "music.style" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr
