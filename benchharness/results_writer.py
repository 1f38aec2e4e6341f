"""What a run writes: its results file (from the session's CaseRecords) and the same run in pytest-benchmark's JSON.

The results file is read back through results.py (the one case shape reports read); the pytest-benchmark
document lets `pytest-benchmark compare` and github-action-benchmark read the headline timings as they are.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchharness.records import CaseRecord
from benchharness.results import SCHEMA_VERSION
from benchharness.storage import write_json_atomic


def results_path(directory: Path) -> Path:
    """Where this run's results go: `results-<UTC time>-<pid>.json`, a name no other run can take."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return directory / f"results-{stamp}-{os.getpid()}.json"


def results_document(run: dict[str, Any], records: list[CaseRecord]) -> dict[str, Any]:
    """The results JSON as a dict: what is written, and what the report and history read back."""
    data: dict[str, Any] = {"schema_version": SCHEMA_VERSION, "run": run, "cases": [r.to_dict() for r in records]}
    return data


def write_results(path: Path, data: dict[str, Any]) -> Path:
    """Write the results to `path` and refresh `latest.json` beside it; returns `path`."""
    write_json_atomic(path, data)
    write_json_atomic(path.with_name("latest.json"), data)
    return path


PYTEST_BENCHMARK_SERIES = ("decode_tok_per_s", "batch32_items_per_s")


def pytest_benchmark_document(run: dict[str, Any], records: list[CaseRecord]) -> dict[str, Any]:
    """pytest-benchmark's JSON (its own Stats class computes the fields) for each case's headline speed.

    Each round contributes one sample: seconds per decoded token (causal LMs) or per item at batch
    32 (encoders, classifiers), so `ops` is decode tok/s or items/s.
    """
    from pytest_benchmark.stats import Metadata

    benchmarks = []
    for record in records:
        m = record.measurement
        series = next((m.round_samples[k] for k in PYTEST_BENCHMARK_SERIES if m and m.round_samples.get(k)), None)
        if m is None or series is None:
            continue
        # pytest-benchmark's own Metadata writes the entry, so every field its `compare` and
        # github-action-benchmark read (iterations, ops, stddev, ...) is there, spelt its way.
        fixture = SimpleNamespace(
            name=f"{record.test_name}[{record.case.id}]",
            fullname=record.nodeid or f"suites::{record.test_name}[{record.case.id}]",
            group=record.case.suite,
            param=record.case.id,
            params={"case": record.case.id},
            extra_info={k: r.value for k, r in m.readings.items() if r.available},
            cprofile_stats=None,
        )
        options = {"timer": "perf_counter", "min_rounds": len(series), "warmup": True, "disable_gc": False}
        metadata = Metadata(fixture, iterations=1, options=options)
        for per_second in series:
            metadata.update(1.0 / per_second)
        benchmarks.append(metadata.as_dict(include_data=True))
    return {
        "machine_info": {
            "node": run["machine"]["id"],
            "processor": run["machine"]["cpu"],
            "machine": run["machine"]["arch"],
            "system": run["machine"]["system"],
            "python_version": run["machine"]["python"],
            "cpu": {"count": run["machine"]["logical_cores"]},
        },
        "commit_info": {"id": run.get("git_commit"), "dirty": None, "project": "benchharness"},
        "benchmarks": benchmarks,
        "datetime": run["started"],
        "version": run["packages"].get("pytest-benchmark", "5"),
    }
