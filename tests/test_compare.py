"""`compare` on typed runs: the baseline check's own rule decides, with intervals on top."""

from run_documents import case, run

from benchharness.compare import compare_runs
from benchharness.report.compare_view import terminal_summary
from benchharness.results import RunResult

SPEEDUP_PASS = {"speedup": ("pass", 2.6, 2.5, 2.7)}


def runs(old_cases, new_cases, old_machine="lab-a", new_machine="lab-a"):
    old = RunResult.from_dict(run(old_cases, old_machine), "old.json")
    new = RunResult.from_dict(run(new_cases, new_machine, started="2026-11-25T10:00:00+00:00"), "new.json")
    return [old], [new]


def change(comparison, metric):
    return next(m for m in comparison.metrics if m.metric == metric)


def test_a_real_slowdown_is_a_regression_with_an_interval_that_excludes_zero():
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)]))
    decode = change(comparison, "decode_tok_per_s")
    assert decode.status == "regressed"
    assert decode.change is not None and -0.22 < decode.change < -0.18
    assert decode.low is not None and decode.high is not None and decode.low <= decode.change <= decode.high < 0
    assert "Mann-Whitney" in decode.message  # the baseline check's own wording: the same rule decided
    assert comparison.regressions and not comparison.improvements


def test_noise_is_not_a_change_and_the_summary_lists_only_what_changed():
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 151.0, seed=1)]))
    assert change(comparison, "decode_tok_per_s").status == "same"
    assert not comparison.changed
    assert terminal_summary(comparison)[-1].startswith("no change past the noise")


def test_a_gate_ratio_that_moved_gets_a_ratio_of_ratios_interval():
    old = case("q4_0", 150.0, gates=SPEEDUP_PASS, pair_ratio=3.0)
    new = case("q4_0", 100.0, gates={"speedup": ("pass", 2.0, 1.95, 2.05)}, pair_ratio=2.0, seed=1)
    comparison = compare_runs(*runs([old], [new]))
    speedup = next(r for r in comparison.ratios if r.gate == "speedup")
    assert speedup.status == "regressed"
    assert speedup.low is not None and speedup.high is not None
    assert speedup.low <= speedup.moved <= speedup.high < 0.75  # 2.0 / 3.0 = 0.67


def test_verdicts_that_flip_and_cases_added_or_removed_are_listed():
    old = [case("q4_0", 150.0, gates=SPEEDUP_PASS), case("q8_0", 120.0)]
    new = [case("q4_0", 150.0, gates={"speedup": ("fail", 1.8, 1.7, 1.9)}, outcome="failed"), case("q4_k_m", 140.0)]
    comparison = compare_runs(*runs(old, new))
    flipped = {(v.name, v.old, v.new) for v in comparison.verdicts}
    assert ("gate speedup", "pass", "fail") in flipped and ("outcome", "passed", "failed") in flipped
    assert comparison.added == ("lab-a: llm::smollm2-135m-q4_k_m-llamacpp-cpu",)
    assert comparison.removed == ("lab-a: llm::smollm2-135m-q8_0-llamacpp-cpu",)


def test_different_workload_settings_are_not_compared():
    changed = case("q4_0", 100.0)
    changed["settings"] = {"gen_tokens": 16}
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [changed]))
    assert [m.status for m in comparison.metrics] == ["not compared"]
    assert "different workload settings (gen_tokens)" in comparison.metrics[0].message


def test_two_single_runs_on_different_machines_are_compared_with_a_note():
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 150.0)], new_machine="lab-b"))
    assert comparison.notes and "different machines (lab-a vs lab-b)" in comparison.notes[0]
