"""A case's stored baseline as values: the figures, gate ratios and settings one entry of a baselines file holds.

Pure, so the judge (which compares a run with them) and compare (which builds one from an older run) need not
import the module that reads and writes the files (baselines.py), nor what that imports (the machine's
fingerprint, locking, storage).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from benchharness.readings import Measurement, metric_spec

NO_BASELINE = "no-baseline"  # verdict name for a case this machine has no stored figures for
# Verdict names that say the whole baseline was not compared (none, another machine, other settings).
WHOLE_BASELINE = (NO_BASELINE, "baseline", "settings")


# Workload settings that set only how much evidence a run gathers, not what it measures: more rounds
# or a longer minimum time narrow the spread of the same figure, so a baseline recorded with other values
# is still compared (the Mann-Whitney test weighs the samples each side has). Everything else in a case's
# settings defines the figure and discards a baseline that differs: prompt and generated tokens, depths,
# n_ctx, windows (which tokens are scored), and warmup_rounds (with none, the first timed round carries the
# cold caches and allocations, so the figure itself moves).
EVIDENCE_SETTINGS = frozenset({"min_rounds", "max_rounds", "min_time_s"})


def defining_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that define what a case measures (all but EVIDENCE_SETTINGS)."""
    return {k: v for k, v in settings.items() if k not in EVIDENCE_SETTINGS}


@dataclass(frozen=True)
class StoredMetric:
    """One tracked metric as recorded: summary and the round samples the significance test needs."""

    value: float
    stdev: float | None  # None: no spread was measured (one figure, a percentile, an accuracy)
    n: int
    unit: str
    samples: tuple[float, ...] = ()


@dataclass(frozen=True)
class StoredRatio:
    """A gate ratio as recorded: estimate and interval (far steadier across sessions than raw tok/s)."""

    estimate: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class BaselineEntry:
    """One case's stored figures, with the settings that define them."""

    metrics: dict[str, StoredMetric]
    ratios: dict[str, StoredRatio]
    workload_key: dict[str, Any]  # the workload settings that define the figures (`settings` in the file)
    recorded: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineEntry:
        return cls(
            metrics={
                k: StoredMetric(
                    float(m["value"]),
                    None if m.get("stdev") is None else float(m["stdev"]),
                    int(m.get("n", 1)),
                    str(m.get("unit", "")),
                    tuple(float(x) for x in m.get("samples", ())),
                )
                for k, m in data.get("metrics", {}).items()
            },
            ratios={
                k: StoredRatio(float(r["estimate"]), float(r["low"]), float(r["high"]), int(r["n"]))
                for k, r in data.get("ratios", {}).items()
            },
            workload_key=dict(data.get("settings", {})),
            recorded=dict(data.get("recorded", {})),
        )

    @classmethod
    def of(
        cls,
        measurement: Measurement,
        workload_key: dict[str, Any],
        recorded: dict[str, Any],
        ratios: dict[str, StoredRatio],
    ) -> BaselineEntry:
        """One case as a baseline keeps it: its tracked metrics with spread and round samples, its gate ratios."""
        metrics = {}
        for name, r in measurement.readings.items():
            if not (r.available and r.value is not None and (spec := metric_spec(name)) is not None and spec.tracked):
                continue
            samples = tuple(float(x) for x in measurement.round_samples.get(name, []))
            metrics[name] = StoredMetric(r.value, r.stdev, r.n, r.unit, samples)
        return cls(metrics, dict(ratios), workload_key, recorded)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: what `from_dict` reads back."""
        return {
            "metrics": {k: {**asdict(m), "samples": list(m.samples)} for k, m in self.metrics.items()},
            "ratios": {k: asdict(v) for k, v in self.ratios.items()},
            "settings": self.workload_key,
            "recorded": self.recorded,
        }
