"""The trial runner's own rules, on a fake child: how many children a case gets, and which failures stand.

Real children and real figures are the end-to-end tests' job (tests/test_e2e_*.py); here the figures are
planted, so each rule is checked exactly: one block of pairs for a decisive gate, more blocks while the
speed gate straddles its line (up to max_pairs), a failure confirmed only when the re-run fails too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.judge import GateEvidence
from benchharness.kinds import kind
from benchharness.protocol import MeasureRequest, PairedRequest
from benchharness.settings import TrialSettings
from benchharness.trials import Budget


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


def _judge(tmp_path: Path, child: FakeChild, policy: str | None = None):
    session = toy_session(tmp_path, ["ref", "fast"], child, **({"policy": policy} if policy else {}), history="off")
    _, variant = session.cases("toy")
    plan = session.planner.plan(variant)
    runner = session.runner
    evidence = GateEvidence(
        label="fast",
        reference_label="ref",
        kind=kind(variant.kind),
        variant=(runner.solo(plan),),
        reference=(runner.solo(plan.reference()),),
    )
    done = runner.judge_gates(plan, evidence, Budget(None))
    return {v.name: v for v in done.verdicts}, done, child.requests


def test_a_decisive_gate_takes_one_block_of_pairs(tmp_path):
    verdicts, done, requests = _judge(
        tmp_path, FakeChild({"fast": [300.0], "ref": [100.0]}, {"fast": [1.0e6], "ref": [4.0e6]})
    )
    assert verdicts["speedup"].status == "pass" and verdicts["memory_reduction"].status == "pass"
    assert [type(r) for r in requests] == [MeasureRequest, MeasureRequest, PairedRequest]
    assert len(done.evidence.pairs) == 1 and not done.confirm_pairs


def test_a_straddling_speed_gate_buys_blocks_until_max_pairs(tmp_path):
    # Exactly on the line: every block's interval straddles 2.0x, so blocks are bought until max_pairs (24 / 6).
    verdicts, done, requests = _judge(
        tmp_path, FakeChild({"fast": [200.0], "ref": [100.0]}, {"fast": [1.0e6], "ref": [4.0e6]})
    )
    assert verdicts["speedup"].status == "inconclusive"
    settings = TrialSettings()
    blocks = settings.max_pairs // settings.pairs
    assert len(done.evidence.pairs) == blocks and sum(isinstance(r, PairedRequest) for r in requests) == blocks
    # Blocks alternate which side goes first (A-B-B-A across blocks).
    assert [r.first for r in requests if isinstance(r, PairedRequest)] == ["variant", "reference"] * (blocks // 2)


def test_a_speed_failure_is_confirmed_by_a_fresh_block(tmp_path):
    verdicts, done, _ = _judge(
        tmp_path, FakeChild({"fast": [50.0, 40.0], "ref": [100.0]}, {"fast": [1.0e6], "ref": [4.0e6]})
    )
    speed = verdicts["speedup"]
    assert speed.status == "fail" and speed.confirmation.startswith("confirmed by re-run: speedup 0.40x")
    assert len(done.confirm_pairs) == 1 and len(done.evidence.pairs) == 1  # judged on the first block only


def test_a_speed_failure_the_rerun_does_not_repeat_is_inconclusive(tmp_path):
    verdicts, _, _ = _judge(
        tmp_path, FakeChild({"fast": [50.0, 300.0], "ref": [100.0]}, {"fast": [1.0e6], "ref": [4.0e6]})
    )
    speed = verdicts["speedup"]
    assert speed.status == "inconclusive" and speed.confirmation == "not confirmed"
    assert " -- NOT confirmed by re-run: speedup 3.00x" in speed.message


def test_a_memory_failure_is_confirmed_by_one_more_solo_child_of_each_side(tmp_path):
    child = FakeChild({"fast": [300.0], "ref": [100.0]}, {"fast": [3.0e6], "ref": [4.0e6]})
    verdicts, done, requests = _judge(tmp_path, child)
    memory = verdicts["memory_reduction"]
    assert memory.status == "fail" and memory.confirmation.startswith("confirmed by re-run: memory reduction 25%")
    assert len(done.evidence.variant) == 2 and len(done.evidence.reference) == 2
    solo = [r for r in requests if isinstance(r, MeasureRequest)]
    assert [r.score_accuracy for r in solo] == [True, True, False, False]  # the re-runs skip the accuracy task


def test_accuracy_is_never_re_measured(tmp_path):
    policy = "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\naccuracy_retained = { min = 0.95 }\n"
    child = FakeChild({"fast": [300.0], "ref": [100.0]}, accuracy={"fast": 0.4, "ref": 0.6})
    verdicts, _, requests = _judge(tmp_path, child, policy)
    accuracy = verdicts["accuracy_retained"]
    assert accuracy.status == "fail" and accuracy.confirmation == "deterministic: a re-run scores the same"
    assert len(requests) == 2  # the two solo children: no confirmation


def test_the_full_solo_measurement_is_memoised(tmp_path):
    child = FakeChild({"fast": [300.0], "ref": [100.0]})
    session = toy_session(tmp_path, ["ref", "fast"], child, history="off")
    _, variant = session.cases("toy")
    plan = session.planner.plan(variant)
    first = session.runner.solo(plan)
    assert session.runner.solo(plan) is first and len(child.requests) == 1
    session.runner.solo(plan, accuracy=False)  # a confirmation child is always fresh
    assert len(child.requests) == 2
