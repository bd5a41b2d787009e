"""The GPIO panel: buttons, a volume encoder, a status LED and a fan. Every pin is optional.

* play button: press toggles play/pause; hold (``gpio.hold_s``) for the next style;
* skip button: press skips to a new phrase;
* mood button: press for the next mood, hold for the next activity;
* version button: press switches a library track between original and reimagined;
* rotary encoder: volume, ``gpio.volume_step`` per detent;
* status LED: an RGB LED (or one PWM LED on ``led_red_pin``): colour = thermal
  state (green: best tier, amber: stepped down, red: at/over target), full
  brightness while playing, dim while paused, blinking while MQTT is down;
* fan: a PWM pin driven by the governor's fan output.

Buttons go to the shared ``LiveState`` as ``Command(..., source="gpio")``,
exactly like MQTT commands. With no GPIO at all (a laptop, a container) the
panel logs ONE line and does nothing; gpiozero's pin-factory fallback warnings
are suppressed. On a Pi 5 only the lgpio pin factory works (``.[pi]`` extra).
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Any

from edge.context.context import ACTIVITIES
from edge.context.control import Command, CommandError, LiveState

log = logging.getLogger(__name__)

TIER_COLOURS: dict[str, tuple[float, float, float]] = {
    "green": (0.0, 1.0, 0.0),
    "amber": (1.0, 0.45, 0.0),
    "red": (1.0, 0.0, 0.0),
}
"""Status colours by name (Decision.colour)."""

MOOD_CYCLE = ("calm", "happy", "energetic", "dreamy", "focused", "melancholic")
"""Moods the mood button steps through."""

PAUSED_BRIGHTNESS = 0.2
"""LED brightness while paused (full while playing)."""
BLINK_S = 0.5
"""On and off time of the 'MQTT disconnected' blink."""


class GpioPanel:
    """Buttons, encoder, LED and fan on GPIO; ``start()`` creates the devices."""

    def __init__(
        self,
        config: Any,
        state: LiveState,
        pin_factory: Any = None,
        *,
        debounce_s: float = 0.05,
    ) -> None:
        self.config = config
        self.state = state
        self.pin_factory = pin_factory
        self.debounce_s = debounce_s
        self.available = False
        self.devices: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._held: set[str] = set()
        self._last_press: dict[str, float] = {}
        self._closed = False
        self._subscribed = False
        self._tier_colour = "green"
        self._playing: bool | None = None
        self._mqtt_connected = True
        self._shown: tuple[Any, ...] | None = None
        self.fan = 0.0

    # -- lifecycle -------------------------------------------------------------

    def _pins(self) -> dict[str, int]:
        names = (
            "play_pin", "skip_pin", "mood_pin", "version_pin", "encoder_a_pin", "encoder_b_pin",
            "led_red_pin", "led_green_pin", "led_blue_pin", "fan_pin",
        )  # fmt: skip
        return {n: getattr(self.config, n) for n in names if getattr(self.config, n, -1) >= 0}

    def start(self) -> bool:
        """Create the configured devices; False (after one log line) when GPIO is unavailable."""
        if not getattr(self.config, "enabled", True):
            return False
        pins = self._pins()
        if not pins:
            log.debug("GPIO: no pins configured")
            return False
        try:
            from gpiozero import GPIOZeroWarning
        except ImportError as exc:
            log.warning("GPIO: gpiozero is not installed (%s); buttons, LED and fan are off", exc)
            return False
        with warnings.catch_warnings():
            # gpiozero warns once per pin factory it fails to load; one line of ours says it all.
            warnings.simplefilter("ignore", GPIOZeroWarning)
            try:
                self._create(pins)
            except Exception as exc:  # BadPinFactory, PinInvalidPin, OSError from the chip, ...
                self._close_devices()
                log.warning("GPIO: not available here (%s); buttons, LED and fan are off", _one_line(exc))
                return False
        self.available = True
        if not self._subscribed:
            self.state.subscribe(self._on_state)
            self._subscribed = True
        self._render()
        log.info("GPIO: %s", ", ".join(sorted(self.devices)))
        return True

    def _create(self, pins: dict[str, int]) -> None:
        from gpiozero import PWMLED, RGBLED, Button, PWMOutputDevice, RotaryEncoder

        cfg = self.config
        pf = self.pin_factory
        hold = float(getattr(cfg, "hold_s", 1.0))
        for name, on_press, on_hold in (
            ("play", self._toggle, self._next_style),
            ("skip", self._skip, None),
            ("version", self._toggle_version, None),
            ("mood", self._next_mood, self._next_activity),
        ):
            pin = pins.get(f"{name}_pin")
            if pin is None:
                continue
            button = Button(pin, pull_up=True, hold_time=hold, pin_factory=pf)
            self.devices[name] = button
            if on_hold is None:
                button.when_pressed = lambda _d=None, n=name, f=on_press: self._pressed(n, f)
            else:
                # The short action fires on release, so a hold does not also toggle.
                button.when_pressed = lambda _d=None, n=name: self._down(n)
                button.when_held = lambda _d=None, n=name, f=on_hold: self._hold(n, f)
                button.when_released = lambda _d=None, n=name, f=on_press: self._up(n, f)
        if "encoder_a_pin" in pins and "encoder_b_pin" in pins:
            encoder = RotaryEncoder(pins["encoder_a_pin"], pins["encoder_b_pin"], max_steps=0, pin_factory=pf)
            encoder.when_rotated_clockwise = lambda _d=None: self._volume(+1)
            encoder.when_rotated_counter_clockwise = lambda _d=None: self._volume(-1)
            self.devices["encoder"] = encoder
        active_high = bool(getattr(cfg, "led_active_high", True))
        rgb = [pins.get(k) for k in ("led_red_pin", "led_green_pin", "led_blue_pin")]
        if all(p is not None for p in rgb):
            self.devices["led"] = RGBLED(*rgb, active_high=active_high, pwm=True, pin_factory=pf)
        elif any(p is not None for p in rgb):
            single = next(p for p in rgb if p is not None)
            self.devices["led"] = PWMLED(single, active_high=active_high, pin_factory=pf)
        if "fan_pin" in pins:
            self.devices["fan"] = PWMOutputDevice(
                pins["fan_pin"], frequency=int(getattr(cfg, "fan_pwm_hz", 100)), pin_factory=pf
            )

    def close(self) -> None:
        """Turn the LED off, stop the fan and release the pins."""
        with self._lock:
            self._closed = True
            self._close_devices()
            self.available = False

    def _close_devices(self) -> None:
        for device in self.devices.values():
            try:
                device.close()
            except Exception:  # closing must never raise during shutdown
                log.debug("GPIO: close failed", exc_info=True)
        self.devices.clear()

    # -- outputs ---------------------------------------------------------------

    def set_fan(self, fraction: float) -> None:
        """Fan speed 0..1 (no-op without a fan pin)."""
        fraction = min(1.0, max(0.0, float(fraction)))
        with self._lock:
            self.fan = fraction
            fan = self.devices.get("fan")
            if fan is not None and not self._closed:
                fan.value = fraction

    def show(
        self,
        tier_colour: str | None = None,
        playing: bool | None = None,
        mqtt_connected: bool | None = None,
    ) -> None:
        """Update the status LED; arguments left None keep their last value (playing: from state)."""
        with self._lock:
            if tier_colour is not None:
                if tier_colour not in TIER_COLOURS:
                    allowed = ", ".join(TIER_COLOURS)
                    raise ValueError(f"tier colour must be one of {allowed}, got {tier_colour!r}")
                self._tier_colour = tier_colour
            if playing is not None:
                self._playing = playing
            if mqtt_connected is not None:
                self._mqtt_connected = mqtt_connected
            self._render()

    def apply(self, decision: Any, mqtt_connected: bool | None = None) -> None:
        """Fan and LED from a governor Decision (call after each ``governor.step()``)."""
        self.set_fan(decision.fan)
        self.show(decision.colour, mqtt_connected=mqtt_connected)

    def _render(self) -> None:
        with self._lock:
            led = self.devices.get("led")
            if led is None or self._closed:
                return
            playing = self._playing if self._playing is not None else self.state.snapshot().playing
            key = (self._tier_colour, playing, self._mqtt_connected)
            if key == self._shown:
                return  # restarting a blink every second would make it stutter
            self._shown = key
            level = 1.0 if playing else PAUSED_BRIGHTNESS
            from gpiozero import RGBLED

            if isinstance(led, RGBLED):
                colour = tuple(c * level for c in TIER_COLOURS[self._tier_colour])
                if self._mqtt_connected:
                    led.color = colour
                else:
                    led.blink(on_time=BLINK_S, off_time=BLINK_S, on_color=colour, background=True)
            elif self._mqtt_connected:
                led.value = level
            else:
                led.blink(on_time=BLINK_S, off_time=BLINK_S, background=True)

    def _on_state(self, changed: set[str]) -> None:
        if "playing" in changed and not self._closed:
            with self._lock:
                self._playing = None  # follow the state
                self._render()

    # -- inputs ----------------------------------------------------------------

    def _debounced(self, name: str) -> bool:
        now = time.monotonic()
        if now - self._last_press.get(name, -1e9) < self.debounce_s:
            return False
        self._last_press[name] = now
        return True

    def _pressed(self, name: str, action: Any) -> None:
        if self._debounced(name):
            action()

    def _down(self, name: str) -> None:
        self._held.discard(name)

    def _hold(self, name: str, action: Any) -> None:
        if name not in self._held:
            self._held.add(name)
            action()

    def _up(self, name: str, action: Any) -> None:
        if name in self._held:
            self._held.discard(name)
            return
        if self._debounced(name):
            action()

    def _apply(self, name: str, value: Any = None) -> None:
        try:
            self.state.apply(Command(name, value, source="gpio"))
        except CommandError as exc:
            log.warning("GPIO: %s rejected: %s", name, exc)

    def _toggle(self) -> None:
        self._apply("toggle")

    def _toggle_version(self) -> None:
        self._apply("version", "toggle")

    def _skip(self) -> None:
        self._apply("skip")

    def _next_style(self) -> None:
        styles = self.state.styles
        if styles:
            current = self.state.context.style
            index = styles.index(current) if current in styles else -1
            self._apply("style", styles[(index + 1) % len(styles)])

    def _next_mood(self) -> None:
        current = self.state.context.mood
        index = MOOD_CYCLE.index(current) if current in MOOD_CYCLE else -1
        self._apply("mood", MOOD_CYCLE[(index + 1) % len(MOOD_CYCLE)])

    def _next_activity(self) -> None:
        current = self.state.context.activity
        index = ACTIVITIES.index(current) if current in ACTIVITIES else -1
        self._apply("activity", ACTIVITIES[(index + 1) % len(ACTIVITIES)])

    def _volume(self, direction: int) -> None:
        step = int(getattr(self.config, "volume_step", 5))
        volume = min(100, max(0, self.state.snapshot().volume + direction * step))
        self._apply("volume", volume)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
