"""CPU utilisation of a measured region, and the bottleneck flags a reader should see next to the figures.

Utilisation is the case's own process: CPU seconds (user + system, all threads, from the process CPU-time
clock, nanosecond resolution: /proc's 10 ms ticks read 121% over a 25 ms region) over wall seconds times
the cores it may run on, so 1.0 means every usable core was busy for the whole region. Each core's
busy share over the same region (system-wide, in /proc/stat's 10 ms ticks: what else ran shows up here)
goes with it. A GPU's utilisation needs NVML and is not read here.

Outside load is what the case did not cause: the machine's busy CPU time over the region (every core,
/proc/stat) minus the CPU time of the case's own process tree, as a share of all cores' time. A baseline
recorded while something else kept the machine busy (a 39 tok/s decode where the quiet machine gives 83)
says so when it is saved.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

from benchharness.child_info import CpuFacts, Flag, RegionFacts
from benchharness.meters.base import MeterCase, Metered
from benchharness.readings import Reading

# The thresholds of the seeds' bottleneck flags.
CPU_BOUND = 0.80  # the process kept more than 80% of its usable cores busy
MEMORY_BOUND = 0.90  # its peak resident memory reached 90% of the memory it could have
INCONSISTENT = 0.20  # the headline figure's coefficient of variation over rounds


def usable_cores() -> int:
    """Cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


@dataclass(frozen=True)
class CpuRegion:
    """What the CPU did over a timed region: the case's share, the share nobody in the case caused, each core."""

    utilisation: Reading
    outside_load: Reading
    per_core: list[float]


@dataclass
class CpuWindow:
    """CPU time of this process (and its children) and each core's busy share between `start()` and `stop()`."""

    _wall: float = 0.0
    _process: float = 0.0
    _children: float = 0.0
    _cores: list[tuple[float, float]] | None = None
    available_at_start: float = 0.0
    rss_at_start: float = 0.0

    def start(self) -> None:
        me = psutil.Process()
        self._process = time.process_time()
        self._children = _children_cpu(me)
        self._cores = [_busy_total(c) for c in psutil.cpu_times(percpu=True)]
        memory = psutil.virtual_memory()
        self.available_at_start = float(memory.available)
        self.rss_at_start = float(me.memory_info().rss)
        self._wall = time.perf_counter()

    def stop(self) -> CpuRegion:
        """The process's utilisation and the outside load as Readings, and each core's busy share (system-wide)."""
        wall = time.perf_counter() - self._wall
        used = time.process_time() - self._process
        children = max(_children_cpu(psutil.Process()) - self._children, 0.0)
        cores = usable_cores()
        per_core = []
        busy = total = 0.0
        for (busy0, total0), now in zip(self._cores or [], psutil.cpu_times(percpu=True), strict=False):
            busy1, total1 = _busy_total(now)
            busy, total = busy + busy1 - busy0, total + total1 - total0
            per_core.append(round((busy1 - busy0) / (total1 - total0), 4) if total1 > total0 else 0.0)
        if wall <= 0:
            reading = Reading.unavailable("cpu_utilisation", "fraction", "the measured region took no time")
        else:
            reading = Reading(
                "cpu_utilisation",
                "fraction",
                used / (wall * cores),
                source=f"the case's process CPU time (all threads) / (wall seconds x {cores} usable cores), timed region",
            )
        return CpuRegion(reading, outside_load(busy, total, used + children, len(per_core)), per_core)


class CpuMeter:
    """CPU utilisation of the region (the case's process), the outside load, each core's busy share, the memory available."""

    def __init__(self, case: MeterCase) -> None:
        self.window = CpuWindow()

    @classmethod
    def reads(cls, case: MeterCase) -> tuple[tuple[str, str], ...]:
        return (("cpu_utilisation", "fraction"), ("outside_cpu_load", "fraction"))

    def start(self) -> None:
        self.window.start()

    def stop(self) -> Metered:
        region = self.window.stop()
        available = self.window.available_at_start + self.window.rss_at_start
        facts = RegionFacts(cpu=CpuFacts(tuple(region.per_core), float(available)))
        return Metered([region.utilisation, region.outside_load], facts)


def outside_load(machine_busy_s: float, machine_total_s: float, own_s: float, cores: int) -> Reading:
    """The share of all cores' time over a region that was busy with work the case's own processes did not do.

    Clamped at 0: the machine counts in 10 ms ticks and the process clock in nanoseconds, so a quiet
    machine can read a few ticks below the case's own time.
    """
    if machine_total_s <= 0:
        return Reading.unavailable(
            "outside_cpu_load", "fraction", "the region was shorter than one tick of the machine's CPU counters"
        )
    share = min(max(machine_busy_s - own_s, 0.0) / machine_total_s, 1.0)
    return Reading(
        "outside_cpu_load",
        "fraction",
        share,
        source=f"machine-wide busy CPU time ({cores} cores, psutil.cpu_times) minus the case's own process tree's, "
        "over all cores' time in the timed region",
    )


def _children_cpu(process: psutil.Process) -> float:
    """CPU seconds of `process`'s children: those alive now and those it has waited for."""
    times = process.cpu_times()
    total = times.children_user + times.children_system
    for child in process.children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:  # it ended between listing and reading
            continue
    return total


def _busy_total(times: object) -> tuple[float, float]:
    total = sum(getattr(times, f) for f in getattr(times, "_fields", ()))
    idle = getattr(times, "idle", 0.0) + getattr(times, "iowait", 0.0)
    return total - idle, total


RULES = {
    "cpu_bound": f"CPU utilisation over {CPU_BOUND:.0%} of the usable cores",
    "memory_bound": f"peak RSS over {MEMORY_BOUND:.0%} of the memory available",
    "inconsistent": f"headline figure's CV over {INCONSISTENT:.0%}",
    "throttled": "the CPU clock fell, or the power switched to battery, during the timed region",
}


def bottleneck_flags(
    utilisation: float | None,
    peak_rss: float | None,
    memory_available: float | None,
    headline: Reading | None,
    throttled: str | None = None,
) -> list[Flag]:
    """The seeds' three flags: > 80% CPU, > 90% of the memory available, a CV over 20% on the headline figure;
    and `throttled` when the guards saw the clock fall or the power switch to battery (meters/guards.throttled).

    `memory_available` is what the process could have had: available memory when the region began plus
    what it already held.
    """
    flags = [Flag("throttled", throttled, "throttled")] if throttled else []
    if utilisation is not None and utilisation > CPU_BOUND:
        flags.append(
            Flag(
                "cpu_bound",
                f"CPU utilisation {utilisation:.0%} of {usable_cores()} usable cores (> {CPU_BOUND:.0%})",
                f"{utilisation:.0%}",
            )
        )
    if peak_rss is not None and memory_available and peak_rss > MEMORY_BOUND * memory_available:
        flags.append(
            Flag(
                "memory_bound",
                f"peak RSS {peak_rss / 2**20:.0f} MiB of {memory_available / 2**20:.0f} MiB available (> {MEMORY_BOUND:.0%})",
                f"{peak_rss / memory_available:.0%}",
            )
        )
    if headline is not None and headline.value and headline.stdev is not None and headline.n > 1:
        cv = headline.stdev / abs(headline.value)
        if cv > INCONSISTENT:
            flags.append(
                Flag(
                    "inconsistent",
                    f"{headline.name} varies {cv:.0%} over {headline.n} rounds (CV > {INCONSISTENT:.0%})",
                    f"CV {cv:.0%}",
                )
            )
    return flags
