"""What makes reimagine cheaper changes no byte of what it writes."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.analyse import analyse_file
from edge.audio.pcm import FORMATS, to_bytes
from edge.config import Config
from edge.context.context import Context
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary
from edge.reimagine.command import reimagine_file
from edge.reimagine.plan import Reimagining, plan_track
from edge.reimagine.render import BLOCKS_AT_ONCE, blocks_at_once, piece_frames, scripted_engine, stream
from edge.render.master import _PHASES, _TAPS, Master, TruePeak
from edge.render.patch import Mix
from edge.render.synth import OFFLINE_CHUNK

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import analysis_pieces as pieces  # noqa: E402

RATE, PERIOD = 48000, 1024


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> Path:
    """16 bars in A minor, 100 then 80 BPM (the bench's synthetic song)."""
    path = tmp_path_factory.mktemp("song") / "song.mid"
    pieces.piece(9, "minor", "song", ((0, 100.0), (8, 80.0))).save(str(path))
    return path


def render(
    song: Path, style: str, tier: str, at_once: int, chunk: int = OFFLINE_CHUNK
) -> tuple[np.ndarray, list[int]]:
    """The reimagined song's audio through ``stream`` and the length of every block it gave, with
    the synth's effects in chunks of up to ``chunk`` frames (reimagine's own: OFFLINE_CHUNK)."""
    styles = StyleLibrary()
    context = Context(style=style)
    plans = plan_track(analyse_file(song), styles.get(style), Reimagining(energy=context.energy))
    engine = scripted_engine(
        plans, styles, context, 7, rate=RATE, block=PERIOD, registry=TierRegistry(), tier=tier,
        sampling=(1.0, 0.9), effect_chunk=chunk,
    )  # fmt: skip
    total = piece_frames(plans, RATE)
    blocks = list(stream(engine, total, PERIOD, 2 * RATE, at_once=at_once))
    assert sum(len(b) for _, b in blocks) == total
    return np.concatenate([b for _, b in blocks]), [len(b) for _, b in blocks]


@pytest.mark.parametrize(("style", "tier"), [("house", "0"), ("focus", "L")])
def test_rendering_many_periods_at_once_gives_the_same_bytes(song: Path, style: str, tier: str) -> None:
    if tier not in TierRegistry().available:
        pytest.skip(f"tier {tier} is not installed")
    one_by_one, periods = render(song, style, tier, at_once=1)
    at_once, sizes = render(song, style, tier, at_once=16)
    assert set(periods) <= {PERIOD, len(one_by_one) % PERIOD}
    assert max(sizes) == 16 * PERIOD  # the faster path was taken...
    assert sizes[-1] <= PERIOD  # ...and left where the piece ends and its tail rings out
    assert at_once.tobytes() == one_by_one.tobytes()
    assert np.abs(at_once).max() > 0.05  # music, not silence


class Counted(TruePeak):
    """The limiter's true-peak meter, counting the chunks it computed between samples for."""

    def __init__(self, bounded: bool) -> None:
        super().__init__()
        self.bounded, self.computed = bounded, 0

    def bound(self, sample_peak: float) -> float:
        return super().bound(sample_peak) if self.bounded else float("inf")

    def peak(self, x: np.ndarray) -> float:
        self.computed += 1
        return super().peak(x)


def test_the_limiter_skips_peaks_between_samples_only_where_they_cannot_matter() -> None:
    """Chunks from quiet to twice over the threshold: the bound changes no sample of the output."""
    rng = np.random.default_rng(3)
    chunks = [
        (rng.standard_normal((2, 2048)) * level).astype(np.float32)
        for level in np.tile(np.geomspace(0.05, 0.8, 40), 3)
    ]
    outputs, meters = [], []
    for bounded in (False, True):
        master = Master(48000, 0, Mix(loudness_gain_db=0.0, master_gain=1.0))
        master._true_peak = meter = Counted(bounded)
        out = np.zeros((len(chunks) * 2048, 2), dtype=np.float32)
        for i, chunk in enumerate(chunks):
            master.process(chunk.copy(), out[i * 2048 : (i + 1) * 2048])
        outputs.append(out)
        meters.append(meter)
    exact, bounded = outputs
    assert exact.tobytes() == bounded.tobytes()
    assert 0 < meters[1].computed < meters[0].computed  # some chunks skipped, some limited
    assert np.abs(exact).max() < 0.95 and np.abs(exact).max() > 0.5  # the limiter was at work


def old_to_bytes(block: np.ndarray, fmt: str) -> bytes:
    """``to_bytes`` as it was before it worked in place: the reference for the bytes."""
    x = np.nan_to_num(np.asarray(block, dtype=np.float32), nan=0.0, posinf=1.0, neginf=-1.0)
    np.clip(x, -1.0, 1.0, out=x)
    if fmt == "S16_LE":
        return np.rint(x * np.float32(32767.0)).astype("<i2").tobytes()
    if fmt == "S32_LE":
        return np.rint(x.astype(np.float64) * 2147483647.0).astype("<i4").tobytes()
    return x.astype("<f4").tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("frames", [1, 1024, 16384])
def test_samples_become_the_same_bytes_as_before(fmt: str, frames: int) -> None:
    block = (np.random.default_rng(frames).standard_normal((frames, 2)) * 0.7).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, 1.0, -1.0, 0.5 / 32767, 1.5 / 32767, -0.0], np.float32)
    block.flat[: min(block.size, len(specials))] = specials[: block.size]
    kept = block.copy()
    assert to_bytes(block, fmt) == old_to_bytes(block, fmt)
    assert to_bytes(block[:, :1], fmt) == old_to_bytes(block[:, :1], fmt)  # a strided view
    calm = np.nan_to_num(block, posinf=0.0, neginf=0.0)  # no NaN to look for
    assert to_bytes(calm, fmt) == old_to_bytes(calm, fmt)
    assert np.array_equal(block, kept, equal_nan=True)  # the caller's block is left alone


def old_true_peak(history: np.ndarray, x: np.ndarray) -> float:
    """``TruePeak.peak`` as it was before its windows came from a strided view: the reference."""
    joined = np.concatenate((history, x), axis=1)
    sample_peak = float(np.abs(x).max())
    magnitude = np.abs(joined)
    near = np.maximum(magnitude[:, 3:-4], magnitude[:, 4:-3])
    channel, start = np.nonzero(near >= 0.5 * sample_peak)
    between = joined[channel[:, None], start[:, None] + np.arange(_TAPS)] @ _PHASES
    return max(sample_peak, float(np.abs(between).max())) if len(between) else sample_peak


def test_the_true_peak_between_samples_is_the_same_number_as_before() -> None:
    rng = np.random.default_rng(5)
    meter, history = TruePeak(), np.zeros((2, _TAPS - 1), np.float32)
    for n in (2048, 2048, 1031, 64, 9, 2048):
        x = (rng.standard_normal((2, n)) * rng.uniform(0.01, 1.0)).astype(np.float32)
        x[:, n // 2] = [0.9, -0.9]  # a peak: few candidates; noise elsewhere: many
        assert meter.peak(x) == old_true_peak(history, x)
        history = np.concatenate((history, x), axis=1)[:, -(_TAPS - 1) :]


def test_midi_alone_is_the_midi_written_with_the_audio(song: Path, tmp_path: Path) -> None:
    """Without --out no audio is mixed, and the notes are the same to the byte."""
    config = Config()
    config = dataclasses.replace(config, credentials=dataclasses.replace(config.credentials, enabled=False))

    def reimagine(out: str | None, midi: str) -> bytes:
        args = argparse.Namespace(
            file=str(song), batch=None, out=out, midi=str(tmp_path / midi), style="house", mood=None,
            energy=None, tempo=None, reharmonize=False, transpose=0, seed=3, tier="L",
        )  # fmt: skip
        line = reimagine_file(args, config)
        assert "16 bars" in line
        return (tmp_path / midi).read_bytes()

    alone = reimagine(None, "alone.mid")
    assert alone == reimagine(str(tmp_path / "with.wav"), "with.mid")
    assert not (tmp_path / "alone.wav").exists()


def test_a_note_held_near_the_timelines_length_keeps_the_render_period_by_period(song: Path) -> None:
    """Where a note may reach the end of the synth's timeline, how far ahead its bar was scheduled
    decides where it is cut: there the render keeps to single periods."""
    styles = StyleLibrary()
    style = styles.get("focus")
    plans = plan_track(analyse_file(song), style, Reimagining())
    assert blocks_at_once(plans, style, RATE, PERIOD) == BLOCKS_AT_ONCE
    first = plans[0]
    held = dataclasses.replace(first.melody[0], duration=16.0 * first.beats)  # tied over 16 bars
    plans[0] = dataclasses.replace(first, melody=(held, *first.melody[1:]))
    assert blocks_at_once(plans, style, RATE, PERIOD) == 1
