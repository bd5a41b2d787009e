"""An audio track in the live toggle through the real daemon (real ALSA into a paced pipe, a real
broker), and the session replayed, to WAV and to MIDI.

The library holds the audio track (a MIDI piece rendered by the project's synth at 44.1 kHz: a WAV,
or in the second session the same samples as a FLAC, read through the audio extra's libsndfile), a
MIDI song, a 0-byte WAV and a WAV of garbage. The audio track is analysed by the loader thread and
offered; it is chosen, switched to its original mid-play and left to end; then the MIDI song plays,
is switched to its original, and is stopped. The captured PCM, once the crossfade is over, is the
decoded, resampled, gain-adjusted audio at the same frame; the session's replay is the captured PCM
byte for byte, its MIDI holds each track's version where it was heard, and a replay with the
audio file changed is refused in one line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest

from edge.analysis.analyse import analyse_score
from edge.analysis.midi_in import read_midi
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


@pytest.fixture(scope="module", params=["wav", "flac"])
def played(request, tmp_path_factory):
    """One daemon session: the audio track "tune" (a WAV, or the same samples as a FLAC) chosen,
    switched to its original and left to end; then the MIDI track "song", switched to its original
    from bar 3 or so, and stopped."""
    require_mosquitto()
    suffix = request.param
    root = tmp_path_factory.mktemp(f"audio-live-{suffix}")
    for name in ("alsa", "home", "state", "library", "mqtt", "sessions"):
        (root / name).mkdir()
    render_song(root / "library" / "tune.wav")
    if suffix == "flac":
        soundfile = pytest.importorskip("soundfile", reason="FLAC tracks need the audio extra (soundfile)")
        wav = root / "library" / "tune.wav"
        samples, rate = soundfile.read(str(wav), dtype="int16")
        soundfile.write(str(wav.with_suffix(".flac")), samples, rate, subtype="PCM_16")
        wav.unlink()
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
                probe.wait(f"{base}/state", lambda m: (3, 1) <= (position(m, "song") or (0, 0)) < (9, 1),
                           timeout=60)  # fmt: skip
                probe.publish(f"{base}/set", json.dumps({"version": "toggle"}))
                switched = probe.wait(f"{base}/state", lambda m: position(m, "song") is not None
                                      and json.loads(m.payload).get("version") == "original")  # fmt: skip
                bar = position(switched, "song")[0]
                probe.wait(f"{base}/state", lambda m: (position(m, "song") or (99, 1)) >= (bar + 2, 1),
                           timeout=60)  # a couple of bars of the original, or the end  # fmt: skip
                probe.publish(f"{base}/set", json.dumps({"track": "none"}))
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("track") is None, timeout=30)
        finally:
            daemon.terminate()
            _, err = daemon.communicate(timeout=30)
    pcm = capture.finish()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    (log,) = (root / "sessions").glob("session-*.jsonl")
    return pcm, err, json.loads(offered.payload), log, env, root, suffix


def edge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_the_audio_track_is_offered_and_unusable_wavs_are_listed_with_the_reason(played):
    _, err, offered, _, _, root, _ = played
    assert offered["cmps"][f"edge_music_{DEVICE_ID}_track"]["options"] == ["none", "song", "tune"]
    for name, reason in (("empty.wav", "empty file (0 bytes)"), ("noise.wav", "corrupt WAV")):
        lines = [line for line in err.splitlines() if f"{name} skipped: {reason}" in line]
        assert len(lines) == 1, err
    # The analysis is kept by sha256 in the state directory: a restart will not transcribe again.
    cache = AnalysisCache(root / "state" / "edge-music" / "library-cache")
    again = scan(root / "library", StyleLibrary().get("focus"), cache=cache, analyse_audio=False)
    assert again.pending == () and "tune" in again.ids


def test_after_the_switch_the_output_is_the_decoded_audio_at_the_same_frame(played):
    pcm, _, _, log, _, root, _ = played
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
    pcm, _, _, log, env, _, _ = played
    kinds = [(r["track"], r.get("input")) for r in records(log) if r["kind"] == "track" and r["track"]]
    assert kinds == [("tune", "audio"), ("song", "midi")]
    out = tmp_path / "replay.wav"
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 0, done.stderr
    data = wav_data(out)
    assert len(data) == len(pcm)
    assert data == pcm


def test_a_replay_with_the_track_file_changed_or_missing_exits_2_in_one_line(played, tmp_path):
    _, _, _, log, env, root, suffix = played
    library = tmp_path / "library"
    shutil.copytree(root / "library", library)
    with open(library / f"tune.{suffix}", "ab") as f:
        f.write(b"\0\0\0\0")
    env = {**env, "EDGE_MUSIC_LIBRARY_DIR": str(library)}
    out = tmp_path / "replay.wav"
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "track 'tune' changed since the session" in done.stderr
    assert not out.exists()
    (library / f"tune.{suffix}").unlink()
    done = edge("replay", str(log), "--out", str(out), env=env)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "track 'tune' played in the session and its file" in done.stderr


def test_a_bar_range_around_a_track_is_exactly_those_samples_of_the_full_replay(played, tmp_path):
    """Bars count the endless engine's bars; a range across a track holds the track's frames too."""
    pcm, _, _, log, env, _, _ = played
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


def midi_notes(song: mido.MidiFile) -> list[tuple[str, int, int]]:
    """(track name, pitch, tick) of every note-on."""
    out = []
    for track in song.tracks[1:]:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0:
                out.append((track.name, message.note, tick))
    return out


def seconds_at(song: mido.MidiFile, tick: int) -> float:
    """Seconds from the start to ``tick`` through the file's tempo map."""
    seconds, at, tempo = 0.0, 0, 500000
    for message in song.tracks[0]:
        if at + message.time > tick:
            break
        seconds += mido.tick2second(message.time, song.ticks_per_beat, tempo)
        at += message.time
        if message.type == "set_tempo":
            tempo = message.tempo
    return seconds + mido.tick2second(tick - at, song.ticks_per_beat, tempo)


def meter_ticks(song: mido.MidiFile, kind: str = "time_signature") -> list[int]:
    """Ticks of the time signatures (one where a source starts its first bar after a switch), or of
    the tempo changes."""
    out, tick = [], 0
    for message in song.tracks[0]:
        tick += message.time
        if message.type == kind:
            out.append(tick)
    return out


NEAR = 0.005
"""Seconds: how far a MIDI's time may be from the WAV's frame here (see the test)."""


def near(song: mido.MidiFile, ticks: list[int], frame: int) -> list[int]:
    """The ``ticks`` whose time is ``frame``'s, to within NEAR."""
    return [t for t in ticks if abs(seconds_at(song, t) - frame / RATE) < NEAR]


def test_the_replay_s_midi_holds_each_track_s_version_where_it_was_heard(played, tmp_path):
    """``replay --midi``: the engine's bars, then each track from the frame it faded in at: its
    reimagined bars up to the switch, then its original (a MIDI track's own notes, an audio track's
    transcription), and never the engine's notes in between."""
    _, _, _, log, env, root, _ = played
    out = tmp_path / "heard.mid"
    done = edge("replay", str(log), "--midi", str(out), env=env)
    assert done.returncode == 0, done.stderr
    song = mido.MidiFile(str(out))
    tpb = song.ticks_per_beat
    notes = midi_notes(song)
    lines = records(log)
    # The session has no pause: the sink's frames are the stage's (a pause's silence would take its time too).
    track_lines = [r for r in lines if r["kind"] == "track"]
    originals = []
    for name in ("tune", "song"):
        start = next(r for r in track_lines if r["track"] == name)
        stop = track_lines[track_lines.index(start) + 1]["frame"]
        switch = next(r for r in lines if r["kind"] == "version" and r["track"] == name)
        assert switch["version"] == "original"
        # The track's first bar line is where the WAV has the track fade in, and the engine's tempo
        # comes back where the WAV has the engine back (a MIDI's seconds are the WAV's to within a
        # few milliseconds: each switch before rounds to a tick, under 1 ms here).
        (first,) = near(song, meter_ticks(song), start["frame"])
        (end,) = near(song, meter_ticks(song, "set_tempo"), stop)
        assert [t for t in meter_ticks(song) if first <= t < end] == [first]  # 4/4 throughout
        inside = [n for n in notes if first <= n[2] < end]
        original = [n for n in inside if n[0] == "original"]
        reimagined = [n for n in inside if n[0] != "original"]
        cut = (start["frame"] + switch["frame"]) / RATE
        assert original and reimagined
        assert max(seconds_at(song, t) for *_, t in reimagined) < cut + NEAR
        assert cut - NEAR <= min(seconds_at(song, t) for *_, t in original)
        originals += original
        if name == "song":
            # The file's own pitched notes at their beats from the track's first bar line.
            file = mido.MidiFile(str(root / "library" / "song.mid"))
            own = set()
            for part in file.tracks:
                tick = 0
                for message in part:
                    tick += message.time
                    if message.type == "note_on" and message.velocity and message.channel != 9:
                        own.add((message.note, tick * tpb // file.ticks_per_beat))
            heard = {(pitch, tick - first) for _, pitch, tick in original}
            assert heard <= own
            low, high = min(t for _, t in heard), max(t for _, t in heard)
            assert heard == {(p, t) for p, t in own if low <= t <= high}
            # Before the switch: the reimagined bars as a deck built from the log's recipe plans them.
            bars = []
            deck = build_deck(
                "song", analyse_score(read_midi(root / "library" / "song.mid")), StyleLibrary(),
                Context(**start["context"]), start["seed"], rate=RATE, block=BLOCK, registry=None,
                tier=start["tier"], sampling=tuple(start["sampling"]), repeat=start["repeat"],
                crossfade_beats=start["crossfade_beats"], loudness_lufs=start["loudness_lufs"],
                on_bar=bars.append,
            )  # fmt: skip
            while deck.frame < switch["frame"]:
                deck.render_block(BLOCK)
            expected, beat = set(), 0.0
            for n, bar in enumerate(bars):
                for note in bar.notes:
                    if deck.starts[n] + note.onset * 60.0 * RATE / bar.plan.tempo < switch["frame"]:
                        expected.add((note.track, note.pitch, first + round((beat + note.onset) * tpb)))
                beat += bar.plan.beats
            assert set(reimagined) == expected
    assert sorted(originals) == sorted(n for n in notes if n[0] == "original")  # only while a track played
