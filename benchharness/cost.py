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
            "wall_s": round(wall, 1),
            "timed_s": round(self.timed_s, 1),
            "accuracy_s": round(self.accuracy_s, 1),
            "other_s": round(other, 1),
            "other_share": round(other / wall, 4) if wall > 0 else 0.0,
            "children": self.children,
            "children_s": round(self.children_s, 1),
        }

    def line(self) -> str:
        s = self.summary()
        return (
            f"cost: {s['wall_s']:.0f} s wall; {s['timed_s']:.0f} s in timed regions, {s['accuracy_s']:.0f} s scoring "
            f"accuracy, {s['other_s']:.0f} s elsewhere ({s['other_share']:.0%}: {s['children']} child starts, imports, "
            "loads, prepare checks, judging)"
        )
