"""The ledger in the running daemon: what reaches the sink is credited (nothing while paused),
today's summary is published retained over a real broker, Home Assistant gets the top
contributor sensor, and the state says the music is AI-generated and whom it credits."""

from __future__ import annotations

import json
import threading
import time

import pytest

from edge.config import load
from edge.context.control import Command
from edge.daemon import Daemon
from edge.ledger.store import Store
from tests.broker import Mosquitto, Probe, wait_for

DEVICE = "ledger"
BASE = f"edge-music/{DEVICE}"


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path) as running:
        yield running


@pytest.fixture
def speaker(broker, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        '[audio]\nsink = "null"\n'
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "{DEVICE}"\n'
        '[music]\nstyle = "focus"\nseed = 3\n[generator]\ntier = "S"\n[gpio]\nenabled = false\n'
        f'[ledger]\npath = "{tmp_path / "ledger.db"}"\nflush_seconds = 0.2\n'
    )
    daemon = Daemon(load(config, env={}), str(config))
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    assert wait_for(lambda: daemon.mqtt is not None and daemon.mqtt.connected, 15)
    yield daemon, thread
    daemon.request_stop()
    thread.join(15)


def music_ms(path) -> int:
    if not path.exists():
        return 0
    with Store(path, readonly=True) as store:
        return store.music_ms()


def played_ms(daemon) -> float:
    """Music that reached the sink so far (pause silence left out), in ms."""
    stats = daemon.player.stats
    frames = stats.frames_written - stats.silent_blocks * daemon.config.audio.period_frames
    return frames / daemon.config.audio.rate * 1000


def test_the_daemon_credits_what_plays_and_tells_mqtt_and_home_assistant(speaker, broker, tmp_path):
    speaker, thread = speaker
    path = tmp_path / "ledger.db"
    topics = [f"{BASE}/credits", f"{BASE}/state", "homeassistant/#"]
    with Probe(broker.port, subscribe=topics) as client:
        summary = json.loads(client.wait(f"{BASE}/credits", timeout=20).payload)
        assert summary["ai_generated"] is True
        assert summary["top"]["kind"] == "source"
        # The S card's largest share of the training data: every S second credits it most.
        assert summary["top"]["name"] == "oneills1850"
        names = {(e["kind"], e["name"]) for e in summary["contributors"]}
        assert {("style", "focus"), ("source", "bach"), ("source", "airdsAirs")} <= names

        config = json.loads(client.wait("homeassistant/device/ledger/config").payload)
        sensor = config["cmps"][f"edge_music_{DEVICE}_top_contributor"]
        assert sensor["stat_t"] == f"{BASE}/credits" and sensor["p"] == "sensor"
        assert "value_json.top.credit" in sensor["val_tpl"] and summary["top"]["credit"] == "oneills1850"

        state = json.loads(client.wait(f"{BASE}/state", lambda m: json.loads(m.payload)["credits"]).payload)
        assert state["ai_generated"] is True
        assert state["credits"].startswith("AI-generated music by edge-music")

    # Paused: once every second played before the pause is written, the ledger stands still.
    speaker.state.apply(Command("pause", source="test"))
    assert wait_for(lambda: speaker.player.stats.silent_blocks > 0, 10)
    before_pause = played_ms(speaker)
    assert wait_for(lambda: abs(music_ms(path) - before_pause) <= 2, 10)
    time.sleep(1.5)  # more than a control tick and several flushes, all paused
    assert abs(music_ms(path) - before_pause) <= 2
    speaker.state.apply(Command("play", source="test"))
    assert wait_for(lambda: music_ms(path) > before_pause + 100, 10)

    # On stop the last batch is written: the ledger holds every second that reached the sink.
    speaker.request_stop()
    thread.join(15)
    assert not thread.is_alive()
    assert abs(music_ms(path) - played_ms(speaker)) <= 2
