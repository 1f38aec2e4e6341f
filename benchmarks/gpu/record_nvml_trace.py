"""Record what NVML answers on a real NVIDIA board, for replay in CPU-only CI.

Run on a machine with an NVIDIA GPU (needs `nvidia-ml-py`; `torch` with CUDA for the load phase):

    PYTHONPATH=. python3 benchmarks/gpu/record_nvml_trace.py OUT.json

It samples the board's total-energy counter, power, utilisation and memory every 50 ms while idle,
then with this process's CUDA context alone (made through the driver API, as the harness's child makes it
before load: benchharness/cuda_context.py), then under a real workload (bf16 matrix products), then idle
again, and stores the static facts (name, driver, memory, compute capability, this process's own pid, so a
replay can tell a container's host pids from its own) beside the series. Tests replay the file through a fake
NVML to check detection, idle-draw subtraction and energy arithmetic against real counter values.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any


def main(out: str) -> None:
    import pynvml as nv

    nv.nvmlInit()
    handle = nv.nvmlDeviceGetHandleByIndex(0)
    memory = nv.nvmlDeviceGetMemoryInfo(handle)
    major, minor = nv.nvmlDeviceGetCudaComputeCapability(handle)
    static: dict[str, Any] = {
        "device_count": nv.nvmlDeviceGetCount(),
        "name": nv.nvmlDeviceGetName(handle),
        "uuid": nv.nvmlDeviceGetUUID(handle),
        "driver_version": nv.nvmlSystemGetDriverVersion(),
        "cuda_driver_version": nv.nvmlSystemGetCudaDriverVersion(),
        "memory_total_bytes": memory.total,
        "compute_capability": [major, minor],
        "power_limit_mw": nv.nvmlDeviceGetEnforcedPowerLimit(handle),
        "own_pid": os.getpid(),
    }
    samples: list[dict[str, Any]] = []
    phase = ["idle-before"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            util = nv.nvmlDeviceGetUtilizationRates(handle)
            mem = nv.nvmlDeviceGetMemoryInfo(handle)
            try:
                procs = [
                    {"pid": p.pid, "used_gpu_memory": p.usedGpuMemory}
                    for p in nv.nvmlDeviceGetComputeRunningProcesses(handle)
                ]
            except nv.NVMLError as e:
                procs = [{"error": str(e)}]
            samples.append(
                {
                    "t": time.perf_counter(),
                    "phase": phase[0],
                    "energy_mj": nv.nvmlDeviceGetTotalEnergyConsumption(handle),
                    "power_mw": nv.nvmlDeviceGetPowerUsage(handle),
                    "gpu_util_pct": util.gpu,
                    "mem_util_pct": util.memory,
                    "memory_used_bytes": mem.used,
                    "processes": procs,
                }
            )
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    time.sleep(2.0)
    from benchharness.cuda_context import retain_primary_context

    phase[0] = "context"
    static["context_made"] = retain_primary_context(0) or "yes"
    time.sleep(1.0)
    import torch

    phase[0] = "load"
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    began = time.perf_counter()
    while time.perf_counter() - began < 3.0:
        for _ in range(20):
            a @ b
        torch.cuda.synchronize()
    phase[0] = "idle-after"
    del a, b
    torch.cuda.empty_cache()
    time.sleep(2.0)
    stop.set()
    thread.join()
    static["torch"] = torch.__version__
    try:
        static["nvml_process_api"] = "nvmlDeviceGetComputeRunningProcesses"
    finally:
        nv.nvmlShutdown()
    with open(out, "w") as f:
        json.dump({"static": static, "samples": samples}, f, indent=1, sort_keys=True)
    first, last = samples[0], samples[-1]
    print(json.dumps(static))
    print(f"{len(samples)} samples; energy {first['energy_mj']} -> {last['energy_mj']} mJ")


if __name__ == "__main__":
    main(sys.argv[1])
