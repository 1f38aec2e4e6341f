"""Change points in a metric's history: Apache Otava's E-Divisive means (Hunter) finds where, three rules decide.

E-Divisive (as MongoDB and Otava use it) splits a series where the two sides differ most, so a slow
drift shows up even when no single night crossed a regression threshold. On its own it cries wolf:
simulated on noise-only nightly series it called "+8.0%, p = 1e-04" after the first two nights of one
(issue 28), because a t-test between two nights and the rest is no evidence of a level. So its split
points are only candidates, and a change point is kept when

1. each level holds for at least `min_segment` nights (default 3): one or two odd nights are no level;
2. the step is at least `min_noise_multiple` times the series' own night-to-night spread (default 2x a
   robust sigma, 1.4826 x the median absolute deviation from each level's median, so one outlier
   night cannot inflate the yardstick it is measured by), at least `min_magnitude` of the level before
   (default 1%, the floor for figures that barely move), and Student's t-test between the two levels
   gives p < `max_pvalue` (default 0.001).

A night or two that leaves the level and comes back (the "went-away" case: a busy host, a page cache
left warm) is never a change point (rule 1); when it left by `transient_multiple` sigmas (default 5:
one night has no t-test behind it, so its margin is wider) it is reported as a `Transient`, so it
reads as what it was, not as a regression. The defaults were set by simulation
(benchmarks/synthetic_lab.py, recorded in benchmarks/results/changepoints_false_alarms.md): about
0.5% of noise-only 30-night series raise a change point at any noise level, and a planted 5% step is
found within three nights of where it was planted in 99.6% of series at 1% noise, 88% at 2%, 42% at 3%.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SEGMENT = 3  # nights a new level must hold before it is a change point
MIN_NOISE_MULTIPLE = 2.0  # the step over the series' robust night-to-night sigma
MIN_MAGNITUDE = 0.01  # the relative floor, for series whose spread is ~0 (memory, file sizes)
TRANSIENT_MULTIPLE = 5.0  # one or two nights are judged against sigma alone, with no t-test: a wider margin
MAX_PVALUE = 0.001  # Student's t-test between the two levels
MAD_TO_SIGMA = 1.4826  # the median absolute deviation of a normal sample is 0.6745 sigma


@dataclass(frozen=True)
class ChangePoint:
    """The series changed level before `index` (the first point of the new level)."""

    index: int
    mean_before: float
    mean_after: float
    p_value: float
    noise_multiple: float = math.inf  # the step over the series' robust sigma (inf when the series is exact)

    @property
    def change(self) -> float:
        return self.mean_after / self.mean_before - 1.0 if self.mean_before else math.inf


@dataclass(frozen=True)
class Transient:
    """Nights `start` .. `end - 1` left the level and the next night came back: not a regression."""

    start: int
    end: int
    level: float
    mean_away: float

    @property
    def change(self) -> float:
        return self.mean_away / self.level - 1.0 if self.level else math.inf


@dataclass(frozen=True)
class Detection:
    """Change points and transients found, or why none could be looked for (too few runs, no detector)."""

    points: tuple[ChangePoint, ...]
    unavailable_reason: str | None = None
    transients: tuple[Transient, ...] = ()


@dataclass(frozen=True)
class Rules:
    """What a split must show to be called a change point (see the module docstring for why each)."""

    max_pvalue: float = MAX_PVALUE
    min_magnitude: float = MIN_MAGNITUDE
    min_segment: int = MIN_SEGMENT
    min_noise_multiple: float = MIN_NOISE_MULTIPLE
    transient_multiple: float = TRANSIENT_MULTIPLE

    def __post_init__(self) -> None:
        if self.min_segment < 2:
            raise ValueError(f"min_segment={self.min_segment}: a level needs at least 2 nights; use 2 or more")
        if not 0 < self.max_pvalue < 1:
            raise ValueError(f"max_pvalue={self.max_pvalue}: must lie between 0 and 1; the default is {MAX_PVALUE}")
        if self.min_magnitude < 0 or self.min_noise_multiple < 0:
            raise ValueError(
                f"min_magnitude={self.min_magnitude}, min_noise_multiple={self.min_noise_multiple}: "
                "must not be negative; use 0 to switch a rule off"
            )


def robust_sigma(values: Sequence[float], bounds: Sequence[int]) -> float:
    """1.4826 x the median absolute deviation of each point from its own level's median (levels cut at `bounds`)."""
    edges = [0, *bounds, len(values)]
    residuals = []
    for a, b in itertools.pairwise(edges):
        centre = statistics.median(values[a:b])
        residuals += [abs(v - centre) for v in values[a:b]]
    return MAD_TO_SIGMA * statistics.median(residuals) if residuals else 0.0


def _t_test_p(before: Sequence[float], after: Sequence[float]) -> float:
    """Two-sided Student's t-test p, the spread pooled; two exact levels (no spread at all) that differ give 0.

    A step moves the level, not the spread, so both sides estimate one variance: pooled, a new level
    three nights old is judged with the whole series' evidence (Welch's test, with ~2 degrees of
    freedom from those three nights, needed several more nights to reach p < 0.001 on a clear step).
    """
    from scipy import stats as scipy_stats

    if statistics.pstdev(before) == 0 and statistics.pstdev(after) == 0:
        return 0.0 if statistics.fmean(before) != statistics.fmean(after) else 1.0
    return float(scipy_stats.ttest_ind(before, after, equal_var=True).pvalue)


def _judge(values: Sequence[float], bounds: list[int], i: int, sigma: float) -> ChangePoint:
    """The change point at bounds[i], measured between its two neighbouring levels."""
    edges = [0, *bounds, len(values)]
    before, after = values[edges[i] : edges[i + 1]], values[edges[i + 1] : edges[i + 2]]
    mean_before, mean_after = statistics.fmean(before), statistics.fmean(after)
    step = abs(mean_after - mean_before)
    multiple = step / sigma if sigma > 0 else (math.inf if step > 0 else 0.0)
    return ChangePoint(bounds[i], mean_before, mean_after, _t_test_p(before, after), multiple)


def _passes(cp: ChangePoint, rules: Rules) -> bool:
    relative = abs(cp.change) if cp.mean_before else math.inf
    return (
        cp.p_value < rules.max_pvalue
        and cp.noise_multiple >= rules.min_noise_multiple
        and relative >= rules.min_magnitude
    )


def _drop_short_levels(values: Sequence[float], bounds: list[int], rules: Rules) -> list[int]:
    """Merge every level shorter than `min_segment` nights into the neighbour nearest its mean."""
    bounds = list(bounds)
    while True:
        edges = [0, *bounds, len(values)]
        lengths = [b - a for a, b in itertools.pairwise(edges)]
        short = [k for k, n in enumerate(lengths) if n < rules.min_segment]
        if not short or not bounds:
            return bounds
        k = min(short, key=lambda j: lengths[j])
        if k == 0:
            del bounds[0]
        elif k == len(lengths) - 1:
            del bounds[-1]
        else:
            mean = statistics.fmean(values[edges[k] : edges[k + 1]])
            left = statistics.fmean(values[edges[k - 1] : edges[k]])
            right = statistics.fmean(values[edges[k + 1] : edges[k + 2]])
            del bounds[k - 1 if abs(mean - left) <= abs(mean - right) else k]


def _transients(values: Sequence[float], bounds: list[int], sigma: float, rules: Rules) -> tuple[Transient, ...]:
    """Runs of 1 .. min_segment-1 nights inside a level that left it by the change-point margin and came back."""
    found = []
    edges = [0, *bounds, len(values)]
    for a, b in itertools.pairwise(edges):
        level = statistics.median(values[a:b])
        margin = max(rules.transient_multiple * sigma, rules.min_magnitude * abs(level))
        if margin == 0:
            margin = math.ulp(abs(level) or 1.0)

        def side(v: float, level: float = level, margin: float = margin) -> int:
            return 1 if v - level >= margin else (-1 if level - v >= margin else 0)

        i = a
        while i < b:
            direction = side(values[i])
            j = i
            while j < b and direction != 0 and side(values[j]) == direction:
                j += 1
            if direction != 0 and j - i < rules.min_segment and j < b and i > a:
                found.append(Transient(i, j, level, statistics.fmean(values[i:j])))
            i = max(j, i + 1)
    return tuple(found)


def detect(
    values: Sequence[float],
    max_pvalue: float = MAX_PVALUE,
    min_magnitude: float = MIN_MAGNITUDE,
    min_segment: int = MIN_SEGMENT,
    min_noise_multiple: float = MIN_NOISE_MULTIPLE,
    transient_multiple: float = TRANSIENT_MULTIPLE,
) -> Detection:
    """Change points of `values` (oldest first) that pass the rules, and the transients beside them."""
    rules = Rules(max_pvalue, min_magnitude, min_segment, min_noise_multiple, transient_multiple)
    needed = 2 * rules.min_segment
    if len(values) < needed:
        return Detection(
            (),
            f"{len(values)} run(s) in the history; change points need at least {needed} "
            f"({rules.min_segment} runs on each side of a change)",
        )
    try:
        from otava.analysis import compute_change_points
    except ImportError:
        return Detection((), "apache-otava is not installed: pip install 'benchharness[history]'")
    series = [float(v) for v in values]
    # E-Divisive's split step at its own relaxed significance gives the candidate places; the rules judge them.
    _found, weak = compute_change_points(series, window_len=50, max_pvalue=max_pvalue, min_magnitude=0.0)
    bounds = _drop_short_levels(series, sorted({int(cp.index) for cp in weak or []}), rules)
    while True:
        sigma = robust_sigma(series, bounds)
        judged = [_judge(series, bounds, i, sigma) for i in range(len(bounds))]
        failing = [cp for cp in judged if not _passes(cp, rules)]
        if not failing:
            break
        weakest = min(failing, key=lambda cp: (cp.noise_multiple, -cp.p_value))
        bounds.remove(weakest.index)  # merging two levels changes their neighbours' figures: judge again
    return Detection(tuple(judged), None, _transients(series, bounds, robust_sigma(series, bounds), rules))
