"""The run's case records (benchharness/records.py): a deselected reference measured for its variants says so."""

from __future__ import annotations

from child_facts import child_info

from benchharness.matrix import Case
from benchharness.readings import Measurement, Reading
from benchharness.records import AS_REFERENCE, Records


def _case(variant: str) -> Case:
    return Case("s", "m", variant, "llamacpp", "cpu", reference="f32")


def _measurement(decode: float) -> Measurement:
    return Measurement(
        "m-f32", {"decode_tok_per_s": Reading("decode_tok_per_s", "tok/s", decode, 1.0, 6)}, info=child_info()
    )


def test_a_deselected_reference_names_each_variant_it_was_measured_for_once():
    records = Records()
    first, again = _measurement(100.0), _measurement(90.0)
    records.reference_measured(_case("f32"), _case("q4_0"), first)
    records.reference_measured(_case("f32"), _case("q8_0"), again)
    records.reference_measured(_case("f32"), _case("q4_0"), again)
    kept = records[_case("f32").key]
    assert kept.outcome == AS_REFERENCE
    assert kept.message == "measured as the reference of q4_0, q8_0"
    assert kept.measurement is first and kept.measurements == [first]  # the first child is the yardstick
    assert records.reference_measurement(_case("q8_0")) is first
    assert records.reference_measurement(_case("f32")) is None  # a reference has no reference


def test_a_selected_reference_keeps_its_own_outcome_and_measurement():
    records = Records()
    own = records.of(_case("f32"))
    own.measurement, own.outcome = _measurement(100.0), "passed"
    records.reference_measured(_case("f32"), _case("q4_0"), _measurement(80.0))
    assert own.outcome == "passed" and own.message is None and own.measurement.value("decode_tok_per_s") == 100.0


def test_a_run_that_measured_nothing_and_failed_nothing_writes_nothing():
    records = Records()
    records.of(_case("q4_0")).outcome = "skipped"
    assert not records.anything_to_write()
    records.of(_case("q8_0")).outcome = "failed"
    assert records.anything_to_write()
    assert records.reference_measurement(_case("q4_0")) is None  # its reference never ran
