"""What changed in a run: every figure the baseline and ratio checks found moved past the noise.

The report's first screen answers "what do we ship"; right after it, a reader wants what failed and what
moved since last time. The verdicts already say it (judge.py sets `direction` on baseline and ratio checks);
this gathers them from the per-suite tables into one list, regressions first.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchharness.baseline_entry import WHOLE_BASELINE
from benchharness.results import RunResult

MOVED = ("regressed", "improved")


@dataclass(frozen=True)
class Change:
    """One figure of one case that moved past the noise against its baseline (or the reference's ratio)."""

    case_id: str
    check: str  # "baseline decode_tok_per_s", "ratio speedup"
    direction: str  # regressed / improved
    message: str


@dataclass(frozen=True)
class Changes:
    changes: tuple[Change, ...]
    checked: int  # how many baseline and ratio verdicts the run holds: 0 means nothing was compared

    def summary(self) -> str:
        """The line shown when no figure moved, so 'nothing moved' is never confused with 'nothing compared'."""
        if self.checked == 0:
            return "nothing was compared: no baseline or earlier ratio for this run (--no-baseline, or a first run)"
        if not self.changes:
            return f"nothing moved past the noise ({self.checked} baseline and ratio check(s))"
        regressed = sum(c.direction == "regressed" for c in self.changes)
        return f"{regressed} regressed, {len(self.changes) - regressed} improved of {self.checked} check(s)"


def changes(run: RunResult) -> Changes:
    """The run's moves past the noise, regressions first, each group in the order the cases ran."""
    found = []
    checked = 0
    for c in run.cases:
        for v in c.verdicts:
            if v.check not in ("baseline", "ratio") or v.name in WHOLE_BASELINE:
                continue  # "no-baseline", another machine's, other settings: nothing was compared
            checked += 1
            if v.direction in MOVED:
                found.append(Change(c.case.id, f"{v.check} {v.name}", v.direction or "", v.message))
    found.sort(key=lambda change: MOVED.index(change.direction))
    return Changes(tuple(found), checked)
