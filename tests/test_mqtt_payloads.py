"""Payload validation, context inputs and mappings, without a broker."""

from __future__ import annotations

import json
import math

import pytest
from paho.mqtt.client import MQTTMessage

from edge.config import ConfigError, MqttConfig
from edge.context.context import Context
from edge.context.control import Command, CommandError, LiveState
from edge.mqtt import MqttLink
from edge.mqtt.inputs import InputStore, check_input, parse_context
from edge.mqtt.mappings import MISSING, Ema, Mapping, load_mappings
from edge.mqtt.payloads import (
    PayloadError,
    dry_run,
    excerpt,
    loads_strict,
    parse_set,
    parse_set_field,
)
from edge.mqtt.topics import Topics, check_prefix, resolve_device_id
from tests.broker import STYLES, FakeClock

LIMIT = 4096


def names(commands: list[Command]) -> list[tuple[str, object]]:
    return [(c.name, c.value) for c in commands]


# -- strict JSON -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["NaN", "[Infinity]", '{"v": -Infinity}', "1e999", '{"a": 1, "a": 2}'])
def test_loads_strict_rejects_what_json_loads_accepts(text: str) -> None:
    json.loads(text)  # the standard library takes every one of these
    with pytest.raises(PayloadError):
        loads_strict(text)


def test_loads_strict_rejects_deep_nesting() -> None:
    with pytest.raises(PayloadError, match="nested"):
        loads_strict("[" * 100_000)


def test_loads_strict_accepts_ordinary_json() -> None:
    assert loads_strict('{"a": [1, 2.5, "x", null, true]}') == {"a": [1, 2.5, "x", None, True]}


def test_loads_strict_rejects_huge_integers_with_a_clear_error() -> None:
    with pytest.raises(PayloadError, match="invalid JSON"):
        loads_strict("1" * 5000)


def test_excerpt_is_short_and_printable() -> None:
    text = excerpt(b"\xff\x00abc" + b"x" * 500)
    assert len(text) <= 121 and text.isprintable()


# -- /set --------------------------------------------------------------------------


def test_set_json_maps_every_field() -> None:
    payload = json.dumps({"volume": 40, "style": "workout", "state": "OFF", "tier": 0, "tempo": "auto"})
    assert names(parse_set(payload.encode(), LIMIT)) == [
        ("volume", 40), ("style", "workout"), ("pause", None), ("tier", "0"), ("tempo", "auto"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ('{"state": "ON"}', "play"), ('{"state": "toggle"}', "toggle"), ('{"play": false}', "pause"),
        ('{"pause": true}', "pause"), ('{"skip": null}', "skip"), ('{"skip": "PRESS"}', "skip"),
        ("skip", "skip"), ("ON", "play"), ("off", "pause"),
    ],
)  # fmt: skip
def test_set_switch_and_trigger_spellings(payload: str, expected: str) -> None:
    assert [c.name for c in parse_set(payload.encode(), LIMIT)] == [expected]


@pytest.mark.parametrize(
    "payload",
    ['{"volumes": 3}', "[1]", "{}", '"x"', "hello", '{"skip": 5}', '{"state": "MAYBE"}', '{"volume": [1]}',
     '{"style": {"a": 1}}', '{"volume": null}', b"\xff\xfe".decode("latin-1")],
)  # fmt: skip
def test_set_rejects_malformed_messages(payload: str) -> None:
    with pytest.raises(PayloadError):
        parse_set(payload.encode("latin-1"), LIMIT)


def test_set_size_cap() -> None:
    with pytest.raises(PayloadError, match="over the 64-byte limit"):
        parse_set(b'{"volume": 1}' + b" " * 64, 64)


def test_set_field_plain_payloads() -> None:
    assert names(parse_set_field("volume", b" 55 ", LIMIT)) == [("volume", "55")]
    assert names(parse_set_field("mood", b'{"valence": 0.2, "arousal": 0.1}', LIMIT)) == [
        ("mood", {"valence": 0.2, "arousal": 0.1})
    ]
    assert names(parse_set_field("style", b'"house"', LIMIT)) == [("style", "house")]
    assert names(parse_set_field("skip", b"", LIMIT)) == [("skip", None)]
    assert names(parse_set_field("state", b"OFF", LIMIT)) == [("pause", None)]
    with pytest.raises(PayloadError, match="needs a value"):
        parse_set_field("volume", b"", LIMIT)
    with pytest.raises(PayloadError, match="unknown field"):
        parse_set_field("path", b"/etc/passwd", LIMIT)


def test_dry_run_uses_livestate_rules_and_changes_nothing() -> None:
    state = LiveState(Context(), ("focus", "house"))
    before = state.snapshot()
    with pytest.raises(CommandError, match="style"):
        dry_run(state, [Command("volume", 10), Command("style", "nope")])
    dry_run(state, [Command("volume", 10), Command("skip")])
    assert state.snapshot() == before


# -- /context and inputs -------------------------------------------------------------


def test_context_parses_inputs_and_commands() -> None:
    payload = {"mood": "happy", "heart_rate": "128", "occupancy": "ON", "time_of_day": "23:15",
               "illuminance": 250, "weather": "Rainy", "attention": 0.2, "cadence": 170}  # fmt: skip
    commands, values = parse_context(json.dumps(payload).encode(), LIMIT)
    assert names(commands) == [("mood", "happy")]
    assert values == {"heart_rate": 128.0, "occupancy": True, "time_of_day": "night", "illuminance": 250.0,
                      "weather": "rainy", "attention": 0.2, "cadence": 170.0}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value"),
    [("heart_rate", 400), ("heart_rate", True), ("attention", 1.5), ("occupancy", "perhaps"),
     ("time_of_day", "25:00"), ("weather", "x" * 80), ("illuminance", -1), ("nope", 1), ("cadence", "fast")],
)  # fmt: skip
def test_check_input_rejects(name: str, value: object) -> None:
    with pytest.raises(PayloadError):
        check_input(name, value)


def test_stale_input_decays_to_default_then_is_forgotten() -> None:
    clock = FakeClock()
    store = InputStore(clock)
    store.set("attention", 0.2, stale_s=10)
    store.set("heart_rate", 150.0, stale_s=10)
    clock.advance(9)
    assert store.values()["attention"] == 0.2
    clock.advance(11)  # 10 s past staleness: half way back-ish, never a jump
    values = store.values()
    assert values["heart_rate"] is None  # no default to glide to: unknown again
    assert 0.2 < values["attention"] < 1.0
    clock.advance(300)
    assert store.values()["attention"] is None


# -- mappings ----------------------------------------------------------------------


def test_mapping_json_path_and_transforms() -> None:
    lux = Mapping("zigbee2mqtt/+/sensor", "illuminance", path="data.lux[1]")
    assert lux.extract(b'{"data": {"lux": [1, 320]}}', LIMIT) == 320
    assert lux.extract(b'{"data": {}}', LIMIT) is MISSING
    assert lux.extract(b'{"data": {"lux": [1, null]}}', LIMIT) is MISSING
    linear = Mapping("a", "attention", linear=(0, 100, 1.0, 0.0))
    assert linear.transform("25") == pytest.approx(0.75) and linear.transform(1000) == 0.0
    steps = Mapping("b", "activity", thresholds=((0, "relax"), (100, "focus"), (130, "workout")))
    assert [steps.transform(v) for v in (-5, 99, 100, 200)] == ["relax", "relax", "focus", "workout"]
    named = Mapping("c", "occupancy", names=(("ON", True), ("OFF", False)))
    assert named.transform("on") is True
    with pytest.raises(PayloadError):
        named.transform("maybe")


@pytest.mark.parametrize(
    "kwargs",
    [{"topic": "a/#/b"}, {"topic": "a+"}, {"target": "volume"}, {"path": "a..b"},
     {"linear": (1, 1, 0, 1)}, {"thresholds": ((5, "a"), (1, "b"))}, {"target": "mood", "smoothing_s": 3},
     {"smoothing_s": -1}, {"linear": (0, 1, 0, float("nan"))},
     {"linear": (0, 1, 0, 1), "names": (("a", 1),)}],
)  # fmt: skip
def test_mapping_rejects_bad_definitions(kwargs: dict) -> None:
    base = {"topic": "t", "target": "heart_rate"}
    with pytest.raises(ConfigError):
        Mapping(**{**base, **kwargs})


def test_load_mappings_from_toml(tmp_path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        '[[mapping]]\ntopic = "zigbee2mqtt/living"\npath = "illuminance_lux"\ntarget = "illuminance"\n'
        "smoothing_s = 30\n\n"
        '[[mapping]]\ntopic = "home/occupancy"\ntarget = "occupancy"\nmap = { ON = true, OFF = false }\n'
        "stale_s = 0\n"
    )
    lux, occupancy = load_mappings(path)
    assert lux.path == "illuminance_lux" and lux.smoothing_s == 30 and lux.effective_stale_s == 0
    assert occupancy.names == (("ON", True), ("OFF", False))
    path.write_text('[[mapping]]\ntopic = "x"\ntarget = "heart_rate"\nfile = "/etc/passwd"\n')
    with pytest.raises(ConfigError, match="mapping 1: unknown key 'file'"):
        load_mappings(path)
    with pytest.raises(ConfigError, match="file not found"):
        load_mappings(tmp_path / "missing.toml")


def test_ema_is_time_based_and_restarts_after_a_stale_gap() -> None:
    ema = Ema(tau=10, restart_after=60)
    assert ema.update(100, 0) == 100
    assert ema.update(200, 10) == pytest.approx(100 + 100 * (1 - math.exp(-1)))
    assert ema.update(50, 100) == 50


# -- topics ------------------------------------------------------------------------


def test_topics_and_ids() -> None:
    topics = Topics.from_config(MqttConfig(base_topic="home/speakers", device_id="kitchen"))
    assert topics.base == "home/speakers/kitchen"
    assert topics.field_of("home/speakers/kitchen/set/volume") == "volume"
    assert topics.is_own_output("home/speakers/kitchen/state")
    assert resolve_device_id("")  # the host name, made safe
    for bad in ("a/b", "x+", "a b"):
        with pytest.raises(ConfigError):
            resolve_device_id(bad)
    for bad in ("", "a/#", "$SYS", "a//b", "/a"):
        with pytest.raises(ConfigError):
            check_prefix("base_topic", bad)


def test_huge_values_give_short_error_lines(caplog: pytest.LogCaptureFixture) -> None:
    state = LiveState(Context(), STYLES)
    link = MqttLink(MqttConfig(device_id="quiet"), state, STYLES)  # never started: the handler alone
    msg = MQTTMessage(topic=b"edge-music/quiet/set")
    msg.payload = json.dumps({"style": "x" * 60_000}).encode()
    assert link.handle_message(msg) is False and link.rejected == 1
    (record,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(record.getMessage()) < 400 and "\n" not in record.getMessage()
