"""llama-perplexity's KL statistics, checked on distributions small enough to work out by hand."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchharness.tasks.divergence import mean_and_uncertainty, per_token, summarize


def logs(*rows):
    return np.log(np.asarray(rows, dtype=np.float64))


def test_one_position_by_hand():
    reference, variant = logs([0.75, 0.25]), logs([0.4, 0.6])
    tokens = per_token(variant, reference, np.array([0]))
    assert tokens.kld[0] == pytest.approx(0.75 * math.log(0.75 / 0.4) + 0.25 * math.log(0.25 / 0.6))
    assert tokens.delta_p[0] == pytest.approx(0.4 - 0.75)
    assert tokens.nll[0] - tokens.nll_reference[0] == pytest.approx(math.log(0.75 / 0.4))
    assert not tokens.same_top[0]


def test_a_tie_resolves_to_the_first_token_like_llama_cpp():
    tokens = per_token(logs([0.5, 0.5]), logs([0.75, 0.25]), np.array([0]))
    assert tokens.same_top[0]


def test_reference_tokens_below_the_floor_are_left_out_of_the_kl_sum():
    tiny = math.exp(-17)
    reference = logs([1 - tiny, tiny])
    variant = logs([0.5, 0.5])
    kept_only = (1 - tiny) * (math.log(1 - tiny) - math.log(0.5))
    assert per_token(variant, reference, np.array([0])).kld[0] == pytest.approx(kept_only, rel=1e-12)


def test_identical_models_diverge_by_nothing():
    rng = np.random.default_rng(0)
    rows = rng.dirichlet(np.ones(50), size=200)
    targets = rng.integers(0, 50, size=200)
    stats = summarize(per_token(np.log(rows), np.log(rows), targets))
    assert stats.mean_kld.value == pytest.approx(0.0, abs=1e-12)
    assert stats.same_top.value == 1.0 and stats.same_top.uncertainty == 0.0
    assert stats.rms_delta_p.value == 0.0
    assert stats.ln_ppl_ratio.value == pytest.approx(0.0, abs=1e-12)


def test_uncertainty_is_llama_cpps_and_absent_for_ten_values_or_fewer():
    values = np.arange(11, dtype=np.float64)
    estimate = mean_and_uncertainty(values)
    assert estimate.value == 5.0
    assert estimate.uncertainty == pytest.approx(values.std() / math.sqrt(10))
    assert mean_and_uncertainty(values[:10]).uncertainty == 0.0


def llama_cpp_percentile(values, fraction):
    """perplexity.cpp's percentile lambda, transcribed."""
    values = sorted(values)
    p = fraction * (len(values) - 1)
    ip = int(p)
    p -= ip
    return (1 - p) * values[ip] + p * values[min(ip + 1, len(values) - 1)]


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=12, max_value=300), st.integers(min_value=0, max_value=2**31))
def test_percentiles_and_paired_ratio_match_llama_perplexity(n, seed):
    rng = np.random.default_rng(seed)
    reference = np.log(rng.dirichlet(np.ones(8), size=n))
    variant = np.log(rng.dirichlet(np.ones(8), size=n))
    targets = rng.integers(0, 8, size=n)
    tokens = per_token(variant, reference, targets)
    stats = summarize(tokens)
    for level in ("99.9", "99", "95", "90", "50", "10", "5", "1", "0.1"):
        expected = llama_cpp_percentile(tokens.kld, float(level) / 100)
        assert stats.kld_percentiles[level] == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert stats.kld_percentiles["max"] == tokens.kld.max()
    # ln(PPL ratio)'s ± from llama.cpp's covariance formula is the paired difference's own spread.
    difference = tokens.nll - tokens.nll_reference
    assert stats.ln_ppl_ratio.value == pytest.approx(difference.mean())
    assert stats.ln_ppl_ratio.uncertainty == pytest.approx(difference.std() / math.sqrt(n - 1), rel=1e-6)
    p = tokens.same_top.mean()
    assert stats.same_top.uncertainty == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)))


def test_too_few_positions_is_an_error():
    with pytest.raises(ValueError, match="at least 2 scored positions"):
        summarize(per_token(logs([0.5, 0.5]), logs([0.5, 0.5]), np.array([0])))
