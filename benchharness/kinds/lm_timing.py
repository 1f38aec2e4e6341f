"""A causal LM's timing figures from its rounds: llama-bench's pp/tg readings, named with a suffix.

Shared by the headline and its depth sweep (kinds/causal_lm.py) and the workload profiles
(kinds/lm_profiles.py), so every profile's TTFT and decode mean what the headline's mean.
"""

from __future__ import annotations

from benchharness import stats
from benchharness.meters.resources import summary_reading
from benchharness.readings import Reading
from benchharness.workload import RoundTiming

TIMING_METRICS = (
    ("ttft_ms", "ms"),
    ("prefill_tok_per_s", "tok/s"),
    ("decode_tok_per_s", "tok/s"),
    ("decode_latency_p50_ms", "ms"),
    ("decode_latency_p90_ms", "ms"),
    ("decode_latency_p99_ms", "ms"),
)


def depth_label(depth: int, prompt_tokens: int, gen_tokens: int) -> str:
    """llama-bench's names for what one round at `depth` measures."""
    return f"pp{prompt_tokens} @ d{depth}, tg{gen_tokens} @ d{depth + prompt_tokens}"


def timing_readings(
    rounds: list[RoundTiming], prompt_tokens: int, gen_tokens: int, depth: int = 0, suffix: str = ""
) -> tuple[list[Reading], list[str]]:
    """Readings (mean and spread over rounds) for every timing metric, with stability warnings."""
    source = f"{len(rounds)} rounds of {depth_label(depth, prompt_tokens, gen_tokens)}"
    ttft = [r.ttft_s * 1000 for r in rounds]
    prefill = [prompt_tokens / r.ttft_s for r in rounds]
    decode = [gen_tokens / r.decode_s for r in rounds]
    readings = [
        summary_reading("ttft_ms" + suffix, "ms", ttft, source),
        summary_reading("prefill_tok_per_s" + suffix, "tok/s", prefill, source),
        summary_reading("decode_tok_per_s" + suffix, "tok/s", decode, source),
    ]
    for q in (50, 90, 99):
        per_round = [stats.percentile([s * 1000 for s in r.decode_steps_s], q) for r in rounds]
        readings.append(summary_reading(f"decode_latency_p{q}_ms{suffix}", "ms", per_round, source))
    warnings = stats.stability_warnings(stats.summarize(decode), f"decode tok/s{suffix}")
    warnings += stats.stability_warnings(stats.summarize(prefill), f"prefill tok/s{suffix}")
    return readings, warnings


def round_samples(
    rounds: list[RoundTiming], prompt_tokens: int, gen_tokens: int, suffix: str = ""
) -> dict[str, list[float]]:
    """Every timed metric per round (what the baseline's test compares), and every decode step's time.

    `decode_step_ms` keeps each token's time, round after round, as llama-bench keeps samples_ns.
    """
    samples = {
        "decode_tok_per_s": [gen_tokens / r.decode_s for r in rounds],
        "prefill_tok_per_s": [prompt_tokens / r.ttft_s for r in rounds],
        "ttft_ms": [r.ttft_s * 1000 for r in rounds],
        "decode_step_ms": [s * 1000 for r in rounds for s in r.decode_steps_s],
    }
    for q in (50, 90, 99):
        samples[f"decode_latency_p{q}_ms"] = [stats.percentile([s * 1000 for s in r.decode_steps_s], q) for r in rounds]
    return {name + suffix: values for name, values in samples.items()}
