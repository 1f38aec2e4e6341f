"""A run's results file read back: its schema and migrations, the typed `RunResult` / `CaseResult`, and loaders.

One JSON file per session under `reports/` (results_writer.py writes it from the session's CaseRecords);
every report, compare, merge and the history read it through here, typed. `load_runs(path)` takes a
results file, an HTML report or a lab's merged file; `load_dataframe(path)` gives one pandas row per
(run, case, metric) and `load_verdicts(path)` one per (run, case, verdict), the shapes notebooks want.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchharness.errors import StoreError
from benchharness.machine import NO_COMMITS, NOT_A_REPOSITORY
from benchharness.matrix import Case
from benchharness.protocol import PairedTiming, ProtocolError, decode
from benchharness.readings import Measurement
from benchharness.settings import BaselineSettings
from benchharness.storage import migrate, read_json, read_versioned
from benchharness.verdicts import Verdict

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 5
DOCUMENT = "results"  # the document type storage.py names in its errors


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 had no pairs, confirmations or intervals; verdict statuses 'breach' became 'fail'.

    Nor a case's model kind: its child recorded it in the info, where a case was measured at all.
    """
    for case in data.get("cases", []):
        case.setdefault("key", f"{case.get('suite')}::{case.get('id')}")
        if "kind" not in case and isinstance(case.get("info"), dict) and "kind" in case["info"]:
            case["kind"] = case["info"]["kind"]
        for name in ("confirmations", "pairs", "confirm_pairs"):
            case.setdefault(name, [])
        for verdict in case.get("verdicts", []):
            if verdict.get("status") == "breach":
                verdict["status"] = "fail"
    return {**data, "schema_version": 2}


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 kept the workload settings once per run, not per case, and no noise rule."""
    run_settings = data.get("run", {}).get("settings", {})
    for case in data.get("cases", []):
        case.setdefault("settings", run_settings)
        case.setdefault("baseline_policy", asdict(BaselineSettings()))
        for pair in (*case.get("pairs", []), *case.get("confirm_pairs", [])):
            pair.setdefault("timed_s", 0.0)  # early version-2 files did not account the child's time
    return {**data, "schema_version": 3}


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Version 3 kept a failure as the last 2,000 characters of pytest's report, with no separate output tail."""
    for case in data.get("cases", []):
        case.setdefault("log_tail", [])
    return {**data, "schema_version": 4}


def _v4_to_v5(data: dict[str, Any]) -> dict[str, Any]:
    """Version 4 called a case's variant `quant` (it holds fp32 too) and a verdict's check its `kind`
    (a word the case's model kind also used); the values are unchanged."""
    for case in data.get("cases", []):
        if "quant" in case:
            case["variant"] = case.pop("quant")
        for verdict in case.get("verdicts", []):
            if "kind" in verdict:
                verdict["check"] = verdict.pop("kind")
    return {**data, "schema_version": 5}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
    4: _v4_to_v5,
}


def load_results(path: Path) -> dict[str, Any]:
    return read_versioned(Path(path), DOCUMENT, SCHEMA_VERSION, migrations=MIGRATIONS)


# -- typed results, as compare, merge, history and the report read them --------------------------


@dataclass(frozen=True)
class CaseResult:
    """One case of a stored run, read back: what the session's CaseRecord was when it was written."""

    case: Case
    outcome: str
    message: str | None
    log_tail: tuple[str, ...]
    measurement: Measurement | None
    confirmations: tuple[Measurement, ...]
    pairs: tuple[PairedTiming, ...]
    confirm_pairs: tuple[PairedTiming, ...]
    ratios: dict[str, float]
    verdicts: tuple[Verdict, ...]
    workload_key: dict[str, Any]  # the workload settings that define its figures (`settings` in the file)
    baseline_policy: BaselineSettings

    @property
    def key(self) -> str:
        return self.case.key

    def verdict(self, check: str, name: str) -> Verdict | None:
        """This case's verdict from `check` (gate, baseline, ratio, limit) named `name`, if it has one."""
        return next((v for v in self.verdicts if v.check == check and v.name == name), None)

    def gate_verdicts(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.check == "gate"]

    def passes_every_gate(self) -> bool:
        """Every declared gate judged and passed (a variant with no gate at all does not qualify)."""
        gates = self.gate_verdicts()
        return bool(gates) and all(v.status == "pass" for v in gates)

    def value(self, metric: str) -> float | None:
        return None if self.measurement is None else self.measurement.value(metric)

    def pair_log_ratios(self) -> list[float]:
        """ln(variant / reference) for every pair the speed gate was judged on (empty without pairs)."""
        return [
            math.log(v / r) for p in self.pairs for v, r in zip(p.variant, p.reference, strict=True) if v > 0 and r > 0
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> CaseResult:
        try:
            case = Case(
                suite=str(data["suite"]),
                model=str(data["model"]),
                variant=str(data["variant"]),
                backend=str(data["backend"]),
                device=str(data["device"]),
                reference=str(data["reference"]),
                kind=_kind(data, where),
            )
            readings = data.get("readings") or {}
            measurement = (
                None
                if not readings
                else Measurement.from_dict(
                    {
                        "case_id": case.id,
                        "readings": readings,
                        "info": data.get("info"),
                        "warnings": data.get("warnings"),
                        "round_samples": data.get("round_samples"),
                    }
                )
            )
            return cls(
                case=case,
                outcome=str(data["outcome"]),
                message=data.get("message"),
                log_tail=tuple(str(line) for line in data.get("log_tail", [])),
                measurement=measurement,
                confirmations=tuple(Measurement.from_dict(m) for m in data.get("confirmations", [])),
                pairs=tuple(decode(PairedTiming, p, f"{where}.pairs") for p in data.get("pairs", [])),
                confirm_pairs=tuple(
                    decode(PairedTiming, p, f"{where}.confirm_pairs") for p in data.get("confirm_pairs", [])
                ),
                ratios={str(k): float(v) for k, v in (data.get("ratios") or {}).items()},
                verdicts=tuple(Verdict(**v) for v in data.get("verdicts", [])),
                workload_key=dict(data.get("settings") or {}),
                baseline_policy=_baseline_policy(data.get("baseline_policy") or {}),
            )
        except (KeyError, TypeError, ValueError, ProtocolError) as e:
            raise StoreError(
                f"{where} is not a readable benchharness case ({type(e).__name__}: {e}); re-record it"
            ) from None


def _kind(data: dict[str, Any], where: str) -> str:
    """The case's model kind: every case has one since schema 2 (and version 1's measured ones, migrated)."""
    kind = data.get("kind")
    if not isinstance(kind, str) or not kind:
        raise StoreError(f"{where} has no model kind (got {kind!r}); a results file has one per case, re-record it")
    return kind


def _baseline_policy(data: dict[str, Any]) -> BaselineSettings:
    """The noise rule a case was judged by, every field of it: a field added later is read back too (a
    hand-listed set once dropped `run_factor`, so compare judged the digits suite by the default floor)."""
    values: dict[str, Any] = {}
    for f in fields(BaselineSettings):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.name == "metrics":
            values[f.name] = None if value is None else tuple(str(m) for m in value)
        else:
            values[f.name] = float(value)
    return BaselineSettings(**values)


@dataclass(frozen=True)
class RunResult:
    """One session's results, read back from results JSON or from the data embedded in an HTML report."""

    source: str
    machine: dict[str, Any]
    started: str
    finished: str
    packages: dict[str, str]
    git_commit: str | None
    run: dict[str, Any]  # the whole run block (threads, settings, trials, cost), for the environment table
    cases: tuple[CaseResult, ...]
    data: dict[str, Any]  # the document as stored, to embed again

    @property
    def machine_id(self) -> str:
        return str(self.machine.get("id", "unknown-machine"))

    @property
    def label(self) -> str:
        """How a reader tells runs apart: the machine, the commit and the day.

        Without a commit the label says why (the run's `git_none`: not a git repository, no commits yet) instead
        of `@ no commit`, which read as a commit named "no commit". Files written before `git_none` hold None
        outside git, and "HEAD" itself in a repository with no commits (`git rev-parse HEAD` printed it).
        """
        if self.no_commit:
            return f"{self.machine_id} ({self.started[:16]}; no git commit: {self.no_commit})"
        return f"{self.machine_id} @ {str(self.git_commit)[:10]} ({self.started[:16]})"

    @property
    def no_commit(self) -> str:
        """Why the run has no git commit ("" where it has one), for the label and the report's environment table."""
        if self.git_commit == "HEAD":
            return NO_COMMITS
        if not self.git_commit:
            return str(self.run.get("git_none") or NOT_A_REPOSITORY)
        return ""

    def case(self, key: str) -> CaseResult | None:
        return next((c for c in self.cases if c.key == key), None)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str) -> RunResult:
        run = data.get("run")
        if not isinstance(run, dict) or not isinstance(run.get("machine"), dict):
            raise StoreError(f"results {source} has no run.machine block; it is not a benchharness results file")
        return cls(
            source=source,
            machine=dict(run["machine"]),
            started=str(run.get("started", "")),
            finished=str(run.get("finished", "")),
            packages={str(k): str(v) for k, v in (run.get("packages") or {}).items()},
            git_commit=run.get("git_commit"),
            run=run,
            cases=tuple(
                CaseResult.from_dict(c, f"{source} case {c.get('key', i)}") for i, c in enumerate(data.get("cases", []))
            ),
            data=data,
        )


REPORT_DATA_ID = "benchharness-results"
LAB_DATA_ID = "benchharness-lab"  # a lab report's first page: where its merged results lie, not the runs themselves
COMPARE_DATA_ID = "benchharness-compare"  # a compare page: where each side's results lie, not the runs
LAB_DOCUMENT = "lab-results"
LAB_SCHEMA_VERSION = 2


def lab_document(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """A lab's merged results file: each machine's run as its results file holds it, under one marker."""
    return {"document": LAB_DOCUMENT, "schema_version": LAB_SCHEMA_VERSION, "runs": runs}


def _lab_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 marked the file with `kind`, a word that now means a model's kind alone."""
    out = {k: v for k, v in data.items() if k != "kind"}
    return {**out, "document": data.get("kind"), "schema_version": 2}


def _is_lab(data: Any) -> bool:
    return isinstance(data, dict) and data.get("document", data.get("kind")) == LAB_DOCUMENT


INPUTS = "pass a results .json (reports/results-*.json, latest.json), an HTML report or a lab's results.json"


def not_results(path: Path) -> str | None:
    """Why the file at `path` is no benchharness results file at all (None: it may be one, perhaps damaged).

    Why apart from read_json's errors: a damaged results file is worth restoring or re-recording, while a file
    that never was one (a pyproject.toml, a folder, someone else's JSON) only needs the right file named.
    """
    if path.is_dir():
        return f"{path} is a folder, not a results file; {INPUTS}"
    try:
        with path.open("rb") as f:
            head = f.read(64)
    except OSError:
        return None  # read_json says why it cannot be read
    if not head.lstrip().startswith(b"{"):  # every results file is a JSON object, written by benchharness
        shown = head.decode("utf-8", "replace").strip().splitlines()[0][:30] if head.strip() else "empty"
        return f"{path} is not a benchharness results file (not JSON: it begins {shown!r}); {INPUTS}"
    return None


def load_runs(path: str | Path) -> list[RunResult]:
    """Every run in a results JSON (one), a lab's merged results JSON (one per machine) or an HTML report
    (one; a lab report's first page: the merged results file it names, beside it; a compare page: its new
    side's results, which it names)."""
    path = Path(path)
    if path.suffix.lower() in (".html", ".htm"):
        from benchharness.report.embed import extract_embedded, has_block

        if has_block(path, COMPARE_DATA_ID):
            (sides,) = extract_embedded(path, COMPARE_DATA_ID)
            new = path.parent / str(sides.get("new"))
            if not new.is_file() or has_block(new, COMPARE_DATA_ID):
                raise StoreError(
                    f"{path} is a compare page whose new side's results were {new}, which is "
                    f"{'another compare page' if new.is_file() else 'missing'}; pass that side's results or report instead"
                )
            return load_runs(new)
        if has_block(path, LAB_DATA_ID):
            (manifest,) = extract_embedded(path, LAB_DATA_ID)
            merged = path.parent / str(manifest.get("results"))
            if not merged.is_file():
                raise StoreError(
                    f"{path} is a lab report whose results lie in {merged}, which is missing; "
                    f"copy the page with its {merged.parent.name}/ folder"
                )
            return _lab_runs(merged)
        if not has_block(path, REPORT_DATA_ID) and path.is_file():
            raise StoreError(f"{path} is not a benchharness report (it embeds no results); {INPUTS}")
        documents = extract_embedded(path, REPORT_DATA_ID)
        return [
            RunResult.from_dict(migrate(d, DOCUMENT, f"{path} (run {i})", SCHEMA_VERSION, MIGRATIONS), str(path))
            for i, d in enumerate(documents)
        ]
    if (why := not_results(path)) is not None:
        raise StoreError(why)
    data = read_json(path, DOCUMENT)
    if _is_lab(data):
        return _lab_runs(path, data)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise StoreError(f"{path} is not a benchharness results file (JSON without a schema_version); {INPUTS}")
    return [RunResult.from_dict(migrate(data, DOCUMENT, str(path), SCHEMA_VERSION, MIGRATIONS), str(path))]


def _lab_runs(path: Path, document: Any = None) -> list[RunResult]:
    """The runs of a lab's merged results file (`benchharness merge` writes it beside the lab report)."""
    data = migrate(
        read_json(path, LAB_DOCUMENT) if document is None else document,
        LAB_DOCUMENT,
        str(path),
        LAB_SCHEMA_VERSION,
        {1: _lab_v1_to_v2},
    )
    runs = data.get("runs")
    if not isinstance(runs, list):
        raise StoreError(f"{LAB_DOCUMENT} file {path} holds no list of runs; it was edited or truncated")
    return [
        RunResult.from_dict(migrate(d, DOCUMENT, f"{path} (run {i})", SCHEMA_VERSION, MIGRATIONS), str(path))
        for i, d in enumerate(runs)
    ]


RUN_COLUMNS = ("machine_id", "started", "git_commit")  # which run a row came from, after pd.concat of several
CASE_COLUMNS = ("id", "suite", "model", "variant", "backend", "device", "outcome")
VERDICT_COLUMNS = ("check", "name", "status", "estimate", "low", "high", "threshold", "confirmation", "reason")


def _case_columns(run: RunResult, case: CaseResult) -> dict[str, Any]:
    c = case.case
    return {
        "machine_id": run.machine_id,
        "started": run.started,
        "git_commit": run.git_commit,
        "id": c.id,
        "suite": c.suite,
        "model": c.model,
        "variant": c.variant,
        "backend": c.backend,
        "device": c.device,
        "outcome": case.outcome,
    }


def load_dataframe(path: str | Path) -> pd.DataFrame:
    """One row per (run, case, metric): the run's machine_id, started and git_commit (so frames of several runs
    concatenate and still tell rows apart), the case's columns, then value, stdev, n, unit, source and
    unavailable_reason.

    Reads whatever `load_runs` reads (a results file, an HTML report, a lab's merged results.json: one run per
    machine). NaN/NA mark what was not measured: value, stdev and n of an unavailable figure, and the stdev of
    a figure measured without a spread (a percentile, an accuracy, a file size), never a 0.0 that reads as
    "no spread at all". A case with no readings (failed, skipped) keeps one row with metric None.
    """
    import pandas as pd

    rows: list[dict[str, Any]] = []
    for run in load_runs(path):
        for case in run.cases:
            base = _case_columns(run, case)
            readings = {} if case.measurement is None else case.measurement.readings
            if not readings:
                rows.append({**base, "metric": None})
            for name, r in readings.items():
                rows.append(
                    {
                        **base,
                        "metric": name,
                        "value": math.nan if r.value is None else r.value,
                        "stdev": r.spread,
                        "n": pd.NA if r.value is None else r.n,
                        "unit": r.unit,
                        "source": r.source,
                        "unavailable_reason": r.unavailable_reason,
                    }
                )
    columns = [*RUN_COLUMNS, *CASE_COLUMNS, "metric", "value", "stdev", "n", "unit", "source", "unavailable_reason"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"value": "float64", "stdev": "float64", "n": "Int64"})


def load_verdicts(path: str | Path) -> pd.DataFrame:
    """One row per (run, case, verdict): the gates (speedup, accuracy kept, memory cut), the baseline, ratio and
    limit checks, with the same run and case columns as `load_dataframe`, so the two merge on them.

    A separate frame, not rows in the readings' one: a verdict has an estimate and an interval where a reading
    has a value and a stdev, and one frame of both would be half NaN in every row. `check` says which check
    judged (gate, baseline, ratio, limit); estimate/low/high/threshold are NaN where the check had no figure.
    """
    import pandas as pd

    rows = [
        {
            **_case_columns(run, case),
            **{k: getattr(v, k) for k in VERDICT_COLUMNS},
        }
        for run in load_runs(path)
        for case in run.cases
        for v in case.verdicts
    ]
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *CASE_COLUMNS, *VERDICT_COLUMNS])
    return frame.astype({k: "float64" for k in ("estimate", "low", "high", "threshold")})
