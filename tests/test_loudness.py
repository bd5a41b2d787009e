"""One loudness across packs: every built-in pack plays at audio.loudness_lufs (BS.1770), its true
peak stays at or under -1 dBTP, a style change glides instead of jumping, and the calibration
script writes the one key it owns.

Renders are at tier 0 (procedural float math: the same music on every CPU) and measured with
pyloudnorm, an outside meter; margins are in LU, as the issue states them.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edge import loudness
from edge.config import ConfigError, load
from edge.context.context import Context
from edge.engine import Engine
from edge.music.style import StyleLibrary, load_pack
from edge.render.master import CEILING_DBTP, LEVELLING_GLIDE_S, Master, levelling_gain, mix_gain
from edge.render.patch import Mix, parse_mix

ROOT = Path(__file__).resolve().parent.parent
STYLES = StyleLibrary()
TARGET = -16.0
#: Seeds the tests render with: not the calibration's seeds (1, 2, 3), so a pass is not a refit.
SEEDS = (5, 6)


def _calibrator():
    path = ROOT / "scripts/calibrate_loudness.py"
    spec = importlib.util.spec_from_file_location("calibrate_loudness", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(pack):
    """(activity, energy, seed): a low and a high energy, with the pack's own activity and with the
    default one (what `render` and a fresh daemon play)."""
    activities = loudness.activities_for(pack)
    return [(activities[0], 0.3, SEEDS[0]), (activities[-1], 0.8, SEEDS[1])]


@pytest.mark.parametrize("name", STYLES.names)
def test_every_pack_plays_at_the_target_loudness_under_the_true_peak_ceiling(name):
    pack = STYLES.get(name)
    for activity, energy, seed in _cases(pack):
        audio = loudness.render_pack(pack, seed, energy, activity=activity).audio  # one pass of the arc
        level, peak = loudness.measure_level(audio)
        case = f"{name} ({activity}, energy {energy}, seed {seed})"
        assert abs(level - TARGET) <= 1.0, f"{case}: {level:.2f} LUFS"
        assert peak <= CEILING_DBTP, f"{case}: true peak {peak:.2f} dBTP"


def test_the_loudness_target_moves_every_pack_with_it():
    pack = STYLES.get("house")  # the loudest peaks: the limiter works hardest here
    quiet = loudness.render_pack(pack, SEEDS[0], 0.5, loudness_lufs=-23.0).audio
    level, peak = loudness.measure_level(quiet)
    assert abs(level - -23.0) <= 1.0
    assert peak <= CEILING_DBTP


def test_a_pack_check_names_an_uncalibrated_pack():
    house = STYLES.get("house")
    off = dataclasses.replace(house, mix=dataclasses.replace(house.mix, loudness_gain_db=-8.0))
    problems = loudness.pack_problems(off, activities=("party",))
    assert len(problems) == 1
    for line in problems:  # 8 dB too quiet: the master's leveller makes up half, the rest is named
        assert line.startswith("style 'house': [mix] loudness_gain_db: plays at -")
        assert float(line.split("plays at ")[1].split()[0]) < -17.0
        assert "LU from -16" in line and "\n" not in line


def _render_with_style_change(first: str, second: str, seed: int, before_s: float, after_s: float):
    context = {"now": Context(style=first)}
    engine = Engine(STYLES, lambda: context["now"], seed)
    rate, block = engine.sample_rate, 4096
    blocks = [engine.render_block(block) for _ in range(round(before_s * rate / block))]
    change = len(blocks) * block
    context["now"] = Context(style=second)
    blocks += [engine.render_block(block) for _ in range(round(after_s * rate / block))]
    return np.concatenate(blocks), change / rate


@pytest.mark.parametrize(("first", "second"), [("house", "focus"), ("focus", "workout")])
def test_a_style_change_does_not_jump_in_loudness(first, second):
    """Before calibration these steps were 4-6 LU (house -14, focus -22 LUFS)."""
    audio, change_s = _render_with_style_change(first, second, SEEDS[0], 40.0, 16.0)
    short = loudness.short_term(audio)  # window i covers seconds i..i+3
    settled = int(change_s) + 3 + 2  # after the bar line, the crossfade and one window length
    before = np.median(short[int(change_s) - 8 : int(change_s) - 3])
    after = np.median(short[settled : settled + 5])
    assert abs(after - before) <= 2.0, f"{first} -> {second}: {before:.1f} -> {after:.1f} LUFS"


def test_the_master_gain_glides_from_one_pack_to_the_next():
    rate, glide = 48000, 24000
    quiet, loud = Mix(loudness_gain_db=0.0), Mix(loudness_gain_db=6.0)
    master = Master(rate, 0, quiet)
    master.configure(loud, glide)
    out = np.zeros((2048, 2), dtype=np.float32)
    level = []
    for _ in range(20):
        master.process(np.full((2, 2048), 0.1, dtype=np.float32), out)
        level.append(out[:, 0].copy())
    level = np.concatenate(level)
    assert level[0] == pytest.approx(0.1 * mix_gain(quiet), rel=1e-3)
    assert level[-1] == pytest.approx(0.1 * mix_gain(loud), rel=1e-3)
    steps = np.diff(level)
    assert (steps >= -1e-7).all()  # it only rises ...
    assert steps.max() <= 2 * (level[-1] - level[0]) / glide  # ... along a ramp, never a step


def test_a_change_of_the_listeners_energy_glides_to_its_levelling_gain():
    rate = 48000
    master = Master(rate, 0, Mix())
    master.level(0.5)  # the first bar: at once
    master.level(0.9)  # a louder request: levelled down over LEVELLING_GLIDE_S
    out = np.zeros((2048, 2), dtype=np.float32)
    level = []
    for _ in range(round(1.2 * LEVELLING_GLIDE_S * rate / 2048)):
        master.process(np.full((2, 2048), 0.1, dtype=np.float32), out)
        level.append(out[:, 0].copy())
    level = np.concatenate(level)
    assert level[0] == pytest.approx(0.1 * mix_gain(Mix()), rel=1e-3)
    assert level[-1] == pytest.approx(0.1 * mix_gain(Mix()) * levelling_gain(0.9), rel=1e-3)
    assert levelling_gain(0.9) < 1.0
    steps = np.diff(level)
    assert (steps <= 1e-7).all()
    assert -steps.min() <= 2 * (level[0] - level[-1]) / (LEVELLING_GLIDE_S * rate)


@pytest.mark.parametrize("signal", ["intersample", "noise", "square"])
def test_the_limiter_holds_the_true_peak_even_between_samples(signal):
    """A quarter-rate sine at 45 degrees has its samples at 0.71 of its true peak."""
    rate, n = 48000, 48000
    t = np.arange(n)
    if signal == "intersample":
        x = np.sin(2 * np.pi * t / 4 + np.pi / 4)
    elif signal == "noise":
        x = np.random.default_rng(1).standard_normal(n) * 0.5
    else:
        x = np.sign(np.sin(2 * np.pi * 441 * t / rate))  # not band-limited: rings when oversampled
    master = Master(rate, 0, Mix(loudness_gain_db=12.0, master_gain=1.0))
    stereo = np.stack([x, x]).astype(np.float32)
    out = np.zeros((n, 2), dtype=np.float32)
    for at in range(0, n, 2048):
        chunk = stereo[:, at : at + 2048].copy()
        master.process(chunk, out[at : at + chunk.shape[1]])
    assert loudness.true_peak(out[rate // 10 :]) <= CEILING_DBTP


def test_loudness_settings_out_of_range_are_one_line_errors(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[audio]\nloudness_lufs = -5\n")
    with pytest.raises(ConfigError) as info:
        load(path, env={})
    assert "audio.loudness_lufs: -5.0 is outside -30.0..-12.0" in str(info.value)
    assert "\n" not in str(info.value)
    path.write_text("")
    assert load(path, env={}).audio.loudness_lufs == TARGET
    with pytest.raises(ValueError, match=r"^mix: loudness_gain_db: 30 is outside -24..24$"):
        parse_mix({"loudness_gain_db": 30}, "mix")


def test_calibration_writes_one_key_and_keeps_the_rest(tmp_path):
    calibrate = _calibrator()
    original = (ROOT / "edge/styles/house.toml").read_text()
    stripped = "".join(line for line in original.splitlines(keepends=True) if "loudness_gain_db" not in line)
    path = tmp_path / "house.toml"
    path.write_text(stripped)
    assert calibrate.main([str(path), "--seeds", "5", "--energies", "0.5", "--seconds", "20"]) == 0
    written = path.read_text()
    assert [line for line in written.splitlines() if "loudness_gain_db" not in line] == stripped.splitlines()
    pack = load_pack(path)
    assert pack.mix.loudness_gain_db != 0.0
    levels = [
        loudness.measure_level(loudness.render_pack(pack, 5, 0.5, 20.0, activity).audio)[0]
        for activity in loudness.activities_for(pack)
    ]
    assert abs(float(np.mean(levels)) - TARGET) <= calibrate.TOLERANCE_LU + 0.01


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('name = "x"\n', 'name = "x"\n\n[mix]\nloudness_gain_db = 1.50\n'),
        (
            "[mix]\nhiss = 0.1\n\n[kit]\nlevel = 1\n",
            "[mix]\nhiss = 0.1\nloudness_gain_db = 1.50\n\n[kit]\nlevel = 1\n",
        ),
        ("[mix]\nloudness_gain_db = -3\nhiss = 0.1\n", "[mix]\nloudness_gain_db = 1.50\nhiss = 0.1\n"),
    ],
)
def test_the_calibration_key_lands_in_the_mix_table(tmp_path, text, expected):
    path = tmp_path / "pack.toml"
    path.write_text(text)
    _calibrator().write_gain(path, 1.5)
    assert path.read_text() == expected


def test_a_silent_render_has_no_true_peak():
    assert loudness.true_peak(np.zeros((4800, 2))) == -math.inf


def test_the_daemon_never_imports_the_meter():
    code = (
        "import sys, edge.daemon, edge.render_cli; "
        "print(sorted(m for m in ('pyloudnorm', 'scipy', 'edge.loudness') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip
    assert result.stdout.strip() == "[]"
