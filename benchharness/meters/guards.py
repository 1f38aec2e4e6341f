"""Clock, governor, temperature and power source, read at the start and end of a timed region.

A CPU that throttles halfway through a case (heat, a laptop on battery, a neighbour's turbo budget)
makes its figures incomparable; the case is then flagged `throttled` rather than silently judged.
Whatever the OS does not expose (VMs rarely show temperatures) is recorded as None, not guessed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import psutil

GOVERNOR = Path("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
THROTTLE_DROP = 0.10  # a clock that falls by more than this between start and end is throttling


@dataclass(frozen=True)
class GuardReading:
    """One snapshot of what makes figures incomparable; None where the OS does not expose it.

    Every key is written, null included (the reply's `guard_start`/`guard_end`, a pair's guards); each has a
    default so a reply that recorded no reading (`{}`, a test's planted child) still reads.
    """

    cpu_mhz: float | None = None  # the current CPU clock
    governor: str | None = None  # cpufreq's scaling governor
    temperature_c: float | None = None  # the hottest sensor
    on_ac_power: bool | None = None  # None: no battery, or not read


def read_guards() -> GuardReading:
    """A snapshot: current CPU clock (MHz), governor, hottest sensor (deg C), on AC power."""
    cpu_mhz: float | None = None
    governor: str | None = None
    temperature_c: float | None = None
    on_ac_power: bool | None = None
    try:
        freq = psutil.cpu_freq()
        if freq is not None and freq.current > 0:
            cpu_mhz = round(float(freq.current), 1)
    except (OSError, NotImplementedError, RuntimeError):
        pass
    with contextlib.suppress(OSError):
        governor = GOVERNOR.read_text().strip() or None
    sensors = getattr(psutil, "sensors_temperatures", None)
    if sensors is not None:
        try:
            temps = [float(t.current) for entries in sensors().values() for t in entries if t.current]
            temperature_c = max(temps) if temps else None
        except (OSError, RuntimeError):
            pass
    battery_reader = getattr(psutil, "sensors_battery", None)
    if battery_reader is not None:
        try:
            battery = battery_reader()
            on_ac_power = None if battery is None else bool(battery.power_plugged)
        except (OSError, RuntimeError):
            pass
    return GuardReading(cpu_mhz, governor, temperature_c, on_ac_power)


def throttled(start: GuardReading, end: GuardReading, drop: float = THROTTLE_DROP) -> str | None:
    """Why a region looks throttled (clock drop, switch to battery), or None when it does not."""
    before, after = start.cpu_mhz, end.cpu_mhz
    if before and after and after < before * (1 - drop):
        return f"CPU clock fell {1 - after / before:.0%} during the region ({before:.0f} -> {after:.0f} MHz)"
    if start.on_ac_power is True and end.on_ac_power is False:
        return "the machine switched from AC power to battery during the region"
    return None
