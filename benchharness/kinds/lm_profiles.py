"""The workload profiles beyond the headline, measured on a loaded causal LM (profiles.py names and sizes them).

Run after the headline's timed region, so the headline's memory and CPU figures (and the gates on them)
stay those of the short shape; each profile's figures carry its suffix. A profile the backend cannot do
(chat needs a KV cache kept between calls: ContextModel.extend) is reported unavailable with the reason,
never estimated. Every profile's prompts are consecutive tokens of the accuracy corpus.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from benchharness import stats
from benchharness.backends.base import ContextModel, LoadedModel, SelfTimedModel
from benchharness.kinds.lm_timing import TIMING_METRICS, depth_label, round_samples, timing_readings
from benchharness.meters.guards import GuardReading, read_guards
from benchharness.meters.resources import summary_reading
from benchharness.profiles import chat_suffix, chat_turns, long_prompt, sweep_lengths, sweep_suffix
from benchharness.readings import Reading
from benchharness.settings import Workload
from benchharness.sustained import Sustained, run_sustained
from benchharness.workload import Clock, RoundTiming, repeat, run_round, run_rounds

CHAT_METRICS = (("ttft_ms", "ms"), ("prefill_tok_per_s", "tok/s"), ("decode_tok_per_s", "tok/s"))
SWEEP_METRICS = (("ttft_ms", "ms"), ("prefill_tok_per_s", "tok/s"))


@dataclass
class Profiled:
    """What the profiles add to a case's measurement (filled profile by profile)."""

    readings: list[Reading]
    warnings: list[str]
    samples: dict[str, list[float]]
    labels: dict[str, str]  # profile -> what it timed, in llama-bench's words
    sustained: Sustained | None = None


def _tokens(corpus: np.ndarray[Any, Any], start: int, count: int) -> list[int]:
    return [int(t) for t in corpus[start : start + count]]


def measure_profiles(
    model: LoadedModel,
    workload: Workload,
    corpus: np.ndarray[Any, Any],
    headline_prompt: Sequence[int],
    context: int | None,
    guards: Callable[[], GuardReading] = read_guards,
    clock: Clock = time.perf_counter,
) -> Profiled:
    """Every profile the workload lists after the headline, in its order."""
    found = Profiled([], [], {}, {})
    for name in workload.profiles[1:]:
        if name == "long-prompt":
            _long_prompt(found, model, workload, corpus, context, clock)
        elif name == "chat":
            _chat(found, model, workload, corpus, context, clock)
        elif name == "ttft-sweep":
            _sweep(found, model, workload, corpus, context, clock)
        elif name == "sustained":
            _sustained(found, model, workload, headline_prompt, guards, clock)
    return found


def _long_prompt(
    found: Profiled,
    model: LoadedModel,
    workload: Workload,
    corpus: np.ndarray[Any, Any],
    context: int | None,
    clock: Clock,
) -> None:
    suffix = "@long-prompt"
    plan = long_prompt(workload, context, len(corpus))
    if plan.unavailable:
        found.labels["long-prompt"] = f"unavailable: {plan.unavailable}"
        found.readings += [Reading.unavailable(n + suffix, u, plan.unavailable) for n, u in TIMING_METRICS]
        return
    prompt = _tokens(corpus, 0, plan.prompt_tokens)
    rounds = run_rounds(model, prompt, replace(workload, gen_tokens=plan.gen_tokens), clock=clock)
    readings, warnings = timing_readings(rounds, plan.prompt_tokens, plan.gen_tokens, suffix=suffix)
    if plan.capped:
        readings = [replace(r, source=f"{r.source}; {plan.capped}") for r in readings]
    found.readings += readings
    found.warnings += warnings
    found.samples |= round_samples(rounds, plan.prompt_tokens, plan.gen_tokens, suffix)
    found.labels["long-prompt"] = plan.label + (f" ({plan.capped})" if plan.capped else "")


def _conversation(
    model: Any, turns: Sequence[Sequence[int]], gen_tokens: int, clock: Clock
) -> tuple[list[RoundTiming], list[int]]:
    """One conversation as a chat API serves it: the first message prefilled into an empty cache, each later one
    appended to the cache the conversation built (the replies' tokens included); each turn's TTFT and decode
    steps timed. Returns each turn's timing and the depth (tokens in the cache) each turn's prompt met.

    The message alone is appended, not the reply's last greedy token: llama.cpp has not fed that token yet
    but ONNX Runtime GenAI already has, so appending it would feed it twice there. The depths are llama.cpp's
    count (a runtime that keeps each reply's last token holds one more per turn)."""
    timings: list[RoundTiming] = []
    depths: list[int] = []
    depth = 0
    for index, message in enumerate(turns):
        fed = list(message)
        depths.append(depth)
        start = clock()
        token = model.prefill(fed) if index == 0 else model.extend(fed)
        first = clock()
        steps: list[float] = []
        for _ in range(gen_tokens):
            step_start = clock()
            token = model.decode(token)
            steps.append(clock() - step_start)
        timings.append(RoundTiming(first - start, tuple(steps)))
        depth += len(fed) + gen_tokens
    return timings, depths


def _chat(
    found: Profiled,
    model: LoadedModel,
    workload: Workload,
    corpus: np.ndarray[Any, Any],
    context: int | None,
    clock: Clock,
) -> None:
    size, gen = workload.chat_turn_tokens, workload.gen_tokens
    if isinstance(model, SelfTimedModel) or not isinstance(model, ContextModel):
        how = (
            "is driven here only through whole generations (a self-timed pipeline), so its KV cache is not kept "
            "between calls"
            if isinstance(model, SelfTimedModel)
            else "cannot append to its KV cache between calls here (it has no ContextModel.extend)"
        )
        why = f"{type(model).__name__} {how}: a chat turn would be a fresh prompt, not a turn"
        for turn in range(1, workload.chat_turns + 1):
            found.readings += [Reading.unavailable(n + chat_suffix(turn), u, why) for n, u in CHAT_METRICS]
        found.labels["chat"] = f"unavailable: {why}"
        return
    fit, left = chat_turns(workload, context)
    turns = [_tokens(corpus, i * size, size) for i in range(fit)]
    conversations = repeat(lambda: _conversation(model, turns, gen, clock), workload, clock=clock) if fit else []
    depths = conversations[0][1] if conversations else []
    parts = []
    for index in range(fit):
        suffix = chat_suffix(index + 1)
        rounds = [timings[index] for timings, _ in conversations]
        readings, _ = timing_readings(rounds, size, gen, depths[index], suffix)
        keep = {n + suffix for n, _ in CHAT_METRICS}
        found.readings += [r for r in readings if r.name in keep]
        found.samples |= {k: v for k, v in round_samples(rounds, size, gen, suffix).items() if k in keep}
        parts.append(f"turn {index + 1}: {depth_label(depths[index], size, gen)}")
    for turn, why in left.items():
        found.readings += [Reading.unavailable(n + chat_suffix(turn), u, why) for n, u in CHAT_METRICS]
        parts.append(f"turn {turn}: unavailable ({why})")
    found.labels["chat"] = f"{workload.chat_turns} turns, KV cache kept: " + "; ".join(parts)


def _sweep(
    found: Profiled,
    model: LoadedModel,
    workload: Workload,
    corpus: np.ndarray[Any, Any],
    context: int | None,
    clock: Clock,
) -> None:
    _, left = sweep_lengths(workload, context)
    parts = []
    for length in workload.ttft_sweep:
        suffix = sweep_suffix(length)
        if length in left or len(corpus) < length:
            why = left.get(length) or f"a {length}-token prompt exceeds the accuracy corpus ({len(corpus)} tokens)"
            found.readings += [Reading.unavailable(n + suffix, u, why) for n, u in SWEEP_METRICS]
            parts.append(f"pp{length} unavailable")
            continue
        prompt = _tokens(corpus, 0, length)
        # One generated token: the runtime returns its first token, which is what TTFT is the time to.
        rounds = run_rounds(model, prompt, replace(workload, gen_tokens=1), clock=clock)
        source = f"{len(rounds)} rounds of pp{length} @ d0 (TTFT sweep)"
        ttft = [r.ttft_s * 1000 for r in rounds]
        rates = [length / r.ttft_s for r in rounds]
        found.readings += [
            summary_reading("ttft_ms" + suffix, "ms", ttft, source),
            summary_reading("prefill_tok_per_s" + suffix, "tok/s", rates, source),
        ]
        found.warnings += stats.stability_warnings(stats.summarize(rates), f"prefill tok/s{suffix}")
        found.samples |= {"ttft_ms" + suffix: ttft, "prefill_tok_per_s" + suffix: rates}
        parts.append(f"pp{length}")
    found.labels["ttft-sweep"] = "TTFT at " + ", ".join(parts) + (f" ({'; '.join(left.values())})" if left else "")


def _sustained(
    found: Profiled,
    model: LoadedModel,
    workload: Workload,
    prompt: Sequence[int],
    guards: Callable[[], GuardReading],
    clock: Clock,
) -> None:
    gen = workload.gen_tokens

    def one_round() -> tuple[int, float]:
        return gen, run_round(model, prompt, gen, clock).decode_s

    run = run_sustained(one_round, workload.sustained_s, workload.sustained_interval_s, guards, clock)
    shape = f"pp{len(prompt)} + tg{gen} rounds back to back for {run.duration_s:g} s, read every {run.interval_s:g} s"
    found.labels["sustained"] = f"{shape}; {run.drop_text}"
    found.sustained = run
    windows = (
        ("@sustained", run.steady_tok_per_s, run.steady_stdev, f"the last {run.window_s:g} s (steady state)", -1),
        ("@sustained-start", run.start_tok_per_s, run.start_stdev, f"the first {run.window_s:g} s", 0),
    )
    for suffix, value, stdev, where, side in windows:
        name = "decode_tok_per_s" + suffix
        if value is None:
            found.readings.append(Reading.unavailable(name, "tok/s", f"no round ended in {where} of the run"))
            continue
        k = run.window_intervals
        chosen = run.intervals[-k:] if side < 0 else run.intervals[:k]
        values = [i.tok_per_s for i in chosen if i.tok_per_s is not None]
        source = f"decode tok/s over {where} of {shape}: {len(values)} interval(s); {run.drop_text}"
        found.readings.append(Reading(name, "tok/s", value, stdev if len(values) > 1 else None, len(values), source))
        found.samples[name] = values
