"""Causal language models: prefill + decode rounds (llama-bench's pp/tg), scored on next-token prediction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchharness import stats
from benchharness.backends.base import Backend, LoadedModel, LoadOptions
from benchharness.config import AccuracySettings, Workload
from benchharness.errors import ModelError
from benchharness.kinds.base import ChildContext, Column, Measured
from benchharness.meters.resources import resource_readings, summary_reading
from benchharness.readings import Reading
from benchharness.tasks import next_token
from benchharness.workload import RoundTiming, run_round, run_rounds


def timing_readings(rounds: list[RoundTiming], prompt_tokens: int, gen_tokens: int) -> tuple[list[Reading], list[str]]:
    """Readings (mean and spread over rounds) for every timing metric, with stability warnings."""
    source = f"harness clock (perf_counter), {len(rounds)} rounds of pp{prompt_tokens}+tg{gen_tokens}"
    ttft = [r.ttft_s * 1000 for r in rounds]
    prefill = [prompt_tokens / r.ttft_s for r in rounds]
    decode = [gen_tokens / r.decode_s for r in rounds]
    readings = [
        summary_reading("ttft_ms", "ms", ttft, source),
        summary_reading("prefill_tok_per_s", "tok/s", prefill, source),
        summary_reading("decode_tok_per_s", "tok/s", decode, source),
    ]
    for q in (50, 90, 99):
        per_round = [stats.percentile([s * 1000 for s in r.decode_steps_s], q) for r in rounds]
        readings.append(summary_reading(f"decode_latency_p{q}_ms", "ms", per_round, source))
    warnings = stats.stability_warnings(stats.summarize(decode), "decode tok/s")
    warnings += stats.stability_warnings(stats.summarize(prefill), "prefill tok/s")
    return readings, warnings


def round_samples(rounds: list[RoundTiming], prompt_tokens: int, gen_tokens: int) -> dict[str, list[float]]:
    """Every timed metric per round: what the baseline's significance test compares."""
    samples = {
        "decode_tok_per_s": [gen_tokens / r.decode_s for r in rounds],
        "prefill_tok_per_s": [prompt_tokens / r.ttft_s for r in rounds],
        "ttft_ms": [r.ttft_s * 1000 for r in rounds],
    }
    for q in (50, 90, 99):
        samples[f"decode_latency_p{q}_ms"] = [stats.percentile([s * 1000 for s in r.decode_steps_s], q) for r in rounds]
    return samples


SHARED_TOKENS = "shared: the model's own tokenizer (llama.cpp, from its GGUF), prepared once"
OWN_TOKENS = "this backend's tokenizer (the shared tokenization could not be prepared here)"


def prompt_tokens(model: LoadedModel, context: ChildContext) -> tuple[np.ndarray[Any, Any], list[int]]:
    """The tokenized corpus (shared by every backend where prepared) and the prompt: its first tokens."""
    workload = context.workload
    if context.corpus_tokens is not None:
        corpus = np.load(context.corpus_tokens).astype(np.int64)
    else:
        corpus = np.asarray(model.tokenize(next_token.corpus_text()), dtype=np.int64)
    if len(corpus) < workload.prompt_tokens:
        raise ModelError(f"prompt_tokens={workload.prompt_tokens} exceeds the corpus ({len(corpus)} tokens)")
    return corpus, corpus[: workload.prompt_tokens].tolist()


@dataclass(frozen=True)
class CausalLM:
    name: str = "causal-lm"
    gate_metrics: Mapping[str, str] = field(
        default_factory=lambda: {
            "accuracy_retained": "top1_accuracy",
            "speedup": "decode_tok_per_s",
            "memory_reduction": "peak_rss_bytes",
        }
    )
    paired_metric: str = "decode_tok_per_s"
    per_item_outcomes: str = "top1_correct_per_token"
    columns: tuple[Column, ...] = (
        Column("decode tok/s", "decode_tok_per_s", ".1f", with_cv=True),
        Column("prefill tok/s", "prefill_tok_per_s", ".0f", with_cv=True),
        Column("TTFT ms", "ttft_ms", ".1f"),
        Column("peak MiB", "peak_rss_bytes", ".0f", 1 / 2**20),
        Column("top-1", "top1_accuracy", ".2%"),
        Column("KL", "mean_kl_vs_reference", ".4f"),
    )

    def load(self, backend: Backend, path: Path, device: str, options: LoadOptions) -> LoadedModel:
        return backend.load(path, device, options)

    def load_options(self, threads: int, workload: Workload, accuracy: AccuracySettings) -> LoadOptions:
        return LoadOptions(
            threads=threads,
            n_ctx=max(workload.prompt_tokens + workload.gen_tokens + 1, accuracy.n_ctx),
            n_batch=max(workload.prompt_tokens, accuracy.n_ctx),
        )

    def first_call(self, model: LoadedModel, context: ChildContext) -> Callable[[], object]:
        _, prompt = prompt_tokens(model, context)
        return lambda: run_round(model, prompt, 1)

    def measure(self, model: LoadedModel, context: ChildContext) -> Measured:
        workload, accuracy = context.workload, context.accuracy
        corpus, prompt = prompt_tokens(model, context)
        rounds = run_rounds(model, prompt, workload, context.energy.meter)
        readings, warnings = timing_readings(rounds, workload.prompt_tokens, workload.gen_tokens)
        readings += resource_readings(context.energy, [r.energy_j for r in rounds], context.model_file_bytes)
        samples = round_samples(rounds, workload.prompt_tokens, workload.gen_tokens)
        kl_statistics: dict[str, Any] | None = None
        if context.score_accuracy:
            accuracy_readings, per_item, divergence = next_token.evaluate(
                model,
                corpus,
                n_ctx=accuracy.n_ctx,
                windows=accuracy.windows,
                write_reference=context.write_reference,
                read_reference=context.read_reference,
            )
            readings += accuracy_readings
            samples |= per_item
            if divergence is not None:
                kl_statistics = divergence.to_dict()
        info = {
            "kl_statistics": kl_statistics,
            "n_ctx": accuracy.n_ctx,
            "prompt_tokens": workload.prompt_tokens,
            "gen_tokens": workload.gen_tokens,
            "rounds": len(rounds),
            "tokenization": SHARED_TOKENS if context.corpus_tokens is not None else OWN_TOKENS,
            # What changes speed (precision hints, KV cache type, threads): speed and accuracy were
            # measured under these, read after scoring so a lazily compiled scorer is included.
            "runtime_settings": dict(getattr(model, "runtime_settings", {})),
        }
        return readings, warnings, samples, info

    def paired_round(self, model: LoadedModel, context: ChildContext) -> Callable[[], float]:
        _, prompt = prompt_tokens(model, context)
        gen_tokens = context.workload.gen_tokens

        def one_round(prompt: Sequence[int] = prompt) -> float:
            return gen_tokens / run_round(model, prompt, gen_tokens).decode_s

        return one_round
