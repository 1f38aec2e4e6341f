"""Change points in a metric's history, by Apache Otava's E-Divisive means (Hunter), as MongoDB and Otava use it.

A slow drift shows up as a change point even when no single night crossed a regression threshold:
the detector splits the series where the two sides differ most, and keeps a split only if a
t-test between them is significant (`max_pvalue`) and the means differ by at least `min_magnitude`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_POINTS = 4  # fewer runs than this cannot show a level on both sides of a change


@dataclass(frozen=True)
class ChangePoint:
    """The series changed level before `index` (the first point of the new level)."""

    index: int
    mean_before: float
    mean_after: float
    p_value: float

    @property
    def change(self) -> float:
        return self.mean_after / self.mean_before - 1.0 if self.mean_before else math.inf


@dataclass(frozen=True)
class Detection:
    """Change points found, or why none could be looked for (too few runs, detector not installed)."""

    points: tuple[ChangePoint, ...]
    unavailable_reason: str | None = None


def detect(values: Sequence[float], max_pvalue: float = 0.001, min_magnitude: float = 0.05) -> Detection:
    """E-Divisive change points of `values` (oldest first)."""
    if len(values) < MIN_POINTS:
        return Detection((), f"{len(values)} run(s) in the history; change points need at least {MIN_POINTS}")
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        return Detection((), "apache-otava is not installed: pip install 'benchharness[history]'")
    found, _weak = compute_change_points(
        [float(v) for v in values], window_len=50, max_pvalue=max_pvalue, min_magnitude=min_magnitude
    )
    return Detection(
        tuple(
            ChangePoint(int(cp.index), float(cp.stats.mean_1), float(cp.stats.mean_2), float(cp.stats.pvalue))
            for cp in found
        )
    )
