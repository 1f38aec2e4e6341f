"""The recorder's own rules, on a fake child: each file is a step that fails alone, in one line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.results import RunResult

NO_GATES = (
    "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\naccuracy_retained = false\n"
)


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


def _run(root: Path, outcome: str = "passed", **options: object) -> tuple[list[str], list[str]]:
    session = toy_session(root, ["ref"], FakeChild({"ref": [100.0]}), NO_GATES, **options)
    for case in session.cases("toy"):
        session.run(case)
        session.records[case.key].outcome = outcome
    lines = session.finish()
    session.close()
    return lines, session.recorder.unwritten


def test_a_run_writes_results_that_load_back_history_and_report(tmp_path):
    lines, unwritten = _run(tmp_path)
    assert not unwritten
    (results,) = (tmp_path / "reports").glob("results-*[0-9].json")
    run = RunResult.from_dict(json.loads(results.read_text()), str(results))
    assert [c.case.id for c in run.cases] == ["toy-ref-fake-cpu"]
    assert any(line.startswith("history: 1 run(s) of this machine") for line in lines)
    assert (tmp_path / "reports" / "latest.html").is_file()


def test_a_failing_run_never_touches_baselines(tmp_path):
    lines, unwritten = _run(tmp_path, outcome="failed", save_baseline=True, history="off")
    assert "baselines" in unwritten
    assert any("baselines NOT saved: 1 case(s) failed" in line for line in lines)
    assert not (tmp_path / "baselines").exists() or not list((tmp_path / "baselines").glob("*.json"))


def test_an_unwritable_history_named_by_the_user_fails_the_run_and_the_report_is_still_written(tmp_path):
    blocker = tmp_path / "blocked"
    blocker.write_text("a file, not a folder")
    lines, unwritten = _run(tmp_path, history=str(blocker / "history.sqlite"))
    assert unwritten == ["history"]
    assert any(line.startswith("history NOT appended: ") for line in lines)
    assert any(line.startswith("report: ") for line in lines)
