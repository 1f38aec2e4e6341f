"""The CPU quota a Linux control group puts on this process: how many CPUs' worth of time it may use.

A container limited with `--cpus=2` on a 64-core host still sees 64 CPUs in its affinity mask; only the
cgroup's CFS quota says it gets two CPUs' worth of time per period. Threads beyond that wait for the
next period, and runtimes whose threads spin-wait for each other (llama.cpp, ONNX Runtime, OpenVINO)
slow down by several times. Read the way the Go runtime and the JVM read it: cgroup v2's `cpu.max`
(`"<quota> <period>"` or `"max <period>"`), else cgroup v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us`
(quota -1: none), for the group named in /proc/self/cgroup, rounded up to whole CPUs.
"""

from __future__ import annotations

import math
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def quota_cpus(proc_cgroup: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> int | None:
    """Whole CPUs the cgroup quota allows (at least 1), or None where there is no quota or no cgroup to read."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:  # not Linux, or no /proc
        return None
    for line in lines:
        hierarchy, _, rest = line.partition(":")
        controllers, _, group = rest.partition(":")
        group = group.lstrip("/")
        if hierarchy == "0" and controllers == "":
            found = _v2(root / group / "cpu.max") or _v2(root / "cpu.max")
        elif "cpu" in controllers.split(","):
            base = root / controllers if (root / controllers).is_dir() else root / "cpu"
            found = _v1(base / group) or _v1(base)
        else:
            continue
        if found is not None:
            return found
    return None


def _v2(path: Path) -> int | None:
    try:
        quota, _, period = path.read_text().strip().partition(" ")
    except OSError:
        return None
    if quota == "max" or not period:
        return None
    return _cpus(int(quota), int(period))


def _v1(folder: Path) -> int | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota < 0 else _cpus(quota, period)


def _cpus(quota: int, period: int) -> int | None:
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))
