"""How far a variant's next-token distributions are from its reference's: llama-perplexity's KLD statistics.

`llama-perplexity --kl-divergence` is what the quantization community reads to judge a quant; the
figures here are computed the same way so a row reads like its output and can be checked against it
(benchmarks/kld_vs_llama_perplexity.py does): per scored position, KL(reference || variant) summed
over the tokens whose reference log-probability is above -16 (llama.cpp's cut-off), whether both
pick the same top token, Δp = p_variant(true token) - p_reference(true token), and the two
negative log-likelihoods. Means carry llama.cpp's uncertainty: sqrt(population variance / (n - 1)).
Percentiles interpolate linearly between sorted values (numpy's default, llama.cpp's formula).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

LOG_PROB_FLOOR = -16.0  # llama.cpp skips reference tokens less likely than exp(-16) in the KL sum
KLD_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1)
DELTA_P_PERCENTILES = (99.9, 99.0, 95.0, 90.0, 75.0, 50.0, 25.0, 10.0, 5.0, 1.0, 0.1)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PerToken:
    """Per scored position: the figures every statistic is built from."""

    kld: FloatArray
    delta_p: FloatArray
    nll: FloatArray
    nll_reference: FloatArray
    same_top: npt.NDArray[np.bool_]


def per_token(variant: npt.NDArray[Any], reference: npt.NDArray[Any], targets: npt.NDArray[np.int64]) -> PerToken:
    """From log-probability rows (positions x vocabulary) of both models and the true next tokens.

    Element-wise work stays in the inputs' precision (float32 from the task, as llama.cpp computes);
    every sum is accumulated in float64.
    """
    rows = np.arange(len(targets))
    kept = reference > LOG_PROB_FLOOR
    weights = np.exp(reference, where=kept, out=np.zeros_like(reference))
    kld = (weights * (reference - variant)).sum(axis=1, dtype=np.float64)
    nll = -variant[rows, targets].astype(np.float64)
    nll_reference = -reference[rows, targets].astype(np.float64)
    return PerToken(
        kld=kld,
        delta_p=np.exp(-nll) - np.exp(-nll_reference),
        nll=nll,
        nll_reference=nll_reference,
        same_top=variant.argmax(axis=1) == reference.argmax(axis=1),
    )


def concatenate(parts: list[PerToken]) -> PerToken:
    return PerToken(*(np.concatenate([getattr(p, name) for p in parts]) for name in PerToken.__dataclass_fields__))


@dataclass(frozen=True)
class Estimate:
    value: float
    uncertainty: float  # llama.cpp's ±: sqrt(population variance / (n - 1))


def mean_and_uncertainty(values: FloatArray) -> Estimate:
    """llama.cpp's mean_and_uncertainty: no uncertainty from 10 or fewer values."""
    n = len(values)
    mean = float(values.mean())
    variance = float((values * values).mean() - mean * mean)
    return Estimate(mean, math.sqrt(variance / (n - 1)) if variance > 0 and n > 10 else 0.0)


@dataclass(frozen=True)
class KlStatistics:
    """What llama-perplexity prints under 'Perplexity', 'KL divergence' and 'Token probability' statistics."""

    count: int
    mean_kld: Estimate
    kld_percentiles: dict[str, float]  # "max", "99.9", ..., "median" (50.0), ..., "min"
    same_top: Estimate  # binomial uncertainty sqrt(p (1 - p) / (n - 1))
    mean_delta_p: Estimate
    rms_delta_p: Estimate
    delta_p_percentiles: dict[str, float]
    ln_ppl_ratio: Estimate  # mean ln(PPL(variant) / PPL(reference)), uncertainty from the paired variance
    ppl_correlation: float  # Cor(ln PPL(variant), ln PPL(reference)) across positions

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percentiles(values: FloatArray, levels: tuple[float, ...]) -> dict[str, float]:
    table = {"max": float(values.max())}
    table |= {f"{level:g}": float(np.percentile(values, level)) for level in levels}
    return table | {"min": float(values.min())}


def summarize(tokens: PerToken) -> KlStatistics:
    n = len(tokens.kld)
    if n < 2:
        raise ValueError(f"KL statistics need at least 2 scored positions, got {n}")
    same = float(tokens.same_top.mean())
    squared = np.square(tokens.delta_p, dtype=np.float64)
    mse = mean_and_uncertainty(squared)
    rms = math.sqrt(mse.value)
    nll, nll_ref = mean_and_uncertainty(tokens.nll), mean_and_uncertainty(tokens.nll_reference)
    covariance = float((tokens.nll * tokens.nll_reference).mean() - nll.value * nll_ref.value) / (n - 1)
    ratio_variance = nll.uncertainty**2 + nll_ref.uncertainty**2 - 2 * covariance
    spread = nll.uncertainty * nll_ref.uncertainty
    return KlStatistics(
        count=n,
        mean_kld=mean_and_uncertainty(tokens.kld),
        kld_percentiles=_percentiles(tokens.kld, KLD_PERCENTILES),
        same_top=Estimate(same, math.sqrt(same * (1 - same) / (n - 1))),
        mean_delta_p=mean_and_uncertainty(tokens.delta_p),
        rms_delta_p=Estimate(rms, 0.5 / rms * mse.uncertainty if rms > 0 else 0.0),
        delta_p_percentiles=_percentiles(tokens.delta_p, DELTA_P_PERCENTILES),
        ln_ppl_ratio=Estimate(nll.value - nll_ref.value, math.sqrt(max(ratio_variance, 0.0))),
        ppl_correlation=covariance / spread if spread > 0 else 0.0,
    )
