"""Results of several lab machines into one set of runs: one run per machine, newest wins."""

from __future__ import annotations

from collections.abc import Sequence

from benchharness.results import RunResult


def merge_runs(runs: Sequence[RunResult]) -> tuple[list[RunResult], list[str]]:
    """One run per machine id (the newest by start time), in machine order, and notes on what was left out.

    Cases are keyed by machine and suite::case downstream, so two machines never mix, and two
    suites sharing a case id on one machine stay apart.
    """
    newest: dict[str, RunResult] = {}
    notes = []
    for run in runs:
        kept = newest.get(run.machine_id)
        if kept is None:
            newest[run.machine_id] = run
            continue
        older, newer = sorted((kept, run), key=lambda r: r.started)
        if older.started == newer.started:
            notes.append(
                f"{run.source} repeats the run of {run.machine_id} at {run.started} from {kept.source}; kept once"
            )
        else:
            notes.append(
                f"{older.source}: an older run of {run.machine_id} ({older.started}); the newer one ({newer.started}) is used"
            )
        newest[run.machine_id] = newer
    return [newest[m] for m in sorted(newest)], notes
