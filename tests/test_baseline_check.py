"""The baseline check's own rules, on a fake child: a regression stands only if a fresh child regresses too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.protocol import MeasureRequest


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


NO_GATES = (
    "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\naccuracy_retained = false\n"
)


def _save_baseline(root: Path, speed: float) -> None:
    session = toy_session(root, ["ref"], FakeChild({"ref": [speed]}), NO_GATES, history="off", save_baseline=True)
    for case in session.cases("toy"):
        session.run(case)
        session.records[case.key].outcome = "passed"
    lines = session.finish()
    session.close()
    assert any(line.startswith("baselines: saved 1 case(s)") for line in lines), lines


def _check(root: Path, speeds: list[float]):
    child = FakeChild({"ref": speeds})
    session = toy_session(root, ["ref"], child, NO_GATES, history="off")
    (case,) = session.cases("toy")
    record = session.run(case)
    session.close()
    return {v.name: v for v in record.verdicts if v.check == "baseline"}, record, child.requests


def test_no_baseline_is_one_unavailable_verdict_that_says_what_to_do(tmp_path):
    verdicts, _, _ = _check(tmp_path, [100.0])
    (only,) = verdicts.values()
    assert only.status == "unavailable" and "record one with --save-baseline" in only.message


def test_a_regression_the_fresh_child_repeats_is_confirmed(tmp_path):
    _save_baseline(tmp_path, 300.0)
    verdicts, record, requests = _check(tmp_path, [100.0, 100.0])
    decode = verdicts["decode_tok_per_s"]
    assert decode.status == "fail" and decode.confirmation.startswith("confirmed by re-run: decode_tok_per_s regressed")
    assert len(requests) == 2 and len(record.measurements) == 2  # the confirmation child is kept


def test_a_regression_the_fresh_child_does_not_repeat_is_inconclusive(tmp_path):
    _save_baseline(tmp_path, 300.0)
    verdicts, _, _ = _check(tmp_path, [100.0, 300.0])
    decode = verdicts["decode_tok_per_s"]
    assert decode.status == "inconclusive" and decode.confirmation == "not confirmed"
    assert " -- NOT confirmed by re-run: " in decode.message


def test_an_unchanged_figure_is_not_re_measured(tmp_path):
    _save_baseline(tmp_path, 300.0)
    verdicts, _, requests = _check(tmp_path, [300.0])
    assert verdicts["decode_tok_per_s"].status == "pass"
    assert [type(r) for r in requests] == [MeasureRequest]
