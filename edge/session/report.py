"""``edge-music report SESSION.jsonl --png out.png``: a session's timeline for whoever maintains it.

Five panels against time from the telemetry lines: tempo, energy, SoC
temperature with the modelled power, the generator tier and synth level, and
the style and mood as labelled bands. matplotlib comes with the ``eval``
extra and is imported only here; without it the command says so and exits 2.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

from edge.exits import EXIT_OK, OutputError, UsageError
from edge.outputs import check_writable
from edge.session.read import read_session

TIER_LEVELS = {"0": 0, "S": 1, "M": 2, "L": 3}
EXTRA = "pip install 'edge-music[eval]' (or: pip install -e '.[eval]' in a checkout)"


def report_command(session_path: str, png: str) -> int:
    """Draw ``session_path``'s timeline into ``png``; the exit code."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError as exc:
        raise UsageError(f"report needs matplotlib ({exc}); install the eval extra: {EXTRA}") from None
    check_writable(png)
    session = read_session(session_path, same_version=False)  # charting needs no bit-for-bit match
    lines = session.telemetry
    if not lines:
        raise UsageError(f"{session_path}: no telemetry lines to draw (the session was shorter than "
                         "one telemetry interval)")  # fmt: skip
    figure = draw(lines, title=f"{Path(session_path).name}: seed {session.seed}, "
                  f"edge-music {session.header['version']}", pyplot=pyplot)  # fmt: skip
    try:
        figure.savefig(png, dpi=100)
    except OSError as exc:
        raise OutputError(f"cannot write {png}: {exc.strerror or exc}") from None
    finally:
        pyplot.close(figure)
    print(f"edge-music: drew {len(lines)} telemetry points of {session_path} to {png}", file=sys.stderr)
    return EXIT_OK


def _series(lines: list[dict[str, Any]], name: str) -> list[float]:
    values = []
    for line in lines:
        value = line.get(name)
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        values.append(float(value) if ok else math.nan)
    return values


def _bands(axis: Any, minutes: list[float], labels: list[Any], row: float, colours: dict[str, Any]) -> None:
    """Runs of equal labels as coloured bands with their name."""
    start = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            end = minutes[i] if i < len(minutes) else minutes[-1] + (minutes[-1] - minutes[0]) / 50 + 1e-3
            label = str(labels[start])
            colour = colours.setdefault(label, f"C{len(colours) % 10}")
            axis.barh(row, end - minutes[start], left=minutes[start], height=0.8, color=colour, alpha=0.5)
            axis.text(minutes[start], row, f" {label}", va="center", fontsize=8)
            start = i


def draw(lines: list[dict[str, Any]], title: str, pyplot: Any) -> Any:
    """The figure of the telemetry ``lines``."""
    minutes = [float(line.get("t", 0.0)) / 60.0 for line in lines]
    figure, axes = pyplot.subplots(5, 1, sharex=True, figsize=(11, 10))
    figure.suptitle(title)
    axes[0].step(minutes, _series(lines, "tempo"), where="post", color="C0")
    axes[0].set_ylabel("tempo (BPM)")
    axes[1].step(minutes, _series(lines, "energy"), where="post", color="C1")
    axes[1].set_ylabel("energy")
    axes[1].set_ylim(0, 1)
    axes[2].plot(minutes, _series(lines, "temperature_c"), color="C3")
    axes[2].set_ylabel("SoC (°C)", color="C3")
    power = axes[2].twinx()
    power.plot(minutes, _series(lines, "power_w"), color="C2")
    power.set_ylabel("modelled power (W)", color="C2")
    tiers = [TIER_LEVELS.get(str(line.get("tier")), math.nan) for line in lines]
    axes[3].step(minutes, tiers, where="post", color="C4")
    axes[3].set_yticks(range(4), ["0", "S", "M", "L"])
    axes[3].set_ylim(-0.3, 3.3)
    axes[3].set_ylabel("tier", color="C4")
    level = axes[3].twinx()
    level.step(minutes, _series(lines, "synth_level"), where="post", color="C7", linestyle="--")
    level.set_yticks(range(3))
    level.set_ylim(-0.2, 2.2)
    level.set_ylabel("synth level (dashed)", color="C7")
    colours: dict[str, Any] = {}
    _bands(axes[4], minutes, [line.get("style") for line in lines], 1.0, colours)
    _bands(axes[4], minutes, [line.get("mood") for line in lines], 0.0, colours)
    axes[4].set_yticks([0, 1], ["mood", "style"])
    axes[4].set_xlabel("minutes")
    figure.tight_layout()
    return figure
