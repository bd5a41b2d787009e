"""MqttLink: the speaker's connection to an MQTT broker.

paho runs the network in its own thread (``connect_async`` + ``loop_start``),
so a broker that is down at boot, restarts or refuses the login never blocks
the caller; audio runs elsewhere. One more thread of ours publishes: state
(debounced on change, and every ``state_interval_s``), availability and
discovery after each (re)connect, and ticks the automation.

Every incoming payload is validated before anything changes; a rejected one
changes nothing, logs one (rate-limited) line and publishes one message on
``<base>/error``. No callback lets an exception escape into paho.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import ConfigError, MqttConfig
from edge.context.control import Command, CommandError, LiveState
from edge.mqtt import discovery
from edge.mqtt.automation import Automation
from edge.mqtt.inputs import COMMAND_INPUTS, check_input, parse_context
from edge.mqtt.mappings import MISSING, Mapping, load_mappings
from edge.mqtt.payloads import (
    SOURCE,
    PayloadError,
    decode_text,
    dry_run,
    excerpt,
    parse_set,
    parse_set_field,
)
from edge.mqtt.state import NOISY, encode, jsonable, state_payload
from edge.mqtt.topics import Topics

log = logging.getLogger("edge.mqtt")

#: CONNACK reasons that mean "wrong credentials" (MQTT 3.1.1 codes 4, 5; MQTT 5 codes 134, 135).
_LOGIN_REFUSED = (4, 5, 134, 135)


class _Throttle:
    """Allows one event per key per interval and counts the rest."""

    def __init__(self, interval_s: float) -> None:
        self._interval = interval_s
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def allow(self, key: str) -> tuple[bool, int]:
        """(may log now, how many were suppressed since the last one)."""
        now = time.monotonic()
        with self._lock:
            if key in self._last and now - self._last[key] < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False, 0
            self._last[key] = now
            return True, self._suppressed.pop(key, 0)

    def reset(self, key: str) -> None:
        """Forget ``key`` so the next event logs at once."""
        with self._lock:
            self._last.pop(key, None)
            self._suppressed.pop(key, None)


class MqttLink:
    """Context in, state out, Home Assistant discovery; see docs/mqtt.md."""

    #: Random delay before re-announcing after Home Assistant's birth message, in seconds.
    birth_delay_s: tuple[float, float] = (0.5, 3.0)
    #: A change is published this long after it happened, with whatever else changed meanwhile.
    debounce_s: float = 0.2
    #: Fast-changing telemetry alone is published at most this often.
    noisy_interval_s: float = 5.0
    #: How often staleness and the vacancy timer are re-evaluated.
    tick_s: float = 1.0

    def __init__(
        self,
        config: MqttConfig,
        state: LiveState,
        styles: Sequence[str],
        mappings: Sequence[Mapping] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Check the config and build the client; connects nothing. Raises ConfigError."""
        self.config = config
        self.topics = Topics.from_config(config)
        self.base = self.topics.base
        self._state = state
        self._styles = tuple(styles)
        self._tracks: tuple[str, ...] = ()
        extra = load_mappings(config.mappings_file) if config.mappings_file else ()
        self._mappings = (*mappings, *extra)
        self._limit = config.max_payload_bytes
        self.automation = Automation(state, clock, config.vacancy_pause_min * 60.0)
        self.rejected = 0
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._flags = threading.Lock()
        self._announce = False
        self._birth_at: float | None = None
        self._dirty_since: float | None = None
        self._noisy = False
        self._last_state_at = float("-inf")
        self._last_state: bytes = b""
        self._credits: bytes | None = None
        self._credits_due = False
        self._started = False
        self._thread: threading.Thread | None = None
        self._throttle = _Throttle(2.0)
        self._slow_throttle = _Throttle(600.0)
        self._client = self._make_client()

    # -- public ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._connected.is_set()

    def set_styles(self, styles: Sequence[str]) -> None:
        """New style choices (packs installed or removed): discovery is published again at once."""
        with self._flags:
            self._styles = tuple(styles)
            self._announce = True
        self._wake.set()

    def set_tracks(self, tracks: Sequence[str]) -> None:
        """New library ids (a rescan): the track select is announced again at once."""
        with self._flags:
            self._tracks = tuple(tracks)
            self._announce = True
        self._wake.set()

    def report_error(self, topic: str, reason: str) -> None:
        """A request accepted at first that failed later (a track that cannot load): one ``/error``."""
        self._reject(topic, b"", reason)

    def start(self) -> None:
        """Connect in the background and return at once; a missing broker is retried (1..30 s).

        A stopped link stays stopped: build a new one to connect again.
        """
        if self._started or not self.config.enabled:
            if not self.config.enabled:
                log.info("MQTT is disabled (mqtt.enabled = false)")
            return
        self._started = True
        self._state.subscribe(self._on_state_change)
        self._thread = threading.Thread(target=self._run, name="edge-mqtt-publisher", daemon=True)
        self._thread.start()
        try:
            self._client.connect_async(self.config.host, self.config.port, keepalive=30)
            self._client.loop_start()
        except Exception as exc:  # a bad host name must not stop the music
            log.error("MQTT cannot start connecting to %s:%s: %s", self.config.host, self.config.port, exc)

    def stop(self) -> None:
        """Publish ``offline``, disconnect and stop both threads."""
        if not self._started:
            return
        self._started = False
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._connected.is_set():
            info = self._client.publish(self.topics.availability, "offline", qos=1, retain=True)
            # If the connection drops meanwhile, the Last Will says offline instead.
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2)
        self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def publish_credits(self, summary: dict[str, Any]) -> None:
        """Publish the ledger's daily summary (retained) as soon as connected; any thread, never blocks."""
        payload = encode(jsonable(summary))
        with self._flags:
            self._credits, self._credits_due = payload, True
        self._wake.set()

    def tick(self) -> None:
        """Re-evaluate input staleness and the vacancy timer now (the publisher does it every second)."""
        self.automation.tick()

    def handle_message(self, msg: mqtt.MQTTMessage) -> bool | None:
        """Validate and act on one message: True accepted, False rejected, None not ours."""
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            return None
        payload = bytes(msg.payload or b"")
        topics = self.topics
        if topics.is_own_output(topic):
            return None  # a broad mapping filter must never feed on what we publish
        try:
            field = topics.field_of(topic)
            if topic == topics.set or field is not None:
                if msg.retain:
                    raise PayloadError("retained commands are ignored; publish commands without retain")
                if field is None:
                    self._apply(parse_set(payload, self._limit))
                else:
                    self._apply(parse_set_field(field, payload, self._limit))
            elif topic == topics.context:
                commands, values = parse_context(payload, self._limit)
                self._apply(commands)
                self.automation.feed(values)
                self._mark(noisy=True)
            elif self.config.discovery and topic == topics.ha_status:
                self._ha_status(payload)
            else:
                matched = [m for m in self._mappings if mqtt.topic_matches_sub(m.topic, topic)]
                if not matched:
                    return None
                return self._mapped(matched, payload)
        except (PayloadError, CommandError) as exc:
            self._reject(topic, payload, str(exc))
            return False
        return True

    # -- incoming ----------------------------------------------------------------

    def _apply(self, commands: list[Command]) -> None:
        """All or nothing: every command is tried on a scratch copy before any is applied."""
        dry_run(self._state, commands)
        for command in commands:
            self._state.apply(command)

    def _mapped(self, matched: list[Mapping], payload: bytes) -> bool | None:
        results: list[tuple[Mapping, Any]] = []
        for mapping in matched:
            raw = mapping.extract(payload, self._limit)
            if raw is MISSING:
                continue  # e.g. a zigbee2mqtt message without this attribute: nothing to do
            value = mapping.transform(raw)
            if mapping.target in COMMAND_INPUTS:
                if not isinstance(value, str):
                    reason = f"{mapping.target} from {mapping.topic} must be text, got {value!r}"
                    raise PayloadError(reason[:200])
                results.append((mapping, value))
            else:
                results.append((mapping, check_input(mapping.target, value)))
        if not results:
            return None
        commands = [(m, Command(m.target, v, SOURCE)) for m, v in results if m.target in COMMAND_INPUTS]
        dry_run(self._state, [c for _, c in commands])
        for mapping, command in commands:
            if self.automation.changed_command(mapping, command.value):
                self._state.apply(command)
        for mapping, value in results:
            if mapping.target in COMMAND_INPUTS:
                continue
            if mapping.numeric:
                value = self.automation.smooth(mapping, value)
            self.automation.feed({mapping.target: value}, mapping.effective_stale_s)
        self._mark(noisy=True)
        return True

    def _ha_status(self, payload: bytes) -> None:
        text = decode_text(payload, self._limit).strip().lower()
        if text == "online":
            with self._flags:
                if self._birth_at is None:  # several births in a row: one announcement
                    self._birth_at = time.monotonic() + random.uniform(*self.birth_delay_s)
            self._wake.set()
        elif text != "offline":
            raise PayloadError(f"expected 'online' or 'offline' on {self.topics.ha_status}")

    def _reject(self, topic: str, payload: bytes, reason: str) -> None:
        self.rejected += 1
        # LiveState's reasons quote the value: keep a 60 KB string from becoming a 60 KB log line.
        reason = reason if len(reason) <= 300 else reason[:300] + "…"
        may_log, suppressed = self._throttle.allow("reject")
        if may_log:
            more = f" ({suppressed} more rejected since the last report)" if suppressed else ""
            log.warning("MQTT: rejected message on %s: %s%s", topic[:200], reason, more)
        if self._connected.is_set():
            report = {"topic": topic[:200], "error": reason, "payload_excerpt": excerpt(payload)}
            self._client.publish(self.topics.error, json.dumps(report), qos=0, retain=False)

    # -- paho callbacks (never raise) ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            if reason.is_failure:
                self._refused(reason)
                return
            self._connected.set()
            self._slow_throttle.reset("unreachable")
            where = f"{self.config.host}:{self.config.port}"
            log.info("MQTT connected to %s; topics under %s", where, self.base)
            # Subscribe here, not once: a restarted broker has forgotten every subscription.
            client.subscribe(self._subscriptions())
            with self._flags:
                self._announce = True
            self._wake.set()
        except Exception:
            log.exception("MQTT: error in on_connect")

    def _refused(self, reason: Any) -> None:
        user = self.config.username
        if getattr(reason, "value", None) in _LOGIN_REFUSED:
            who = f"for user {user!r}" if user else "(no mqtt.username set)"
            message = f"MQTT broker refused login {who}: {reason}"
        else:
            message = f"MQTT broker {self.config.host}:{self.config.port} refused the connection: {reason}"
        if self._slow_throttle.allow(message)[0]:
            log.error("%s", message)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        try:
            was_connected = self._connected.is_set()
            self._connected.clear()
            if was_connected and not self._stopping.is_set():
                log.warning("MQTT connection lost (%s); reconnecting in the background", reason)
        except Exception:
            log.exception("MQTT: error in on_disconnect")

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            if self._slow_throttle.allow("unreachable")[0]:
                log.warning(
                    "MQTT broker %s:%s unreachable; retrying in the background",
                    self.config.host,
                    self.config.port,
                )
        except Exception:
            log.exception("MQTT: error in on_connect_fail")

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            self.handle_message(msg)
        except Exception:  # a bug must cost one message, never the connection
            if self._throttle.allow("crash")[0]:
                log.exception("MQTT: error handling a message on %r", getattr(msg, "topic", "?"))

    # -- outgoing ----------------------------------------------------------------

    def _subscriptions(self) -> list[tuple[str, int]]:
        subs = dict(self.topics.command_subscriptions(self.config.discovery))
        for mapping in self._mappings:
            subs.setdefault(mapping.topic, 0)
        return list(subs.items())

    def _on_state_change(self, changed: set[str]) -> None:
        """LiveState listener; runs in whichever thread changed it, so it only sets flags."""
        self._mark(noisy=changed <= NOISY)

    def _mark(self, noisy: bool) -> None:
        with self._flags:
            if noisy:
                self._noisy = True
            elif self._dirty_since is None:
                self._dirty_since = time.monotonic()
        self._wake.set()

    def _run(self) -> None:
        next_tick = time.monotonic()
        while not self._stopping.is_set():
            now = time.monotonic()
            try:
                if now >= next_tick:
                    next_tick = now + self.tick_s
                    self.automation.tick()
                if self._connected.is_set():
                    self._service(now)
            except Exception:
                if self._throttle.allow("publisher")[0]:
                    log.exception("MQTT: error in the publisher")
            due = min(next_tick, self._next_due()) if self._connected.is_set() else next_tick
            self._wake.wait(max(0.01, due - time.monotonic()))
            self._wake.clear()

    def _next_due(self) -> float:
        with self._flags:
            due = [self._last_state_at + self.config.state_interval_s]
            if self._announce:
                due.append(0.0)
            if self._birth_at is not None:
                due.append(self._birth_at)
            if self._credits_due:
                due.append(0.0)
            if self._dirty_since is not None:
                due.append(self._dirty_since + self.debounce_s)
            if self._noisy:
                due.append(self._last_state_at + self.noisy_interval_s)
        return min(due)

    def _service(self, now: float) -> None:
        with self._flags:
            announce, self._announce = self._announce, False
            birth = self._birth_at is not None and now >= self._birth_at
            if birth:
                self._birth_at = None
            dirty = self._dirty_since is not None and now - self._dirty_since >= self.debounce_s
            noisy = self._noisy and now - self._last_state_at >= self.noisy_interval_s
            credits = self._credits if self._credits_due or announce or birth else None
            self._credits_due = False
        periodic = now - self._last_state_at >= self.config.state_interval_s
        if announce or birth:
            self._publish(self.topics.availability, b"online")
            if self.config.discovery:
                mode = self.config.discovery_mode
                for topic, payload in discovery.messages(self.topics, self._styles, mode, self._tracks):
                    self._publish(topic, json.dumps(payload).encode())
        if announce or birth or dirty or noisy or periodic:
            self._publish_state(force=announce or birth or periodic)
        if credits is not None:
            self._publish(self.topics.credits, credits)

    def _publish_state(self, force: bool) -> None:
        with self._flags:
            self._dirty_since = None
            self._noisy = False
        snap = self._state.snapshot()
        body = state_payload(snap, self.automation.inputs(), time.monotonic() - self._state.started)
        uptime = body.pop("uptime")
        unchanged = encode(body) == self._last_state
        self._last_state = encode(body)
        self._last_state_at = time.monotonic()
        if unchanged and not force:
            return  # telemetry that did not really move: nothing new to tell
        self._publish(self.topics.state, encode({**body, "uptime": uptime}))

    def _publish(self, topic: str, payload: bytes) -> None:
        self._client.publish(topic, payload, qos=1, retain=True)

    def _make_client(self) -> mqtt.Client:
        config = self.config
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"edge-music-{self.topics.device_id}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        client.reconnect_delay_set(1, 30)
        client.will_set(self.topics.availability, "offline", qos=1, retain=True)
        if config.username:
            client.username_pw_set(config.username, config.password or None)
        elif config.password:
            raise ConfigError("mqtt.password is set but mqtt.username is empty")
        if bool(config.tls_cert) != bool(config.tls_key):
            raise ConfigError("mqtt.tls_cert and mqtt.tls_key go together: set both or neither")
        if config.tls_ca:
            try:
                client.tls_set(ca_certs=config.tls_ca, certfile=config.tls_cert or None,
                               keyfile=config.tls_key or None)  # fmt: skip
            except (OSError, ValueError) as exc:
                raise ConfigError(f"mqtt TLS files cannot be loaded: {exc}") from None
        elif config.tls_cert:
            raise ConfigError("mqtt.tls_cert needs mqtt.tls_ca (setting the CA turns TLS on)")
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        return client
