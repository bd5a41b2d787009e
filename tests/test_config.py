"""Config: defaults, TOML, environment overrides and one-line errors."""

import subprocess
import sys
import tomllib

import pytest

from edge.config import Config, ConfigError, field_docs, load, sections, to_toml


def write(tmp_path, text):
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults_when_no_file_is_given(tmp_path, monkeypatch):
    monkeypatch.setattr("edge.config.DEFAULT_PATH", tmp_path / "absent.toml")
    assert load(None, env={}) == Config()


def test_file_values_and_environment_overrides(tmp_path):
    path = write(tmp_path, '[audio]\ndevice = "hw:1"\nperiod_frames = 512\n[music]\nenergy = 1\n')
    config = load(path, env={"EDGE_MUSIC_AUDIO_DEVICE": "plughw:2", "EDGE_MUSIC_MQTT_PORT": "1884"})
    assert config.audio.device == "plughw:2"  # environment beats the file
    assert config.audio.period_frames == 512
    assert config.music.energy == 1.0 and isinstance(config.music.energy, float)
    assert config.mqtt.port == 1884


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[audio]\nperiodsize = 3\n", "unknown key audio.periodsize"),
        ("[audoi]\n", "unknown section [audoi]"),
        ('[audio]\nrate = "fast"\n', "audio.rate: expected integer"),
        ("[music]\nenergy = 2.5\n", "music.energy: 2.5 is outside 0.0..1.0"),
        ('[audio]\nsink = "speaker"\n', "audio.sink: 'speaker' is not one of"),
        ("[mqtt]\nenabled = 1\n", "mqtt.enabled: expected boolean"),
        ("[music\n", "invalid TOML"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    assert "\n" not in message


def test_bad_environment_value_is_named(tmp_path):
    with pytest.raises(ConfigError, match="EDGE_MUSIC_AUDIO_PERIODS: expected integer"):
        load(write(tmp_path, ""), env={"EDGE_MUSIC_AUDIO_PERIODS": "four"})


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.toml", env={})


def test_every_field_is_documented():
    for name, cls in sections().items():
        docs = field_docs(cls)
        for field in cls.__dataclass_fields__:
            assert docs.get(field), f"{name}.{field} has no docstring"


def test_commented_example_is_valid_and_equals_defaults(tmp_path):
    text = to_toml(Config(), commented=True)
    assert "# ALSA PCM name" in text
    path = write(tmp_path, text)
    assert load(path, env={}) == Config()
    assert tomllib.loads(text)["audio"]["rate"] == 48000


def run_cli(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_cli_bad_config_exits_2_with_one_line_and_no_traceback(tmp_path):
    path = write(tmp_path, "[audio]\nchannels = 7\n")
    result = run_cli("--config", str(path), "config")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "audio.channels" in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_config_prints_effective_config(tmp_path):
    path = write(tmp_path, '[music]\nstyle = "workout"\n')
    result = run_cli("config", "--config", str(path))
    assert result.returncode == 0
    assert tomllib.loads(result.stdout)["music"]["style"] == "workout"
    example = run_cli("config", "--example")
    assert example.returncode == 0 and "# Style pack name" in example.stdout
