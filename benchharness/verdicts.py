"""A verdict: the outcome of one check for one case, with its evidence. A value, no maths.

Its own module because both the gates (benchharness/gates/, which config imports for the policy's
vocabulary) and the judge make verdicts, and the judge imports config: the type must sit below both.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

Status = Literal["pass", "fail", "inconclusive", "unavailable"]
Check = Literal["gate", "baseline", "ratio", "limit"]  # which check made the verdict
Direction = Literal["regressed", "improved", "same", "unknown"]

# The one word a reader sees for the state neither side of a rule could claim, wherever it is shown (terminal,
# compare terminal, compare page, report page). Stored values stay "inconclusive" / "unknown": only the words
# change. A gate's interval straddling its threshold is "inconclusive"; a move between runs (the baseline
# check's, compare's) that the noise cannot place is "not decided". Before, one state read "not decided",
# "unknown", "INCONCL" and "unconfirmed" in four places.
INCONCLUSIVE = "inconclusive"
NOT_DECIDED = "not decided"


@dataclass(frozen=True)
class Verdict:
    """The outcome of one check for one case, with the evidence a reader needs to trust it."""

    check: Check
    name: str
    status: Status
    message: str
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    n: int | None = None
    rule: str = ""
    known_breach: bool = False  # the suite declared this gate a known breach for this variant
    confirmation: str | None = None  # how a failure was confirmed: by a re-run, or as deterministic
    direction: Direction | None = None  # baseline and ratio checks: which way the figure moved, past the noise
    # Where direction is "unknown": why the evidence could not place the move, in the judge's words (what compare
    # prints under "why:"); a reader never has to dig it out of `message`.
    reason: str = ""

    @property
    def unexpected_pass(self) -> bool:
        """A declared known breach that did not happen: the suite's policy is out of date."""
        return self.known_breach and self.status == "pass"

    @property
    def known_failure(self) -> bool:
        return self.known_breach and self.status in ("fail", "inconclusive")

    @property
    def status_word(self) -> str:
        """The status as a reader sees it: a between-run check's (baseline, ratio) inconclusive is NOT_DECIDED."""
        if self.status == "inconclusive" and self.check in ("baseline", "ratio"):
            return NOT_DECIDED
        return self.status

    def with_confirmation(self, confirmation: str) -> Verdict:
        return replace(self, confirmation=confirmation)
