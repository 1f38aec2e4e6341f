"""Per-machine baselines: what each case measured when someone last said 'this is normal'.

One file per machine (`baselines/<machine id>.json`), one entry per measurement key (suite, case,
workload) holding every tracked metric's value, spread and round samples, and the gate ratios. Comparison is the judge's job (judge.judge_baseline);
this module only reads and writes the files. Saving merges entries into the file under a lock
and replaces it atomically; nothing writes a baseline unless the user asked for it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness.baseline_entry import BaselineEntry, StoredRatio
from benchharness.errors import MachineMismatch, StoreError
from benchharness.machine import comparable
from benchharness.readings import Measurement
from benchharness.storage import locked, read_versioned, write_json_atomic

SCHEMA_VERSION = 2
DOCUMENT = "baseline"


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


def entry(
    measurement: Measurement, settings: dict[str, Any], run: dict[str, Any], ratios: dict[str, StoredRatio]
) -> dict[str, Any]:
    """The stored form of one case (baseline_entry.BaselineEntry.of, written as the file holds it)."""
    return BaselineEntry.of(measurement, settings, run, ratios).to_dict()


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
