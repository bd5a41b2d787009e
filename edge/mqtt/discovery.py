"""Home Assistant MQTT discovery messages.

Two layouts: ``device`` publishes one retained message to
``<prefix>/device/<id>/config`` holding every entity under ``cmps``
(Home Assistant 2024.12 and later); ``entity`` publishes one message per
entity to ``<prefix>/<platform>/<id>/<key>/config`` for older versions.
media_player cannot be set up through MQTT discovery, so the speaker shows up
as selects, numbers, a switch, buttons and sensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edge import __version__
from edge.context.context import ACTIVITIES, MOODS
from edge.context.control import TIERS, VERSIONS
from edge.mqtt.topics import Topics

MODES = ("device", "entity")


def _select(name: str, options: Sequence[str], field: str, value: str, icon: str) -> dict[str, Any]:
    return {"p": "select", "name": name, "options": list(options), "field": field, "val_tpl": value,
            "ic": icon}  # fmt: skip


def _entities(styles: Sequence[str], tracks: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """key -> component config; ``field`` is the /set/<field> command topic (resolved later)."""
    moods = list(MOODS)
    # A custom mood (valence/arousal) is no option of the select: show it as unknown ("None").
    mood_tpl = "{{ value_json.mood if value_json.mood in " + repr(moods) + " else 'None' }}"
    tempo_tpl = (
        "{{ value_json.tempo_request if value_json.tempo_request is not none else value_json.tempo_target }}"
    )
    sensor_defaults = {"p": "sensor", "stat_cla": "measurement", "ent_cat": "diagnostic"}
    return {
        "play": {"p": "switch", "name": "Play", "field": "state", "val_tpl": "{{ value_json.state }}",
                 "pl_on": "ON", "pl_off": "OFF", "ic": "mdi:play-pause"},
        "style": _select("Style", styles, "style", "{{ value_json.style }}", "mdi:music-box-multiple"),
        "mood": _select("Mood", moods, "mood", mood_tpl, "mdi:emoticon-outline"),
        "activity": _select("Activity", ACTIVITIES, "activity", "{{ value_json.activity }}", "mdi:run"),
        "track": _select("Track", ["none", *tracks], "track", "{{ value_json.track or 'none' }}",
                         "mdi:playlist-music"),
        "version": _select("Version", VERSIONS, "version", "{{ value_json.version or 'reimagined' }}",
                           "mdi:swap-horizontal"),
        "tier": {**_select("Model tier", TIERS, "tier", "{{ value_json.tier_request }}", "mdi:chip"),
                 "ent_cat": "config"},
        "volume": {"p": "number", "name": "Volume", "field": "volume", "val_tpl": "{{ value_json.volume }}",
                   "min": 0, "max": 100, "step": 1, "unit_of_meas": "%", "mode": "slider",
                   "ic": "mdi:volume-high"},
        "energy": {"p": "number", "name": "Energy", "field": "energy", "val_tpl": "{{ value_json.energy }}",
                   "min": 0, "max": 1, "step": 0.05, "mode": "slider", "ic": "mdi:lightning-bolt"},
        "tempo": {"p": "number", "name": "Tempo", "field": "tempo", "val_tpl": tempo_tpl,
                  "min": 40, "max": 240, "step": 1, "unit_of_meas": "BPM", "mode": "box",
                  "ic": "mdi:metronome"},
        "skip": {"p": "button", "name": "Skip", "field": "skip", "pl_prs": "PRESS", "ic": "mdi:skip-next"},
        "build": {"p": "button", "name": "Build", "field": "section", "pl_prs": "build",
                  "ic": "mdi:trending-up"},
        "drop": {"p": "button", "name": "Drop", "field": "section", "pl_prs": "drop",
                 "ic": "mdi:arrow-collapse-down"},
        "tempo_auto": {"p": "button", "name": "Tempo auto", "field": "tempo", "pl_prs": "auto",
                       "ic": "mdi:metronome-tick"},
        "more_like_this": {"p": "button", "name": "More like this", "field": "more_like_this",
                           "pl_prs": "PRESS", "ic": "mdi:thumb-up"},
        "less_like_this": {"p": "button", "name": "Less like this", "field": "less_like_this",
                           "pl_prs": "PRESS", "ic": "mdi:thumb-down"},
        "temperature": {**sensor_defaults, "name": "SoC temperature", "dev_cla": "temperature",
                        "unit_of_meas": "°C", "val_tpl": "{{ value_json.temperature_c }}"},
        "power": {**sensor_defaults, "name": "Modelled power", "dev_cla": "power", "unit_of_meas": "W",
                  "val_tpl": "{{ value_json.power_w }}"},
        "cpu": {**sensor_defaults, "name": "CPU", "unit_of_meas": "%",
                "val_tpl": "{{ value_json.cpu_percent }}", "ic": "mdi:cpu-64-bit"},
        "tier_in_use": {"p": "sensor", "name": "Tier in use", "ent_cat": "diagnostic",
                        "val_tpl": "{{ value_json.tier }}", "ic": "mdi:chip"},
        "tempo_now": {"p": "sensor", "name": "Tempo now", "unit_of_meas": "BPM", "stat_cla": "measurement",
                      "val_tpl": "{{ value_json.tempo }}", "ic": "mdi:metronome"},
        "top_contributor": {"p": "sensor", "name": "Top contributor today", "topic": "credits",
                            "val_tpl": "{{ value_json.top.credit if value_json.top else 'none' }}",
                            "json_attr_t": "credits",
                            "json_attr_tpl": "{{ (value_json.top or {}) | tojson }}",
                            "ic": "mdi:account-music"},
        "underruns": {"p": "sensor", "name": "Audio underruns", "stat_cla": "total_increasing",
                      "ent_cat": "diagnostic", "val_tpl": "{{ value_json.underruns }}", "ic": "mdi:alert"},
    }  # fmt: skip


def components(
    topics: Topics, styles: Sequence[str], tracks: Sequence[str] = ()
) -> dict[str, dict[str, Any]]:
    """Component id -> full component config (``p``, ``uniq_id``, topics)."""
    result: dict[str, dict[str, Any]] = {}
    for key, entity in _entities(styles, tracks).items():
        config = {k: v for k, v in entity.items() if k not in ("field", "topic")}
        if "field" in entity:
            config["cmd_t"] = topics.set_field(entity["field"])
        if config["p"] != "button":
            # The state topic, or the one an entity names (the ledger's credits).
            config["stat_t"] = getattr(topics, entity.get("topic", "state"))
        if "json_attr_t" in config:
            config["json_attr_t"] = getattr(topics, config["json_attr_t"])
        config["uniq_id"] = f"edge_music_{topics.device_id}_{key}"
        result[f"edge_music_{topics.device_id}_{key}"] = config
    return result


def device_info(topics: Topics) -> dict[str, Any]:
    """The ``dev`` block shared by every entity."""
    return {
        "ids": [f"edge_music_{topics.device_id}"],
        "name": f"edge-music {topics.device_id}",
        "mf": "edge-music",
        "mdl": "Generative music speaker",
        "sw": __version__,
    }


def origin() -> dict[str, Any]:
    """The ``o`` block: who published the discovery message."""
    return {"name": "edge-music", "sw": __version__}


def messages(
    topics: Topics, styles: Sequence[str], mode: str = "device", tracks: Sequence[str] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) for every discovery message of this speaker (``tracks``: the library's ids)."""
    shared = {"dev": device_info(topics), "o": origin(), "avty_t": topics.availability,
              "pl_avail": "online", "pl_not_avail": "offline"}  # fmt: skip
    comps = components(topics, styles, tracks)
    if mode == "device":
        return [(f"{topics.discovery_prefix}/device/{topics.device_id}/config", {**shared, "cmps": comps})]
    result = []
    for comp_id, config in comps.items():
        platform = config["p"]
        body = {k: v for k, v in config.items() if k != "p"}
        topic = f"{topics.discovery_prefix}/{platform}/{topics.device_id}/{comp_id}/config"
        result.append((topic, {**shared, **body}))
    return result
