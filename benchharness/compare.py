"""Two runs side by side: what changed past the noise, per machine, case and metric. Pure: runs in, a Comparison out.

The decision is the baseline check's own (`judge.judge_baseline` and `judge.judge_ratios`): the
old run plays the stored baseline, the new run the current measurement, so `compare` and the
regression gate can never disagree about what counts as a regression. On top of that decision
each change gets a confidence interval: a bootstrap of the median's relative change over both
runs' rounds, and for the speed gate an interval on the ratio of ratios (how far the speedup
itself moved), from the per-pair ratios each run kept.

Those intervals are over rounds and pairs of one child per run, so they never decide alone: the
between-run half of the rule (`judge.between_runs`) learns how far each figure moves between runs of
unchanged code from the same machine's other runs in the history store and from any extra children
(confirmations) either run holds. Where that is unknown, a move under the policy's `run_factor` is
"unknown" (not decided), not "regressed".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from benchharness import judge, stats
from benchharness.baseline_entry import BaselineEntry, StoredRatio
from benchharness.gates import find_gate
from benchharness.machine import comparable
from benchharness.readings import metric_spec
from benchharness.results import CaseResult, RunResult

ChangeStatus = Literal["regressed", "improved", "same", "unknown", "not compared"]
CONFIDENCE = 0.95
HISTORY_RUNS = 20  # the latest runs of the machine a figure's between-run spread is learnt from


class Point(Protocol):
    @property
    def started(self) -> str: ...
    @property
    def value(self) -> float: ...


class History(Protocol):
    """What compare reads from a history store: one machine's series of one case's figures, on one connection."""

    def series_many(
        self, machine_id: str, case_key: str, names: Sequence[str], last: int = ...
    ) -> Mapping[str, Sequence[Point]]: ...


@dataclass(frozen=True)
class MetricChange:
    """One metric of one case: old and new figure, the relative change with its interval, and the decision."""

    machine: str
    key: str
    metric: str
    unit: str
    old: float | None
    new: float | None
    change: float | None
    low: float | None
    high: float | None
    status: ChangeStatus
    message: str
    reason: str = ""  # status "unknown": why it was not decided, as the judge's decision gave it (Verdict.reason)


@dataclass(frozen=True)
class RatioChange:
    """A gate ratio (speedup, accuracy retained, memory cut) in both runs, and how far it moved."""

    machine: str
    key: str
    gate: str
    old: float
    new: float
    moved: float  # new / old on the gate's own scale (speedup: ratio of ratios)
    low: float | None
    high: float | None
    status: ChangeStatus
    message: str
    reason: str = ""  # status "unknown": why it was not decided, as the judge's decision gave it (Verdict.reason)
    # Where a side's gate failure was re-measured and the re-run did not confirm it (unconfirmed()): its figure is
    # the first child's, and the verdict stands on the re-run, so the row says both.
    old_note: str = ""
    new_note: str = ""


@dataclass(frozen=True)
class VerdictChange:
    """A gate, limit or outcome whose status differs between the runs."""

    machine: str
    key: str
    name: str
    old: str
    new: str
    old_note: str = ""  # a gate's failure its re-run did not confirm: unconfirmed(), as on the gate-ratio row
    new_note: str = ""

    def shown(self) -> str:
        """'inconclusive (unconfirmed; re-run 1.37x) -> fail': each side's status with what its re-run found."""
        old = self.old + (f" ({self.old_note})" if self.old_note else "")
        return f"{old} -> {self.new}" + (f" ({self.new_note})" if self.new_note else "")


@dataclass(frozen=True)
class Comparison:
    old_label: str
    new_label: str
    metrics: tuple[MetricChange, ...]
    ratios: tuple[RatioChange, ...]
    verdicts: tuple[VerdictChange, ...]
    added: tuple[str, ...]  # "machine: suite::case" present only in the new run
    removed: tuple[str, ...]
    notes: tuple[str, ...]  # e.g. runs on different machines, settings that differ
    # What differs between the two runs' environments (packages, CPU, threads, workload, runtime settings),
    # "machine: what: old -> new": a "regression" that comes with an upgrade says so above the figures.
    environment: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[MetricChange | RatioChange]:
        changes: list[MetricChange | RatioChange] = [*self.metrics, *self.ratios]
        return [c for c in changes if c.status == "regressed"]

    @property
    def improvements(self) -> list[MetricChange | RatioChange]:
        changes: list[MetricChange | RatioChange] = [*self.metrics, *self.ratios]
        return [c for c in changes if c.status == "improved"]

    @property
    def undecided(self) -> list[MetricChange | RatioChange]:
        """Moves past the rounds' noise whose between-run spread could not be known: not called either way."""
        changes: list[MetricChange | RatioChange] = [*self.metrics, *self.ratios]
        return [c for c in changes if c.status == "unknown"]

    @property
    def not_compared(self) -> list[MetricChange | RatioChange]:
        """Figures that could not be compared at all (other settings, a zero or negative figure), each with why."""
        changes: list[MetricChange | RatioChange] = [*self.metrics, *self.ratios]
        return [c for c in changes if c.status == "not compared"]

    @property
    def changed(self) -> bool:
        return bool(self.regressions or self.improvements or self.verdicts or self.added or self.removed)


def _replicates(
    machine: str, old_run: RunResult, new_run: RunResult, old: CaseResult, new: CaseResult, history: History | None
) -> judge.Replicates:
    """Other runs (history, without the two compared) and extra children of every figure, for `between_runs`."""
    assert old.measurement is not None
    names = [n for n in old.measurement.readings if metric_spec(n) is not None]
    names += [f"gate:{v.name}" for v in old.gate_verdicts() if v.estimate is not None]
    compared = {old_run.started, new_run.started}
    before: dict[str, list[float]] = {}
    after: dict[str, list[float]] = {}
    # one read per case, not per figure: a lab's PostgreSQL pays a connection for each (issue 28 part 5)
    stored = {} if history is None else history.series_many(machine, new.key, names, HISTORY_RUNS)
    for name in names:
        earlier = stored.get(name, [])
        before[name] = [p.value for p in earlier if p.started not in compared and p.value > 0]
        before[name] += [x for m in old.confirmations if (x := m.value(name)) is not None and x > 0]
        after[name] = [x for m in new.confirmations if (x := m.value(name)) is not None and x > 0]
    return judge.Replicates(before, after)


def _metric_changes(machine: str, old: CaseResult, new: CaseResult, replicates: judge.Replicates) -> list[MetricChange]:
    assert old.measurement is not None and new.measurement is not None
    # The old run plays the baseline, its outside load included (judge._outside_load reads both sides'); the
    # messages name it the old run (RUN_SIDES): no baseline file is involved here.
    recorded = {"outside_cpu_load": old.measurement.value("outside_cpu_load")}
    stored = BaselineEntry.of(old.measurement, old.workload_key, recorded, {})
    policy = new.baseline_policy
    verdicts = judge.judge_baseline(
        new.measurement, stored, new.workload_key, policy, None, replicates, judge.RUN_SIDES
    )
    changes = []
    for v in verdicts:
        spec = metric_spec(v.name)
        if spec is None:  # the settings differ: one verdict for the whole case
            changes.append(
                MetricChange(machine, new.key, v.name, "", None, None, None, None, None, "not compared", v.message)
            )
            continue
        low = high = None
        old_samples = old.measurement.round_samples.get(v.name) or []
        new_samples = new.measurement.round_samples.get(v.name) or []
        # Each side's figure is the median of its rounds where it kept them, as the change beside it is (the
        # rule's own figure: one slow round moves a mean, not a median); else the reading's value.
        before = statistics.median(old_samples) if old_samples else old.value(v.name)
        after = statistics.median(new_samples) if new_samples else new.value(v.name)
        if len(old_samples) >= 2 and len(new_samples) >= 2:
            try:
                interval = stats.change_interval(old_samples, new_samples, CONFIDENCE)
                low, high = interval.low, interval.high
            except ValueError:
                pass
        status: ChangeStatus = "not compared" if v.status == "unavailable" else (v.direction or "same")
        changes.append(
            MetricChange(
                machine, new.key, v.name, spec.unit, before, after, v.estimate, low, high, status, v.message, v.reason
            )
        )
    return changes


def unconfirmed(case: CaseResult, gate_name: str) -> str:
    """ "unconfirmed; re-run 1.37x" where the case's gate failed and its confirming re-run did not confirm it, else "".

    The gate's estimate is the first child's (trials.confirmed keeps it and makes the verdict inconclusive), so a
    row showing 0.485 beside "inconclusive" could not be reconciled without the re-run's own figure. A paired
    gate's re-runs are the case's confirm_pairs, one block per re-run, each judged alone as the trial runner did
    (the geometric mean of its per-pair ratios, ratio_interval's estimate). A solo gate's re-run was judged with
    the first children pooled, so it has no figure of its own to show.
    """
    verdict = case.verdict("gate", gate_name)
    if verdict is None or verdict.confirmation != "not confirmed":
        return ""
    gate = find_gate(gate_name)
    if gate is None or not gate.paired or not case.confirm_pairs:
        return "unconfirmed by its re-run"
    figures = []
    for block in case.confirm_pairs:
        logs = [math.log(v / r) for v, r in zip(block.variant, block.reference, strict=True) if v > 0 and r > 0]
        if logs:
            figures.append(gate.show(math.exp(statistics.fmean(logs))))
    return f"unconfirmed; re-run {', '.join(figures)}" if figures else "unconfirmed by its re-run"


def _ratio_changes(machine: str, old: CaseResult, new: CaseResult, replicates: judge.Replicates) -> list[RatioChange]:
    stored_ratios = {
        v.name: StoredRatio(v.estimate, v.low, v.high, v.n or 0)
        for v in old.gate_verdicts()
        if v.estimate is not None and v.low is not None and v.high is not None
    }
    if not stored_ratios:
        return []
    stored = BaselineEntry(metrics={}, ratios=stored_ratios, workload_key=new.workload_key, recorded={})
    changes = []
    for v in judge.judge_ratios(new.gate_verdicts(), stored, new.baseline_policy, replicates, judge.RUN_SIDES):
        assert v.estimate is not None and v.threshold is not None
        low = high = None
        moved = v.estimate / v.threshold if v.threshold else float("nan")
        direction: ChangeStatus = "not compared" if v.status == "unavailable" else (v.direction or "same")
        message = v.message
        old_logs, new_logs = old.pair_log_ratios(), new.pair_log_ratios()
        gate = find_gate(v.name)
        if gate is not None and gate.paired and old_logs and new_logs and direction != "not compared":
            interval = stats.ratio_of_ratios_interval(old_logs, new_logs, CONFIDENCE)
            moved, low, high = interval.estimate, interval.low, interval.high
            min_effect = new.baseline_policy.min_effect
            if direction != "same" and low <= 1 + min_effect and high >= 1 - min_effect:
                # Both runs' pairs, resampled each on its own, do not place the move past min_effect: the
                # line printed beside it must not say "past the noise" over an interval that holds no move.
                direction = "same"
                message = (
                    f"{v.name} {v.threshold:.3g} -> {v.estimate:.3g}: steady (moved {moved:.3f}x [{low:.3f}x, "
                    f"{high:.3f}x] from both runs' pairs, reaching within min effect {min_effect:.0%})"
                )
        reason = v.reason if direction == "unknown" else ""
        notes = unconfirmed(old, v.name), unconfirmed(new, v.name)
        changes.append(
            RatioChange(
                machine, new.key, v.name, v.threshold, v.estimate, moved, low, high, direction, message, reason, *notes
            )
        )
    return changes


def _verdict_changes(machine: str, old: CaseResult, new: CaseResult) -> list[VerdictChange]:
    changes = []
    if old.outcome != new.outcome:
        changes.append(VerdictChange(machine, new.key, "outcome", old.outcome, new.outcome))
    for v in new.verdicts:
        if v.check not in ("gate", "limit"):
            continue
        before = old.verdict(v.check, v.name)
        if before is not None and before.status != v.status:
            notes = (unconfirmed(old, v.name), unconfirmed(new, v.name)) if v.check == "gate" else ("", "")
            changes.append(VerdictChange(machine, new.key, f"{v.check} {v.name}", before.status, v.status, *notes))
    return changes


def _pair_runs(old: list[RunResult], new: list[RunResult]) -> tuple[list[tuple[str, RunResult, RunResult]], list[str]]:
    """Runs matched by machine id; one run on each side is compared even across machines (with a note)."""
    notes = []
    if len(old) == 1 and len(new) == 1:
        a, b = old[0], new[0]
        if a.machine_id != b.machine_id:
            notes.append(
                f"different machines ({a.machine_id} vs {b.machine_id}): changes include the machine's own speed"
            )
        return [(b.machine_id, a, b)], notes
    by_machine = {r.machine_id: r for r in old}
    pairs = [(r.machine_id, by_machine[r.machine_id], r) for r in new if r.machine_id in by_machine]
    for r in new:
        if r.machine_id not in by_machine:
            notes.append(f"machine {r.machine_id} is only in the new results")
    for machine in sorted(set(by_machine) - {r.machine_id for r in new}):
        notes.append(f"machine {machine} is only in the old results")
    return pairs, notes


RUNTIME_SETTINGS_SHOWN = 5  # cases whose runtime settings differ, named before "... and N more"


def environment_differences(machine: str, old: RunResult, new: RunResult) -> list[str]:
    """Everything but the code that differs between two runs: package versions, the machine's comparable
    fields (ISA flags, cores, driver), threads, workload settings and each case's runtime settings."""
    lines = [f"{machine}: {d}" for d in comparable(old.machine, new.machine)]
    lines += [f"{machine}: package {d}" for d in _dict_changes(old.packages, new.packages)]
    for field in ("threads", "devices"):
        if old.run.get(field) != new.run.get(field):
            lines.append(f"{machine}: {field}: {old.run.get(field)!r} -> {new.run.get(field)!r}")
    lines += [
        f"{machine}: workload {d}" for d in _dict_changes(old.run.get("settings") or {}, new.run.get("settings") or {})
    ]
    settings = []
    for after in new.cases:
        before = old.case(after.key)
        if before is None or before.measurement is None or after.measurement is None:
            continue
        changes = _dict_changes(  # none recorded (one-call files before 2026-11-30 19:00): compared as none set
            before.measurement.info.runtime_settings or {}, after.measurement.info.runtime_settings or {}
        )
        if changes:
            settings.append(f"{machine}: runtime settings of {after.key}: {'; '.join(changes)}")
    lines += settings[:RUNTIME_SETTINGS_SHOWN]
    if len(settings) > RUNTIME_SETTINGS_SHOWN:
        lines.append(
            f"{machine}: ... and {len(settings) - RUNTIME_SETTINGS_SHOWN} more case(s) whose runtime settings differ"
        )
    return lines


def _dict_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            changes.append(f"{key} {old[key]} removed")
        elif key not in old:
            changes.append(f"{key} {new[key]} added")
        elif old[key] != new[key]:
            changes.append(f"{key} {old[key]} -> {new[key]}")
    return changes


def _label(runs: list[RunResult]) -> str:
    return runs[0].label if len(runs) == 1 else f"lab of {len(runs)} machines ({runs[0].started[:10]})"


def compare_runs(old: list[RunResult], new: list[RunResult], history: History | None = None) -> Comparison:
    """Every measured case present in both: metric changes, gate-ratio changes, verdict changes.

    `history` (a history store) holds the machines' other runs: the between-run spread of each figure.
    """
    metrics: list[MetricChange] = []
    ratios: list[RatioChange] = []
    verdicts: list[VerdictChange] = []
    added: list[str] = []
    removed: list[str] = []
    pairs, notes = _pair_runs(old, new)
    environment: list[str] = []
    for machine, old_run, new_run in pairs:
        environment += environment_differences(machine, old_run, new_run)
        old_cases = {c.key: c for c in old_run.cases}
        new_cases = {c.key: c for c in new_run.cases}
        added += [f"{machine}: {k}" for k in new_cases if k not in old_cases and new_cases[k].measurement]
        removed += [f"{machine}: {k}" for k in old_cases if k not in new_cases and old_cases[k].measurement]
        for key, after in new_cases.items():
            before = old_cases.get(key)
            if before is None:
                continue
            verdicts += _verdict_changes(machine, before, after)
            if before.measurement is None or after.measurement is None:
                continue
            replicates = _replicates(machine, old_run, new_run, before, after, history)
            metrics += _metric_changes(machine, before, after, replicates)
            ratios += _ratio_changes(machine, before, after, replicates)
    return Comparison(
        _label(old),
        _label(new),
        tuple(metrics),
        tuple(ratios),
        tuple(verdicts),
        tuple(added),
        tuple(removed),
        tuple(notes),
        tuple(environment),
    )
