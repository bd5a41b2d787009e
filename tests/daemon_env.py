"""What a test daemon runs in: its own home, ALSA config, broker and settings; and what it says.

``daemon_env(root, alsa, "dev", port, music_seed=11)`` is the environment for ``edge-music run``
with a private home under ``root``, the test's ALSA config (device ``paced``), GPIO off, the
broker on ``port`` and each keyword as its ``EDGE_MUSIC_<SECTION>_<KEY>`` setting.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.alsa_env import SYSTEM_CONF, AlsaEnv


def daemon_env(
    root: Path, alsa: AlsaEnv, device_id: str, port: int | None = None, state: Path | None = None,
    **settings: object,
) -> dict[str, str]:  # fmt: skip
    """The daemon's environment (the caller's EDGE_MUSIC_ settings left out); ``state``: its own
    XDG_STATE_HOME (else the test's private one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_MUSIC_")}
    env |= {
        "HOME": str(root / "home"),
        "ALSA_CONFIG_PATH": f"{SYSTEM_CONF}:{alsa.conf_path}",
        "EDGE_MUSIC_AUDIO_DEVICE": "paced",
        "EDGE_MUSIC_GPIO_ENABLED": "false",
        "EDGE_MUSIC_MQTT_DEVICE_ID": device_id,
    }
    if state is not None:
        env["XDG_STATE_HOME"] = str(state)
    if port is not None:
        env |= {"EDGE_MUSIC_MQTT_HOST": "127.0.0.1", "EDGE_MUSIC_MQTT_PORT": str(port)}
    return env | {f"EDGE_MUSIC_{key.upper()}": str(value) for key, value in settings.items()}


def track_position(message: Any, track: str) -> tuple[int, int] | None:
    """(bar, beat) of ``track`` from a state message, or None when it is not playing it."""
    body = json.loads(message.payload)
    if body.get("track") != track or not body.get("track_position"):
        return None
    bar, beat = body["track_position"].split(".")
    return int(bar), int(beat)
