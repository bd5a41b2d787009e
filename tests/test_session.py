"""Session logs: a daemon session through real ALSA and a real broker, replayed bit for bit.

The daemon plays into alsa-lib's ``file`` plugin writing into a named pipe that
this test reads at four times real time (so a few seconds of wall time are
some 20 s of music, and MQTT commands land between bars). The listener changes
style, tempo, mood, volume, the seed and the tier, and pauses; the replay of
the log must be the captured PCM byte for byte.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import mido
import pytest

from edge import __version__
from edge.generator.registry import TierRegistry
from edge.music.midi import bars_to_midi
from edge.music.style import StyleLibrary
from edge.session.heard import heard_midi
from edge.session.log import SessionLog
from edge.session.read import read_session
from edge.session.replay import Replayer
from tests.alsa_env import SYSTEM_CONF, AlsaEnv
from tests.broker import Mosquitto, Probe, require_mosquitto
from tests.daemon_env import daemon_env

ROOT = Path(__file__).resolve().parent.parent
BYTES_PER_SECOND = 48000 * 2 * 2
DEVICE_ID = "replaytest"


class PacedCapture:
    """Reads a named pipe at ``speed`` times real time (S16_LE stereo) and keeps every byte."""

    def __init__(self, path: Path, speed: float) -> None:
        os.mkfifo(path)
        self.path = path
        self.speed = speed
        self.data = bytearray()
        self._fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.monotonic()
        while not self._stop.is_set():
            allowed = int((time.monotonic() - start) * BYTES_PER_SECOND * self.speed) - len(self.data)
            if allowed <= 0:
                time.sleep(0.005)
                continue
            try:
                chunk = os.read(self._fd, min(allowed, 1 << 16))
            except BlockingIOError:
                chunk = b""
            if chunk:
                self.data += chunk
            else:
                time.sleep(0.005)

    def finish(self) -> bytes:
        """After the writer has exited: read what is left (unpaced) and close."""
        self._stop.set()
        self._thread.join(5)
        while True:
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            self.data += chunk
        os.close(self._fd)
        return bytes(self.data)


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def wait_for_record(folder: Path, predicate, timeout: float = 30.0) -> dict:
    """The first record of the (only) session log satisfying ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for path in folder.glob("session-*.jsonl"):
            for record in records(path):
                if predicate(record):
                    return record
        time.sleep(0.05)
    raise AssertionError(f"no such record in {folder} within {timeout} s")


def edge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edge", *args], cwd=ROOT, env={**os.environ, **(env or {})},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One daemon session with MQTT commands, tier changes and a pause: (log, captured PCM, folder)."""
    require_mosquitto()
    root = tmp_path_factory.mktemp("session")
    alsa_root = root / "alsa"
    alsa_root.mkdir()
    (root / "home").mkdir()
    alsa = AlsaEnv(alsa_root)
    capture = PacedCapture(root / "pcm.fifo", speed=4.0)
    alsa.define("paced", f'type file slave.pcm "null" file "{capture.path}" format "raw"')
    sessions = root / "sessions"
    (root / "mqtt").mkdir()
    with Mosquitto(root / "mqtt") as broker:
        env = daemon_env(
            root, alsa, DEVICE_ID, broker.port, mqtt_discovery="false", music_seed=11, music_tempo=200,
            generator_tier="S", thermal_min_dwell_s=0, session_dir=sessions, session_telemetry_s=0.5,
            audio_loudness_lufs=-20,  # not the default: the replay must take it from the log
        )  # fmt: skip
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            base = f"edge-music/{DEVICE_ID}"
            with Probe(broker.port, subscribe=[f"{base}/availability"]) as probe:
                # "online" comes after the daemon's subscriptions (one connection, in order).
                probe.wait(f"{base}/availability", lambda m: m.payload == b"online", timeout=30)
                wait_for_record(sessions, lambda r: r.get("kind") == "bar" and r.get("tier") == "S")
                probe.publish(f"{base}/set", json.dumps({"style": "workout", "tempo": 180}))
                wait_for_record(sessions, lambda r: r.get("context", {}).get("style") == "workout")
                probe.publish(f"{base}/context", json.dumps({"mood": "happy"}))
                wait_for_record(sessions, lambda r: r.get("context", {}).get("mood") == "happy")
                probe.publish(f"{base}/set", json.dumps({"tier": "0"}))
                wait_for_record(sessions, lambda r: r.get("kind") == "bar" and r.get("tier") == "0")
                probe.publish(f"{base}/set", json.dumps({"volume": 40, "seed": 99}))
                wait_for_record(sessions, lambda r: r.get("kind") == "gain" and r["volume"] == 0.4)
                wait_for_record(sessions, lambda r: r.get("kind") == "bar" and r.get("seed") == 99)
                probe.publish(f"{base}/set", json.dumps({"pause": True}))
                wait_for_record(sessions, lambda r: r.get("kind") == "gain" and r["fade"] == 0.0)
                time.sleep(0.4)  # the sink holds with silence a while
                probe.publish(f"{base}/set", json.dumps({"play": True}))
                probe.publish(f"{base}/set", json.dumps({"tier": "S"}))
                wait_for_record(sessions, lambda r: r.get("kind") == "bar" and r.get("tier") == "S"
                                and r["bar"] > 0)  # fmt: skip
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=20)
    pcm = capture.finish()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    (log,) = sessions.glob("session-*.jsonl")
    return log, pcm, root


def bar_tiers(lines: list[dict]) -> list[dict]:
    """The bar records that changed the tier."""
    return [r for r in lines if r["kind"] == "bar" and "tier" in r]


def wav_data(path: Path) -> bytes:
    """The bytes of a WAV file's data chunk (other chunks, such as LIST or C2PA, skipped)."""
    blob = path.read_bytes()
    at = 12
    while at < len(blob):
        name, size = blob[at : at + 4], int.from_bytes(blob[at + 4 : at + 8], "little")
        if name == b"data":
            return blob[at + 8 : at + 8 + size]
        at += 8 + size + (size & 1)
    raise AssertionError(f"{path} has no data chunk")


def test_the_log_names_every_change_with_its_bar(recorded):
    log, _, _ = recorded
    lines = records(log)
    header, end = lines[0], lines[-1]
    assert header["kind"] == "header" and header["version"] == __version__ and header["seed"] == 11
    assert set(header["models"]) >= {"S"} and all(len(sha) == 64 for sha in header["models"].values())
    assert set(header["styles"]) >= {"focus", "workout"}
    assert end["kind"] == "end" and end["blocks"] > 0 and end["bars"] > 0
    commands = [r for r in lines if r["kind"] == "command"]
    names = [c["name"] for c in commands]
    for name in ("style", "tempo", "tier", "volume", "seed", "pause", "play"):
        assert name in names, name
    assert all(isinstance(c["bar"], int) and c["source"] == "mqtt" for c in commands)
    assert [r["tier"] for r in bar_tiers(lines)][:3] == ["S", "0", "S"]
    governed = [r for r in lines if r["kind"] == "governor"]
    decided = [g["tier"] for g in governed]  # the first decision may come after the "tier 0" command
    assert "0" in decided and "S" in decided[decided.index("0") :]
    # The command, then the governor's decision, then the bar that the new tier wrote: in that order.
    asked = next(c for c in commands if c["name"] == "tier" and c["value"] == "0")
    decision = next(g for g in governed if g["tier"] == "0")
    played = next(r for r in bar_tiers(lines) if r["tier"] == "0")
    assert asked["bar"] <= decision["bar"] <= played["bar"]
    telemetry = [r for r in lines if r["kind"] == "telemetry"]
    assert telemetry and {"tempo", "energy", "mood", "style", "tier", "temperature_c", "power_w"} <= set(
        telemetry[-1]
    )
    bars = [r["bar"] for r in lines if r["kind"] == "bar"]
    assert bars == sorted(set(bars))  # one record per bar at most, in order


def test_replay_is_the_daemon_s_audio_byte_for_byte_and_signed(recorded, tmp_path):
    log, pcm, _ = recorded
    out = tmp_path / "replay.wav"
    signing = {"EDGE_MUSIC_CREDENTIALS_ENABLED": "true", "EDGE_MUSIC_CREDENTIALS_DIR": str(tmp_path / "keys")}
    done = edge("replay", str(log), "--out", str(out), env=signing)
    assert done.returncode == 0, done.stderr
    assert "not signed" not in done.stderr
    verified = edge("verify", str(out))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "seed: 11" in verified.stdout
    assert f"session: {records(log)[0]['session_id']}" in verified.stdout  # the daemon's session
    assert len(pcm) > 5 * BYTES_PER_SECOND  # several seconds of music, a pause and its silence
    data = wav_data(out)
    assert len(data) == len(pcm)
    assert data == pcm
    assert "tier S" in done.stderr and "tier 0" in done.stderr


def test_a_bar_range_is_exactly_those_samples_of_the_full_replay(recorded, tmp_path):
    log, pcm, _ = recorded
    out, midi = tmp_path / "part.wav", tmp_path / "part.mid"
    done = edge("replay", str(log), "--from-bar", "4", "--to-bar", "9", "--out", str(out),
                "--midi", str(midi))
    assert done.returncode == 0, done.stderr
    begin, end = map(int, re.search(r"frames (\d+)-(\d+) of the full replay", done.stderr).groups())
    assert 0 < begin < end
    assert wav_data(out) == pcm[begin * 4 : end * 4]
    song = mido.MidiFile(str(midi))
    beats = sum(m.numerator for m in song.tracks[0] if m.type == "time_signature")
    assert beats == 4  # one 4/4 signature; six bars of notes follow
    seconds, onsets = 0.0, []
    for message in song:  # every track merged, times in seconds through the tempo map
        seconds += message.time
        if message.type == "note_on":
            onsets.append(seconds)
    # Every note starts inside the WAV's frames (the pause's silence takes its time in both).
    assert onsets and onsets[0] == 0.0 and max(onsets) < (end - begin) / 48000


def test_without_a_track_or_a_pause_the_midi_is_the_bars_as_render_writes_them(recorded):
    """Before the pause: the notes at the ticks ``render --midi`` gives a run of bars, the same tempo
    map and time signature."""
    log, _, _ = recorded
    replayer = Replayer(read_session(log), StyleLibrary(), TierRegistry(None))
    pause = min(r["block"] for r in records(log) if r["kind"] == "gain" and r["fade"] == 0.0) * 1024
    pieces = list(replayer.segment(0, 3))
    begin, end = pieces[0][0], pieces[-1][0] + len(pieces[-1][1])
    assert begin == 0 and end < pause and replayer.switches == [(0, None)]

    def onsets(song: mido.MidiFile) -> tuple[list, list]:
        conductor = [m for m in song.tracks[0] if m.is_meta and m.type != "end_of_track"]
        notes = []
        for track in song.tracks[1:]:
            tick = 0
            for message in track:
                tick += message.time
                if message.type == "note_on":
                    notes.append((track.name, message.channel, message.note, message.velocity, tick))
        return conductor, sorted(notes)

    heard = onsets(heard_midi(replayer, begin, end))
    assert heard == onsets(bars_to_midi(replayer.heard_bars(0, 3)))
    assert len(heard[1]) > 20


def test_broken_logs_get_one_line_naming_the_line_and_exit_2(recorded, tmp_path):
    log, _, _ = recorded
    lines = log.read_text().splitlines(keepends=True)
    head, rest = "".join(lines[:2]), "".join(lines[3:])
    cases = {
        "truncated.jsonl": ("".join(lines[:-1]), f"line {len(lines) - 1}: the log ends without its 'end'"),
        "cut.jsonl": ("".join(lines)[:-20], f"line {len(lines)}: the line is cut short"),
        "corrupt.jsonl": (head + "{oops\n" + rest, "line 3: not JSON"),
        "foreign.jsonl": ('{"hello": "world"}\n', "line 1: not an edge-music session log"),
        "kind.jsonl": (head + '{"kind": "dance"}\n' + rest, "line 3: unknown record"),
    }
    header = json.loads(lines[0])
    header["version"] = "0.0.1"
    old = json.dumps(header) + "\n" + "".join(lines[1:])
    cases["old.jsonl"] = (old, f"line 1: written by edge-music 0.0.1; this is edge-music {__version__}")
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        out = tmp_path / f"{name}.wav"
        done = edge("replay", str(path), "--out", str(out))
        assert done.returncode == 2, (name, done.stderr)
        assert done.stderr.count("\n") == 1 and expected in done.stderr, (name, done.stderr)
        assert str(path) in done.stderr and "Traceback" not in done.stderr
        assert not out.exists()


def test_a_changed_style_pack_or_model_is_refused_by_name(recorded, tmp_path):
    log, _, _ = recorded
    lines = log.read_text().splitlines(keepends=True)
    for what, key, name in (("style pack 'workout'", "styles", "workout"), ("model tier S", "models", "S")):
        header = json.loads(lines[0])
        header[key][name] = "0" * 64  # as if the session had played another file
        path = tmp_path / f"{key}.jsonl"
        path.write_text(json.dumps(header) + "\n" + "".join(lines[1:]))
        done = edge("replay", str(path), "--out", str(tmp_path / "x.wav"))
        assert done.returncode == 2, done.stderr
        assert f"{what} changed since the session" in done.stderr and "000000000000" in done.stderr
        assert done.stderr.count("\n") == 1


def test_a_bar_range_outside_the_session_is_refused(recorded, tmp_path):
    log, _, _ = recorded
    bars = records(log)[-1]["bars"]
    out = tmp_path / "x.wav"
    done = edge("replay", str(log), "--from-bar", "2", "--to-bar", str(bars), "--out", str(out))
    assert done.returncode == 2 and f"--to-bar {bars}: the session has bars 0-{bars - 1}" in done.stderr
    assert not out.exists()


def test_report_draws_the_timeline(recorded, tmp_path):
    pytest.importorskip("matplotlib")
    log, _, _ = recorded
    png = tmp_path / "timeline.png"
    done = edge("report", str(log), "--png", str(png))
    assert done.returncode == 0, done.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_report_without_matplotlib_names_the_extra(recorded, tmp_path):
    log, _, _ = recorded
    blocker = tmp_path / "blocker" / "matplotlib"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    path = os.pathsep.join([str(tmp_path / "blocker"), str(ROOT)])
    done = edge("report", str(log), "--png", str(tmp_path / "x.png"), env={"PYTHONPATH": path})
    assert done.returncode == 2
    assert "eval" in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_a_capped_log_ends_cleanly_and_replays_the_start_exactly(tmp_path):
    """At session.max_bytes the log stops with an end line; its replay is a prefix of what played."""
    alsa = AlsaEnv(tmp_path)
    (tmp_path / "home").mkdir()
    sessions = tmp_path / "sessions"
    env = {
        "HOME": str(tmp_path / "home"),
        "ALSA_CONFIG_PATH": f"{SYSTEM_CONF}:{alsa.conf_path}",
        "EDGE_MUSIC_MQTT_ENABLED": "false",
        "EDGE_MUSIC_GPIO_ENABLED": "false",
        "EDGE_MUSIC_MUSIC_SEED": "5",
        "EDGE_MUSIC_GENERATOR_TIER": "0",
        "EDGE_MUSIC_SESSION_DIR": str(sessions),
        "EDGE_MUSIC_SESSION_MAX_BYTES": "1600",
        "EDGE_MUSIC_SESSION_TELEMETRY_S": "0.5",
        "EDGE_MUSIC_STOP_AFTER": "3",
    }
    done = edge("run", env=env)
    assert done.returncode == 0, done.stderr
    (log,) = sessions.glob("session-*.jsonl")
    assert log.stat().st_size <= 1600
    end = records(log)[-1]
    assert end["kind"] == "end" and end["capped"] is True and end["blocks"] > 0
    out = tmp_path / "capped.wav"
    replayed = edge("replay", str(log), "--out", str(out), env={"HOME": str(tmp_path / "home")})
    assert replayed.returncode == 0, replayed.stderr
    pcm = alsa.raw_path.read_bytes()
    data = wav_data(out)
    assert 0 < len(data) < len(pcm)
    assert data == pcm[: len(data)]


def test_an_unwritable_session_folder_costs_one_line_not_the_music(tmp_path):
    alsa = AlsaEnv(tmp_path)
    (tmp_path / "home").mkdir()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    env = {
        "HOME": str(tmp_path / "home"),
        "ALSA_CONFIG_PATH": f"{SYSTEM_CONF}:{alsa.conf_path}",
        "EDGE_MUSIC_MQTT_ENABLED": "false",
        "EDGE_MUSIC_GPIO_ENABLED": "false",
        "EDGE_MUSIC_GENERATOR_TIER": "0",
        "EDGE_MUSIC_SESSION_DIR": str(blocked / "sessions"),
        "EDGE_MUSIC_STOP_AFTER": "1.5",
    }
    done = edge("run", env=env)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "session log" in line] == [
        next(line for line in done.stderr.splitlines() if "no session log" in line)
    ]
    assert alsa.raw_path.stat().st_size > 100_000


def test_old_logs_are_pruned_to_keep(tmp_path):
    for stamp in ("20260101T000000Z", "20260102T000000Z", "20260103T000000Z"):
        (tmp_path / f"session-{stamp}-seed1.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("kept")
    log = SessionLog(tmp_path, max_bytes=4096, keep=2)
    path = log.start(seed=3)
    log.close()
    remaining = sorted(p.name for p in tmp_path.iterdir())
    assert remaining == ["notes.txt", "session-20260103T000000Z-seed1.jsonl", path.name]


def test_an_installed_pack_s_fingerprint_covers_its_samples(tmp_path):
    """A replay must notice a reinstalled pack even when only a sample changed, not its pack.toml."""
    from edge.music.style import StyleLibrary
    from edge.session.format import style_hashes
    from tests.pack_helpers import make_pack

    installed = tmp_path / "packs"
    installed.mkdir()
    folder = make_pack(installed, "lofi-garden")
    before = style_hashes(StyleLibrary(installed=installed))
    assert "lofi-garden" in before and "focus" in before
    with (folder / "samples" / "keys" / "c4.wav").open("ab") as sample:
        sample.write(b"\0\0")  # the sample changed, pack.toml did not
    after = style_hashes(StyleLibrary(installed=installed))
    assert after["lofi-garden"] != before["lofi-garden"]
    assert {k: v for k, v in after.items() if k != "lofi-garden"} == {
        k: v for k, v in before.items() if k != "lofi-garden"
    }
