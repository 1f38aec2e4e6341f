"""The GPU's figures over a CUDA case's timed region, from NVML: its memory on the board, its utilisation.

Memory comes three ways, each with its source: the whole figure (`gpu_memory_bytes`, this process's peak on
the board, its CUDA context included), the CUDA context alone (`gpu_context_bytes`, read before load by
meters/gpu_board.py) and the model's (`gpu_model_memory_bytes`, the first without the second: weights, KV
cache and the runtime's workspace), which the memory gate compares on a CUDA case.

Where NVML cannot see this process (a container reports the host's pids), the whole figure is the board's
used memory over the region minus the board before load, labelled as such, and only while nothing else
holds memory on the board; otherwise it is unavailable with the reason, never a 0 B that passes a gate.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from benchharness.child_info import RegionFacts
from benchharness.gpus import is_cuda, split_device
from benchharness.meters.base import MeterCase, Metered, unavailable
from benchharness.meters.gpu_board import BoardBeforeLoad, board_handle, own_memory
from benchharness.readings import Reading

GPU_READS = (
    ("gpu_memory_bytes", "B"),
    ("gpu_model_memory_bytes", "B"),
    ("gpu_context_bytes", "B"),
    ("gpu_utilisation", "fraction"),
)


class NvmlGpuMeter:
    """This case's GPU memory and the board's utilisation over the region, sampled every 50 ms by a side thread.

    Each sample reads NVML's process list (this pid's memory, or None where NVML does not list it), the board's
    used memory and its utilisation rate (the share of time a kernel ran). `before` is the board as the case
    found it (None where it was not read): it gives the CUDA context's memory and the board's starting point.
    """

    def __init__(self, nvml: Any, handle: Any, before: BoardBeforeLoad | None = None, interval_s: float = 0.05) -> None:
        self.nvml, self.handle, self.before, self.interval_s = nvml, handle, before, interval_s
        self.mine: list[float | None] = []
        self.used: list[float] = []
        self.processes: list[int] = []
        self.busy: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        processes = list(self.nvml.nvmlDeviceGetComputeRunningProcesses(self.handle))
        self.mine.append(own_memory(processes, os.getpid()))
        self.processes.append(len(processes))
        self.used.append(float(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used))
        self.busy.append(float(self.nvml.nvmlDeviceGetUtilizationRates(self.handle).gpu) / 100)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._sample()

    def start(self) -> None:
        self.mine, self.used, self.processes, self.busy = [], [], [], []
        self._sample()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="nvml-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Metered:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        source = f"NVML, {len(self.busy)} samples every {self.interval_s * 1000:.0f} ms in the timed region"
        memory = self._memory(source)
        context = self._context()
        readings = [
            memory,
            _model_memory(memory, context),
            context,
            Reading(
                "gpu_utilisation",
                "fraction",
                sum(self.busy) / len(self.busy),
                source=source + ", utilisation rate (mean)",
            ),
        ]
        return Metered(readings, RegionFacts())

    def _memory(self, source: str) -> Reading:
        """The case's whole GPU memory: NVML's figure for this pid, else the board's, where that is the case's alone."""
        listed = [m for m in self.mine if m is not None]
        if listed:
            return Reading(
                "gpu_memory_bytes",
                "B",
                max(listed),
                source=source + ", this process's memory on the board (peak, its CUDA context included)",
            )
        pid = os.getpid()
        hidden = f"NVML lists no process with this pid ({pid}) in the timed region"
        if self.before is None:
            return Reading.unavailable("gpu_memory_bytes", "B", f"{hidden}, and the board was not read before load")
        others = max([self.before.processes, *self.processes])
        if others > 1:
            return Reading.unavailable(
                "gpu_memory_bytes",
                "B",
                f"{hidden} (a container reports the host's pids) and {others} processes hold memory on the board, "
                "so its used memory is not this case's alone; run the case alone on its board",
            )
        seen = "NVML lists no process at all" if others == 0 else "NVML lists one process under another pid"
        return Reading(
            "gpu_memory_bytes",
            "B",
            max(max(self.used) - self.before.used_bytes, 0.0),
            source=source
            + f", the board's used memory minus the board before load (peak): {hidden}, as in a container, which "
            f"reports the host's pids ({seen}), so the board's figure stands in, the case being alone on its board",
        )

    def _context(self) -> Reading:
        if self.before is None:
            return Reading.unavailable("gpu_context_bytes", "B", "the board was not read before load")
        if self.before.context_bytes is None:
            return Reading.unavailable("gpu_context_bytes", "B", self.before.context_source)
        return Reading("gpu_context_bytes", "B", self.before.context_bytes, source=self.before.context_source)


def _model_memory(memory: Reading, context: Reading) -> Reading:
    """The model's GPU memory: the case's whole figure without its CUDA context (weights, KV cache, workspace)."""
    if memory.value is None:
        return Reading.unavailable("gpu_model_memory_bytes", "B", f"gpu_memory_bytes: {memory.unavailable_reason}")
    if context.value is None:
        return Reading.unavailable("gpu_model_memory_bytes", "B", f"gpu_context_bytes: {context.unavailable_reason}")
    return Reading(
        "gpu_model_memory_bytes",
        "B",
        max(memory.value - context.value, 0.0),
        source="gpu_memory_bytes minus gpu_context_bytes: the weights, KV cache and the runtime's workspace on "
        "the board, without the CUDA context",
    )


def gpu_meter(
    device: str, nvml: Any = None, before: BoardBeforeLoad | None = None
) -> tuple[NvmlGpuMeter | None, list[Reading]]:
    """The GPU region meter for a CUDA case (`cuda`, `cuda:N`), or unavailable GPU readings with the reason.

    `before` is the board as the case found it (meters/gpu_board.py), read in the child before load.
    CPU cases get neither: a figure that does not apply is left out, not reported unavailable.
    """
    device_type, index = split_device(device)
    if device_type != "cuda":
        return None, []
    try:
        nvml, handle = board_handle(index, nvml)
        return NvmlGpuMeter(nvml, handle, before), []
    except Exception as e:  # ImportError, NVMLError: no library, no driver
        return None, unavailable(GPU_READS, f"no NVML ({e})")


class GpuMeter:
    """The registered GPU meter: NVML's figures for a CUDA case, unavailable with the reason where NVML cannot be
    read, and nothing for a case on another device (a figure that does not apply is left out)."""

    def __init__(self, case: MeterCase) -> None:
        self.meter, self.unavailable = gpu_meter(case.device, before=case.gpu_before_load)

    @classmethod
    def reads(cls, case: MeterCase) -> tuple[tuple[str, str], ...]:
        return GPU_READS if is_cuda(case.device) else ()

    def start(self) -> None:
        if self.meter is not None:
            self.meter.start()

    def stop(self) -> Metered:
        return Metered(list(self.unavailable), RegionFacts()) if self.meter is None else self.meter.stop()
