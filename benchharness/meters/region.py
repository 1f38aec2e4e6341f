"""The meters that run around a case's timed region, behind one small protocol.

A region meter is started before the timed rounds and stopped after them; `stop()` gives its Readings
(each with value, unit and source, or unavailable with the reason) and what it adds to the case's info.
Energy counters are read per round instead (the round loop's EnergyCounter), so energy has a spread.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Protocol

from benchharness.gpus import split_device
from benchharness.meters.memory import RssSampler
from benchharness.meters.utilisation import CpuWindow
from benchharness.readings import Reading


class RegionMeter(Protocol):
    def start(self) -> None: ...

    def stop(self) -> tuple[list[Reading], dict[str, Any]]: ...


class CpuMeter:
    """CPU utilisation of the region (the case's process), the outside load, each core's busy share, the memory available."""

    def __init__(self) -> None:
        self.window = CpuWindow()

    def start(self) -> None:
        self.window.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        region = self.window.stop()
        info = {
            "cpu_per_core": region.per_core,  # each core's busy share over the timed region, system-wide
            "memory_available_bytes": self.window.available_at_start + self.window.rss_at_start,
        }
        return [region.utilisation, region.outside_load], info


class MemoryMeter:
    """Resident memory sampled over the region, and the model's own memory (see RssSampler)."""

    def __init__(self, rss_before_load: float | None) -> None:
        self.sampler = RssSampler(rss_before_load)

    def start(self) -> None:
        self.sampler.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        return self.sampler.stop(), {"rss_before_load_bytes": self.sampler.rss_before_load}


class RegionMeters:
    """Several region meters at once, started in order and stopped in reverse."""

    def __init__(self, meters: list[RegionMeter], unavailable: list[Reading] | None = None) -> None:
        self.meters = meters
        self.unavailable = unavailable or []  # readings a meter could not take here, with the reason

    @classmethod
    def default(cls, rss_before_load: float | None, device: str = "cpu") -> RegionMeters:
        gpu, unavailable = gpu_meter(device)
        meters: list[RegionMeter] = [CpuMeter(), MemoryMeter(rss_before_load)]
        return cls([*meters, gpu] if gpu is not None else meters, unavailable)

    def start(self) -> None:
        for meter in self.meters:
            meter.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        readings: list[Reading] = list(self.unavailable)
        info: dict[str, Any] = {}
        for meter in reversed(self.meters):
            more, extra = meter.stop()
            readings += more
            info |= extra
        return readings, info


class NvmlGpuMeter:
    """This process's GPU memory (NVML's per-process figure) and the board's utilisation over the region.

    Sampled every 50 ms by a side thread: the peak of the memory this pid holds on the board, and the mean
    of NVML's utilisation rate (the share of time a kernel ran). Only for cases on a CUDA device.
    """

    def __init__(self, nvml: Any, handle: Any, interval_s: float = 0.05) -> None:
        self.nvml, self.handle, self.interval_s = nvml, handle, interval_s
        self.memory: list[float] = []
        self.busy: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        pid = os.getpid()
        processes = self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle)
        mine = [p.usedGpuMemory for p in processes if p.pid == pid and p.usedGpuMemory is not None]
        self.memory.append(float(sum(mine)))
        self.busy.append(float(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu) / 100)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> None:
        self.memory, self.busy = [], []
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> tuple[list[Reading], dict[str, Any]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        source = f"NVML, {len(self.memory)} samples every {self.interval_s * 1000:.0f} ms in the timed region"
        return [
            Reading(
                "gpu_memory_bytes", "B", max(self.memory), source=source + ", this process's memory on the board (peak)"
            ),
            Reading(
                "gpu_utilisation",
                "fraction",
                sum(self.busy) / len(self.busy),
                source=source + ", utilisation rate (mean)",
            ),
        ], {}


def gpu_meter(device: str, nvml: Any = None) -> tuple[NvmlGpuMeter | None, list[Reading]]:
    """The GPU region meter for a CUDA case (`cuda`, `cuda:N`), or unavailable GPU readings with the reason.

    CPU cases get neither: a figure that does not apply is left out, not reported unavailable.
    """
    kind, index = split_device(device)
    if kind != "cuda":
        return None, []
    try:
        if nvml is None:
            import pynvml

            nvml = pynvml
        nvml.nvmlInit()
        return NvmlGpuMeter(nvml, nvml.nvmlDeviceGetHandleByIndex(index)), []
    except Exception as e:  # ImportError, NVMLError: no library, no driver
        why = f"no NVML ({e})"
        return None, [
            Reading.unavailable("gpu_memory_bytes", "B", why),
            Reading.unavailable("gpu_utilisation", "fraction", why),
        ]
