"""What a bottleneck flag usually means, and what usually helps, for the backend that raised it.

A flag that only says "cpu_bound" leaves the reader to guess; the seeds ask for flags that say what
to do. The causes and actions below are the runtimes' own tuning advice (llama.cpp's README and
discussions on threads, batch and KV cache types; ONNX Runtime's threading and spinning options;
OpenVINO's performance hints and KV cache precision), matched to what the flag measured. They are
advice attached to a measured flag, never a figure: a flag is raised only by its measured rule
(meters/utilisation.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from benchharness.readings import Measurement


@dataclass(frozen=True)
class Advice:
    causes: str
    actions: str


CAUSES = {
    "cpu_bound": "the runtime kept the usable cores busy: compute-bound kernels (F32/F16 matmuls, long prompts) "
    "or worker threads that spin-wait between calls",
    "memory_bound": "the process came within 10% of the memory available: weights plus a KV cache that grows with "
    "the context, or weights copied (repacked) beside a memory-mapped file; the next step is paging or the OOM killer",
    "inconsistent": "the headline figure moved more than 20% between rounds: other work on the machine (see the "
    "outside CPU load and the noise before the run), frequency scaling or throttling, or too few rounds",
    "throttled": "the CPU lowered its clock under sustained load (heat, a power limit, a fanless device) or the "
    "machine went to battery: every later figure of the region reads slow",
    "low_bandwidth_utilisation": "decode is bound by arithmetic or by per-token overhead (the runtime's call path, "
    "full-vocabulary logits, unfused kernels), not by reading the weights: smaller weights buy little speed here",
    "kernel_fallback": "the runtime ran a slower code path than this CPU supports: a portable build without the "
    "CPU's wider vector units, or the safe path taken after the fast one died of SIGILL",
}

ACTIONS: dict[str, dict[str, str]] = {
    "cpu_bound": {
        "llamacpp": "a type with faster kernels on this CPU (Q4_0 and Q8_0 are repacked for AVX2/AVX-512), threads "
        "= physical cores (not logical), a larger n_batch for long prompts",
        "onnxruntime": "INT8/INT4 weights (ort-dynamic-int8, ort-int4-weight-only), intra-op threads = physical "
        "cores, session.intra_op.allow_spinning = 0 where the cores are shared",
        "onnxruntime-genai": "the builder's int4 (MatMulNBits) weights, fewer intra-op threads where the cores are "
        "shared (allow_spinning 0 in genai_config's session options)",
        "openvino": "an INT8/INT4 IR (nncf-weight-compression), INFERENCE_NUM_THREADS = physical cores, "
        "PERFORMANCE_HINT LATENCY for one stream",
        "openvino-genai": "an INT4 IR (nncf-weight-compression mode int4_asym), INFERENCE_NUM_THREADS = physical cores",
        "mlx": "4bit or 8bit weights (mlx-convert q_bits), a GPU device where MLX has one",
    },
    "memory_bound": {
        "llamacpp": "a smaller type (Q4_0, Q4_K_M), a shorter context (n_ctx), an 8-bit KV cache (type_k/type_v "
        "q8_0), keeping mmap on so the weights stay reclaimable",
        "onnxruntime": "INT4 weights (ort-int4-weight-only), a shorter context, fewer parallel sessions",
        "onnxruntime-genai": "the builder's int4, a smaller max_length in genai_config",
        "openvino": "an INT4 IR, KV_CACHE_PRECISION u8, a shorter context",
        "openvino-genai": "an INT4 IR, KV_CACHE_PRECISION u8 (its CPU default on AVX-512/AMX), a smaller cache size "
        "in the scheduler config",
        "mlx": "4bit weights, a shorter context",
    },
    "throttled": {
        "": "cool the device or raise its power limit, pin the clock (cpupower frequency-set -g performance) for "
        "benchmarking, plug in AC power; run the sustained profile (workload.profiles) to see when it starts",
    },
    "low_bandwidth_utilisation": {
        "llamacpp": "on a CPU a 4-bit type's decode is set by its dequantisation arithmetic, not its bytes: Q4_0, "
        "Q4_K and Q8_0 have repacked kernels (Q4_1, Q5 and Q6 types do not), a native build uses the CPU's widest vector "
        "units (see kernel_fallback), threads = physical cores",
        "onnxruntime": "ONNX Runtime as deployed (the onnxruntime-genai builder's model: fused attention, last-token "
        "logits) instead of a generic export",
        "onnxruntime-genai": "the builder's int4 with accuracy_level 4 (int8 compute) where the CPU has VNNI",
        "openvino": "OpenVINO GenAI's pipeline (stateful model, fused SDPA) instead of a generic IR",
        "openvino-genai": "INFERENCE_PRECISION_HINT bf16 where the CPU has it, KV_CACHE_PRECISION u8",
        "": "a runtime with fused decode kernels for this CPU",
    },
    "kernel_fallback": {
        "llamacpp": "the set-up builds portable (GGML_NATIVE=OFF) so one build runs on every x86 host; for this "
        'machine\'s own figures build it for this CPU: CMAKE_ARGS="-DGGML_NATIVE=ON" pip install --force-reinstall '
        "--no-cache-dir llama-cpp-python==0.3.36 (tied to this CPU; where a VM advertises AMX but traps it, the "
        "native build dies of SIGILL and the case runs safe mode: see 'Crashes')",
        "": "a build of the runtime for this CPU; after a SIGILL, see the README's 'Crashes' section",
    },
    "inconsistent": {
        "": "run on a quiet machine (baseline.max_outside_load), more rounds (workload.min_rounds, min_time_s), "
        "threads no more than the usable CPUs; compare with the noise before the run in the report",
    },
}


def advise(flag: str, backend: str) -> Advice | None:
    """The flag's likely causes and the actions that usually help on `backend`; None for an unknown flag."""
    if flag not in CAUSES:
        return None
    actions = ACTIONS.get(flag, {})
    return Advice(CAUSES[flag], actions.get(backend) or actions.get("") or "see the runtime's tuning guide")


def advise_flags(measurement: Measurement, backend: str) -> Measurement:
    """The measurement with each flag it raised told what it usually means on this backend, and what helps."""
    flags = tuple(
        replace(flag, causes=advice.causes, actions=advice.actions)
        if (advice := advise(flag.name, backend)) is not None
        else flag
        for flag in measurement.info.flags
    )
    return replace(measurement, info=replace(measurement.info, flags=flags))
