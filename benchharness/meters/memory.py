"""Peak resident memory of the current (child) process, as the kernel counts it."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from benchharness.readings import Reading

STATUS = Path("/proc/self/status")


def _vm_hwm_bytes(status: Path = STATUS) -> int | None:
    """VmHWM: the high-water mark of this process's own address space (Linux), or None elsewhere."""
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def peak_rss() -> Reading:
    """High-water mark of resident memory since the child started (file-backed model pages included).

    On Linux this is VmHWM, not getrusage's ru_maxrss: ru_maxrss of a freshly exec'd child starts at
    the parent's RSS at fork time (the kernel carries the old address space's mark into the new one),
    so a large pytest parent made every variant read as large as the parent. macOS has no /proc, and
    its ru_maxrss (bytes) is the process's own.
    """
    hwm = _vm_hwm_bytes()
    if hwm is not None:
        return Reading(
            "peak_rss_bytes", "B", float(hwm), source="VmHWM (/proc/self/status) of the case's child process"
        )
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return Reading(
        "peak_rss_bytes",
        "B",
        float(usage * scale),
        source="getrusage(RUSAGE_SELF).ru_maxrss of the case's child process",
    )
