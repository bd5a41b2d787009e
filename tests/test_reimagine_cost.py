"""What makes reimagine cheaper changes no byte of what it writes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.analysis.analyse import analyse_file
from edge.context.context import Context
from edge.generator.registry import TierRegistry
from edge.music.style import StyleLibrary
from edge.reimagine.plan import Reimagining, plan_track
from edge.reimagine.render import piece_frames, scripted_engine, stream

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


def render(song: Path, style: str, tier: str, at_once: int) -> tuple[np.ndarray, list[int]]:
    """The reimagined song's audio through ``stream`` and the length of every block it gave."""
    styles = StyleLibrary()
    context = Context(style=style)
    plans = plan_track(analyse_file(song), styles.get(style), Reimagining(energy=context.energy))
    engine = scripted_engine(
        plans, styles, context, 7, rate=RATE, block=PERIOD, registry=TierRegistry(), tier=tier,
        sampling=(1.0, 0.9),
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
