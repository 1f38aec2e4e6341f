"""The values that flow from meters to gates: one Reading per metric, a Measurement per case.

A Reading is either a figure with its unit, spread and source, or 'unavailable' with the reason.
There is no third state where a zero stands in for "not measured".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from benchharness.child_info import ChildInfo

Better = Literal["higher", "lower", "neither"]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric means: its unit, which direction is better, and whether baselines track it."""

    unit: str
    better: Better
    label: str
    tracked: bool = True  # compared with the stored baseline
    # A re-run on the same machine and build reproduces it exactly (an accuracy task's output, a file's
    # size): compared with the baseline by effect size alone, never by a test over rounds it does not have.
    # Its stdev, where it has one, is a spread over items (tokens, queries), not over runs.
    deterministic: bool = False


METRICS: dict[str, MetricSpec] = {
    "ttft_ms": MetricSpec("ms", "lower", "time to first token"),
    "prefill_tok_per_s": MetricSpec("tok/s", "higher", "prefill throughput"),
    "decode_tok_per_s": MetricSpec("tok/s", "higher", "decode throughput"),
    "decode_latency_p50_ms": MetricSpec("ms", "lower", "decode latency p50"),
    "decode_latency_p90_ms": MetricSpec("ms", "lower", "decode latency p90"),
    "decode_latency_p99_ms": MetricSpec("ms", "lower", "decode latency p99", tracked=False),
    "peak_rss_bytes": MetricSpec("B", "lower", "peak resident memory"),
    "model_memory_bytes": MetricSpec("B", "lower", "model memory (timed-region peak RSS minus RSS before load)"),
    "region_peak_rss_bytes": MetricSpec("B", "lower", "peak RSS sampled in the timed region", tracked=False),
    "load_memory_bytes": MetricSpec("B", "lower", "RSS added by loading the model", tracked=False),
    "rss_anon_bytes": MetricSpec("B", "lower", "anonymous resident memory at the timed region's end", tracked=False),
    "rss_file_bytes": MetricSpec(
        "B", "lower", "file-backed resident memory (mapped weights, reclaimable) at the region's end", tracked=False
    ),
    # Against the machine's physical limit (roofline.py): what one decoded token reads, and how close to the line.
    "bytes_per_token": MetricSpec(
        "B",
        "lower",
        "bytes read per decoded token (weights + KV cache at the depth)",
        tracked=False,
        deterministic=True,
    ),
    "decode_read_gb_per_s": MetricSpec("GB/s", "higher", "decode's effective read rate", tracked=False),
    "mbu": MetricSpec(
        "fraction", "neither", "model bandwidth utilisation (of the measured read bandwidth)", tracked=False
    ),
    "weights_file_bytes": MetricSpec(
        "B", "lower", "weights the runtime loads, on disk (tokenizer and configs apart)", deterministic=True
    ),
    "tokenizer_file_bytes": MetricSpec("B", "lower", "tokenizer files on disk", deterministic=True),
    "energy_j": MetricSpec("J", "lower", "energy per round"),
    "energy_per_token_j": MetricSpec("J", "lower", "energy per generated token (its round's prefill included)"),
    "tokens_per_j": MetricSpec("tokens/J", "higher", "generated tokens per joule", tracked=False),
    "energy_per_item_j": MetricSpec("J", "lower", "energy per item (batch of 32)"),
    "items_per_j": MetricSpec("items/J", "higher", "items per joule", tracked=False),
    # Asked-for estimates where no counter exists: shown, never gated, never compared with a baseline.
    "estimated_energy_j": MetricSpec("J", "lower", "ESTIMATED energy per round", tracked=False),
    "estimated_energy_per_token_j": MetricSpec("J", "lower", "ESTIMATED energy per token", tracked=False),
    "estimated_tokens_per_j": MetricSpec("tokens/J", "higher", "ESTIMATED tokens per joule", tracked=False),
    "estimated_energy_per_item_j": MetricSpec("J", "lower", "ESTIMATED energy per item", tracked=False),
    "estimated_items_per_j": MetricSpec("items/J", "higher", "ESTIMATED items per joule", tracked=False),
    # How busy the case kept the CPU (a context figure for the flags; it moves with the machine, not the model).
    "cpu_utilisation": MetricSpec("fraction", "neither", "CPU utilisation of the timed region", tracked=False),
    # How much of the machine's CPU time in the timed region went to work the case did not cause.
    "outside_cpu_load": MetricSpec("fraction", "neither", "outside CPU load in the timed region", tracked=False),
    "gpu_utilisation": MetricSpec("fraction", "neither", "GPU utilisation of the timed region (NVML)", tracked=False),
    "gpu_memory_bytes": MetricSpec("B", "lower", "this process's GPU memory, peak over the timed region (NVML)"),
    "gpu_model_memory_bytes": MetricSpec(
        "B", "lower", "model GPU memory (the process's GPU memory peak minus its CUDA context; NVML)"
    ),
    # The runtime's fixed cost on the board: shown, not baselined (it moves with the driver, not the model).
    "gpu_context_bytes": MetricSpec("B", "lower", "CUDA context memory (NVML, read before load)", tracked=False),
    # Cold start: one reading per child, noisy across children, so shown and limited but not baselined.
    "load_ms": MetricSpec("ms", "lower", "model load time", tracked=False),
    "first_inference_ms": MetricSpec("ms", "lower", "first call after load", tracked=False),
    "top1_accuracy": MetricSpec("fraction", "higher", "next-token top-1 accuracy", deterministic=True),
    "perplexity": MetricSpec("", "lower", "perplexity", deterministic=True),
    "same_top1_vs_reference": MetricSpec("fraction", "higher", "same top-1 as reference", deterministic=True),
    "mean_kl_vs_reference": MetricSpec("nats", "lower", "mean KL divergence from reference", deterministic=True),
    "kl_p99_vs_reference": MetricSpec(
        "nats", "lower", "99th percentile KL divergence from reference", deterministic=True
    ),
    "delta_p_rms_vs_reference": MetricSpec(
        "fraction", "lower", "RMS change in the true token's probability", deterministic=True
    ),
    "ln_ppl_ratio_vs_reference": MetricSpec(
        "nats", "lower", "mean ln(PPL(variant) / PPL(reference))", deterministic=True
    ),
    # The team's prompts with expected answers (tasks/answers.py), scored by greedy generation.
    "answer_exact_match": MetricSpec(
        "fraction", "higher", "exact answers to the team's prompts (greedy generation)", deterministic=True
    ),
    "answer_flips_right_to_wrong": MetricSpec(
        "fraction", "lower", "prompts the reference answered right and this variant wrong", deterministic=True
    ),
    "answer_flips_wrong_to_right": MetricSpec(
        "fraction", "neither", "prompts the reference answered wrong and this variant right", deterministic=True
    ),
    # One-call models (encoders, classifiers), timed at batch 1 and batch 32.
    "batch1_latency_ms": MetricSpec("ms", "lower", "batch-1 latency"),
    "batch1_latency_p90_ms": MetricSpec("ms", "lower", "batch-1 latency p90", tracked=False),
    "batch1_items_per_s": MetricSpec("items/s", "higher", "batch-1 throughput"),
    "batch32_latency_ms": MetricSpec("ms", "lower", "batch-32 latency"),
    "batch32_latency_p90_ms": MetricSpec("ms", "lower", "batch-32 latency p90", tracked=False),
    "batch32_items_per_s": MetricSpec("items/s", "higher", "batch-32 throughput"),
    "retrieval_top1": MetricSpec(
        "fraction",
        "higher",
        "retrieval top-1 (queries whose own document ranks first; the reading says on which data)",
        deterministic=True,
    ),
    "cosine_vs_reference": MetricSpec("cosine", "higher", "embedding cosine to reference", deterministic=True),
    "heldout_accuracy": MetricSpec(
        "fraction", "higher", "held-out accuracy (digits, or the team's labelled data)", deterministic=True
    ),
    "same_prediction_vs_reference": MetricSpec(
        "fraction", "higher", "same prediction as reference", deterministic=True
    ),
}


# Metrics whose meaning changed: a stored figure under the old name is never compared with the new one.
RETIRED: dict[str, str] = {
    "model_file_bytes": (
        "model_file_bytes counted every file in the variant's folder (tokenizer, configs, and on ONNX Runtime a "
        "graph copy written at load time); it is now weights_file_bytes and tokenizer_file_bytes"
    ),
}


def metric_spec(name: str) -> MetricSpec | None:
    """The spec of a metric, including a depth's or a profile's such as 'decode_tok_per_s@d2048' or 'ttft_ms@pp1024'."""
    return METRICS.get(base_name(name))


def base_name(name: str) -> str:
    """A metric's name without its depth or profile suffix (everything from the first '@')."""
    return name.split("@", 1)[0]


def depth_suffix(depth: int, headline: bool) -> str:
    """'' for the headline depth, '@d<depth>' for every other depth of a sweep."""
    return "" if headline else f"@d{depth}"


@dataclass(frozen=True)
class Reading:
    """One metric of one case: value (mean over rounds), stdev, rounds, source; or unavailable.

    `stdev` is None where no spread was measured (one figure, a percentile, a count, an accuracy over items
    whose spread is not computed): a 0.0 there read as "measured, no spread at all" in every table and frame.
    """

    name: str
    unit: str
    value: float | None
    stdev: float | None = None
    n: int = 1
    source: str = ""
    unavailable_reason: str | None = None

    def __post_init__(self) -> None:
        if self.value is None and not self.unavailable_reason:
            raise ValueError(f"reading {self.name!r} has no value and no reason why")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"reading {self.name!r} is not finite ({self.value!r})")

    @classmethod
    def unavailable(cls, name: str, unit: str, reason: str) -> Reading:
        return cls(name=name, unit=unit, value=None, n=0, unavailable_reason=reason)

    @property
    def available(self) -> bool:
        return self.value is not None

    @property
    def cv(self) -> float:
        """The spread as a share of the value; 0.0 where no spread was measured (shown without a ±)."""
        return self.stdev / abs(self.value) if self.value and self.stdev is not None else 0.0

    @property
    def spread(self) -> float:
        """The stdev, or NaN where no spread was measured: the value a table or a data frame shows."""
        return math.nan if self.stdev is None else self.stdev

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "value": self.value,
            "stdev": self.stdev,
            "n": self.n,
            "source": self.source,
            "unavailable_reason": self.unavailable_reason,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reading:
        return cls(
            name=str(data["name"]),
            unit=str(data["unit"]),
            value=None if data.get("value") is None else float(data["value"]),
            stdev=_stored_stdev(data),
            n=int(data.get("n") or 0),
            source=str(data.get("source") or ""),
            unavailable_reason=data.get("unavailable_reason"),
        )


@dataclass(frozen=True)
class Measurement:
    """Everything measured for one case in one child process."""

    case_id: str
    readings: dict[str, Reading]
    info: ChildInfo  # what it was measured under, and what the parent added (child_info.py)
    warnings: tuple[str, ...] = ()
    round_samples: dict[str, list[float]] = field(default_factory=dict)

    def value(self, name: str) -> float | None:
        reading = self.readings.get(name)
        return reading.value if reading else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "readings": {k: r.to_dict() for k, r in sorted(self.readings.items())},
            "info": self.info.to_dict(),
            "warnings": list(self.warnings),
            "round_samples": self.round_samples,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(
            case_id=str(data["case_id"]),
            readings={k: Reading.from_dict(v) for k, v in data["readings"].items()},
            info=ChildInfo.from_dict(data["info"]),
            warnings=tuple(data.get("warnings") or ()),
            round_samples={k: [float(x) for x in v] for k, v in (data.get("round_samples") or {}).items()},
        )


def _stored_stdev(data: dict[str, Any]) -> float | None:
    """A stored reading's stdev: null where no spread was measured.

    Files written before it could be null kept 0.0 for "not measured"; where the reading itself says so
    (unavailable, or fewer than two rounds) that 0.0 reads back as None. A 0.0 over several rounds stays.
    """
    stdev = data.get("stdev")
    if stdev is None:
        return None
    if float(stdev) == 0.0 and (data.get("value") is None or int(data.get("n") or 0) < 2):
        return None
    return float(stdev)
