"""Causal language models: prefill + decode rounds (llama-bench's pp/tg), scored on next-token prediction."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchharness.backends.base import Backend, LoadedModel, LoadOptions
from benchharness.child_info import Answers, KindFacts, LmFacts
from benchharness.errors import ModelError
from benchharness.gates import ACCURACY_RETAINED, ENERGY_REDUCTION, MEMORY_REDUCTION, SPEEDUP
from benchharness.kinds.base import ChildContext, Column, Measured
from benchharness.kinds.lm_profiles import measure_profiles
from benchharness.kinds.lm_timing import TIMING_METRICS, depth_label, round_samples, timing_readings
from benchharness.meters.region import RegionMeters
from benchharness.meters.resources import resource_readings
from benchharness.profiles import context_needed as profile_context
from benchharness.readings import Reading, depth_suffix
from benchharness.settings import AccuracySettings, Workload
from benchharness.tasks import answers, next_token
from benchharness.tasks.divergence import KlStatistics
from benchharness.tasks.timed_tokens import check_timed_tokens
from benchharness.workload import DepthUnsupported, RoundTiming, run_round, run_rounds


def depth_tokens(corpus: np.ndarray[Any, Any], depth: int, prompt_tokens: int) -> tuple[list[int], list[int]]:
    """The context (the corpus's first `depth` tokens) and the prompt that follows it."""
    if len(corpus) < depth + prompt_tokens:
        raise ModelError(f"depth {depth} + prompt_tokens={prompt_tokens} exceeds the corpus ({len(corpus)} tokens)")
    return [int(t) for t in corpus[:depth]], [int(t) for t in corpus[depth : depth + prompt_tokens]]


SHARED_TOKENS = "shared: the model's own tokenizer (llama.cpp, from its GGUF), prepared once"
OWN_TOKENS = "this backend's tokenizer (the shared tokenization could not be prepared here)"


def corpus_tokens(model: LoadedModel, context: ChildContext) -> np.ndarray[Any, Any]:
    """The tokenized accuracy corpus: shared by every backend where prepared, else this backend's own."""
    if context.corpus_tokens is not None:
        return np.load(context.corpus_tokens).astype(np.int64)
    return np.asarray(model.tokenize(next_token.corpus_text(context.data)), dtype=np.int64)


def workload_tokens(
    model: LoadedModel, context: ChildContext, corpus: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], str]:
    """The tokens the timed prompts (and each depth's context) are taken from, and what they are.

    With `data.prompts` declared, the team's own prompts: in file order, joined by blank lines,
    tokenized once and repeated from the start where fewer than the deepest depth + prompt_tokens
    (the first prompt_tokens of them are the headline prompt). Otherwise the accuracy corpus.
    """
    workload = context.workload
    prompts = context.data.prompts
    if prompts is None:
        source = "accuracy corpus: " + next_token.corpus_source(context.data)
        stream = corpus
    else:
        stream = np.asarray(model.tokenize(answers.timed_prompt_text(prompts)), dtype=np.int64)
        needed = max(workload.depths) + workload.prompt_tokens
        repeats = -(-needed // max(len(stream), 1))
        source = f"prompts of {prompts.describe()}, joined by blank lines ({len(stream)} tokens"
        source += f", repeated {repeats} times)" if repeats > 1 else ")"
        stream = np.tile(stream, max(repeats, 1))
    if len(stream) < workload.prompt_tokens:
        raise ModelError(f"prompt_tokens={workload.prompt_tokens} exceeds the {source} ({len(stream)} tokens)")
    return stream, source


def prompt_tokens(model: LoadedModel, context: ChildContext) -> tuple[np.ndarray[Any, Any], list[int]]:
    """The timed workload's tokens and the headline prompt: their first prompt_tokens."""
    stream, _ = workload_tokens(model, context, corpus_tokens(model, context))
    return stream, [int(t) for t in stream[: context.workload.prompt_tokens]]


@dataclass(frozen=True)
class CausalLM:
    name: str = "causal-lm"
    gate_metrics: Mapping[str, str] = field(
        default_factory=lambda: {
            ACCURACY_RETAINED.name: "top1_accuracy",
            SPEEDUP.name: "decode_tok_per_s",
            MEMORY_REDUCTION.name: "model_memory_bytes",
            ENERGY_REDUCTION.name: "energy_per_token_j",
        }
    )
    paired_metric: str = "decode_tok_per_s"
    per_item_outcomes: str = "top1_correct_per_token"
    columns: tuple[Column, ...] = (
        Column("decode tok/s", "decode_tok_per_s", ".1f", with_cv=True),
        Column("prefill tok/s", "prefill_tok_per_s", ".0f", with_cv=True),
        Column("TTFT ms", "ttft_ms", ".1f"),
        Column("MBU", "mbu", ".0%"),
        Column("peak MiB", "peak_rss_bytes", ".0f", 1 / 2**20),
        Column("model mem MiB", "model_memory_bytes", ".0f", 1 / 2**20),
        Column("top-1", "top1_accuracy", ".2%"),
        Column("KL", "mean_kl_vs_reference", ".4f"),
    )

    def load(self, backend: Backend, path: Path, device: str, options: LoadOptions) -> LoadedModel:
        return backend.load(path, device, options)

    def load_options(
        self, threads: int, workload: Workload, accuracy: AccuracySettings, context: int | None = None
    ) -> LoadOptions:
        # The profiles' longest sequence (a long prompt, a whole chat) is capped by the model's context, as the
        # profiles themselves are (profiles.py): they are sized to fit, never refused for not fitting.
        profiles = profile_context(workload) if context is None else min(profile_context(workload), context)
        return LoadOptions(
            threads=threads,
            n_ctx=max(
                max(workload.depths) + workload.prompt_tokens + workload.gen_tokens + 1, accuracy.n_ctx, profiles
            ),
            # One call takes a whole prompt, an accuracy window, and the timed-token check's sequence (the
            # headline depth's fill, the prompt and the generated tokens: tasks/timed_tokens.py scores it at once).
            n_batch=max(workload.depths[0] + workload.prompt_tokens + workload.gen_tokens + 1, accuracy.n_ctx),
        )

    def context_fault(self, workload: Workload, accuracy: AccuracySettings, context: int, model: str) -> str | None:
        """The first setting whose tokens (as load_options asks the runtime for them) exceed `context`."""
        prompt, gen = workload.prompt_tokens, workload.gen_tokens
        exceeds = f"exceeds {model}'s {context}-token context"
        if prompt + gen + 1 > context:  # load_options asks for one token to spare
            fix = (
                f"lower workload.prompt_tokens to at most {context - gen - 1}"
                if context - gen - 1 >= 1
                else f"lower workload.gen_tokens and prompt_tokens to at most {context - 1} together"
            )
            return f"workload.prompt_tokens = {prompt}: prompt {prompt} + {gen} generated {exceeds}; {fix}"
        deepest = max(workload.depths)
        if deepest + prompt + gen + 1 > context:
            return (
                f"workload.depths = {list(workload.depths)}: depth {deepest} + prompt {prompt} + {gen} generated "
                f"{exceeds}; lower the deepest depth to at most {context - prompt - gen - 1}"
            )
        if accuracy.n_ctx > context:
            return (
                f"accuracy.n_ctx = {accuracy.n_ctx}: a scoring window of {accuracy.n_ctx} tokens {exceeds}; "
                f"lower accuracy.n_ctx to at most {context}"
            )
        return None

    def first_call(self, model: LoadedModel, context: ChildContext) -> Callable[[], object]:
        _, prompt = prompt_tokens(model, context)
        return lambda: run_round(model, prompt, 1)

    def measure(self, model: LoadedModel, context: ChildContext) -> Measured:
        workload, accuracy = context.workload, context.accuracy
        corpus = corpus_tokens(model, context)
        stream, stream_source = workload_tokens(model, context, corpus)
        readings: list[Reading] = []
        warnings: list[str] = []
        samples: dict[str, list[float]] = {}
        depths: dict[str, str] = {}
        headline: list[RoundTiming] = []
        # The timed region, not loading or scoring. A round's energy covers its prefill too: per generated token
        # is per token served, prompt included.
        region = RegionMeters(context.meter_case(workload.gen_tokens, "token"))
        region.start()
        timing_started = time.perf_counter()
        for index, depth in enumerate(workload.depths):
            suffix = depth_suffix(depth, headline=index == 0)
            depths[suffix or "headline"] = depth_label(depth, workload.prompt_tokens, workload.gen_tokens)
            fill, prompt = depth_tokens(stream, depth, workload.prompt_tokens)
            try:
                rounds = run_rounds(
                    model, prompt, workload, context.energy.round_meter if index == 0 else None, context=fill
                )
            except DepthUnsupported as e:
                if index == 0:
                    raise ModelError(f"the headline depth {depth} cannot be measured: {e}") from None
                why = f"{e}; this backend measures depth {workload.depths[0]} only"
                readings += [Reading.unavailable(name + suffix, unit, why) for name, unit in TIMING_METRICS]
                continue
            depth_readings, depth_warnings = timing_readings(
                rounds, workload.prompt_tokens, workload.gen_tokens, depth, suffix
            )
            readings += depth_readings
            warnings += depth_warnings
            samples |= round_samples(rounds, workload.prompt_tokens, workload.gen_tokens, suffix)
            headline = headline or rounds
        timed_s = time.perf_counter() - timing_started
        region_readings, region_info = region.stop()
        readings += region_readings
        readings += resource_readings((context.weights_file_bytes, context.tokenizer_file_bytes))
        fill, prompt = depth_tokens(stream, workload.depths[0], workload.prompt_tokens)
        # The other profiles after the headline's region: its memory and CPU figures stay the short shape's.
        profiles_started = time.perf_counter()
        profiled = measure_profiles(model, workload, corpus, prompt, context.model_context)
        profiles_s = time.perf_counter() - profiles_started
        readings += profiled.readings
        warnings += profiled.warnings
        samples |= profiled.samples
        # Outside the timed region and after the peak-RSS reading above (its logits would raise the high-water
        # mark): the timed tokens are the scored ones (MLPerf's compliance idea).
        token_check = (
            check_timed_tokens(model, fill, prompt, [r.tokens for r in headline])
            if headline and all(r.tokens for r in headline)
            else None
        )
        kl_statistics: KlStatistics | None = None
        accuracy_started = time.perf_counter()
        if context.score_accuracy:
            accuracy_readings, per_item, divergence = next_token.evaluate(
                model,
                corpus,
                n_ctx=accuracy.n_ctx,
                windows=accuracy.windows,
                write_reference=context.write_reference,
                read_reference=context.read_reference,
                source=next_token.corpus_source(context.data),
            )
            readings += accuracy_readings
            samples |= per_item
            if divergence is not None:
                kl_statistics = divergence
        answers_info: Answers | None = None
        if context.score_accuracy and context.data.prompts is not None:
            answer_readings, answer_items, answers_info = answers.evaluate(
                model,
                context.data.prompts,
                longest=accuracy.n_ctx,
                write_reference=context.write_reference,
                read_reference=context.read_reference,
            )
            readings += answer_readings
            samples |= answer_items
        facts = LmFacts(
            n_ctx=accuracy.n_ctx,
            prompt_tokens=workload.prompt_tokens,
            gen_tokens=workload.gen_tokens,
            rounds=len(headline),
            depths=depths,
            tokenization=SHARED_TOKENS if context.corpus_tokens is not None else OWN_TOKENS,
            kl_statistics=kl_statistics,
            timed_tokens=token_check,
            # Where the timed prompts came from: the team's prompts when declared, else the accuracy corpus.
            workload_prompts=stream_source,
            sustained=profiled.sustained,  # the sustained run interval by interval, for the report's figure
            answers=answers_info,  # the team's prompts: how many, the longest generation, the flips' counts
        )
        if profiled.labels:  # each listed profile: what it timed (its figures carry the profile's suffix)
            facts = replace(
                facts, profiles={"short": depths.get("headline", ""), **profiled.labels}, profiles_s=profiles_s
            )
        info = KindFacts(
            # Where the child's time went (warm-up rounds count as timed: they are the measurement's own, and so
            # are the profiles' rounds, a sustained run's minutes included).
            timed_s=timed_s + profiles_s,
            accuracy_s=time.perf_counter() - accuracy_started,
            region=region_info,
            lm=facts,
            # What changes speed (precision hints, KV cache type, threads): speed and accuracy were
            # measured under these, read after scoring so a lazily compiled scorer is included.
            runtime_settings=dict(getattr(model, "runtime_settings", {})),
        )
        return readings, warnings, samples, info

    def paired_round(self, model: LoadedModel, context: ChildContext) -> Callable[[], float]:
        corpus, _ = prompt_tokens(model, context)
        workload = context.workload
        fill, prompt = depth_tokens(corpus, workload.depths[0], workload.prompt_tokens)
        gen_tokens = workload.gen_tokens

        def one_round(prompt: Sequence[int] = prompt) -> float:
            return gen_tokens / run_round(model, prompt, gen_tokens, context=fill).decode_s

        return one_round
