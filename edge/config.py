"""Typed settings: one TOML file, environment overrides, clear one-line errors.

Every section is a frozen dataclass. The string literal under each field is its
documentation: ``edge-music config --example`` prints it as a comment, so keep
one under every field.

Precedence, lowest first: the defaults below, the TOML file, then environment
variables named ``EDGE_MUSIC_<SECTION>_<KEY>`` (for example
``EDGE_MUSIC_AUDIO_DEVICE=hw:1``).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import math
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PATH = Path("/etc/edge-music/config.toml")
ENV_PREFIX = "EDGE_MUSIC_"


class ConfigError(ValueError):
    """A setting is wrong. ``str()`` is the one-line message shown to the user."""


@dataclass(frozen=True)
class AudioConfig:
    """Where the sound goes and in what format."""

    sink: str = "alsa"
    """Output: "alsa" (a sound card), "wav" (a file), "fifo" (a Snapcast pipe) or "null"."""
    device: str = "default"
    """ALSA PCM name, e.g. "default", "hw:1,0" or "plughw:CARD=DAC"."""
    rate: int = 48000
    """Sample rate in Hz."""
    channels: int = 2
    """Output channels: 1 (mono) or 2 (stereo)."""
    format: str = "S16_LE"
    """Sample format: "S16_LE", "S32_LE" or "FLOAT_LE"."""
    period_frames: int = 1024
    """Frames per ALSA period; the synth renders one block of this size at a time."""
    periods: int = 4
    """ALSA periods in the hardware buffer."""
    buffer_seconds: float = 0.5
    """How far the producer renders ahead of the sink, in seconds."""
    wav_path: str = "edge-music.wav"
    """File written when sink = "wav"."""
    fifo_path: str = "/tmp/snapfifo"
    """Named pipe written when sink = "fifo" (Snapcast pipe source, 48000:16:2)."""
    fallback_to_wav: bool = True
    """With no playback device at start, write a WAV file in the working directory instead."""
    fade_ms: float = 60.0
    """Length of the fades used for volume, pause, resume and stop, in milliseconds."""
    loudness_lufs: float = -16.0
    """Loudness every style pack plays at, before the volume: LUFS (ITU-R BS.1770), -30..-12."""


@dataclass(frozen=True)
class MusicConfig:
    """The music the daemon starts with; MQTT and GPIO change it live."""

    style: str = "focus"
    """Style pack name (a file in edge/styles without ".toml")."""
    mood: str = "calm"
    """Named mood (see `edge-music render --help`) or "valence,arousal" in -1..1."""
    activity: str = "focus"
    """One of workout, focus, relax, sleep, party."""
    energy: float = 0.5
    """0..1: how busy and loud the music is."""
    tempo: float = 0.0
    """Target tempo in BPM; 0 lets the activity, mood and style choose."""
    key: str = "auto"
    """Tonic such as "D" or "F#", or "auto"."""
    meter: int = 4
    """Beats per bar: 4 or 3."""
    seed: int = -1
    """Seed for every random choice; -1 picks a new one at start and logs it."""
    volume: int = 70
    """Start volume, 0..100."""


@dataclass(frozen=True)
class GeneratorConfig:
    """Which generator writes the notes."""

    tier: str = "auto"
    """"auto" lets the governor choose; "0" (procedural), "S", "M" or "L" is the most it may use."""
    models_dir: str = ""
    """Folder holding manifest.json and the ONNX models; empty means the shipped ones."""
    temperature: float = 1.0
    """Sampling temperature of the neural tiers: lower is safer and more repetitive."""
    top_p: float = 0.9
    """Nucleus sampling of rhythm and chords (pitches, held to the scale, use every allowed one)."""


@dataclass(frozen=True)
class MqttConfig:
    """The MQTT broker: context in, state out, Home Assistant discovery."""

    enabled: bool = True
    """Connect to a broker at all. The daemon plays on without one."""
    host: str = "localhost"
    """Broker host name or address."""
    port: int = 1883
    """Broker port (8883 is usual with TLS)."""
    device_id: str = ""
    """Topic and discovery id of this speaker; empty means the host name."""
    base_topic: str = "edge-music"
    """First topic level; topics are <base_topic>/<device_id>/..."""
    username: str = ""
    """User name for the broker, if it needs one."""
    password: str = ""
    """Password for the broker, if it needs one."""
    tls_ca: str = ""
    """CA certificate file; setting it turns TLS on."""
    tls_cert: str = ""
    """Client certificate file for mutual TLS."""
    tls_key: str = ""
    """Client key file for mutual TLS."""
    discovery: bool = True
    """Announce entities to Home Assistant."""
    discovery_prefix: str = "homeassistant"
    """Home Assistant's discovery prefix."""
    state_interval_s: float = 30.0
    """Publish the full state at least this often, in seconds."""
    max_payload_bytes: int = 65536
    """Messages larger than this are rejected."""
    discovery_mode: str = "device"
    """"device": one discovery message per speaker (Home Assistant 2024.12+); "entity": one per entity."""
    mappings_file: str = ""
    """TOML file of [[mapping]] tables feeding context from other topics (see docs/mqtt.md); empty: none."""
    vacancy_pause_min: float = 15.0
    """Pause once occupancy (/context or a mapping) says the room is empty this long, in minutes; 0: never."""


@dataclass(frozen=True)
class ThermalConfig:
    """Sensors and the budget the governor keeps to."""

    thermal_root: str = "/sys/class/thermal"
    """Folder holding thermal_zone*/temp; tests and unusual boards point it elsewhere."""
    hwmon_root: str = "/sys/class/hwmon"
    """Folder holding hwmon*/power*_input."""
    board: str = "auto"
    """Board profile: "auto", "pi4", "pi5", "zero2w" or "generic"."""
    power_budget_w: float = 4.0
    """Power the whole board may draw on average, in watts."""
    temp_target_c: float = 70.0
    """SoC temperature the governor steers below, in degrees Celsius."""
    temp_critical_c: float = 80.0
    """Above this the governor drops straight to the procedural tier."""
    model_path: str = "/proc/device-tree/model"
    """Board model file read when board = "auto"."""
    vcgencmd: str = "vcgencmd"
    """Command for throttle flags (and Pi 5 PMIC power); empty turns it off."""
    horizon_s: float = 120.0
    """How far ahead the governor forecasts the temperature of a tier, in seconds."""
    hysteresis_c: float = 1.5
    """A better tier is taken only when its forecast stays this far below the target, in C."""
    min_dwell_s: float = 60.0
    """Least time between tier changes, in seconds (steps down wait a quarter, none at the target)."""
    max_cpu_share: float = 0.8
    """Most CPU-seconds per audio-second a tier may need (1.0 = one core): real-time headroom."""
    sustainable_power_w: float = 0.0
    """Power the boxed board sheds at the target temperature, W; 0 estimates it while running."""


@dataclass(frozen=True)
class GpioConfig:
    """Buttons, encoder, LED and fan. A pin of -1 is not connected."""

    enabled: bool = True
    """Use GPIO at all."""
    play_pin: int = -1
    """Play/pause button (hold for the next style)."""
    skip_pin: int = -1
    """Skip button."""
    mood_pin: int = -1
    """Mood/activity cycle button."""
    encoder_a_pin: int = -1
    """Rotary encoder A for volume."""
    encoder_b_pin: int = -1
    """Rotary encoder B for volume."""
    led_red_pin: int = -1
    """Red channel of the status RGB LED (or the single PWM LED)."""
    led_green_pin: int = -1
    """Green channel of the status RGB LED."""
    led_blue_pin: int = -1
    """Blue channel of the status RGB LED."""
    version_pin: int = -1
    """Button (to GND) that switches a library track between original and reimagined; -1: none."""
    fan_pin: int = -1
    """PWM fan."""
    fan_pwm_hz: int = 100
    """PWM frequency for the fan pin, Hz."""
    led_active_high: bool = True
    """False for a common-anode RGB LED."""
    hold_s: float = 1.0
    """How long a button is held for its second function (play: next style, mood: next activity)."""
    volume_step: int = 5
    """Volume change per encoder detent, 1..25."""


@dataclass(frozen=True)
class CredentialsConfig:
    """Content credentials: a signed C2PA manifest in every WAV file written (see README)."""

    enabled: bool = True
    """Sign every WAV file edge-music writes (render, the WAV sink); they always carry RIFF LIST/INFO tags."""
    dir: str = ""
    """Folder of the device CA and signing key, made on first use; empty: $STATE_DIRECTORY/credentials."""
    cert: str = ""
    """An organisation's certificate chain (PEM, signing certificate first); with key, used instead."""
    key: str = ""
    """The private key (PEM, EC P-256) of cert; keep it mode 0600."""
    training_mining: str = "notAllowed"
    """May the files train AI or be data-mined: "notAllowed", "allowed" or "constrained"."""


@dataclass(frozen=True)
class PacksConfig:
    """Installed sound-world packs (`edge-music pack install`): where they live, what is accepted."""

    dir: str = ""
    """Folder of installed packs; empty: $STATE_DIRECTORY/packs (~/.local/state/edge-music/packs)."""
    max_mb: float = 200.0
    """Largest pack accepted, in MB once expanded; an archive that would expand beyond it is refused."""
    max_files: int = 2000
    """Most files and folders one pack may hold."""
    max_ratio: float = 1000.0
    """Largest expanded-to-archive size ratio accepted (a zip bomb compresses far beyond it)."""


@dataclass(frozen=True)
class LedgerConfig:
    """The attribution ledger: seconds played per day, per style pack, model and training source."""

    enabled: bool = True
    """Count what the daemon plays (render never counts); `edge-music credits` prints the split."""
    path: str = ""
    """The SQLite file; empty: $STATE_DIRECTORY/ledger.db (~/.local/state/edge-music/ledger.db)."""
    flush_seconds: float = 30.0
    """Seconds between writes, one transaction each; a power cut loses at most this much counting."""


@dataclass(frozen=True)
class SessionConfig:
    """The session log: what the daemon played, enough to replay it bit for bit (see README)."""

    enabled: bool = True
    """Write one JSONL log per daemon session."""
    dir: str = ""
    """Folder of the session logs; empty: $STATE_DIRECTORY/sessions."""
    max_bytes: int = 32 * 1024 * 1024
    """Most bytes one session's log may take; at the cap it stops recording and says so on its last line."""
    keep: int = 20
    """Session logs kept; the oldest are deleted when a new session starts."""
    telemetry_s: float = 5.0
    """Seconds between telemetry lines (tempo, energy, mood, style, tier, temperature, power)."""


@dataclass(frozen=True)
class LibraryConfig:
    """Reimagine live: tracks in a folder, played reimagined or as written, switched on the beat."""

    dir: str = ""
    """Folder of the tracks (MIDI, WAV, FLAC, MP3); empty: $STATE_DIRECTORY/library. Read at start, SIGHUP."""
    repeat: bool = False
    """When a track ends: true plays it again, false goes back to endless generation."""
    style: str = "current"
    """The style pack the tracks are reimagined in; "current": the style playing when one is chosen."""
    crossfade_beats: float = 1.0
    """Beats a switch between original and reimagined crossfades over (at most one)."""
    max_audio_seconds: float = 300.0
    """Longest audio track (longer: skipped); one plays from a file in cache_dir, 11 MiB/minute at 48 kHz."""
    cache_dir: str = ""
    """Audio tracks' analyses by sha256 (never transcribed twice); empty: $STATE_DIRECTORY/library-cache."""


@dataclass(frozen=True)
class LogConfig:
    """Logging."""

    level: str = "INFO"
    """DEBUG, INFO, WARNING or ERROR."""


@dataclass(frozen=True)
class Config:
    """The whole configuration."""

    audio: AudioConfig = field(default_factory=AudioConfig)
    """Sound output."""
    music: MusicConfig = field(default_factory=MusicConfig)
    """Starting music."""
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    """Note generator."""
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    """MQTT broker."""
    thermal: ThermalConfig = field(default_factory=ThermalConfig)
    """Temperature and power."""
    gpio: GpioConfig = field(default_factory=GpioConfig)
    """GPIO hardware."""
    credentials: CredentialsConfig = field(default_factory=CredentialsConfig)
    """Content credentials."""
    packs: PacksConfig = field(default_factory=PacksConfig)
    """Installed sound-world packs."""
    ledger: LedgerConfig = field(default_factory=LedgerConfig)
    """Attribution ledger."""
    session: SessionConfig = field(default_factory=SessionConfig)
    """Session log and replay."""
    library: LibraryConfig = field(default_factory=LibraryConfig)
    """Reimagine live: the track library and the original/reimagined toggle."""
    log: LogConfig = field(default_factory=LogConfig)
    """Logging."""


# Values checked beyond their type: (section, key) -> (allowed values | (min, max)).
_CHOICES: dict[tuple[str, str], tuple[str, ...] | tuple[int, ...]] = {
    ("audio", "sink"): ("alsa", "wav", "fifo", "null"),
    ("audio", "format"): ("S16_LE", "S32_LE", "FLOAT_LE"),
    ("audio", "channels"): (1, 2),
    ("music", "activity"): ("workout", "focus", "relax", "sleep", "party"),
    ("music", "meter"): (3, 4),
    ("generator", "tier"): ("auto", "0", "S", "M", "L"),
    ("mqtt", "discovery_mode"): ("device", "entity"),
    ("thermal", "board"): ("auto", "pi4", "pi5", "zero2w", "generic"),
    ("credentials", "training_mining"): ("notAllowed", "allowed", "constrained"),
    ("log", "level"): ("DEBUG", "INFO", "WARNING", "ERROR"),
}
_RANGES: dict[tuple[str, str], tuple[float, float]] = {
    ("audio", "rate"): (8000, 192000),
    ("audio", "period_frames"): (64, 16384),
    ("audio", "periods"): (2, 32),
    ("audio", "buffer_seconds"): (0.05, 5.0),
    ("audio", "fade_ms"): (1.0, 2000.0),
    ("audio", "loudness_lufs"): (-30.0, -12.0),
    ("music", "energy"): (0.0, 1.0),
    ("generator", "temperature"): (0.05, 3.0),
    ("generator", "top_p"): (0.05, 1.0),
    ("music", "tempo"): (0.0, 240.0),
    ("music", "volume"): (0, 100),
    ("mqtt", "port"): (1, 65535),
    ("mqtt", "state_interval_s"): (1.0, 3600.0),
    ("mqtt", "max_payload_bytes"): (64, 16 * 1024 * 1024),
    ("mqtt", "vacancy_pause_min"): (0.0, 1440.0),
    ("thermal", "power_budget_w"): (0.1, 100.0),
    ("thermal", "temp_target_c"): (20.0, 100.0),
    ("thermal", "temp_critical_c"): (20.0, 110.0),
    ("thermal", "horizon_s"): (5.0, 3600.0),
    ("thermal", "hysteresis_c"): (0.0, 20.0),
    ("thermal", "min_dwell_s"): (0.0, 3600.0),
    ("thermal", "max_cpu_share"): (0.05, 64.0),
    ("thermal", "sustainable_power_w"): (0.0, 100.0),
    ("gpio", "fan_pwm_hz"): (1, 50000),
    ("gpio", "hold_s"): (0.2, 10.0),
    ("gpio", "volume_step"): (1, 25),
    ("packs", "max_mb"): (0.001, 100_000.0),
    ("packs", "max_files"): (1, 1_000_000),
    ("packs", "max_ratio"): (1.0, 1_000_000.0),
    ("ledger", "flush_seconds"): (0.05, 3600.0),
    ("session", "max_bytes"): (1024, 2**40),
    ("session", "keep"): (1, 100000),
    ("session", "telemetry_s"): (0.5, 3600.0),
    ("library", "crossfade_beats"): (0.05, 1.0),
    ("library", "max_audio_seconds"): (2.0, 900.0),
}


def sections() -> dict[str, type]:
    """Section name -> dataclass, in file order."""
    return {f.name: _field_type(Config, f) for f in dataclasses.fields(Config)}


def _field_type(cls: type, f: dataclasses.Field) -> Any:
    return typing.get_type_hints(cls)[f.name]


def _type_name(tp: Any) -> str:
    return {int: "integer", float: "number", str: "string", bool: "boolean"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against ``tp``; ints are accepted where floats are expected."""
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if tp is float and not math.isfinite(value):
        raise ConfigError(f"{where}: expected a finite number, got {value!r}")
    return value


def _from_env(raw: str, tp: Any, where: str) -> Any:
    try:
        if tp is bool:
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            return int(raw)
        if tp is float:
            return float(raw)
    except ValueError:
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {raw!r}") from None
    return raw


def _check_value(section: str, key: str, value: Any, where: str) -> None:
    choices = _CHOICES.get((section, key))
    if choices is not None and value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{where}: {value!r} is not one of {allowed}")
    bounds = _RANGES.get((section, key))
    if bounds is not None and not bounds[0] <= value <= bounds[1]:
        raise ConfigError(f"{where}: {value!r} is outside {bounds[0]}..{bounds[1]}")


def _build(data: dict[str, Any], origin: str, env: dict[str, str]) -> Config:
    built: dict[str, Any] = {}
    known = sections()
    for name in data:
        if name not in known:
            raise ConfigError(f"{origin}: unknown section [{name}] (known: {', '.join(known)})")
    for name, cls in known.items():
        table = data.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{origin}: [{name}] must be a table")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for key in table:
            if key not in fields:
                raise ConfigError(f"{origin}: unknown key {name}.{key}")
        values: dict[str, Any] = {}
        for key, f in fields.items():
            tp = _field_type(cls, f)
            env_name = f"{ENV_PREFIX}{name.upper()}_{key.upper()}"
            if env_name in env:
                where = f"environment {env_name}"
                value = _coerce(_from_env(env[env_name], tp, where), tp, where)
            elif key in table:
                where = f"{origin}: {name}.{key}"
                value = _coerce(table[key], tp, where)
            else:
                continue
            _check_value(name, key, value, where)
            values[key] = value
        built[name] = cls(**values)
    config = Config(**built)
    if config.thermal.temp_critical_c <= config.thermal.temp_target_c:
        raise ConfigError(f"{origin}: thermal.temp_critical_c must be above thermal.temp_target_c")
    return config


def load(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Load the effective config.

    ``path=None`` reads DEFAULT_PATH when it exists and runs on the embedded
    defaults otherwise; an explicit path must exist. Raises ConfigError.
    """
    env = dict(os.environ) if env is None else env
    data: dict[str, Any] = {}
    origin = "defaults"
    candidate = Path(path) if path is not None else DEFAULT_PATH
    if path is not None or candidate.exists():
        origin = str(candidate)
        try:
            with candidate.open("rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{origin}: file not found") from None
        except PermissionError:
            raise ConfigError(f"{origin}: permission denied") from None
        except IsADirectoryError:
            raise ConfigError(f"{origin}: is a directory, expected a TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin}: invalid TOML: {exc}") from None
        except UnicodeDecodeError as exc:
            why = f"not UTF-8 text (bad byte at offset {exc.start}); TOML files are UTF-8"
            raise ConfigError(f"{origin}: {why}") from None
        except OSError as exc:
            raise ConfigError(f"{origin}: cannot read: {exc.strerror or exc}") from None
    return _build(data, origin, env)


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass, read from its source."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body  # type: ignore[attr-defined]
    docs: dict[str, str] = {}
    for node, following in itertools.pairwise(body):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = following.value.value.strip()
    return docs


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def to_toml(config: Config, commented: bool = False) -> str:
    """Render a config as TOML; with ``commented`` every field gets its docstring."""
    lines: list[str] = []
    if commented:
        lines += [
            "# edge-music configuration. Every key is optional; the values shown are the defaults.",
            f"# Default location: {DEFAULT_PATH}. Environment overrides: EDGE_MUSIC_<SECTION>_<KEY>.",
            "",
        ]
    for name in sections():
        section = getattr(config, name)
        if commented:
            lines.append(f"# {inspect.getdoc(type(section))}")
        lines.append(f"[{name}]")
        docs = field_docs(type(section)) if commented else {}
        for f in dataclasses.fields(section):
            if commented and f.name in docs:
                lines.append(f"# {docs[f.name]}")
            lines.append(f"{f.name} = {_toml_value(getattr(section, f.name))}")
        lines.append("")
    return "\n".join(lines)
