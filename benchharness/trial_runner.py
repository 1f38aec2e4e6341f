"""The trial runner: every child a case needs, and the gate verdicts its pairs decide.

A *solo* trial measures one variant alone in a fresh child (cold start, rounds, memory, accuracy); a
*paired* trial alternates a variant and its reference in one child. The runner buys more blocks of
pairs while the speed gate is inconclusive and the budget allows (trials.extra_blocks_allowed), and
re-measures a gate failure in fresh children before it fails a case (trials.confirmed: the one
confirmation rule, shared with the baseline check). It writes nothing but its scratch outputs and
the prepare cache; what it measured goes back to the session as values.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from benchharness import backends, judge, kinds
from benchharness.backends.base import Backend
from benchharness.cost import CostLedger
from benchharness.errors import BenchHarnessError, ChildCrashed
from benchharness.faults import FaultedPath, faulted_path
from benchharness.gates import gate_named
from benchharness.isolation import run_job
from benchharness.judge import GateEvidence, Verdict
from benchharness.machine import fingerprint
from benchharness.matrix import Case
from benchharness.meters.bandwidth import Bandwidth, machine_bandwidth
from benchharness.models.prepare import Preparer, Variant
from benchharness.models.registry import ModelDef
from benchharness.plan import CasePlan
from benchharness.preflight import ContextCheck
from benchharness.protocol import MeasureRequest, ModelSpec, PairedRequest, PairedTiming, decode
from benchharness.readings import Measurement, depth_suffix
from benchharness.roofline import ceiling_note, decode_readings, with_ceiling
from benchharness.run_flags import kernel_fallback, low_bandwidth_utilisation
from benchharness.settings import Settings
from benchharness.trials import Budget, confirmed, extra_blocks_allowed, first_side

Reply = TypeVar("Reply", Measurement, PairedTiming)  # what a child answers: a solo measurement or paired timing

Progress = Callable[[str], None]
ChildRunner = Callable[..., dict[str, Any]]  # isolation.run_job's shape: (request, *, timeout_s, label, work_dir)


def evidence_for(case: Case, measurement: Measurement, reference: Measurement) -> GateEvidence:
    """The gates' evidence for a variant case: its first solo child and its reference's."""
    return GateEvidence(
        label=case.variant,
        reference_label=case.reference,
        kind=kinds.kind(case.kind),
        variant=(measurement,),
        reference=(reference,),
        device=case.device,
    )


class TrialRunner:
    """Runs a case's children and keeps what defines each measurement (suite, case, workload, variant, tokens).

    `child` runs one request in an isolated process (isolation.run_job); a test passes a fake one to
    check the runner's own logic (memoising, extra blocks, confirmation) without a runtime.
    """

    def __init__(
        self,
        settings: Settings,
        threads: int,
        models: dict[str, ModelDef],
        backend_objects: dict[str, Backend],
        context: ContextCheck,
        scratch: Path,
        progress: Progress,
        machine: dict[str, Any],
        child: ChildRunner = run_job,
        preparer: Preparer | None = None,
    ) -> None:
        self.settings = settings
        self.threads = threads
        self.models = models
        self.backends = backend_objects
        self.context = context
        self.scratch = scratch
        self.progress = progress
        self.machine = machine
        self.child = child
        self.preparer = preparer or Preparer(settings.cache_dir, threads, settings.case_timeout_s, progress)
        self.cost = CostLedger()
        self.bandwidth: Bandwidth | None = None  # read bandwidth at self.threads, before the first decode row
        # (backend, device) whose default path died of SIGILL here: later children load in safe mode
        self.faulted: dict[tuple[str, str], FaultedPath] = {}
        self._solo: dict[str, Measurement | BenchHarnessError] = {}
        self._tokens: dict[str, str | None] = {}

    # -- what a child is given ------------------------------------------------------------------
    def variant(self, plan: CasePlan, label: str) -> Variant:
        case = plan.case
        variant = self.preparer.prepare(self.models[case.model], case.format, label)
        self.context.after_prepare(  # where the source did not tell: before any child measures it
            f"[tool.benchharness.suites.{case.suite}]",
            self.models[case.model],
            kinds.kind(case.kind),
            case.format,
            label,
            variant.path,
            plan.workload,
            plan.accuracy,
        )
        return variant

    def _spec(self, plan: CasePlan, variant: Variant) -> ModelSpec:
        case = plan.case
        return ModelSpec(
            backend=backends.import_path(type(self.backends[case.backend])),
            runtime_module=self.backends[case.backend].runtime_module,
            device=case.device,
            kind=case.kind,
            path=str(variant.path),
            file_bytes=variant.file_bytes,
            safe_mode=(case.backend, case.device) in self.faulted,
            context_tokens=self.context.tokens(variant.model, variant.format, variant.label),
        )

    def corpus_tokens(self, model: str) -> str | None:
        """The model's shared corpus tokens, or None (the backend tokenizes) where they cannot be made here."""
        if model not in self._tokens:
            try:
                tokens = self.preparer.corpus_tokens(self.models[model])
                self._tokens[model] = str(tokens.path) if tokens else None
            except BenchHarnessError as e:
                self.progress(f"{model}: each backend tokenizes the corpus itself ({e})")
                self._tokens[model] = None
        return self._tokens[model]

    def measurement_key(self, plan: CasePlan, variant: Variant) -> str:
        """Everything that defines a measurement: suite, case, workload, threads, the variant's content, the tokens."""
        case = plan.case
        parts = [case.suite, case.id, plan.workload_key, self.threads, variant.key, self.corpus_tokens(case.model)]
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]

    def _reference_outputs(self, plan: CasePlan) -> Path:
        """Where the reference leaves its outputs (log-probs, embeddings, predictions) for its variants."""
        reference = plan.reference()
        variant = self.variant(reference, reference.case.variant)
        return self.scratch / f"{self.measurement_key(reference, variant)}.outputs.npy"

    # -- running children -----------------------------------------------------------------------
    def _measure_child(self, request: MeasureRequest, label: str) -> Measurement:
        """One solo child's Measurement, its time accounted (cost.py): the child's timed and accuracy seconds."""
        started = time.perf_counter()
        measurement = Measurement.from_dict(self._run_child(request, label))
        info = measurement.info
        self.cost.add_child(time.perf_counter() - started, info.timed_s, info.accuracy_s)
        return measurement

    def _paired_child(self, request: PairedRequest, label: str) -> PairedTiming:
        """One paired child's timing, its time accounted (cost.py): its rounds are timed, nothing is scored."""
        started = time.perf_counter()
        timing = decode(PairedTiming, self._run_child(request, label))
        self.cost.add_child(time.perf_counter() - started, timing.timed_s, 0.0)
        return timing

    def _run_child(self, request: MeasureRequest | PairedRequest, label: str) -> dict[str, Any]:
        if self.settings.trials.cooldown_s:
            time.sleep(self.settings.trials.cooldown_s)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.progress(f"measuring {label}")
        return self.child(
            request, timeout_s=self.settings.case_timeout_s, label=label, work_dir=self.settings.cache_dir / "jobs"
        )

    def _falling_back(self, plan: CasePlan, attempt: Callable[[], Reply]) -> Reply:
        """Run a child; if it dies of SIGILL on a backend that has a safe mode, run it again in safe mode.

        A runtime's fastest path may use an instruction the CPU (or VM) advertises but traps: llama.cpp's
        AMX repacking on a Xeon VM that lists AMX in its flags. The fault is found once per backend and
        device; every later child of that backend loads in safe mode, and each row so measured says so.
        A crash that safe mode does not cure fails the case with the fix: a portable reinstall.
        """
        case = plan.case
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
            return self._falling_back(plan, attempt)

    def solo(self, plan: CasePlan, *, accuracy: bool = True) -> Measurement:
        """The case alone in a fresh child; the full one (with accuracy) is memoised, failures included.

        Raises the child's BenchHarnessError (ChildCrashed, CaseFailed, ...) with its cause and fix.
        """
        case = plan.case
        variant = self.variant(plan, case.variant)
        key = self.measurement_key(plan, variant)
        if accuracy and key in self._solo:
            cached = self._solo[key]
            if isinstance(cached, BenchHarnessError):
                raise cached
            return cached

        def attempt() -> Measurement:
            request = MeasureRequest(
                case_id=case.id,
                measurement_key=key,
                model=self._spec(plan, variant),
                threads=self.threads,
                workload=plan.workload,
                accuracy=plan.accuracy,
                score_accuracy=accuracy,
                reference_outputs=str(self._reference_outputs(plan)) if accuracy else None,
                reference_role=("write" if case.is_reference else "read") if accuracy else "none",
                corpus_tokens=self.corpus_tokens(case.model),
                data=self.models[case.model].data,
                estimate_cpu_tdp_w=self.settings.estimate_cpu_tdp_w,
            )
            return self._measure_child(request, case.id)

        try:
            measurement = self._falling_back(plan, attempt)
        except BenchHarnessError as e:
            if accuracy:
                self._solo[key] = e
            raise
        measurement = self._annotated(plan, variant, measurement)
        if accuracy:
            self._solo[key] = measurement
        return measurement

    def _annotated(self, plan: CasePlan, variant: Variant, measurement: Measurement) -> Measurement:
        """What the parent knows of a child's figures: the variant, who made it, the roofline and the flags."""
        case = plan.case
        fault = self.faulted.get((case.backend, case.device))
        if fault is not None:
            features = (measurement.info.runtime_settings or {}).get("cpu_features")  # llama.cpp's; others set none
            if features and not fault.build_features:
                fault = self.faulted[(case.backend, case.device)] = fault.with_build(features)
            measurement = replace(measurement, warnings=(fault.warning(), *measurement.warnings))
        info = replace(
            measurement.info,
            variant_key=variant.key,
            variant_file=str(variant.path),
            provenance=variant.provenance,  # who made it: "INT4 by Olive" vs "INT4 by the GenAI builder"
            weights=variant.weights,  # formats/composition.py
        )
        measurement = replace(measurement, info=info)
        if variant.weights is not None and (label := variant.weights.warning()) is not None:
            measurement = replace(measurement, warnings=(*measurement.warnings, label))
        if case.kind == "causal-lm":
            measurement = self._with_roofline(plan, variant, measurement)
        parent_flags = [
            low_bandwidth_utilisation(measurement),
            kernel_fallback(measurement, case.backend, self.machine.get("isa") or []),
        ]
        flags = (*measurement.info.flags, *(f for f in parent_flags if f))
        return replace(measurement, info=replace(measurement.info, flags=flags))

    def _with_roofline(self, plan: CasePlan, variant: Variant, measurement: Measurement) -> Measurement:
        """The decode row's bytes per token, effective read rate and MBU at each depth (roofline.py)."""
        if self.bandwidth is None:  # once per session; cached per machine fingerprint and thread count
            self.progress(f"measuring this machine's read bandwidth at {self.threads} threads")
            self.bandwidth = machine_bandwidth(self.settings.cache_dir, fingerprint(), self.threads)
        workload = plan.workload
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
        info = replace(measurement.info, traffic=variant.traffic)
        return replace(measurement, readings={**measurement.readings, **{r.name: r for r in added}}, info=info)

    def paired(self, plan: CasePlan, block: int, pairs: int) -> PairedTiming:
        """One child alternating `pairs` rounds of the variant and its reference (block 0 starts with the variant)."""
        case = plan.case
        reference = plan.reference()

        def attempt() -> PairedTiming:
            request = PairedRequest(
                case_id=case.id,
                variant=self._spec(plan, self.variant(plan, case.variant)),
                reference=self._spec(reference, self.variant(reference, case.reference)),
                threads=self.threads,
                workload=plan.workload,
                accuracy=plan.accuracy,
                pairs=pairs,
                first=first_side(block),
                corpus_tokens=self.corpus_tokens(case.model),
                data=self.models[case.model].data,
            )
            return self._paired_child(request, f"{case.id} (pairs, block {block + 1})")

        return self._falling_back(plan, attempt)

    # -- gates ----------------------------------------------------------------------------------
    def judge_gates(self, plan: CasePlan, evidence: GateEvidence, budget: Budget) -> GateTrials:
        """The case's gate verdicts: pairs until the speed gate is decisive, then each failure confirmed by re-run.

        `evidence` holds the variant's and reference's solo measurements; what was measured here (pairs,
        confirmation children and blocks) comes back with the verdicts, so the record keeps it.
        Raises the child's BenchHarnessError when a paired child fails.
        """
        case = plan.case
        trials = self.settings.trials
        speed_rule = next((r for r in plan.gates if gate_named(r.name).paired and r.applies_to(case.variant)), None)
        if speed_rule is not None:
            block_started = time.monotonic()
            evidence = replace(evidence, pairs=(self.paired(plan, 0, trials.pairs),))
            block_seconds = time.monotonic() - block_started
            while True:
                verdict = judge.judge_gates([speed_rule], evidence, trials.confidence)[0]
                pairs_so_far = sum(len(p.variant) for p in evidence.pairs)
                if verdict.status != "inconclusive":
                    break
                if not extra_blocks_allowed(trials, pairs_so_far, block_seconds, budget.allowance()):
                    break
                self.progress(
                    f"{case.id}: speedup inconclusive after {pairs_so_far} pairs; measuring {trials.pairs} more"
                )
                more = self.paired(plan, len(evidence.pairs), trials.pairs)
                evidence = replace(evidence, pairs=(*evidence.pairs, more))
        done = GateTrials([], evidence)
        for v in judge.judge_gates(list(plan.gates), evidence, trials.confidence):
            done.verdicts.append(self._confirm_gate(plan, done, self._with_ceiling(evidence, v)))
        return done

    @staticmethod
    def _with_ceiling(evidence: GateEvidence, verdict: Verdict) -> Verdict:
        """A decode speedup gate says its physical ceiling (bytes per token, reference over variant) and the share reached."""
        if (
            not gate_named(verdict.name).paired
            or not evidence.variant
            or "bytes_per_token" not in evidence.variant[0].readings
        ):
            return verdict
        reference = evidence.reference[0] if evidence.reference else None
        note = ceiling_note(verdict.estimate, evidence.variant[0], reference)
        return replace(verdict, message=with_ceiling(verdict.message, note))

    def _confirm_gate(self, plan: CasePlan, done: GateTrials, verdict: Verdict) -> Verdict:
        """Re-measure a gate failure in fresh children before it fails the case (trials.confirmed decides).

        A speed failure gets fresh blocks of pairs, judged alone; a memory or energy failure one more solo
        child of each side, judged with the first. What was re-measured is added to `done`.
        """
        if verdict.status != "fail" or verdict.known_breach:
            return verdict
        if not gate_named(verdict.name).confirmable or self.settings.trials.confirm == 0:
            why = "confirm = 0" if gate_named(verdict.name).confirmable else "deterministic: a re-run scores the same"
            return verdict.with_confirmation(why)
        rule = next(r for r in plan.gates if r.name == verdict.name)
        reruns: list[Verdict] = []
        for _ in range(self.settings.trials.confirm):
            self.progress(f"{plan.case.id}: {verdict.name} failed; confirming in a fresh child")
            if gate_named(verdict.name).paired:
                block = self.paired(plan, len(done.evidence.pairs), self.settings.trials.pairs)
                done.confirm_pairs.append(block)
                judged = replace(done.evidence, pairs=(block,))
            else:
                done.evidence = replace(
                    done.evidence,
                    variant=(*done.evidence.variant, self.solo(plan, accuracy=False)),
                    reference=(*done.evidence.reference, self.solo(plan.reference(), accuracy=False)),
                )
                judged = done.evidence
            reruns.append(judge.judge_gates([rule], judged, self.settings.trials.confidence)[0])
        return confirmed(verdict, reruns)


@dataclass
class GateTrials:
    """What judging a case's gates measured: the verdicts, the evidence (solo children and pairs) and the
    blocks re-measured to confirm a speed failure (kept apart: the verdict was judged on `evidence.pairs`)."""

    verdicts: list[Verdict]
    evidence: GateEvidence
    confirm_pairs: list[PairedTiming] = field(default_factory=list)
