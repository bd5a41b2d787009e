"""``sensor_report``: one line per sensor for ``edge-music doctor``."""

from __future__ import annotations

from typing import Any

import psutil

from edge.thermal.power import PROFILES, detect_board
from edge.thermal.sensors import (
    FAIL,
    OK,
    PMIC_WALL_OFFSET_W,
    PMIC_WALL_SCALE,
    WARN,
    ThrottleFlags,
    _psutil_cpu_freq,
    _psutil_cpu_percent,
    find_cpu_zone,
    parse_pmic_adc,
    parse_throttled,
    psutil_temperature,
    read_hwmon_power,
    read_zone_celsius,
    run_vcgencmd,
)


def sensor_report(config: Any) -> list[tuple[str, str, str]]:
    """(name, "OK"|"WARN"|"FAIL", one-line hint) per sensor, for ``edge-music doctor``.

    Accepts the whole Config or its ThermalConfig. Missing sensors are WARN (the
    governor models them); FAIL means something is present but wrong or the board
    is in trouble now (under-voltage, above the critical temperature).
    """
    thermal = getattr(config, "thermal", config)
    checks: list[tuple[str, str, str]] = []

    board = thermal.board
    if board == "auto":
        board, model = detect_board(getattr(thermal, "model_path", "/proc/device-tree/model"))
        if model:
            status = OK if board != "generic" else WARN
            checks.append(("board profile", status, f"{board} (model: {model})"))
        else:
            checks.append(("board profile", WARN, "no device-tree model: generic profile; set thermal.board"))
    else:
        checks.append(("board profile", OK, f"{board} (set in config)"))
    profile = PROFILES.get(board, PROFILES["generic"])

    zone = find_cpu_zone(thermal.thermal_root)
    temperature: float | None = None
    if zone is not None:
        temperature = read_zone_celsius(zone[0])
        where = f"{zone[0]} ({zone[1] or 'no type'})"
        if temperature is None:
            checks.append(("SoC temperature", FAIL, f"{where} exists but does not read as a number"))
        elif not -40.0 <= temperature <= 150.0:
            checks.append(("SoC temperature", FAIL, f"{where} reads {temperature:.1f} C, not plausible"))
            temperature = None
        else:
            checks.append(("SoC temperature", OK, f"{temperature:.1f} C from {where}"))
    else:
        value, key = psutil_temperature()
        if value is not None:
            temperature = value
            checks.append(("SoC temperature", OK, f"{value:.1f} C from psutil {key}"))
        else:
            checks.append((
                "SoC temperature", WARN,
                f"no thermal zone under {thermal.thermal_root} and none in psutil; "
                f"the governor models temperature from power ({profile.name} profile)",
            ))
    if temperature is not None:
        if temperature >= thermal.temp_critical_c:
            checks.append(("temperature headroom", FAIL,
                           f"{temperature:.1f} C >= critical {thermal.temp_critical_c:g} C: cool the box"))
        elif temperature >= thermal.temp_target_c:
            checks.append(("temperature headroom", WARN,
                           f"{temperature:.1f} C is above target {thermal.temp_target_c:g} C; lighter tiers"))
        else:
            checks.append(("temperature headroom", OK,
                           f"{thermal.temp_target_c - temperature:.1f} C below target"))

    command = getattr(thermal, "vcgencmd", "vcgencmd")
    text = run_vcgencmd(command, "get_throttled")
    raw = parse_throttled(text) if text else None
    if raw is None:
        hint = "disabled (thermal.vcgencmd is empty)" if not command else f"{command!r} not available"
        checks.append(("throttle flags", WARN, f"{hint}; firmware throttling will go unnoticed"))
    else:
        flags = ThrottleFlags(raw)
        if flags.under_voltage:
            checks.append(("throttle flags", FAIL, f"under-voltage now ({raw:#x}): use a proper 5 V supply"))
        elif flags.now:
            checks.append(("throttle flags", WARN, f"{raw:#x}: {', '.join(flags.now)} now"))
        elif flags.occurred:
            checks.append(("throttle flags", WARN, f"{raw:#x}: since boot {', '.join(flags.occurred)}"))
        else:
            checks.append(("throttle flags", OK, f"{raw:#x}: never throttled since boot"))

    watts, source = read_hwmon_power(thermal.hwmon_root)
    if watts is None and profile.name == "pi5" and raw is not None:
        pmic = run_vcgencmd(command, "pmic_read_adc")
        rails = parse_pmic_adc(pmic) if pmic else None
        if rails is not None:
            watts, source = rails * PMIC_WALL_SCALE + PMIC_WALL_OFFSET_W, "Pi 5 PMIC rails (wall estimate)"
    if watts is not None:
        checks.append(("board power", OK, f"{watts:.2f} W from {source}"))
    else:
        checks.append(("board power", WARN,
                       f"no power sensor; modelled from CPU load with the {profile.name} profile"))

    load = _psutil_cpu_percent()
    freq = _psutil_cpu_freq()
    if load is None:
        checks.append(("CPU load", WARN, "psutil cannot read CPU use; power is modelled from our own share"))
    else:
        mhz = f", {freq:.0f} MHz" if freq else ", frequency unknown"
        checks.append(("CPU load", OK, f"psutil: {psutil.cpu_count() or '?'} cores{mhz}"))
    return checks
