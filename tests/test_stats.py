import math

import pytest
from hypothesis import given
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


@given(positive, spread)
def test_identical_runs_never_regress(mean, sd):
    c = stats.compare_to_baseline(mean, sd, mean, sd, higher_is_better=True, noise_k=3, min_effect=0.0)
    assert not c.regressed and not c.improved


@given(positive, spread, spread, st.floats(0.0, 0.99), st.booleans())
def test_direction_decides_regression(mean, sd_b, sd_c, drop, higher_is_better):
    worse = mean * (1 - drop) if higher_is_better else mean * (1 + drop)
    c = stats.compare_to_baseline(
        mean, sd_b, worse, sd_c, higher_is_better=higher_is_better, noise_k=3, min_effect=0.05
    )
    assert not c.improved
    assert c.regressed == (abs(worse - mean) / mean > c.tolerance)


def test_noise_widens_the_tolerance():
    quiet = stats.compare_to_baseline(100, 1, 90, 1, higher_is_better=True, noise_k=3, min_effect=0.02)
    noisy = stats.compare_to_baseline(100, 8, 90, 8, higher_is_better=True, noise_k=3, min_effect=0.02)
    assert quiet.regressed and not noisy.regressed
    assert noisy.tolerance == pytest.approx(3 * math.sqrt(128) / 100)


def test_min_effect_protects_deterministic_metrics():
    c = stats.compare_to_baseline(0.5, 0.0, 0.499, 0.0, higher_is_better=True, noise_k=3, min_effect=0.05)
    assert not c.regressed


@pytest.mark.parametrize("args", [(0.0, 1, 1, 1), (math.nan, 1, 1, 1), (1, -1, 1, 1), (1, 1, math.inf, 1)])
def test_compare_refuses_bad_input(args):
    with pytest.raises(ValueError):
        stats.compare_to_baseline(*args, higher_is_better=True, noise_k=3, min_effect=0.05)


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
