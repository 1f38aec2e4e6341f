"""Every meter that runs around a case's timed region, by name: adding a meter is one module and one line here.

The order is the order they start in; they stop in reverse, so the first started (energy) is stopped
last, nearest the region's end, and its readings follow the others' as they always have.
"""

from __future__ import annotations

from benchharness.meters.base import MeterClass
from benchharness.meters.gpu import GpuMeter
from benchharness.meters.memory import MemoryMeter
from benchharness.meters.resources import EnergyMeter
from benchharness.meters.utilisation import CpuMeter

METERS: dict[str, MeterClass] = {
    "energy": EnergyMeter,
    "cpu": CpuMeter,
    "memory": MemoryMeter,
    "gpu": GpuMeter,
}
