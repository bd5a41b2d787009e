"""GpioPanel with gpiozero's MockFactory: presses change LiveState, the LED and fan follow."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory, MockPWMPin

from edge.config import GpioConfig, ThermalConfig
from edge.context.context import Context
from edge.context.control import Command, LiveState
from edge.hw.gpio import PAUSED_BRIGHTNESS, TIER_COLOURS, GpioPanel
from edge.thermal.governor import Governor, default_operating_points
from edge.thermal.sensors import Sensors

PINS = GpioConfig(
    play_pin=17, skip_pin=27, mood_pin=22, encoder_a_pin=5, encoder_b_pin=6,
    led_red_pin=12, led_green_pin=13, led_blue_pin=19, fan_pin=18, hold_s=0.2,
)  # fmt: skip


@pytest.fixture
def factory():
    Device.pin_factory = MockFactory(pin_class=MockPWMPin)
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = None


@pytest.fixture
def state() -> LiveState:
    return LiveState(Context(), ["focus", "ambient", "house"], volume=50)


@pytest.fixture
def panel(factory, state):
    p = GpioPanel(PINS, state, debounce_s=0.0)
    assert p.start()
    yield p
    p.close()


def press(factory, pin: int, hold_s: float = 0.0) -> None:
    factory.pin(pin).drive_low()  # buttons pull up: pressed = low
    if hold_s:
        time.sleep(hold_s)
    factory.pin(pin).drive_high()


def turn(factory, a: int, b: int, clockwise: bool) -> None:
    """One detent of a quadrature encoder (pins pulled up; active = low)."""
    first, second = (a, b) if clockwise else (b, a)
    factory.pin(first).drive_low()
    factory.pin(second).drive_low()
    factory.pin(first).drive_high()
    factory.pin(second).drive_high()


def wait_for(predicate, timeout: float = 2.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_play_press_toggles_and_hold_picks_next_style(panel, factory, state):
    press(factory, 17)
    assert state.snapshot().playing is False
    press(factory, 17)
    assert state.snapshot().playing is True
    press(factory, 17, hold_s=0.4)  # held past hold_s: next style, no toggle
    assert wait_for(lambda: state.context.style == "ambient")
    assert state.snapshot().playing is True


def test_skip_and_mood_buttons(panel, factory, state):
    skip = state.context.skip
    press(factory, 27)
    assert state.context.skip == skip + 1
    press(factory, 22)
    assert state.context.mood == "happy"  # calm -> happy
    activity = state.context.activity
    press(factory, 22, hold_s=0.4)
    assert wait_for(lambda: state.context.activity != activity)
    assert state.context.mood == "happy"  # a hold does not also step the mood


def test_encoder_changes_volume_within_bounds(panel, factory, state):
    turn(factory, 5, 6, clockwise=True)
    assert state.snapshot().volume == 55
    turn(factory, 5, 6, clockwise=False)
    turn(factory, 5, 6, clockwise=False)
    assert state.snapshot().volume == 45
    for _ in range(30):
        turn(factory, 5, 6, clockwise=True)
    assert state.snapshot().volume == 100


def test_gpio_commands_carry_source_gpio(panel, factory, state, monkeypatch):
    seen = []
    original = state.apply
    monkeypatch.setattr(state, "apply", lambda cmd: seen.append(cmd) or original(cmd))
    press(factory, 27)
    assert seen and seen[0].name == "skip" and seen[0].source == "gpio"


def led_colour(panel) -> tuple[float, float, float]:
    return tuple(round(c, 3) for c in panel.devices["led"].color)


def test_led_colour_follows_tier_and_dims_when_paused(panel, state):
    panel.show("green", mqtt_connected=True)
    assert led_colour(panel) == TIER_COLOURS["green"]
    panel.show("amber")
    assert led_colour(panel) == tuple(round(c, 3) for c in TIER_COLOURS["amber"])
    panel.show("red")
    assert led_colour(panel) == TIER_COLOURS["red"]
    state.apply(Command("pause"))
    assert led_colour(panel) == (PAUSED_BRIGHTNESS, 0.0, 0.0)
    with pytest.raises(ValueError):
        panel.show("purple")


def test_led_blinks_while_mqtt_disconnected(panel):
    panel.show("green", playing=True, mqtt_connected=False)
    seen = set()
    end = time.monotonic() + 1.5
    while time.monotonic() < end and len(seen) < 2:
        seen.add(led_colour(panel)[1] > 0.5)
        time.sleep(0.02)
    assert seen == {True, False}
    panel.show(mqtt_connected=True)
    assert led_colour(panel) == TIER_COLOURS["green"]


def test_single_pwm_led(factory, state):
    cfg = GpioConfig(led_red_pin=12)
    panel = GpioPanel(cfg, state)
    assert panel.start()
    panel.show("amber", playing=False)
    assert panel.devices["led"].value == pytest.approx(PAUSED_BRIGHTNESS)
    panel.show(playing=True)
    assert panel.devices["led"].value == pytest.approx(1.0)
    panel.close()


def test_fan_follows_temperature_through_the_governor(panel, factory, state, tmp_path):
    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("cpu-thermal\n")
    config = ThermalConfig(
        thermal_root=str(tmp_path), hwmon_root=str(tmp_path / "none"), board="pi5", vcgencmd="",
        model_path=str(tmp_path / "model"),
    )  # fmt: skip
    clock = {"t": 0.0}
    sensors = Sensors(config, cpu_percent=lambda: 5.0, use_psutil_temperature=False, clock=lambda: clock["t"])
    governor = Governor(config, default_operating_points(), clock=lambda: clock["t"], sensors=sensors)
    fan_pin = factory.pin(18)
    speeds = []
    for celsius in (40, 52, 62, 70, 77, 66, 40):
        (zone / "temp").write_text(f"{celsius * 1000}\n")
        clock["t"] += 1.0
        decision = governor.step()
        panel.apply(decision, mqtt_connected=True)
        speeds.append(round(fan_pin.state, 2))
    # Pi 5 curve: off, 30 %, 50 %, 70 %, 100 %; down only 5 C below a step; off again when cold.
    assert speeds == [0.0, 0.3, 0.5, 0.7, 1.0, 0.7, 0.0]
    assert 0.0 <= decision.fan <= 1.0


def test_no_gpio_logs_one_line_and_nothing_else(state, caplog, capsys, recwarn, monkeypatch):
    monkeypatch.setattr(Device, "pin_factory", None)
    monkeypatch.delenv("GPIOZERO_PIN_FACTORY", raising=False)
    # Make sure no real factory can load, even on a Pi running this test.
    monkeypatch.setattr(Device, "_default_pin_factory", staticmethod(_no_factory))
    panel = GpioPanel(PINS, state)
    with caplog.at_level(logging.DEBUG, logger="edge.hw.gpio"):
        assert panel.start() is False
    lines = [r for r in caplog.records if r.name == "edge.hw.gpio"]
    assert len(lines) == 1 and "not available" in lines[0].getMessage()
    assert "\n" not in lines[0].getMessage()
    assert not [w for w in recwarn if "gpiozero" in str(w.filename) or "PinFactory" in str(w.category)]
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    panel.set_fan(0.5)  # harmless without devices
    panel.show("red")
    panel.close()


def _no_factory():
    import warnings

    from gpiozero.exc import BadPinFactory, PinFactoryFallback

    warnings.warn(PinFactoryFallback("Falling back from lgpio: No module named 'lgpio'"), stacklevel=2)
    raise BadPinFactory("Unable to load any default pin factory!")


def test_nothing_configured_is_silent(state, caplog):
    panel = GpioPanel(GpioConfig(), state)
    with caplog.at_level(logging.INFO, logger="edge.hw.gpio"):
        assert panel.start() is False
    assert not caplog.records


def test_disabled_panel_does_nothing(state):
    panel = GpioPanel(replace(PINS, enabled=False), state)
    assert panel.start() is False
    panel.close()
