"""The GPU's figures over a CUDA case's timed region, from NVML: this process's memory on the board, its utilisation."""

from __future__ import annotations

import os
import threading
from typing import Any

from benchharness.child_info import RegionFacts
from benchharness.gpus import split_device
from benchharness.meters.base import MeterCase, Metered, unavailable
from benchharness.readings import Reading

GPU_READS = (("gpu_memory_bytes", "B"), ("gpu_utilisation", "fraction"))


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

    def stop(self) -> Metered:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        source = f"NVML, {len(self.memory)} samples every {self.interval_s * 1000:.0f} ms in the timed region"
        readings = [
            Reading(
                "gpu_memory_bytes", "B", max(self.memory), source=source + ", this process's memory on the board (peak)"
            ),
            Reading(
                "gpu_utilisation",
                "fraction",
                sum(self.busy) / len(self.busy),
                source=source + ", utilisation rate (mean)",
            ),
        ]
        return Metered(readings, RegionFacts())


def gpu_meter(device: str, nvml: Any = None) -> tuple[NvmlGpuMeter | None, list[Reading]]:
    """The GPU region meter for a CUDA case (`cuda`, `cuda:N`), or unavailable GPU readings with the reason.

    CPU cases get neither: a figure that does not apply is left out, not reported unavailable.
    """
    device_type, index = split_device(device)
    if device_type != "cuda":
        return None, []
    try:
        if nvml is None:
            import pynvml

            nvml = pynvml
        nvml.nvmlInit()
        return NvmlGpuMeter(nvml, nvml.nvmlDeviceGetHandleByIndex(index)), []
    except Exception as e:  # ImportError, NVMLError: no library, no driver
        return None, unavailable(GPU_READS, f"no NVML ({e})")


class GpuMeter:
    """The registered GPU meter: NVML's figures for a CUDA case, unavailable with the reason where NVML cannot be
    read, and nothing for a case on another device (a figure that does not apply is left out)."""

    def __init__(self, case: MeterCase) -> None:
        self.meter, self.unavailable = gpu_meter(case.device)

    @classmethod
    def reads(cls, case: MeterCase) -> tuple[tuple[str, str], ...]:
        return GPU_READS if split_device(case.device)[0] == "cuda" else ()

    def start(self) -> None:
        if self.meter is not None:
            self.meter.start()

    def stop(self) -> Metered:
        return Metered(list(self.unavailable), RegionFacts()) if self.meter is None else self.meter.stop()
