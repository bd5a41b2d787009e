"""An installed pack reaches the running daemon on SIGHUP: Home Assistant's style select offers it
(through a real broker), a listener can choose it, and removing it moves the music back to the
configured style. Its author and licence reach the content credentials of a render."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.alsa_env import alsa_env, wait_until  # noqa: F401  (pytest fixture)
from tests.broker import Mosquitto, Probe
from tests.pack_helpers import ROOT, make_pack

DISCOVERY = "homeassistant/device/packs/config"


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path) as running:
        yield running


def edge_music(env, *args):
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT
    )


def style_options(message):
    components = json.loads(message.payload)["cmps"]
    select = next(c for c in components.values() if c["p"] == "select" and c["uniq_id"].endswith("_style"))
    return select["options"], select["cmd_t"]


def test_a_pack_installed_while_playing_reaches_home_assistant_on_sighup(alsa_env, broker, tmp_path):  # noqa: F811
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "packs"\n'
        '[music]\nstyle = "focus"\nseed = 3\n[gpio]\nenabled = false\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(STATE_DIRECTORY=str(tmp_path / "state"), PYTHONPATH=str(ROOT))
    pack = make_pack(tmp_path / "outside")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "edge", "run", "--config", str(config)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with Probe(broker.port, subscribe=["homeassistant/#", "edge-music/packs/state"]) as ha:
            options, command = style_options(ha.wait(DISCOVERY, timeout=30))
            assert "lofi-garden" not in options and "focus" in options

            installed = edge_music(env, "pack", "--config", str(config), "install", str(pack))
            assert installed.returncode == 0, installed.stderr
            ha.clear()
            daemon.send_signal(signal.SIGHUP)
            message = ha.wait(DISCOVERY, lambda m: "lofi-garden" in style_options(m)[0], timeout=20)
            assert set(style_options(message)[0]) >= {"ambient", "focus", "house", "workout", "lofi-garden"}

            ha.publish(command, "lofi-garden")  # what Home Assistant sends when it is picked
            ha.wait("edge-music/packs/state", lambda m: json.loads(m.payload)["style"] == "lofi-garden", 20)

            removed = edge_music(env, "pack", "--config", str(config), "remove", "lofi-garden")
            assert removed.returncode == 0, removed.stderr
            ha.clear()
            daemon.send_signal(signal.SIGHUP)
            ha.wait(DISCOVERY, lambda m: "lofi-garden" not in style_options(m)[0], timeout=20)
            # The pack the music played is gone: the configured style takes over, the music plays on.
            ha.wait("edge-music/packs/state", lambda m: json.loads(m.payload)["style"] == "focus", 20)
            size = alsa_env.raw_path.stat().st_size
            assert wait_until(lambda: alsa_env.raw_path.stat().st_size > size + 100_000, 10)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=15)
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    assert "style packs now: ambient, focus, house, lofi-garden, workout" in err


def test_the_packs_author_and_licence_reach_the_content_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env.update(
        PYTHONPATH=str(ROOT),
        EDGE_MUSIC_MQTT_ENABLED="false",
        EDGE_MUSIC_PACKS_DIR=str(tmp_path / "packs"),
        EDGE_MUSIC_CREDENTIALS_ENABLED="true",
        EDGE_MUSIC_CREDENTIALS_DIR=str(tmp_path / "creds"),
    )
    pack = make_pack(tmp_path / "outside", author="Grace Example", licence="CC-BY-SA-4.0")
    assert edge_music(env, "pack", "install", str(pack)).returncode == 0
    out = tmp_path / "song.wav"
    render = edge_music(
        env, "render", "--quiet", "--seconds", "1", "--seed", "2", "--tier", "0", "--style", "lofi-garden",
        "--out", str(out),
    )  # fmt: skip
    assert render.returncode == 0, render.stderr
    assert "not signed" not in render.stderr
    verify = edge_music(env, "verify", str(out))
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "style: lofi-garden (author Grace Example, licence CC-BY-SA-4.0)" in verify.stdout
