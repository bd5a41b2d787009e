"""Audio tracks in the live toggle, in process: what the scan lists, the analysis cache, the original
laid on the reimagined grid bar by bar, its loudness and the session log's track records.

The audio track is made here: a MIDI piece rendered by the project's own synth (the deck's plain
original of a MIDI track) and written as a 44.1 kHz WAV, so the library resamples it."""

from __future__ import annotations

import dataclasses
import json
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.analyse import analyse_score
from edge.analysis.audio.read import read_stereo, stereo_into
from edge.analysis.midi_in import read_midi
from edge.context.context import Context
from edge.digest import sha256_of
from edge.library.cache import AnalysisCache
from edge.library.deck import bar_starts, build_deck
from edge.library.original_audio import (
    HEADROOM,
    AudioOriginal,
    DecodedAudio,
    decode_original,
)
from edge.library.scan import analyse_pending, scan
from edge.music.style import StyleLibrary
from edge.session.read import SessionLogError, read_session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

RATE, BLOCK = 48000, 1024
SOURCE_RATE = 44100


def render_song(path: Path, tonic: int = 4, mode: str = "minor", bpm: float = 126.0) -> Path:
    """A 16-bar piece rendered through the project's synth (plain keys), as a 44.1 kHz stereo WAV."""
    midi = path.with_suffix(".mid")
    pieces.piece(tonic, mode, "song", ((0, bpm),)).save(str(midi))
    analysis = analyse_score(read_midi(midi))
    midi.unlink()
    deck = build_deck("x", analysis, StyleLibrary(), Context(style="house"), 3, rate=SOURCE_RATE,
                      block=BLOCK, registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0,
                      repeat=False)  # fmt: skip
    blocks = -(-deck.end_frame // BLOCK) + 40  # and the last notes' release
    x = np.concatenate([deck.original.render_block(BLOCK) for _ in range(blocks)])
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SOURCE_RATE)
        w.writeframes(pcm.tobytes())
    return path


@pytest.fixture(scope="module")
def styles() -> StyleLibrary:
    return StyleLibrary()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A library: an audio song, a 0-byte WAV, a WAV of garbage, a FLAC that is not one, a long WAV."""
    root = tmp_path_factory.mktemp("audio-library")
    render_song(root / "Tune.wav")
    (root / "empty.wav").write_bytes(b"")
    (root / "noise.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")
    (root / "cut.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEfmt \x10\x00\x00\x00\x01\x00")
    (root / "fake.flac").write_bytes(b"not a flac at all")
    return root


def test_unusable_audio_files_are_listed_with_the_reason_at_scan(folder, styles, caplog):
    library = scan(folder, styles.get("house"), analyse_audio=False)
    skipped = dict(library.skipped)
    assert set(skipped) == {"empty.wav", "noise.wav", "cut.wav", "fake.flac"}
    assert skipped["empty.wav"] == "empty file (0 bytes), not an audio file"
    assert "corrupt WAV" in skipped["noise.wav"] and "corrupt WAV" in skipped["cut.wav"]
    assert "not a FLAC file" in skipped["fake.flac"]
    for name in skipped:  # one log line each, naming the file
        assert sum(name in r.getMessage() for r in caplog.records if r.levelname == "WARNING") == 1
    # The good file waits for its analysis (the daemon's loader thread does it): not offered yet.
    assert library.ids == ()
    assert [p.id for p in library.pending] == ["tune"]


def test_a_track_over_the_length_cap_is_skipped_in_one_line(folder, styles):
    library = scan(folder, styles.get("house"), analyse_audio=False, max_seconds=10.0)
    assert dict(library.skipped)["Tune.wav"] == "31 s of audio is over library.max_audio_seconds (10 s)"
    assert library.pending == ()


def test_the_analysis_is_cached_by_sha256_and_a_restart_does_not_transcribe_again(folder, styles, tmp_path):
    cache = AnalysisCache(tmp_path / "cache")
    first = scan(folder, styles.get("house"), cache=cache, analyse_audio=False)
    done = analyse_pending(first, first.pending[0], styles.get("house"), cache)
    assert done.ids == ("tune",) and done.pending == ()
    track = done.tracks["tune"]
    assert (tmp_path / "cache" / f"{track.sha256}.json").is_file()
    # A new scan (a restart) finds it in the cache: a track at once, the same analysis.
    again = scan(folder, styles.get("house"), cache=cache, analyse_audio=False)
    assert again.ids == ("tune",) and again.pending == ()
    assert again.tracks["tune"].analysis == track.analysis
    # A damaged cache file is ignored (the file waits for a new analysis), never a crash.
    (tmp_path / "cache" / f"{track.sha256}.json").write_text("{not json")
    assert scan(folder, styles.get("house"), cache=cache, analyse_audio=False).pending[0].id == "tune"


@pytest.fixture(scope="module")
def tune(folder, styles, tmp_path_factory):
    library = scan(folder, styles.get("house"), cache=AnalysisCache(tmp_path_factory.mktemp("cache")))
    return library.tracks["tune"]


def test_the_reimagined_bars_follow_the_original_s_tempo_map(tune, styles):
    audio = decode_original(tune.path, tune.sha256, RATE, -16.0, 300.0)
    deck = build_deck("tune", tune.analysis, styles, Context(style="focus"), 5, rate=RATE, block=BLOCK,
                      registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=False,
                      audio=audio)  # fmt: skip
    score = tune.analysis.score
    for plan, bar in zip(deck.plans, tune.analysis.bars, strict=True):
        seconds = score.seconds_at(bar.end) - score.seconds_at(bar.start)
        assert plan.tempo == pytest.approx(60.0 * plan.beats / seconds)
    # focus plays 68-90 BPM; the track's own ~126 BPM stays (folded, the bars would not line up).
    assert deck.plans[0].tempo > 100
    # The deck's original is the decoded audio, each bar from the sample at its downbeat.
    original = deck.original
    assert isinstance(original, AudioOriginal)
    blocks = -(-deck.end_frame // BLOCK)
    heard = np.concatenate([original.render_block(BLOCK) for _ in range(blocks)])
    starts = deck.starts
    for b, bar in enumerate(tune.analysis.bars):
        anchor = round(score.seconds_at(bar.start) * RATE)
        first, last = starts[b], starts[b + 1]
        source = np.arange(first, last) - first + anchor
        inside = (source >= 0) & (source < len(audio.samples))
        expected = np.zeros((last - first, 2), np.float32)
        expected[inside] = audio.samples[source[inside]]
        expected *= np.float32(audio.factor)
        assert np.array_equal(heard[first:last], expected), f"bar {b}"


def test_every_downbeat_of_the_audio_lands_on_the_deck_s_bar_line_to_the_sample():
    """Bars whose length in frames is not whole (the grid rounds each bar): no drift, by construction."""
    rate, bpm = 48000, 127.0  # 90708.66... frames a bar
    bars = 40
    seconds = [0.01 + 4 * 60.0 / bpm * b for b in range(bars + 1)]
    samples = np.zeros((round(seconds[-1] * rate) + 100, 2), np.int16)
    for s in seconds[:-1]:
        samples[round(s * rate)] = 1000  # a click on every downbeat
    audio = DecodedAudio(samples, rate, "0" * 64, -16.0, 0.0)
    plans = [dataclasses.replace(_plan(), tempo=bpm) for _ in range(bars)]
    starts = bar_starts(plans, rate)
    original = AudioOriginal(audio, starts, seconds[:-1], repeat=True)
    out = np.concatenate([original.render_block(BLOCK) for _ in range(-(-2 * starts[-1] // BLOCK))])
    out = out[: 2 * starts[-1]]
    lines = starts[:-1] + [starts[-1] + s for s in starts[:-1]]  # two passes (repeat)
    assert all(out[line, 0] != 0 for line in lines)  # every downbeat on its bar line
    # Nowhere else, but where a bar of the deck is a frame longer than the file's: there its last
    # frame already plays the next downbeat's sample (the rounding, caught up at every bar line).
    assert set(np.flatnonzero(out[:, 0])) <= {f for line in lines for f in (line - 1, line)}


def _plan():
    from edge.music.events import BarPlan

    return BarPlan(index=0, tempo=120.0, beats=4, key=0, mode="major", density=1.0, register=(60, 72),
                   energy=0.5, section="build", bar_in_section=0, section_length=1, style="house",
                   new_phrase=True, chords=())  # fmt: skip


def test_the_original_is_resampled_in_stereo_and_brought_to_the_loudness_target(tune, tmp_path):
    pyloudnorm = pytest.importorskip("pyloudnorm")
    with wave.open(str(tune.path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2)
    audio = decode_original(tune.path, tune.sha256, RATE, -16.0, 300.0)
    assert len(audio.samples) == len(pcm) * RATE // SOURCE_RATE
    measured = pyloudnorm.Meter(SOURCE_RATE).integrated_loudness(pcm / 32768.0)
    assert audio.loudness_lufs == pytest.approx(measured, abs=0.3)  # our meter, the outside one
    played = audio.samples.astype(np.float64) * audio.factor
    assert pyloudnorm.Meter(RATE).integrated_loudness(played) == pytest.approx(-16.0, abs=0.3)
    assert np.abs(played).max() <= 10 ** (-1 / 20) + 1e-6  # the gain never passes -1 dBFS
    # Left and right stay apart: a file with a tone on the left only is silent on the right.
    left = np.zeros((SOURCE_RATE * 3, 2), "<i2")
    left[:, 0] = (8000 * np.sin(2 * np.pi * 440 * np.arange(len(left)) / SOURCE_RATE)).astype("<i2")
    path = tmp_path / "left.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SOURCE_RATE)
        w.writeframes(left.tobytes())
    stereo, _, _ = read_stereo(path, RATE, HEADROOM)
    assert np.abs(stereo[:, 1]).max() == 0 and np.abs(stereo[:, 0]).max() > 3000


def mapped_bytes(array: np.ndarray) -> int:
    """The RSS of the mapping that holds ``array`` (Linux's /proc/self/smaps)."""
    address, inside = array.ctypes.data, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5:
                low, high = (int(x, 16) for x in fields[0].split("-"))
                inside = low <= address < high
            elif inside and fields[0] == "Rss:":
                return int(fields[1]) * 1024
    raise AssertionError("the array's mapping is not in /proc/self/smaps")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/smaps")
def test_a_spooled_original_plays_the_same_samples_read_a_span_at_a_time(tune, styles, tmp_path, caplog):
    """The daemon spools the decoded audio to a nameless file in its cache folder: the same samples,
    read a span at a time while the deck plays (the RSS does not grow with the track's minutes);
    a folder it cannot write to: one line, it plays from memory."""
    held = decode_original(tune.path, tune.sha256, RATE, -16.0, 300.0)
    spooled = decode_original(tune.path, tune.sha256, RATE, -16.0, 300.0, spool_dir=tmp_path / "spool")
    assert spooled.spooled is not None and held.gain_db == spooled.gain_db
    assert held.loudness_lufs == spooled.loudness_lufs
    assert list((tmp_path / "spool").iterdir()) == []  # no name: the file goes with its last map
    outputs, mapped = [], []
    for audio in (held, spooled):
        deck = build_deck("tune", tune.analysis, styles, Context(style="focus"), 5, rate=RATE, block=BLOCK,
                          registry=None, tier="0", sampling=(1.0, 0.9), crossfade_beats=1.0, repeat=True,
                          audio=audio)  # fmt: skip
        blocks = []
        for i in range(deck.end_frame // BLOCK + 200):  # a pass and the start of the next
            blocks.append(deck.original.render_block(BLOCK))
            if audio is spooled and i % 50 == 0:
                mapped.append(mapped_bytes(spooled.samples))
        outputs.append(np.concatenate(blocks))
    assert np.array_equal(outputs[0], outputs[1]) and np.abs(outputs[0]).max() > 0.01
    assert max(mapped) == 0  # each span is read from the file: no page of the map is touched
    assert np.array_equal(held.samples, spooled.samples)
    (tmp_path / "not-a-folder").write_text("")
    caplog.clear()
    not_a_folder = tmp_path / "not-a-folder"
    fallback = decode_original(tune.path, tune.sha256, RATE, -16.0, 300.0, spool_dir=not_a_folder)
    assert fallback.spooled is None and np.array_equal(fallback.samples, held.samples)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "it plays from memory" in warnings[0] and "not-a-folder" in warnings[0]


@pytest.mark.parametrize(("rate", "channels", "kind"), [(44100, 2, "wav"), (48000, 2, "wav"),
                                                     (44100, 1, "wav"), (44100, 2, "flac")])
def test_decoding_into_a_file_writes_exactly_what_reading_it_whole_gives(tmp_path, rate, channels, kind):
    seconds = np.arange(rate * 5) / rate
    left = 0.6 * np.sin(2 * np.pi * 220.0 * seconds) * np.sin(np.pi * seconds / 5)
    right = 0.9 * np.sign(np.sin(2 * np.pi * 3.0 * seconds)) * np.sin(2 * np.pi * 7040.0 * seconds)
    samples = np.round(np.stack((left, right), axis=1)[:, :channels] * 32767).astype(np.int16)
    path = tmp_path / f"x.{kind}"
    if kind == "flac":
        soundfile = pytest.importorskip("soundfile", reason="FLAC needs the audio extra (soundfile)")
        soundfile.write(str(path), samples, rate, subtype="PCM_16")
    else:
        with wave.open(str(path), "wb") as w:
            w.setnchannels(channels)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(samples.tobytes())
    whole, source_rate, what = read_stereo(path, RATE, 0.5)
    with (tmp_path / "out").open("w+b") as out:
        frames, rate_read, what_read, largest = stereo_into(path, RATE, 0.5, out)
        out.seek(0)
        written = out.read()
    assert written == whole.tobytes() and frames == len(whole) == round(5 * RATE)
    assert (rate_read, what_read) == (source_rate, what) and largest == np.abs(whole).max()


def test_decoding_a_track_to_play_holds_a_chunk_of_it_not_its_minutes(tmp_path):
    """The daemon decodes a track straight into its spool file: the arrays it makes while doing so
    are a chunk's, whatever the track's length; reading it whole takes the track's size."""
    import tracemalloc

    seconds = np.arange(SOURCE_RATE * 180) / SOURCE_RATE
    tone = 0.3 * np.sin(2 * np.pi * 330.0 * seconds) * (1.0 + np.sin(2 * np.pi * 0.5 * seconds)) / 2
    path = tmp_path / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SOURCE_RATE)
        w.writeframes(np.repeat(np.round(tone * 32767).astype(np.int16), 2).tobytes())
    digest = sha256_of(path)
    decoded_bytes = 180 * RATE * 4  # 33 MiB of int16 stereo at 48 kHz
    peaks = []
    for spool_dir in (tmp_path / "spool", None):
        tracemalloc.start()
        audio = decode_original(path, digest, RATE, -16.0, 300.0, spool_dir=spool_dir)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert (audio.spooled is not None) == (spool_dir is not None) and len(audio.samples) == 180 * RATE
        if audio.spooled is not None:
            assert mapped_bytes(audio.samples) == 0  # its loudness was read from the file, not the map
            spooled = audio
    assert peaks[0] < decoded_bytes / 2 < decoded_bytes < peaks[1]
    assert spooled.gain_db == audio.gain_db and np.array_equal(spooled.samples, audio.samples)


def test_a_changed_file_is_refused_when_it_is_loaded(tune, tmp_path):
    copy = tmp_path / "tune.wav"
    copy.write_bytes(tune.path.read_bytes() + b"\0\0\0\0")
    with pytest.raises(ValueError, match=r"tune.wav changed since the library was scanned"):
        decode_original(copy, tune.sha256, RATE, -16.0, 300.0)


def test_a_track_record_with_a_bad_digest_is_one_line_naming_the_line(tmp_path):
    from edge import __version__
    from edge.session.format import CONTEXT_FIELDS

    header = {"kind": "header", "format": "edge-music session", "format_version": 1, "version": __version__,
              "session_id": "x", "seed": 1, "rate": 48000, "block_frames": 1024, "channels": 2,
              "sample_format": "S16_LE", "sampling": [1.0, 0.9], "volume": 1.0, "fade_ms": 50,
              "loudness_lufs": -16.0, "models": {}, "styles": {}, "context": dataclasses.asdict(Context()),
              "tier": "0", "synth_level": 2}  # fmt: skip
    assert set(header["context"]) == set(CONTEXT_FIELDS)
    track = {"kind": "track", "frame": 0, "track": "tune", "file": "tune.wav", "sha256": "abc",
             "input": "audio", "style": "house", "context": header["context"], "seed": 1, "tier": "0",
             "sampling": [1.0, 0.9],
             "crossfade_beats": 1.0, "repeat": False, "loudness_lufs": -16.0}  # fmt: skip
    path = tmp_path / "s.jsonl"
    lines = [header, track, {"kind": "end", "bars": 1, "blocks": 1}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    with pytest.raises(SessionLogError) as error:
        read_session(path)
    assert str(error.value) == f"{path} line 2: the track record's 'sha256' must be 64 hex digits, got 'abc'"
