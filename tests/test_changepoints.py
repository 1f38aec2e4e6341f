"""The rules that keep E-Divisive's change points from crying wolf: minimum level length, step over the noise, transients."""

import numpy as np
import pytest
from otava.analysis import compute_change_points

from benchharness.history.changepoints import Rules, detect


def noisy(level: float, noise: float, nights: int, seed: int) -> list[float]:
    """`nights` readings around `level` with Gaussian noise of relative sd `noise`."""
    return list(level * (1 + np.random.default_rng(seed).normal(0, noise, nights)))


def test_two_odd_first_nights_are_no_level():
    """Issue 28's false alarm: '+8.0%, p = 1e-04' after the first two nights of a noise-only series."""
    series = noisy(100, 0.03, 15, seed=0)
    series[0] *= 0.92
    series[1] *= 0.92
    bare, _weak = compute_change_points(series, window_len=50, max_pvalue=0.001, min_magnitude=0.05)
    assert [cp.index for cp in bare] == [2]  # what E-Divisive alone (detect before these rules) called a change
    assert detect(series).points == ()


def test_a_step_small_against_the_series_noise_is_not_a_change_point():
    """200 nights make a 1.5% step at 1% noise significant by t-test; it is still inside twice the spread."""
    series = noisy(100, 0.01, 100, seed=3) + noisy(101.5, 0.01, 100, seed=4)
    assert detect(series).points == ()
    (cp,) = detect(series, min_noise_multiple=1).points
    assert abs(cp.index - 100) <= 3 and 1 < cp.noise_multiple < 2


def test_an_exact_series_needs_the_relative_floor():
    """File sizes and memory repeat exactly: no spread to measure against, so the 1% floor decides."""
    assert detect([1000.0] * 5 + [1004.0] * 5).points == ()
    (cp,) = detect([1000.0] * 5 + [1030.0] * 5).points
    assert cp.index == 5 and cp.change == pytest.approx(0.03) and cp.p_value == 0.0


def test_a_planted_five_percent_step_is_found_where_it_was_planted():
    series = noisy(100, 0.01, 30, seed=11)
    series[17:] = [v * 0.95 for v in series[17:]]
    (cp,) = detect(series).points
    assert abs(cp.index - 17) <= 1 and cp.change == pytest.approx(-0.05, abs=0.01)


def test_the_planted_fifteen_percent_drop_of_the_lab_simulation_is_still_found():
    """Issue 28's simulation: 15 nights at 3% noise, one machine's decode dropping 15% from night 8."""
    series = noisy(120, 0.03, 15, seed=5)
    series[8:] = [v * 0.85 for v in series[8:]]
    (cp,) = detect(series).points
    assert cp.index == 8 and cp.change == pytest.approx(-0.15, abs=0.04)


def test_a_step_three_nights_old_is_found():
    series = noisy(100, 0.01, 20, seed=8)
    series[17:] = [v * 0.95 for v in series[17:]]
    assert 17 in [cp.index for cp in detect(series).points]
    assert detect(series[:19]).points == ()  # two nights of the new level are not yet one


@pytest.mark.parametrize("away", [1, 2])
def test_a_change_that_went_away_is_a_transient_not_a_regression(away):
    series = noisy(100, 0.01, 30, seed=2)
    for night in range(14, 14 + away):
        series[night] *= 0.85
    found = detect(series)
    assert found.points == ()
    (transient,) = found.transients
    assert (transient.start, transient.end) == (14, 14 + away)
    assert transient.change == pytest.approx(-0.15, abs=0.02)


def test_an_odd_last_night_is_neither_a_change_nor_a_transient_yet():
    series = noisy(100, 0.01, 30, seed=2)
    series[-1] *= 0.85
    found = detect(series)
    assert found.points == () and found.transients == ()


def test_noise_only_series_raise_a_change_point_in_under_one_percent():
    """300 noise-only months at 3% noise (the lab simulation's): at most 2 raise a change point."""
    alarms = sum(bool(detect(noisy(100, 0.03, 30, seed=1000 + s)).points) for s in range(300))
    assert alarms <= 2


def test_too_short_a_history_says_why():
    found = detect([1.0, 2.0, 3.0, 4.0, 5.0])
    assert found.points == ()
    assert found.unavailable_reason == (
        "5 run(s) in the history; change points need at least 6 (3 runs on each side of a change)"
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_segment": 1}, "min_segment=1: a level needs at least 2 nights; use 2 or more"),
        ({"max_pvalue": 0.0}, "max_pvalue=0.0: must lie between 0 and 1; the default is 0.001"),
        ({"min_noise_multiple": -1.0}, "min_magnitude=0.01, min_noise_multiple=-1.0: must not be negative"),
    ],
)
def test_bad_rules_say_what_and_what_to_do(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Rules(**kwargs)


def test_the_readme_states_the_rules_defaults():
    """A newcomer reads the rules off the README: each default stated there is the module's own."""
    from pathlib import Path

    from benchharness.history import changepoints as cp

    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert f"at least **{cp.MIN_SEGMENT} runs** (`min_segment`" in text
    assert f"at least **{cp.MIN_NOISE_MULTIPLE:g}x the series' own robust spread** (`min_noise_multiple`" in text
    assert f"at least **{cp.MIN_MAGNITUDE:.0%}** of the level before (`min_magnitude`" in text
    assert f"gives **p < {cp.MAX_PVALUE:g}** (`max_pvalue`)" in text
    assert f"by more than **{cp.TRANSIENT_MULTIPLE:g} sigma** (`transient_multiple`)" in text
