"""Pure statistics for timings and noise-aware comparisons.

Nothing here touches files, clocks or backends, so every function can be property-tested.
Invalid samples (empty, NaN, inf) raise ValueError naming the problem instead of producing a
number that would later be gated on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np


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


# ---------------------------------------------------------------------------------------------
# Paired intervals and three-way decisions (issue: verdicts a team can trust).

Decision = Literal["pass", "fail", "inconclusive"]

#: A fixed seed makes every bootstrap a pure function of its samples: the same data always gives
#: the same interval, so a verdict can never flip on the resampler's luck.
BOOTSTRAP_SEED = 20261124
BOOTSTRAP_RESAMPLES = 4000


@dataclass(frozen=True)
class Interval:
    """An estimate with a two-sided confidence interval, and how many paired observations made it."""

    estimate: float
    low: float
    high: float
    n: int
    confidence: float
    method: str

    def __post_init__(self) -> None:
        for name in ("estimate", "low", "high"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"interval {name}={getattr(self, name)!r} is not finite")
        if not self.low <= self.high:
            raise ValueError(f"interval low {self.low!r} is above high {self.high!r}")


def _bootstrap(
    samples: tuple[Sequence[float], ...],
    statistic: Any,
    confidence: float,
    paired: bool = True,
    vectorized: bool = False,
) -> tuple[float, float]:
    """Percentile bootstrap CI with scipy (paired: the samples resampled jointly); degenerate data gives a point.

    `vectorized`: `statistic` takes an `axis` and is computed over all resamples in one call, not once per
    resample in Python (compare of two 50-machine labs spent 97% of its ten minutes there); the resamples are
    the same either way.
    """
    from scipy import stats as scipy_stats

    arrays = [np.asarray(s, dtype=np.float64) for s in samples]
    if all(np.ptp(a) == 0 for a in arrays):  # every resample gives the same value
        value = float(statistic(*arrays))
        return value, value
    result = scipy_stats.bootstrap(
        tuple(arrays),
        statistic,
        paired=paired,
        vectorized=vectorized,
        confidence_level=confidence,
        n_resamples=BOOTSTRAP_RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(BOOTSTRAP_SEED),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def _check_confidence(confidence: float) -> None:
    if not 0.5 <= confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must be in [0.5, 1)")


def ratio_interval(
    numerators: Sequence[float],
    denominators: Sequence[float],
    confidence: float = 0.95,
    children: Sequence[int] | None = None,
) -> Interval:
    """Geometric mean of per-pair ratios num/den with a bootstrap CI over the pairs (or the children).

    Pairs are what cancels machine drift: each ratio compares two runs taken seconds apart, so a
    machine that slows down by 20% over the session moves both sides of every ratio together.

    `children`: how many consecutive pairs each paired child ran (they sum to the pairs). Pairs of one
    child share what its loads left behind (where each side's memory landed, which side loaded and ran
    first), so with two children or more the interval comes from a two-stage bootstrap: children
    resampled, then pairs within each (Davison & Hinkley 1997, section 3.8). On a quiet 2-core VM the
    four children of an OpenVINO A/A run read 0.89-1.04x each (benchmarks/results/aa_paired_load_order.md):
    the spread between children is the larger one, and a bootstrap over pairs alone would call it an
    effect. With one child that spread is not measured, and the method says so.

    Raises ValueError on unequal lengths, a value <= 0, or `children` that do not sum to the pairs.
    """
    _check_confidence(confidence)
    num, den = _checked(numerators), _checked(denominators)
    if len(num) != len(den):
        raise ValueError(f"paired samples differ in length: {len(num)} vs {len(den)}")
    if min(num) <= 0 or min(den) <= 0:
        raise ValueError("ratios need positive samples (a rate or a time), got a value <= 0")
    sizes = [len(num)] if children is None else [int(c) for c in children]
    if sum(sizes) != len(num) or min(sizes) < 1:
        raise ValueError(f"children {sizes} must be positive pair counts summing to the {len(num)} pairs")
    logs = np.log(np.asarray(num)) - np.log(np.asarray(den))
    estimate = float(np.exp(logs.mean()))
    if len(logs) < 2:
        return Interval(estimate, estimate, estimate, 1, confidence, "single pair: no interval")
    if len(sizes) >= 2:
        low, high = _two_stage_bootstrap(logs, sizes, confidence)
        method = (
            f"two-stage bootstrap over {len(sizes)} children and {len(logs)} pairs "
            f"(geometric mean of per-pair ratios, percentile {confidence:.0%})"
        )
    else:
        low, high = _bootstrap((logs,), np.mean, confidence)
        method = (
            f"bootstrap over {len(logs)} pairs of one child (geometric mean of per-pair ratios, percentile "
            f"{confidence:.0%}; the spread between children is not in it)"
        )
    # A percentile of resampled means can land an ulp past the mean itself when all pairs nearly agree.
    return Interval(
        estimate, min(math.exp(low), estimate), max(math.exp(high), estimate), len(logs), confidence, method
    )


def _two_stage_bootstrap(logs: Any, sizes: Sequence[int], confidence: float) -> tuple[float, float]:
    """Percentile CI of the mean log ratio: resample children with replacement, then pairs within each."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    bounds = np.cumsum([0, *sizes])
    groups = [logs[bounds[i] : bounds[i + 1]] for i in range(len(sizes))]
    means = np.empty(BOOTSTRAP_RESAMPLES)
    for b in range(BOOTSTRAP_RESAMPLES):
        picked = rng.integers(0, len(groups), len(groups))
        drawn = [rng.choice(groups[g], size=len(groups[g]), replace=True) for g in picked]
        means[b] = np.concatenate(drawn).mean()
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def retention_interval(variant: Sequence[float], reference: Sequence[float], confidence: float = 0.95) -> Interval:
    """mean(variant) / mean(reference) of paired per-item outcomes (1 = right), bootstrap CI over items."""
    _check_confidence(confidence)
    v, r = _checked(variant), _checked(reference)
    if len(v) != len(r):
        raise ValueError(f"paired outcomes differ in length: {len(v)} vs {len(r)}; were they scored on the same items?")
    if math.fsum(r) <= 0:
        raise ValueError("the reference got no item right: retention is undefined")

    def retained(a: Any, b: Any) -> float:
        total = float(np.sum(b))
        return float(np.sum(a)) / total if total > 0 else 0.0

    estimate = retained(np.asarray(v), np.asarray(r))
    low, high = _bootstrap((v, r), retained, confidence)
    low, high = min(low, estimate), max(high, estimate)
    method = f"paired bootstrap over {len(v)} items (percentile {confidence:.0%})"
    return Interval(estimate, low, high, len(v), confidence, method)


def change_interval(old: Sequence[float], new: Sequence[float], confidence: float = 0.95) -> Interval:
    """Relative change of the median, median(new) / median(old) - 1, with a bootstrap CI over both runs' rounds.

    The two runs are independent (different sessions), so each side is resampled on its own.
    """
    _check_confidence(confidence)
    a, b = _checked(old), _checked(new)
    base = float(np.median(a))
    if base == 0:
        raise ValueError("the old median is 0: a relative change cannot be computed")

    def relative(x: Any, y: Any, axis: int = -1) -> Any:
        return np.median(y, axis=axis) / np.median(x, axis=axis) - 1.0

    estimate = float(relative(np.asarray(a), np.asarray(b)))
    if len(a) < 2 or len(b) < 2:
        return Interval(
            estimate, estimate, estimate, min(len(a), len(b)), confidence, "one sample on a side: no interval"
        )
    low, high = _bootstrap((a, b), relative, confidence, paired=False, vectorized=True)
    low, high = min(low, estimate), max(high, estimate)
    method = f"bootstrap of the median ratio over {len(a)} old and {len(b)} new rounds (percentile {confidence:.0%})"
    return Interval(estimate, low, high, min(len(a), len(b)), confidence, method)


def ratio_of_ratios_interval(
    old_log_ratios: Sequence[float], new_log_ratios: Sequence[float], confidence: float = 0.95
) -> Interval:
    """How a paired ratio (e.g. speedup) moved between two runs: geomean(new) / geomean(old), with a CI.

    Each side is the per-pair ln(variant / reference) of its own session; the sessions are
    independent, so each is resampled on its own. 1.0 means the gate ratio did not move.
    """
    _check_confidence(confidence)
    a, b = _checked(old_log_ratios), _checked(new_log_ratios)

    def moved(x: Any, y: Any, axis: int = -1) -> Any:
        return np.mean(y, axis=axis) - np.mean(x, axis=axis)

    estimate = float(moved(np.asarray(a), np.asarray(b)))
    if len(a) < 2 or len(b) < 2:
        point = math.exp(estimate)
        return Interval(point, point, point, min(len(a), len(b)), confidence, "one pair on a side: no interval")
    low, high = _bootstrap((a, b), moved, confidence, paired=False, vectorized=True)
    low, high = min(low, estimate), max(high, estimate)
    method = (
        f"bootstrap over {len(a)} old and {len(b)} new pairs (ratio of geometric means, percentile {confidence:.0%})"
    )
    return Interval(math.exp(estimate), math.exp(low), math.exp(high), min(len(a), len(b)), confidence, method)


def decide(interval: Interval, minimum: float) -> Decision:
    """Pinpoint's three outcomes: the whole interval clears the line, lies below it, or straddles it."""
    if not math.isfinite(minimum):
        raise ValueError(f"threshold {minimum!r} is not finite")
    if interval.low >= minimum:
        return "pass"
    if interval.high < minimum:
        return "fail"
    return "inconclusive"


@dataclass(frozen=True)
class Shift:
    """A current sample set against a stored one: effect size, significance and the decision."""

    baseline: float  # median of the stored samples
    current: float  # median of the current samples
    change: float  # (current - baseline) / |baseline|, signed
    p_value: float | None  # one-sided Mann-Whitney U in the bad direction; None without samples
    regressed: bool
    improved: bool
    reason: str  # which rule decided, for the message
    underpowered: bool = False  # too few samples for any p under alpha: a big move cannot be called either way


UNCERTAINTY_Z = 2.0  # a deterministic figure's change must also exceed this many of its own standard errors


def effect_size_shift(
    baseline: float,
    current: float,
    *,
    higher_is_better: bool,
    tolerance: float,
    standard_error: float = 0.0,
) -> Shift:
    """A deterministic figure (accuracy, KL, file size) against its stored value: effect size, no test.

    A re-run on the same machine reproduces such a figure exactly, so there are no rounds to test and
    re-recording adds no evidence. It has moved when the relative change exceeds `tolerance` *and*, where
    the figure carries a standard error over its items (KL over tokens: llama-perplexity's ±), the change
    exceeds UNCERTAINTY_Z of them: ln(PPL ratio) going from 0.0005 to 0.0010 nats is +100% yet well inside
    a ± of 0.002, which is what a different corpus sample would do to it, not a different model.
    """
    old, new = _checked([baseline])[0], _checked([current])[0]
    if not (math.isfinite(tolerance) and tolerance >= 0) or not (math.isfinite(standard_error) and standard_error >= 0):
        raise ValueError(f"tolerance={tolerance!r} and standard_error={standard_error!r} must be finite and >= 0")
    if old == 0:
        raise ValueError("baseline value is 0: a relative change cannot be computed")
    change = (new - old) / abs(old)
    worse = -change if higher_is_better else change
    past_noise = abs(new - old) > UNCERTAINTY_Z * standard_error
    big = abs(worse) > tolerance and past_noise
    reason = f"deterministic: effect size only, tolerance {tolerance:.0%}"
    if standard_error > 0:
        reason += f" and {UNCERTAINTY_Z:g} x its standard error {standard_error:.2g}"
    return Shift(old, new, change, None, big and worse > 0, big and worse < 0, reason)


def mann_whitney_shift(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    higher_is_better: bool,
    min_effect: float,
    alpha: float,
) -> Shift:
    """asv's rule: a regression needs both an effect larger than `min_effect` and p < `alpha`.

    The test is one-sided in the bad direction (and separately in the good one, for improvements),
    exact for small samples. With too few samples the smallest attainable p-value can exceed
    `alpha`; then nothing is called and the reason says how many rounds would be needed.
    """
    from scipy import stats as scipy_stats

    old, new = _checked(baseline), _checked(current)
    if not (0.0 < alpha < 1.0) or not (math.isfinite(min_effect) and min_effect >= 0):
        raise ValueError(f"alpha={alpha!r} must be in (0, 1) and min_effect={min_effect!r} >= 0")
    base, cur = float(np.median(old)), float(np.median(new))
    if base == 0:
        raise ValueError("baseline median is 0: a relative change cannot be computed")
    change = (cur - base) / abs(base)
    worse = -change if higher_is_better else change
    big = abs(worse) > min_effect
    if max(old) == min(old) and max(new) == min(new):
        # Deterministic figures (accuracy): no sampling noise, the effect size alone decides.
        return Shift(base, cur, change, None, big and worse > 0, big and worse < 0, "deterministic: effect size only")
    smallest_p = 1.0 / math.comb(len(old) + len(new), len(old))
    if smallest_p >= alpha:
        return Shift(
            base,
            cur,
            change,
            None,
            False,
            False,
            f"{len(old)} vs {len(new)} samples cannot reach p < {alpha:g} (need more rounds)",
            underpowered=True,
        )
    bad = "less" if higher_is_better else "greater"
    good = "greater" if higher_is_better else "less"
    p_bad = float(scipy_stats.mannwhitneyu(new, old, alternative=bad).pvalue)
    p_good = float(scipy_stats.mannwhitneyu(new, old, alternative=good).pvalue)
    regressed = worse > min_effect and p_bad < alpha
    improved = -worse > min_effect and p_good < alpha
    p = p_bad if worse >= 0 else p_good
    return Shift(base, cur, change, p, regressed, improved, f"Mann-Whitney U one-sided p={p:.2g}")


# ---------------------------------------------------------------------------------------------
# Between runs: the run (a child process) is the unit of replication, not the round.

#: Fewest earlier runs (or children) of a figure before its between-run spread is estimated at all.
MIN_REPLICATES = 3


@dataclass(frozen=True)
class RunShift:
    """A figure in one run (or its children) against the same machine's other runs of it.

    `decided` is False when there are too few replicates to know the between-run spread: the caller
    then says "not decided", never "regressed" (Pinpoint's `unknown`).
    """

    change: float  # exp(mean ln current - mean ln reference) - 1
    p_value: float | None  # one-sided, in the direction of the change; None when not decided
    replicates: int  # reference runs or children the spread was learnt from
    decided: bool
    reason: str


SPREAD_UNKNOWN = "between-run spread unknown"  # run_shift's words where too few other runs are known


def run_shift(reference: Sequence[float], current: Sequence[float], *, alpha: float) -> RunShift:
    """Student's two-sample t-test on ln(value), one value per run or child on each side.

    Rounds inside one child share its process state, placement and the machine's mood of that moment,
    so they say nothing about how far a figure moves between runs; only other runs do. `reference`
    holds the old side and the same machine's other runs of the figure (its history, the two compared left
    out, so in `compare` it may hold runs made after the new one; the old run's children), `current` the
    new run and its children. The reason says "old-side", not "earlier", for that. The logs make the spread relative, so one spread serves a
    machine whose figures drift as a whole. With fewer than MIN_REPLICATES reference values, or no
    degrees of freedom, nothing is decided.
    """
    from scipy import stats as scipy_stats

    ref, cur = _checked(reference), _checked(current)
    if not (0.0 < alpha < 1.0):
        raise ValueError(f"alpha={alpha!r} must be in (0, 1)")
    if min(ref) <= 0 or min(cur) <= 0:
        raise ValueError("a between-run comparison needs positive figures (a rate, a time, a size), got a value <= 0")
    a, b = np.log(np.asarray(ref)), np.log(np.asarray(cur))
    diff = float(b.mean() - a.mean())
    change = math.expm1(diff)
    df = len(a) + len(b) - 2
    if len(a) < MIN_REPLICATES or df < 2:
        reason = f"{SPREAD_UNKNOWN}: {len(a)} old-side run(s) or child(ren) of this figure, {MIN_REPLICATES} needed"
        return RunShift(change, None, len(a), False, reason)
    pooled = (float(np.sum((a - a.mean()) ** 2)) + float(np.sum((b - b.mean()) ** 2))) / df
    se = math.sqrt(pooled * (1.0 / len(a) + 1.0 / len(b)))
    p = (1.0 if diff == 0.0 else 0.0) if se == 0.0 else float(scipy_stats.t.sf(abs(diff) / se, df))
    spread = math.sqrt(pooled)
    reason = f"between runs: t-test over {len(a)} old-side and {len(b)} new-side run(s), spread {spread:.1%}, p={p:.2g}"
    return RunShift(change, p, len(a), True, reason)
