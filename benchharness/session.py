"""A benchmark session: orchestration only, a short loop. plan -> trials -> judge -> record.

Each job has its own module: the plan of each case (plan.Planner: the suite's policy, start-up checks),
the children and the gates they decide (trial_runner.TrialRunner), the comparison with the stored
baseline and the machine's history (baseline_check.BaselineCheck), and the files a run leaves
(recorder.Recorder). The session keeps one CaseRecord per case and hands values between them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime

from benchharness import backends, judge, leftovers, preflight
from benchharness.advice import advise_flags
from benchharness.backends.base import Backend
from benchharness.baseline_check import BaselineCheck
from benchharness.cli_options import Options
from benchharness.errors import BenchHarnessError, CaseFailed
from benchharness.isolation import run_job
from benchharness.judge import Verdict
from benchharness.machine import default_threads, fingerprint, usable_cpus
from benchharness.matrix import Case
from benchharness.meters.noise import Noise, read_noise
from benchharness.models.registry import ModelDef, build_registry
from benchharness.plan import CasePlan, Planner
from benchharness.readings import Measurement
from benchharness.recorder import Recorder
from benchharness.records import CaseRecord, Records
from benchharness.settings import Settings, SuiteConfig
from benchharness.trial_runner import ChildRunner, TrialRunner, evidence_for
from benchharness.trials import Budget

Progress = Callable[[str], None]
NOISE_WINDOW_S = 0.5  # idle time read before the first case (meters.noise); 0.5 s resolves steal to ~1%


class BenchSession:
    """One pytest run's benchmark: its cases' records, and the collaborators that measure, judge and record them.

    Raises ConfigError at construction for a name a suite or filter gets wrong (plan.Planner).
    """

    def __init__(self, settings: Settings, options: Options, progress: Progress, child: ChildRunner = run_job) -> None:
        self.settings = settings
        self.options = options
        self.progress = progress
        self.models: dict[str, ModelDef] = build_registry(settings.models)
        self.backends: dict[str, Backend] = {name: cls() for name, cls in backends.registry().items()}
        preflight.check_threads(settings.threads, usable_cpus())
        self.threads = settings.threads or default_threads()
        self.machine = fingerprint()
        self.started = datetime.now(UTC).isoformat(timespec="seconds")
        self.budget = Budget(options.time_budget_s)
        self.records = Records()
        self.noise: Noise | None = None
        # Named by pid, so the next run can sweep it if this one is killed (benchharness.leftovers).
        scratch = settings.cache_dir / "sessions" / f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{id(self):x}-{os.getpid()}"
        self.swept = leftovers.sweep(settings.cache_dir)
        context = preflight.ContextCheck()
        self.planner = Planner(settings, options, self.models, self.backends, context)
        self.runner = TrialRunner(
            settings, self.threads, self.models, self.backends, context, scratch, progress, self.machine, child
        )
        self.check = BaselineCheck(settings, options, self.machine, progress)
        self.recorder = Recorder(settings, options, self.machine)

    # -- what pytest asks before the run --------------------------------------------------------
    def suite(self, name: str) -> SuiteConfig:
        return self.planner.suite(name)

    def cases(self, suite_name: str) -> list[Case]:
        cases = self.planner.cases(suite_name)
        for case in cases:
            self.records.of(case)
        self.budget.cases_planned += sum(1 for c in cases if c.skip_reason is None)
        return cases

    def known_breaches(self, case: Case) -> list[str]:
        """Gates the suite declares as known breaches for this case (pytest marks it xfail)."""
        return list(self.planner.plan(case).known_breaches)

    # -- one case -------------------------------------------------------------------------------
    def run(self, case: Case) -> CaseRecord:
        """Measure, judge and confirm one case; the record says what happened (the caller decides the outcome).

        Raises the child's BenchHarnessError (crash, timeout, failed load) with its cause and fix.
        """
        started = time.monotonic()
        record = self.records.of(case)
        record.verdicts = []
        if self.noise is None:  # before the first case, while nothing of ours runs: what the machine adds
            self.noise = read_noise(NOISE_WINDOW_S)
        plan = self.planner.plan(case)
        gates: list[Verdict] = []
        if case.is_reference:
            measurement = self.runner.solo(plan)
            record.measurements = [measurement]
        else:
            reference = self._reference(plan)
            measurement = self.runner.solo(plan)
            record.measurements, record.reference_measurements = [measurement], [reference]
            done = self.runner.judge_gates(plan, evidence_for(case, measurement, reference), self.budget)
            record.measurements = list(done.evidence.variant)
            record.reference_measurements = list(done.evidence.reference)
            record.pairs, record.confirm_pairs = list(done.evidence.pairs), done.confirm_pairs
            gates = self.check.across_runs(plan, done.verdicts)
            record.ratios = {v.name: v.estimate for v in gates if v.check == "gate" and v.estimate is not None}
        measurement = advise_flags(measurement, case.backend)
        record.measurement = measurement
        self.budget.base_seconds.append(time.monotonic() - started)
        record.verdicts = gates + judge.judge_limits(dict(plan.limits), measurement)

        def remeasure() -> Measurement:
            again = self.runner.solo(plan, accuracy=False)
            record.measurements.append(again)
            return again

        reference_now = self.records.reference_measurement(case)
        record.verdicts += self.check.verdicts(plan, measurement, record.verdicts, reference_now, remeasure)
        record.verdicts = judge.with_steal_note(record.verdicts, self.noise.heavy_steal() if self.noise else "")
        self.budget.cases_done += 1
        return record

    def _reference(self, plan: CasePlan) -> Measurement:
        """The reference variant of the case, measured first even if the filters deselected it."""
        reference = plan.reference()
        try:
            measurement = self.runner.solo(reference)
        except BenchHarnessError as e:
            raise CaseFailed(
                f"reference {reference.case.id} could not be measured, so no gate can be judged: {e}",
                getattr(e, "log_tail", ()),
            ) from None
        self.records.reference_measured(reference.case, plan.case, measurement)
        return measurement

    # -- end of session -------------------------------------------------------------------------
    def finish(self) -> list[str]:
        """Write what the run produced (recorder.Recorder); one line per file, and what the cache swept or rebuilt."""
        lines = leftovers.swept_lines(self.swept) + self.runner.preparer.rebuilt_lines()
        if not self.records.anything_to_write():
            return lines
        run = self.recorder.run_header(self.started, self.threads, self.planner.run_key(), self.runner, self.noise)
        lines.append(self.runner.cost.line())
        cases = list(self.records.values())

        def baseline_lines() -> list[str]:
            return self.check.summary_lines([(r.case.id, r.verdicts) for r in cases])

        return lines + self.recorder.record(run, cases, lambda r: self.planner.plan(r.case), baseline_lines)

    def noise_text(self) -> str | None:
        """The noise read before the first case, as the report prints it (None where nothing was measured)."""
        return None if self.noise is None else self.noise.summary()

    def outside_loads(self) -> list[tuple[str, float | None, float]]:
        """(case id, outside CPU load of its timed region, its suite's max_outside_load) per measured case."""
        return [
            (r.case.id, r.measurement.value("outside_cpu_load"), self.planner.plan(r.case).baseline.max_outside_load)
            for r in self.records.values()
            if r.measurement is not None
        ]

    def close(self) -> None:
        self.check.close()
        shutil.rmtree(self.runner.scratch, ignore_errors=True)
