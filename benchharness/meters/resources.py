"""Readings taken right after a timed region: energy per timed run, peak memory and file size."""

from __future__ import annotations

from dataclasses import dataclass

from benchharness import stats
from benchharness.meters.energy import RaplMeter, energy_meter
from benchharness.meters.memory import peak_rss
from benchharness.readings import Reading


def summary_reading(name: str, unit: str, samples: list[float], source: str) -> Reading:
    """Mean, sample stdev and count of `samples` as one Reading."""
    s = stats.summarize(samples)
    return Reading(name, unit, s.mean, s.stdev, s.n, source)


@dataclass(frozen=True)
class Energy:
    """The energy meter for the case's device, or why there is none."""

    meter: RaplMeter | None
    reason: str | None

    @classmethod
    def for_device(cls, device: str) -> Energy:
        meter, reason = energy_meter(device)
        return cls(meter, reason)


def resource_readings(energy: Energy, joules: list[float | None], model_file_bytes: int) -> list[Reading]:
    """Energy per timed run, peak memory and file size: taken after the timed runs, before any accuracy work."""
    values = [j for j in joules if j is not None]
    if energy.reason is not None or energy.meter is None or not values:
        energy_reading = Reading.unavailable("energy_j", "J", energy.reason or "meter returned no values")
    else:
        energy_reading = summary_reading("energy_j", "J", values, energy.meter.source)
    return [
        energy_reading,
        peak_rss(),
        Reading("model_file_bytes", "B", float(model_file_bytes), source="size on disk"),
    ]
