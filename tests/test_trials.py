"""Scheduling: alternation of which side goes first, and the time budget's allowance."""

from benchharness.settings import TrialSettings
from benchharness.trials import Budget, extra_blocks_allowed, first_side


def test_blocks_alternate_which_side_goes_first():
    assert [first_side(b) for b in range(4)] == ["variant", "reference", "variant", "reference"]


def test_max_pairs_bounds_extra_blocks():
    settings = TrialSettings(pairs=6, max_pairs=18)
    assert extra_blocks_allowed(settings, 6, 10.0, None)
    assert extra_blocks_allowed(settings, 12, 10.0, None)
    assert not extra_blocks_allowed(settings, 18, 10.0, None)


def test_budget_shares_what_is_left_after_the_remaining_cases_base_cost():
    now = [0.0]
    budget = Budget(600.0, clock=lambda: now[0], cases_planned=5)
    budget.base_seconds = [60.0]
    budget.cases_done = 1
    now[0] = 60.0
    # 540 s left; 3 more cases after this one at ~60 s each leave 360 s, shared by 4: 90 s.
    assert budget.allowance() == 90.0
    now[0] = 590.0
    assert budget.allowance() == 0.0  # out of time: decisive-or-not, no more pairs
    assert not extra_blocks_allowed(TrialSettings(), 6, 5.0, budget.allowance())
    assert Budget(None).allowance() is None
