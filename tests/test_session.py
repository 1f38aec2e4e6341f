"""The session's loop, on a fake child: what one case's record holds after plan -> trials -> judge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.errors import CaseFailed
from benchharness.judge import with_steal_note

LIMITED = """
[tool.benchharness.suites.toy.gates]
accuracy_retained = false
speedup = { min = 2.0 }
memory_reduction = false
[tool.benchharness.suites.toy.limits]
load_ms = 5000
"""


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


def test_a_variant_run_alone_measures_its_reference_first_and_records_why(tmp_path):
    child = FakeChild({"fast": [300.0], "ref": [100.0]})
    session = toy_session(tmp_path, ["ref", "fast"], child, LIMITED, history="off")
    reference, variant = session.cases("toy")
    record = session.run(variant)  # as with -k fast: the reference case itself never runs
    kinds = [(v.check, v.name, v.status) for v in record.verdicts]
    assert kinds[:2] == [("gate", "speedup", "pass"), ("limit", "load_ms", "unavailable")]
    assert kinds[2][0] == "baseline"  # then the baseline check (none stored here: unavailable)
    assert record.ratios["speedup"] == pytest.approx(3.0, rel=0.01)
    assert len(record.pairs) == 1 and record.reference_measurements
    kept = session.records[reference.key]
    assert kept.outcome == "measured as reference" and kept.message == "measured as the reference of fast"
    session.close()


def test_a_reference_that_cannot_be_measured_fails_its_variant_naming_it(tmp_path):
    child = FakeChild({"fast": [300.0]}, fails=("ref",))
    session = toy_session(tmp_path, ["ref", "fast"], child, LIMITED, history="off")
    _, variant = session.cases("toy")
    with pytest.raises(CaseFailed, match=r"reference toy-ref-fake-cpu could not be measured, so no gate can be judged"):
        session.run(variant)
    session.close()


def test_heavy_steal_is_noted_on_verdicts_that_move_with_speed_only(tmp_path):
    child = FakeChild({"fast": [300.0], "ref": [100.0]})
    session = toy_session(tmp_path, ["ref", "fast"], child, LIMITED, history="off")
    _, variant = session.cases("toy")
    record = session.run(variant)
    noted = with_steal_note(record.verdicts, "hypervisor steal 30%")
    # The speed gate and the load-time limit move with stolen CPU time; "no baseline stored" does not.
    assert [(v.name, v.message.endswith("; hypervisor steal 30%")) for v in noted] == [
        ("speedup", True),
        ("load_ms", True),
        ("no-baseline", False),
    ]
    session.close()
