"""Built-in behaviour (pure functions), the automation, the state message and discovery content."""

from __future__ import annotations

import itertools

import pytest

from edge.config import MqttConfig
from edge.context.context import Context
from edge.context.control import Command, LiveState
from edge.mqtt import behaviour as b
from edge.mqtt.automation import Automation
from edge.mqtt.discovery import messages
from edge.mqtt.state import encode, state_payload
from edge.mqtt.topics import Topics
from tests.broker import FakeClock

# -- tempo from the body -------------------------------------------------------------


@pytest.mark.parametrize(("cadence", "bpm"), [(None, None), (20, None), (110, 110), (150, 150), (170, 85)])
def test_cadence_sets_the_beat_or_half_of_it(cadence: float | None, bpm: float | None) -> None:
    assert b.cadence_tempo(cadence) == bpm


def test_exercise_tempo_rises_then_plateaus() -> None:
    rates = range(60, 200, 5)
    tempi = [b.heart_rate_tempo(hr, "workout") for hr in rates]
    assert all(later >= earlier for earlier, later in itertools.pairwise(tempi))
    assert tempi[0] == 100.0
    plateau = [t for hr, t in zip(rates, tempi, strict=True) if b.heart_rate_reserve(hr) >= b.PLATEAU_START]
    assert plateau and all(t == 135.0 for t in plateau)  # inside the 120-140 BPM plateau
    assert all(120 <= b.heart_rate_tempo(hr, "party") <= 140 for hr in (160, 175, 190))


def test_calm_activity_slows_down_when_the_heart_rate_is_high() -> None:
    assert b.heart_rate_tempo(70, "relax") == b.CALM_TEMPI["relax"]
    assert b.heart_rate_tempo(110, "relax") < b.CALM_TEMPI["relax"]
    assert b.heart_rate_tempo(200, "sleep") == pytest.approx(b.CALM_TEMPI["sleep"] * (1 - b.CALM_DROP))


def test_cadence_wins_over_heart_rate() -> None:
    assert b.target_tempo({"cadence": 120, "heart_rate": 170}, "workout") == 120
    assert b.target_tempo({"cadence": None, "heart_rate": 170}, "workout") == 135.0
    assert b.target_tempo({}, "workout") is None


def test_light_and_night_shape_the_energy() -> None:
    assert b.illuminance_energy(1) == b.ENERGY_DIM and b.illuminance_energy(5000) == b.ENERGY_BRIGHT
    assert b.illuminance_energy(50) < b.illuminance_energy(500)
    assert b.target_energy({"illuminance": 5000, "time_of_day": "night"}, 0.5) == 0.3
    assert b.target_energy({"time_of_day": "night"}, 0.8) == 0.3
    assert b.target_energy({"time_of_day": "morning"}, 0.8) is None
    assert b.target_attention({"attention": 0.1}) == 0.1


# -- the automation ------------------------------------------------------------------


def make(vacancy_s: float = 0.0) -> tuple[LiveState, Automation, FakeClock]:
    clock = FakeClock()
    state = LiveState(Context(activity="workout"), ("focus",))
    return state, Automation(state, clock, vacancy_s), clock


def test_heart_rate_drives_tempo_and_hands_it_back_when_stale() -> None:
    state, auto, clock = make()
    auto.feed({"heart_rate": 175.0}, stale_s=20)
    assert state.context.tempo == 135.0
    clock.advance(21)
    auto.tick()
    assert state.context.tempo is None  # back to "auto", as before the sensor took over


def test_a_listener_setting_wins_until_the_sensor_moves() -> None:
    state, auto, _ = make()
    auto.feed({"heart_rate": 175.0})
    state.apply(Command("tempo", 100))
    auto.feed({"heart_rate": 176.0})  # within the dead band: the listener's 100 stays
    assert state.context.tempo == 100
    auto.feed({"heart_rate": 110.0})
    assert state.context.tempo == b.heart_rate_tempo(110.0, "workout")


def test_attention_passes_through_and_decays_back() -> None:
    state, auto, clock = make()
    auto.feed({"attention": 0.2}, stale_s=10)
    assert state.context.attention == 0.2
    clock.advance(500)
    auto.tick()
    assert state.context.attention == 1.0


def test_vacancy_pauses_and_occupancy_resumes_only_what_it_paused() -> None:
    state, auto, clock = make(vacancy_s=600)
    auto.feed({"occupancy": False})
    clock.advance(599)
    auto.tick()
    assert state.snapshot().playing
    clock.advance(2)
    auto.tick()
    assert not state.snapshot().playing
    auto.feed({"occupancy": True})
    assert state.snapshot().playing
    state.apply(Command("pause"))  # the listener pauses: occupancy must not undo that
    auto.feed({"occupancy": False})
    clock.advance(1000)
    auto.feed({"occupancy": True})
    assert not state.snapshot().playing


# -- state and discovery -------------------------------------------------------------


def test_state_payload_has_every_field_and_nulls_for_missing_telemetry() -> None:
    state = LiveState(Context(), ("focus",))
    state.update_telemetry(tempo=float("nan"), key=2, temperature_c=55.5)
    body = state_payload(state.snapshot(), {"heart_rate": None}, 12.4)
    for name in ("playing", "volume", "style", "mood", "activity", "energy", "tempo", "tempo_target", "key",
                 "mode", "section", "tier", "temperature_c", "power_w", "cpu_percent", "underruns",
                 "uptime", "model", "seed"):  # fmt: skip
        assert name in body
    assert body["tempo"] is None and body["key"] == "D" and body["power_w"] is None and body["uptime"] == 12
    encode(body)  # strict JSON: would raise on NaN


def test_discovery_device_and_entity_layouts() -> None:
    topics = Topics.from_config(MqttConfig(device_id="den"))
    ((topic, payload),) = messages(topics, ["focus", "house"], "device")
    assert topic == "homeassistant/device/den/config"
    assert payload["avty_t"] == "edge-music/den/availability" and payload["o"]["name"] == "edge-music"
    platforms = {c["p"] for c in payload["cmps"].values()}
    assert platforms == {"select", "number", "switch", "button", "sensor"}
    ids = [c["uniq_id"] for c in payload["cmps"].values()]
    assert len(ids) == len(set(ids))
    per_entity = messages(topics, ["focus"], "entity")
    assert len(per_entity) == len(payload["cmps"])
    assert all(t.startswith("homeassistant/") and "dev" in p and "p" not in p for t, p in per_entity)
