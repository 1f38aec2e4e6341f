"""NVIDIA GPUs as NVML describes them, and the device names a session gives them.

`--device=auto` turns the GPUs found here into cuda devices: `cuda` on a machine with one GPU, and
`cuda:0`, `cuda:1`, ... on a machine with several, so a case id says which board ran it. The machine
fingerprint names the same boards (model, memory, compute capability), so baselines taken on two
different GPUs are never compared as one machine.

NVML (nvidia-ml-py, a core dependency) is asked rather than a runtime: detection must not depend on
whether torch, onnxruntime-gpu or a CUDA build of llama.cpp happens to be installed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from functools import cache
from typing import Any


@dataclass(frozen=True)
class NvidiaGpu:
    """One board: what decides how fast a variant runs on it and whether it fits."""

    index: int
    name: str
    memory_total_bytes: int
    compute_capability: tuple[int, int]
    driver_version: str

    def describe(self) -> str:
        major, minor = self.compute_capability
        return f"{self.name} ({self.memory_total_bytes / 2**30:.0f} GiB, compute capability {major}.{minor})"


def _text(value: Any) -> str:
    """NVML strings are bytes in older nvidia-ml-py releases and str in newer ones."""
    return value.decode() if isinstance(value, bytes) else str(value)


def nvidia_gpus(nvml: Any = None) -> tuple[tuple[NvidiaGpu, ...], str | None]:
    """The GPUs NVML lists, or none and why (no library, no driver, no permission)."""
    if nvml is None:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError:
            return (), "NVML unavailable: nvidia-ml-py is not installed (pip install nvidia-ml-py)"
        nvml = pynvml
    try:
        nvml.nvmlInit()
    except Exception as e:  # NVMLError subclasses: library not found, driver not loaded
        return (), f"NVML unavailable: {e}"
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        gpus = []
        for index in range(int(nvml.nvmlDeviceGetCount())):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                NvidiaGpu(
                    index=index,
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_bytes=int(nvml.nvmlDeviceGetMemoryInfo(handle).total),
                    compute_capability=(int(major), int(minor)),
                    driver_version=driver,
                )
            )
        return tuple(gpus), None
    except Exception as e:  # a board that answers nothing (lost, no permission)
        return (), f"NVML could not describe the GPUs: {e}"
    finally:
        with contextlib.suppress(Exception):  # NVML counts inits: the meters' own init is unaffected
            nvml.nvmlShutdown()


@cache
def gpus_here() -> tuple[tuple[NvidiaGpu, ...], str | None]:
    """This machine's NVIDIA GPUs (cached: boards do not come and go during a session)."""
    return nvidia_gpus()


def cuda_device_names(count: int) -> tuple[str, ...]:
    """Device names for `count` GPUs: `cuda` alone, or `cuda:0`, `cuda:1`, ... when there are several."""
    if count <= 1:
        return ("cuda",)
    return tuple(f"cuda:{i}" for i in range(count))


def split_device(device: str) -> tuple[str, int]:
    """A device name's type and index: `cuda:1` -> ("cuda", 1); `cuda` and `cpu` -> index 0."""
    device_type, colon, index = device.partition(":")
    if not colon:
        return device_type, 0
    if not index.isdigit():
        raise ValueError(
            f"device {device!r} has an index that is not a number; write it as {device_type}:N (e.g. {device_type}:0)"
        )
    return device_type, int(index)


def is_cuda(device: str) -> bool:
    """Whether a device name is an NVIDIA GPU's: `cuda` or `cuda:N`."""
    return device.partition(":")[0] == "cuda"
