"""`edge-music doctor`: one OK/WARN/FAIL line per check, with a hint."""

import os
import socket
import subprocess
import sys

from tests.alsa_env import alsa_env  # noqa: F401  (pytest fixture)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def doctor(tmp_path, **env):
    return subprocess.run(
        [sys.executable, "-m", "edge", "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, "EDGE_MUSIC_MQTT_PORT": str(free_port()), **env},
    )


def lines_by_check(output):
    found = {}
    for line in output.splitlines():
        status, rest = line.split(None, 1)
        assert status in ("OK", "WARN", "FAIL"), line
        found[rest.split("  ")[0].strip()] = (status, rest)
    return found


def test_doctor_reports_every_area_with_a_hint(alsa_env, tmp_path):  # noqa: F811
    result = doctor(tmp_path)
    checks = lines_by_check(result.stdout)
    assert checks["ALSA playback"][0] == "OK"
    assert checks["MQTT broker"][0] == "WARN" and "keeps retrying" in checks["MQTT broker"][1]
    assert checks["style packs"][0] == "OK"
    assert any(name.startswith("model") for name in checks)
    assert "GPIO" in checks
    assert result.returncode == 0 or any(s == "FAIL" for s, _ in checks.values())
    assert "Traceback" not in result.stderr


def test_doctor_fails_on_a_missing_sound_device(tmp_path):
    result = doctor(tmp_path, ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf", EDGE_MUSIC_AUDIO_DEVICE="hw:7")
    checks = lines_by_check(result.stdout)
    assert checks["ALSA playback"][0] == "FAIL"
    assert "hw:7" in checks["ALSA playback"][1]
    assert result.returncode == 1
