"""The meters that run around a case's timed region, behind one small protocol.

A region meter is started before the timed rounds and stopped after them; `stop()` gives its Readings
(each with value, unit and source, or unavailable with the reason) and what it adds to the case's info.
Energy counters are read per round instead (the round loop's EnergyCounter), so energy has a spread.
"""

from __future__ import annotations

from typing import Any, Protocol

from benchharness.meters.memory import RssSampler
from benchharness.meters.utilisation import CpuWindow
from benchharness.readings import Reading


class RegionMeter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> tuple[list[Reading], dict[str, Any]]: ...


class CpuMeter:
    """CPU utilisation of the region (the case's process), each core's busy share, the memory available."""

    def __init__(self) -> None:
        self.window = CpuWindow()

    def start(self) -> None:
        self.window.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        reading, per_core = self.window.stop()
        info = {
            "cpu_per_core": per_core,  # each core's busy share over the timed region, system-wide
            "memory_available_bytes": self.window.available_at_start + self.window.rss_at_start,
        }
        return [reading], info


class MemoryMeter:
    """Resident memory sampled over the region, and the model's own memory (see RssSampler)."""

    def __init__(self, rss_before_load: float | None) -> None:
        self.sampler = RssSampler(rss_before_load)

    def start(self) -> None:
        self.sampler.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        return self.sampler.stop(), {"rss_before_load_bytes": self.sampler.rss_before_load}


class RegionMeters:
    """Several region meters at once, started in order and stopped in reverse."""

    def __init__(self, meters: list[RegionMeter]) -> None:
        self.meters = meters

    @classmethod
    def default(cls, rss_before_load: float | None) -> RegionMeters:
        return cls([CpuMeter(), MemoryMeter(rss_before_load)])

    def start(self) -> None:
        for meter in self.meters:
            meter.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        readings: list[Reading] = []
        info: dict[str, Any] = {}
        for meter in reversed(self.meters):
            more, extra = meter.stop()
            readings += more
            info |= extra
        return readings, info
