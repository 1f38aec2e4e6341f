"""A benchmark session: orchestration only. prepare -> schedule trials -> run children -> judge -> record.

It holds no maths (judge.py, stats.py) and parses no command line (config.py); it decides what
runs next and keeps what came back, keyed by what defines each measurement.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchharness import backends, baselines, judge, kinds, leftovers, preflight
from benchharness.advice import advise
from benchharness.backends.base import Backend
from benchharness.config import AccuracySettings, BaselineSettings, Options, Settings, SuiteConfig, Workload
from benchharness.cost import CostLedger
from benchharness.devices import DEVICES
from benchharness.errors import BenchHarnessError, CaseFailed, ChildCrashed, ConfigError, MachineMismatch, StoreError
from benchharness.faults import FaultedPath, faulted_path
from benchharness.gates import GateRule, override_minimums
from benchharness.history import store as history_store
from benchharness.isolation import run_job
from benchharness.judge import GateEvidence, Verdict
from benchharness.machine import default_threads, fingerprint, git_commit, package_versions, usable_cpus
from benchharness.matrix import Case, check_known, check_loadable, expand, family_for
from benchharness.meters.bandwidth import Bandwidth, machine_bandwidth
from benchharness.meters.noise import Noise, read_noise
from benchharness.models.prepare import Preparer, Variant
from benchharness.models.registry import ModelDef, build_registry
from benchharness.profiles import defining_workload
from benchharness.protocol import MeasureRequest, ModelSpec, PairedRequest, PairedTiming, decode
from benchharness.readings import Measurement, depth_suffix, metric_spec
from benchharness.report import html
from benchharness.report.targets import target_lines
from benchharness.results import (
    CaseRecord,
    RunResult,
    pytest_benchmark_document,
    results_document,
    results_path,
    write_results,
)
from benchharness.roofline import ceiling_note, decode_readings, with_ceiling
from benchharness.run_flags import kernel_fallback, low_bandwidth_utilisation
from benchharness.storage import write_json_atomic
from benchharness.trials import Budget, extra_blocks_allowed, first_side

Progress = Callable[[str], None]
HISTORY_RUNS = 20  # the latest runs of this machine a figure's between-run spread is learnt from
CONFIRMABLE = (
    "speedup",
    "memory_reduction",
    "energy_reduction",
)  # accuracy is deterministic: a re-run gives the same figure


NOISE_WINDOW_S = 0.5  # idle time read before the first case (meters.noise); 0.5 s resolves steal to ~1%


def _with_steal_note(verdicts: list[Verdict], note: str) -> list[Verdict]:
    """Every speed verdict of a run under heavy hypervisor steal says so (memory, accuracy and size do not move)."""
    if not note:
        return verdicts
    return [replace(v, message=f"{v.message}; {note}") if _moves_with_speed(v) else v for v in verdicts]


def _moves_with_speed(v: Verdict) -> bool:
    if v.kind in ("gate", "ratio"):
        return v.name == "speedup"
    spec = metric_spec(v.name)
    return spec is not None and spec.unit != "B" and not spec.deterministic


class BenchSession:
    def __init__(self, settings: Settings, options: Options, progress: Progress) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.models: dict[str, ModelDef] = build_registry(settings.models)
        self.backends: dict[str, Backend] = {name: cls() for name, cls in backends.registry().items()}
        preflight.check_threads(settings.threads, usable_cpus())
        self.threads = settings.threads or default_threads()
        self.machine = fingerprint()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.preparer = Preparer(settings.cache_dir, self.threads, settings.case_timeout_s, progress)
        self.budget = Budget(options.time_budget_s)
        self.records: dict[str, CaseRecord] = {}
        self._solo: dict[str, Measurement | BenchHarnessError] = {}
        self._tokens: dict[str, str | None] = {}
        self.cost = CostLedger()
        self.noise: Noise | None = None
        self.bandwidth: Bandwidth | None = None  # read bandwidth at self.threads, before the first decode row
        # Named by pid, so the next run can sweep it if this one is killed (benchharness.leftovers).
        self._scratch = (
            settings.cache_dir / "sessions" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{id(self):x}-{os.getpid()}"
        )
        self.swept = leftovers.sweep(settings.cache_dir)
        self._baseline: dict[str, Any] | BenchHarnessError | None = None
        self._baseline_loaded = False
        self._history_store: history_store.HistoryStore | bool | None = None  # False: none to read
        self.unwritten: list[str] = []  # files the user asked for that could not be written: the run fails
        # (backend, device) whose default path died of SIGILL here: later children load in safe mode
        self.faulted: dict[tuple[str, str], FaultedPath] = {}
        self._context = preflight.ContextCheck()
        self._declared = preflight.declared_files(settings.models)
        self._validate_filters()
        for suite in settings.suites.values():
            self._validate_suite(suite)
            self._validate_variants(suite)

    def _validate_suite(self, suite: SuiteConfig) -> None:
        """Every name a suite uses must exist, checked at start-up: a typo in a gate's variant list would
        otherwise gate nothing, and every later green run would be a lie."""
        where = f"[tool.benchharness.suites.{suite.name}]"
        check_known(f"{where} models", suite.models, list(self.models))
        check_known(f"{where} backends", suite.backends, list(self.backends))
        check_loadable(where, suite, self.models, self.backends)
        models = [self.models[m] for m in suite.models or self.models]
        labels = sorted({label for m in models for _, label in m.variants})
        check_known(f"{where} quants", suite.quants, labels)
        for rule in suite.gates:
            check_known(f"{where} gates.{rule.name}.quants", rule.quants, labels)
            check_known(
                f"{where} gates.{rule.name}.known_breaches", [k.partition("@")[0] for k in rule.known_breaches], labels
            )
            check_known(
                f"{where} gates.{rule.name}.known_breaches (after @)",
                [k.partition("@")[2] for k in rule.known_breaches if "@" in k],
                list(DEVICES),
            )

    def _validate_variants(self, suite: SuiteConfig) -> None:
        """Each variant the suite runs (and its reference): declared files exist, and the workload fits the
        context where the source tells it.

        Every variant the suite names, whether or not its runtime is installed here: a workload
        longer than the model is wrong for the model on any machine.
        """
        workload = suite.workload or self.settings.workload
        accuracy = suite.accuracy or self.settings.accuracy
        where = f"[tool.benchharness.suites.{suite.name}]"
        f = self.options.filters
        for model in (self.models[m] for m in suite.models or self.models):
            if f.models is not None and model.name not in f.models:
                continue
            for name in suite.backends or self.backends:
                fmt = family_for(model, self.backends[name])
                if fmt is None or (f.backends is not None and name not in f.backends):
                    continue
                wanted = [q for q in model.labels(fmt) if suite.quants is None or q in suite.quants]
                labels = [q for q in wanted if f.quants is None or q in f.quants]
                for label in dict.fromkeys([model.references[fmt], *labels]):
                    preflight.check_declared_files(model, fmt, label, self._declared)
                    self._context.before_prepare(where, model, kinds.kind(model.kind), fmt, label, workload, accuracy)

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
        cases = expand(suite, self.models, self.backends, self.options.devices, self.options.filters)
        for case in cases:
            self.records.setdefault(case.key, CaseRecord(case))
        self.budget.cases_planned += sum(1 for c in cases if c.skip_reason is None)
        return cases

    def gate_rules(self, case: Case) -> tuple[GateRule, ...]:
        return override_minimums(self.suite(case.suite).gates, self.options.gate_overrides)

    def known_breaches(self, case: Case) -> list[str]:
        """Gates the suite declares as known breaches for this case (pytest marks it xfail)."""
        if case.is_reference:
            return []
        return [
            r.name
            for r in self.gate_rules(case)
            if r.applies_to(case.quant) and r.known_breach(case.quant, case.device)
        ]

    def workload(self, case: Case) -> tuple[Workload, AccuracySettings]:
        """The suite's own workload and accuracy settings, or the global ones."""
        suite = self.suite(case.suite)
        return suite.workload or self.settings.workload, suite.accuracy or self.settings.accuracy

    def workload_key(self, case: Case | None = None) -> dict[str, Any]:
        workload, accuracy = self.workload(case) if case else (self.settings.workload, self.settings.accuracy)
        # Only the listed profiles' settings define the figures (profiles.defining_workload): a suite that lists
        # none keeps the key, and the stored baselines, it had before profiles existed.
        key = {**defining_workload(asdict(workload)), **{f"accuracy_{k}": v for k, v in asdict(accuracy).items()}}
        if case is not None and (data := self.models[case.model].data.digest) != "builtin":
            key["eval_data"] = (
                data  # the team's own data define the figures: a baseline on other data is not comparable
            )
        # In JSON's own form (a tuple such as depths becomes a list), so a key read back from a stored
        # baseline compares equal to the same settings now.
        normal: dict[str, Any] = json.loads(json.dumps(key))
        return normal

    # -- trials ---------------------------------------------------------------------------------
    def _variant(self, case: Case, label: str) -> Variant:
        variant = self.preparer.prepare(self.models[case.model], case.format, label)
        workload, accuracy = self.workload(case)
        self._context.after_prepare(  # where the source did not tell: before any child measures it
            f"[tool.benchharness.suites.{case.suite}]",
            self.models[case.model],
            kinds.kind(case.kind),
            case.format,
            label,
            variant.path,
            workload,
            accuracy,
        )
        return variant

    def _spec(self, case: Case, variant: Variant) -> ModelSpec:
        return ModelSpec(
            backend=backends.import_path(type(self.backends[case.backend])),
            runtime_module=self.backends[case.backend].runtime_module,
            device=case.device,
            kind=case.kind,
            path=str(variant.path),
            file_bytes=variant.file_bytes,
            safe_mode=(case.backend, case.device) in self.faulted,
            context_tokens=self._context.tokens(variant.model, variant.format, variant.label),
        )

    def _falling_back(self, case: Case, attempt: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Run a child; if it dies of SIGILL on a backend that has a safe mode, run it again in safe mode.

        A runtime's fastest path may use an instruction the CPU (or VM) advertises but traps: llama.cpp's
        AMX repacking on a Xeon VM that lists AMX in its flags. The fault is found once per backend and
        device; every later child of that backend loads in safe mode, and each row so measured says so.
        A crash that safe mode does not cure fails the case with the fix: a portable reinstall.
        """
        try:
            return attempt()
        except ChildCrashed as e:
            backend = self.backends[case.backend]
            key = (case.backend, case.device)
            if e.crash.signal != "SIGILL":
                raise
            if backend.safe_mode is None or key in self.faulted:
                fix = f"{e.crash.fix}: {backend.portable_install}" if backend.portable_install else None
                raise ChildCrashed(e.crash.message(e.label, fix), e.crash, e.log_tail, e.label) from None
            self.faulted[key] = faulted_path(case.backend, case.device, case.id, backend.safe_mode, e.crash)
            self.progress(f"{case.id}: {backend.name} died of SIGILL; measuring again with {backend.safe_mode}")
            return self._falling_back(case, attempt)

    def corpus_tokens(self, case: Case) -> str | None:
        """The model's shared corpus tokens, or None (the backend tokenizes) where they cannot be made here."""
        if case.model not in self._tokens:
            try:
                tokens = self.preparer.corpus_tokens(self.models[case.model])
                self._tokens[case.model] = str(tokens.path) if tokens else None
            except BenchHarnessError as e:
                self.progress(f"{case.model}: each backend tokenizes the corpus itself ({e})")
                self._tokens[case.model] = None
        return self._tokens[case.model]

    def measurement_key(self, case: Case, variant: Variant) -> str:
        """Everything that defines a measurement: suite, case, workload, threads, the variant's content, the tokens."""
        parts = [case.suite, case.id, self.workload_key(case), self.threads, variant.key, self.corpus_tokens(case)]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]

    def _reference_outputs(self, case: Case) -> Path:
        """Where the reference leaves its outputs (log-probs, embeddings, predictions) for its variants."""
        reference = replace(case, quant=case.reference)
        variant = self._variant(reference, case.reference)
        return self._scratch / f"{self.measurement_key(reference, variant)}.outputs.npy"

    def _run_child(self, request: MeasureRequest | PairedRequest, label: str) -> dict[str, Any]:
        if self.settings.trials.cooldown_s:
            time.sleep(self.settings.trials.cooldown_s)
        self._scratch.mkdir(parents=True, exist_ok=True)
        self.progress(f"measuring {label}")
        started = time.perf_counter()
        data = run_job(
            request, timeout_s=self.settings.case_timeout_s, label=label, work_dir=self.settings.cache_dir / "jobs"
        )
        info = data.get("info", {}) if isinstance(request, MeasureRequest) else data
        self.cost.add_child(
            time.perf_counter() - started, float(info.get("timed_s", 0.0)), float(info.get("accuracy_s", 0.0))
        )
        return data

    def solo(self, case: Case, *, accuracy: bool = True) -> Measurement:
        """The case alone in a fresh child; the full one (with accuracy) is memoised, failures included."""
        variant = self._variant(case, case.quant)
        key = self.measurement_key(case, variant)
        if accuracy and key in self._solo:
            cached = self._solo[key]
            if isinstance(cached, BenchHarnessError):
                raise cached
            return cached
        workload, accuracy_settings = self.workload(case)

        def attempt() -> dict[str, Any]:
            request = MeasureRequest(
                case_id=case.id,
                measurement_key=key,
                model=self._spec(case, variant),
                threads=self.threads,
                workload=workload,
                accuracy=accuracy_settings,
                score_accuracy=accuracy,
                reference_outputs=str(self._reference_outputs(case)) if accuracy else None,
                reference_role=("write" if case.is_reference else "read") if accuracy else "none",
                corpus_tokens=self.corpus_tokens(case),
                data=self.models[case.model].data,
                estimate_cpu_tdp_w=self.settings.estimate_cpu_tdp_w,
            )
            return self._run_child(request, case.id)

        try:
            measurement = Measurement.from_dict(self._falling_back(case, attempt))
        except BenchHarnessError as e:
            if accuracy:
                self._solo[key] = e
            raise
        fault = self.faulted.get((case.backend, case.device))
        if fault is not None:
            features = measurement.info.get("runtime_settings", {}).get("cpu_features")
            if features and not fault.build_features:
                fault = self.faulted[(case.backend, case.device)] = fault.with_build(str(features))
            measurement = replace(measurement, warnings=(fault.warning(), *measurement.warnings))
        measurement.info["variant_key"] = variant.key
        measurement.info["variant_file"] = str(variant.path)
        if variant.provenance is not None:  # who made it: "INT4 by Olive" vs "INT4 by the GenAI builder"
            measurement.info["provenance"] = variant.provenance
        if variant.weights is not None:  # what the recipe made, by type (formats/composition.py)
            measurement.info["weights"] = variant.weights.to_dict()
            if (label := variant.weights.warning()) is not None:
                measurement = replace(measurement, warnings=(*measurement.warnings, label))
        if case.kind == "causal-lm":
            measurement = self._with_roofline(case, variant, measurement)
        parent_flags = [
            low_bandwidth_utilisation(measurement),
            kernel_fallback(measurement, case.backend, self.machine.get("isa") or []),
        ]
        measurement.info["flags"] = [*(measurement.info.get("flags") or []), *(asdict(f) for f in parent_flags if f)]
        if accuracy:
            self._solo[key] = measurement
        return measurement

    def _with_roofline(self, case: Case, variant: Variant, measurement: Measurement) -> Measurement:
        """The decode row's bytes per token, effective read rate and MBU at each depth (roofline.py)."""
        if self.bandwidth is None:  # once per session; cached per machine fingerprint and thread count
            self.progress(f"measuring this machine's read bandwidth at {self.threads} threads")
            self.bandwidth = machine_bandwidth(self.settings.cache_dir, fingerprint(), self.threads)
        workload, _ = self.workload(case)
        depths = [(depth_suffix(d, headline=i == 0), d) for i, d in enumerate(workload.depths)]
        missing = (
            f"the {variant.format} format's files are not read for bytes per token (gguf, onnx, ortgenai, openvino are)"
        )
        added = decode_readings(
            measurement,
            variant.traffic,
            missing,
            self.bandwidth,
            depths,
            workload.prompt_tokens,
            workload.gen_tokens,
        )
        if variant.traffic is not None:
            measurement.info["traffic"] = variant.traffic.to_dict()
        return replace(measurement, readings={**measurement.readings, **{r.name: r for r in added}})

    def reference_measurement(self, case: Case) -> Measurement:
        """The reference variant of `case`, measured first even if the filters deselected it."""
        reference = replace(case, quant=case.reference, skip_reason=None)
        try:
            measurement = self.solo(reference)
        except BenchHarnessError as e:
            raise CaseFailed(
                f"reference {reference.id} could not be measured, so no gate can be judged: {e}",
                getattr(e, "log_tail", ()),
            ) from None
        record = self.records.setdefault(reference.key, CaseRecord(reference))
        if record.measurement is None:  # deselected (-k, --quant): measured only as the gates' yardstick
            record.measurement = measurement
            record.outcome = "measured as reference"
            record.message = f"measured as the reference of {case.quant}"
        elif record.outcome == "measured as reference":
            named = (record.message or "").removeprefix("measured as the reference of ").split(", ")
            if case.quant not in named:
                record.message = f"{record.message}, {case.quant}"
        if not record.measurements:
            record.measurements.append(measurement)
        return measurement

    def paired(self, case: Case, block: int, pairs: int) -> PairedTiming:
        """One child alternating `pairs` rounds of the variant and its reference."""
        workload, accuracy = self.workload(case)
        reference = replace(case, quant=case.reference)

        def attempt() -> dict[str, Any]:
            request = PairedRequest(
                case_id=case.id,
                variant=self._spec(case, self._variant(case, case.quant)),
                reference=self._spec(reference, self._variant(reference, case.reference)),
                threads=self.threads,
                workload=workload,
                accuracy=accuracy,
                pairs=pairs,
                first=first_side(block),
                corpus_tokens=self.corpus_tokens(case),
                data=self.models[case.model].data,
            )
            return self._run_child(request, f"{case.id} (pairs, block {block + 1})")

        return decode(PairedTiming, self._falling_back(case, attempt))

    # -- one case -------------------------------------------------------------------------------
    def run(self, case: Case) -> CaseRecord:
        """Measure, judge and confirm one case; the record says what happened (the caller decides the outcome)."""
        started = time.monotonic()
        if self.noise is None:  # before the first case, while nothing of ours runs: what the machine adds
            self.noise = read_noise(NOISE_WINDOW_S)
        record = self.records.setdefault(case.key, CaseRecord(case))
        record.verdicts = []
        if case.is_reference:
            measurement = self.solo(case)
            record.measurements = [measurement]
        else:
            reference = self.reference_measurement(case)
            measurement = self.solo(case)
            record.measurements = [measurement]
            record.reference_measurements = [reference]
            self._judge_gates(case, record)
        record.measurement = measurement
        for flag in measurement.info.get("flags") or []:  # what the flag usually means on this backend, and what helps
            if isinstance(flag, dict) and (advice := advise(str(flag.get("name")), case.backend)):
                flag |= {"causes": advice.causes, "actions": advice.actions}
        self.budget.base_seconds.append(time.monotonic() - started)
        record.verdicts += judge.judge_limits(self.suite(case.suite).limits, measurement)
        record.verdicts += self._baseline_verdicts(case, record)
        record.verdicts = _with_steal_note(record.verdicts, self.noise.heavy_steal() if self.noise else "")
        self.budget.cases_done += 1
        return record

    def _evidence(self, case: Case, record: CaseRecord, pairs: list[PairedTiming]) -> GateEvidence:
        return GateEvidence(
            quant=case.quant,
            reference_label=case.reference,
            kind=kinds.kind(case.kind),
            variant=tuple(record.measurements),
            reference=tuple(record.reference_measurements),
            pairs=tuple(pairs),
            device=case.device,
        )

    def _judge_gates(self, case: Case, record: CaseRecord) -> None:
        rules = self.gate_rules(case)
        trials = self.settings.trials
        confidence = trials.confidence
        speed_rule = next((r for r in rules if r.name == "speedup" and r.applies_to(case.quant)), None)
        if speed_rule is not None:
            block_started = time.monotonic()
            record.pairs.append(self.paired(case, 0, trials.pairs))
            block_seconds = time.monotonic() - block_started
            while True:
                verdict = judge.judge_gates([speed_rule], self._evidence(case, record, record.pairs), confidence)[0]
                pairs_so_far = sum(len(p.variant) for p in record.pairs)
                if verdict.status != "inconclusive":
                    break
                if not extra_blocks_allowed(trials, pairs_so_far, block_seconds, self.budget.allowance()):
                    break
                self.progress(
                    f"{case.id}: speedup inconclusive after {pairs_so_far} pairs; measuring {trials.pairs} more"
                )
                record.pairs.append(self.paired(case, len(record.pairs), trials.pairs))
        verdicts = judge.judge_gates(rules, self._evidence(case, record, record.pairs), confidence)
        verdicts = [self._confirm_gate(case, record, rules, self._with_ceiling(record, v)) for v in verdicts]
        # Measured figures move with the machine between runs; accuracy is deterministic (a re-run scores the same).
        earlier = self._earlier_gate_ratios(case, [v.name for v in verdicts if v.name in CONFIRMABLE])
        record.verdicts += [judge.across_runs(v, earlier.get(v.name, ())) for v in verdicts]
        for v in record.verdicts:
            if v.kind == "gate" and v.estimate is not None:
                record.ratios[v.name] = v.estimate

    @staticmethod
    def _with_ceiling(record: CaseRecord, verdict: Verdict) -> Verdict:
        """A decode speedup gate says its physical ceiling (bytes per token, reference over variant) and the share reached."""
        if (
            verdict.name != "speedup"
            or not record.measurements
            or "bytes_per_token" not in record.measurements[0].readings
        ):
            return verdict
        reference = record.reference_measurements[0] if record.reference_measurements else None
        note = ceiling_note(verdict.estimate, record.measurements[0], reference)
        return replace(verdict, message=with_ceiling(verdict.message, note))

    def _confirm_gate(self, case: Case, record: CaseRecord, rules: tuple[GateRule, ...], verdict: Verdict) -> Verdict:
        """Re-measure a gate failure in fresh children before it fails the case."""
        if verdict.status != "fail" or verdict.known_breach:
            return verdict
        if verdict.name not in CONFIRMABLE or self.settings.trials.confirm == 0:
            why = "deterministic: a re-run scores the same" if verdict.name not in CONFIRMABLE else "confirm = 0"
            return verdict.with_confirmation(why)
        rule = next(r for r in rules if r.name == verdict.name)
        confirmations: list[Verdict] = []
        for _ in range(self.settings.trials.confirm):
            self.progress(f"{case.id}: {verdict.name} failed; confirming in a fresh child")
            if verdict.name == "speedup":
                block = self.paired(case, len(record.pairs), self.settings.trials.pairs)
                record.confirm_pairs.append(block)
                evidence = self._evidence(case, record, [block])
            else:
                record.measurements.append(self.solo(case, accuracy=False))
                record.reference_measurements.append(self.solo(replace(case, quant=case.reference), accuracy=False))
                evidence = self._evidence(case, record, record.pairs)
            confirmations.append(judge.judge_gates([rule], evidence, self.settings.trials.confidence)[0])
        if all(c.status == "fail" for c in confirmations):
            return verdict.with_confirmation("confirmed by re-run: " + "; ".join(c.message for c in confirmations))
        return replace(
            verdict,
            status="inconclusive",
            message=verdict.message + " -- NOT confirmed by re-run: " + "; ".join(c.message for c in confirmations),
            confirmation="not confirmed",
        )

    # -- baselines ------------------------------------------------------------------------------
    def _stored_baseline(self) -> dict[str, Any] | None:
        if not self._baseline_loaded:
            self._baseline_loaded = True
            try:
                self._baseline = baselines.load_for_machine(
                    self.settings.baselines_dir,
                    self.machine,
                    self.options.baseline_any_machine,
                    self.options.baseline_file,
                )
            except BenchHarnessError as e:
                self._baseline = e
        if isinstance(self._baseline, BenchHarnessError):
            raise self._baseline
        return self._baseline

    def _no_baseline_fix(self) -> str:
        fix = "; record one with --save-baseline"
        if self.options.baseline_any_machine and not self._baseline_file().is_file():
            others = sorted(p.name for p in self.settings.baselines_dir.glob("*.json"))
            fix += f", or name another machine's file with --baseline-file (here: {', '.join(others) or 'none'})"
        return fix

    def _baseline_file(self) -> Path:
        return self.options.baseline_file or baselines.baseline_path(self.settings.baselines_dir, self.machine["id"])

    def _entry(self, case: Case) -> baselines.BaselineEntry | None:
        stored = self._stored_baseline()
        data = None if stored is None else stored["cases"].get(case.key)
        return None if data is None else baselines.BaselineEntry.from_dict(data)

    def _reference_moves(self, case: Case) -> dict[str, float]:
        """How far the reference moved against its own baseline, per metric (for 'machine moved')."""
        if case.is_reference:
            return {}
        reference = replace(case, quant=case.reference)
        entry = self._entry(reference)
        record = self.records.get(reference.key)
        if entry is None or record is None or record.measurement is None:
            return {}
        moves = {}
        for name, old in entry.metrics.items():
            now = record.measurement.value(name)
            if now is not None and old.value:
                moves[name] = (now - old.value) / abs(old.value)
        return moves

    def _baseline_verdicts(self, case: Case, record: CaseRecord) -> list[Verdict]:
        if self.options.save_baseline:
            message = "recording a new baseline (--save-baseline); not compared"
            return [Verdict("baseline", "baseline", "unavailable", message)]
        if not self.options.compare_baseline:
            return []
        try:
            entry = self._entry(case)
        except MachineMismatch as e:
            return [Verdict("baseline", "baseline", "unavailable", str(e))]
        if entry is None:
            where = self._baseline_file()
            message = f"no baseline for {case.key} in {where}{self._no_baseline_fix()}"
            return [Verdict("baseline", baselines.NO_BASELINE, "unavailable", message)]
        assert record.measurement is not None
        settings = self.workload_key(case)
        policy = self.suite(case.suite).baseline or self.settings.baseline
        moves = self._reference_moves(case)
        earlier = self._earlier_runs(case, entry)
        verdicts = judge.judge_baseline(record.measurement, entry, settings, policy, moves, earlier)
        if any(v.status == "fail" for v in verdicts) and self.settings.trials.confirm:
            verdicts = self._confirm_regressions(case, record, entry, settings, policy, verdicts, moves, earlier)
        return verdicts + judge.judge_ratios(record.verdicts, entry, policy, earlier)

    def _history(self) -> history_store.HistoryStore | None:
        """This run's history store (--history, default beside the results), opened once; None where there is
        none or it cannot be read (then nothing is learnt from earlier runs)."""
        if self._history_store is None:
            url = history_store.resolve_url(self.options.history, self.settings.results_dir)
            try:
                self._history_store = history_store.HistoryStore(url) if url else False
            except BenchHarnessError:
                self._history_store = False
        return self._history_store if isinstance(self._history_store, history_store.HistoryStore) else None

    def _earlier_gate_ratios(self, case: Case, gates: Sequence[str]) -> dict[str, list[float]]:
        """Each gate's ratio in this machine's earlier runs of the case (the history store), oldest first."""
        store = self._history()
        if store is None:
            return {}
        earlier: dict[str, list[float]] = {}
        for gate in gates:
            try:
                earlier[gate] = [
                    p.value for p in store.series(self.machine["id"], case.key, f"gate:{gate}", HISTORY_RUNS)
                ]
            except BenchHarnessError:
                return {}
        return earlier

    def _earlier_runs(self, case: Case, entry: baselines.BaselineEntry) -> judge.Replicates:
        """This machine's other runs of the case from the history store: the between-run spread of each figure.

        The baseline's own run is left out (matched by its start time, or, in a baseline saved before
        that was stored, by its exact value), since the stored figure itself is the other side. No store,
        or one that cannot be read: no replicates, and only a move past `run_factor` is called.
        """
        store = self._history()
        if store is None:
            return judge.Replicates()
        started = entry.recorded.get("started")
        names = [*entry.metrics, *(f"gate:{g}" for g in entry.ratios)]
        before: dict[str, list[float]] = {}
        for name in names:
            try:
                points = store.series(self.machine["id"], case.key, name, HISTORY_RUNS)
            except BenchHarnessError:
                return judge.Replicates()
            own = entry.metrics[name].value if name in entry.metrics else entry.ratios[name[5:]].estimate
            before[name] = [
                p.value for p in points if p.value > 0 and (p.started != started if started else p.value != own)
            ]
        return judge.Replicates(before)

    def _confirm_regressions(
        self,
        case: Case,
        record: CaseRecord,
        entry: baselines.BaselineEntry,
        settings: dict[str, Any],
        policy: BaselineSettings,
        verdicts: list[Verdict],
        moves: dict[str, float],
        earlier: judge.Replicates,
    ) -> list[Verdict]:
        """A regression stands only if a fresh child regresses too (accuracy: deterministic, no re-run).

        The fresh child is judged with the first one beside it, as two children of this run.
        """
        self.progress(f"{case.id}: regression against the baseline; confirming in a fresh child")
        confirmation = self.solo(case, accuracy=False)
        record.measurements.append(confirmation)
        first = record.measurement
        assert first is not None
        children = {n: [x] for n in entry.metrics if (x := first.value(n)) is not None and x > 0}
        both = judge.Replicates(earlier.before, children)
        again = {v.name: v for v in judge.judge_baseline(confirmation, entry, settings, policy, moves, both)}
        confirmed = []
        for v in verdicts:
            if v.status != "fail":
                confirmed.append(v)
            elif v.name not in again or again[v.name].status == "unavailable":
                confirmed.append(v.with_confirmation("deterministic: not re-measured without the accuracy task"))
            elif again[v.name].status == "fail":
                confirmed.append(v.with_confirmation(f"confirmed by re-run: {again[v.name].message}"))
            else:
                note = f" -- NOT confirmed by re-run: {again[v.name].message}"
                confirmed.append(
                    replace(v, status="inconclusive", message=v.message + note, confirmation="not confirmed")
                )
        return confirmed

    # -- end of session -------------------------------------------------------------------------
    def run_info(self) -> dict[str, Any]:
        machine = dict(self.machine)
        if self.faulted:  # what this machine advertises but could not run, so a lab tells its hosts apart
            machine["faulted_paths"] = [asdict(f) for f in self.faulted.values()]
        return {
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "packages": package_versions(),
            "git_commit": git_commit(self.settings.root),
            "threads": self.threads,
            "devices": list(self.options.devices),
            "settings": self.workload_key(),
            "trials": asdict(self.settings.trials),
            "time_budget_s": self.options.time_budget_s,
            "cost": self.cost.summary(),
            "noise": None if self.noise is None else self.noise.info(),
            "bandwidth": None if self.bandwidth is None else self.bandwidth.to_dict(),
        }

    def finish(self) -> list[str]:
        """Write what the run produced: results, pytest-benchmark JSON, history, report and baselines.

        Each step fails alone, in one line, and the others still happen: an unwritable history store
        or a full results folder never costs the report of an hour's measurements. A step that fails is
        listed in `unwritten`, which fails the run (exit 1); baselines are saved only if asked and no case failed.
        """
        lines: list[str] = []
        if self.swept[0]:
            lines.append(
                f"swept {self.swept[0]} leftover(s) of killed runs from the cache ({self.swept[1] / 2**20:.0f} MiB)"
            )
        if self.preparer.rebuilt:
            lines.append(
                f"cache: rebuilt {len(self.preparer.rebuilt)} variant(s) whose cached copy did not match its "
                f"manifest (truncated or changed): {', '.join(self.preparer.rebuilt)}"
            )
        records = [r for r in self.records.values() if r.measurement is not None or r.outcome in ("failed", "error")]
        if not records:
            return lines
        run = self.run_info()
        for record in self.records.values():
            if record.outcome == "pending":  # selected, never reached: an interrupt, -x, a time limit
                record.outcome, record.message = "not run", "the run ended before this case"
            record.settings = self.workload_key(record.case)
            record.baseline_policy = self.suite(record.case.suite).baseline or self.settings.baseline
        lines.append(self.cost.line())
        cases = list(self.records.values())
        path = results_path(self.settings.results_dir)
        bench_path = path.with_name(path.stem + ".pytest-benchmark.json")
        document = results_document(run, cases)
        written = self._step("results", "NOT written", lambda: f"results: {write_results(path, document)}")

        def write_benchmark() -> str:
            write_json_atomic(bench_path, pytest_benchmark_document(run, cases))
            return f"pytest-benchmark format: {bench_path.name}"

        benchmark = self._step("pytest-benchmark JSON", "NOT written", write_benchmark)
        both_written = not {"results", "pytest-benchmark JSON"} & set(self.unwritten)
        lines += [f"{written} ({benchmark})"] if both_written else [written, benchmark]
        lines += self._baseline_lines()
        # In JSON's own form (tuples become lists), exactly as a reader of the results file would see it.
        stored = RunResult.from_dict(json.loads(json.dumps(document)), str(path))
        answers: list[str] = []

        def answer_targets() -> str:
            answers.extend(target_lines([stored], list(self.settings.targets.values())))
            return ""

        failed = self._step("target recommendation", "NOT made", answer_targets, asked=False)
        lines += [failed] if failed else answers
        lines += self._history_and_report(path, stored)
        if self.options.save_baseline:
            lines.append(self._step("baselines", "NOT saved", lambda: self._save_baselines(cases, run)))
        return lines

    def _step(self, name: str, failed: str, action: Callable[[], str], asked: bool = True) -> str:
        """One end-of-run step: its line, or one line saying why it failed (never a traceback).

        A failed step the user `asked` for lands in `unwritten` (the run fails); a best-effort one only says so.
        """
        try:
            return action()
        except BenchHarnessError as e:
            why = str(e)
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            fix = (
                "free space on that disk"
                if e.errno == errno.ENOSPC
                else "make it writable or point the setting elsewhere"
            )
            why = f"{where}{e.strerror or e}; {fix}"
        except Exception as e:  # the end of a run must never crash: the line names the fault instead
            first = (str(e).splitlines() or [""])[0]
            why = f"unexpected {type(e).__name__}: {first} (a benchharness bug; please report it)"
        if asked:
            self.unwritten.append(name)
        return f"{name} {failed}: {why}"

    def _baseline_lines(self) -> list[str]:
        """Why a baseline was not compared, said in the terminal too (not only in the JSON), once per reason."""
        reasons: dict[str, list[str]] = {}
        compared = 0
        if self.options.save_baseline:
            return []
        for record in self.records.values():
            verdicts = [v for v in record.verdicts if v.kind == "baseline"]
            whole = [v for v in verdicts if v.status == "unavailable" and v.name in baselines.WHOLE_BASELINE]
            if whole and whole[0].name == baselines.NO_BASELINE:
                message = f"none stored in {self._baseline_file()}{self._no_baseline_fix()}"
                reasons.setdefault(message, []).append(record.case.id)
            elif whole:
                reasons.setdefault(whole[0].message, []).append(record.case.id)
            elif verdicts:
                compared += 1
        lines = [f"baseline: compared {compared} case(s) with {self._baseline_file()}"] if compared else []
        for message, ids in reasons.items():
            lines.append(
                f"baseline not compared for {len(ids)} case(s) ({ids[0]}{', ...' if len(ids) > 1 else ''}): {message}"
            )
        return lines

    def _history_and_report(self, results: Path, run: RunResult) -> list[str]:
        """Append the run to the history store, then write the HTML report (with the history's trends).

        Both read the run from memory, not from the results file, so they still happen when it was not written.
        """
        lines = []
        stores: list[history_store.HistoryStore] = []

        def append_history() -> str:
            url = history_store.resolve_url(self.options.history, self.settings.results_dir)
            if url is None:
                return ""
            stores.append(history_store.HistoryStore(url))
            stores[0].append(run)
            count = stores[0].run_count(run.machine_id)
            return f"history: {count} run(s) of this machine in {history_store.display(url)}"

        # The default store is best effort; one asked for by name fails the run.
        line = self._step("history", "NOT appended", append_history, asked=self.options.history is not None)
        if line:
            lines.append(line)
        store = stores[0] if stores and not line.startswith("history NOT") else None
        stamp = results.stem.removeprefix("results-")
        path = self.options.report or self.settings.results_dir / f"report-{stamp}.html"

        def write_report() -> str:
            html.write_report(path, [run], store, targets=tuple(self.settings.targets.values()))
            if self.options.report is None:
                shutil.copyfile(path, self.settings.results_dir / "latest.html")
            return f"report: {path}"

        try:
            lines.append(self._step("report", "NOT written", write_report))
        finally:
            for opened in stores:
                opened.close()
        return lines

    def _save_baselines(self, records: list[CaseRecord], run: dict[str, Any]) -> str:
        """Record the run as this machine's baseline; StoreError (one line) when it must not or cannot be.

        Cases measured under load they did not cause are saved with a warning that names the figure, not
        refused: an unattended nightly must still get its baseline, and the outside load is stored with each
        entry, so every later comparison against it says so too.
        """
        failed = [r.case.id for r in records if r.outcome in ("failed", "error")]
        if failed:
            raise StoreError(
                f"{len(failed)} case(s) failed ({', '.join(failed[:3])}); a failing run never touches baselines"
            )
        recorded = {k: run[k] for k in ("git_commit", "packages", "threads", "started")} | {"date": run["finished"]}
        kept = [
            r
            for r in records
            if r.measurement is not None and r.outcome in ("passed", "xfailed", "xpassed", "measured as reference")
        ]
        entries = {}
        loaded: list[str] = []
        for r in kept:
            assert r.measurement is not None
            load = r.measurement.value("outside_cpu_load")
            limit = (self.suite(r.case.suite).baseline or self.settings.baseline).max_outside_load
            if load is not None and load > limit:
                loaded.append(f"{r.case.id} {load:.0%} > {limit:.0%}")
            stamp = recorded | {"outside_cpu_load": load, "max_outside_load": limit}
            entries[r.case.key] = baselines.entry(r.measurement, self.workload_key(r.case), stamp, r.stored_ratios())
        if not entries:
            raise StoreError("no case was measured")
        path = baselines.save(self.settings.baselines_dir, self.machine, entries)
        line = f"baselines: saved {len(entries)} case(s) to {path}"
        if loaded:
            line += (
                f"; WARNING: {len(loaded)} measured under outside CPU load they did not cause (share of the "
                f"machine's CPUs busy with other work, over baseline.max_outside_load): {', '.join(loaded[:3])}"
                f"{', ...' if len(loaded) > 3 else ''}; their figures may read slow: re-record on a quiet machine"
            )
        return line

    def noise_text(self) -> str | None:
        """The noise read before the first case, as the report prints it (None where nothing was measured)."""
        return None if self.noise is None else self.noise.summary()

    def outside_loads(self) -> list[tuple[str, float | None, float]]:
        """(case id, outside CPU load of its timed region, its suite's max_outside_load) per measured case."""
        return [
            (
                r.case.id,
                r.measurement.value("outside_cpu_load"),
                (self.suite(r.case.suite).baseline or self.settings.baseline).max_outside_load,
            )
            for r in self.records.values()
            if r.measurement is not None
        ]

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
