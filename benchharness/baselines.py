"""Per-machine baselines: what each case measured when someone last said 'this is normal'.

One file per machine (`baselines/<machine id>.json`), one entry per case id holding every tracked
metric's value and spread. Comparison is noise-aware (stats.compare_to_baseline): the tolerance
widens with the spread recorded in both runs. Saving merges entries into the file under a lock
and replaces it atomically; nothing writes a baseline unless the user asked for it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness import stats
from benchharness.config import BaselineSettings
from benchharness.errors import MachineMismatch, StoreError
from benchharness.gates import Verdict
from benchharness.machine import comparable
from benchharness.readings import METRICS, Measurement
from benchharness.storage import locked, read_versioned, write_json_atomic

SCHEMA_VERSION = 1
KIND = "baseline"
NO_BASELINE = "no-baseline"  # verdict name for a case this machine has no stored figures for


def baseline_path(directory: Path, machine_id: str) -> Path:
    return directory / f"{machine_id}.json"


def load(path: Path) -> dict[str, Any]:
    data = read_versioned(path, KIND, SCHEMA_VERSION, migrations={})
    if not isinstance(data.get("machine"), dict) or not isinstance(data.get("cases"), dict):
        raise StoreError(
            f"baseline file {path} lacks 'machine' or 'cases'; restore it from version control or re-record"
        )
    return data


def load_for_machine(directory: Path, machine: dict[str, Any], any_machine: bool = False) -> dict[str, Any] | None:
    """This machine's baseline file, None if there is none, MachineMismatch if it was recorded elsewhere."""
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


def entry(measurement: Measurement, settings: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    """The stored form of one case: tracked metrics with spread, and the settings that define them."""
    metrics = {
        name: {"value": r.value, "stdev": r.stdev, "n": r.n, "unit": r.unit}
        for name, r in measurement.readings.items()
        if r.available and METRICS.get(name, None) is not None and METRICS[name].tracked
    }
    return {"metrics": metrics, "settings": settings, "recorded": run}


def save(directory: Path, machine: dict[str, Any], entries: dict[str, dict[str, Any]]) -> Path:
    """Merge `entries` (case id -> entry) into this machine's file, atomically and under a lock."""
    path = baseline_path(directory, machine["id"])
    with locked(path):
        data: dict[str, Any] = load(path) if path.is_file() else {"schema_version": SCHEMA_VERSION, "cases": {}}
        data["machine"] = machine
        data["updated"] = datetime.now(UTC).isoformat(timespec="seconds")
        data["cases"] = {**data["cases"], **entries}
        write_json_atomic(path, data)
    return path


def compare(
    measurement: Measurement, stored: dict[str, Any], settings: dict[str, Any], policy: BaselineSettings
) -> list[Verdict]:
    """Baseline verdicts for every tracked metric the stored entry has."""
    if stored.get("settings") != settings:
        changed = sorted(
            k
            for k in set(settings) | set(stored.get("settings", {}))
            if settings.get(k) != stored.get("settings", {}).get(k)
        )
        return [
            Verdict(
                "baseline",
                "settings",
                "unavailable",
                f"baseline recorded with different workload settings ({', '.join(changed)}); not compared. "
                "Re-record with --save-baseline",
            )
        ]
    verdicts: list[Verdict] = []
    for name, old in sorted(stored.get("metrics", {}).items()):
        spec = METRICS.get(name)
        reading = measurement.readings.get(name)
        if spec is None or not spec.tracked or spec.better == "neither":
            continue
        if reading is None or not reading.available:
            why = reading.unavailable_reason if reading else "not measured"
            verdicts.append(
                Verdict("baseline", name, "unavailable", f"{name}: in the baseline but not measured now ({why})")
            )
            continue
        assert reading.value is not None
        try:
            result = stats.compare_to_baseline(
                float(old["value"]),
                float(old.get("stdev", 0.0)),
                reading.value,
                reading.stdev,
                higher_is_better=spec.better == "higher",
                noise_k=policy.noise_k,
                min_effect=policy.min_effect,
            )
        except (KeyError, TypeError, ValueError) as e:
            verdicts.append(Verdict("baseline", name, "unavailable", f"{name}: stored baseline value unusable ({e})"))
            continue
        direction = "regressed" if result.regressed else ("improved" if result.improved else "within noise")
        message = (
            f"{name} {direction}: {result.change:+.1%} (tolerance {result.tolerance:.1%}), "
            f"{_fmt(reading.value, spec.unit)} vs baseline {_fmt(result.baseline, spec.unit)}"
        )
        verdicts.append(
            Verdict(
                "baseline",
                name,
                "breach" if result.regressed else "pass",
                message,
                value=result.change,
                threshold=result.tolerance,
                reference=result.baseline,
            )
        )
    return verdicts


def _fmt(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 2**20:.1f} MiB"
    if unit == "fraction":
        return f"{value:.2%}"
    return f"{value:.4g} {unit}".strip()
