"""Energy from hardware counters: RAPL through Linux powercap (what pyRAPL reads).

A counter that is absent or unreadable gives an 'unavailable' reading with the reason; the harness
never estimates energy from time and a nominal power.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")


@dataclass(frozen=True)
class RaplZone:
    name: str
    energy_file: Path
    max_range_uj: int


def rapl_package_zones(root: Path = POWERCAP) -> tuple[list[RaplZone], str | None]:
    """The package-level RAPL zones, or a reason why none can be read."""
    if not root.is_dir():
        return [], f"no RAPL counters: {root} is absent (virtual machine or non-Linux host)"
    zones: list[RaplZone] = []
    for zone in sorted(root.glob("intel-rapl:[0-9]*")):
        if zone.name.count(":") != 1:
            continue  # sub-zones (core, uncore, dram) are already inside the package figure
        try:
            name = (zone / "name").read_text().strip()
            max_range = int((zone / "max_energy_range_uj").read_text())
            int((zone / "energy_uj").read_text())
        except (OSError, ValueError) as e:
            return [], f"RAPL counter {zone}/energy_uj is not readable ({e}); run as root or grant read access"
        zones.append(RaplZone(f"{zone.name}:{name}", zone / "energy_uj", max_range))
    if not zones:
        return [], f"no RAPL package zones under {root} (this CPU or VM exposes no energy counters)"
    return zones, None


class RaplMeter:
    """Energy between start() and stop(), summed over CPU packages, with counter wrap-around handled."""

    unit = "J"

    def __init__(self, zones: list[RaplZone]) -> None:
        self.zones = zones
        self._start: list[int] = []
        self.source = "RAPL " + ", ".join(z.name for z in zones) + " (whole package, all processes)"

    def _read(self) -> list[int]:
        return [int(z.energy_file.read_text()) for z in self.zones]

    def start(self) -> None:
        self._start = self._read()

    def stop(self) -> float:
        total_uj = 0
        for zone, before, after in zip(self.zones, self._start, self._read(), strict=True):
            total_uj += after - before if after >= before else after + zone.max_range_uj - before
        return total_uj / 1e6


def energy_meter(device: str) -> tuple[RaplMeter | None, str | None]:
    """The meter for `device`, or why energy cannot be measured for it on this machine."""
    if device != "cpu":
        return None, f"no energy meter for device {device!r} yet (NVML and powermetrics meters are planned)"
    zones, reason = rapl_package_zones()
    return (RaplMeter(zones), None) if zones else (None, reason)
