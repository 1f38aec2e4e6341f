"""The sustained-load profile's reading: intervals, start, steady state and the first confirmed drop.

A planted slowdown on a fake clock: a model that decodes at 100 tok/s until N seconds in and slower after.
"""

from __future__ import annotations

import pytest

from benchharness.meters.guards import GuardReading
from benchharness.sustained import Interval, RoundEnd, Sustained, analyse, bucket, run_sustained
from benchharness.typed_json import read, write


class SlowsAfter:
    """One round = 10 tokens; 0.1 s of decode before `after_s`, `slow` times that after (a planted slowdown)."""

    def __init__(self, after_s: float | None, slow: float = 1.5) -> None:
        self.now = 0.0
        self.after_s = after_s
        self.slow = slow

    def clock(self) -> float:
        return self.now

    def round(self) -> tuple[int, float]:
        seconds = 0.1 * (self.slow if self.after_s is not None and self.now >= self.after_s else 1.0)
        self.now += seconds
        return 10, seconds


def guards_at(fake: SlowsAfter) -> GuardReading:
    return GuardReading(cpu_mhz=3000.0 - fake.now, temperature_c=40.0 + fake.now / 10)


def test_a_planted_slowdown_is_found_where_it_was_planted() -> None:
    fake = SlowsAfter(after_s=120.0)
    run = run_sustained(fake.round, 300.0, 10.0, lambda: guards_at(fake), fake.clock)
    assert len(run.intervals) == 30 and run.window_s == 60.0 and run.window_intervals == 6
    assert run.start_tok_per_s == pytest.approx(100.0)
    assert run.steady_tok_per_s == pytest.approx(100.0 / 1.5)
    assert run.drop_at_s == 120.0
    assert run.drop_text == "dropped more than 10% below the start after 120 s"
    assert run.intervals[0].cpu_mhz == pytest.approx(2990.0, abs=0.2)  # read at the interval's end
    assert run.intervals[-1].temperature_c == pytest.approx(70.0, abs=0.1)
    assert read(Sustained, write(run), "sustained") == run  # as the reply writes and reads it (info.sustained)


def test_a_steady_run_never_drops_and_a_small_slowdown_is_not_a_drop() -> None:
    steady = SlowsAfter(after_s=None)
    run = run_sustained(steady.round, 10.0, 1.0, GuardReading, steady.clock)
    assert run.window_s == 2.5 and run.window_intervals == 2 and run.drop_at_s is None
    assert run.drop_text == "never dropped more than 10% below the start"
    assert run.steady_tok_per_s == pytest.approx(100.0) and run.steady_stdev == pytest.approx(0.0, abs=1e-9)
    slight = SlowsAfter(after_s=5.0, slow=1.05)  # 5% slower: under the 10% line
    assert run_sustained(slight.round, 10.0, 1.0, GuardReading, slight.clock).drop_at_s is None


def test_one_intervals_dip_is_not_a_drop_the_last_ones_included() -> None:
    def interval(i: int, value: float | None) -> Interval:
        return Interval(float(i), float(i + 1), value, 1 if value else 0)

    dip = [interval(i, 100.0) for i in range(8)]
    dip[4] = interval(4, 80.0)
    assert analyse(dip, 1.0, 8.0).drop_at_s is None
    dip[7] = interval(7, 80.0)  # unconfirmed: nothing follows it
    assert analyse(dip, 1.0, 8.0).drop_at_s is None
    dip[6] = interval(6, 85.0)
    assert analyse(dip, 1.0, 8.0).drop_at_s == 6.0
    empty = [interval(i, None) for i in range(8)]  # no round ended anywhere: nothing is read, nothing invented
    run = analyse(empty, 1.0, 8.0)
    assert run.start_tok_per_s is None and run.drop_at_s is None and run.drop_text.startswith("not read")


def test_rounds_fall_in_the_interval_they_end_in() -> None:
    rounds = [RoundEnd(0.5, 10, 0.1), RoundEnd(1.5, 10, 0.2), RoundEnd(2.2, 10, 0.2), RoundEnd(3.4, 10, 0.5)]
    found = bucket(rounds, 1.0, 3.0)
    assert [i.tok_per_s for i in found] == pytest.approx([100.0, 50.0, 10 * 2 / 0.7])  # the overrun counts last
    assert [i.rounds for i in found] == [1, 1, 2]


def test_the_terminal_line_says_start_steady_drop_clock_and_temperature() -> None:
    from benchharness.report.profiles_view import sustained_text

    fake = SlowsAfter(after_s=120.0)
    run = run_sustained(fake.round, 300.0, 10.0, lambda: guards_at(fake), fake.clock)
    assert sustained_text(run) == (
        "first 60 s 100.0 tok/s, steady (last 60 s) 66.67 tok/s (-33.3%); dropped more than 10% below the start "
        "after 120 s; CPU clock 2,990 -> 2,700 MHz, temperature 41 -> 70 C"
    )
