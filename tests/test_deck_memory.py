"""What a library track's deck holds while it plays, and that holding less changes no sample:
its synths share one set of work arrays per thread (none across threads), effects hold lines
only while they ring, a resting engine lets its drums and hiss go, and the original of a MIDI
track keeps one timbre whatever energy the reimagining plays at."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config
from edge.context.from_config import context_from
from edge.library.deck import OriginalVersion, build_deck, neutral_patch, original_bars
from edge.library.scan import scan
from edge.music.style import StyleLibrary
from edge.render.effects import Reverb
from edge.render.patch import Mix
from edge.render.synth import Synth
from tests.test_library import pieces
from tests.test_sampled import keys
from tests.test_synth import KIT, busy_bar, play, synth_with

RATE, BLOCK = 48000, 1024


@pytest.fixture(scope="module")
def styles() -> StyleLibrary:
    return StyleLibrary()


@pytest.fixture(scope="module")
def analysis(styles, tmp_path_factory):
    folder = tmp_path_factory.mktemp("library")
    pieces.piece(4, "minor", "song", ((0, 126.0),)).save(str(Path(folder) / "song.mid"))
    return scan(Path(folder), styles.get("house")).tracks["song"].analysis


def house_deck(styles, analysis, seed: int = 3, energy: float = 0.6):
    """House: a sampled piano (FluidSynth, where a SoundFont is installed), pads, bass, drums."""
    context = dataclasses.replace(context_from(Config()), style="house", energy=energy)
    return build_deck("song", analysis, styles, context, seed, rate=RATE, block=BLOCK, registry=None,
                      tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False)  # fmt: skip


def render(source, blocks: int) -> np.ndarray:
    return np.concatenate([source.render_block(BLOCK) for _ in range(blocks)])


BLOCKS = 700  # 15 s: eight bars, every instrument of the piece


def test_a_decks_two_synths_share_work_arrays_and_render_what_each_renders_alone(styles, analysis):
    """The deck renders its two versions one after the other, block by block, in one thread (with
    their notes through the same work arrays); each version alone gives the same samples."""
    both = house_deck(styles, analysis)
    reimagined, original = [], []
    for _ in range(BLOCKS):
        reimagined.append(both.reimagined.render_block(BLOCK))
        original.append(both.original.render_block(BLOCK))
    alone = house_deck(styles, analysis)
    assert np.array_equal(np.concatenate(reimagined), render(alone.reimagined, BLOCKS))
    assert np.array_equal(np.concatenate(original), render(alone.original, BLOCKS))
    assert np.abs(np.concatenate(original)).max() > 0.01  # both really play


def test_synths_rendering_at_once_in_two_threads_do_not_share_their_work_arrays(styles, analysis):
    expected = [render(house_deck(styles, analysis, seed), BLOCKS // 2) for seed in (1, 2)]
    outputs: dict[int, np.ndarray] = {}
    start = threading.Barrier(2)

    def run(seed: int) -> None:
        deck = house_deck(styles, analysis, seed)
        start.wait()
        outputs[seed] = render(deck, BLOCKS // 2)

    threads = [threading.Thread(target=run, args=(seed,)) for seed in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert np.array_equal(outputs[1], expected[0]) and np.array_equal(outputs[2], expected[1])


def test_the_original_of_a_midi_track_keeps_its_timbre_whatever_the_reimagined_energy(styles, analysis):
    """Its bars carry the reimagining's plans; their energy (the listener's, the reimagined form's
    arc) is not the original's, so it never opens the original's filter."""
    plans = house_deck(styles, analysis).plans

    def original(energy: float) -> np.ndarray:
        synth = Synth(sample_rate=RATE, seed=3, block_frames=BLOCK)
        synth.set_sound({"keys": neutral_patch(styles)}, None, Mix())
        bars = original_bars(analysis, [dataclasses.replace(p, energy=energy) for p in plans])
        return render(OriginalVersion(bars, synth, repeat=False), 400)

    quiet = original(0.1)
    assert np.array_equal(quiet, original(1.0))
    assert np.abs(quiet).max() > 0.01


def test_the_reverb_sounds_the_same_whatever_its_spare_room_and_holds_lines_only_while_it_rings():
    mix = Mix(reverb_size=1.0, reverb_decay=0.4)
    send = np.random.default_rng(1).standard_normal(48000).astype(np.float32)

    def ring_out(reverb: Reverb) -> tuple[list[np.ndarray], bool]:
        out, at, idle_lines = [], 0, False
        for _ in range(400):
            n = reverb.piece
            chunk = send[at : at + n] if at + n <= len(send) else None
            at += n
            wet = reverb.process(chunk, n)
            out.append(np.zeros((2, n), np.float32) if wet is None else wet)
            idle_lines = reverb.idle and reverb._lines is None
        return out, idle_lines

    small, large = Reverb(RATE, mix), Reverb(RATE, mix)
    small.SPARE, large.SPARE = small.piece, 1 << 15  # moved back every chunk / every 10 chunks
    assert small._lines is None  # nothing sent yet: no lines
    (a, a_idle), (b, b_idle) = ring_out(small), ring_out(large)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert np.abs(np.concatenate(a, axis=1)).max() > 0.01
    assert a_idle and b_idle  # the tail died: the lines went


def test_a_resting_synth_lets_its_drums_and_hiss_go_and_plays_on_sample_for_sample():
    mix = Mix(hiss=0.01)
    patches = {"keys": keys(), "bass": synth_with()._tracks["bass"].patch}
    bars = [busy_bar(index=i) for i in range(6)]

    def resting(synth, block):
        if block in (30, 100):
            synth.rest()
            assert synth._kits == {} and synth._master._noise is None

    kept = play(synth_with(patches, kit=KIT, mix=mix), bars, 10.0)
    rested = play(synth_with(patches, kit=KIT, mix=mix), bars, 10.0, between=resting)
    assert np.array_equal(kept, rested)


def test_the_note_work_array_follows_the_sound_playing_not_the_longest_note_ever(monkeypatch):
    """Ambient's pad notes last seconds: after a change of sound (or a rest) the thread's note work
    array is as long as the new sound's notes need, and the samples are those of a synth that
    keeps the long array."""
    from edge.music.events import Note
    from edge.render import scratch
    from edge.render.patch import DEFAULT_PATCHES
    from tests.test_synth import DRY, bar

    pad = dataclasses.replace(DEFAULT_PATCHES["pad"], release=4.0)
    long_bars = [bar(Note(0, 4, 60, 90, "pad"), tempo=60.0)]
    short_bars = [bar(*(Note(b / 2, 0.25, 48, 100, "bass") for b in range(8)), index=i) for i in range(2)]

    def run() -> np.ndarray:
        synth = synth_with({"pad": pad}, kit=None, mix=DRY)
        first = play(synth, long_bars, 9.0)
        synth.set_sound({"bass": DEFAULT_PATCHES["bass"]}, None, DRY)
        return np.concatenate([first, play(synth, short_bars, 4.0)])

    out = run()
    assert scratch.work_array("note", 2, 1).shape[1] < 2 * RATE  # the 8 s pad note's array is gone
    monkeypatch.setattr(scratch, "let_go", lambda: None)  # keeping every work array
    assert np.array_equal(out, run())
    assert scratch.work_array("note", 2, 1).shape[1] > 6 * RATE
