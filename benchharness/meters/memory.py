"""Resident memory of the case's child process: the kernel's high-water mark, and what the model itself holds."""

from __future__ import annotations

import resource
import sys
import threading
from pathlib import Path

import psutil

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


def current_rss() -> float:
    """Resident memory of this process now (psutil)."""
    return float(psutil.Process().memory_info().rss)


class RssSampler:
    """Resident memory of this process, sampled by a side thread every `interval_s` over a measured region.

    VmHWM is a lifetime high-water mark: it includes loading and whatever Python and the runtime hold.
    The samples say what the region itself held, so the model's own cost is the region's peak minus the
    RSS before the model was loaded (the runtime already imported): `model_memory_bytes`, what the memory
    gate compares by default. optimum-benchmark samples the same way (psutil, ~10 ms).
    """

    def __init__(self, rss_before_load: float | None, interval_s: float = 0.01) -> None:
        self.rss_before_load = rss_before_load
        self.interval_s = interval_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            self.samples.append(float(me.memory_info().rss))
            self._stop.wait(self.interval_s)

    def start(self) -> None:
        self.samples = [current_rss()]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> list[Reading]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.samples.append(current_rss())
        peak = max(self.samples)
        source = f"peak of {len(self.samples)} RSS samples every {self.interval_s * 1000:.0f} ms in the timed region (psutil)"
        if self.rss_before_load is None:
            model = Reading.unavailable("model_memory_bytes", "B", "the RSS before load was not read")
        else:
            model = Reading(
                "model_memory_bytes",
                "B",
                max(peak - self.rss_before_load, 0.0),
                source=source + ", minus the RSS before the model was loaded (runtime already imported)",
            )
        return [Reading("region_peak_rss_bytes", "B", peak, source=source), model]
