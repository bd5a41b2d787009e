"""The synthesizer judged on its output samples: determinism, headroom, clicks, crossfades,
brightness, drum timing, tempo-synced delay, pitch, band-limiting and load levels."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edge.music.events import CLAP, CLOSED_HAT, KICK, OPEN_HAT, Bar, BarPlan, Note
from edge.render.patch import DEFAULT_PATCHES, DrumKit, Mix, Patch, parse_drum_kit, parse_mix, parse_patch
from edge.render.synth import EFFECT_CHUNK, OFFLINE_CHUNK, Synth

RATE = 48000
BLOCK = 1024
DRY = Mix(reverb_level=0.0, delay_level=0.0)


def plan(tempo: float = 120.0, energy: float = 0.5, index: int = 0, beats: int = 4) -> BarPlan:
    return BarPlan(
        index=index, tempo=tempo, beats=beats, key=0, mode="major", density=1.0, register=(60, 84),
        energy=energy, section="peak", bar_in_section=0, section_length=8, style="test",
    )  # fmt: skip


def bar(*notes: Note, tempo: float = 120.0, energy: float = 0.5, index: int = 0) -> Bar:
    return Bar(plan(tempo, energy, index), tuple(sorted(notes, key=lambda n: n.onset)))


def busy_bar(index: int = 0, energy: float = 0.9, tempo: float = 128.0) -> Bar:
    """Workout-style: 4 on the floor, 16th hats, claps, bass and lead 8ths, a pad chord, keys."""
    notes = [Note(b, 0.25, KICK, 120, "drums") for b in range(4)]
    notes += [Note(b / 4, 0.2, CLOSED_HAT, 100, "drums") for b in range(16) if b % 4 != 2]
    notes += [Note(b + 0.5, 0.4, OPEN_HAT, 100, "drums") for b in range(4)]
    notes += [Note(b, 0.25, CLAP, 110, "drums") for b in (1, 3)]
    notes += [Note(b / 2, 0.45, 36 + 12 * (b % 2), 115, "bass") for b in range(8)]
    notes += [Note(b / 2, 0.45, 72 + (0, 3, 7, 10, 12, 7, 3, 5)[b], 110, "lead") for b in range(8)]
    notes += [Note(0, 4, p, 90, "pad") for p in (60, 63, 67, 70)]
    notes += [Note(b, 0.5, 64 + i, 95, "keys") for b in range(4) for i in (0, 4, 7)]
    return bar(*notes, tempo=tempo, energy=energy, index=index)


KIT = DrumKit()
MIX = Mix()


def synth_with(
    patches=None, kit: DrumKit | None = KIT, mix: Mix = MIX, seed: int = 0, chunk: int = EFFECT_CHUNK
) -> Synth:
    synth = Synth(RATE, seed=seed, block_frames=BLOCK, effect_chunk=chunk)
    default = {t: DEFAULT_PATCHES[t] for t in ("lead", "keys", "pad", "bass")}
    synth.set_sound(default if patches is None else patches, kit, mix)
    return synth


def play(synth: Synth, bars, seconds: float, between=None, ahead: int = 0) -> np.ndarray:
    """Render ``seconds``, scheduling each bar when playback is within ``ahead`` frames of needing it.

    ``between(synth, block_index)`` runs before each block (to change sound or level mid-stream).
    """
    queue = list(bars)
    end = 0
    blocks = []
    for i in range(int(np.ceil(seconds * RATE / BLOCK))):
        if between is not None:
            between(synth, i)
        while queue and end < synth.frame + BLOCK + ahead:
            end = synth.schedule(queue.pop(0), end)
        blocks.append(synth.render(BLOCK))
    return np.concatenate(blocks)[: int(seconds * RATE)]


def centroid(audio: np.ndarray) -> float:
    """Spectral centroid in Hz (Hann window: a cut-off note must not leak into the measure)."""
    mono = audio.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_same_seed_same_bytes_other_seed_differs():
    def run(seed):
        def change(synth, i):
            if i == 100:
                synth.set_level(1)
            if i == 150:
                synth.set_sound({"pad": DEFAULT_PATCHES["pad"]}, None, Mix(reverb_decay=5.0))

        return play(synth_with(seed=seed), [busy_bar(i) for i in range(6)], 8, between=change)

    a, b, c = run(5), run(5), run(6)
    assert a.dtype == np.float32 and a.shape == (8 * RATE, 2)
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_one_big_render_equals_block_renders():
    big = synth_with()
    small = synth_with()
    big.schedule(busy_bar(), 0)
    small.schedule(busy_bar(), 0)
    whole = big.render(4 * BLOCK)
    pieces = np.concatenate([small.render(BLOCK) for _ in range(4)])
    assert whole.tobytes() == pieces.tobytes()
    assert big.frame == small.frame == 4 * BLOCK


def test_scheduling_ahead_changes_only_how_the_work_is_chunked():
    quiet = Mix(master_gain=0.3)  # below the limiter: everything else is chunk-invariant
    bars = [busy_bar(i) for i in range(3)]
    just_in_time = play(synth_with(mix=quiet), bars, 5)
    synth = synth_with(mix=quiet)
    ahead = play(synth, bars, 5, ahead=synth.lookahead_frames)
    assert np.abs(just_in_time).max() < 0.85
    assert np.abs(just_in_time - ahead).max() < 1e-5


@pytest.mark.parametrize("mix", [MIX, Mix(reverb_size=0.0, reverb_level=1.0, delay_level=0.6)])
def test_an_offline_render_in_long_chunks_plays_what_the_daemon_plays(mix):
    # An offline chunk is a whole number of the daemon's; the reverb runs it in pieces of its
    # shortest line and the master (leveller, limiter) takes the daemon's chunks one at a time:
    # the same samples (up to float rounding) at full level, where the limiter works.
    bars = [busy_bar(i, energy=1.0) for i in range(6)]
    daemon = synth_with(mix=mix)
    heard = play(daemon, bars, 8, ahead=daemon.lookahead_frames)
    offline = synth_with(mix=mix, chunk=OFFLINE_CHUNK)
    longer = play(offline, bars, 8, ahead=offline.lookahead_frames)
    assert np.abs(heard).max() > 0.5
    assert np.abs(heard - longer).max() < 1e-5


def test_dense_loud_music_stays_inside_full_scale_without_flat_tops():
    loud = Mix(master_gain=4.0, reverb_level=1.5, delay_level=1.5)
    audio = play(synth_with(mix=loud), [busy_bar(i, energy=1.0) for i in range(5)], 9)
    peak = np.abs(audio).max()
    assert peak <= 1.0
    assert peak > 0.8  # it is loud...
    # ...but limited, not clipped: a clipper leaves the waveform pinned at its ceiling.
    assert np.mean(np.abs(audio) > 0.995 * peak) < 1e-3
    pinned = (np.abs(audio[1:]) > 0.99 * peak) & (np.abs(audio[:-1]) > 0.99 * peak)
    assert np.mean(pinned) < 1e-3


@pytest.mark.parametrize("voice", sorted(DEFAULT_PATCHES))
def test_every_voice_starts_and_ends_without_a_click(voice):
    patch = DEFAULT_PATCHES[voice]
    synth = synth_with({"lead": patch}, kit=None, mix=DRY)
    onset = int(0.5 * RATE)  # beat 1 at 120 BPM
    audio = play(synth, [bar(Note(1.0, 0.5, 60, 127, "lead"))], 0.5 + 0.25 + patch.release + 1.0)
    mono = audio.mean(axis=1)
    peak = np.abs(mono).max()
    assert peak > 0.02, "the voice plays"
    assert np.abs(audio[:onset]).max() == 0.0
    # Attacks take at least 3 ms: the first millisecond stays well below the note's peak.
    assert np.abs(mono[onset : onset + RATE // 1000]).max() < 0.4 * peak
    # Releases reach exact silence with nothing left at the end: the last millisecond is tiny.
    sounding = np.flatnonzero(np.abs(mono) > 0)
    last = sounding[-1]
    assert last < len(mono) - 100, "the note ends"
    assert np.abs(mono[last - RATE // 1000 : last + 1]).max() < 0.03 * peak


def test_bass_note_edges_are_no_steeper_than_its_waveform():
    synth = synth_with(kit=None, mix=DRY)
    audio = play(synth, [bar(Note(1.0, 1.0, 45, 127, "bass"))], 2)[:, 0]
    onset = int(0.5 * RATE)
    jumps = np.abs(np.diff(audio))
    steady = jumps[onset + 4000 : onset + 20000].max()
    assert jumps[onset - 100 : onset + 200].max() <= steady * 1.05
    release = onset + RATE // 2
    assert jumps[release - 200 : release + RATE // 4].max() <= steady * 1.05


def test_sound_change_crossfades_without_a_discontinuity():
    change_block = 2 * int(4 * 60 / 128 * RATE) // BLOCK  # shortly before bar 2 is scheduled
    glassy = {"pad": parse_patch({"voice": "pad", "wave": "square", "cutoff": 6000}, "t")}

    def change(synth, i):
        if i == change_block:
            synth.set_sound(glassy, None, parse_mix({"reverb_decay": 6.0, "reverb_size": 1.0}, "t"))

    audio = play(synth_with(), [busy_bar(i) for i in range(4)], 6.5, between=change)
    bar_line = 2 * round(4 * 60 / 128 * RATE)
    jumps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    before = jumps[bar_line - RATE : bar_line - 100].max()
    # Where a click would be: the switch itself and the first 100 ms of the new effects and notes.
    # (Later the new sound is free to be steeper than the old; a square wave is.)
    assert jumps[bar_line - 100 : bar_line + RATE // 10].max() <= before * 1.1


def test_new_sound_fades_in_whatever_order_its_notes_come_in():
    def first_bar_after_change(late_drum: bool) -> np.ndarray:
        synth = synth_with(mix=DRY)
        synth.schedule(bar(), 0)  # playing, but silent: only the new sound is heard after the change
        synth.render(RATE)
        synth.set_sound({"pad": DEFAULT_PATCHES["organ"]}, DrumKit(), DRY)
        notes = [Note(0, 2, 60, 100, "pad")] + [Note(3.5, 0.25, CLOSED_HAT, 1, "drums")] * late_drum
        synth.schedule(bar(*notes), 2 * RATE)
        synth.render(RATE)
        return synth.render(RATE // 4)[:, 0]

    for audio in (first_bar_after_change(False), first_bar_after_change(True)):
        # The organ's own attack is 10 ms; faded in, its first 10 ms stay far below its level.
        assert np.abs(audio[:480]).max() < 0.2 * np.abs(audio).max()


def test_old_sound_is_gone_about_a_second_after_a_change_to_silence():
    silent = Mix(reverb_level=0.0, delay_level=0.0, crossfade=1.0)
    bar_line = round(4 * 60 / 128 * RATE)

    def change(synth, i):
        if i == bar_line // BLOCK:
            synth.set_sound({}, None, silent)

    audio = play(synth_with(), [busy_bar(i) for i in range(3)], 4, between=change)
    level = np.abs(audio[bar_line - RATE // 2 : bar_line]).max()
    assert np.abs(audio[bar_line + RATE // 2 : bar_line + RATE // 2 + 1000]).max() > 0.01 * level  # fading
    assert np.abs(audio[bar_line + int(1.05 * RATE) :]).max() < 1e-3 * level  # gone


def test_energy_and_cutoff_brighten_the_sound():
    chord = [Note(0, 4, p, 100, "pad") for p in (48, 55, 60, 64)] + [Note(0, 4, 36, 100, "bass")]
    dull = play(synth_with(mix=DRY), [bar(*chord, energy=0.05)], 2)
    bright = play(synth_with(mix=DRY), [bar(*chord, energy=1.0)], 2)
    assert centroid(bright) > centroid(dull) * 1.15
    open_pad = {"pad": dataclasses.replace(DEFAULT_PATCHES["pad"], cutoff=5000.0)}
    opened = play(synth_with(open_pad, mix=DRY), [bar(*chord[:4], energy=0.05)], 2)
    closed = play(synth_with({"pad": DEFAULT_PATCHES["pad"]}, mix=DRY), [bar(*chord[:4], energy=0.05)], 2)
    assert centroid(opened) > centroid(closed) * 1.3


def test_drums_sound_exactly_where_scheduled():
    beats = (0.0, 1.0, 2.5, 3.25)
    hits = [Note(b, 0.25, KICK, 120, "drums") for b in beats]
    audio = play(synth_with({}, mix=DRY), [bar(*hits, tempo=100.0)], 2.4).mean(axis=1)
    loud = np.flatnonzero(np.abs(audio) > 0.05 * np.abs(audio).max())
    onsets = loud[np.diff(loud, prepend=-RATE) > RATE // 20]  # loud after 50 ms of quiet
    expected = [round(b * 60 / 100 * RATE) for b in beats]
    assert len(onsets) == len(expected)
    assert np.abs(onsets - np.array(expected)).max() < RATE // 1000  # within 1 ms


@pytest.mark.parametrize("tempo", [90.0, 140.0])
def test_delay_echo_follows_the_tempo(tempo):
    kit = parse_drum_kit({"delay": 1.0, "reverb": 0.0}, "t")
    mix = Mix(reverb_level=0.0, delay_beats=0.75, delay_feedback=0.0, delay_level=1.0, delay_pingpong=0.0)
    hat = bar(Note(0, 0.1, CLOSED_HAT, 127, "drums"), tempo=tempo)
    audio = play(synth_with({}, kit=kit, mix=mix), [hat], 2)
    envelope = np.abs(audio).sum(axis=1)
    echo = round(0.75 * 60 / tempo * RATE)
    hit_end = int(0.08 * RATE)
    assert envelope[hit_end : echo - 200].max() < 0.01 * envelope.max()  # silence between hit and echo
    window = envelope[echo - 2400 : echo + 2400]
    assert window.max() > 0.2 * envelope[:hit_end].max()
    first = int(np.argmax(window > 0.05 * window.max())) - 2400
    assert abs(first) < RATE // 1000


def test_tempo_change_moves_the_delay_without_a_click():
    keys = {"keys": dataclasses.replace(DEFAULT_PATCHES["keys"], delay=1.0, reverb=0.0)}
    mix = Mix(reverb_level=0.0, delay_level=1.0, delay_feedback=0.6)
    bars = [bar(*(Note(b, 1.0, 60 + b, 100, "keys") for b in range(4)), tempo=t, index=i)
            for i, t in enumerate((100.0, 100.0, 140.0, 140.0))]  # fmt: skip
    audio = play(synth_with(keys, kit=None, mix=mix), bars, 8.5)
    change = 2 * round(4 * 60 / 100 * RATE)
    jumps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    assert jumps[change - 200 : change + 2 * BLOCK].max() <= jumps[: change - 200].max() * 1.1


def test_light_level_does_less_work_still_plays_and_switches_smoothly():
    full, light = synth_with(), synth_with()
    light.set_level(0)
    a = play(full, [busy_bar(i) for i in range(2)], 3.5)
    b = play(light, [busy_bar(i) for i in range(2)], 3.5)
    assert light.work < 0.6 * full.work
    assert np.sqrt(np.mean(b**2)) > 0.3 * np.sqrt(np.mean(a**2))
    assert centroid(b) > 0.5 * centroid(a)  # the same music, not a muffled version of it

    def toggle(synth, i):
        if i in (40, 90):
            synth.set_level(0 if i == 40 else 2)

    audio = play(synth_with(), [busy_bar(i) for i in range(3)], 5, between=toggle)
    jumps = np.abs(np.diff(audio, axis=0)).max(axis=1)
    steady = jumps[: 40 * BLOCK].max()
    assert jumps[40 * BLOCK - 10 : 42 * BLOCK].max() <= steady * 1.1
    assert jumps[90 * BLOCK - 10 : 92 * BLOCK].max() <= steady * 1.1


@pytest.mark.parametrize("wave", ["saw", "square", "triangle", "pulse", "fm", "organ"])
def test_pitch_is_exact_and_nothing_aliases(wave):
    patch = Patch(voice="lead", wave=wave, attack=0.01, decay=0.0, sustain=1.0, cutoff=20000.0,
                  filter_env=0.0, keytrack=0.0, resonance=0.0, reverb=0.0)  # fmt: skip
    audio = play(synth_with({"lead": patch}, kit=None, mix=DRY), [bar(Note(0, 4, 100, 127, "lead"))], 1.5)
    steady = audio[RATE // 4 : RATE // 4 + RATE, 0].astype(np.float64)  # one second, 1 Hz bins
    power = np.abs(np.fft.rfft(steady * np.hanning(len(steady)))) ** 2
    f0 = 440.0 * 2 ** ((100 - 69) / 12)  # 2637 Hz: only 7 harmonics fit under 20 kHz
    peak = int(np.argmax(power[int(f0) - 30 : int(f0) + 30])) + int(f0) - 30
    a, b, c = power[peak - 1 : peak + 2]
    measured = peak + 0.5 * (a - c) / (a - 2 * b + c)  # parabolic interpolation
    assert abs(1200 * np.log2(measured / f0)) < 1.0  # cents
    # Every bit of energy sits on a harmonic; aliases would land in between.
    bins = np.arange(len(power))
    harmonic = np.abs(bins / f0 - np.round(bins / f0)) * f0 < 15
    assert power[~harmonic].sum() < 1e-6 * power.sum()


def test_a_bar_scheduled_late_comes_in_without_a_click():
    synth = synth_with(kit=None, mix=DRY)
    silence = synth.render(RATE // 2)
    synth.schedule(bar(Note(0, 4, 48, 127, "bass")), 0)  # half a second late: its start is gone
    audio = np.concatenate([silence, synth.render(RATE // 2)])[:, 0]
    jumps = np.abs(np.diff(audio))
    assert np.abs(audio[RATE // 2 + 2000 :]).max() > 0.05  # it plays from where playback is
    assert jumps[RATE // 2 - 10 : RATE // 2 + 300].max() <= jumps[RATE // 2 + 2000 :].max()


def test_tracks_without_a_patch_are_skipped():
    audio = play(synth_with({"pad": DEFAULT_PATCHES["pad"]}, kit=None), [bar(Note(0, 1, 60, 100, "lead"))], 1)
    assert np.abs(audio).max() == 0.0


@pytest.mark.parametrize(
    ("parser", "table", "message"),
    [
        (parse_patch, {"voice": "theremin"}, "instruments.lead: voice: 'theremin' is not one of"),
        (parse_patch, {"cutoff": -5}, "instruments.lead: cutoff: -5 is outside 20..20000"),
        (parse_patch, {"unison": 2.5}, "instruments.lead: unison: expected an integer"),
        (parse_patch, {"level": "loud"}, "instruments.lead: level: expected a number"),
        (parse_patch, {"x": 1}, "instruments.lead: x: unknown key"),
        (parse_drum_kit, {"kick_pitch": 1000}, "instruments.lead: kick_pitch: 1000 is outside"),
        (parse_mix, {"delay_beats": True}, "instruments.lead: delay_beats: expected a number"),
        (parse_mix, [], "instruments.lead: expected a table"),
    ],
)
def test_bad_values_are_named_in_one_line(parser, table, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(")) as caught:
        parser(table, "instruments.lead")
    assert "\n" not in str(caught.value)


def test_a_table_overrides_its_voice_defaults():
    patch = parse_patch({"voice": "bass", "cutoff": 900}, "t")
    assert patch.cutoff == 900.0 and isinstance(patch.cutoff, float)
    assert patch.sub == DEFAULT_PATCHES["bass"].sub
    assert parse_mix({}, "t") == Mix() and parse_drum_kit({}, "t") == DrumKit()
