"""The timed tokens are the scored tokens (issue 23 part 5): the check's own logic, on a scripted scorer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from benchharness.errors import ModelError
from benchharness.tasks.timed_tokens import NEAR_TIE, check_timed_tokens, token_hash

VOCAB = 8


class Scorer:
    """A scoring path whose greedy choice after each position is scripted; `margin` nats over the runner-up."""

    def __init__(self, greedy: Sequence[int], margin: float = 5.0, runner_up: int | None = None) -> None:
        self.greedy, self.margin, self.runner_up = list(greedy), margin, runner_up
        self.asked: tuple[list[int], int] | None = None

    def score(self, tokens: Sequence[int], first: int) -> np.ndarray:
        self.asked = (list(tokens), first)
        rows = np.zeros((len(tokens) - 1 - first, VOCAB), dtype=np.float32)
        for i, best in enumerate(self.greedy[: len(rows)]):
            rows[i, best] = self.margin
            if self.runner_up is not None:
                rows[i, self.runner_up] = self.margin - (NEAR_TIE / 2)
        return rows


def test_matching_tokens_pass_with_their_hash_and_the_scorer_sees_context_prompt_and_tokens():
    scorer = Scorer([3, 4, 5])
    check = check_timed_tokens(scorer, [1], [2, 2], [(3, 4, 5), (3, 4, 5)])  # type: ignore[arg-type]
    assert (check.matched_by_scoring_path, check.generated, check.stopped) == (3, 3, None)
    assert check.sha256 == token_hash([3, 4, 5])
    assert scorer.asked == ([1, 2, 2, 3, 4, 5], 2), "one forward pass: predictions for each generated token"


def test_a_round_that_generated_other_tokens_fails_with_the_position():
    with pytest.raises(ModelError, match=r"timed round 2 generated other tokens than round 1 .* position 1: 6 vs 4"):
        check_timed_tokens(Scorer([3, 4, 5]), [], [2], [(3, 4, 5), (3, 6, 5)])  # type: ignore[arg-type]


def test_a_scorer_that_disagrees_by_whole_nats_fails_the_case():
    with pytest.raises(ModelError, match=r"generated token 7 at position 1 where the scoring path's greedy token is 4"):
        check_timed_tokens(Scorer([3, 4, 5]), [], [2], [(3, 7, 5)])  # type: ignore[arg-type]


def test_a_near_tie_stops_the_check_there_without_failing():
    scorer = Scorer([3, 4, 5], margin=2.0, runner_up=7)  # token 7 is NEAR_TIE / 2 below the best everywhere
    check = check_timed_tokens(scorer, [], [2], [(3, 7, 1)])  # type: ignore[arg-type]
    assert check.matched_by_scoring_path == 1 and (check.stopped or "").startswith("near tie at position 1")


def test_non_finite_scores_are_left_to_the_accuracy_task_which_names_the_window():
    class NanScorer(Scorer):
        def score(self, tokens: Sequence[int], first: int) -> np.ndarray:
            return np.full((len(tokens) - 1 - first, VOCAB), np.nan, dtype=np.float32)

    check = check_timed_tokens(NanScorer([3]), [], [2], [(3, 4)])  # type: ignore[arg-type]
    assert check.matched_by_scoring_path == 0 and check.stopped == "the scoring path returned non-finite logits"


def test_paths_that_part_by_a_quarter_nat_are_a_near_tie_not_a_fault():
    # As measured: the GenAI builder's INT4 (int8 activations per call) generated token 7 where one teacher-forced
    # pass preferred token 4 by 0.26 nats; that is the kernels' arithmetic, not another pipeline.
    check = check_timed_tokens(PartingScorer([3, 4, 5], gap=0.26, runner_up=7), [], [2], [(3, 7, 1)])  # type: ignore[arg-type]
    assert check.matched_by_scoring_path == 1 and (check.stopped or "").startswith(
        "near tie at position 1: the scoring path prefers token 4 by 0.260"
    )


class PartingScorer(Scorer):
    """The scripted greedy token wins by `gap` nats over `runner_up`, everything else far below."""

    def __init__(self, greedy: Sequence[int], gap: float, runner_up: int) -> None:
        super().__init__(greedy, margin=8.0, runner_up=None)
        self.gap, self.parting = gap, runner_up

    def score(self, tokens: Sequence[int], first: int) -> np.ndarray:
        rows = super().score(tokens, first)
        rows[:, self.parting] = self.margin - self.gap
        return rows
