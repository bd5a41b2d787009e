"""Short simulated scenarios (simulated time, not wall time) assert the issue's three properties."""

from __future__ import annotations

from dataclasses import replace

import pytest

from edge.thermal.governor import default_operating_points
from edge.thermal.power import PROFILES, TIERS, planning_costs
from edge.thermal.simulator import (
    SCENARIOS,
    Scenario,
    ThermalPlant,
    check_requirements,
    compare,
    shortened,
    simulate,
)

BY_NAME = {s.name: s for s in SCENARIOS}

# One simulated hour each (about a second of wall time); background jobs start early enough to matter.
SHORT = {
    "warm_room": shortened(BY_NAME["warm_room"], 3600.0),
    "cold_start": shortened(BY_NAME["cold_start"], 3600.0),
    "background": replace(BY_NAME["background"], duration_s=3600.0, background=((300.0, 2400.0, 0.7),)),
    "model_error": shortened(BY_NAME["model_error"], 3600.0),
    "tight_budget": shortened(BY_NAME["tight_budget"], 1800.0),
    "pi5_fan": replace(BY_NAME["pi5_fan"], duration_s=3600.0, background=((300.0, 2400.0, 1.0),)),
    "zero2w": replace(BY_NAME["zero2w"], duration_s=3600.0, background=((300.0, 2400.0, 1.0),)),
}


def ladder(board: str):
    """The whole ladder with the planning figures: tiers far apart, so the governor has work to do."""
    return default_operating_points(TIERS, board=PROFILES[board], costs=planning_costs())


@pytest.mark.parametrize("name", sorted(SHORT))
def test_short_scenarios_meet_the_requirements(name):
    scenario = SHORT[name]
    # An hour of six policies in simulated time (the governor and the sensors read the simulator's
    # clock). How fast that runs depends on the CPU, so it is not asserted here.
    results, _ = compare(scenario, ladder(scenario.board))
    for check, ok, detail in check_requirements(scenario, results):
        assert ok, f"{name}: {check}: {detail}"
    gov = results["governor"]
    assert gov.above_target2_s == 0 and gov.underrun_s == 0
    assert gov.switches_per_h <= 12


def test_fixed_l_overshoots_where_the_governor_does_not():
    scenario = SHORT["background"]
    results, _ = compare(scenario, ladder("pi4"))
    assert results["fixed L"].max_c > scenario.temp_target_c + 1.0
    assert results["governor"].max_c <= scenario.temp_target_c + 0.5
    under = [m for k, m in results.items() if k != "governor" and m.max_c <= scenario.temp_target_c]
    assert results["governor"].quality_hours > max(m.quality_hours for m in under)


def test_the_governor_reads_the_zone_file_the_simulator_writes(tmp_path):
    scenario = Scenario("probe", "probe", duration_s=30.0, ambient_c=30.0, noise_c=0.0)
    trace = simulate(scenario, ladder("pi4"), workdir=tmp_path)
    written = int((tmp_path / "thermal" / "thermal_zone0" / "temp").read_text()) / 1000
    assert written == pytest.approx(trace.temperature[-1], abs=0.01)
    assert (tmp_path / "thermal" / "thermal_zone0" / "type").read_text().strip() == "cpu-thermal"


def test_changes_land_on_bar_lines():
    scenario = shortened(BY_NAME["cold_start"], 3600.0)
    trace = simulate(scenario, ladder("pi4"))
    assert trace.reasons  # it had to step down at least once
    for t, _, reason in trace.reasons:
        bars = t / scenario.bar_s
        assert abs(bars - round(bars)) * scenario.bar_s < 1.0 + 1e-9, (t, reason)
        assert reason


def test_plant_is_first_order_and_throttles():
    profile = PROFILES["pi4"]
    plant = ThermalPlant(profile, ambient_c=25.0, start_c=25.0)
    for _ in range(int(profile.tau_s)):
        plant.step(1.0, 3.0, 0.0)
    rise = 3.0 * profile.thermal_r
    assert plant.temperature - 25.0 == pytest.approx(rise * (1 - 1 / 2.718281828), rel=0.01)
    hot = ThermalPlant(profile, ambient_c=25.0, start_c=82.5)
    assert hot.freq_factor() == pytest.approx(0.8) and hot.flags() & 0b110
    assert hot.flags() & 0x40000  # "has occurred" sticks


def _thermal_sim_script():
    import importlib.util
    import sys
    from pathlib import Path

    if "thermal_sim_script" in sys.modules:
        return sys.modules["thermal_sim_script"]
    path = Path(__file__).resolve().parent.parent / "scripts" / "thermal_sim.py"
    spec = importlib.util.spec_from_file_location("thermal_sim_script", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["thermal_sim_script"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_measured_points_are_used_and_only_missing_tiers_fall_back():
    from edge.thermal.power import SYNTH_LEVELS, TIER_COST

    sim = _thermal_sim_script()
    points = {(t, s): base + 0.001 * s for t, base in (("0", 0.01), ("S", 0.03)) for s in SYNTH_LEVELS}
    generator = {k: v / 2 for k, v in points.items()}
    measured = sim.Measurement(points, generator, {"M": "not installed", "L": "not installed"})
    assert measured.tiers == ("S", "0")
    table = sim.costs_from_measurement(measured, host_speed=5.0)
    for (tier, level), host in points.items():
        assert table.cost(tier, level) == pytest.approx(host * 5.0)  # measured: as measured
    for tier in ("M", "L"):  # not installed: tier 0 as measured plus the built-in generator delta
        assert table.cost(tier, 2) == pytest.approx(points[("0", 2)] * 5.0 + TIER_COST[tier] - TIER_COST["0"])
    note = sim.measurement_note(measured, 5.0)
    assert "Tiers S, 0 MEASURED" in note and "NOT measured" in note and "L: not installed" in note
    assert measured.generator_cost("S") == pytest.approx(sum(points[("S", s)] for s in SYNTH_LEVELS) / 6)
