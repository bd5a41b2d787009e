"""Fuzzing every subscribed topic: the link stays alive and rejected messages change nothing.

5000+ generated payloads go through ``MqttLink.handle_message`` (the exact
path paho's on_message takes) as real ``MQTTMessage`` objects; a smaller
batch of known-bad payloads goes through the real broker.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from edge.mqtt import Mapping, MqttLink
from edge.mqtt.inputs import CONTEXT_FIELDS
from edge.mqtt.payloads import SET_FIELDS
from tests.broker import FakeClock, Mosquitto, Probe, Speaker, start_speaker, wait_for

LIMIT = 2048
MAPPINGS = (
    Mapping("sensors/+/hr", "heart_rate", smoothing_s=5),
    Mapping("zigbee2mqtt/room", "illuminance", path="illuminance_lux"),
    Mapping("zigbee2mqtt/room", "occupancy", path="occupancy"),
    Mapping("sensors/mode", "activity", names=(("run", "workout"), ("rest", "relax"))),
)
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run: a CI failure reproduces locally
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.fixture(scope="module")
def speaker(broker: Mosquitto) -> Iterator[Speaker]:
    # A frozen clock and no background ticks: nothing but the message under test changes the state.
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MqttLink, "tick_s", 1e9)
        sp = start_speaker(broker, mappings=MAPPINGS, clock=FakeClock(), max_payload_bytes=LIMIT)
    yield sp
    sp.stop()


def topics(base: str) -> list[str]:
    """Every topic the speaker listens to, plus a few near misses."""
    own = [f"{base}/set", f"{base}/context", f"{base}/set/bogus", f"{base}/set/", "homeassistant/status"]
    own += [f"{base}/set/{field}" for field in SET_FIELDS]
    return [*own, "sensors/a/hr", "zigbee2mqtt/room", "sensors/mode"]


def message(topic: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessage:
    msg = mqtt.MQTTMessage(topic=topic.encode())
    msg.payload = payload
    msg.retain = retain
    return msg


leaves = (
    st.none() | st.booleans() | st.integers(-(10**30), 10**30) | st.floats() | st.text(max_size=12)
    | st.sampled_from(["ON", "OFF", "PRESS", "up", "auto", "calm", "house", "night", "21:30", "1e999"])
)  # fmt: skip
# One level of nesting is enough to hit every type check, and far cheaper to generate than recursion.
json_values = leaves | st.lists(leaves, max_size=3) | st.dictionaries(st.text(max_size=8), leaves, max_size=3)
field_names = st.sampled_from(
    [*SET_FIELDS, *CONTEXT_FIELDS, "illuminance_lux", "valence", "arousal", "file", "", "__proto__"]
)
json_objects = st.dictionaries(field_names, json_values, max_size=5).map(
    lambda d: json.dumps(d, allow_nan=True).encode()  # allow_nan: NaN/Infinity literals must be refused
)
# A valid field next to whatever else: the whole message must still be all or nothing.
mixed = st.tuples(st.sampled_from(['"volume": 33', '"skip": true', '"heart_rate": 120']), json_objects).map(
    lambda pair: b"{" + pair[0].encode() + b"," + pair[1][1:] if pair[1] != b"{}" else pair[1]
)
raw = st.binary(max_size=200) | st.text(max_size=120).map(str.encode)
oversize = st.integers(LIMIT + 1, 3 * LIMIT).map(lambda n: b'{"volume": 1' + b" " * n + b"}")


def check_one(speaker: Speaker, topic: str, payload: bytes, retain: bool = False) -> bool | None:
    """Feed one message; a rejection must leave the state and the inputs exactly as they were."""
    link = speaker.link
    before, inputs = speaker.state.snapshot(), link.automation.inputs()
    outcome = link.handle_message(message(topic, payload, retain))
    if outcome is False:
        assert speaker.state.snapshot() == before, (topic, payload)
        assert link.automation.inputs() == inputs, (topic, payload)
    return outcome


def run_fuzz(speaker: Speaker, payloads: st.SearchStrategy[bytes], examples: int) -> dict:
    counts = {True: 0, False: 0, None: 0}

    @settings(FUZZ, max_examples=examples)
    @given(topic=st.sampled_from(topics(speaker.base)), payload=payloads, retain=st.booleans())
    def fuzz(topic: str, payload: bytes, retain: bool) -> None:
        counts[check_one(speaker, topic, payload, retain)] += 1

    fuzz()
    assert sum(counts.values()) >= examples
    assert speaker.connected  # still alive after all of it
    return counts


def test_fuzz_json_objects(speaker: Speaker) -> None:
    counts = run_fuzz(speaker, json_objects | mixed, 3000)
    assert counts[False] > 2000  # mostly bad, as intended


def test_fuzz_raw_bytes_text_and_oversize(speaker: Speaker) -> None:
    counts = run_fuzz(speaker, raw | oversize, 2000)
    assert counts[False] > 1000


def known_bad(base: str) -> list[tuple[str, bytes]]:
    """Payloads that must all be rejected, one per topic kind and failure kind."""
    rng = random.Random(7)
    cases = [
        (f"{base}/set", b'{"volume": NaN}'), (f"{base}/set", b'{"volume": 33, "style": "polka"}'),
        (f"{base}/set", b"[1, 2]"), (f"{base}/set", b"\xff\xfe\xfd"), (f"{base}/set", b"{" * 3000),
        (f"{base}/set/volume", b"-1"), (f"{base}/set/tempo", b"Infinity"), (f"{base}/set/seed", b"-5"),
        (f"{base}/set/tier", b"XL"), (f"{base}/set/mood", b'{"valence": 2, "arousal": 0}'),
        (f"{base}/set/bogus", b"1"), (f"{base}/context", b'{"heart_rate": 120, "cadence": "many"}'),
        (f"{base}/context", b'{"illuminance": -3}'), ("homeassistant/status", b"maybe"),
        ("sensors/b/hr", b"NaN"), ("zigbee2mqtt/room", b"not json"), ("sensors/mode", b"jump"),
    ]  # fmt: skip
    return [rng.choice(cases) for _ in range(200)]


def test_bad_batch_through_the_real_broker(broker: Mosquitto) -> None:
    # A fresh speaker: the fuzzed one may still be sending thousands of error reports.
    speaker = start_speaker(broker, mappings=MAPPINGS, max_payload_bytes=LIMIT)
    base = speaker.base
    before = speaker.state.snapshot()
    batch = known_bad(base)
    try:
        with Probe(broker.port, [f"{base}/error"]) as probe:
            for topic, payload in batch:
                probe.client.publish(topic, payload, qos=1)
            assert wait_for(lambda: len(probe.received()) >= len(batch), 10), len(probe.received())
            assert speaker.link.rejected == len(batch)
            assert len(probe.received()) == len(batch)  # exactly one error message each
            assert speaker.state.snapshot() == before
            assert speaker.connected
            probe.publish(f"{base}/set/volume", "7")  # and it still obeys a good command
            assert wait_for(lambda: speaker.state.snapshot().volume == 7)
    finally:
        speaker.stop()
