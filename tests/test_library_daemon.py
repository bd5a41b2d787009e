"""Reimagine live through the real daemon: real ALSA (a ``file`` PCM into a paced pipe) and a real
broker. A track is chosen and switched to its original mid-play; the captured PCM must be, sample
for sample, the reimagined version before the switch and the original's own samples at the same
frame index once the crossfade (at most one beat) is over: the bar and beat carried on."""

from __future__ import annotations

import dataclasses
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.audio.pcm import to_bytes
from edge.config import Config
from edge.context.from_config import context_from
from edge.library.deck import build_deck
from edge.library.scan import scan
from edge.music.style import StyleLibrary
from tests.alsa_env import AlsaEnv
from tests.broker import Mosquitto, Probe, require_mosquitto
from tests.daemon_env import daemon_env, track_position
from tests.test_session import PacedCapture

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

DEVICE_ID = "tracktest"
RATE, BLOCK = 48000, 1024
SEED = 11


def position(message) -> tuple[int, int] | None:
    return track_position(message, "song")


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """One daemon session: choose "song", switch to the original from bar 3 on, let it end, rescan."""
    require_mosquitto()
    root = tmp_path_factory.mktemp("live")
    for name in ("alsa", "home", "state", "library", "mqtt"):
        (root / name).mkdir()
    pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(root / "library" / "song.mid"))
    (root / "library" / "notes.mid").write_bytes(b"not a MIDI file")
    alsa = AlsaEnv(root / "alsa")
    capture = PacedCapture(root / "pcm.fifo", speed=4.0)
    alsa.define("paced", f'type file slave.pcm "null" file "{capture.path}" format "raw"')
    base = f"edge-music/{DEVICE_ID}"
    with Mosquitto(root / "mqtt") as broker:
        env = daemon_env(
            root, alsa, DEVICE_ID, broker.port, state=root / "state", music_seed=SEED, music_volume=100,
            generator_tier="0", session_enabled="false", library_dir=root / "library", library_style="house",
        )  # fmt: skip
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edge", "run"], cwd=root, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            discovery = f"homeassistant/device/{DEVICE_ID}/config"
            with Probe(broker.port, subscribe=[f"{base}/availability", f"{base}/state", discovery]) as probe:
                probe.wait(f"{base}/availability", lambda m: m.payload == b"online", timeout=30)
                announced = json.loads(probe.wait(discovery, timeout=10).payload)
                probe.publish(f"{base}/set", json.dumps({"track": "song"}))
                probe.wait(f"{base}/state", lambda m: (position(m) or (0, 0)) >= (3, 1), timeout=30)
                probe.publish(f"{base}/set", json.dumps({"version": "toggle"}))
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("version") == "original")
                states = [json.loads(m.payload) for m in probe.received(f"{base}/state")]
                probe.clear()
                probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("track") is None, timeout=60)
                states += [json.loads(m.payload) for m in probe.received(f"{base}/state")]
                # A file added to the folder is a track after SIGHUP: Home Assistant hears of it.
                second = root / "library" / "Second Song.mid"
                pieces.piece(7, "major", "song", ((0, 110.0),)).save(str(second))
                daemon.send_signal(signal.SIGHUP)
                news = probe.wait(discovery, lambda m: b"second-song" in m.payload, timeout=20)
                rescanned = json.loads(news.payload)
        finally:
            daemon.send_signal(signal.SIGTERM)
            _, err = daemon.communicate(timeout=30)
    pcm = capture.finish()
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    return pcm, err, states, (announced, rescanned), root


def test_home_assistant_offers_the_library_rescanned_on_sighup_and_unreadable_files_are_logged(played):
    _, err, _, (announced, rescanned), _ = played
    track = f"edge_music_{DEVICE_ID}_track"
    assert announced["cmps"][track]["options"] == ["none", "song"]
    assert rescanned["cmps"][track]["options"] == ["none", "second-song", "song"]
    skipped = [line for line in err.splitlines() if "notes.mid skipped: not a MIDI file" in line]
    assert len(skipped) == 2  # at start and on SIGHUP


def test_the_position_carries_on_through_the_switch(played):
    _, _, states, _, _ = played
    heard = [(s["track_position"], s["version"]) for s in states if s.get("track") == "song"
             and s.get("track_position")]  # fmt: skip
    versions = [v for _, v in heard]
    assert "reimagined" in versions and "original" in versions
    positions = [tuple(int(x) for x in p.split(".")) for p, _ in heard]
    assert positions == sorted(positions)  # never back to bar 1: no restart at the switch
    assert states[-1]["track"] is None  # the track ended: back to endless generation


def test_the_pcm_is_the_other_version_at_the_same_frame_after_the_switch(played):
    pcm, err, _, _, root = played
    start = int(re.search(r"track song from output frame (\d+)", err).group(1))
    switch = int(re.search(r"track song: original from bar \d+ beat \d+ \(track frame (\d+)\)", err).group(1))
    energy = float(re.search(r"track song: reimagined as house.*energy ([0-9.]+)", err).group(1))
    styles = StyleLibrary()
    library = scan(root / "library", styles.get("house"))
    context = dataclasses.replace(context_from(Config()), style="house", energy=energy)

    def fresh():
        return build_deck("song", library.tracks["song"].analysis, styles, context, SEED, rate=RATE,
                          block=BLOCK, registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0,
                          repeat=False)  # fmt: skip

    deck = fresh()
    blocks = -(-deck.end_frame // BLOCK)
    reimagined = np.concatenate([deck.reimagined.render_block(BLOCK) for _ in range(blocks)])
    deck = fresh()
    original = np.concatenate([deck.original.render_block(BLOCK) for _ in range(blocks)])
    beat = round(60.0 * RATE / deck.plans[0].tempo)  # one beat (the piece keeps one tempo)
    frame_bytes = 4  # S16_LE stereo

    def heard(first: int, last: int) -> bytes:
        return pcm[(start + first) * frame_bytes : (start + last) * frame_bytes]

    assert beat < switch and switch + beat < deck.end_frame
    # After the fade in from generation (one beat) and up to the switch: the reimagined version.
    assert heard(beat, switch) == to_bytes(reimagined[beat:switch], "S16_LE")
    # A beat after the switch and up to the end of the last bar: the original, same frame index.
    end = deck.end_frame
    assert heard(switch + beat, end) == to_bytes(original[switch + beat : end], "S16_LE")
    # In between, a crossfade: neither version alone.
    middle = heard(switch, switch + beat)
    assert middle != to_bytes(original[switch : switch + beat], "S16_LE")
    assert middle != to_bytes(reimagined[switch : switch + beat], "S16_LE")
