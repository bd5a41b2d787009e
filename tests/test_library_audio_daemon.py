"""An audio track in the live toggle through the real daemon (real ALSA into a paced pipe, a real
broker), and the session replayed.

The library holds a WAV (a MIDI piece rendered by the project's synth at 44.1 kHz), a MIDI song, a
0-byte WAV and a WAV of garbage. The WAV is analysed by the loader thread and offered; it is
chosen, switched to its original mid-play and left to end; then the MIDI song plays a while. The
captured PCM, once the crossfade is over, is the decoded, resampled, gain-adjusted audio at the
same frame; the session's replay is the captured PCM byte for byte, and a replay with the WAV
changed is refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.audio.pcm import to_bytes
from edge.context.context import Context
from edge.library.cache import AnalysisCache
from edge.library.deck import build_deck
from edge.library.original_audio import decode_original
from edge.library.scan import scan
from edge.music.style import StyleLibrary
from tests.alsa_env import AlsaEnv
from tests.broker import Mosquitto, Probe, require_mosquitto
from tests.daemon_env import daemon_env
from tests.daemon_env import track_position as position
from tests.test_library_audio import render_song
from tests.test_session import PacedCapture, records, wait_for_record, wav_data

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

DEVICE_ID = "audiotrack"
RATE, BLOCK = 48000, 1024
SEED = 13
FRAME_BYTES = 4  # S16_LE stereo


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    require_mosquitto()
    root = tmp_path_factory.mktemp("audio-live")
    for name in ("alsa", "home", "state", "library", "mqtt", "sessions"):
        (root / name).mkdir()
    render_song(root / "library" / "tune.wav")
    pieces.piece(7, "major", "song", ((0, 110.0),)).save(str(root / "library" / "song.mid"))
    (root / "library" / "empty.wav").write_bytes(b"")
    (root / "library" / "noise.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    alsa = AlsaEnv(root / "alsa")
    capture = PacedCapture(root / "pcm.fifo", speed=4.0)
    alsa.define("paced", f'type file slave.pcm "null" file "{capture.path}" format "raw"')
    base = f"edge-music/{DEVICE_ID}"
    env = daemon_env(
        root, alsa, DEVICE_ID, state=root / "state", music_seed=SEED, music_volume=100, generator_tier="0",
        session_dir=root / "sessions", library_dir=root / "library",
        library_style="focus",  # 68-90 BPM: the track's ~126 must stay for the audio
    )  # fmt: skip
    with Mosquitto(root / "mqtt") as broker:
        env |= {"EDGE_MUSIC_MQTT_HOST": "127.0.0.1", "EDGE_MUSIC_MQTT_PORT": str(broker.port)}
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            discovery = f"homeassistant/device/{DEVICE_ID}/config"
            with Probe(broker.port, subscribe=[f"{base}/availability", f"{base}/state", discovery]) as probe:
                probe.wait(f"{base}/availability", lambda m: m.payload == b"online", timeout=30)
                # The WAV is offered once the loader thread has analysed it.
                offered = probe.wait(discovery, lambda m: b'"tune"' in m.payload, timeout=120)
                probe.publish(f"{base}/set", json.dumps({"track": "tune"}))
                probe.wait(f"{base}/state", lambda m: (position(m, "tune") or (0, 0)) >= (3, 1), timeout=60)
                probe.publish(f"{base}/set", json.dumps({"version": "toggle"}))
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("version") == "original")
                probe.clear()
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("track") is None, timeout=60)
                probe.publish(f"{base}/set", json.dumps({"track": "song"}))
                started = lambda r: r.get("kind") == "track" and r["track"] == "song"  # noqa: E731
                wait_for_record(root / "sessions", started, timeout=60)
                probe.clear()  # the position the last track left is not this one's
                probe.wait(f"{base}/state", lambda m: (2, 1) <= (position(m, "song") or (0, 0)) < (9, 1),
                           timeout=60)  # fmt: skip
                probe.publish(f"{base}/set", json.dumps({"track": "none"}))
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("track") is None, timeout=30)
        finally:
            daemon.terminate()
            _, err = daemon.communicate(timeout=30)
    pcm = capture.finish()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    (log,) = (root / "sessions").glob("session-*.jsonl")
    return pcm, err, json.loads(offered.payload), log, env, root


def edge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_the_audio_track_is_offered_and_unusable_wavs_are_listed_with_the_reason(played):
    _, err, offered, _, _, root = played
    assert offered["cmps"][f"edge_music_{DEVICE_ID}_track"]["options"] == ["none", "song", "tune"]
    for name, reason in (("empty.wav", "empty file (0 bytes)"), ("noise.wav", "corrupt WAV")):
        lines = [line for line in err.splitlines() if f"{name} skipped: {reason}" in line]
        assert len(lines) == 1, err
    # The analysis is kept by sha256 in the state directory: a restart will not transcribe again.
    cache = AnalysisCache(root / "state" / "edge-music" / "library-cache")
    again = scan(root / "library", StyleLibrary().get("focus"), cache=cache, analyse_audio=False)
    assert again.pending == () and "tune" in again.ids


def test_after_the_switch_the_output_is_the_decoded_audio_at_the_same_frame(played):
    pcm, _, _, log, _, root = played
    lines = records(log)
    start = next(r for r in lines if r["kind"] == "track" and r["track"] == "tune")
    switch = next(r for r in lines if r["kind"] == "version" and r["track"] == "tune")
    assert start["input"] == "audio" and switch["version"] == "original"
    library = scan(root / "library", StyleLibrary().get("focus"))
    track = library.tracks["tune"]
    assert track.sha256 == start["sha256"]
    audio = decode_original(track.path, track.sha256, RATE, start["loudness_lufs"], 300.0)
    deck = build_deck("tune", track.analysis, StyleLibrary(), Context(**start["context"]), start["seed"],
                      rate=RATE, block=BLOCK, registry=None, tier="0", sampling=(1.0, 0.9),
                      crossfade_beats=1.0, repeat=False, audio=audio)  # fmt: skip
    beat = round(60.0 * RATE / deck.plans[0].tempo)
    first, end = switch["frame"] + beat, deck.end_frame  # after the crossfade, to the last bar's end
    assert beat < switch["frame"] and first < end
    # The decoded, resampled, gain-adjusted audio, each bar from the sample at its downbeat.
    score = track.analysis.score
    expected = np.zeros((end - first, 2), np.float32)
    for b, bar in enumerate(track.analysis.bars):
        low, high = max(deck.starts[b], first), min(deck.starts[b + 1], end)
        if low >= high:
            continue
        source = np.arange(low, high) - deck.starts[b] + round(score.seconds_at(bar.start) * RATE)
        inside = (source >= 0) & (source < len(audio.samples))
        expected[low - first : high - first][inside] = audio.samples[source[inside]]
    expected *= np.float32(audio.factor)
    at = start["frame"]
    heard = pcm[(at + first) * FRAME_BYTES : (at + end) * FRAME_BYTES]
    assert heard == to_bytes(expected, "S16_LE")


def test_the_replay_of_a_session_that_played_tracks_is_byte_identical(played, tmp_path):
    pcm, _, _, log, env, _ = played
    kinds = [(r["track"], r.get("input")) for r in records(log) if r["kind"] == "track" and r["track"]]
    assert kinds == [("tune", "audio"), ("song", "midi")]
    out = tmp_path / "replay.wav"
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    data = wav_data(out)
    assert len(data) == len(pcm)
    assert data == pcm


def test_a_replay_with_the_track_file_changed_or_missing_exits_2_in_one_line(played, tmp_path):
    _, _, _, log, env, root = played
    library = tmp_path / "library"
    shutil.copytree(root / "library", library)
    with open(library / "tune.wav", "ab") as f:
        f.write(b"\0\0\0\0")
    env = {**env, "EDGE_MUSIC_LIBRARY_DIR": str(library)}
    out = tmp_path / "replay.wav"
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "track 'tune' changed since the session" in done.stderr
    assert not out.exists()
    (library / "tune.wav").unlink()
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "track 'tune' played in the session and its file" in done.stderr


def test_a_bar_range_around_a_track_is_exactly_those_samples_of_the_full_replay(played, tmp_path):
    """Bars count the endless engine's bars; a range across a track holds the track's frames too."""
    pcm, _, _, log, env, _ = played
    start = next(r for r in records(log) if r["kind"] == "track" and r["track"] == "tune")
    command = next(r for r in records(log) if r["kind"] == "command" and r["value"] == "tune")
    first, last = command["bar"] - 2, command["bar"] + 1  # the engine's bars either side of the track
    out = tmp_path / "part.wav"
    done = edge("replay", str(log), "--from-bar", str(first), "--to-bar", str(last), "--out", str(out),
                env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    begin, end = (int(x) for x in done.stderr.split("frames ")[1].split(" of")[0].split("-"))
    assert begin < start["frame"] < end  # the range spans the track
    assert wav_data(out) == pcm[begin * FRAME_BYTES : end * FRAME_BYTES]
