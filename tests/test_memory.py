"""The synth's memory follows what plays, not how long the timeline could be or which sounds
played before: the ring gives played pages back, and a sound change drops the old sound's
cached loops and envelopes. Neither changes a sample."""

from __future__ import annotations

import ctypes
import dataclasses
import mmap
import sys

import numpy as np
import pytest

from edge.music.events import Note
from edge.render.effects import Delay
from edge.render.patch import DEFAULT_PATCHES, Mix
from edge.render.ring import RELEASE, Timeline
from edge.render.synth import RING_FRAMES
from tests.test_sampled import keys
from tests.test_synth import DRY, bar, busy_bar, play, synth_with

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="asks Linux's mincore")


def resident_bytes(array: np.ndarray) -> int:
    """Bytes of ``array``'s pages in memory (Linux's mincore): for shared memory, its pages in the
    shared-memory object too, whether this process still maps them or not."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    page = mmap.PAGESIZE
    start = array.ctypes.data // page * page
    length = array.ctypes.data + array.nbytes - start
    pages = (ctypes.c_ubyte * -(-length // page))()
    if libc.mincore(start, length, pages) != 0:
        raise OSError(ctypes.get_errno(), "mincore failed")
    return int((np.frombuffer(pages, np.uint8) & 1).sum()) * page


@linux_only
def test_the_ring_holds_only_what_is_scheduled_ahead_of_playback():
    ring = Timeline(RING_FRAMES)
    note = np.ones((1, 48000), dtype=np.float32)  # one second after another, two seconds ahead
    gains = np.array([[0.5], [0.25], [0.125], [1.0]], dtype=np.float32)
    ahead, played, peak = 96000, 0, 0
    while played < 3 * RING_FRAMES:  # three laps of the ring: a minute of audio
        while ring.written_end < played + ahead:
            ring.add(ring.written_end, played, note, gains)
        chunk = ring.view(played, min(2048, ring.frames_to_wrap(played)))
        # Lap after lap, what comes out is exactly what went in (pages given back read as zero).
        assert np.array_equal(chunk, np.broadcast_to(gains, chunk.shape))
        chunk[:] = 0.0
        played += chunk.shape[1]
        ring.consumed(played)
        if played % (8 * 2048) < 2048:
            peak = max(peak, resident_bytes(ring.buses))
    scheduled = ring.written_end - played + ahead  # at most this much lies ahead of playback
    assert peak <= 16 * (scheduled + RELEASE + 2048)  # 4 buses of float32 per frame
    assert peak < ring.buses.nbytes / 4  # pages given back are freed (shared memory's stay, unmapped)


@linux_only
def test_a_long_synth_session_keeps_the_ring_small_and_the_samples_the_same():
    synth = synth_with(mix=DRY)
    bars = [busy_bar(index=i) for i in range(16)]  # 30 s at 128 bpm: the ring wraps
    first = play(synth, bars, 30.0)
    again = play(synth_with(mix=DRY), bars, 30.0)
    assert np.array_equal(first, again)
    assert resident_bytes(synth._timeline.buses) < 4 << 20  # of 16 MiB


def test_a_change_of_sound_drops_the_old_sounds_loops_and_brings_them_back_unchanged():
    pad = {"pad": DEFAULT_PATCHES["pad"]}
    lead = {"lead": DEFAULT_PATCHES["lead"]}
    chords = [bar(*(Note(0, 4, p, 90, "pad") for p in (60, 64, 67)), Note(0, 2, 72, 100, "lead"))]

    def switching(synth, block):
        if block in (40, 80):
            synth.set_sound(lead if block == 40 else pad, None, DRY)

    synth = synth_with(pad, kit=None, mix=DRY)
    voices = synth._voices
    out = play(synth, chords * 6, 6.0, between=switching)
    uids = {key[0] for key in voices.loops._loops} | {key[0] for key in voices.envelopes._cache}
    assert uids == {voices.voice(DEFAULT_PATCHES["pad"]).uid}  # the lead's are gone
    fresh = synth_with(pad, kit=None, mix=DRY)
    fresh._voices.keep = lambda kept: None  # the same synth, keeping every cache
    assert np.array_equal(out, play(fresh, chords * 6, 6.0, between=switching))


def test_a_synth_that_rests_gives_its_caches_back_and_plays_on_sample_for_sample():
    """While a library track plays the engine is not rendered: rest() frees its caches (and any
    FluidSynth instance); the bars after it sound exactly as if it had kept them."""
    patches = {"keys": keys(), "pad": DEFAULT_PATCHES["pad"], "bass": DEFAULT_PATCHES["bass"]}
    bars = [busy_bar(index=i) for i in range(6)]

    def resting(synth, block):
        if block in (30, 31, 100):
            synth.rest()
            assert synth._voices.loops._held == 0 and synth._sampler.loaded == {}

    kept = play(synth_with(patches, mix=DRY), bars, 10.0)
    rested = play(synth_with(patches, mix=DRY), bars, 10.0, between=resting)
    assert np.array_equal(kept, rested)


def test_while_a_library_track_plays_the_engine_rests_and_comes_back_sample_for_sample(tmp_path):
    """The stage tells the engine it is idle once a track has faded in (live.py wires it to
    Synth.rest): the engine's caches and FluidSynth go while the track plays, and the engine
    plays on afterwards exactly as an engine that kept them."""
    from edge.config import Config
    from edge.context.from_config import context_from
    from edge.engine import Engine
    from edge.library.deck import build_deck
    from edge.library.scan import scan
    from edge.library.stage import Stage
    from edge.music.style import StyleLibrary
    from tests.test_library import pieces

    styles = StyleLibrary()
    pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(tmp_path / "song.mid"))
    analysis = scan(tmp_path, styles.get("house")).tracks["song"].analysis
    context = dataclasses.replace(context_from(Config()), style="house")

    def run(rest: bool) -> tuple[np.ndarray, list[bool]]:
        engine = Engine(styles, lambda: context, 5, sample_rate=48000, block_frames=1024)
        idle: list[bool] = []

        def engine_idle():
            engine.synth.rest()
            idle.append(engine.synth._voices.loops._held == 0 and engine.synth._sampler.loaded == {})

        stage = Stage(engine.render_block, 48000, on_engine_idle=engine_idle if rest else None)
        deck = build_deck("song", analysis, styles, context, 5, rate=48000, block=1024, registry=None,
                          tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False)  # fmt: skip
        blocks = []
        for block in range(1800):  # 38 s: 5 s of engine, the 30 s track, the engine again
            if block == 240:
                stage.play(deck)
            blocks.append(stage.render_block(1024))
        return np.concatenate(blocks), idle

    kept, _ = run(rest=False)
    rested, idle = run(rest=True)
    assert idle == [True]  # once, when the track had faded in
    assert np.array_equal(kept, rested)


@pytest.mark.parametrize("beats", [0.125, 0.75, 1.5, 4.0])
def test_the_delay_line_holds_its_echo_at_the_slowest_tempo_and_no_more(beats):
    mix = Mix(delay_beats=beats, delay_feedback=0.0, delay_damping=0.0)
    delay = Delay(48000, mix, Delay.MIN_TEMPO)
    echo = round(min(Delay.MAX_SECONDS, beats * 60.0 / Delay.MIN_TEMPO) * 48000)
    assert delay._buffer is None  # nothing sent yet: no line
    assert 2 * 4 * delay._size <= 2 * 4 * 2 * (echo + 8192)  # a power of two at most twice the need
    out, sent = [], False
    while sum(o.shape[1] for o in out) < echo + 4096:
        n = delay.max_chunk
        send = np.zeros(n, dtype=np.float32)
        if not sent:
            send[0], sent = 1.0, True
        wet = delay.process(send, n)
        out.append(np.zeros((2, n), dtype=np.float32) if wet is None else wet)
    left = np.concatenate(out, axis=1)[0]
    assert int(np.flatnonzero(np.abs(left) > 1e-6)[0]) == echo  # the first echo, where it belongs
