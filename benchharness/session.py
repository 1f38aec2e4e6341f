"""A benchmark session: the cases, their measurements, verdicts, and what is written at the end.

This is the orchestration layer the pytest plugin drives (prepare -> measure in a child -> judge ->
record). It knows nothing about pytest, so it can be reused by a command-line runner.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness import backends, baselines
from benchharness.backends.base import Backend
from benchharness.config import AccuracySettings, Settings, SuiteConfig, Workload
from benchharness.errors import BenchHarnessError, CaseFailed, ConfigError, MachineMismatch
from benchharness.gates import (
    GATE_METRICS,
    GATES,
    GateRule,
    Verdict,
    judge_gates,
    override_minimums,
    stale_known_breaches,
)
from benchharness.isolation import run_job
from benchharness.machine import default_threads, fingerprint, git_commit, package_versions
from benchharness.matrix import Case, Filters, check_known, expand
from benchharness.models.prepare import Preparer, Variant
from benchharness.models.registry import ModelDef, build_registry
from benchharness.readings import Measurement
from benchharness.results import CaseRecord, pytest_benchmark_document, write_results
from benchharness.storage import write_json_atomic

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Options:
    """What the command line asked for, beyond the settings files."""

    devices: tuple[str, ...]
    filters: Filters
    gate_overrides: dict[str, float]
    save_baseline: bool = False
    compare_baseline: bool = True
    baseline_any_machine: bool = False


def parse_gate_overrides(values: list[str]) -> dict[str, float]:
    """`--gate speedup=2.5` (repeatable, or comma-separated) into {name: minimum}."""
    overrides: dict[str, float] = {}
    for item in (part for value in values for part in value.split(",") if part.strip()):
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or name not in GATES:
            raise ConfigError(f"--gate {item!r}: expected NAME=MIN with NAME one of {', '.join(GATES)}")
        try:
            minimum = float(raw)
        except ValueError:
            raise ConfigError(f"--gate {item!r}: {raw!r} is not a number") from None
        upper = 1000.0 if name == "speedup" else 1.0
        if not 0.0 <= minimum <= upper:
            raise ConfigError(f"--gate {item!r}: minimum must be in 0..{upper:g}")
        overrides[name] = minimum
    return overrides


class BenchSession:
    def __init__(self, settings: Settings, options: Options, progress: Progress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.models: dict[str, ModelDef] = build_registry(settings.models)
        self.backends: dict[str, Backend] = {name: cls() for name, cls in backends.registry().items()}
        self.threads = settings.threads or default_threads()
        self.machine = fingerprint()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.preparer = Preparer(settings.cache_dir, self.threads, settings.case_timeout_s, progress)
        self.records: dict[str, CaseRecord] = {}
        self._measured: dict[str, Measurement | BenchHarnessError] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="benchharness-session-"))
        self._baseline: dict[str, Any] | BenchHarnessError | None = None
        self._baseline_loaded = False
        self._validate_filters()

    def _validate_filters(self) -> None:
        f = self.options.filters
        check_known("--model", f.models, list(self.models))
        check_known("--backend", f.backends, list(self.backends))
        all_quants = sorted({label for m in self.models.values() for _, label in m.variants})
        check_known("--quant", f.quants, all_quants)

    # -- matrix ---------------------------------------------------------------------------------
    def suite(self, name: str) -> SuiteConfig:
        if name in self.settings.suites:
            return self.settings.suites[name]
        raise ConfigError(
            f"suite {name!r} is not declared; add [tool.benchharness.suites.{name}] to pyproject.toml "
            f"(declared: {', '.join(self.settings.suites) or 'none'})"
        )

    def cases(self, suite_name: str) -> list[Case]:
        suite = self.suite(suite_name)
        for quant in suite.quants or ():
            if not any(quant == label for m in self.models.values() for _, label in m.variants):
                raise ConfigError(f"suite {suite_name}: quant {quant!r} is not a variant of any model")
        cases = expand(suite, self.models, self.backends, self.options.devices, self.options.filters)
        for case in cases:
            self.records.setdefault(case.id, CaseRecord(case))
        return cases

    def gate_rules(self, case: Case) -> tuple[GateRule, ...]:
        return override_minimums(self.suite(case.suite).gates, self.options.gate_overrides)

    # -- measuring ------------------------------------------------------------------------------
    def _variant(self, case: Case, label: str) -> Variant:
        return self.preparer.prepare(self.models[case.model], case.format, label)

    def workload(self, case: Case) -> tuple[Workload, AccuracySettings]:
        """The suite's own workload and accuracy settings, or the global ones."""
        suite = self.suite(case.suite)
        return suite.workload or self.settings.workload, suite.accuracy or self.settings.accuracy

    def _workload_key(self, case: Case | None = None) -> dict[str, Any]:
        workload, accuracy = self.workload(case) if case else (self.settings.workload, self.settings.accuracy)
        return {**asdict(workload), **{f"accuracy_{k}": v for k, v in asdict(accuracy).items()}}

    def measure(self, case: Case) -> Measurement:
        """The case's measurement, from a child process; memoised, failures included."""
        if case.id not in self._measured:
            try:
                self._measured[case.id] = self._measure(case)
            except BenchHarnessError as e:
                self._measured[case.id] = e
        result = self._measured[case.id]
        if isinstance(result, BenchHarnessError):
            raise result
        return result

    def _reference_outputs(self, case: Case) -> Path:
        """Where the reference case leaves its outputs (log-probs, embeddings, predictions) for its variants."""
        return self._scratch / f"{case.reference_id}.outputs.npy"

    def _measure(self, case: Case) -> Measurement:
        if not case.is_reference:
            self.reference_measurement(case)
        variant = self._variant(case, case.quant)
        outputs = self._reference_outputs(case)
        workload, accuracy = self.workload(case)
        request = {
            "case_id": case.id,
            "backend": backends.import_path(type(self.backends[case.backend])),
            "device": case.device,
            "kind": self.models[case.model].kind,
            "variant_path": str(variant.path),
            "model_file_bytes": variant.file_bytes,
            "threads": self.threads,
            "workload": asdict(workload),
            "accuracy": asdict(accuracy),
            "reference_outputs": {"path": str(outputs), "role": "write" if case.is_reference else "read"},
        }
        data = run_job("measure", request, timeout_s=self.settings.case_timeout_s, label=case.id)
        measurement = Measurement.from_dict(data)
        measurement.info["variant_key"] = variant.key
        measurement.info["variant_file"] = str(variant.path)
        return measurement

    def reference_measurement(self, case: Case) -> Measurement:
        """The reference variant of `case`, measured first even if the filters deselected it."""
        reference = replace(case, quant=case.reference, skip_reason=None)
        try:
            measurement = self.measure(reference)
        except BenchHarnessError as e:
            raise CaseFailed(f"reference {reference.id} could not be measured, so no gate can be judged: {e}") from None
        if reference.id not in self.records:
            self.records[reference.id] = CaseRecord(reference, "measured as reference", measurement)
        return measurement

    # -- judging --------------------------------------------------------------------------------
    def _stored_baseline(self) -> dict[str, Any] | None:
        if not self._baseline_loaded:
            self._baseline_loaded = True
            try:
                self._baseline = baselines.load_for_machine(
                    self.settings.baselines_dir, self.machine, self.options.baseline_any_machine
                )
            except BenchHarnessError as e:
                self._baseline = e
        if isinstance(self._baseline, BenchHarnessError):
            raise self._baseline
        return self._baseline

    def baseline_verdicts(self, case: Case, measurement: Measurement) -> list[Verdict]:
        if self.options.save_baseline:
            return [
                Verdict(
                    "baseline", "baseline", "unavailable", "recording a new baseline (--save-baseline); not compared"
                )
            ]
        if not self.options.compare_baseline:
            return []
        try:
            stored = self._stored_baseline()
        except MachineMismatch as e:
            return [Verdict("baseline", "baseline", "unavailable", str(e))]
        entry = None if stored is None else stored["cases"].get(case.id)
        if entry is None:
            where = baselines.baseline_path(self.settings.baselines_dir, self.machine["id"])
            return [
                Verdict(
                    "baseline",
                    baselines.NO_BASELINE,
                    "unavailable",
                    f"no baseline for {case.id} in {where}; record one with --save-baseline",
                )
            ]
        return baselines.compare(measurement, entry, self._workload_key(case), self.settings.baseline)

    def run(self, case: Case) -> CaseRecord:
        """Measure and judge one case; the record says what happened (the caller decides the outcome)."""
        record = self.records.setdefault(case.id, CaseRecord(case))
        measurement = self.measure(case)
        record.measurement = measurement
        record.verdicts = []
        if not case.is_reference:
            reference = self.reference_measurement(case)
            metrics = GATE_METRICS[self.models[case.model].kind]
            for name, metric in metrics.items():
                v, r = measurement.value(metric), reference.value(metric)
                if v is not None and r:
                    record.ratios[name] = GATES[name].ratio(v, r)
            rules = self.gate_rules(case)
            record.verdicts += judge_gates(
                measurement, reference, quant=case.quant, reference_label=case.reference, rules=rules, metrics=metrics
            )
            stale = stale_known_breaches(case.quant, rules, record.verdicts)
            if stale:
                record.verdicts += [Verdict("gate", "policy", "breach", text) for text in stale]
        record.verdicts += self.baseline_verdicts(case, measurement)
        return record

    # -- end of session -------------------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": self.machine,
            "packages": package_versions(),
            "git_commit": git_commit(self.settings.root),
            "threads": self.threads,
            "settings": self._workload_key(),
        }

    def finish(self) -> list[str]:
        """Write results (always) and baselines (only if asked and nothing failed); lines to print."""
        lines: list[str] = []
        records = list(self.records.values())
        if not records:
            return lines
        run = self.run_info()
        try:
            path = write_results(self.settings.results_dir, run, records)
            bench_path = path.with_name(path.stem + ".pytest-benchmark.json")
            write_json_atomic(bench_path, pytest_benchmark_document(run, records))
            lines.append(f"results: {path} (pytest-benchmark format: {bench_path.name})")
        except BenchHarnessError as e:
            lines.append(f"results NOT written: {e}")
        if self.options.save_baseline:
            lines.append(self._save_baselines(records, run))
        return lines

    def _save_baselines(self, records: list[CaseRecord], run: dict[str, Any]) -> str:
        failed = [r.case.id for r in records if r.outcome in ("failed", "error")]
        if failed:
            return f"baselines NOT saved: {len(failed)} case(s) failed ({', '.join(failed[:3])}); a failing run never touches baselines"
        recorded = {
            "date": run["finished"],
            "git_commit": run["git_commit"],
            "packages": run["packages"],
            "threads": run["threads"],
        }
        entries = {
            r.case.id: baselines.entry(r.measurement, self._workload_key(r.case), recorded)
            for r in records
            if r.measurement is not None and r.outcome in ("passed", "xfailed", "measured as reference")
        }
        if not entries:
            return "baselines NOT saved: no case was measured"
        try:
            path = baselines.save(self.settings.baselines_dir, self.machine, entries)
        except BenchHarnessError as e:
            return f"baselines NOT saved: {e}"
        return f"baselines: saved {len(entries)} case(s) to {path}"

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
