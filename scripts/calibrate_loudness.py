#!/usr/bin/env python3
"""Calibrate each style pack's loudness: write `[mix] loudness_gain_db` so it plays at -16 LUFS.

    python scripts/calibrate_loudness.py                  # every built-in pack (about 15 min)
    python scripts/calibrate_loudness.py edge/styles/focus.toml
    python scripts/calibrate_loudness.py --check          # measure only; exit 1 if a pack is off

Each pack is rendered at tier 0 (procedural float math: the same figures on every CPU) through the
real engine over one pass of its arc (build, peak, break: from the end of the intro to the next
build), at several seeds, listener energies and activities (its own and the default;
edge/loudness.py: CALIBRATION_SEEDS, CALIBRATION_ENERGIES); the mean integrated loudness
(ITU-R BS.1770, pyloudnorm) sets the gain, and a second pass checks it, since the limiter is not
linear and the master's leveller makes up half of any error. Re-run it after changing a pack's
sound: the number lives in one key. Needs the eval extra (pyloudnorm, scipy): pip install -e '.[eval]'.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from edge import loudness  # noqa: E402
from edge.music.style import StyleError, load_pack  # noqa: E402
from edge.render.leveller import RATIO  # noqa: E402
from edge.render.master import CEILING_DBTP, REFERENCE_LUFS  # noqa: E402

KEY = "loudness_gain_db"
TOLERANCE_LU = 0.15
"""A pass that lands this close to the target is done."""
CHECK_LU = 1.0
"""``--check`` fails a pack further than this from the target."""
PASSES = 4


def measured(pack, seeds, energies, seconds) -> tuple[float, float]:
    """(mean integrated loudness, highest true peak) over the renders."""
    levels, peaks = [], []
    for activity in loudness.activities_for(pack):
        for energy in energies:
            for seed in seeds:
                audio = loudness.render_pack(pack, seed, energy, seconds, activity).audio
                level, peak = loudness.measure_level(audio)
                levels.append(level)
                peaks.append(peak)
    return sum(levels) / len(levels), max(peaks)


def write_gain(path: Path, gain: float) -> None:
    """Set ``[mix] loudness_gain_db`` in the pack file, keeping every other line as it is."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    entry = f"{KEY} = {gain:.2f}\n"
    start = next((i for i, line in enumerate(lines) if line.strip() == "[mix]"), None)
    if start is None:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines += ["\n", "[mix]\n", entry]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("[")), len(lines))
        existing = next((i for i in range(start + 1, end) if re.match(rf"\s*{KEY}\s*=", lines[i])), None)
        if existing is not None:
            lines[existing] = entry
        else:
            last = max((i for i in range(start, end) if lines[i].strip()), default=start)
            lines.insert(last + 1, entry)
    path.write_text("".join(lines), encoding="utf-8")


def calibrate(path: Path, args: argparse.Namespace) -> tuple[str, float, float, float]:
    """Calibrate one pack file; (name, gain, loudness, true peak) as finally measured."""
    pack = load_pack(path)
    for _ in range(PASSES):
        level, peak = measured(pack, args.seeds, args.energies, args.seconds)
        error = REFERENCE_LUFS - level
        if args.check or abs(error) <= TOLERANCE_LU:
            break
        # The master's leveller makes up RATIO of any error itself: a gain step moves the level
        # by about (1 - RATIO) of it.
        step = error / (1.0 - RATIO)
        write_gain(path, max(-24.0, min(24.0, pack.mix.loudness_gain_db + step)))
        pack = load_pack(path)
    return pack.name, pack.mix.loudness_gain_db, level, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("packs", nargs="*", type=Path, help="pack files (default: edge/styles/*.toml)")
    parser.add_argument("--check", action="store_true", help="measure only, write nothing")
    parser.add_argument("--seeds", default=",".join(map(str, loudness.CALIBRATION_SEEDS)))
    parser.add_argument("--energies", default=",".join(map(str, loudness.CALIBRATION_ENERGIES)))
    parser.add_argument("--seconds", type=float, default=loudness.CALIBRATION_SECONDS,
                        help="seconds per render after the intro (default: one pass of the arc)")  # fmt: skip
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
        args.energies = [float(e) for e in args.energies.split(",")]
    except ValueError:
        parser.error("--seeds takes integers and --energies numbers, separated by commas")
    if not all(0.0 <= e <= 1.0 for e in args.energies) or not 5 <= (args.seconds or 5) <= 3600:
        parser.error("--energies must be in 0..1 and --seconds in 5..3600")
    paths = args.packs or sorted((ROOT / "edge/styles").glob("*.toml"))
    off = 0
    for path in paths:
        try:
            name, gain, level, peak = calibrate(path, args)
        except (StyleError, OSError) as exc:
            print(f"calibrate_loudness: {path}: {exc}", file=sys.stderr)
            return 2
        except loudness.MeterMissing as exc:
            print(f"calibrate_loudness: {exc}", file=sys.stderr)
            return 2
        bad = abs(level - REFERENCE_LUFS) > CHECK_LU or peak > CEILING_DBTP
        off += bad
        print(f"{name}: {KEY} = {gain:+.2f} dB -> {level:.2f} LUFS, true peak {peak:.2f} dBTP"
              f"{'  OFF TARGET' if bad else ''}", flush=True)  # fmt: skip
    return 1 if args.check and off else 0


if __name__ == "__main__":
    raise SystemExit(main())
