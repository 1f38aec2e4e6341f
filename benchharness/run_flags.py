"""Bottleneck flags the parent raises from what only it knows: the row's MBU and the machine's ISA.

The child raises the flags its own figures support (meters/utilisation.bottleneck_flags: cpu_bound,
memory_bound, inconsistent, throttled). Two more need the session's view:

- `low_bandwidth_utilisation`: a decode row that read its weights at under LOW_MBU of the machine's
  measured read bandwidth (roofline.MBU) is bound by compute or per-token overhead, not memory traffic, so
  fewer bytes per weight buy it little speed; the usual remedies are faster kernels, not smaller weights.
- `kernel_fallback`: the runtime ran slower code than this CPU supports: a llama.cpp build without the
  AVX-512 / VNNI / AMX kernels the CPU has (the portable GGML_NATIVE=OFF build the set-up makes), or a
  backend that ran its safe path after its fast one died of SIGILL on this machine.

Pure functions over a Measurement's readings and info; the session adds their advice (advice.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from benchharness.child_info import Flag
from benchharness.readings import Measurement
from benchharness.roofline import MBU

LOW_MBU = 0.5

# The CPU's ISA flag (machine.fingerprint's "isa", /proc/cpuinfo names) -> the name llama.cpp's
# llama_print_system_info() gives the kernels built for it.
LLAMACPP_KERNELS = (
    ("avx512f", "AVX512"),
    ("avx512_vnni", "AVX512_VNNI"),
    ("avx512_bf16", "AVX512_BF16"),
    ("avx_vnni", "AVX_VNNI"),
    ("amx_int8", "AMX_INT8"),
)

RULES = {
    "low_bandwidth_utilisation": f"decode read its weights at under {LOW_MBU:.0%} of the machine's read bandwidth (MBU)",
    "kernel_fallback": "the runtime ran slower kernels than this CPU supports",
}


def low_bandwidth_utilisation(measurement: Measurement) -> Flag | None:
    """The flag when the headline decode row's MBU reads under LOW_MBU, else None (also where MBU is unavailable)."""
    mbu = measurement.readings.get(MBU)
    if mbu is None or mbu.value is None or mbu.value >= LOW_MBU:
        return None
    return Flag(
        "low_bandwidth_utilisation",
        f"MBU {mbu.value:.2f}: decode read its weights at {mbu.value:.0%} of the machine's read bandwidth "
        f"(< {LOW_MBU:.0%}): bound by compute or per-token overhead, so fewer bytes per weight buy little speed",
        f"MBU {mbu.value:.2f}",
    )


def kernel_fallback(measurement: Measurement, backend: str, machine_isa: Iterable[str]) -> Flag | None:
    """The flag when the runtime ran a slower path than this CPU supports, else None.

    `machine_isa`: the CPU's ISA flags (machine.fingerprint()["isa"]). Read from the row's runtime settings:
    llama.cpp's `cpu_features` (the kernels its build compiled in) and any backend's safe mode.
    """
    settings = measurement.info.runtime_settings or {}  # none recorded: nothing says a slower path ran
    safe_mode = any("safe mode" in value for value in settings.values())
    features = settings.get("cpu_features") if backend == "llamacpp" else None
    missing = []
    if features is not None:
        built, isa = set(features.split()), set(machine_isa)
        missing = [kernels for flag, kernels in LLAMACPP_KERNELS if flag in isa and kernels not in built]
    reasons = []
    if safe_mode:
        reasons.append("its fast path died of SIGILL on this machine, so the case ran the backend's safe mode")
    if missing:
        reasons.append(
            f"this llama.cpp build has no {', '.join(missing)} kernels, which the CPU supports (built with: {features})"
        )
    if not reasons:
        return None
    return Flag("kernel_fallback", "; ".join(reasons), "build" if missing else "safe mode")
