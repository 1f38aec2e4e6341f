"""The machine-readable record of a run: one JSON file per session under `reports/`.

`load_dataframe(path)` gives one pandas row per (case, metric), the shape that lab merges, history
stores and notebooks want. The same run is also written in pytest-benchmark's JSON format, so
`pytest-benchmark compare` and github-action-benchmark read the decode timings as they are.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchharness.baselines import StoredRatio
from benchharness.judge import Verdict
from benchharness.matrix import Case
from benchharness.protocol import PairedTiming, encode
from benchharness.readings import Measurement
from benchharness.storage import read_versioned, write_json_atomic

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
KIND = "results"


@dataclass
class CaseRecord:
    """What happened to one case: outcome, every child's figures, the pairs, ratios and verdicts."""

    case: Case
    outcome: str = "pending"  # passed | failed | skipped | xfailed | xpassed | error | measured as reference
    measurement: Measurement | None = None  # the first full measurement (accuracy included)
    measurements: list[Measurement] = field(default_factory=list)  # every solo child, confirmations included
    reference_measurements: list[Measurement] = field(default_factory=list)
    pairs: list[PairedTiming] = field(default_factory=list)  # paired blocks the gate was judged on
    confirm_pairs: list[PairedTiming] = field(default_factory=list)  # blocks re-measured to confirm a failure
    ratios: dict[str, float] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    message: str | None = None
    test_name: str = "test_generation"  # the suite's test function, for pytest-benchmark's names
    nodeid: str | None = None

    def stored_ratios(self) -> dict[str, StoredRatio]:
        """Gate ratios with their intervals, as a baseline keeps them."""
        return {
            v.name: StoredRatio(v.estimate, v.low, v.high, v.n or 0)
            for v in self.verdicts
            if v.kind == "gate" and v.estimate is not None and v.low is not None and v.high is not None
        }

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            "id": self.case.id,
            "key": self.case.key,
            "suite": self.case.suite,
            "model": self.case.model,
            "quant": self.case.quant,
            "backend": self.case.backend,
            "device": self.case.device,
            "kind": self.case.kind,
            "reference": self.case.reference,
            "outcome": self.outcome,
            "message": self.message,
            "readings": {} if m is None else {k: r.to_dict() for k, r in sorted(m.readings.items())},
            "info": {} if m is None else m.info,
            "warnings": [] if m is None else list(m.warnings),
            "round_samples": {} if m is None else m.round_samples,
            "confirmations": [c.to_dict() for c in self.measurements[1:]],
            "pairs": [encode(p) for p in self.pairs],
            "confirm_pairs": [encode(p) for p in self.confirm_pairs],
            "ratios": self.ratios,
            "verdicts": [asdict(v) for v in self.verdicts],
        }


def write_results(directory: Path, run: dict[str, Any], records: list[CaseRecord]) -> Path:
    """Write `results-<UTC time>-<pid>.json` and refresh `latest.json`; returns the timestamped path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    data = {"schema_version": SCHEMA_VERSION, "run": run, "cases": [r.to_dict() for r in records]}
    path = directory / f"results-{stamp}-{os.getpid()}.json"
    write_json_atomic(path, data)
    write_json_atomic(directory / "latest.json", data)
    return path


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no pairs, confirmations or intervals; verdict statuses 'breach' became 'fail'."""
    for case in data.get("cases", []):
        case.setdefault("key", f"{case.get('suite')}::{case.get('id')}")
        for name in ("confirmations", "pairs", "confirm_pairs"):
            case.setdefault(name, [])
        for verdict in case.get("verdicts", []):
            if verdict.get("status") == "breach":
                verdict["status"] = "fail"
    return {**data, "schema_version": 2}


def load_results(path: Path) -> dict[str, Any]:
    return read_versioned(Path(path), KIND, SCHEMA_VERSION, migrations={1: _v1_to_v2})


def load_dataframe(path: str | Path) -> pd.DataFrame:
    """One row per (case, metric) with value, stdev, n, unit, source and why it was unavailable."""
    import pandas as pd

    data = load_results(Path(path))
    rows = []
    for case in data["cases"]:
        base = {k: case[k] for k in ("id", "suite", "model", "quant", "backend", "device", "outcome")}
        if not case["readings"]:
            rows.append({**base, "metric": None})
        for name, reading in case["readings"].items():
            rows.append(
                {
                    **base,
                    "metric": name,
                    **{k: reading[k] for k in ("value", "stdev", "n", "unit", "source", "unavailable_reason")},
                }
            )
    return pd.DataFrame(rows)


PYTEST_BENCHMARK_SERIES = ("decode_tok_per_s", "batch32_items_per_s")


def pytest_benchmark_document(run: dict[str, Any], records: list[CaseRecord]) -> dict[str, Any]:
    """pytest-benchmark's JSON (its own Stats class computes the fields) for each case's headline speed.

    Each round contributes one sample: seconds per decoded token (causal LMs) or per item at batch
    32 (encoders, classifiers), so `ops` is decode tok/s or items/s.
    """
    from pytest_benchmark.stats import Stats

    benchmarks = []
    for record in records:
        m = record.measurement
        series = next((m.round_samples[k] for k in PYTEST_BENCHMARK_SERIES if m and m.round_samples.get(k)), None)
        if m is None or series is None:
            continue
        stats = Stats()
        for per_second in series:
            stats.update(1.0 / per_second)
        fields = stats.as_dict()
        fields["data"] = list(stats.data)
        benchmarks.append(
            {
                "group": record.case.suite,
                "name": f"{record.test_name}[{record.case.id}]",
                "fullname": record.nodeid or f"suites::{record.test_name}[{record.case.id}]",
                "params": {"case": record.case.id},
                "param": record.case.id,
                "extra_info": {k: r.value for k, r in m.readings.items() if r.available},
                "options": {
                    "timer": "perf_counter",
                    "min_rounds": len(stats.data),
                    "warmup": True,
                    "disable_gc": False,
                },
                "stats": fields,
            }
        )
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
