"""Readings taken right after a timed region: energy per timed run and per token or item, peak memory, file size."""

from __future__ import annotations

from dataclasses import dataclass

from benchharness import stats
from benchharness.meters.energy import CpuTdpEstimate, EnergyMeter, energy_meter
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
    estimate: CpuTdpEstimate | None = None  # only where there is no counter, and only when asked for

    @classmethod
    def for_device(cls, device: str, estimate_cpu_tdp_w: float | None = None) -> Energy:
        meter, reason = energy_meter(device)
        estimate = (
            CpuTdpEstimate(estimate_cpu_tdp_w) if meter is None and estimate_cpu_tdp_w and device == "cpu" else None
        )
        return cls(meter, reason, estimate)

    @property
    def round_meter(self) -> EnergyMeter | None:
        """What the round loop reads around each round: the counter, else the asked-for estimate."""
        return self.meter or self.estimate


def energy_readings(energy: Energy, joules: list[float | None], per_run: float, unit: str) -> list[Reading]:
    """Energy per timed run, per `unit` (token or item: `per_run` of them in a run) and `unit`s per joule.

    Where there is no counter, all three are unavailable with the same reason; an estimate the user asked
    for goes into separate `estimated_*` readings next to them, labelled in its source.
    """
    names = ("energy_j", f"energy_per_{unit}_j", f"{unit}s_per_j")
    values = [j for j in joules if j is not None]
    why = energy.reason or (energy.meter.unusable_reason(values) if energy.meter else "no meter")
    if why is None and energy.meter is not None and values:
        return _per_run(names, values, per_run, unit, energy.meter.source)
    reason = why or "meter returned no values"
    units = ("J", "J", f"{unit}s/J")  # as _per_run gives them: tokens_per_j ends in _j but is tokens/J
    readings = [Reading.unavailable(n, u, reason) for n, u in zip(names, units, strict=True)]
    if energy.estimate is not None and values and all(j > 0 for j in values):
        estimated = tuple(f"estimated_{n}" for n in names)
        readings += _per_run(estimated, values, per_run, unit, energy.estimate.source)
    return readings


def _per_run(names: tuple[str, ...], joules: list[float], per_run: float, unit: str, source: str) -> list[Reading]:
    per_unit = f"{source}; per run / {per_run:g} {unit}s"
    return [
        summary_reading(names[0], "J", joules, source),
        summary_reading(names[1], "J", [j / per_run for j in joules], per_unit),
        summary_reading(names[2], f"{unit}s/J", [per_run / j for j in joules], f"{source}; {per_run:g} {unit}s / J"),
    ]


def resource_readings(
    energy: Energy, joules: list[float | None], file_bytes: tuple[int, int | None], per_run: float, unit: str
) -> list[Reading]:
    """Energy, peak memory and file sizes (weights, tokenizer: models/sizes.py), after the timed runs."""
    weights, tokenizer = file_bytes
    return [
        *energy_readings(energy, joules, per_run, unit),
        peak_rss(),
        Reading(
            "weights_file_bytes",
            "B",
            float(weights),
            source="size on disk of the graph and weight files (no tokenizer)",
        ),
        Reading("tokenizer_file_bytes", "B", float(tokenizer), source="size on disk of the tokenizer files")
        if tokenizer is not None
        else Reading.unavailable(
            "tokenizer_file_bytes", "B", "no separate tokenizer files (a GGUF or a single-file variant holds none)"
        ),
    ]
