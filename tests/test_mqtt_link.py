"""MqttLink against a real mosquitto: commands, errors, context, mappings, state and discovery."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterator

import pytest

from edge.context.control import Command
from edge.mqtt import Mapping
from edge.mqtt import behaviour as b
from tests.broker import FakeClock, Mosquitto, Probe, Speaker, free_port, start_speaker, wait_for


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with Mosquitto(tmp_path_factory.mktemp("mqtt")) as running:
        yield running


@pytest.fixture
def speaker(broker: Mosquitto) -> Iterator[Speaker]:
    sp = start_speaker(broker)
    yield sp
    sp.stop()


def loads(msg) -> dict:
    return json.loads(msg.payload)


# -- commands ------------------------------------------------------------------------


def test_set_json_and_set_field_change_the_live_state(broker: Mosquitto, speaker: Speaker) -> None:
    base, state = speaker.base, speaker.state
    with Probe(broker.port) as probe:
        probe.publish(f"{base}/set", json.dumps({"volume": 40, "style": "workout", "mood": "happy"}))
        assert wait_for(lambda: state.snapshot().volume == 40)
        snap = state.snapshot()
        assert (snap.context.style, snap.context.mood) == ("workout", "happy")
        probe.publish(f"{base}/set/volume", "55")
        probe.publish(f"{base}/set/state", "OFF")
        probe.publish(f"{base}/set/mood", '{"valence": -0.3, "arousal": 0.4}')
        probe.publish(f"{base}/set/tempo", "128")
        probe.publish(f"{base}/set/tier", "S")
        probe.publish(f"{base}/set/skip", "PRESS")
        assert wait_for(lambda: state.snapshot().context.skip == 1)
        snap = state.snapshot()
        assert (snap.volume, snap.playing, snap.tier, snap.context.tempo) == (55, False, "S", 128.0)
        assert (snap.context.mood, snap.context.valence, snap.context.arousal) == ("custom", -0.3, 0.4)
        probe.publish(f"{base}/set", '{"state": "TOGGLE", "section": "drop", "intensity": "up"}')
        assert wait_for(lambda: state.snapshot().playing)
        assert state.snapshot().context.section == "peak"


def test_bad_commands_change_nothing_and_report_one_error_each(broker: Mosquitto, speaker: Speaker) -> None:
    base, state = speaker.base, speaker.state
    before = state.snapshot()
    bad = [
        (f"{base}/set", '{"volume": 40, "style": "disco"}'),  # all or nothing: volume must not change
        (f"{base}/set", '{"volume": NaN}'),
        (f"{base}/set", '{"energy": 1e999}'),
        (f"{base}/set", '{"volume": 40, "file": "/etc/passwd"}'),
        (f"{base}/set", "x" * 70_000),
        (f"{base}/set/volume", "140"),
        (f"{base}/set/nope", "1"),
        (f"{base}/context", '{"heart_rate": 900}'),
        (f"{base}/context", '{"mood": "calm", "activity": "juggling"}'),
    ]
    with Probe(broker.port, [f"{base}/error"]) as probe:
        for topic, payload in bad:
            probe.publish(topic, payload)
        assert wait_for(lambda: len(probe.received()) >= len(bad))
        time.sleep(0.2)
        errors = [loads(m) for m in probe.received()]
    assert len(errors) == len(bad)
    assert state.snapshot() == before
    assert [e["topic"] for e in errors] == [t for t, _ in bad]
    assert "disco" in errors[0]["error"] and "NaN" in errors[1]["error"]
    assert "unknown field 'file'" in errors[3]["error"] and "limit" in errors[4]["error"]
    assert errors[5]["payload_excerpt"] == "140" and len(errors[4]["payload_excerpt"]) <= 121
    assert all(not m.retain for m in probe.received())
    assert speaker.link.rejected == len(bad)


def test_retained_command_is_not_replayed(broker: Mosquitto) -> None:
    with Probe(broker.port) as probe:
        device = f"r{time.monotonic_ns()}"
        probe.publish(f"edge-music/{device}/set/skip", "PRESS", retain=True)
        sp = start_speaker(broker, device_id=device)
        try:
            time.sleep(0.3)
            assert sp.state.snapshot().context.skip == 0  # a stale retained command must not act
        finally:
            sp.stop()
            probe.publish(f"edge-music/{device}/set/skip", "", retain=True)


def test_context_topic(broker: Mosquitto, speaker: Speaker) -> None:
    with Probe(broker.port) as probe:
        payload = {"activity": "workout", "mood": "energetic", "heart_rate": 175, "attention": 0.3,
                   "time_of_day": "night", "weather": "rainy"}  # fmt: skip
        probe.publish(f"{speaker.base}/context", json.dumps(payload))
        assert wait_for(lambda: speaker.state.context.attention == 0.3)
    ctx = speaker.state.context
    assert (ctx.activity, ctx.mood, ctx.tempo, ctx.energy) == ("workout", "energetic", 135.0, 0.3)
    assert speaker.link.automation.inputs()["weather"] == "rainy"


def test_mapping_with_smoothing_and_staleness(broker: Mosquitto) -> None:
    clock = FakeClock()
    mappings = [
        Mapping("fitness/+/hr", "heart_rate", smoothing_s=5, stale_s=20),  # plain payload such as "128"
        Mapping("zigbee2mqtt/living", "illuminance", path="illuminance_lux"),
    ]
    sp = start_speaker(broker, mappings=mappings, clock=clock)
    sp.state.apply(Command("activity", "workout"))
    inputs = sp.link.automation.inputs
    try:
        with Probe(broker.port, [f"{sp.base}/error"]) as probe:
            probe.publish("fitness/alice/hr", "100")
            assert wait_for(lambda: inputs()["heart_rate"] == 100)
            clock.advance(5)
            probe.publish("fitness/alice/hr", "160")
            smoothed = 100 + 60 * (1 - math.exp(-1))
            assert wait_for(lambda: inputs()["heart_rate"] == pytest.approx(smoothed, abs=1e-3))
            assert sp.state.context.tempo == b.heart_rate_tempo(round(smoothed, 4), "workout")
            probe.publish("zigbee2mqtt/living", '{"illuminance_lux": 1000, "battery": 90}')
            assert wait_for(lambda: sp.state.context.energy == b.ENERGY_BRIGHT)
            probe.publish("zigbee2mqtt/living", '{"battery": 90}')  # attribute missing: ignored, no error
            probe.publish("fitness/alice/hr", "fast")  # rejected with an error
            probe.wait(f"{sp.base}/error", lambda m: "heart_rate" in loads(m)["error"])
            assert len(probe.received()) == 1
            clock.advance(21)  # stale: the heart rate no longer drives the tempo
            sp.link.tick()
            assert inputs()["heart_rate"] is None and sp.state.context.tempo is None
    finally:
        sp.stop()


# -- state, availability, Home Assistant ---------------------------------------------


def test_state_and_availability_are_retained_and_offline_on_stop(broker: Mosquitto) -> None:
    sp = start_speaker(broker, state_interval_s=3600.0)  # the periodic state is an hour away
    sp.state.update_telemetry(temperature_c=61.5, tier="S", tempo=92.0)
    with Probe(broker.port, [f"{sp.base}/state", f"{sp.base}/availability"]) as probe:
        avail = probe.wait(f"{sp.base}/availability")
        assert avail.payload == b"online" and avail.retain
        state = probe.wait(f"{sp.base}/state", lambda m: loads(m)["temperature_c"] == 61.5, timeout=8)
        body = loads(state)
        assert body["tier"] == "S" and body["volume"] == 70 and body["power_w"] is None
        probe.clear()
        sp.state.apply(Command("volume", 12))
        # Within the wait's 5 s, so published on the change (debounced), not by the hourly one.
        probe.wait(f"{sp.base}/state", lambda m: loads(m)["volume"] == 12, timeout=5.0)
        sp.stop()
        probe.wait(f"{sp.base}/availability", lambda m: m.payload == b"offline")
    with Probe(broker.port, [f"{sp.base}/availability"]) as late:
        assert late.wait(f"{sp.base}/availability").payload == b"offline"  # retained


def test_last_will_then_online_again_after_a_dropped_connection(broker: Mosquitto, speaker: Speaker) -> None:
    topic = f"{speaker.base}/availability"
    with Probe(broker.port, [topic]) as probe:
        probe.wait(topic, lambda m: m.payload == b"online")
        probe.clear()
        speaker.link._client.socket().close()  # an unclean drop: the broker publishes the Last Will
        probe.wait(topic, lambda m: m.payload == b"offline", timeout=10)
        probe.wait(topic, lambda m: m.payload == b"online", timeout=10)


def test_home_assistant_reads_discovery_and_command_topics_work(broker: Mosquitto, speaker: Speaker) -> None:
    device = speaker.base.rsplit("/", 1)[1]
    config_topic = f"homeassistant/device/{device}/config"
    with Probe(broker.port, [config_topic, f"{speaker.base}/state"]) as ha:
        config = loads(ha.wait(config_topic))
        # A subscriber arriving after the announcement gets it too: it is retained. (The first
        # probe may have subscribed before the announcement and then sees it live, unflagged.)
        with Probe(broker.port, [config_topic]) as late:
            assert late.wait(config_topic).retain
        state_body = loads(ha.wait(f"{speaker.base}/state"))
        assert config["avty_t"] == f"{speaker.base}/availability"
        assert config["dev"]["ids"] == [f"edge_music_{device}"]
        comps = config["cmps"]
        by_name = {c["name"]: c for c in comps.values()}
        assert {"Style", "Mood", "Activity", "Volume", "Energy", "Tempo", "Play", "Skip", "Build", "Drop",
                "SoC temperature", "Model tier", "Tier in use", "Modelled power", "CPU", "Tempo now",
                "Audio underruns"} <= set(by_name)  # fmt: skip
        for cid, comp in comps.items():
            assert cid == comp["uniq_id"] and cid.startswith(f"edge_music_{device}_")
        for comp in comps.values():  # every template reads a field the state really has
            if comp.get("stat_t") != f"{speaker.base}/state":
                continue  # the ledger's sensor reads <base>/credits (tests/test_ledger_daemon.py)
            for field in re.findall(r"value_json\.(\w+)", comp.get("val_tpl", "")):
                assert field in state_body, (comp["name"], field)
            if comp["p"] != "button":
                assert comp["stat_t"] == f"{speaker.base}/state"
        assert by_name["Style"]["options"] == ["focus", "ambient", "house", "workout"]

        state = speaker.state
        ha.publish(by_name["Style"]["cmd_t"], "house")
        ha.publish(by_name["Volume"]["cmd_t"], "33")
        ha.publish(by_name["Energy"]["cmd_t"], "0.85")
        ha.publish(by_name["Play"]["cmd_t"], by_name["Play"]["pl_off"])
        ha.publish(by_name["Build"]["cmd_t"], by_name["Build"]["pl_prs"])
        ha.publish(by_name["Skip"]["cmd_t"], by_name["Skip"]["pl_prs"])
        ha.publish(by_name["Model tier"]["cmd_t"], "0")
        assert wait_for(lambda: state.snapshot().tier == "0")
        snap = state.snapshot()
        assert (snap.context.style, snap.volume, snap.context.energy) == ("house", 33, 0.85)
        assert not snap.playing
        assert snap.context.section == "build" and snap.context.skip == 2
        body = loads(ha.wait(f"{speaker.base}/state", lambda m: loads(m)["tier_request"] == "0"))
        assert body["state"] == "OFF" and body["style"] == "house"


def test_home_assistant_birth_triggers_a_new_announcement(broker: Mosquitto, speaker: Speaker) -> None:
    speaker.link.birth_delay_s = (0.05, 0.1)
    device = speaker.base.rsplit("/", 1)[1]
    config_topic = f"homeassistant/device/{device}/config"
    with Probe(broker.port, [config_topic, f"{speaker.base}/state"]) as ha:
        ha.wait(config_topic)
        ha.wait(f"{speaker.base}/state")
        ha.clear()
        ha.publish("homeassistant/status", "online")
        assert not ha.wait(config_topic).retain  # a live re-announcement, not the stored copy
        ha.wait(f"{speaker.base}/state")


def test_entity_discovery_and_discovery_off(broker: Mosquitto) -> None:
    per_entity = start_speaker(broker, discovery_mode="entity")
    silent = start_speaker(broker, discovery=False)
    try:
        pid, sid = (s.base.rsplit("/", 1)[1] for s in (per_entity, silent))
        with Probe(broker.port, [f"homeassistant/+/{pid}/+/config", f"homeassistant/+/{sid}/#"]) as ha:
            volume = loads(ha.wait(f"homeassistant/number/{pid}/edge_music_{pid}_volume/config"))
            assert volume["dev"]["ids"] == [f"edge_music_{pid}"]
            assert volume["avty_t"] == f"{per_entity.base}/availability"
            time.sleep(0.3)
            assert not [m for m in ha.received() if f"/{sid}/" in m.topic]
    finally:
        per_entity.stop()
        silent.stop()


# -- a broker that is not there ------------------------------------------------------


def test_broker_down_at_boot_never_blocks_and_connects_later(tmp_path, monkeypatch) -> None:
    """start() returns at once with no broker: it leaves every connection attempt to the link's own
    threads (judged by who connects, not by a stopwatch), and the link connects once the broker is up."""
    import socket
    import threading

    callers: list[threading.Thread] = []
    connect = socket.create_connection

    def spy(*args, **kwargs):
        callers.append(threading.current_thread())
        return connect(*args, **kwargs)

    port = free_port()
    late = Mosquitto(tmp_path, port=port)
    monkeypatch.setattr(socket, "create_connection", spy)
    sp = start_speaker(late, wait=False)
    try:
        assert not sp.connected
        assert wait_for(lambda: callers, 5)  # the link tries (and fails: no broker yet)...
        assert threading.current_thread() not in callers  # ...but never on the caller's thread
        monkeypatch.undo()
        late.start()
        assert wait_for(lambda: sp.connected, 10)
        with Probe(port) as probe:
            probe.publish(f"{sp.base}/set/volume", "21")
            assert wait_for(lambda: sp.state.snapshot().volume == 21)
    finally:
        sp.stop()
        late.stop()
    assert not sp.link._thread.is_alive()  # stop() joined the publisher rather than giving up on it
