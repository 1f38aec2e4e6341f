import pytest

from benchharness.gates import GateRule, judge_gates, override_minimums, stale_known_breaches
from benchharness.readings import Measurement, Reading


def measurement(top1=0.5, decode=100.0, rss=100.0 * 2**20, **unavailable):
    values = {"top1_accuracy": top1, "decode_tok_per_s": decode, "peak_rss_bytes": rss}
    readings = {}
    for name, value in values.items():
        if name in unavailable:
            readings[name] = Reading.unavailable(name, "", unavailable[name])
        else:
            readings[name] = Reading(name, "", value)
    return Measurement("case", readings)


RULES = (GateRule("accuracy_retained", 0.95), GateRule("speedup", 2.0), GateRule("memory_reduction", 0.5))


def test_all_gates_pass_for_a_good_variant():
    ref = measurement(top1=0.50, decode=50, rss=600 * 2**20)
    var = measurement(top1=0.49, decode=120, rss=200 * 2**20)
    verdicts = judge_gates(var, ref, quant="q4", reference_label="f32", rules=RULES)
    assert [v.status for v in verdicts] == ["pass", "pass", "pass"]
    assert verdicts[1].value == pytest.approx(2.4)


def test_breach_message_names_metric_value_threshold_and_reference():
    ref = measurement(decode=50.0)
    var = measurement(decode=85.0)
    (verdict,) = judge_gates(var, ref, quant="f16", reference_label="f32", rules=(GateRule("speedup", 2.0),))
    assert verdict.status == "breach" and verdict.unexpected_breach
    assert "speedup 1.70x" in verdict.message and "min 2.00x" in verdict.message
    assert "85.0 tok/s" in verdict.message and "reference f32 50.0 tok/s" in verdict.message


def test_rules_apply_only_to_their_quants_and_known_breaches_are_marked():
    rule = GateRule("speedup", 2.0, quants=("f16",), known_breaches=("f16",))
    ref, var = measurement(decode=50), measurement(decode=60)
    assert judge_gates(var, ref, quant="q8_0", reference_label="f32", rules=(rule,)) == []
    (verdict,) = judge_gates(var, ref, quant="f16", reference_label="f32", rules=(rule,))
    assert verdict.status == "breach" and verdict.known and not verdict.unexpected_breach


def test_stale_known_breach_is_reported():
    rule = GateRule("speedup", 2.0, known_breaches=("f16",))
    verdicts = judge_gates(
        measurement(decode=150), measurement(decode=50), quant="f16", reference_label="f32", rules=(rule,)
    )
    assert stale_known_breaches("f16", (rule,), verdicts)


def test_missing_figure_is_unavailable_not_pass():
    ref = measurement()
    var = measurement(top1_accuracy="scoring failed")
    (verdict,) = judge_gates(var, ref, quant="q4", reference_label="f32", rules=(GateRule("accuracy_retained", 0.95),))
    assert verdict.status == "unavailable" and "scoring failed" in verdict.message


def test_memory_reduction_is_one_minus_ratio():
    ref, var = measurement(rss=400.0), measurement(rss=100.0)
    (verdict,) = judge_gates(var, ref, quant="q4", reference_label="f32", rules=(GateRule("memory_reduction", 0.5),))
    assert verdict.value == pytest.approx(0.75)


def test_command_line_override():
    original = GateRule("speedup", 2.0, ("f16", "q4_1"), known_breaches=("f16",), borderline=("q4_1",))
    (rule,) = override_minimums((original,), {"speedup": 1.5})
    assert rule == GateRule("speedup", 1.5, ("f16", "q4_1"), known_breaches=("f16",), borderline=("q4_1",))
    assert override_minimums((original,), {}) == (original,)


def test_borderline_breach_is_expected_but_a_pass_is_not_stale():
    rule = GateRule("speedup", 2.0, borderline=("q4_1",))
    (breach,) = judge_gates(
        measurement(decode=90), measurement(decode=50), quant="q4_1", reference_label="f32", rules=(rule,)
    )
    assert breach.status == "breach" and breach.known and "borderline" in breach.message
    verdicts = judge_gates(
        measurement(decode=110), measurement(decode=50), quant="q4_1", reference_label="f32", rules=(rule,)
    )
    assert verdicts[0].status == "pass" and stale_known_breaches("q4_1", (rule,), verdicts) == []


def test_table_marks_borderline_and_known_breaches():
    from benchharness.matrix import Case
    from benchharness.report.terminal import table
    from benchharness.results import CaseRecord

    rules = (GateRule("speedup", 2.0, known_breaches=("f16",), borderline=("q4_1",)),)
    rows = {}
    for quant in ("f16", "q4_1", "q4_0"):
        var = measurement(decode=90)
        record = CaseRecord(Case("s", "m", quant, "b", "cpu", "f32"), "xfailed", var, {"speedup": 1.8})
        record.verdicts = judge_gates(var, measurement(decode=50), quant=quant, reference_label="f32", rules=rules)
        rows[quant] = next(line for line in table([record]) if line.startswith("m-"))
    assert "1.80 KNOWN" in rows["f16"] and "1.80 BORDER" in rows["q4_1"] and "1.80 FAIL" in rows["q4_0"]
