"""The baseline check: a case's figures against this machine's stored baseline and its earlier runs.

It reads the baseline file (baselines.py) and the history store (history/), and asks the pure judge
(judge.judge_baseline, judge.judge_ratios, judge.across_runs) for verdicts. A regression is confirmed
by one fresh child (trials.confirmed, the rule gates use too) before it fails a case. It writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchharness import baselines, judge
from benchharness.baseline_entry import NO_BASELINE, WHOLE_BASELINE, BaselineEntry
from benchharness.cli_options import Options
from benchharness.errors import BenchHarnessError, MachineMismatch
from benchharness.gates import gate_named
from benchharness.history import store as history_store
from benchharness.judge import Verdict
from benchharness.plan import CasePlan
from benchharness.readings import Measurement
from benchharness.settings import Settings
from benchharness.trials import confirmed

HISTORY_RUNS = 20  # the latest runs of this machine a figure's between-run spread is learnt from
Progress = Callable[[str], None]


class BaselineCheck:
    """Compares each case with the baseline of this machine (or the one named) and the machine's history."""

    def __init__(self, settings: Settings, options: Options, machine: dict[str, Any], progress: Progress) -> None:
        self.settings = settings
        self.options = options
        self.machine = machine
        self.progress = progress
        self._baseline: dict[str, Any] | BenchHarnessError | None = None
        self._baseline_loaded = False
        self._history_store: history_store.HistoryStore | bool | None = None  # False: none to read

    # -- the stored side ------------------------------------------------------------------------
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

    def no_baseline_fix(self) -> str:
        """What to do when no baseline is stored: record one, or name another machine's file."""
        fix = "; record one with --save-baseline"
        if self.options.baseline_any_machine and not self.baseline_file().is_file():
            others = sorted(p.name for p in self.settings.baselines_dir.glob("*.json"))
            fix += f", or name another machine's file with --baseline-file (here: {', '.join(others) or 'none'})"
        return fix

    def baseline_file(self) -> Path:
        """The baseline file this run compares with: --baseline-file, else this machine's own."""
        return self.options.baseline_file or baselines.baseline_path(self.settings.baselines_dir, self.machine["id"])

    def entry(self, key: str) -> BaselineEntry | None:
        """The stored entry of a case key, or None. Raises MachineMismatch or StoreError for a file it must not use."""
        stored = self._stored_baseline()
        data = None if stored is None else stored["cases"].get(key)
        return None if data is None else BaselineEntry.from_dict(data)

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

    def close(self) -> None:
        if isinstance(self._history_store, history_store.HistoryStore):
            self._history_store.close()
        self._history_store = None

    # -- gates held against earlier runs --------------------------------------------------------
    def across_runs(self, plan: CasePlan, verdicts: Sequence[Verdict]) -> list[Verdict]:
        """Each decisive gate a re-run can confirm (Gate.confirmable) held against its ratio in this machine's
        earlier runs (judge.across_runs).

        Measured figures move with the machine between runs; accuracy is deterministic (a re-run scores the same).
        """
        confirmable = [v.name for v in verdicts if gate_named(v.name).confirmable]
        earlier = self._earlier_gate_ratios(plan.case.key, confirmable)
        return [judge.across_runs(v, earlier.get(v.name, ())) for v in verdicts]

    def _earlier_gate_ratios(self, key: str, gates: Sequence[str]) -> dict[str, list[float]]:
        """Each gate's ratio in this machine's earlier runs of the case (the history store), oldest first."""
        store = self._history()
        if store is None:
            return {}
        try:  # every gate of the case in one read (HistoryStore.series_many), not one query per gate
            points = store.series_many(self.machine["id"], key, [f"gate:{g}" for g in gates], HISTORY_RUNS)
        except BenchHarnessError:
            return {}
        return {gate: [p.value for p in points[f"gate:{gate}"]] for gate in gates}

    def _earlier_runs(self, key: str, entry: BaselineEntry) -> judge.Replicates:
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
        try:  # every figure of the case in one read (HistoryStore.series_many), not one query per figure
            series = store.series_many(self.machine["id"], key, names, HISTORY_RUNS)
        except BenchHarnessError:
            return judge.Replicates()
        before: dict[str, list[float]] = {}
        for name in names:
            own = entry.metrics[name].value if name in entry.metrics else entry.ratios[name[5:]].estimate
            before[name] = [
                p.value for p in series[name] if p.value > 0 and (p.started != started if started else p.value != own)
            ]
        return judge.Replicates(before)

    # -- one case -------------------------------------------------------------------------------
    def verdicts(
        self,
        plan: CasePlan,
        measurement: Measurement,
        gate_verdicts: Sequence[Verdict],
        reference: Measurement | None,
        remeasure: Callable[[], Measurement],
    ) -> list[Verdict]:
        """The case's baseline verdicts: each tracked figure, then each gate ratio, against the stored baseline.

        `reference` is the case's reference as measured this run (how far the machine moved, for a
        variant); `remeasure` measures the case again in a fresh child (no accuracy) to confirm a
        regression. No baseline, or one of another machine: one "unavailable" verdict saying why and what to do.
        """
        case = plan.case
        if self.options.save_baseline:
            message = "recording a new baseline (--save-baseline); not compared"
            return [Verdict("baseline", "baseline", "unavailable", message)]
        if not self.options.compare_baseline:
            return []
        try:
            entry = self.entry(case.key)
        except MachineMismatch as e:
            return [Verdict("baseline", "baseline", "unavailable", str(e))]
        if entry is None:
            message = f"no baseline for {case.key} in {self.baseline_file()}{self.no_baseline_fix()}"
            return [Verdict("baseline", NO_BASELINE, "unavailable", message)]
        workload_key = dict(plan.workload_key)
        moves = self._reference_moves(plan, reference)
        earlier = self._earlier_runs(case.key, entry)
        verdicts = judge.judge_baseline(measurement, entry, workload_key, plan.baseline, moves, earlier)
        if any(v.status == "fail" for v in verdicts) and self.settings.trials.confirm:
            self.progress(f"{case.id}: regression against the baseline; confirming in a fresh child")
            again = remeasure()
            # The fresh child is judged with the first one beside it, as two children of this run.
            children = {n: [x] for n in entry.metrics if (x := measurement.value(n)) is not None and x > 0}
            both = judge.Replicates(earlier.before, children)
            rerun = {v.name: v for v in judge.judge_baseline(again, entry, workload_key, plan.baseline, moves, both)}
            verdicts = [self._confirmed(v, rerun.get(v.name)) for v in verdicts]
        return verdicts + judge.judge_ratios(gate_verdicts, entry, plan.baseline, earlier)

    @staticmethod
    def _confirmed(verdict: Verdict, rerun: Verdict | None) -> Verdict:
        """A regression stands only if the fresh child regresses too (accuracy: deterministic, not re-measured)."""
        if verdict.status != "fail":
            return verdict
        if rerun is None or rerun.status == "unavailable":
            return verdict.with_confirmation("deterministic: not re-measured without the accuracy task")
        return confirmed(verdict, [rerun])

    def _reference_moves(self, plan: CasePlan, reference: Measurement | None) -> dict[str, float]:
        """How far the reference moved against its own baseline, per metric (for 'machine moved')."""
        if plan.case.is_reference or reference is None:
            return {}
        entry = self.entry(plan.reference().case.key)
        if entry is None:
            return {}
        moves = {}
        for name, old in entry.metrics.items():
            now = reference.value(name)
            if now is not None and old.value:
                moves[name] = (now - old.value) / abs(old.value)
        return moves

    # -- the run's summary ----------------------------------------------------------------------
    def summary_lines(self, verdicts_by_case: Sequence[tuple[str, Sequence[Verdict]]]) -> list[str]:
        """Why a baseline was not compared, said in the terminal too (not only in the JSON), once per reason."""
        if self.options.save_baseline:
            return []
        reasons: dict[str, list[str]] = {}
        compared = 0
        for case_id, all_verdicts in verdicts_by_case:
            verdicts = [v for v in all_verdicts if v.check == "baseline"]
            whole = [v for v in verdicts if v.status == "unavailable" and v.name in WHOLE_BASELINE]
            if whole and whole[0].name == NO_BASELINE:
                message = f"none stored in {self.baseline_file()}{self.no_baseline_fix()}"
                reasons.setdefault(message, []).append(case_id)
            elif whole:
                reasons.setdefault(whole[0].message, []).append(case_id)
            elif verdicts:
                compared += 1
        lines = [f"baseline: compared {compared} case(s) with {self.baseline_file()}"] if compared else []
        for message, ids in reasons.items():
            lines.append(
                f"baseline not compared for {len(ids)} case(s) ({ids[0]}{', ...' if len(ids) > 1 else ''}): {message}"
            )
        return lines
