"""Per-machine baselines: what each case measured when someone last said 'this is normal'.

One file per machine (`baselines/<machine id>.json`), one entry per measurement key (suite, case,
workload) holding every tracked metric's value, spread and round samples, and the gate ratios. Comparison is the judge's job (judge.judge_baseline);
this module only reads and writes the files. Saving merges entries into the file under a lock
and replaces it atomically; nothing writes a baseline unless the user asked for it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness.errors import MachineMismatch, StoreError
from benchharness.machine import comparable
from benchharness.readings import Measurement, metric_spec
from benchharness.storage import locked, read_versioned, write_json_atomic

SCHEMA_VERSION = 2
DOCUMENT = "baseline"
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


def baseline_path(directory: Path, machine_id: str) -> Path:
    return directory / f"{machine_id}.json"


def load(path: Path) -> dict[str, Any]:
    data = read_versioned(path, DOCUMENT, SCHEMA_VERSION, migrations={1: _v1_to_v2})
    if not isinstance(data.get("machine"), dict) or not isinstance(data.get("cases"), dict):
        raise StoreError(
            f"baseline file {path} lacks 'machine' or 'cases'; restore it from version control or re-record"
        )
    return data


def load_for_machine(
    directory: Path, machine: dict[str, Any], any_machine: bool = False, file: Path | None = None
) -> dict[str, Any] | None:
    """This machine's baseline file (or the one named), None if there is none, MachineMismatch if it was
    recorded elsewhere. A named file is compared whatever machine recorded it: the user chose it."""
    if file is not None:
        if not file.is_file():
            raise StoreError(f"--baseline-file {file} is not a file; name a baselines/<machine>.json")
        return load(file)
    path = baseline_path(directory, machine["id"])
    if not path.is_file():
        return None
    data = load(path)
    differences = comparable(data["machine"], machine)
    if differences and not any_machine:
        raise MachineMismatch(
            f"baseline {path} was recorded on another machine ({'; '.join(differences)}); "
            "re-record with --save-baseline, or pass --baseline-any-machine to compare anyway"
        )
    return data


@dataclass(frozen=True)
class StoredMetric:
    """One tracked metric as recorded: summary and the round samples the significance test needs."""

    value: float
    stdev: float
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
    settings: dict[str, Any]
    recorded: dict[str, Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaselineEntry:
        return cls(
            metrics={
                k: StoredMetric(
                    float(m["value"]),
                    float(m.get("stdev", 0.0)),
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
            settings=dict(data.get("settings", {})),
            recorded=dict(data.get("recorded", {})),
        )


def entry(
    measurement: Measurement, settings: dict[str, Any], run: dict[str, Any], ratios: dict[str, StoredRatio]
) -> dict[str, Any]:
    """The stored form of one case: tracked metrics with spread and samples, gate ratios, settings."""
    metrics = {}
    for name, r in measurement.readings.items():
        if not (r.available and (spec := metric_spec(name)) is not None and spec.tracked):
            continue
        samples = measurement.round_samples.get(name, [])
        metrics[name] = {"value": r.value, "stdev": r.stdev, "n": r.n, "unit": r.unit, "samples": list(samples)}
    return {
        "metrics": metrics,
        "ratios": {k: asdict(v) for k, v in ratios.items()},
        "settings": settings,
        "recorded": run,
    }


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept no samples and no ratios: both start empty (summaries still compare by effect size)."""
    for case in data.get("cases", {}).values():
        case.setdefault("ratios", {})
        for metric in case.get("metrics", {}).values():
            metric.setdefault("samples", [])
    return {**data, "schema_version": 2}


def save(directory: Path, machine: dict[str, Any], entries: dict[str, dict[str, Any]]) -> Path:
    """Merge `entries` (case id -> entry) into this machine's file, atomically and under a lock."""
    path = baseline_path(directory, machine["id"])
    with locked(path):
        data: dict[str, Any] = load(path) if path.is_file() else {"schema_version": SCHEMA_VERSION, "cases": {}}
        data["machine"] = machine
        data["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        data["cases"] = {**data["cases"], **entries}
        for key, entry in data["cases"].items():
            if (where := _non_finite(entry)) is not None:
                raise StoreError(
                    f"{path}: entry {key!r} holds a non-finite number at {where}; nothing was saved. "
                    "Delete that entry from the file (or the file) and re-record"
                )
        write_json_atomic(path, data)
    return path


def _non_finite(value: Any, where: str = "") -> str | None:
    """The path of the first NaN or infinity inside `value` (JSON cannot store one), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return where or "."
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        if (found := _non_finite(v, f"{where}.{k}" if where else str(k))) is not None:
            return found
    return None
