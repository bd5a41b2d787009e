"""MQTT: commands and context in, state out, Home Assistant discovery (see docs/mqtt.md)."""

from edge.mqtt.client import MqttLink
from edge.mqtt.mappings import Mapping, load_mappings

__all__ = ["Mapping", "MqttLink", "load_mappings"]
