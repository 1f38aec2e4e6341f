"""The sustained-load profile: a case run back to back for minutes, read interval by interval.

A fanless device or a VM on a busy host holds its first minute's speed for a while and then slows;
the headline's few seconds of rounds never see it. Here rounds run back to back for `sustained_s`;
each interval's decode throughput (the tokens its rounds generated over their decode time) is kept
with the CPU clock and temperature read at its end (meters/guards.py, None where the OS hides them).
The run's start is its first minute (a quarter of a shorter run), its steady state the last, and the
drop is the first interval more than 10% below the start that the next interval confirms: one
interval's dip (another process's burst), the last interval's included, is not a drop. The loop takes its clock and round as
arguments, so the detection is tested with a planted slowdown and no model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from benchharness.meters.guards import GuardReading
from benchharness.profiles import DROP, reference_window_s


@dataclass(frozen=True)
class RoundEnd:
    """One round of the run: when it ended (seconds since the run began), tokens generated, decode seconds."""

    end_s: float
    tokens: int
    decode_s: float


@dataclass(frozen=True)
class Interval:
    """One interval of the run: decode tok/s over the rounds that ended in it (None: none did)."""

    start_s: float
    end_s: float
    tok_per_s: float | None
    rounds: int
    cpu_mhz: float | None = None
    temperature_c: float | None = None


@dataclass(frozen=True)
class Sustained:
    """A sustained run read: its intervals, its start and steady state, and when (if ever) it dropped.

    In the reply as `info.sustained` (typed_json writes its fields, then `drop_text` for the JSON's readers).
    """

    json_derived: ClassVar[tuple[str, ...]] = ("drop_text",)

    duration_s: float
    interval_s: float
    window_s: float
    intervals: tuple[Interval, ...]
    start_tok_per_s: float | None
    start_stdev: float
    steady_tok_per_s: float | None
    steady_stdev: float
    window_intervals: int  # intervals in each of the start and steady-state windows
    drop_at_s: float | None  # start of the first interval that dropped, None: never
    drop: float = DROP

    @property
    def drop_text(self) -> str:
        if self.start_tok_per_s is None:
            return "not read (no round ended in the first window)"
        if self.drop_at_s is None:
            return f"never dropped more than {self.drop:.0%} below the start"
        return f"dropped more than {self.drop:.0%} below the start after {self.drop_at_s:g} s"


def bucket(
    rounds: Sequence[RoundEnd], interval_s: float, duration_s: float, guards: Sequence[GuardReading] = ()
) -> tuple[Interval, ...]:
    """Rounds into intervals by when they ended (a round that ends past the run's end counts in the last one);
    `guards[i]` is the clock and temperature read at interval i's end, where read."""
    count = max(1, math.ceil(duration_s / interval_s - 1e-9))
    tokens = [0] * count
    seconds = [0.0] * count
    rounds_in = [0] * count
    for r in rounds:
        i = min(int(r.end_s // interval_s), count - 1)
        tokens[i] += r.tokens
        seconds[i] += r.decode_s
        rounds_in[i] += 1
    found = []
    for i in range(count):
        guard = guards[i] if i < len(guards) else GuardReading()
        found.append(
            Interval(
                start_s=round(i * interval_s, 6),
                end_s=round(min((i + 1) * interval_s, duration_s), 6),
                tok_per_s=tokens[i] / seconds[i] if seconds[i] > 0 else None,
                rounds=rounds_in[i],
                cpu_mhz=guard.cpu_mhz,
                temperature_c=guard.temperature_c,
            )
        )
    return tuple(found)


def _mean_stdev(values: Sequence[float]) -> tuple[float | None, float]:
    if not values:
        return None, 0.0
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def analyse(intervals: Sequence[Interval], interval_s: float, duration_s: float, drop: float = DROP) -> Sustained:
    """The start (first window), the steady state (last window), and the first confirmed drop below the start."""
    window_s = reference_window_s(duration_s)
    k = max(1, int(window_s / interval_s + 1e-9))
    start, start_sd = _mean_stdev([i.tok_per_s for i in intervals[:k] if i.tok_per_s is not None])
    steady, steady_sd = _mean_stdev([i.tok_per_s for i in intervals[-k:] if i.tok_per_s is not None])
    drop_at = None
    if start is not None:
        later = [i for i in intervals[k:] if i.tok_per_s is not None]
        floor = start * (1 - drop)
        for n, interval in enumerate(later):
            after = later[n + 1] if n + 1 < len(later) else None
            below = interval.tok_per_s is not None and interval.tok_per_s < floor
            if below and after is not None and after.tok_per_s is not None and after.tok_per_s < floor:
                drop_at = interval.start_s
                break
    return Sustained(
        duration_s=duration_s,
        interval_s=interval_s,
        window_s=window_s,
        intervals=tuple(intervals),
        start_tok_per_s=start,
        start_stdev=start_sd,
        steady_tok_per_s=steady,
        steady_stdev=steady_sd,
        window_intervals=k,
        drop_at_s=drop_at,
        drop=drop,
    )


def run_sustained(
    one_round: Callable[[], tuple[int, float]],
    duration_s: float,
    interval_s: float,
    read_guards: Callable[[], GuardReading],
    clock: Callable[[], float] = time.perf_counter,
) -> Sustained:
    """Rounds back to back until `duration_s` has passed (`one_round` returns tokens generated and decode
    seconds); the guards are read at the first round's end past each interval's end, between rounds."""
    rounds: list[RoundEnd] = []
    guards: list[GuardReading] = []
    began = clock()
    next_mark = interval_s
    elapsed = 0.0
    while elapsed < duration_s:
        tokens, decode_s = one_round()
        elapsed = clock() - began
        rounds.append(RoundEnd(elapsed, tokens, decode_s))
        while elapsed >= next_mark and len(guards) < math.ceil(duration_s / interval_s - 1e-9):
            guards.append(read_guards())
            next_mark += interval_s
    return analyse(bucket(rounds, interval_s, duration_s, guards), interval_s, duration_s)
