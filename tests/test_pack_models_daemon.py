"""The running daemon plays an installed pack's artist model: chosen over a real broker, credited in
the MQTT state and the SQLite ledger, recorded in the session log, replayed byte for byte (the
style waits for its model to load, and the log records the bar it changed at), and gone after
`pack remove` and a reload."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from edge.digest import sha256_of
from tests.alsa_env import AlsaEnv
from tests.broker import Mosquitto, Probe, require_mosquitto
from tests.daemon_env import daemon_env
from tests.pack_helpers import ARTIST, ROOT, artist_pack
from tests.test_session import PacedCapture, records, wait_for_record, wav_data

PACK = "jane-rain"
DEVICE_ID = "artist"
STATE = f"edge-music/{DEVICE_ID}/state"


def edge(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def state_has(**wanted):
    def check(message) -> bool:
        state = json.loads(message.payload)
        return all(state.get(k) == v for k, v in wanted.items())

    return check


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """A session at tier S: focus, then the pack's style (over MQTT), then the pack removed and the
    daemon reloaded. (env, session log, captured PCM, the pack's folder, MQTT states seen)."""
    require_mosquitto()
    root = tmp_path_factory.mktemp("artist")
    (root / "alsa").mkdir()
    (root / "mqtt").mkdir()
    alsa = AlsaEnv(root / "alsa")
    capture = PacedCapture(root / "pcm.fifo", speed=4.0)
    alsa.define("paced", f'type file slave.pcm "null" file "{capture.path}" format "raw"')
    pack = artist_pack(root / "outside", PACK)
    sessions = root / "sessions"
    with Mosquitto(root / "mqtt") as broker:
        env = daemon_env(
            root, alsa, DEVICE_ID, broker.port, mqtt_discovery="false", music_seed=21, music_tempo=200,
            generator_tier="S", thermal_min_dwell_s=0, session_dir=sessions, ledger_flush_seconds=0.5,
        )  # fmt: skip
        env |= {"PYTHONPATH": str(ROOT), "STATE_DIRECTORY": str(root / "state")}
        installed = edge(env, "pack", "install", str(pack))
        assert installed.returncode == 0, installed.stderr
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        seen = []
        try:
            base = f"edge-music/{DEVICE_ID}"
            with Probe(broker.port, subscribe=[f"{base}/availability", STATE]) as probe:
                probe.wait(f"{base}/availability", lambda m: m.payload == b"online", timeout=30)
                seen.append(json.loads(probe.wait(STATE, state_has(model="S"), timeout=30).payload))
                probe.publish(f"{base}/set", json.dumps({"style": PACK}))
                chosen = probe.wait(STATE, state_has(style=PACK, model=f"jane-S (pack {PACK})"), timeout=30)
                seen.append(json.loads(chosen.payload))
                artist = lambda m: ARTIST in (json.loads(m.payload).get("credits") or "")  # noqa: E731
                credited = probe.wait(STATE, artist, timeout=30)
                seen.append(json.loads(credited.payload))
                time.sleep(1.5)  # a few more bars of it (the capture runs at 4x)
                removed = edge(env, "pack", "remove", PACK)
                assert removed.returncode == 0, removed.stderr
                probe.clear()
                daemon.send_signal(signal.SIGHUP)
                shipped = lambda m: (  # noqa: E731
                    state_has(style="focus", model="S")(m) and "edge-S" in json.loads(m.payload)["credits"]
                )
                back = probe.wait(STATE, shipped, timeout=30)
                seen.append(json.loads(back.payload))
                wait_for_record(sessions, lambda r: r.get("kind") == "styles")
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
    pcm = capture.finish()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err and "cannot play" not in err
    (log,) = sessions.glob("session-*.jsonl")
    return env, log, pcm, pack, seen


def test_the_state_names_the_packs_model_and_credits_its_artist(played):
    *_, seen = played
    before, chosen, credited, after = seen
    assert before["model"] == "S" and chosen["tier"] == "S"  # the tier the governor chose, unchanged
    assert f"model jane-S (pack {PACK}) by {ARTIST}" in credited["credits"]
    assert f"trained on {ARTIST} 100%" in credited["credits"]
    assert after["style"] == "focus" and ARTIST not in after["credits"]


def test_the_session_log_records_the_packs_model_and_the_ledger_credits_its_artist(played):
    env, log, _, pack, _ = played
    header = records(log)[0]
    assert header["models"][f"S@{PACK}"] == sha256_of(pack / "model" / "jane-S.onnx")
    assert header["models"][f"S@{PACK}"] != header["models"]["S"]
    credits = edge(env, "credits", "--json")
    assert credits.returncode == 0, credits.stderr
    rows = {(e["kind"], e["name"]): e for e in json.loads(credits.stdout)["contributors"]}
    model = rows[("model", f"jane-S (pack {PACK})")]
    assert model["credit"] == ARTIST and model["seconds"] > 0
    assert rows[("source", "jane-songs")]["credit"] == ARTIST
    assert rows[("model", "edge-S")]["seconds"] > 0  # focus, before and after, played by the shipped S


def test_the_replay_is_the_daemons_audio_and_refuses_a_changed_model(played, tmp_path):
    env, log, pcm, pack, _ = played
    assert edge(env, "pack", "install", str(pack)).returncode == 0  # the same files again
    out = tmp_path / "replay.wav"
    done = edge(env, "replay", str(log), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert f"tier S@{PACK}" in done.stderr and "tier S:" in done.stderr
    assert len(pcm) > 0 and wav_data(out) == pcm
    model = pack.parent.parent / "state" / "packs" / PACK / "model" / "jane-S.onnx"
    with model.open("ab") as fh:
        fh.write(b"\0")
    refused = edge(env, "replay", str(log), "--out", str(tmp_path / "again.wav"))
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()  # one line, naming the model and what is wrong
    assert f"the artist model of pack {PACK!r} was in the session and cannot play here: " in line
    assert f"{PACK}/model/jane-S.onnx.json: sha256: does not match model/jane-S.onnx" in line
