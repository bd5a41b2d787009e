"""The short soak (CI's version of `make soak`): real-time ALSA playback under a CPU hog,
MQTT context changes and broker restarts, judged by a reader that consumes audio like a DAC."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def soaks() -> dict[str, dict]:
    """Both short soaks at once, tier 0 and the neural tiers, each with its own daemon, broker and
    reader: one CPU hog pinned to a core (started by the neural soak) loads both, and each daemon
    also plays beside the other, so neither has a core to itself. Side by side they take the time
    of one (90 s of CI's test time saved)."""
    command = [sys.executable, str(ROOT / "scripts" / "soak.py"), "--minutes", "1.5", "--restarts", "10"]
    runs = {}
    for tier, hog in (("0", ["--no-hog"]), ("auto", [])):
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        runs[tier] = subprocess.Popen([*command, "--json", "--tier", tier, *hog], **pipes)
    figures = {}
    for tier, run in runs.items():
        out, err = run.communicate(timeout=300)
        assert run.returncode == 0, err[-2000:]
        figures[tier] = json.loads(out.strip().splitlines()[-1])
    return figures


def test_short_soak_has_no_underruns_and_no_leaks(soaks):
    figures = soaks["0"]
    assert figures["underruns_at_reader"] == 0, figures
    assert figures["seconds_played"] > 80
    # Means of a window from half-time and of the last one: the synth's caches hold the current
    # style's loops and envelopes (a style change drops the old one's), and focus's and house's
    # sampled pianos open their trimmed SoundFont and load a preset's samples when those styles
    # play and free them when the others do (a few MB either way): whichever is playing in the last
    # window shows. `make soak` runs 30 minutes and holds the daemon to 5 MB. Measured: 8.3 and
    # 9.0 MB (band 111-126 MB) before the memory work of issue #16, 3.5 MB (band 85-93 MB) after.
    assert figures["rss_growth_mb"] <= 14
    assert figures["threads_end"] <= figures["threads_warm"]
    assert figures["fds_end"] <= figures["fds_warm"]
    assert figures["tracebacks"] == 0 and figures["exit_code"] == 0


def test_short_soak_with_the_neural_tiers_never_gaps(soaks):
    """Tier L under the same load. Its memory still grows for minutes here as bounded caches fill
    (the synth's loop cache meets more pitches), so growth is judged by the 30-minute make soak."""
    figures = soaks["auto"]
    assert figures["underruns_at_reader"] == 0, figures
    assert figures["seconds_played"] > 80
    assert figures["threads_end"] <= figures["threads_warm"]
    assert figures["fds_end"] <= figures["fds_warm"]
    assert figures["tracebacks"] == 0 and figures["exit_code"] == 0
