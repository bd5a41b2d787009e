"""End to end: a real client talks to the running daemon through a real broker; the effect is
observed in the plan (telemetry per bar) and in the audio that reaches ALSA."""

from __future__ import annotations

import itertools
import json
import math
import threading

import numpy as np
import pytest

from edge.config import load
from edge.daemon import Daemon
from edge.mqtt import behaviour
from tests.alsa_env import alsa_env, wait_until  # noqa: F401  (pytest fixture)
from tests.broker import Mosquitto, Probe


@pytest.fixture
def broker(tmp_path):
    with Mosquitto(tmp_path) as running:
        yield running


@pytest.fixture
def daemon(alsa_env, broker, tmp_path):  # noqa: F811
    config = tmp_path / "config.toml"
    config.write_text(
        f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ndevice_id = "e2e"\n'
        '[music]\nstyle = "focus"\nactivity = "workout"\nseed = 5\n[gpio]\nenabled = false\n'
    )
    speaker = Daemon(load(config, env={}), str(config))
    thread = threading.Thread(target=speaker.run, daemon=True)
    thread.start()
    assert wait_until(lambda: speaker.mqtt is not None and speaker.mqtt.connected, 15)
    yield speaker
    speaker.request_stop()
    thread.join(10)


def telemetry(speaker):
    return speaker.state.snapshot().telemetry


def test_heart_rate_drives_tempo_in_three_percent_steps(daemon, broker):
    assert wait_until(lambda: "tempo" in telemetry(daemon), 10)
    start_tempo = telemetry(daemon)["tempo"]
    target = behaviour.heart_rate_tempo(175, "workout")
    seen: list[tuple[int, float]] = []
    daemon.state.subscribe(
        lambda changed: seen.append((telemetry(daemon)["bar"], telemetry(daemon)["tempo"]))
    )
    with Probe(broker.port) as client:
        client.publish("edge-music/e2e/context", json.dumps({"heart_rate": 175}))
        first_bar = telemetry(daemon)["bar"]
        assert wait_until(lambda: abs(telemetry(daemon)["tempo"] - target) < 0.6, 30)
    reached = telemetry(daemon)["bar"]
    # The plan never jumps: at most 3 % per bar, so the stated number of bars to get there is
    # log(ratio)/log(1.03), plus one bar written ahead and one in the render-ahead buffer.
    needed = math.ceil(abs(math.log(target / start_tempo)) / math.log(1.03))
    assert reached - first_bar <= needed + 2
    tempos = [t for _, t in seen]
    steps = [abs(b - a) / a for a, b in itertools.pairwise(tempos) if a != b]
    # Telemetry rounds the tempo to 0.1 BPM, worth up to 0.2 % at these tempi.
    assert steps and max(steps) <= 0.03 + 0.002


def test_pause_fades_out_and_state_says_so(daemon, broker, alsa_env):  # noqa: F811
    with Probe(broker.port, subscribe=["edge-music/e2e/state"]) as client:
        raw = alsa_env.raw_path
        assert wait_until(lambda: raw.exists() and raw.stat().st_size > 400_000, 10)
        client.publish("edge-music/e2e/set", json.dumps({"state": "OFF"}))
        client.wait("edge-music/e2e/state", lambda m: json.loads(m.payload)["playing"] is False, 5)
        size = alsa_env.raw_path.stat().st_size
        assert wait_until(lambda: alsa_env.raw_path.stat().st_size > size + 200_000, 10)
    audio = np.abs(alsa_env.raw().astype(np.float64)).max(axis=1)
    tail = audio[-9600:]
    assert tail.max() == 0  # silence once paused
    loud = np.flatnonzero(audio > 500)
    assert len(loud) > 0
    # The last loud stretch ends in a ramp, not a cliff: the 60 ms before silence decays.
    end = loud[-1]
    before = audio[end - 2880 : end - 1440].max()
    last = audio[end - 480 : end + 1].max()
    assert last < before


def test_style_switch_lands_on_a_bar_and_home_assistant_sees_it(daemon, broker):
    with Probe(broker.port, subscribe=["edge-music/e2e/state", "homeassistant/#"]) as client:
        discovery = client.wait("homeassistant/device/e2e/config", timeout=10)
        components = json.loads(discovery.payload)["cmps"]
        # Home Assistant's abbreviations: p = platform, uniq_id = unique_id, cmd_t = command_topic.
        style = next(c for c in components.values() if c["p"] == "select" and c["uniq_id"].endswith("_style"))
        client.publish(style["cmd_t"], "workout")
        assert wait_until(lambda: telemetry(daemon).get("style_now") == "workout", 15)
        state = client.wait("edge-music/e2e/state", lambda m: json.loads(m.payload)["style"] == "workout", 5)
        fields = json.loads(state.payload)
        for key in ("playing", "volume", "mood", "activity", "energy", "tempo", "section", "tier", "seed"):
            assert key in fields
