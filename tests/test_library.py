"""Reimagine live, in process: the library scan, the track and version commands over a real
broker, the GPIO version button, Home Assistant's select, and the deck's lock-step switch."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config, GpioConfig
from edge.context.context import Context
from edge.context.control import Command, CommandError, LiveState
from edge.context.from_config import context_from
from edge.library.deck import build_deck
from edge.library.scan import scan, track_id
from edge.library.stage import Stage
from edge.mqtt import discovery
from edge.mqtt.topics import Topics
from edge.music.style import StyleLibrary
from tests.broker import Mosquitto, Probe, start_speaker, wait_for

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

RATE, BLOCK = 48000, 1024


@pytest.fixture(scope="module")
def styles() -> StyleLibrary:
    return StyleLibrary()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A library: a good song with an awkward name, a broken file, a text file, a drums-only file."""
    root = tmp_path_factory.mktemp("library")
    pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(root / "My Song (live).mid"))
    (root / "broken.mid").write_bytes(b"MThd garbage")
    (root / "readme.txt").write_text("not music")
    pieces.build(((0, 120.0),), [("Drums", 9, 0, [(0.0, 0.25, 36), (1.0, 0.25, 38)])]).save(
        str(root / "drums.mid")
    )
    return root


def test_ids_are_safe_names_and_unusable_files_are_listed_with_the_reason(folder, styles, caplog):
    library = scan(folder, styles.get("house"))
    assert library.ids == ("my-song-live",)
    skipped = dict(library.skipped)
    assert set(skipped) == {"broken.mid", "readme.txt", "drums.mid"}
    assert "MIDI" in skipped["broken.mid"] or "MThd" in skipped["broken.mid"]
    assert "suffix '.txt'" in skipped["readme.txt"]
    assert "no melody" in skipped["drums.mid"]
    # One log line per skipped file, naming it.
    for name in skipped:
        assert sum(name in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1
    assert track_id("../../etc/Passwd") == "etc-passwd"
    assert track_id("Über Song!") == "ber-song"


def test_a_rescan_reuses_analyses_and_sees_new_files(folder, styles, tmp_path):
    first = scan(folder, styles.get("house"))
    again = scan(folder, styles.get("house"), first)
    assert again.tracks["my-song-live"].analysis is first.tracks["my-song-live"].analysis
    assert scan(tmp_path / "missing", styles.get("house")).ids == ()


def live_state(tracks=("song", "other")) -> LiveState:
    return LiveState(Context(), ["focus", "house"], tracks=tracks)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../song", "path separator"),
        ("..", "'..'"),
        ("so..ng", "'..'"),
        ("song\0", "NUL"),
        ("a" * 65, "65 characters"),
        ("missing", "not in the library"),
        (7, "must be a library id"),
    ],
)
def test_bad_track_names_are_refused_and_change_nothing(name, problem):
    state = live_state()
    with pytest.raises(CommandError, match=problem):
        state.apply(Command("track", name))
    assert state.snapshot().track is None


def test_track_then_version_toggle_and_back_to_none():
    state = live_state()
    with pytest.raises(CommandError, match="no track is playing"):
        state.apply(Command("version", "toggle"))
    assert state.apply(Command("track", "song")) == {"track"}
    assert state.apply(Command("version", "toggle")) == {"version"}
    assert state.snapshot().version == "original"
    state.apply(Command("version", "reimagined"))
    state.apply(Command("version", "original"))
    assert state.apply(Command("track", "other")) == {"track", "version"}  # a new track plays reimagined
    assert state.snapshot().version == "reimagined"
    assert state.track_finished("other") == {"track", "version"}
    assert state.snapshot().track is None
    state.apply(Command("track", "song"))
    assert state.apply(Command("track", "none")) == {"track"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    with Mosquitto(tmp_path_factory.mktemp("mqtt")) as running:
        yield running


def test_path_traversal_over_mqtt_gets_an_error_and_changes_nothing(broker):
    speaker = start_speaker(broker)
    speaker.state.set_tracks(["song"])
    base = speaker.base
    try:
        with Probe(broker.port, subscribe=[f"{base}/error", f"{base}/state"]) as probe:
            bad = [
                (f"{base}/set", json.dumps({"track": "../../etc/passwd"}), "path separator"),
                (f"{base}/set", json.dumps({"track": "..", "volume": 10}), "'..'"),
                (f"{base}/set", json.dumps({"track": "song\u0000"}), "NUL"),
                (f"{base}/set/track", "/song", "path separator"),
                (f"{base}/set/track", "nothing-here", "not in the library"),
                (f"{base}/set/track", "x" * 300, "300 characters"),
                (f"{base}/set/version", "original", "no track is playing"),
            ]
            for topic, payload, problem in bad:
                probe.clear()
                probe.publish(topic, payload)
                msg = probe.wait(f"{base}/error", lambda m, p=problem: p in json.loads(m.payload)["error"])
                assert json.loads(msg.payload)["topic"] == topic
            snap = speaker.state.snapshot()
            assert snap.track is None and snap.volume == 70  # the volume in the bad message did not apply
            probe.publish(f"{base}/set", json.dumps({"track": "song", "version": "original"}))
            state = probe.wait(f"{base}/state", lambda m: json.loads(m.payload).get("version") == "original")
            assert json.loads(state.payload)["track"] == "song"
    finally:
        speaker.stop()


def test_home_assistant_gets_a_track_select_and_a_version_select():
    topics = Topics("edge-music/spk", "spk", "homeassistant")
    comps = discovery.components(topics, ["focus"], ["song", "other"])
    track = comps["edge_music_spk_track"]
    assert track["p"] == "select" and track["options"] == ["none", "song", "other"]
    assert track["cmd_t"] == "edge-music/spk/set/track"
    version = comps["edge_music_spk_version"]
    assert version["options"] == ["reimagined", "original"]


def test_the_gpio_button_toggles_the_version():
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    from edge.hw.gpio import GpioPanel

    Device.pin_factory = MockFactory()
    try:
        state = live_state()
        panel = GpioPanel(GpioConfig(version_pin=23), state, debounce_s=0.0)
        assert panel.start()
        state.apply(Command("track", "song"))
        Device.pin_factory.pin(23).drive_low()
        Device.pin_factory.pin(23).drive_high()
        assert wait_for(lambda: state.snapshot().version == "original", 2)
        panel.close()
    finally:
        Device.pin_factory.reset()
        Device.pin_factory = None


def deck(folder, styles, repeat=False):
    library = scan(folder, styles.get("house"))
    context = dataclasses.replace(context_from(Config()), style="house")
    return build_deck("my-song-live", library.tracks["my-song-live"].analysis, styles, context, 7,
                      rate=RATE, block=BLOCK, registry=None, tier="0", sampling=(1.0, 0.9),
                      crossfade_beats=1.0, repeat=repeat)  # fmt: skip


def render(d, blocks: int, switch_at: int | None = None) -> np.ndarray:
    out = []
    for i in range(blocks):
        if i == switch_at:
            d.select("original")
        out.append(d.render_block(BLOCK))
    return np.concatenate(out)


def test_a_switch_keeps_the_bar_and_beat_and_crossfades_within_a_beat(folder, styles):
    """After the switch the deck plays the original's own samples at the same frame: no restart."""
    blocks, at = 400, 150
    mixed = render(deck(folder, styles), blocks, switch_at=at)
    plain = deck(folder, styles)
    reimagined, original = [], []
    for _ in range(blocks):
        reimagined.append(plain.reimagined.render_block(BLOCK))
        original.append(plain.original.render_block(BLOCK))
    reimagined, original = np.concatenate(reimagined), np.concatenate(original)
    switch = at * BLOCK
    beat = round(60.0 * RATE / plain.plans[0].tempo)
    assert np.array_equal(mixed[:switch], reimagined[:switch])
    assert np.array_equal(mixed[switch + beat :], original[switch + beat :])
    middle = mixed[switch : switch + beat]
    assert not np.array_equal(middle, original[switch : switch + beat])  # a crossfade, not a cut
    assert np.abs(original[switch + beat :]).max() > 0.01  # the original really plays there


def test_the_stage_fades_a_track_in_and_back_to_the_engine_at_its_end(folder, styles):
    engine_calls = []

    def engine(frames):
        engine_calls.append(frames)
        return np.full((frames, 2), 0.25, dtype=np.float32)

    ended = []
    stage = Stage(engine, RATE, on_track_end=ended.append)
    stage.render_block(BLOCK)
    d = deck(folder, styles)
    stage.play(d)
    while not ended:
        stage.render_block(BLOCK)
    assert ended == ["my-song-live"] and stage.deck is None
    assert d.frame >= d.end_frame
    calls = len(engine_calls)
    for _ in range(200):  # the tail fades out over 2 s, then the engine alone
        block = stage.render_block(BLOCK)
    assert len(engine_calls) == calls + 200 and np.all(block == 0.25)


def test_repeat_plays_the_track_again_on_the_same_grid(folder, styles):
    d = deck(folder, styles, repeat=True)
    frames = 0
    while frames < d.end_frame + 10 * BLOCK:
        d.render_block(BLOCK)
        frames += BLOCK
    assert not d.ended
    bar, beat, seconds = d.where(d.end_frame + 5)
    assert (bar, beat) == (1, 1) and seconds > 30


def test_a_track_that_cannot_load_is_one_error_and_the_engine_plays_on(folder, styles, caplog):
    from edge.config import LibraryConfig
    from edge.engine import Engine
    from edge.library.live import LiveTracks
    from edge.library.scan import Library

    state = LiveState(Context(style="house"), styles.names)
    engine = Engine(styles, lambda: state.context, 3, sample_rate=RATE, block_frames=BLOCK)
    live = LiveTracks(LibraryConfig(dir=str(folder)), state, lambda: styles, engine, None,
                      rate=RATE, block=BLOCK, sampling=(1.0, 0.9))  # fmt: skip
    errors: list[str] = []
    live.on_error = errors.append
    live.rescan()
    assert state.tracks == ("my-song-live",)
    live.start()
    try:
        live.library = Library(folder)  # the file went away after the scan
        state.apply(Command("track", "my-song-live"))
        assert wait_for(lambda: errors, 5)
        assert errors == ["track 'my-song-live' cannot be played: it left the library with the last rescan"]
        assert wait_for(lambda: state.snapshot().track is None, 2)
        assert live.stage.render_block(BLOCK).shape == (BLOCK, 2) and live.stage.deck is None
        assert sum("cannot be played" in r.getMessage() for r in caplog.records) == 1
        live.library = scan(folder, styles.get("house"))
        state.apply(Command("track", "my-song-live"))  # and a good one plays
        assert wait_for(lambda: (live.stage.render_block(BLOCK), live.stage.deck)[1] is not None, 5)
    finally:
        live.stop()
