"""The short soak (CI's version of `make soak`): real-time ALSA playback under a CPU hog,
MQTT context changes and broker restarts, judged by a reader that consumes audio like a DAC."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_short_soak_has_no_underruns_and_no_leaks():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "soak.py"), "--minutes", "1.5", "--restarts", "10", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["underruns_at_reader"] == 0, figures
    assert figures["seconds_played"] > 80
    assert figures["rss_growth_mb"] <= 5
    assert figures["threads_end"] <= figures["threads_warm"]
    assert figures["fds_end"] <= figures["fds_warm"]
    assert figures["tracebacks"] == 0 and figures["exit_code"] == 0
