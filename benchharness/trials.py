"""Trials: the unit of scheduling. Which variant runs in which child, in which order, for how long.

A *solo* trial is one variant alone in a fresh child (cold start, rounds, memory, accuracy). A
*paired* trial is a variant and its reference in one child, alternating rounds. Blocks of pairs
alternate which side goes first, so the order effects cancel across blocks as well as within.
The budget spreads a `--time-budget` over the matrix: decisive cases stop after their first
block, inconclusive ones get more pairs while time is left, and the run ends on time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from benchharness.judge import Verdict
from benchharness.settings import TrialSettings

Clock = Callable[[], float]


def first_side(block: int) -> Literal["variant", "reference"]:
    """Block 0 starts with the variant, block 1 with the reference, and so on (A-B-B-A across blocks)."""
    return "variant" if block % 2 == 0 else "reference"


@dataclass
class Budget:
    """A wall-clock budget for the whole run, or none (then only `max_pairs` limits extra pairs)."""

    seconds: float | None
    clock: Clock = time.monotonic
    started: float = field(default=0.0)
    cases_planned: int = 0
    cases_done: int = 0
    base_seconds: list[float] = field(default_factory=list)  # what a case's first measurements took

    def __post_init__(self) -> None:
        self.started = self.clock()

    def remaining(self) -> float | None:
        return None if self.seconds is None else self.seconds - (self.clock() - self.started)

    def allowance(self) -> float | None:
        """Seconds this case may spend on extra pairs: what is left after the other cases' base cost, shared."""
        left = self.remaining()
        if left is None:
            return None
        still_to_run = max(self.cases_planned - self.cases_done - 1, 0)
        typical = sum(self.base_seconds) / len(self.base_seconds) if self.base_seconds else 0.0
        spare = left - still_to_run * typical
        return max(spare, 0.0) / (still_to_run + 1)


def extra_blocks_allowed(
    settings: TrialSettings, pairs_so_far: int, block_seconds: float, allowance: float | None
) -> bool:
    """Whether one more block of pairs fits in `max_pairs` and in the case's share of the budget."""
    if pairs_so_far + settings.pairs > settings.max_pairs:
        return False
    return allowance is None or block_seconds <= allowance


def confirmed(verdict: Verdict, reruns: Sequence[Verdict]) -> Verdict:
    """The one confirmation rule, for gates and regressions alike: a failure stands only if every re-run fails.

    `verdict` failed on the first measurement; `reruns` are the same check judged on fresh children
    (trials.confirm of them). Every re-run failing confirms it, naming what they found; any other outcome
    makes it inconclusive ("NOT confirmed by re-run"), since the first failure may have been the machine.
    """
    said = "; ".join(r.message for r in reruns)
    if reruns and all(r.status == "fail" for r in reruns):
        return verdict.with_confirmation(f"confirmed by re-run: {said}")
    return replace(
        verdict,
        status="inconclusive",
        message=f"{verdict.message} -- NOT confirmed by re-run: {said}",
        confirmation="not confirmed",
    )
