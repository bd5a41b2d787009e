"""Topic names for one speaker, and the checks that keep them valid MQTT topics.

Everything lives under ``<base_topic>/<device_id>``; the names here are the
only place topics are spelled, so the client, discovery and the docs agree.
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

from edge.config import ConfigError, MqttConfig

#: A device id must also be a valid Home Assistant discovery node id.
_DEVICE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def resolve_device_id(configured: str) -> str:
    """The configured id, or this host's name made topic- and discovery-safe."""
    text = configured.strip()
    if text:
        if not _DEVICE_ID.match(text):
            raise ConfigError(
                f"mqtt.device_id {configured!r} may only hold letters, digits, '_' and '-' (at most 64)"
            )
        return text
    host = socket.gethostname().split(".")[0]
    return _UNSAFE.sub("_", host).strip("_")[:64] or "edge-music"


def check_prefix(name: str, value: str) -> str:
    """Return ``value`` if it is usable as the first levels of a topic, else raise ConfigError."""
    text = value.strip()
    bad = (
        not text
        or any(c in text for c in "+#\0")
        or text.startswith(("/", "$"))
        or text.endswith("/")
        or "//" in text
    )
    if bad:
        raise ConfigError(
            f"mqtt.{name} {value!r} must be a topic such as 'edge-music' or 'home/speakers' "
            "(no wildcards, no empty levels, not starting with '$')"
        )
    return text


@dataclass(frozen=True)
class Topics:
    """Every topic one speaker publishes or listens to."""

    base: str
    """``<base_topic>/<device_id>``."""
    device_id: str
    """This speaker's id (also the discovery node id)."""
    discovery_prefix: str
    """Home Assistant's discovery prefix."""

    @classmethod
    def from_config(cls, config: MqttConfig) -> Topics:
        """Resolve and check the topics named by the config; raises ConfigError."""
        device_id = resolve_device_id(config.device_id)
        base = f"{check_prefix('base_topic', config.base_topic)}/{device_id}"
        return cls(base, device_id, check_prefix("discovery_prefix", config.discovery_prefix))

    @property
    def availability(self) -> str:
        """``online``/``offline``, retained; ``offline`` is also the Last Will."""
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        """The full state as JSON, retained."""
        return f"{self.base}/state"

    @property
    def credits(self) -> str:
        """Today's attribution summary from the ledger as JSON, retained."""
        return f"{self.base}/credits"

    @property
    def set(self) -> str:
        """Commands as a JSON object, several fields at once."""
        return f"{self.base}/set"

    def set_field(self, field: str) -> str:
        """One command with a plain payload."""
        return f"{self.base}/set/{field}"

    @property
    def context(self) -> str:
        """Context from automations as a JSON object."""
        return f"{self.base}/context"

    @property
    def error(self) -> str:
        """One JSON message per rejected message, not retained."""
        return f"{self.base}/error"

    @property
    def ha_status(self) -> str:
        """Home Assistant's birth and last-will topic."""
        return f"{self.discovery_prefix}/status"

    def field_of(self, topic: str) -> str | None:
        """``<base>/set/<field>`` -> field; None for any other topic."""
        prefix = f"{self.set}/"
        if topic.startswith(prefix):
            return topic[len(prefix) :]
        return None

    def is_own_output(self, topic: str) -> bool:
        """True for topics this speaker publishes, so a broad mapping never feeds on them."""
        if topic in (self.availability, self.state, self.error, self.credits):
            return True
        return topic.startswith(f"{self.discovery_prefix}/") and topic.endswith("/config")

    def command_subscriptions(self, discovery: bool) -> list[tuple[str, int]]:
        """(filter, qos) for the speaker's own input topics."""
        subs = [(self.set, 1), (f"{self.set}/+", 1), (self.context, 1)]
        if discovery:
            subs.append((self.ha_status, 1))
        return subs
