"""The one protocol every meter of a case's timed region follows, and what a meter is built from.

A meter is started just before the timed region and stopped just after it; `stop()` gives its Readings
(value, unit and source, or unavailable with the reason) and the facts it adds to the child's reply
(child_info.RegionFacts: each core's busy share, the RSS before load). The registered meters
(meters/registry.py) run together around the region (meters/region.py); adding one is a class that
follows `Meter` and one line in the registry. Energy counters are read per timed run inside the region
(meters/energy.py, `EnergyCounter`); the energy meter turns the runs it saw into its Readings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from benchharness.child_info import RegionFacts
from benchharness.meters.energy import Energy
from benchharness.meters.gpu_board import BoardBeforeLoad
from benchharness.readings import Reading


class Metered(NamedTuple):
    """What a meter read over the region: its Readings and what it adds to the case's info."""

    readings: list[Reading]
    info: RegionFacts


@dataclass(frozen=True)
class MeterCase:
    """What a meter is built from: the case's device, what the child held before loading, its energy source.

    `per_run` and `unit` say what one timed run produces (64 tokens, 32 items), for energy per token or item.
    `energy` is None where the caller reads no energy (its meter then reads nothing).
    `gpu_before_load` is a CUDA case's board as the child found it (its CUDA context's memory), else None.
    """

    device: str = "cpu"
    rss_before_load: float | None = None
    energy: Energy | None = None
    per_run: float = 1.0
    unit: str = "run"
    gpu_before_load: BoardBeforeLoad | None = None


@runtime_checkable
class Meter(Protocol):
    """Started right before the timed region, stopped right after it."""

    def start(self) -> None: ...

    def stop(self) -> Metered: ...


class MeterClass(Protocol):
    """A registered meter: built from the case, and able to say what it reads before it has read anything.

    `reads` names the (reading, unit) pairs the meter gives for this case, so a meter that raises is
    reported as those readings unavailable with its error, and the other meters' readings are kept.
    An empty tuple: nothing applies to this case (GPU figures of a CPU case are left out, not unavailable).
    """

    def __call__(self, case: MeterCase) -> Meter: ...

    def reads(self, case: MeterCase) -> tuple[tuple[str, str], ...]: ...


def unavailable(reads: tuple[tuple[str, str], ...], reason: str) -> list[Reading]:
    """Each (name, unit) a meter would read, unavailable with `reason`."""
    return [Reading.unavailable(name, unit, reason) for name, unit in reads]
