"""Broker crashes: mosquitto is killed and restarted (same port) ten times.

After every restart the speaker must re-subscribe (a command works) and
re-publish availability and state (the broker kept no retained messages).
The test talks to the speaker only through ``state``, ``base``, ``connected``
and ``stop``, so the running daemon can stand in for ``start_speaker`` later
(and then also check the audio for underruns).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.broker import Mosquitto, Probe, Speaker, start_speaker, wait_for

RESTARTS = 10


@pytest.fixture
def broker(tmp_path) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path) as running:
        yield running


@pytest.fixture
def speaker(broker: Mosquitto) -> Iterator[Speaker]:
    sp = start_speaker(broker)
    yield sp
    sp.stop()


def test_survives_ten_broker_restarts(broker: Mosquitto, speaker: Speaker) -> None:
    base = speaker.base
    for round_ in range(1, RESTARTS + 1):
        broker.restart(kill=True)
        assert wait_for(lambda: speaker.connected, 15), f"no reconnect after restart {round_}"
        volume = 10 + round_
        with Probe(broker.port, [f"{base}/availability", f"{base}/state"]) as probe:
            # Retained copies can only exist if the speaker published them again after this restart.
            assert probe.wait(f"{base}/availability", timeout=5).payload == b"online"
            probe.wait(f"{base}/state", timeout=5)
            # Subscriptions were restored: a command sent now is obeyed (retry while on_connect
            # may still be subscribing; qos 1 on both sides).
            deadline = time.monotonic() + 5
            while speaker.state.snapshot().volume != volume and time.monotonic() < deadline:
                probe.publish(f"{base}/set/volume", str(volume))
                wait_for(lambda v=volume: speaker.state.snapshot().volume == v, 0.5)
            assert speaker.state.snapshot().volume == volume, f"command lost after restart {round_}"
            probe.wait(f"{base}/state", lambda m, v=volume: json.loads(m.payload)["volume"] == v)
    assert broker.starts == RESTARTS + 1
