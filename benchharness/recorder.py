"""The recorder: what a finished run leaves behind (results, pytest-benchmark JSON, history, report, baselines).

Each step fails alone, in one line, and the others still happen: an unwritable history store or a
full results folder never costs the report of an hour's measurements. A step the user asked for that
fails lands in `unwritten`, which fails the run (exit 1); baselines are saved only when asked and no
case failed, so a failing run never touches them.
"""

from __future__ import annotations

import errno
import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchharness import baselines
from benchharness.cli_options import Options
from benchharness.errors import BenchHarnessError, StoreError
from benchharness.history import store as history_store
from benchharness.machine import git_commit, package_versions
from benchharness.meters.noise import Noise
from benchharness.plan import CasePlan
from benchharness.records import AS_REFERENCE, CaseRecord
from benchharness.report import html
from benchharness.report.targets import target_lines
from benchharness.results import RunResult
from benchharness.results_writer import pytest_benchmark_document, results_document, results_path, write_results
from benchharness.settings import Settings
from benchharness.storage import new_folder_note, write_json_atomic

if TYPE_CHECKING:  # the runner is only read here; importing it would pull the child's side into the recorder
    from benchharness.trial_runner import TrialRunner


class Recorder:
    """Writes a run's files; `unwritten` names each file asked for that could not be written."""

    def __init__(self, settings: Settings, options: Options, machine: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        self.machine = machine
        self.unwritten: list[str] = []
        self.result: RunResult | None = None  # the run as written, read back: what the terminal summary shows

    def run_header(
        self, started: str, threads: int, run_key: dict[str, Any], runner: TrialRunner, noise: Noise | None
    ) -> dict[str, Any]:
        """The results file's `run`: when, where, with what, and what the run cost (results_writer.results_document)."""
        machine = dict(self.machine)
        if runner.faulted:  # what this machine advertises but could not run, so a lab tells its hosts apart
            machine["faulted_paths"] = [asdict(f) for f in runner.faulted.values()]
        commit = git_commit(self.settings.root)
        return {
            "started": started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine,
            "packages": package_versions(),
            "git_commit": commit.id,
            "git_none": commit.why_none,  # why there is no commit (RunResult.label says it); "" with one
            "threads": threads,
            "devices": list(self.options.devices),
            "settings": run_key,
            "trials": asdict(self.settings.trials),
            "time_budget_s": self.options.time_budget_s,
            "cost": runner.cost.summary(),
            "noise": None if noise is None else noise.info(),
            "bandwidth": None if runner.bandwidth is None else runner.bandwidth.to_dict(),
        }

    def record(
        self,
        run: dict[str, Any],
        cases: Sequence[CaseRecord],
        plans: Callable[[CaseRecord], CasePlan],
        baseline_lines: Callable[[], list[str]],
    ) -> list[str]:
        """Write results, pytest-benchmark JSON, history and report (and baselines if asked); one line each.

        `run` is the run's header (results_writer.results_document's `run`), `cases` every case of the run,
        `plans` each case's plan (its workload key and baseline policy go into the results), and
        `baseline_lines` the baseline check's summary, printed after the results lines.
        """
        lines: list[str] = []
        for record in cases:
            if record.outcome == "pending":  # selected, never reached: an interrupt, -x, a time limit
                record.outcome, record.message = "not run", "the run ended before this case"
            plan = plans(record)
            record.workload_key = dict(plan.workload_key)
            record.baseline_policy = plan.baseline
        path = results_path(self.settings.results_dir)
        bench_path = path.with_name(path.stem + ".pytest-benchmark.json")
        document = results_document(run, list(cases))
        written = self._step("results", "NOT written", lambda: f"results: {write_results(path, document)}")

        def write_benchmark() -> str:
            write_json_atomic(bench_path, pytest_benchmark_document(run, list(cases)))
            return f"pytest-benchmark format: {bench_path.name}"

        benchmark = self._step("pytest-benchmark JSON", "NOT written", write_benchmark)
        both_written = not {"results", "pytest-benchmark JSON"} & set(self.unwritten)
        lines += [f"{written} ({benchmark})"] if both_written else [written, benchmark]
        lines += baseline_lines()
        # In JSON's own form (tuples become lists), exactly as a reader of the results file would see it.
        stored = self.result = RunResult.from_dict(json.loads(json.dumps(document)), str(path))
        answers: list[str] = []

        def answer_targets() -> str:
            answers.extend(target_lines([stored], list(self.settings.targets.values())))
            return ""

        failed = self._step("target recommendation", "NOT made", answer_targets, asked=False)
        lines += [failed] if failed else answers
        lines += self._history_and_report(path, stored)
        if self.options.save_baseline:
            lines.append(self._step("baselines", "NOT saved", lambda: self._save_baselines(cases, run, plans)))
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
            note = new_folder_note(path)
            html.write_report(path, [run], store, targets=tuple(self.settings.targets.values()))
            if self.options.report is None:
                shutil.copyfile(path, self.settings.results_dir / "latest.html")
            return f"report: {path}{note}"

        try:
            lines.append(self._step("report", "NOT written", write_report))
        finally:
            for opened in stores:
                opened.close()
        return lines

    def _save_baselines(
        self, records: Sequence[CaseRecord], run: dict[str, Any], plans: Callable[[CaseRecord], CasePlan]
    ) -> str:
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
            if r.measurement is not None and r.outcome in ("passed", "xfailed", "xpassed", AS_REFERENCE)
        ]
        entries = {}
        loaded: list[str] = []
        for r in kept:
            assert r.measurement is not None
            plan = plans(r)
            load = r.measurement.value("outside_cpu_load")
            limit = plan.baseline.max_outside_load
            if load is not None and load > limit:
                loaded.append(f"{r.case.id} {load:.0%} > {limit:.0%}")
            stamp = recorded | {"outside_cpu_load": load, "max_outside_load": limit}
            entries[r.case.key] = baselines.entry(r.measurement, dict(plan.workload_key), stamp, r.stored_ratios())
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
