"""Pure statistics for timings and noise-aware comparisons.

Nothing here touches files, clocks or backends, so every function can be property-tested.
Invalid samples (empty, NaN, inf) raise ValueError naming the problem instead of producing a
number that would later be gated on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Location and spread of repeated observations of one quantity."""

    n: int
    mean: float
    stdev: float
    minimum: float
    maximum: float
    median: float

    @property
    def cv(self) -> float:
        """Coefficient of variation (stdev / |mean|); 0 when the mean is 0."""
        return self.stdev / abs(self.mean) if self.mean else 0.0


def _checked(samples: Sequence[float]) -> list[float]:
    values = [float(x) for x in samples]
    if not values:
        raise ValueError("no samples: at least one observation is needed")
    bad = [x for x in values if not math.isfinite(x)]
    if bad:
        raise ValueError(f"non-finite sample {bad[0]!r} among {len(values)} observations")
    return values


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) with linear interpolation, as numpy's default method."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q={q!r} is outside 0..100")
    values = sorted(_checked(samples))
    position = (len(values) - 1) * q / 100.0
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    fraction = position - low
    return values[low] + (values[high] - values[low]) * fraction


def summarize(samples: Sequence[float]) -> Summary:
    """Mean, sample standard deviation (0 for a single sample), extremes and median."""
    values = _checked(samples)
    n = len(values)
    # Work in units of the largest magnitude, so sums and squares of huge values cannot overflow.
    scale = max(abs(x) for x in values) or 1.0
    scaled = [x / scale for x in values]
    mean_scaled = math.fsum(scaled) / n
    var_scaled = math.fsum((x - mean_scaled) ** 2 for x in scaled) / (n - 1) if n > 1 else 0.0
    # Clamp the mean into the observed range: float rounding of fsum/n can leave it a hair outside.
    mean = min(max(mean_scaled * scale, min(values)), max(values))
    stdev = math.sqrt(var_scaled) * scale
    if not math.isfinite(stdev):
        raise ValueError(f"non-finite spread: samples from {min(values)!r} to {max(values)!r} exceed float range")
    return Summary(
        n=n,
        mean=mean,
        stdev=stdev,
        minimum=min(values),
        maximum=max(values),
        median=percentile(values, 50.0),
    )


def stability_warnings(summary: Summary, label: str) -> list[str]:
    """pyperf-style warnings: figures whose spread makes them untrustworthy."""
    warnings: list[str] = []
    if summary.n < 3:
        warnings.append(f"{label}: only {summary.n} round(s); spread cannot be estimated well")
    if summary.mean and summary.cv >= 0.10:
        warnings.append(f"{label}: unstable, stdev is {summary.cv:.0%} of the mean (>= 10%)")
    if summary.mean:
        worst = max(abs(summary.maximum - summary.mean), abs(summary.mean - summary.minimum))
        if worst / abs(summary.mean) >= 0.5:
            warnings.append(f"{label}: an outlier lies {worst / abs(summary.mean):.0%} from the mean (>= 50%)")
    return warnings


@dataclass(frozen=True)
class Comparison:
    """A current figure against a stored one, in the metric's own 'better' direction."""

    baseline: float
    current: float
    change: float  # relative, signed: (current - baseline) / |baseline|
    tolerance: float  # relative change needed to call it a regression or improvement
    regressed: bool
    improved: bool


def compare_to_baseline(
    baseline_mean: float,
    baseline_stdev: float,
    current_mean: float,
    current_stdev: float,
    *,
    higher_is_better: bool,
    noise_k: float,
    min_effect: float,
) -> Comparison:
    """Decide regression only when a change is past the noise *and* past a minimum effect size.

    The noise band is `noise_k` standard deviations of the difference of two single observations
    (sqrt(sb^2 + sc^2)), built from the spreads recorded with both figures; `min_effect` keeps a
    metric measured with no spread at all (deterministic accuracy) from failing on rounding. This is
    asv's rule (a factor and a statistical difference), so a noisy machine widens its own tolerance.
    """
    for name, value in (
        ("baseline_mean", baseline_mean),
        ("baseline_stdev", baseline_stdev),
        ("current_mean", current_mean),
        ("current_stdev", current_stdev),
    ):
        if not math.isfinite(value):
            raise ValueError(f"{name}={value!r} is not finite")
    if baseline_stdev < 0 or current_stdev < 0:
        raise ValueError("standard deviations must be >= 0")
    if noise_k < 0 or min_effect < 0:
        raise ValueError(f"noise_k={noise_k!r} and min_effect={min_effect!r} must be >= 0")
    if baseline_mean == 0:
        raise ValueError("baseline_mean is 0: a relative change cannot be computed")
    scale = abs(baseline_mean)
    noise = noise_k * math.sqrt(baseline_stdev**2 + current_stdev**2) / scale
    tolerance = max(noise, min_effect)
    change = (current_mean - baseline_mean) / scale
    worse = -change if higher_is_better else change
    return Comparison(
        baseline=baseline_mean,
        current=current_mean,
        change=change,
        tolerance=tolerance,
        regressed=worse > tolerance,
        improved=-worse > tolerance,
    )
