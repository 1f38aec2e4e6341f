"""Readings taken right after a timed region: energy per timed run and per token or item, peak memory, file size."""

from __future__ import annotations

from benchharness import stats
from benchharness.child_info import RegionFacts
from benchharness.meters.base import MeterCase, Metered
from benchharness.meters.energy import Energy
from benchharness.meters.memory import peak_rss
from benchharness.readings import Reading


def summary_reading(name: str, unit: str, samples: list[float], source: str) -> Reading:
    """Mean, sample stdev and count of `samples` as one Reading (no stdev from a single sample: none was measured)."""
    s = stats.summarize(samples)
    return Reading(name, unit, s.mean, s.stdev if s.n > 1 else None, s.n, source)


def energy_reads(unit: str) -> tuple[tuple[str, str], ...]:
    """The energy readings' (name, unit) for runs of `unit`s (token or item)."""
    return (("energy_j", "J"), (f"energy_per_{unit}_j", "J"), (f"{unit}s_per_j", f"{unit}s/J"))


def energy_readings(energy: Energy, joules: list[float | None], per_run: float, unit: str) -> list[Reading]:
    """Energy per timed run, per `unit` (token or item: `per_run` of them in a run) and `unit`s per joule.

    Where there is no counter, all three are unavailable with the same reason; an estimate the user asked
    for goes into separate `estimated_*` readings next to them, labelled in its source.
    """
    reads = energy_reads(unit)
    names = tuple(name for name, _ in reads)
    values = [j for j in joules if j is not None]
    why = energy.reason or (energy.meter.unusable_reason(values) if energy.meter else "no meter")
    if why is None and energy.meter is not None and values:
        return _per_run(names, values, per_run, unit, energy.meter.source)
    reason = why or "meter returned no values"
    readings = [Reading.unavailable(name, unit_of, reason) for name, unit_of in reads]
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


class EnergyMeter:
    """Energy over the timed region, per timed run: the joules its counter took for each run inside the region.

    The counter (`case.energy.round_meter`) is read by the round loop around each run (workload.repeat), so
    energy has a spread like every other figure; this meter keeps the runs between its start() and stop().
    A case without a counter gets the three readings unavailable with the reason (energy_readings).
    """

    def __init__(self, case: MeterCase) -> None:
        self.energy = case.energy
        self.per_run, self.unit = case.per_run, case.unit
        self._first = 0

    @classmethod
    def reads(cls, case: MeterCase) -> tuple[tuple[str, str], ...]:
        return () if case.energy is None else energy_reads(case.unit)

    def _taken(self) -> list[float]:
        counter = None if self.energy is None else self.energy.round_meter
        return [] if counter is None else counter.taken

    def start(self) -> None:
        self._first = len(self._taken())

    def stop(self) -> Metered:
        if self.energy is None:
            return Metered([], RegionFacts())
        joules: list[float | None] = list(self._taken()[self._first :])
        return Metered(energy_readings(self.energy, joules or [None], self.per_run, self.unit), RegionFacts())


def resource_readings(file_bytes: tuple[int, int | None]) -> list[Reading]:
    """Peak memory and file sizes (weights, tokenizer: models/sizes.py), after the timed runs."""
    weights, tokenizer = file_bytes
    return [
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
