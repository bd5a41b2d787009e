"""The synthesizer judged on its output samples: determinism, headroom, clicks, brightness, delay."""

import numpy as np
import pytest

from edge.music.events import CLOSED_HAT, KICK, Bar, BarPlan, Note
from edge.render.patch import DEFAULT_PATCHES, DrumKit, Mix, parse_mix, parse_patch
from edge.render.synth import Synth

RATE = 48000


def plan(tempo=120.0, energy=0.5, index=0):
    return BarPlan(
        index=index, tempo=tempo, beats=4, key=0, mode="major", density=1.0, register=(60, 84),
        energy=energy, section="peak", bar_in_section=0, section_length=8, style="test",
    )  # fmt: skip


def busy_bar(index=0, energy=0.9):
    notes = [Note(b / 4, 0.25, CLOSED_HAT, 100, "drums") for b in range(16)]
    notes += [Note(b, 0.25, KICK, 120, "drums") for b in range(4)]
    notes += [Note(b / 2, 0.5, 36 + (b % 3), 110, "bass") for b in range(8)]
    notes += [Note(b / 2, 0.4, 72 + (b * 5) % 12, 110, "lead") for b in range(8)]
    notes += [Note(0, 4, p, 90, "pad") for p in (60, 64, 67, 71)]
    return Bar(plan(energy=energy, index=index), tuple(notes))


def synth_with(patches=None, mix=None, seed=0):
    synth = Synth(RATE, seed=seed)
    synth.set_sound(patches or dict(DEFAULT_PATCHES), DrumKit(), mix or Mix())
    return synth


def play(synth, bars, seconds):
    end = 0
    out = []
    total = int(seconds * RATE)
    done = 0
    queue = list(bars)
    while done < total:
        while queue and end < synth.frame + 1024 + synth.lookahead_frames:
            end = synth.schedule(queue.pop(0), end)
        out.append(synth.render(1024))
        done += 1024
    return np.concatenate(out)[:total]


def test_same_seed_same_bytes_other_seed_differs():
    bars = [busy_bar(i) for i in range(3)]
    a = play(synth_with(seed=5), bars, 5)
    b = play(synth_with(seed=5), bars, 5)
    c = play(synth_with(seed=6), bars, 5)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_dense_loud_music_stays_inside_full_scale_without_flat_tops():
    loud = Mix(master=2.0)
    audio = play(synth_with(mix=loud), [busy_bar(i, energy=1.0) for i in range(4)], 8)
    assert np.abs(audio).max() < 1.0
    assert audio.dtype == np.float32 and audio.shape[1] == 2
    # A hard clipper would leave runs of identical peak samples; the soft limiter does not.
    peak = np.abs(audio).max()
    assert np.mean(np.abs(audio) > 0.999 * peak) < 1e-3


def test_single_note_starts_and_ends_without_a_click():
    synth = synth_with(mix=Mix(reverb_level=0.0, delay_level=0.0))
    bar = Bar(plan(), (Note(1.0, 1.0, 57, 127, "bass"),))
    audio = play(synth, [bar], 3)[:, 0]
    level = np.abs(audio).max()
    onset = int(0.5 * RATE)  # beat 1 at 120 BPM
    jumps = np.abs(np.diff(audio))
    assert level > 0.05
    # Around the start and the end of the note, no sample-to-sample step bigger than the
    # waveform's own steepest slope in the middle of the note.
    steady = jumps[onset + 2000 : onset + 20000].max()
    assert jumps[onset - 100 : onset + 200].max() <= steady * 1.05
    end = onset + int(0.5 * RATE)
    assert jumps[end - 200 : end + int(0.2 * RATE)].max() <= steady * 1.05
    assert np.abs(audio[-2000:]).max() < 1e-4  # and it really ends


def test_sound_change_crossfades_without_a_discontinuity():
    synth = synth_with()
    end = 0
    chunks = []
    for i in range(4):
        if i == 2:
            pad_only = {"pad": parse_patch({"voice": "pad", "wave": "square"}, "t")}
            synth.set_sound(pad_only, None, parse_mix({"reverb_time": 4.0}, "t"))
        end = synth.schedule(busy_bar(i), end)
        while synth.frame + 1024 + synth.lookahead_frames <= end:
            chunks.append(synth.render(1024))
    audio = np.concatenate(chunks)
    change = 2 * 4 * RATE // 2
    jumps = np.abs(np.diff(audio[:, 0]))
    before = jumps[change - RATE : change - 2000].max()
    assert jumps[change - 1000 : change + RATE].max() <= before * 1.1


def centroid(audio):
    spectrum = np.abs(np.fft.rfft(audio[:, 0]))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return (spectrum * freqs).sum() / spectrum.sum()


def test_energy_brightens_the_sound():
    dull = play(synth_with(), [busy_bar(0, energy=0.1)], 2)
    bright = play(synth_with(), [busy_bar(0, energy=1.0)], 2)
    assert centroid(bright) > centroid(dull) * 1.1


def test_delay_echo_lands_on_the_beat_grid():
    patches = {"lead": parse_patch({"voice": "pluck", "delay": 1.0, "reverb": 0.0}, "t")}
    mix = Mix(reverb_level=0.0, delay_beats=0.75, delay_feedback=0.0, delay_level=1.0)
    synth = synth_with(patches=patches, mix=mix)
    audio = play(synth, [Bar(plan(tempo=100.0), (Note(0.0, 0.1, 84, 127, "lead"),))], 2.5)
    envelope = np.abs(audio).sum(axis=1)
    expected = int(0.75 * 60 / 100 * RATE)
    window = envelope[expected - 2400 : expected + 2400]
    quiet_before = envelope[expected - 12000 : expected - 4000].max()
    assert window.max() > 4 * quiet_before
    assert abs(int(np.argmax(window > 0.5 * window.max())) - 2400) < 600


def test_light_level_costs_fewer_oscillators_and_still_plays():
    full = synth_with()
    light = synth_with()
    light.set_level(0)
    a = play(full, [busy_bar(0)], 2)
    b = play(light, [busy_bar(0)], 2)
    assert np.sqrt(np.mean(b**2)) > 0.01
    assert not np.array_equal(a, b)


@pytest.mark.parametrize(
    ("table", "fragment"),
    [
        ({"voice": "organ"}, "voice"),
        ({"cutoff": -5}, "cutoff"),
        ({"unison": 2.5}, "unison"),
        ({"x": 1}, "x: unknown"),
    ],
)
def test_bad_patch_values_are_named(table, fragment):
    with pytest.raises(ValueError, match=fragment):
        parse_patch(table, "instruments.lead")
