"""The judge is pure: synthetic measurements with known answers in, verdicts with evidence out."""

from dataclasses import replace

import pytest
from child_facts import child_info

from benchharness import judge, kinds
from benchharness.baseline_entry import BaselineEntry, StoredMetric, StoredRatio
from benchharness.gates import GateRule
from benchharness.judge import GateEvidence
from benchharness.meters.guards import GuardReading
from benchharness.protocol import PairedTiming
from benchharness.readings import Measurement, Reading
from benchharness.settings import BaselineSettings

LM = kinds.kind("causal-lm")
RULES = (GateRule("accuracy_retained", 0.95), GateRule("speedup", 2.0), GateRule("memory_reduction", 0.5))
NO_GUARD = GuardReading()


def measurement(hits, rss=100.0 * 2**20, decode=100.0, samples=None, **info):
    if samples:  # the reading is the mean of its rounds, as timing_readings makes it
        decode = sum(samples) / len(samples)
    readings = {
        "peak_rss_bytes": Reading("peak_rss_bytes", "B", rss + 200 * 2**20),  # Python and the runtime too
        "model_memory_bytes": Reading("model_memory_bytes", "B", rss),
        "decode_tok_per_s": Reading("decode_tok_per_s", "tok/s", decode, 1.0, 6),
        "top1_accuracy": Reading("top1_accuracy", "fraction", sum(hits) / len(hits), 0.0, len(hits)),
    }
    round_samples = {"top1_correct_per_token": [float(h) for h in hits]}
    if samples:
        round_samples["decode_tok_per_s"] = samples
    return Measurement("case", readings, info=child_info(**info), round_samples=round_samples)


def pairs(variant, reference, **guards):
    return PairedTiming(
        "case",
        "decode_tok_per_s",
        tuple(variant),
        tuple(reference),
        ("VR",) * len(variant),
        guards.get("start", NO_GUARD),
        guards.get("end", NO_GUARD),
        1.0,
    )


def evidence(var, ref, paired=(), label="q4"):
    return GateEvidence(label, "f32", LM, [var], [ref], paired)


REF_HITS = [1] * 90 + [0] * 110


def test_clear_variant_passes_every_gate_with_evidence():
    ref = measurement(REF_HITS, rss=600 * 2**20)
    var = measurement(REF_HITS, rss=200 * 2**20)
    p = pairs([150, 152, 149, 151, 150, 148], [50, 50.5, 49.8, 50.2, 50, 49.9])
    verdicts = judge.judge_gates(RULES, evidence(var, ref, [p]), 0.95)
    assert [v.status for v in verdicts] == ["pass", "pass", "pass"]
    speed = verdicts[1]
    assert speed.estimate == pytest.approx(3.0, rel=0.02) and speed.low <= speed.estimate <= speed.high
    assert speed.n == 6 and "bootstrap" in speed.rule
    assert speed.message.startswith("speedup 3.0") and "(min 2.00x, 6 pairs): pass" in speed.message


def test_message_carries_estimate_interval_pairs_and_rule():
    p = pairs([95, 97, 96, 95, 96, 97, 95, 96, 97, 96, 95, 96, 97, 95], [50.0] * 14)
    (v,) = judge.judge_gates(
        [GateRule("speedup", 2.0)], evidence(measurement(REF_HITS), measurement(REF_HITS), [p]), 0.95
    )
    assert v.status == "fail"
    assert v.message.startswith("speedup 1.92x [1.9") and "(min 2.00x, 14 pairs): fail" in v.message


def test_straddling_interval_is_inconclusive_not_a_flip():
    p = pairs([90, 110, 95, 105, 100, 98], [50.0] * 6)
    (v,) = judge.judge_gates(
        [GateRule("speedup", 2.0)], evidence(measurement(REF_HITS), measurement(REF_HITS), [p]), 0.95
    )
    assert v.status == "inconclusive" and v.low < 2.0 <= v.high


def test_accuracy_retention_is_paired_over_items():
    worse = [1] * 80 + [0] * 120  # 80/90 = 88.9% retained
    (v,) = judge.judge_gates(
        [GateRule("accuracy_retained", 0.95)], evidence(measurement(worse), measurement(REF_HITS)), 0.95
    )
    assert v.status in ("fail", "inconclusive") and v.estimate == pytest.approx(80 / 90)
    assert "200 items" in v.message and "top-1 40.00% vs reference f32 45.00%" in v.message


def test_declared_prompts_make_the_accuracy_gate_judge_exact_answers_not_top1():
    """A team's prompts with answers are its downstream task: the gate keeps their exact answers, paired per prompt."""
    ref, var = measurement(REF_HITS), measurement(REF_HITS)  # next-token top-1 unchanged...
    ref.round_samples["answer_exact_per_item"] = [1.0] * 20 + [0.0] * 20
    var.round_samples["answer_exact_per_item"] = [1.0] * 10 + [0.0] * 30  # ...but half the right answers lost
    (v,) = judge.judge_gates([GateRule("accuracy_retained", 0.95)], evidence(var, ref), 0.95)
    assert v.status == "fail" and v.estimate == pytest.approx(0.5)
    assert "40 items" in v.message and "exact answers 25.00% vs reference f32 50.00%" in v.message


def test_missing_figure_is_unavailable_never_a_pass():
    ref = measurement(REF_HITS)
    var = Measurement(
        "case", {"model_memory_bytes": Reading.unavailable("model_memory_bytes", "B", "meter broke")}, child_info()
    )
    verdicts = judge.judge_gates(RULES, evidence(var, ref), 0.95)
    assert [v.status for v in verdicts] == ["unavailable"] * 3
    assert "no paired trials" in verdicts[1].message and "meter broke" in verdicts[2].message


def test_the_memory_gate_compares_the_models_own_memory_unless_told_otherwise():
    small = measurement(REF_HITS, rss=40.0 * 2**20)  # process peaks: 240 vs 300 MiB; the models': 40 vs 100
    big = measurement(REF_HITS, rss=100.0 * 2**20)
    (model,) = judge.judge_gates([GateRule("memory_reduction", 0.5)], evidence(small, big), 0.95)
    assert model.status == "pass" and "model memory 40 MiB vs reference f32 100 MiB" in model.message
    process_rule = GateRule("memory_reduction", 0.5, metric="peak_rss_bytes")
    (process,) = judge.judge_gates([process_rule], evidence(small, big), 0.95)
    assert process.status == "fail" and "peak RSS 240 MiB vs reference f32 300 MiB" in process.message


def test_known_breach_and_unexpected_pass():
    rule = GateRule("speedup", 2.0, known_breaches=("q4",))
    slow = pairs([60.0, 61, 59, 60, 60.5, 59.5], [50.0] * 6)
    (v,) = judge.judge_gates([rule], evidence(measurement(REF_HITS), measurement(REF_HITS), [slow]), 0.95)
    assert v.known_failure and not v.unexpected_pass and "known breach" in v.message
    fast = pairs([150.0, 151, 149, 150, 150.5, 149.5], [50.0] * 6)
    (v,) = judge.judge_gates([rule], evidence(measurement(REF_HITS), measurement(REF_HITS), [fast]), 0.95)
    assert v.unexpected_pass and "remove it from the suite's known_breaches" in v.message


def test_rules_apply_only_to_their_quants():
    rule = GateRule("speedup", 2.0, variants=("f16",))
    assert judge.judge_gates([rule], evidence(measurement(REF_HITS), measurement(REF_HITS), label="q8"), 0.95) == []


def test_throttled_case_is_not_silently_failed():
    slow = pairs([60.0] * 6, [50.0] * 6, start=GuardReading(cpu_mhz=3000.0), end=GuardReading(cpu_mhz=2000.0))
    (v,) = judge.judge_gates(
        [GateRule("speedup", 2.0)], evidence(measurement(REF_HITS), measurement(REF_HITS), [slow]), 0.95
    )
    assert v.status == "inconclusive" and "throttled: CPU clock fell 33%" in v.message


def test_memory_interval_spans_repeated_children():
    ref = [measurement(REF_HITS, rss=1000 * 2**20), measurement(REF_HITS, rss=1100 * 2**20)]
    var = [measurement(REF_HITS, rss=520 * 2**20), measurement(REF_HITS, rss=480 * 2**20)]
    (v,) = judge.judge_gates([GateRule("memory_reduction", 0.5)], GateEvidence("q4", "f32", LM, var, ref), 0.95)
    assert v.status == "inconclusive" and v.low == pytest.approx(0.48) and v.high == pytest.approx(1 - 480 / 1100)


def test_limits_are_ceilings():
    m = Measurement("c", {"load_ms": Reading("load_ms", "ms", 1200.0)}, child_info())
    (ok,) = judge.judge_limits({"load_ms": 2000.0}, m)
    (bad,) = judge.judge_limits({"load_ms": 1000.0}, m)
    (missing,) = judge.judge_limits({"first_inference_ms": 10.0}, m)
    assert (ok.status, bad.status, missing.status) == ("pass", "fail", "unavailable")


def entry(samples, ratio=None):
    metric = StoredMetric(sum(samples) / len(samples), 1.0, len(samples), "tok/s", tuple(samples))
    ratios = {"speedup": StoredRatio(*ratio)} if ratio else {}
    return BaselineEntry({"decode_tok_per_s": metric}, ratios, {"gen_tokens": 64}, {})


POLICY = BaselineSettings(min_effect=0.05, alpha=0.002)
BASE = [100.0, 101, 99, 100.5, 99.5, 100.2, 100.8]


def test_regression_needs_effect_and_significance():
    halved = measurement(REF_HITS, samples=[x / 2 for x in BASE])
    (v,) = judge.judge_baseline(halved, entry(BASE), {"gen_tokens": 64}, POLICY)
    assert v.status == "fail" and "decode_tok_per_s regressed: -50.0%" in v.message and "Mann-Whitney" in v.message
    same = measurement(REF_HITS, samples=[x * 0.99 for x in BASE])
    (v,) = judge.judge_baseline(same, entry(BASE), {"gen_tokens": 64}, POLICY)
    assert v.status == "pass"


def test_a_policy_compares_only_the_metrics_it_names():
    halved = measurement(REF_HITS, samples=[x / 2 for x in BASE])
    decode_only = BaselineSettings(min_effect=0.05, alpha=0.002, metrics=("decode_tok_per_s",))
    (v,) = judge.judge_baseline(halved, entry(BASE), {"gen_tokens": 64}, decode_only)
    assert v.status == "fail"
    ttft_only = BaselineSettings(min_effect=0.05, alpha=0.002, metrics=("ttft_ms",))
    assert judge.judge_baseline(halved, entry(BASE), {"gen_tokens": 64}, ttft_only) == []


def test_a_move_the_rounds_call_is_judged_again_between_runs():
    """Rounds of one child are not evidence of a change between runs (issue 21): the runs decide."""
    slower = measurement(REF_HITS, samples=[x * 0.8 for x in BASE])  # -20%, p tiny over rounds
    (v,) = judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY)
    assert (v.status, v.direction) == ("inconclusive", "unknown") and "not decided" in v.message
    assert "between-run spread unknown: 1 old-side run(s)" in v.message
    steady = judge.Replicates({"decode_tok_per_s": [99.0, 101.5, 100.4]})
    (v,) = judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY, None, steady)
    assert (v.status, v.direction) == ("fail", "regressed") and "t-test over 4 old-side and 1 new-side" in v.message
    drifting = judge.Replicates({"decode_tok_per_s": [82.0, 118.0, 90.0, 112.0]})  # the machine moves 20% run to run
    (v,) = judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY, None, drifting)
    assert (v.status, v.direction) == ("pass", "same") and "within the between-run noise" in v.message
    children = judge.Replicates({}, {"decode_tok_per_s": [79.0, 81.0]})  # more children of the new run alone
    (v,) = judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY, None, children)
    assert v.direction == "unknown", "one old run: the old side's spread is still unknown"


def test_machine_moved_when_the_reference_moved_as_much():
    slower = measurement(REF_HITS, samples=[x * 0.8 for x in BASE])
    (v,) = judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY, {"decode_tok_per_s": -0.19})
    assert v.status == "pass" and "machine moved" in v.message
    halved = measurement(REF_HITS, samples=[x * 0.47 for x in BASE])
    policy = BaselineSettings(min_effect=0.25, alpha=0.002)
    (v,) = judge.judge_baseline(halved, entry(BASE), {"gen_tokens": 64}, policy, {"decode_tok_per_s": -0.28})
    assert v.status == "fail", "lost 35% against its reference: its own regression, not the machine's"


def test_changed_workload_is_not_compared():
    (v,) = judge.judge_baseline(measurement(REF_HITS, samples=BASE), entry(BASE), {"gen_tokens": 16}, POLICY)
    assert v.status == "unavailable" and "gen_tokens" in v.message


def test_gate_ratio_tracked_against_the_baseline():
    now = judge.Verdict("gate", "speedup", "pass", "", 2.2, 2.1, 2.3, 2.0, 12)
    steady = judge.Replicates({"gate:speedup": [2.95, 3.05, 3.02]})
    (v,) = judge.judge_ratios([now], entry(BASE, (3.0, 2.9, 3.1, 12)), POLICY, steady)
    assert v.status == "fail" and "regressed" in v.message and "t-test over 4 old-side" in v.message
    (v,) = judge.judge_ratios([now], entry(BASE, (2.25, 2.2, 2.3, 12)), POLICY, steady)
    assert v.status == "pass"


def test_a_gate_ratio_move_from_one_block_of_pairs_per_run_is_not_decided_without_other_runs():
    """The issue's MiniLM INT8 speedup 1.74 -> 1.51: its interval is over pairs of one child per run."""
    now = judge.Verdict("gate", "speedup", "pass", "", 1.51, 1.45, 1.57, 1.2, 12)
    stored = entry(BASE, (1.74, 1.68, 1.80, 12))
    (v,) = judge.judge_ratios([now], stored, POLICY)
    assert (v.status, v.direction) == ("inconclusive", "unknown") and "not decided" in v.message
    noisy = judge.Replicates({"gate:speedup": [1.55, 1.80, 1.62, 1.49]})  # the machine's other runs
    (v,) = judge.judge_ratios([now], stored, POLICY, noisy)
    assert (v.status, v.direction) == ("pass", "same") and "within the between-run noise" in v.message
    halved = judge.Verdict("gate", "speedup", "fail", "", 0.80, 0.75, 0.85, 1.2, 12)
    (v,) = judge.judge_ratios([halved], stored, POLICY)
    assert v.status == "fail" and "past run_factor 1.5x" in v.message, "a 2x drop is called without history"


def test_a_spread_carrying_figure_without_samples_is_not_judged_by_effect_size():
    noisy = StoredMetric(100.0, 3.0, 6, "tok/s", ())
    stored = BaselineEntry({"decode_tok_per_s": noisy}, {}, {"gen_tokens": 64}, {})
    (v,) = judge.judge_baseline(
        measurement(REF_HITS, samples=[x * 0.9 for x in BASE]), stored, {"gen_tokens": 64}, POLICY
    )
    assert v.status == "unavailable" and "no round samples" in v.message


def test_memory_ratio_is_compared_as_times_smaller():
    now = judge.Verdict("gate", "memory_reduction", "fail", "", 0.288, 0.288, 0.288, 0.5, 1)
    stored = BaselineEntry({}, {"memory_reduction": StoredRatio(0.306, 0.306, 0.306, 1)}, {}, {})
    (v,) = judge.judge_ratios([now], stored, POLICY)
    assert v.status == "pass"  # 1/0.712 vs 1/0.694: 2.6% less, under the 5% effect
    halved = judge.Verdict("gate", "memory_reduction", "fail", "", 0.10, 0.10, 0.10, 0.5, 1)
    (v,) = judge.judge_ratios([halved], stored, POLICY)
    assert v.status == "inconclusive", "1.44x smaller -> 1.11x: under run_factor, and no other runs known"
    steady = judge.Replicates({"gate:memory_reduction": [0.30, 0.31, 0.305]})
    (v,) = judge.judge_ratios([halved], stored, POLICY, steady)
    assert v.status == "fail"


def test_the_optional_energy_gate_uses_counted_energy_per_token_and_never_an_estimate():
    rule = GateRule("energy_reduction", 0.3)

    def with_energy(per_token, estimated=None):
        m = measurement(REF_HITS)
        readings = dict(m.readings)
        if per_token is None:
            readings["energy_per_token_j"] = Reading.unavailable("energy_per_token_j", "J", "no RAPL counters: absent")
        else:
            readings["energy_per_token_j"] = Reading("energy_per_token_j", "J", per_token, source="RAPL")
        if estimated is not None:
            readings["estimated_energy_per_token_j"] = Reading("estimated_energy_per_token_j", "J", estimated)
        return Measurement("case", readings, info=child_info(), round_samples=m.round_samples)

    (v,) = judge.judge_gates([rule], evidence(with_energy(0.05), with_energy(0.1)), 0.95)
    assert v.status == "pass" and v.estimate == 0.5 and "energy_per_token_j 0.05 J vs reference f32 0.1 J" in v.message
    (v,) = judge.judge_gates([rule], evidence(with_energy(0.09), with_energy(0.1)), 0.95)
    assert v.status == "fail"
    (v,) = judge.judge_gates([rule], evidence(with_energy(None, 0.01), with_energy(None, 0.1)), 0.95)
    assert v.status == "unavailable" and "no RAPL counters" in v.message
    assert "energy_reduction" not in {r.name for r in RULES}  # off unless a suite names it


def test_a_retired_metric_in_a_baseline_is_named_not_compared():
    """model_file_bytes changed meaning (weights + tokenizer + a load-time graph copy): never compared with the new."""
    old = StoredMetric(1.1 * 2**30, 0.0, 1, "B", ())
    stored = BaselineEntry({"model_file_bytes": old}, {}, {"gen_tokens": 64}, {})
    now = Measurement("c", {"weights_file_bytes": Reading("weights_file_bytes", "B", 611.5 * 2**20)}, child_info())
    (v,) = judge.judge_baseline(now, stored, {"gen_tokens": 64}, POLICY)
    assert v.status == "unavailable" and v.name == "model_file_bytes"
    assert "now weights_file_bytes and tokenizer_file_bytes; not compared. Re-record with --save-baseline" in v.message


def test_only_settings_that_define_the_figure_discard_a_baseline():
    """min_rounds, max_rounds and min_time_s set how much evidence there is, not what is measured."""
    stored = BaselineEntry(
        {"decode_tok_per_s": StoredMetric(100.0, 0.6, 7, "tok/s", tuple(BASE))},
        {},
        {"gen_tokens": 64, "min_rounds": 5, "max_rounds": 50, "min_time_s": 3.0, "warmup_rounds": 1},
        {},
    )
    halved = measurement(REF_HITS, samples=[x / 2 for x in BASE])
    more_evidence = {"gen_tokens": 64, "min_rounds": 20, "max_rounds": 80, "min_time_s": 10.0, "warmup_rounds": 1}
    (v,) = judge.judge_baseline(halved, stored, more_evidence, POLICY)
    assert v.name == "decode_tok_per_s" and v.status == "fail"
    cold = {**more_evidence, "warmup_rounds": 0}  # the first timed round now carries the cold start
    (v,) = judge.judge_baseline(halved, stored, cold, POLICY)
    assert v.name == "settings" and v.status == "unavailable"
    assert "(warmup_rounds)" in v.message and "min_rounds" not in v.message


def kl_measurement(mean_kl, se=0.0002, n=1500):
    """A variant's KL figures as the next-token task reports them: one value a run, a spread over tokens."""
    stdev = se * (n - 1) ** 0.5
    readings = {
        "mean_kl_vs_reference": Reading("mean_kl_vs_reference", "nats", mean_kl, stdev, n),
        "ln_ppl_ratio_vs_reference": Reading("ln_ppl_ratio_vs_reference", "nats", 0.0005, 0.002 * (n - 1) ** 0.5, n),
    }
    return Measurement("case", readings, info=child_info(), round_samples={})


def kl_entry(mean_kl, se=0.0002, n=1500):
    m = kl_measurement(mean_kl, se, n)
    metrics = {k: StoredMetric(r.value, r.stdev, r.n, r.unit, ()) for k, r in m.readings.items()}
    return BaselineEntry(metrics, {}, {"gen_tokens": 64}, {})


def test_kl_figures_are_compared_by_effect_size_not_left_unavailable():
    stored = kl_entry(0.0040)
    same = judge.judge_baseline(kl_measurement(0.0040), stored, {"gen_tokens": 64}, POLICY)
    assert [v.status for v in same] == ["pass", "pass"]
    assert all("Re-record" not in v.message and "deterministic: effect size only" in v.message for v in same)
    doubled = {v.name: v for v in judge.judge_baseline(kl_measurement(0.0080), stored, {"gen_tokens": 64}, POLICY)}
    assert doubled["mean_kl_vs_reference"].status == "fail"
    assert "mean_kl_vs_reference regressed: +100.0%" in doubled["mean_kl_vs_reference"].message
    assert doubled["mean_kl_vs_reference"].direction == "regressed"
    halved = {v.name: v for v in judge.judge_baseline(kl_measurement(0.0020), stored, {"gen_tokens": 64}, POLICY)}
    assert halved["mean_kl_vs_reference"].status == "pass" and halved["mean_kl_vs_reference"].direction == "improved"


def test_a_kl_change_inside_its_own_standard_error_or_the_tolerance_is_not_a_regression():
    def kl(current, stored, policy=POLICY):
        verdicts = judge.judge_baseline(current, stored, {"gen_tokens": 64}, policy)
        return next(v for v in verdicts if v.name == "mean_kl_vs_reference")

    v = kl(kl_measurement(0.0048, se=0.0005), kl_entry(0.0040, se=0.0005))
    assert v.status == "pass" and v.direction == "same", "+20% but under 2 standard errors (0.001)"
    loose = BaselineSettings(min_effect=0.05, alpha=0.002, deterministic_tolerance=1.5)
    v = kl(kl_measurement(0.0080, se=0.0), kl_entry(0.0040, se=0.0), loose)
    assert v.status == "pass", "+100% is inside a stated tolerance of 150%"
    v = kl(kl_measurement(0.0080, se=0.0), kl_entry(0.0040, se=0.0))
    assert v.status == "fail" and v.threshold == POLICY.deterministic_tolerance


def test_comparisons_with_a_baseline_recorded_under_load_say_so():
    recorded = BaselineEntry(
        {"decode_tok_per_s": StoredMetric(100.0, 0.6, 7, "tok/s", tuple(BASE))},
        {},
        {"gen_tokens": 64},
        {"outside_cpu_load": 0.43},
    )
    (v,) = judge.judge_baseline(measurement(REF_HITS, samples=BASE), recorded, {"gen_tokens": 64}, POLICY)
    assert "the baseline was recorded under 43% outside CPU load (max_outside_load 20%)" in v.message
    quiet = BaselineEntry(recorded.metrics, {}, {"gen_tokens": 64}, {"outside_cpu_load": 0.03})
    (v,) = judge.judge_baseline(measurement(REF_HITS, samples=BASE), quiet, {"gen_tokens": 64}, POLICY)
    assert "outside CPU load" not in v.message


def test_one_slow_round_does_not_make_a_between_run_factor():
    """Each run's figure is its rounds' median: a 600 tok/s outlier drags a mean 1.7x, not the run."""
    with_outlier = [*BASE, 600.0]
    slower = measurement(REF_HITS, samples=[x * 0.8 for x in BASE])
    (v,) = judge.judge_baseline(slower, entry(with_outlier), {"gen_tokens": 64}, POLICY)
    assert v.direction == "unknown" and "1.25x is under run_factor" in v.message, v.message


def test_a_speed_move_measured_beside_other_work_is_not_decided_but_memory_still_is():
    """Issue 21: an A/A run under 76% outside load called a 30% throughput regression the history's t-test
    was sure of; a neighbour taking cores moves speed, not the code, so neither side may be loaded."""
    steady = judge.Replicates({"decode_tok_per_s": [99.0, 101.5, 100.4]})
    halved = measurement(REF_HITS, samples=[x / 2 for x in BASE], rss=300.0 * 2**20)
    halved.readings["outside_cpu_load"] = Reading("outside_cpu_load", "fraction", 0.76)
    stored = BaselineEntry(
        {
            "decode_tok_per_s": StoredMetric(100.0, 0.6, 7, "tok/s", tuple(BASE)),
            "model_memory_bytes": StoredMetric(100.0 * 2**20, 0.0, 1, "B", (100.0 * 2**20,)),
        },
        {},
        {"gen_tokens": 64},
        {"outside_cpu_load": 0.05},
    )
    verdicts = {v.name: v for v in judge.judge_baseline(halved, stored, {"gen_tokens": 64}, POLICY, None, steady)}
    decode = verdicts["decode_tok_per_s"]
    assert (decode.status, decode.direction) == ("inconclusive", "unknown")
    assert "outside CPU load this run 76% over max_outside_load 20%" in decode.message
    assert verdicts["model_memory_bytes"].direction == "regressed", "bytes do not move with a neighbour's work"
    quiet = measurement(REF_HITS, samples=[x / 2 for x in BASE])
    quiet.readings["outside_cpu_load"] = Reading("outside_cpu_load", "fraction", 0.04)
    (v,) = judge.judge_baseline(quiet, entry(BASE), {"gen_tokens": 64}, POLICY, None, steady)
    assert (v.status, v.direction) == ("fail", "regressed"), "both quiet: the regression stands"


def test_the_memory_gate_says_what_the_judged_figure_holds():
    var = measurement(REF_HITS, rss=40.0 * 2**20)
    ref = measurement(REF_HITS, rss=100.0 * 2**20)
    for m, anon, file in ((var, 30, 10), (ref, 5, 95)):
        m.readings["rss_anon_bytes"] = Reading("rss_anon_bytes", "B", anon * 2.0**20)
        m.readings["rss_file_bytes"] = Reading("rss_file_bytes", "B", file * 2.0**20)
    (v,) = judge.judge_gates([GateRule("memory_reduction", 0.5)], evidence(var, ref), 0.95)
    assert "q4 30 MiB anonymous + 10 MiB file-backed; f32 5 MiB anonymous + 95 MiB file-backed" in v.message


def test_a_gate_verdict_whose_ratio_swings_across_the_line_between_runs_is_inconclusive():
    """Issue 21: the A/A's Q4_K_M speedup read 2.13x in one run and 1.60x in the next on unchanged code."""
    from benchharness.judge import Verdict, across_runs

    passed = Verdict("gate", "speedup", "pass", "speedup 2.13x", 2.13, 2.08, 2.18, 2.0, 6, "bootstrap")
    swinging = across_runs(passed, [1.64, 2.30, 2.2])
    assert swinging.status == "inconclusive", swinging
    assert swinging.message == (
        "speedup 2.13x -- across runs: inconclusive: this machine's last 3 runs read this ratio 1.64-2.3, 1 of them "
        "on the other side of the 2 line: the side a run lands on moves with the machine, not the code"
    )
    failed = replace(passed, status="fail", estimate=1.6, low=1.55, high=1.65)
    assert across_runs(failed, [2.13, 1.7, 1.64]).status == "inconclusive"
    # Runs that all fell on one side keep the verdict, however far they spread; too little history, a verdict
    # already undecided and any other kind of verdict are untouched.
    assert across_runs(passed, [2.6, 3.5, 2.01]) == passed
    assert across_runs(failed, [1.31, 1.9, 1.30, 1.32]) == failed
    assert across_runs(passed, [1.64, 2.30]) == passed
    undecided = replace(passed, status="inconclusive")
    assert across_runs(undecided, [1.64, 2.30, 1.73]) == undecided
    assert across_runs(replace(passed, check="ratio"), [1.64, 2.30, 1.73]).status == "pass"


def test_across_runs_reads_a_memory_cut_against_its_own_line():
    """ONNX Runtime FP32 loaded 742 or 978 MiB from one process to the next, so INT4's cut read 43% or 56%."""
    from benchharness.judge import Verdict, across_runs

    cut = Verdict("gate", "memory_reduction", "fail", "memory reduction 43%", 0.426, 0.426, 0.426, 0.5, 1, "point")
    verdict = across_runs(cut, [0.436, 0.564, 0.426])
    assert verdict.status == "inconclusive" and "0.426-0.564, 1 of them on the other side" in verdict.message
    assert across_runs(cut, [0.43, 0.426, 0.428]).status == "fail"


def test_the_judge_imports_no_file_writing_module_and_nothing_of_the_child():
    """The judge compares values: it must not pull in the baselines file module, storage, the machine's
    fingerprint, nor the child's kinds, backends or meters (a fresh interpreter shows what it drags in)."""
    import subprocess
    import sys

    probe = "import sys, benchharness.judge; print(' '.join(sorted(m for m in sys.modules if m.startswith('benchharness'))))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert "benchharness.judge" in loaded
    for module in ("benchharness.baselines", "benchharness.storage", "benchharness.machine", "benchharness.kinds"):
        assert module not in loaded, loaded
    assert not [m for m in loaded if m.startswith(("benchharness.backends", "benchharness.meters.energy"))], loaded


def test_an_outcome_is_said_once_in_its_message_not_again_in_the_between_run_reason():
    """A newcomer's finding: "within the between-run noise (min effect 5%; within the between-run noise (...))".
    between_runs returned its outcome inside its reason and both callers said it again around it; the same for
    "not decided ... ; not decided: ..."."""
    slower = measurement(REF_HITS, samples=[x * 0.8 for x in BASE])
    drifting = judge.Replicates({"decode_tok_per_s": [82.0, 118.0, 90.0, 112.0]})
    now = judge.Verdict("gate", "speedup", "pass", "", 1.51, 1.45, 1.57, 1.2, 12)
    stored = entry(BASE, (1.74, 1.68, 1.80, 12))
    noisy = judge.Replicates({"gate:speedup": [1.55, 1.80, 1.62, 1.49]})
    messages = [
        judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY, None, drifting)[0].message,
        judge.judge_baseline(slower, entry(BASE), {"gen_tokens": 64}, POLICY)[0].message,
        judge.judge_ratios([now], stored, POLICY, noisy)[0].message,
        judge.judge_ratios([now], stored, POLICY)[0].message,
    ]
    for message in messages:
        words = "within the between-run noise" if "within" in message else "not decided"
        assert message.count(words) == 1, message


def test_the_caller_names_the_sides_in_the_messages():
    """compare's old side is a run, not a baseline: its messages must not send a reader to re-record one."""
    recorded = BaselineEntry(
        {"decode_tok_per_s": StoredMetric(100.0, 0.6, 7, "tok/s", tuple(BASE))},
        {},
        {"gen_tokens": 64},
        {"outside_cpu_load": 0.82},
    )
    loaded = measurement(REF_HITS, samples=[x * 0.8 for x in BASE])
    loaded.readings["outside_cpu_load"] = Reading("outside_cpu_load", "fraction", 0.74)
    steady = judge.Replicates({"decode_tok_per_s": [99.0, 101.5, 100.4]})
    (v,) = judge.judge_baseline(loaded, recorded, {"gen_tokens": 64}, POLICY, None, steady, judge.RUN_SIDES)
    assert v.reason.startswith("outside CPU load old run 82%, new run 74% over max_outside_load 20%"), v.reason
    assert "baseline" not in v.message and "re-record" not in v.message.lower(), v.message
    assert "the old run was recorded under 82% outside CPU load" in v.message and "re-run it" in v.message
    (v,) = judge.judge_baseline(loaded, recorded, {"gen_tokens": 64}, POLICY, None, steady)  # the baseline check's
    assert v.reason.startswith("outside CPU load baseline 82%, this run 74%") and "re-record it" in v.message
    (v,) = judge.judge_baseline(loaded, recorded, {"gen_tokens": 16}, POLICY, sides=judge.RUN_SIDES)
    assert v.message.startswith("old run recorded with different workload settings (gen_tokens)"), v.message
    assert "--save-baseline" not in v.message
