"""Readings taken right after a timed region: energy per timed run and per token or item, peak memory, file size."""

from __future__ import annotations

from dataclasses import dataclass

from benchharness import stats
from benchharness.meters.energy import EnergyMeter, energy_meter
from benchharness.meters.memory import peak_rss
from benchharness.readings import Reading


def summary_reading(name: str, unit: str, samples: list[float], source: str) -> Reading:
    """Mean, sample stdev and count of `samples` as one Reading."""
    s = stats.summarize(samples)
    return Reading(name, unit, s.mean, s.stdev, s.n, source)


@dataclass(frozen=True)
class Energy:
    """The energy meter for the case's device, or why there is none."""

    meter: EnergyMeter | None
    reason: str | None

    @classmethod
    def for_device(cls, device: str) -> Energy:
        meter, reason = energy_meter(device)
        return cls(meter, reason)


def energy_readings(energy: Energy, joules: list[float | None], per_run: float, unit: str) -> list[Reading]:
    """Energy per timed run, per `unit` (token or item: `per_run` of them in a run) and `unit`s per joule.

    Where there is no counter, all three are unavailable with the same reason: never estimated here.
    """
    names = ("energy_j", f"energy_per_{unit}_j", f"{unit}s_per_j")
    values = [j for j in joules if j is not None]
    why = energy.reason or (energy.meter.unusable_reason(values) if energy.meter else "no meter")
    if why is not None or energy.meter is None:
        reason = why or "meter returned no values"
        return [Reading.unavailable(n, "J" if n.endswith("_j") else f"{unit}s/J", reason) for n in names]
    source = energy.meter.source
    return [
        summary_reading(names[0], "J", values, source),
        summary_reading(names[1], "J", [j / per_run for j in values], f"{source}; per run / {per_run:g} {unit}s"),
        summary_reading(
            names[2], f"{unit}s/J", [per_run / j for j in values], f"{source}; {per_run:g} {unit}s / per run"
        ),
    ]


def resource_readings(
    energy: Energy, joules: list[float | None], model_file_bytes: int, per_run: float, unit: str
) -> list[Reading]:
    """Energy, peak memory and file size: taken after the timed runs, before any accuracy work."""
    return [
        *energy_readings(energy, joules, per_run, unit),
        peak_rss(),
        Reading("model_file_bytes", "B", float(model_file_bytes), source="size on disk"),
    ]
