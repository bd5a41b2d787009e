"""Sensors read from folders the tests make; every sensor is optional."""

from __future__ import annotations

import stat
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from edge.config import Config, ThermalConfig
from edge.thermal import sensors as sensors_mod
from edge.thermal.power import detect_board
from edge.thermal.sensors import (
    Sensors,
    ThrottleFlags,
    find_cpu_zone,
    parse_pmic_adc,
    parse_throttled,
    sensor_report,
)

PMIC = """\
 3V7_WL_SW_A current(0)=0.10000000A
   3V3_SYS_A current(1)=0.05000000A
  VDD_CORE_A current(7)=2.00000000A
    ODD_ONE_A current(9)=0.50000000A
 3V7_WL_SW_V volt(8)=3.70000000V
   3V3_SYS_V volt(9)=3.30000000V
  VDD_CORE_V volt(15)=0.80000000V
     EXT5V_V volt(24)=5.12000000V
"""


def zone(root: Path, index: int, kind: str, millideg: str | int) -> Path:
    path = root / f"thermal_zone{index}"
    path.mkdir(parents=True)
    (path / "type").write_text(kind + "\n")
    (path / "temp").write_text(f"{millideg}\n")
    return path


def config(tmp_path: Path, **overrides) -> ThermalConfig:
    values = dict(
        thermal_root=str(tmp_path / "thermal"),
        hwmon_root=str(tmp_path / "hwmon"),
        model_path=str(tmp_path / "model"),
        vcgencmd="",
        board="auto",
    )
    values.update(overrides)
    return ThermalConfig(**values)


def fake_vcgencmd(tmp_path: Path, throttled: str = "0x0", pmic: str = PMIC) -> str:
    script = tmp_path / "vcgencmd"
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in\n  get_throttled) echo "throttled={throttled}";;\n'
        f"  pmic_read_adc) cat <<'END'\n{pmic}END\n;;\n  *) exit 1;;\nesac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


@pytest.fixture
def no_psutil_temps(monkeypatch):
    monkeypatch.setattr(psutil, "sensors_temperatures", lambda: {}, raising=False)


def test_cpu_zone_is_chosen_by_type(tmp_path):
    root = tmp_path / "thermal"
    zone(root, 0, "gpu-thermal", 30000)
    zone(root, 1, "cpu-thermal", 51234)
    zone(root, 2, "acpitz", 20000)
    found = find_cpu_zone(root)
    assert found is not None and found[0].name == "thermal_zone1" and found[1] == "cpu-thermal"
    value, source = Sensors(config(tmp_path), use_psutil_temperature=False).temperature()
    assert value == pytest.approx(51.234)
    assert source == "thermal_zone1 cpu-thermal"


def test_x86_package_zone_and_unknown_types(tmp_path):
    root = tmp_path / "thermal"
    zone(root, 0, "acpitz", 27800)
    zone(root, 10, "x86_pkg_temp", 45000)
    assert find_cpu_zone(root)[1] == "x86_pkg_temp"
    other = tmp_path / "other"
    zone(other, 0, "mystery", 40000)
    assert find_cpu_zone(other)[1] == "mystery"  # better than nothing


def test_psutil_fallback_prefers_cpu_thermal(tmp_path, monkeypatch):
    monkeypatch.setattr(
        psutil, "sensors_temperatures",
        lambda: {"acpitz": [SimpleNamespace(current=30.0)], "cpu_thermal": [SimpleNamespace(current=48.5)]},
        raising=False,
    )  # fmt: skip
    assert Sensors(config(tmp_path)).temperature() == (48.5, "psutil cpu_thermal")
    assert Sensors(config(tmp_path), use_psutil_temperature=False).temperature() == (None, "")


def test_no_sensors_at_all(tmp_path, no_psutil_temps):
    sample = Sensors(config(tmp_path), cpu_percent=lambda: None, cpu_freq=lambda: None).read()
    assert sample.temperature_c is None and sample.throttle is None and sample.power_w is None
    assert sample.cpu_percent is None


def test_unreadable_zone_is_skipped_and_rescanned(tmp_path, no_psutil_temps):
    root = tmp_path / "thermal"
    z = zone(root, 0, "cpu-thermal", "garbage")
    s = Sensors(config(tmp_path))
    assert s.temperature() == (None, "")
    (z / "temp").write_text("45000\n")
    assert s.temperature()[0] == 45.0


def test_throttle_flags_decode():
    assert parse_throttled("throttled=0x50005\n") == 0x50005
    assert parse_throttled("error=1") is None
    flags = ThrottleFlags(0x50005)
    assert flags.now == ["under_voltage", "throttled"]
    assert flags.occurred == ["under_voltage", "throttled"]
    assert flags.hot and flags.under_voltage
    assert not ThrottleFlags(0x80000).hot and ThrottleFlags(0x80000).occurred == ["soft_temp_limit"]


def test_vcgencmd_throttle_and_caching(tmp_path):
    clock = {"t": 0.0}
    cfg = config(tmp_path, vcgencmd=fake_vcgencmd(tmp_path, "0x60006"))
    s = Sensors(cfg, clock=lambda: clock["t"], slow_period_s=5.0)
    flags = s.throttle()
    assert flags is not None and flags.now == ["freq_capped", "throttled"]
    Path(cfg.vcgencmd).write_text("#!/bin/sh\necho throttled=0x0\n")
    assert s.throttle().raw == 0x60006  # cached for slow_period_s
    clock["t"] = 6.0
    assert s.throttle().raw == 0


def test_missing_vcgencmd_is_none(tmp_path):
    assert Sensors(config(tmp_path, vcgencmd="no-such-vcgencmd-here")).throttle() is None
    assert Sensors(config(tmp_path, vcgencmd="")).throttle() is None


def test_pmic_rails_pair_by_name():
    expected = 0.1 * 3.7 + 0.05 * 3.3 + 2.0 * 0.8  # ODD_ONE has no voltage, EXT5V no current
    assert parse_pmic_adc(PMIC) == pytest.approx(expected)
    assert parse_pmic_adc("") is None


def test_pi5_power_from_pmic_and_hwmon_first(tmp_path):
    (tmp_path / "model").write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    cfg = config(tmp_path, vcgencmd=fake_vcgencmd(tmp_path))
    watts, source = Sensors(cfg).power()
    rails = parse_pmic_adc(PMIC)
    assert source == "pmic"
    assert watts == pytest.approx(rails * sensors_mod.PMIC_WALL_SCALE + sensors_mod.PMIC_WALL_OFFSET_W)
    hw = tmp_path / "hwmon" / "hwmon3"
    hw.mkdir(parents=True)
    (hw / "name").write_text("ina219\n")
    (hw / "power1_input").write_text("3400000\n")  # microwatts
    watts, source = Sensors(cfg).power()
    assert watts == pytest.approx(3.4) and source == "hwmon hwmon3/ina219 power1_input"


def test_board_detection(tmp_path):
    model = tmp_path / "model"
    for text, board in (
        (b"Raspberry Pi 4 Model B Rev 1.4\x00", "pi4"),
        (b"Raspberry Pi 5 Model B Rev 1.0\x00", "pi5"),
        (b"Raspberry Pi Zero 2 W Rev 1.0\x00", "zero2w"),
        (b"Raspberry Pi 3 Model B Plus Rev 1.3\x00", "generic"),
    ):
        model.write_bytes(text)
        assert detect_board(model) == (board, text.rstrip(b"\x00").decode())
    assert detect_board(tmp_path / "missing") == ("generic", "")


def statuses(report) -> dict[str, str]:
    return {name: status for name, status, _ in report}


def test_report_on_a_bare_machine_warns_and_never_fails(tmp_path, no_psutil_temps):
    report = sensor_report(config(tmp_path))
    for name, status, hint in report:
        assert status in ("OK", "WARN", "FAIL") and hint and "\n" not in hint, name
    s = statuses(report)
    assert "FAIL" not in s.values()
    assert s["SoC temperature"] == "WARN" and s["throttle flags"] == "WARN" and s["board power"] == "WARN"
    assert s["board profile"] == "WARN"
    # The doctor passes the ThermalConfig; the whole Config works too.
    whole = Config(thermal=config(tmp_path))
    assert statuses(sensor_report(whole)) == s


def test_report_ok_and_failures(tmp_path, no_psutil_temps):
    (tmp_path / "model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")
    zone(tmp_path / "thermal", 0, "cpu-thermal", 55000)
    cfg = config(tmp_path, vcgencmd=fake_vcgencmd(tmp_path, "0x0"))
    s = statuses(sensor_report(cfg))
    assert s["board profile"] == s["SoC temperature"] == s["throttle flags"] == "OK"
    assert s["temperature headroom"] == "OK"
    (tmp_path / "thermal" / "thermal_zone0" / "temp").write_text("85000\n")
    cfg = config(tmp_path, vcgencmd=fake_vcgencmd(tmp_path, "0x50005"))
    s = statuses(sensor_report(cfg))
    assert s["temperature headroom"] == "FAIL" and s["throttle flags"] == "FAIL"
    (tmp_path / "thermal" / "thermal_zone0" / "temp").write_text("not a number\n")
    assert statuses(sensor_report(cfg))["SoC temperature"] == "FAIL"
