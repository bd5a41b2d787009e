"""Optional sensors: SoC temperature, firmware throttle flags, board power, CPU load.

Every sensor may be missing (a laptop, a container, a board without a power
monitor). Readers return ``None`` then, and the governor falls back to its
models. All paths and the ``vcgencmd`` command come from ``ThermalConfig`` so
tests and the simulator can point them at folders of their own.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from edge.thermal.power import profile_for

log = logging.getLogger(__name__)

OK, WARN, FAIL = "OK", "WARN", "FAIL"
HWMON_RESCAN_S = 60.0
"""Without a power sensor, look for one again this often (hot-plugged INA219s exist)."""

# Thermal zone types that are the CPU/SoC, best first (Pi: cpu-thermal; Intel: x86_pkg_temp).
ZONE_TYPES = ("cpu-thermal", "cpu_thermal", "x86_pkg_temp", "soc-thermal", "soc_thermal", "cpu0-thermal")
# psutil.sensors_temperatures() keys, best first (Pi: cpu_thermal; Intel: coretemp; AMD: k10temp).
PSUTIL_KEYS = ("cpu_thermal", "cpu-thermal", "coretemp", "k10temp", "zenpower", "soc_thermal", "acpitz")

THROTTLE_BITS = {
    0: "under_voltage",
    1: "freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
}
"""vcgencmd get_throttled bits that describe *now*; bit + 16 is the same 'has occurred'."""

_PMIC_LINE = re.compile(
    r"^\s*(?P<rail>\S+?)_(?P<kind>[AV])\s+(?:current|volt)\(\d+\)=(?P<value>[-\d.]+)[AV]\s*$"
)
# Third-party empirical fit of wall power from the Pi 5 PMIC rail sum (pitop.hongjunwu.com/guide/power):
# the rails miss conversion losses and the 5 V USB/peripheral load. An estimate, labelled as one.
PMIC_WALL_SCALE, PMIC_WALL_OFFSET_W = 1.1451, 0.5879


@dataclass(frozen=True)
class ThrottleFlags:
    """Decoded ``vcgencmd get_throttled`` value."""

    raw: int
    """The bit field as reported."""

    @property
    def now(self) -> list[str]:
        """Conditions active now, e.g. ["throttled", "soft_temp_limit"]."""
        return [name for bit, name in THROTTLE_BITS.items() if self.raw >> bit & 1]

    @property
    def occurred(self) -> list[str]:
        """Conditions that have happened since boot."""
        return [name for bit, name in THROTTLE_BITS.items() if self.raw >> (bit + 16) & 1]

    @property
    def hot(self) -> bool:
        """The firmware is slowing the ARM cores now (capped, throttled or soft limit)."""
        return bool(self.raw & 0b1110)

    @property
    def under_voltage(self) -> bool:
        """The supply sags below ~4.63 V now."""
        return bool(self.raw & 1)


def parse_throttled(text: str) -> int | None:
    """``"throttled=0x50005"`` -> 0x50005; None when the text is not that."""
    match = re.search(r"throttled=(0x[0-9a-fA-F]+|\d+)", text)
    if not match:
        return None
    return int(match.group(1), 0)


def parse_pmic_adc(text: str) -> float | None:
    """Sum of V*A over the Pi 5 PMIC rails that have both a current and a voltage line.

    Rails are paired by name (``VDD_CORE_A`` with ``VDD_CORE_V``), not by the ADC
    channel number, which differs. Returns None when no rail pairs up.
    """
    amps: dict[str, float] = {}
    volts: dict[str, float] = {}
    for line in text.splitlines():
        match = _PMIC_LINE.match(line)
        if not match:
            continue
        try:
            value = float(match.group("value"))
        except ValueError:
            continue
        (amps if match.group("kind") == "A" else volts)[match.group("rail")] = value
    pairs = [amps[r] * volts[r] for r in amps if r in volts]
    return sum(pairs) if pairs else None


def run_vcgencmd(command: str, *args: str, timeout: float = 2.0) -> str | None:
    """stdout of ``vcgencmd args...``; None when the tool is missing or fails."""
    if not command:
        return None
    exe = shutil.which(command)
    if exe is None:
        return None
    try:
        result = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout


def _read_float(path: Path) -> float | None:
    try:
        return float(path.read_text().strip())
    except (OSError, ValueError):
        return None


def find_cpu_zone(thermal_root: str | Path) -> tuple[Path, str] | None:
    """(zone folder, type) of the CPU/SoC thermal zone, chosen by its ``type`` file.

    Preference: a known CPU type (ZONE_TYPES order), then any type naming cpu/soc/pkg,
    then the first zone that has a temperature at all.
    """
    root = Path(thermal_root)
    try:
        zones = sorted(root.glob("thermal_zone*"), key=lambda p: (len(p.name), p.name))
    except OSError:
        return None
    ranked: list[tuple[int, Path, str]] = []
    for zone in zones:
        if not (zone / "temp").exists():
            continue
        try:
            kind = (zone / "type").read_text().strip()
        except OSError:
            kind = ""
        if kind in ZONE_TYPES:
            rank = ZONE_TYPES.index(kind)
        elif any(word in kind.lower() for word in ("cpu", "soc", "pkg")):
            rank = len(ZONE_TYPES)
        else:
            rank = len(ZONE_TYPES) + 1
        ranked.append((rank, zone, kind))
    if not ranked:
        return None
    rank, zone, kind = min(ranked, key=lambda r: r[0])
    return zone, kind


def read_zone_celsius(zone: Path) -> float | None:
    """A thermal zone's temperature in deg C (the file holds milli-deg C)."""
    raw = _read_float(zone / "temp")
    if raw is None:
        return None
    return raw / 1000.0


def psutil_temperature() -> tuple[float | None, str]:
    """(deg C, sensor key) from psutil.sensors_temperatures(), preferring CPU sensors."""
    try:
        sensors = psutil.sensors_temperatures()  # type: ignore[attr-defined]
    except (AttributeError, OSError, RuntimeError):
        return None, ""
    for key in PSUTIL_KEYS:
        for entry in sensors.get(key, []):
            if entry.current is not None:
                return float(entry.current), key
    return None, ""


def find_hwmon_power(hwmon_root: str | Path) -> tuple[Path, str] | None:
    """(file, "hwmonN/name power1_input") of the first readable hwmon power*_input."""
    root = Path(hwmon_root)
    try:
        files = sorted(root.glob("hwmon*/power*_input"))
    except OSError:
        return None
    for path in files:
        if _read_float(path) is None:
            continue
        try:
            name = (path.parent / "name").read_text().strip()
        except OSError:
            name = "?"
        return path, f"{path.parent.name}/{name} {path.name}"
    return None


def read_hwmon_power(hwmon_root: str | Path) -> tuple[float | None, str]:
    """(W, source) from the first hwmon power*_input found (the file holds microwatts)."""
    found = find_hwmon_power(hwmon_root)
    if found is None:
        return None, ""
    value = _read_float(found[0])
    return (None, "") if value is None else (value / 1e6, found[1])


@dataclass(frozen=True)
class SensorSample:
    """One reading of everything; any field may be None (sensor missing)."""

    temperature_c: float | None
    """SoC temperature."""
    temperature_source: str
    """Where it came from ("thermal_zone0 cpu-thermal", "psutil cpu_thermal", "")."""
    throttle: ThrottleFlags | None
    """Firmware throttle flags, None without vcgencmd."""
    power_w: float | None
    """Measured board power (hwmon or Pi 5 PMIC estimate), None without a sensor."""
    power_source: str
    """"hwmon ...", "pmic" or ""."""
    cpu_percent: float | None
    """System-wide CPU use, 0..100 (all cores)."""
    cpu_freq_mhz: float | None
    """Current CPU frequency."""


def _psutil_cpu_percent() -> float | None:
    try:
        return float(psutil.cpu_percent(interval=None))
    except (OSError, RuntimeError):
        return None


def _psutil_cpu_freq() -> float | None:
    try:
        freq = psutil.cpu_freq()
    except (OSError, RuntimeError, NotImplementedError, FileNotFoundError):
        return None
    return float(freq.current) if freq and freq.current else None


class Sensors:
    """Reads every optional sensor; slow ones (vcgencmd) at most every ``slow_period_s``.

    Each reader can be replaced by a callable (the simulator feeds CPU load and
    throttle flags this way; temperature it writes to a thermal_zone file).
    """

    def __init__(
        self,
        config: Any,
        *,
        cpu_percent: Callable[[], float | None] | None = None,
        cpu_freq: Callable[[], float | None] | None = None,
        throttle: Callable[[], int | None] | None = None,
        power: Callable[[], float | None] | None = None,
        use_psutil_temperature: bool = True,
        slow_period_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._cpu_percent = cpu_percent or _psutil_cpu_percent
        self._cpu_freq = cpu_freq or _psutil_cpu_freq
        self._throttle_fn = throttle
        self._power_fn = power
        self._use_psutil = use_psutil_temperature
        self._slow_period = slow_period_s
        self._clock = clock
        self._zone: tuple[Path, str] | None = None
        self._zone_checked = False
        self.vcgencmd = getattr(config, "vcgencmd", "vcgencmd")
        self._is_pi5 = profile_for(config).name == "pi5"
        self._slow_at = -float("inf")
        self._throttle_raw: int | None = None
        self._pmic_w: float | None = None
        self._hwmon: tuple[Path, str] | None = None
        self._hwmon_scan = -float("inf")
        if cpu_percent is None:
            _psutil_cpu_percent()  # psutil's first call returns 0.0; prime it

    def temperature(self) -> tuple[float | None, str]:
        """(deg C, source) from the CPU thermal zone, else psutil, else (None, "")."""
        if not self._zone_checked:
            self._zone = find_cpu_zone(self.config.thermal_root)
            self._zone_checked = True
        if self._zone is not None:
            value = read_zone_celsius(self._zone[0])
            if value is not None:
                return value, f"{self._zone[0].name} {self._zone[1]}".strip()
            self._zone_checked = False  # vanished or unreadable: look again next time
        if self._use_psutil:
            value, key = psutil_temperature()
            if value is not None:
                return value, f"psutil {key}"
        return None, ""

    def _refresh_slow(self) -> None:
        now = self._clock()
        if now - self._slow_at < self._slow_period:
            return
        self._slow_at = now
        if self._throttle_fn is None:
            text = run_vcgencmd(self.vcgencmd, "get_throttled")
            self._throttle_raw = parse_throttled(text) if text else None
        if self._power_fn is None and self._is_pi5:
            text = run_vcgencmd(self.vcgencmd, "pmic_read_adc")
            rails = parse_pmic_adc(text) if text else None
            self._pmic_w = rails * PMIC_WALL_SCALE + PMIC_WALL_OFFSET_W if rails is not None else None

    def throttle(self) -> ThrottleFlags | None:
        """Firmware throttle flags, or None without vcgencmd."""
        if self._throttle_fn is not None:
            raw = self._throttle_fn()
        else:
            self._refresh_slow()
            raw = self._throttle_raw
        return None if raw is None else ThrottleFlags(raw)

    def power(self) -> tuple[float | None, str]:
        """(W, source): hwmon power*_input first, then the Pi 5 PMIC estimate."""
        if self._power_fn is not None:
            value = self._power_fn()
            return value, "sim" if value is not None else ""
        now = self._clock()
        if self._hwmon is None and now - self._hwmon_scan >= HWMON_RESCAN_S:
            self._hwmon_scan = now  # globbing sysfs every second is wasteful; look again now and then
            self._hwmon = find_hwmon_power(self.config.hwmon_root)
        if self._hwmon is not None:
            value = _read_float(self._hwmon[0])
            if value is not None:
                return value / 1e6, f"hwmon {self._hwmon[1]}"
            self._hwmon = None
        self._refresh_slow()
        if self._pmic_w is not None:
            return self._pmic_w, "pmic"
        return None, ""

    def read(self) -> SensorSample:
        """Everything at once."""
        temperature, temp_source = self.temperature()
        power, power_source = self.power()
        return SensorSample(
            temperature_c=temperature,
            temperature_source=temp_source,
            throttle=self.throttle(),
            power_w=power,
            power_source=power_source,
            cpu_percent=self._cpu_percent(),
            cpu_freq_mhz=self._cpu_freq(),
        )


# The doctor imports sensor_report from here; it lives in report.py to keep this module short.
from edge.thermal.report import sensor_report as sensor_report  # noqa: E402
