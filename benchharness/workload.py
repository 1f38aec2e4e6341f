"""The timed generation workload, identical for every backend: the harness owns the clock.

One round = prefill the prompt into an empty cache (time to first token), then `gen_tokens` single
token decode steps, each timed. This is llama-bench's pp and tg at depth `prompt_tokens`, with the
greedy token fed back instead of a random one. End-of-sequence is not a stop: every round decodes
exactly `gen_tokens` steps so rounds and variants stay comparable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from benchharness.backends.base import ContextModel, LoadedModel, SelfTimedModel
from benchharness.meters.energy import EnergyCounter
from benchharness.settings import Workload

Clock = Callable[[], float]
T = TypeVar("T")


@dataclass(frozen=True)
class RoundTiming:
    ttft_s: float
    decode_steps_s: tuple[float, ...]
    # The greedy tokens the round produced: the prefill's, then each decode step's (gen_tokens + 1 ids),
    # for the check that the timed tokens are the scored ones (tasks/timed_tokens.py).
    tokens: tuple[int, ...] = ()

    @property
    def decode_s(self) -> float:
        return sum(self.decode_steps_s)


class DepthUnsupported(Exception):
    """The model cannot start from a filled context, so a depth above 0 cannot be measured on it."""


def run_round(
    model: LoadedModel,
    prompt: Sequence[int],
    gen_tokens: int,
    clock: Clock = time.perf_counter,
    context: Sequence[int] = (),
) -> RoundTiming:
    """One round on the harness's clock, or on the pipeline's own where the model times itself.

    With a `context`, the sequence first holds it (untimed), so the prompt is prefilled at depth
    len(context) and decoding starts at depth len(context) + len(prompt), as llama-bench's -d.
    """
    if context and not isinstance(model, ContextModel):
        raise DepthUnsupported(f"{type(model).__name__} cannot start from a filled context")
    if isinstance(model, SelfTimedModel):
        ttft_s, steps_s, generated = model.timed_generation(prompt, gen_tokens)
        return RoundTiming(ttft_s, steps_s, tokens=generated)
    if context and isinstance(model, ContextModel):
        model.fill(context)
        start = clock()
        token = model.extend(prompt)
    else:
        start = clock()
        token = model.prefill(prompt)
    first = clock()
    steps: list[float] = []
    tokens = [token]
    for _ in range(gen_tokens):
        step_start = clock()
        token = model.decode(token)
        steps.append(clock() - step_start)
        tokens.append(token)  # after the step's clock: a list append is not the runtime's time
    return RoundTiming(first - start, tuple(steps), tokens=tuple(tokens))


def repeat(
    measure: Callable[[], T],
    workload: Workload,
    meter: EnergyCounter | None = None,
    clock: Clock = time.perf_counter,
) -> list[T]:
    """Warm-up runs (discarded), then runs until both min_rounds and min_time_s are reached.

    The energy meter, where given, is read around each kept run (its joules are kept in the counter,
    EnergyCounter.taken, where the region's energy meter reads them). One stopping rule for generation
    rounds and one-call batches, so both are sampled the same way.
    """
    for _ in range(workload.warmup_rounds):
        measure()
    runs: list[T] = []
    began = clock()
    while len(runs) < workload.max_rounds:
        if meter is not None:
            meter.start()
        runs.append(measure())
        if meter is not None:
            meter.stop()
        if len(runs) >= workload.min_rounds and clock() - began >= workload.min_time_s:
            break
    return runs


def run_rounds(
    model: LoadedModel,
    prompt: Sequence[int],
    workload: Workload,
    meter: EnergyCounter | None = None,
    clock: Clock = time.perf_counter,
    context: Sequence[int] = (),
) -> list[RoundTiming]:
    """Generation rounds (prefill + decode steps) under the shared stopping rule, at depth len(context)."""
    return repeat(lambda: run_round(model, prompt, workload.gen_tokens, clock, context), workload, meter, clock)


@dataclass(frozen=True)
class Calls:
    """Timed calls of a one-call model: seconds per call."""

    seconds: list[float]


def time_call(call: Callable[[], object], clock: Clock = time.perf_counter) -> float:
    """Seconds one call takes."""
    start = clock()
    call()
    return clock() - start


def run_calls(
    call: Callable[[], object],
    workload: Workload,
    meter: EnergyCounter | None = None,
    clock: Clock = time.perf_counter,
) -> Calls:
    """One-call models under the shared stopping rule."""
    return Calls(repeat(lambda: time_call(call, clock), workload, meter, clock))
