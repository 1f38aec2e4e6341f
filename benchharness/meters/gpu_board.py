"""The board as a CUDA case found it, read in the child before the model is loaded (NVML).

Two things the timed region's GPU meter (meters/gpu.py) cannot learn later:

- **The CUDA context's own memory.** The child makes its CUDA context first, alone (cuda_context.py), and
  reads what that cost on the board; the model's GPU memory is then the region's figure without it, so the
  memory gate compares the models, not the runtime's fixed cost (as `model_memory_bytes` does for RSS).
- **Whether NVML can see this process at all.** Inside a container NVML reports the host's process ids, so
  the case's own pid is never in NVML's list and its per-process memory reads as nothing. Once this process
  holds a context, a list without its pid proves that, and the meter falls back to the board's used memory
  (the case is alone on its board) measured against `used_bytes`, the board before the context was made.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchharness.cuda_context import retain_primary_context
from benchharness.gpus import split_device


@dataclass(frozen=True)
class BoardBeforeLoad:
    """The board before the model was loaded; every figure in bytes, as NVML gives it.

    used_bytes: the board's used memory before this process made its CUDA context.
    context_bytes: the CUDA context's own memory; None where no context could be made (`context_source` says why).
    context_source: how `context_bytes` was read, or why it is unavailable.
    own_pid_listed: whether NVML listed this process once it held a context; None where no context was made.
    processes: how many processes NVML listed on the board once this one held a context.
    """

    used_bytes: float
    context_bytes: float | None
    context_source: str
    own_pid_listed: bool | None
    processes: int


def own_memory(processes: list[Any], pid: int) -> float | None:
    """This pid's memory in an NVML process list (B), or None where NVML does not list the pid.

    NVML gives None for `usedGpuMemory` where it cannot tell (some drivers, MIG without privileges): such a
    process counts as listed, holding nothing NVML could read.
    """
    mine = [p for p in processes if p.pid == pid]
    if not mine:
        return None
    return float(sum(p.usedGpuMemory or 0 for p in mine))


def board_handle(index: int, nvml: Any = None) -> tuple[Any, Any]:
    """NVML (pynvml unless given) initialised, and the handle of board `index`.

    Raises what the import or NVML raises (ImportError, NVMLError: no library, no driver, no such board); the
    callers turn it into "no NVML (...)". NVML counts its inits, so each caller's own init is safe.
    """
    if nvml is None:
        import pynvml

        nvml = pynvml
    nvml.nvmlInit()
    return nvml, nvml.nvmlDeviceGetHandleByIndex(index)


def read_board_before_load(
    device: str, nvml: Any = None, retain: Callable[[int], str | None] = retain_primary_context
) -> tuple[BoardBeforeLoad | None, str | None]:
    """Read the case's board, make this process's CUDA context, and read the board again.

    Returns the facts, or None and why NVML could not be read (no library, no driver). Only for CUDA devices
    (`cuda`, `cuda:N`); raises ValueError for another device type, which has no board to read.
    """
    device_type, index = split_device(device)
    if device_type != "cuda":
        raise ValueError(f"device {device!r} is not a CUDA device; only cuda and cuda:N have a board to read")
    try:
        nvml, handle = board_handle(index, nvml)
        used_before = float(nvml.nvmlDeviceGetMemoryInfo(handle).used)
    except Exception as e:  # ImportError, NVMLError: no library, no driver
        return None, f"no NVML ({e})"
    why_not = retain(index)
    if why_not is not None:
        return BoardBeforeLoad(used_before, None, f"no CUDA context was made before load: {why_not}", None, 0), None
    used_after = float(nvml.nvmlDeviceGetMemoryInfo(handle).used)
    processes = list(nvml.nvmlDeviceGetComputeRunningProcesses(handle))
    mine = own_memory(processes, os.getpid())
    if mine is not None:
        source = "NVML: this process's memory on the board right after it made its CUDA context, before load"
        return BoardBeforeLoad(used_before, mine, source, True, len(processes)), None
    source = (
        "NVML: the board's used memory right after this process made its CUDA context minus right before "
        f"(NVML lists {len(processes)} process(es), none with this pid {os.getpid()})"
    )
    return BoardBeforeLoad(used_before, max(used_after - used_before, 0.0), source, False, len(processes)), None
