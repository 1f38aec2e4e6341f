"""One alarm per real change: the change points of a lab's series, grouped into what a person acts on.

A real change rarely moves one series. A slower decode kernel moves a case's decode tok/s, its TPOT,
its latency percentiles and its speedup gate ratio on the same night; a bad build moves it on every
machine of one CPU class. Listed series by series, one change is a dozen lines and a nightly digest
of ~500,000 series cries wolf by volume alone. So change points (changepoints.detect, per series) are
placed on the calendar as `Move`s and grouped, in two pure steps:

1. on one machine, the moves of one case whose nights lie within `window` nights of the group's
   first night (default 2: the detector places a shared step within a night or two on each figure)
   become one alarm naming every figure and its move; a figure that moved on another night is
   another change and another alarm;
2. the alarms of one case on machines of one class (CPU model and ISA, machine.machine_class) that
   point the same way (all worse, all better) and start within `window` nights of each other become
   one alarm naming the machines. Machines of another class, or a move the other way, stay apart:
   an AVX2 host and an AVX-512 host take different kernels, and a speed-up on one machine is not the
   regression on another.

Transients (a night or two that left the level and came back) are grouped the same way by the
caller when it wants them shown, but they are never alarms: `alarms()` takes change points only.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from benchharness.readings import metric_spec

WINDOW = 2  # nights: moves this close to a group's first night are one change
HALF_A_DAY = timedelta(hours=12)


def night_of(started: str) -> str:
    """The night a run started in, named by its morning's date (UTC): noon to noon, so runs at 23:50 and 00:10 share one.

    A nightly run at 02:00 keeps its own date, so the digest's nights read as the runs' start dates do.
    """
    return (datetime.fromisoformat(started) + HALF_A_DAY).date().isoformat()


def sense(figure: str, change: float) -> str:
    """'worse', 'better' or 'moved' (a figure with no better direction, e.g. CPU utilisation)."""
    better = "higher" if figure.startswith("gate:") else getattr(metric_spec(figure), "better", "neither")
    if better == "neither" or change == 0:
        return "moved"
    return "better" if (change > 0) == (better == "higher") else "worse"


@dataclass(frozen=True)
class Move:
    """One series' change point placed on the calendar: this figure of this case on this machine changed by `change`."""

    machine: str
    machine_class: str
    case_key: str
    figure: str
    night: str  # ISO date of the first night at the new level
    change: float  # relative: mean after / mean before - 1
    p_value: float | None  # None for a transient: one or two nights have no test behind them

    @property
    def sense(self) -> str:
        return sense(self.figure, self.change)


@dataclass(frozen=True)
class Alarm:
    """One real change: the moves of one case on one machine, or on several machines of one class, in one window."""

    case_key: str
    machine_class: str
    moves: tuple[Move, ...]

    @property
    def machines(self) -> tuple[str, ...]:
        return tuple(sorted({m.machine for m in self.moves}))

    @property
    def figures(self) -> tuple[str, ...]:
        return tuple(sorted({m.figure for m in self.moves}))

    @property
    def nights(self) -> tuple[str, str]:
        """The first and the last night on which one of its moves was placed."""
        return min(m.night for m in self.moves), max(m.night for m in self.moves)

    @property
    def direction(self) -> str:
        """'worse' or 'better' when every move that has a sense agrees, 'mixed' when they do not, else 'moved'."""
        senses = {m.sense for m in self.moves} - {"moved"}
        return senses.pop() if len(senses) == 1 else ("mixed" if senses else "moved")

    @property
    def p_value(self) -> float | None:
        """The strongest evidence among its moves (each already passed the change-point rules on its own)."""
        return min((m.p_value for m in self.moves if m.p_value is not None), default=None)

    def change_of(self, figure: str) -> float:
        """The figure's move, the median over the machines it moved on."""
        return statistics.median(m.change for m in self.moves if m.figure == figure)

    @property
    def size(self) -> float:
        """The largest of its figures' moves (by magnitude): the headline of the alarm."""
        return max((self.change_of(f) for f in self.figures), key=abs)


def _cut(nights: Sequence[str], window: int) -> list[tuple[int, int]]:
    """[start, end) index ranges of sorted `nights`, each within `window` nights of its first night."""
    ranges: list[tuple[int, int]] = []
    start = 0
    for i, night in enumerate(nights):
        if (date.fromisoformat(night) - date.fromisoformat(nights[start])).days > window:
            ranges.append((start, i))
            start = i
    if nights:
        ranges.append((start, len(nights)))
    return ranges


def on_machine(moves: Iterable[Move], window: int = WINDOW) -> list[Alarm]:
    """Step 1: one alarm per case, machine and window of nights, naming every figure that moved in it."""
    if window < 0:
        raise ValueError(f"window={window}: nights cannot be negative; use 0 (same night only) or more")
    alarms = []
    key = lambda m: (m.machine, m.case_key)  # noqa: E731
    for (_machine, case_key), group in itertools.groupby(sorted(moves, key=key), key=key):
        ordered = sorted(group, key=lambda m: (m.night, m.figure))
        for a, b in _cut([m.night for m in ordered], window):
            alarms.append(Alarm(case_key, ordered[a].machine_class, tuple(ordered[a:b])))
    return alarms


def across_machines(alarms: Iterable[Alarm], window: int = WINDOW) -> list[Alarm]:
    """Step 2: one machine's alarms of one case joined with those of its class that point the same way, nearby."""
    if window < 0:
        raise ValueError(f"window={window}: nights cannot be negative; use 0 (same night only) or more")
    out = []
    key = lambda a: (a.machine_class, a.case_key, a.direction)  # noqa: E731
    for (machine_class, case_key, _direction), group in itertools.groupby(sorted(alarms, key=key), key=key):
        ordered = sorted(group, key=lambda a: (a.nights[0], a.machines))
        for a, b in _cut([x.nights[0] for x in ordered], window):
            moves = tuple(m for x in ordered[a:b] for m in x.moves)
            out.append(Alarm(case_key, machine_class, moves))
    return out


def alarms(moves: Iterable[Move], window: int = WINDOW) -> list[Alarm]:
    """Change points grouped into alarms (both steps), the newest first."""
    grouped = across_machines(on_machine(moves, window), window)
    return sorted(grouped, key=lambda a: (a.nights[0], a.case_key, a.machine_class), reverse=True)
