"""Where a session's wall time goes: timed regions, accuracy scoring, and everything else.

Everything else is the harness's overhead as a user pays it: process start and imports in each
child, model loads, prepare checks (hashing cached variants), judging and writing results. The
children report their timed and scoring seconds; the session adds up its own wall clock from the
moment it was configured (pytest's own start-up before that is not counted).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from benchharness import units

Clock = Callable[[], float]


@dataclass
class CostLedger:
    clock: Clock = time.perf_counter
    started: float = field(default=0.0)
    timed_s: float = 0.0
    accuracy_s: float = 0.0
    children: int = 0
    children_s: float = 0.0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def add_child(self, wall_s: float, timed_s: float, accuracy_s: float) -> None:
        self.children += 1
        self.children_s += wall_s
        self.timed_s += timed_s
        self.accuracy_s += accuracy_s

    def summary(self) -> dict[str, Any]:
        wall = self.clock() - self.started
        other = max(wall - self.timed_s - self.accuracy_s, 0.0)
        return {
            "wall_s": _kept(wall),
            "timed_s": _kept(self.timed_s),
            "accuracy_s": _kept(self.accuracy_s),
            "other_s": _kept(other),
            "other_share": round(other / wall, 4) if wall > 0 else 0.0,
            "children": self.children,
            "children_s": _kept(self.children_s),
        }

    def line(self) -> str:
        s = self.summary()
        return (
            f"cost: {seconds(s['wall_s'])} wall; {seconds(s['timed_s'])} in timed regions, {seconds(s['accuracy_s'])} "
            f"scoring accuracy, {seconds(s['other_s'])} elsewhere ({s['other_share']:.0%}: {s['children']} child "
            "starts, imports, loads, prepare checks, judging)"
        )


DIGITS = 3  # significant digits a cost keeps: the digits project's timed regions add up to well under a second


def _kept(value: float) -> float:
    """`value` to DIGITS significant digits: round(x, 1) stored a 0.04 s timed total as 0.0, read as nothing timed."""
    return float(units.significant(value, DIGITS).replace(",", ""))


def seconds(value: float) -> str:
    """'0.0412 s', '12.3 s', '1,234 s': a cost line's seconds with their digits (':.0f' printed 0.04 s as '0 s')."""
    return f"{units.significant(value, DIGITS)} s"
