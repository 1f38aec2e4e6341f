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
from typing import Protocol

from benchharness.backends.base import LoadedModel
from benchharness.config import Workload

Clock = Callable[[], float]


@dataclass(frozen=True)
class RoundTiming:
    ttft_s: float
    decode_steps_s: tuple[float, ...]
    energy_j: float | None = None

    @property
    def decode_s(self) -> float:
        return sum(self.decode_steps_s)


def run_round(
    model: LoadedModel, prompt: Sequence[int], gen_tokens: int, clock: Clock = time.perf_counter
) -> RoundTiming:
    start = clock()
    token = model.prefill(prompt)
    first = clock()
    steps: list[float] = []
    for _ in range(gen_tokens):
        step_start = clock()
        token = model.decode(token)
        steps.append(clock() - step_start)
    return RoundTiming(first - start, tuple(steps))


class EnergyCounter(Protocol):
    """What the round loop needs of an energy meter (RaplMeter satisfies it)."""

    def start(self) -> None: ...

    def stop(self) -> float: ...


def run_rounds(
    model: LoadedModel,
    prompt: Sequence[int],
    workload: Workload,
    meter: EnergyCounter | None = None,
    clock: Clock = time.perf_counter,
) -> list[RoundTiming]:
    """Warm-up rounds (discarded), then rounds until both min_rounds and min_time_s are reached."""
    for _ in range(workload.warmup_rounds):
        run_round(model, prompt, workload.gen_tokens, clock)
    rounds: list[RoundTiming] = []
    began = clock()
    while len(rounds) < workload.max_rounds:
        if meter is not None:
            meter.start()
        timing = run_round(model, prompt, workload.gen_tokens, clock)
        if meter is not None:
            timing = RoundTiming(timing.ttft_s, timing.decode_steps_s, meter.stop())
        rounds.append(timing)
        if len(rounds) >= workload.min_rounds and clock() - began >= workload.min_time_s:
            break
    return rounds


def run_calls(
    call: Callable[[], object],
    workload: Workload,
    meter: EnergyCounter | None = None,
    clock: Clock = time.perf_counter,
) -> list[tuple[float, float | None]]:
    """The same warm-up and stopping rule for one-call models: (seconds, joules or None) per timed call."""
    for _ in range(workload.warmup_rounds):
        call()
    calls: list[tuple[float, float | None]] = []
    began = clock()
    while len(calls) < workload.max_rounds:
        if meter is not None:
            meter.start()
        start = clock()
        call()
        elapsed = clock() - start
        calls.append((elapsed, meter.stop() if meter is not None else None))
        if len(calls) >= workload.min_rounds and clock() - began >= workload.min_time_s:
            break
    return calls
