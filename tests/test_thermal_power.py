"""Board profiles, the power model and operating-point costs."""

from __future__ import annotations

import json

import pytest

from edge.config import ThermalConfig
from edge.thermal.governor import default_operating_points
from edge.thermal.power import (
    PROFILES,
    SYNTH_LEVELS,
    TIER_QUALITY,
    TIERS,
    default_costs,
    load_costs,
    planning_costs,
    point_quality,
    profile_for,
)


def test_profiles_are_complete_and_cite_sources():
    assert set(PROFILES) == {"pi4", "pi5", "zero2w", "generic"}
    for profile in PROFILES.values():
        assert profile.sources and profile.idle_w > 0 and profile.w_per_core > 0
        assert profile.thermal_r > 0 and profile.thermal_c > 0 and profile.cores >= 1
        assert profile.power(0) == profile.idle_w
        assert profile.power(profile.cores) == pytest.approx(profile.full_w)
        assert profile.power(99) == pytest.approx(profile.full_w)  # clamped to the cores there are
        assert profile.fan_r(1.0) < profile.fan_r(0.0) == profile.thermal_r
    assert PROFILES["pi4"].full_w == pytest.approx(5.7)
    assert PROFILES["pi5"].full_w == pytest.approx(8.5)
    assert PROFILES["zero2w"].idle_w == pytest.approx(0.6)


def test_profile_for_auto_and_fixed(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert profile_for(ThermalConfig(board="auto", model_path=str(model))).name == "pi5"
    assert profile_for(ThermalConfig(board="zero2w", model_path=str(model))).name == "zero2w"
    assert profile_for(ThermalConfig(board="auto", model_path=str(tmp_path / "none"))).name == "generic"


def test_quality_ladder_orders_tiers_and_synth_levels():
    assert point_quality("L", 2) > point_quality("M", 2) > point_quality("S", 2) > point_quality("0", 2)
    assert point_quality("0", 2) > point_quality("0", 1) > point_quality("0", 0)


def test_costs_convert_between_boards():
    table = planning_costs()
    assert table.cost("L", 2) == pytest.approx(0.25 + 0.15)
    pi5 = table.cost("L", 2, PROFILES["pi5"])
    zero = table.cost("L", 2, PROFILES["zero2w"])
    assert zero > table.cost("L", 2) > pi5


def test_the_measured_costs_grow_with_the_model():
    table = default_costs()
    assert table.board == "pi4" and set(table.points()) == {(t, s) for t in TIERS for s in SYNTH_LEVELS}
    for level in SYNTH_LEVELS:
        costs = [table.cost(t, level) for t in TIERS]  # L, M, S, 0
        assert costs == sorted(costs, reverse=True) and all(c > 0 for c in costs)
    assert table.cost("L", 2) < 1.0  # the costliest point keeps up on one Pi 4 core
    assert list(TIER_QUALITY) == list(TIERS) and sorted(TIER_QUALITY.values(), reverse=True) == list(
        TIER_QUALITY.values()
    )


def test_only_available_tiers_become_points():
    points = default_operating_points(("0",), board=PROFILES["pi4"])
    assert [p.label for p in points] == ["0/2", "0/1", "0/0"]
    ladder = default_operating_points(TIERS, board=PROFILES["pi4"])
    assert ladder[0].label == "L/2" and ladder[-1].label == "0/0"
    assert [p.quality for p in ladder] == sorted((p.quality for p in ladder), reverse=True)
    with pytest.raises(ValueError):
        default_operating_points(("XL",))


def test_load_costs_per_point_and_per_part(tmp_path):
    path = tmp_path / "costs.json"
    path.write_text(json.dumps({"board": "pi4", "points": {"0/2": 0.3, "0/1": 0.2, "0/0": 0.1}}))
    table = load_costs(path)
    assert table.cost("0", 2) == 0.3
    assert table.cost("L", 2) == pytest.approx(default_costs().cost("L", 2))  # the built-in figure kept
    path.write_text(json.dumps({"board": "pi5", "tiers": {"0": 0.01}, "synth_levels": {"2": 0.05}}))
    table = load_costs(path)
    assert table.board == "pi5"
    assert table.cost("0", 2) == pytest.approx(0.06)
    assert table.cost("0", 2, PROFILES["pi4"]) == pytest.approx(0.12)  # a Pi 4 core is half as fast
    path.write_text(json.dumps({"board": "pi9"}))
    with pytest.raises(ValueError, match="unknown board"):
        load_costs(path)
    path.write_text(json.dumps({"points": {"0/2": -1}}))
    with pytest.raises(ValueError, match="must be > 0"):
        load_costs(path)


def test_the_measured_ladder_decides_which_tier_is_worth_its_power(tmp_path) -> None:
    """quality.json from scripts/eval_models.py: a bigger tier that is not closer to real music
    ranks no higher than a smaller one, and equal quality goes to the cheaper point."""
    import json

    from edge.thermal.power import measured_ladder

    path = tmp_path / "quality.json"
    path.write_text(json.dumps({"closeness": {"L": 0.70, "M": 0.80, "S": 0.60, "0": 0.50}}))
    ladder = measured_ladder(path)
    assert ladder == {"L": 0.875, "M": 1.0, "S": 0.75, "0": 0.625}
    points = default_operating_points(TIERS, board=PROFILES["pi4"], ladder=ladder)
    assert points[0].tier == "M" and points[0].synth_level == 2
    assert [p.tier for p in points if p.synth_level == 2] == ["M", "L", "S", "0"]
    for broken in ("{", json.dumps({"closeness": {"L": 1.0}}), json.dumps({"closeness": {"L": "x", "0": 1}})):
        path.write_text(broken)
        assert measured_ladder(path) is None
    assert measured_ladder(tmp_path / "missing.json") is None
