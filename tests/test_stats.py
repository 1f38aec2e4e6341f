import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchharness import stats

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
positive = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False)
spread = st.floats(min_value=0.0, max_value=1e3, allow_nan=False, allow_infinity=False)


@given(st.lists(finite, min_size=1, max_size=50))
def test_summary_is_consistent(samples):
    s = stats.summarize(samples)
    assert s.n == len(samples)
    assert s.minimum <= s.median <= s.maximum
    assert s.minimum <= s.mean <= s.maximum
    assert s.stdev >= 0
    if len(samples) == 1:
        assert s.stdev == 0


@given(st.lists(finite, min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentiles_are_monotonic(samples, q1, q2):
    low, high = sorted((q1, q2))
    assert stats.percentile(samples, low) <= stats.percentile(samples, high)


def test_percentile_matches_linear_interpolation():
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile([10], 99) == 10
    assert stats.percentile([0, 10], 90) == pytest.approx(9.0)


@pytest.mark.parametrize("bad", [[], [math.nan], [1.0, math.inf]])
def test_invalid_samples_are_refused(bad):
    with pytest.raises(ValueError, match=r"no samples|non-finite"):
        stats.summarize(bad)


def test_percentile_range_is_checked():
    with pytest.raises(ValueError, match=r"outside 0..100"):
        stats.percentile([1.0], 101)


ratios = st.lists(st.floats(0.2, 5.0), min_size=2, max_size=30)


@settings(deadline=None, max_examples=40)
@given(ratios, st.floats(1.0, 300.0))
def test_ratio_interval_brackets_the_estimate(per_pair, base):
    interval = stats.ratio_interval([base * r for r in per_pair], [base] * len(per_pair))
    assert interval.low <= interval.estimate <= interval.high
    assert min(per_pair) * 0.999 <= interval.low and interval.high <= max(per_pair) * 1.001
    assert interval.n == len(per_pair)


@settings(deadline=None, max_examples=30)
@given(st.floats(0.5, 4.0), st.floats(1.0, 500.0), st.integers(2, 20))
def test_drift_shared_by_both_sides_cancels(true_ratio, start, pairs):
    """The machine slowing down by half across the session moves both sides of each pair: the ratio stays."""
    drift = [1.0 - 0.5 * i / pairs for i in range(pairs)]
    interval = stats.ratio_interval([start * true_ratio * d for d in drift], [start * d for d in drift])
    assert interval.estimate == pytest.approx(true_ratio) and interval.low == pytest.approx(true_ratio)


@settings(deadline=None, max_examples=40)
@given(st.floats(0.3, 3.0), st.floats(0.3, 3.0), st.floats(0.0, 0.05))
def test_decide_is_three_way_and_consistent(estimate, minimum, half_width):
    interval = stats.Interval(estimate, estimate * (1 - half_width), estimate * (1 + half_width), 10, 0.95, "test")
    outcome = stats.decide(interval, minimum)
    if interval.low >= minimum:
        assert outcome == "pass"
    elif interval.high < minimum:
        assert outcome == "fail"
    else:
        assert outcome == "inconclusive" and interval.low < minimum <= interval.high


def test_known_answers_for_noisy_pairs():
    rng = np.random.default_rng(1)
    clear = stats.ratio_interval(list(300 * (1 + 0.02 * rng.standard_normal(12))), [100.0] * 12)
    assert stats.decide(clear, 2.0) == "pass" and 2.9 < clear.estimate < 3.1
    slow = stats.ratio_interval(list(150 * (1 + 0.02 * rng.standard_normal(12))), [100.0] * 12)
    assert stats.decide(slow, 2.0) == "fail"
    near = stats.ratio_interval(list(200 * (1 + 0.05 * rng.standard_normal(12))), [100.0] * 12)
    assert stats.decide(near, 2.0) == "inconclusive"


def test_same_samples_give_the_same_interval():
    a = stats.ratio_interval([2.1, 1.9, 2.3, 2.0, 1.8], [1.0, 1.1, 0.9, 1.0, 1.05])
    b = stats.ratio_interval([2.1, 1.9, 2.3, 2.0, 1.8], [1.0, 1.1, 0.9, 1.0, 1.05])
    assert a == b  # the bootstrap is seeded: a verdict never depends on the resampler's luck


@settings(deadline=None, max_examples=30)
@given(st.lists(st.sampled_from([0.0, 1.0]), min_size=20, max_size=300), st.floats(0.0, 0.3))
def test_retention_interval_on_paired_outcomes(reference, flip_fraction):
    if sum(reference) == 0:
        reference = [1.0, *reference[1:]]
    variant = [0.0 if (i < flip_fraction * len(reference) and r) else r for i, r in enumerate(reference)]
    interval = stats.retention_interval(variant, reference)
    assert interval.low <= interval.estimate <= interval.high <= 1.0 + 1e-12
    assert interval.estimate == pytest.approx(sum(variant) / sum(reference))


def test_retention_needs_the_same_items():
    with pytest.raises(ValueError, match="same items"):
        stats.retention_interval([1.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="no item right"):
        stats.retention_interval([0.0, 0.0], [0.0, 0.0])


@settings(deadline=None, max_examples=40)
@given(st.lists(st.floats(50, 150), min_size=6, max_size=15), st.booleans())
def test_identical_samples_never_regress(samples, higher_is_better):
    shift = stats.mann_whitney_shift(samples, samples, higher_is_better=higher_is_better, min_effect=0.05, alpha=0.002)
    assert not shift.regressed and not shift.improved


def test_halved_speed_is_a_significant_regression_and_a_small_one_is_not():
    base = [100.0, 101.0, 99.0, 100.5, 99.5, 100.2, 100.8]
    half = [x / 2 for x in base]
    shift = stats.mann_whitney_shift(base, half, higher_is_better=True, min_effect=0.05, alpha=0.002)
    assert shift.regressed and shift.p_value is not None and shift.p_value < 0.002
    small = [x * 0.97 for x in base]  # significant, but under min_effect
    assert not stats.mann_whitney_shift(base, small, higher_is_better=True, min_effect=0.05, alpha=0.002).regressed
    slower_time = [x * 2 for x in base]  # a latency doubling: lower is better
    assert stats.mann_whitney_shift(base, slower_time, higher_is_better=False, min_effect=0.05, alpha=0.002).regressed


def test_too_few_samples_say_so_instead_of_calling():
    shift = stats.mann_whitney_shift([100, 101, 99], [50, 51, 49], higher_is_better=True, min_effect=0.05, alpha=0.002)
    assert not shift.regressed and "cannot reach p < 0.002" in shift.reason


def test_deterministic_figures_use_the_effect_size():
    assert stats.mann_whitney_shift([0.5], [0.4], higher_is_better=True, min_effect=0.05, alpha=0.002).regressed
    assert not stats.mann_whitney_shift([0.5], [0.49], higher_is_better=True, min_effect=0.05, alpha=0.002).regressed


@settings(deadline=None, max_examples=60)
@given(positive, spread, st.floats(0.0, 0.5), st.booleans())
def test_effect_size_shift_calls_nothing_inside_the_tolerance_or_the_standard_error(old, se, rel, higher):
    new = old * (1 + rel)
    tolerance = rel * 1.001 + 1e-9
    shift = stats.effect_size_shift(old, new, higher_is_better=higher, tolerance=tolerance, standard_error=se)
    assert not shift.regressed and not shift.improved  # within the tolerance: not past it
    far = stats.effect_size_shift(old, old * 3, higher_is_better=higher, tolerance=0.05, standard_error=0.0)
    assert (far.regressed, far.improved) == ((False, True) if higher else (True, False))
    hidden = stats.effect_size_shift(
        old, old * 3, higher_is_better=higher, tolerance=0.05, standard_error=old * 1.01
    )  # the change (2 x old) is under 2 standard errors
    assert not hidden.regressed and not hidden.improved and "standard error" in hidden.reason


def test_effect_size_shift_refuses_what_it_cannot_compare():
    with pytest.raises(ValueError, match="baseline value is 0"):
        stats.effect_size_shift(0.0, 0.1, higher_is_better=False, tolerance=0.05)
    with pytest.raises(ValueError, match="must be finite"):
        stats.effect_size_shift(1.0, 1.1, higher_is_better=False, tolerance=math.nan)


@pytest.mark.parametrize("alpha", [0.0, 1.0, math.nan])
def test_shift_refuses_bad_policy(alpha):
    with pytest.raises(ValueError):
        stats.mann_whitney_shift([1.0, 2.0], [1.0, 2.0], higher_is_better=True, min_effect=0.05, alpha=alpha)


def test_stability_warnings():
    steady = stats.summarize([100, 101, 99, 100])
    shaky = stats.summarize([100, 60, 140, 100])
    assert stats.stability_warnings(steady, "x") == []
    assert any("unstable" in w for w in stats.stability_warnings(shaky, "x"))
    assert any("round" in w for w in stats.stability_warnings(stats.summarize([1.0]), "x"))


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True, width=64), max_size=20))
def test_any_samples_give_a_summary_or_a_clear_error(samples):
    """Empty, single-sample, NaN and inf inputs: a consistent summary or a one-line ValueError, nothing else."""
    try:
        summary = stats.summarize(samples)
    except ValueError as e:
        assert str(e).startswith(("no samples", "non-finite sample", "non-finite spread"))
        return
    assert summary.n == len(samples) >= 1
    assert math.isfinite(summary.mean) and math.isfinite(summary.stdev) and summary.stdev >= 0.0
    if summary.n == 1:
        assert summary.stdev == 0.0 and summary.mean == samples[0]
    stats.stability_warnings(summary, "figure")  # never raises on a valid summary


def test_extreme_spread_is_an_error_not_inf():
    with pytest.raises(ValueError, match="non-finite spread"):
        stats.summarize([-1.7e308, 1.7e308])


def test_run_shift_needs_other_runs_before_it_decides():
    shift = stats.run_shift([100.0, 101.0], [80.0], alpha=0.002)
    assert not shift.decided and shift.p_value is None and "3 needed" in shift.reason
    assert shift.change == pytest.approx(80 / math.sqrt(100 * 101) - 1)


def test_run_shift_weighs_a_move_against_the_spread_between_runs():
    steady = stats.run_shift([100.0, 101.0, 99.5, 100.4], [80.0], alpha=0.002)
    assert steady.decided and steady.p_value is not None and steady.p_value < 0.002
    drifting = stats.run_shift([82.0, 118.0, 90.0, 112.0], [80.0], alpha=0.002)
    assert drifting.decided and drifting.p_value is not None and drifting.p_value > 0.05


def test_run_shift_is_relative_so_a_unit_does_not_change_it():
    a = stats.run_shift([100.0, 101.0, 99.5, 100.4], [90.0, 91.0], alpha=0.002)
    b = stats.run_shift([1.0, 1.01, 0.995, 1.004], [0.90, 0.91], alpha=0.002)
    assert a.p_value == pytest.approx(b.p_value) and a.change == pytest.approx(b.change)


def test_run_shift_refuses_figures_that_are_not_positive():
    with pytest.raises(ValueError, match="positive"):
        stats.run_shift([1.0, 0.0, 2.0], [1.0], alpha=0.002)


def test_children_that_disagree_widen_the_ratio_interval_past_what_their_pairs_alone_say():
    # Two children of six pairs: one read 1.10x throughout, the other 1.00x (what a load's memory placement
    # does to a whole child). Pairs alone look like a tight 1.05x; over children it is "somewhere in 1.00-1.10".
    wobble = [1.0, 1.004, 0.996, 1.002, 0.998, 1.0]
    v = [1.10 * w for w in wobble] + [1.00 * w for w in wobble[::-1]]
    r = [1.0] * 12
    by_pairs = stats.ratio_interval(v, r, 0.95)
    by_children = stats.ratio_interval(v, r, 0.95, children=[6, 6])
    assert by_pairs.estimate == pytest.approx(by_children.estimate)
    assert by_pairs.low > 1.01  # the pairs alone would call a 5% effect
    assert by_children.low <= 1.001 and by_children.high >= 1.099
    assert "two-stage bootstrap over 2 children and 12 pairs" in by_children.method
    assert "spread between children is not in it" in stats.ratio_interval(v, r, 0.95, children=[12]).method


def test_children_must_account_for_every_pair():
    with pytest.raises(ValueError, match=r"children \[6, 5\] must be positive pair counts summing to the 12 pairs"):
        stats.ratio_interval([1.0] * 12, [1.0] * 12, children=[6, 5])


def test_the_vectorized_bootstraps_of_compare_give_the_intervals_one_resample_at_a_time_gave():
    """compare's two intervals compute their statistic over all resamples at once (a lab's compare took ten
    minutes calling it per resample); the resamples, and so the intervals, must be the very same."""
    rng = np.random.default_rng(7)
    for n, m in ((2, 3), (6, 6), (11, 4)):
        old, new = list(100 + 5 * rng.standard_normal(n)), list(96 + 5 * rng.standard_normal(m))
        one_by_one = stats._bootstrap(
            (old, new), lambda x, y: float(np.median(y)) / float(np.median(x)) - 1.0, 0.95, paired=False
        )
        interval = stats.change_interval(old, new, 0.95)
        assert (interval.low, interval.high) == (
            min(one_by_one[0], interval.estimate),
            max(one_by_one[1], interval.estimate),
        )
        logs_old, logs_new = [x / 100 for x in old], [x / 100 for x in new]
        low, high = stats._bootstrap(
            (logs_old, logs_new), lambda x, y: float(np.mean(y) - np.mean(x)), 0.95, paired=False
        )
        moved = stats.ratio_of_ratios_interval(logs_old, logs_new, 0.95)
        estimate = float(np.mean(logs_new) - np.mean(logs_old))
        assert (moved.low, moved.high) == (math.exp(min(low, estimate)), math.exp(max(high, estimate)))
