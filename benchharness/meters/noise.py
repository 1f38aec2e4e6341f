"""What makes this machine noisy, read once before the first case: CPU steal, neighbours' work, timer jitter.

A VM whose hypervisor hands its CPUs to other guests ("steal", /proc/stat's eighth field) runs every
timed region slower by a share nobody inside the guest caused, and no spread over rounds reveals it
when it is steady. A loaded neighbour does the same; a coarse or jittery timer blurs short calls.
Read over a short window in which this process sleeps, so everything counted is the machine's, not ours:

- `steal_share`: hypervisor steal time over all CPUs' time in the window (psutil.cpu_times().steal; Linux),
- `outside_busy_share`: busy CPU time of everything but this process over all CPUs' time (steal included),
- `sleep_overshoot_p50_us` / `_p99_us`: how late a 1 ms `time.sleep` wakes (scheduler and timer jitter),
  the cyclictest idea at Python's resolution.

A figure the OS does not expose (steal outside Linux) is None, never 0.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import psutil

# Steal over this share of the CPUs' time makes every speed figure of the run suspect (AWS's and Google's
# guidance on noisy neighbours treat a few per cent of steal as the point where throughput visibly drops).
HEAVY_STEAL = 0.05
SLEEP_S = 0.001


@dataclass(frozen=True)
class Noise:
    window_s: float
    cpus: int
    steal_share: float | None
    outside_busy_share: float
    sleep_overshoot_p50_us: float
    sleep_overshoot_p99_us: float

    def heavy_steal(self) -> str:
        """A note for speed verdicts when the hypervisor took more than HEAVY_STEAL of the CPUs, else ''."""
        if self.steal_share is None or self.steal_share <= HEAVY_STEAL:
            return ""
        return (
            f"the hypervisor took {self.steal_share:.0%} of the CPUs' time (steal) in the idle window before the "
            "run: speed figures read slow by about that much"
        )

    def describe(self) -> str:
        steal = "unavailable (no steal counter on this OS)" if self.steal_share is None else f"{self.steal_share:.1%}"
        return (
            f"steal {steal}, other work {self.outside_busy_share:.1%} of {self.cpus} CPU(s), 1 ms sleep overshoot "
            f"p50 {self.sleep_overshoot_p50_us:.0f} us / p99 {self.sleep_overshoot_p99_us:.0f} us "
            f"(over {self.window_s:.1f} s idle)"
        )

    def summary(self) -> str:
        """describe(), with the steal warning after a colon when there is one: what the terminal and report print."""
        return self.describe() + (f": {warning}" if (warning := self.heavy_steal()) else "")

    def info(self) -> dict[str, Any]:
        return asdict(self)


def read_noise(window_s: float = 1.0) -> Noise:
    """Sleep for about `window_s` in 1 ms steps and read the machine around it. Costs `window_s` of wall time."""
    own = psutil.Process()
    before, own_before = psutil.cpu_times(), own.cpu_times()
    overshoots: list[float] = []
    started = time.perf_counter()
    while time.perf_counter() - started < window_s:
        t0 = time.perf_counter()
        time.sleep(SLEEP_S)
        overshoots.append((time.perf_counter() - t0 - SLEEP_S) * 1e6)
    after, own_after = psutil.cpu_times(), own.cpu_times()
    total = _total(after) - _total(before)
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))
    ours = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    steal = (after.steal - before.steal) / total if hasattr(after, "steal") and total > 0 else None
    overshoots.sort()
    return Noise(
        window_s=round(time.perf_counter() - started, 3),
        cpus=psutil.cpu_count() or 1,
        steal_share=None if steal is None else max(steal, 0.0),
        outside_busy_share=max(total - idle - ours, 0.0) / total if total > 0 else 0.0,
        sleep_overshoot_p50_us=overshoots[len(overshoots) // 2],
        sleep_overshoot_p99_us=overshoots[min(len(overshoots) - 1, int(len(overshoots) * 0.99))],
    )


def _total(times: Any) -> float:
    # guest time is already inside user time on Linux (psutil documents it): leave it out of the sum.
    return sum(getattr(times, f) for f in times._fields if f not in ("guest", "guest_nice"))
